//! The checker against small histories: a correct one passes, and each broken guarantee is
//! found (a check that cannot fail is no check).

use super::*;
use crate::sim::zk::history::{StatSeen, ZkOutput};

/// Builds records: every operation takes 10 ns from its call, and the clock moves on.
struct H {
    records: Vec<ZkRecord>,
    now: u64,
    order: HashMap<i64, u64>,
}

impl H {
    fn new() -> H {
        H {
            records: Vec::new(),
            now: 100,
            order: HashMap::new(),
        }
    }

    fn next_order(&mut self, session: i64) -> u64 {
        let o = self.order.entry(session).or_default();
        *o += 1;
        *o
    }

    fn push(
        &mut self,
        session: i64,
        op: ZkOpKind,
        key: &str,
        output: ZkOutput,
        zxid: i64,
    ) -> &mut ZkRecord {
        let call = self.now;
        self.now += 10;
        let order = self.next_order(session);
        let mut r = ZkRecord::called(session as u64, session, op, key, call);
        r.output = Some(output);
        r.zxid = Some(zxid);
        r.order = Some(order);
        r.ret = Some(call + 5);
        self.records.push(r);
        self.records.last_mut().expect("pushed")
    }

    fn write(
        &mut self,
        session: i64,
        op: ZkOpKind,
        key: &str,
        value: &str,
        zxid: i64,
        version: i32,
    ) {
        let output = ZkOutput {
            stat: matches!(op, ZkOpKind::Set | ZkOpKind::Cas).then_some(StatSeen {
                czxid: 1,
                mzxid: zxid,
                version,
                owner: 0,
            }),
            ..ZkOutput::default()
        };
        let r = self.push(session, op, key, output, zxid);
        r.value = Some(value.into());
    }

    fn failed_write(
        &mut self,
        session: i64,
        op: ZkOpKind,
        key: &str,
        value: &str,
        error: &str,
        zxid: i64,
    ) {
        let output = ZkOutput {
            error: Some(error.into()),
            ..ZkOutput::default()
        };
        let r = self.push(session, op, key, output, zxid);
        r.value = Some(value.into());
    }

    fn unknown_write(&mut self, session: i64, op: ZkOpKind, key: &str, value: &str) {
        let mut r = ZkRecord::called(session as u64, session, op, key, self.now);
        self.now += 10;
        r.value = Some(value.into());
        self.records.push(r);
    }

    fn read(
        &mut self,
        session: i64,
        key: &str,
        data: &str,
        mzxid: i64,
        version: i32,
        at: i64,
    ) -> &mut ZkRecord {
        let output = ZkOutput {
            data: Some(data.into()),
            stat: Some(StatSeen {
                czxid: 1,
                mzxid,
                version,
                owner: 0,
            }),
            ..ZkOutput::default()
        };
        self.push(session, ZkOpKind::Get, key, output, at)
    }

    fn no_node(&mut self, session: i64, key: &str, at: i64) {
        let output = ZkOutput {
            error: Some("NoNode".into()),
            ..ZkOutput::default()
        };
        self.push(session, ZkOpKind::Exists, key, output, at);
    }

    fn notified(&mut self, session: i64, key: &str) {
        let order = self.next_order(session);
        let mut r = ZkRecord::called(session as u64, session, ZkOpKind::Notified, key, self.now);
        r.output = Some(ZkOutput {
            event: Some(3),
            ..ZkOutput::default()
        });
        r.order = Some(order);
        r.ret = Some(self.now);
        self.now += 1;
        self.records.push(r);
    }

    fn check(&self) -> Findings {
        check(&self.records)
    }

    /// Numbers each session's operations in the order they were pushed, as sent.
    fn number_sends(&mut self) {
        let mut sent: HashMap<i64, u64> = HashMap::new();
        for r in self
            .records
            .iter_mut()
            .filter(|r| r.op != ZkOpKind::Notified)
        {
            let n = sent.entry(r.session).or_default();
            *n += 1;
            r.sent = Some(*n);
        }
    }
}

/// /k created at 1 by session 1, set at 2 and 3; session 2 reads along.
fn correct() -> H {
    let mut h = H::new();
    h.write(1, ZkOpKind::Create, "/k", "a", 1, 0);
    h.read(2, "/k", "a", 1, 0, 1).watch = true;
    h.write(1, ZkOpKind::Set, "/k", "b", 2, 1);
    h.notified(2, "/k");
    h.read(2, "/k", "b", 2, 1, 2);
    h.write(1, ZkOpKind::Cas, "/k", "c", 3, 2);
    h.records.last_mut().expect("cas").version = Some(1);
    // A stale read is allowed for another session (it is at zxid 2).
    h.read(3, "/k", "b", 2, 1, 2);
    h
}

/// Session 1 creates /k, then sends a set, a get and a set together; the get is answered at
/// `read_at` with what it saw then.
fn burst(read_at: i64, seen: &str, version: i32) -> H {
    let mut h = H::new();
    h.write(1, ZkOpKind::Create, "/k", "a", 1, 0);
    h.write(1, ZkOpKind::Set, "/k", "b", 2, 1);
    h.read(1, "/k", seen, read_at, version, read_at);
    h.write(1, ZkOpKind::Set, "/k", "c", 3, 2);
    h.number_sends();
    h
}

