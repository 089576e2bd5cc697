//! The batches still taking records, shared between `send` (which appends
//! in the caller's task, as the Java client's accumulator does) and the
//! engine (which takes batches out when their linger ends).
//!
//! Each partition has its own lock, so tasks sending to different
//! partitions append (and copy their values) in parallel; the map of
//! partitions is read-locked on the hot path and write-locked only when a
//! partition is first seen. A batch that fills up is compressed by the task
//! that filled it, under that partition's lock only, so compression runs on
//! the application's tasks and cores rather than on the engine's. The
//! engine hears only of new and sealed batches, never of single records;
//! those notices are sent under the partition's lock, so they reach it in
//! batch order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use ferrokafka_protocol::compression::Compression;
use tokio::sync::{mpsc, Semaphore};

use super::batch::{Delivery, OpenBatch, SealedBatch};
use super::partitioner::Sticky;
use super::types::{Cmd, Tp};
use crate::error::{Error, Result};

/// One partition's open batch.
#[derive(Default)]
struct Slot {
    open: Option<OpenBatch>,
}

/// Open batches by partition, and the sticky partitioner's state.
pub(crate) struct Accumulator {
    slots: RwLock<HashMap<Tp, Arc<Mutex<Slot>>>>,
    sticky: Mutex<Sticky>,
    codec: Compression,
    level: Option<i32>,
    batch_size: usize,
    memory: Arc<Semaphore>,
    /// Weak, so that the engine (which owns this accumulator too) still
    /// sees its command channel close when every producer handle is gone.
    engine: mpsc::WeakUnboundedSender<Cmd>,
}

/// A record to append, already sized and paid for in `buffer.memory`.
pub(crate) struct Append<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [ferrokafka_protocol::records::RecordHeader],
    /// Its encoded size bound (also the memory it holds).
    pub size: usize,
    pub delivery: Delivery,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while a lock was held leaves batches that are
    // still whole (appends are all-or-nothing): keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Accumulator {
    pub fn new(codec: Compression, level: Option<i32>, batch_size: usize, memory: Arc<Semaphore>, engine: &mpsc::UnboundedSender<Cmd>) -> Accumulator {
        Accumulator { slots: RwLock::default(), sticky: Mutex::default(), codec, level, batch_size, memory, engine: engine.downgrade() }
    }

    fn notify(&self, c: Cmd) -> Result<()> {
        self.engine.upgrade().ok_or(Error::Closed)?.send(c).map_err(|_| Error::Closed)
    }

    /// The sticky partitioner, for a keyless record.
    pub fn sticky_partition(&self, topic: &str, size: usize, meta: &crate::cluster::TopicMeta) -> i32 {
        locked(&self.sticky).partition(topic, size, meta, self.batch_size)
    }

    fn slots(&self) -> RwLockReadGuard<'_, HashMap<Tp, Arc<Mutex<Slot>>>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every partition's slot, copied out so no map lock is held while
    /// the slots are locked one by one.
    fn all_slots(&self) -> Vec<(Tp, Arc<Mutex<Slot>>)> {
        self.slots().iter().map(|(tp, s)| (tp.clone(), s.clone())).collect()
    }

    fn slot(&self, tp: &Tp) -> Arc<Mutex<Slot>> {
        if let Some(s) = self.slots().get(tp) {
            return s.clone();
        }
        self.slots.write().unwrap_or_else(|p| p.into_inner()).entry(tp.clone()).or_default().clone()
    }

    /// Closes a batch (compressing it) and hands it to the engine. If
    /// compression fails its records fail and their memory is returned.
    fn seal(&self, tp: &Tp, open: OpenBatch) -> Result<()> {
        match close_batch(open, self.codec, self.level, &self.memory) {
            Some(sealed) => self.notify(Cmd::Sealed(tp.clone(), sealed)),
            None => Ok(()),
        }
    }

    /// Appends a record to its partition's open batch, sealing the batch
    /// first if the record does not fit and after if it is full.
    pub fn append(&self, tp: Tp, r: Append<'_>) -> Result<()> {
        let slot = self.slot(&tp);
        let mut slot = locked(&slot);
        if slot.open.as_ref().is_some_and(|o| o.count > 0 && o.size() + r.size > self.batch_size) {
            let full = slot.open.take().expect("checked");
            self.seal(&tp, full)?;
        }
        if slot.open.is_none() {
            let o = OpenBatch::new(self.batch_size.max(r.size + 128));
            self.notify(Cmd::Opened(tp.clone(), o.created))?;
            slot.open = Some(o);
        }
        let open = slot.open.as_mut().expect("just made");
        if let Err((e, delivery)) = open.append(r.timestamp, r.key, r.value, r.headers, r.delivery, r.size) {
            self.memory.add_permits(r.size);
            let _ = delivery.send(Err(e));
        } else if open.size() >= self.batch_size {
            let full = slot.open.take().expect("present");
            self.seal(&tp, full)?;
        }
        Ok(())
    }

    /// Runs `f` on `tp`'s open batch, taken out, if `linger` has passed
    /// since it was opened (a newer batch has its own linger entry). `f`
    /// runs under the partition's lock, so nothing of that partition can be
    /// sealed meanwhile: the engine queues what was announced before, then
    /// this batch, and the order holds.
    pub fn take_if_due(&self, tp: &Tp, now: Instant, linger: Duration, f: impl FnOnce(OpenBatch)) {
        let Some(slot) = self.slots().get(tp).cloned() else { return };
        let mut slot = locked(&slot);
        if slot.open.as_ref().is_some_and(|o| o.created + linger <= now) {
            f(slot.open.take().expect("checked"));
        }
    }

    /// Runs `f` on every open batch, taken out, each under its partition's
    /// lock (closing, or failing everything).
    pub fn take_each(&self, mut f: impl FnMut(Tp, OpenBatch)) {
        for (tp, slot) in self.all_slots() {
            let mut slot = locked(&slot);
            if let Some(open) = slot.open.take() {
                f(tp, open);
            }
        }
    }

    /// Seals every open batch now and hands it to the engine (`flush`),
    /// compressing in the caller's task.
    pub fn seal_all(&self) -> Result<()> {
        for (tp, slot) in self.all_slots() {
            let mut slot = locked(&slot);
            if let Some(open) = slot.open.take() {
                self.seal(&tp, open)?;
            }
        }
        Ok(())
    }

    /// Whether no batch is open.
    pub fn is_empty(&self) -> bool {
        self.slots().values().all(|s| locked(s).open.is_none())
    }
}

/// Closes (compresses) a batch; if compression fails its records have
/// failed and its `buffer.memory` is returned. Used by `send`'s tasks for
/// full batches and by the engine for those it seals itself (linger, close).
pub(crate) fn close_batch(open: OpenBatch, codec: Compression, level: Option<i32>, memory: &Semaphore) -> Option<SealedBatch> {
    let reserved = open.reserved;
    match open.close(codec, level) {
        Ok(s) => Some(s),
        Err(_) => {
            memory.add_permits(reserved);
            None
        }
    }
}
