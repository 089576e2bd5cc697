//! The idempotent producer's sequencing under faults found by review
//! (issue 8): each test sets up one scenario on the mock cluster and checks
//! what must hold — nothing lost, nothing written twice, order kept, no
//! partition held up by another's trouble, and errors that say what is known.

use std::future::Future;
use std::time::Duration;

use ferrokafka::producer::{Producer, ProducerRecord};
use ferrokafka::{Error, ErrorCode};
use ferrokafka_mock::MockCluster;
use ferrokafka_protocol::ApiKey;

#[path = "support/mock_producer.rs"]
mod mock_producer;
use mock_producer::*;

/// Waits until every injected fault has been used (or fails the test).
async fn faults_used(c: &MockCluster) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.pending_faults() > 0 {
        assert!(std::time::Instant::now() < deadline, "the injected faults were never reached");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A partition holding [A: refused out of order (not written), B: its
/// request lost with the connection (possibly written)] must renumber both
/// and deliver them, and another partition must not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_with_a_possibly_written_batch_behind_a_refused_one_neither_stalls_nor_loses() {
    let c = mock(1).await;
    c.create_topic("s", 2).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "100"), ("linger.ms", "0"), ("delivery.timeout.ms", "30000")]).await;
    p.send_and_wait(ProducerRecord::new("s").partition(0).value("first")).await.unwrap();
    // A's request is refused out of order, its answer held 300 ms so that
    // B's request follows it on the wire; B's is handled (the broker refuses
    // it too: A is missing) and its connection dropped before the answer.
    c.fail_next(None, ApiKey::Produce, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, 1);
    c.delay_next(None, ApiKey::Produce, Duration::from_millis(300), 1);
    let a = p.send(ProducerRecord::new("s").partition(0).value("a")).await.unwrap();
    faults_used(&c).await;
    c.drop_next_response(None, ApiKey::Produce, 1);
    let mut rest = Vec::new();
    for v in ["b", "c", "d", "e"] {
        rest.push(p.send(ProducerRecord::new("s").partition(0).value(v)).await.unwrap());
    }
    // Another partition's record meanwhile.
    let other = tokio::time::timeout(Duration::from_secs(10), p.send_and_wait(ProducerRecord::new("s").partition(1).value("other"))).await;
    assert!(matches!(other, Ok(Ok(_))), "partition 1 was held up by partition 0's reset: {other:?}");
    let results = tokio::time::timeout(Duration::from_secs(20), async {
        let mut out = vec![a.await];
        for f in rest {
            out.push(f.await);
        }
        out
    })
    .await
    .expect("partition 0 stalled");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(log_values(&c, "s", 0), vec!["first", "a", "b", "c", "d", "e"]);
    p.close().await;
}

/// A batch whose request was lost (it was in fact written) and whose retry
/// is answered out of order — as Kafka answers after a leader change or a
/// restart from a snapshot that no longer caches it — may be in the log:
/// it must fail as possibly written, never be renumbered and written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_possibly_written_batch_answered_out_of_order_is_not_written_twice() {
    let c = mock(1).await;
    c.create_topic("w", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "0"), ("retry.backoff.ms", "300"), ("retry.backoff.max.ms", "300")]).await;
    p.send_and_wait(ProducerRecord::new("w").partition(0).value("first")).await.unwrap();
    c.drop_next_response(None, ApiKey::Produce, 1);
    let lost = p.send(ProducerRecord::new("w").partition(0).value("lost")).await.unwrap();
    faults_used(&c).await;
    c.fail_next(None, ApiKey::Produce, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, 1);
    let r = tokio::time::timeout(Duration::from_secs(10), lost).await.expect("no answer");
    match r {
        Err(Error::PossiblyWritten(inner)) => assert_eq!(inner.code(), Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)),
        other => panic!("expected PossiblyWritten(OUT_OF_ORDER_SEQUENCE_NUMBER), got {other:?}"),
    }
    // The partition goes on.
    p.send_and_wait(ProducerRecord::new("w").partition(0).value("after")).await.unwrap();
    assert_eq!(log_values(&c, "w", 0), vec!["first", "lost", "after"], "written once");
    p.close().await;
}

