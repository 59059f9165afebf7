//! The applications 6.824's test-mr.sh runs to test the coordinator and workers rather than to
//! compute anything: each observes how it is run (in parallel or not, how often, with faults).
//!
//! Like the lab's, they keep marker files `mr-worker-*` in the worker's working directory, so
//! workers of one job must share it (`troupe mr run` starts its workers in the output
//! directory). They are Linux-only: a marker's process is alive if `/proc/<pid>` exists.
//!
//! - `mtiming` / `rtiming`: how many workers run map (reduce) tasks at the same time.
//! - `jobcount`: how many map tasks ran in all (each run leaves a marker).
//! - `early_exit`: some reduce calls take 3 s, to catch a worker or coordinator that leaves
//!   before the job is done.
//! - `crash` / `nocrash`: the process dies in about a third of calls and stalls for up to 10 s
//!   in another third; `nocrash` computes the same without the faults.

use super::{App, KeyValue};
use rand::Rng;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

fn pair(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

/// The values sorted and joined by spaces (deterministic whatever order they came in).
fn sorted_joined(values: &[String]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.join(" ")
}

/// Leaves a marker for `phase`, counts the live processes that have one (this one included),
/// waits a second so that others running at the same time see it, and removes it.
fn parallel_workers(phase: &str) -> usize {
    let prefix = format!("mr-worker-{phase}-");
    let mine = format!("{prefix}{}", std::process::id());
    if let Err(e) = std::fs::write(&mine, "x") {
        tracing::warn!("cannot leave the marker {mine}: {e}");
    }
    let alive = std::fs::read_dir(".")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(&prefix)?.parse::<u32>().ok()
                })
                .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
                .count()
        })
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::fs::remove_file(&mine);
    alive
}

/// `mtiming`: each map task emits when it started and how many workers were mapping then.
pub struct MapTiming;

impl App for MapTiming {
    fn map(&self, _: &str, _: &str) -> Vec<KeyValue> {
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let pid = std::process::id();
        let n = parallel_workers("map");
        vec![
            pair(format!("times-{pid}"), format!("{started:.1}")),
            pair(format!("parallel-{pid}"), n.to_string()),
        ]
    }

    fn reduce(&self, _: &str, values: &[String]) -> String {
        sorted_joined(values)
    }
}

/// `rtiming`: keys `a` to `j`; each reduce call emits how many workers were reducing then.
pub struct ReduceTiming;

impl App for ReduceTiming {
    fn map(&self, _: &str, _: &str) -> Vec<KeyValue> {
        ('a'..='j').map(|c| pair(c.to_string(), "1")).collect()
    }

    fn reduce(&self, _: &str, _: &[String]) -> String {
        parallel_workers("reduce").to_string()
    }
}

/// Map calls made by this process so far (`jobcount` names its markers with it).
static MAP_CALLS: AtomicUsize = AtomicUsize::new(0);

/// `jobcount`: every map call leaves a marker and takes 2 to 5 s; the reduce counts the
/// markers, so the output `a N` says how many map tasks ran in all.
pub struct JobCount;

impl App for JobCount {
    fn map(&self, _: &str, _: &str) -> Vec<KeyValue> {
        let n = MAP_CALLS.fetch_add(1, Ordering::SeqCst);
        let marker = format!("mr-worker-jobcount-{}-{n}", std::process::id());
        if let Err(e) = std::fs::write(&marker, "x") {
            tracing::warn!("cannot leave the marker {marker}: {e}");
        }
        let ms = rand::rngs::OsRng.gen_range(2_000..5_000);
        std::thread::sleep(Duration::from_millis(ms));
        vec![pair("a", "x")]
    }

    fn reduce(&self, _: &str, _: &[String]) -> String {
        std::fs::read_dir(".")
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with("mr-worker-jobcount")
                    })
                    .count()
            })
            .unwrap_or(0)
            .to_string()
    }
}

/// `early_exit`: a key per input file; the reduce of a key holding `sherlock` or `tom` takes
/// 3 s, so a worker that exits while others still reduce is caught by the output changing.
pub struct EarlyExit;

impl App for EarlyExit {
    fn map(&self, name: &str, _: &str) -> Vec<KeyValue> {
        vec![pair(name, "1")]
    }

    fn reduce(&self, key: &str, values: &[String]) -> String {
        if key.contains("sherlock") || key.contains("tom") {
            std::thread::sleep(Duration::from_secs(3));
        }
        values.len().to_string()
    }
}

/// `crash` (`faults` on) and `nocrash`: four keys per input file; with faults, every call
/// exits the process with probability 1/3 and stalls for up to 10 s with probability 1/3.
pub struct Crash {
    /// Whether calls may exit the process or stall.
    pub faults: bool,
}

impl Crash {
    fn maybe_crash(&self) {
        if !self.faults {
            return;
        }
        let roll = rand::rngs::OsRng.gen_range(0..1000);
        if roll < 330 {
            tracing::info!("crash application: exiting on purpose");
            std::process::exit(1);
        } else if roll < 660 {
            let ms = rand::rngs::OsRng.gen_range(0..10_000);
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
}

impl App for Crash {
    fn map(&self, name: &str, contents: &str) -> Vec<KeyValue> {
        self.maybe_crash();
        vec![
            pair("a", name),
            pair("b", name.len().to_string()),
            pair("c", contents.len().to_string()),
            pair("d", "xyzzy"),
        ]
    }

    fn reduce(&self, _: &str, values: &[String]) -> String {
        self.maybe_crash();
        sorted_joined(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nocrash_output_does_not_depend_on_the_order_of_values() {
        let app = Crash { faults: false };
        let pairs = app.map("f.txt", "abc");
        assert_eq!(pairs.len(), 4);
        let values = ["y", "x"].map(String::from);
        assert_eq!(app.reduce("a", &values), "x y");
    }

    #[test]
    fn rtiming_maps_to_ten_keys_and_early_exit_to_one_per_file() {
        assert_eq!(ReduceTiming.map("f", "").len(), 10);
        assert_eq!(EarlyExit.map("f", ""), vec![pair("f", "1")]);
        assert_eq!(EarlyExit.reduce("f", &["1".into(), "1".into()]), "2");
    }
}
