//! One sink per broker: builds Produce requests from the engine's ready
//! batches and puts them on the wire in the order the engine made them
//! (sequence order matters to the broker), then waits for the answers
//! concurrently and reports each back as an event.

use std::collections::HashMap;
use std::sync::Arc;

use ferrokafka_protocol::bytes::Bytes;
use ferrokafka_protocol::messages::{produce_request, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::{RequestBody, ResponseBody};
use tokio::sync::mpsc;

use super::config::Acks;
use super::types::Tp;
use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// Why a Produce request got no answer.
#[derive(Debug, Clone)]
pub(crate) struct Lost {
    pub error: Error,
    /// The request may have reached the broker (false when it never left
    /// the client: no connection, or refused before writing).
    pub sent: bool,
}

/// A sink's report on one request.
pub(crate) struct Produced {
    pub broker: i32,
    /// The batches it carried: (partition, batch id).
    pub items: Vec<(Tp, u64)>,
    /// `Ok(None)` for acks=0.
    pub result: std::result::Result<Option<ProduceResponse>, Lost>,
}

/// One Produce request: the batches it carries and their bytes.
pub(crate) struct Job {
    pub items: Vec<(Tp, u64)>,
    pub request: ProduceRequest,
}

/// Builds the Produce request for a broker from (partition, bytes) pairs.
pub(crate) fn build_request(acks: Acks, timeout_ms: i32, transactional_id: Option<String>, data: Vec<(Tp, Bytes)>) -> ProduceRequest {
    let mut by_topic: HashMap<Arc<str>, Vec<produce_request::PartitionProduceData>> = HashMap::new();
    for ((topic, p), bytes) in data {
        by_topic.entry(topic).or_default().push(produce_request::PartitionProduceData { index: p, records: Some(bytes), ..Default::default() });
    }
    ProduceRequest {
        transactional_id,
        acks: acks.wire(),
        timeout_ms,
        topic_data: by_topic
            .into_iter()
            .map(|(name, partition_data)| produce_request::TopicProduceData { name: name.to_string(), partition_data, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

/// The sinks, one task per broker, and how many requests each has out.
pub(crate) struct Sinks {
    cluster: Cluster,
    acks: Acks,
    senders: HashMap<i32, mpsc::UnboundedSender<Job>>,
    in_flight: HashMap<i32, usize>,
    events: mpsc::UnboundedSender<Produced>,
}

impl Sinks {
    pub fn new(cluster: Cluster, acks: Acks, events: mpsc::UnboundedSender<Produced>) -> Sinks {
        Sinks { cluster, acks, senders: HashMap::new(), in_flight: HashMap::new(), events }
    }

    /// Requests out to `broker` without an answer yet.
    pub fn in_flight(&self, broker: i32) -> usize {
        self.in_flight.get(&broker).copied().unwrap_or(0)
    }

    /// Hands a request to the broker's sink.
    pub fn send(&mut self, broker: i32, job: Job) {
        *self.in_flight.entry(broker).or_default() += 1;
        let sender = self.senders.entry(broker).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(broker, self.cluster.clone(), self.acks, rx, self.events.clone()));
            tx
        });
        if let Err(mpsc::error::SendError(job)) = sender.send(job) {
            let _ = self.events.send(Produced { broker, items: job.items, result: Err(Lost { error: Error::Closed, sent: false }) });
        }
    }

    /// A request to `broker` was answered (or lost).
    pub fn done(&mut self, broker: i32) {
        if let Some(n) = self.in_flight.get_mut(&broker) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Puts one broker's requests on the wire in order, then waits for their
/// answers concurrently.
async fn run(broker: i32, cluster: Cluster, acks: Acks, mut jobs: mpsc::UnboundedReceiver<Job>, events: mpsc::UnboundedSender<Produced>) {
    let not_sent = |error: Error| Err(Lost { error, sent: false });
    while let Some(Job { items, request }) = jobs.recv().await {
        let conn = match cluster.broker(broker).await {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(Produced { broker, items, result: not_sent(e) });
                continue;
            }
        };
        if acks == Acks::None {
            let result = match conn.send_no_response(RequestBody::Produce(request)).await {
                Ok(()) => Ok(None),
                Err(error) => Err(Lost { error, sent: true }),
            };
            let _ = events.send(Produced { broker, items, result });
            continue;
        }
        match conn.send_ordered(RequestBody::Produce(request)).await {
            Err(e) => {
                let _ = events.send(Produced { broker, items, result: not_sent(e) });
            }
            Ok(answer) => {
                let events = events.clone();
                tokio::spawn(async move {
                    let result: Result<ResponseBody> = answer.await;
                    let result = match result {
                        Ok(ResponseBody::Produce(r)) => Ok(Some(r)),
                        Ok(_) => Err(Lost { error: Error::Io("mismatched response".into()), sent: true }),
                        Err(error) => Err(Lost { error, sent: true }),
                    };
                    let _ = events.send(Produced { broker, items, result });
                });
            }
        }
    }
}
