//! A small deterministic random source for the generated `random`
//! constructors, used by property tests, fuzz seeds and benchmarks.

use bytes::Bytes;

use crate::wire::{RawTaggedField, Uuid};

/// A seeded xorshift generator: the same seed gives the same messages.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits (splitmix64).
    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.u64() % n.max(1)
    }

    /// A coin flip.
    pub fn bool(&mut self) -> bool {
        self.u64() & 1 == 1
    }

    /// A finite float.
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64 * 1e6
    }

    /// A random UUID.
    pub fn uuid(&mut self) -> Uuid {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.u64().to_be_bytes());
        a[8..].copy_from_slice(&self.u64().to_be_bytes());
        Uuid(a)
    }

    /// A short string, sometimes with non-ASCII characters.
    pub fn string(&mut self) -> String {
        let n = self.below(12) as usize;
        (0..n)
            .map(|_| match self.below(20) {
                0 => 'é',
                1 => '✓',
                _ => (b'a' + self.below(26) as u8) as char,
            })
            .collect()
    }

    /// A short byte string.
    pub fn bytes(&mut self) -> Bytes {
        let n = self.below(24) as usize;
        (0..n).map(|_| self.u64() as u8).collect::<Vec<u8>>().into()
    }

    /// Sometimes a few tagged fields with tags no schema uses, ascending.
    pub fn unknown_tags(&mut self) -> Vec<RawTaggedField> {
        if self.below(4) != 0 {
            return Vec::new();
        }
        let mut tag = 100 + self.below(50) as u32;
        (0..1 + self.below(2))
            .map(|_| {
                tag += 1 + self.below(1000) as u32;
                RawTaggedField { tag, data: self.bytes() }
            })
            .collect()
    }
}
