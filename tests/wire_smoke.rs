//! Wire smoke test over a plain TCP socket, using only `ferrokafka-protocol`:
//! ApiVersions (and per-API version choice), CreateTopics, Metadata, then for
//! every codec a Produce of a compressed batch and a Fetch of it, records
//! compared field by field.
//!
//! Runs against the broker in `FERROKAFKA_TEST_BOOTSTRAP` (the test command
//! starts Tansu and sets it) and, always, against the mock cluster.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::messages::{
    create_topics_request, metadata_request, produce_request,
    CreateTopicsRequest, MetadataRequest, ProduceRequest,
};
use ferrokafka_protocol::records::{Batch, DecodeLimits, RecordBatch, RecordHeader, RecordSet};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

#[path = "support/wire.rs"]
mod wire;
use wire::{fetch_one, Conn};

fn sample_batch(codec: Compression, n: usize) -> RecordBatch {
    let mut b = RecordBatch::from_records((0..n).map(|i| {
        (
            1_700_000_000_000 + i as i64,
            Some(Bytes::from(format!("key-{i}"))),
            Some(Bytes::from(format!("{}-value-{i}-{}", codec.name(), "x".repeat(i * 7)))),
            vec![RecordHeader::new("codec", Some(Bytes::from(codec.name()))), RecordHeader::new("idx", Some(Bytes::from(i.to_string())))],
        )
    }));
    b.set_compression(codec);
    b
}

#[test]
fn produce_and_fetch_every_codec_against_the_configured_broker() {
    let Ok(addr) = std::env::var("FERROKAFKA_TEST_BOOTSTRAP") else {
        eprintln!("NOTICE: FERROKAFKA_TEST_BOOTSTRAP is not set; only the mock cluster is tested");
        return;
    };
    smoke(addr.split(',').next().unwrap());
}

#[test]
fn produce_and_fetch_every_codec_against_the_mock_cluster() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt.block_on(ferrokafka_mock::MockCluster::start(Default::default())).unwrap();
    let addr = cluster.bootstrap().split(',').next().unwrap().to_string();
    // The mock runs on the runtime's worker threads while this blocking
    // test talks to it.
    smoke(&addr);
    drop(cluster);
}

fn smoke(addr: &str) {
    let mut conn = Conn::connect(addr).unwrap();
    let topic = format!("ferrokafka-smoke-{}", std::process::id());

    let create = CreateTopicsRequest {
        topics: vec![create_topics_request::CreatableTopic {
            name: topic.clone(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    };
    let ResponseBody::CreateTopics(created) = conn.call(RequestBody::CreateTopics(create)).unwrap() else { unreachable!() };
    let code = ErrorCode(created.topics[0].error_code);
    assert!(code == ErrorCode::NONE || code == ErrorCode::TOPIC_ALREADY_EXISTS, "create: {code}");

    // Wait for a leader (a real cluster elects one asynchronously).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (leader, topic_id) = loop {
        let md = MetadataRequest {
            topics: Some(vec![metadata_request::MetadataRequestTopic { name: Some(topic.clone()), ..Default::default() }]),
            ..Default::default()
        };
        let ResponseBody::Metadata(md) = conn.call(RequestBody::Metadata(md)).unwrap() else { unreachable!() };
        let t = &md.topics[0];
        if t.error_code == 0 && t.partitions.first().is_some_and(|p| p.leader_id >= 0) {
            let leader = t.partitions[0].leader_id;
            let b = md.brokers.iter().find(|b| b.node_id == leader).expect("leader is a listed broker");
            break (format!("{}:{}", b.host, b.port), t.topic_id);
        }
        assert!(Instant::now() < deadline, "no leader for {topic}: {t:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut conn = Conn::connect(&leader).unwrap();

    for codec in Compression::ALL {
        let batch = sample_batch(codec, 25);
        let mut records = BytesMut::new();
        batch.encode(&mut records, None).unwrap();
        let produce = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![produce_request::TopicProduceData {
                name: topic.clone(),
                partition_data: vec![produce_request::PartitionProduceData { index: 0, records: Some(records.freeze()), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let ResponseBody::Produce(resp) = conn.call(RequestBody::Produce(produce)).unwrap() else { unreachable!() };
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(ErrorCode(p.error_code), ErrorCode::NONE, "{codec:?} produce");
        let base = p.base_offset;
        assert!(base >= 0);

        let topic_id = if conn.version(ApiKey::Fetch).unwrap() >= 13 { topic_id } else { Uuid::ZERO };
        let fetch = fetch_one(&topic, topic_id, 0, base, 1000, 10 << 20, 10 << 20);
        let ResponseBody::Fetch(resp) = conn.call(RequestBody::Fetch(fetch)).unwrap() else { unreachable!() };
        let part = &resp.responses[0].partitions[0];
        assert_eq!(ErrorCode(part.error_code), ErrorCode::NONE, "{codec:?} fetch");
        let set = RecordSet::parse(part.records.clone().unwrap_or_default(), &DecodeLimits::default()).unwrap();
        let Some(Batch::V2(got)) = set.batches.iter().find(|b| matches!(b, Batch::V2(b) if b.base_offset == base)) else {
            panic!("{codec:?}: batch at offset {base} not fetched: {:?}", set.batches.len());
        };
        assert_eq!(got.compression().unwrap(), codec, "stored with the codec it was sent with");
        assert_eq!(got.records.len(), batch.records.len());
        for (a, b) in got.records.iter().zip(batch.records.iter()) {
            assert_eq!((&a.key, &a.value, &a.headers, a.offset_delta), (&b.key, &b.value, &b.headers, b.offset_delta), "{codec:?}");
            assert_eq!(got.timestamp_of(a), batch.timestamp_of(b));
        }
    }
}
