//! Publishing a batch of table changes in order.
//!
//! Stream batches are ordered and Lambda resumes a batch from its lowest failed record, so a
//! temporary failure stops the batch: the records after it are reported failed too and are
//! retried in order, and none that was published is published again. A permanent failure (an
//! image that cannot be read, a message the service refuses) would fail the same way on every
//! retry and hold back every record after it until the whole tail reached the dead-letter queue:
//! such a record is logged with its item's key (an operator can publish its notification again
//! from the table), counted, and skipped. Near the invocation's deadline the batch stops and
//! reports the rest for retry, so a timeout never makes Lambda retry records already published.
//! Each notice goes to each target once ([`super::once`]): a record retried for its bus sends
//! only the bus, and a bus refused for good is logged and counted, never retried.

use super::once::{Delivery, Sent, Target};
use super::{decide, Notice, Notifier, Publisher};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The message of the per-record log line, and its outcomes, which the template's metric filters
/// count.
pub const LOG_LINE: &str = "notification";
pub const PUBLISHED: &str = "published";
/// A temporary failure: the batch stops and the stream retries from this record.
pub const FAILED: &str = "failed";
/// A permanent failure: the record is skipped.
pub const SKIPPED: &str = "skipped";
/// No time was left before the deadline: the stream retries from this record.
pub const DEFERRED: &str = "deferred";
/// The bus refused the notice for good (missing, access denied, invalid): the topic side stands,
/// the record is not retried. A line of its own, besides the record's.
pub const BUS_REFUSED: &str = "bus_refused";
/// An earlier attempt claimed the topic and died before saying how its send ended: the notice is
/// not sent to the topic again (at most once), and may not have reached it.
pub const UNCONFIRMED: &str = "unconfirmed";
/// Every target took the notice in an earlier attempt: nothing sent.
pub const ALREADY: &str = "already";

/// The key of the table item a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

/// One change of a table item, as the stream delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The stream's id of the record, for logs.
    pub event_id: String,
    /// Where the stream resumes a batch from this record.
    pub sequence_number: String,
    /// The item's key, from the record's keys (present even when an image cannot be read).
    pub key: Option<ItemKey>,
    /// The item before and after the write; `Err` holds why an image could not be read.
    pub old: Result<Option<Value>, String>,
    pub new: Result<Option<Value>, String>,
}

/// When the invocation must have answered, and the time one publish may take at most: a publish
/// is started only while that much time is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub reserve: Duration,
}

impl Deadline {
    fn too_close(&self, now: Instant) -> bool {
        now.checked_add(self.reserve).is_none_or(|t| t >= self.at)
    }
}

/// What a batch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Sequence numbers of the records for the stream to retry, in order: from the first
    /// temporary failure, or the first record the deadline left no time for, to the end.
    pub retry: Vec<String>,
    /// Notices published.
    pub published: usize,
    /// Records skipped for a permanent failure.
    pub skipped: usize,
    /// Notices the bus refused for good.
    pub bus_refused: usize,
    /// Notices an earlier attempt may or may not have sent to the topic.
    pub unconfirmed: usize,
    /// Notices every target took in an earlier attempt.
    pub already: usize,
    /// Whether the deadline stopped the batch.
    pub deadline: bool,
}

/// Publishes what each record calls for, in order, within the deadline if one is given, and logs
/// one line for the batch.
pub async fn publish<P: Publisher>(
    notifier: &Notifier,
    publisher: &P,
    records: &[Record],
    deadline: Option<Deadline>,
) -> Report {
    let report = publish_records(notifier, publisher, records, deadline).await;
    let outcome = if report.deadline {
        DEFERRED
    } else if !report.retry.is_empty() {
        FAILED
    } else if report.skipped > 0 {
        SKIPPED
    } else {
        "done"
    };
    tracing::info!(
        records = records.len(),
        published = report.published,
        skipped = report.skipped,
        bus_refused = report.bus_refused,
        unconfirmed = report.unconfirmed,
        already = report.already,
        retried = report.retry.len(),
        outcome,
        "batch"
    );
    report
}

