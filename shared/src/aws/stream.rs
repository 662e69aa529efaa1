//! The notifier's side of the table stream: each stream record becomes the item's images before
//! and after the write, and the core decides and publishes ([`crate::notify::batch`]).

use crate::notify::batch::{self, Record};
use crate::notify::{Notifier, Publisher};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
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
        .map_err(|e| format!("unreadable image: {e}"))
}

/// A stream record as the core reads it.
pub fn record(r: &EventRecord) -> Record {
    Record {
        event_id: r.event_id.clone(),
        sequence_number: r.change.sequence_number.clone().unwrap_or_default(),
        old: image(&r.change.old_image),
        new: image(&r.change.new_image),
    }
}

impl<P: Publisher> StreamNotifier<P> {
    /// Handles a batch and reports the records to retry.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let records: Vec<Record> = event.records.iter().map(record).collect();
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = batch::publish(&self.notifier, &self.publisher, &records)
            .await
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
