//! The echo protocol of the tutorial (`examples/echo.rs`, `docs/guide.md`).

use crate::Wire;
use serde::{Deserialize, Serialize};

/// Ask for the text back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "String")]
pub struct Echo(pub String);

impl Wire for Echo {
    const TAG: &'static str = "echo.echo";
}

/// A one-way note; the echo actor counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Note(pub String);

impl Wire for Note {
    const TAG: &'static str = "echo.note";
}

/// How many notes has the echo actor seen?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct NotesSeen;

impl Wire for NotesSeen {
    const TAG: &'static str = "echo.notes_seen";
}
