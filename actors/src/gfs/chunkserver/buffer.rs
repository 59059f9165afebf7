//! [`PushBuffer`]: the data pushed to a chunkserver ahead of its mutation (§3.2), kept by its
//! [`DataId`] until a mutation uses it. Bounded by total bytes: a new push evicts the oldest
//! data, so a client that never sent its mutation cannot fill the server's memory.

use std::collections::{BTreeMap, VecDeque};
use troupe_messages::gfs::DataId;

/// Pushed data by name, the oldest evicted first once the total passes the bound.
#[derive(Debug, Clone)]
pub struct PushBuffer {
    capacity: u64,
    total: u64,
    data: BTreeMap<DataId, Vec<u8>>,
    /// Names in the order they arrived (a name pushed again moves to the back).
    order: VecDeque<DataId>,
}

impl PushBuffer {
    /// An empty buffer holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        PushBuffer {
            capacity,
            total: 0,
            data: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Keeps `data` under `id` (replacing what was there), evicting the oldest data until it
    /// fits. False, and nothing kept, if `data` alone is larger than the whole buffer.
    pub fn insert(&mut self, id: DataId, data: Vec<u8>) -> bool {
        let len = data.len() as u64;
        if len > self.capacity {
            return false;
        }
        self.remove(id);
        while self.total + len > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.data.remove(&oldest) {
                self.total -= old.len() as u64;
            }
        }
        self.total += len;
        self.data.insert(id, data);
        self.order.push_back(id);
        true
    }

    /// The data pushed under `id`, if it is still here.
    pub fn get(&self, id: DataId) -> Option<&[u8]> {
        self.data.get(&id).map(Vec::as_slice)
    }

    /// Forgets the data under `id`.
    pub fn remove(&mut self, id: DataId) {
        if let Some(old) = self.data.remove(&id) {
            self.total -= old.len() as u64;
            self.order.retain(|d| *d != id);
        }
    }

    /// The bytes held.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many pushes are held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_messages::ClientId;

    fn id(seq: u64) -> DataId {
        DataId {
            client: ClientId::from(1u64),
            seq,
        }
    }

    #[test]
    fn keeps_data_by_name() {
        let mut b = PushBuffer::new(100);
        assert!(b.insert(id(1), vec![1; 10]));
        assert!(b.insert(id(2), vec![2; 20]));
        assert_eq!(b.get(id(1)), Some(&[1; 10][..]));
        assert_eq!(b.get(id(3)), None);
        assert_eq!(b.total(), 30);
        b.remove(id(1));
        assert_eq!(b.get(id(1)), None);
        assert_eq!((b.total(), b.len()), (20, 1));
    }

    #[test]
    fn evicts_the_oldest_past_its_bound() {
        let mut b = PushBuffer::new(100);
        b.insert(id(1), vec![1; 40]);
        b.insert(id(2), vec![2; 40]);
        b.insert(id(3), vec![3; 40]);
        assert_eq!(b.get(id(1)), None);
        assert!(b.get(id(2)).is_some() && b.get(id(3)).is_some());
        assert_eq!(b.total(), 80);
        // Pushed again, a name is the newest.
        b.insert(id(2), vec![2; 40]);
        b.insert(id(4), vec![4; 30]);
        assert_eq!(b.get(id(3)), None);
        assert!(b.get(id(2)).is_some() && b.get(id(4)).is_some());
        assert!(b.total() <= 100);
    }

    #[test]
    fn refuses_data_larger_than_itself() {
        let mut b = PushBuffer::new(10);
        b.insert(id(1), vec![1; 5]);
        assert!(!b.insert(id(2), vec![2; 11]));
        assert_eq!(b.get(id(1)), Some(&[1; 5][..]));
        assert!(!b.is_empty());
    }
}
