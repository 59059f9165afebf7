//! `troupe bench mapreduce` end to end, small: every runner's word counts are checked against
//! the baseline's by the bench itself (it fails on any difference), every rate it reports is
//! above zero, and its scratch directory is gone afterwards.

use crate::support::troupe;

#[test]
fn the_word_count_bench_checks_every_runner_and_reports_rates() {
    let under = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = troupe()
        .args([
            "bench",
            "mapreduce",
            "--quick",
            "--json",
            "--mb",
            "2",
            "--dir",
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
    let rows = report["rows"].as_array().expect("rows");
    // Two corpora, five runners each: GNU, the baseline, troupe with 1, 2 and 4 workers.
    assert_eq!(rows.len(), 10, "{report}");
    for row in rows {
        for rate in ["mb_per_s", "over_gnu", "over_baseline"] {
            let value = row[rate].as_f64().unwrap_or(0.0);
            assert!(value > 0.0 && value.is_finite(), "{rate}: {row}");
        }
    }
    let dir = report["dir"].as_str().expect("the scratch directory");
    assert!(
        !std::path::Path::new(dir).exists(),
        "the scratch directory {dir} is left behind"
    );
}
