//! CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords, DescribeConfigs.

use std::collections::BTreeMap;

use ferrokafka_protocol::messages::{
    create_partitions_response, create_topics_response, delete_records_response, delete_topics_response,
    describe_configs_response, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse,
};
use ferrokafka_protocol::wire::Uuid;
use ferrokafka_protocol::ErrorCode;

use super::Ctx;
use crate::cluster::{valid_topic_name, Cluster};

/// Topic configs the mock knows, with Kafka's defaults.
const TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.type", "CreateTime"),
    ("min.insync.replicas", "1"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
];

pub fn create_topics(cluster: &mut Cluster, ctx: &Ctx, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let v = ctx.version();
    let mut resp = CreateTopicsResponse::default();
    let brokers = cluster.brokers.len() as i16;
    for t in req.topics {
        let mut r = create_topics_response::CreatableTopicResult { name: t.name.clone(), ..Default::default() };
        let partitions = if t.num_partitions == -1 { cluster.config.default_partitions } else { t.num_partitions };
        let rf = if t.replication_factor == -1 { 1 } else { t.replication_factor };
        let configs: BTreeMap<String, String> =
            t.configs.iter().filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v))).collect();
        let outcome = if !valid_topic_name(&t.name) {
            Err(ErrorCode::INVALID_TOPIC_EXCEPTION)
        } else if cluster.topics.contains_key(&t.name) {
            Err(ErrorCode::TOPIC_ALREADY_EXISTS)
        } else if rf <= 0 || rf > brokers {
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        } else if partitions <= 0 && t.assignments.is_empty() {
            Err(ErrorCode::INVALID_PARTITIONS)
        } else if let Some(bad) = configs.keys().find(|k| !TOPIC_DEFAULTS.iter().any(|(n, _)| n == k)) {
            let _ = bad;
            Err(ErrorCode::INVALID_CONFIG)
        } else if v >= 1 && req.validate_only {
            Ok(())
        } else {
            let count = if t.assignments.is_empty() { partitions } else { t.assignments.len() as i32 };
            cluster.create_topic(&t.name, count, configs)
        };
        match outcome {
            Err(e) => {
                r.error_code = e.0;
                if v >= 1 {
                    r.error_message = Some(format!("{e}"));
                }
            }
            Ok(()) => {
                if v >= 5 {
                    r.num_partitions = partitions;
                    r.replication_factor = rf;
                    r.configs = Some(Vec::new());
                }
                if v >= 7 {
                    r.topic_id = cluster.topics.get(&t.name).map(|t| t.id).unwrap_or(Uuid::ZERO);
                }
            }
        }
        resp.topics.push(r);
    }
    resp
}

pub fn delete_topics(cluster: &mut Cluster, ctx: &Ctx, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let v = ctx.version();
    let targets: Vec<(Option<String>, Uuid)> = if v >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n), Uuid::ZERO)).collect()
    };
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let resolved = match &name {
            Some(n) => cluster.topics.get(n).map(|t| (n.clone(), t.id)),
            None => cluster.topic_by_id(id).map(|(n, t)| (n.clone(), t.id)),
        };
        let mut r = delete_topics_response::DeletableTopicResult { name: name.clone(), ..Default::default() };
        match resolved {
            Some((n, tid)) => {
                cluster.topics.remove(&n);
                if v >= 6 {
                    r.topic_id = tid;
                    r.name = Some(n);
                }
            }
            None => {
                r.error_code = if name.is_some() { ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0 } else { ErrorCode::UNKNOWN_TOPIC_ID.0 };
                if v >= 6 {
                    r.topic_id = id;
                }
            }
        }
        resp.responses.push(r);
    }
    resp
}

pub fn create_partitions(cluster: &mut Cluster, _ctx: &Ctx, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let outcome = if req.validate_only {
            match cluster.topics.get(&t.name) {
                None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                Some(topic) if t.count <= topic.partitions.len() as i32 => Err(ErrorCode::INVALID_PARTITIONS),
                Some(_) => Ok(()),
            }
        } else {
            cluster.grow_topic(&t.name, t.count)
        };
        let mut r = create_partitions_response::CreatePartitionsTopicResult { name: t.name, ..Default::default() };
        if let Err(e) = outcome {
            r.error_code = e.0;
            r.error_message = Some(format!("{e}"));
        }
        resp.results.push(r);
    }
    resp
}

pub fn delete_records(cluster: &mut Cluster, ctx: &Ctx, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut tr = delete_records_response::DeleteRecordsTopicResult { name: t.name.clone(), ..Default::default() };
        for p in t.partitions {
            let mut pr = delete_records_response::DeleteRecordsPartitionResult { partition_index: p.partition_index, low_watermark: -1, ..Default::default() };
            match cluster.partition_mut(&t.name, p.partition_index) {
                None => pr.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                Some(part) if part.leader != ctx.broker => pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
                Some(part) => {
                    let target = if p.offset == -1 { part.log.high_watermark() } else { p.offset };
                    if target < 0 || target > part.log.high_watermark() {
                        pr.error_code = ErrorCode::OFFSET_OUT_OF_RANGE.0;
                    } else {
                        part.log.delete_before(target);
                        pr.low_watermark = part.log.log_start_offset;
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}

pub fn describe_configs(cluster: &Cluster, ctx: &Ctx, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    const TOPIC: i8 = 2;
    const BROKER: i8 = 4;
    let v = ctx.version();
    let mut resp = DescribeConfigsResponse::default();
    for r in req.resources {
        let mut out = describe_configs_response::DescribeConfigsResult {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            ..Default::default()
        };
        let entries: Option<Vec<(String, String, bool)>> = match r.resource_type {
            TOPIC => cluster.topics.get(&r.resource_name).map(|t| {
                TOPIC_DEFAULTS
                    .iter()
                    .map(|(k, d)| match t.configs.get(*k) {
                        Some(val) => (k.to_string(), val.clone(), false),
                        None => (k.to_string(), d.to_string(), true),
                    })
                    .collect()
            }),
            BROKER => Some(vec![
                ("auto.create.topics.enable".into(), cluster.config.auto_create_topics.to_string(), true),
                ("num.partitions".into(), cluster.config.default_partitions.to_string(), true),
                ("transaction.max.timeout.ms".into(), cluster.config.max_transaction_timeout.as_millis().to_string(), true),
            ]),
            _ => None,
        };
        match entries {
            None => {
                out.error_code = if r.resource_type == TOPIC { ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0 } else { ErrorCode::INVALID_REQUEST.0 };
                out.error_message = Some("unknown resource".into());
            }
            Some(entries) => {
                for (name, value, is_default) in entries {
                    if let Some(keys) = &r.configuration_keys {
                        if !keys.contains(&name) {
                            continue;
                        }
                    }
                    let mut c = describe_configs_response::DescribeConfigsResourceResult { name, value: Some(value), ..Default::default() };
                    if v == 0 {
                        c.is_default = is_default;
                    } else {
                        // DEFAULT_CONFIG (5) or DYNAMIC_TOPIC_CONFIG (1).
                        c.config_source = if is_default { 5 } else { 1 };
                    }
                    out.configs.push(c);
                }
            }
        }
        resp.results.push(out);
    }
    resp
}
