//! The gateway of a GFS cluster's client port: how a real node answers a client. Each file
//! operation is run by a [`GfsClient`] on this node, which asks the master for metadata and
//! moves the data to and from the chunkservers itself, as an application linked with the
//! client library would; the remote client only sends the request and gets the result. A
//! record append runs under the remote client's own record id (its client id and number), so
//! that its retries, through this node or another, are one record to a reader.
//!
//! Status is answered by this node's own master replica and chunkserver.
//!
//! Data crosses the client port in one frame, so a put, an append, a get or a file's records
//! larger than [`GFS_MAX_DATA`] (12 MB) are refused with the reason.

use super::client::{ClientTiming, GfsClient, GfsError};
use super::{GfsPlan, CHUNKSERVER, MASTER};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::client::{
    ClientRequest, ClientResponse, GfsClientOp, GfsClientReply, GfsNodeStatus, GFS_MAX_DATA,
};
use troupe_messages::gfs::{InspectChunkserver, InspectMaster, MasterRefusal};
use troupe_messages::{ActorPath, ClientId};
use troupe_runtime::Node;

/// How long the gateway's clients wait for one call to a master replica or chunkserver: a
/// push of a 1 MB piece along three replicas over real links gets this much per hop.
const CALL: Duration = Duration::from_secs(2);

/// A GFS cluster's gateway on one node (cheap to clone: clones share the idle clients).
#[derive(Clone)]
pub struct GfsGateway {
    node: Node,
    plan: GfsPlan,
    /// The gateway's clients' ids are derived from this one, one per client made.
    base: ClientId,
    made: Rc<Cell<u32>>,
    /// Clients not in use, each with its cache of chunk locations and leases.
    idle: Rc<RefCell<Vec<GfsClient>>>,
}

