//! A client workload for the key-value service: random gets, puts and appends on a few shared
//! keys, every operation recorded in a history for the linearizability checker. Used by
//! `troupe sim`, the KV tests and the chain tests.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe_actors::client::{KvClient, Outcome};
use troupe_messages::kv::KvOp;
use troupe_runtime::history::{OpKind, Operation};

/// The shape of the load one client offers.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Keys are k0..k{keys-1}.
    pub keys: usize,
    /// Mean pause between two operations of one client. Each pause is drawn from the client's
    /// seeded stream, in whole milliseconds from half to one and a half times this, so that
    /// clients do not move in lockstep.
    pub think: Duration,
    /// How long a client tries one operation before its outcome is unknown.
    pub op_deadline: Duration,
    /// Out of ten operations, how many are gets (the rest: two appends for each put, or puts
    /// only with `puts_only`).
    pub gets_in_ten: u32,
    /// Every write is a put (for a system without appends).
    pub puts_only: bool,
    /// Every write is an append (no put ever overwrites a lost append, so the final reads find
    /// every write a system lost). Ignored with `puts_only`.
    pub appends_only: bool,
    /// Every n-th client (numbers n-1, 2n-1, ...) only reads; 0 for none. A reader cut off
    /// with a stale server keeps asking it, where a writer would wait on its first write:
    /// readers are what catch stale reads.
    pub read_only_every: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            keys: 5,
            think: Duration::from_millis(10),
            op_deadline: Duration::from_secs(3),
            gets_in_ten: 4,
            puts_only: false,
            appends_only: false,
            read_only_every: 4,
        }
    }
}

/// What all clients did.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every operation that may have taken effect, with its call and return times.
    pub history: Vec<Operation>,
    /// Operations that took effect.
    pub ok: u64,
    /// Operations that certainly did not.
    pub failed: u64,
    /// Operations whose outcome is unknown.
    pub unknown: u64,
}

/// One client of [`run_clients_for`]: its number in the history, its clerk, the node it runs
/// on (for the clock) and its random stream.
pub struct WorkloadClient<C> {
    /// The client's number in the history.
    pub client: u64,
    /// Its clerk.
    pub clerk: C,
    /// The node it runs on.
    pub node: troupe_runtime::Node,
    /// Its random stream.
    pub rng: ChaCha8Rng,
}

