//! One connection under faults (issue 8): request timeouts close it,
//! reading goes on while a large request is written, and brokers older
//! than 2.4 (ApiVersions up to v2) can be talked to. The scripted brokers
//! here are raw sockets speaking the protocol crate's codec, so each can
//! misbehave in exactly one way; the rest runs on the mock cluster.

use std::time::Duration;

use ferrokafka::cluster::{Cluster, ClusterConfig};
use ferrokafka::net::{ConnConfig, Connection};
use ferrokafka::producer::ProducerRecord;
use ferrokafka::Error;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{encode_response_frame, Request};
use ferrokafka_protocol::messages::{api_versions_response, metadata_request, metadata_response, MetadataResponse, produce_request, ApiVersionsResponse, MetadataRequest, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/mock_producer.rs"]
mod mock_producer;
use mock_producer::producer;

fn cfg(request_timeout_ms: u64, max_in_flight: usize) -> ConnConfig {
    ConnConfig { request_timeout: Duration::from_millis(request_timeout_ms), max_in_flight, ..Default::default() }
}

fn metadata() -> RequestBody {
    RequestBody::Metadata(MetadataRequest { topics: Some(vec![metadata_request::MetadataRequestTopic { name: Some("t".into()), ..Default::default() }]), ..Default::default() })
}

/// A paused broker: the request that times out fails with a timeout, the
/// connection closes, the others pending on it fail at once, and nothing
/// waits forever for an in-flight slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_timeout_closes_the_connection_and_fails_everything_on_it() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("t", 1).unwrap();
    let conn = Connection::connect(&c.bootstrap(), &cfg(500, 2)).await.unwrap();
    conn.send(metadata()).await.unwrap();
    c.pause_broker(c.brokers()[0].0);
    let results = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(conn.send(metadata()), conn.send(metadata()), conn.send(metadata()), conn.send(metadata()))
    })
    .await
    .expect("requests to a paused broker hung past every timeout");
    let all = [results.0, results.1, results.2, results.3];
    assert!(all.iter().all(|r| r.is_err()), "{all:?}");
    assert!(all.iter().any(|r| matches!(r, Err(Error::Timeout(_)))), "one timed out: {all:?}");
    assert!(conn.is_closed(), "a timed-out connection is closed");
    assert!(conn.send(metadata()).await.is_err());
    // A fresh connection works once the broker is back.
    c.resume_broker(c.brokers()[0].0);
    let again = Connection::connect(&c.bootstrap(), &cfg(2000, 2)).await.unwrap();
    again.send(metadata()).await.unwrap();
}

/// The producer against a paused leader: the record fails within its
/// delivery timeout (here 3 s, with a 300 ms request timeout: more attempts than in-flight slots), and close ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_fails_records_at_the_delivery_timeout_and_close_completes() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("t", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("request.timeout.ms", "300"), ("delivery.timeout.ms", "3000"), ("linger.ms", "0")]).await;
    p.send_and_wait(ProducerRecord::new("t").partition(0).value("warm")).await.unwrap();
    c.pause_broker(c.brokers()[0].0);
    let r = tokio::time::timeout(Duration::from_secs(20), p.send_and_wait(ProducerRecord::new("t").partition(0).value("stuck"))).await;
    assert!(matches!(r, Ok(Err(_))), "no failure from a paused leader: {r:?}");
    tokio::time::timeout(Duration::from_secs(20), p.close()).await.expect("close never completed");
}

/// Reads one request frame.
async fn read_request(s: &mut TcpStream) -> Request {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.unwrap();
    Request::decode(Bytes::from(buf)).unwrap()
}

