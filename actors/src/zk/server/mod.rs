//! A ZooKeeper server: its decisions ([`core`]), how it answers ([`answers`]), the actor that
//! runs it over Raft ([`actor`]), its client port for ZooKeeper's own clients ([`tcp`]), and
//! connections over troupe's network for clients on simulated nodes ([`net_port`]).

pub mod actor;
pub mod answers;
pub mod core;
pub mod net_port;
pub mod tcp;
