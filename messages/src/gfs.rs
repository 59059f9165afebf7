//! GFS's wire types (Ghemawat, Gobioff and Leung, "The Google File System", 2003): the names a
//! chunk goes by (§2.3, §4.5) and every message between clients, the master and the
//! chunkservers. Data only.
//!
//! - Client ↔ master: [`MasterRequest`] (namespace, chunk locations, who holds a chunk's
//!   lease), answered by [`MasterReply`]. Only the leader of the master's Raft group answers;
//!   the others refuse with [`MasterRefusal::NotLeader`].
//! - Chunkserver → master: [`Heartbeat`] (every chunk held with its version, and the leases to
//!   extend), and [`ReportCorrupt`].
//! - Master → chunkserver: [`CreateChunk`], [`NewVersion`] (a new lease bumped the version;
//!   the primary learns it is primary), [`DeleteChunks`] and [`CloneChunk`] (re-replication).
//! - Client → chunkservers: [`PushData`] along a chain of replicas (§3.2), then [`Mutate`] to
//!   the primary, which picks the offset and the order and sends [`ApplyMutation`] to each
//!   secondary (§3.1); [`ReadChunk`] from any replica.
//! - Chunkserver ↔ chunkserver: [`FetchChunk`] (a clone's source, or a corrupt block's good
//!   copy).

use crate::{ClientId, NodeId, Wire};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A chunk's globally unique, immutable handle, assigned by the master when it creates the
/// chunk (§2.3). Shown as `c<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkHandle(pub u64);

/// `n`, or `term.k` when a master of Raft term `term` chose it (the high 32 bits).
fn term_dotted(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    match n >> 32 {
        0 => write!(f, "{n}"),
        term => write!(f, "{term}.{}", n & 0xffff_ffff),
    }
}

impl fmt::Display for ChunkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c")?;
        term_dotted(f, self.0)
    }
}

/// A chunk's version number: the master increases it each time it grants a new lease, so a
/// replica that missed mutations while down is recognised as stale (§4.5). Shown as `v<n>`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct ChunkVersion(pub u64);

impl fmt::Display for ChunkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v")?;
        term_dotted(f, self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Client ↔ master
// ---------------------------------------------------------------------------------------------

/// A client's call to the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "MasterReply")]
pub struct MasterRequest {
    /// What to do.
    pub op: MasterOp,
}

impl Wire for MasterRequest {
    const TAG: &'static str = "gfs.master";
}

/// What a client asks the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MasterOp {
    /// Create an empty file. Answered `Done`, or `Exists` (which a retry after a lost answer
    /// also gets).
    Create {
        /// Its absolute path.
        path: String,
    },
    /// Delete a file: it is renamed to a hidden name and reclaimed later (§4.4).
    Delete {
        /// Its path.
        path: String,
    },
    /// The files under a directory (every file, for `/`). Answered `Listed`.
    List {
        /// The directory.
        dir: String,
    },
    /// How many chunks a file has. Answered `Stat`.
    Stat {
        /// The file.
        path: String,
    },
    /// Where chunk `index` of a file is. Answered `Located`.
    Locate {
        /// The file.
        path: String,
        /// The chunk's index in the file.
        index: u64,
    },
    /// Make sure the file has a chunk at index `index` (a new one at the end if the file has
    /// exactly `index` chunks; nothing if it has more), and say where it is. A writer that
    /// filled the last chunk, or a record append told the chunk is full, asks for the next one
    /// this way; two clients asking at once get the same chunk. Answered `Located`.
    AddChunk {
        /// The file.
        path: String,
        /// The index of the chunk wanted.
        index: u64,
    },
    /// Who holds the chunk's lease (granting one, with a new version, if none runs), §3.1
    /// step 1. Answered `Lease`.
    Lease {
        /// The chunk.
        handle: ChunkHandle,
    },
}

/// Where a chunk's up-to-date replicas are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLocation {
    /// The chunk's index in its file.
    pub index: u64,
    /// The chunk.
    pub handle: ChunkHandle,
    /// Its current version: a replica at a lower one is stale.
    pub version: ChunkVersion,
    /// The live servers holding it at that version.
    pub replicas: Vec<NodeId>,
}