impl GfsGateway {
    /// The gateway of `node` in the deployment `plan`. `base` must be unique to this gateway
    /// among every client the cluster ever had (a random id will do): the gateway's clients
    /// name the data they push after ids derived from it, and a chunkserver must never take
    /// one client's pushed data for another's.
    pub fn new(node: Node, plan: GfsPlan, base: ClientId) -> Self {
        GfsGateway {
            node,
            plan,
            base,
            made: Rc::new(Cell::new(0)),
            idle: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Answers one client request, waiting at most about `timeout` for it.
    pub async fn answer(&self, request: ClientRequest, timeout: Duration) -> ClientResponse {
        match request {
            ClientRequest::Gfs(op) => ClientResponse::Gfs(self.run(op, timeout).await),
            ClientRequest::Status => ClientResponse::GfsStatus(self.status(timeout).await),
            ClientRequest::Kv(_) | ClientRequest::ReadLocal { .. } => ClientResponse::Unavailable {
                reason: "this cluster runs GFS, which has files, not keys: use `troupe gfs`".into(),
            },
        }
    }

    /// A client not in use, or a new one.
    fn client(&self) -> GfsClient {
        if let Some(client) = self.idle.borrow_mut().pop() {
            return client;
        }
        let n = self.made.get();
        self.made.set(n.wrapping_add(1));
        let timing = ClientTiming {
            call: CALL,
            ..ClientTiming::for_plan(&self.plan)
        };
        GfsClient::new(self.node.clone(), &self.plan, self.base.derived(n)).with_timing(timing)
    }

    /// Runs one file operation with a client of this node.
    async fn run(&self, op: GfsClientOp, timeout: Duration) -> GfsClientReply {
        if let Some(reason) = too_large(&op) {
            return GfsClientReply::Refused(reason);
        }
        let mut client = self.client();
        let reply = run_op(&mut client, op, timeout).await;
        self.idle.borrow_mut().push(client);
        reply
    }

    /// This node's master replica and chunkserver, each if it runs one and it answered.
    async fn status(&self, timeout: Duration) -> GfsNodeStatus {
        let id = self.node.id();
        let master = if self.plan.masters.contains(&id) {
            let path = ActorPath::new(id, MASTER);
            self.node.call(&path, InspectMaster, timeout).await.ok()
        } else {
            None
        };
        let chunkserver = if self.plan.chunkservers.contains(&id) {
            let path = ActorPath::new(id, CHUNKSERVER);
            self.node
                .call(&path, InspectChunkserver, timeout)
                .await
                .ok()
        } else {
            None
        };
        GfsNodeStatus {
            id,
            master,
            chunkserver,
        }
    }
}

/// Why a request carrying data is refused before it starts, if it is.
fn too_large(op: &GfsClientOp) -> Option<String> {
    let (what, len) = match op {
        GfsClientOp::Put { data, .. } => ("put", data.len()),
        GfsClientOp::Append { data, .. } => ("append", data.len()),
        _ => return None,
    };
    (len > GFS_MAX_DATA).then(|| {
        format!(
            "the {what} carries {len} bytes, over the {GFS_MAX_DATA} bytes one request through \
             the client port may carry; nothing was done"
        )
    })
}

/// Why a reply of `len` bytes of file data is refused, if it is.
fn reply_too_large(len: usize) -> Option<GfsClientReply> {
    (len > GFS_MAX_DATA).then(|| {
        GfsClientReply::Refused(format!(
            "the answer holds {len} bytes of file data, over the {GFS_MAX_DATA} bytes one reply \
             through the client port may carry"
        ))
    })
}

/// Runs `op` with `client` within `timeout`.
async fn run_op(client: &mut GfsClient, op: GfsClientOp, timeout: Duration) -> GfsClientReply {
    match op {
        GfsClientOp::Put { path, data } => match client.write_file(&path, &data, timeout).await {
            Ok(()) => GfsClientReply::Done,
            Err(e) => failure(e, true),
        },
        GfsClientOp::Get { path } | GfsClientOp::Cat { path } => {
            match client.read_file(&path, timeout).await {
                Ok(bytes) => reply_too_large(bytes.len()).unwrap_or(GfsClientReply::Data(bytes)),
                Err(e) => failure(e, false),
            }
        }
        GfsClientOp::Ls { dir } => match client.list(&dir, timeout).await {
            Ok(files) => GfsClientReply::Listed(files),
            Err(e) => failure(e, false),
        },
        GfsClientOp::Rm { path } => match client.delete(&path, timeout).await {
            Ok(()) => GfsClientReply::Done,
            Err(e) => failure(e, true),
        },
        GfsClientOp::Append {
            path,
            data,
            client: remote,
            seq,
        } => {
            append(
                client,
                &path,
                &data,
                GfsClient::record_id(remote, seq),
                timeout,
            )
            .await
        }
        GfsClientOp::Records { path } => match client.records(&path, timeout).await {
            Ok(found) => {
                let len: usize = found.records.iter().map(|r| r.payload.len()).sum();
                reply_too_large(len).unwrap_or_else(|| {
                    let payloads = found.records.into_iter().map(|r| r.payload.into());
                    GfsClientReply::Records(payloads.collect())
                })
            }
            Err(e) => failure(e, false),
        },
        GfsClientOp::Lease { path } => match client.last_chunk_lease(&path, timeout).await {
            Ok((chunk, lease)) => GfsClientReply::Lease {
                chunk,
                primary: lease.primary,
                secondaries: lease.secondaries,
            },
            Err(e) => failure(e, false),
        },
    }
}

/// A record append under the record id `id`, creating the file first if it is missing.
async fn append(
    client: &mut GfsClient,
    path: &str,
    data: &[u8],
    id: u128,
    timeout: Duration,
) -> GfsClientReply {
    let end = Instant::now() + timeout;
    let mut created = false;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match client.record_append_as(path, data, id, left).await {
            Ok(done) => {
                return GfsClientReply::Appended {
                    id: done.id,
                    chunk: done.chunk,
                    offset: done.offset,
                }
            }
            Err(GfsError::Refused(MasterRefusal::NoSuchFile(_))) if !created => {
                created = true;
                let left = end.saturating_duration_since(Instant::now());
                match client.create(path, left).await {
                    // Another client may have made it meanwhile: as good.
                    Ok(()) | Err(GfsError::Refused(MasterRefusal::Exists(_))) => {}
                    Err(e) => return failure(e, false),
                }
            }
            Err(e) => return failure(e, true),
        }
    }
}

/// The reply for a client's error; `mutates`: the operation changes the file system, so an
/// operation cut short may have taken effect.
fn failure(error: GfsError, mutates: bool) -> GfsClientReply {
    match error {
        GfsError::Refused(refusal) => match refusal {
            // What a retry could change: the time ran out while the master was busy.
            MasterRefusal::NotLeader { .. }
            | MasterRefusal::NotReady
            | MasterRefusal::Unavailable
            | MasterRefusal::NoLiveReplica
            | MasterRefusal::WaitForLease { .. } => GfsClientReply::Failed {
                reason: format!("the master could not serve it in time ({refusal})"),
                maybe_applied: mutates,
            },
            other => GfsClientReply::Refused(other.to_string()),
        },
        GfsError::TooLarge { .. } => GfsClientReply::Refused(error.to_string()),
        GfsError::Timeout { maybe_applied } => GfsClientReply::Failed {
            reason: error.to_string(),
            maybe_applied: maybe_applied && mutates,
        },
        GfsError::InDoubt(_) => GfsClientReply::Failed {
            reason: error.to_string(),
            maybe_applied: mutates,
        },
        GfsError::Unreadable { .. } => GfsClientReply::Failed {
            reason: error.to_string(),
            maybe_applied: false,
        },
    }
}
