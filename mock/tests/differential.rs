//! Differential tests: the same requests and the same assertions against the
//! mock cluster and against real Apache Kafka (the broker named by
//! `FERROKAFKA_TEST_BOOTSTRAP`, which `scripts/test` starts), so that what
//! `mock/README.md` claims about Kafka is checked against Kafka itself.
//!
//! Everything goes over the wire, on both sides: topics are made with
//! CreateTopics, offsets read with ListOffsets, logs with Fetch, committed
//! offsets with OffsetFetch, coordinators found with FindCoordinator. Kafka
//! does some things asynchronously that the mock does at once (electing
//! leaders, writing transaction markers, aborting timed-out transactions), so
//! those outcomes are awaited with a deadline instead of read once.
//!
//! Transactions here use the classic protocol (Produce v11, EndTxn v4,
//! TxnOffsetCommit v4), which Kafka 4.x still serves beside transactions v2
//! and which the mock serves by default.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::bytes::{Bytes, BytesMut};
use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::records::{Batch, ControlRecord, ControlRecordType, DecodeLimits, RecordBatch, RecordHeader, RecordSet};
use ferrokafka_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

/// What the tests run against.
enum Target {
    /// Keeps the cluster alive for the test's duration.
    Mock(#[allow(dead_code)] MockCluster, String),
    Kafka(String),
}

/// The classic (pre-KIP-890-part-2) transactional versions.
const PRODUCE_TXN_V1: i16 = 11;
const END_TXN_V1: i16 = 4;
const TXN_OFFSET_COMMIT_V1: i16 = 4;

/// How long Kafka may take for what it does in the background.
const EVENTUALLY: Duration = Duration::from_secs(30);

impl Target {
    /// A single-broker mock, the shape of the single-node Kafka it is compared with.
    async fn mock() -> Target {
        Target::mock_with(MockConfig::default()).await
    }

    async fn mock_with(config: MockConfig) -> Target {
        let c = MockCluster::start(MockConfig { brokers: 1, auto_create_topics: false, ..config }).await.unwrap();
        let b = c.bootstrap();
        Target::Mock(c, b)
    }

    fn kafka() -> Option<Target> {
        std::env::var("FERROKAFKA_TEST_BOOTSTRAP").ok().map(Target::Kafka)
    }

    fn first_address(&self) -> String {
        let (Target::Mock(_, b) | Target::Kafka(b)) = self;
        b.split(',').next().unwrap().to_string()
    }

    async fn any(&self) -> Client {
        Client::connect(&self.first_address()).await
    }

    async fn metadata(&self, topic: &str) -> MetadataResponse {
        let req = MetadataRequest {
            topics: Some(vec![metadata_request::MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]),
            ..Default::default()
        };
        let Some(ResponseBody::Metadata(md)) = self.any().await.send(RequestBody::Metadata(req)).await else { panic!("metadata") };
        md
    }

