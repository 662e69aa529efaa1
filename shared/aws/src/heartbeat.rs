//! The channels' heartbeats on DynamoDB: one item per channel and webhook (`HEARTBEAT#<channel>`,
//! sort key the webhook). A beat is one conditional put that never moves the time back; the
//! check reads a channel's items with one query and watches a pair never seen with a put that
//! applies only where there is no item.

use crate::dynamo::put_applied;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use qapla::dates::iso;
use qapla::heartbeat::{Beats, Heartbeat, Heartbeats, Pending};
use qapla::kind::Kind;
use qapla::store::StoreError;
use qapla::table::{heartbeat_pk, LAST_DELIVERY, PK, SK, WATCHED_SINCE};
use std::collections::HashMap;

/// A later beat (another instance's) stays: the ISO times sort as time does.
const NOT_LATER: &str = "attribute_not_exists(#ld) OR #ld < :at";
/// A watch never replaces an item.
const NO_ITEM: &str = "attribute_not_exists(#pk)";

#[derive(Debug, Clone)]
pub struct DynamoHeartbeats {
    client: Client,
    table: String,
}

impl DynamoHeartbeats {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHeartbeats {
            client,
            table: table.into(),
        }
    }
}

fn time(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    let text = item.get(name)?.as_s().ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Beats for DynamoHeartbeats {
    fn beat(
        &self,
        channel: &str,
        webhook: Kind,
        at: DateTime<Utc>,
    ) -> Pending<'_, Result<(), StoreError>> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(heartbeat_pk(channel)))
            .item(SK, AttributeValue::S(webhook.as_str().to_owned()))
            .item(LAST_DELIVERY, AttributeValue::S(iso(&at)))
            .condition_expression(NOT_LATER)
            .expression_attribute_names("#ld", LAST_DELIVERY)
            .expression_attribute_values(":at", AttributeValue::S(iso(&at)));
        Box::pin(async move { put_applied(put.send().await) })
    }
}

impl Heartbeats for DynamoHeartbeats {
    async fn read(&self, channel: &str) -> Result<Vec<(Kind, Heartbeat)>, StoreError> {
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(heartbeat_pk(channel)))
            .send()
            .await
            .map_err(|e| StoreError::Retryable(DisplayErrorContext(&e).to_string()))?;
        Ok(answer
            .items()
            .iter()
            .filter_map(|item| {
                let kind = Kind::parse(item.get(SK)?.as_s().ok()?)?;
                let beat = Heartbeat {
                    last_delivery: time(item, LAST_DELIVERY),
                    watched_since: time(item, WATCHED_SINCE),
                };
                Some((kind, beat))
            })
            .collect())
    }

    async fn watch(
        &self,
        channel: &str,
        webhook: Kind,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        put_applied(
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(heartbeat_pk(channel)))
                .item(SK, AttributeValue::S(webhook.as_str().to_owned()))
                .item(WATCHED_SINCE, AttributeValue::S(iso(&since)))
                .condition_expression(NO_ITEM)
                .expression_attribute_names("#pk", PK)
                .send()
                .await,
        )
    }
}
