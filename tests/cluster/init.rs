//! `troupe cluster init` never overwrites a cluster by accident: a directory that holds one is
//! refused unless `--force` is given, and `--force` makes a fresh cluster in which no old value
//! comes back. The file that holds the secret is readable by its owner only.

use super::support::{troupe, Processes};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn init(dir: &Path, extra: &[&str]) -> Output {
    troupe()
        .args(["cluster", "init", "--nodes", "3", "--dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("troupe runs")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn init_refuses_a_directory_that_holds_a_cluster_unless_forced() {
    let cluster = Processes::init("init-used", 3);
    let before = std::fs::read_to_string(&cluster.config_path).expect("read");

    let out = init(&cluster.dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--force"),
        "the error names the flag: {stderr}"
    );
    assert!(stderr.contains("cluster.toml"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&cluster.config_path).expect("read"),
        before,
        "the refused init left the old file alone"
    );

    // A data directory alone is a cluster too (its nodes' state would come back).
    std::fs::remove_file(&cluster.config_path).expect("remove");
    std::fs::create_dir_all(cluster.dir.join("data/n1")).expect("mkdir");
    let out = init(&cluster.dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(!cluster.config_path.exists(), "nothing was written");

    let out = init(&cluster.dir, &["--force"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !cluster.dir.join("data").exists(),
        "--force removed the old data"
    );
}

#[test]
fn the_files_that_hold_secrets_are_readable_by_their_owner_only() {
    let cluster = Processes::init_with("init-mode", 3, &["--tls"]);
    assert_eq!(
        mode(&cluster.config_path),
        0o600,
        "cluster.toml holds the secret"
    );
    assert_eq!(mode(&cluster.dir.join("tls/node.key")), 0o600);
    // Also when --force replaces a cluster.
    let out = init(&cluster.dir, &["--force"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&cluster.config_path), 0o600);
}

#[test]
fn init_force_gives_a_fresh_cluster_with_none_of_the_old_values() {
    let mut cluster = Processes::init("init-force", 3);
    let old_secret = cluster.config.secret.clone();
    for id in cluster.ids() {
        cluster.start(id);
    }
    cluster.kv_until_ok(&["put", "greeting", "hello"], Duration::from_secs(30));
    assert_eq!(
        cluster.kv_until_ok(&["get", "greeting"], Duration::from_secs(10)),
        "hello"
    );
    for id in cluster.ids() {
        cluster.kill(id);
    }

    let out = init(&cluster.dir, &["--force"]);
    assert!(out.status.success(), "{out:?}");
    cluster.reload();
    assert_ne!(cluster.config.secret, old_secret, "a fresh secret");
    for id in cluster.ids() {
        cluster.start(id);
    }
    assert_eq!(
        cluster.kv_until_ok(&["get", "greeting"], Duration::from_secs(30)),
        "",
        "the old cluster's value came back"
    );
}
