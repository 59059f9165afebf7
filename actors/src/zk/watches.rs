//! The watches one server holds for its client connections: one-shot triggers by path, as
//! ZooKeeper's server keeps them. They are not replicated: a watch belongs to a connection,
//! and a client that reconnects elsewhere sets its watches again (`setWatches`), which fires
//! at once any whose node changed since the last zxid the client saw.
//!
//! - A *data* watch (set by getData, or by exists on a node that exists or not) fires on the
//!   node's creation, deletion or data change.
//! - A *child* watch (set by getChildren) fires when a child is created or deleted, or when
//!   the node itself is deleted.
//!
//! A watch fires once and is gone. A connection that holds both kinds on a deleted node hears
//! of it once. The server fires a write's events as it applies the write, before it sends any
//! reply that could reveal the change, so a client learns of a change before it can read it.

use std::collections::{BTreeMap, BTreeSet};
use troupe_messages::zk::{EventType, Stat, WatchEvent};

/// The watches of one server, by connection `C`.
#[derive(Debug, Clone)]
pub struct Watches<C> {
    data: BTreeMap<String, BTreeSet<C>>,
    child: BTreeMap<String, BTreeSet<C>>,
}

impl<C> Default for Watches<C> {
    fn default() -> Self {
        Watches {
            data: BTreeMap::new(),
            child: BTreeMap::new(),
        }
    }
}

/// The watches a reconnecting client asks to set again, and the last zxid it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewatch {
    /// The last zxid the client saw.
    pub relative_zxid: i64,
    /// Paths of its data watches (on nodes that existed).
    pub data: Vec<String>,
    /// Paths of its exist watches (on nodes that did not).
    pub exist: Vec<String>,
    /// Paths of its child watches.
    pub child: Vec<String>,
}

impl<C: Ord + Copy> Watches<C> {
    /// A data (or exist) watch of `conn` on `path`.
    pub fn watch_data(&mut self, path: &str, conn: C) {
        self.data.entry(path.to_string()).or_default().insert(conn);
    }

    /// A child watch of `conn` on `path`.
    pub fn watch_children(&mut self, path: &str, conn: C) {
        self.child.entry(path.to_string()).or_default().insert(conn);
    }

    /// The connections `event` notifies, each once; their watches on it are gone.
    pub fn fire(&mut self, event: &WatchEvent) -> Vec<C> {
        let mut fired = BTreeSet::new();
        let (data, child) = match event.kind {
            EventType::NodeCreated | EventType::NodeDataChanged => (true, false),
            EventType::NodeDeleted => (true, true),
            EventType::NodeChildrenChanged => (false, true),
        };
        if data {
            fired.extend(self.data.remove(&event.path).unwrap_or_default());
        }
        if child {
            fired.extend(self.child.remove(&event.path).unwrap_or_default());
        }
        fired.into_iter().collect()
    }

    /// Drops every watch of `conn` (its connection closed).
    pub fn forget(&mut self, conn: C) {
        for watches in [&mut self.data, &mut self.child] {
            watches.retain(|_, conns| {
                conns.remove(&conn);
                !conns.is_empty()
            });
        }
    }

    /// Sets `conn`'s watches again after a reconnection, as ZooKeeper's `setWatches` does:
    /// a watch whose node changed after `relative_zxid` fires at once (the events returned, in
    /// the order data, exist, child) and is not set; the others are set. `stat` gives a
    /// path's stat on this server's replica.
    pub fn rewatch(
        &mut self,
        conn: C,
        rewatch: &Rewatch,
        stat: impl Fn(&str) -> Option<Stat>,
    ) -> Vec<WatchEvent> {
        let mut fired = Vec::new();
        let after = rewatch.relative_zxid;
        let mut fire = |kind, path: &str| {
            fired.push(WatchEvent {
                kind,
                path: path.to_string(),
            })
        };
        for path in &rewatch.data {
            match stat(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(s) if s.mzxid > after => fire(EventType::NodeDataChanged, path),
                Some(_) => self.watch_data(path, conn),
            }
        }
        for path in &rewatch.exist {
            match stat(path) {
                Some(_) => fire(EventType::NodeCreated, path),
                None => self.watch_data(path, conn),
            }
        }
        for path in &rewatch.child {
            match stat(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(s) if s.pzxid > after => fire(EventType::NodeChildrenChanged, path),
                Some(_) => self.watch_children(path, conn),
            }
        }
        fired
    }

    /// How many watches are set, of both kinds.
    pub fn len(&self) -> usize {
        self.data
            .values()
            .chain(self.child.values())
            .map(BTreeSet::len)
            .sum()
    }

    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, path: &str) -> WatchEvent {
        WatchEvent {
            kind,
            path: path.into(),
        }
    }

    #[test]
    fn each_event_fires_its_kind_of_watch_once() {
        let mut w: Watches<u32> = Watches::default();
        w.watch_data("/a", 1);
        w.watch_children("/a", 2);
        assert_eq!(w.fire(&event(EventType::NodeChildrenChanged, "/a")), [2]);
        assert!(
            w.fire(&event(EventType::NodeChildrenChanged, "/a"))
                .is_empty(),
            "one-shot"
        );
        assert_eq!(w.fire(&event(EventType::NodeDataChanged, "/a")), [1]);
        assert!(w.is_empty());
        w.watch_data("/b", 1);
        assert!(w
            .fire(&event(EventType::NodeChildrenChanged, "/b"))
            .is_empty());
        assert_eq!(w.fire(&event(EventType::NodeCreated, "/b")), [1]);
    }

    #[test]
    fn a_deleted_node_fires_both_kinds_once_per_connection() {
        let mut w: Watches<u32> = Watches::default();
        w.watch_data("/a", 1);
        w.watch_children("/a", 1);
        w.watch_children("/a", 2);
        w.watch_data("/other", 1);
        assert_eq!(w.fire(&event(EventType::NodeDeleted, "/a")), [1, 2]);
        assert_eq!(w.len(), 1);
        w.forget(1);
        assert!(w.is_empty());
    }

    #[test]
    fn rewatching_fires_what_changed_since_the_clients_zxid() {
        let mut w: Watches<u32> = Watches::default();
        let stat = |path: &str| match path {
            "/old" => Some(Stat {
                mzxid: 5,
                pzxid: 5,
                ..Stat::default()
            }),
            "/new" => Some(Stat {
                mzxid: 9,
                pzxid: 9,
                ..Stat::default()
            }),
            _ => None,
        };
        let rewatch = Rewatch {
            relative_zxid: 7,
            data: vec!["/old".into(), "/new".into(), "/gone".into()],
            exist: vec!["/new".into(), "/absent".into()],
            child: vec!["/old".into(), "/new".into()],
        };
        let fired = w.rewatch(3, &rewatch, stat);
        assert_eq!(
            fired,
            [
                event(EventType::NodeDataChanged, "/new"),
                event(EventType::NodeDeleted, "/gone"),
                event(EventType::NodeCreated, "/new"),
                event(EventType::NodeChildrenChanged, "/new"),
            ]
        );
        // Set again: data on /old, exist on /absent, child on /old.
        assert_eq!(w.len(), 3);
        assert_eq!(w.fire(&event(EventType::NodeCreated, "/absent")), [3]);
    }
}
