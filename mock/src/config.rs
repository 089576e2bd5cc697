//! Settings of a mock cluster.

use std::collections::HashMap;
use std::time::Duration;

use ferrokafka_protocol::ApiKey;

/// How a [`crate::MockCluster`] behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Number of brokers (ids 1..=N).
    pub brokers: i32,
    /// First port; broker *i* listens on `base_port + i - 1`. 0 picks free ports.
    pub base_port: u16,
    /// Create unknown topics on Metadata requests that allow it
    /// (`auto.create.topics.enable`, on by default as in Kafka).
    pub auto_create_topics: bool,
    /// Partitions of auto-created topics (`num.partitions`).
    pub default_partitions: i32,
    /// Per-API advertised version ranges replacing the defaults; `None`
    /// hides the API, as an older broker would.
    pub api_versions: HashMap<ApiKey, Option<(i16, i16)>>,
    /// Answer UNKNOWN_PRODUCER_ID to a non-zero first sequence from a
    /// producer the partition has no state for (Kafka before 2.5); off by
    /// default, as Kafka 3.x accepts such writes.
    pub strict_unknown_producer: bool,
    /// Transactions v2 (KIP-890 part 2: Produce 12 adds partitions
    /// implicitly, EndTxn 5 bumps the epoch). Off by default, as in 3.8.
    pub transactions_v2: bool,
    /// `transaction.max.timeout.ms`.
    pub max_transaction_timeout: Duration,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    pub group_session_timeout_range: (Duration, Duration),
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay: Duration,
    /// The first producer id handed out (replays of captured traffic set it
    /// to the id the real broker gave).
    pub first_producer_id: i64,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            brokers: 3,
            base_port: 0,
            auto_create_topics: true,
            default_partitions: 1,
            api_versions: HashMap::new(),
            strict_unknown_producer: false,
            transactions_v2: false,
            max_transaction_timeout: Duration::from_secs(900),
            group_session_timeout_range: (Duration::from_millis(100), Duration::from_secs(1800)),
            group_initial_rebalance_delay: Duration::ZERO,
            first_producer_id: 1000,
        }
    }
}
