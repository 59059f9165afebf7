//! The checker of `troupe sim zk`: a znode-tree model that judges a history of ZooKeeper
//! operations by ZooKeeper's own guarantees (lecture 9 of the notes, and the ZooKeeper paper
//! §2.3):
//!
//! - **linearizable writes**: every write has a zxid, no two share one, and the zxid order
//!   respects real time (a write that returned before another was called has the lower zxid);
//!   replaying the answered writes in zxid order explains each one's result (a create of an
//!   existing node fails, a compare-and-set sees the version it expected, a setData returns
//!   the next version);
//! - **reads at their zxid**: a read answers with the model's state at the zxid in its
//!   reply's header (its replica's last zxid): the data of the last write to the node at or
//!   before it, the stat of that write, the children created by then, and nothing written by
//!   no one;
//! - **FIFO client order**: within one session the replies' zxids never go down, so a client
//!   never reads older than what it wrote or saw, and no read's zxid reaches a write the
//!   session sent after it (a pipelined read sees its session's earlier writes, not its later);
//! - **watches before the change**: a watch set by a read at zxid r on a node is fired by the
//!   first write to it after r, and its notification reaches the session before any reply
//!   whose zxid is that write's or later;
//! - **sessions**: no write of a session is applied after its close, and no ephemeral node of
//!   a closed session is listed after the close.
//!
//! Writes whose outcome is unknown (no reply) may or may not have been applied. The workload
//! writes a value no other write writes, so a read that sees such a write's value pins it at
//! the read's mzxid; a write never seen stays unpinned, and a check that such a write could
//! change (whether a node existed, its version) is skipped for the writes and reads after it
//! could have been applied: the model never fails a correct run.

use super::history::{ZkOpKind, ZkRecord};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How many examples of broken guarantees the report keeps.
const EXAMPLES: usize = 8;

/// Counts of broken guarantees, and examples.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Findings {
    /// Two writes with one zxid, or a write seen at two zxids.
    pub duplicate_zxids: u64,
    /// A write ordered (by zxid) before a write that returned before it was called.
    pub write_order: u64,
    /// A write's result that the model's state before it does not explain.
    pub wrong_results: u64,
    /// A read that differs from the model's state at its zxid (stale, or from the future).
    pub stale_reads: u64,
    /// A read of a value that no write wrote, or that a failed write wrote.
    pub phantoms: u64,
    /// A reply with a lower zxid than an earlier reply of the same session.
    pub fifo_violations: u64,
    /// A reply that revealed a change before the notification of a watch the change fired.
    pub late_watches: u64,
    /// A write applied after its session's close, or an ephemeral node of a closed session
    /// listed after the close.
    pub closed_sessions: u64,
    /// Watches whose firing write was seen, so that their order could be checked.
    pub watches_checked: u64,
    /// The first few broken guarantees, one sentence each.
    pub examples: Vec<String>,
}

impl Findings {
    /// Whether every guarantee held.
    pub fn holds(&self) -> bool {
        self.duplicate_zxids
            + self.write_order
            + self.wrong_results
            + self.stale_reads
            + self.phantoms
            + self.fifo_violations
            + self.late_watches
            + self.closed_sessions
            == 0
    }

    fn note(&mut self, example: impl FnOnce() -> String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }
}

/// What a write did to a node, as the model replays it.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// Created it (with this value).
    Create(String),
    /// Set its data.
    Set(String),
    /// Deleted it.
    Delete,
}

impl Change {
    fn exists_after(&self) -> bool {
        !matches!(self, Change::Delete)
    }
}

/// A write the model knows was applied, at its zxid.
#[derive(Debug, Clone)]
struct Effect {
    change: Change,
    /// The record of the write.
    record: usize,
}

/// The history, indexed for the checks.
struct Model<'h> {
    records: &'h [ZkRecord],
    /// Applied changes of each node, by zxid.
    effects: HashMap<&'h str, BTreeMap<i64, Effect>>,
    /// Writes of unknown outcome never pinned, per node: their record and the zxid they must
    /// be above if they were applied.
    unpinned: HashMap<&'h str, Vec<(usize, i64)>>,
    /// Sequential children created under a parent: name -> zxid (answered creates).
    children: HashMap<&'h str, BTreeMap<String, i64>>,
    /// Creates of unknown outcome under a parent, with their lower bound.
    unknown_children: HashMap<&'h str, Vec<i64>>,
    /// The zxid at which each session was closed by its client.
    closed: HashMap<i64, i64>,
    /// Which write wrote each value (the workload never writes one twice).
    writer: HashMap<&'h str, usize>,
}

