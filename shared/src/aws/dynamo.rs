//! The table in DynamoDB. Every write is conditional, so redeliveries, late events and concurrent
//! deliveries converge on the same table whatever their order, and a transaction keeps each
//! delivery whole.

use crate::store::{Recorded, Store, StoreError};
use crate::table::{Document, ShipmentHistory, ShipmentState, EVENT_ID, ORD, PK};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use std::collections::HashMap;

/// The conditions of the three writes, on the table's attribute names. The names are bound as
/// `#pk`, `#ord` and `#eid`, so the expressions spell none of them.
/// A history item is new only if its key is not taken.
const NEW_ITEM: &str = "attribute_not_exists(#pk)";
/// The state moves only forward (see `ShipmentState::ord`).
const NEWER_STATE: &str = "attribute_not_exists(#pk) OR #ord < :ord";
/// A return or order is written when new or when its content changed.
const NEW_CONTENT: &str = "attribute_not_exists(#pk) OR #eid <> :eid";

/// A transaction's cancellation reason for an item whose condition did not hold.
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

    /// The client and table, for the reconciler's reads of the same table (`aws::ledger`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
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
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK);
        if condition.contains("#ord") {
            put = put.expression_attribute_names("#ord", ORD);
        }
        if condition.contains("#eid") {
            put = put.expression_attribute_names("#eid", EVENT_ID);
        }
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
                    let permanent = is_permanent(None, &codes);
                    return Err(store_error(&err, permanent));
                }
                Err(classify(err))
            }
        }
    }
}

/// Maps an SDK error to the store's, by the error codes DynamoDB returns (never by message text):
/// the store refusing the items themselves is permanent, anything else a retry can fix.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    let permanent = match &err {
        SdkError::ServiceError(service) => is_permanent(service.err().code(), &[]),
        SdkError::ConstructionFailure(_) => true,
        _ => false,
    };
    store_error(&err, permanent)
}

fn store_error<E: std::error::Error + 'static>(err: &SdkError<E>, permanent: bool) -> StoreError {
    let text = DisplayErrorContext(err).to_string();
    if permanent {
        StoreError::Refused(text)
    } else {
        StoreError::Retryable(text)
    }
}

/// Does this error code, or one of these cancellation reasons, say the items themselves are
/// refused? Then the same write fails whenever it is retried. Throttling, conflicts, a missing
/// table or permission, and DynamoDB's own faults can all pass.
fn is_permanent(code: Option<&str>, reasons: &[Option<&str>]) -> bool {
    const REFUSED_CODES: [&str; 2] = [
        "ValidationException",
        "ItemCollectionSizeLimitExceededException",
    ];
    const REFUSED_REASONS: [&str; 2] = ["ValidationError", "ItemCollectionSizeLimitExceeded"];
    code.is_some_and(|c| REFUSED_CODES.contains(&c))
        || reasons
            .iter()
            .flatten()
            .any(|r| REFUSED_REASONS.contains(r))
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

#[cfg(test)]
mod tests {
    use super::is_permanent;

    #[test]
    fn what_a_retry_cannot_fix() {
        type Case<'a> = (Option<&'a str>, &'a [Option<&'a str>], bool);
        let cases: [Case; 9] = [
            (Some("ValidationException"), &[], true),
            (Some("ItemCollectionSizeLimitExceededException"), &[], true),
            (None, &[None, Some("ValidationError")], true),
            (None, &[Some("ItemCollectionSizeLimitExceeded"), None], true),
            (Some("ThrottlingException"), &[], false),
            (Some("ProvisionedThroughputExceededException"), &[], false),
            (Some("ResourceNotFoundException"), &[], false),
            (None, &[Some("TransactionConflict"), Some("None")], false),
            (
                None,
                &[Some("ConditionalCheckFailed"), Some("ThrottlingError")],
                false,
            ),
        ];
        for (code, reasons, permanent) in cases {
            assert_eq!(
                is_permanent(code, reasons),
                permanent,
                "{code:?} {reasons:?}"
            );
        }
    }
}
