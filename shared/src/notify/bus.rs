//! A second, optional fan-out: each notice also goes to an event bus (EventBridge in the AWS
//! adapters) as an event whose `source` is [`SOURCE`], whose `detail-type` is the event name and
//! whose `detail` is the v1 JSON document the SNS message carries, so consumers route with rules
//! and archive and replay with the bus itself.
//!
//! [`FanOut`] publishes to the topic, then to the bus: a notice is done only when both took it.
//! A failure of either is the notice's failure, so the stream retries the record, and a retry
//! may send it again to both (subscribers of either deduplicate on the document's `id`).

use super::{Notice, PublishError, Publisher};
use crate::store::lock;
use std::future::Future;
use std::sync::Mutex;

/// The `source` of every event we put on the bus.
pub const SOURCE: &str = "qapla-webhooks";

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    pub source: &'static str,
    /// The event name (`shipment.status_changed`, `shipment.stuck`, …).
    pub detail_type: String,
    /// The notice's JSON document, as the SNS message's `default` text carries it.
    pub detail: String,
}

impl BusEvent {
    pub fn of(notice: &Notice) -> BusEvent {
        BusEvent {
            source: SOURCE,
            detail_type: notice.event.as_str().to_owned(),
            detail: notice.document.to_string(),
        }
    }
}

/// Puts events on a bus.
pub trait Bus: Send + Sync {
    fn put(&self, event: &BusEvent) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// A bus in memory with the port's rules: events kept in order, a put that can be made to fail
/// (temporarily, once).
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<BusEvent>>,
    fail_after: Mutex<Option<usize>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the put after the next `n` successful ones fail, once.
    pub fn fail_after(&self, n: usize) {
        *lock(&self.fail_after) = Some(n);
    }

    /// Every event put so far, in order.
    pub fn events(&self) -> Vec<BusEvent> {
        lock(&self.events).clone()
    }
}

impl Bus for MemoryBus {
    async fn put(&self, event: &BusEvent) -> Result<(), PublishError> {
        let mut fail_after = lock(&self.fail_after);
        match *fail_after {
            Some(0) => {
                *fail_after = None;
                return Err(PublishError::Temporary("memory bus set to fail".into()));
            }
            Some(n) => *fail_after = Some(n - 1),
            None => {}
        }
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// The topic, and the bus when there is one.
#[derive(Debug)]
pub struct FanOut<P, B> {
    pub publisher: P,
    pub bus: Option<B>,
}

impl<P: Publisher, B: Bus> Publisher for FanOut<P, B> {
    async fn publish(&self, notice: &Notice) -> Result<(), PublishError> {
        // Boxed: two SDK calls in one future nest deeper than the compiler lays out by default.
        Box::pin(self.publisher.publish(notice)).await?;
        if let Some(bus) = &self.bus {
            Box::pin(bus.put(&BusEvent::of(notice))).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::kind::Kind;
    use crate::notify::batch::{publish, ItemKey, Record};
    use crate::notify::{MemoryPublisher, Notifier};
    use crate::webhook::tests::{post, run, webhook};

    fn notifier() -> Notifier {
        crate::config::NotifierConfig::from_lookup(|var| {
            (var == crate::config::TOPIC_ARN).then(|| "local".to_owned())
        })
        .expect("config")
        .notifier
    }

    /// The stream records of three status changes.
    fn records() -> Vec<Record> {
        let hook = webhook(Kind::Shipment);
        let mut records = Vec::new();
        for f in [
            fixtures::SHIPMENT_IN_TRANSIT,
            fixtures::SHIPMENT_EXCEPTION_STOCK,
            fixtures::SHIPMENT_FAILED_ATTEMPT,
        ] {
            let before = hook.store.items();
            run(hook.handle(post(f.bytes())));
            for (key, new) in hook.store.items() {
                if before.get(&key) != Some(&new) && key.1 == crate::table::STATE {
                    let n = records.len();
                    records.push(Record {
                        event_id: format!("r{n}"),
                        sequence_number: format!("{n:03}"),
                        key: Some(ItemKey {
                            pk: key.0.clone(),
                            sk: key.1.clone(),
                        }),
                        old: Ok(before.get(&key).cloned()),
                        new: Ok(Some(new)),
                    });
                }
            }
        }
        records
    }

    #[test]
    fn every_notice_goes_to_both_with_the_same_document() {
        let both = FanOut {
            publisher: MemoryPublisher::new(),
            bus: Some(MemoryBus::new()),
        };
        let report = run(publish(&notifier(), &both, &records(), None));
        assert!(report.retry.is_empty());
        let notices = both.publisher.published();
        let events = both.bus.as_ref().expect("bus").events();
        assert_eq!(notices.len(), 3);
        assert_eq!(events.len(), 3);
        for (n, e) in notices.iter().zip(&events) {
            assert_eq!(e.source, "qapla-webhooks");
            assert_eq!(e.detail_type, n.event.as_str());
            let detail: serde_json::Value = serde_json::from_str(&e.detail).expect("json");
            assert_eq!(detail, n.document);
        }
        let none: FanOut<MemoryPublisher, MemoryBus> = FanOut {
            publisher: MemoryPublisher::new(),
            bus: None,
        };
        run(publish(&notifier(), &none, &records(), None));
        assert_eq!(none.publisher.published().len(), 3);
    }

    #[test]
    fn a_bus_failure_fails_the_record_and_its_retry_sends_it_to_both_again() {
        let records = records();
        let both = FanOut {
            publisher: MemoryPublisher::new(),
            bus: Some(MemoryBus::new()),
        };
        let bus = both.bus.as_ref().expect("bus");
        bus.fail_after(1);
        let first = run(publish(&notifier(), &both, &records, None));
        // The second notice reached the topic, not the bus: its record and the rest are retried.
        assert_eq!(first.retry, ["001", "002"]);
        assert_eq!(
            (both.publisher.published().len(), bus.events().len()),
            (2, 1)
        );
        let second = run(publish(&notifier(), &both, &records[1..], None));
        assert!(second.retry.is_empty());
        let ids: Vec<String> = both
            .publisher
            .published()
            .iter()
            .map(|n| n.id.clone())
            .collect();
        assert_eq!(ids.len(), 4, "the topic got the second notice twice");
        assert_eq!(ids[1], ids[2]);
        let details: Vec<String> = bus.events().iter().map(|e| e.detail.clone()).collect();
        assert_eq!(details.len(), 3, "the bus got each once");
    }
}
