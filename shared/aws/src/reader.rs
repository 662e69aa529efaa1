//! The read port on DynamoDB: queries on the table and its indexes, and one filtered scan for
//! replay windows. Items come back as the JSON objects the core reads.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use qapla::read::{ReadError, Reader};
use qapla::table;
use serde_json::Value;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// Reads a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoReader {
    client: Client,
    table: String,
}

impl DynamoReader {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoReader {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        err: SdkError<E>,
    ) -> ReadError {
        if err.code() == Some("ResourceNotFoundException") {
            ReadError::NoTable(self.table.clone())
        } else {
            ReadError::Unavailable(DisplayErrorContext(&err).to_string())
        }
    }

    /// Every page of a query: `key` on `index` (the table itself when `None`) equals `value`,
    /// and the sort key is below `before` when given.
    async fn query(
        &self,
        index: Option<&str>,
        (pk, value): (&str, &str),
        sort_below: Option<(&str, &str)>,
    ) -> Result<Vec<Item>, ReadError> {
        let mut condition = "#k = :k".to_owned();
        if sort_below.is_some() {
            condition.push_str(" AND #s < :s");
        }
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(&condition)
                .expression_attribute_names("#k", pk)
                .expression_attribute_values(":k", AttributeValue::S(value.to_owned()))
                .set_exclusive_start_key(start);
            if let Some((sk, below)) = sort_below {
                request = request
                    .expression_attribute_names("#s", sk)
                    .expression_attribute_values(":s", AttributeValue::S(below.to_owned()));
            }
            let page = request.send().await.map_err(|e| self.error(e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(items),
            }
        }
    }
}

fn json(items: Vec<Item>) -> Result<Vec<Value>, ReadError> {
    items
        .into_iter()
        .map(|item| {
            serde_dynamo::from_item(item).map_err(|e| ReadError::BadItem {
                pk: String::new(),
                reason: e.to_string(),
            })
        })
        .collect()
}

impl Reader for DynamoReader {
    async fn shipment_keys(&self, tracking: &str) -> Result<Vec<String>, ReadError> {
        let key = table::tracking_key(tracking);
        let items = self
            .query(
                Some(table::TRACKING_INDEX),
                (table::TRACKING_PK, &key),
                None,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get(table::PK).and_then(|v| v.as_s().ok()).cloned())
            .collect())
    }

    async fn partition(&self, pk: &str) -> Result<Vec<Value>, ReadError> {
        json(self.query(None, (table::PK, pk), None).await?)
    }

    async fn by_reference(&self, channel: &str, reference: &str) -> Result<Vec<Value>, ReadError> {
        let key = table::reference_key(channel, reference);
        // The reference index projects only what listing needs (never payloads, which hold
        // customers' data): read each item it finds whole, from the table.
        let found = self
            .query(Some(table::GSI1), (table::GSI1_PK, &key), None)
            .await?;
        let mut items = Vec::with_capacity(found.len());
        for hit in found {
            let (Some(pk), Some(sk)) = (hit.get(table::PK), hit.get(table::SK)) else {
                continue;
            };
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(table::PK, pk.clone())
                .key(table::SK, sk.clone())
                .send()
                .await
                .map_err(|e| self.error(e))?;
            items.extend(item.item().cloned());
        }
        json(items)
    }

    async fn open_before(&self, channel: &str, before: &str) -> Result<Vec<Value>, ReadError> {
        let key = table::open_key(channel);
        json(
            self.query(
                Some(table::OPEN_INDEX),
                (table::OPEN_PK, &key),
                Some((table::OPEN_SK, before)),
            )
            .await?,
        )
    }

    async fn received_between(
        &self,
        since: &str,
        until: &str,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Value>, ReadError> {
        let mut items = Vec::new();
        let mut scanned = 0usize;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#r >= :since AND #r < :until")
                .expression_attribute_names("#r", table::RECEIVED_AT)
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned()))
                .expression_attribute_values(":until", AttributeValue::S(until.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.error(e))?;
            scanned += usize::try_from(page.scanned_count()).unwrap_or_default();
            progress(scanned);
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return json(items),
            }
        }
    }
}
