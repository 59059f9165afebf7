//! The history of `troupe sim zk`: one JSON line per client operation on the znode tree, and
//! one per watch notification a client received, in the shape of the sim contract's history
//! lines (`client`, `op`, `key`, `value`, `output`, `call`, `return`) with ZooKeeper's own
//! fields: the session, the reply's zxid and the frame order in which the session heard it.

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;
use troupe_messages::zk::Stat;

/// What a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZkOpKind {
    /// create (the mode in [`ZkRecord::mode`]).
    Create,
    /// setData with version -1.
    Set,
    /// setData with the version the client last saw (compare-and-set).
    Cas,
    /// delete with version -1.
    Delete,
    /// getData.
    Get,
    /// exists.
    Exists,
    /// getChildren.
    Children,
    /// The client closed its session.
    Close,
    /// A watch notification arrived (not an operation: `call` = `return` = when it was seen).
    Notified,
}

impl ZkOpKind {
    /// Whether the operation writes (goes through the log and gets a zxid of its own).
    pub fn writes(self) -> bool {
        matches!(
            self,
            ZkOpKind::Create | ZkOpKind::Set | ZkOpKind::Cas | ZkOpKind::Delete | ZkOpKind::Close
        )
    }
}

/// The parts of a stat the checker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatSeen {
    /// The zxid of the write that created the node.
    pub czxid: i64,
    /// The zxid of the write that last set its data.
    pub mzxid: i64,
    /// How many times its data was set since its creation.
    pub version: i32,
    /// Its owner session if ephemeral, else 0.
    pub owner: i64,
}

impl From<&Stat> for StatSeen {
    fn from(stat: &Stat) -> Self {
        StatSeen {
            czxid: stat.czxid,
            mzxid: stat.mzxid,
            version: stat.version,
            owner: stat.ephemeral_owner,
        }
    }
}

/// What came back; every field is absent unless the answer had it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkOutput {
    /// ZooKeeper's error name (e.g. `NoNode`) when the server refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The path a create made (a sequential node's full name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The data getData read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The stat setData, exists and getData returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<StatSeen>,
    /// The children getChildren returned, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    /// A notification's event type (1 created, 2 deleted, 3 data changed, 4 children).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<i32>,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkRecord {
    /// The workload client (the final client is numbered after them).
    pub client: u64,
    /// The session the client used.
    pub session: i64,
    /// What it did.
    pub op: ZkOpKind,
    /// The path.
    pub key: String,
    /// The data written (create, set, cas).
    #[serde(default)]
    pub value: Option<String>,
    /// The expected version (cas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// create: ephemeral.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
    /// create: sequential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequential: bool,
    /// A read that set a watch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch: bool,
    /// What came back; null when nothing did.
    pub output: Option<ZkOutput>,
    /// The reply header's zxid (a write's own; a read's replica's last).
    #[serde(default)]
    pub zxid: Option<i64>,
    /// The reply's (or notification's) place among the frames the session received.
    #[serde(default)]
    pub order: Option<u64>,
    /// The request's place among the requests its session sent (operations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    /// When it was called, in nanoseconds of the run's clock.
    pub call: u64,
    /// When it returned; null when the outcome is unknown (no reply).
    #[serde(rename = "return")]
    pub ret: Option<u64>,
}

impl ZkRecord {
    /// An operation on `key` by `client` in `session`, called at `call`, not yet answered.
    pub fn called(client: u64, session: i64, op: ZkOpKind, key: &str, call: u64) -> ZkRecord {
        ZkRecord {
            client,
            session,
            op,
            key: key.to_string(),
            value: None,
            version: None,
            ephemeral: false,
            sequential: false,
            watch: false,
            output: None,
            zxid: None,
            order: None,
            sent: None,
            call,
            ret: None,
        }
    }

    /// Answered by the server (successfully or with an error): the outcome is known.
    pub fn answered(&self) -> bool {
        self.ret.is_some() && self.zxid.is_some() && self.output.is_some()
    }

    /// Answered without an error.
    pub fn ok(&self) -> bool {
        self.answered() && self.output.as_ref().is_some_and(|o| o.error.is_none())
    }

    /// The server's error, if it refused.
    pub fn error(&self) -> Option<&str> {
        self.output.as_ref().and_then(|o| o.error.as_deref())
    }

    /// The stat that came back, if any.
    pub fn stat(&self) -> Option<&StatSeen> {
        self.output.as_ref().and_then(|o| o.stat.as_ref())
    }
}

/// Writes `records` to `path`, one JSON line each.
pub fn write(records: &[ZkRecord], path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_the_contract_line_shape_and_reads_back() {
        let mut record = ZkRecord::called(3, 7, ZkOpKind::Set, "/w/k1", 120);
        record.value = Some("c3-1".into());
        record.output = Some(ZkOutput {
            stat: Some(StatSeen {
                czxid: 4,
                mzxid: 9,
                version: 2,
                owner: 0,
            }),
            ..ZkOutput::default()
        });
        record.zxid = Some(9);
        record.order = Some(5);
        record.ret = Some(450);
        let line = serde_json::to_string(&record).expect("encodes");
        assert!(line.starts_with(r#"{"client":3,"session":7,"op":"set","key":"/w/k1""#));
        assert!(line.contains(r#""call":120,"return":450"#), "{line}");
        let back: ZkRecord = serde_json::from_str(&line).expect("decodes");
        assert_eq!(back, record);
        assert!(back.ok());
    }
}
