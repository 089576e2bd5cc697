//! ApiVersions, Metadata, FindCoordinator, SaslHandshake.

use ferrokafka_protocol::messages::{
    api_versions_response, find_coordinator_response, metadata_response, ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse, SaslHandshakeResponse,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};

use super::Ctx;
use crate::state::cluster::valid_topic_name;
use crate::state::Cluster;

pub fn api_versions(cluster: &Cluster, ctx: &Ctx, req: &ApiVersionsRequest) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    // From v3 on Kafka checks the client's software name and version
    // (KIP-511) and answers INVALID_REQUEST, with no API list, to a client
    // that sends empty or malformed ones.
    if ctx.version() >= 3 && !(valid_software_token(&req.client_software_name) && valid_software_token(&req.client_software_version)) {
        resp.error_code = ErrorCode::INVALID_REQUEST.0;
        return resp;
    }
    for &api in ApiKey::ALL {
        if let Some((min, max)) = super::api_range(&cluster.config, api) {
            if min <= max {
                resp.api_keys.push(api_versions_response::ApiVersion {
                    api_key: api as i16,
                    min_version: min,
                    max_version: max,
                    ..Default::default()
                });
            }
        }
    }
    resp
}

/// Kafka's rule for client software names and versions: letters, digits,
/// '-' and '.', starting and ending with a letter or digit.
fn valid_software_token(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

pub fn sasl_handshake() -> SaslHandshakeResponse {
    // A PLAINTEXT listener with no SASL mechanisms enabled.
    SaslHandshakeResponse { error_code: ErrorCode::UNSUPPORTED_SASL_MECHANISM.0, mechanisms: Vec::new(), ..Default::default() }
}

pub fn metadata(cluster: &mut Cluster, ctx: &Ctx, req: MetadataRequest) -> MetadataResponse {
    let v = ctx.version();
    let mut resp = MetadataResponse::default();
    for b in cluster.alive_brokers() {
        resp.brokers.push(metadata_response::MetadataResponseBroker {
            node_id: b.id,
            host: b.host.clone(),
            port: i32::from(b.port),
            ..Default::default()
        });
    }
    if v >= 2 {
        resp.cluster_id = Some(cluster.cluster_id.clone());
    }
    if v >= 1 {
        resp.controller_id = cluster.alive_brokers().next().map(|b| b.id).unwrap_or(-1);
    }
    // v0 has no null: an empty list means all topics there.
    let names: Option<Vec<(Option<String>, ferrokafka_protocol::wire::Uuid)>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && v == 0 => None,
        Some(t) => Some(t.into_iter().map(|t| (t.name, t.topic_id)).collect()),
    };
    // Before v4 the request cannot say, and Kafka auto-creates.
    let allow_create = if v >= 4 { req.allow_auto_topic_creation } else { true };
    let wanted: Vec<(Option<String>, ferrokafka_protocol::wire::Uuid)> = match names {
        None => cluster.topics.keys().map(|n| (Some(n.clone()), Default::default())).collect(),
        Some(n) => n,
    };
    for (name, id) in wanted {
        let name = match name {
            Some(n) => n,
            None => match cluster.topic_by_id(id) {
                Some((n, _)) => n.clone(),
                None => {
                    resp.topics.push(metadata_response::MetadataResponseTopic {
                        error_code: ErrorCode::UNKNOWN_TOPIC_ID.0,
                        name: None,
                        topic_id: id,
                        ..Default::default()
                    });
                    continue;
                }
            },
        };
        if !cluster.topics.contains_key(&name) && allow_create && cluster.config.auto_create_topics {
            let parts = cluster.config.default_partitions;
            if cluster.create_topic(&name, parts, Default::default()).is_ok() {
                // Kafka answers LEADER_NOT_AVAILABLE while the new topic's
                // leaders are elected; here they exist at once.
            }
        }
        let mut t = metadata_response::MetadataResponseTopic { name: Some(name.clone()), ..Default::default() };
        match cluster.topics.get(&name) {
            None => {
                t.error_code = if valid_topic_name(&name) {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0
                } else {
                    ErrorCode::INVALID_TOPIC_EXCEPTION.0
                };
            }
            Some(topic) => {
                if v >= 10 {
                    t.topic_id = topic.id;
                }
                for (i, p) in topic.partitions.iter().enumerate() {
                    let mut mp = metadata_response::MetadataResponsePartition {
                        partition_index: i as i32,
                        leader_id: p.leader,
                        replica_nodes: vec![p.preferred_leader],
                        isr_nodes: if p.leader >= 0 { vec![p.leader] } else { Vec::new() },
                        ..Default::default()
                    };
                    if p.leader < 0 {
                        mp.error_code = ErrorCode::LEADER_NOT_AVAILABLE.0;
                    }
                    if v >= 7 {
                        mp.leader_epoch = p.log.leader_epoch;
                    }
                    t.partitions.push(mp);
                }
            }
        }
        resp.topics.push(t);
    }
    resp
}

pub fn find_coordinator(cluster: &Cluster, ctx: &Ctx, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let v = ctx.version();
    let key_type = if v >= 1 { req.key_type } else { 0 };
    let lookup = |key: &str| -> (ErrorCode, i32, String, i32) {
        if key_type != 0 && key_type != 1 {
            return (ErrorCode::INVALID_REQUEST, -1, String::new(), -1);
        }
        match cluster.coordinator_for(key_type, key) {
            Some(b) => (ErrorCode::NONE, b.id, b.host.clone(), i32::from(b.port)),
            None => (ErrorCode::COORDINATOR_NOT_AVAILABLE, -1, String::new(), -1),
        }
    };
    let mut resp = FindCoordinatorResponse::default();
    if v >= 4 {
        for key in req.coordinator_keys {
            let (e, id, host, port) = lookup(&key);
            resp.coordinators.push(find_coordinator_response::Coordinator {
                key,
                node_id: id,
                host,
                port,
                error_code: e.0,
                ..Default::default()
            });
        }
    } else {
        let (e, id, host, port) = lookup(&req.key);
        resp.error_code = e.0;
        resp.node_id = id;
        resp.host = host;
        resp.port = port;
        if v >= 1 && !e.is_ok() {
            resp.error_message = Some(format!("{e}"));
        }
    }
    resp
}
