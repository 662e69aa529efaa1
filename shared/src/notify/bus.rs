//! A second, optional fan-out: each notice also goes to an event bus (EventBridge in the AWS
//! adapters) as an event whose `source` is [`SOURCE`], whose `detail-type` is the event name and
//! whose `detail` is the v1 JSON document the SNS message carries, so consumers route with rules
//! and archive and replay with the bus itself.
//!
//! [`FanOut`] publishes to the topic, then to the bus, each target on its own through the
//! [`Claims`](super::once::Claims) of [`super::once`]: a bus failure never sends the topic's email
//! and SMS again, and a bus refused for good (missing, access denied) neither holds back nor
//! resends the topic.

use super::once::{send_once, Claims, Delivery, Target};
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
/// (temporarily, once), or the bus made missing (every put refused for good).
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<BusEvent>>,
    fail_after: Mutex<Option<usize>>,
    missing: Mutex<bool>,
    puts: Mutex<usize>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the put after the next `n` successful ones fail, once.
    pub fn fail_after(&self, n: usize) {
        *lock(&self.fail_after) = Some(n);
    }

    /// Makes the bus missing, as a bus deleted or never created is: every put is refused.
    pub fn set_missing(&self, missing: bool) {
        *lock(&self.missing) = missing;
    }

    /// Every event put so far, in order.
    pub fn events(&self) -> Vec<BusEvent> {
        lock(&self.events).clone()
    }

    /// Every put tried, taken or not.
    pub fn puts(&self) -> usize {
        *lock(&self.puts)
    }
}