/// Runs every client for `d` of (virtual) time while `during` does its damage, recording
/// into `recorder`; returns when every client has finished its last operation.
pub async fn run_clients_for<C, F>(
    clients: Vec<WorkloadClient<C>>,
    workload: Workload,
    recorder: Rc<RefCell<Recorder>>,
    d: Duration,
    during: F,
) where
    C: KvClient + 'static,
    F: std::future::Future<Output = ()>,
{
    let stop = Rc::new(Cell::new(false));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let node = c.node;
            let clock = move || node.now_ns();
            let (recorder, stop) = (recorder.clone(), stop.clone());
            tokio::task::spawn_local(run_client(
                c.clerk, c.client, workload, c.rng, recorder, stop, clock,
            ))
        })
        .collect();
    let started = tokio::time::Instant::now();
    during.await;
    tokio::time::sleep_until(started + d).await;
    stop.set(true);
    for task in tasks {
        // A client that panicked takes its caller (a test) down with it.
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// Runs one client until `stop` is set, recording into `recorder`.
pub async fn run_client(
    mut clerk: impl KvClient,
    client: u64,
    workload: Workload,
    mut rng: ChaCha8Rng,
    recorder: Rc<RefCell<Recorder>>,
    stop: Rc<Cell<bool>>,
    clock: impl Fn() -> u64,
) {
    let reader = workload.read_only_every > 0
        && client % workload.read_only_every == workload.read_only_every - 1;
    let gets = if reader {
        10
    } else {
        workload.gets_in_ten.min(10)
    };
    let appends_end = if workload.puts_only {
        gets
    } else if workload.appends_only {
        10
    } else {
        gets + (10 - gets) * 2 / 3
    };
    let mut n = 0u64;
    while !stop.get() {
        n += 1;
        let key = format!("k{}", rng.gen_range(0..workload.keys.max(1)));
        let value = format!("{client}.{n};");
        let roll = rng.gen_range(0..10);
        let (kind, op) = match roll {
            r if r < gets => (OpKind::Get, KvOp::Get { key: key.clone() }),
            r if r < appends_end => (
                OpKind::Append,
                KvOp::Append {
                    key: key.clone(),
                    value: value.clone(),
                },
            ),
            _ => (
                OpKind::Put,
                KvOp::Put {
                    key: key.clone(),
                    value: value.clone(),
                },
            ),
        };
        let call = clock();
        let outcome = clerk.run(op, workload.op_deadline).await;
        let (ret, output) = match outcome {
            Outcome::Done(output) => {
                recorder.borrow_mut().ok += 1;
                (Some(clock()), output)
            }
            Outcome::Unknown => {
                recorder.borrow_mut().unknown += 1;
                (None, None)
            }
            Outcome::NotApplied => {
                recorder.borrow_mut().failed += 1;
                tokio::time::sleep(think_time(workload.think, &mut rng)).await;
                continue;
            }
        };
        recorder.borrow_mut().history.push(Operation {
            client,
            op: kind,
            key,
            value: (kind != OpKind::Get).then_some(value),
            output: if kind == OpKind::Get { output } else { None },
            call,
            ret,
        });
        tokio::time::sleep(think_time(workload.think, &mut rng)).await;
    }
}

/// A pause of about `mean`: whole milliseconds (the simulated clock's tick), uniform from half
/// to one and a half times `mean`.
pub fn think_time(mean: Duration, rng: &mut ChaCha8Rng) -> Duration {
    let mean = u64::try_from(mean.as_millis()).unwrap_or(u64::MAX);
    if mean == 0 {
        return Duration::ZERO;
    }
    let (lo, hi) = (mean / 2, mean.saturating_add(mean / 2));
    Duration::from_millis(rng.gen_range(lo..=hi))
}

/// Reads each of the keys `k0..k{keys-1}` through `clerk` (after the run, `history` its
/// record) and lists what is wrong: a read that did not succeed within `deadline`, or
/// acknowledged appends (see [`lost_appends`]) missing from a key's value. Empty: nothing lost.
pub async fn final_value_problems(
    clerk: &mut impl KvClient,
    history: &[Operation],
    keys: usize,
    deadline: Duration,
) -> Vec<String> {
    let no_clock = || 0;
    final_check(clerk, history, keys, deadline, (u64::MAX, &no_clock))
        .await
        .problems
}

/// What [`final_check`] found: the problems, and the reads it made, for the history.
#[derive(Debug, Default)]
pub struct FinalCheck {
    /// What is wrong (see [`final_value_problems`]). Empty: nothing lost.
    pub problems: Vec<String>,
    /// The successful reads, as operations of `client` timed by `clock`.
    pub reads: Vec<Operation>,
}

/// [`final_value_problems`], also returning the reads as operations of the client and clock in
/// `who` (its number in the history, and the run's clock), so that they join the history.
pub async fn final_check(
    clerk: &mut impl KvClient,
    history: &[Operation],
    keys: usize,
    deadline: Duration,
    who: (u64, &dyn Fn() -> u64),
) -> FinalCheck {
    let (client, clock) = who;
    let mut found = FinalCheck::default();
    for key in (0..keys).map(|k| format!("k{k}")) {
        let call = clock();
        match clerk.run(KvOp::Get { key: key.clone() }, deadline).await {
            Outcome::Done(Some(value)) => {
                let lost = lost_appends(history, &key, &value);
                if !lost.is_empty() {
                    found
                        .problems
                        .push(format!("acknowledged appends to {key} were lost: {lost:?}"));
                }
                found.reads.push(Operation {
                    client,
                    op: OpKind::Get,
                    key,
                    value: None,
                    output: Some(value),
                    call,
                    ret: Some(clock()),
                });
            }
            other => found
                .problems
                .push(format!("final read of {key} failed: {other:?}")),
        }
    }
    found
}

/// The acknowledged appends to `key` in `history` that `final_value` lacks, leaving out those a
/// put may have overwritten: an append called before the last put on the key returned (a put
/// that never returned counts as returning last). An empty answer means nothing was lost.
pub fn lost_appends<'h>(history: &'h [Operation], key: &str, final_value: &str) -> Vec<&'h str> {
    let last_put = history
        .iter()
        .filter(|o| o.key == key && o.op == OpKind::Put)
        .map(|o| o.ret.unwrap_or(u64::MAX))
        .max()
        .unwrap_or(0);
    history
        .iter()
        .filter(|o| o.key == key && o.op == OpKind::Append && o.ret.is_some() && o.call > last_put)
        .filter_map(|o| o.value.as_deref())
        .filter(|appended| !final_value.contains(appended))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: OpKind, value: &str, call: u64, ret: Option<u64>) -> Operation {
        Operation {
            client: 1,
            op,
            key: "k".into(),
            value: Some(value.into()),
            output: None,
            call,
            ret,
        }
    }

    /// A client whose every get answers `k` with a fixed value and fails other keys.
    struct Fixed(&'static str);

    impl KvClient for Fixed {
        async fn run(&mut self, op: KvOp, _: Duration) -> Outcome {
            match op {
                KvOp::Get { key } if key == "k0" => Outcome::Done(Some(self.0.to_string())),
                _ => Outcome::Unknown,
            }
        }
    }

    #[test]
    fn the_final_reads_report_lost_appends_and_failed_reads() {
        let mut history = vec![op(OpKind::Append, "a;", 10, Some(20))];
        history[0].key = "k0".into();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let problems = |value, keys| {
            let mut client = Fixed(value);
            let run = final_value_problems(&mut client, &history, keys, Duration::ZERO);
            runtime.block_on(run)
        };
        assert!(problems("a;", 1).is_empty());
        assert_eq!(problems("", 1).len(), 1, "the append is lost");
        assert_eq!(problems("a;", 2).len(), 1, "the read of k1 failed");
    }

    #[test]
    fn an_acknowledged_append_missing_from_the_final_value_is_lost_unless_a_put_may_follow() {
        let history = vec![
            op(OpKind::Append, "a;", 10, Some(20)),
            op(OpKind::Append, "b;", 30, Some(40)),
        ];
        assert_eq!(lost_appends(&history, "k", "a;b;"), Vec::<&str>::new());
        assert_eq!(lost_appends(&history, "k", "a;"), vec!["b;"]);
        // A put that returned after "b;" was called may have replaced both appends; an append
        // called after the put returned may not be missing.
        let mut with_put = history.clone();
        with_put.push(op(OpKind::Put, "p;", 25, Some(35)));
        assert_eq!(lost_appends(&with_put, "k", "p;"), Vec::<&str>::new());
        with_put.push(op(OpKind::Append, "c;", 50, Some(60)));
        assert_eq!(lost_appends(&with_put, "k", "p;"), vec!["c;"]);
        // An append whose outcome is unknown is never counted lost.
        with_put.push(op(OpKind::Append, "d;", 70, None));
        assert_eq!(lost_appends(&with_put, "k", "p;c;"), Vec::<&str>::new());
    }
}
