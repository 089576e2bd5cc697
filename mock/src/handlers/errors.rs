//! Error responses for fault injection: the response a broker sends when it
//! refuses a request with one error, shaped for the request it answers.

use ferrokafka_protocol::messages::*;
use ferrokafka_protocol::{ErrorCode, RequestBody, ResponseBody};

/// The response refusing `req` with `code`, or `None` for APIs without an
/// error field the fault could use.
pub fn error_response(req: &RequestBody, version: i16, code: ErrorCode) -> Option<ResponseBody> {
    let e = code.0;
    Some(match req {
        RequestBody::Produce(r) => ResponseBody::Produce(ProduceResponse {
            responses: r
                .topic_data
                .iter()
                .map(|t| produce_response::TopicProduceResponse {
                    name: t.name.clone(),
                    partition_responses: t
                        .partition_data
                        .iter()
                        .map(|p| produce_response::PartitionProduceResponse { index: p.index, error_code: e, base_offset: -1, ..Default::default() })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::Fetch(r) => ResponseBody::Fetch(FetchResponse {
            responses: r
                .topics
                .iter()
                .map(|t| fetch_response::FetchableTopicResponse {
                    topic: if version < 13 { t.topic.clone() } else { String::new() },
                    topic_id: if version >= 13 { t.topic_id } else { Default::default() },
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| fetch_response::PartitionData {
                            partition_index: p.partition,
                            error_code: e,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            records: Some(Default::default()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::ListOffsets(r) => ResponseBody::ListOffsets(ListOffsetsResponse {
            topics: r
                .topics
                .iter()
                .map(|t| list_offsets_response::ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| list_offsets_response::ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: e,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::Metadata(r) => ResponseBody::Metadata(MetadataResponse {
            topics: r
                .topics
                .iter()
                .flatten()
                .map(|t| metadata_response::MetadataResponseTopic {
                    error_code: e,
                    name: t.name.clone().or(Some(String::new())),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::FindCoordinator(r) => {
            let mut resp = FindCoordinatorResponse::default();
            if version >= 4 {
                resp.coordinators = r
                    .coordinator_keys
                    .iter()
                    .map(|k| find_coordinator_response::Coordinator { key: k.clone(), node_id: -1, port: -1, error_code: e, ..Default::default() })
                    .collect();
            } else {
                resp.error_code = e;
                resp.node_id = -1;
                resp.port = -1;
            }
            ResponseBody::FindCoordinator(resp)
        }
        RequestBody::InitProducerId(_) => {
            ResponseBody::InitProducerId(InitProducerIdResponse { error_code: e, producer_id: -1, producer_epoch: -1, ..Default::default() })
        }
        RequestBody::AddPartitionsToTxn(r) => ResponseBody::AddPartitionsToTxn(super::txn::add_partitions_error(r, version, code)),
        RequestBody::AddOffsetsToTxn(_) => ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse { error_code: e, ..Default::default() }),
        RequestBody::EndTxn(_) => ResponseBody::EndTxn(EndTxnResponse { error_code: e, ..Default::default() }),
        RequestBody::TxnOffsetCommit(r) => ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse {
            topics: r
                .topics
                .iter()
                .map(|t| txn_offset_commit_response::TxnOffsetCommitResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| txn_offset_commit_response::TxnOffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: e,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::JoinGroup(_) => ResponseBody::JoinGroup(JoinGroupResponse {
            error_code: e,
            generation_id: -1,
            protocol_name: if version >= 7 { None } else { Some(String::new()) },
            ..Default::default()
        }),
        RequestBody::SyncGroup(_) => ResponseBody::SyncGroup(SyncGroupResponse { error_code: e, ..Default::default() }),
        RequestBody::Heartbeat(_) => ResponseBody::Heartbeat(HeartbeatResponse { error_code: e, ..Default::default() }),
        RequestBody::LeaveGroup(_) => ResponseBody::LeaveGroup(LeaveGroupResponse { error_code: e, ..Default::default() }),
        RequestBody::OffsetCommit(r) => ResponseBody::OffsetCommit(OffsetCommitResponse {
            topics: r
                .topics
                .iter()
                .map(|t| offset_commit_response::OffsetCommitResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| offset_commit_response::OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: e,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        RequestBody::OffsetFetch(r) => {
            let mut resp = OffsetFetchResponse::default();
            if version >= 8 {
                resp.groups = r
                    .groups
                    .iter()
                    .map(|g| offset_fetch_response::OffsetFetchResponseGroup { group_id: g.group_id.clone(), error_code: e, ..Default::default() })
                    .collect();
            } else if version >= 2 {
                resp.error_code = e;
            }
            ResponseBody::OffsetFetch(resp)
        }
        RequestBody::CreateTopics(r) => ResponseBody::CreateTopics(CreateTopicsResponse {
            topics: r
                .topics
                .iter()
                .map(|t| create_topics_response::CreatableTopicResult { name: t.name.clone(), error_code: e, ..Default::default() })
                .collect(),
            ..Default::default()
        }),
        RequestBody::DeleteTopics(r) => ResponseBody::DeleteTopics(DeleteTopicsResponse {
            responses: r
                .topic_names
                .iter()
                .map(|n| delete_topics_response::DeletableTopicResult { name: Some(n.clone()), error_code: e, ..Default::default() })
                .chain(r.topics.iter().map(|t| delete_topics_response::DeletableTopicResult {
                    name: t.name.clone(),
                    topic_id: t.topic_id,
                    error_code: e,
                    ..Default::default()
                }))
                .collect(),
            ..Default::default()
        }),
        RequestBody::DescribeGroups(r) => ResponseBody::DescribeGroups(DescribeGroupsResponse {
            groups: r
                .groups
                .iter()
                .map(|g| describe_groups_response::DescribedGroup { group_id: g.clone(), error_code: e, ..Default::default() })
                .collect(),
            ..Default::default()
        }),
        RequestBody::ListGroups(_) => ResponseBody::ListGroups(ListGroupsResponse { error_code: e, ..Default::default() }),
        RequestBody::SaslHandshake(_) => ResponseBody::SaslHandshake(SaslHandshakeResponse { error_code: e, ..Default::default() }),
        _ => return None,
    })
}