/// A chunk's lease, as the master tells a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The chunk.
    pub handle: ChunkHandle,
    /// Its version under this lease.
    pub version: ChunkVersion,
    /// The replica that orders mutations.
    pub primary: NodeId,
    /// The other up-to-date replicas.
    pub secondaries: Vec<NodeId>,
}

/// The master's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum MasterReply {
    /// Done (create, delete).
    Done,
    /// The files under the directory asked about, sorted.
    Listed(Vec<String>),
    /// The file's number of chunks.
    Stat {
        /// How many chunks it has.
        chunks: u64,
    },
    /// Where a chunk is.
    Located(ChunkLocation),
    /// Who holds a chunk's lease.
    Lease(LeaseInfo),
    /// Refused; nothing was done.
    Refused(MasterRefusal),
}

/// Why the master refused; each is something a client acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MasterRefusal {
    /// This master replica does not lead its group: try `leader`, or another replica.
    #[error("not the master's leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// This replica was just elected and has not caught up with its log: retry shortly.
    #[error("the master is catching up")]
    NotReady,
    /// The change could not be committed to the master's log in time: it may or may not
    /// take effect. Retry.
    #[error("the master's log did not commit in time")]
    Unavailable,
    /// Paths are absolute, with no empty component and no trailing `/`.
    #[error("`{0}` is not an absolute path")]
    BadPath(String),
    /// The path is taken.
    #[error("`{0}` exists")]
    Exists(String),
    /// No file has this path.
    #[error("no file `{0}`")]
    NoSuchFile(String),
    /// The file has no chunk at this index.
    #[error("the file has no chunk {index}")]
    NoChunkAt {
        /// The index asked for.
        index: u64,
    },
    /// The master knows no chunk by this handle.
    #[error("no chunk {0}")]
    NoSuchChunk(ChunkHandle),
    /// No live chunkserver holds the chunk at its current version (yet: a new master learns
    /// where chunks are from heartbeats). Retry later.
    #[error("no live up-to-date replica")]
    NoLiveReplica,
    /// No primary may be named yet: an earlier lease may still run, or a replica that missed
    /// the new version may still serve reads. Retry after `ms` milliseconds.
    #[error("wait {ms} ms for a lease")]
    WaitForLease {
        /// How long to wait.
        ms: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Chunkserver ↔ master
// ---------------------------------------------------------------------------------------------

/// A chunkserver's heartbeat to every master replica: the chunks it holds with their versions
/// (from which the master learns where replicas are, §2.6.2, and which are stale, §4.5), and
/// the chunks whose lease it holds and wants extended (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "HeartbeatReply")]
pub struct Heartbeat {
    /// The chunkserver.
    pub server: NodeId,
    /// Every chunk it holds, with its version.
    pub chunks: Vec<(ChunkHandle, ChunkVersion)>,
    /// The chunks whose lease it holds and wants extended (or, just named primary, started).
    pub extend: Vec<ChunkHandle>,
    /// The chunks whose lease it holds, running, when it sent this: a new master leader, which
    /// knows no lease, takes the primary's word and keeps that lease (and that primary)
    /// rather than waiting out every lease its predecessor may have granted.
    #[serde(default)]
    pub holding: Vec<ChunkHandle>,
}

impl Wire for Heartbeat {
    const TAG: &'static str = "gfs.heartbeat";
}

/// The master's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum HeartbeatReply {
    /// The leader heard it.
    Ack {
        /// Replicas to delete: stale (a lower version than the master's) or orphaned (no
        /// file has them). The chunkserver deletes them before it serves again.
        delete: Vec<ChunkHandle>,
        /// The leases extended: each runs for `lease_ms` from when the heartbeat was *sent*,
        /// by the chunkserver's clock (so it ends no later than the master believes).
        extended: Vec<ChunkHandle>,
        /// A lease's length.
        lease_ms: u64,
        /// How long a chunkserver may serve reads after sending a heartbeat the leader
        /// answered: a replica cut off from the master stops serving before the master could
        /// give its chunks a new version without it.
        serve_ms: u64,
    },
    /// This replica does not lead the master's group.
    NotLeader,
}

