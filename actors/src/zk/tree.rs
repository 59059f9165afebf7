//! The znode tree: ZooKeeper's data model as a plain, deterministic state machine. Every
//! replica applies the same writes in the same (log) order, each with the zxid, time and
//! session the log gave it, and so holds the same tree; reads are served from it locally.
//!
//! A write either applies whole or changes nothing: each change is recorded in an undo list
//! as it is made, and a multi whose member fails is rolled back from it. What a write
//! changed comes back as [`WatchEvent`]s, which fire the watches a server holds for its
//! clients (the watches themselves are not replicated: they belong to connections).
//!
//! As in ZooKeeper: a sequential node's name ends in the parent's child-change count
//! (`cversion`) as 10 digits; an ephemeral node belongs to a session and can have no
//! children; a version of -1 matches any; deleting a node with children fails; `/zookeeper`
//! and `/zookeeper/quota` exist from the start.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use troupe_messages::zk::{CreateMode, EventType, Op, OpResult, Stat, WatchEvent, ZkError};

/// One znode: its data, its stat and the names of its children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Znode {
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    stat: Stat,
    children: BTreeSet<String>,
}

/// Where a write applies: the zxid the log gave it, the leader's clock when it was proposed
/// (milliseconds since the epoch), and the session that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteContext {
    /// The write's zxid.
    pub zxid: i64,
    /// Its time.
    pub time: i64,
    /// The session that sent it (the owner of the ephemeral nodes it creates).
    pub session: i64,
}

/// A node's value before a change: what an undo puts back.
type Undo = Vec<(String, Option<Znode>)>;