/// The parent of a path (`/q` for `/q/item-0000000001`).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Judges `records` (every client's operations and notifications).
pub fn check(records: &[ZkRecord]) -> Findings {
    let mut findings = Findings::default();
    let model = Model::build(records, &mut findings);
    model.check_writes(&mut findings);
    model.check_reads(&mut findings);
    model.check_sessions(&mut findings);
    findings
}

impl<'h> Model<'h> {
    fn build(records: &'h [ZkRecord], findings: &mut Findings) -> Model<'h> {
        let mut model = Model {
            records,
            effects: HashMap::new(),
            unpinned: HashMap::new(),
            children: HashMap::new(),
            unknown_children: HashMap::new(),
            closed: HashMap::new(),
            writer: HashMap::new(),
        };
        // Real time: the highest zxid of the writes that returned before each instant.
        let mut returned: Vec<(u64, i64)> = records
            .iter()
            .filter(|r| r.op.writes() && r.answered())
            .filter_map(|r| Some((r.ret?, r.zxid?)))
            .collect();
        returned.sort_unstable();
        let mut highest = Vec::with_capacity(returned.len());
        let mut top = i64::MIN;
        for &(ret, zxid) in &returned {
            top = top.max(zxid);
            highest.push((ret, top));
        }
        let floor = |call: u64| -> i64 {
            let i = highest.partition_point(|&(ret, _)| ret < call);
            if i == 0 {
                0
            } else {
                highest[i - 1].1
            }
        };
        // Every answered write's zxid is its own, and above those returned before its call.
        let mut by_zxid: HashMap<i64, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if !(r.op.writes() && r.answered()) {
                continue;
            }
            let Some(zxid) = r.zxid else { continue };
            if let Some(other) = by_zxid.insert(zxid, i) {
                findings.duplicate_zxids += 1;
                findings.note(|| {
                    format!(
                        "two writes have zxid {zxid}: {} and {}",
                        describe(&records[other]),
                        describe(r)
                    )
                });
            }
            let below = floor(r.call);
            if zxid <= below {
                findings.write_order += 1;
                findings.note(|| {
                    format!(
                        "{} got zxid {zxid}, yet a write with zxid {below} had returned before \
                         it was called",
                        describe(r)
                    )
                });
            }
        }
        for (i, r) in records.iter().enumerate() {
            if matches!(r.op, ZkOpKind::Create | ZkOpKind::Set | ZkOpKind::Cas) && !r.sequential {
                if let Some(value) = &r.value {
                    model.writer.insert(value.as_str(), i);
                }
            }
        }
        // Unknown writes pinned by a read that saw their value (at the read's mzxid).
        let mut pinned: HashMap<usize, i64> = HashMap::new();
        for r in records {
            let (Some(data), Some(stat)) =
                (r.output.as_ref().and_then(|o| o.data.as_deref()), r.stat())
            else {
                continue;
            };
            let Some(&w) = model.writer.get(data) else {
                continue;
            };
            if records[w].ret.is_some() {
                continue;
            }
            match pinned.insert(w, stat.mzxid) {
                Some(before) if before != stat.mzxid => {
                    findings.duplicate_zxids += 1;
                    findings.note(|| {
                        format!(
                            "{} was seen at zxid {before} and at zxid {}",
                            describe(&records[w]),
                            stat.mzxid
                        )
                    });
                }
                _ => {}
            }
        }
        for (i, r) in records.iter().enumerate() {
            if !r.op.writes() {
                continue;
            }
            if r.op == ZkOpKind::Close {
                if let (true, Some(zxid)) = (r.ok(), r.zxid) {
                    model.closed.insert(r.session, zxid);
                }
                continue;
            }
            if r.sequential && r.ephemeral {
                continue; // gone with their session: only the session checks see them
            }
            if r.sequential {
                let under = parent(&r.key);
                if r.ok() {
                    let made = r.output.as_ref().and_then(|o| o.path.as_deref());
                    if let (Some(made), Some(zxid)) = (made, r.zxid) {
                        let name = made.rsplit('/').next().unwrap_or(made).to_string();
                        model.children.entry(under).or_default().insert(name, zxid);
                    }
                } else if r.ret.is_none() {
                    model
                        .unknown_children
                        .entry(under)
                        .or_default()
                        .push(floor(r.call));
                }
                continue;
            }
            let change = match r.op {
                ZkOpKind::Create => Change::Create(r.value.clone().unwrap_or_default()),
                ZkOpKind::Delete => Change::Delete,
                _ => Change::Set(r.value.clone().unwrap_or_default()),
            };
            let at = if r.ok() {
                r.zxid
            } else if r.ret.is_none() {
                match pinned.get(&i) {
                    Some(&zxid) => {
                        if zxid <= floor(r.call) {
                            findings.write_order += 1;
                            findings.note(|| {
                                format!(
                                    "{} was seen at zxid {zxid}, before a write that returned \
                                     before it was called",
                                    describe(r)
                                )
                            });
                        }
                        Some(zxid)
                    }
                    None => {
                        model
                            .unpinned
                            .entry(r.key.as_str())
                            .or_default()
                            .push((i, floor(r.call)));
                        None
                    }
                }
            } else {
                None
            };
            if let Some(zxid) = at {
                let effects = model.effects.entry(r.key.as_str()).or_default();
                if let Some(other) = effects.insert(zxid, Effect { change, record: i }) {
                    if !records[other.record].ok() || !r.ok() {
                        findings.duplicate_zxids += 1;
                        findings.note(|| {
                            format!(
                                "{} and {} both at zxid {zxid}",
                                describe(&records[other.record]),
                                describe(r)
                            )
                        });
                    }
                }
            }
        }
        model
    }

