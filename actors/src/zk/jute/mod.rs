//! ZooKeeper's wire protocol: jute records in length-prefixed frames (the 4-byte big-endian
//! length is tokio-util's `LengthDelimitedCodec`; these modules handle what is inside). Both
//! directions are here, the server's (decode requests, encode replies and notifications) and
//! the client's (encode requests, decode replies), so that troupe's load generator speaks the
//! same protocol as kazoo and zkCli, and every record round-trips in the tests.
//!
//! - [`codec`]: jute's primitives (`int`, `long`, `boolean`, `buffer`, `ustring`, `vector`,
//!   and `Stat`).
//! - [`connect`]: the handshake (ConnectRequest and ConnectResponse).
//! - [`request`]: a request after the handshake: its header (xid, opcode) and record.
//! - [`reply`]: a reply (header: xid, zxid, error) and its record, and watch notifications.

pub mod codec;
pub mod connect;
pub mod reply;
pub mod request;

/// What is wrong with a frame. The server closes the connection it came on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    /// The frame ended inside a record.
    #[error("the frame ends inside a record")]
    Truncated,
    /// A length beyond jute's limit.
    #[error("a length of {0} bytes, beyond the limit")]
    TooLong(usize),
    /// A record that cannot be what it claims.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// ZooKeeper's opcodes.
pub mod opcode {
    #![allow(missing_docs)]
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// The xids ZooKeeper reserves: a notification's, a ping's, an auth packet's, setWatches'.
pub mod xid {
    #![allow(missing_docs)]
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}
