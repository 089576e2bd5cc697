//! Codec benchmarks: encode and decode of a 1,000-record batch of 100-byte
//! values with each codec, decode of a whole Fetch response carrying it,
//! and CRC-32C. Run with `cargo bench --bench codec`; numbers go in
//! `benches/README.md`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::records::{BatchView, DecodeLimits, RecordBatch, RecordHeader, RecordSet};

const RECORDS: usize = 1000;
const VALUE: usize = 100;

/// 1,000 records: 8-byte keys, 100-byte values of semi-random text (so the
/// codecs have something realistic to do), one header each.
fn batch(codec: Compression) -> RecordBatch {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let words: [&[u8]; 8] = [b"order ", b"user ", b"amount ", b"EUR ", b"status ", b"paid ", b"42 ", b"ok "];
    let mut b = RecordBatch::from_records((0..RECORDS).map(|i| {
        let mut v = Vec::with_capacity(VALUE);
        while v.len() < VALUE {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.extend_from_slice(words[(seed % 8) as usize]);
        }
        v.truncate(VALUE);
        (
            1_700_000_000_000 + i as i64,
            Some(Bytes::from(format!("key{:05}", i))),
            Some(Bytes::from(v)),
            vec![RecordHeader::new("src", Some(Bytes::from_static(b"bench")))],
        )
    }));
    b.producer_id = 1000;
    b.producer_epoch = 0;
    b.base_sequence = 0;
    b.set_compression(codec);
    b
}

fn encode_decode(c: &mut Criterion) {
    let mut enc = c.benchmark_group("batch_encode_1000x100B");
    enc.throughput(Throughput::Elements(RECORDS as u64));
    for codec in Compression::ALL {
        let b = batch(codec);
        let mut buf = BytesMut::with_capacity(256 * 1024);
        enc.bench_with_input(BenchmarkId::from_parameter(codec.name()), &b, |bench, b| {
            bench.iter(|| {
                buf.clear();
                b.encode(&mut buf, None).unwrap();
                black_box(buf.len())
            })
        });
    }
    enc.finish();

    let mut dec = c.benchmark_group("batch_decode_1000x100B");
    dec.throughput(Throughput::Elements(RECORDS as u64));
    let limits = DecodeLimits::default();
    for codec in Compression::ALL {
        let mut buf = BytesMut::new();
        batch(codec).encode(&mut buf, None).unwrap();
        let encoded = buf.freeze();
        eprintln!("{}: encoded batch is {} bytes", codec.name(), encoded.len());
        dec.bench_with_input(BenchmarkId::from_parameter(codec.name()), &encoded, |bench, e| {
            bench.iter(|| black_box(RecordSet::parse(e.clone(), &limits).unwrap().batches.len()))
        });
    }
    dec.finish();

    // The consumer's path: open the batch once, then read every record
    // lazily (key, value and headers touched) without owning them.
    let mut view = c.benchmark_group("batch_view_1000x100B");
    view.throughput(Throughput::Elements(RECORDS as u64));
    for codec in Compression::ALL {
        let mut buf = BytesMut::new();
        batch(codec).encode(&mut buf, None).unwrap();
        let encoded = buf.freeze();
        view.bench_with_input(BenchmarkId::from_parameter(codec.name()), &encoded, |bench, e| {
            bench.iter(|| {
                let v = BatchView::parse(e.clone(), &limits).unwrap();
                let mut n = 0usize;
                for r in v.records() {
                    let r = r.unwrap();
                    n += r.key().map_or(0, |k| k.len()) + r.value().map_or(0, |v| v.len());
                    n += r.headers().map(|(k, v)| k.len() + v.map_or(0, |v| v.len())).sum::<usize>();
                }
                black_box(n)
            })
        });
    }
    view.finish();
}

fn crc(c: &mut Criterion) {
    let data = vec![0xa5u8; 1 << 20];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MiB", |b| b.iter(|| black_box(crc32c::crc32c(black_box(&data)))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30);
    targets = encode_decode, crc
}
criterion_main!(benches);
