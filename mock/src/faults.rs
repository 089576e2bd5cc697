//! Fault injection: rules matched against each incoming request.

use std::time::Duration;

use ferrokafka_protocol::{ApiKey, ErrorCode};

/// What a matching rule does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error instead of handling the request (nothing is
    /// applied, as when a real broker refuses a request).
    Error(ErrorCode),
    /// Handle the request, but answer only after this long.
    Delay(Duration),
    /// Handle the request (its effect happens) and close the connection
    /// without answering: the response is lost.
    DropResponse,
    /// Close the connection without handling the request.
    DropRequest,
}

/// A rule: on `broker` (any when `None`), the next `count` requests of `api`.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub broker: Option<i32>,
    pub api: ApiKey,
    pub action: FaultAction,
    pub remaining: u32,
}

/// The cluster's active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) {
        if rule.remaining > 0 {
            self.rules.push(rule);
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The actions for one request, each matching rule used up by one.
    pub fn take(&mut self, broker: i32, api: ApiKey) -> Vec<FaultAction> {
        let mut out = Vec::new();
        for r in &mut self.rules {
            if r.api == api && r.broker.is_none_or(|b| b == broker) && r.remaining > 0 {
                r.remaining -= 1;
                out.push(r.action);
            }
        }
        self.rules.retain(|r| r.remaining > 0);
        out
    }

    /// Rules not yet used up.
    pub fn pending(&self) -> usize {
        self.rules.iter().map(|r| r.remaining as usize).sum()
    }
}
