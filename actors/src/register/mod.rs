//! The register service: one durable server holding a map of named registers (put and get),
//! under a supervisor that restarts it from its persister, and clients that retry with (client
//! id, sequence number) so that a retried put takes effect once.
//!
//! It is not replicated: while its one server is down, nobody is served. It exists to show the
//! layers every troupe system has, each small enough to read at once (docs/adding-a-system.md):
//! the wire types (`troupe_messages::register`), a plain [`core`] that makes every decision,
//! the [`server`] actor that feeds it and makes its puts durable, and the [`client`].

pub mod client;
pub mod core;
pub mod server;

pub use self::client::RegisterClient;
pub use self::core::{RegisterCore, Step};
pub use self::server::RegisterServer;
