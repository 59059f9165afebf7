//! Seed mixing: one run's seed split into independent random streams (one per node, per
//! client, per network), so that a run replays from its seed alone. Used by the simulator and
//! by anything that derives its own seeded randomness, in simulation or not.

/// Mixes a seed with a stream number, so that each node and the network draw from their own
/// independent random streams (SplitMix64's finaliser).
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
