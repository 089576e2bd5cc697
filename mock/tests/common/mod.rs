//! A minimal async wire client for testing the mock: ApiVersions
//! negotiation, then one request at a time.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{decode_response, encode_request_frame, frame_length, RequestHeader, DEFAULT_MAX_FRAME};
use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::records::{RecordBatch, RecordHeader};
use ferrokafka_protocol::{ApiKey, RequestBody, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Client {
    stream: TcpStream,
    correlation: i32,
    /// The highest version of each API both sides speak.
    pub versions: HashMap<ApiKey, i16>,
    /// The broker's lowest version of each API.
    pub min_versions: HashMap<ApiKey, i16>,
}

impl Client {
    pub async fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut c = Client { stream, correlation: 0, versions: HashMap::new(), min_versions: HashMap::new() };
        let ResponseBody::ApiVersions(v) = c.send_v(RequestBody::ApiVersions(api_versions_request()), 3).await.expect("api versions") else {
            panic!()
        };
        for k in v.api_keys {
            if let Some(api) = ApiKey::from_i16(k.api_key) {
                c.versions.insert(api, k.max_version.min(api.versions().1));
                c.min_versions.insert(api, k.min_version);
            }
        }
        c
    }

    /// Sends at the highest version both sides speak; `None` if the
    /// connection closed instead of answering.
    pub async fn send(&mut self, body: RequestBody) -> Option<ResponseBody> {
        let v = self.versions[&body.api_key()];
        self.send_v(body, v).await
    }

    /// Sends at `version`, or at the broker's lowest version if that is
    /// higher (Kafka 4 no longer speaks the oldest versions of some APIs).
    pub async fn send_at_least(&mut self, body: RequestBody, version: i16) -> Option<(i16, ResponseBody)> {
        let v = version.max(self.min_versions[&body.api_key()]);
        self.send_v(body, v).await.map(|r| (v, r))
    }

    pub async fn send_v(&mut self, body: RequestBody, version: i16) -> Option<ResponseBody> {
        self.correlation += 1;
        let header = RequestHeader {
            api_key: body.api_key() as i16,
            api_version: version,
            correlation_id: self.correlation,
            client_id: Some("mock-test".into()),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &body, &mut buf).expect("encode");
        self.stream.write_all(&buf).await.ok()?;
        let frame = self.read_frame().await?;
        let (h, resp) = decode_response(body.api_key(), version, frame).expect("decode response");
        assert_eq!(h.correlation_id, self.correlation);
        Some(resp)
    }

    /// Sends a captured request frame as it is; returns the raw response.
    pub async fn send_raw(&mut self, frame: &[u8]) -> Option<Bytes> {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        buf.extend_from_slice(frame);
        self.stream.write_all(&buf).await.ok()?;
        self.read_frame().await
    }

    async fn read_frame(&mut self) -> Option<Bytes> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).await.ok()?;
        let mut frame = vec![0u8; frame_length(prefix, DEFAULT_MAX_FRAME).ok()?];
        self.stream.read_exact(&mut frame).await.ok()?;
        Some(Bytes::from(frame))
    }
}

/// An ApiVersions request naming this client: from v3 on, Kafka refuses a
/// request without a valid software name and version (INVALID_REQUEST).
pub fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest { client_software_name: "ferrokafka-mock-test".into(), client_software_version: "0.1.0".into(), ..Default::default() }
}

/// The address of broker `id`.
pub fn addr_of(cluster: &ferrokafka_mock::MockCluster, id: i32) -> String {
    cluster.brokers().into_iter().find(|(b, _)| *b == id).map(|(_, a)| a.to_string()).expect("broker")
}

/// A connection to the leader of a partition.
pub async fn leader(cluster: &ferrokafka_mock::MockCluster, topic: &str, p: i32) -> Client {
    Client::connect(&addr_of(cluster, cluster.leader_of(topic, p).expect("partition"))).await
}

pub fn batch(pid: i64, epoch: i16, seq: i32, values: &[&str], transactional: bool) -> Bytes {
    let mut b = RecordBatch::from_records(values.iter().map(|v| (1_700_000_000_000, None, Some(Bytes::from(v.to_string())), Vec::<RecordHeader>::new())));
    b.producer_id = pid;
    b.producer_epoch = epoch;
    b.base_sequence = seq;
    b.set_transactional(transactional);
    let mut buf = BytesMut::new();
    b.encode(&mut buf, None).unwrap();
    buf.freeze()
}

pub fn produce_req(topic: &str, p: i32, records: Bytes, tid: Option<&str>) -> RequestBody {
    RequestBody::Produce(ProduceRequest {
        transactional_id: tid.map(str::to_string),
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![produce_request::TopicProduceData {
            name: topic.into(),
            partition_data: vec![produce_request::PartitionProduceData { index: p, records: Some(records), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A Fetch of one partition from `offset`.
pub fn fetch_req(topic: &str, partition: i32, offset: i64, isolation_level: i8, max_wait_ms: i32) -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level,
        topics: vec![fetch_request::FetchTopic {
            topic: topic.into(),
            partitions: vec![fetch_request::FetchPartition { partition, fetch_offset: offset, partition_max_bytes: 1 << 20, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// (error code, base offset) of a single-partition produce.
pub fn produce_result(resp: ResponseBody) -> (i16, i64) {
    let ResponseBody::Produce(r) = resp else { panic!("not a produce response") };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/captures")
}

/// A captured frame by scenario, sequence number and direction.
pub fn capture(scenario: &str, seq: u32, req: bool) -> (ApiKey, i16, Bytes) {
    let dir = captures_dir().join(scenario);
    let suffix = if req { "req" } else { "resp" };
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if name.starts_with(&format!("{seq:05}-")) && name.ends_with(&format!("-{suffix}.bin")) {
            let parts: Vec<&str> = name.trim_end_matches(".bin").split('-').collect();
            let api = ApiKey::ALL.iter().copied().find(|k| k.name() == parts[1]).unwrap();
            let v: i16 = parts[2][1..].parse().unwrap();
            return (api, v, Bytes::from(std::fs::read(dir.join(&name)).unwrap()));
        }
    }
    panic!("no capture {scenario}/{seq} {suffix}");
}
