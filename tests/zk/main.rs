//! ZooKeeper on the simulated network, in virtual time: three troupe ZooKeeper servers on
//! n1-n3 and clients on n4, speaking ZooKeeper's protocol over troupe's network (links with
//! 1-5 ms of latency that reorder messages). A session survives the crash of its server, a
//! watch fires before the reply that shows its change, and a silent session's ephemeral node
//! goes when it expires.

use std::time::Duration;
use troupe::systems::topology;
use troupe::systems::zk::Zk;
use troupe_actors::zk::client::ZkClient;
use troupe_messages::zk::{CreateMode, ZkError};
use troupe_messages::NodeId;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::{simulate, Cluster};

const SERVERS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_session_keeps_its_watches_and_ephemeral_nodes_through_its_servers_crash() {
    simulate(16, |seed| async move {
        let system = Zk::on(SERVERS.to_vec(), 1_700_000_000_000);
        let cluster = Cluster::builder(seed)
            .nodes(4)
            .baseline(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(topology(system))
            .build();
        let client = cluster.up(4);
        let connect = |servers: Vec<NodeId>| {
            ZkClient::connect_net(client.clone(), servers, ms(6_000), ms(30_000))
        };
        // The first client talks to n1 first; the second only to n2 and n3.
        let (zk, mut events) = connect(SERVERS.to_vec()).await.expect("a session");
        let (other, _) = connect(SERVERS[1..].to_vec())
            .await
            .expect("a second session");
        assert_eq!(
            zk.create("/a", b"1", CreateMode::PERSISTENT)
                .await
                .as_deref(),
            Ok("/a")
        );
        let ephemeral = zk
            .create("/e-", b"", CreateMode::EPHEMERAL_SEQUENTIAL)
            .await
            .expect("an ephemeral node");
        zk.get_data("/a", true).await.expect("/a");
        other.sync("/").await.expect("sync");
        other.set_data("/a", b"2", -1).await.expect("set");
        let event = events.recv().await.expect("a notification");
        assert_eq!((event.kind, event.path.as_str()), (3, "/a"));

        // n1 crashes: the session moves to another server and keeps its ephemeral node.
        let session = zk.session_id();
        cluster.crash(1);
        let stat = loop {
            match zk.exists(&ephemeral, false).await {
                Ok(stat) => break stat,
                Err(ZkError::ConnectionLoss) => tokio::time::sleep(ms(50)).await,
                Err(e) => panic!("after the crash: {e}"),
            }
        };
        assert_eq!(zk.session_id(), session);
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(session));

        // The second session goes silent (its client stops): it expires, its node goes. (Its
        // server may have closed its connection when n1, perhaps the leader, crashed: a
        // create that met connection loss is tried again; it may have gone through.)
        loop {
            match other.create("/other", b"", CreateMode::EPHEMERAL).await {
                Ok(_) | Err(ZkError::NodeExists) => break,
                Err(ZkError::ConnectionLoss) => tokio::time::sleep(ms(50)).await,
                Err(e) => panic!("/other: {e}"),
            }
        }
        drop(other);
        tokio::time::sleep(ms(10_000)).await;
        loop {
            match zk.sync("/").await {
                Ok(()) => break,
                Err(ZkError::ConnectionLoss) => tokio::time::sleep(ms(50)).await,
                Err(e) => panic!("sync: {e}"),
            }
        }
        assert_eq!(zk.exists("/other", false).await, Ok(None));
        assert!(zk
            .exists(&ephemeral, false)
            .await
            .expect("exists")
            .is_some());
    });
}
