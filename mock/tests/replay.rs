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
/// per captured connection, skipping the broker's own inter-broker traffic;
/// hands each (seq, api, version, got, want) to `check`.
async fn replay_scenario(
    c: &MockCluster,
    scenario: &str,
    mut check: impl FnMut(u32, ApiKey, ResponseBody, ResponseBody),
) -> usize {
    let index = std::fs::read_to_string(captures_dir().join(scenario).join("index.jsonl")).unwrap();
    let mut conns: std::collections::HashMap<u64, Client> = std::collections::HashMap::new();
    let mut n = 0;
    for line in index.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let client = v["client"].as_str().unwrap();
        if v["dir"] != "req" || client.starts_with("broker-") || client.starts_with("AddPartitionsManager") {
            continue;
        }
        let seq = v["seq"].as_u64().unwrap() as u32;
        let conn_no = v["conn"].as_u64().unwrap();
        let (api, ver, req) = capture(scenario, seq, true);
        let (_, _, want) = capture(scenario, seq, false);
        if !conns.contains_key(&conn_no) {
            conns.insert(conn_no, Client::connect(&c.bootstrap()).await);
        }
        let got = conns.get_mut(&conn_no).unwrap().send_raw(&req).await.expect("answered");
        let body_version = if api == ApiKey::ApiVersions && ver > 3 { 0 } else { ver };
        let (_, got) = decode_response(api, body_version, got).unwrap();
        let (_, want) = decode_response(api, body_version, want).unwrap();
        check(seq, api, got, want);
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
    let n = replay_scenario(&c, "fencing", |seq, api, got, want| {
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