/// A batch refused alone, with nothing behind it in flight, fails alone:
/// the later sequences are moved down in place, no epoch bump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_alone_keeps_the_epoch() {
    let c = mock(1).await;
    c.create_topic("x", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "0")]).await;
    p.send_and_wait(ProducerRecord::new("x").partition(0).value("before")).await.unwrap();
    c.fail_next(None, ApiKey::Produce, ErrorCode::INVALID_RECORD, 1);
    let bad = p.send_and_wait(ProducerRecord::new("x").partition(0).value("rejected")).await;
    assert_eq!(bad.unwrap_err().code(), Some(ErrorCode::INVALID_RECORD));
    p.send_and_wait(ProducerRecord::new("x").partition(0).value("after")).await.unwrap();
    assert_eq!(log_values(&c, "x", 0), vec!["before", "after"]);
    let ids = ids(&c, "x", 0);
    assert_eq!(ids[0], ids[1], "same producer id and epoch after a lone failure: {ids:?}");
    p.close().await;
}

/// `flush` covers what was sent before it was called, not records sent
/// after it (here one stuck on a paused broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_does_not_wait_for_records_sent_after_it() {
    let c = mock(2).await;
    c.create_topic("f", 2).unwrap();
    let (l0, l1) = (c.leader_of("f", 0).unwrap(), c.leader_of("f", 1).unwrap());
    if l0 == l1 {
        assert!(c.move_leader("f", 1, if l0 == 1 { 2 } else { 1 }));
    }
    let l1 = c.leader_of("f", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "10000")]).await;
    // Metadata first, so the paused broker is not asked for it.
    let warm = p.send(ProducerRecord::new("f").partition(1).value("warm")).await.unwrap();
    p.flush().await;
    warm.await.unwrap();
    let before = p.send(ProducerRecord::new("f").partition(0).value("before")).await.unwrap();
    let mut flush = Box::pin(p.flush());
    // One poll puts the flush in motion.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(flush.as_mut().poll(cx).is_ready())).await;
    assert!(!first, "flush done before its record was answered");
    c.pause_broker(l1);
    let _after = p.send(ProducerRecord::new("f").partition(1).value("after")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), flush).await.expect("flush waited for a record sent after it");
    before.await.unwrap();
    c.resume_broker(l1);
    p.close().await;
}

/// With `max.in.flight.requests.per.connection=1`, batches of several
/// partitions led by one broker still share a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_in_flight_still_carries_every_ready_partition() {
    let c = mock(1).await;
    c.create_topic("m", 2).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "10000"), ("max.in.flight.requests.per.connection", "1"), ("retries", "0")]).await;
    let warm = p.send(ProducerRecord::new("m").partition(0).value("warm")).await.unwrap();
    p.flush().await;
    warm.await.unwrap();
    let a = p.send(ProducerRecord::new("m").partition(0).value("a")).await.unwrap();
    let b = p.send(ProducerRecord::new("m").partition(1).value("b")).await.unwrap();
    // The whole next request is refused: both batches must have been in it.
    c.fail_next(None, ApiKey::Produce, ErrorCode::INVALID_RECORD, 1);
    p.flush().await;
    let (a, b) = (a.await, b.await);
    assert!(a.is_err() && b.is_err(), "both partitions in one request: {a:?} {b:?}");
    p.close().await;
}

