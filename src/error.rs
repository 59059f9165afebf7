//! The errors of troupe's library: what can go wrong when a system is assembled.

use troupe_runtime::NodeId;

/// What can go wrong when a system's roles start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A role (a replica, a chain node, a supervisor) did not start on a node.
    #[error("the {role} did not start on {node}: {source}")]
    RoleDidNotStart {
        /// The node.
        node: NodeId,
        /// Which role.
        role: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// `role` did not start on `node` because of `source`.
    pub fn role(
        node: NodeId,
        role: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::RoleDidNotStart {
            node,
            role,
            source: Box::new(source),
        }
    }
}
