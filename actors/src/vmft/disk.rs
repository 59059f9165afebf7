//! The VM's virtual disk on the shared storage: each block is a key of troupe's Raft key-value
//! service, so the primary and a backup that goes live see the same disk. A request completes
//! asynchronously; its completion reaches the VM as an interrupt, through the log like every
//! other event.

use super::record::disk_key;
use super::vm::{DiskRequest, Interrupt, BLOCK_SIZE};
use crate::client::Outcome;
use crate::kv::clerk::Clerk;
use std::time::Duration;
use troupe_messages::kv::KvOp;

/// How long one try of a disk request may take before it is tried again.
const TRY: Duration = Duration::from_secs(1);

/// Carries out `request` (tag `tag`) on VM `vm`'s disk, trying until it succeeds (a disk
/// request does not fail; it waits for the storage), and returns its completion.
pub async fn perform(clerk: &mut Clerk, vm: &str, tag: u64, request: DiskRequest) -> Interrupt {
    match request {
        DiskRequest::Read { block } => {
            let get = KvOp::Get {
                key: disk_key(vm, block),
            };
            loop {
                if let Outcome::Done(value) = clerk.run(get.clone(), TRY).await {
                    let data = decode_block(value.as_deref().unwrap_or(""));
                    return Interrupt::DiskRead { tag, data };
                }
            }
        }
        DiskRequest::Write { block, data } => {
            // A write is idempotent: trying it again, here or after a go-live, is harmless.
            let put = KvOp::Put {
                key: disk_key(vm, block),
                value: encode_block(&data),
            };
            loop {
                if let Outcome::Done(_) = clerk.run(put.clone(), TRY).await {
                    return Interrupt::DiskWrite { tag };
                }
            }
        }
    }
}

/// A block as stored: lowercase hex.
pub fn encode_block(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored block, zero-filled to `BLOCK_SIZE` (a block never written, or malformed, reads as
/// zeros).
pub fn decode_block(text: &str) -> Vec<u8> {
    let mut data: Vec<u8> = (0..text.len() / 2)
        .map_while(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    data.resize(BLOCK_SIZE, 0);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_as_written() {
        let mut block = vec![0u8; BLOCK_SIZE];
        block[0] = 0xab;
        block[BLOCK_SIZE - 1] = 7;
        assert_eq!(decode_block(&encode_block(&block)), block);
        assert_eq!(decode_block(""), vec![0u8; BLOCK_SIZE]);
    }
}
