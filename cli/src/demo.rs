//! `ferrokafka demo`: on an embedded three-broker mock cluster, the
//! idempotent producer writes through injected faults (lost responses,
//! leadership errors, a broker restart), then the partition logs are read
//! back to show every record is there exactly once, in order.
//!
//! The consume-transform-produce loop joins the demo once the transactional
//! producer and the consumer are built.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrokafka::producer::{Producer, ProducerRecord};
use ferrokafka::protocol::{ApiKey, ErrorCode};
use ferrokafka_mock::{MockCluster, MockConfig};

const TOPIC: &str = "demo-orders";
const PARTITIONS: i32 = 3;

/// Runs the demo against the embedded mock; `records` per run.
pub async fn run(records: usize) -> Result<(), String> {
    let cluster = MockCluster::start(MockConfig { brokers: 3, ..Default::default() }).await.map_err(|e| e.to_string())?;
    cluster.create_topic(TOPIC, PARTITIONS).map_err(|e| e.to_string())?;
    println!("embedded mock cluster: 3 brokers at {}", cluster.bootstrap());

    let producer = Producer::builder()
        .bootstrap(&cluster.bootstrap())
        .set("linger.ms", "2")
        .and_then(|b| b.set("retry.backoff.ms", "10"))
        .and_then(|b| b.set("compression.type", "lz4"))
        .map_err(|e| e.to_string())?
        .build()
        .await
        .map_err(|e| e.to_string())?;
    println!("idempotent producer ready (acks=all, lz4); sending {records} keyed records with faults injected:");

    // Faults: responses lost after the write happened, refusals as if
    // leadership moved, and later a broker going away and coming back.
    cluster.drop_next_response(None, ApiKey::Produce, 3);
    cluster.fail_next(None, ApiKey::Produce, ErrorCode::NOT_LEADER_OR_FOLLOWER, 3);
    println!("  - the next 3 Produce responses are lost after the broker wrote the batch");
    println!("  - the next 3 Produce requests are refused with NOT_LEADER_OR_FOLLOWER");

    let start = Instant::now();
    let mut deliveries = Vec::with_capacity(records);
    let victim = cluster.leader_of(TOPIC, 0).unwrap_or(1);
    for i in 0..records {
        if i == records / 2 {
            println!("  - broker {victim} stops (its partitions move) and restarts 200 ms later");
            cluster.stop_broker(victim);
        }
        let key = format!("customer-{}", i % 50);
        let value = format!("order-{i:07}");
        deliveries.push(producer.send(ProducerRecord::new(TOPIC).key(key).value(value)).await.map_err(|e| e.to_string())?);
        if i == records / 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cluster.start_broker(victim).await.map_err(|e| e.to_string())?;
        }
    }
    let mut failed = 0;
    for d in deliveries {
        if d.await.is_err() {
            failed += 1;
        }
    }
    producer.close().await;
    let secs = start.elapsed().as_secs_f64();
    println!("acknowledged {} of {records} records in {secs:.2} s ({failed} failed)", records - failed);

    // Read every partition's log back and check it record by record.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out_of_order = 0;
    for p in 0..PARTITIONS {
        let mut last: HashMap<String, usize> = HashMap::new();
        let mut count = 0;
        for b in cluster.batches(TOPIC, p).into_iter().filter(|b| !b.is_control()) {
            for r in &b.records {
                let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string();
                let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string();
                let n: usize = value.trim_start_matches("order-").parse().unwrap_or(usize::MAX);
                if last.get(&key).is_some_and(|prev| *prev > n) {
                    out_of_order += 1;
                }
                last.insert(key, n);
                *seen.entry(value).or_default() += 1;
                count += 1;
            }
        }
        let (hw, _, _) = cluster.offsets(TOPIC, p).unwrap_or_default();
        println!("partition {p}: {count} records, high watermark {hw}");
    }
    let duplicates = seen.values().filter(|n| **n > 1).count();
    let missing = records - seen.len();
    println!("in the logs: {} distinct records, {duplicates} duplicated, {missing} missing, {out_of_order} out of order per key", seen.len());
    if duplicates == 0 && missing == failed && out_of_order == 0 {
        println!("exactly once, in order per key, despite the faults.");
        Ok(())
    } else {
        Err("the logs do not hold every record exactly once".into())
    }
}
