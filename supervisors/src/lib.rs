//! Supervision trees in the manner of Erlang/OTP, on actix.
//!
//! A [`Supervisor`] starts its children from [`ChildSpec`]s (a factory each) and watches them.
//! When one stops, its [`Restart`] policy says whether it should come back, the [`Strategy`] says
//! which siblings go down and come back with it, the restart [`Intensity`] caps how many restarts
//! may happen in a window before the supervisor gives up and escalates to its own parent, and an
//! optional [`Backoff`] spaces the restarts out. A panic in a child's handler is a crash like any
//! other: the runtime reports it and the supervisor restarts the child.
//!
//! The decisions live in [`plan::Planner`], a plain struct that is unit-tested without actors;
//! the [`Supervisor`] actor only feeds it exits and carries out what it decides.

mod error;
pub mod failover;
pub mod plan;
mod spec;
mod supervisor;

pub use error::SupervisorError;
pub use spec::{Backoff, ChildSpec, Intensity, Restart, Strategy, SupervisorSpec};
pub use supervisor::Supervisor;
pub use troupe_messages::supervision::{ChildInfo, WhichChildren};
