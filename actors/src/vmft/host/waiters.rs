//! The clients waiting at the primary's host for their outputs, by request id (client, seq).
//!
//! The guest's replies start with the request's id (16 bytes of client id, then the sequence
//! number, little endian), so a released output finds its callers without the host knowing
//! anything else about the guest. A retry that arrives while the first try still waits is
//! answered by the same output.

use std::collections::BTreeMap;
use tokio::sync::oneshot;
use troupe_messages::vmft::VmftReply;

/// A request's id: the client's 16 bytes and its sequence number.
pub type RequestId = ([u8; 16], u64);

/// The id of the request an output answers, read from the reply's first 24 bytes.
pub fn reply_id(packet: &[u8]) -> Option<RequestId> {
    let client: [u8; 16] = packet.get(..16)?.try_into().ok()?;
    let seq = u64::from_le_bytes(packet.get(16..24)?.try_into().ok()?);
    Some((client, seq))
}

/// Callers waiting for outputs.
#[derive(Debug, Default)]
pub struct Waiters {
    waiting: BTreeMap<RequestId, Vec<oneshot::Sender<VmftReply>>>,
}

impl Waiters {
    /// Waits for the output that answers `id`.
    pub fn wait(&mut self, id: RequestId) -> oneshot::Receiver<VmftReply> {
        let (tell, told) = oneshot::channel();
        self.waiting.entry(id).or_default().push(tell);
        told
    }

    /// Hands a released output to whoever waits for it; an output nobody waits for (its client
    /// gave up, or asked another host) is dropped.
    pub fn release(&mut self, output: Vec<u8>) {
        let Some(id) = reply_id(&output) else {
            tracing::warn!("a guest output without a request id: dropped");
            return;
        };
        if let Some(callers) = self.waiting.remove(&id) {
            for caller in callers {
                let _ = caller.send(VmftReply::Output(output.clone()));
            }
        }
    }

    /// Tells every waiting caller that the request was abandoned (the VM stopped here).
    pub fn abandon_all(&mut self) {
        for (_, callers) in std::mem::take(&mut self.waiting) {
            for caller in callers {
                let _ = caller.send(VmftReply::Abandoned);
            }
        }
    }

    /// Forgets callers that stopped waiting.
    pub fn forget_gone(&mut self) {
        self.waiting.retain(|_, callers| {
            callers.retain(|c| !c.is_closed());
            !callers.is_empty()
        });
    }
}
