//! The failure tests of docs/adding-a-system.md: the register server's node crashes and
//! restarts while clients put and get; afterwards every acknowledged put must still be there
//! and the history must be linearizable, under the key-value model and the register model
//! alike. A server whose disk forgets everything at each restart must fail the same checks,
//! and the supervisor must bring back a killed server with its registers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use troupe::systems::register::{Register, SERVER};
use troupe::systems::topology;
use troupe::testkit::register::{final_reads, register_history};
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_actors::client::{KvClient, Outcome};
use troupe_messages::kv::KvOp;
use troupe_runtime::linearizability::{check, check_model, Budget, Register as RegisterModel};
use troupe_runtime::sim::derive_seed;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ExitReason, MemPersister, Persister};

/// Four clients on n2-n5; the final reader on n6.
const CLIENTS: u32 = 4;

/// What a run found at the end.
struct Found {
    /// Crashes of the server's node while the clients ran.
    crashes: u32,
    /// Puts acknowledged during the run.
    acknowledged_puts: usize,
    /// Failed final reads, and acknowledged puts they show lost.
    problems: Vec<String>,
    /// The key-value model's verdict on the whole history.
    linearizable: Option<bool>,
    /// The register model's verdict on the same history.
    linearizable_as_registers: Option<bool>,
}

/// Runs the clients for 10 s of virtual time while the server's node crashes for 50-500 ms
/// every 0.5-2 s, crashes it once more, then reads every key from a fresh client and checks
/// the history.
/// `forgetful`: the server's disk is empty again at each restart.
async fn crash_the_server_during_puts(seed: u64, forgetful: bool) -> Found {
    let system = Register::new();
    let mut builder = Cluster::builder(seed)
        .nodes(CLIENTS + 2)
        .topology(topology(system.clone()));
    if forgetful {
        builder = builder.storage(|_| Arc::new(MemPersister::new()) as Arc<dyn Persister>);
    }
    let cluster = builder.build();
    let clients = (0..CLIENTS)
        .map(|c| {
            let node = cluster.up(2 + c);
            WorkloadClient {
                client: u64::from(c),
                clerk: system.client(node.clone(), u64::from(c) + 1),
                node,
                rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, u64::from(c))),
            }
        })
        .collect();
    let crashed = Cell::new(0);
    let crashes = async {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 99));
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(9) {
            cluster
                .run_for(Duration::from_millis(rng.gen_range(500..2_000)))
                .await;
            cluster.crash(1);
            crashed.set(crashed.get() + 1);
            cluster
                .run_for(Duration::from_millis(rng.gen_range(50..500)))
                .await;
            cluster.restart(1);
        }
    };
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let workload = Workload {
        gets_in_ten: 5,
        puts_only: true,
        ..Workload::default()
    };
    let run_for = Duration::from_secs(10);
    run_clients_for(clients, workload, recorder.clone(), run_for, crashes).await;
    let mut history = std::mem::take(&mut recorder.borrow_mut().history);
    // Once more after the last put: only what is durable can be read back now.
    cluster.crash(1);
    cluster.restart(1);

    let reader = cluster.up(CLIENTS + 2);
    let mut clerk = system.client(reader.clone(), u64::from(CLIENTS) + 1);
    let clock = || reader.now_ns();
    let who = (u64::from(CLIENTS), &clock as &dyn Fn() -> u64);
    let deadline = Duration::from_secs(5);
    let found = final_reads(&mut clerk, &history, workload.keys, deadline, who).await;
    history.extend(found.reads);

    let as_registers = register_history(&history).expect("puts and gets only");
    Found {
        crashes: crashed.get(),
        acknowledged_puts: history
            .iter()
            .filter(|o| o.value.is_some() && o.ret.is_some())
            .count(),
        problems: found.problems,
        linearizable: check(&history).as_option(),
        linearizable_as_registers: check_model(&RegisterModel, &as_registers, Budget::default())
            .as_option(),
    }
}

#[test]
fn acknowledged_puts_survive_crashes_of_the_register_server() {
    simulate(2026, |seed| async move {
        let found = crash_the_server_during_puts(seed, false).await;
        assert!(found.crashes >= 4, "only {} crashes", found.crashes);
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        assert_eq!(found.linearizable, Some(true), "key-value model");
        assert_eq!(
            found.linearizable_as_registers,
            Some(true),
            "register model"
        );
        assert!(
            found.acknowledged_puts > 100,
            "too few puts got through: {}",
            found.acknowledged_puts
        );
    });
}

#[test]
fn a_server_whose_disk_forgets_is_caught_losing_puts() {
    simulate(2027, |seed| async move {
        let found = crash_the_server_during_puts(seed, true).await;
        assert!(!found.problems.is_empty(), "no acknowledged put was missed");
        assert_eq!(found.linearizable, Some(false), "key-value model");
        assert_eq!(
            found.linearizable_as_registers,
            Some(false),
            "register model"
        );
    });
}

#[test]
fn the_supervisor_restarts_a_killed_server_with_its_registers() {
    simulate(2028, |seed| async move {
        let system = Register::new();
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(topology(system.clone()))
            .build();
        let mut client = system.client(cluster.up(2), 1);
        let t = Duration::from_secs(1);
        let put = KvOp::Put {
            key: "r".into(),
            value: "kept".into(),
        };
        assert_eq!(client.run(put, t).await, Outcome::Done(None));

        let server = cluster.up(1);
        let first = server.handle(SERVER).expect("the server runs");
        first.kill(ExitReason::Killed);
        // The client's get is refused until the supervisor has started a fresh server (after
        // its 50 ms backoff), which reads the register back from the persister.
        let get = KvOp::Get { key: "r".into() };
        assert_eq!(client.run(get, t).await, Outcome::Done(Some("kept".into())));
        let second = server.handle(SERVER).expect("restarted");
        assert_ne!(first.id(), second.id(), "a fresh actor");
        assert_eq!(server.incarnation(), 0, "the node itself never restarted");
    });
}
