//! The runtime's error type.
//!
//! Variants that wrap a lower-level failure (a file system call, the codec, TLS) keep that
//! error whole, as a [`Cause`], rather than its text: a caller can look at it
//! ([`Cause::downcast_ref`], e.g. for an [`std::io::ErrorKind`]). The variant's message ends
//! with the cause's, so a one-line `{e}` in a log says everything; for the same reason
//! `std::error::Error::source` is not set to it, so that chain printers (anyhow's `{:#}`) do not
//! repeat it.

use std::sync::Arc;
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
    #[error("codec error: cannot {action}: {cause}")]
    Codec {
        /// `encode` or `decode`.
        action: &'static str,
        /// The codec's error.
        cause: Cause,
    },
    /// A persister failed to read or write.
    #[error("persister error: {context}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Persist {
        /// What was being done, and where.
        context: String,
        /// The failure beneath, if one caused it.
        cause: Option<Cause>,
    },
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
    #[error("tls: {context}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Tls {
        /// What was being done.
        context: String,
        /// The failure beneath, if one caused it.
        cause: Option<Cause>,
    },
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
    #[error("i/o error: {context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The file system's error.
        cause: Cause,
    },
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

impl Error {
    /// The lower-level error this one wraps, if any.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::Codec { cause, .. } | Error::Io { cause, .. } => Some(cause),
            Error::Persist { cause, .. } | Error::Tls { cause, .. } => cause.as_ref(),
            _ => None,
        }
    }

    /// A persister failure: `context` (what was being done, and where) because of `cause`.
    pub fn persist(
        context: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Persist {
            context: context.into(),
            cause: Some(Cause::new(cause)),
        }
    }
}

/// An error beneath a runtime [`Error`], kept whole and shared (so that `Error` stays `Clone`).
/// Two causes are equal when they say the same.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(error))
    }

    /// The error, as its own type if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The error.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;
