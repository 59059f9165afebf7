//! What every key-value simulation (`raft-kv`, `chain`) ends with: a fresh client's final
//! write and reads, the history check, and the report whose last line is JSON.

use super::SimArgs;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::time::Duration;
use troupe_actors::kv::clerk::Outcome;
use troupe_actors::kv::workload::{KvClient, Recorder};
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
    /// Chain only: configurations installed after the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconfigurations: Option<u64>,
    /// Chain only: every replica was lost (fail-stop nodes restart empty), so no progress
    /// was possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_lost: Option<bool>,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    #[serde(flatten)]
    pub faults: NemesisReport,
    pub progress_after_heal: bool,
    pub linearizable: bool,
}

/// What a run hands to [`finish`].
pub struct RunOutcome {
    pub recorder: Recorder,
    pub faults: NemesisReport,
    pub net: NetStats,
    pub leader_changes: u64,
    pub reconfigurations: Option<u64>,
    pub chain_lost: Option<bool>,
    pub progress: bool,
    pub virtual_secs: f64,
}

/// A fresh client appends to `k0`, then reads every key: progress after healing, and reads
/// every acknowledged write must show up in (the checker sees them in the history). Returns
/// whether the append succeeded, and the operations to add to the history.
pub async fn final_reads(
    clerk: &mut impl KvClient,
    node: &Node,
    client: u64,
    keys: usize,
) -> (bool, Vec<Operation>) {
    let mut ops = Vec::new();
    let call = node.now_ns();
    let append = KvOp::Append {
        key: "k0".into(),
        value: "end;".into(),
    };
    if clerk.run(append, FINAL_DEADLINE).await != Outcome::Done(None) {
        return (false, ops);
    }
    ops.push(op(
        client,
        OpKind::Append,
        "k0",
        Some("end;"),
        None,
        call,
        node.now_ns(),
    ));
    for key in (0..keys).map(|k| format!("k{k}")) {
        let call = node.now_ns();
        let get = KvOp::Get { key: key.clone() };
        if let Outcome::Done(value) = clerk.run(get, FINAL_DEADLINE).await {
            ops.push(op(
                client,
                OpKind::Get,
                &key,
                None,
                value,
                call,
                node.now_ns(),
            ));
        }
    }
    (true, ops)
}

fn op(
    client: u64,
    kind: OpKind,
    key: &str,
    value: Option<&str>,
    output: Option<String>,
    call: u64,
    ret: u64,
) -> Operation {
    Operation {
        client,
        op: kind,
        key: key.to_string(),
        value: value.map(str::to_string),
        output,
        call,
        ret: Some(ret),
    }
}

/// Checks the history, writes it if asked, prints the report (the JSON line last) and, if the
/// run failed, the command that replays it. `Ok(false)` when the run failed its checks.
pub fn finish(
    system: &'static str,
    args: &SimArgs,
    replay_flags: &str,
    outcome: RunOutcome,
    wall: std::time::Instant,
) -> Result<bool> {
    let RunOutcome {
        recorder,
        faults,
        net,
        leader_changes,
        reconfigurations,
        chain_lost,
        progress,
        virtual_secs,
    } = outcome;
    let linearizable = check(&recorder.history).is_linearizable();
    if let Some(path) = &args.history {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the history {}", path.display()))?;
        history::write(&recorder.history, std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write the history {}", path.display()))?;
    }
    let report = Report {
        system,
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
        reconfigurations,
        chain_lost,
        messages_sent: net.sent,
        messages_dropped: net.dropped(),
        faults,
        progress_after_heal: progress,
        linearizable,
    };
    if !args.json {
        let changes = match reconfigurations {
            Some(n) => format!("{n} reconfigurations, {leader_changes} head changes"),
            None => format!("{leader_changes} leader changes"),
        };
        println!(
            "{system}: {} servers, {} clients, nemesis {}, seed {}: {} ops ok, {} failed, {} \
             unknown; {changes}; {:.0} virtual s in {:.2} wall s",
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
        println!("linearizable: {linearizable}; progress after healing: {progress}");
        if chain_lost == Some(true) {
            println!("the faults took every replica of the chain: its data is gone");
        }
    }
    let passed = linearizable && (progress || chain_lost == Some(true));
    if !passed {
        eprintln!(
            "troupe: the run failed its checks; replay it with `troupe sim {system}{replay_flags} \
             --seed {} --nodes {} --clients {} --duration {} --nemesis {}`",
            report.seed,
            report.nodes,
            report.clients,
            humantime::format_duration(args.duration),
            report.nemesis
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(passed)
}
