//! Generates Rust from the parsed declarations: one module per message with
//! a struct per (nested) type, their defaults, `write_to`/`read_from` that
//! follow each field's version ranges, random generators for property tests,
//! and the API-key dispatch enums.

use std::fmt::Write;

use super::dsl::{Field, Kind, Message, Range, StructDef};

fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "mod" | "move" | "self" | "crate" | "async" => format!("r#{out}"),
        _ => out,
    }
}

/// A Rust boolean expression for "`version` is in `r`".
fn cond(r: Range) -> String {
    if r.is_empty() {
        "false".into()
    } else if r.max == i16::MAX {
        if r.min == 0 {
            "true".into()
        } else {
            format!("version >= {}", r.min)
        }
    } else if r.min == r.max {
        format!("version == {}", r.min)
    } else {
        format!("(version >= {} && version <= {})", r.min, r.max)
    }
}

fn prim_rust(t: &str) -> Option<&'static str> {
    Some(match t {
        "bool" => "bool",
        "int8" => "i8",
        "int16" => "i16",
        "uint16" => "u16",
        "int32" => "i32",
        "int64" => "i64",
        "float64" => "f64",
        "uuid" => "Uuid",
        "string" => "String",
        "bytes" | "records" => "Bytes",
        _ => return None,
    })
}

/// Minimum encoded size of one array element, for bounding counts.
fn elem_min(t: &str) -> usize {
    match t {
        "bool" | "int8" => 1,
        "int16" | "uint16" => 2,
        "int32" => 4,
        "int64" | "float64" => 8,
        "uuid" => 16,
        _ => 1,
    }
}

fn is_opt(f: &Field) -> bool {
    !f.nullable.is_empty()
}

fn rust_type(f: &Field) -> String {
    let inner = match f.array_of() {
        Some(e) => format!("Vec<{}>", prim_rust(e).map(str::to_string).unwrap_or_else(|| e.to_string())),
        None => prim_rust(&f.ty).map(str::to_string).unwrap_or_else(|| f.ty.clone()),
    };
    if is_opt(f) {
        format!("Option<{inner}>")
    } else {
        inner
    }
}

fn default_expr(f: &Field) -> String {
    let d = f.default.as_deref();
    if is_opt(f) && d == Some("null") {
        return "None".into();
    }
    let inner = if let Some(e) = f.array_of() {
        format!("Vec::<{}>::new()", prim_rust(e).unwrap_or(e))
    } else {
        match f.ty.as_str() {
            "bool" => d.unwrap_or("false").to_string(),
            "int8" | "int16" | "uint16" | "int32" | "int64" => d.unwrap_or("0").to_string(),
            "float64" => {
                let v = d.unwrap_or("0");
                if v.contains('.') { v.to_string() } else { format!("{v}.0") }
            }
            "uuid" => "Uuid::ZERO".into(),
            "string" => match d {
                Some(s) if !s.is_empty() => format!("String::from({s:?})"),
                _ => "String::new()".into(),
            },
            "bytes" => "Bytes::new()".into(),
            "records" => {
                if is_opt(f) {
                    return "None".into();
                }
                "Bytes::new()".into()
            }
            t => format!("{t}::default()"),
        }
    };
    if is_opt(f) {
        format!("Some({inner})")
    } else {
        inner
    }
}

/// Code writing one non-null value `x` (a reference) of element type `t`.
fn write_one(t: &str, x: &str, field: &str) -> String {
    match t {
        "bool" => format!("buf.put_u8(u8::from(*{x}));"),
        "int8" => format!("buf.put_i8(*{x});"),
        "int16" => format!("buf.put_i16(*{x});"),
        "uint16" => format!("buf.put_u16(*{x});"),
        "int32" => format!("buf.put_i32(*{x});"),
        "int64" => format!("buf.put_i64(*{x});"),
        "float64" => format!("buf.put_f64(*{x});"),
        "uuid" => format!("buf.put_slice(&{x}.0);"),
        "string" => format!("put_nullable_string(buf, Some({x}.as_str()), flex, {field:?})?;"),
        "bytes" | "records" => format!("put_nullable_bytes(buf, Some(&{x}[..]), flex, {field:?})?;"),
        _ => format!("{x}.write_to(buf, version)?;"),
    }
}

