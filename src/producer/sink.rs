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
use crate::cluster::{Cluster, Purpose};
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
/// Reports go straight into the owner's event channel (`E` wraps them), so
/// an answer costs no extra hop between tasks.
pub(crate) struct Sinks<E> {
    cluster: Cluster,
    acks: Acks,
    senders: HashMap<i32, mpsc::UnboundedSender<Job>>,
    in_flight: HashMap<i32, usize>,
    events: mpsc::UnboundedSender<E>,
}

impl<E: From<Produced> + Send + 'static> Sinks<E> {
    pub fn new(cluster: Cluster, acks: Acks, events: mpsc::UnboundedSender<E>) -> Sinks<E> {
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
            let _ = self.events.send(Produced { broker, items: job.items, result: Err(Lost { error: Error::Closed, sent: false }) }.into());
        }
    }

    /// A request to `broker` was answered (or lost).
    pub fn done(&mut self, broker: i32) {
        if let Some(n) = self.in_flight.get_mut(&broker) {
            *n = n.saturating_sub(1);
        }
    }
}

type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Produced> + Send>>;

/// Puts one broker's requests on the wire in order, and reports their
/// answers in order as they arrive (a connection answers in order), in the
/// same task: no task per request.
async fn run<E: From<Produced> + Send + 'static>(broker: i32, cluster: Cluster, acks: Acks, mut jobs: mpsc::UnboundedReceiver<Job>, events: mpsc::UnboundedSender<E>) {
    let mut answers: std::collections::VecDeque<Answer> = std::collections::VecDeque::new();
    let mut open = true;
    while open || !answers.is_empty() {
        tokio::select! {
            // Answers first: they free room for more requests.
            biased;
            produced = async { answers.front_mut().expect("checked").as_mut().await }, if !answers.is_empty() => {
                answers.pop_front();
                let _ = events.send(produced.into());
            }
            job = jobs.recv(), if open => match job {
                None => open = false,
                Some(job) => {
                    if let Some(produced) = put_on_wire(broker, &cluster, acks, job, &mut answers).await {
                        let _ = events.send(produced.into());
                    }
                }
            },
        }
    }
}

/// Writes one request; returns its report now when there is nothing to
/// wait for (no connection, acks=0), else queues its answer.
async fn put_on_wire(broker: i32, cluster: &Cluster, acks: Acks, job: Job, answers: &mut std::collections::VecDeque<Answer>) -> Option<Produced> {
    let Job { items, request } = job;
    let not_sent = |error: Error| Err(Lost { error, sent: false });
    let conn = match cluster.broker_for(broker, Purpose::Produce).await {
        Ok(c) => c,
        Err(e) => return Some(Produced { broker, items, result: not_sent(e) }),
    };
    if acks == Acks::None {
        let result = match conn.send_no_response(RequestBody::Produce(request)).await {
            Ok(()) => Ok(None),
            Err(error) => Err(Lost { error, sent: true }),
        };
        return Some(Produced { broker, items, result });
    }
    match conn.send_ordered(RequestBody::Produce(request)).await {
        Err(e) => Some(Produced { broker, items, result: not_sent(e) }),
        Ok(answer) => {
            answers.push_back(Box::pin(async move {
                let result: Result<ResponseBody> = answer.await;
                let result = match result {
                    Ok(ResponseBody::Produce(r)) => Ok(Some(r)),
                    Ok(_) => Err(Lost { error: Error::Io("mismatched response".into()), sent: true }),
                    Err(error) => Err(Lost { error, sent: true }),
                };
                Produced { broker, items, result }
            }));
            None
        }
    }
}
