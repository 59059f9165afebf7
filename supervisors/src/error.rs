//! The supervisors crate's error type.

use thiserror::Error;

/// What can go wrong when starting a supervision tree.
#[derive(Debug, Error)]
pub enum SupervisorError {
    /// The supervisor could not be started on its node.
    #[error("could not start supervisor `{name}`: {source}")]
    Start {
        /// The supervisor's name.
        name: String,
        /// The runtime's reason.
        source: troupe_runtime::Error,
    },
    /// Two children of one supervisor share an id.
    #[error("supervisor `{supervisor}` has two children with the id `{child}`")]
    DuplicateChild {
        /// The supervisor's name.
        supervisor: String,
        /// The repeated child id.
        child: String,
    },
}
