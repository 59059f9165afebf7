//! A reply: a ReplyHeader (the request's xid, the server's last zxid, an error code) and, when
//! the error is 0, the request's response record; and watch notifications, which are replies
//! with xid -1 carrying a WatcherEvent (event type, connection state, path).
//!
//! A multi's reply has error 0 even when a member failed: its record lists every member's
//! result, the failed one's error, rolled-back ones as error 0, the rest as
//! RuntimeInconsistency, as ZooKeeper answers.

use super::codec::{Reader, Writer};
use super::request::{open_acl, Request};
use super::{opcode, xid, JuteError};
use troupe_messages::zk::{Stat, WatchEvent};

/// ZooKeeper's connection state of a notification: connected.
pub const SYNC_CONNECTED: i32 = 3;

/// A reply's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request's xid (-1 for a notification).
    pub xid: i32,
    /// The zxid the server had reached.
    pub zxid: i64,
    /// 0, or a ZooKeeper error code.
    pub err: i32,
}

/// One member's result in a multi's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// Created (`stat` for create2).
    Created {
        /// The created path.
        path: String,
        /// Its stat, for create2.
        stat: Option<Stat>,
    },
    /// Deleted.
    Deleted,
    /// Data set.
    DataSet(Stat),
    /// Version checked.
    Checked,
    /// An error result: 0 for a rolled-back member, else the error's code.
    Error(i32),
}

/// A reply's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No record: ping, delete, setWatches, close, auth, and any error.
    Empty,
    /// create.
    Path(String),
    /// create2.
    PathStat(String, Stat),
    /// exists, setData.
    Stat(Stat),
    /// getData.
    Data(Vec<u8>, Stat),
    /// getChildren.
    Children(Vec<String>),
    /// getChildren2.
    Children2(Vec<String>, Stat),
    /// sync.
    Sync(String),
    /// getACL: world:anyone with every permission, and the node's stat.
    Acl(Stat),
    /// multi.
    Multi(Vec<MultiResult>),
}

/// Encodes a reply. With an error, the record is left out, as ZooKeeper does.
pub fn encode(header: ReplyHeader, response: &Response) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(header.xid).long(header.zxid).int(header.err);
    if header.err != 0 {
        return w.into_bytes();
    }
    match response {
        Response::Empty => {}
        Response::Path(path) | Response::Sync(path) => {
            w.ustring(path);
        }
        Response::PathStat(path, stat) => {
            w.ustring(path).stat(stat);
        }
        Response::Stat(stat) => {
            w.stat(stat);
        }
        Response::Data(data, stat) => {
            w.buffer(data).stat(stat);
        }
        Response::Children(children) => {
            w.strings(children);
        }
        Response::Children2(children, stat) => {
            w.strings(children).stat(stat);
        }
        Response::Acl(stat) => {
            open_acl(&mut w);
            w.stat(stat);
        }
        Response::Multi(results) => {
            for result in results {
                match result {
                    MultiResult::Created { path, stat: None } => {
                        w.int(opcode::CREATE).boolean(false).int(0).ustring(path);
                    }
                    MultiResult::Created {
                        path,
                        stat: Some(stat),
                    } => {
                        w.int(opcode::CREATE2).boolean(false).int(0).ustring(path);
                        w.stat(stat);
                    }
                    MultiResult::Deleted => {
                        w.int(opcode::DELETE).boolean(false).int(0);
                    }
                    MultiResult::DataSet(stat) => {
                        w.int(opcode::SET_DATA).boolean(false).int(0).stat(stat);
                    }
                    MultiResult::Checked => {
                        w.int(opcode::CHECK).boolean(false).int(0);
                    }
                    MultiResult::Error(code) => {
                        w.int(opcode::ERROR).boolean(false).int(*code).int(*code);
                    }
                }
            }
            w.int(-1).boolean(true).int(-1);
        }
    }
    w.into_bytes()
}

/// Encodes the notification of `event` (zxid -1, as ZooKeeper sends it).
pub fn notification(event: &WatchEvent) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid::NOTIFICATION).long(-1).int(0);
    w.int(event.kind.code())
        .int(SYNC_CONNECTED)
        .ustring(&event.path);
    w.into_bytes()
}

/// What a client reads from a frame: a reply to one of its requests, or a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A reply: its header and record.
    Reply(ReplyHeader, Response),
    /// A notification: event type, connection state, path.
    Notification {
        /// ZooKeeper's event type number.
        kind: i32,
        /// The connection state.
        state: i32,
        /// The path.
        path: String,
    },
}

