//! The producer id and epoch, and the seam a transaction manager plugs
//! into. The idempotent producer asks for an id once (InitProducerId) and
//! afterwards bumps its epoch *locally* when a partition's sequences must
//! restart, as the Java client does: a leader takes a higher epoch of a
//! producer id it knows when that epoch starts at sequence 0, so no round
//! trip is needed and no other partition waits. Only when the epoch would
//! overflow is a new id fetched.

use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::InitProducerIdRequest;
use ferrokafka_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// Where the producer stands with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// An InitProducerId is needed (at `retry_at`).
    Missing,
    /// One is on its way.
    Requesting,
    /// `pair` is good.
    Ready,
}

/// The current producer id and epoch, and the request that renews them.
pub(crate) struct ProducerIds {
    pair: Option<(i64, i16)>,
    phase: Phase,
    retry_at: Instant,
    failures: u32,
}

impl ProducerIds {
    /// `idempotent`: whether ids are used at all (without idempotence the
    /// producer is always ready and stamps -1).
    pub fn new(idempotent: bool) -> ProducerIds {
        ProducerIds { pair: if idempotent { None } else { Some((-1, -1)) }, phase: if idempotent { Phase::Missing } else { Phase::Ready }, retry_at: Instant::now(), failures: 0 }
    }
}

/// An InitProducerId on its way.
pub(crate) type IdRequest = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(i64, i16)>> + Send>>;

/// The seam between the engine and whoever governs the producer id: the
/// idempotent producer ([`ProducerIds`]) or, later, the transaction
/// manager. The engine asks it for the id and epoch to stamp, for a new
/// epoch when a partition's sequences must restart, whether a partition
/// may get its first batch, and tells it of batches that failed for good.
/// It lives here, beside the id it governs, so that `txn` depends on
/// `producer` and never the reverse.
pub(crate) trait Seam: Send {
    /// The id and epoch new sequences are stamped with, when ready.
    fn current(&self) -> Option<(i64, i16)>;

    /// A partition under `stale` must restart its sequences: the pair to
    /// restart under, or `None` while none is available (a transaction
    /// manager answers `None` mid-transaction and makes the error abortable).
    fn bump_past(&mut self, stale: Option<(i64, i16)>) -> Option<(i64, i16)>;

    /// When the engine must wake to start the id request.
    fn wake_at(&self) -> Option<Instant>;

    /// The id request to run now, if one is due.
    fn start(&mut self, now: Instant, cluster: &Cluster) -> Option<IdRequest>;

    /// The id request's outcome; `Err` when it is fatal.
    fn finish(&mut self, r: Result<(i64, i16)>, backoff: &dyn Fn(u32) -> Duration) -> Result<()>;

    /// Called before the first batch goes to a partition under the current
    /// id; `false` holds the partition back (for a transaction, until
    /// AddPartitionsToTxn has been answered).
    fn may_send(&mut self, _tp: &super::types::Tp) -> bool {
        true
    }

    /// A batch failed for good (a transaction must then abort).
    fn batch_failed(&mut self, _tp: &super::types::Tp, _err: &Error) {}
}

/// The idempotent producer's seam: every partition may be sent to at
/// once, and a failed batch concerns only its own records.
impl Seam for ProducerIds {
    /// The id and epoch new sequences are stamped with, when ready.
    fn current(&self) -> Option<(i64, i16)> {
        if self.phase == Phase::Ready {
            self.pair
        } else {
            None
        }
    }

    /// A partition whose sequences are under `stale` must restart them:
    /// the epoch moves past `stale` (once; later partitions asking with the
    /// same `stale` pair get the already bumped one). Returns the pair to
    /// restart under, or `None` while a new id is being fetched.
    fn bump_past(&mut self, stale: Option<(i64, i16)>) -> Option<(i64, i16)> {
        let current = self.current()?;
        if stale != Some(current) {
            return Some(current);
        }
        let (pid, epoch) = current;
        if epoch < i16::MAX - 1 {
            self.pair = Some((pid, epoch + 1));
            self.pair
        } else {
            // The epoch would overflow: a fresh producer id instead.
            self.pair = None;
            self.phase = Phase::Missing;
            None
        }
    }

    /// When the loop must wake to send the InitProducerId.
    fn wake_at(&self) -> Option<Instant> {
        (self.phase == Phase::Missing).then_some(self.retry_at)
    }

    /// Starts an InitProducerId if one is due: the future to run.
    fn start(&mut self, now: Instant, cluster: &Cluster) -> Option<IdRequest> {
        if self.phase != Phase::Missing || now < self.retry_at {
            return None;
        }
        self.phase = Phase::Requesting;
        let cluster = cluster.clone();
        Some(Box::pin(async move {
            // An idempotent producer always asks for a fresh id: Kafka
            // answers a non-transactional bump request with a new id anyway.
            let req = InitProducerIdRequest { transactional_id: None, transaction_timeout_ms: i32::MAX, producer_id: -1, producer_epoch: -1, ..Default::default() };
            // Any broker answers; the least-loaded reachable one is asked.
            match cluster.send_to_any(RequestBody::InitProducerId(req)).await? {
                ResponseBody::InitProducerId(r) => {
                    ErrorCode(r.error_code).check()?;
                    Ok((r.producer_id, r.producer_epoch))
                }
                _ => Err(Error::Io("mismatched response".into())),
            }
        }))
    }

    /// The InitProducerId's outcome. `Err` comes back when it is fatal.
    fn finish(&mut self, r: Result<(i64, i16)>, backoff: &dyn Fn(u32) -> Duration) -> Result<()> {
        match r {
            Ok(pair) => {
                self.pair = Some(pair);
                self.phase = Phase::Ready;
                self.failures = 0;
                Ok(())
            }
            Err(e) if e.is_retriable() || matches!(e, Error::Kafka(_)) && e.class() != ferrokafka_protocol::ErrorClass::Fatal => {
                self.failures += 1;
                self.phase = Phase::Missing;
                self.retry_at = Instant::now() + backoff(self.failures);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_happens_once_per_stale_pair() {
        let mut ids = ProducerIds::new(true);
        ids.finish(Ok((7, 0)), &|_| Duration::ZERO).unwrap();
        assert_eq!(ids.bump_past(Some((7, 0))), Some((7, 1)));
        // A second partition on the old epoch joins the new one.
        assert_eq!(ids.bump_past(Some((7, 0))), Some((7, 1)));
        assert_eq!(ids.bump_past(Some((7, 1))), Some((7, 2)));
    }

    #[test]
    fn an_exhausted_epoch_asks_for_a_new_id() {
        let mut ids = ProducerIds::new(true);
        ids.finish(Ok((7, i16::MAX - 1)), &|_| Duration::ZERO).unwrap();
        assert_eq!(ids.bump_past(Some((7, i16::MAX - 1))), None);
        assert!(ids.current().is_none());
        assert!(ids.wake_at().is_some());
    }

    #[test]
    fn retriable_failures_back_off_and_fatal_ones_come_back() {
        let mut ids = ProducerIds::new(true);
        ids.phase = Phase::Requesting;
        ids.finish(Err(Error::Kafka(ErrorCode::COORDINATOR_NOT_AVAILABLE)), &|_| Duration::from_secs(1)).unwrap();
        assert!(ids.wake_at().unwrap() > Instant::now());
        assert!(ids.finish(Err(Error::Kafka(ErrorCode::CLUSTER_AUTHORIZATION_FAILED)), &|_| Duration::ZERO).is_err());
    }
}
