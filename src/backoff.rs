//! Exponential back-off with jitter, shared by reconnects and retries.

use std::time::Duration;

/// `base` doubled per attempt after the first (attempt 1 waits `base`), at
/// most `max`, times a random factor in [0.8, 1.2) so that clients retrying
/// together spread out.
pub(crate) fn exponential(base: Duration, max: Duration, attempt: u32) -> Duration {
    let grown = base.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    Duration::from_secs_f64(grown.min(max.as_secs_f64()) * (0.8 + 0.4 * jitter()))
}

/// A pseudo-random fraction in [0, 1) from the clock (no RNG crate needed
/// for spreading retries).
fn jitter() -> f64 {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    f64::from(n % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_attempt_up_to_the_cap_with_jitter() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for (attempt, nominal) in [(1, 100.0), (2, 200.0), (3, 400.0), (4, 800.0), (5, 1000.0), (40, 1000.0)] {
            let ms = exponential(base, max, attempt).as_secs_f64() * 1000.0;
            assert!(ms >= nominal * 0.8 - 1e-6 && ms < nominal * 1.2, "attempt {attempt}: {ms} ms");
        }
    }
}
