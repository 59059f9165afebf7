//! What the master's replicas agree on through Raft: batches of operation-log records, and the
//! barrier a new leader commits before it serves.

use crate::gfs::master::OpRecord;
use serde::{Deserialize, Serialize};
use troupe_messages::raft::Term;

/// One entry of the master's Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MasterCommand {
    /// Records of the operation log (§5.1.3), applied in order: one call's changes, committed
    /// together.
    Ops(Vec<OpRecord>),
    /// A leader of `term` serves once this is applied: by then every entry committed before
    /// it has been applied too.
    Barrier {
        /// The leader's term.
        term: Term,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_runtime::{decode, encode};

    #[test]
    fn commands_round_trip_and_are_never_empty() {
        for command in [
            MasterCommand::Ops(vec![OpRecord::CreateFile { path: "/a".into() }]),
            MasterCommand::Barrier { term: 7 },
        ] {
            let bytes = encode(&command).unwrap();
            assert!(!bytes.is_empty(), "Raft refuses an empty command");
            assert_eq!(decode::<MasterCommand>(&bytes).unwrap(), command);
        }
    }
}
