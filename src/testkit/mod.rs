//! The test kit for whole systems: the runtime's kit (simulated clusters, seeds, replay
//! hints) together with the client workloads that drive a system and record its history.
//!
//! - [`troupe_runtime::testkit`], re-exported here: [`Cluster`], [`simulate`] and the rest.
//! - [`workload`]: random key-value operations from many clients, each recorded for the
//!   linearizability checker, and the final checks of a run.
//! - [`register`]: the final reads of the register service, and its history for the register
//!   model.

pub mod register;
pub mod workload;

pub use troupe_runtime::testkit::*;

use rand::{Rng, SeedableRng};
use troupe_messages::ClientId;

/// The client id of client number `n` of a run with `seed`: a random UUID, drawn from a
/// stream of the seed of its own, so that a run replays with the same ids.
pub fn client_id(seed: u64, n: u64) -> ClientId {
    let stream = troupe_runtime::derive_seed(0x636c_6965_6e74, n); // "client"
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(troupe_runtime::derive_seed(seed, stream));
    ClientId::from_random_bytes(rng.gen())
}