    /// The last change of `path` at or before `zxid`.
    fn last_at(&self, path: &str, zxid: i64) -> Option<(i64, &Effect)> {
        self.effects
            .get(path)?
            .range(..=zxid)
            .next_back()
            .map(|(z, e)| (*z, e))
    }

    /// The first change of `path` after `zxid`.
    fn first_after(&self, path: &str, zxid: i64) -> Option<i64> {
        self.effects
            .get(path)?
            .range(zxid + 1..)
            .next()
            .map(|(z, _)| *z)
    }

    /// Whether a write of unknown outcome on `path` matching `kinds` could have been applied
    /// before `zxid`.
    fn maybe_before(&self, path: &str, zxid: i64, kinds: &[ZkOpKind]) -> bool {
        self.unpinned.get(path).is_some_and(|writes| {
            writes
                .iter()
                .any(|&(i, floor)| floor < zxid && kinds.contains(&self.records[i].op))
        })
    }

    /// Whether `path` existed just before `zxid`, if the model knows.
    fn existed_before(&self, path: &str, zxid: i64) -> Option<bool> {
        if self.maybe_before(path, zxid, &[ZkOpKind::Create, ZkOpKind::Delete]) {
            return None;
        }
        Some(
            self.last_at(path, zxid - 1)
                .is_some_and(|(_, e)| e.change.exists_after()),
        )
    }

    /// `path`'s version after the changes up to `zxid`, if the model knows.
    fn version_at(&self, path: &str, zxid: i64) -> Option<i32> {
        if self.maybe_before(path, zxid + 1, &[ZkOpKind::Create, ZkOpKind::Delete])
            || self.maybe_before(path, zxid + 1, &[ZkOpKind::Set, ZkOpKind::Cas])
        {
            return None;
        }
        let effects = self.effects.get(path)?;
        let mut version = 0;
        for (_, e) in effects.range(..=zxid).rev() {
            match e.change {
                Change::Set(_) => version += 1,
                Change::Create(_) => return Some(version),
                Change::Delete => return None,
            }
        }
        None
    }

