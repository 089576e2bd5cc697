//! The mock cluster's own features over real sockets: replayed captures of a
//! real Kafka 3.8.0 and every kind of injected fault. What the mock claims
//! about Kafka's semantics without a fault is in `differential.rs`, checked
//! against real Kafka too.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrokafka_mock::{CoordinatorType, MockCluster, MockConfig};
use ferrokafka_protocol::header::decode_response;
use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

async fn cluster(brokers: i32) -> MockCluster {
    MockCluster::start(MockConfig { brokers, ..Default::default() }).await.unwrap()
}

#[tokio::test]
async fn captured_idempotent_sequence_gets_kafkas_answers() {
    // errors/00576-00581: InitProducerId, then a batch, the same batch
    // again (duplicate: the original offset), a sequence gap, an epoch bump
    // with sequence 0, and a stale epoch — sent byte for byte as the real
    // client sent them.
    let c = cluster(1).await;
    c.create_topic("errors-raw", 1).unwrap();
    let mut conn = Client::connect(&c.bootstrap()).await;
    for seq in 576..=581 {
        let (api, v, req) = capture("errors", seq, true);
        let (_, _, want) = capture("errors", seq, false);
        let got = conn.send_raw(&req).await.expect("answered");
        let (_, got) = decode_response(api, v, got).unwrap();
        let (_, want) = decode_response(api, v, want).unwrap();
        match (got, want) {
            (ResponseBody::InitProducerId(g), ResponseBody::InitProducerId(w)) => {
                assert_eq!((g.error_code, g.producer_epoch), (w.error_code, w.producer_epoch));
            }
            (ResponseBody::Produce(g), ResponseBody::Produce(w)) => {
                let (g, w) = (&g.responses[0].partition_responses[0], &w.responses[0].partition_responses[0]);
                assert_eq!((g.error_code, g.base_offset, g.log_start_offset), (w.error_code, w.base_offset, w.log_start_offset), "frame {seq}");
            }
            other => panic!("unexpected pair {other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_api_versions_version_gets_the_v0_fallback_byte_for_byte() {
    let c = cluster(1).await;
    for seq in [586u32] {
        let (_, _, req) = capture("api-versions", seq, true);
        let (_, _, want) = capture("api-versions", seq, false);
        let mut conn = Client::connect(&c.bootstrap()).await;
        assert_eq!(conn.send_raw(&req).await.unwrap(), want);
    }
}

#[tokio::test]
async fn api_versions_can_pretend_to_be_an_older_broker() {
    let mut config = MockConfig::default();
    config.api_versions.insert(ApiKey::Produce, Some((3, 7)));
    config.api_versions.insert(ApiKey::DescribeProducers, None);
    let c = MockCluster::start(config).await.unwrap();
    let conn = Client::connect(&addr_of(&c, 1)).await;
    assert_eq!(conn.versions[&ApiKey::Produce], 7);
    assert!(!conn.versions.contains_key(&ApiKey::DescribeProducers));
}

#[tokio::test]
async fn a_lost_response_then_a_retry_is_a_duplicate_not_a_second_copy() {
    let c = cluster(3).await;
    c.create_topic("t", 1).unwrap();
    let leader = c.leader_of("t", 0).unwrap();
    c.drop_next_response(Some(leader), ApiKey::Produce, 1);
    let mut conn = leader_conn(&c).await;
    let b = batch(77, 0, 0, &["a", "b", "c"], false);
    assert!(conn.send(produce_req("t", 0, b.clone(), None)).await.is_none(), "connection dropped");
    assert_eq!(c.offsets("t", 0).unwrap().0, 3, "the write happened");
    let mut conn = leader_conn(&c).await;
    assert_eq!(produce_result(conn.send(produce_req("t", 0, b, None)).await.unwrap()), (0, 0));
    assert_eq!(c.offsets("t", 0).unwrap().0, 3, "no second copy");
    // The next batch continues the sequence.
    let next = batch(77, 0, 3, &["d"], false);
    assert_eq!(produce_result(conn.send(produce_req("t", 0, next, None)).await.unwrap()), (0, 3));
}

async fn leader_conn(c: &MockCluster) -> Client {
    leader(c, "t", 0).await
}

#[tokio::test]
async fn injected_errors_delays_and_dropped_requests() {
    let c = cluster(1).await;
    c.create_topic("t", 1).unwrap();
    let mut conn = Client::connect(&c.bootstrap()).await;
    c.fail_next(None, ApiKey::Produce, ErrorCode::NOT_ENOUGH_REPLICAS, 2);
    for _ in 0..2 {
        let r = produce_result(conn.send(produce_req("t", 0, batch(-1, -1, -1, &["x"], false), None)).await.unwrap());
        assert_eq!(r.0, ErrorCode::NOT_ENOUGH_REPLICAS.0);
    }
    assert_eq!(c.offsets("t", 0).unwrap().0, 0, "refused requests are not applied");
    assert_eq!(produce_result(conn.send(produce_req("t", 0, batch(-1, -1, -1, &["x"], false), None)).await.unwrap()).0, 0);

    c.delay_next(None, ApiKey::Metadata, Duration::from_millis(300), 1);
    let start = Instant::now();
    conn.send(RequestBody::Metadata(MetadataRequest { topics: None, ..Default::default() })).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));

    c.drop_next_request(None, ApiKey::Produce, 1);
    assert!(conn.send(produce_req("t", 0, batch(-1, -1, -1, &["y"], false), None)).await.is_none());
    assert_eq!(c.offsets("t", 0).unwrap().0, 1, "a dropped request is not applied");
    assert_eq!(c.pending_faults(), 0);
}

#[tokio::test]
async fn a_stopped_broker_hands_over_leadership_and_takes_it_back() {
    let c = cluster(3).await;
    c.create_topic("t", 3).unwrap();
    let before: Vec<i32> = (0..3).map(|p| c.leader_of("t", p).unwrap()).collect();
    let victim = before[0];
    c.stop_broker(victim);
    for p in 0..3 {
        assert_ne!(c.leader_of("t", p).unwrap(), victim);
    }
    assert!(tokio::net::TcpStream::connect(addr_of(&c, victim)).await.is_err(), "its listener is closed");
    // Metadata from a live broker no longer lists it.
    let live = c.brokers().into_iter().find(|(b, _)| *b != victim).unwrap().1;
    let mut conn = Client::connect(&live.to_string()).await;
    let Some(ResponseBody::Metadata(md)) = conn.send(RequestBody::Metadata(MetadataRequest { topics: None, ..Default::default() })).await else { panic!() };
    assert!(!md.brokers.iter().any(|b| b.node_id == victim));
    c.start_broker(victim).await.unwrap();
    let after: Vec<i32> = (0..3).map(|p| c.leader_of("t", p).unwrap()).collect();
    assert_eq!(after, before);
    Client::connect(&addr_of(&c, victim)).await;
}

#[tokio::test]
async fn a_moved_leader_answers_not_leader_and_fences_old_epochs() {
    let c = cluster(2).await;
    c.create_topic("t", 1).unwrap();
    let old = c.leader_of("t", 0).unwrap();
    let new = if old == 1 { 2 } else { 1 };
    let mut conn = Client::connect(&addr_of(&c, old)).await;
    assert!(c.move_leader("t", 0, new));
    let (code, _) = produce_result(conn.send(produce_req("t", 0, batch(-1, -1, -1, &["x"], false), None)).await.unwrap());
    assert_eq!(code, ErrorCode::NOT_LEADER_OR_FOLLOWER.0);
    // A fetch naming the old leader epoch is fenced.
    let mut conn = Client::connect(&addr_of(&c, new)).await;
    let fetch = |epoch| {
        RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            topics: vec![fetch_request::FetchTopic {
                topic: "t".into(),
                partitions: vec![fetch_request::FetchPartition { partition: 0, current_leader_epoch: epoch, partition_max_bytes: 1 << 20, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(0), 12).await else { panic!() };
    assert_eq!(f.responses[0].partitions[0].error_code, ErrorCode::FENCED_LEADER_EPOCH.0);
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(1), 12).await else { panic!() };
    assert_eq!(f.responses[0].partitions[0].error_code, 0);
}

#[tokio::test]
async fn coordinators_can_move_and_the_old_one_says_not_coordinator() {
    let c = cluster(3).await;
    let owner = c.coordinator_of(CoordinatorType::Transaction, "moving").unwrap();
    let other = if owner == 1 { 2 } else { 1 };
    c.move_coordinator(CoordinatorType::Transaction, "moving", other);
    let mut conn = Client::connect(&addr_of(&c, owner)).await;
    let req = RequestBody::InitProducerId(InitProducerIdRequest { transactional_id: Some("moving".into()), transaction_timeout_ms: 1000, ..Default::default() });
    let Some(ResponseBody::InitProducerId(r)) = conn.send(req).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::NOT_COORDINATOR.0);
    let find = RequestBody::FindCoordinator(FindCoordinatorRequest { key_type: 1, coordinator_keys: vec!["moving".into()], ..Default::default() });
    let Some(ResponseBody::FindCoordinator(r)) = conn.send(find).await else { panic!() };
    assert_eq!(r.coordinators[0].node_id, other);
}

#[tokio::test]
async fn a_paused_broker_answers_only_after_it_resumes() {
    let c = cluster(1).await;
    let mut conn = Client::connect(&c.bootstrap()).await;
    c.pause_broker(1);
    let req = RequestBody::Metadata(MetadataRequest { topics: None, ..Default::default() });
    let pending = tokio::spawn(async move { conn.send(req).await.is_some() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished());
    c.resume_broker(1);
    assert!(pending.await.unwrap());
}