/// The znode tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTree {
    nodes: BTreeMap<String, Znode>,
    /// The ephemeral nodes of each session.
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A tree with the root, `/zookeeper` and `/zookeeper/quota`.
    pub fn new() -> DataTree {
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
        };
        let empty = |children: &[&str]| Znode {
            data: Vec::new(),
            stat: Stat {
                num_children: children.len() as i32,
                ..Stat::default()
            },
            children: children.iter().map(|c| c.to_string()).collect(),
        };
        tree.nodes.insert("/".into(), empty(&["zookeeper"]));
        tree.nodes.insert("/zookeeper".into(), empty(&["quota"]));
        tree.nodes.insert("/zookeeper/quota".into(), empty(&[]));
        tree
    }

    /// How many znodes there are (the root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never: the root always exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `path`'s stat, if it exists.
    pub fn exists(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| n.stat)
    }

    /// `path`'s data and stat.
    pub fn get_data(&self, path: &str) -> Result<(&[u8], Stat), ZkError> {
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        Ok((&node.data, node.stat))
    }

    /// The names of `path`'s children, sorted, and its stat.
    pub fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat), ZkError> {
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        Ok((node.children.iter().cloned().collect(), node.stat))
    }

    /// The paths of `session`'s ephemeral nodes.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|paths| paths.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Applies one write: its result, and the events it fires (none if it failed).
    pub fn apply(&mut self, ctx: WriteContext, op: &Op) -> (OpResult, Vec<WatchEvent>) {
        let mut undo = Undo::new();
        let mut events = Vec::new();
        match self.try_op(ctx, op, &mut undo, &mut events) {
            Ok(result) => (result, events),
            Err(e) => {
                self.roll_back(undo);
                (OpResult::Failed(e), Vec::new())
            }
        }
    }

    /// Applies the writes of a multi, all or none, each seeing the ones before it. If one
    /// fails, nothing changes, and the results are ZooKeeper's: [`OpResult::RolledBack`] for
    /// the members before it, its error, and [`ZkError::RuntimeInconsistency`] after it.
    pub fn multi(&mut self, ctx: WriteContext, ops: &[Op]) -> (Vec<OpResult>, Vec<WatchEvent>) {
        let mut undo = Undo::new();
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.try_op(ctx, op, &mut undo, &mut events) {
                Ok(result) => results.push(result),
                Err(e) => {
                    self.roll_back(undo);
                    let failed = (0..ops.len()).map(|j| match j.cmp(&i) {
                        std::cmp::Ordering::Less => OpResult::RolledBack,
                        std::cmp::Ordering::Equal => OpResult::Failed(e),
                        std::cmp::Ordering::Greater => {
                            OpResult::Failed(ZkError::RuntimeInconsistency)
                        }
                    });
                    return (failed.collect(), Vec::new());
                }
            }
        }
        (results, events)
    }

    /// Deletes every ephemeral node of `session` (its close or expiry): the events fired.
    pub fn close_session(&mut self, ctx: WriteContext, session: i64) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        for path in self.ephemerals_of(session) {
            let delete = Op::Delete { path, version: -1 };
            // An ephemeral node has no children, so its delete cannot fail.
            events.extend(self.apply(ctx, &delete).1);
        }
        events
    }

    fn try_op(
        &mut self,
        ctx: WriteContext,
        op: &Op,
        undo: &mut Undo,
        events: &mut Vec<WatchEvent>,
    ) -> Result<OpResult, ZkError> {
        match op {
            Op::Create { path, data, mode } => self.create(ctx, path, data, *mode, undo, events),
            Op::Delete { path, version } => self.delete(ctx, path, *version, undo, events),
            Op::SetData {
                path,
                data,
                version,
            } => {
                let mut node = self.nodes.get(path).ok_or(ZkError::NoNode)?.clone();
                check_version(&node.stat, *version)?;
                node.data = data.clone();
                node.stat.version += 1;
                node.stat.mzxid = ctx.zxid;
                node.stat.mtime = ctx.time;
                node.stat.data_length = data.len() as i32;
                let stat = node.stat;
                self.replace(path, Some(node), undo);
                events.push(event(EventType::NodeDataChanged, path));
                Ok(OpResult::DataSet { stat })
            }
            Op::Check { path, version } => {
                let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
                check_version(&node.stat, *version)?;
                Ok(OpResult::Checked)
            }
        }
    }

    fn create(
        &mut self,
        ctx: WriteContext,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        undo: &mut Undo,
        events: &mut Vec<WatchEvent>,
    ) -> Result<OpResult, ZkError> {
        // A sequential prefix may end in '/': its name is then the suffix alone.
        if mode.sequential {
            validate_path(&format!("{path}1"))?;
        } else {
            validate_path(path)?;
        }
        if path == "/" {
            return Err(ZkError::NodeExists);
        }
        let (parent_path, _) = split(path);
        let mut parent = self.nodes.get(parent_path).ok_or(ZkError::NoNode)?.clone();
        if parent.stat.ephemeral_owner != 0 {
            return Err(ZkError::NoChildrenForEphemerals);
        }
        let path = if mode.sequential {
            format!("{path}{:010}", parent.stat.cversion)
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&path) {
            return Err(ZkError::NodeExists);
        }
        let stat = Stat {
            czxid: ctx.zxid,
            mzxid: ctx.zxid,
            ctime: ctx.time,
            mtime: ctx.time,
            ephemeral_owner: if mode.ephemeral { ctx.session } else { 0 },
            data_length: data.len() as i32,
            pzxid: ctx.zxid,
            ..Stat::default()
        };
        let node = Znode {
            data: data.to_vec(),
            stat,
            children: BTreeSet::new(),
        };
        parent.children.insert(split(&path).1.to_string());
        parent.stat.cversion += 1;
        parent.stat.num_children += 1;
        parent.stat.pzxid = ctx.zxid;
        self.replace(parent_path, Some(parent), undo);
        self.replace(&path, Some(node), undo);
        events.push(event(EventType::NodeCreated, &path));
        events.push(event(EventType::NodeChildrenChanged, parent_path));
        Ok(OpResult::Created { path, stat })
    }

    fn delete(
        &mut self,
        ctx: WriteContext,
        path: &str,
        version: i32,
        undo: &mut Undo,
        events: &mut Vec<WatchEvent>,
    ) -> Result<OpResult, ZkError> {
        validate_path(path)?;
        if path == "/" {
            return Err(ZkError::BadArguments);
        }
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        check_version(&node.stat, version)?;
        if !node.children.is_empty() {
            return Err(ZkError::NotEmpty);
        }
        let (parent_path, name) = split(path);
        let mut parent = self.nodes.get(parent_path).ok_or(ZkError::NoNode)?.clone();
        parent.children.remove(name);
        parent.stat.cversion += 1;
        parent.stat.num_children -= 1;
        parent.stat.pzxid = ctx.zxid;
        self.replace(parent_path, Some(parent), undo);
        self.replace(path, None, undo);
        events.push(event(EventType::NodeDeleted, path));
        events.push(event(EventType::NodeChildrenChanged, parent_path));
        Ok(OpResult::Deleted)
    }

    /// Sets `path` to `node` (None: removes it), keeping the ephemeral index in step and
    /// recording the old value in `undo`.
    fn replace(&mut self, path: &str, node: Option<Znode>, undo: &mut Undo) {
        let old = self.set(path, node);
        undo.push((path.to_string(), old));
    }

    fn set(&mut self, path: &str, node: Option<Znode>) -> Option<Znode> {
        let owner = |n: &Option<Znode>| n.as_ref().map_or(0, |n| n.stat.ephemeral_owner);
        let new_owner = owner(&node);
        let old = match node {
            Some(node) => self.nodes.insert(path.to_string(), node),
            None => self.nodes.remove(path),
        };
        let old_owner = owner(&old);
        if old_owner != 0 && old_owner != new_owner {
            if let Some(paths) = self.ephemerals.get_mut(&old_owner) {
                paths.remove(path);
                if paths.is_empty() {
                    self.ephemerals.remove(&old_owner);
                }
            }
        }
        if new_owner != 0 {
            let paths = self.ephemerals.entry(new_owner).or_default();
            paths.insert(path.to_string());
        }
        old
    }

    fn roll_back(&mut self, undo: Undo) {
        for (path, old) in undo.into_iter().rev() {
            self.set(&path, old);
        }
    }
}

fn event(kind: EventType, path: &str) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.to_string(),
    }
}

fn check_version(stat: &Stat, version: i32) -> Result<(), ZkError> {
    if version == -1 || version == stat.version {
        Ok(())
    } else {
        Err(ZkError::BadVersion)
    }
}

/// `path`'s parent and last name (`/a/b` gives `/a` and `b`; `/a` gives `/` and `a`).
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

/// ZooKeeper's path rules: absolute, no empty name (`//`, a trailing `/`), no `.` or `..`
/// name, no control characters.
pub fn validate_path(path: &str) -> Result<(), ZkError> {
    if !path.starts_with('/') {
        return Err(ZkError::BadArguments);
    }
    if path == "/" {
        return Ok(());
    }
    let bad_char =
        |c: char| matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fff0}'..='\u{ffff}');
    let names_ok = path[1..]
        .split('/')
        .all(|name| !name.is_empty() && name != "." && name != "..");
    if names_ok && !path.chars().any(bad_char) {
        Ok(())
    } else {
        Err(ZkError::BadArguments)
    }
}

#[cfg(test)]
mod tests;
