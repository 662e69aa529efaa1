//! Notifications: which table changes notify ([`decide`]), what each says ([`render`]), which
//! statuses alert ([`alerts`]), and how a batch of changes is published in order ([`batch`])
//! through the [`Publisher`] port. Pure: SNS and the stream live in the AWS adapters.

pub mod alerts;
pub mod batch;
pub mod decide;
pub mod render;

pub use alerts::AlertRule;
pub use decide::{decide, Change};
pub use render::Notifier;

use crate::store::lock;
use serde_json::{json, Value};
use std::sync::Mutex;

/// Message attribute names, used by the publisher and by the template's filter policies.
pub mod attr {
    pub const EVENT: &str = "event";
    pub const STATUS_ID: &str = "statusId";
    pub const STATUS_DETAIL: &str = "statusDetail";
    pub const SEVERITY: &str = "severity";
    pub const COURIER: &str = "courier";
    pub const CHANNEL: &str = "channel";
    pub const RETURN: &str = "return";
    /// `true` on a notice re-published by `qapla replay`; absent otherwise.
    pub const REPLAY: &str = "replay";
    /// Every attribute name, for checks that the template uses only these.
    pub const ALL: [&str; 8] = [
        EVENT,
        STATUS_ID,
        STATUS_DETAIL,
        SEVERITY,
        COURIER,
        CHANNEL,
        RETURN,
        REPLAY,
    ];
}

/// The version of the JSON document queues and HTTP subscribers receive.
pub const SCHEMA: &str = "qapla-webhooks/notification/v1";
/// Longest SMS we send: one GSM segment.
pub const SMS_MAX_CHARS: usize = 160;

/// The kinds of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    StatusChanged,
    ReturnRequested,
    OrderCreated,
    OrderTransmitted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StatusChanged => "shipment.status_changed",
            EventType::ReturnRequested => "return.requested",
            EventType::OrderCreated => "order.created",
            EventType::OrderTransmitted => "order.transmitted",
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub event: EventType,
    /// Stable id of the change, so subscribers can drop SNS's occasional duplicate.
    pub id: String,
    pub attributes: Vec<(&'static str, String)>,
    pub document: Value,
    pub email_subject: String,
    pub email_body: String,
    pub sms: String,
}

impl Notice {
    /// The SNS message with `MessageStructure: json`: one text per protocol.
    pub fn message_structure(&self) -> String {
        let doc = self.document.to_string();
        json!({
            "default": doc,
            "sqs": doc,
            "lambda": doc,
            "http": doc,
            "https": doc,
            "email-json": doc,
            "firehose": doc,
            "email": self.email_body,
            "sms": self.sms,
        })
        .to_string()
    }
}

/// Publishing failed; the notifier reports the record failed so the stream retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Sends notices somewhere (SNS in the AWS adapters).
pub trait Publisher: Send + Sync {
    fn publish(
        &self,
        notice: &Notice,
    ) -> impl std::future::Future<Output = Result<(), PublishError>> + Send;
}

/// A publisher in memory with the real rules of the port: notices are kept in the order they were
/// published, and a publish can be made to fail, for tests of the batch logic.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<Notice>>,
    /// Publishes left before the next one fails (once).
    fail_after: Mutex<Option<usize>>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the publish after the next `n` successful ones fail, once.
    pub fn fail_after(&self, n: usize) {
        *lock(&self.fail_after) = Some(n);
    }

    /// Every notice published so far, in order.
    pub fn published(&self) -> Vec<Notice> {
        lock(&self.published).clone()
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), PublishError> {
        let mut fail_after = lock(&self.fail_after);
        match *fail_after {
            Some(0) => {
                *fail_after = None;
                return Err(PublishError("memory publisher set to fail".into()));
            }
            Some(n) => *fail_after = Some(n - 1),
            None => {}
        }
        lock(&self.published).push(notice.clone());
        Ok(())
    }
}
