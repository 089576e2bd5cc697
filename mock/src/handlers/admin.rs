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
use crate::state::{Cluster, NewTopic};

pub fn create_topics(cluster: &mut Cluster, ctx: &Ctx, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let v = ctx.version();
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let mut r = create_topics_response::CreatableTopicResult { name: t.name.clone(), ..Default::default() };
        let partitions = if t.num_partitions == -1 { cluster.config.default_partitions } else { t.num_partitions };
        let rf = if t.replication_factor == -1 { 1 } else { t.replication_factor };
        let configs: BTreeMap<String, String> =
            t.configs.iter().filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v))).collect();
        let new = NewTopic { name: t.name.clone(), partitions, replication_factor: rf, assignments: t.assignments.len(), configs };
        let outcome = cluster.create_topic_checked(new, v >= 1 && req.validate_only);
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
                cluster.delete_topic(&n);
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
        let outcome = cluster.grow_topic(&t.name, t.count, req.validate_only);
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
            match cluster.delete_records(&t.name, p.partition_index, ctx.broker, p.offset) {
                Ok(low) => pr.low_watermark = low,
                Err(e) => pr.error_code = e.0,
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
            TOPIC => cluster.topic_configs(&r.resource_name),
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
