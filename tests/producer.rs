//! The idempotent producer against the mock cluster (whose faults make
//! retries, lost responses and leader changes happen on demand), and its
//! basic path against the broker in `FERROKAFKA_TEST_BOOTSTRAP`.

use std::collections::HashMap;
use std::time::Duration;

use ferrokafka::cluster::{Cluster, ClusterConfig};
use ferrokafka::producer::{partition_for_key, ProducerRecord};
use ferrokafka::{Error, ErrorCode};
use ferrokafka_protocol::ApiKey;

#[path = "support/mock_producer.rs"]
mod mock_producer;
use mock_producer::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_once_and_in_order_with_every_codec() {
    let c = mock(3).await;
    c.create_topic("t", 3).unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let p = producer(&c.bootstrap(), &[("compression.type", codec), ("batch.size", "2000")]).await;
        let results = send_many(&p, "t", 1, codec, 500).await;
        let offsets: Vec<i64> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{codec}: consecutive offsets");
        p.close().await;
    }
    let all = log_values(&c, "t", 1);
    let want: Vec<String> = ["none", "gzip", "snappy", "lz4", "zstd"].iter().flat_map(|c| expected(c, 500)).collect();
    assert_eq!(all, want);
    // Stored batches carry the codec and the producer's id, epoch, sequences.
    let batches = c.batches("t", 1);
    assert!(batches.iter().all(|b| b.producer_id >= 0 && b.base_sequence >= 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_reach_the_broker_in_sequence_order() {
    // Up to five batches of a partition in flight: the broker must see them
    // in sequence order, or it answers OUT_OF_ORDER_SEQUENCE_NUMBER.
    let c = mock(1).await;
    c.create_topic("q", 2).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "1024"), ("linger.ms", "0")]).await;
    let (a, b) = tokio::join!(send_many(&p, "q", 0, "a", 3000), send_many(&p, "q", 1, "b", 3000));
    assert!(a.iter().chain(b.iter()).all(|r| r.is_ok()));
    assert!(c.produce_errors().is_empty(), "the broker refused batches: {:?}", c.produce_errors());
    assert!(c.batches("q", 0).iter().all(|b| b.producer_epoch == 0), "no epoch bump was needed");
    assert_eq!(log_values(&c, "q", 0), expected("a", 3000));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_keep_each_ones_order() {
    let c = mock(1).await;
    c.create_topic("cs", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "700"), ("linger.ms", "0")]).await;
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            tokio::spawn(async move { send_many(&p, "cs", 0, &format!("t{t}"), 1500).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().iter().all(|r| r.is_ok()));
    }
    let log = log_values(&c, "cs", 0);
    assert_eq!(log.len(), 6000);
    for t in 0..4 {
        let mine: Vec<String> = log.iter().filter(|v| v.starts_with(&format!("t{t}-"))).cloned().collect();
        assert_eq!(mine, expected(&format!("t{t}"), 1500), "task {t}'s records once each, in its order");
    }
    assert!(c.produce_errors().is_empty(), "{:?}", c.produce_errors());
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_go_where_the_java_client_puts_them() {
    // The table was made by librdkafka's murmur2_random partitioner, which
    // is the Java client's algorithm.
    let table = include_str!("data/murmur2_librdkafka.tsv");
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let key: Vec<u8> = (0..f[0].len()).step_by(2).map(|i| u8::from_str_radix(&f[0][i..i + 2], 16).unwrap()).collect();
        let (n, want): (i32, i32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        assert_eq!(partition_for_key(&key, n), want, "key {} over {n} partitions", f[0]);
        checked += 1;
    }
    assert!(checked >= 190);

    // And the producer uses it.
    let c = mock(1).await;
    c.create_topic("k", 13).unwrap();
    let p = producer(&c.bootstrap(), &[]).await;
    for i in 0..40 {
        let key = format!("key-{i}");
        let meta = p.send_and_wait(ProducerRecord::new("k").key(key.clone()).value("v")).await.unwrap();
        assert_eq!(meta.partition, partition_for_key(key.as_bytes(), 13));
    }
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_stick_to_a_partition_for_a_batch() {
    let c = mock(1).await;
    c.create_topic("s", 6).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "4096"), ("linger.ms", "50")]).await;
    let mut futs = Vec::new();
    for i in 0..400 {
        futs.push(p.send(ProducerRecord::new("s").value(format!("{i:0>90}"))).await.unwrap());
    }
    let mut parts = Vec::new();
    for f in futs {
        parts.push(f.await.unwrap().partition);
    }
    let switches = parts.windows(2).filter(|w| w[0] != w[1]).count();
    let used: std::collections::HashSet<i32> = parts.iter().copied().collect();
    assert!(used.len() > 1, "spread over partitions");
    assert!(switches < 40, "sticky, not round-robin: {switches} switches");
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_errors_keep_order_and_lose_nothing() {
    let c = mock(1).await;
    c.create_topic("r", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "1000"), ("linger.ms", "1")]).await;
    c.fail_next(None, ApiKey::Produce, ErrorCode::NOT_LEADER_OR_FOLLOWER, 3);
    c.fail_next(None, ApiKey::Produce, ErrorCode::NOT_ENOUGH_REPLICAS, 2);
    let results = send_many(&p, "r", 0, "r", 2000).await;
    assert!(results.iter().all(|r| r.is_ok()), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(log_values(&c, "r", 0), expected("r", 2000));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_are_retried_without_duplicates() {
    let c = mock(1).await;
    c.create_topic("l", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "1000"), ("linger.ms", "1")]).await;
    // The broker writes, then the connection drops before the answer.
    c.drop_next_response(None, ApiKey::Produce, 3);
    let results = send_many(&p, "l", 0, "l", 1500).await;
    let offsets: Vec<i64> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(offsets, (0..1500).collect::<Vec<i64>>(), "each record's own offset, once");
    assert_eq!(log_values(&c, "l", 0), expected("l", 1500));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_order_answer_bumps_the_epoch_and_resends() {
    let c = mock(1).await;
    c.create_topic("o", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "1000"), ("linger.ms", "1")]).await;
    p.send_and_wait(ProducerRecord::new("o").partition(0).value("first")).await.unwrap();
    c.fail_next(None, ApiKey::Produce, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, 1);
    let results = send_many(&p, "o", 0, "o", 300).await;
    assert!(results.iter().all(|r| r.is_ok()));
    let mut want = vec!["first".to_string()];
    want.extend(expected("o", 300));
    assert_eq!(log_values(&c, "o", 0), want);
    // The producer restarted its sequences under a new epoch (bumped
    // locally, as the Java client does: same producer id).
    let ids: Vec<(i64, i16)> = c.batches("o", 0).iter().map(|b| (b.producer_id, b.producer_epoch)).collect();
    assert_ne!(ids.first(), ids.last(), "a new producer id or epoch after the reset: {ids:?}");
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_a_new_producer_id_is_confirmed_one_batch_goes_first() {
    // A leader that knows nothing of a producer id accepts any first
    // sequence from it (Kafka 3.x and 4.x, KIP-360). If a new producer's
    // first batch fails (a retriable error, not written), its later
    // batches must not be written ahead of it: until the leader has
    // acknowledged the id, one batch at a time.
    let c = mock(1).await;
    c.create_topic("n", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "200"), ("linger.ms", "1")]).await;
    c.fail_next(None, ApiKey::Produce, ErrorCode::NOT_ENOUGH_REPLICAS, 1);
    let results = send_many(&p, "n", 0, "y", 400).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(log_values(&c, "n", 0), expected("y", 400), "send order kept");
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_too_large_for_the_topic_is_split_and_still_arrives_in_order() {
    let c = mock(1).await;
    // The topic takes batches of at most 20 KB; the producer builds 64 KB ones.
    c.create_topic_with("big", 1, &[("max.message.bytes", "20000")]).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "65536"), ("linger.ms", "20")]).await;
    let mut futs = Vec::new();
    for i in 0..300 {
        futs.push(p.send(ProducerRecord::new("big").partition(0).value(format!("{i:0>200}"))).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    let want: Vec<String> = (0..300).map(|i| format!("{i:0>200}")).collect();
    assert_eq!(log_values(&c, "big", 0), want);
    assert!(c.produce_errors().get(&ErrorCode::MESSAGE_TOO_LARGE).copied().unwrap_or(0) > 0, "the broker did refuse the big batches");
    // The halves took their parent's sequences: one producer id and epoch.
    let ids = ids(&c, "big", 0);
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "no epoch bump for a split: {ids:?}");
    // A single record over the limit cannot be split: it fails alone.
    let err = p.send_and_wait(ProducerRecord::new("big").partition(0).value(vec![b'x'; 30_000])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MESSAGE_TOO_LARGE));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_change_mid_stream_keeps_order() {
    let c = mock(3).await;
    c.create_topic("m", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "800"), ("linger.ms", "1")]).await;
    let first = send_many(&p, "m", 0, "a", 300);
    let mover = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let old = c.leader_of("m", 0).unwrap();
        c.move_leader("m", 0, old % 3 + 1);
    };
    let (results, _) = tokio::join!(first, mover);
    assert!(results.iter().all(|r| r.is_ok()));
    let more = send_many(&p, "m", 0, "b", 300).await;
    assert!(more.iter().all(|r| r.is_ok()));
    let mut want = expected("a", 300);
    want.extend(expected("b", 300));
    assert_eq!(log_values(&c, "m", 0), want);
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_goes_away_and_comes_back() {
    let c = mock(2).await;
    c.create_topic("g", 2).unwrap();
    let p = producer(&c.bootstrap(), &[("batch.size", "800"), ("linger.ms", "1")]).await;
    let leader = c.leader_of("g", 0).unwrap();
    let sends = async { tokio::join!(send_many(&p, "g", 0, "p0", 400), send_many(&p, "g", 1, "p1", 400)) };
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        c.stop_broker(leader);
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.start_broker(leader).await.unwrap();
    };
    let ((r0, r1), _) = tokio::join!(sends, chaos);
    assert!(r0.iter().chain(r1.iter()).all(|r| r.is_ok()));
    assert_eq!(log_values(&c, "g", 0), expected("p0", 400));
    assert_eq!(log_values(&c, "g", 1), expected("p1", 400));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_pushes_back_then_fails_after_max_block() {
    let c = mock(1).await;
    c.create_topic("b", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("buffer.memory", "4000"), ("max.block.ms", "200"), ("batch.size", "1000")]).await;
    // Metadata and producer id first, so only buffer space can block.
    p.send_and_wait(ProducerRecord::new("b").partition(0).value("warm")).await.unwrap();
    c.pause_broker(1);
    let mut pending = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        match p.send(ProducerRecord::new("b").partition(0).value(format!("{i:0>50}"))).await {
            Ok(f) => pending.push(f),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the buffer filled up");
    assert!(matches!(err, Error::BufferFull), "{err}");
    assert!(at > 10 && at < 100, "refused after {at} records");
    c.resume_broker(1);
    for f in pending {
        f.await.unwrap();
    }
    // Room again.
    p.send_and_wait(ProducerRecord::new("b").partition(0).value("later")).await.unwrap();
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_gives_up_on_metadata_after_max_block() {
    let c = mock(1).await;
    // Auto-creation is off by default: an unknown topic is an error.
    let p = producer(&c.bootstrap(), &[("max.block.ms", "300")]).await;
    let start = std::time::Instant::now();
    let err = p.send(ProducerRecord::new("no-such-topic").value("v")).await.err().expect("no such topic");
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // A broker that does not answer: bounded by max.block.ms as well.
    c.pause_broker(1);
    let start = std::time::Instant::now();
    assert!(p.send(ProducerRecord::new("other").value("v")).await.is_err());
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    c.resume_broker(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_everything_pending() {
    let c = mock(1).await;
    c.create_topic("c", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("linger.ms", "500")]).await;
    let mut futs = Vec::new();
    for i in 0..1000 {
        futs.push(p.send(ProducerRecord::new("c").partition(0).value(format!("c-{i}"))).await.unwrap());
    }
    p.close().await;
    for f in futs {
        f.await.unwrap();
    }
    assert_eq!(log_values(&c, "c", 0), expected("c", 1000));
    assert!(matches!(p.send(ProducerRecord::new("c").value("late")).await, Err(Error::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_never_answered_fail_after_the_delivery_timeout() {
    let c = mock(1).await;
    c.create_topic("d", 1).unwrap();
    let p = producer(&c.bootstrap(), &[("delivery.timeout.ms", "700"), ("request.timeout.ms", "300"), ("linger.ms", "1")]).await;
    p.send_and_wait(ProducerRecord::new("d").partition(0).value("ok")).await.unwrap();
    c.pause_broker(1);
    let r = p.send_and_wait(ProducerRecord::new("d").partition(0).value("stuck")).await;
    // It was sent and never answered: it may be in the log, and says so.
    let err = r.unwrap_err();
    assert!(matches!(err, Error::PossiblyWritten(_)), "{err}");
    c.resume_broker(1);
    p.send_and_wait(ProducerRecord::new("d").partition(0).value("after")).await.unwrap();
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_configured_broker() {
    let Ok(bootstrap) = std::env::var("FERROKAFKA_TEST_BOOTSTRAP") else {
        eprintln!("NOTICE: FERROKAFKA_TEST_BOOTSTRAP is not set; the producer is tested against the mock only");
        return;
    };
    // Real clusters usually have topic auto-creation off: create explicitly.
    let admin = Cluster::connect(ClusterConfig { bootstrap: bootstrap.split(',').map(str::to_string).collect(), ..Default::default() }).await.unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("ferrokafka-producer-{codec}-{}", std::process::id());
        let partitions = admin.create_topic(&topic, 3, 1, Duration::from_secs(30)).await.unwrap().partitions.len();
        assert_eq!(partitions, 3);
        let p = producer(&bootstrap, &[("linger.ms", "5"), ("compression.type", codec)]).await;
        let mut futs = Vec::new();
        for i in 0..3000 {
            futs.push(p.send(ProducerRecord::new(topic.clone()).key(format!("k{}", i % 10)).value(format!("v{i}"))).await.unwrap());
        }
        let mut by_partition: HashMap<i32, Vec<i64>> = HashMap::new();
        for f in futs {
            let m = f.await.unwrap();
            by_partition.entry(m.partition).or_default().push(m.offset);
        }
        for (part, offsets) in by_partition {
            assert!(offsets.windows(2).all(|w| w[1] > w[0]), "{codec}, partition {part}: offsets increase");
        }
        p.close().await;
    }
}
