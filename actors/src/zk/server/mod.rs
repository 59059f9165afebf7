//! A ZooKeeper server: its decisions ([`core`]) and how it answers ([`answers`]).

pub mod answers;
pub mod core;
