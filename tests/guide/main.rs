//! The code of docs/guide.md, one module per section, and the checks that keep the guide and
//! docs/adding-a-system.md true to the code. If a module of the guide changes, the guide
//! changes with it: [`excerpts`] fails otherwise.
//!
//! The guide's modules: [`account`] (the messages and the actor), [`calling`] (a call and what
//! its errors mean), [`failure`] (the failure test), [`supervised`] (the account under a
//! supervisor) and [`teller`] (a handler that calls another actor). The checks: [`excerpts`]
//! (every Rust block of both documents is compiled code), [`dependency`] (the guide's
//! Cargo.toml for a new crate) and [`order`] (what the guide shows first). [`register`] holds
//! the failure tests of docs/adding-a-system.md.

mod account;
mod calling;
mod dependency;
mod excerpts;
mod failure;
mod order;
mod register;
mod supervised;
mod teller;
