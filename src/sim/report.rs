//! What every key-value simulation (`raft-kv`, `chain`) ends with: a fresh client's final
//! write and reads, the history check, the pass rules ([`super::rules`]) and the report whose
//! last line is JSON.

use super::narrate::{story, Timeline};
use super::rules::RunFacts;
use super::{replay_command, Common, SimSystem};
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::time::Duration;
use troupe::testkit::workload::{final_check, Recorder};
use troupe_actors::client::KvClient;
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;
use troupe_runtime::history::{self, OpKind, Operation};
use troupe_runtime::linearizability::check;
use troupe_runtime::nemesis::NemesisReport;
use troupe_runtime::sim::NetStats;
use troupe_runtime::Node;

/// How long the final client may take for each operation.
const FINAL_DEADLINE: Duration = Duration::from_secs(10);

/// The report of one key-value simulation (the contract of `troupe sim`'s JSON line).
#[derive(Serialize)]
pub struct Report {
    pub system: &'static str,
    pub seed: u64,
    pub nodes: u32,
    pub clients: u32,
    pub nemesis: String,
    pub virtual_secs: f64,
    pub wall_secs: f64,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub ops_unknown: u64,
    /// Raft: distinct terms with a leader, less one. Chain: changes of the head.
    pub leader_changes: u64,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    #[serde(flatten)]
    pub faults: NemesisReport,
    /// The links' healthy latency, e.g. "1ms..5ms".
    pub latency: String,
    /// The final write and every final read after healing succeeded, and nothing was lost.
    pub progress_after_heal: bool,
    /// The checker's verdict; `null` when it could not decide within its budget.
    pub linearizable: Option<bool>,
    /// Every pass rule held ([`super::rules::PassRules`]).
    pub passed: bool,
    /// Why the run did not pass, one sentence per broken rule.
    pub failures: Vec<String>,
    /// The system's own fields (chain: `reconfigurations`, `chain_lost`).
    #[serde(flatten)]
    pub own: serde_json::Map<String, serde_json::Value>,
}

/// What a run hands to [`finish`].
pub struct RunOutcome {
    pub recorder: Recorder,
    pub faults: NemesisReport,
    pub net: NetStats,
    pub leader_changes: u64,
    /// The system's own report fields.
    pub own: serde_json::Map<String, serde_json::Value>,
    /// What the system's own end-of-run checks found wrong, one sentence each.
    pub problems: Vec<String>,
    pub end: FinalPhase,
    pub virtual_secs: f64,
    /// What the system noted as it went (role changes, phases); the nemesis's events join it.
    pub timeline: Timeline,
}

/// What the fresh client found after healing (see [`final_phase`]).
#[derive(Debug, Default)]
pub struct FinalPhase {
    /// The final append succeeded.
    pub wrote: bool,
    /// Failed final reads and lost acknowledged appends.
    pub problems: Vec<String>,
}

impl FinalPhase {
    /// The final write succeeded, and so did every final read, with nothing lost.
    pub fn succeeded(&self) -> bool {
        self.wrote && self.problems.is_empty()
    }
}

/// After healing, a fresh client appends to `k0` (progress), then reads every key: each read
/// must succeed, and no acknowledged append may be missing from what it reads
/// ([`final_check`]). The final operations join `recorder`'s history, so the checker sees them.
pub async fn final_phase(
    clerk: &mut impl KvClient,
    node: &Node,
    client: u64,
    keys: usize,
    recorder: &mut Recorder,
) -> FinalPhase {
    let clock = || node.now_ns();
    let call = clock();
    let append = KvOp::Append {
        key: "k0".into(),
        value: "end;".into(),
    };
    let wrote = clerk.run(append, FINAL_DEADLINE).await == Outcome::Done(None);
    if wrote {
        recorder.history.push(Operation {
            client,
            op: OpKind::Append,
            key: "k0".into(),
            value: Some("end;".into()),
            output: None,
            call,
            ret: Some(clock()),
        });
    }
    let found = final_check(
        clerk,
        &recorder.history,
        keys,
        FINAL_DEADLINE,
        (client, &clock),
    )
    .await;
    recorder.history.extend(found.reads);
    FinalPhase {
        wrote,
        problems: found.problems,
    }
}

/// Checks the history, writes it if asked, prints the report (the JSON line last) and, if the
/// run failed, the command that replays it. `Ok(false)` when the run failed its checks.
pub fn finish<S: SimSystem>(
    system: &S,
    args: &Common,
    outcome: RunOutcome,
    wall: std::time::Instant,
) -> Result<bool> {
    finish_judged(system, args, outcome, wall, None)
}