/// Decodes a frame the server sent (the client's side); `asked` is the request whose xid the
/// header carries, which says what record follows (ignored for a notification).
pub fn decode(frame: &[u8], asked: Option<&Request>) -> Result<Incoming, JuteError> {
    let mut r = Reader::new(frame);
    let header = ReplyHeader {
        xid: r.int()?,
        zxid: r.long()?,
        err: r.int()?,
    };
    if header.xid == xid::NOTIFICATION {
        return Ok(Incoming::Notification {
            kind: r.int()?,
            state: r.int()?,
            path: r.ustring()?,
        });
    }
    if header.err != 0 {
        return Ok(Incoming::Reply(header, Response::Empty));
    }
    use super::request::JuteOp;
    let response = match asked {
        Some(Request::Write(JuteOp::Create {
            with_stat: false, ..
        })) => Response::Path(r.ustring()?),
        Some(Request::Write(JuteOp::Create {
            with_stat: true, ..
        })) => Response::PathStat(r.ustring()?, r.stat()?),
        Some(Request::Write(JuteOp::SetData { .. })) | Some(Request::Exists { .. }) => {
            Response::Stat(r.stat()?)
        }
        Some(Request::GetData { .. }) => Response::Data(r.buffer()?, r.stat()?),
        Some(Request::GetChildren {
            with_stat: false, ..
        }) => Response::Children(r.strings()?),
        Some(Request::GetChildren {
            with_stat: true, ..
        }) => Response::Children2(r.strings()?, r.stat()?),
        Some(Request::Sync { .. }) => Response::Sync(r.ustring()?),
        Some(Request::GetAcl { .. }) => {
            let n = r.int()?;
            for _ in 0..n.max(0) {
                r.int()?;
                r.ustring()?;
                r.ustring()?;
            }
            Response::Acl(r.stat()?)
        }
        Some(Request::Multi(_)) => Response::Multi(decode_multi(&mut r)?),
        _ => Response::Empty,
    };
    Ok(Incoming::Reply(header, response))
}

fn decode_multi(r: &mut Reader) -> Result<Vec<MultiResult>, JuteError> {
    let mut results = Vec::new();
    loop {
        let op = r.int()?;
        let done = r.boolean()?;
        let err = r.int()?;
        if done {
            return Ok(results);
        }
        results.push(match op {
            opcode::CREATE => MultiResult::Created {
                path: r.ustring()?,
                stat: None,
            },
            opcode::CREATE2 => MultiResult::Created {
                path: r.ustring()?,
                stat: Some(r.stat()?),
            },
            opcode::DELETE => MultiResult::Deleted,
            opcode::SET_DATA => MultiResult::DataSet(r.stat()?),
            opcode::CHECK => MultiResult::Checked,
            opcode::ERROR => {
                r.int()?;
                MultiResult::Error(err)
            }
            _ => return Err(JuteError::Malformed("a multi result of no known type")),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::JuteOp;
    use super::*;
    use troupe_messages::zk::EventType;

    fn header(err: i32) -> ReplyHeader {
        ReplyHeader {
            xid: 5,
            zxid: 77,
            err,
        }
    }

    fn round_trip(asked: Request, response: Response) {
        let bytes = encode(header(0), &response);
        assert_eq!(
            decode(&bytes, Some(&asked)),
            Ok(Incoming::Reply(header(0), response))
        );
    }

    #[test]
    fn replies_round_trip_for_what_was_asked() {
        let stat = Stat {
            version: 3,
            ..Stat::default()
        };
        let path = || "/a".to_string();
        round_trip(
            Request::Write(JuteOp::Create {
                path: path(),
                data: vec![],
                flags: 0,
                with_stat: false,
            }),
            Response::Path("/a0000000001".into()),
        );
        round_trip(
            Request::GetData {
                path: path(),
                watch: true,
            },
            Response::Data(b"hello".to_vec(), stat),
        );
        round_trip(
            Request::GetChildren {
                path: path(),
                watch: false,
                with_stat: true,
            },
            Response::Children2(vec!["x".into(), "y".into()], stat),
        );
        round_trip(Request::GetAcl { path: path() }, Response::Acl(stat));
        round_trip(
            Request::Multi(vec![]),
            Response::Multi(vec![
                MultiResult::Created {
                    path: path(),
                    stat: None,
                },
                MultiResult::DataSet(stat),
                MultiResult::Checked,
                MultiResult::Deleted,
                MultiResult::Error(0),
                MultiResult::Error(-101),
            ]),
        );
    }

    #[test]
    fn an_error_reply_is_the_header_alone() {
        let bytes = encode(header(-101), &Response::Stat(Stat::default()));
        assert_eq!(bytes.len(), 16);
        let asked = Request::Exists {
            path: "/a".into(),
            watch: true,
        };
        assert_eq!(
            decode(&bytes, Some(&asked)),
            Ok(Incoming::Reply(header(-101), Response::Empty))
        );
    }

    #[test]
    fn a_notification_is_a_reply_with_xid_minus_one() {
        let event = WatchEvent {
            kind: EventType::NodeChildrenChanged,
            path: "/q".into(),
        };
        let bytes = notification(&event);
        assert_eq!(&bytes[..4], &(-1i32).to_be_bytes());
        assert_eq!(
            decode(&bytes, None),
            Ok(Incoming::Notification {
                kind: 4,
                state: SYNC_CONNECTED,
                path: "/q".into()
            })
        );
    }
}
