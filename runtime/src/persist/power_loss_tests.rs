//! Tests of the disk that loses power: what a power loss keeps and drops (file content, directory
//! entries, whole directories, truncations), cuts that stop every operation, and torn appends.

use super::*;

fn p(s: &str) -> &Path {
    Path::new(s)
}

#[test]
fn unsynced_writes_and_entries_are_lost() {
    let fs = PowerLossFs::new();
    fs.create_dir(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    let mut a = fs.open_append(p("/d/a")).unwrap();
    a.append(b"synced").unwrap();
    a.sync().unwrap();
    a.append(b" and not").unwrap();
    // The file's content is synced, its entry is not.
    assert_eq!(fs.read(p("/d/a")).unwrap().unwrap(), b"synced and not");
    fs.power_loss();
    assert_eq!(
        fs.read(p("/d/a")).unwrap(),
        None,
        "its entry was not synced"
    );
    assert!(a.append(b"x").is_err(), "handles die with the power");

    let mut a = fs.open_append(p("/d/a")).unwrap();
    a.append(b"synced").unwrap();
    a.sync().unwrap();
    fs.sync_dir(p("/d")).unwrap();
    a.append(b" and not").unwrap();
    fs.power_loss();
    assert_eq!(fs.read(p("/d/a")).unwrap().unwrap(), b"synced");
}

#[test]
fn renames_and_removes_need_a_directory_sync() {
    let fs = PowerLossFs::new();
    let mut f = fs.create(p("/tmp")).unwrap();
    f.append(b"new").unwrap();
    f.sync().unwrap();
    let mut old = fs.create(p("/old")).unwrap();
    old.append(b"old").unwrap();
    old.sync().unwrap();
    fs.sync_dir(p("/")).unwrap();
    fs.rename(p("/tmp"), p("/old")).unwrap();
    fs.power_loss();
    assert_eq!(fs.read(p("/old")).unwrap().unwrap(), b"old");
    assert_eq!(fs.read(p("/tmp")).unwrap().unwrap(), b"new");
    fs.rename(p("/tmp"), p("/old")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    fs.remove(p("/old")).unwrap();
    fs.power_loss();
    assert_eq!(fs.read(p("/old")).unwrap().unwrap(), b"new");
    assert_eq!(fs.read(p("/tmp")).unwrap(), None);
}

#[test]
fn a_lost_directory_takes_its_files() {
    let fs = PowerLossFs::new();
    fs.create_dir(p("/d")).unwrap();
    let mut f = fs.create(p("/d/f")).unwrap();
    f.sync().unwrap();
    fs.sync_dir(p("/d")).unwrap();
    fs.power_loss();
    assert_eq!(fs.read(p("/d/f")).unwrap(), None);
    assert!(fs.list(p("/d")).is_err());
}

#[test]
fn a_truncation_is_undone_unless_synced() {
    let fs = PowerLossFs::new();
    let mut f = fs.create(p("/f")).unwrap();
    f.append(b"0123456789").unwrap();
    f.sync().unwrap();
    fs.sync_dir(p("/")).unwrap();
    f.truncate(4).unwrap();
    f.append(b"xy").unwrap();
    fs.power_loss_tearing(1);
    assert_eq!(fs.read(p("/f")).unwrap().unwrap(), b"0123456789");
    let mut f = fs.open_append(p("/f")).unwrap();
    f.truncate(4).unwrap();
    f.append(b"xy").unwrap();
    f.sync().unwrap();
    fs.power_loss();
    assert_eq!(fs.read(p("/f")).unwrap().unwrap(), b"0123xy");
}

#[test]
fn a_cut_stops_every_operation_until_the_power_loss() {
    let fs = PowerLossFs::new();
    let mut f = fs.create(p("/f")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    let before = fs.operations();
    fs.cut_after(1);
    f.append(b"a").unwrap();
    assert!(f.sync().is_err());
    assert!(fs.is_off());
    assert!(fs.read(p("/f")).is_err());
    assert_eq!(fs.operations(), before + 1);
    fs.power_loss();
    assert_eq!(fs.read(p("/f")).unwrap().unwrap(), b"");
}

#[test]
fn tearing_keeps_a_prefix_of_the_unsynced_appends() {
    let mut kept = BTreeSet::new();
    for seed in 0..40 {
        let fs = PowerLossFs::new();
        let mut f = fs.create(p("/f")).unwrap();
        f.append(b"abc").unwrap();
        f.sync().unwrap();
        fs.sync_dir(p("/")).unwrap();
        f.append(b"defgh").unwrap();
        fs.power_loss_tearing(seed);
        let now = fs.read(p("/f")).unwrap().unwrap();
        assert!(b"abcdefgh".starts_with(&now) && now.len() >= 3, "{now:?}");
        kept.insert(now.len());
    }
    assert!(
        kept.len() > 3,
        "tearing keeps prefixes of many lengths: {kept:?}"
    );
}
