//! Small types shared by the producer's parts, kept in a leaf module so the
//! parts never import each other in a circle.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::batch::SealedBatch;

/// A topic-partition (the topic name shared, not copied per batch).
pub(crate) type Tp = (Arc<str>, i32);

/// What `send`, `flush` and `close` tell the engine.
pub(crate) enum Cmd {
    /// A batch was started in the accumulator at this time (its linger runs).
    Opened(Tp, Instant),
    /// A batch left the accumulator, closed and compressed by the task
    /// that filled it (or by `flush`).
    Sealed(Tp, SealedBatch),
    /// Answer when every batch handed over before this command is done.
    Flush(oneshot::Sender<()>),
    /// Finish everything, then stop.
    Close(oneshot::Sender<()>),
}
