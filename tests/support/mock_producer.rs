//! Helpers shared by the producer tests that run on the mock cluster:
//! starting it, building a producer with Java property names, reading a
//! partition's log back.
#![allow(dead_code)] // each test file uses its own subset

use ferrokafka::producer::{Producer, ProducerRecord};
use ferrokafka::Error;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::records::RecordBatch;

pub async fn mock(brokers: i32) -> MockCluster {
    MockCluster::start(MockConfig { brokers, ..Default::default() }).await.unwrap()
}

/// A producer with short retry back-offs (so tests of retries are quick)
/// and `props` on top.
pub async fn producer(bootstrap: &str, props: &[(&str, &str)]) -> Producer {
    let mut b = Producer::builder().bootstrap(bootstrap).set("retry.backoff.ms", "10").unwrap().set("retry.backoff.max.ms", "50").unwrap();
    for (k, v) in props {
        b = b.set(k, v).unwrap();
    }
    b.build().await.unwrap()
}

/// The values of every data record in a partition's log, in offset order.
pub fn log_values(c: &MockCluster, topic: &str, p: i32) -> Vec<String> {
    c.batches(topic, p)
        .into_iter()
        .filter(|b| !b.is_control())
        .flat_map(|b: RecordBatch| b.records.into_iter().map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()))
        .collect()
}

/// The (producer id, epoch) of each batch in a partition's log.
pub fn ids(c: &MockCluster, topic: &str, p: i32) -> Vec<(i64, i16)> {
    c.batches(topic, p).iter().map(|b| (b.producer_id, b.producer_epoch)).collect()
}

/// Sends `n` records `prefix-0..n` to one partition, all queued before any
/// is awaited; returns their results.
pub async fn send_many(p: &Producer, topic: &str, partition: i32, prefix: &str, n: usize) -> Vec<Result<i64, Error>> {
    let mut futs = Vec::with_capacity(n);
    for i in 0..n {
        futs.push(p.send(ProducerRecord::new(topic).partition(partition).value(format!("{prefix}-{i}"))).await.unwrap());
    }
    let mut out = Vec::with_capacity(n);
    for f in futs {
        out.push(f.await.map(|m| m.offset));
    }
    out
}

/// `prefix-0..n`.
pub fn expected(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}
