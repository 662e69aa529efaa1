//! The table in DynamoDB. Every write is conditional, so redeliveries, late events and concurrent
//! deliveries converge on the same table whatever their order, and a transaction keeps each
//! delivery whole (a body of many returns or orders: each transaction, every item keeping its own
//! condition, so a retry after a failure half-way writes only what is missing).

use crate::bounds;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use qapla::archive::{self, Unrecoverable};
use qapla::limits;
use qapla::store::{documents_recorded, Archive, Recorded, Store, StoreError};
use qapla::table::{Document, ShipmentHistory, ShipmentState, ORD, PK, SK};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// The DynamoDB client of the webhook functions: the SDK configuration with the webhooks'
/// bounded timeouts and retries ([`bounds`]).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    client_within(sdk, bounds::bounded_timeouts())
}

/// A client with `timeouts` and the bounded retries.
fn client_within(sdk: &aws_config::SdkConfig, timeouts: TimeoutConfig) -> Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(bounds::bounded_retries())
        .build();
    Client::from_conf(config)
}

/// The DynamoDB client of a webhook's heartbeat write: [`bounds::heartbeat_timeouts`].
pub fn heartbeat_client(sdk: &aws_config::SdkConfig) -> Client {
    client_within(sdk, bounds::heartbeat_timeouts())
}

/// The DynamoDB client of the inbox drain: [`bounds::drain_timeouts`], the same retries.
pub fn drain_client(sdk: &aws_config::SdkConfig) -> Client {
    client_within(sdk, bounds::drain_timeouts())
}

/// The key [`Store::answers`] reads: under a leading key the writers' roles allow
/// (`SHIPMENT#…`), and never an item (no channel is empty).
const PROBE_PK: &str = "SHIPMENT#";

/// How many more times a transaction cancelled by a concurrent one is tried, in-process, before
/// the delivery is answered 503; and the pause before each, in milliseconds (doubling, plus as
/// much again at random, so two deliveries for one shipment fall apart).
const CONFLICT_RETRIES: u32 = 2;
const CONFLICT_PAUSE_MS: u64 = 15;

/// The budget of one transaction's items, as their JSON length (at least DynamoDB's own measure
/// of an item: JSON spends quotes, colons and commas where DynamoDB spends a byte or none), under
/// the 4 MB limit with room to spare.
const TRANSACTION_BUDGET: usize = limits::MAX_TRANSACTION_BYTES - 512 * 1024;

/// The conditions of the three writes, on the table's attribute names. The names are bound as
/// `#pk` and `#ord`, so the expressions spell none of them.
/// A history item (a shipment's, or a version of a return or order) is new only if its key is
/// not taken.
const NEW_ITEM: &str = "attribute_not_exists(#pk)";
/// The state moves only forward (see `ShipmentState::ord`).
const NEWER_STATE: &str = "attribute_not_exists(#pk) OR #ord < :ord";
/// The current item of a return or order moves only forward (see `Document::ord`); an item
/// written before versions were ordered has no `ord`, and any version replaces it.
const NEWER_DOCUMENT: &str =
    "attribute_not_exists(#pk) OR attribute_not_exists(#ord) OR #ord < :ord";

/// A transaction's cancellation reason for an item whose condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// A transaction's cancellation reason for an item a concurrent transaction was writing.
const CONFLICT: &str = "TransactionConflict";

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

    /// The whole payload of a shipment's history item, wherever it is kept (in the item, or in
    /// `archive`); `None` if the item does not exist.
    pub async fn history_payload<A: Archive>(
        &self,
        pk: &str,
        sk: &str,
        archive: &A,
    ) -> Result<Option<serde_json::Value>, Unrecoverable> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let Some(item) = got.item else {
            return Ok(None);
        };
        let item: serde_json::Value =
            serde_dynamo::from_item(item).map_err(|e| Unrecoverable::Corrupt(e.to_string()))?;
        archive::full_payload(&item, archive).await.map(Some)
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
        let mut tries = 0;
        loop {
            match self.transact_once(items.clone()).await {
                Err(Conflict(_)) if tries < CONFLICT_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(conflict_pause(tries)).await;
                }
                Err(Conflict(e)) => return Err(e),
                Ok(result) => return result,
            }
        }
    }

    /// One try of a transaction; `Err` when a concurrent transaction cancelled it.
    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<Option<Vec<bool>>, StoreError>, Conflict> {
        let bounds = self.client.config().timeout_config().map(|base| {
            let bytes = items.iter().map(write_bytes).sum();
            bounds::for_transaction(base, items.len(), bytes)
        });
        let mut call = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .customize();
        if let Some(bounds) = bounds {
            call = call
                .config_override(aws_sdk_dynamodb::config::Builder::new().timeout_config(bounds));
        }
        let result = call.send().await;
        let err = match result {
            Ok(_) => return Ok(Ok(None)),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        else {
            return Ok(Err(classify(err)));
        };
        let codes: Vec<Option<&str>> = cancel
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        let only_conditions = codes
            .iter()
            .all(|c| matches!(c, None | Some("None") | Some(CONDITION_FAILED)));
        if only_conditions && codes.contains(&Some(CONDITION_FAILED)) {
            return Ok(Ok(Some(
                codes.iter().map(|c| *c == Some(CONDITION_FAILED)).collect(),
            )));
        }
        let permanent = is_permanent(None, &codes);
        let error = store_error(&err, permanent, &codes);
        if !permanent && codes.contains(&Some(CONFLICT)) {
            return Err(Conflict(error));
        }
        Ok(Err(error))
    }

    /// Writes documents, each as its version put and its current item's put, in one
    /// transaction. A document whose version is already there is dropped (a duplicate), one
    /// older than its current item keeps its version only (stale), and the rest is tried
    /// again. Whether any current item was written, and whether any document was stale.
    async fn write_documents(
        &self,
        mut pending: Vec<(TransactWriteItem, Option<TransactWriteItem>)>,
    ) -> Result<(bool, bool), StoreError> {
        while !pending.is_empty() {
            let items = pending
                .iter()
                .flat_map(|(version, current)| std::iter::once(version).chain(current))
                .cloned()
                .collect();
            let Some(failed) = self.transact(items).await? else {
                let stored = pending.iter().any(|(_, current)| current.is_some());
                let stale = pending.iter().any(|(_, current)| current.is_none());
                return Ok((stored, stale));
            };
            let mut failed = failed.into_iter();
            pending = pending
                .into_iter()
                .filter_map(|(version, current)| {
                    let version_failed = failed.next().unwrap_or(false);
                    // A flag for the current item only where it was in the transaction.
                    let current_failed = current.is_some() && failed.next().unwrap_or(false);
                    match (version_failed, current_failed) {
                        (true, _) => None,
                        (false, true) => Some((version, None)),
                        (false, false) => Some((version, current)),
                    }
                })
                .collect();
        }
        Ok((false, false))
    }
}