    fn check_writes(&self, findings: &mut Findings) {
        for r in self.records {
            if !(r.op.writes() && r.answered()) || r.op == ZkOpKind::Close || r.sequential {
                continue;
            }
            let (Some(zxid), path) = (r.zxid, r.key.as_str()) else {
                continue;
            };
            let existed = self.existed_before(path, zxid);
            let error = r.error();
            let wrong = match (r.op, error, existed) {
                (ZkOpKind::Create, None, Some(true)) => Some("created a node that existed"),
                (ZkOpKind::Create, Some("NodeExists"), Some(false)) => {
                    Some("was told the node existed, and it did not")
                }
                (_, None, Some(false)) if r.op != ZkOpKind::Create => {
                    Some("changed a node that did not exist")
                }
                (_, Some("NoNode"), Some(true)) => {
                    Some("was told there was no node, and there was")
                }
                _ => None,
            };
            let version = self.version_at(path, zxid - 1);
            let wrong = wrong.or(match (r.op, error, version, r.version) {
                (ZkOpKind::Cas, None, Some(v), Some(expected)) if v != expected => {
                    Some("a compare-and-set succeeded against another version")
                }
                (ZkOpKind::Cas, Some("BadVersion"), Some(v), Some(expected)) if v == expected => {
                    Some("a compare-and-set was refused at the version it expected")
                }
                _ => None,
            });
            let wrong = wrong.or(match (r.op, error, r.stat(), version) {
                (ZkOpKind::Set | ZkOpKind::Cas, None, Some(stat), _) if stat.mzxid != zxid => {
                    Some("setData's stat is not its own write's")
                }
                (ZkOpKind::Set | ZkOpKind::Cas, None, Some(stat), Some(v))
                    if stat.version != v + 1 =>
                {
                    Some("setData returned a version that is not the next one")
                }
                _ => None,
            });
            if let Some(wrong) = wrong {
                findings.wrong_results += 1;
                findings.note(|| {
                    format!(
                        "{} {wrong} (model: {existed:?}, version {version:?})",
                        describe(r)
                    )
                });
            }
        }
    }

    fn check_reads(&self, findings: &mut Findings) {
        for r in self.records {
            if r.op.writes() || r.op == ZkOpKind::Notified || !r.answered() {
                continue;
            }
            let Some(at) = r.zxid else { continue };
            match r.op {
                ZkOpKind::Children => self.check_children(r, at, findings),
                _ => self.check_node_read(r, at, findings),
            }
        }
        self.check_order(findings);
    }

    /// A getData or exists of a node at `at`.
    fn check_node_read(&self, r: &ZkRecord, at: i64, findings: &mut Findings) {
        let path = r.key.as_str();
        let last = self.last_at(path, at);
        let wrong: Option<String> = match (r.error(), r.stat()) {
            (Some("NoNode"), _) => match last {
                Some((z, e))
                    if e.change.exists_after()
                        && !self.maybe_before(path, at + 1, &[ZkOpKind::Delete]) =>
                {
                    Some(format!("found no node, yet it was written at zxid {z}"))
                }
                _ => None,
            },
            (None, Some(stat)) => {
                let data = r.output.as_ref().and_then(|o| o.data.as_deref());
                if let Some(data) = data {
                    let written = self
                        .writer
                        .get(data)
                        .map(|&w| &self.records[w])
                        .filter(|w| w.key == path);
                    match written {
                        None => {
                            findings.phantoms += 1;
                            findings.note(|| {
                                format!("{} read {data:?}, which no write wrote", describe(r))
                            });
                            return;
                        }
                        Some(w) if w.answered() && !w.ok() => {
                            findings.phantoms += 1;
                            findings.note(|| {
                                format!(
                                    "{} read the value of a write that failed: {}",
                                    describe(r),
                                    describe(w)
                                )
                            });
                            return;
                        }
                        _ => {}
                    }
                }
                if stat.mzxid > at {
                    Some(format!(
                        "returned a change at zxid {} beyond its own zxid",
                        stat.mzxid
                    ))
                } else {
                    match last {
                        Some((z, _)) if z > stat.mzxid => Some(format!(
                            "missed the write at zxid {z} (it returned the one at {})",
                            stat.mzxid
                        )),
                        Some((z, e)) if z == stat.mzxid && !e.change.exists_after() => {
                            Some(format!("found a node deleted at zxid {z}"))
                        }
                        Some((z, e)) if z == stat.mzxid => {
                            let value = match &e.change {
                                Change::Create(v) | Change::Set(v) => Some(v.as_str()),
                                Change::Delete => None,
                            };
                            match (data, value) {
                                (Some(d), Some(v)) if d != v => Some(format!(
                                    "read {d:?} at zxid {z}, where the model has {v:?}"
                                )),
                                _ => self.version_at(path, z).and_then(|v| {
                                    (v != stat.version).then(|| {
                                        format!("has version {}, the model {v}", stat.version)
                                    })
                                }),
                            }
                        }
                        _ if self.maybe_before(
                            path,
                            stat.mzxid + 1,
                            &[ZkOpKind::Create, ZkOpKind::Set, ZkOpKind::Cas],
                        ) =>
                        {
                            None
                        }
                        _ => Some(format!(
                            "returned a change at zxid {} that no write made",
                            stat.mzxid
                        )),
                    }
                }
            }
            _ => None,
        };
        if let Some(wrong) = wrong {
            findings.stale_reads += 1;
            findings.note(|| format!("{} {wrong}", describe(r)));
        }
    }

