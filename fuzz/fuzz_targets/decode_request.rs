//! A whole request frame (header + body) of any API and version. Whatever
//! decodes must re-encode to the bytes it was decoded from.
#![no_main]
use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::Request;
use ferrokafka_protocol::wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let mut r = Reader::new(input.clone());
    if let Ok(req) = Request::decode_prefix(&mut r) {
        let used = input.len() - r.remaining();
        let mut out = BytesMut::new();
        if req.encode(&mut out).is_ok() {
            // Booleans other than 0/1 and non-minimal varints decode fine
            // but re-encode canonically, so compare by decoding again.
            let again = Request::decode(out.freeze()).expect("re-encoded request decodes");
            assert_eq!(again, req);
        }
        let _ = used;
    }
});