async fn respond(s: &mut TcpStream, correlation_id: i32, version: i16, body: ResponseBody) {
    let mut buf = BytesMut::new();
    encode_response_frame(correlation_id, &body, version, &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
}

fn versions(list: &[(ApiKey, i16, i16)]) -> Vec<api_versions_response::ApiVersion> {
    list.iter().map(|&(k, min, max)| api_versions_response::ApiVersion { api_key: k as i16, min_version: min, max_version: max, ..Default::default() }).collect()
}

/// Answers the client's ApiVersions like a current broker.
async fn handshake(s: &mut TcpStream, keys: &[(ApiKey, i16, i16)]) {
    let req = read_request(s).await;
    let body = ResponseBody::ApiVersions(ApiVersionsResponse { api_keys: versions(keys), ..Default::default() });
    respond(s, req.header.correlation_id, req.header.api_version, body).await;
}

/// A broker that, asked for metadata, writes a large answer and reads
/// nothing meanwhile, while the client writes a large Produce: with reads
/// waiting on writes, both sides block on full socket buffers for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_read_while_a_large_request_is_being_written() {
    const BIG: usize = 24 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let broker = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let keys = [(ApiKey::ApiVersions, 0, 3), (ApiKey::Produce, 3, 9), (ApiKey::Metadata, 0, 12)];
        handshake(&mut s, &keys).await;
        // The Metadata request gets an answer of BIG bytes (one broker with
        // a very long host name), written before anything else is read.
        let req = read_request(&mut s).await;
        let broker = metadata_response::MetadataResponseBroker { node_id: 1, host: "h".repeat(BIG), port: 1, ..Default::default() };
        respond(&mut s, req.header.correlation_id, req.header.api_version, ResponseBody::Metadata(MetadataResponse { brokers: vec![broker], ..Default::default() })).await;
        let req = read_request(&mut s).await;
        respond(&mut s, req.header.correlation_id, req.header.api_version, ResponseBody::Produce(ProduceResponse::default())).await;
    });
    let conn = Connection::connect(&addr, &cfg(60_000, 5)).await.unwrap();
    let produce = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![produce_request::TopicProduceData {
            name: "t".into(),
            partition_data: vec![produce_request::PartitionProduceData { index: 0, records: Some(Bytes::from(vec![0u8; BIG])), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let both = tokio::time::timeout(Duration::from_secs(30), async {
        let first = conn.send_ordered(metadata()).await.unwrap();
        let second = conn.send_ordered(produce).await.unwrap();
        tokio::join!(first, second)
    })
    .await
    .expect("deadlock: the client stopped reading while it wrote");
    assert!(both.0.is_ok() && both.1.is_ok(), "{:?}", (both.0.err(), both.1.err()));
    broker.await.unwrap();
}

/// Plays a broker before 2.4 (ApiVersions up to v2): asked at v3 it answers
/// UNSUPPORTED_VERSION in a version-0 body, listing its ranges in it
/// (`list_in_error`) or, as Kafka 2.1-2.3 do, listing nothing (the list in
/// the error came with KIP-511 in 2.4). Returns the versions the client
/// asked at.
async fn old_broker(list_in_error: bool) -> (Connection, Vec<i16>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let keys = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 7), (ApiKey::Produce, 0, 7)];
    let broker = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut asked = Vec::new();
        loop {
            let req = read_request(&mut s).await;
            asked.push(req.header.api_version);
            if req.header.api_version > 2 {
                let listed = if list_in_error { versions(&keys) } else { Vec::new() };
                let refusal = ResponseBody::ApiVersions(ApiVersionsResponse { error_code: ErrorCode::UNSUPPORTED_VERSION.0, api_keys: listed, ..Default::default() });
                // A v0 body (header v0), as such a broker writes it.
                respond(&mut s, req.header.correlation_id, 0, refusal).await;
                continue;
            }
            let v = req.header.api_version;
            respond(&mut s, req.header.correlation_id, v, ResponseBody::ApiVersions(ApiVersionsResponse { api_keys: versions(&keys), ..Default::default() })).await;
            return (s, asked);
        }
    });
    let conn = tokio::time::timeout(Duration::from_secs(10), Connection::connect(&addr, &cfg(5000, 5))).await.expect("hung").expect("no connection to an old broker");
    let (_s, asked) = broker.await.unwrap();
    (conn, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_older_than_2_4_is_negotiated_with() {
    let (conn, asked) = old_broker(true).await;
    assert_eq!(asked, vec![3, 2], "v3 first, then the broker's highest");
    assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 7);
    let (conn, asked) = old_broker(false).await;
    assert_eq!(asked, vec![3, 0], "with no list in the error, v0");
    assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 7);
}