async fn publish_records<P: Publisher>(
    notifier: &Notifier,
    publisher: &P,
    records: &[Record],
    deadline: Option<Deadline>,
) -> Report {
    let mut report = Report::default();
    for (i, record) in records.iter().enumerate() {
        let rest = || -> Vec<String> {
            records[i..]
                .iter()
                .map(|r| r.sequence_number.clone())
                .collect()
        };
        if deadline.is_some_and(|d| d.too_close(Instant::now())) {
            tracing::warn!(
                record = record.event_id.as_str(),
                outcome = DEFERRED,
                reason = "deadline",
                retried = records.len() - i,
                "{LOG_LINE}"
            );
            report.retry = rest();
            report.deadline = true;
            return report;
        }
        let delivered = match notice(notifier, record) {
            Ok(None) => continue,
            Ok(Some(notice)) => {
                let delivery = Box::pin(publisher.deliver(&notice)).await;
                Ok((notice, delivery))
            }
            Err(reason) => Err(reason),
        };
        let (notice, delivery) = match delivered {
            Ok(d) => d,
            Err(reason) => {
                skip(&mut report, record, &reason);
                continue;
            }
        };
        let id = notice.id.as_str();
        let (topic, bus) = (delivery.state(Target::Topic), delivery.state(Target::Bus));
        let note = delivery.notes.join("; ");
        if let Some(e) = delivery.bus_refused() {
            report.bus_refused += 1;
            tracing::error!(
                record = record.event_id.as_str(),
                event = notice.event.as_str(),
                id,
                topic,
                outcome = BUS_REFUSED,
                reason = e.to_string().as_str(),
                "{LOG_LINE}"
            );
        }
        if let Some((target, e)) = delivery.temporary() {
            tracing::error!(
                record = record.event_id.as_str(),
                id,
                target = target.as_str(),
                topic,
                bus,
                outcome = FAILED,
                reason = e.to_string().as_str(),
                note = note.as_str(),
                retried = records.len() - i,
                "{LOG_LINE}"
            );
            report.retry = rest();
            return report;
        }
        if let Err(e) = &delivery.topic {
            skip(&mut report, record, &e.to_string());
            continue;
        }
        let outcome = outcome(&delivery);
        match outcome {
            UNCONFIRMED => report.unconfirmed += 1,
            ALREADY => report.already += 1,
            _ => report.published += 1,
        }
        // One line, at warn where something needs a look: a level is fixed at each call site, so
        // the fields are written once for both.
        macro_rules! line {
            ($level:ident $(, $extra:ident = $value:expr)?) => {
                tracing::$level!(
                    record = record.event_id.as_str(),
                    event = notice.event.as_str(),
                    id,
                    topic,
                    bus,
                    outcome,
                    $($extra = $value,)?
                    "{LOG_LINE}"
                )
            };
        }
        if outcome == UNCONFIRMED || !note.is_empty() {
            line!(warn, note = note.as_str());
        } else {
            line!(info);
        }
    }
    report
}

/// The record line's outcome of a delivery the topic did not refuse and nothing failed for now.
fn outcome(delivery: &Delivery) -> &'static str {
    let sent_now = [Some(&delivery.topic), delivery.bus.as_ref()]
        .into_iter()
        .flatten()
        .any(|r| matches!(r, Ok(Sent::Published)));
    match delivery.topic {
        Ok(Sent::Unconfirmed) => UNCONFIRMED,
        _ if sent_now => PUBLISHED,
        _ => ALREADY,
    }
}

/// Logs and counts a record given up for good, with its item's key.
fn skip(report: &mut Report, record: &Record, reason: &str) {
    report.skipped += 1;
    let key = record.key.clone().unwrap_or_default();
    tracing::error!(
        record = record.event_id.as_str(),
        pk = key.pk.as_str(),
        sk = key.sk.as_str(),
        outcome = SKIPPED,
        reason,
        "{LOG_LINE}"
    );
}

