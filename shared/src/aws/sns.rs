//! Publishes notices to the SNS topic, one message per change, with per-protocol texts and the
//! attributes filter policies read.

use crate::notify::{Notice, PublishError, Publisher};
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

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
                .map_err(|e| PublishError(e.to_string()))?;
            request = request.message_attributes(*name, attribute);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PublishError(DisplayErrorContext(&e).to_string()))
    }
}
