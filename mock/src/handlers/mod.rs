//! Request handlers: one function per API, each taking the cluster state
//! under its lock, calling its operations with what the request says (as
//! the request's version means it) and shaping the answer Kafka would give.

mod admin;
pub mod errors;
mod fetch;
mod group;
mod meta;
mod produce;
mod txn;

use ferrokafka_protocol::header::RequestHeader;
use ferrokafka_protocol::{ApiKey, RequestBody, ResponseBody};

use crate::config::MockConfig;
use crate::state::group_coordinator::GroupWait;
use crate::state::Cluster;

pub use fetch::FetchWait;

/// What the connection should do with a handled request.
pub enum Reply {
    /// Send this response.
    Response(ResponseBody),
    /// Send nothing (a Produce with acks=0).
    Nothing,
    /// An answer that must wait (a Fetch for data, a JoinGroup or
    /// SyncGroup for the rebalance): re-poll on changes or the deadline.
    Wait(Pending),
}

/// A request waiting for the cluster to change.
pub enum Pending {
    /// A long-polling Fetch.
    Fetch(FetchWait),
    /// A JoinGroup or SyncGroup.
    Group(GroupWait),
}

impl Pending {
    /// When to answer regardless.
    pub fn deadline(&self) -> std::time::Instant {
        match self {
            Pending::Fetch(f) => f.deadline,
            Pending::Group(g) => g.deadline,
        }
    }
}

/// Who is asking.
pub struct Ctx<'a> {
    /// The broker the request came to.
    pub broker: i32,
    /// The request's header.
    pub header: &'a RequestHeader,
}

impl Ctx<'_> {
    /// The request's version.
    pub fn version(&self) -> i16 {
        self.header.api_version
    }
}

/// The version range the mock serves for `api`: what the codec declares,
/// less the versions of features that are switched off, or `(0, -1)` for
/// an API the mock does not implement.
pub fn supported_range(api: ApiKey, config: &MockConfig) -> (i16, i16) {
    let (min, max) = api.versions();
    let tv2 = config.transactions_v2;
    match api {
        ApiKey::Produce if !tv2 => (min, 11),
        ApiKey::EndTxn if !tv2 => (min, 4),
        ApiKey::TxnOffsetCommit if !tv2 => (min, 4),
        ApiKey::SaslAuthenticate | ApiKey::ConsumerGroupHeartbeat => (0, -1),
        _ if implemented(api) => (min, max),
        _ => (0, -1),
    }
}

fn implemented(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::Produce
            | ApiKey::Fetch
            | ApiKey::ListOffsets
            | ApiKey::Metadata
            | ApiKey::ApiVersions
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
            | ApiKey::DeleteRecords
            | ApiKey::DescribeConfigs
            | ApiKey::OffsetForLeaderEpoch
            | ApiKey::FindCoordinator
            | ApiKey::InitProducerId
            | ApiKey::SaslHandshake
    ) || txn::handles(api)
        || group::handles(api)
}

/// The API range the mock advertises: the configured one, else
/// [`supported_range`]; `None` hides the API.
pub fn api_range(config: &MockConfig, api: ApiKey) -> Option<(i16, i16)> {
    match config.api_versions.get(&api) {
        Some(r) => *r,
        None => Some(supported_range(api, config)),
    }
}

/// Handles one request.
pub fn dispatch(cluster: &mut Cluster, ctx: &Ctx, body: RequestBody) -> Reply {
    use RequestBody as R;
    let resp = match body {
        R::ApiVersions(r) => ResponseBody::ApiVersions(meta::api_versions(cluster, ctx, &r)),
        R::Metadata(r) => ResponseBody::Metadata(meta::metadata(cluster, ctx, r)),
        R::FindCoordinator(r) => ResponseBody::FindCoordinator(meta::find_coordinator(cluster, ctx, r)),
        R::SaslHandshake(_) => ResponseBody::SaslHandshake(meta::sasl_handshake()),
        R::Produce(r) => match produce::produce(cluster, ctx, r) {
            Some(resp) => ResponseBody::Produce(resp),
            None => return Reply::Nothing,
        },
        R::Fetch(r) => return fetch::fetch(cluster, ctx, r, false),
        R::JoinGroup(r) => return group::join_group(cluster, ctx, r),
        R::SyncGroup(r) => return group::sync_group(cluster, ctx, r),
        R::ListOffsets(r) => ResponseBody::ListOffsets(fetch::list_offsets(cluster, ctx, r)),
        R::OffsetForLeaderEpoch(r) => ResponseBody::OffsetForLeaderEpoch(fetch::offset_for_leader_epoch(cluster, ctx, r)),
        R::CreateTopics(r) => ResponseBody::CreateTopics(admin::create_topics(cluster, ctx, r)),
        R::DeleteTopics(r) => ResponseBody::DeleteTopics(admin::delete_topics(cluster, ctx, r)),
        R::CreatePartitions(r) => ResponseBody::CreatePartitions(admin::create_partitions(cluster, ctx, r)),
        R::DeleteRecords(r) => ResponseBody::DeleteRecords(admin::delete_records(cluster, ctx, r)),
        R::DescribeConfigs(r) => ResponseBody::DescribeConfigs(admin::describe_configs(cluster, ctx, r)),
        R::InitProducerId(r) => ResponseBody::InitProducerId(txn::init_producer_id(cluster, ctx, r)),
        other => {
            if let Some(resp) = txn::dispatch(cluster, ctx, &other) {
                resp
            } else if let Some(resp) = group::dispatch(cluster, ctx, &other) {
                resp
            } else {
                // Not advertised in ApiVersions, so a well-behaved client
                // never sends it; answer as Kafka does to unknown versions.
                return Reply::Response(errors::error_response(&other, ctx.version(), ferrokafka_protocol::ErrorCode::UNSUPPORTED_VERSION)
                    .unwrap_or(ResponseBody::ApiVersions(Default::default())));
            }
        }
    };
    Reply::Response(resp)
}

/// Re-polls a waiting request; `deadline` says its time is up.
pub fn poll(cluster: &mut Cluster, ctx: &Ctx, pending: Pending, deadline: bool) -> Reply {
    match pending {
        Pending::Fetch(wait) => {
            let at = wait.deadline;
            match fetch::fetch(cluster, ctx, wait.request, deadline) {
                // Keep the original deadline, not a fresh max wait.
                Reply::Wait(Pending::Fetch(mut w)) => {
                    w.deadline = at;
                    Reply::Wait(Pending::Fetch(w))
                }
                other => other,
            }
        }
        Pending::Group(wait) => group::poll(cluster, ctx, wait, deadline),
    }
}
