//! Splitting a batch the broker refused as too large (MESSAGE_TOO_LARGE
//! for several records): nothing of it was written, so it is cut in two,
//! in place, as the Java client does. The halves take the parent's
//! sequence range (the first half its base sequence, the second the rest),
//! so no epoch bump is needed and the batches behind it keep theirs, and
//! they keep the parent's creation time, so `delivery.timeout.ms` still
//! counts from when its records were sent.

use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::records::{DecodeLimits, RecordBatch};

use super::batch::{record_size, OpenBatch};
use super::queue::{seq_add, Batch};

/// Cuts `parent` in two. `new_id` gives each half its id. Returns the
/// halves, and the `buffer.memory` bytes of any half whose compression
/// failed (its records have then failed); or the parent back unchanged if
/// it cannot be split (one record, or its bytes do not decode).
pub(crate) fn split_in_two(mut parent: Batch, codec: Compression, level: Option<i32>, mut new_id: impl FnMut() -> u64) -> Result<(Vec<Batch>, usize), Box<Batch>> {
    let Some(data) = parent.encoded.clone() else { return Err(Box::new(parent)) };
    let Ok(decoded) = RecordBatch::decode(data, &DecodeLimits::default()) else { return Err(Box::new(parent)) };
    if decoded.records.len() < 2 || decoded.records.len() != parent.sealed.deliveries.len() {
        return Err(Box::new(parent));
    }
    let mut deliveries = std::mem::take(&mut parent.sealed.deliveries).into_iter();
    let (first, second) = decoded.records.split_at(decoded.records.len() / 2);
    let reserved_first = parent.sealed.reserved / 2;
    let mut seq = parent.seq;
    let mut halves = Vec::with_capacity(2);
    let mut released = 0;
    for (n, chunk) in [first, second].into_iter().enumerate() {
        let bytes: usize = chunk.iter().map(|r| record_size(r.key.as_deref(), r.value.as_deref(), &r.headers)).sum();
        let mut open = OpenBatch::new(bytes + 128);
        open.created = parent.sealed.created;
        for r in chunk {
            let Some((d, _)) = deliveries.next() else { break };
            if let Err((e, d)) = open.append(decoded.timestamp_of(r), r.key.as_deref(), r.value.as_deref(), &r.headers, d, 0) {
                let _ = d.send(Err(e));
            }
        }
        open.reserved = if n == 0 { reserved_first } else { parent.sealed.reserved - reserved_first };
        let reserved = open.reserved;
        match open.close(codec, level) {
            Ok(sealed) => {
                let count = sealed.count;
                let mut b = Batch::new(new_id(), sealed);
                b.flush_key = parent.flush_key;
                b.seq = seq;
                b.sent = parent.sent;
                b.attempts = parent.attempts;
                b.last_error = parent.last_error.clone();
                seq = seq.map(|s| seq_add(s, count));
                halves.push(b);
            }
            // `close` failed the half's records.
            Err(_) => released += reserved,
        }
    }
    Ok((halves, released))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn parent(records: usize, seq: i32) -> Batch {
        let mut open = OpenBatch::new(4096);
        for i in 0..records {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::mem::forget(rx);
            assert!(open.append(1_000 + i as i64, None, Some(format!("v{i}").as_bytes()), &[], tx, 10).is_ok());
        }
        open.created = Instant::now() - Duration::from_secs(7);
        let mut b = Batch::new(1, open.close(Compression::None, None).ok().unwrap());
        b.seq = Some(seq);
        b.sent = true;
        b.attempts = 2;
        b.bytes(42, 3).unwrap();
        b
    }

    #[test]
    fn halves_take_the_parents_sequence_range_and_creation_time() {
        let p = parent(5, 100);
        let created = p.sealed.created;
        let mut ids = 10..;
        let (halves, released) = split_in_two(p, Compression::None, None, || ids.next().unwrap()).ok().unwrap();
        assert_eq!(released, 0);
        assert_eq!(halves.len(), 2);
        assert_eq!((halves[0].seq, halves[0].sealed.count), (Some(100), 2));
        assert_eq!((halves[1].seq, halves[1].sealed.count), (Some(102), 3));
        assert!(halves.iter().all(|h| h.sealed.created == created), "the delivery deadline is the parent's");
        assert!(halves.iter().all(|h| h.flush_key == 1 && h.attempts == 2 && h.sent));
        assert_eq!(halves[0].sealed.reserved + halves[1].sealed.reserved, 50);
    }

    #[test]
    fn the_range_wraps_like_kafkas_sequences() {
        let mut ids = 10..;
        let (halves, _) = split_in_two(parent(4, i32::MAX - 1), Compression::None, None, || ids.next().unwrap()).ok().unwrap();
        assert_eq!(halves[0].seq, Some(i32::MAX - 1));
        assert_eq!(halves[1].seq, Some(0));
    }

    #[test]
    fn one_record_is_not_split() {
        let mut ids = 10..;
        assert!(split_in_two(parent(1, 0), Compression::None, None, || ids.next().unwrap()).is_err());
    }
}