/// A chunkserver found a corrupt block (§5.2); the master answers with the replicas to repair
/// it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "RepairFrom")]
pub struct ReportCorrupt {
    /// The chunkserver.
    pub server: NodeId,
    /// The chunk.
    pub handle: ChunkHandle,
    /// The corrupt block's index.
    pub block: u64,
}

impl Wire for ReportCorrupt {
    const TAG: &'static str = "gfs.report_corrupt";
}

/// Where to repair a corrupt block from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum RepairFrom {
    /// Other live replicas at the chunk's current version.
    Replicas {
        /// The chunk's version.
        version: ChunkVersion,
        /// The replicas, the reporter left out.
        replicas: Vec<NodeId>,
    },
    /// No other good replica is known (or this is not the leader): try again later.
    Unknown,
}

// ---------------------------------------------------------------------------------------------
// Master → chunkserver
// ---------------------------------------------------------------------------------------------

/// Create an empty chunk at its first version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct CreateChunk {
    /// The chunk.
    pub handle: ChunkHandle,
    /// Its first version.
    pub version: ChunkVersion,
}

impl Wire for CreateChunk {
    const TAG: &'static str = "gfs.create_chunk";
}

/// A new lease bumped the chunk's version (§4.5): the replica persists it before answering.
/// The primary of the new lease is told the secondaries; it then starts its lease with a
/// heartbeat that asks to extend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct NewVersion {
    /// The chunk.
    pub handle: ChunkHandle,
    /// Its new version.
    pub version: ChunkVersion,
    /// For the new primary: the secondaries it forwards mutations to. None for a secondary.
    pub primary_of: Option<Vec<NodeId>>,
}

impl Wire for NewVersion {
    const TAG: &'static str = "gfs.new_version";
}

/// Delete these replicas (stale, orphaned, or of a reclaimed file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct DeleteChunks {
    /// The chunks.
    pub handles: Vec<ChunkHandle>,
}

impl Wire for DeleteChunks {
    const TAG: &'static str = "gfs.delete_chunks";
}

/// The master revokes the lease this server holds on the chunk (§3.1: "the master may
/// sometimes try to revoke a lease before it expires"), here because a replica of its lease
/// group was lost and the chunk must be re-replicated. Answered `Done` once the server holds
/// no lease on it and no mutation under it is in flight, so nothing is acknowledged under it
/// afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct RevokeLease {
    /// The chunk.
    pub handle: ChunkHandle,
}

impl Wire for RevokeLease {
    const TAG: &'static str = "gfs.revoke_lease";
}

/// Re-replication (§4.3): copy the chunk at `version` from `from` (with [`FetchChunk`]) and
/// keep it. Answered once the copy is durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct CloneChunk {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version to copy.
    pub version: ChunkVersion,
    /// A live, up-to-date replica.
    pub from: NodeId,
}

impl Wire for CloneChunk {
    const TAG: &'static str = "gfs.clone_chunk";
}

/// A chunkserver's answer to the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum ChunkAck {
    /// Done and durable.
    Done,
    /// Not done, and why.
    Failed(ChunkRefusal),
}

// ---------------------------------------------------------------------------------------------
// Client → chunkservers: data flow and control flow (§3.1, §3.2)
// ---------------------------------------------------------------------------------------------

/// The name of a piece of data pushed ahead of its mutation: the client's id and its number
/// for the push (a retry with the same data may push again under a new number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DataId {
    /// The client.
    pub client: ClientId,
    /// The client's number for this push.
    pub seq: u64,
}

/// Data pushed along a chain of replicas (§3.2): the receiver keeps it in its buffer, passes
/// it to the first of `forward` with the rest of the chain, and answers once the whole rest of
/// the chain has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "PushReply")]
pub struct PushData {
    /// The data's name.
    pub id: DataId,
    /// The bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// The replicas after this one, in chain order.
    pub forward: Vec<NodeId>,
}

impl Wire for PushData {
    const TAG: &'static str = "gfs.push";
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum PushReply {
    /// Every replica of the chain from this one on holds the data.
    Stored,
    /// `at` did not take it (down, or its buffer is full): push again.
    Failed {
        /// The first replica that failed.
        at: NodeId,
    },
}

/// What a mutation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MutationKind {
    /// Write the data at `offset` (§3.1).
    Write {
        /// Where, in the chunk.
        offset: u64,
    },
    /// Append the data as one record at an offset the primary picks (§3.3).
    Append,
}