    /// A getChildren at `at`: the sequential children created by then, no later ones; the
    /// ephemeral children of no session closed by then.
    fn check_children(&self, r: &ZkRecord, at: i64, findings: &mut Findings) {
        let Some(listed) = r.output.as_ref().and_then(|o| o.children.as_ref()) else {
            return;
        };
        for name in listed {
            if let Some(session) = owner_in_name(name) {
                if let Some(&closed) = self.closed.get(&session) {
                    if closed <= at {
                        findings.closed_sessions += 1;
                        findings.note(|| {
                            format!(
                                "{} listed {name}, whose session was closed at zxid {closed}",
                                describe(r)
                            )
                        });
                    }
                }
            }
        }
        let Some(created) = self.children.get(r.key.as_str()) else {
            return;
        };
        let mut wrong = Vec::new();
        for (name, &zxid) in created {
            let has = listed.binary_search(name).is_ok();
            if zxid <= at && !has {
                wrong.push(format!("missed {name} (created at zxid {zxid})"));
            } else if zxid > at && has {
                wrong.push(format!("listed {name}, created later at zxid {zxid}"));
            }
        }
        let unknown = listed.iter().filter(|n| !created.contains_key(*n)).count();
        let could = self
            .unknown_children
            .get(r.key.as_str())
            .map_or(0, |floors| floors.iter().filter(|&&f| f < at).count());
        if unknown > could {
            wrong.push(format!(
                "listed {unknown} children no known create made (at most {could} could be)"
            ));
        }
        if let Some(first) = wrong.first() {
            findings.stale_reads += 1;
            findings.note(|| format!("{} {first}", describe(r)));
        }
    }

