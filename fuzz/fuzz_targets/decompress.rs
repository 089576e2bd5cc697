//! Each decompressor: the first byte picks the codec, the rest is its input.
//! The output limit must hold.
#![no_main]
use ferrokafka_protocol::compression::Compression;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let codec = Compression::ALL[1 + first as usize % 4];
    if let Ok(out) = codec.decompress(input, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
});
