//! Parser for our message declarations (`protocol/schema/*.kmsg`).
//!
//! Shared by `build.rs` (which generates the codec from it) and by the parity
//! test (which checks it against Apache Kafka's published schema). One file
//! declares one message:
//!
//! ```text
//! request ProduceRequest key=0 versions=0-12 flexible=9+
//!   TransactionalId string v=3+ null=3+ default=null
//!   Acks int16
//!   TopicData []TopicProduceData
//!     Name string
//!   common SharedStruct v=0+
//!     Field int32
//! ```
//!
//! A field line is `Name Type [v=R] [null=R] [tag=N@R] [default=X] [ign]`,
//! where R is a version range (`3+`, `0-7`, `5`, `none`); `v=` defaults to
//! `0+`. Indented lines under a struct-typed field declare its fields; a
//! struct type named without fields refers to one declared elsewhere in the
//! same file (inline or `common`).

#![allow(dead_code)]

/// An inclusive version range; empty when `min > max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i16,
    pub max: i16,
}

impl Range {
    pub const NONE: Range = Range { min: 1, max: 0 };
    pub const ALL: Range = Range { min: 0, max: i16::MAX };

    pub fn parse(s: &str) -> Result<Range, String> {
        if s == "none" {
            return Ok(Range::NONE);
        }
        let num = |t: &str| t.parse::<i16>().map_err(|e| format!("bad version '{t}' in '{s}': {e}"));
        if let Some(a) = s.strip_suffix('+') {
            return Ok(Range { min: num(a)?, max: i16::MAX });
        }
        if let Some((a, b)) = s.split_once('-') {
            return Ok(Range { min: num(a)?, max: num(b)? });
        }
        let v = num(s)?;
        Ok(Range { min: v, max: v })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    pub fn contains(&self, v: i16) -> bool {
        v >= self.min && v <= self.max
    }

    /// The part of `self` inside `within` (used to compare "3+" with "3-11").
    pub fn clamp(&self, within: Range) -> Range {
        let r = Range { min: self.min.max(within.min), max: self.max.min(within.max) };
        if r.is_empty() {
            Range::NONE
        } else {
            r
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Data,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// As written: `int32`, `[]int32`, `[]TopicData`, `LeaderIdAndEpoch`.
    pub ty: String,
    pub versions: Range,
    pub nullable: Range,
    pub tag: Option<(u32, Range)>,
    pub default: Option<String>,
    pub ignorable: bool,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub versions: Range,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub kind: Kind,
    pub name: String,
    pub api_key: Option<i16>,
    pub versions: Range,
    pub flexible: Range,
    pub fields: Vec<Field>,
    pub commons: Vec<StructDef>,
}

pub const PRIMITIVES: &[&str] =
    &["bool", "int8", "int16", "uint16", "int32", "int64", "float64", "uuid", "string", "bytes", "records"];

impl Field {
    /// The element type of an array field, or `None`.
    pub fn array_of(&self) -> Option<&str> {
        self.ty.strip_prefix("[]")
    }

    /// The struct type this field holds (directly or as array elements).
    pub fn struct_type(&self) -> Option<&str> {
        let base = self.array_of().unwrap_or(&self.ty);
        if PRIMITIVES.contains(&base) {
            None
        } else {
            Some(base)
        }
    }
}

impl Message {
    /// Every struct of this message, top-level first, each once.
    pub fn structs(&self) -> Vec<StructDef> {
        let mut out = vec![StructDef { name: self.name.clone(), versions: self.versions, fields: self.fields.clone() }];
        fn walk(fields: &[Field], out: &mut Vec<StructDef>) {
            for f in fields {
                if let Some(t) = f.struct_type() {
                    if !f.fields.is_empty() && !out.iter().any(|s| s.name == t) {
                        out.push(StructDef { name: t.to_string(), versions: f.versions, fields: f.fields.clone() });
                    }
                    walk(&f.fields, out);
                }
            }
        }
        walk(&self.fields, &mut out);
        for c in &self.commons {
            if !out.iter().any(|s| s.name == c.name) {
                out.push(c.clone());
            }
            walk(&c.fields, &mut out);
        }
        out
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn parse_field(line: &str, lineno: usize) -> Result<Field, String> {
    let err = |m: String| format!("line {lineno}: {m}");
    let mut it = line.split_whitespace();
    let name = it.next().ok_or_else(|| err("empty field".into()))?.to_string();
    let ty = it.next().ok_or_else(|| err(format!("field {name} has no type")))?.to_string();
    let mut f = Field {
        name,
        ty,
        versions: Range::ALL,
        nullable: Range::NONE,
        tag: None,
        default: None,
        ignorable: false,
        fields: Vec::new(),
    };
    for attr in it {
        if attr == "ign" {
            f.ignorable = true;
        } else if let Some(r) = attr.strip_prefix("v=") {
            f.versions = Range::parse(r).map_err(err)?;
        } else if let Some(r) = attr.strip_prefix("null=") {
            f.nullable = Range::parse(r).map_err(err)?;
        } else if let Some(t) = attr.strip_prefix("tag=") {
            let (n, r) = t.split_once('@').ok_or_else(|| err(format!("tag needs N@range: {t}")))?;
            let n = n.parse::<u32>().map_err(|e| err(e.to_string()))?;
            f.tag = Some((n, Range::parse(r).map_err(err)?));
        } else if let Some(d) = attr.strip_prefix("default=") {
            f.default = Some(if d == "\"\"" { String::new() } else { d.to_string() });
        } else {
            return Err(err(format!("unknown attribute '{attr}'")));
        }
    }
    Ok(f)
}

/// Parses one declaration file.
pub fn parse(text: &str) -> Result<Message, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end()))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let (first_no, first) = *lines.first().ok_or("empty declaration")?;
    let mut head = first.split_whitespace();
    let kind = match head.next() {
        Some("request") => Kind::Request,
        Some("response") => Kind::Response,
        Some("data") => Kind::Data,
        other => return Err(format!("line {first_no}: unknown kind {other:?}")),
    };
    let name = head.next().ok_or("message has no name")?.to_string();
    let mut msg = Message {
        kind,
        name,
        api_key: None,
        versions: Range::NONE,
        flexible: Range::NONE,
        fields: Vec::new(),
        commons: Vec::new(),
    };
    for attr in head {
        if let Some(k) = attr.strip_prefix("key=") {
            msg.api_key = Some(k.parse().map_err(|e| format!("bad key: {e}"))?);
        } else if let Some(r) = attr.strip_prefix("versions=") {
            msg.versions = Range::parse(r)?;
        } else if let Some(r) = attr.strip_prefix("flexible=") {
            msg.flexible = Range::parse(r)?;
        } else {
            return Err(format!("line {first_no}: unknown attribute '{attr}'"));
        }
    }
    let mut pos = 1;
    while pos < lines.len() {
        let (no, line) = lines[pos];
        if indent_of(line) != 2 {
            return Err(format!("line {no}: expected two-space indent"));
        }
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("common ") {
            let mut it = rest.split_whitespace();
            let name = it.next().ok_or(format!("line {no}: common needs a name"))?.to_string();
            let versions = match it.next().and_then(|a| a.strip_prefix("v=")) {
                Some(r) => Range::parse(r)?,
                None => Range::ALL,
            };
            let (fields, next) = parse_block(&lines, pos + 1, 4)?;
            msg.commons.push(StructDef { name, versions, fields });
            pos = next;
        } else {
            let (mut fields, next) = parse_block(&lines, pos, 2)?;
            msg.fields.append(&mut fields);
            pos = next;
        }
    }
    Ok(msg)
}

/// Parses the fields at exactly `indent` starting at `pos`; returns them and
/// the index of the first line that is not part of the block.
fn parse_block(lines: &[(usize, &str)], mut pos: usize, indent: usize) -> Result<(Vec<Field>, usize), String> {
    let mut fields = Vec::new();
    while pos < lines.len() {
        let (no, line) = lines[pos];
        let ind = indent_of(line);
        if ind < indent || (ind == indent && line.trim().starts_with("common ")) {
            break;
        }
        if ind > indent {
            return Err(format!("line {no}: unexpected indent"));
        }
        let mut f = parse_field(line.trim(), no)?;
        let (children, next) = parse_block(lines, pos + 1, indent + 2)?;
        f.fields = children;
        fields.push(f);
        pos = next;
    }
    Ok((fields, pos))
}
