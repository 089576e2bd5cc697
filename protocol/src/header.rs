//! Request and response headers, and whole frames (header + body).
//!
//! On the wire every frame is an int32 size followed by that many bytes. The
//! functions here work on the bytes *after* the size prefix, except
//! [`encode_request_frame`] / [`encode_response_frame`], which write the
//! prefix too (in the same pass: the prefix is patched in at the end), and
//! [`frame_length`], which validates a received prefix.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::messages::{ApiKey, Message, RequestBody, ResponseBody};
use crate::wire::{put_nullable_string, put_tagged_fields, RawTaggedField, Reader};

/// The request header (v1 for classic versions, v2 for flexible ones).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestHeader {
    /// The API key.
    pub api_key: i16,
    /// The API version.
    pub api_version: i16,
    /// Matches the response to this request.
    pub correlation_id: i32,
    /// The client id; an int16-length string even in header v2.
    pub client_id: Option<String>,
    /// Tagged fields of header v2.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

/// The response header (v0, or v1 with tagged fields for flexible versions).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
    /// Tagged fields of header v1.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

/// The request header version for `api` at `version`: 2 when flexible, else 1.
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    if api.is_flexible(version) {
        2
    } else {
        1
    }
}

/// The response header version for `api` at `version`: 1 when flexible,
/// else 0; ApiVersions always answers with v0 so that a client that sent a
/// version the broker does not know can still read the answer.
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api != ApiKey::ApiVersions && api.is_flexible(version) {
        1
    } else {
        0
    }
}

/// The largest frame accepted by default (Kafka's `socket.request.max.bytes`
/// default is 100 MiB).
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// Validates a received size prefix: positive and at most `max`.
pub fn frame_length(prefix: [u8; 4], max: usize) -> Result<usize, DecodeError> {
    let n = i32::from_be_bytes(prefix);
    if n < 0 || n as usize > max {
        return Err(DecodeError::InvalidLength { what: "frame", length: i64::from(n) });
    }
    Ok(n as usize)
}

impl RequestHeader {
    /// Encodes the header; its version follows from the API and version
    /// (2 for flexible versions, else 1).
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let flexible = ApiKey::from_i16(self.api_key).is_some_and(|k| k.is_flexible(self.api_version));
        self.encode_version(buf, if flexible { 2 } else { 1 })
    }

    /// Encodes the header at an explicit header version: 0 has no client id
    /// (only ControlledShutdown v0 ever used it), 1 adds the client id, 2
    /// adds a tagged-field section.
    pub fn encode_version(&self, buf: &mut BytesMut, header_version: i16) -> Result<(), EncodeError> {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            put_nullable_string(buf, self.client_id.as_deref(), false, "client_id")?;
        }
        if header_version >= 2 {
            put_tagged_fields(buf, Vec::new(), &self.unknown_tagged_fields);
        }
        Ok(())
    }

    /// Decodes a header at an explicit header version (see [`Self::encode_version`]).
    pub fn decode_version(r: &mut Reader, header_version: i16) -> Result<Self, DecodeError> {
        let mut h = RequestHeader { api_key: r.i16()?, api_version: r.i16()?, correlation_id: r.i32()?, ..Default::default() };
        if header_version >= 1 {
            h.client_id = r.nullable_string(false, "client_id")?;
        }
        if header_version >= 2 {
            h.unknown_tagged_fields = r.tagged_fields(|_, _| Ok(false))?;
        }
        Ok(h)
    }

    /// Decodes the header. The API must be one this crate knows (its
    /// flexibility decides whether a tagged section follows).
    pub fn decode(r: &mut Reader) -> Result<(Self, ApiKey), DecodeError> {
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id = r.nullable_string(false, "client_id")?;
        let api = ApiKey::from_i16(api_key).ok_or(DecodeError::UnknownApiKey(api_key))?;
        let mut h = RequestHeader { api_key, api_version, correlation_id, client_id, unknown_tagged_fields: Vec::new() };
        if api.is_flexible(api_version) {
            h.unknown_tagged_fields = r.tagged_fields(|_, _| Ok(false))?;
        }
        Ok((h, api))
    }
}

impl ResponseHeader {
    /// Encodes the header at `header_version` (0 or 1).
    pub fn encode(&self, buf: &mut BytesMut, header_version: i16) {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            put_tagged_fields(buf, Vec::new(), &self.unknown_tagged_fields);
        }
    }

    /// Decodes the header at `header_version` (0 or 1).
    pub fn decode(r: &mut Reader, header_version: i16) -> Result<Self, DecodeError> {
        let correlation_id = r.i32()?;
        let unknown_tagged_fields =
            if header_version >= 1 { r.tagged_fields(|_, _| Ok(false))? } else { Vec::new() };
        Ok(ResponseHeader { correlation_id, unknown_tagged_fields })
    }
}

