//! A ZooKeeper server: its decisions ([`core`]), how it answers ([`answers`]), the actor that
//! runs it over Raft ([`actor`]), and its client port for ZooKeeper's own clients ([`tcp`]).

pub mod actor;
pub mod answers;
pub mod core;
pub mod tcp;
