//! A response body: the first two bytes pick the API (by index) and version,
//! the rest is the frame after the size prefix.
#![no_main]
use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::header::{decode_response, encode_response};
use ferrokafka_protocol::ApiKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let api = ApiKey::ALL[data[0] as usize % ApiKey::ALL.len()];
    let (min, max) = api.versions();
    let version = min + (data[1] as i16) % (max - min + 1);
    if let Ok((h, body)) = decode_response(api, version, Bytes::copy_from_slice(&data[2..])) {
        let mut out = BytesMut::new();
        if encode_response(version, &h, &body, &mut out).is_ok() {
            let (_, again) = decode_response(api, version, out.freeze()).expect("re-encoded response decodes");
            assert_eq!(again, body);
        }
    }
});
