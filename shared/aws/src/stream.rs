//! The notifier's side of the table stream: each stream record becomes the item's images before
//! and after the write, and the core decides and publishes ([`qapla::notify::batch`]).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use qapla::notify::batch::{self, Deadline, ItemKey, Record};
use qapla::notify::{Notifier, Publisher};
use serde_json::Value;

pub struct StreamNotifier<P> {
    pub notifier: Notifier,
    pub publisher: P,
}

/// An image of a stream record as the JSON object the table holds; `None` where the record has
/// none (an insert has no old image, a deletion no new one).
fn image(item: &serde_dynamo::Item) -> Result<Option<Value>, String> {
    if item.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(item.clone())
        .map(Some)
        .map_err(|e| {
            format!(
                "unreadable image: {}",
                qapla::model::shape_only(&e.to_string())
            )
        })
}

/// The item's key from a record's keys, which the stream carries even when an image is unreadable.
fn key(keys: &serde_dynamo::Item) -> Option<ItemKey> {
    let text = |name: &str| match keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    Some(ItemKey {
        pk: text(qapla::table::PK)?,
        sk: text(qapla::table::SK)?,
    })
}

/// A stream record as the core reads it.
pub fn record(r: &EventRecord) -> Record {
    Record {
        event_id: r.event_id.clone(),
        sequence_number: r.change.sequence_number.clone().unwrap_or_default(),
        key: key(&r.change.keys),
        old: image(&r.change.old_image),
        new: image(&r.change.new_image),
    }
}

impl<P: Publisher> StreamNotifier<P> {
    /// Handles a batch and reports the records to retry.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        self.handle_until(event, None).await
    }

    /// Handles a batch, leaving the records it has no time for to the stream's retry.
    pub async fn handle_until(
        &self,
        event: &Event,
        deadline: Option<Deadline>,
    ) -> DynamoDbEventResponse {
        let records: Vec<Record> = event.records.iter().map(record).collect();
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures =
            batch::publish(&self.notifier, &self.publisher, &records, deadline)
                .await
                .retry
                .into_iter()
                .map(|sequence_number| {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(sequence_number);
                    failure
                })
                .collect();
        response
    }
}
