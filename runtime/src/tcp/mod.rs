//! troupe's TCP network layer: length-delimited frames with a maximum size, the handshake that
//! authenticates a peer (or a client) before anything it sends is delivered, the peer network
//! of real nodes, and the client port.

pub mod clients;
pub mod frames;
pub mod handshake;
pub mod net;
pub mod tls;
