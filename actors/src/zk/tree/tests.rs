//! The znode tree against ZooKeeper's documented behaviour: stats, versions, sequential
//! names, ephemeral nodes, multi's all-or-nothing, and the events each write fires.

use super::*;

fn at(zxid: i64) -> WriteContext {
    WriteContext {
        zxid,
        time: 1_000 + zxid,
        session: 7,
    }
}

fn create(path: &str, data: &str, mode: CreateMode) -> Op {
    Op::Create {
        path: path.into(),
        data: data.as_bytes().to_vec(),
        mode,
    }
}

fn created_path(result: OpResult) -> String {
    match result {
        OpResult::Created { path, .. } => path,
        other => panic!("not created: {other:?}"),
    }
}

#[test]
fn create_get_set_delete_keep_zookeepers_stat() {
    let mut tree = DataTree::new();
    let (result, events) = tree.apply(at(5), &create("/a", "x", CreateMode::PERSISTENT));
    let OpResult::Created { path, stat } = result else {
        panic!("{result:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (5, 5, 5));
    assert_eq!((stat.version, stat.data_length, stat.ctime), (0, 1, 1005));
    assert_eq!(
        events,
        [
            event(EventType::NodeCreated, "/a"),
            event(EventType::NodeChildrenChanged, "/")
        ]
    );
    let root = tree.exists("/").expect("the root");
    assert_eq!((root.num_children, root.cversion, root.pzxid), (2, 1, 5));

    let set = |data: &str, version| Op::SetData {
        path: "/a".into(),
        data: data.as_bytes().to_vec(),
        version,
    };
    assert_eq!(
        tree.apply(at(6), &set("yy", 1)).0,
        OpResult::Failed(ZkError::BadVersion)
    );
    let (result, events) = tree.apply(at(7), &set("yy", 0));
    let OpResult::DataSet { stat } = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        (stat.version, stat.mzxid, stat.czxid, stat.data_length),
        (1, 7, 5, 2)
    );
    assert_eq!(events, [event(EventType::NodeDataChanged, "/a")]);
    assert_eq!(tree.get_data("/a").expect("data").0, b"yy");
    // -1 matches any version.
    assert!(matches!(
        tree.apply(at(8), &set("z", -1)).0,
        OpResult::DataSet { .. }
    ));

    let delete = |version| Op::Delete {
        path: "/a".into(),
        version,
    };
    assert_eq!(
        tree.apply(at(9), &delete(0)).0,
        OpResult::Failed(ZkError::BadVersion)
    );
    let (result, events) = tree.apply(at(10), &delete(2));
    assert_eq!(result, OpResult::Deleted);
    assert_eq!(
        events,
        [
            event(EventType::NodeDeleted, "/a"),
            event(EventType::NodeChildrenChanged, "/")
        ]
    );
    let root = tree.exists("/").expect("the root");
    assert_eq!((root.num_children, root.cversion, root.pzxid), (1, 2, 10));
    assert_eq!(tree.get_data("/a").map(|_| ()), Err(ZkError::NoNode));
}

#[test]
fn writes_fail_as_zookeepers_do_and_change_nothing() {
    let mut tree = DataTree::new();
    tree.apply(at(1), &create("/a", "", CreateMode::PERSISTENT));
    tree.apply(at(2), &create("/a/b", "", CreateMode::PERSISTENT));
    let before = tree.clone();
    let fails = [
        (
            create("/a", "", CreateMode::PERSISTENT),
            ZkError::NodeExists,
        ),
        (create("/x/y", "", CreateMode::PERSISTENT), ZkError::NoNode),
        (
            create("a", "", CreateMode::PERSISTENT),
            ZkError::BadArguments,
        ),
        (
            create("/a/", "", CreateMode::PERSISTENT),
            ZkError::BadArguments,
        ),
        (
            create("/a//b", "", CreateMode::PERSISTENT),
            ZkError::BadArguments,
        ),
        (
            create("/a/..", "", CreateMode::PERSISTENT),
            ZkError::BadArguments,
        ),
        (
            create("/a/\u{1}", "", CreateMode::PERSISTENT),
            ZkError::BadArguments,
        ),
        (create("/", "", CreateMode::PERSISTENT), ZkError::NodeExists),
        (
            Op::Delete {
                path: "/a".into(),
                version: -1,
            },
            ZkError::NotEmpty,
        ),
        (
            Op::Delete {
                path: "/".into(),
                version: -1,
            },
            ZkError::BadArguments,
        ),
        (
            Op::Check {
                path: "/none".into(),
                version: -1,
            },
            ZkError::NoNode,
        ),
    ];
    for (op, error) in fails {
        let (result, events) = tree.apply(at(3), &op);
        assert_eq!(result, OpResult::Failed(error), "{op:?}");
        assert!(events.is_empty());
        assert_eq!(tree, before, "{op:?} changed the tree");
    }
}

#[test]
fn sequential_names_count_the_parents_child_changes() {
    let mut tree = DataTree::new();
    tree.apply(at(1), &create("/q", "", CreateMode::PERSISTENT));
    let first = created_path(
        tree.apply(
            at(2),
            &create("/q/n-", "", CreateMode::PERSISTENT_SEQUENTIAL),
        )
        .0,
    );
    assert_eq!(first, "/q/n-0000000000");
    tree.apply(at(3), &create("/q/other", "", CreateMode::PERSISTENT));
    tree.apply(
        at(4),
        &Op::Delete {
            path: "/q/other".into(),
            version: -1,
        },
    );
    // A create and a delete since: the suffix is 3, not 1.
    let next = created_path(
        tree.apply(
            at(5),
            &create("/q/n-", "", CreateMode::EPHEMERAL_SEQUENTIAL),
        )
        .0,
    );
    assert_eq!(next, "/q/n-0000000003");
    // A prefix ending in '/' names the node by its suffix alone.
    let bare = created_path(
        tree.apply(at(6), &create("/q/", "", CreateMode::PERSISTENT_SEQUENTIAL))
            .0,
    );
    assert_eq!(bare, "/q/0000000004");
    let (children, stat) = tree.get_children("/q").expect("children");
    assert_eq!(children, ["0000000004", "n-0000000000", "n-0000000003"]);
    assert_eq!((stat.num_children, stat.cversion), (3, 5));
}

#[test]
fn ephemeral_nodes_belong_to_their_session_and_have_no_children() {
    let mut tree = DataTree::new();
    let (result, _) = tree.apply(at(1), &create("/e", "", CreateMode::EPHEMERAL));
    let OpResult::Created { stat, .. } = result else {
        panic!("{result:?}")
    };
    assert_eq!(stat.ephemeral_owner, 7);
    assert_eq!(
        tree.apply(at(2), &create("/e/c", "", CreateMode::PERSISTENT))
            .0,
        OpResult::Failed(ZkError::NoChildrenForEphemerals)
    );
    let other = WriteContext {
        session: 8,
        ..at(3)
    };
    tree.apply(other, &create("/f", "", CreateMode::EPHEMERAL));
    tree.apply(at(4), &create("/p", "", CreateMode::PERSISTENT));
    assert_eq!(tree.ephemerals_of(7), ["/e"]);

    let events = tree.close_session(at(5), 7);
    assert_eq!(
        events,
        [
            event(EventType::NodeDeleted, "/e"),
            event(EventType::NodeChildrenChanged, "/")
        ]
    );
    assert!(tree.exists("/e").is_none());
    assert!(tree.exists("/f").is_some(), "another session's node stays");
    assert!(tree.exists("/p").is_some(), "persistent nodes stay");
    assert!(tree.ephemerals_of(7).is_empty());
    assert!(
        tree.close_session(at(6), 7).is_empty(),
        "closing twice deletes nothing"
    );
}

#[test]
fn a_multi_applies_whole_or_not_at_all() {
    let mut tree = DataTree::new();
    tree.apply(at(1), &create("/a", "", CreateMode::PERSISTENT));
    let before = tree.clone();
    let ops = [
        create("/b", "", CreateMode::PERSISTENT),
        Op::Check {
            path: "/a".into(),
            version: 3,
        },
        create("/c", "", CreateMode::PERSISTENT),
    ];
    let (results, events) = tree.multi(at(2), &ops);
    assert_eq!(
        results,
        [
            OpResult::RolledBack,
            OpResult::Failed(ZkError::BadVersion),
            OpResult::Failed(ZkError::RuntimeInconsistency)
        ]
    );
    assert!(events.is_empty());
    assert_eq!(tree, before, "a failed multi changed the tree");

    // Members see the ones before them: create a parent, then its child, then delete /a.
    let ops = [
        create("/b", "", CreateMode::PERSISTENT),
        create("/b/c", "", CreateMode::EPHEMERAL),
        Op::Delete {
            path: "/a".into(),
            version: 0,
        },
    ];
    let (results, events) = tree.multi(at(3), &ops);
    assert!(
        matches!(results[1], OpResult::Created { .. }),
        "{results:?}"
    );
    assert_eq!(results[2], OpResult::Deleted);
    assert_eq!(events.len(), 6);
    assert_eq!(tree.ephemerals_of(7), ["/b/c"]);
    assert!(tree.exists("/a").is_none());
}

#[test]
fn a_rolled_back_multi_restores_the_ephemeral_index() {
    let mut tree = DataTree::new();
    tree.apply(at(1), &create("/e", "", CreateMode::EPHEMERAL));
    let ops = [
        Op::Delete {
            path: "/e".into(),
            version: -1,
        },
        create("/x", "", CreateMode::EPHEMERAL),
        create("/missing/y", "", CreateMode::PERSISTENT),
    ];
    let (results, _) = tree.multi(at(2), &ops);
    assert_eq!(results[2], OpResult::Failed(ZkError::NoNode));
    assert_eq!(tree.ephemerals_of(7), ["/e"]);
    assert!(tree.exists("/x").is_none());
}

#[test]
fn the_tree_starts_with_zookeepers_own_nodes() {
    let tree = DataTree::new();
    assert_eq!(tree.get_children("/").expect("root").0, ["zookeeper"]);
    assert_eq!(
        tree.get_children("/zookeeper").expect("/zookeeper").0,
        ["quota"]
    );
    assert_eq!(tree.len(), 3);
}
