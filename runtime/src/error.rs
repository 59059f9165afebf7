//! The runtime's error type.

use std::time::Duration;
use thiserror::Error;
use troupe_messages::system::Rejection;
use troupe_messages::ActorPath;

/// Everything the runtime can report to a caller.
///
/// The variants a caller acts on are typed: a `call` that got no answer in time is
/// [`Error::Timeout`] (the message may or may not have been handled), one that could not even be
/// sent is [`Error::Unreachable`], and one the target node refused is [`Error::Rejected`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// No reply arrived before the deadline. The request may still have been handled.
    #[error("call to {target} timed out after {after:?}")]
    Timeout {
        /// The actor that was called.
        target: ActorPath,
        /// The deadline that passed.
        after: Duration,
    },
    /// The message could not be handed to the target (no such node, the actor is gone, or the
    /// sending node itself has crashed).
    #[error("{target} is unreachable: {reason}")]
    Unreachable {
        /// The actor that was addressed.
        target: ActorPath,
        /// Why it could not be reached.
        reason: String,
    },
    /// The target node received the message and refused it.
    #[error("{target} refused {kind}: {rejection}")]
    Rejected {
        /// The actor that was addressed.
        target: ActorPath,
        /// The message kind (its wire tag).
        kind: String,
        /// What the target node said.
        rejection: Rejection,
    },
    /// A value could not be encoded, or a reply could not be decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// A persister failed to read or write.
    #[error("persister error: {0}")]
    Persist(String),
    /// A durable log is damaged before its tail: the node must not start on it.
    #[error("{path}: corrupt record at byte {offset} with more records after it ({detail}); refusing to start: restore this node's data from a replica")]
    CorruptLog {
        /// The damaged file.
        path: String,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// A peer connection was refused during the handshake, or refused us.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// A TLS setup could not be built, or a TLS handshake failed.
    #[error("tls: {0}")]
    Tls(String),
    /// A name was registered twice on one node.
    #[error("the name `{0}` is already registered on this node")]
    NameTaken(String),
    /// A line of a history file is not an operation.
    #[error("history line {line}: {reason}")]
    BadHistory {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// A `wait_until` predicate did not hold by its virtual deadline.
    #[error("condition `{what}` still false after {after:?} of virtual time")]
    WaitTimedOut {
        /// What was waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// A setting was refused: it cannot be honoured as given.
    #[error("bad setting: {0}")]
    BadSetting(String),
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;
