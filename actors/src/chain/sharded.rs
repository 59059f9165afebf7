//! Several chains over the same servers, with the keys sharded across them, as the lecture
//! notes put it: with servers S1, S2, S3, chain 0 is S1->S2->S3, chain 1 is S2->S3->S1 and
//! chain 2 is S3->S1->S2. Every server is head of one chain, tail of another and in the middle
//! of the third, so reads (at the tails, in plain chain replication) and writes (at the heads)
//! spread over all of them.

use super::clerk::ChainClerk;
use crate::client::{KvClient, Outcome};
use std::time::Duration;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

/// The initial node order of each of `chains` chains over `servers`: chain `i` starts at
/// server `i` (modulo their number) and takes the others in order.
pub fn rotations(servers: &[NodeId], chains: usize) -> Vec<Vec<NodeId>> {
    (0..chains)
        .map(|i| {
            let mut order = servers.to_vec();
            if !order.is_empty() {
                order.rotate_left(i % servers.len());
            }
            order
        })
        .collect()
}

/// The chain that holds `key`, of `chains` (FNV-1a of the key: stable across processes and
/// versions, unlike the standard library's hasher).
pub fn shard_of(key: &str, chains: usize) -> usize {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % chains.max(1) as u64) as usize
}

/// A client of a sharded store: one [`ChainClerk`] per chain, each operation sent to the chain
/// its key belongs to.
pub struct ShardedClerk {
    clerks: Vec<ChainClerk>,
}

impl ShardedClerk {
    /// A client over `clerks`, the clerk of chain `i` at index `i`.
    pub fn new(clerks: Vec<ChainClerk>) -> Self {
        ShardedClerk { clerks }
    }

    /// Runs `op` on its key's chain until it is done or `deadline` has passed.
    pub async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        let key = super::store::key_of(&op);
        let shard = shard_of(key, self.clerks.len());
        match self.clerks.get_mut(shard) {
            Some(clerk) => clerk.run(op, deadline).await,
            None => Outcome::NotApplied,
        }
    }
}

impl KvClient for ShardedClerk {
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        ShardedClerk::run(self, op, deadline).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_heads_one_chain_and_the_keys_spread() {
        let servers = [NodeId(1), NodeId(2), NodeId(3)];
        let chains = rotations(&servers, 3);
        assert_eq!(chains[1], vec![NodeId(2), NodeId(3), NodeId(1)]);
        assert_eq!(chains[2], vec![NodeId(3), NodeId(1), NodeId(2)]);
        let mut per_chain = [0; 3];
        for k in 0..300 {
            per_chain[shard_of(&format!("k{k}"), 3)] += 1;
        }
        assert!(per_chain.iter().all(|&n| n > 60), "{per_chain:?}");
        assert_eq!(shard_of("k7", 3), shard_of("k7", 3));
    }
}
