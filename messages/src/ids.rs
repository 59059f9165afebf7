//! Names of things on the network: nodes, actors and traces.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A node of a topology. Printed and parsed as `n<number>` (`n1`, `n2`, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The text was not a node id such as `n3` or `3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNodeId(pub String);

impl fmt::Display for BadNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a node id (expected n<number>, like n1)",
            self.0
        )
    }
}

impl std::error::Error for BadNodeId {}

impl FromStr for NodeId {
    type Err = BadNodeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('n').unwrap_or(s);
        digits
            .parse::<u32>()
            .map(NodeId)
            .map_err(|_| BadNodeId(s.to_string()))
    }
}

/// Where an actor lives: its node and its registered name on that node.
///
/// Paths are location-transparent: `send` and `call` take a path and work the same way whether
/// the node is the caller's own or another one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorPath {
    /// The node the actor runs on.
    pub node: NodeId,
    /// The name it was registered under on that node.
    pub name: String,
}

impl ActorPath {
    /// The actor registered as `name` on `node`.
    pub fn new(node: NodeId, name: impl Into<String>) -> Self {
        ActorPath {
            node,
            name: name.into(),
        }
    }
}

impl fmt::Display for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.name)
    }
}

impl fmt::Debug for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Identifies one chain of causally related messages (a request and its reply share it),
/// across nodes and processes: a UUID (version 4 layout), drawn from the sending node's random
/// stream, which in simulation comes from the run's seed, so runs still replay. 16 bytes on the
/// wire; printed in the usual hyphenated form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct TraceId(pub uuid::Uuid);

impl TraceId {
    /// The trace id made of 16 random bytes (the version and variant bits are set).
    pub fn from_random_bytes(bytes: [u8; 16]) -> TraceId {
        TraceId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// A fixed trace id, for tests and hand-made envelopes.
    pub fn from_u128(n: u128) -> TraceId {
        TraceId(uuid::Uuid::from_u128(n))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A client of a replicated service, as servers know it: each request carries (client id,
/// sequence number), so that a retry takes effect once. A UUID (version 4 layout), so that
/// clients that never met (a `troupe kv` run, a benchmark, another process's gateway) do not
/// collide; in simulation it is drawn from the run's seed, so runs still replay.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ClientId(pub uuid::Uuid);

impl ClientId {
    /// The client id made of 16 random bytes (the version and variant bits are set).
    pub fn from_random_bytes(bytes: [u8; 16]) -> ClientId {
        ClientId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// A fixed client id, for tests and for clients numbered by hand.
    pub fn from_u128(n: u128) -> ClientId {
        ClientId(uuid::Uuid::from_u128(n))
    }

    /// A client id derived from this one for its helper number `n` (a clerk's own clerk of
    /// the configuration manager, say): distinct for each `n`, and the same every time.
    pub fn derived(self, n: u32) -> ClientId {
        let mixed = self.0.as_u128()
            ^ (u128::from(n) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        ClientId(uuid::Uuid::from_u128(mixed))
    }

    /// 64 bits of the id, to seed a random stream with.
    pub fn seed_bits(self) -> u64 {
        let (high, low) = self.0.as_u64_pair();
        high ^ low
    }
}

impl From<u64> for ClientId {
    fn from(n: u64) -> ClientId {
        ClientId::from_u128(u128::from(n))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_print_and_parse() {
        assert_eq!(NodeId(3).to_string(), "n3");
        assert_eq!("n12".parse::<NodeId>(), Ok(NodeId(12)));
        assert_eq!("7".parse::<NodeId>(), Ok(NodeId(7)));
        assert!("nx".parse::<NodeId>().is_err());
        assert_eq!(ActorPath::new(NodeId(2), "kv").to_string(), "n2/kv");
    }

    #[test]
    fn client_ids_derive_distinct_helpers_and_number_by_hand() {
        let client = ClientId::from_random_bytes([3; 16]);
        assert_eq!(client.0.get_version_num(), 4);
        assert_ne!(client.derived(0), client);
        assert_ne!(client.derived(0), client.derived(1));
        assert_eq!(client.derived(1), client.derived(1));
        assert_eq!(ClientId::from(7), ClientId::from_u128(7));
    }

    #[test]
    fn trace_ids_are_version_4_uuids_made_of_the_bytes_given() {
        let trace = TraceId::from_random_bytes([7; 16]);
        assert_eq!(trace.0.get_version_num(), 4);
        assert_eq!(
            trace,
            TraceId::from_random_bytes([7; 16]),
            "the same bytes, the same id"
        );
        assert_ne!(trace, TraceId::from_random_bytes([8; 16]));
        assert_eq!(trace.to_string().len(), 36);
    }
}
