//! How a server answers: the jute reply for a read from its replica, and for a write from the
//! outcome of the entry that carried it.

use crate::zk::jute::reply::{self, MultiResult, ReplyHeader, Response};
use crate::zk::jute::request::{JuteOp, Request};
use crate::zk::state::Outcome;
use crate::zk::tree::DataTree;
use troupe_messages::zk::{OpResult, ZkError};

/// A reply frame: `xid`'s answer at `zxid`, a record or an error.
pub fn frame(xid: i32, zxid: i64, answer: Result<Response, ZkError>) -> Vec<u8> {
    match answer {
        Ok(response) => reply::encode(ReplyHeader { xid, zxid, err: 0 }, &response),
        Err(e) => reply::encode(
            ReplyHeader {
                xid,
                zxid,
                err: e.code(),
            },
            &Response::Empty,
        ),
    }
}

/// The answer to a read (exists, getData, getChildren, getACL) from `tree`.
pub fn read(tree: &DataTree, request: &Request) -> Result<Response, ZkError> {
    match request {
        Request::Exists { path, .. } => {
            tree.exists(path).map(Response::Stat).ok_or(ZkError::NoNode)
        }
        Request::GetData { path, .. } => {
            let (data, stat) = tree.get_data(path)?;
            Ok(Response::Data(data.to_vec(), stat))
        }
        Request::GetChildren {
            path, with_stat, ..
        } => {
            let (children, stat) = tree.get_children(path)?;
            Ok(if *with_stat {
                Response::Children2(children, stat)
            } else {
                Response::Children(children)
            })
        }
        Request::GetAcl { path } => tree.exists(path).map(Response::Acl).ok_or(ZkError::NoNode),
        _ => Err(ZkError::Unimplemented),
    }
}

/// The answer to a write (`asked`) from the outcome of its entry.
pub fn written(asked: &Request, outcome: &Outcome) -> Result<Response, ZkError> {
    let results = match outcome {
        Outcome::Results(results) => results,
        Outcome::Refused(e) => return Err(*e),
        Outcome::Synced => {
            return match asked {
                Request::Sync { path } => Ok(Response::Sync(path.clone())),
                _ => Ok(Response::Empty),
            }
        }
        Outcome::SessionCreated | Outcome::SessionClosed => return Ok(Response::Empty),
    };
    match asked {
        Request::Multi(ops) => Ok(Response::Multi(
            ops.iter()
                .zip(results)
                .map(|(op, result)| multi_result(op, result))
                .collect(),
        )),
        Request::Write(op) => match results.first() {
            Some(OpResult::Created { path, stat }) => Ok(match op {
                JuteOp::Create {
                    with_stat: true, ..
                } => Response::PathStat(path.clone(), *stat),
                _ => Response::Path(path.clone()),
            }),
            Some(OpResult::DataSet { stat }) => Ok(Response::Stat(*stat)),
            Some(OpResult::Deleted | OpResult::Checked | OpResult::RolledBack) => {
                Ok(Response::Empty)
            }
            Some(OpResult::Failed(e)) => Err(*e),
            None => Err(ZkError::RuntimeInconsistency),
        },
        _ => Ok(Response::Empty),
    }
}

fn multi_result(op: &JuteOp, result: &OpResult) -> MultiResult {
    match result {
        OpResult::Created { path, stat } => MultiResult::Created {
            path: path.clone(),
            stat: matches!(
                op,
                JuteOp::Create {
                    with_stat: true,
                    ..
                }
            )
            .then_some(*stat),
        },
        OpResult::Deleted => MultiResult::Deleted,
        OpResult::DataSet { stat } => MultiResult::DataSet(*stat),
        OpResult::Checked => MultiResult::Checked,
        OpResult::RolledBack => MultiResult::Error(0),
        OpResult::Failed(e) => MultiResult::Error(e.code()),
    }
}