/// A decoded request: header and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The header.
    pub header: RequestHeader,
    /// The body.
    pub body: RequestBody,
}

impl Request {
    /// Decodes a request frame (without its size prefix), demanding that
    /// every byte is used.
    pub fn decode(frame: Bytes) -> Result<Request, DecodeError> {
        let mut r = Reader::new(frame);
        let req = Self::decode_prefix(&mut r)?;
        r.finish()?;
        Ok(req)
    }

    /// Decodes a request from the start of `r`, leaving any bytes after the
    /// body unread. Kafka brokers ignore such bytes (librdkafka 2.16 leaves
    /// three after some Metadata requests), so a broker should use this.
    pub fn decode_prefix(r: &mut Reader) -> Result<Request, DecodeError> {
        let (header, api) = RequestHeader::decode(r)?;
        let body = RequestBody::decode(api, header.api_version, r)?;
        Ok(Request { header, body })
    }

    /// Encodes header and body (no size prefix).
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.header.encode(buf)?;
        self.body.encode(buf, self.header.api_version)
    }
}

/// Writes a whole request frame, size prefix included, in one pass.
pub fn encode_request_frame(header: &RequestHeader, body: &RequestBody, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    header.encode(buf)?;
    body.encode(buf, header.api_version)?;
    patch_size(buf, start)
}

/// Writes a whole response frame, size prefix included, in one pass.
pub fn encode_response_frame(
    correlation_id: i32,
    body: &ResponseBody,
    api_version: i16,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    let hv = response_header_version(body.api_key(), api_version);
    ResponseHeader { correlation_id, unknown_tagged_fields: Vec::new() }.encode(buf, hv);
    body.encode(buf, api_version)?;
    patch_size(buf, start)
}

fn patch_size(buf: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let len = buf.len() - start - 4;
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", length: len })?;
    buf[start..start + 4].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Decodes a response frame (without its size prefix) to a request of `api`
/// at `version`, demanding that every byte is used.
///
/// An ApiVersions request at a version the broker does not know is answered
/// with `UNSUPPORTED_VERSION` in a version-0 body; so an ApiVersions response
/// to a version above ours is decoded as version 0, as the Java client does.
pub fn decode_response(api: ApiKey, version: i16, frame: Bytes) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, response_header_version(api, version))?;
    let (_, max) = api.versions();
    let body_version = if api == ApiKey::ApiVersions && version > max { 0 } else { version };
    let body = ResponseBody::decode(api, body_version, &mut r)?;
    r.finish()?;
    Ok((header, body))
}

/// Encodes a response body with its header (no size prefix), at the
/// version [`decode_response`] would read it with.
pub fn encode_response(api_version: i16, header: &ResponseHeader, body: &ResponseBody, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let api = body.api_key();
    header.encode(buf, response_header_version(api, api_version));
    let (_, max) = api.versions();
    let body_version = if api == ApiKey::ApiVersions && api_version > max { 0 } else { api_version };
    body.encode(buf, body_version)
}

/// Shorthand for decoding a single message from a whole buffer.
pub fn decode_exact<M: Message>(buf: Bytes, version: i16) -> Result<M, DecodeError> {
    let mut r = Reader::new(buf);
    let m = M::decode(&mut r, version)?;
    r.finish()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_at_every_version() {
        let h = RequestHeader { api_key: 3, api_version: 12, correlation_id: 9, client_id: Some("c".into()), unknown_tagged_fields: Vec::new() };
        let expected_len = [8, 11, 12];
        for hv in 0..=2i16 {
            let mut b = BytesMut::new();
            h.encode_version(&mut b, hv).unwrap();
            assert_eq!(b.len(), expected_len[hv as usize]);
            let back = RequestHeader::decode_version(&mut Reader::new(b.freeze()), hv).unwrap();
            let want = if hv == 0 { RequestHeader { client_id: None, ..h.clone() } } else { h.clone() };
            assert_eq!(back, want);
        }
    }

    #[test]
    fn oversized_and_negative_frames_are_refused() {
        assert!(frame_length((-1i32).to_be_bytes(), DEFAULT_MAX_FRAME).is_err());
        assert!(frame_length(1000i32.to_be_bytes(), 999).is_err());
        assert_eq!(frame_length(999i32.to_be_bytes(), 999), Ok(999));
    }

    #[test]
    fn response_header_versions() {
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        assert_eq!(response_header_version(ApiKey::Metadata, 8), 0);
        assert_eq!(request_header_version(ApiKey::Produce, 9), 2);
        assert_eq!(request_header_version(ApiKey::Produce, 8), 1);
    }
}
