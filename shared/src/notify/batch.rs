//! Publishing a batch of table changes in order.
//!
//! Stream batches are ordered and Lambda resumes a batch from its lowest failed record, so the
//! first failure stops the batch: the records after it are reported failed too and are retried
//! in order, and none that was published is published again.

use super::{decide, Notice, Notifier, Publisher};
use serde_json::Value;

/// One change of a table item, as the stream delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The stream's id of the record, for logs.
    pub event_id: String,
    /// Where the stream resumes a batch from this record.
    pub sequence_number: String,
    /// The item before and after the write; `Err` holds why an image could not be read.
    pub old: Result<Option<Value>, String>,
    pub new: Result<Option<Value>, String>,
}

/// Publishes what each record calls for, in order, and returns the sequence numbers of the
/// records to retry: the first that failed and every one after it.
pub async fn publish<P: Publisher>(
    notifier: &Notifier,
    publisher: &P,
    records: &[Record],
) -> Vec<String> {
    for (i, record) in records.iter().enumerate() {
        let outcome = match notice(notifier, record) {
            Ok(None) => Ok(()),
            Ok(Some(notice)) => match publisher.publish(&notice).await {
                Ok(()) => {
                    tracing::info!(
                        record = record.event_id.as_str(),
                        event = notice.event.as_str(),
                        id = notice.id.as_str(),
                        outcome = "published",
                        "notification"
                    );
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        if let Err(reason) = outcome {
            tracing::error!(
                record = record.event_id.as_str(),
                outcome = "failed",
                reason = reason.as_str(),
                retried = records.len() - i,
                "notification"
            );
            return records[i..]
                .iter()
                .map(|r| r.sequence_number.clone())
                .collect();
        }
    }
    Vec::new()
}

/// The notice a record calls for, if any.
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
    use crate::kind::Kind;
    use crate::notify::MemoryPublisher;
    use crate::webhook::tests::{post, run, webhook};

    fn notifier() -> Notifier {
        crate::config::NotifierConfig::from_lookup(|var| {
            (var == crate::config::TOPIC_ARN).then(|| "local".to_owned())
        })
        .expect("config")
        .notifier
    }

    /// The records the stream would carry for a shipment's life delivered in order: one state
    /// change per delivery, each a new status.
    fn life() -> Vec<Record> {
        let hook = webhook(Kind::Shipment);
        let mut records = Vec::new();
        for f in [
            fixtures::SHIPMENT_IN_TRANSIT,
            fixtures::SHIPMENT_FAILED_ATTEMPT,
            fixtures::SHIPMENT_EXCEPTION_STOCK,
            fixtures::SHIPMENT_DELIVERED_1_3,
        ] {
            let before = hook.store.items();
            run(hook.handle(post(f.bytes())));
            for (key, new) in hook.store.items() {
                if before.get(&key) != Some(&new) {
                    let n = records.len();
                    records.push(Record {
                        event_id: format!("r{n}"),
                        sequence_number: format!("{n:03}"),
                        old: Ok(before.get(&key).cloned()),
                        new: Ok(Some(new)),
                    });
                }
            }
        }
        records
    }

    fn ids(notices: &[Notice]) -> Vec<String> {
        notices.iter().map(|n| n.id.clone()).collect()
    }

    #[test]
    fn a_failed_publish_mid_batch_is_retried_in_order_and_nothing_twice() {
        let records = life();
        let undisturbed = MemoryPublisher::new();
        assert!(run(publish(&notifier(), &undisturbed, &records)).is_empty());
        let expected = ids(&undisturbed.published());
        assert_eq!(expected.len(), 4, "one notice per status change");

        let publisher = MemoryPublisher::new();
        publisher.fail_after(2);
        let retry = run(publish(&notifier(), &publisher, &records));
        assert_eq!(ids(&publisher.published()), expected[..2]);
        // The failed record and every one after it, in order, as Lambda resumes the batch.
        let from = records
            .iter()
            .position(|r| r.sequence_number == retry[0])
            .expect("a record");
        let tail: Vec<String> = records[from..]
            .iter()
            .map(|r| r.sequence_number.clone())
            .collect();
        assert_eq!(retry, tail);
        assert!(run(publish(&notifier(), &publisher, &records[from..])).is_empty());
        assert_eq!(ids(&publisher.published()), expected);
    }

    #[test]
    fn an_unreadable_record_stops_the_batch_there() {
        let mut records = life();
        records[1].new = Err("not an item".into());
        let publisher = MemoryPublisher::new();
        let retry = run(publish(&notifier(), &publisher, &records));
        assert_eq!(retry.len(), records.len() - 1);
        assert_eq!(retry[0], records[1].sequence_number);
    }
}
