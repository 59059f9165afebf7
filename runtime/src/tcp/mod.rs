//! The pieces of troupe's TCP network layer: length-delimited frames with a maximum size, and
//! the handshake that authenticates a peer before anything it sends is delivered.

pub mod frames;
pub mod handshake;
pub mod net;
