//! `flush()` bookkeeping: a flush finishes when every batch handed to the
//! engine before it is done, whatever was sent after it. Batches are
//! counted by hand-over order (split halves share their parent's), so the
//! check is the oldest pending order against the flush's mark.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

/// Flush waiters, and how many batches of each hand-over order are still
/// pending, so a flush finishes when every batch handed over before it is
/// done, whatever was sent after it.
#[derive(Default)]
pub(crate) struct Flushes {
    pending: BTreeMap<u64, u32>,
    waiters: Vec<(u64, oneshot::Sender<()>)>,
}

impl Flushes {
    /// A flush waits for every batch handed over up to `mark`.
    pub fn wait(&mut self, mark: u64, tx: oneshot::Sender<()>) {
        self.waiters.push((mark, tx));
    }

    /// No batch is pending.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn add(&mut self, key: u64) {
        *self.pending.entry(key).or_default() += 1;
    }

    pub fn done(&mut self, key: u64) {
        if let Some(n) = self.pending.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&key);
            }
        }
    }

    /// Answers the waiters whose batches are all done.
    pub fn answer(&mut self) {
        let oldest = self.pending.keys().next().copied().unwrap_or(u64::MAX);
        let (keep, done): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters).into_iter().partition(|(mark, _)| *mark >= oldest);
        self.waiters = keep;
        for (_, w) in done {
            let _ = w.send(());
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_waits_for_what_came_before_it_only() {
        let mut f = Flushes::default();
        f.add(1);
        f.add(2);
        let (tx, mut rx) = oneshot::channel();
        f.wait(1, tx);
        f.add(3);
        f.answer();
        assert!(rx.try_recv().is_err(), "batch 1 is pending");
        f.done(2);
        f.answer();
        assert!(rx.try_recv().is_err(), "batch 1 is still pending");
        f.done(1);
        f.answer();
        assert!(rx.try_recv().is_ok(), "answered while batch 3, sent after, is pending");
        assert!(!f.is_idle());
    }

    #[test]
    fn split_halves_count_under_their_parents_order() {
        let mut f = Flushes::default();
        f.add(5);
        // Split: two halves under 5, the parent done.
        f.add(5);
        f.add(5);
        f.done(5);
        let (tx, mut rx) = oneshot::channel();
        f.wait(5, tx);
        f.done(5);
        f.answer();
        assert!(rx.try_recv().is_err(), "one half is pending");
        f.done(5);
        f.answer();
        assert!(rx.try_recv().is_ok());
        assert!(f.is_idle());
    }
}
