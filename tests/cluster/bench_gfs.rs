//! `troupe bench gfs --real` end to end, small: a GFS cluster of 3 real processes takes a
//! round of files through its gateways and gives the same bytes back (the bench checks every
//! byte and fails otherwise), and every rate it reports, GFS's and the plain file's, is above
//! zero, as are the ratios.

use super::support::troupe;

#[test]
fn the_real_gfs_bench_gets_back_what_it_put_and_reports_rates() {
    let under = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = troupe()
        .args([
            "bench", "gfs", "--real", "--quick", "--json", "--mb", "1", "--dir",
        ])
        .arg(under)
        .output()
        .expect("troupe runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["replicas"], 3, "{report}");
    assert_eq!(report["bytes_per_round"], 1 << 20, "{report}");
    for rate in [
        "gfs_write_mb_s",
        "gfs_read_mb_s",
        "plain_write_mb_s",
        "plain_read_mb_s",
        "write_ratio",
        "read_ratio",
    ] {
        let value = report[rate].as_f64().unwrap_or(0.0);
        assert!(
            value > 0.0 && value.is_finite(),
            "{rate} = {value}: {report}"
        );
    }
    let rounds = report["per_round"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 4, "two GFS and two plain rounds: {report}");
    let dir = report["dir"].as_str().expect("the scratch directory");
    assert!(
        !std::path::Path::new(dir).exists(),
        "the scratch directory {dir} is left behind"
    );
}
