//! The mock cluster against Kafka's semantics, over real sockets: replayed
//! captures of a real Kafka 3.8.0, idempotence, transactions, groups and
//! every kind of fault.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrokafka_mock::{CoordinatorType, MockCluster, MockConfig};
use ferrokafka_protocol::header::decode_response;
use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::records::{Batch, ControlRecord, ControlRecordType, DecodeLimits, RecordSet};
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
async fn a_long_poll_fetch_returns_when_data_arrives() {
    let c = cluster(1).await;
    c.create_topic("t", 1).unwrap();
    let addr = c.bootstrap();
    let mut consumer = Client::connect(&addr).await;
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        let Some(ResponseBody::Fetch(f)) = consumer.send_v(fetch_req("t", 0, 0, 0, 5000), 12).await else { panic!() };
        (start.elapsed(), f.responses[0].partitions[0].records.clone().unwrap_or_default().len())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut producer = Client::connect(&addr).await;
    producer.send(produce_req("t", 0, batch(-1, -1, -1, &["hello"], false), None)).await.unwrap();
    let (elapsed, bytes) = waiter.await.unwrap();
    assert!(bytes > 0, "the fetch carried the new batch");
    assert!(elapsed < Duration::from_millis(4000), "it did not wait out its max wait: {elapsed:?}");
}

async fn init_txn(conn: &mut Client, tid: &str, timeout_ms: i32) -> (i64, i16) {
    let req = RequestBody::InitProducerId(InitProducerIdRequest {
        transactional_id: Some(tid.into()),
        transaction_timeout_ms: timeout_ms,
        ..Default::default()
    });
    loop {
        let Some(ResponseBody::InitProducerId(r)) = conn.send(req.clone()).await else { panic!() };
        if r.error_code == ErrorCode::CONCURRENT_TRANSACTIONS.0 {
            continue;
        }
        assert_eq!(r.error_code, 0, "{r:?}");
        return (r.producer_id, r.producer_epoch);
    }
}

async fn add_partition(conn: &mut Client, tid: &str, pid: i64, epoch: i16, topic: &str, p: i32) -> i16 {
    let req = RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: tid.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![add_partitions_to_txn_request::AddPartitionsToTxnTopic { name: topic.into(), partitions: vec![p], ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::AddPartitionsToTxn(r)) = conn.send_v(req, 3).await else { panic!() };
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn end_txn(conn: &mut Client, tid: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = RequestBody::EndTxn(EndTxnRequest { transactional_id: tid.into(), producer_id: pid, producer_epoch: epoch, committed: commit, ..Default::default() });
    let Some(ResponseBody::EndTxn(r)) = conn.send(req).await else { panic!() };
    r.error_code
}

/// A single-broker cluster, so every coordinator and leader is broker 1.
async fn one_broker() -> (MockCluster, Client) {
    let c = cluster(1).await;
    let conn = Client::connect(&c.bootstrap()).await;
    (c, conn)
}

#[tokio::test]
async fn commit_and_abort_write_markers_and_the_abort_index() {
    let (c, mut conn) = one_broker().await;
    c.create_topic("t", 1).unwrap();
    let (pid, epoch) = init_txn(&mut conn, "tx", 60_000).await;
    // Writing before adding the partition is refused.
    let (code, _) = produce_result(conn.send(produce_req("t", 0, batch(pid, epoch, 0, &["early"], true), Some("tx"))).await.unwrap());
    assert_eq!(code, ErrorCode::INVALID_TXN_STATE.0);
    assert_eq!(add_partition(&mut conn, "tx", pid, epoch, "t", 0).await, 0);
    conn.send(produce_req("t", 0, batch(pid, epoch, 0, &["a", "b"], true), Some("tx"))).await.unwrap();
    assert_eq!(c.offsets("t", 0).unwrap(), (2, 0, 0), "the open transaction holds back the last stable offset");
    assert_eq!(end_txn(&mut conn, "tx", pid, epoch, false).await, 0);
    assert_eq!(c.offsets("t", 0).unwrap(), (3, 3, 0));
    assert_eq!(add_partition(&mut conn, "tx", pid, epoch, "t", 0).await, 0);
    conn.send(produce_req("t", 0, batch(pid, epoch, 2, &["c"], true), Some("tx"))).await.unwrap();
    assert_eq!(end_txn(&mut conn, "tx", pid, epoch, true).await, 0);
    // A retried commit is answered as a success; an abort now is not allowed.
    assert_eq!(end_txn(&mut conn, "tx", pid, epoch, true).await, 0);
    assert_eq!(end_txn(&mut conn, "tx", pid, epoch, false).await, ErrorCode::INVALID_TXN_STATE.0);

    let markers: Vec<(i64, ControlRecordType)> = c
        .batches("t", 0)
        .into_iter()
        .filter(|b| b.is_control())
        .map(|b| {
            let r = &b.records[0];
            (b.base_offset, ControlRecord::decode(r.key.as_ref().unwrap(), r.value.as_ref()).unwrap().kind)
        })
        .collect();
    assert_eq!(markers, vec![(2, ControlRecordType::Abort), (4, ControlRecordType::Commit)]);

    // read_committed: the aborted range is listed, the rest is stable.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch_req("t", 0, 0, 1, 0), 12).await else { panic!() };
    let p = &f.responses[0].partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset), (5, 5));
    let aborted: Vec<(i64, i64)> = p.aborted_transactions.clone().unwrap().iter().map(|a| (a.producer_id, a.first_offset)).collect();
    assert_eq!(aborted, vec![(pid, 0)]);
    let set = RecordSet::parse(p.records.clone().unwrap(), &DecodeLimits::default()).unwrap();
    assert_eq!(set.batches.iter().filter(|b| matches!(b, Batch::V2(_))).count(), 4);
}

