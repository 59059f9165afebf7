//! Rounds of `troupe bench raft-kv --real` and what is made of them: per system and client
//! count, the median of the rounds and their spread (min-max), the ratio of the medians, and
//! the goal, judged on medians: at 64 clients troupe's throughput is at least etcd's and its
//! p99 latency no worse.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The client count the goal is judged at.
pub const GOAL_CLIENTS: usize = 64;

/// One measured round of one system at one client count.
#[derive(Serialize, Clone)]
pub struct Round {
    pub system: &'static str,
    pub clients: usize,
    /// 1-based, in the order run.
    pub round: usize,
    pub ops: u64,
    /// Operations that failed (not counted in `ops`).
    pub failed: u64,
    /// Raft terms that began during the round (elections, as the leader's term before and
    /// after the round tell).
    pub new_terms: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Latencies of one client, in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Round {
    /// The round made of each client's latencies and failures over `secs` seconds.
    pub fn of(
        system: &'static str,
        clients: usize,
        round: usize,
        runs: Vec<(Histogram<u64>, u64)>,
        secs: f64,
        new_terms: u64,
    ) -> Round {
        let mut all = histogram();
        let mut failed = 0;
        for (h, f) in runs {
            all.add(h).expect("same bounds");
            failed += f;
        }
        Round {
            system,
            clients,
            round,
            ops: all.len(),
            failed,
            new_terms,
            ops_per_sec: all.len() as f64 / secs,
            p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}

/// The median of some rounds' values and their range.
#[derive(Serialize, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The median and range of `xs` (None if empty).
    pub fn of(mut xs: Vec<f64>) -> Option<Spread> {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => xs[n / 2],
            _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
        };
        Some(Spread {
            median,
            min: xs[0],
            max: xs[n - 1],
        })
    }
}

/// What one round measured: the operations done (their latencies in a histogram of µs) and
/// failed over some seconds.
#[derive(Serialize, Clone, Copy)]
pub struct Measured {
    pub ops: u64,
    /// Operations that failed (not counted in `ops`).
    pub failed: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Measured {
    /// The measure of `latencies` (µs, one per operation done) and `failed` over `secs`.
    pub fn of(latencies: &Histogram<u64>, failed: u64, secs: f64) -> Measured {
        Measured {
            ops: latencies.len(),
            failed,
            ops_per_sec: latencies.len() as f64 / secs,
            p50_ms: latencies.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: latencies.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}

/// Several rounds' [`Measured`] in one: medians with their ranges, failures summed.
#[derive(Serialize, Clone)]
pub struct Measures {
    pub rounds: usize,
    pub ops_per_sec: Spread,
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    pub failed: u64,
}

impl Measures {
    /// The headings of [`Measures::cells`], aligned with them.
    pub fn headings() -> String {
        format!(
            "{:>9} {:<20} {:>8} {:>8} {:>7}",
            "ops/s", "[range]", "p50 ms", "p99 ms", "failed"
        )
    }

    /// The summary as table cells: throughput's median and range, p50, p99 and failures.
    pub fn cells(&self) -> String {
        let range = format!("[{:.0}-{:.0}]", self.ops_per_sec.min, self.ops_per_sec.max);
        format!(
            "{:>9.0} {range:<20} {:>8.2} {:>8.2} {:>7}",
            self.ops_per_sec.median, self.p50_ms.median, self.p99_ms.median, self.failed
        )
    }

    /// The summary of `rounds` (None if there are none).
    pub fn over<'a>(rounds: impl IntoIterator<Item = &'a Measured>) -> Option<Measures> {
        let mine: Vec<&Measured> = rounds.into_iter().collect();
        let spread = |f: fn(&Measured) -> f64| Spread::of(mine.iter().map(|m| f(m)).collect());
        Some(Measures {
            rounds: mine.len(),
            ops_per_sec: spread(|m| m.ops_per_sec)?,
            p50_ms: spread(|m| m.p50_ms)?,
            p99_ms: spread(|m| m.p99_ms)?,
            failed: mine.iter().map(|m| m.failed).sum(),
        })
    }
}

/// One system at one client count, over its rounds.
#[derive(Serialize, Clone)]
pub struct Summary {
    pub system: &'static str,
    pub clients: usize,
    pub rounds: usize,
    pub ops_per_sec: Spread,
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    pub failed: u64,
    pub new_terms: u64,
}

/// The summary of `system`'s rounds at `clients`, if it ran.
pub fn summarise(rounds: &[Round], system: &str, clients: usize) -> Option<Summary> {
    let mine: Vec<&Round> = rounds
        .iter()
        .filter(|r| r.system == system && r.clients == clients)
        .collect();
    let spread = |f: fn(&Round) -> f64| Spread::of(mine.iter().map(|r| f(r)).collect());
    Some(Summary {
        system: mine.first()?.system,
        clients,
        rounds: mine.len(),
        ops_per_sec: spread(|r| r.ops_per_sec)?,
        p50_ms: spread(|r| r.p50_ms)?,
        p99_ms: spread(|r| r.p99_ms)?,
        failed: mine.iter().map(|r| r.failed).sum(),
        new_terms: mine.iter().map(|r| r.new_terms).sum(),
    })
}

/// The goal, judged on the medians at [`GOAL_CLIENTS`].
#[derive(Serialize)]
pub struct Goal {
    pub clients: usize,
    pub troupe_ops_per_sec: f64,
    pub etcd_ops_per_sec: f64,
    pub troupe_p99_ms: f64,
    pub etcd_p99_ms: f64,
    pub met: bool,
}

impl Goal {
    /// The verdict from both systems' summaries at [`GOAL_CLIENTS`], if both ran.
    pub fn judge(summaries: &[Summary]) -> Option<Goal> {
        let at = |system| {
            summaries
                .iter()
                .find(|s| s.system == system && s.clients == GOAL_CLIENTS)
        };
        let (t, e) = (at("troupe")?, at("etcd")?);
        Some(Goal {
            clients: GOAL_CLIENTS,
            troupe_ops_per_sec: t.ops_per_sec.median,
            etcd_ops_per_sec: e.ops_per_sec.median,
            troupe_p99_ms: t.p99_ms.median,
            etcd_p99_ms: e.p99_ms.median,
            met: t.ops_per_sec.median >= e.ops_per_sec.median && t.p99_ms.median <= e.p99_ms.median,
        })
    }
}

fn ops(s: &Spread) -> String {
    format!("{:.0} ({:.0}-{:.0})", s.median, s.min, s.max)
}

fn ms(s: &Spread) -> String {
    format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max)
}

/// The table of medians and spreads, one row per client count.
pub fn print_table(summaries: &[Summary], levels: &[usize]) {
    println!(
        "\nmedian (min-max) over the rounds of each system\n\n\
         | clients | troupe ops/s | troupe p99 ms | etcd ops/s | etcd p99 ms | ops/s troupe / etcd (medians) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for &clients in levels {
        let find = |system| {
            summaries
                .iter()
                .find(|s| s.system == system && s.clients == clients)
        };
        let Some(t) = find("troupe") else { continue };
        let (e_ops, e_p99, ratio) = match find("etcd") {
            Some(e) => (
                ops(&e.ops_per_sec),
                ms(&e.p99_ms),
                format!("{:.2}", t.ops_per_sec.median / e.ops_per_sec.median),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {clients} | {} | {} | {e_ops} | {e_p99} | {ratio} |",
            ops(&t.ops_per_sec),
            ms(&t.p99_ms)
        );
    }
    let failed: u64 = summaries.iter().map(|s| s.failed).sum();
    if failed > 0 {
        println!("operations that failed (not counted): {failed}");
    }
    let terms = |system| -> u64 {
        summaries
            .iter()
            .filter(|s| s.system == system)
            .map(|s| s.new_terms)
            .sum()
    };
    println!(
        "new Raft terms during the rounds (elections): troupe {}, etcd {}",
        terms("troupe"),
        terms("etcd")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(system: &'static str, ops_per_sec: f64, p99_ms: f64) -> Round {
        Round {
            system,
            clients: GOAL_CLIENTS,
            round: 1,
            ops: 0,
            failed: 0,
            new_terms: 0,
            ops_per_sec,
            p50_ms: 1.0,
            p99_ms,
        }
    }

    #[test]
    fn the_goal_is_judged_on_medians() {
        // One bad troupe round and one lucky etcd round do not decide.
        let rounds = vec![
            round("troupe", 9000.0, 10.0),
            round("etcd", 4000.0, 30.0),
            round("troupe", 2000.0, 90.0),
            round("etcd", 9500.0, 5.0),
            round("troupe", 8800.0, 12.0),
            round("etcd", 4200.0, 28.0),
        ];
        let summaries: Vec<Summary> = ["troupe", "etcd"]
            .iter()
            .filter_map(|s| summarise(&rounds, s, GOAL_CLIENTS))
            .collect();
        let t = &summaries[0];
        assert_eq!(t.ops_per_sec.median, 8800.0);
        assert_eq!((t.ops_per_sec.min, t.ops_per_sec.max), (2000.0, 9000.0));
        let goal = Goal::judge(&summaries).expect("both ran");
        assert!(goal.met);
        assert_eq!(goal.etcd_p99_ms, 28.0);
    }

    #[test]
    fn a_worse_median_p99_misses_the_goal() {
        let rounds = vec![round("troupe", 9000.0, 40.0), round("etcd", 4000.0, 30.0)];
        let summaries: Vec<Summary> = ["troupe", "etcd"]
            .iter()
            .filter_map(|s| summarise(&rounds, s, GOAL_CLIENTS))
            .collect();
        assert!(!Goal::judge(&summaries).expect("both ran").met);
    }

    #[test]
    fn a_round_is_measured_from_its_latencies_and_rounds_are_summed_up_by_medians() {
        let mut latencies = histogram();
        for us in [1_000, 2_000, 3_000, 4_000] {
            latencies.record(us).expect("in bounds");
        }
        let one = Measured::of(&latencies, 2, 2.0);
        assert_eq!((one.ops, one.failed), (4, 2));
        assert_eq!(one.ops_per_sec, 2.0);
        assert!((one.p50_ms - 2.0).abs() < 0.01, "p50 {}", one.p50_ms);
        assert!((one.p99_ms - 4.0).abs() < 0.01, "p99 {}", one.p99_ms);
        let other = Measured {
            ops_per_sec: 10.0,
            failed: 1,
            ..one
        };
        let third = Measured {
            ops_per_sec: 4.0,
            ..one
        };
        let all = Measures::over([&one, &other, &third]).expect("three rounds");
        assert_eq!(all.rounds, 3);
        assert_eq!(
            (
                all.ops_per_sec.median,
                all.ops_per_sec.min,
                all.ops_per_sec.max
            ),
            (4.0, 2.0, 10.0)
        );
        assert_eq!(all.failed, 5);
        assert!(Measures::over([]).is_none());
    }
}
