//! Ping/pong between nodes: the messaging benchmark's topology and the runtime's tests.

use crate::Wire;
use serde::{Deserialize, Serialize};

/// A ping carrying a sequence number; answered with the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Ping(pub u64);

impl Wire for Ping {
    const TAG: &'static str = "ping.ping";
}

/// A one-way tick carrying a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Tick(pub u64);

impl Wire for Tick {
    const TAG: &'static str = "ping.tick";
}

/// Ask an actor for what it has counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Counts")]
pub struct GetCounts;

impl Wire for GetCounts {
    const TAG: &'static str = "ping.get_counts";
}

/// What a pinger has seen. (`MessageResponse` lets a handler return it directly.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, actix::MessageResponse,
)]
pub struct Counts {
    /// Pings it answered.
    pub pings_answered: u64,
    /// Ticks it received.
    pub ticks: u64,
    /// Pongs it got back for its own pings.
    pub pongs: u64,
    /// Its own pings that timed out or failed.
    pub failures: u64,
}