#[tokio::test]
async fn a_second_init_fences_the_first_and_aborts_its_transaction() {
    // As in the captured `fencing` scenario: CONCURRENT_TRANSACTIONS while
    // the old transaction is aborted, then epoch + 2.
    let (c, mut a) = one_broker().await;
    c.create_topic("t", 1).unwrap();
    let (pid, epoch) = init_txn(&mut a, "fx", 60_000).await;
    add_partition(&mut a, "fx", pid, epoch, "t", 0).await;
    a.send(produce_req("t", 0, batch(pid, epoch, 0, &["zombie"], true), Some("fx"))).await.unwrap();
    let mut b = Client::connect(&c.bootstrap()).await;
    let req = RequestBody::InitProducerId(InitProducerIdRequest { transactional_id: Some("fx".into()), transaction_timeout_ms: 60_000, ..Default::default() });
    let Some(ResponseBody::InitProducerId(first)) = b.send_v(req.clone(), 4).await else { panic!() };
    assert_eq!(first.error_code, ErrorCode::CONCURRENT_TRANSACTIONS.0);
    let Some(ResponseBody::InitProducerId(second)) = b.send_v(req, 4).await else { panic!() };
    assert_eq!((second.error_code, second.producer_id, second.producer_epoch), (0, pid, epoch + 2));
    // The zombie: produce refused, AddPartitions (v0-1: INVALID_PRODUCER_EPOCH), EndTxn v3 PRODUCER_FENCED.
    let (code, _) = produce_result(a.send(produce_req("t", 0, batch(pid, epoch, 1, &["late"], true), Some("fx"))).await.unwrap());
    assert_eq!(code, ErrorCode::INVALID_PRODUCER_EPOCH.0);
    let req = RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: "fx".into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![add_partitions_to_txn_request::AddPartitionsToTxnTopic { name: "t".into(), partitions: vec![0], ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::AddPartitionsToTxn(r)) = a.send_v(req, 0).await else { panic!() };
    assert_eq!(r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, ErrorCode::INVALID_PRODUCER_EPOCH.0);
    let end = RequestBody::EndTxn(EndTxnRequest { transactional_id: "fx".into(), producer_id: pid, producer_epoch: epoch, committed: true, ..Default::default() });
    let Some(ResponseBody::EndTxn(r)) = a.send_v(end, 3).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::PRODUCER_FENCED.0);
    assert_eq!(c.offsets("t", 0).unwrap(), (2, 2, 0), "the zombie's record was aborted");
}

