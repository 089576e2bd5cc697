//! `ferrokafka perf produce`: a producer load test in the manner of
//! `kafka-producer-perf-test`, reporting throughput, client CPU time and
//! send-to-acknowledgement latency.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use ferrokafka::producer::{Producer, ProducerRecord};
use ferrokafka::protocol::bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};

/// Options of `perf produce`.
#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    /// bootstrap.servers
    #[arg(long)]
    pub bootstrap: String,
    /// Topic to write to (must exist, or use --partitions to create it).
    #[arg(long)]
    pub topic: String,
    /// Number of records.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Create the topic with this many partitions first (an existing topic
    /// is used as it is).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// acks: 0, 1 or all.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// linger.ms
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// batch.size in bytes.
    #[arg(long, default_value_t = 16384)]
    pub batch_size: usize,
    /// compression.type: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// enable.idempotence
    #[arg(long, default_value = "true")]
    pub idempotence: String,
    /// Extra producer properties, `key=value`, repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
    /// Give records keys `k0`..`k{N-1}` in turn (murmur2 spreads them over
    /// the partitions, as keyed traffic does); without it records have no
    /// key and the sticky partitioner fills one partition's batch at a time.
    #[arg(long)]
    pub keys: Option<u32>,
    /// Print exactly one JSON line with the results, and no progress bar.
    #[arg(long)]
    pub json: bool,
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let cfg = ferrokafka::cluster::ClusterConfig {
        bootstrap: bootstrap.split(',').map(|s| s.trim().to_string()).collect(),
        ..Default::default()
    };
    let cluster = ferrokafka::cluster::Cluster::connect(cfg).await.map_err(|e| e.to_string())?;
    cluster.create_topic(topic, partitions, 1, Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// User + system CPU seconds of this process so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_SELF is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

pub async fn produce(args: ProduceArgs) -> Result<(), String> {
    let mut builder = Producer::builder()
        .bootstrap(&args.bootstrap)
        .set("acks", &args.acks)
        .and_then(|b| b.set("linger.ms", &args.linger_ms.to_string()))
        .and_then(|b| b.set("batch.size", &args.batch_size.to_string()))
        .and_then(|b| b.set("compression.type", &args.compression))
        .and_then(|b| b.set("enable.idempotence", &args.idempotence))
        .map_err(|e| e.to_string())?;
    for p in &args.properties {
        let (k, v) = p.split_once('=').ok_or_else(|| format!("--property wants key=value, got {p}"))?;
        builder = builder.set(k, v).map_err(|e| e.to_string())?;
    }
    if let Some(n) = args.partitions {
        create_topic(&args.bootstrap, &args.topic, n).await?;
    }
    let producer = builder.build().await.map_err(|e| e.to_string())?;

    // One payload, reused: like the Java perf tool, which sends the same
    // random bytes; only the client's work is measured.
    let payload: Bytes = (0..args.record_size).map(|i| b'a' + (i * 7 % 26) as u8).collect::<Vec<u8>>().into();
    let bar = if args.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(args.records);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, eta {eta}")
                .map_err(|e| e.to_string())?,
        );
        b
    };

    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut latencies: Vec<u32> = Vec::with_capacity(args.records as usize);
    let mut pending = FuturesUnordered::new();
    let mut failed = 0u64;
    let mut first_error = None;
    let record = ProducerRecord::new(args.topic.clone());
    let mut tally = |(result, at): (ferrokafka::Result<ferrokafka::producer::RecordMetadata>, Instant)| {
        match result {
            Ok(_) => latencies.push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
        // A hidden bar (--json, no terminal) costs nothing per record.
        if !bar.is_hidden() {
            bar.inc(1);
        }
    };
    // Keys are made once, so the loop costs a reference count per record.
    let keys: Vec<Bytes> = (0..args.keys.unwrap_or(0)).map(|i| format!("k{i}").into_bytes().into()).collect();
    for i in 0..args.records {
        let sent_at = Instant::now();
        let mut r = record.clone();
        r.value = Some(payload.clone());
        if !keys.is_empty() {
            r.key = Some(keys[(i % keys.len() as u64) as usize].clone());
        }
        let delivery = producer.send(r).await.map_err(|e| e.to_string())?;
        pending.push(async move { (delivery.await, sent_at) });
        // Collect what has completed without waiting, to keep memory flat.
        while let Some(Some(done)) = futures_util::FutureExt::now_or_never(pending.next()) {
            tally(done);
        }
    }
    while let Some(done) = pending.next().await {
        tally(done);
    }
    let secs = start.elapsed().as_secs_f64();
    producer.close_timeout(Duration::from_secs(30)).await;
    let cpu = cpu_seconds() - cpu0;
    bar.finish_and_clear();
    latencies.sort_unstable();
    let ok = latencies.len() as f64;
    let report = serde_json::json!({
        "client": "ferrokafka",
        "records": args.records,
        "failed": failed,
        "record_size": args.record_size,
        "keys": args.keys,
        "secs": (secs * 1000.0).round() / 1000.0,
        "rps": (ok / secs).round(),
        "mbps": ((ok * args.record_size as f64) / secs / 1e6 * 100.0).round() / 100.0,
        "cpu_s": (cpu * 1000.0).round() / 1000.0,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} records sent, {:.0} records/sec ({:.2} MB/sec), {:.3} s CPU, {:.1} ms p50, {:.1} ms p99 latency{}",
            latencies.len(),
            ok / secs,
            ok * args.record_size as f64 / secs / 1e6,
            cpu,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            if failed > 0 { format!(", {failed} failed (first: {})", first_error.unwrap_or_default()) } else { String::new() }
        );
    }
    if failed > 0 {
        return Err(format!("{failed} records failed"));
    }
    Ok(())
}