/// The pool does not hand out a connection that closed after a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_replaces_a_connection_closed_by_a_timeout() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    // A generous timeout: other tests in this binary load the machine.
    let cluster = Cluster::connect(ClusterConfig { bootstrap: vec![c.bootstrap()], conn: cfg(2000, 5), ..Default::default() }).await.unwrap();
    let first = cluster.any().await.unwrap();
    c.delay_next(None, ApiKey::Metadata, Duration::from_secs(5), 1);
    assert!(first.send(metadata()).await.is_err());
    let second = cluster.any().await.unwrap();
    assert!(!second.is_closed());
    second.send(metadata()).await.unwrap();
}

/// acks=0 against a broker that stops reading: `buffer.memory` holds each
/// batch until its bytes are written to the socket, so `send` pushes back
/// (BufferFull after `max.block.ms`) once the socket buffers are full
/// instead of taking memory without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_respects_buffer_memory_when_the_broker_stops_reading() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("z", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("acks", "0"), ("enable.idempotence", "false"), ("buffer.memory", "1048576"), ("max.block.ms", "500"), ("linger.ms", "0")]).await;
    p.send_and_wait(ProducerRecord::new("z").partition(0).value("warm")).await.unwrap();
    c.pause_broker(c.brokers()[0].0);
    let value = Bytes::from(vec![7u8; 64 * 1024]);
    const LIMIT: usize = 256 << 20;
    let mut accepted = 0usize;
    let refused = loop {
        match p.send(ProducerRecord::new("z").partition(0).value(value.clone())).await {
            Ok(_) => accepted += value.len(),
            Err(e) => break e,
        }
        if accepted >= LIMIT {
            panic!("{} MiB accepted with a 1 MiB buffer and a broker that reads nothing", accepted >> 20);
        }
    };
    assert!(matches!(refused, Error::BufferFull), "{refused:?}");
    c.resume_broker(c.brokers()[0].0);
    p.close_timeout(Duration::from_secs(10)).await;
}

/// acks=0 against a broker that stops reading: a write that cannot finish
/// is bounded by the request timeout like any request (the connection
/// closes), so records waiting behind it resolve instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acks_zero_write_that_cannot_finish_times_out() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("z", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("acks", "0"), ("enable.idempotence", "false"), ("request.timeout.ms", "1000"), ("delivery.timeout.ms", "1500"), ("linger.ms", "0"), ("max.block.ms", "500")]).await;
    p.send_and_wait(ProducerRecord::new("z").partition(0).value("warm")).await.unwrap();
    c.pause_broker(c.brokers()[0].0);
    let value = Bytes::from(vec![7u8; 256 * 1024]);
    let mut futures = Vec::new();
    // Enough to fill the socket buffers (or the 32 MiB default buffer).
    for _ in 0..200 {
        match p.send(ProducerRecord::new("z").partition(0).value(value.clone())).await {
            Ok(f) => futures.push(f),
            Err(_) => break,
        }
    }
    assert!(!futures.is_empty());
    // Every record resolves: written, or failed (the stuck write with the
    // connection, the rest at their delivery timeout).
    let all = tokio::time::timeout(Duration::from_secs(20), async {
        for f in futures {
            let _ = f.await;
        }
    })
    .await;
    assert!(all.is_ok(), "a record never resolved behind a write that could not finish");
    c.resume_broker(c.brokers()[0].0);
    p.close_timeout(Duration::from_secs(10)).await;
}
