//! The `ferrokafka` command-line tool: the demo (idempotent producer through
//! faults on an embedded mock cluster), decode captured frames, serve the
//! mock cluster, and measure the producer (`perf produce`). `produce` and
//! `consume` need the consumer, which is not built yet, and say so instead
//! of pretending.

mod demo;
mod mock_cmd;
mod perf;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferrokafka::protocol::bytes::Bytes;
use ferrokafka::protocol::header::{decode_response, Request};
use ferrokafka::protocol::records::{DecodeLimits, RecordSet};
use ferrokafka::protocol::wire::Reader;
use ferrokafka::protocol::{ApiKey, RequestBody, ResponseBody};

#[derive(Parser)]
#[command(name = "ferrokafka", version, about = "A pure-Rust Kafka client: tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a captured Kafka frame (without its size prefix).
    Decode {
        #[command(subcommand)]
        what: DecodeWhat,
    },
    /// Serve an in-process Kafka cluster until interrupted; fault-injection
    /// commands are read from standard input ('help' lists them).
    Mock {
        /// Number of brokers.
        #[arg(long, default_value_t = 3)]
        brokers: i32,
        /// First port (0: free ports).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Partitions of auto-created topics.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Enable transactions v2 (KIP-890).
        #[arg(long)]
        transactions_v2: bool,
        /// Do not auto-create topics.
        #[arg(long)]
        no_auto_create: bool,
    },
    /// Load tests.
    Perf {
        #[command(subcommand)]
        what: PerfWhat,
    },
    /// Create a topic (replication factor 1); an existing one is fine.
    CreateTopic {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
    },
    /// The idempotent producer on an embedded mock cluster, through faults,
    /// checked exactly once (the transactional loop joins it later).
    Demo {
        /// Records to send.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
    },
    /// Produce from standard input (not available yet).
    Produce,
    /// Consume to standard output (not available yet).
    Consume,
}

#[derive(Subcommand)]
enum DecodeWhat {
    /// A request frame.
    Request { file: String },
    /// A response frame of API (name or key) at VERSION.
    Response { api: String, version: i16, file: String },
}

#[derive(Subcommand)]
enum PerfWhat {
    /// Producer throughput, CPU and latency (like kafka-producer-perf-test).
    Produce(perf::ProduceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode { what: DecodeWhat::Request { file } } => decode_request(&file),
        Command::Decode { what: DecodeWhat::Response { api, version, file } } => decode_resp(&api, version, &file),
        Command::Mock { brokers, port, partitions, transactions_v2, no_auto_create } => {
            let config = ferrokafka_mock::MockConfig {
                brokers,
                base_port: port,
                default_partitions: partitions,
                transactions_v2,
                auto_create_topics: !no_auto_create,
                ..Default::default()
            };
            mock_cmd::run(config)
        }
        Command::Perf { what: PerfWhat::Produce(args) } => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(perf::produce(args))),
        Command::CreateTopic { bootstrap, topic, partitions } => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(perf::create_topic(&bootstrap, &topic, partitions))),
        Command::Demo { records } => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(demo::run(records))),
        Command::Produce | Command::Consume => {
            eprintln!(
                "not available yet: this needs the consumer, which is being built on the \
                 producer and the wire codec"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(file: &str) -> Result<Bytes, String> {
    std::fs::read(file).map(Bytes::from).map_err(|e| format!("{file}: {e}"))
}

fn decode_request(file: &str) -> Result<(), String> {
    let data = read(file)?;
    let mut r = Reader::new(data);
    let req = Request::decode_prefix(&mut r).map_err(|e| e.to_string())?;
    println!("{:#?}", req.header);
    println!("{:#?}", req.body);
    if let RequestBody::Produce(p) = &req.body {
        for t in &p.topic_data {
            for part in &t.partition_data {
                print_records(&t.name, part.index, part.records.clone());
            }
        }
    }
    if r.remaining() > 0 {
        println!("({} bytes after the body, ignored as a broker would)", r.remaining());
    }
    Ok(())
}

fn decode_resp(api: &str, version: i16, file: &str) -> Result<(), String> {
    let key = ApiKey::ALL
        .iter()
        .copied()
        .find(|k| k.name().eq_ignore_ascii_case(api) || api.parse::<i16>().ok() == Some(*k as i16))
        .ok_or_else(|| format!("unknown API {api}"))?;
    let (h, body) = decode_response(key, version, read(file)?).map_err(|e| e.to_string())?;
    println!("{h:#?}");
    println!("{body:#?}");
    if let ResponseBody::Fetch(f) = &body {
        for t in &f.responses {
            for p in &t.partitions {
                print_records(&t.topic, p.partition_index, p.records.clone());
            }
        }
    }
    Ok(())
}

fn print_records(topic: &str, partition: i32, records: Option<Bytes>) {
    let Some(records) = records else { return };
    match RecordSet::parse(records, &DecodeLimits::default()) {
        Ok(set) => println!("{topic}[{partition}]: {set:#?}"),
        Err(e) => println!("{topic}[{partition}]: records do not decode: {e}"),
    }
}
