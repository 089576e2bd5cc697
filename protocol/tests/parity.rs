//! Our message declarations against Apache Kafka 3.8.0's published schema:
//! the same fields, types, version ranges, nullable and tagged versions,
//! defaults and ignorable flags. Versions we declare beyond 3.8 (Kafka 4.x's
//! transactions-v2 versions) are allowed only where listed here.
//!
//! Skipped, with a notice, when `../shared` is not beside the checkout.

#[path = "../codegen/dsl.rs"]
mod dsl;
mod common;

use dsl::{Field, Message, Range};
use serde_json::Value;

/// Messages whose newest versions come from Kafka 4.x, with the 3.8 maximum.
const BEYOND_3_8: &[(&str, i16)] = &[
    ("ProduceRequest", 11),
    ("ProduceResponse", 11),
    ("EndTxnRequest", 4),
    ("EndTxnResponse", 4),
    ("TxnOffsetCommitRequest", 4),
    ("TxnOffsetCommitResponse", 4),
];

fn strip_comments(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn range(v: Option<&Value>, default: Range) -> Range {
    v.and_then(Value::as_str).map(|s| Range::parse(s).unwrap()).unwrap_or(default)
}

fn norm_default(d: Option<&Value>) -> Option<String> {
    d.map(|d| match d {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    })
}

fn compare_fields(ctx: &str, ours: &[Field], theirs: &[Value], valid: Range, problems: &mut Vec<String>) {
    let mut theirs_iter = theirs.iter().peekable();
    for f in ours {
        let here = format!("{ctx}.{}", f.name);
        let Some(t) = theirs_iter.peek() else {
            if f.versions.min <= valid.max {
                problems.push(format!("{here}: not in Kafka 3.8"));
            }
            continue;
        };
        if t["name"].as_str() != Some(f.name.as_str()) {
            if f.versions.min > valid.max {
                continue; // a field of a version beyond 3.8
            }
            problems.push(format!("{here}: Kafka has {} here", t["name"]));
            theirs_iter.next();
            continue;
        }
        let t = theirs_iter.next().unwrap();
        let ty = t["type"].as_str().unwrap().replace(' ', "");
        if ty != f.ty {
            problems.push(format!("{here}: type {} vs Kafka {ty}", f.ty));
        }
        let cmp = |a: Range, b: Range| a.clamp(valid) == b.clamp(valid);
        if !cmp(f.versions, range(t.get("versions"), Range::NONE)) {
            problems.push(format!("{here}: versions {:?} vs Kafka {}", f.versions, t["versions"]));
        }
        if !cmp(f.nullable, range(t.get("nullableVersions"), Range::NONE)) {
            problems.push(format!("{here}: nullable {:?} vs Kafka {}", f.nullable, t["nullableVersions"]));
        }
        let their_tag = t.get("tag").map(|n| (n.as_u64().unwrap() as u32, range(t.get("taggedVersions"), Range::NONE)));
        match (f.tag, their_tag) {
            (None, None) => {}
            (Some((a, ra)), Some((b, rb))) if a == b && cmp(ra, rb) => {}
            (a, b) => problems.push(format!("{here}: tag {a:?} vs Kafka {b:?}")),
        }
        if f.default.as_ref().map(|d| d.to_lowercase()) != norm_default(t.get("default")) {
            problems.push(format!("{here}: default {:?} vs Kafka {:?}", f.default, t.get("default")));
        }
        if f.ignorable != t.get("ignorable").and_then(Value::as_bool).unwrap_or(false) {
            problems.push(format!("{here}: ignorable differs"));
        }
        let their_children = t.get("fields").and_then(Value::as_array).cloned().unwrap_or_default();
        compare_fields(&here, &f.fields, &their_children, valid, problems);
    }
    for t in theirs_iter {
        problems.push(format!("{ctx}.{}: missing from our declaration", t["name"]));
    }
}

fn compare(ours: &Message, theirs: &Value, problems: &mut Vec<String>) {
    let name = &ours.name;
    let valid = Range::parse(theirs["validVersions"].as_str().unwrap()).unwrap();
    let beyond = BEYOND_3_8.iter().find(|(n, _)| n == name);
    match beyond {
        Some((_, max)) if valid.max == *max && ours.versions.min == valid.min && ours.versions.max > *max => {}
        Some(_) => problems.push(format!("{name}: expected to extend 3.8's {valid:?}, have {:?}", ours.versions)),
        None if ours.versions != valid => problems.push(format!("{name}: versions {:?} vs Kafka {valid:?}", ours.versions)),
        None => {}
    }
    if theirs.get("apiKey").and_then(Value::as_i64).map(|k| k as i16) != ours.api_key {
        problems.push(format!("{name}: api key differs"));
    }
    let flex = range(theirs.get("flexibleVersions"), Range::NONE);
    if ours.flexible.clamp(valid) != flex.clamp(valid) {
        problems.push(format!("{name}: flexible {:?} vs Kafka {flex:?}", ours.flexible));
    }
    compare_fields(name, &ours.fields, theirs["fields"].as_array().unwrap(), valid, problems);
    let their_commons = theirs.get("commonStructs").and_then(Value::as_array).cloned().unwrap_or_default();
    if their_commons.len() != ours.commons.len() {
        problems.push(format!("{name}: {} common structs vs Kafka {}", ours.commons.len(), their_commons.len()));
    }
    for (c, t) in ours.commons.iter().zip(their_commons.iter()) {
        if t["name"].as_str() != Some(c.name.as_str()) {
            problems.push(format!("{name}: common struct {} vs Kafka {}", c.name, t["name"]));
        }
        compare_fields(&format!("{name}/{}", c.name), &c.fields, t["fields"].as_array().unwrap(), valid, problems);
    }
}

#[test]
fn declarations_match_kafka_3_8_schema() {
    let Some(reference) = common::shared_reference() else {
        eprintln!("NOTICE: ../shared/kafka-reference/3.8.0 not found; parity test skipped");
        return;
    };
    let schema_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&schema_dir).unwrap() {
        let path = entry.unwrap().path();
        let ours = dsl::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let theirs_path = reference.join("message").join(format!("{}.json", ours.name));
        let text = std::fs::read_to_string(&theirs_path)
            .unwrap_or_else(|_| panic!("Kafka has no message {}", ours.name));
        let theirs: Value = serde_json::from_str(&strip_comments(&text)).unwrap();
        compare(&ours, &theirs, &mut problems);
        checked += 1;
    }
    assert_eq!(checked, 66, "32 APIs x request/response + 2 consumer protocol types");
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}
