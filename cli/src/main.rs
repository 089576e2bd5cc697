//! The `ferrokafka` command-line tool.
//!
//! Today it decodes captured Kafka frames (`ferrokafka decode`) and serves
//! the mock cluster (`ferrokafka mock`); `demo`, `produce`, `consume` and
//! `perf` need the client, which is not built yet, and say so instead of
//! pretending.

mod mock_cmd;

use std::process::ExitCode;

use ferrokafka::protocol::bytes::Bytes;
use ferrokafka::protocol::header::{decode_response, Request};
use ferrokafka::protocol::records::{DecodeLimits, RecordSet};
use ferrokafka::protocol::wire::Reader;
use ferrokafka::protocol::{ApiKey, RequestBody, ResponseBody};

const USAGE: &str = "usage:
  ferrokafka decode request FILE            decode a request frame (no size prefix)
  ferrokafka decode response API VERSION FILE
                                            decode a response frame of API (name or key) at VERSION
  ferrokafka mock [--brokers N] [--port P] [--partitions N] [--transactions-v2] [--no-auto-create]
                                            serve an in-process Kafka cluster until interrupted;
                                            fault-injection commands on standard input ('help')
  ferrokafka demo | produce | consume | perf
                                            not built yet (they need the client)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["decode", "request", file] => run(|| decode_request(file)),
        ["decode", "response", api, version, file] => run(|| decode_resp(api, version, file)),
        ["mock", rest @ ..] => run(|| mock_cmd::run(rest)),
        [cmd @ ("demo" | "produce" | "consume" | "perf"), ..] => {
            eprintln!(
                "ferrokafka {cmd}: not available yet. It needs the client (producer, transactions, consumer), \
                 which is still being built on top of the wire codec."
            );
            ExitCode::from(2)
        }
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(f: impl FnOnce() -> Result<(), String>) -> ExitCode {
    match f() {
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

fn decode_resp(api: &str, version: &str, file: &str) -> Result<(), String> {
    let key = ApiKey::ALL
        .iter()
        .copied()
        .find(|k| k.name().eq_ignore_ascii_case(api) || api.parse::<i16>().ok() == Some(*k as i16))
        .ok_or_else(|| format!("unknown API {api}"))?;
    let version: i16 = version.parse().map_err(|e| format!("version {version}: {e}"))?;
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
        Ok(set) => println!("{topic}[{partition}]: {:#?}", set),
        Err(e) => println!("{topic}[{partition}]: records do not decode: {e}"),
    }
}