impl Bus for MemoryBus {
    async fn put(&self, event: &BusEvent) -> Result<(), PublishError> {
        *lock(&self.puts) += 1;
        if *lock(&self.missing) {
            return Err(PublishError::Permanent(
                "ResourceNotFoundException: memory bus missing".into(),
            ));
        }
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

/// Logs a bus's refusal for good of `notice`, for callers that take one result of a delivery
/// (the stuck check): the refusal is not the notice's failure, but it is counted.
pub fn log_bus_refusal(notice: &Notice, delivery: &Delivery) {
    if let Some(e) = delivery.bus_refused() {
        tracing::error!(
            id = notice.id.as_str(),
            outcome = super::batch::BUS_REFUSED,
            reason = e.to_string().as_str(),
            "{}",
            super::batch::LOG_LINE
        );
    }
}

/// The topic, and the bus when there is one, each sent once per notice through `claims`.
#[derive(Debug)]
pub struct FanOut<P, B, C> {
    pub publisher: P,
    pub bus: Option<B>,
    pub claims: C,
}

impl<P: Publisher, B: Bus, C: Claims> Publisher for FanOut<P, B, C> {
    /// One publish for callers that want one result (the stuck check): a bus refused for good is
    /// logged here and is not the notice's failure.
    async fn publish(&self, notice: &Notice) -> Result<(), PublishError> {
        let delivery = self.deliver(notice).await;
        log_bus_refusal(notice, &delivery);
        delivery.result()
    }

    async fn deliver(&self, notice: &Notice) -> Delivery {
        // Boxed: SDK calls in one future nest deeper than the compiler lays out by default.
        let (topic, note) = Box::pin(send_once(&self.claims, notice, Target::Topic, || {
            self.publisher.publish(notice)
        }))
        .await;
        let mut delivery = Delivery {
            topic,
            bus: None,
            notes: note.into_iter().collect(),
        };
        // A topic that failed for now is retried with the bus, in the record's order.
        if matches!(delivery.topic, Err(PublishError::Temporary(_))) {
            return delivery;
        }
        if let Some(bus) = &self.bus {
            let event = BusEvent::of(notice);
            let (sent, note) = Box::pin(send_once(&self.claims, notice, Target::Bus, || {
                bus.put(&event)
            }))
            .await;
            delivery.bus = Some(sent);
            delivery.notes.extend(note);
        }
        delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::notify::batch::{notice, publish, Record};
    use crate::notify::once::{Claims, MemoryClaims, Target};
    use crate::notify::MemoryPublisher;
    use crate::testing::run;
    use crate::testing::{ids, notifier, records_of};

    /// The stream records of three status changes.
    fn records() -> Vec<Record> {
        records_of(
            &[
                fixtures::SHIPMENT_IN_TRANSIT,
                fixtures::SHIPMENT_EXCEPTION_STOCK,
                fixtures::SHIPMENT_FAILED_ATTEMPT,
            ],
            |key| key.1 == crate::table::STATE,
        )
    }

    fn both() -> FanOut<MemoryPublisher, MemoryBus, MemoryClaims> {
        FanOut {
            publisher: MemoryPublisher::new(),
            bus: Some(MemoryBus::new()),
            claims: MemoryClaims::new(),
        }
    }

    #[test]
    fn every_notice_goes_to_both_with_the_same_document() {
        let both = both();
        let report = run(publish(&notifier(), &both, &records(), None));
        assert!(report.retry.is_empty());
        assert_eq!(report.published, 3);
        let notices = both.publisher.published();
        let events = both.bus.as_ref().expect("bus").events();
        assert_eq!(notices.len(), 3);
        assert_eq!(events.len(), 3);
        for (n, e) in notices.iter().zip(&events) {
            assert_eq!(e.source, "qapla-webhooks");
            assert_eq!(e.detail_type, n.event.as_str());
            let detail: serde_json::Value = serde_json::from_str(&e.detail).expect("json");
            assert_eq!(detail, n.document);
            for target in [Target::Topic, Target::Bus] {
                assert_eq!(both.claims.state(&n.id, target), Some(true), "{target:?}");
            }
        }
        let none: FanOut<MemoryPublisher, MemoryBus, MemoryClaims> = FanOut {
            publisher: MemoryPublisher::new(),
            bus: None,
            claims: MemoryClaims::new(),
        };
        run(publish(&notifier(), &none, &records(), None));
        assert_eq!(none.publisher.published().len(), 3);
    }

    #[test]
    fn a_bus_failure_retries_the_bus_alone_and_the_topic_gets_each_notice_once() {
        let records = records();
        let both = both();
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
        assert!(second.retry.is_empty(), "{second:?}");
        let topic = ids(&both.publisher.published());
        assert_eq!(topic.len(), 3, "the topic got each notice once: {topic:?}");
        let mut unique = topic.clone();
        unique.dedup();
        assert_eq!(unique, topic);
        let details: Vec<String> = bus.events().iter().map(|e| e.detail.clone()).collect();
        assert_eq!(details.len(), 3, "the bus got each once");
        // The same batch delivered again (a crashed invocation's retry) sends nothing at all.
        let third = run(publish(&notifier(), &both, &records, None));
        assert_eq!((third.published, third.already), (0, 3), "{third:?}");
        assert_eq!(both.publisher.published().len(), 3);
        assert_eq!(bus.events().len(), 3);
    }

    #[test]
    fn a_missing_bus_lets_the_topic_have_each_notice_once_and_is_counted_not_retried() {
        let records = records();
        let both = both();
        let bus = both.bus.as_ref().expect("bus");
        bus.set_missing(true);
        let report = run(publish(&notifier(), &both, &records, None));
        assert!(report.retry.is_empty(), "no retry loop: {report:?}");
        assert_eq!((report.published, report.bus_refused), (3, 3));
        assert_eq!(report.skipped, 0, "the topic side is not skipped");
        assert_eq!(both.publisher.published().len(), 3);
        assert_eq!(bus.puts(), 3, "one put per notice, none again");
        assert!(bus.events().is_empty());
        // A redelivery of the batch does not send the topic again.
        let again = run(publish(&notifier(), &both, &records, None));
        assert!(again.retry.is_empty());
        assert_eq!(both.publisher.published().len(), 3);
    }

    #[test]
    fn an_attempt_that_died_after_its_claim_leaves_the_topic_unsent_and_the_bus_sent_again() {
        let records = records();
        let first = notice(&notifier(), &records[0])
            .expect("readable")
            .expect("a notice");
        let second = notice(&notifier(), &records[1])
            .expect("readable")
            .expect("a notice");
        let both = both();
        // The first notice: topic claimed, then the crash. The second: topic done, bus claimed,
        // then the crash.
        both.claims.leave_unfinished(&first.id, Target::Topic);
        run(both.claims.complete(&second.id, Target::Topic)).expect("memory");
        both.claims.leave_unfinished(&second.id, Target::Bus);
        let report = run(publish(&notifier(), &both, &records, None));
        assert!(report.retry.is_empty(), "{report:?}");
        assert_eq!((report.unconfirmed, report.published), (1, 2), "{report:?}");
        let topic = ids(&both.publisher.published());
        assert!(!topic.contains(&first.id), "at most once on the topic");
        assert!(!topic.contains(&second.id), "done before");
        assert_eq!(topic.len(), 1);
        let events = both.bus.as_ref().expect("bus").events();
        assert_eq!(events.len(), 3, "at least once on the bus");
    }

    #[test]
    fn claims_that_cannot_be_made_send_nothing_and_retry_the_record() {
        let records = records();
        let both = both();
        both.claims.set_down(true);
        let report = run(publish(&notifier(), &both, &records, None));
        assert_eq!(report.retry, ["000", "001", "002"]);
        assert!(both.publisher.published().is_empty());
        both.claims.set_down(false);
        assert!(run(publish(&notifier(), &both, &records, None))
            .retry
            .is_empty());
        assert_eq!(both.publisher.published().len(), 3);
    }

    #[test]
    fn a_notice_the_topic_refuses_is_skipped_and_still_goes_to_the_bus() {
        let records = records();
        let refused = notice(&notifier(), &records[0])
            .expect("readable")
            .expect("a notice");
        let both = both();
        both.publisher.refuse(refused.id.clone());
        let report = run(publish(&notifier(), &both, &records, None));
        assert!(report.retry.is_empty());
        assert_eq!((report.skipped, report.published), (1, 2));
        assert_eq!(both.bus.as_ref().expect("bus").events().len(), 3);
        assert_eq!(both.claims.state(&refused.id, Target::Topic), None);
    }

    #[test]
    fn without_claims_a_bus_failure_sends_the_topic_again() {
        let records = records();
        let both: FanOut<MemoryPublisher, MemoryBus, Option<MemoryClaims>> = FanOut {
            publisher: MemoryPublisher::new(),
            bus: Some(MemoryBus::new()),
            claims: None,
        };
        both.bus.as_ref().expect("bus").fail_after(1);
        run(publish(&notifier(), &both, &records, None));
        run(publish(&notifier(), &both, &records[1..], None));
        assert_eq!(both.publisher.published().len(), 4);
    }

    #[test]
    fn one_publish_reports_a_temporary_bus_failure_but_not_a_missing_bus() {
        let n = notice(&notifier(), &records()[0])
            .expect("readable")
            .expect("a notice");
        let other = both();
        let fanout = both();
        let bus = fanout.bus.as_ref().expect("bus");
        bus.fail_after(0);
        assert!(matches!(
            run(fanout.publish(&n)),
            Err(PublishError::Temporary(_))
        ));
        assert_eq!(run(fanout.publish(&n)), Ok(()), "the retry sends the bus");
        assert_eq!(fanout.publisher.published().len(), 1);
        other.bus.as_ref().expect("bus").set_missing(true);
        assert_eq!(run(other.publish(&n)), Ok(()));
        assert_eq!(other.publisher.published().len(), 1);
    }
}
