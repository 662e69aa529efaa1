//! The table in DynamoDB. Every write is conditional, so redeliveries, late events and concurrent
//! deliveries converge on the same table whatever their order, and a transaction keeps each
//! delivery whole.

use crate::items::{Document, ShipmentHistory, ShipmentState};
use crate::store::{Recorded, Store, StoreError};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use std::collections::HashMap;

/// A history item is new only if its key is not taken.
const NEW_ITEM: &str = "attribute_not_exists(pk)";
/// The state moves only forward (see `ShipmentState::ord`).
const NEWER_STATE: &str = "attribute_not_exists(pk) OR ord < :ord";
/// A return or order is written when new or when its content changed.
const NEW_CONTENT: &str = "attribute_not_exists(pk) OR eventId <> :eid";

const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// The store on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        values: Option<(&str, &str)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some((name, value)) = values {
            put = put.expression_attribute_values(name, AttributeValue::S(value.to_owned()));
        }
        let put = put
            .build()
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs a transaction. `Ok(None)` if it applied, `Ok(Some(flags))` if it was cancelled only
    /// by failed conditions (`flags[i]` tells whether item `i`'s condition failed).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                    err.as_service_error()
                {
                    let reasons = cancel.cancellation_reasons();
                    let codes: Vec<Option<&str>> = reasons.iter().map(|r| r.code()).collect();
                    let only_conditions = codes
                        .iter()
                        .all(|c| matches!(c, None | Some("None") | Some(CONDITION_FAILED)));
                    let any_condition = codes.contains(&Some(CONDITION_FAILED));
                    if only_conditions && any_condition {
                        return Ok(Some(
                            codes.iter().map(|c| *c == Some(CONDITION_FAILED)).collect(),
                        ));
                    }
                }
                Err(classify(err))
            }
        }
    }
}

/// Maps an SDK error to the store's: throttling and unreachable store are retryable (503).
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    let text = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(service) => match service.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "ThrottlingException"
                | "TransactionConflictException",
            ) => StoreError::Throttled(text),
            Some("ValidationException") => StoreError::Refused(text),
            Some("TransactionCanceledException") if text.contains("TransactionConflict") => {
                StoreError::Throttled(text)
            }
            _ => StoreError::Unavailable(text),
        },
        _ => StoreError::Unavailable(text),
    }
}

fn item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Refused(e.to_string()))
}

impl Store for DynamoStore {
    async fn record_shipment(
        &self,
        state: &ShipmentState,
        history: &ShipmentHistory,
    ) -> Result<Recorded, StoreError> {
        let history_put = self.put(item(history)?, NEW_ITEM, None)?;
        let state_put = self.put(item(state)?, NEWER_STATE, Some((":ord", &state.ord)))?;
        match self.transact(vec![history_put.clone(), state_put]).await? {
            None => Ok(Recorded::Stored),
            Some(failed) if failed.first() == Some(&true) => Ok(Recorded::Duplicate),
            Some(_) => {
                // Older than the state: keep it in the history only.
                match self.transact(vec![history_put]).await? {
                    None => Ok(Recorded::Stale),
                    Some(_) => Ok(Recorded::Duplicate),
                }
            }
        }
    }

    async fn record_documents(&self, documents: &[Document]) -> Result<Recorded, StoreError> {
        let mut pending: Vec<TransactWriteItem> = documents
            .iter()
            .map(|doc| {
                let value = match doc {
                    Document::Return(r) => item(r)?,
                    Document::Order(o) => item(o)?,
                };
                self.put(value, NEW_CONTENT, Some((":eid", doc.event_id().as_str())))
            })
            .collect::<Result<_, _>>()?;
        let mut stored = false;
        // Each round drops the items already recorded; it ends when a round applies.
        while !pending.is_empty() {
            match self.transact(pending.clone()).await? {
                None => {
                    stored = true;
                    break;
                }
                Some(failed) => {
                    pending = pending
                        .into_iter()
                        .zip(failed)
                        .filter_map(|(put, failed)| (!failed).then_some(put))
                        .collect();
                }
            }
        }
        Ok(if stored {
            Recorded::Stored
        } else {
            Recorded::Duplicate
        })
    }
}
