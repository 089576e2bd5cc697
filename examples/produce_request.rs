//! Builds a Produce request carrying one zstd-compressed record batch and
//! prints its size: the codec without any I/O.
//!
//! `cargo run --example produce_request`

use ferrokafka::protocol::bytes::{Bytes, BytesMut};
use ferrokafka::protocol::compression::Compression;
use ferrokafka::protocol::header::{encode_request_frame, RequestHeader};
use ferrokafka::protocol::messages::{produce_request, ProduceRequest};
use ferrokafka::protocol::records::RecordBatch;
use ferrokafka::protocol::{ApiKey, RequestBody};

fn main() {
    let mut batch = RecordBatch::from_records((0..100).map(|i| {
        (1_700_000_000_000 + i, Some(Bytes::from(format!("k{i}"))), Some(Bytes::from(format!("value {i}"))), Vec::new())
    }));
    batch.set_compression(Compression::Zstd);
    let mut records = BytesMut::new();
    batch.encode(&mut records, None).expect("encode batch");

    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce_request::TopicProduceData {
            name: "example".into(),
            partition_data: vec![produce_request::PartitionProduceData {
                index: 0,
                records: Some(records.freeze()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let header = RequestHeader {
        api_key: ApiKey::Produce as i16,
        api_version: 11,
        correlation_id: 1,
        client_id: Some("example".into()),
        ..Default::default()
    };
    let mut frame = BytesMut::new();
    encode_request_frame(&header, &body, &mut frame).expect("encode request");
    println!("Produce v11 frame with 100 zstd records: {} bytes", frame.len());
}
