//! A minimal blocking Kafka client over the codec alone (ApiVersions
//! negotiation, then one request at a time), for tests that must not trust
//! the client under test: the wire smoke test and the fault test's audit.
//! Included by each with `#[path = "support/wire.rs"] mod wire;`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{decode_response, encode_request_frame, frame_length, RequestHeader, DEFAULT_MAX_FRAME};
use ferrokafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use ferrokafka_protocol::messages::{fetch_request, FetchRequest};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

/// One connection; every error is a message naming what failed.
pub struct Conn {
    stream: TcpStream,
    correlation: i32,
    versions: Vec<(ApiKey, i16)>,
}

impl Conn {
    /// Connects and negotiates versions (ApiVersions v3).
    pub fn connect(addr: &str) -> Result<Conn, String> {
        let sock = addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?.next().ok_or_else(|| format!("{addr}: no address"))?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5)).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut c = Conn { stream, correlation: 0, versions: Vec::new() };
        let req = ApiVersionsRequest {
            client_software_name: "ferrokafka-test".into(),
            client_software_version: "0.1.0".into(),
            ..Default::default()
        };
        let ResponseBody::ApiVersions(resp) = c.call_at(RequestBody::ApiVersions(req), 3)? else {
            return Err("ApiVersions: mismatched response".into());
        };
        ErrorCode(resp.error_code).check().map_err(|e| format!("ApiVersions: {e}"))?;
        for k in &resp.api_keys {
            if let Some(api) = ApiKey::from_i16(k.api_key) {
                let (ours_min, ours_max) = api.versions();
                let v = ours_max.min(k.max_version);
                if v >= ours_min.max(k.min_version) {
                    c.versions.push((api, v));
                }
            }
        }
        Ok(c)
    }

    /// The highest version of `api` both sides speak.
    pub fn version(&self, api: ApiKey) -> Result<i16, String> {
        self.versions.iter().find(|(a, _)| *a == api).map(|v| v.1).ok_or_else(|| format!("no common version of {api:?}"))
    }

    /// Sends at the negotiated version and waits for the answer.
    pub fn call(&mut self, body: RequestBody) -> Result<ResponseBody, String> {
        let v = self.version(body.api_key())?;
        self.call_at(body, v)
    }

    /// Sends at `version` and waits for the answer.
    pub fn call_at(&mut self, body: RequestBody, version: i16) -> Result<ResponseBody, String> {
        self.correlation += 1;
        let api = body.api_key();
        let header = RequestHeader {
            api_key: api as i16,
            api_version: version,
            correlation_id: self.correlation,
            client_id: Some("ferrokafka-test".into()),
            unknown_tagged_fields: Vec::new(),
        };
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &body, &mut buf).map_err(|e| format!("encode {api:?}: {e}"))?;
        self.stream.write_all(&buf).map_err(|e| format!("send {api:?}: {e}"))?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).map_err(|e| format!("read {api:?}: {e}"))?;
        // Fetch answers can be large: allow well over the request's max_bytes.
        let len = frame_length(prefix, DEFAULT_MAX_FRAME.max(64 << 20)).map_err(|e| format!("{api:?} frame: {e}"))?;
        let mut frame = vec![0u8; len];
        self.stream.read_exact(&mut frame).map_err(|e| format!("read {api:?}: {e}"))?;
        let (h, resp) = decode_response(api, version, Bytes::from(frame)).map_err(|e| format!("decode {api:?}: {e}"))?;
        if h.correlation_id != self.correlation {
            return Err(format!("{api:?}: correlation id {} for request {}", h.correlation_id, self.correlation));
        }
        Ok(resp)
    }
}

/// A Fetch of one partition (read_uncommitted) from `offset`. Fetch v13+
/// names the topic by `topic_id` only; older versions by name.
pub fn fetch_one(topic: &str, topic_id: Uuid, partition: i32, offset: i64, max_wait_ms: i32, max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms,
        min_bytes: 1,
        max_bytes,
        topics: vec![fetch_request::FetchTopic {
            topic: topic.to_string(),
            topic_id,
            partitions: vec![fetch_request::FetchPartition { partition, fetch_offset: offset, partition_max_bytes, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}
