//! A request after the handshake: a RequestHeader (xid, opcode) and the opcode's record. The
//! xid numbers a client's requests so it can match replies; pings, auth packets and
//! setWatches use reserved xids.
//!
//! ACLs are read and dropped (troupe has none); create modes beyond ZooKeeper's four
//! (containers, TTL nodes) decode as their flags and are refused by [`JuteOp::to_op`].

use super::codec::{Reader, Writer};
use super::{opcode, JuteError};
use crate::zk::watches::Rewatch;
use troupe_messages::zk::{CreateMode, Op, ZkError};

/// A write as jute carries it, alone or in a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JuteOp {
    /// create (`with_stat`: create2, whose reply carries the stat).
    Create {
        /// The path or sequential prefix.
        path: String,
        /// The data.
        data: Vec<u8>,
        /// ZooKeeper's create-mode flags.
        flags: i32,
        /// create2.
        with_stat: bool,
    },
    /// delete.
    Delete {
        /// The path.
        path: String,
        /// The expected version, or -1.
        version: i32,
    },
    /// setData.
    SetData {
        /// The path.
        path: String,
        /// The data.
        data: Vec<u8>,
        /// The expected version, or -1.
        version: i32,
    },
    /// check (in a multi).
    Check {
        /// The path.
        path: String,
        /// The expected version, or -1.
        version: i32,
    },
}

impl JuteOp {
    /// The write it asks for; a create mode troupe does not have is `Unimplemented`.
    pub fn to_op(&self) -> Result<Op, ZkError> {
        Ok(match self {
            JuteOp::Create {
                path, data, flags, ..
            } => Op::Create {
                path: path.clone(),
                data: data.clone(),
                mode: CreateMode::from_flags(*flags).ok_or(ZkError::Unimplemented)?,
            },
            JuteOp::Delete { path, version } => Op::Delete {
                path: path.clone(),
                version: *version,
            },
            JuteOp::SetData {
                path,
                data,
                version,
            } => Op::SetData {
                path: path.clone(),
                data: data.clone(),
                version: *version,
            },
            JuteOp::Check { path, version } => Op::Check {
                path: path.clone(),
                version: *version,
            },
        })
    }

    /// Its opcode.
    pub fn opcode(&self) -> i32 {
        match self {
            JuteOp::Create {
                with_stat: false, ..
            } => opcode::CREATE,
            JuteOp::Create {
                with_stat: true, ..
            } => opcode::CREATE2,
            JuteOp::Delete { .. } => opcode::DELETE,
            JuteOp::SetData { .. } => opcode::SET_DATA,
            JuteOp::Check { .. } => opcode::CHECK,
        }
    }

    fn decode(op: i32, r: &mut Reader) -> Result<Option<JuteOp>, JuteError> {
        Ok(Some(match op {
            opcode::CREATE | opcode::CREATE2 => {
                let path = r.ustring()?;
                let data = r.buffer()?;
                skip_acl(r)?;
                JuteOp::Create {
                    path,
                    data,
                    flags: r.int()?,
                    with_stat: op == opcode::CREATE2,
                }
            }
            opcode::DELETE => JuteOp::Delete {
                path: r.ustring()?,
                version: r.int()?,
            },
            opcode::SET_DATA => JuteOp::SetData {
                path: r.ustring()?,
                data: r.buffer()?,
                version: r.int()?,
            },
            opcode::CHECK => JuteOp::Check {
                path: r.ustring()?,
                version: r.int()?,
            },
            _ => return Ok(None),
        }))
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            JuteOp::Create {
                path, data, flags, ..
            } => {
                w.ustring(path).buffer(data);
                open_acl(w);
                w.int(*flags);
            }
            JuteOp::Delete { path, version } | JuteOp::Check { path, version } => {
                w.ustring(path).int(*version);
            }
            JuteOp::SetData {
                path,
                data,
                version,
            } => {
                w.ustring(path).buffer(data).int(*version);
            }
        }
    }
}

