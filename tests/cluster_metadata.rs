//! The cluster client's choice of broker (issue 8): metadata comes from a
//! broker that answers, not always from the first bootstrap address, and
//! each purpose has its own connection, so one kind of traffic never waits
//! behind another.

use std::time::Duration;

use ferrokafka::cluster::{Cluster, ClusterConfig, Purpose};
use ferrokafka::net::ConnConfig;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::messages::{metadata_request, produce_request, MetadataRequest, ProduceRequest};
use ferrokafka_protocol::{ApiKey, RequestBody};

fn metadata(topic: &str) -> RequestBody {
    RequestBody::Metadata(MetadataRequest { topics: Some(vec![metadata_request::MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]), ..Default::default() })
}

/// The broker the client asks is paused and a leader moves between the
/// other two: the next refresh still learns the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_bootstrap_broker_does_not_hide_a_leader_change() {
    let c = MockCluster::start(MockConfig { brokers: 3, ..Default::default() }).await.unwrap();
    c.create_topic("t", 1).unwrap();
    // The broker whose address sorts first: the one a naive client keeps asking.
    let (first, first_addr) = c.brokers().into_iter().min_by_key(|b| b.1.to_string()).unwrap();
    let conn = ConnConfig { request_timeout: Duration::from_millis(500), ..Default::default() };
    let cluster = Cluster::connect(ClusterConfig { bootstrap: vec![first_addr.to_string()], conn, ..Default::default() }).await.unwrap();
    cluster.refresh(&["t".to_string()]).await.unwrap();
    // Leadership away from the first broker, then that broker stops answering.
    let others: Vec<i32> = c.brokers().iter().map(|b| b.0).filter(|b| *b != first).collect();
    assert!(c.move_leader("t", 0, others[0]));
    cluster.refresh(&["t".to_string()]).await.unwrap();
    c.pause_broker(first);
    assert!(c.move_leader("t", 0, others[1]));
    // One refresh: the paused broker's silence costs a request timeout,
    // then another broker answers.
    let refreshed = tokio::time::timeout(Duration::from_secs(10), cluster.refresh(&["t".to_string()])).await.expect("refresh hung");
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert_eq!(cluster.topic("t").unwrap().partitions[0].leader, others[1], "the new leader was not learned");
    c.resume_broker(first);
}

/// A Produce held up on a broker does not delay a metadata request to the
/// same broker: they travel on different connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_metadata_to_one_broker_use_separate_connections() {
    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("t", 1).unwrap();
    let conn = ConnConfig { max_in_flight: 1, ..Default::default() };
    let cluster = Cluster::connect(ClusterConfig { bootstrap: vec![c.bootstrap()], conn, ..Default::default() }).await.unwrap();
    let id = c.brokers()[0].0;
    let produce_conn = cluster.broker_for(id, Purpose::Produce).await.unwrap();
    let meta_conn = cluster.broker_for(id, Purpose::Metadata).await.unwrap();
    c.delay_next(None, ApiKey::Produce, Duration::from_secs(3), 1);
    let produce = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![produce_request::TopicProduceData { name: "t".into(), partition_data: vec![produce_request::PartitionProduceData { index: 0, records: None, ..Default::default() }], ..Default::default() }],
        ..Default::default()
    });
    let held = tokio::spawn(async move { produce_conn.send(produce).await });
    // Until the produce request has been taken by the broker.
    while c.pending_faults() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    meta_conn.send(metadata("t")).await.unwrap();
    assert!(!held.is_finished(), "the metadata answer came after the held Produce: they shared a connection");
    let _ = held.await;
}
