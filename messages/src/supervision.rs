//! What a supervisor answers about its children.

use crate::Wire;
use serde::{Deserialize, Serialize};

/// Asks a supervisor for the state of its children (Erlang's `which_children`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Vec<ChildInfo>")]
pub struct WhichChildren;

impl Wire for WhichChildren {
    const TAG: &'static str = "supervisor.which_children";
}

/// One child of a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildInfo {
    /// The child's id in its spec.
    pub id: String,
    /// Whether it is running now.
    pub alive: bool,
    /// How many times it has been restarted.
    pub restarts: u64,
    /// Whether it is waiting out a backoff delay before its next start.
    pub restarting: bool,
}