/// A request after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A heartbeat.
    Ping,
    /// The client ends its session.
    Close,
    /// An auth packet (type, scheme, credentials).
    Auth {
        /// Its type (always 0).
        kind: i32,
        /// The scheme, e.g. `digest`.
        scheme: String,
        /// The credentials.
        auth: Vec<u8>,
    },
    /// Watches to set again after a reconnection.
    SetWatches(Rewatch),
    /// create, create2, delete or setData.
    Write(JuteOp),
    /// exists.
    Exists {
        /// The path.
        path: String,
        /// Whether to set a watch.
        watch: bool,
    },
    /// getData.
    GetData {
        /// The path.
        path: String,
        /// Whether to set a watch.
        watch: bool,
    },
    /// getChildren (`with_stat`: getChildren2).
    GetChildren {
        /// The path.
        path: String,
        /// Whether to set a watch.
        watch: bool,
        /// getChildren2, whose reply carries the stat.
        with_stat: bool,
    },
    /// sync.
    Sync {
        /// The path (ZooKeeper syncs the whole replica regardless).
        path: String,
    },
    /// getACL.
    GetAcl {
        /// The path.
        path: String,
    },
    /// multi: all of its writes or none.
    Multi(Vec<JuteOp>),
    /// An opcode troupe does not serve: answered `Unimplemented`.
    Unknown(i32),
}

/// Decodes a request frame: its xid and request. Any bytes after the record are refused, as
/// a sign of a frame that is not what it claims.
pub fn decode(frame: &[u8]) -> Result<(i32, Request), JuteError> {
    let mut r = Reader::new(frame);
    let xid = r.int()?;
    let op = r.int()?;
    let request = match op {
        opcode::PING => Request::Ping,
        opcode::CLOSE_SESSION => Request::Close,
        opcode::AUTH => Request::Auth {
            kind: r.int()?,
            scheme: r.ustring()?,
            auth: r.buffer()?,
        },
        opcode::SET_WATCHES => Request::SetWatches(Rewatch {
            relative_zxid: r.long()?,
            data: r.strings()?,
            exist: r.strings()?,
            child: r.strings()?,
        }),
        opcode::EXISTS => Request::Exists {
            path: r.ustring()?,
            watch: r.boolean()?,
        },
        opcode::GET_DATA => Request::GetData {
            path: r.ustring()?,
            watch: r.boolean()?,
        },
        opcode::GET_CHILDREN | opcode::GET_CHILDREN2 => Request::GetChildren {
            path: r.ustring()?,
            watch: r.boolean()?,
            with_stat: op == opcode::GET_CHILDREN2,
        },
        opcode::SYNC => Request::Sync { path: r.ustring()? },
        opcode::GET_ACL => Request::GetAcl { path: r.ustring()? },
        opcode::MULTI => Request::Multi(decode_multi(&mut r)?),
        other => match JuteOp::decode(other, &mut r)? {
            Some(write) => Request::Write(write),
            // The rest of an unknown request cannot be parsed; it is answered, not read.
            None => return Ok((xid, Request::Unknown(other))),
        },
    };
    if r.remaining() > 0 {
        return Err(JuteError::Malformed("bytes after the record"));
    }
    Ok((xid, request))
}

/// A multi's members: each a MultiHeader (type, done, err) and its record, until a header
/// with `done`.
fn decode_multi(r: &mut Reader) -> Result<Vec<JuteOp>, JuteError> {
    let mut ops = Vec::new();
    loop {
        let op = r.int()?;
        let done = r.boolean()?;
        let _err = r.int()?;
        if done {
            return Ok(ops);
        }
        match JuteOp::decode(op, r)? {
            Some(member) => ops.push(member),
            None => return Err(JuteError::Malformed("a multi member that is no write")),
        }
    }
}

/// Encodes a request frame (the client's side).
pub fn encode(xid: i32, request: &Request) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid);
    match request {
        Request::Ping => {
            w.int(opcode::PING);
        }
        Request::Close => {
            w.int(opcode::CLOSE_SESSION);
        }
        Request::Auth { kind, scheme, auth } => {
            w.int(opcode::AUTH).int(*kind).ustring(scheme).buffer(auth);
        }
        Request::SetWatches(rw) => {
            w.int(opcode::SET_WATCHES)
                .long(rw.relative_zxid)
                .strings(&rw.data)
                .strings(&rw.exist)
                .strings(&rw.child);
        }
        Request::Write(op) => {
            w.int(op.opcode());
            op.encode(&mut w);
        }
        Request::Exists { path, watch } => {
            w.int(opcode::EXISTS).ustring(path).boolean(*watch);
        }
        Request::GetData { path, watch } => {
            w.int(opcode::GET_DATA).ustring(path).boolean(*watch);
        }
        Request::GetChildren {
            path,
            watch,
            with_stat,
        } => {
            let op = if *with_stat {
                opcode::GET_CHILDREN2
            } else {
                opcode::GET_CHILDREN
            };
            w.int(op).ustring(path).boolean(*watch);
        }
        Request::Sync { path } => {
            w.int(opcode::SYNC).ustring(path);
        }
        Request::GetAcl { path } => {
            w.int(opcode::GET_ACL).ustring(path);
        }
        Request::Multi(ops) => {
            w.int(opcode::MULTI);
            for op in ops {
                w.int(op.opcode()).boolean(false).int(-1);
                op.encode(&mut w);
            }
            w.int(-1).boolean(true).int(-1);
        }
        Request::Unknown(op) => {
            w.int(*op);
        }
    }
    w.into_bytes()
}