/// Code reading one non-null value of element type `t`.
fn read_one(t: &str, field: &str) -> String {
    match t {
        "bool" => "r.bool()?".into(),
        "int8" => "r.i8()?".into(),
        "int16" => "r.i16()?".into(),
        "uint16" => "r.u16()?".into(),
        "int32" => "r.i32()?".into(),
        "int64" => "r.i64()?".into(),
        "float64" => "r.f64()?".into(),
        "uuid" => "r.uuid()?".into(),
        "string" => format!("r.string(flex, {field:?})?"),
        "bytes" | "records" => format!("r.bytes_field(flex, {field:?})?"),
        s => format!("{s}::read_from(r, version)?"),
    }
}

/// Code writing field value `x` (an expression of the field's Rust type,
/// borrowed) including null handling and array framing.
fn write_field_value(f: &Field, x: &str) -> String {
    let name = &f.name;
    let null_ok = cond(f.nullable);
    let mut s = String::new();
    if let Some(elem) = f.array_of() {
        let arr = if is_opt(f) {
            format!("check_null({x}.as_ref(), {null_ok}, {name:?}, version)?")
        } else {
            format!("Some(&{x})")
        };
        let _ = write!(
            s,
            "{{ let a = {arr}; put_array_len(buf, a.map(|a| a.len()), flex, {name:?})?; \
             if let Some(a) = a {{ for e in a {{ {} }} }} }}",
            write_one(elem, "e", name)
        );
        return s;
    }
    if !is_opt(f) {
        return write_one(&f.ty, &format!("(&{x})"), name);
    }
    match f.ty.as_str() {
        "string" => format!(
            "put_nullable_string(buf, check_null({x}.as_deref(), {null_ok}, {name:?}, version)?, flex, {name:?})?;"
        ),
        "bytes" | "records" => format!(
            "put_nullable_bytes(buf, check_null({x}.as_deref(), {null_ok}, {name:?}, version)?, flex, {name:?})?;"
        ),
        _ => format!(
            "match check_null({x}.as_ref(), {null_ok}, {name:?}, version)? {{ \
             None => buf.put_i8(-1), Some(v) => {{ buf.put_i8(1); v.write_to(buf, version)?; }} }}"
        ),
    }
}

/// Code producing the field's Rust value from the reader.
fn read_field_value(f: &Field) -> String {
    let name = &f.name;
    let null_ok = cond(f.nullable);
    let null_err = format!("return Err(DecodeError::UnexpectedNull {{ field: {name:?} }})");
    if let Some(elem) = f.array_of() {
        let body = format!(
            // Pre-allocate no more memory than the bytes left could fill:
            // a count checked only against the bytes left (one byte per
            // element at least) would otherwise reserve its Rust size for
            // each, e.g. 80 bytes per claimed one-byte broker entry.
            "{{ let mut v = Vec::with_capacity(n.min(r.remaining() / std::mem::size_of::<{}>().max(1))); for _ in 0..n {{ v.push({}); }} v }}",
            prim_rust(elem).unwrap_or(elem),
            read_one(elem, name)
        );
        let min = elem_min(elem);
        return if is_opt(f) {
            format!(
                "match r.array_len(flex, {min}, {name:?})? {{ None if {null_ok} => None, None => {null_err}, Some(n) => Some({body}) }}"
            )
        } else {
            format!("match r.array_len(flex, {min}, {name:?})? {{ None => {null_err}, Some(n) => {body} }}")
        };
    }
    if !is_opt(f) {
        return read_one(&f.ty, name);
    }
    match f.ty.as_str() {
        "string" => format!(
            "match r.nullable_string(flex, {name:?})? {{ None if !({null_ok}) => {null_err}, v => v }}"
        ),
        "bytes" | "records" => format!(
            "match r.nullable_bytes(flex, {name:?})? {{ None if !({null_ok}) => {null_err}, v => v }}"
        ),
        t => format!(
            "match r.i8()? {{ -1 if {null_ok} => None, -1 => {null_err}, _ => Some({t}::read_from(r, version)?) }}"
        ),
    }
}

fn random_one(t: &str) -> String {
    match t {
        "bool" => "rng.bool()".into(),
        "int8" => "rng.u64() as i8".into(),
        "int16" => "rng.u64() as i16".into(),
        "uint16" => "rng.u64() as u16".into(),
        "int32" => "rng.u64() as i32".into(),
        "int64" => "rng.u64() as i64".into(),
        "float64" => "rng.f64()".into(),
        "uuid" => "rng.uuid()".into(),
        "string" => "rng.string()".into(),
        "bytes" | "records" => "rng.bytes()".into(),
        s => format!("{s}::random(rng, version)"),
    }
}