/// A client's mutation, sent to the primary once its data is pushed to every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "MutateReply")]
pub struct Mutate {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version the client's lease information names.
    pub version: ChunkVersion,
    /// The data, pushed earlier.
    pub data: DataId,
    /// What to do with it.
    pub kind: MutationKind,
}

impl Wire for Mutate {
    const TAG: &'static str = "gfs.mutate";
}

/// The primary's answer to a mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum MutateReply {
    /// The write is on every replica.
    Written,
    /// The record is on every replica at `offset`.
    Appended {
        /// Where the record starts in the chunk.
        offset: u64,
    },
    /// The record did not fit: every replica padded the chunk to its end. Append to the next
    /// chunk.
    ChunkFull,
    /// Refused or failed; the client acts on the reason (a failure may have left the data on
    /// some replicas: a record append is then retried, and the record may appear twice).
    Failed(ChunkRefusal),
}

/// The primary's order to a secondary: apply this mutation exactly here (§3.1 step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkAck")]
pub struct ApplyMutation {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version of the primary's lease.
    pub version: ChunkVersion,
    /// The data, pushed earlier.
    pub data: DataId,
    /// What to do.
    pub at: AppliedAt,
}

impl Wire for ApplyMutation {
    const TAG: &'static str = "gfs.apply";
}

/// Where a secondary applies a mutation, as the primary decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppliedAt {
    /// Write the data at `offset`.
    Write {
        /// Where.
        offset: u64,
    },
    /// Write the record at `offset`, as the primary did.
    Append {
        /// Where.
        offset: u64,
    },
    /// Pad the chunk from `from` to its end, as the primary did.
    Pad {
        /// Where padding starts.
        from: u64,
    },
}

/// Read bytes of a chunk from one replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ReadReply")]
pub struct ReadChunk {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version the client was told; a replica at a lower one refuses.
    pub version: ChunkVersion,
    /// Where to start.
    pub offset: u64,
    /// How many bytes at most.
    pub len: u64,
}

impl Wire for ReadChunk {
    const TAG: &'static str = "gfs.read";
}

/// A replica's answer to a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum ReadReply {
    /// The bytes (fewer than asked at the chunk's end), each block's checksum verified.
    Data {
        /// The replica's version (at least the one asked for).
        version: ChunkVersion,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Refused: try another replica, or ask the master again.
    Failed(ChunkRefusal),
}

/// Another chunkserver's copy of a chunk, or of one block of it: a clone's source (§4.3), or a
/// good copy of a corrupt block (§5.2). The source verifies every block it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ReadReply")]
pub struct FetchChunk {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version wanted; a source at another version refuses.
    pub version: ChunkVersion,
    /// One block (by index), or None for the whole chunk.
    pub block: Option<u64>,
}

impl Wire for FetchChunk {
    const TAG: &'static str = "gfs.fetch";
}

/// Why a chunkserver refused or failed; each is something the caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChunkRefusal {
    /// This server holds no replica of the chunk.
    #[error("no such chunk")]
    NoSuchChunk,
    /// This server is not the chunk's primary, or its lease has run out: ask the master.
    #[error("not the primary, or the lease ran out")]
    NotPrimary,
    /// The replica's version is not the one asked for.
    #[error("replica at {have}, asked for {want}")]
    WrongVersion {
        /// This replica's version.
        have: ChunkVersion,
        /// The version asked for.
        want: ChunkVersion,
    },
    /// The pushed data is not (or no longer) in the buffer: push it again.
    #[error("data not pushed")]
    NoData,
    /// A secondary did not apply the mutation (down, refused, or no answer): the region may
    /// be inconsistent across replicas. Retry.
    #[error("secondary {0} did not apply")]
    SecondaryFailed(NodeId),
    /// The record is larger than a quarter of a chunk (§3.3).
    #[error("record of {len} bytes over the maximum {max}")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// A write would cross the chunk's end.
    #[error("write past the chunk's end")]
    OutOfChunk,
    /// A block the read touched failed its checksum; the replica is being repaired. Read
    /// another replica.
    #[error("block {block} is corrupt")]
    Corrupt {
        /// The block's index.
        block: u64,
    },
    /// The server has not had a heartbeat answered by the master recently: its versions are
    /// not confirmed, so it serves no read. Try another replica.
    #[error("versions not confirmed by the master")]
    Unconfirmed,
    /// The chunk's storage failed.
    #[error("storage failed")]
    Storage,
}

