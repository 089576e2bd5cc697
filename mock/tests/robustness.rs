//! Random requests of every API and version the mock advertises: it may
//! refuse them or close the connection, but must never panic, and keeps
//! serving afterwards.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use ferrokafka_mock::{MockCluster, MockConfig};
use ferrokafka_protocol::testutil::Rng;
use ferrokafka_protocol::{ApiKey, RequestBody};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_panic_the_broker() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let c = MockCluster::start(MockConfig { brokers: 1, ..Default::default() }).await.unwrap();
    c.create_topic("t", 2).unwrap();
    let addr = c.bootstrap();
    let probe = Client::connect(&addr).await;
    let mut rng = Rng::new(0x5eed);
    let mut sent = 0;
    for round in 0..3 {
        for (&api, &max) in &probe.versions {
            if api == ApiKey::ApiVersions {
                continue;
            }
            let (min, _) = api.versions();
            for v in min..=max {
                let mut body = RequestBody::random(api, v, &mut rng);
                // Aim some requests at the real topic so handlers go deep.
                if round > 0 {
                    if let RequestBody::Produce(p) = &mut body {
                        for t in &mut p.topic_data {
                            t.name = "t".into();
                        }
                    }
                    if let RequestBody::Fetch(f) = &mut body {
                        f.max_wait_ms = 0;
                        for t in &mut f.topics {
                            t.topic = "t".into();
                        }
                    }
                }
                if let RequestBody::Fetch(f) = &mut body {
                    f.max_wait_ms = f.max_wait_ms.clamp(0, 10);
                }
                if let RequestBody::JoinGroup(j) = &mut body {
                    j.rebalance_timeout_ms = j.rebalance_timeout_ms.clamp(0, 50);
                    j.session_timeout_ms = j.session_timeout_ms.clamp(0, 200);
                }
                let mut conn = Client::connect(&addr).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.send_v(body, v)).await;
                sent += 1;
            }
        }
    }
    // Still serving.
    Client::connect(&addr).await;
    assert!(sent > 300, "{sent} requests");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "the broker panicked on a random request");
}