/// The notice a record calls for, if any; `Err` says why the record cannot be read, which no
/// retry changes.
pub fn notice(notifier: &Notifier, record: &Record) -> Result<Option<Notice>, String> {
    let fail = |reason: String| format!("record {}: {reason}", record.event_id);
    let old = record.old.as_ref().map_err(|e| fail(e.clone()))?;
    let new = record.new.as_ref().map_err(|e| fail(e.clone()))?;
    let change = decide(old.as_ref(), new.as_ref()).map_err(|e| fail(e.to_string()))?;
    Ok(change.map(|c| notifier.notice(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::notify::MemoryPublisher;
    use crate::testing::{ids, notifier, records_of, run};

    /// The records the stream would carry for a shipment's life delivered in order: one state
    /// change per delivery, each a new status.
    fn life() -> Vec<Record> {
        records_of(
            &[
                fixtures::SHIPMENT_IN_TRANSIT,
                fixtures::SHIPMENT_FAILED_ATTEMPT,
                fixtures::SHIPMENT_EXCEPTION_STOCK,
                fixtures::SHIPMENT_DELIVERED_1_3,
            ],
            |_| true,
        )
    }

    fn sequence_numbers(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.sequence_number.clone()).collect()
    }

    #[test]
    fn a_failed_publish_mid_batch_is_retried_in_order_and_nothing_twice() {
        let records = life();
        let undisturbed = MemoryPublisher::new();
        assert!(run(publish(&notifier(), &undisturbed, &records, None))
            .retry
            .is_empty());
        let expected = ids(&undisturbed.published());
        assert_eq!(expected.len(), 4, "one notice per status change");

        let publisher = MemoryPublisher::new();
        publisher.fail_after(2);
        let retry = run(publish(&notifier(), &publisher, &records, None)).retry;
        assert_eq!(ids(&publisher.published()), expected[..2]);
        // The failed record and every one after it, in order, as Lambda resumes the batch.
        let from = records
            .iter()
            .position(|r| r.sequence_number == retry[0])
            .expect("a record");
        assert_eq!(retry, sequence_numbers(&records[from..]));
        assert!(
            run(publish(&notifier(), &publisher, &records[from..], None))
                .retry
                .is_empty()
        );
        assert_eq!(ids(&publisher.published()), expected);
    }

    #[test]
    fn an_unreadable_record_is_skipped_and_counted_and_the_others_published() {
        let mut records = life();
        let all = MemoryPublisher::new();
        run(publish(&notifier(), &all, &records, None));
        let bad = records
            .iter()
            .position(|r| {
                notice(&notifier(), r)
                    .ok()
                    .flatten()
                    .is_some_and(|n| n.id == ids(&all.published())[1])
            })
            .expect("the record of the second notice");
        records[bad].new = Err("not an item".into());
        let publisher = MemoryPublisher::new();
        let report = run(publish(&notifier(), &publisher, &records, None));
        assert!(report.retry.is_empty(), "none reported failed: {report:?}");
        assert_eq!(report.skipped, 1);
        assert_eq!(report.published, 3);
        let mut expected = ids(&all.published());
        expected.remove(1);
        assert_eq!(ids(&publisher.published()), expected);
    }

    #[test]
    fn a_notice_the_service_refuses_is_skipped_and_the_batch_goes_on() {
        let records = life();
        let all = MemoryPublisher::new();
        run(publish(&notifier(), &all, &records, None));
        let expected = ids(&all.published());
        let publisher = MemoryPublisher::new();
        publisher.refuse(expected[0].clone());
        let report = run(publish(&notifier(), &publisher, &records, None));
        assert!(report.retry.is_empty(), "{report:?}");
        assert_eq!((report.published, report.skipped), (3, 1));
        assert_eq!(ids(&publisher.published()), expected[1..]);
    }

    #[test]
    fn a_slow_publisher_near_the_deadline_leaves_the_rest_for_a_retry_without_duplicates() {
        let records = life();
        let all = MemoryPublisher::new();
        run(publish(&notifier(), &all, &records, None));
        let expected = ids(&all.published());

        // Each publish takes 40 ms at least, one may take up to 50 ms: with 120 ms left, at most
        // two are started (120 and 80 ms left), never a third (40 ms left at most). A busy
        // machine only leaves fewer: the bound holds whatever its speed.
        let publisher = MemoryPublisher::new();
        publisher.slow(Duration::from_millis(40));
        let deadline = Deadline {
            at: Instant::now() + Duration::from_millis(120),
            reserve: Duration::from_millis(50),
        };
        let first = run(publish(&notifier(), &publisher, &records, Some(deadline)));
        assert!(first.deadline, "{first:?}");
        assert!(first.published <= 2, "{first:?}");
        assert_eq!(ids(&publisher.published()), expected[..first.published]);
        // Lambda retries exactly what was reported; nothing published before is published again.
        let from = records
            .iter()
            .position(|r| r.sequence_number == first.retry[0])
            .expect("a record");
        assert_eq!(first.retry, sequence_numbers(&records[from..]));
        let second = run(publish(&notifier(), &publisher, &records[from..], None));
        assert!(second.retry.is_empty());
        assert_eq!(ids(&publisher.published()), expected);
    }

    #[test]
    fn a_deadline_already_too_close_publishes_nothing_and_retries_everything() {
        let records = life();
        let publisher = MemoryPublisher::new();
        let deadline = Deadline {
            at: Instant::now() + Duration::from_millis(10),
            reserve: Duration::from_secs(1),
        };
        let report = run(publish(&notifier(), &publisher, &records, Some(deadline)));
        assert_eq!(report.retry, sequence_numbers(&records));
        assert!(publisher.published().is_empty());
    }
}