    /// Creates a topic (replication factor 1) and waits until every
    /// partition has a leader.
    async fn create_topic(&self, name: &str, partitions: i32) {
        let req = CreateTopicsRequest {
            topics: vec![create_topics_request::CreatableTopic { name: name.into(), num_partitions: partitions, replication_factor: 1, ..Default::default() }],
            timeout_ms: 30_000,
            ..Default::default()
        };
        let Some(ResponseBody::CreateTopics(r)) = self.any().await.send(RequestBody::CreateTopics(req)).await else { panic!("create topics") };
        assert_eq!(r.topics[0].error_code, 0, "create {name}: {r:?}");
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let md = self.metadata(name).await;
            let t = &md.topics[0];
            if t.error_code == 0 && t.partitions.len() == partitions as usize && t.partitions.iter().all(|p| p.leader_id >= 0) {
                // Kafka's metadata can name a leader a moment before that
                // broker serves the partition (NOT_LEADER_OR_FOLLOWER).
                let mut ready = true;
                for p in 0..partitions {
                    let mut conn = self.leader(name, p).await;
                    ready &= self.list_offset_at(&mut conn, name, p, -1, 0).await.0 == 0;
                }
                if ready {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no leaders for {name}: {t:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A connection to the leader of a partition.
    async fn leader(&self, topic: &str, p: i32) -> Client {
        let md = self.metadata(topic).await;
        let id = md.topics[0].partitions.iter().find(|x| x.partition_index == p).expect("partition").leader_id;
        let b = md.brokers.iter().find(|b| b.node_id == id).expect("leader is listed");
        Client::connect(&format!("{}:{}", b.host, b.port)).await
    }

    /// A connection to the group (0) or transaction (1) coordinator of `key`.
    async fn coordinator(&self, key_type: i8, key: &str) -> Client {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let mut conn = self.any().await;
            // One key (v0-3) or a list of keys (v4+).
            let req = if conn.versions[&ApiKey::FindCoordinator] >= 4 {
                FindCoordinatorRequest { key_type, coordinator_keys: vec![key.into()], ..Default::default() }
            } else {
                FindCoordinatorRequest { key_type, key: key.into(), ..Default::default() }
            };
            let Some(ResponseBody::FindCoordinator(r)) = conn.send(RequestBody::FindCoordinator(req)).await else { panic!() };
            let (code, host, port) = match r.coordinators.first() {
                Some(c) => (c.error_code, c.host.clone(), c.port),
                None => (r.error_code, r.host.clone(), r.port),
            };
            if code == 0 {
                return Client::connect(&format!("{host}:{port}")).await;
            }
            // Kafka answers COORDINATOR_NOT_AVAILABLE while it creates its
            // internal topic on first use.
            assert_eq!(code, ErrorCode::COORDINATOR_NOT_AVAILABLE.0, "find coordinator {key}");
            assert!(Instant::now() < deadline, "no coordinator for {key}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// (error, offset, timestamp) of a ListOffsets look-up.
    async fn list_offset(&self, topic: &str, p: i32, timestamp: i64, isolation_level: i8) -> (i16, i64, i64) {
        let mut conn = self.leader(topic, p).await;
        self.list_offset_at(&mut conn, topic, p, timestamp, isolation_level).await
    }

    /// The same, on a given connection.
    async fn list_offset_at(&self, conn: &mut Client, topic: &str, p: i32, timestamp: i64, isolation_level: i8) -> (i16, i64, i64) {
        let req = ListOffsetsRequest {
            replica_id: -1,
            isolation_level,
            topics: vec![list_offsets_request::ListOffsetsTopic {
                name: topic.into(),
                partitions: vec![list_offsets_request::ListOffsetsPartition { partition_index: p, timestamp, current_leader_epoch: -1, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Some(ResponseBody::ListOffsets(r)) = conn.send(RequestBody::ListOffsets(req)).await else { panic!() };
        let x = &r.topics[0].partitions[0];
        (x.error_code, x.offset, x.timestamp)
    }

    /// (high watermark, last stable offset, log start offset), by ListOffsets.
    async fn offsets(&self, topic: &str, p: i32) -> (i64, i64, i64) {
        let hw = self.list_offset(topic, p, -1, 0).await;
        let lso = self.list_offset(topic, p, -1, 1).await;
        let start = self.list_offset(topic, p, -2, 0).await;
        assert_eq!((hw.0, lso.0, start.0), (0, 0, 0), "list offsets of {topic}/{p}");
        (hw.1, lso.1, start.1)
    }

    /// Waits until `offsets` says `want` (Kafka writes markers and aborts
    /// timed-out transactions in the background).
    async fn offsets_become(&self, topic: &str, p: i32, want: (i64, i64, i64), what: &str) {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let got = self.offsets(topic, p).await;
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: offsets of {topic}/{p} are {got:?}, want {want:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every batch of a partition's log, read with Fetch (read_uncommitted).
    async fn batches(&self, topic: &str, p: i32) -> Vec<RecordBatch> {
        self.fetch_log(topic, p, 0).await.0
    }

    /// Reads a partition from its start to its end for the isolation level
    /// (0: the high watermark, 1: the last stable offset), fetch after
    /// fetch: Kafka may answer a fetch with fewer batches than fit. Returns
    /// the batches and the aborted transactions listed, (producer id, first
    /// offset), each once.
    async fn fetch_log(&self, topic: &str, p: i32, isolation_level: i8) -> (Vec<RecordBatch>, Vec<(i64, i64)>) {
        let (hw, lso, mut offset) = self.offsets(topic, p).await;
        let end = if isolation_level == 1 { lso } else { hw };
        let mut conn = self.leader(topic, p).await;
        let (mut batches, mut aborted) = (Vec::new(), Vec::new());
        while offset < end {
            let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch_req(topic, p, offset, isolation_level, 0), 12).await else { panic!() };
            let part = &f.responses[0].partitions[0];
            assert_eq!(part.error_code, 0);
            for a in part.aborted_transactions.iter().flatten() {
                if !aborted.contains(&(a.producer_id, a.first_offset)) {
                    aborted.push((a.producer_id, a.first_offset));
                }
            }
            let set = RecordSet::parse(part.records.clone().unwrap_or_default(), &DecodeLimits::default()).unwrap();
            for b in set.batches {
                let Batch::V2(b) = b else { panic!("a legacy batch") };
                let next = b.base_offset + b.last_offset_delta as i64 + 1;
                if next > offset {
                    offset = next;
                    batches.push(b);
                }
            }
        }
        (batches, aborted)
    }
}

/// A name no earlier run against the same broker used.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() % 100_000_000;
    format!("{prefix}-{}-{t}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Runs each named case against a fresh mock and against the configured
/// Kafka, as `<case>::mock` and `<case>::kafka`.
macro_rules! differential {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mock() {
                super::$case(&super::Target::mock().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka() {
                match super::Target::kafka() {
                    Some(t) => super::$case(&t).await,
                    None => eprintln!("NOTICE: FERROKAFKA_TEST_BOOTSTRAP is not set; {} ran against the mock only", stringify!($case)),
                }
            }
        }
    )*};
}

differential!(
    api_versions_v3_wants_a_valid_client_software_name,
    idempotence_answers_duplicates_gaps_and_stale_epochs,
    a_long_poll_fetch_returns_when_data_arrives,
    list_offsets_by_position_timestamp_and_isolation,
    commit_and_abort_write_markers_and_the_abort_index,
    a_second_init_fences_the_first_and_aborts_its_transaction,
    a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced,
    transactional_offsets_show_only_on_commit,
    group_join_sync_heartbeat_and_leave,
    incremental_fetch_sessions_report_only_what_changed,
);

async fn init_pid(conn: &mut Client, tid: Option<&str>, timeout_ms: i32, current: Option<(i64, i16)>) -> InitProducerIdResponse {
    let req = RequestBody::InitProducerId(InitProducerIdRequest {
        transactional_id: tid.map(str::to_string),
        transaction_timeout_ms: timeout_ms,
        producer_id: current.map_or(-1, |c| c.0),
        producer_epoch: current.map_or(-1, |c| c.1),
        ..Default::default()
    });
    let Some(ResponseBody::InitProducerId(r)) = conn.send(req).await else { panic!() };
    r
}

/// InitProducerId for a transactional id, retried while the coordinator is
/// busy (CONCURRENT_TRANSACTIONS, or not yet loaded).
async fn init_txn(conn: &mut Client, tid: &str, timeout_ms: i32) -> (i64, i16) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let r = init_pid(conn, Some(tid), timeout_ms, None).await;
        let retriable = [ErrorCode::CONCURRENT_TRANSACTIONS.0, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0, ErrorCode::COORDINATOR_NOT_AVAILABLE.0];
        if r.error_code == 0 {
            return (r.producer_id, r.producer_epoch);
        }
        assert!(retriable.contains(&r.error_code) && Instant::now() < deadline, "init {tid}: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn add_partition(conn: &mut Client, tid: &str, pid: i64, epoch: i16, topic: &str, p: i32, version: i16) -> i16 {
    let req = RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: tid.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![add_partitions_to_txn_request::AddPartitionsToTxnTopic { name: topic.into(), partitions: vec![p], ..Default::default() }],
        ..Default::default()
    });
    let Some((_, ResponseBody::AddPartitionsToTxn(r))) = conn.send_at_least(req, version).await else { panic!() };
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// EndTxn, retried while Kafka still writes the markers of the previous
/// outcome (CONCURRENT_TRANSACTIONS).
async fn end_txn(conn: &mut Client, tid: &str, pid: i64, epoch: i16, commit: bool, version: i16) -> i16 {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let req = RequestBody::EndTxn(EndTxnRequest { transactional_id: tid.into(), producer_id: pid, producer_epoch: epoch, committed: commit, ..Default::default() });
        let Some((_, ResponseBody::EndTxn(r))) = conn.send_at_least(req, version).await else { panic!() };
        if r.error_code != ErrorCode::CONCURRENT_TRANSACTIONS.0 || Instant::now() > deadline {
            return r.error_code;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn produce(conn: &mut Client, topic: &str, p: i32, records: Bytes, tid: Option<&str>) -> (i16, i64) {
    let version = if tid.is_some() { PRODUCE_TXN_V1 } else { conn.versions[&ApiKey::Produce] };
    produce_result(conn.send_v(produce_req(topic, p, records, tid), version).await.expect("produce answered"))
}

/// A one-record batch at a given timestamp.
fn batch_at(timestamp: i64, value: &str) -> Bytes {
    let b = RecordBatch::from_records(std::iter::once((timestamp, None, Some(Bytes::from(value.to_string())), Vec::<RecordHeader>::new())));
    let mut buf = BytesMut::new();
    b.encode(&mut buf, None).unwrap();
    buf.freeze()
}

async fn idempotence_answers_duplicates_gaps_and_stale_epochs(t: &Target) {
    let topic = unique("idem");
    t.create_topic(&topic, 1).await;
    let mut conn = t.leader(&topic, 0).await;
    let r = init_pid(&mut conn, None, -1, None).await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    assert!(pid >= 0 && epoch >= 0);

    let first = batch(pid, epoch, 0, &["a", "b", "c"], false);
    assert_eq!(produce(&mut conn, &topic, 0, first.clone(), None).await, (0, 0));
    // The same batch again: a duplicate, answered with its original offset.
    assert_eq!(produce(&mut conn, &topic, 0, first, None).await, (0, 0));
    assert_eq!(produce(&mut conn, &topic, 0, batch(pid, epoch, 3, &["d"], false), None).await, (0, 3));
    // A gap in the sequence.
    let (code, _) = produce(&mut conn, &topic, 0, batch(pid, epoch, 5, &["gap"], false), None).await;
    assert_eq!(code, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0);
    // An idempotent producer bumps its epoch by itself (as the Java client
    // does after an unresolved sequence): a higher epoch is accepted, and
    // must start at sequence 0.
    let (code, _) = produce(&mut conn, &topic, 0, batch(pid, epoch + 1, 4, &["no"], false), None).await;
    assert_eq!(code, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0);
    assert_eq!(produce(&mut conn, &topic, 0, batch(pid, epoch + 1, 0, &["e"], false), None).await, (0, 4));
    // The old epoch is fenced.
    let (code, _) = produce(&mut conn, &topic, 0, batch(pid, epoch, 4, &["stale"], false), None).await;
    assert_eq!(code, ErrorCode::INVALID_PRODUCER_EPOCH.0);
    // Without a transactional id, InitProducerId with the current id and
    // epoch does not bump the epoch (that is for transactional producers,
    // KIP-360): it hands out a new producer id at epoch 0.
    let r = init_pid(&mut conn, None, -1, Some((pid, epoch + 1))).await;
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id != pid && r.producer_epoch == 0, "{r:?}");
    assert_eq!(t.offsets(&topic, 0).await, (5, 5, 0), "only the accepted batches were written");
}

async fn a_long_poll_fetch_returns_when_data_arrives(t: &Target) {
    let topic = unique("poll");
    t.create_topic(&topic, 1).await;
    let mut consumer = t.leader(&topic, 0).await;
    let tp = topic.clone();
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        let Some(ResponseBody::Fetch(f)) = consumer.send_v(fetch_req(&tp, 0, 0, 0, 5000), 12).await else { panic!() };
        (start.elapsed(), f.responses[0].partitions[0].records.clone().unwrap_or_default().len())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut producer = t.leader(&topic, 0).await;
    assert_eq!(produce(&mut producer, &topic, 0, batch(-1, -1, -1, &["hello"], false), None).await.0, 0);
    let (elapsed, bytes) = waiter.await.unwrap();
    assert!(bytes > 0, "the fetch carried the new batch");
    assert!(elapsed < Duration::from_millis(4500), "it did not wait out its max wait: {elapsed:?}");
}

async fn list_offsets_by_position_timestamp_and_isolation(t: &Target) {
    let topic = unique("lo");
    t.create_topic(&topic, 1).await;
    let mut conn = t.leader(&topic, 0).await;
    assert_eq!(t.offsets(&topic, 0).await, (0, 0, 0), "an empty log");
    // Timestamps out of order: 1 s, 3 s, 2 s past a base an hour ago.
    let base = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64 - 3_600_000;
    for (i, dt) in [1000, 3000, 2000].into_iter().enumerate() {
        assert_eq!(produce(&mut conn, &topic, 0, batch_at(base + dt, &format!("r{i}")), None).await, (0, i as i64));
    }
    assert_eq!(t.list_offset(&topic, 0, -2, 0).await, (0, 0, -1), "earliest");
    assert_eq!(t.list_offset(&topic, 0, -1, 0).await, (0, 3, -1), "latest");
    // By timestamp: the first offset whose timestamp is at or past it.
    assert_eq!(t.list_offset(&topic, 0, base + 2500, 0).await, (0, 1, base + 3000));
    assert_eq!(t.list_offset(&topic, 0, base + 1000, 0).await, (0, 0, base + 1000));
    assert_eq!(t.list_offset(&topic, 0, base + 9000, 0).await, (0, -1, -1), "past every record");
    // Max timestamp (v7+): the record with the largest timestamp.
    assert_eq!(t.list_offset(&topic, 0, -3, 0).await, (0, 1, base + 3000));
    // An open transaction holds back the read_committed end.
    let tid = unique("lo-tx");
    let mut txn = t.coordinator(1, &tid).await;
    let (pid, epoch) = init_txn(&mut txn, &tid, 60_000).await;
    assert_eq!(add_partition(&mut txn, &tid, pid, epoch, &topic, 0, 3).await, 0);
    assert_eq!(produce(&mut conn, &topic, 0, batch(pid, epoch, 0, &["open"], true), Some(&tid)).await, (0, 3));
    assert_eq!(t.list_offset(&topic, 0, -1, 0).await.1, 4, "read_uncommitted end");
    assert_eq!(t.list_offset(&topic, 0, -1, 1).await.1, 3, "read_committed end: the last stable offset");
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, false, END_TXN_V1).await, 0);
    t.offsets_become(&topic, 0, (5, 5, 0), "after the abort").await;
    // A partition that does not exist.
    let (code, _, _) = t.list_offset_at(&mut conn, &topic, 7, -1, 0).await;
    assert_eq!(code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0);
}

async fn commit_and_abort_write_markers_and_the_abort_index(t: &Target) {
    let (topic, tid) = (unique("mk"), unique("mk-tx"));
    t.create_topic(&topic, 1).await;
    let mut txn = t.coordinator(1, &tid).await;
    let mut conn = t.leader(&topic, 0).await;
    let (pid, epoch) = init_txn(&mut txn, &tid, 60_000).await;
    // Writing before adding the partition is refused: INVALID_TXN_STATE up
    // to Produce v10, TRANSACTION_ABORTABLE from v11 (KIP-890), nothing
    // written either way.
    for (v, want) in [(10, ErrorCode::INVALID_TXN_STATE), (11, ErrorCode::TRANSACTION_ABORTABLE)] {
        let r = conn.send_v(produce_req(&topic, 0, batch(pid, epoch, 0, &["early"], true), Some(&tid)), v).await.map(produce_result);
        assert_eq!(r, Some((want.0, -1)), "produce v{v} before AddPartitionsToTxn");
    }
    assert_eq!(t.offsets(&topic, 0).await, (0, 0, 0));
    assert_eq!(add_partition(&mut txn, &tid, pid, epoch, &topic, 0, 3).await, 0);
    assert_eq!(produce(&mut conn, &topic, 0, batch(pid, epoch, 0, &["a", "b"], true), Some(&tid)).await, (0, 0));
    assert_eq!(t.offsets(&topic, 0).await, (2, 0, 0), "the open transaction holds back the last stable offset");
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, false, END_TXN_V1).await, 0);
    t.offsets_become(&topic, 0, (3, 3, 0), "after the abort marker").await;
    assert_eq!(add_partition(&mut txn, &tid, pid, epoch, &topic, 0, 3).await, 0);
    assert_eq!(produce(&mut conn, &topic, 0, batch(pid, epoch, 2, &["c"], true), Some(&tid)).await, (0, 3));
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, true, END_TXN_V1).await, 0);
    // A retried commit is answered as a success; an abort now is not allowed.
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, true, END_TXN_V1).await, 0);
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, false, END_TXN_V1).await, ErrorCode::INVALID_TXN_STATE.0);
    t.offsets_become(&topic, 0, (5, 5, 0), "after the commit marker").await;

    let markers: Vec<(i64, ControlRecordType)> = t
        .batches(&topic, 0)
        .await
        .into_iter()
        .filter(|b| b.is_control())
        .map(|b| {
            let r = &b.records[0];
            (b.base_offset, ControlRecord::decode(r.key.as_ref().unwrap(), r.value.as_ref()).unwrap().kind)
        })
        .collect();
    assert_eq!(markers, vec![(2, ControlRecordType::Abort), (4, ControlRecordType::Commit)]);

    // read_committed: the aborted range is listed, the rest is stable.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch_req(&topic, 0, 0, 1, 0), 12).await else { panic!() };
    let p = &f.responses[0].partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset), (5, 5));
    let (batches, aborted) = t.fetch_log(&topic, 0, 1).await;
    assert_eq!(aborted, vec![(pid, 0)]);
    let bases: Vec<i64> = batches.iter().map(|b| b.base_offset).collect();
    assert_eq!(bases, vec![0, 2, 3, 4]);
}

/// A transaction with one record written to a new one-partition topic:
/// what the fencing and timeout cases start from.
struct OpenTxn {
    topic: String,
    tid: String,
    /// The transaction coordinator.
    txn: Client,
    /// The partition's leader.
    data: Client,
    pid: i64,
    epoch: i16,
}

async fn open_txn(t: &Target, prefix: &str, timeout_ms: i32, value: &str) -> OpenTxn {
    let (topic, tid) = (unique(prefix), unique(&format!("{prefix}-tx")));
    t.create_topic(&topic, 1).await;
    let mut txn = t.coordinator(1, &tid).await;
    let mut data = t.leader(&topic, 0).await;
    let (pid, epoch) = init_txn(&mut txn, &tid, timeout_ms).await;
    assert_eq!(add_partition(&mut txn, &tid, pid, epoch, &topic, 0, 3).await, 0);
    assert_eq!(produce(&mut data, &topic, 0, batch(pid, epoch, 0, &[value], true), Some(&tid)).await.0, 0);
    OpenTxn { topic, tid, txn, data, pid, epoch }
}

async fn a_second_init_fences_the_first_and_aborts_its_transaction(t: &Target) {
    // As in the captured `fencing` scenario: CONCURRENT_TRANSACTIONS while
    // the old transaction is aborted, then epoch + 2.
    let OpenTxn { topic, tid, txn: mut a, mut data, pid, epoch } = open_txn(t, "fx", 60_000, "zombie").await;
    let mut b = t.coordinator(1, &tid).await;
    let first = init_pid(&mut b, Some(&tid), 60_000, None).await;
    assert_eq!(first.error_code, ErrorCode::CONCURRENT_TRANSACTIONS.0);
    assert_eq!(init_txn(&mut b, &tid, 60_000).await, (pid, epoch + 2));
    // The zombie: produce refused, AddPartitionsToTxn INVALID_PRODUCER_EPOCH
    // (before v2: the code older clients know) or PRODUCER_FENCED, EndTxn v3+
    // PRODUCER_FENCED.
    let (code, _) = produce(&mut data, &topic, 0, batch(pid, epoch, 1, &["late"], true), Some(&tid)).await;
    assert_eq!(code, ErrorCode::INVALID_PRODUCER_EPOCH.0);
    assert_eq!(add_partition(&mut a, &tid, pid, epoch, &topic, 0, 3).await, ErrorCode::PRODUCER_FENCED.0);
    assert_eq!(end_txn(&mut a, &tid, pid, epoch, true, 3).await, ErrorCode::PRODUCER_FENCED.0);
    t.offsets_become(&topic, 0, (2, 2, 0), "the zombie's record aborted").await;
}

async fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced(t: &Target) {
    let OpenTxn { topic, tid, mut txn, pid, epoch, .. } = open_txn(t, "slow", 200, "x").await;
    // Kafka looks for expired transactions every
    // transaction.abort.timed.out.transaction.cleanup.interval.ms (the test
    // broker: 1 s); the mock checks continuously.
    t.offsets_become(&topic, 0, (2, 2, 0), "aborted by the coordinator").await;
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, true, END_TXN_V1).await, ErrorCode::PRODUCER_FENCED.0);
}

