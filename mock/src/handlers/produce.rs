//! Produce: hands each partition's records to the cluster and reports
//! offsets or errors as the request's version wants them.

use ferrokafka_protocol::messages::{produce_response, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::ErrorCode;

use super::Ctx;
use crate::state::Cluster;

/// Returns `None` for acks=0 (no response is sent).
pub fn produce(cluster: &mut Cluster, ctx: &Ctx, req: ProduceRequest) -> Option<ProduceResponse> {
    let v = ctx.version();
    let acks_ok = matches!(req.acks, -1..=1);
    // Transactions v2 clients (Produce v12+) add partitions by writing.
    let implicit_txn_add = v >= 12;
    let mut resp = ProduceResponse::default();
    for topic in req.topic_data {
        let mut tr = produce_response::TopicProduceResponse { name: topic.name.clone(), ..Default::default() };
        for part in topic.partition_data {
            let mut pr = produce_response::PartitionProduceResponse { index: part.index, base_offset: -1, ..Default::default() };
            let result = cluster
                .append_records(&topic.name, part.index, ctx.broker, part.records, acks_ok, req.transactional_id.as_deref(), implicit_txn_add)
                // Kafka answers a failed transaction verification with
                // TRANSACTION_ABORTABLE from Produce v11 on (KIP-890),
                // INVALID_TXN_STATE to older clients.
                .map_err(|e| if e == ErrorCode::INVALID_TXN_STATE && v >= 11 { ErrorCode::TRANSACTION_ABORTABLE } else { e });
            match result {
                Ok((base, log_start)) => {
                    pr.base_offset = base;
                    if v >= 5 {
                        pr.log_start_offset = log_start;
                    }
                }
                Err(code) => {
                    pr.error_code = code.0;
                    cluster.count_produce_error(code);
                    // Kafka reports the log start offset whenever the
                    // partition is its own, errors or not.
                    if v >= 5 {
                        if let Some(p) = cluster.partition(&topic.name, part.index).filter(|p| p.leader == ctx.broker) {
                            pr.log_start_offset = p.log.log_start_offset;
                        }
                    }
                    if v >= 10 && code == ErrorCode::NOT_LEADER_OR_FOLLOWER {
                        if let Some(p) = cluster.partition(&topic.name, part.index) {
                            pr.current_leader.leader_id = p.leader;
                            pr.current_leader.leader_epoch = p.log.leader_epoch;
                        }
                    }
                }
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if req.acks == 0 {
        None
    } else {
        Some(resp)
    }
}