/// [`finish`] for a system judged by its own model rather than the key-value linearizability
/// checker: `judged` (Some) is the model's, the report's `linearizable`, and the system has
/// written its own history file. With None, the key-value history is checked and written.
pub fn finish_judged<S: SimSystem>(
    system: &S,
    args: &Common,
    outcome: RunOutcome,
    wall: std::time::Instant,
    judged: Option<Option<bool>>,
) -> Result<bool> {
    let RunOutcome {
        recorder,
        faults,
        net,
        leader_changes,
        own,
        problems,
        end,
        virtual_secs,
        timeline,
    } = outcome;
    let own_model = judged.is_some();
    let linearizable = judged.unwrap_or_else(|| check(&recorder.history).as_option());
    let progress = end.succeeded();
    let facts = RunFacts {
        clients: args.clients,
        virtual_secs,
        ops_ok: recorder.ok,
        ops_unknown: recorder.unknown,
        linearizable,
        final_write: end.wrote,
        final_problems: end.problems,
        system_problems: problems,
    };
    let failures = S::rules().judge(&facts);
    if let Some(path) = args.history.as_ref().filter(|_| !own_model) {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the history {}", path.display()))?;
        history::write(&recorder.history, std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write the history {}", path.display()))?;
    }
    let report = Report {
        system: S::NAME,
        seed: args.seed,
        nodes: args.nodes,
        clients: args.clients,
        nemesis: args.nemesis.to_string(),
        virtual_secs,
        wall_secs: wall.elapsed().as_secs_f64(),
        ops_ok: recorder.ok,
        ops_failed: recorder.failed,
        ops_unknown: recorder.unknown,
        leader_changes,
        messages_sent: net.sent,
        messages_dropped: net.dropped(),
        faults,
        latency: args.latency.to_string(),
        progress_after_heal: progress,
        linearizable,
        passed: failures.is_empty(),
        failures,
        own,
    };
    if args.narrates() {
        timeline.faults(&report.faults.timeline);
        for line in story(&timeline, &recorder.history, virtual_secs) {
            println!("{line}");
        }
        for line in verdict(&report, &S::rules()) {
            println!("{line}");
        }
    }
    if !args.json {
        let changes = match report.own.get("reconfigurations") {
            Some(n) => format!("{n} reconfigurations, {leader_changes} head changes"),
            None => format!("{leader_changes} leader changes"),
        };
        println!(
            "{}: {} servers, {} clients, nemesis {}, seed {}: {} ops ok, {} failed, {} \
             unknown; {changes}; {:.0} virtual s in {:.2} wall s",
            S::NAME,
            report.nodes,
            report.clients,
            report.nemesis,
            report.seed,
            report.ops_ok,
            report.ops_failed,
            report.ops_unknown,
            report.virtual_secs,
            report.wall_secs
        );
        let verdict = match linearizable {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "undecided",
        };
        println!("linearizable: {verdict}; progress after healing: {progress}");
        for failure in &report.failures {
            println!("FAILED: {failure}");
        }
    }
    if !report.passed {
        eprintln!(
            "troupe: the run failed its checks; replay it with `{}`",
            replay_command(system, args)
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(report.passed)
}

/// The verdict, one field a line, each with what it means.
fn verdict(report: &Report, rules: &super::rules::PassRules) -> Vec<String> {
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let linearizable = match report.linearizable {
        Some(b) => yes(b),
        None => "undecided",
    };
    vec![
        "verdict:".to_string(),
        format!(
            "  ops ok {:<10} took effect, and the client was told so (the workload's clients; \
             --history also holds the final client's append and reads)",
            report.ops_ok
        ),
        format!(
            "  failed {:<10} certainly took no effect (refused, or known not to have been applied)",
            report.ops_failed
        ),
        format!(
            "  unknown {:<9} no answer in time: may or may not have taken effect; the checker \
             allows both",
            report.ops_unknown
        ),
        format!(
            "  progress after healing: {}  {}",
            yes(report.progress_after_heal),
            rules.final_means
        ),
        format!(
            "  {}: {linearizable}  {}",
            rules.model_name, rules.model_means
        ),
        format!(
            "  passed: {}  every pass rule held (src/sim/rules.rs)",
            yes(report.passed)
        ),
    ]
}
