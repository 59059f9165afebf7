//! The story of a simulated run, told in virtual milliseconds: what the nemesis did (crashes,
//! restarts, partitions, unreliable links, the heal at the end), who led or how a chain
//! changed, the run's phases, how many operations completed in each second, and the verdict
//! with what each of its fields means. `troupe sim` prints it before the report unless
//! `--json` is given (`--narrate` prints it with `--json` too).
//!
//! Every system's sim tells its story through the same [`Timeline`]: the nemesis's events come
//! from its report, and the system notes its own role changes as its watcher sees them.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe_runtime::history::Operation;
use troupe_runtime::nemesis::NemesisEvent;
use troupe_runtime::sim::virtual_elapsed;
use troupe_runtime::NodeId;

/// What happened when in one run, shared by its tasks (cloning shares it).
#[derive(Clone, Default)]
pub struct Timeline {
    entries: Rc<RefCell<Vec<(Duration, String)>>>,
}

impl Timeline {
    /// Notes `what` at the current virtual time of the simulation.
    pub fn note(&self, what: impl Into<String>) {
        let at = virtual_elapsed().unwrap_or_default();
        self.entries.borrow_mut().push((at, what.into()));
    }

    /// Notes that the workload's clients stopped and the final client's checks begin (the same
    /// in every key-value system's run).
    pub fn final_phase(&self) {
        self.note("the clients stop; a fresh client writes to k0, then reads every key");
    }

    /// Adds what the nemesis did, each at the time it did it.
    pub fn faults(&self, events: &[(Duration, NemesisEvent)]) {
        let mut entries = self.entries.borrow_mut();
        entries.extend(events.iter().map(|(at, event)| (*at, describe(event))));
    }

    /// The entries, in time order (notes made at the same instant keep their order).
    pub fn entries(&self) -> Vec<(Duration, String)> {
        let mut entries = self.entries.borrow().clone();
        entries.sort_by_key(|(at, _)| *at);
        entries
    }
}

/// One line for a nemesis event.
fn describe(event: &NemesisEvent) -> String {
    match event {
        NemesisEvent::Crash(node) => format!("{node} crashes"),
        NemesisEvent::Restart(node) => format!("{node} restarts"),
        NemesisEvent::Partition { minority, majority } => {
            format!("partition: {} | {}", names(minority), names(majority))
        }
        NemesisEvent::Heal => "the partition heals".to_string(),
        NemesisEvent::LinkCut(a, b) => {
            format!("the link {a} <-> {b} is cut (every other link works)")
        }
        NemesisEvent::LinkRestored(a, b) => format!("the link {a} <-> {b} is restored"),
        NemesisEvent::Unreliable => {
            "links turn unreliable: some messages are lost, duplicated or slow".to_string()
        }
        NemesisEvent::Reliable => "links are healthy again".to_string(),
        NemesisEvent::HealAll => "--duration is over: the nemesis heals the network and \
                                  restarts every crashed node; the clients go on without faults"
            .to_string(),
    }
}

fn names(nodes: &[NodeId]) -> String {
    let names: Vec<String> = nodes.iter().map(NodeId::to_string).collect();
    format!("{{{}}}", names.join(" "))
}

/// The characters of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Operations that returned in each whole virtual second, from the run's start (`ret` is in
/// nanoseconds of the same clock).
pub fn per_second(history: &[Operation], virtual_secs: f64) -> Vec<u64> {
    let seconds = virtual_secs.ceil().max(1.0) as usize;
    let mut counts = vec![0u64; seconds];
    for ret in history.iter().filter_map(|op| op.ret) {
        let second = (ret / 1_000_000_000) as usize;
        if let Some(count) = counts.get_mut(second.min(seconds - 1)) {
            *count += 1;
        }
    }
    counts
}

/// One character per count, scaled to the largest: a space for none, `▁` for the least.
pub fn sparkline(counts: &[u64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&c| match c {
            0 => ' ',
            _ => BARS[(((c * BARS.len() as u64 - 1) / max) as usize).min(BARS.len() - 1)],
        })
        .collect()
}

/// The whole story as lines: the timeline, the throughput and, from the caller, the verdict.
pub fn story(timeline: &Timeline, history: &[Operation], virtual_secs: f64) -> Vec<String> {
    let mut lines = vec![
        "timeline (virtual ms; a partition lists the servers on each side, and every other node \
         lands on one side or the other):"
            .to_string(),
    ];
    for (at, what) in timeline.entries() {
        lines.push(format!("{:>8}  {what}", at.as_millis()));
    }
    if history.is_empty() {
        return lines;
    }
    let counts = per_second(history, virtual_secs);
    let max = counts.iter().copied().max().unwrap_or(0);
    lines.push(format!(
        "operations completed per virtual second (one mark a second, the tallest {max}, a \
         blank none):"
    ));
    for (row, chunk) in counts.chunks(60).enumerate() {
        lines.push(format!("{:>6}s  |{}|", row * 60, sparkline(chunk)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_its_tallest_bar_and_leaves_silence_blank() {
        assert_eq!(sparkline(&[0, 1, 4, 8]), " ▁▄█");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[5, 5]), "██");
    }

    #[test]
    fn operations_count_in_the_second_they_returned() {
        let op = |ret: Option<u64>| Operation {
            client: 0,
            op: troupe_runtime::history::OpKind::Get,
            key: "k".into(),
            value: None,
            output: None,
            call: 0,
            ret,
        };
        let history = [
            op(Some(10)),
            op(Some(1_500_000_000)),
            op(Some(1_999_999_999)),
            op(None),
        ];
        assert_eq!(per_second(&history, 2.0), vec![1, 2]);
    }
}
