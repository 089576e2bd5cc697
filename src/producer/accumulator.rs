//! The batches still taking records, shared between `send` (which appends
//! in the caller's task, as the Java client's accumulator does) and the
//! engine (which takes batches out when their linger ends). The engine
//! hears only of new and full batches, not of every record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::batch::OpenBatch;
use super::types::Tp;

/// Open batches by partition, and the sticky partitioner's state.
#[derive(Default)]
pub(crate) struct Accumulator {
    pub open: HashMap<Tp, OpenBatch>,
    /// The uniform sticky partitioner's state (under the same lock).
    pub sticky: super::partitioner::Sticky,
}

pub(crate) type SharedAccumulator = Arc<Mutex<Accumulator>>;

/// Locks the accumulator; a panic elsewhere while it was held does not
/// make it unusable (its state is a set of independent batches).
pub(crate) fn lock(acc: &SharedAccumulator) -> MutexGuard<'_, Accumulator> {
    acc.lock().unwrap_or_else(|p| p.into_inner())
}