fn random_field(f: &Field) -> String {
    let v = match f.array_of() {
        Some(e) => format!("(0..rng.below(4)).map(|_| {}).collect::<Vec<_>>()", random_one(e)),
        None => random_one(&f.ty),
    };
    if is_opt(f) {
        format!("if ({}) && rng.below(4) == 0 {{ None }} else {{ Some({v}) }}", cond(f.nullable))
    } else {
        v
    }
}

fn is_tagged_at(f: &Field) -> Option<(u32, Range)> {
    f.tag
}

fn emit_struct(out: &mut String, s: &StructDef, top: Option<&Message>) {
    let _ = writeln!(out, "/// `{}`: see the module documentation for its versions.", s.name);
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
    let _ = writeln!(out, "pub struct {} {{", s.name);
    for f in &s.fields {
        let mut doc = format!("`{}` ({}), versions {}", f.name, f.ty, range_text(f.versions));
        if !f.nullable.is_empty() {
            let _ = write!(doc, ", nullable {}", range_text(f.nullable));
        }
        if let Some((t, r)) = f.tag {
            let _ = write!(doc, ", tag {t} in {}", range_text(r));
        }
        let _ = writeln!(out, "    /// {doc}.");
        let _ = writeln!(out, "    pub {}: {},", snake(&f.name), rust_type(f));
    }
    let _ = writeln!(out, "    /// Tagged fields this version of the crate does not know, kept for re-encoding.");
    let _ = writeln!(out, "    pub unknown_tagged_fields: Vec<RawTaggedField>,");
    let _ = writeln!(out, "}}\n");

    let _ = writeln!(out, "impl Default for {} {{\n    fn default() -> Self {{\n        Self {{", s.name);
    for f in &s.fields {
        let _ = writeln!(out, "            {}: {},", snake(&f.name), default_expr(f));
    }
    let _ = writeln!(out, "            unknown_tagged_fields: Vec::new(),\n        }}\n    }}\n}}\n");

    let _ = writeln!(out, "impl {} {{", s.name);
    // write_to
    let _ = writeln!(out, "    /// Encodes the body at `version` (no version check: see [`Message::encode`]).");
    let _ = writeln!(
        out,
        "    pub fn write_to(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{\n        let flex = is_flexible(version);\n        let _ = flex;"
    );
    for f in &s.fields {
        let x = format!("self.{}", snake(&f.name));
        let present = cond(f.versions);
        let tagged = f.tag.map(|(_, r)| cond(r)).unwrap_or_else(|| "false".into());
        let unsupported = if f.ignorable {
            String::new()
        } else {
            format!(
                "if {x} != {} {{ return Err(EncodeError::FieldNotSupported {{ field: {:?}, version }}); }}",
                default_expr(f),
                f.name
            )
        };
        // Tagged fields go in the tagged section below; in versions where the
        // field exists but is not tagged, they are written inline.
        let _ = writeln!(
            out,
            "        if !({present}) {{ {unsupported} }} else if !({tagged}) {{ {} }}",
            write_field_value(f, &x)
        );
    }
    let _ = writeln!(out, "        if flex {{\n            #[allow(unused_mut)]\n            let mut known: Vec<(u32, BytesMut)> = Vec::new();");
    for f in &s.fields {
        if let Some((tag, r)) = is_tagged_at(f) {
            let x = format!("self.{}", snake(&f.name));
            let _ = writeln!(
                out,
                "            if ({}) && {x} != {} {{ let mut tb = BytesMut::new(); {{ let buf = &mut tb; {} }} known.push(({tag}, tb)); }}",
                cond(r),
                default_expr(f),
                write_field_value(f, &x)
            );
        }
    }
    let _ = writeln!(out, "            put_tagged_fields(buf, known, &self.unknown_tagged_fields);\n        }}");
    let _ = writeln!(out, "        Ok(())\n    }}\n");

    // read_from
    let _ = writeln!(out, "    /// Decodes the body at `version` (no version check: see [`Message::decode`]).");
    let _ = writeln!(
        out,
        "    pub fn read_from(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{\n        let flex = is_flexible(version);\n        let _ = flex;\n        #[allow(unused_mut)]\n        let mut this = Self::default();"
    );
    for f in &s.fields {
        let tagged = f.tag.map(|(_, r)| cond(r)).unwrap_or_else(|| "false".into());
        let _ = writeln!(
            out,
            "        if ({}) && !({tagged}) {{ this.{} = {}; }}",
            cond(f.versions),
            snake(&f.name),
            read_field_value(f)
        );
    }
    let _ = writeln!(out, "        if flex {{\n            this.unknown_tagged_fields = r.tagged_fields(|tag, r| {{\n                let _ = &r;\n                match tag {{");
    for f in &s.fields {
        if let Some((tag, rng)) = f.tag {
            let _ = writeln!(
                out,
                "                    {tag} if {} => {{ this.{} = {}; Ok(true) }}",
                cond(rng),
                snake(&f.name),
                read_field_value(f)
            );
        }
    }
    let _ = writeln!(out, "                    _ => Ok(false),\n                }}\n            }})?;\n        }}\n        Ok(this)\n    }}\n");

    // random
    let _ = writeln!(out, "    /// A random value holding only what `version` can carry (property tests).");
    let _ = writeln!(out, "    #[cfg(feature = \"test-util\")]");
    let _ = writeln!(
        out,
        "    pub fn random(rng: &mut crate::testutil::Rng, version: i16) -> Self {{\n        #[allow(unused_mut)]\n        let mut this = Self::default();"
    );
    for f in &s.fields {
        let _ = writeln!(out, "        if {} {{ this.{} = {}; }}", cond(f.versions), snake(&f.name), random_field(f));
    }
    let _ = writeln!(out, "        if is_flexible(version) {{ this.unknown_tagged_fields = rng.unknown_tags(); }}");
    let _ = writeln!(out, "        this\n    }}\n}}\n");

    if let Some(m) = top {
        let key = m.api_key.map(|k| format!("Some({k})")).unwrap_or_else(|| "None".into());
        let _ = writeln!(
            out,
            "impl Message for {} {{\n    const NAME: &'static str = {:?};\n    const API_KEY: Option<i16> = {key};\n    const MIN_VERSION: i16 = {};\n    const MAX_VERSION: i16 = {};\n    fn is_flexible(version: i16) -> bool {{ is_flexible(version) }}\n    fn write_to(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{ {}::write_to(self, buf, version) }}\n    fn read_from(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{ {}::read_from(r, version) }}\n}}\n",
            s.name, m.name, m.versions.min, m.versions.max, s.name, s.name
        );
    }
}

