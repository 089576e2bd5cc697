//! Hostile input (issue 8): lengths and counts that claim more than the
//! bytes hold must not make the decoder allocate far more than it was
//! given, a fetch's compressed batches must not inflate without a total
//! bound, and crafted legacy offsets must give an error, not an overflow.
//!
//! A counting global allocator (this test binary only) records the largest
//! single allocation; each case runs on its own thread-free path, and the
//! tests run one at a time (a lock) so the counts are each case's own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::header::decode_response;
use ferrokafka_protocol::records::{legacy, DecodeLimits, RecordBatch, RecordSet};
use ferrokafka_protocol::ApiKey;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The largest single allocation made while `f` runs.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    let out = f();
    (out, LARGEST.load(Ordering::Relaxed))
}

/// Allowed: a few times the input (decoded values are larger than their
/// encoding, and a vector may double once) plus a little.
fn bound(input: usize) -> usize {
    4 * input + 64 * 1024
}

#[test]
fn an_array_count_claiming_every_byte_does_not_allocate_structs_for_each() {
    // Metadata response v1: correlation id, then the brokers array whose
    // count claims one broker per remaining byte; the bytes are junk that
    // fails on the first broker (a null host), so any large allocation can
    // only be pre-allocation.
    const N: usize = 1 << 20;
    let mut frame = BytesMut::new();
    frame.put_i32(7);
    frame.put_i32(N as i32);
    frame.put_bytes(0xff, N);
    let input = frame.len();
    let (result, largest) = largest_allocation(|| decode_response(ApiKey::Metadata, 1, frame.freeze()));
    assert!(result.is_err());
    assert!(largest <= bound(input), "one allocation of {largest} bytes for {input} bytes of input ({}x)", largest / input);
}

#[test]
fn a_record_count_claiming_every_byte_does_not_reserve_records_for_each() {
    // A valid batch header claiming as many records as the bytes could
    // hold at the minimum record size, followed by junk.
    let mut batch = BytesMut::new();
    RecordBatch::from_records([(0, None, Some(Bytes::from_static(b"v")), Vec::new())]).encode(&mut batch, None).unwrap();
    let junk = 1 << 20;
    batch.put_bytes(0x7f, junk);
    // Patch the length and the record count (offset 57), no CRC check.
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let count = (junk / 7) as i32;
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    let input = batch.len();
    let limits = DecodeLimits { verify_crc: false, ..Default::default() };
    let (result, largest) = largest_allocation(|| RecordBatch::decode(batch.freeze(), &limits));
    assert!(result.is_err());
    assert!(largest <= bound(input), "one allocation of {largest} bytes for {input} bytes of input ({}x)", largest / input);
}

#[test]
fn a_fetch_of_many_small_compressed_batches_is_bounded_in_total() {
    // 20 gzip batches, each inflating to 1 MiB (well under the per-batch
    // limit), in a few kilobytes, against a total of 16 MiB; without a
    // total bound they all inflate (300 such batches, 300 MiB, did before
    // the bound existed).
    let mut set = BytesMut::new();
    let value = Bytes::from(vec![0u8; 1 << 20]);
    for _ in 0..20 {
        let mut b = RecordBatch::from_records([(0, None, Some(value.clone()), Vec::new())]);
        b.set_compression(Compression::Gzip);
        b.encode(&mut set, None).unwrap();
    }
    assert!(DecodeLimits::default().max_decompressed_total <= 256 << 20, "a finite default total");
    let limits = DecodeLimits { max_decompressed_total: 16 << 20, ..Default::default() };
    let err = match RecordSet::parse(set.clone().freeze(), &limits) {
        Ok(s) => panic!("{} batches, 20 MiB, inflated past a 16 MiB total", s.batches.len()),
        Err(e) => e,
    };
    assert!(err.to_string().contains("total"), "the error names the total bound: {err}");
    // Under the total, the same data parses.
    let roomy = DecodeLimits { max_decompressed_total: 32 << 20, ..Default::default() };
    assert_eq!(RecordSet::parse(set.freeze(), &roomy).unwrap().batches.len(), 20);
}

/// A legacy (magic 1) message set, CRCs unchecked.
fn legacy_message(offset: i64, attributes: i8, value: &[u8]) -> BytesMut {
    let mut m = BytesMut::new();
    m.put_i64(offset);
    m.put_i32((4 + 1 + 1 + 8 + 4 + 4 + value.len()) as i32);
    m.put_u32(0);
    m.put_i8(1);
    m.put_i8(attributes);
    m.put_i64(0);
    m.put_i32(-1);
    m.put_i32(value.len() as i32);
    m.put_slice(value);
    m
}

#[test]
fn crafted_legacy_offsets_are_an_error_not_an_overflow() {
    // An inner message with the largest relative offset inside a wrapper
    // whose offset is the smallest: the absolute offset overflows i64.
    let inner = legacy_message(i64::MAX, 0, b"x");
    let mut compressed = BytesMut::new();
    Compression::Gzip.compress(&inner, None, &mut compressed).unwrap();
    let wrapper = legacy_message(i64::MIN, 1, &compressed);
    let limits = DecodeLimits { verify_crc: false, ..Default::default() };
    let r = std::panic::catch_unwind(|| legacy::decode_entry(wrapper.freeze(), &limits));
    match r {
        Ok(Err(_)) => {}
        Ok(Ok(m)) => panic!("decoded {} messages", m.len()),
        Err(_) => panic!("the decoder panicked"),
    }
}

/// Found by the fuzzers with `-malloc_limit_mb=32` (zstd's own C
/// allocations, which the counting allocator above cannot see): frames
/// declaring a huge window made the decoder allocate it (101 MB and 67 MB)
/// although at most 1 MiB of output was allowed. They were errors before
/// too (after the allocation), so this guards the outcome; the test that
/// fails without the window bound is in `compression/zstd.rs`.
#[test]
fn fuzz_finds_with_huge_zstd_windows_are_refused() {
    let frame = include_bytes!("data/fuzz/zstd-window-decompress.bin");
    assert!(Compression::Zstd.decompress(&frame[1..], 1 << 20).is_err());
    let set = include_bytes!("data/fuzz/zstd-window-record-set.bin");
    let limits = DecodeLimits { max_decompressed: 1 << 20, max_decompressed_total: 4 << 20, verify_crc: false };
    assert!(RecordSet::parse(Bytes::from_static(set), &limits).is_err());
}

/// Inflating exactly up to the limit must not allocate twice the limit (a
/// full buffer doubled only to learn the stream had ended).
#[test]
fn inflating_to_the_limit_allocates_about_the_limit() {
    let data = vec![0u8; 8 << 20];
    for codec in [Compression::Gzip, Compression::Lz4] {
        let mut compressed = BytesMut::new();
        codec.compress(&data, None, &mut compressed).unwrap();
        let (out, largest) = largest_allocation(|| codec.decompress(&compressed, 8 << 20));
        assert_eq!(out.unwrap().len(), 8 << 20);
        assert!(largest <= (8 << 20) + 64 * 1024, "{codec:?}: one allocation of {largest} bytes for 8 MiB out");
    }
}