/// Reads a `vector<ACL>` and drops it.
fn skip_acl(r: &mut Reader) -> Result<(), JuteError> {
    let n = r.int()?;
    if n < -1 || n as usize > r.remaining() / 12 {
        return Err(JuteError::Malformed("an ACL list"));
    }
    for _ in 0..n.max(0) {
        r.int()?;
        r.ustring()?;
        r.ustring()?;
    }
    Ok(())
}

/// Writes ZooKeeper's OPEN_ACL_UNSAFE: world:anyone with every permission.
pub fn open_acl(w: &mut Writer) {
    w.int(1).int(31).ustring("world").ustring("anyone");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(request: Request) {
        let bytes = encode(7, &request);
        assert_eq!(decode(&bytes), Ok((7, request)));
    }

    #[test]
    fn every_request_round_trips() {
        let create = JuteOp::Create {
            path: "/a".into(),
            data: b"x".to_vec(),
            flags: 3,
            with_stat: false,
        };
        round_trip(Request::Ping);
        round_trip(Request::Close);
        round_trip(Request::Auth {
            kind: 0,
            scheme: "digest".into(),
            auth: b"u:p".to_vec(),
        });
        round_trip(Request::SetWatches(Rewatch {
            relative_zxid: 9,
            data: vec!["/a".into()],
            exist: vec![],
            child: vec!["/b".into(), "/c".into()],
        }));
        round_trip(Request::Write(create.clone()));
        round_trip(Request::Write(JuteOp::Create {
            path: "/b".into(),
            data: vec![],
            flags: 0,
            with_stat: true,
        }));
        round_trip(Request::Write(JuteOp::Delete {
            path: "/a".into(),
            version: -1,
        }));
        round_trip(Request::Write(JuteOp::SetData {
            path: "/a".into(),
            data: vec![1, 2],
            version: 4,
        }));
        round_trip(Request::Exists {
            path: "/a".into(),
            watch: true,
        });
        round_trip(Request::GetData {
            path: "/a".into(),
            watch: false,
        });
        round_trip(Request::GetChildren {
            path: "/".into(),
            watch: true,
            with_stat: true,
        });
        round_trip(Request::Sync { path: "/".into() });
        round_trip(Request::GetAcl { path: "/a".into() });
        round_trip(Request::Multi(vec![
            create,
            JuteOp::Check {
                path: "/a".into(),
                version: 0,
            },
        ]));
    }

    #[test]
    fn a_create_carries_zookeepers_layout() {
        let bytes = encode(
            1,
            &Request::Write(JuteOp::Create {
                path: "/a".into(),
                data: vec![],
                flags: 1,
                with_stat: false,
            }),
        );
        // xid, opcode 1, "/a", empty data, one ACL (31, world, anyone), flags 1.
        let mut expected = vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, b'/', b'a', 0, 0, 0, 0];
        expected.extend([0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 5]);
        expected.extend(b"world");
        expected.extend([0, 0, 0, 6]);
        expected.extend(b"anyone");
        expected.extend([0, 0, 0, 1]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn unknown_opcodes_and_bad_modes_are_told_apart_from_garbage() {
        let unknown = encode(3, &Request::Unknown(21));
        assert_eq!(decode(&unknown), Ok((3, Request::Unknown(21))));
        let ttl = JuteOp::Create {
            path: "/t".into(),
            data: vec![],
            flags: 5,
            with_stat: false,
        };
        assert_eq!(ttl.to_op(), Err(ZkError::Unimplemented));
        let mut trailing = encode(3, &Request::Ping);
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(JuteError::Malformed(_))));
        assert_eq!(decode(&[0, 0, 0, 1, 0, 0]), Err(JuteError::Truncated));
    }
}
