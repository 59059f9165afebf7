//! What `troupe bench zk` makes of its rounds: per system and share of reads, the median
//! throughput over the rounds with its range, p50 and p99; troupe's throughput over Apache's;
//! the shape of both beside the paper's Table 1 (reads against writes, for the same number of
//! servers); and the goal, judged on the medians. Printed as a table, then one JSON line.

use super::ZkRound;
use crate::bench::compare::Measures;
use anyhow::{bail, Result};
use serde::Serialize;

/// The paper's Table 1: servers, and saturated throughput (ops/s) at 100% and at 0% reads.
const PAPER_TABLE_1: [(usize, f64, f64); 5] = [
    (3, 87_000.0, 21_000.0),
    (5, 165_000.0, 18_000.0),
    (7, 257_000.0, 14_000.0),
    (9, 296_000.0, 12_000.0),
    (13, 460_000.0, 8_000.0),
];

/// One system at one share of reads, over its rounds.
#[derive(Serialize)]
struct ZkSummary {
    system: &'static str,
    workload: String,
    read_percent: u32,
    #[serde(flatten)]
    measures: Measures,
}

/// The summary of `system`'s rounds at `read_percent`, if it ran.
fn summarise(rounds: &[ZkRound], system: &'static str, read_percent: u32) -> Option<ZkSummary> {
    let mine: Vec<&ZkRound> = rounds
        .iter()
        .filter(|r| r.system == system && r.read_percent == read_percent)
        .collect();
    Some(ZkSummary {
        system,
        workload: mine.first()?.workload.clone(),
        read_percent,
        measures: Measures::over(mine.iter().map(|r| &r.measured))?,
    })
}

/// The goal, when both 100% reads and 100% writes ran: troupe's writes faster than Apache's,
/// its reads at least 0.9 of Apache's.
#[derive(Serialize, Debug, PartialEq)]
struct Goal {
    writes_met: bool,
    reads_met: bool,
}

impl Goal {
    /// Judged on troupe's over Apache's median throughput at 100% reads and 100% writes.
    fn judge(reads_ratio: Option<f64>, writes_ratio: Option<f64>) -> Option<Goal> {
        Some(Goal {
            writes_met: writes_ratio? > 1.0,
            reads_met: reads_ratio? >= 0.9,
        })
    }
}

/// Prints the table (or only the JSON line); fails below the goal.
pub fn report(
    all: &[ZkRound],
    servers: usize,
    read_percents: &[u32],
    conditions: &str,
    json: bool,
) -> Result<()> {
    let mut pairs = Vec::new();
    for &reads in read_percents {
        let (Some(t), Some(a)) = (
            summarise(all, "troupe", reads),
            summarise(all, "apache", reads),
        ) else {
            bail!("{reads}% reads did not run on both systems");
        };
        let ratio =
            t.measures.ops_per_sec.median / a.measures.ops_per_sec.median.max(f64::MIN_POSITIVE);
        pairs.push((t, a, ratio));
    }
    let ratio_at = |reads: u32| {
        pairs
            .iter()
            .find(|(t, _, _)| t.read_percent == reads)
            .map(|(_, _, r)| *r)
    };
    let median_at = |system: &str, reads: u32| {
        pairs
            .iter()
            .flat_map(|(t, a, _)| [t, a])
            .find(|s| s.system == system && s.read_percent == reads)
            .map(|s| s.measures.ops_per_sec.median)
    };
    let shape =
        |system: &str| Some(median_at(system, 100)? / median_at(system, 0)?.max(f64::MIN_POSITIVE));
    let paper = PAPER_TABLE_1.iter().find(|(n, _, _)| *n == servers);
    let goal = Goal::judge(ratio_at(100), ratio_at(0));
    if !json {
        println!("conditions: {conditions}");
        println!("{:<8} {:<7} {}", "workload", "system", Measures::headings());
        for (t, a, ratio) in &pairs {
            for s in [t, a] {
                println!("{:<8} {:<7} {}", s.workload, s.system, s.measures.cells());
            }
            println!("{:<8} troupe/apache throughput: {ratio:.2}", t.workload);
        }
        if let (Some(t), Some(a)) = (shape("troupe"), shape("apache")) {
            let beside = paper.map_or(
                format!("the paper's Table 1 has no row for {servers} servers"),
                |(n, r, w)| {
                    format!(
                        "the paper's Table 1 ({n} servers, 2010 hardware): {r:.0} reads/s, \
                         {w:.0} writes/s, {:.1}x",
                        r / w
                    )
                },
            );
            println!("shape: reads/writes throughput: troupe {t:.1}x, apache {a:.1}x; {beside}");
        }
        let met = |m: bool| if m { "met" } else { "NOT met" };
        match &goal {
            Some(g) => println!(
                "goal: beat Apache ZooKeeper on writes ({}), match it on reads, at least 0.9 of \
                 its throughput ({})",
                met(g.writes_met),
                met(g.reads_met)
            ),
            None => {
                println!("goal: not judged (it needs 100% reads and 100% writes: --reads 100,0)")
            }
        }
    }
    let ratios: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(t, _, r)| (t.workload.clone(), (*r).into()))
        .collect();
    let out = serde_json::json!({
        "bench": "zk",
        "servers": servers,
        "conditions": conditions,
        "summaries": pairs.iter().flat_map(|(t, a, _)| [t, a]).collect::<Vec<_>>(),
        "troupe_over_apache": ratios,
        "reads_over_writes": {"troupe": shape("troupe"), "apache": shape("apache"),
                              "paper": paper.map(|(_, r, w)| r / w)},
        "goal_writes_met": goal.as_ref().map(|g| g.writes_met),
        "goal_reads_met": goal.as_ref().map(|g| g.reads_met),
        "rounds": all,
    });
    println!("{}", serde_json::to_string(&out)?);
    if goal.is_some_and(|g| !(g.writes_met && g.reads_met)) {
        bail!("below the goal: beat Apache ZooKeeper on writes, match it on reads");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_goal_needs_both_ends_and_is_strict_on_writes() {
        assert_eq!(Goal::judge(Some(2.0), None), None);
        assert_eq!(Goal::judge(None, Some(2.0)), None);
        let met = Goal::judge(Some(0.9), Some(1.01)).expect("both ran");
        assert!(met.reads_met && met.writes_met);
        let missed = Goal::judge(Some(0.89), Some(1.0)).expect("both ran");
        assert!(!missed.reads_met && !missed.writes_met);
    }

    #[test]
    fn workloads_are_named_by_their_share_of_reads() {
        assert_eq!(super::super::workload_name(100), "reads");
        assert_eq!(super::super::workload_name(0), "writes");
        assert_eq!(super::super::workload_name(70), "70/30");
    }
}
