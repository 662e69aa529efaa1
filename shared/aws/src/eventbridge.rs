//! Puts notices on an EventBridge bus: one `PutEvents` entry per notice (`source`, `detail-type`,
//! `detail` from the core's [`BusEvent`]), its failures told temporary or permanent.

use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use qapla::notify::bus::{Bus, BusEvent};
use qapla::notify::PublishError;

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
                if refused_for_good(e.code()) {
                    PublishError::Permanent(reason)
                } else {
                    PublishError::Temporary(reason)
                }
            })?;
        // A failed entry comes back in a successful call, with its own code (throttling, an
        // internal failure, or one of the refusals above).
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            let code = failed.and_then(|e| e.error_code());
            let reason = format!(
                "the bus refused the event: {} {}",
                code.unwrap_or("unknown"),
                failed.and_then(|e| e.error_message()).unwrap_or_default()
            );
            return Err(if refused_for_good(code) {
                PublishError::Permanent(reason)
            } else {
                PublishError::Temporary(reason)
            });
        }
        Ok(())
    }
}

/// EventBridge error codes, of the call or of an entry, that no retry changes until an operator
/// acts: the bus does not exist, the notifier may not put on it, or the event itself is invalid.
/// Retrying them would only hold back the records behind and reach the dead-letter queue hours
/// later. Every other code (throttling, an internal failure) and a failure with no code at all (a
/// timeout, a refused connection) may pass on a retry. Told by code, never by the message text.
pub fn refused_for_good(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ResourceNotFoundException"
                | "AccessDeniedException"
                | "AccessDenied"
                | "UnauthorizedOperation"
                | "NotAuthorizedForSourceException"
                | "NotAuthorizedForDetailTypeException"
                | "ValidationException"
                | "InvalidArgument"
                | "MalformedDetail"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bus_a_denied_put_and_an_invalid_event_are_permanent() {
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "AccessDenied",
            "UnauthorizedOperation",
            "NotAuthorizedForSourceException",
            "NotAuthorizedForDetailTypeException",
            "ValidationException",
            "InvalidArgument",
            "MalformedDetail",
        ] {
            assert!(refused_for_good(Some(code)), "{code}");
        }
        for code in [
            "ThrottlingException",
            "InternalFailure",
            "InternalException",
            "ServiceUnavailable",
            "ConcurrentModificationException",
        ] {
            assert!(!refused_for_good(Some(code)), "{code}");
        }
        assert!(!refused_for_good(None), "a timeout may pass on a retry");
    }
}