    /// Per session: reply zxids never go down, and each watch's notification comes before
    /// any reply that reveals the change that fired it. Also: sequential names grow with zxid.
    fn check_order(&self, findings: &mut Findings) {
        let mut sessions: BTreeMap<(u64, i64), Vec<&ZkRecord>> = BTreeMap::new();
        for r in self.records {
            if r.order.is_some() {
                sessions.entry((r.client, r.session)).or_default().push(r);
            }
        }
        for heard in sessions.values_mut() {
            heard.sort_by_key(|r| r.order);
            let mut highest: Option<&ZkRecord> = None;
            for r in heard.iter() {
                let Some(zxid) = r.zxid else { continue };
                if r.op == ZkOpKind::Notified {
                    continue;
                }
                if let Some(h) = highest.filter(|h| h.zxid.is_some_and(|z| z > zxid)) {
                    findings.fifo_violations += 1;
                    findings.note(|| {
                        format!(
                            "{} has zxid {zxid}, below the session's earlier reply: {}",
                            describe(r),
                            describe(h)
                        )
                    });
                } else {
                    highest = Some(r);
                }
            }
            // The other half of FIFO order: no read reflects a write its session sent after
            // it, so its reply's zxid is below every such write's.
            let mut by_sent: Vec<&ZkRecord> =
                heard.iter().copied().filter(|r| r.sent.is_some()).collect();
            by_sent.sort_by_key(|r| r.sent);
            let mut later_write: Option<(i64, &ZkRecord)> = None;
            for r in by_sent.iter().rev() {
                let Some(zxid) = r.zxid else { continue };
                if r.op.writes() {
                    if r.ok() && later_write.is_none_or(|(z, _)| zxid < z) {
                        later_write = Some((zxid, r));
                    }
                } else if let Some((_, w)) = later_write.filter(|(z, _)| *z <= zxid) {
                    findings.fifo_violations += 1;
                    findings.note(|| {
                        format!(
                            "{} has zxid {zxid}: it reflects a write its session sent after it: {}",
                            describe(r),
                            describe(w)
                        )
                    });
                }
            }
            for (i, w) in heard.iter().enumerate() {
                if !w.watch || !w.answered() {
                    continue;
                }
                if w.op == ZkOpKind::Get && !w.ok() {
                    continue; // getData of no node sets no watch
                }
                let Some(set_at) = w.zxid else { continue };
                let fired_by = if w.op == ZkOpKind::Children {
                    self.children
                        .get(w.key.as_str())
                        .and_then(|c| c.values().filter(|&&z| z > set_at).min().copied())
                } else {
                    self.first_after(&w.key, set_at)
                };
                let Some(fired_by) = fired_by else { continue };
                let later = &heard[i + 1..];
                // A watch on a node that did not exist fires on its creation; a client that
                // moved to another server after the node came and went again is not told
                // (ZooKeeper's setWatches fires an exist watch only on a node that exists), so
                // only a reply at a zxid where the node exists reveals the creation.
                let on_absent = w.op == ZkOpKind::Exists && w.error() == Some("NoNode");
                let reveals = |z: i64| {
                    z >= fired_by
                        && (!on_absent
                            || (self
                                .last_at(&w.key, z)
                                .is_some_and(|(_, e)| e.change.exists_after())
                                && !self.maybe_before(&w.key, z + 1, &[ZkOpKind::Delete])))
                };
                let revealed = later
                    .iter()
                    .position(|r| r.op != ZkOpKind::Notified && r.zxid.is_some_and(reveals));
                let Some(revealed) = revealed else { continue };
                findings.watches_checked += 1;
                let notified = later[..revealed]
                    .iter()
                    .any(|r| r.op == ZkOpKind::Notified && r.key == w.key);
                if !notified {
                    findings.late_watches += 1;
                    findings.note(|| {
                        format!(
                            "{} set a watch; {} revealed the write at zxid {fired_by} before its \
                             notification",
                            describe(w),
                            describe(later[revealed])
                        )
                    });
                }
            }
        }
        for (under, created) in &self.children {
            let mut by_zxid: Vec<(i64, &String)> = created.iter().map(|(n, z)| (*z, n)).collect();
            by_zxid.sort();
            for pair in by_zxid.windows(2) {
                if sequence_of(pair[0].1) >= sequence_of(pair[1].1) {
                    findings.wrong_results += 1;
                    findings.note(|| {
                        format!(
                            "under {under}, {} (zxid {}) has a sequence number not below {} \
                             (zxid {})",
                            pair[0].1, pair[0].0, pair[1].1, pair[1].0
                        )
                    });
                }
            }
        }
    }

    /// No write of a session applied after its close.
    fn check_sessions(&self, findings: &mut Findings) {
        for r in self.records {
            if !(r.op.writes() && r.ok()) || r.op == ZkOpKind::Close {
                continue;
            }
            if let (Some(&closed), Some(zxid)) = (self.closed.get(&r.session), r.zxid) {
                if zxid > closed {
                    findings.closed_sessions += 1;
                    findings.note(|| {
                        format!(
                            "{} was applied after its session closed at zxid {closed}",
                            describe(r)
                        )
                    });
                }
            }
        }
    }
}

/// The owner session written into an ephemeral node's name by the workload (`s<hex>-...`).
pub fn owner_in_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix('s')?.split('-').next()?;
    u64::from_str_radix(hex, 16).ok().map(|s| s as i64)
}

/// The name the workload gives an ephemeral node of `session` (ZooKeeper appends the
/// sequence number).
pub fn ephemeral_prefix(session: i64) -> String {
    format!("s{:x}-", session as u64)
}

/// The 10-digit sequence number at the end of a sequential node's name.
fn sequence_of(name: &str) -> i64 {
    let digits = &name[name.len().saturating_sub(10)..];
    digits.parse().unwrap_or(-1)
}

/// A record in a few words, for a finding.
fn describe(r: &ZkRecord) -> String {
    let op = serde_json::to_value(r.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let zxid = r.zxid.map_or("-".to_string(), |z| z.to_string());
    let outcome = match &r.output {
        None => "no reply".to_string(),
        Some(o) => match &o.error {
            Some(e) => e.clone(),
            None => "ok".to_string(),
        },
    };
    format!(
        "client {} (session {:x}) {op} {} {} [{outcome}, zxid {zxid}, t {}..{}]",
        r.client,
        r.session as u64,
        r.key,
        r.value.as_deref().unwrap_or(""),
        r.call,
        r.ret.map_or("?".to_string(), |t| t.to_string()),
    )
}

#[cfg(test)]
mod tests;
