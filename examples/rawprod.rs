//! Raw pipelined Produce throughput against a broker (diagnostic).
use std::time::Instant;
use ferrokafka::net::{ConnConfig, Connection};
use ferrokafka::protocol::bytes::{Bytes, BytesMut};
use ferrokafka::protocol::messages::{produce_request, ProduceRequest};
use ferrokafka::protocol::records::{RecordBatch};
use ferrokafka::protocol::RequestBody;

#[tokio::main]
async fn main() {
    let bs = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:39092".into());
    let conn = Connection::connect(&bs, &ConnConfig::default()).await.unwrap();
    let b = RecordBatch::from_records((0..130).map(|i| (i, None, Some(Bytes::from(vec![b'x'; 100])), Vec::new())));
    let mut buf = BytesMut::new();
    b.encode(&mut buf, None).unwrap();
    let data = buf.freeze();
    let req = RequestBody::Produce(ProduceRequest { acks: -1, timeout_ms: 30000, topic_data: vec![produce_request::TopicProduceData { name: "raw".into(), partition_data: vec![produce_request::PartitionProduceData { index: 0, records: Some(data), ..Default::default() }], ..Default::default() }], ..Default::default() });
    // create topic via metadata auto-create
    conn.send(RequestBody::Metadata(ferrokafka::protocol::messages::MetadataRequest { topics: Some(vec![ferrokafka::protocol::messages::metadata_request::MetadataRequestTopic { name: Some("raw".into()), ..Default::default() }]), allow_auto_topic_creation: true, ..Default::default() })).await.unwrap();
    let t = Instant::now();
    let n = 500;
    let mut handles = Vec::new();
    for _ in 0..n {
        let c = conn.clone();
        let r = req.clone();
        handles.push(tokio::spawn(async move { c.send(r).await.map(|_| ()) }));
    }
    for h in handles { h.await.unwrap().unwrap(); }
    println!("{n} produce requests: {:?} each", t.elapsed() / n);
}
