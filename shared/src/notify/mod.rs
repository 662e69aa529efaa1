//! Notifications: which table changes notify ([`decide`]), what each says ([`render`]), which
//! statuses alert ([`alerts`]), and how a batch of changes is published in order ([`batch`])
//! through the [`Publisher`] port, to the topic and, when there is one, an event bus ([`bus`]), each
//! target once per notice ([`once`]). Pure: SNS and the stream live in the AWS adapters.

pub mod alerts;
pub mod batch;
pub mod bus;
pub mod decide;
pub mod once;
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
    /// `true` on a replay the operator sends to the email and SMS subscribers too
    /// (`qapla replay --alert-subscribers`); absent otherwise. Their filter policies keep every
    /// other replay out.
    pub const ALERT_SUBSCRIBERS: &str = "alertSubscribers";
    /// Every attribute name, for checks that the template uses only these.
    pub const ALL: [&str; 9] = [
        EVENT,
        STATUS_ID,
        STATUS_DETAIL,
        SEVERITY,
        COURIER,
        CHANNEL,
        RETURN,
        REPLAY,
        ALERT_SUBSCRIBERS,
    ];
}

/// The version of the JSON document queues and HTTP subscribers receive.
pub const SCHEMA: &str = "qapla-webhooks/notification/v1";
/// Largest JSON document a notification carries, in bytes: beyond it the item's payload is left
/// out and the document points at the table item instead, so that the whole message (document,
/// email text, SMS, subject and attributes) stays well under SNS's 256 KB.
pub const MAX_DOCUMENT_BYTES: usize = 200 * 1024;
/// Longest SMS we send: one GSM segment.
pub const SMS_MAX_CHARS: usize = 160;

/// The kinds of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    StatusChanged,
    ReturnRequested,
    OrderCreated,
    OrderTransmitted,
    /// An open shipment whose last change is older than its stuck threshold (`stuck`).
    Stuck,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StatusChanged => "shipment.status_changed",
            EventType::ReturnRequested => "return.requested",
            EventType::OrderCreated => "order.created",
            EventType::OrderTransmitted => "order.transmitted",
            EventType::Stuck => "shipment.stuck",
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
    /// The SNS message with `MessageStructure: json`: only the texts that differ. SNS gives every
    /// protocol without a key of its own (queues, functions, HTTP(S), `email-json`, Firehose) the
    /// `default` text, the JSON document; repeating it per protocol would multiply the message
    /// towards SNS's 256 KB limit.
    pub fn message_structure(&self) -> String {
        json!({
            "default": self.document.to_string(),
            "email": self.email_body,
            "sms": self.sms,
        })
        .to_string()
    }
}

/// Why a publish failed, told apart because they call for opposite handling: a temporary failure
/// (throttling, an outage, a timeout) stops the batch so the stream retries in order; a permanent
/// one (a message the service refuses as invalid or too large) would fail on every retry, so the
/// record is logged with its item's key, counted, and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("publish failed, a retry may succeed: {0}")]
    Temporary(String),
    #[error("publish refused for good: {0}")]
    Permanent(String),
}

impl PublishError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, PublishError::Permanent(_))
    }
}

/// Sends notices somewhere (SNS in the AWS adapters).
pub trait Publisher: Send + Sync {
    fn publish(
        &self,
        notice: &Notice,
    ) -> impl std::future::Future<Output = Result<(), PublishError>> + Send;

    /// Sends a notice to each target, each on its own, and says what each came to. A plain
    /// publisher has one target, the topic.
    fn deliver(&self, notice: &Notice) -> impl std::future::Future<Output = once::Delivery> + Send {
        async move { once::Delivery::topic_only(self.publish(notice).await) }
    }
}

/// A publisher in memory with the real rules of the port: notices are kept in the order they were
/// published, a publish can be made to fail (temporarily, once) or refused (for good, by notice
/// id), and each publish can be made slow, for tests of the batch logic.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<Notice>>,
    /// Publishes left before the next one fails (once).
    fail_after: Mutex<Option<usize>>,
    /// Notice ids refused as invalid, every time.
    refused: Mutex<Vec<String>>,
    /// How long each publish takes.
    latency: Mutex<Option<std::time::Duration>>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the publish after the next `n` successful ones fail, once.
    pub fn fail_after(&self, n: usize) {
        *lock(&self.fail_after) = Some(n);
    }

    /// Refuses the notice with this id for good, as SNS refuses an invalid message.
    pub fn refuse(&self, notice_id: impl Into<String>) {
        lock(&self.refused).push(notice_id.into());
    }

    /// Makes every publish take this long. The wait blocks the thread: the batch publishes one
    /// notice at a time, so this is what a slow service looks like to it.
    pub fn slow(&self, latency: std::time::Duration) {
        *lock(&self.latency) = Some(latency);
    }

    /// Every notice published so far, in order.
    pub fn published(&self) -> Vec<Notice> {
        lock(&self.published).clone()
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, notice: &Notice) -> Result<(), PublishError> {
        if let Some(latency) = *lock(&self.latency) {
            std::thread::sleep(latency);
        }
        if lock(&self.refused).contains(&notice.id) {
            return Err(PublishError::Permanent(
                "memory publisher refuses this notice".into(),
            ));
        }
        let mut fail_after = lock(&self.fail_after);
        match *fail_after {
            Some(0) => {
                *fail_after = None;
                return Err(PublishError::Temporary(
                    "memory publisher set to fail".into(),
                ));
            }
            Some(n) => *fail_after = Some(n - 1),
            None => {}
        }
        lock(&self.published).push(notice.clone());
        Ok(())
    }
}