/// A partition without a leader makes the producer ask for metadata at the
/// back-off's pace (`retry.backoff.ms` growing to `retry.backoff.max.ms`),
/// not on every turn of its loop; the record goes once a leader is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaderless_partition_does_not_storm_the_cluster_with_metadata_requests() {
    let c = mock(1).await;
    c.create_topic("l", 1).unwrap();
    let p = Producer::builder().bootstrap(&c.bootstrap()).set("retry.backoff.ms", "100").unwrap().set("retry.backoff.max.ms", "1000").unwrap().build().await.unwrap();
    p.send_and_wait(ProducerRecord::new("l").partition(0).value("warm")).await.unwrap();
    assert!(c.move_leader("l", 0, -1));
    // Counts Metadata requests: each one uses up one (no-op) fault.
    const MANY: u32 = 1_000_000;
    c.delay_next(None, ApiKey::Metadata, Duration::ZERO, MANY);
    let waiting = p.send(ProducerRecord::new("l").partition(0).value("later")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = MANY as usize - c.pending_faults();
    // 100, 200, 400, 800 ms apart: about 5 in two seconds. Leave room.
    assert!((1..=20).contains(&asked), "{asked} Metadata requests in 2 s with no leader");
    c.clear_faults();
    let leader = c.brokers()[0].0;
    assert!(c.move_leader("l", 0, leader));
    tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("not delivered after the leader came back").unwrap();
    p.close().await;
}

/// A batch whose request never left the client (the leader's port refuses
/// connections) is known not written: when it expires it fails with the
/// connection error, not as possibly written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_never_left_the_client_is_not_reported_as_possibly_written() {
    let c = mock(1).await;
    c.create_topic("r", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "0"), ("request.timeout.ms", "1000"), ("delivery.timeout.ms", "2000")]).await;
    p.send_and_wait(ProducerRecord::new("r").partition(0).value("warm")).await.unwrap();
    c.stop_broker(c.brokers()[0].0);
    let r = tokio::time::timeout(Duration::from_secs(20), p.send_and_wait(ProducerRecord::new("r").partition(0).value("never"))).await.expect("no answer");
    match r {
        Err(Error::PossiblyWritten(e)) => panic!("reported as possibly written although never sent: {e}"),
        Err(_) => {}
        Ok(m) => panic!("written to a stopped broker? {m:?}"),
    }
    p.close_timeout(Duration::from_secs(5)).await;
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Waiting must sleep, not spin: while a metadata refresh for a
/// leaderless partition is slow (here each takes 3 s), the producer's loop
/// stays idle. (A loop that re-arms a past deadline wakes every timer tick:
/// about 0.18 s of CPU in the 2 s measured; idle, a few hundredths at most.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_metadata_refresh_is_waited_for_without_spinning() {
    let c = mock(1).await;
    c.create_topic("l", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "0")]).await;
    p.send_and_wait(ProducerRecord::new("l").partition(0).value("warm")).await.unwrap();
    assert!(c.move_leader("l", 0, -1));
    c.delay_next(None, ApiKey::Metadata, Duration::from_secs(3), 1000);
    let _waiting = p.send(ProducerRecord::new("l").partition(0).value("later")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds() - before;
    assert!(used < 0.08, "{used:.2} s of CPU in 2 s of waiting");
    c.clear_faults();
}

/// Likewise while a batch is in flight past its delivery timeout (it is
/// settled by its answer or the request timeout, not expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_flight_past_its_deadline_is_waited_for_without_spinning() {
    let c = mock(1).await;
    c.create_topic("d", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "0"), ("request.timeout.ms", "3000"), ("delivery.timeout.ms", "3100")]).await;
    p.send_and_wait(ProducerRecord::new("d").partition(0).value("warm")).await.unwrap();
    // The first attempt is refused after 2.9 s; the retry is held 2.9 s
    // too, so it is in flight from about 2.95 s to 5.85 s, past the 3.1 s
    // deadline; measured from 3.4 s to 5.4 s.
    c.fail_next(None, ApiKey::Produce, ErrorCode::NOT_ENOUGH_REPLICAS, 1);
    c.delay_next(None, ApiKey::Produce, Duration::from_millis(2900), 1);
    let start = std::time::Instant::now();
    let f = p.send(ProducerRecord::new("d").partition(0).value("slow")).await.unwrap();
    faults_used(&c).await;
    c.delay_next(None, ApiKey::Produce, Duration::from_millis(2900), 1);
    tokio::time::sleep_until(tokio::time::Instant::from_std(start + Duration::from_millis(3400))).await;
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds() - before;
    let _ = f.await;
    assert!(used < 0.08, "{used:.2} s of CPU in 2 s of waiting");
}
