//! `ferrokafka mock`: serves a mock cluster until interrupted, and takes
//! fault-injection commands on standard input, one per line.

use std::time::Duration;

use ferrokafka::protocol::{ApiKey, ErrorCode};
use ferrokafka_mock::{CoordinatorType, MockCluster, MockConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const HELP: &str = "commands (one per line on standard input):
  create-topic NAME PARTITIONS
  fail API ERROR [COUNT] [BROKER]        e.g. fail Produce NOT_LEADER_OR_FOLLOWER 2
  delay API MILLIS [COUNT] [BROKER]
  drop-response API [COUNT] [BROKER]     apply the request, lose the response
  drop-request API [COUNT] [BROKER]
  clear-faults
  stop BROKER | start BROKER | pause BROKER | resume BROKER
  move-leader TOPIC PARTITION BROKER
  move-coordinator group|txn KEY BROKER
  marker-latency MILLIS
  offsets TOPIC PARTITION                 high watermark, last stable offset, log start
  help";

pub fn run(config: MockConfig) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let cluster = MockCluster::start(config).await.map_err(|e| format!("cannot start the mock cluster: {e}"))?;
        println!("bootstrap: {}", cluster.bootstrap());
        println!("type 'help' for fault-injection commands; Ctrl-C stops");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut stdin_open = true;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                line = lines.next_line(), if stdin_open => match line {
                    Ok(Some(line)) => match command(&cluster, &line).await {
                        Ok(msg) => println!("ok{}{msg}", if msg.is_empty() { "" } else { ": " }),
                        Err(e) => println!("error: {e}"),
                    },
                    // Standard input closed (e.g. run in the background): keep serving.
                    _ => stdin_open = false,
                },
            }
        }
        Ok(())
    })
}

fn api(name: &str) -> Result<ApiKey, String> {
    ApiKey::ALL.iter().copied().find(|k| k.name().eq_ignore_ascii_case(name)).ok_or_else(|| format!("unknown API {name}"))
}

fn error(name: &str) -> Result<ErrorCode, String> {
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.name().is_some_and(|n| n.eq_ignore_ascii_case(name)) || name.parse::<i16>().ok() == Some(c.0))
        .ok_or_else(|| format!("unknown error {name}"))
}

fn num<T: std::str::FromStr>(s: Option<&&str>, default: T) -> Result<T, String> {
    match s {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| format!("not a number: {s}")),
    }
}

async fn command(cluster: &MockCluster, line: &str) -> Result<String, String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let broker = |i: usize| -> Result<Option<i32>, String> { w.get(i).map(|b| b.parse().map_err(|_| format!("bad broker {b}"))).transpose() };
    match w.as_slice() {
        [] => Ok(String::new()),
        ["help"] => Ok(HELP.to_string()),
        ["create-topic", name, parts] => {
            cluster.create_topic(name, num(Some(parts), 1)?).map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        ["fail", a, e, ..] => {
            cluster.fail_next(broker(4)?, api(a)?, error(e)?, num(w.get(3), 1)?);
            Ok(String::new())
        }
        ["delay", a, ms, ..] => {
            cluster.delay_next(broker(4)?, api(a)?, Duration::from_millis(num(Some(ms), 0)?), num(w.get(3), 1)?);
            Ok(String::new())
        }
        ["drop-response", a, ..] => {
            cluster.drop_next_response(broker(3)?, api(a)?, num(w.get(2), 1)?);
            Ok(String::new())
        }
        ["drop-request", a, ..] => {
            cluster.drop_next_request(broker(3)?, api(a)?, num(w.get(2), 1)?);
            Ok(String::new())
        }
        ["clear-faults"] => {
            cluster.clear_faults();
            Ok(String::new())
        }
        ["stop", b] => {
            cluster.stop_broker(num(Some(b), 0)?);
            Ok(String::new())
        }
        ["start", b] => cluster.start_broker(num(Some(b), 0)?).await.map(|_| String::new()).map_err(|e| e.to_string()),
        ["pause", b] => {
            cluster.pause_broker(num(Some(b), 0)?);
            Ok(String::new())
        }
        ["resume", b] => {
            cluster.resume_broker(num(Some(b), 0)?);
            Ok(String::new())
        }
        ["move-leader", t, p, b] => {
            if cluster.move_leader(t, num(Some(p), 0)?, num(Some(b), 0)?) {
                Ok(String::new())
            } else {
                Err("no such partition".into())
            }
        }
        ["move-coordinator", kind, key, b] => {
            let kind = match *kind {
                "group" => CoordinatorType::Group,
                "txn" | "transaction" => CoordinatorType::Transaction,
                other => return Err(format!("unknown coordinator type {other}")),
            };
            cluster.move_coordinator(kind, key, num(Some(b), 0)?);
            Ok(String::new())
        }
        ["marker-latency", ms] => {
            cluster.set_marker_latency(Duration::from_millis(num(Some(ms), 0)?));
            Ok(String::new())
        }
        ["offsets", t, p] => cluster
            .offsets(t, num(Some(p), 0)?)
            .map(|(hw, lso, start)| format!("high_watermark={hw} last_stable_offset={lso} log_start_offset={start}"))
            .ok_or_else(|| "no such partition".into()),
        _ => Err(format!("unknown command: {line}")),
    }
}
