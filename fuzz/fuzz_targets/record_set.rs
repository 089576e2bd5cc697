//! A `records` field: v2 batches or legacy message sets, compressed or not.
#![no_main]
use bytes::Bytes;
use ferrokafka_protocol::records::{DecodeLimits, RecordSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // CRC checks off, so the fuzzer can reach past them.
    let limits = DecodeLimits { max_decompressed: 1 << 20, max_decompressed_total: 4 << 20, verify_crc: false };
    let _ = RecordSet::parse(Bytes::copy_from_slice(data), &limits);
});
