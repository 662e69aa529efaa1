//! The notifier's side of the table stream: each record is decided by the core (did a status
//! really change? is this return or order new?) and published.
//!
//! Stream batches are ordered and Lambda resumes a batch from its lowest failed record, so the
//! first failure stops the batch: the records after it are reported failed too and are retried
//! in order, and none that was published is published again.

use crate::items::{OrderItem, ReturnItem, ShipmentState, STATE};
use crate::notify::{self, Notice, Notifier, Publisher};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::de::DeserializeOwned;

/// Why a record could not be turned into a notice.
#[derive(Debug, thiserror::Error)]
#[error("record {id}: {reason}")]
pub struct BadRecord {
    pub id: String,
    pub reason: String,
}

pub struct StreamNotifier<P> {
    pub notifier: Notifier,
    pub publisher: P,
}

fn image<T: DeserializeOwned>(
    item: &serde_dynamo::Item,
    record: &EventRecord,
) -> Result<Option<T>, BadRecord> {
    if item.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(item.clone())
        .map(Some)
        .map_err(|e| BadRecord {
            id: record.event_id.clone(),
            reason: e.to_string(),
        })
}

fn key(item: &serde_dynamo::Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The notice a stream record calls for, if any: a shipment whose status or detail changed, a
/// new (or changed) return or order. History items and duplicates call for none.
pub fn notice_for(notifier: &Notifier, record: &EventRecord) -> Result<Option<Notice>, BadRecord> {
    let change = &record.change;
    let keys = &change.keys;
    let (Some(pk), Some(sk)) = (key(keys, "pk"), key(keys, "sk")) else {
        return Ok(None);
    };
    if sk != STATE || change.new_image.is_empty() {
        return Ok(None);
    }
    let notice = if pk.starts_with("SHIPMENT#") {
        let new: Option<ShipmentState> = image(&change.new_image, record)?;
        let old: Option<ShipmentState> = image(&change.old_image, record)?;
        new.filter(|n| notify::status_changed(old.as_ref(), n))
            .map(|n| notifier.status_changed(old.as_ref(), &n))
    } else if pk.starts_with("RETURN#") {
        let new: Option<ReturnItem> = image(&change.new_image, record)?;
        let old: Option<ReturnItem> = image(&change.old_image, record)?;
        new.filter(|n| notify::content_changed(old.as_ref().map(|o| &o.event_id), &n.event_id))
            .map(|n| notifier.return_requested(&n))
    } else if pk.starts_with("ORDER#") {
        let new: Option<OrderItem> = image(&change.new_image, record)?;
        let old: Option<OrderItem> = image(&change.old_image, record)?;
        new.filter(|n| notify::content_changed(old.as_ref().map(|o| &o.event_id), &n.event_id))
            .map(|n| notifier.order(&n))
    } else {
        None
    };
    Ok(notice)
}

impl<P: Publisher> StreamNotifier<P> {
    /// The notice a record calls for, if any.
    pub fn notice(&self, record: &EventRecord) -> Result<Option<Notice>, BadRecord> {
        notice_for(&self.notifier, record)
    }

    /// Handles a batch and reports the records to retry.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for (i, record) in event.records.iter().enumerate() {
            let outcome = match self.notice(record) {
                Ok(None) => Ok("skipped"),
                Ok(Some(notice)) => match self.publisher.publish(&notice).await {
                    Ok(()) => {
                        tracing::info!(
                            record = record.event_id.as_str(),
                            event = notice.event.as_str(),
                            id = notice.id.as_str(),
                            outcome = "published",
                            "notification"
                        );
                        Ok("published")
                    }
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            if let Err(reason) = outcome {
                tracing::error!(
                    record = record.event_id.as_str(),
                    outcome = "failed",
                    reason = reason.as_str(),
                    retried = event.records.len() - i,
                    "notification"
                );
                response.batch_item_failures = event.records[i..]
                    .iter()
                    .map(|r| {
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = r.change.sequence_number.clone();
                        failure
                    })
                    .collect();
                break;
            }
        }
        response
    }
}
