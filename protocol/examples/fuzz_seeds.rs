//! Writes the fuzz seed corpus from the captured Kafka frames:
//! `cargo run -p ferrokafka-protocol --example fuzz_seeds -- fuzz/corpus`.

use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::header::{decode_response, Request};
use ferrokafka_protocol::records::{Batch, DecodeLimits, RecordBatch, RecordSet};
use ferrokafka_protocol::wire::Reader;
use ferrokafka_protocol::{ApiKey, RequestBody, ResponseBody};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let captures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    let write = |target: &str, name: String, data: &[u8]| {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let mut n = 0;
    for scenario in std::fs::read_dir(&captures).unwrap() {
        for file in std::fs::read_dir(scenario.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".bin") else { continue };
            let parts: Vec<&str> = stem.split('-').collect();
            let api = ApiKey::ALL.iter().position(|k| k.name() == parts[1]).unwrap();
            let version: i16 = parts[2][1..].parse().unwrap();
            let bytes = Bytes::from(std::fs::read(&path).unwrap());
            let mut records = Vec::new();
            if parts[3] == "req" {
                write("decode_request", name.clone(), &bytes);
                if let Ok(Request { body: RequestBody::Produce(p), .. }) = Request::decode_prefix(&mut Reader::new(bytes.clone())) {
                    records.extend(p.topic_data.into_iter().flat_map(|t| t.partition_data).filter_map(|p| p.records));
                }
            } else {
                let (min, max) = ApiKey::ALL[api].versions();
                if version < min || version > max {
                    continue;
                }
                let mut seed = vec![api as u8, (version - min) as u8];
                seed.extend_from_slice(&bytes);
                write("decode_response", name.clone(), &seed);
                if let Ok((_, ResponseBody::Fetch(f))) = decode_response(ApiKey::ALL[api], version, bytes.clone()) {
                    records.extend(f.responses.into_iter().flat_map(|t| t.partitions).filter_map(|p| p.records));
                }
            }
            for (i, r) in records.into_iter().enumerate() {
                if r.is_empty() {
                    continue;
                }
                write("record_set", format!("{stem}-{i}"), &r);
                if let Ok(set) = RecordSet::parse(r, &DecodeLimits::default()) {
                    for (j, b) in set.batches.iter().enumerate() {
                        if let Batch::V2(b) = b {
                            compressed_seed(b, &mut |codec, data| {
                                let mut s = BytesMut::new();
                                s.put_u8(codec);
                                s.put_slice(data);
                                write("decompress", format!("{stem}-{i}-{j}"), &s);
                            });
                        }
                    }
                }
            }
            n += 1;
        }
    }
    println!("wrote seeds from {n} frames to {}", out.display());
}

/// The compressed payload of a batch, re-made with its own codec.
fn compressed_seed(b: &RecordBatch, emit: &mut dyn FnMut(u8, &[u8])) {
    let codec = b.compression().unwrap();
    if codec == Compression::None {
        return;
    }
    let mut raw = BytesMut::new();
    for r in &b.records {
        r.encode(&mut raw).unwrap();
    }
    let mut out = BytesMut::new();
    codec.compress(&raw, None, &mut out).unwrap();
    emit((codec.id() - 1) as u8, &out);
}
