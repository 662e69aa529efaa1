//! The table's stream read back from DynamoDB Local and handed over as the Lambda event the notifier gets.

use crate::stack::REGION;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Reads a table's stream, each record once.
pub struct StreamReader {
    dynamo: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    /// Sequence numbers already handed over.
    seen: HashSet<String>,
}

impl StreamReader {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> StreamReader {
        StreamReader {
            dynamo: aws_sdk_dynamodb::Client::new(sdk),
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            table: table.to_owned(),
            seen: HashSet::new(),
        }
    }

    /// Every record of the stream, from the start of each of its shards: reading from the start
    /// each time and skipping what was seen is simpler and sturdier than carrying iterators
    /// along.
    async fn records(&self) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
        let table = self
            .dynamo
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .expect("describe");
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("stream arn")
            .to_owned();
        let mut shards = Vec::new();
        let mut after = None;
        loop {
            let stream = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(after)
                .send()
                .await
                .expect("stream");
            let description = stream.stream_description().expect("stream description");
            shards.extend(
                description
                    .shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned)),
            );
            after = description.last_evaluated_shard_id().map(str::to_owned);
            if after.is_none() {
                break;
            }
        }
        let mut records = Vec::new();
        for shard in shards {
            let mut iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("iterator")
                .shard_iterator()
                .map(str::to_owned);
            // An open shard hands out a next iterator forever: its end for now is an empty page.
            while let Some(at) = iterator {
                let page = self
                    .streams
                    .get_records()
                    .shard_iterator(at)
                    .limit(1000)
                    .send()
                    .await
                    .expect("get records");
                if page.records().is_empty() {
                    break;
                }
                records.extend(page.records().iter().cloned());
                iterator = page.next_shard_iterator().map(str::to_owned);
            }
        }
        records
    }

    /// The stream records written since the last call, as the Lambda event the notifier gets.
    pub async fn event(&mut self) -> StreamEvent {
        serde_json::from_value(self.event_json().await).expect("a DynamoDB stream event")
    }

    /// The same event as JSON, as a file for `cargo lambda invoke`.
    pub async fn event_json(&mut self) -> Value {
        let out = self.records().await;
        let image = |m: Option<&HashMap<String, AttributeValue>>| {
            m.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone())).expect("image"))
        };
        let records: Vec<Value> = out
            .iter()
            .filter(|r| {
                let seq = r
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .unwrap_or_default();
                self.seen.insert(seq.to_owned())
            })
            .map(|r| {
                let d = r.dynamodb().expect("stream record");
                json!({
                    "eventID": r.event_id(),
                    "eventName": r.event_name().map(|n| n.as_str()),
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": REGION,
                    "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:123456789012:table/{}/stream/x", self.table),
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1_772_000_000,
                        "Keys": image(d.keys()),
                        "NewImage": image(d.new_image()),
                        "OldImage": image(d.old_image()),
                        "SequenceNumber": d.sequence_number(),
                        "SizeBytes": d.size_bytes().unwrap_or(0),
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                })
            })
            .collect();
        json!({ "Records": records })
    }
}
