//! Replays requests captured between real clients and Apache Kafka 3.8.0
//! against the mock, and compares the answers field by field wherever the
//! value is not run-specific (ids, timestamps and member ids are; error
//! codes, offsets, watermarks and the stored record bytes are not).

mod common;

use common::*;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::bytes::BytesMut;
use ferrokafka_protocol::header::{decode_response, Request};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::{ApiKey, RequestBody, ResponseBody};


/// Captured frames of a scenario, in request order: (seq, api, version, request, response).
fn exchanges(scenario: &str) -> Vec<(u32, ApiKey, i16, ferrokafka_protocol::bytes::Bytes, ferrokafka_protocol::bytes::Bytes)> {
    let dir = captures_dir().join(scenario);
    let mut seqs: Vec<u32> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().to_string();
            n.ends_with("-req.bin").then(|| n[..5].parse().unwrap())
        })
        .collect();
    seqs.sort();
    seqs.into_iter()
        .map(|s| {
            let (api, v, req) = capture(scenario, s, true);
            let (_, _, resp) = capture(scenario, s, false);
            (s, api, v, req, resp)
        })
        .collect()
}

async fn single_broker() -> (MockCluster, Client) {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    let conn = Client::connect(&c.bootstrap()).await;
    (c, conn)
}

/// Replays `produce-codecs`' Produce requests; every partition answer must
/// match Kafka's (error, base offset, log start offset).
async fn replay_produces(conn: &mut Client, scenario: &str) -> usize {
    let mut n = 0;
    for (seq, api, v, req, want) in exchanges(scenario) {
        if api != ApiKey::Produce {
            continue;
        }
        let got = conn.send_raw(&req).await.expect("answered");
        let (_, ResponseBody::Produce(got)) = decode_response(api, v, got).unwrap() else { panic!() };
        let (_, ResponseBody::Produce(want)) = decode_response(api, v, want).unwrap() else { panic!() };
        for (gt, wt) in got.responses.iter().zip(want.responses.iter()) {
            assert_eq!(gt.name, wt.name);
            for (g, w) in gt.partition_responses.iter().zip(wt.partition_responses.iter()) {
                assert_eq!(
                    (g.index, g.error_code, g.base_offset, g.log_start_offset),
                    (w.index, w.error_code, w.base_offset, w.log_start_offset),
                    "{scenario} {seq}"
                );
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn produce_with_every_codec_then_fetch_it_back_as_kafka_did() {
    let (c, mut conn) = single_broker().await;
    c.create_topic("codecs-3p", 3).unwrap();
    assert_eq!(replay_produces(&mut conn, "produce-codecs").await, 15);
    let our_id = {
        let md = RequestBody::Metadata(ferrokafka_protocol::messages::MetadataRequest {
            topics: Some(vec![ferrokafka_protocol::messages::metadata_request::MetadataRequestTopic { name: Some("codecs-3p".into()), ..Default::default() }]),
            ..Default::default()
        });
        let Some(ResponseBody::Metadata(md)) = conn.send(md).await else { panic!() };
        md.topics[0].topic_id
    };

    // consume-fetch: ListOffsets and the full (sessionless or session-
    // creating) Fetch requests. Record bytes must come back identical to
    // what Kafka served.
    let mut compared_fetch = 0;
    let mut compared_offsets = 0;
    for (seq, api, v, req, want) in exchanges("consume-fetch") {
        match api {
            ApiKey::ListOffsets => {
                let got = conn.send_raw(&req).await.unwrap();
                let (_, ResponseBody::ListOffsets(got)) = decode_response(api, v, got).unwrap() else { panic!() };
                let (_, ResponseBody::ListOffsets(want)) = decode_response(api, v, want).unwrap() else { panic!() };
                for (g, w) in got.topics[0].partitions.iter().zip(want.topics[0].partitions.iter()) {
                    assert_eq!((g.partition_index, g.error_code, g.offset), (w.partition_index, w.error_code, w.offset), "ListOffsets {seq}");
                    compared_offsets += 1;
                }
            }
            ApiKey::Fetch => {
                let mut request = Request::decode(req.clone()).unwrap();
                let RequestBody::Fetch(f) = &mut request.body else { panic!() };
                if f.session_id != 0 {
                    // Incremental fetches name the session Kafka created in
                    // that run; sessions are tested on their own.
                    continue;
                }
                for t in &mut f.topics {
                    if t.topic_id != Uuid::ZERO {
                        t.topic_id = our_id;
                    }
                }
                f.max_wait_ms = 0;
                let mut frame = BytesMut::new();
                request.encode(&mut frame).unwrap();
                let got = conn.send_raw(&frame).await.unwrap();
                let (_, ResponseBody::Fetch(got)) = decode_response(api, v, got).unwrap() else { panic!() };
                let (_, ResponseBody::Fetch(want)) = decode_response(api, v, want).unwrap() else { panic!() };
                for (gt, wt) in got.responses.iter().zip(want.responses.iter()) {
                    for (g, w) in gt.partitions.iter().zip(wt.partitions.iter()) {
                        assert_eq!(
                            (g.partition_index, g.error_code, g.high_watermark, g.last_stable_offset, g.log_start_offset),
                            (w.partition_index, w.error_code, w.high_watermark, w.last_stable_offset, w.log_start_offset),
                            "Fetch {seq}"
                        );
                        assert_eq!(g.records, w.records, "Fetch {seq} partition {}: the stored batches, byte for byte", g.partition_index);
                        compared_fetch += 1;
                    }
                }
            }
            _ => {}
        }
    }
    assert!(compared_offsets >= 6, "ListOffsets partitions compared: {compared_offsets}");
    assert!(compared_fetch >= 3, "Fetch partitions compared: {compared_fetch}");

    // errors/00570: a fetch far past the end -> OFFSET_OUT_OF_RANGE.
    let (api, v, req) = capture("errors", 570, true);
    let mut request = Request::decode(req).unwrap();
    let RequestBody::Fetch(f) = &mut request.body else { panic!() };
    for t in &mut f.topics {
        t.topic_id = our_id;
    }
    let mut frame = BytesMut::new();
    request.encode(&mut frame).unwrap();
    let got = conn.send_raw(&frame).await.unwrap();
    let (_, ResponseBody::Fetch(got)) = decode_response(api, v, got).unwrap() else { panic!() };
    let (_, _, want) = capture("errors", 570, false);
    let (_, ResponseBody::Fetch(want)) = decode_response(api, v, want).unwrap() else { panic!() };
    let (g, w) = (&got.responses[0].partitions[0], &want.responses[0].partitions[0]);
    assert_eq!(
        (g.error_code, g.high_watermark, g.last_stable_offset, g.log_start_offset),
        (w.error_code, w.high_watermark, w.last_stable_offset, w.log_start_offset)
    );
}

#[tokio::test]
async fn kafka_python_produces_get_kafkas_offsets() {
    let (c, mut conn) = single_broker().await;
    c.create_topic("kp-produce", 3).unwrap();
    assert_eq!(replay_produces(&mut conn, "kafka-python-produce").await, 15);
}

#[tokio::test]
async fn admin_requests_get_kafkas_answers() {
    let (_c, mut conn) = single_broker().await;
    for seq in [25u32, 28, 29, 31] {
        let (api, v, req) = capture("admin-metadata", seq, true);
        let (_, _, want) = capture("admin-metadata", seq, false);
        let got = conn.send_raw(&req).await.unwrap();
        let (_, got) = decode_response(api, v, got).unwrap();
        let (_, want) = decode_response(api, v, want).unwrap();
        match (got, want) {
            (ResponseBody::CreateTopics(g), ResponseBody::CreateTopics(w)) => {
                let g: Vec<_> = g.topics.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                let w: Vec<_> = w.topics.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                assert_eq!(g, w, "CreateTopics {seq}");
            }
            (ResponseBody::DeleteTopics(g), ResponseBody::DeleteTopics(w)) => {
                let g: Vec<_> = g.responses.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                let w: Vec<_> = w.responses.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                assert_eq!(g, w, "DeleteTopics {seq}");
            }
            (ResponseBody::CreatePartitions(g), ResponseBody::CreatePartitions(w)) => {
                let g: Vec<_> = g.results.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                let w: Vec<_> = w.results.iter().map(|t| (t.name.clone(), t.error_code)).collect();
                assert_eq!(g, w, "CreatePartitions {seq}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The topic now has 5 partitions, as Kafka's Metadata 00032 says.
    let (api, v, req) = capture("admin-metadata", 32, true);
    let got = conn.send_raw(&req).await.unwrap();
    let (_, ResponseBody::Metadata(md)) = decode_response(api, v, got).unwrap() else { panic!() };
    assert_eq!(md.topics[0].partitions.len(), 5);
}

/// Replays a scenario's client requests in capture order, one connection
/// per captured connection, skipping the broker's own inter-broker traffic.
/// Ids the real broker made up are mapped to the mock's (see [`IdMap`]);
/// each answer pair goes to `check` with the request's client id.
async fn replay_scenario(
    c: &MockCluster,
    scenario: &str,
    mut check: impl FnMut(u32, ApiKey, &str, &IdMap, ResponseBody, ResponseBody),
) -> usize {
    let index = std::fs::read_to_string(captures_dir().join(scenario).join("index.jsonl")).unwrap();
    let mut conns: std::collections::HashMap<u64, Client> = std::collections::HashMap::new();
    let mut ids = IdMap::default();
    let mut n = 0;
    for line in index.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let client = v["client"].as_str().unwrap();
        if v["dir"] != "req" || client.starts_with("broker-") || client.starts_with("AddPartitionsManager") {
            continue;
        }
        let seq = v["seq"].as_u64().unwrap() as u32;
        let conn_no = v["conn"].as_u64().unwrap();
        let (api, ver, raw) = capture(scenario, seq, true);
        let (_, _, want) = capture(scenario, seq, false);
        // Requests we can decode are rewritten with the mock's ids; an
        // ApiVersions probe at an unknown version goes as it was.
        let frame = match Request::decode_prefix(&mut ferrokafka_protocol::wire::Reader::new(raw.clone())) {
            Ok(mut req) => {
                ids.request(&mut req.body);
                let mut frame = BytesMut::new();
                req.encode(&mut frame).unwrap();
                frame.freeze()
            }
            Err(_) => raw,
        };
        if let std::collections::hash_map::Entry::Vacant(e) = conns.entry(conn_no) {
            e.insert(Client::connect(&c.bootstrap()).await);
        }
        let got = conns.get_mut(&conn_no).unwrap().send_raw(&frame).await.expect("answered");
        let body_version = if api == ApiKey::ApiVersions && ver > 3 { 0 } else { ver };
        let (_, got) = decode_response(api, body_version, got).unwrap();
        let (_, want) = decode_response(api, body_version, want).unwrap();
        ids.learn(&got, &want);
        check(seq, api, client, &ids, got, want);
        n += 1;
    }
    n
}

#[tokio::test]
async fn the_captured_fencing_scenario_gets_kafkas_answers() {
    // Producer A opens a transaction; B with the same transactional id
    // fences it (CONCURRENT_TRANSACTIONS while A's transaction is aborted,
    // then epoch 2); A's produce, AddPartitionsToTxn v0 and EndTxn v3 are
    // refused; B commits. The real broker gave producer id 16.
    let c = MockCluster::start(MockConfig { brokers: 1, first_producer_id: 16, ..Default::default() }).await.unwrap();
    c.create_topic("fence-topic", 2).unwrap();
    let mut compared = Vec::new();
    // The captured topic held earlier records: offsets are compared
    // relative to each partition's first write in the replay.
    let mut first: std::collections::HashMap<i32, (i64, i64)> = std::collections::HashMap::new();
    let n = replay_scenario(&c, "fencing", |seq, api, _client, _ids, got, want| {
        match (got, want) {
            (ResponseBody::InitProducerId(g), ResponseBody::InitProducerId(w)) => {
                assert_eq!((g.error_code, g.producer_id, g.producer_epoch), (w.error_code, w.producer_id, w.producer_epoch), "InitProducerId {seq}");
            }
            (ResponseBody::AddPartitionsToTxn(g), ResponseBody::AddPartitionsToTxn(w)) => {
                let codes = |r: &ferrokafka_protocol::messages::AddPartitionsToTxnResponse| -> Vec<(String, i32, i16)> {
                    r.results_by_topic_v3_and_below
                        .iter()
                        .flat_map(|t| t.results_by_partition.iter().map(move |p| (t.name.clone(), p.partition_index, p.partition_error_code)))
                        .collect()
                };
                assert_eq!(codes(&g), codes(&w), "AddPartitionsToTxn {seq}");
            }
            (ResponseBody::Produce(g), ResponseBody::Produce(w)) => {
                let (g, w) = (&g.responses[0].partition_responses[0], &w.responses[0].partition_responses[0]);
                assert_eq!((g.index, g.error_code), (w.index, w.error_code), "Produce {seq}");
                if g.base_offset >= 0 || w.base_offset >= 0 {
                    let (g0, w0) = *first.entry(g.index).or_insert((g.base_offset, w.base_offset));
                    assert_eq!(g.base_offset - g0, w.base_offset - w0, "Produce {seq}: offset relative to the log");
                }
            }
            (ResponseBody::EndTxn(g), ResponseBody::EndTxn(w)) => assert_eq!(g.error_code, w.error_code, "EndTxn {seq}"),
            (ResponseBody::FindCoordinator(g), ResponseBody::FindCoordinator(w)) => {
                assert_eq!((g.error_code, g.node_id), (w.error_code, w.node_id), "FindCoordinator {seq}");
            }
            (ResponseBody::Metadata(g), ResponseBody::Metadata(w)) => {
                let shape = |m: &ferrokafka_protocol::messages::MetadataResponse| -> Vec<(Option<String>, i16, usize)> {
                    m.topics.iter().map(|t| (t.name.clone(), t.error_code, t.partitions.len())).collect()
                };
                assert_eq!(shape(&g), shape(&w), "Metadata {seq}");
            }
            (ResponseBody::ApiVersions(g), ResponseBody::ApiVersions(w)) => assert_eq!(g.error_code, w.error_code),
            (g, w) => panic!("{seq}: {g:?} vs {w:?}"),
        }
        compared.push(api);
    })
    .await;
    assert_eq!(n, 29, "every client request of the scenario (34 less 5 inter-broker)");
    assert!(compared.contains(&ApiKey::EndTxn));
}

/// Ids the real broker made up in the captured run, mapped to the ones the
/// mock made up in the replay, learnt from each pair of answers.
#[derive(Default)]
struct IdMap {
    members: std::collections::HashMap<String, String>,
    topics: std::collections::HashMap<ferrokafka_protocol::wire::Uuid, ferrokafka_protocol::wire::Uuid>,
    sessions: std::collections::HashMap<i32, i32>,
}

impl IdMap {
    fn member(&self, m: &mut String) {
        if let Some(ours) = self.members.get(m) {
            *m = ours.clone();
        }
    }

    fn topic(&self, t: &mut ferrokafka_protocol::wire::Uuid) {
        if let Some(ours) = self.topics.get(t) {
            *t = *ours;
        }
    }

    /// Rewrites a captured request to carry the mock's ids.
    fn request(&self, body: &mut RequestBody) {
        match body {
            RequestBody::JoinGroup(r) => self.member(&mut r.member_id),
            RequestBody::SyncGroup(r) => {
                self.member(&mut r.member_id);
                for a in &mut r.assignments {
                    self.member(&mut a.member_id);
                }
            }
            RequestBody::Heartbeat(r) => self.member(&mut r.member_id),
            RequestBody::LeaveGroup(r) => {
                self.member(&mut r.member_id);
                for m in &mut r.members {
                    self.member(&mut m.member_id);
                }
            }
            RequestBody::TxnOffsetCommit(r) => self.member(&mut r.member_id),
            RequestBody::OffsetCommit(r) => self.member(&mut r.member_id),
            RequestBody::Fetch(r) => {
                for t in &mut r.topics {
                    self.topic(&mut t.topic_id);
                }
                for t in &mut r.forgotten_topics_data {
                    self.topic(&mut t.topic_id);
                }
                if let Some(ours) = self.sessions.get(&r.session_id) {
                    r.session_id = *ours;
                }
                // Long polls need not wait here: what the real broker waited
                // for already happened or never will in a sequential replay.
                r.max_wait_ms = r.max_wait_ms.min(50);
            }
            _ => {}
        }
    }

    /// Learns ids from an answer pair.
    fn learn(&mut self, got: &ResponseBody, want: &ResponseBody) {
        match (got, want) {
            (ResponseBody::JoinGroup(g), ResponseBody::JoinGroup(w)) => {
                self.members.insert(w.member_id.clone(), g.member_id.clone());
                if !w.leader.is_empty() {
                    self.members.insert(w.leader.clone(), g.leader.clone());
                }
            }
            (ResponseBody::Metadata(g), ResponseBody::Metadata(w)) => {
                for wt in &w.topics {
                    if let Some(gt) = g.topics.iter().find(|t| t.name == wt.name) {
                        self.topics.insert(wt.topic_id, gt.topic_id);
                    }
                }
            }
            (ResponseBody::Fetch(g), ResponseBody::Fetch(w)) if w.session_id != 0 => {
                self.sessions.insert(w.session_id, g.session_id);
            }
            _ => {}
        }
    }
}

/// The data batches of a fetch answer (offsets, control flags, and for
/// data batches the bytes; marker timestamps are the broker's own).
fn fetched_batches(p: &ferrokafka_protocol::messages::fetch_response::PartitionData) -> Vec<(i64, bool, Option<ferrokafka_protocol::bytes::Bytes>)> {
    use ferrokafka_protocol::records::{Batch, DecodeLimits, RecordSet};
    let Some(data) = p.records.clone() else { return Vec::new() };
    let mut out = Vec::new();
    let set = RecordSet::parse(data.clone(), &DecodeLimits::default()).unwrap();
    let mut pos = 0usize;
    for b in set.batches {
        let Batch::V2(b) = b else { continue };
        let len = 12 + i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let bytes = if b.is_control() { None } else { Some(data.slice(pos..pos + len)) };
        out.push((b.base_offset, b.is_control(), bytes));
        pos += len;
    }
    out
}

#[tokio::test]
async fn the_captured_transactions_scenario_gets_kafkas_answers() {
    // A read_committed consumer group member, a transactional producer
    // (id 10) committing, aborting and committing, offsets sent to the
    // transaction, then a read_committed consumer: Kafka's aborted list
    // [(10, 4)] and markers at 3, 6 and 8 on every partition.
    let c = MockCluster::start(MockConfig { brokers: 1, first_producer_id: 10, ..Default::default() }).await.unwrap();
    c.create_topic("txn-a", 2).unwrap();
    c.create_topic("txn-b", 2).unwrap();
    c.create_topic("txn-input", 1).unwrap();
    // The setup step wrote 4 records to txn-input.
    {
        let mut conn = Client::connect(&c.bootstrap()).await;
        conn.send(produce_req("txn-input", 0, batch(-1, -1, -1, &["1", "2", "3", "4"], false), None)).await.unwrap();
    }
    let mut checked = std::collections::BTreeMap::<&'static str, usize>::new();
    let mut aborted_seen = 0;
    replay_scenario(&c, "transactions", |seq, api, client, ids, got, want| {
        *checked.entry(api.name()).or_default() += 1;
        match (&got, &want) {
            (ResponseBody::JoinGroup(g), ResponseBody::JoinGroup(w)) => {
                assert_eq!((g.error_code, g.generation_id, g.protocol_name.clone(), g.members.len()), (w.error_code, w.generation_id, w.protocol_name.clone(), w.members.len()), "JoinGroup {seq}");
            }
            (ResponseBody::SyncGroup(g), ResponseBody::SyncGroup(w)) => assert_eq!((g.error_code, &g.assignment), (w.error_code, &w.assignment), "SyncGroup {seq}"),
            (ResponseBody::Heartbeat(g), ResponseBody::Heartbeat(w)) => assert_eq!(g.error_code, w.error_code, "Heartbeat {seq}"),
            (ResponseBody::LeaveGroup(g), ResponseBody::LeaveGroup(w)) => assert_eq!(g.error_code, w.error_code, "LeaveGroup {seq}"),
            (ResponseBody::InitProducerId(g), ResponseBody::InitProducerId(w)) => {
                assert_eq!((g.error_code, g.producer_id, g.producer_epoch), (w.error_code, w.producer_id, w.producer_epoch), "InitProducerId {seq}");
            }
            (ResponseBody::AddPartitionsToTxn(g), ResponseBody::AddPartitionsToTxn(w)) => {
                let codes = |r: &ferrokafka_protocol::messages::AddPartitionsToTxnResponse| -> Vec<i16> {
                    r.results_by_topic_v3_and_below.iter().flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code)).collect()
                };
                // Kafka's markers take a moment; the mock's are written at
                // once, so where Kafka said CONCURRENT_TRANSACTIONS the mock
                // may already say NONE (the client's retry then agrees).
                for (gc, wc) in codes(g).into_iter().zip(codes(w)) {
                    assert!(gc == wc || (wc == 51 && gc == 0), "AddPartitionsToTxn {seq}: {gc} vs {wc}");
                }
            }
            (ResponseBody::AddOffsetsToTxn(g), ResponseBody::AddOffsetsToTxn(w)) => assert_eq!(g.error_code, w.error_code, "AddOffsetsToTxn {seq}"),
            (ResponseBody::TxnOffsetCommit(g), ResponseBody::TxnOffsetCommit(w)) => {
                let codes = |r: &ferrokafka_protocol::messages::TxnOffsetCommitResponse| -> Vec<i16> { r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect() };
                assert_eq!(codes(g), codes(w), "TxnOffsetCommit {seq}");
            }
            (ResponseBody::EndTxn(g), ResponseBody::EndTxn(w)) => assert_eq!(g.error_code, w.error_code, "EndTxn {seq}"),
            (ResponseBody::Produce(g), ResponseBody::Produce(w)) => {
                let (g, w) = (&g.responses[0].partition_responses[0], &w.responses[0].partition_responses[0]);
                assert_eq!((g.index, g.error_code, g.base_offset), (w.index, w.error_code, w.base_offset), "Produce {seq}");
            }
            (ResponseBody::ListOffsets(g), ResponseBody::ListOffsets(w)) => {
                let o = |r: &ferrokafka_protocol::messages::ListOffsetsResponse| -> Vec<(i16, i64)> { r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.error_code, p.offset))).collect() };
                assert_eq!(o(g), o(w), "ListOffsets {seq}");
            }
            (ResponseBody::OffsetFetch(g), ResponseBody::OffsetFetch(w)) => {
                let o = |r: &ferrokafka_protocol::messages::OffsetFetchResponse| -> Vec<(i16, i64)> {
                    r.groups.iter().flat_map(|g| g.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.error_code, p.committed_offset)))).collect()
                };
                assert_eq!(o(g), o(w), "OffsetFetch {seq}");
            }
            (ResponseBody::Fetch(g), ResponseBody::Fetch(w)) => {
                assert_eq!(g.error_code, w.error_code, "Fetch {seq}");
                if client == "cap-read-committed" {
                    // The transactional topics: compare everything the
                    // real broker sent for each partition it answered.
                    for wt in &w.responses {
                        for wp in &wt.partitions {
                            let Some(gp) = g.responses.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p))).find(|(tid, p)| ids.topics.get(&wt.topic_id) == Some(tid) && p.partition_index == wp.partition_index).map(|(_, p)| p) else {
                                // An incremental answer may leave out what did not change.
                                assert!(wp.records.as_ref().is_none_or(|r| r.is_empty()), "Fetch {seq}: partition {} missing", wp.partition_index);
                                continue;
                            };
                            assert_eq!((gp.error_code, gp.high_watermark, gp.last_stable_offset), (wp.error_code, wp.high_watermark, wp.last_stable_offset), "Fetch {seq}");
                            let aborted = |p: &ferrokafka_protocol::messages::fetch_response::PartitionData| -> Vec<(i64, i64)> {
                                p.aborted_transactions.iter().flatten().map(|a| (a.producer_id, a.first_offset)).collect()
                            };
                            assert_eq!(aborted(gp), aborted(wp), "Fetch {seq}: aborted transactions");
                            aborted_seen += aborted(wp).len();
                            assert_eq!(fetched_batches(gp), fetched_batches(wp), "Fetch {seq}: batches");
                        }
                    }
                }
            }
            _ => {}
        }
    })
    .await;
    assert_eq!(aborted_seen, 4, "the aborted range on each of the 4 partitions: {checked:?}");
    assert!(checked["EndTxn"] == 3 && checked["TxnOffsetCommit"] == 1 && checked["JoinGroup"] == 2, "{checked:?}");
}