// ---------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------

/// Ask a chunkserver what it holds and which leases it has held (tests, `troupe sim gfs`,
/// `troupe status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChunkserverStatus")]
pub struct InspectChunkserver;

impl Wire for InspectChunkserver {
    const TAG: &'static str = "gfs.inspect_chunkserver";
}

/// A lease a chunkserver held as primary, by its own clock (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHeld {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The version under the lease.
    pub version: ChunkVersion,
    /// When this server started acting on it.
    pub from_ns: u64,
    /// When it runs out (extensions move it later).
    pub until_ns: u64,
}

/// What a chunkserver holds and has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct ChunkserverStatus {
    /// Its node's incarnation.
    pub incarnation: u64,
    /// Every chunk, with its version and length.
    pub chunks: Vec<(ChunkHandle, ChunkVersion, u64)>,
    /// Every lease held since it started, in the order taken.
    pub leases: Vec<LeaseHeld>,
    /// Reads answered, and reads refused as stale or unconfirmed.
    pub reads: u64,
    /// Corrupt blocks found, and repaired.
    pub corrupt_found: u64,
    /// Corrupt blocks repaired from another replica.
    pub repaired: u64,
    /// Chunks cloned here by re-replication.
    pub cloned: u64,
}

/// Ask a master replica where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "MasterStatus")]
pub struct InspectMaster;

impl Wire for InspectMaster {
    const TAG: &'static str = "gfs.inspect_master";
}

/// A master replica's view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct MasterStatus {
    /// Whether it leads the master's group and serves.
    pub serving: bool,
    /// Files in the namespace (not counting deleted ones).
    pub files: u64,
    /// Chunks the master knows.
    pub chunks: u64,
    /// Chunks with fewer live up-to-date replicas than the target (0 on a replica that does
    /// not serve).
    pub under_replicated: u64,
    /// Live chunkservers.
    pub live_servers: Vec<NodeId>,
}

/// Ask a master replica what failover is due; the serving leader answers (GFS's failover
/// supervisor asks its own node's replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "FailoverView")]
pub struct InspectFailover;

impl Wire for InspectFailover {
    const TAG: &'static str = "gfs.inspect_failover";
}

/// What failover the serving master sees due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct FailoverView {
    /// Whether it leads the master's group and serves (the rest is empty otherwise).
    pub serving: bool,
    /// Chunkservers it knows that have been silent for longer than `dead_after`.
    pub down: Vec<NodeId>,
    /// Chunks with fewer live up-to-date replicas than the target.
    pub below_target: Vec<ChunkHandle>,
    /// Chunks whose last primary is down and whose lease has run out (within the last lease
    /// length: chunks in use), with that primary: their lease may move.
    pub leases_to_move: Vec<(ChunkHandle, NodeId)>,
}

/// Start re-replication now: one clone for each chunk below its target that can be cloned
/// (§4.3); answers how many clones were ordered. Sent by the failover supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Rereplicate;

impl Wire for Rereplicate {
    const TAG: &'static str = "gfs.rereplicate";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_versions_display_and_order() {
        assert_eq!(ChunkHandle(7).to_string(), "c7");
        assert_eq!(ChunkVersion(3).to_string(), "v3");
        assert!(ChunkHandle(2) < ChunkHandle(10));
        assert!(ChunkVersion(1) < ChunkVersion(2));
    }

    #[test]
    fn a_push_keeps_its_bytes_compact() {
        let push = PushData {
            id: DataId {
                client: ClientId::from(1u64),
                seq: 1,
            },
            data: vec![7; 1000],
            forward: vec![NodeId(2), NodeId(3)],
        };
        let bytes = rmp_serde::to_vec(&push).unwrap();
        // Bytes travel as a binary string, not as an array of numbers.
        assert!(bytes.len() < 1100, "{} bytes", bytes.len());
        let back: PushData = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, push);
    }
}
