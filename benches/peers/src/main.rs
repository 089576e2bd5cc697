//! The workload of `ferrokafka perf produce`, through librdkafka (the
//! `rdkafka` crate, bundled build) and through krafka (pure Rust), printing
//! the same JSON line, so the three can be compared on one broker in one run.
//!
//! ```sh
//! cd benches/peers && cargo run --release -- --client rdkafka --bootstrap 127.0.0.1:9092 --topic t --json
//! ```
//! `benches/peers/run.sh` runs all three clients one after another.

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::stream::{FuturesUnordered, StreamExt};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// rdkafka or krafka.
    #[arg(long)]
    client: String,
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    #[arg(long, default_value = "all")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[arg(long, default_value_t = 16384)]
    batch_size: usize,
    #[arg(long, default_value = "none")]
    compression: String,
    #[arg(long, default_value = "true")]
    idempotence: String,
    #[arg(long)]
    json: bool,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct; RUSAGE_SELF is valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

struct Outcome {
    latencies_us: Vec<u32>,
    failed: u64,
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i * 7 % 26) as u8).collect()
}

async fn run_rdkafka(a: &Args) -> Result<Outcome, String> {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("acks", &a.acks)
        .set("linger.ms", a.linger_ms.to_string())
        .set("batch.size", a.batch_size.to_string())
        .set("compression.type", &a.compression)
        .set("enable.idempotence", &a.idempotence)
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .map_err(|e| e.to_string())?;
    let value = payload(a.record_size);
    let mut pending = FuturesUnordered::new();
    let mut out = Outcome { latencies_us: Vec::with_capacity(a.records as usize), failed: 0 };
    let record_done = |r: Result<(), ()>, at: Instant, out: &mut Outcome| match r {
        Ok(()) => out.latencies_us.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32),
        Err(()) => out.failed += 1,
    };
    for _ in 0..a.records {
        let at = Instant::now();
        let mut record = FutureRecord::<(), [u8]>::to(&a.topic).payload(&value[..]);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(async move { (delivery.await.map_err(|_| ()).and_then(|r| r.map(|_| ()).map_err(|_| ())), at) });
                    break;
                }
                Err((_, r)) => {
                    // Queue full: let deliveries drain.
                    record = r;
                    if let Some((res, at)) = pending.next().await {
                        record_done(res, at, &mut out);
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        }
        while let Some(Some((res, at))) = futures_util::FutureExt::now_or_never(pending.next()) {
            record_done(res, at, &mut out);
        }
    }
    while let Some((res, at)) = pending.next().await {
        record_done(res, at, &mut out);
    }
    producer.flush(Duration::from_secs(30)).map_err(|e| e.to_string())?;
    Ok(out)
}

async fn run_krafka(a: &Args) -> Result<Outcome, String> {
    use krafka::producer::Acks;
    use krafka::{Compression, Kafka, Record};
    let kafka = Kafka::builder(a.bootstrap.clone()).allow_auto_create_topics(true).connect().await.map_err(|e| e.to_string())?;
    let acks = match a.acks.as_str() {
        "0" => Acks::None,
        "1" => Acks::Leader,
        _ => Acks::All,
    };
    let compression = match a.compression.as_str() {
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => Compression::None,
    };
    let producer = kafka
        .producer()
        .acks(acks)
        .linger(Duration::from_millis(a.linger_ms))
        .batch_size(a.batch_size)
        .compression(compression)
        .idempotent(a.idempotence == "true")
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let value = payload(a.record_size);
    let mut pending = FuturesUnordered::new();
    let mut out = Outcome { latencies_us: Vec::with_capacity(a.records as usize), failed: 0 };
    for _ in 0..a.records {
        let at = Instant::now();
        let handle = producer.enqueue(Record::new(a.topic.clone(), value.clone())).await.map_err(|e| e.to_string())?;
        pending.push(async move { (handle.await.is_ok(), at) });
        while let Some(Some((ok, at))) = futures_util::FutureExt::now_or_never(pending.next()) {
            if ok {
                out.latencies_us.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32);
            } else {
                out.failed += 1;
            }
        }
    }
    while let Some((ok, at)) = pending.next().await {
        if ok {
            out.latencies_us.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32);
        } else {
            out.failed += 1;
        }
    }
    producer.close().await.map_err(|e| e.to_string())?;
    Ok(out)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    f64::from(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]) / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = Args::parse();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut out = match a.client.as_str() {
        "rdkafka" => run_rdkafka(&a).await?,
        "krafka" => run_krafka(&a).await?,
        other => return Err(format!("unknown client {other}")),
    };
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    out.latencies_us.sort_unstable();
    let ok = out.latencies_us.len() as f64;
    let report = serde_json::json!({
        "client": a.client,
        "records": a.records,
        "failed": out.failed,
        "record_size": a.record_size,
        "secs": (secs * 1000.0).round() / 1000.0,
        "rps": (ok / secs).round(),
        "mbps": ((ok * a.record_size as f64) / secs / 1e6 * 100.0).round() / 100.0,
        "cpu_s": (cpu * 1000.0).round() / 1000.0,
        "p50_ms": percentile(&out.latencies_us, 0.5),
        "p99_ms": percentile(&out.latencies_us, 0.99),
    });
    println!("{report}");
    Ok(())
}
