//! The envelope: what one cross-node message looks like on the wire, and its codec.
//!
//! Every message that crosses a node boundary, in simulation too, is an [`Envelope`] encoded with
//! rmp-serde as a compact array. The body is the message itself, encoded separately so that the
//! receiving node can route by `(to_name, kind)` before it picks the body's decoder.

use crate::error::{Cause, Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use troupe_messages::system::Rejection;
use troupe_messages::{NodeId, TraceId};

/// The name cross-node runtime messages (monitors, heartbeats) are addressed to.
pub const SYSTEM_NAME: &str = "$sys";

/// What an envelope is in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// A one-way message (`send`).
    OneWay,
    /// A request (`call`) that expects a reply carrying the same id.
    Request(u64),
    /// The reply to request `id`; the body is the handler's result.
    Reply(u64),
    /// The target node refused request `id`.
    Reject(u64, Rejection),
}

/// One message on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node.
    pub from: NodeId,
    /// The receiving node.
    pub to: NodeId,
    /// The receiving actor's registered name ([`SYSTEM_NAME`] for the runtime itself).
    pub to_name: String,
    /// The message kind: its wire tag.
    pub kind: String,
    /// The trace this message belongs to; a reply carries its request's trace.
    pub trace: TraceId,
    /// One-way, request, reply or refusal.
    pub flow: Flow,
    /// The message, encoded with rmp-serde.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Envelope {
    /// Encodes the envelope as one frame.
    pub fn to_frame(&self) -> Result<Vec<u8>> {
        encode(self)
    }

    /// Decodes one frame; a malformed frame is an error, never a panic.
    pub fn from_frame(frame: &[u8]) -> Result<Envelope> {
        decode(frame)
    }
}

/// Encodes a value with rmp-serde, structs as compact arrays.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec(value).map_err(|e| Error::Codec {
        action: "encode",
        cause: Cause::new(e),
    })
}

/// Decodes a value encoded by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::Codec {
        action: "decode",
        cause: Cause::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_garbage_is_an_error() {
        let env = Envelope {
            from: NodeId(1),
            to: NodeId(2),
            to_name: "echo".into(),
            kind: "echo.echo".into(),
            trace: TraceId::from_u128(7),
            flow: Flow::Request(9),
            body: vec![1, 2, 3],
        };
        let frame = env.to_frame().unwrap();
        assert_eq!(Envelope::from_frame(&frame).unwrap(), env);
        assert!(Envelope::from_frame(&[0xc1, 0xff, 0x00]).is_err());
        assert!(Envelope::from_frame(&frame[..frame.len() - 2]).is_err());
    }
}
