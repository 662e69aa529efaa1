//! Publishes notices to the SNS topic, one message per change, with per-protocol texts and the
//! attributes filter policies read.

use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use qapla::notify::{Notice, PublishError, Publisher};

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), PublishError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(notice.message_structure())
            .subject(&notice.email_subject);
        for (name, value) in &notice.attributes {
            // SNS refuses empty attribute values; an absent value is left out instead.
            if value.is_empty() {
                continue;
            }
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PublishError::Permanent(e.to_string()))?;
            request = request.message_attributes(*name, attribute);
        }
        request.send().await.map(|_| ()).map_err(|e| {
            let reason = DisplayErrorContext(&e).to_string();
            if refused_for_good(e.code()) {
                PublishError::Permanent(reason)
            } else {
                PublishError::Temporary(reason)
            }
        })
    }
}

/// SNS error codes that refuse the message itself (invalid, or over the size limit): the same
/// message is refused on every retry. Every other failure (throttling, an outage, a timeout, a
/// missing permission or KMS key) is the service's or the stack's state, which a retry or an
/// operator's fix can change. Told by code, never by the message text.
pub fn refused_for_good(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidParameter" | "ParameterValueInvalid" | "ValidationException")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_the_message_are_permanent() {
        for code in [
            "InvalidParameter",
            "ParameterValueInvalid",
            "ValidationException",
        ] {
            assert!(refused_for_good(Some(code)), "{code}");
        }
        for code in [
            "Throttling",
            "InternalError",
            "AuthorizationError",
            "NotFound",
            "KMSDisabled",
            "KMSThrottling",
        ] {
            assert!(!refused_for_good(Some(code)), "{code}");
        }
        // A timeout or a refused connection carries no code: a retry may succeed.
        assert!(!refused_for_good(None));
    }
}
