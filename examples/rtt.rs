//! Round-trip latency of one acknowledged record at a time.
use std::time::Instant;
use ferrokafka::producer::{Producer, ProducerRecord};

#[tokio::main]
async fn main() {
    let bs = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:39092".into());
    let p = Producer::builder().bootstrap(&bs).set("linger.ms", "0").unwrap().set("allow.auto.create.topics", "true").unwrap().build().await.unwrap();
    p.send_and_wait(ProducerRecord::new("rtt").value("warm")).await.unwrap();
    let t = Instant::now();
    for _ in 0..100 {
        p.send_and_wait(ProducerRecord::new("rtt").value("x")).await.unwrap();
    }
    println!("100 sequential sends: {:?} each", t.elapsed() / 100);
    p.close().await;
}
