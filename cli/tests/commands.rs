//! The `ferrokafka` binary as a user runs it.

use std::process::Command;

fn ferrokafka(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrokafka")).args(args).output().expect("runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_demo_checks_exactly_once_through_faults() {
    let (ok, out) = ferrokafka(&["demo", "--records", "20000"]);
    assert!(ok, "{out}");
    assert!(out.contains("20000 distinct records, 0 duplicated, 0 missing, 0 out of order per key"), "{out}");
}

#[test]
fn decode_prints_a_captured_frame() {
    let frame = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/tests/data/captures/errors/00579-Produce-v9-resp.bin");
    let (ok, out) = ferrokafka(&["decode", "response", "Produce", "9", frame]);
    assert!(ok, "{out}");
    assert!(out.contains("error_code: 45"), "the out-of-order answer: {out}");
}

#[test]
fn commands_not_built_yet_say_so() {
    let (ok, out) = ferrokafka(&["consume"]);
    assert!(!ok);
    assert!(out.contains("not available yet"), "{out}");
}
