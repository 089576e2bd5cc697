//! Helpers shared by the protocol tests: the captured Kafka 3.8.0 frames.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferrokafka_protocol::ApiKey;

/// One captured frame.
pub struct Frame {
    pub path: PathBuf,
    pub scenario: String,
    pub seq: u32,
    pub api: ApiKey,
    pub version: i16,
    pub is_request: bool,
    pub bytes: Bytes,
}

/// Every frame under `tests/data/captures`, sorted by scenario and name.
pub fn frames() -> Vec<Frame> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("capture dir").map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        let scenario = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".bin") else { continue };
            // NNNNN-ApiName-vV-req|resp
            let parts: Vec<&str> = stem.split('-').collect();
            assert_eq!(parts.len(), 4, "unexpected capture name {name}");
            let api = ApiKey::ALL.iter().copied().find(|k| k.name() == parts[1]).unwrap_or_else(|| panic!("unknown api in {name}"));
            out.push(Frame {
                scenario: scenario.clone(),
                seq: parts[0].parse().unwrap(),
                api,
                version: parts[2].trim_start_matches('v').parse().unwrap(),
                is_request: parts[3] == "req",
                bytes: Bytes::from(std::fs::read(&path).unwrap()),
                path,
            });
        }
    }
    out
}

/// The shared reference folder, when present.
pub fn shared_reference() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/kafka-reference/3.8.0");
    p.is_dir().then_some(p)
}
