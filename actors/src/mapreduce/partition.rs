//! Which reduce bucket an intermediate key belongs to: `hash(key) mod n_reduce`, with the
//! 32-bit FNV-1a hash the 6.824 lab uses (its `ihash`), so that a key's bucket is the same in
//! every worker, process and run.

/// The 32-bit FNV-1a hash of `key`, top bit cleared (non-negative as a signed 32-bit number,
/// as the lab's `ihash` returns it).
pub fn ihash(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & 0x7fff_ffff
}

/// The bucket of `key` among `n_reduce` (at least 1).
pub fn bucket(key: &str, n_reduce: usize) -> usize {
    ihash(key) as usize % n_reduce.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv_1a() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(ihash(""), 0x811c_9dc5 & 0x7fff_ffff);
        assert_eq!(ihash("a"), 0xe40c_292c & 0x7fff_ffff);
        assert_eq!(ihash("foobar"), 0xbf9c_f968 & 0x7fff_ffff);
    }

    #[test]
    fn every_key_lands_in_a_bucket_and_the_buckets_are_used() {
        let mut used = [false; 10];
        for i in 0..1000 {
            let b = bucket(&format!("key{i}"), 10);
            used[b] = true;
        }
        assert!(used.iter().all(|&u| u));
        assert_eq!(bucket("anything", 0), 0);
    }
}
