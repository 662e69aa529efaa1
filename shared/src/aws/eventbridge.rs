//! Puts notices on an EventBridge bus: one `PutEvents` entry per notice (`source`, `detail-type`,
//! `detail` from the core's [`BusEvent`]).

use crate::notify::bus::{Bus, BusEvent};
use crate::notify::PublishError;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus_name: bus_name.into(),
        }
    }
}

impl Bus for EventBridgeBus {
    async fn put(&self, event: &BusEvent) -> Result<(), PublishError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(event.source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                let reason = DisplayErrorContext(&e).to_string();
                // The request itself refused (malformed, too large): the same on every retry.
                if e.code() == Some("ValidationException") {
                    PublishError::Permanent(reason)
                } else {
                    PublishError::Temporary(reason)
                }
            })?;
        // A failed entry comes back in a successful call, with its own code (throttling, an
        // internal failure): the stream retries the record.
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            return Err(PublishError::Temporary(format!(
                "the bus refused the event: {} {}",
                failed.and_then(|e| e.error_code()).unwrap_or("unknown"),
                failed.and_then(|e| e.error_message()).unwrap_or_default()
            )));
        }
        Ok(())
    }
}
