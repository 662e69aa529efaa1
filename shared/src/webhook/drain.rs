//! The inbox drained: deliveries the table could not take, kept whole in the archive's inbox,
//! recorded through the webhook's own path ([`Webhook::reingest`]) once the table answers again,
//! at the time Qapla' delivered them, then removed. Identity, state order and notifications are
//! those of the table's own rules, so a drained delivery ends as it would have without the outage.

use super::{Mode, Outcome, Rejection, Webhook};
use crate::archive::{Kept, Place, INBOX};
use crate::store::{Archive, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Instant;

/// The most objects one run looks at: the rest waits for the next run.
pub const BATCH: usize = 500;

/// The message of the run's log line, which the template's metric filters read.
pub const LOG_LINE: &str = "inbox drain";

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Recorded (or, where their content no longer validates, quarantined) and removed.
    pub drained: usize,
    /// Still in the inbox after the run.
    pub waiting: usize,
    /// Objects the run could not read or record for a reason of their own (not a kept delivery,
    /// a channel no longer configured): left in place for an operator. `stuck` in the answer and
    /// the log line, as the operators read it.
    #[serde(rename = "stuck")]
    pub blocked: usize,
    /// How long the oldest waiting object has waited, in seconds.
    pub oldest_seconds: i64,
    /// `done`, `table_down` (the table still refuses: the run stopped), `deadline`, or `failed`
    /// (the archive could not be listed).
    pub outcome: &'static str,
}

/// One run over the inbox, stopping at `deadline` or at the first store failure (the table is
/// still down: the rest would fail alike).
pub async fn run<S: Store, A: Archive>(
    webhook: &Webhook<S>,
    archive: &A,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Summary {
    let summary = drain(webhook, archive, now, deadline).await;
    tracing::info!(
        drained = summary.drained,
        waiting = summary.waiting,
        stuck = summary.blocked,
        oldest_seconds = summary.oldest_seconds,
        // What the inbox alarm compares with its threshold in minutes.
        oldest_minutes = summary.oldest_seconds / 60,
        outcome = summary.outcome,
        "{}",
        LOG_LINE
    );
    summary
}

async fn drain<S: Store, A: Archive>(
    webhook: &Webhook<S>,
    archive: &A,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Summary {
    let mut summary = Summary {
        outcome: "done",
        ..Summary::default()
    };
    let listed = match archive.list(INBOX, BATCH).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, "inbox list");
            summary.outcome = "failed";
            return summary;
        }
    };
    let mut left = Vec::new();
    let mut objects = listed.into_iter();
    for object in objects.by_ref() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            summary.outcome = "deadline";
            left.push(object);
            break;
        }
        let kept = match archive.get(&object.key).await {
            Ok(Some(bytes)) => Kept::read(Place::Inbox, &bytes),
            // Removed by a concurrent run.
            Ok(None) => continue,
            Err(_) => {
                summary.outcome = "failed";
                left.push(object);
                break;
            }
        };
        let kept = match kept {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(key = object.key.as_str(), error = %e, "inbox object");
                summary.blocked += 1;
                left.push(object);
                continue;
            }
        };
        match webhook.reingest(&kept, Mode::Drain).await {
            Ok(Outcome::Recorded(_) | Outcome::Quarantined { .. }) => {
                if archive.delete(&object.key).await.is_err() {
                    // Recorded: the next run finds it a duplicate and removes it then.
                    left.push(object);
                } else {
                    summary.drained += 1;
                }
            }
            Err(Rejection::Store(_) | Rejection::Unkept { .. }) | Ok(Outcome::Deferred) => {
                summary.outcome = "table_down";
                left.push(object);
                break;
            }
            Err(_) => {
                summary.blocked += 1;
                left.push(object);
            }
        }
    }
    left.extend(objects);
    summary.waiting = left.len();
    summary.oldest_seconds = left
        .iter()
        .filter_map(|o| o.modified)
        .map(|t| (now - t).num_seconds().max(0))
        .max()
        .unwrap_or(0);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::kind::Kind;
    use crate::webhook::tests::{post, run as block, webhook};

    #[test]
    fn a_delivery_deferred_while_the_table_is_down_is_drained_once_it_answers() {
        let hook = webhook(Kind::Shipment);
        let undisturbed = webhook(Kind::Shipment);
        let bodies = [
            fixtures::SHIPMENT_IN_TRANSIT.bytes(),
            fixtures::SHIPMENT_EXCEPTION_STOCK.bytes(),
        ];
        hook.store.set_table_down(true);
        for body in bodies {
            let answer = block(hook.handle(post(body)));
            assert_eq!(
                (answer.status, answer.outcome.as_str(), answer.body()),
                (200, "deferred:store", r#"{"result":"OK"}"#)
            );
            block(undisturbed.handle(post(body)));
        }
        assert!(hook.store.items().is_empty());
        assert_eq!(hook.store.archive.objects().len(), 2);
        let archive = &hook.store.archive;
        // Still down: nothing moves, the age is reported.
        let first = block(run(&hook, archive, Utc::now(), None));
        assert_eq!(
            (first.drained, first.waiting, first.outcome),
            (0, 2, "table_down")
        );
        hook.store.set_table_down(false);
        let second = block(run(&hook, archive, Utc::now(), None));
        assert_eq!(
            (second.drained, second.waiting, second.outcome),
            (2, 0, "done")
        );
        assert!(archive.objects().is_empty());
        let strip = |items: std::collections::BTreeMap<(String, String), serde_json::Value>| {
            items
                .into_iter()
                .map(|(k, mut v)| {
                    if let Some(m) = v.as_object_mut() {
                        for volatile in ["receivedAt", "updatedAt", "expiresAt"] {
                            m.remove(volatile);
                        }
                    }
                    (k, v)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(hook.store.items()), strip(undisturbed.store.items()));
    }

    #[test]
    fn the_bucket_down_too_is_a_503_and_nothing_is_written() {
        let hook = webhook(Kind::Order);
        hook.store.set_down(true);
        let answer = block(hook.handle(post(fixtures::ORDERS.bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (503, "failed:store")
        );
        hook.store.set_down(false);
        assert!(hook.store.items().is_empty());
        assert!(hook.store.archive.objects().is_empty());
    }

    #[test]
    fn an_object_that_is_no_kept_delivery_stays_and_is_counted() {
        let hook = webhook(Kind::Shipment);
        let archive = &hook.store.archive;
        block(archive.put("inbox/shipments/2026-03-02/x.json", b"nope".to_vec())).expect("put");
        let summary = block(run(&hook, archive, Utc::now(), None));
        assert_eq!(
            (summary.blocked, summary.waiting, summary.outcome),
            (1, 1, "done")
        );
    }
}
