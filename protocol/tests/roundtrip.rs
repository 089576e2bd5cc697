//! Property tests: every message, at every version it declares, survives
//! encode -> decode unchanged and re-encodes to the same bytes; so do
//! record batches with every codec.

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, Message};
use ferrokafka_protocol::records::{DecodeLimits, RecordBatch, RecordHeader};
use ferrokafka_protocol::testutil::Rng;
use ferrokafka_protocol::wire::Reader;
use ferrokafka_protocol::{ApiKey, RequestBody, ResponseBody};
use proptest::prelude::*;

fn check<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &T,
    encode: impl Fn(&T, &mut BytesMut),
    decode: impl Fn(&mut Reader) -> T,
) {
    let mut first = BytesMut::new();
    encode(value, &mut first);
    let first = first.freeze();
    let mut r = Reader::new(first.clone());
    let back = decode(&mut r);
    assert!(r.is_empty(), "{what}: {} bytes left after decoding", r.remaining());
    assert_eq!(&back, value, "{what}: decoded value differs");
    let mut second = BytesMut::new();
    encode(&back, &mut second);
    assert_eq!(second.freeze(), first, "{what}: re-encoding differs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_request_and_response_at_every_version(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for &key in ApiKey::ALL {
            let (min, max) = key.versions();
            for v in min..=max {
                let req = RequestBody::random(key, v, &mut rng);
                check(&format!("{} request v{v}", key.name()), &req,
                    |m, b| m.encode(b, v).unwrap(),
                    |r| RequestBody::decode(key, v, r).unwrap());
                let resp = ResponseBody::random(key, v, &mut rng);
                check(&format!("{} response v{v}", key.name()), &resp,
                    |m, b| m.encode(b, v).unwrap(),
                    |r| ResponseBody::decode(key, v, r).unwrap());
            }
        }
    }

    #[test]
    fn consumer_protocol_types_at_every_version(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for v in 0..=3 {
            let s = ConsumerProtocolSubscription::random(&mut rng, v);
            check("subscription", &s, |m, b| m.encode(b, v).unwrap(), |r| ConsumerProtocolSubscription::decode(r, v).unwrap());
            let a = ConsumerProtocolAssignment::random(&mut rng, v);
            check("assignment", &a, |m, b| m.encode(b, v).unwrap(), |r| ConsumerProtocolAssignment::decode(r, v).unwrap());
        }
    }

    #[test]
    fn record_batches_with_every_codec(
        records in prop::collection::vec(
            (any::<i32>(), prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
             prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
             prop::collection::vec(("[a-z]{0,8}", prop::option::of(prop::collection::vec(any::<u8>(), 0..10))), 0..3)),
            0..30),
        codec in 0usize..5,
        pid in any::<i64>(), epoch in any::<i16>(), seq in any::<i32>(),
        transactional in any::<bool>(),
    ) {
        let mut b = RecordBatch::from_records(records.into_iter().map(|(ts, k, v, hs)| {
            (i64::from(ts), k.map(Bytes::from), v.map(Bytes::from),
             hs.into_iter().map(|(hk, hv)| RecordHeader::new(hk, hv.map(Bytes::from))).collect())
        }));
        b.set_compression(Compression::ALL[codec]);
        b.producer_id = pid;
        b.producer_epoch = epoch;
        b.base_sequence = seq;
        b.set_transactional(transactional);
        let mut buf = BytesMut::new();
        b.encode(&mut buf, None).unwrap();
        let back = RecordBatch::decode(buf.freeze(), &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back, b);
    }
}

#[test]
fn a_field_missing_from_the_version_is_refused_not_dropped() {
    use ferrokafka_protocol::messages::ProduceRequest;
    use ferrokafka_protocol::EncodeError;
    // TransactionalId exists from v3; silently dropping it would turn a
    // transactional write into a plain one.
    let req = ProduceRequest { transactional_id: Some("t".into()), ..Default::default() };
    let err = req.encode(&mut BytesMut::new(), 2).unwrap_err();
    assert_eq!(err, EncodeError::FieldNotSupported { field: "TransactionalId", version: 2 });
    // At v3 it is written.
    req.encode(&mut BytesMut::new(), 3).unwrap();
}

#[test]
fn truncated_and_corrupted_inputs_are_errors_not_panics() {
    let mut rng = Rng::new(7);
    for &key in ApiKey::ALL {
        let (min, max) = key.versions();
        for v in min..=max {
            let resp = ResponseBody::random(key, v, &mut rng);
            let mut buf = BytesMut::new();
            resp.encode(&mut buf, v).unwrap();
            let full = buf.freeze();
            for cut in 0..full.len() {
                let mut r = Reader::new(full.slice(..cut));
                // Any outcome but a panic is fine; a complete decode of a
                // strict prefix must at least leave nothing unread.
                if ResponseBody::decode(key, v, &mut r).is_ok() {
                    assert!(r.is_empty());
                }
            }
            let mut flipped = full.to_vec();
            for i in 0..flipped.len() {
                flipped[i] ^= 0xff;
                let _ = ResponseBody::decode(key, v, &mut Reader::new(Bytes::from(flipped.clone())));
                flipped[i] ^= 0xff;
            }
        }
    }
}