async fn transactional_offsets_show_only_on_commit(t: &Target) {
    let (topic, tid, group) = (unique("in"), unique("ox-tx"), unique("ox-group"));
    t.create_topic(&topic, 1).await;
    let mut txn = t.coordinator(1, &tid).await;
    let mut grp = t.coordinator(0, &group).await;
    let (pid, epoch) = init_txn(&mut txn, &tid, 60_000).await;
    let req = RequestBody::AddOffsetsToTxn(AddOffsetsToTxnRequest { transactional_id: tid.clone(), producer_id: pid, producer_epoch: epoch, group_id: group.clone(), ..Default::default() });
    let Some(ResponseBody::AddOffsetsToTxn(r)) = txn.send(req).await else { panic!() };
    assert_eq!(r.error_code, 0);
    let commit = RequestBody::TxnOffsetCommit(TxnOffsetCommitRequest {
        transactional_id: tid.clone(),
        group_id: group.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: -1,
        topics: vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic {
            name: topic.clone(),
            partitions: vec![txn_offset_commit_request::TxnOffsetCommitRequestPartition { partition_index: 0, committed_offset: 42, committed_leader_epoch: -1, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let Some(ResponseBody::TxnOffsetCommit(r)) = grp.send_v(commit, TXN_OFFSET_COMMIT_V1).await else { panic!() };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let fetch = |require_stable| {
        RequestBody::OffsetFetch(OffsetFetchRequest {
            groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
                group_id: group.clone(),
                topics: Some(vec![offset_fetch_request::OffsetFetchRequestTopics { name: topic.clone(), partition_indexes: vec![0], ..Default::default() }]),
                ..Default::default()
            }],
            require_stable,
            ..Default::default()
        })
    };
    let committed = |r: ResponseBody| {
        let ResponseBody::OffsetFetch(r) = r else { panic!() };
        let p = &r.groups[0].topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    };
    assert_eq!(committed(grp.send_v(fetch(false), 8).await.unwrap()), (0, -1), "not visible before the commit");
    assert_eq!(committed(grp.send_v(fetch(true), 8).await.unwrap()).0, ErrorCode::UNSTABLE_OFFSET_COMMIT.0);
    assert_eq!(end_txn(&mut txn, &tid, pid, epoch, true, END_TXN_V1).await, 0);
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let got = committed(grp.send_v(fetch(true), 8).await.unwrap());
        if got == (0, 42) {
            break;
        }
        assert!(got.0 == ErrorCode::UNSTABLE_OFFSET_COMMIT.0 && Instant::now() < deadline, "after the commit: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn group_join_sync_heartbeat_and_leave(t: &Target) {
    let group = unique("grp");
    let mut a = t.coordinator(0, &group).await;
    let join = |member: &str| {
        RequestBody::JoinGroup(JoinGroupRequest {
            group_id: group.clone(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![join_group_request::JoinGroupRequestProtocol { name: "range".into(), metadata: "m".into(), ..Default::default() }],
            ..Default::default()
        })
    };
    // A fresh Kafka may still be loading the group's offsets partition:
    // COORDINATOR_LOAD_IN_PROGRESS and the like are retried for a while.
    let deadline = Instant::now() + EVENTUALLY;
    let r = loop {
        let Some(ResponseBody::JoinGroup(r)) = a.send(join("")).await else { panic!() };
        let code = ErrorCode(r.error_code);
        if code.is_retriable() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        break r;
    };
    assert_eq!(r.error_code, ErrorCode::MEMBER_ID_REQUIRED.0);
    let id = r.member_id;
    assert!(id.starts_with("mock-test-"), "client.id-<uuid>: {id}");
    let Some(ResponseBody::JoinGroup(r)) = a.send(join(&id)).await else { panic!() };
    assert_eq!((r.error_code, r.generation_id, r.leader.as_str(), r.members.len()), (0, 1, id.as_str(), 1));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    let sync = RequestBody::SyncGroup(SyncGroupRequest {
        group_id: group.clone(),
        generation_id: 1,
        member_id: id.clone(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![sync_group_request::SyncGroupRequestAssignment { member_id: id.clone(), assignment: "all".into(), ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::SyncGroup(r)) = a.send(sync).await else { panic!() };
    assert_eq!((r.error_code, &r.assignment[..]), (0, &b"all"[..]));
    let hb = |gen, member: &str| RequestBody::Heartbeat(HeartbeatRequest { group_id: group.clone(), generation_id: gen, member_id: member.into(), ..Default::default() });
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(1, &id)).await else { panic!() };
    assert_eq!(r.error_code, 0);
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(0, &id)).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::ILLEGAL_GENERATION.0);
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(1, "stranger")).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::UNKNOWN_MEMBER_ID.0);
    let leave = RequestBody::LeaveGroup(LeaveGroupRequest {
        group_id: group.clone(),
        members: vec![leave_group_request::MemberIdentity { member_id: id.clone(), ..Default::default() }],
        ..Default::default()
    });
    let Some(ResponseBody::LeaveGroup(r)) = a.send(leave).await else { panic!() };
    assert_eq!((r.error_code, r.members[0].error_code), (0, 0));
    let Some(ResponseBody::Heartbeat(r)) = a.send(hb(1, &id)).await else { panic!() };
    assert_eq!(r.error_code, ErrorCode::UNKNOWN_MEMBER_ID.0);
}

async fn incremental_fetch_sessions_report_only_what_changed(t: &Target) {
    let topic = unique("s");
    t.create_topic(&topic, 2).await;
    let mut conn = t.leader(&topic, 0).await;
    let part = |p: i32, offset: i64| fetch_request::FetchPartition { partition: p, fetch_offset: offset, partition_max_bytes: 1 << 20, ..Default::default() };
    let fetch = |session_id: i32, epoch: i32, parts: Vec<fetch_request::FetchPartition>| {
        RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            session_id,
            session_epoch: epoch,
            topics: if parts.is_empty() { Vec::new() } else { vec![fetch_request::FetchTopic { topic: topic.clone(), partitions: parts, ..Default::default() }] },
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
    assert_eq!((f.error_code, f.responses.len()), (0, 0), "{f:?}");
    // New data on partition 1 only: only it comes back.
    assert_eq!(produce(&mut conn, &topic, 1, batch(-1, -1, -1, &["x"], false), None).await.0, 0);
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 2, vec![]), 12).await else { panic!() };
    let parts: Vec<i32> = f.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect();
    assert_eq!(parts, vec![1]);
    // A wrong epoch, and an unknown session.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 7, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.0);
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid.wrapping_add(1000), 1, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
    // Closing: a full sessionless answer.
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, -1, vec![part(0, 0)]), 12).await else { panic!() };
    assert_eq!((f.session_id, f.responses[0].partitions.len()), (0, 1));
    let Some(ResponseBody::Fetch(f)) = conn.send_v(fetch(sid, 3, vec![]), 12).await else { panic!() };
    assert_eq!(f.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
}

async fn api_versions_v3_wants_a_valid_client_software_name(t: &Target) {
    let mut conn = t.any().await;
    for (name, version) in [("", "1.0"), ("ferrokafka", ""), ("-bad", "1.0"), ("bad name", "1.0")] {
        let req = ApiVersionsRequest { client_software_name: name.into(), client_software_version: version.into(), ..Default::default() };
        let Some(ResponseBody::ApiVersions(r)) = conn.send_v(RequestBody::ApiVersions(req), 3).await else { panic!("answered") };
        assert_eq!(r.error_code, ErrorCode::INVALID_REQUEST.0, "{name:?} {version:?}: {r:?}");
    }
    // Valid names and versions: letters, digits, '-' and '.', starting and
    // ending with a letter or digit.
    let req = ApiVersionsRequest { client_software_name: "apache-kafka.java".into(), client_software_version: "4.4.0-SNAPSHOT".into(), ..Default::default() };
    let Some(ResponseBody::ApiVersions(r)) = conn.send_v(RequestBody::ApiVersions(req), 3).await else { panic!("answered") };
    assert_eq!(r.error_code, 0);
    assert!(!r.api_keys.is_empty());
}

/// Transactions v2 (KIP-890 part 2), which Kafka 4.x enables by default and
/// the mock behind `MockConfig::transactions_v2`: Produce v12 adds the
/// partition to the transaction itself, EndTxn v5 bumps the epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_v2_add_partitions_implicitly_and_bump_the_epoch_mock() {
    transactions_v2_add_partitions_implicitly_and_bump_the_epoch(&Target::mock_with(MockConfig { transactions_v2: true, ..Default::default() }).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_v2_add_partitions_implicitly_and_bump_the_epoch_kafka() {
    let Some(t) = Target::kafka() else {
        eprintln!("NOTICE: FERROKAFKA_TEST_BOOTSTRAP is not set; transactions v2 ran against the mock only");
        return;
    };
    if t.any().await.versions[&ApiKey::EndTxn] < 5 {
        eprintln!("NOTICE: this Kafka has no transactions v2 (EndTxn v5); skipped");
        return;
    }
    transactions_v2_add_partitions_implicitly_and_bump_the_epoch(&t).await;
}

async fn transactions_v2_add_partitions_implicitly_and_bump_the_epoch(t: &Target) {
    let (topic, tid) = (unique("tv2"), unique("tv2-tx"));
    t.create_topic(&topic, 1).await;
    let mut txn = t.coordinator(1, &tid).await;
    let mut data = t.leader(&topic, 0).await;
    let (pid, epoch) = init_txn(&mut txn, &tid, 60_000).await;
    let produce_v12 = |records: Bytes| produce_req(&topic, 0, records, Some(&tid));
    // No AddPartitionsToTxn: Produce v12 adds the partition.
    let r = data.send_v(produce_v12(batch(pid, epoch, 0, &["a", "b"], true)), 12).await.map(produce_result);
    assert_eq!(r, Some((0, 0)));
    assert_eq!(t.offsets(&topic, 0).await, (2, 0, 0), "the open transaction holds back the last stable offset");
    let end = |epoch: i16, committed: bool| {
        RequestBody::EndTxn(EndTxnRequest { transactional_id: tid.clone(), producer_id: pid, producer_epoch: epoch, committed, ..Default::default() })
    };
    let Some(ResponseBody::EndTxn(r)) = txn.send_v(end(epoch, true), 5).await else { panic!() };
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, pid, epoch + 1), "the commit bumps the epoch");
    t.offsets_become(&topic, 0, (3, 3, 0), "after the commit marker").await;
    // The next transaction runs at the new epoch, from sequence 0.
    let r = data.send_v(produce_v12(batch(pid, epoch + 1, 0, &["c"], true)), 12).await.map(produce_result);
    assert_eq!(r, Some((0, 3)));
    let Some(ResponseBody::EndTxn(r)) = txn.send_v(end(epoch + 1, false), 5).await else { panic!() };
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, pid, epoch + 2), "the abort bumps the epoch");
    t.offsets_become(&topic, 0, (5, 5, 0), "after the abort marker").await;
    // The epochs before are fenced.
    let r = data.send_v(produce_v12(batch(pid, epoch + 1, 1, &["late"], true)), 12).await.map(produce_result);
    assert_eq!(r.map(|r| r.0), Some(ErrorCode::INVALID_PRODUCER_EPOCH.0));
    let (batches, aborted) = t.fetch_log(&topic, 0, 1).await;
    assert_eq!(aborted, vec![(pid, 3)]);
    assert_eq!(batches.iter().map(|b| b.base_offset).collect::<Vec<_>>(), vec![0, 2, 3, 4]);
}