fn range_text(r: Range) -> String {
    if r.is_empty() {
        "none".into()
    } else if r.max == i16::MAX {
        format!("{}+", r.min)
    } else if r.min == r.max {
        format!("{}", r.min)
    } else {
        format!("{}-{}", r.min, r.max)
    }
}

/// The module for one message.
pub fn emit_message(m: &Message) -> String {
    let mut out = String::new();
    let module = snake(&m.name);
    let _ = writeln!(
        out,
        "/// `{}`{}: versions {}, flexible {}.\npub mod {module} {{\n#![allow(clippy::all, unused_imports, unused_variables, unused_parens)]\nuse crate::messages::prelude::*;\n",
        m.name,
        m.api_key.map(|k| format!(" (API key {k})")).unwrap_or_default(),
        range_text(m.versions),
        range_text(m.flexible)
    );
    let _ = writeln!(out, "fn is_flexible(version: i16) -> bool {{ {} }}\n", cond(m.flexible));
    for (i, s) in m.structs().iter().enumerate() {
        emit_struct(&mut out, s, if i == 0 { Some(m) } else { None });
    }
    let _ = writeln!(out, "}}\npub use {module}::{};\n", m.name);
    out
}

/// The `ApiKey` enum and the request/response dispatch enums.
pub fn emit_dispatch(msgs: &[Message]) -> String {
    let mut apis: Vec<(i16, String, &Message, &Message)> = Vec::new();
    for req in msgs.iter().filter(|m| m.kind == Kind::Request) {
        let api = req.name.trim_end_matches("Request").to_string();
        let resp = msgs
            .iter()
            .find(|m| m.kind == Kind::Response && m.name == format!("{api}Response"))
            .unwrap_or_else(|| panic!("{} has no response declaration", req.name));
        apis.push((req.api_key.expect("request has a key"), api, req, resp));
    }
    apis.sort_by_key(|a| a.0);
    let mut out = String::new();
    let _ = writeln!(out, "/// The Kafka APIs this crate speaks, by API key.");
    let _ = writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\npub enum ApiKey {{");
    for (k, n, _, _) in &apis {
        let _ = writeln!(out, "    /// API key {k}.\n    {n} = {k},");
    }
    let _ = writeln!(out, "}}\n\nimpl ApiKey {{\n    /// Every API this crate speaks, in key order.\n    pub const ALL: &'static [ApiKey] = &[");
    for (_, n, _, _) in &apis {
        let _ = writeln!(out, "        ApiKey::{n},");
    }
    let _ = writeln!(out, "    ];\n\n    /// The API with this key, if this crate speaks it.\n    pub fn from_i16(key: i16) -> Option<ApiKey> {{\n        match key {{");
    for (k, n, _, _) in &apis {
        let _ = writeln!(out, "            {k} => Some(ApiKey::{n}),");
    }
    let _ = writeln!(out, "            _ => None,\n        }}\n    }}\n\n    /// The API's name as Kafka spells it.\n    pub fn name(self) -> &'static str {{\n        match self {{");
    for (_, n, _, _) in &apis {
        let _ = writeln!(out, "            ApiKey::{n} => {n:?},");
    }
    let _ = writeln!(out, "        }}\n    }}\n\n    /// The lowest and highest version this crate declares.\n    pub fn versions(self) -> (i16, i16) {{\n        match self {{");
    for (_, n, req, _) in &apis {
        let _ = writeln!(out, "            ApiKey::{n} => ({}, {}),", req.versions.min, req.versions.max);
    }
    let _ = writeln!(out, "        }}\n    }}\n\n    /// Whether `version` uses the flexible (compact, tagged) encoding.\n    pub fn is_flexible(self, version: i16) -> bool {{\n        match self {{");
    for (_, n, req, _) in &apis {
        let _ = writeln!(out, "            ApiKey::{n} => {},", cond(req.flexible));
    }
    let _ = writeln!(out, "        }}\n    }}\n}}\n");

    for (kind, enum_name, pick) in [("request", "RequestBody", 0usize), ("response", "ResponseBody", 1usize)] {
        let _ = writeln!(out, "/// Any {kind} body this crate speaks.\n#[derive(Debug, Clone, PartialEq)]\npub enum {enum_name} {{");
        for (_, n, req, resp) in &apis {
            let m = if pick == 0 { req } else { resp };
            let _ = writeln!(out, "    /// {}.\n    {n}({}),", m.name, m.name);
        }
        let _ = writeln!(out, "}}\n\nimpl {enum_name} {{\n    /// The API this body belongs to.\n    pub fn api_key(&self) -> ApiKey {{\n        match self {{");
        for (_, n, _, _) in &apis {
            let _ = writeln!(out, "            {enum_name}::{n}(_) => ApiKey::{n},");
        }
        let _ = writeln!(out, "        }}\n    }}\n\n    /// Encodes the body at `version`, after checking that the version exists.\n    pub fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{\n        match self {{");
        for (_, n, _, _) in &apis {
            let _ = writeln!(out, "            {enum_name}::{n}(m) => m.encode(buf, version),");
        }
        let _ = writeln!(out, "        }}\n    }}\n\n    /// Decodes a body of API `key` at `version`.\n    pub fn decode(key: ApiKey, version: i16, r: &mut Reader) -> Result<Self, DecodeError> {{\n        Ok(match key {{");
        for (_, n, req, resp) in &apis {
            let m = if pick == 0 { req } else { resp };
            let _ = writeln!(out, "            ApiKey::{n} => {enum_name}::{n}({}::decode(r, version)?),", m.name);
        }
        let _ = writeln!(out, "        }})\n    }}\n");
        let _ = writeln!(out, "    /// A random body of API `key` at `version` (property tests).\n    #[cfg(feature = \"test-util\")]\n    pub fn random(key: ApiKey, version: i16, rng: &mut crate::testutil::Rng) -> Self {{\n        match key {{");
        for (_, n, req, resp) in &apis {
            let m = if pick == 0 { req } else { resp };
            let _ = writeln!(out, "            ApiKey::{n} => {enum_name}::{n}({}::random(rng, version)),", m.name);
        }
        let _ = writeln!(out, "        }}\n    }}\n}}\n");
    }
    out
}