#[tokio::test]
async fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let (c, mut conn) = one_broker().await;
    c.create_topic("t", 1).unwrap();
    let (pid, epoch) = init_txn(&mut conn, "slow", 200).await;
    add_partition(&mut conn, "slow", pid, epoch, "t", 0).await;
    conn.send(produce_req("t", 0, batch(pid, epoch, 0, &["x"], true), Some("slow"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.offsets("t", 0).unwrap(), (2, 2, 0), "aborted by the coordinator");
    assert_ne!(end_txn(&mut conn, "slow", pid, epoch, true).await, 0);
}

#[tokio::test]
async fn transactional_offsets_show_only_on_commit() {
    let (c, mut conn) = one_broker().await;
    c.create_topic("in", 1).unwrap();
    let (pid, epoch) = init_txn(&mut conn, "ox", 60_000).await;
    let req = RequestBody::AddOffsetsToTxn(AddOffsetsToTxnRequest { transactional_id: "ox".into(), producer_id: pid, producer_epoch: epoch, group_id: "g".into(), ..Default::default() });
    let Some(ResponseBody::AddOffsetsToTxn(r)) = conn.send(req).await else { panic!() };
    assert_eq!(r.error_code, 0);
    let commit = RequestBody::TxnOffsetCommit(TxnOffsetCommitRequest {
        transactional_id: "ox".into(),
        group_id: "g".into(),
        producer_id: pid,
        producer_epoch: epoch,
        topics: vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic {
            name: "in".into(),
            partitions: vec![txn_offset_commit_request::TxnOffsetCommitRequestPartition { partition_index: 0, committed_offset: 42, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let Some(ResponseBody::TxnOffsetCommit(r)) = conn.send(commit).await else { panic!() };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(c.committed_offset("g", "in", 0), None, "not visible before commit");
    let fetch = RequestBody::OffsetFetch(OffsetFetchRequest {
        groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
            group_id: "g".into(),
            topics: Some(vec![offset_fetch_request::OffsetFetchRequestTopics { name: "in".into(), partition_indexes: vec![0], ..Default::default() }]),
            ..Default::default()
        }],
        require_stable: true,
        ..Default::default()
    });
    let Some(ResponseBody::OffsetFetch(r)) = conn.send(fetch.clone()).await else { panic!() };
    assert_eq!(r.groups[0].topics[0].partitions[0].error_code, ErrorCode::UNSTABLE_OFFSET_COMMIT.0);
    assert_eq!(end_txn(&mut conn, "ox", pid, epoch, true).await, 0);
    assert_eq!(c.committed_offset("g", "in", 0), Some(42));
    let Some(ResponseBody::OffsetFetch(r)) = conn.send(fetch).await else { panic!() };
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
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

#[tokio::test]
async fn group_join_sync_heartbeat_and_leave() {
    let (c, mut a) = one_broker().await;
    let join = |member: &str| {
        RequestBody::JoinGroup(JoinGroupRequest {
            group_id: "grp".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![join_group_request::JoinGroupRequestProtocol { name: "range".into(), metadata: "m".into(), ..Default::default() }],
            ..Default::default()
        })
    };
    let Some(ResponseBody::JoinGroup(r)) = a.send(join("")).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::MEMBER_ID_REQUIRED.0);
    let id = r.member_id;
    let Some(ResponseBody::JoinGroup(r)) = a.send(join(&id)).await else { panic!() };
    assert_eq!((r.error_code, r.generation_id, r.leader.as_str(), r.members.len()), (0, 1, id.as_str(), 1));
    let sync = RequestBody::SyncGroup(SyncGroupRequest {
        group_id: "grp".into(),
        generation_id: 1,
        member_id: id.clone(),
        assignments: vec![sync_group_request::SyncGroupRequestAssignment { member_id: id.clone(), assignment: "all".into(), ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::SyncGroup(r)) = a.send(sync).await else { panic!() };
    assert_eq!((r.error_code, &r.assignment[..]), (0, &b"all"[..]));
    let hb = |gen| RequestBody::Heartbeat(HeartbeatRequest { group_id: "grp".into(), generation_id: gen, member_id: id.clone(), ..Default::default() });
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(1)).await else { panic!() };
    assert_eq!(r.error_code, 0);
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(0)).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::ILLEGAL_GENERATION.0);
    let leave = RequestBody::LeaveGroup(LeaveGroupRequest {
        group_id: "grp".into(),
        members: vec![leave_group_request::MemberIdentity { member_id: id.clone(), ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::LeaveGroup(r)) = a.send(leave).await else { panic!() };
    assert_eq!(r.members[0].error_code, 0);
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(1)).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::UNKNOWN_MEMBER_ID.0);
    drop(c);
}

#[tokio::test]
async fn incremental_fetch_sessions_report_only_what_changed() {
    let c = cluster(1).await;
    c.create_topic("s", 2).unwrap();
    let mut conn = Client::connect(&c.bootstrap()).await;
    let part = |p: i32, offset: i64| fetch_request::FetchPartition { partition: p, fetch_offset: offset, partition_max_bytes: 1 << 20, ..Default::default() };
    let fetch = |session_id: i32, epoch: i32, parts: Vec<fetch_request::FetchPartition>| {
        RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            session_id,
            session_epoch: epoch,
            topics: if parts.is_empty() { Vec::new() } else { vec![fetch_request::FetchTopic { topic: "s".into(), partitions: parts, ..Default::default() }] },
            ..Default::default()
        })
    };
    // Create: a full answer with a session id.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(0, 0, vec![part(0, 0), part(1, 0)]), 12).await else { panic!() };
    assert_ne!(f.session_id, 0);
    assert_eq!(f.responses[0].partitions.len(), 2);
    let sid = f.session_id;
    // Nothing changed: an incremental fetch answers with no partitions.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 1, vec![]), 12).await else { panic!() };
    assert_eq!((f.error_code, f.responses.len()), (0, 0));
    // New data on partition 1 only: only it comes back.
    conn.send(produce_req("s", 1, batch(-1, -1, -1, &["x"], false), None)).await.unwrap();
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 2, vec![]), 12).await else { panic!() };
    let parts: Vec<i32> = f.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect();
    assert_eq!(parts, vec![1]);
    // A wrong epoch, and an unknown session.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 7, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.0);
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid + 1000, 1, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
    // Closing: a full sessionless answer.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, -1, vec![part(0, 0)]), 12).await else { panic!() };
    assert_eq!((f.session_id, f.responses[0].partitions.len()), (0, 1));
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 3, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
}