#[test]
fn a_pipelined_read_that_sees_its_sessions_later_write_breaks_fifo_order() {
    let found = burst(2, "b", 1).check();
    assert!(found.holds(), "{found:?}");
    // Answered after the later write applied: right for its zxid, wrong for its session.
    let found = burst(3, "c", 2).check();
    assert_eq!(found.fifo_violations, 1, "{found:?}");
    assert_eq!(found.stale_reads, 0, "{found:?}");
}

#[test]
fn a_correct_history_passes() {
    let found = correct().check();
    assert!(found.holds(), "{found:?}");
    assert_eq!(found.watches_checked, 1);
}

#[test]
fn a_read_that_misses_a_write_before_its_zxid_is_stale() {
    let mut h = correct();
    h.read(3, "/k", "b", 2, 1, 3);
    let found = h.check();
    assert_eq!(found.stale_reads, 1, "{found:?}");
}

#[test]
fn a_session_whose_replies_go_back_in_zxid_breaks_fifo_order() {
    let mut h = correct();
    h.read(1, "/k", "b", 2, 1, 2); // session 1 wrote at 3 already
    let found = h.check();
    assert_eq!(found.fifo_violations, 1, "{found:?}");
}

#[test]
fn a_reply_that_reveals_a_change_before_the_watch_fired_is_late() {
    let mut h = H::new();
    h.write(1, ZkOpKind::Create, "/k", "a", 1, 0);
    h.read(2, "/k", "a", 1, 0, 1).watch = true;
    h.write(2, ZkOpKind::Set, "/k", "b", 2, 1); // session 2 itself changes it
    h.notified(2, "/k"); // ... and hears of its watch only after the reply
    let found = h.check();
    assert_eq!(found.late_watches, 1, "{found:?}");
}

#[test]
fn a_value_no_write_wrote_is_a_phantom_and_a_failed_writes_value_too() {
    let mut h = correct();
    h.read(3, "/k", "zz", 3, 2, 3);
    h.failed_write(1, ZkOpKind::Cas, "/k", "d", "BadVersion", 4);
    h.read(3, "/k", "d", 4, 3, 4);
    let found = h.check();
    assert_eq!(found.phantoms, 2, "{found:?}");
}

#[test]
fn writes_out_of_real_time_order_or_sharing_a_zxid_are_found() {
    let mut h = correct();
    h.write(1, ZkOpKind::Set, "/k", "d", 3, 3);
    let found = h.check();
    assert!(found.duplicate_zxids >= 1, "{found:?}");
    assert!(found.write_order >= 1, "{found:?}");
}

#[test]
fn a_create_of_an_existing_node_that_succeeds_is_a_wrong_result() {
    let mut h = correct();
    h.write(2, ZkOpKind::Create, "/k", "again", 5, 0);
    let found = h.check();
    assert_eq!(found.wrong_results, 1, "{found:?}");
    let mut h = correct();
    h.failed_write(2, ZkOpKind::Cas, "/k", "x", "BadVersion", 5);
    h.records.last_mut().expect("cas").version = Some(2); // it was at version 2
    assert_eq!(h.check().wrong_results, 1);
}

#[test]
fn a_write_of_unknown_outcome_may_have_happened_or_not() {
    let mut h = correct();
    h.unknown_write(1, ZkOpKind::Set, "/k", "seen");
    h.unknown_write(1, ZkOpKind::Set, "/k", "never-seen");
    h.read(3, "/k", "seen", 5, 3, 6);
    h.unknown_write(1, ZkOpKind::Delete, "/k", "");
    h.no_node(3, "/k", 8);
    let found = h.check();
    assert!(found.holds(), "{found:?}");
    // Without the unknown delete, finding no node is stale.
    let mut h = correct();
    h.no_node(3, "/k", 8);
    assert_eq!(h.check().stale_reads, 1);
}

#[test]
fn an_ephemeral_node_listed_after_its_sessions_close_is_found() {
    let mut h = correct();
    let child = format!("{}0000000001", ephemeral_prefix(7));
    h.write(7, ZkOpKind::Close, "/", "", 4, 0);
    let output = ZkOutput {
        children: Some(vec![child]),
        ..ZkOutput::default()
    };
    h.push(3, ZkOpKind::Children, "/e", output, 5);
    let found = h.check();
    assert_eq!(found.closed_sessions, 1, "{found:?}");
}

#[test]
fn sequential_children_are_listed_by_zxid() {
    let mut h = H::new();
    for (i, zxid) in [(0, 2), (1, 3)] {
        let output = ZkOutput {
            path: Some(format!("/q/item-{i:010}")),
            ..ZkOutput::default()
        };
        let r = h.push(1, ZkOpKind::Create, "/q/item-", output, zxid);
        r.sequential = true;
        r.value = Some(format!("q{i}"));
    }
    let list = |names: &[&str]| ZkOutput {
        children: Some(names.iter().map(|n| n.to_string()).collect()),
        ..ZkOutput::default()
    };
    h.push(2, ZkOpKind::Children, "/q", list(&["item-0000000000"]), 2);
    assert!(h.check().holds(), "{:?}", h.check());
    h.push(3, ZkOpKind::Children, "/q", list(&["item-0000000000"]), 3);
    assert_eq!(h.check().stale_reads, 1);
}
