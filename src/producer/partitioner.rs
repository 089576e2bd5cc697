//! Choosing a partition: murmur2 of the key exactly as the Java client
//! computes it (so keyed records land where Java producers put them), the
//! uniform sticky partitioner for keyless records (KIP-480 / KIP-794),
//! explicit partitions, or a custom [`Partitioner`].

use std::collections::HashMap;

use crate::cluster::TopicMeta;

/// A user-supplied partitioner.
pub trait Partitioner: Send + Sync {
    /// The partition for a record with `key` on `topic`, which has
    /// `partitions` partitions (always > 0). Out-of-range answers are
    /// reduced modulo `partitions`.
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: i32) -> i32;
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    // Java's switch falls through from the highest remaining byte down.
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's partition for a key: `toPositive(murmur2(key)) % n`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// The uniform sticky partitioner's per-topic state: keyless records stick
/// to one partition until about `batch.size` bytes went to it (KIP-794),
/// then move to another partition that has a leader.
#[derive(Default)]
pub(crate) struct Sticky {
    current: HashMap<String, (i32, usize)>,
    seed: u64,
}

impl Sticky {
    fn next_random(&mut self) -> u64 {
        // xorshift; seeded from the clock on first use.
        if self.seed == 0 {
            self.seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// The partition for the next keyless record of `size` bytes of
    /// `topic`, whose metadata is `meta` (partitions with a leader are
    /// preferred).
    pub fn partition(&mut self, topic: &str, size: usize, meta: &TopicMeta, batch_size: usize) -> i32 {
        let partitions = meta.partitions.len() as i32;
        let has_leader = |p: i32| meta.partitions.get(p as usize).is_some_and(|m| m.leader >= 0);
        let any_leader = meta.partitions.iter().any(|m| m.leader >= 0);
        // The common case allocates nothing: the same partition again.
        if let Some(entry) = self.current.get_mut(topic) {
            if entry.1 < batch_size && entry.0 < partitions && (!any_leader || has_leader(entry.0)) {
                entry.1 += size;
                return entry.0;
            }
        }
        {
            let old = self.current.get(topic).map(|(p, _)| *p);
            let pool: Vec<i32> = if any_leader { (0..partitions).filter(|p| has_leader(*p)).collect() } else { (0..partitions).collect() };
            let mut pick = pool[(self.next_random() % pool.len() as u64) as usize];
            if pool.len() > 1 && Some(pick) == old {
                let i = pool.iter().position(|p| *p == pick).unwrap_or(0);
                pick = pool[(i + 1) % pool.len()];
            }
            self.current.insert(topic.to_string(), (pick, size));
            pick
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::PartitionMeta;

    #[test]
    fn murmur2_matches_the_java_client() {
        // From Kafka's own UtilsTest.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), *want, "{}", String::from_utf8_lossy(key));
        }
    }

    fn meta(leaders: &[i32]) -> TopicMeta {
        TopicMeta {
            id: Default::default(),
            partitions: leaders.iter().map(|&leader| PartitionMeta { leader, leader_epoch: 0 }).collect(),
        }
    }

    #[test]
    fn sticky_partitions_move_after_a_batch_worth_of_bytes() {
        let mut s = Sticky::default();
        let m = meta(&[1, 1, 1, 1, 1, 1]);
        let first = s.partition("t", 100, &m, 1000);
        for _ in 0..9 {
            assert_eq!(s.partition("t", 100, &m, 1000), first);
        }
        let next = s.partition("t", 100, &m, 1000);
        assert_ne!(next, first, "moves on once batch.size bytes went to it");
        // Only partitions with a leader are chosen.
        let mut s = Sticky::default();
        let m = meta(&[-1, -1, 3, -1]);
        for _ in 0..50 {
            assert_eq!(s.partition("u", 600, &m, 1000), 2);
        }
    }
}