fn document_json(doc: &Document) -> serde_json::Result<Vec<u8>> {
    match doc {
        Document::Return(r) => serde_json::to_vec(r),
        Document::Order(o) => serde_json::to_vec(o),
    }
}

fn document_item(doc: &Document) -> Result<HashMap<String, AttributeValue>, StoreError> {
    match doc {
        Document::Return(r) => item(r),
        Document::Order(o) => item(o),
    }
}

/// About how many bytes a write sends: its item's attribute names and values, as DynamoDB
/// counts an item's size (a number as its digits; sets and lists as their members).
fn write_bytes(write: &TransactWriteItem) -> usize {
    write.put().map_or(0, |put| {
        put.item()
            .iter()
            .map(|(name, value)| name.len() + value_bytes(value))
            .sum()
    })
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_bytes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// A transaction cancelled by a concurrent one: worth another try in a moment.
struct Conflict(StoreError);

/// A put whose condition did not hold did what it had to: its item, or a later one (a later beat,
/// a later checkpoint of a concurrent run), is there already. Any other failure may pass later.
pub(crate) fn put_applied<T>(result: Result<T, SdkError<PutItemError>>) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(StoreError::Retryable(DisplayErrorContext(&e).to_string())),
    }
}

/// The pause before the `n`th try after a conflict: doubling, with as much again at random.
fn conflict_pause(n: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = CONFLICT_PAUSE_MS << n.min(6);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(base + random % base.max(1))
}

/// Maps an SDK error to the store's, by the error codes DynamoDB returns (never by message text):
/// the store refusing the items themselves is permanent, anything else a retry can fix.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    let permanent = match &err {
        SdkError::ServiceError(service) => is_permanent(service.err().code(), &[]),
        SdkError::ConstructionFailure(_) => true,
        _ => false,
    };
    store_error(&err, permanent, &[])
}

/// The store's error. A refusal reads as DynamoDB's error code, the cancellation reasons and its
/// message (which names limits and our attribute names, never a value): it is logged, and kept
/// with the quarantined delivery.
fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E>,
    permanent: bool,
    reasons: &[Option<&str>],
) -> StoreError {
    if !permanent {
        return StoreError::Retryable(DisplayErrorContext(err).to_string());
    }
    let code = err.code().unwrap_or("ConstructionFailure");
    let reasons: Vec<&str> = reasons.iter().flatten().copied().collect();
    let message = err.message().unwrap_or_default();
    StoreError::Refused(if reasons.is_empty() {
        format!("{code}: {message}")
    } else {
        format!("{code} [{}]: {message}", reasons.join(", "))
    })
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
        let mut puts = Vec::with_capacity(documents.len());
        let mut sizes = Vec::with_capacity(documents.len());
        for doc in documents {
            // Two items a document, its version and its current item, of the same size.
            sizes.push(2 * document_json(doc).map(|j| j.len()).unwrap_or(0));
            let version = self.put(document_item(&doc.version())?, NEW_ITEM, None)?;
            let current = self.put(
                document_item(doc)?,
                NEWER_DOCUMENT,
                Some((":ord", doc.ord())),
            )?;
            puts.push((version, Some(current)));
        }
        let (mut stored, mut stale) = (false, false);
        // In order, one transaction per batch; a failure stops here, and Qapla's retry finds the
        // batches already written to be duplicates.
        let per_batch = limits::MAX_TRANSACTION_ITEMS / 2;
        for range in limits::batches(&sizes, per_batch, TRANSACTION_BUDGET) {
            let (s, o) = self.write_documents(puts[range].to_vec()).await?;
            stored |= s;
            stale |= o;
        }
        Ok(documents_recorded(stored, stale))
    }

    async fn answers(&self) -> bool {
        // Any answer of the table's, even "no such item", is an answer; an error of any kind
        // (unreachable, throttled, denied, no table) is not.
        self.client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(PROBE_PK.to_owned()))
            .key(SK, AttributeValue::S(qapla::table::STATE.to_owned()))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .is_ok()
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
