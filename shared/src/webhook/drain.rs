//! The inbox drained: deliveries the table could not take, kept whole in the archive's inbox,
//! recorded through the webhook's own path ([`Webhook::reingest`]) once the table answers again,
//! at the time Qapla' delivered them, then removed. Identity, state order and notifications are
//! those of the table's own rules, so a drained delivery ends as it would have without the outage.
//!
//! Each object is tried on its own: one that fails does not hold back the others (the order of
//! one shipment's, return's or order's changes is kept by the table's order key anyway). A run
//! stops early only when the table itself does not answer ([`Store::answers`]); an object that
//! fails while the table answers has the attempt counted in itself, and after [`MAX_ATTEMPTS`]
//! runs, or at once if it cannot be read, it moves to the quarantine with its reason.

use super::{Mode, Outcome, Rejection, Webhook};
use crate::archive::{Kept, Place, INBOX, QUARANTINE};
use crate::kind::Kind;
use crate::store::{Archive, Listed, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;

/// The most objects one listing returns; a run lists again while it makes room and has time.
pub const BATCH: usize = 500;

/// Runs (every 5 minutes: an hour) in which the table answered but an object could not be
/// recorded, before it is given up on and quarantined.
pub const MAX_ATTEMPTS: u32 = 12;

/// The message of the run's log line, which the template's metric filters read.
pub const LOG_LINE: &str = "inbox drain";

/// What a drain run did: its answer and its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainSummary {
    /// Recorded (or, where their content no longer validates, quarantined) and removed.
    pub drained: usize,
    /// Still in the inbox after the run (of those listed).
    pub waiting: usize,
    /// Tried and not recorded while the table answered: left in place, the attempt counted.
    pub failing: usize,
    /// Put in the quarantine by this run: objects given up on or unreadable, and entries whose
    /// content does not validate. What the quarantine alarm counts from the drain's line.
    pub quarantined: usize,
    /// How long the oldest waiting delivery has waited since Qapla' delivered it, in seconds.
    pub oldest_seconds: i64,
    /// `done`, `table_down` (the table does not answer: the run stopped), `deadline`, or
    /// `failed` (the archive could not be listed or read).
    pub outcome: &'static str,
}

/// One run over the inbox, stopping at `deadline` or when the table does not answer.
pub async fn run<S: Store, A: Archive>(
    webhook: &Webhook<S, A>,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> DrainSummary {
    let summary = drain(webhook, &webhook.archive, now, deadline).await;
    tracing::info!(
        drained = summary.drained,
        waiting = summary.waiting,
        failing = summary.failing,
        quarantined = summary.quarantined,
        oldest_seconds = summary.oldest_seconds,
        // What the inbox alarm compares with its threshold in minutes.
        oldest_minutes = summary.oldest_seconds / 60,
        outcome = summary.outcome,
        "{}",
        LOG_LINE
    );
    summary
}

/// What became of one object.
enum Step {
    /// Recorded and removed; `quarantined` entries of it kept in the quarantine.
    Drained { quarantined: usize },
    /// Moved to the quarantine.
    Quarantined,
    /// Not recorded, the table answering: left in place, its attempt counted.
    Failing,
    /// Removed by a concurrent run.
    Gone,
    /// Left in place, nothing counted (the archive failed on it).
    Left,
    /// The table does not answer: the run stops.
    TableDown,
    /// The archive could not be read: the run stops.
    ArchiveFailed,
}

async fn drain<S: Store, A: Archive>(
    webhook: &Webhook<S, A>,
    archive: &A,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> DrainSummary {
    let mut summary = DrainSummary {
        outcome: "done",
        ..DrainSummary::default()
    };
    let mut tried: HashSet<String> = HashSet::new();
    let mut left: Vec<Listed> = Vec::new();
    'listings: loop {
        let listed = match archive.list(INBOX, BATCH).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(error = %e, "inbox list");
                summary.outcome = "failed";
                break;
            }
        };
        let full = listed.len() >= BATCH;
        // What this run already tried and left is listed again first: skipped.
        let fresh: Vec<Listed> = listed
            .into_iter()
            .filter(|o| !tried.contains(&o.key))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let mut objects = fresh.into_iter();
        while let Some(object) = objects.next() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                summary.outcome = "deadline";
                left.push(object);
                left.extend(objects);
                break 'listings;
            }
            tried.insert(object.key.clone());
            match one(webhook, archive, &object, now).await {
                Step::Drained { quarantined } => {
                    summary.drained += 1;
                    summary.quarantined += quarantined;
                }
                Step::Quarantined => summary.quarantined += 1,
                Step::Failing => {
                    summary.failing += 1;
                    left.push(object);
                }
                Step::Gone => {}
                Step::Left => left.push(object),
                stop @ (Step::TableDown | Step::ArchiveFailed) => {
                    summary.outcome = match stop {
                        Step::TableDown => "table_down",
                        _ => "failed",
                    };
                    left.push(object);
                    left.extend(objects);
                    break 'listings;
                }
            }
        }
        if !full {
            break;
        }
    }
    summary.waiting = left.len();
    summary.oldest_seconds = left
        .iter()
        // From Qapla's delivery (in the key), not the object's last write.
        .filter_map(|o| Kept::received_from_inbox_key(&o.key).or(o.modified))
        .map(|t| (now - t).num_seconds().max(0))
        .max()
        .unwrap_or(0);
    summary
}

/// Tries one object of the inbox.
async fn one<S: Store, A: Archive>(
    webhook: &Webhook<S, A>,
    archive: &A,
    object: &Listed,
    now: DateTime<Utc>,
) -> Step {
    let key = object.key.as_str();
    let bytes = match archive.get(key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Step::Gone,
        Err(e) => {
            tracing::warn!(key, error = %e, "inbox get");
            return Step::ArchiveFailed;
        }
    };
    let mut kept = match Kept::read(Place::Inbox, &bytes) {
        Ok(kept) => kept,
        Err(e) => {
            let kept = unreadable(key, &bytes, object.modified.unwrap_or(now), e.to_string());
            return quarantine(archive, key, kept).await;
        }
    };
    let failure = match webhook.reingest(&kept, Mode::Drain).await {
        Ok(outcome @ (Outcome::Recorded(_) | Outcome::Quarantined { .. })) => {
            if let Err(e) = archive.delete(key).await {
                // Recorded: the next run finds it a duplicate and removes it then.
                tracing::warn!(key, error = %e, "inbox delete");
                return Step::Left;
            }
            let quarantined = match outcome {
                Outcome::Quarantined { kept, .. } => kept,
                _ => 0,
            };
            return Step::Drained { quarantined };
        }
        Ok(Outcome::Deferred) => "deferred".to_owned(),
        Err(e @ (Rejection::Store(_) | Rejection::Unkept { .. })) => e.to_string(),
        // Nothing a later run changes: a channel no longer configured, a body that is no
        // delivery.
        Err(e) => {
            kept.reason = e.to_string();
            return quarantine(archive, key, kept).await;
        }
    };
    // The table's own failure, or this object's? Only the former stops the run.
    if !webhook.store.answers().await {
        return Step::TableDown;
    }
    kept.attempts = kept.attempts.saturating_add(1);
    if kept.attempts >= MAX_ATTEMPTS {
        kept.reason = format!(
            "not recorded in {} drain runs while the table answered; last: {failure}",
            kept.attempts
        );
        return quarantine(archive, key, kept).await;
    }
    // Rewritten under the same key: its place in the listing and its age do not change.
    match archive.put(key, kept.bytes()).await {
        Ok(()) => Step::Failing,
        Err(e) => {
            tracing::warn!(key, error = %e, "inbox attempt");
            Step::Left
        }
    }
}

/// An inbox object that is no kept delivery, as a quarantined one, so that the quarantine's
/// tools list and show it: its text as the body, its reason, no channel it could be recorded
/// under.
fn unreadable(key: &str, bytes: &[u8], at: DateTime<Utc>, reason: String) -> Kept {
    let webhook = key
        .strip_prefix(INBOX)
        .and_then(|rest| rest.split('/').next())
        .and_then(Kind::parse)
        .unwrap_or(Kind::Shipment);
    let mut body = serde_json::Map::new();
    body.insert(
        "unreadable".to_owned(),
        String::from_utf8_lossy(bytes).into_owned().into(),
    );
    // Its own object in the quarantine (the id is the body's): two unreadable objects alike
    // are still two.
    body.insert("inboxKey".to_owned(), key.into());
    let received = Kept::received_from_inbox_key(key).unwrap_or(at);
    Kept::new(
        Place::Quarantine,
        webhook,
        webhook,
        UNREADABLE_CHANNEL,
        &received,
        reason,
        body,
    )
}

/// The channel of an unreadable object in the quarantine (its key and its document): whatever it
/// came from cannot be told. A retry refuses it unless such a channel is configured.
pub const UNREADABLE_CHANNEL: &str = "unreadable";

/// Moves an inbox object to the quarantine: put there first, then removed from the inbox (a
/// removal that fails leaves both, and the next run moves it again to the same key).
async fn quarantine<A: Archive>(archive: &A, key: &str, kept: Kept) -> Step {
    let kept = Kept {
        place: Place::Quarantine,
        ..kept
    };
    let to = kept.key();
    debug_assert!(to.starts_with(QUARANTINE));
    if let Err(e) = archive.put(&to, kept.bytes()).await {
        tracing::warn!(key, error = %e, "inbox quarantine");
        return Step::Left;
    }
    tracing::warn!(
        key,
        quarantine = to.as_str(),
        reason = kept.reason.as_str(),
        attempts = kept.attempts,
        "inbox object quarantined"
    );
    match archive.delete(key).await {
        Ok(()) => Step::Quarantined,
        Err(_) => Step::Left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, DEMO_CHANNEL};
    use crate::store::{MemoryArchive, MemoryStore, Recorded, StoreError};
    use crate::table::{Document, ShipmentHistory, ShipmentState};
    use crate::testing::{post, run as block, webhook};
    use serde_json::{json, Value};

    #[test]
    fn a_delivery_deferred_while_the_table_is_down_is_drained_once_it_answers() {
        let hook = webhook(Kind::Shipment);
        let undisturbed = webhook(Kind::Shipment);
        let bodies = [
            fixtures::SHIPMENT_IN_TRANSIT.bytes(),
            fixtures::SHIPMENT_EXCEPTION_STOCK.bytes(),
        ];
        hook.store.set_down(true);
        for body in bodies {
            let answer = block(hook.handle(post(body)));
            assert_eq!(
                (answer.status, answer.outcome.as_str(), answer.body()),
                (200, "deferred:store", r#"{"result":"OK"}"#)
            );
            block(undisturbed.handle(post(body)));
        }
        assert!(hook.store.items().is_empty());
        assert_eq!(hook.archive.objects().len(), 2);
        let archive = &hook.archive;
        // Still down: nothing moves, the age is reported.
        let first = block(run(&hook, Utc::now(), None));
        assert_eq!(
            (first.drained, first.waiting, first.outcome),
            (0, 2, "table_down")
        );
        hook.store.set_down(false);
        let second = block(run(&hook, Utc::now(), None));
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

    /// A memory store whose writes for one shipment (its tracking number in the state's key)
    /// fail as a call that keeps timing out would, while the table answers.
    struct Poisoned {
        inner: MemoryStore,
        tracking: String,
    }

    impl Store for Poisoned {
        async fn record_shipment(
            &self,
            state: &ShipmentState,
            history: &ShipmentHistory,
        ) -> Result<Recorded, StoreError> {
            if state.pk.ends_with(&format!("#{}", self.tracking)) {
                return Err(StoreError::Retryable("operation timed out".into()));
            }
            self.inner.record_shipment(state, history).await
        }
        async fn record_documents(&self, d: &[Document]) -> Result<Recorded, StoreError> {
            self.inner.record_documents(d).await
        }
        async fn answers(&self) -> bool {
            self.inner.answers().await
        }
    }

    fn poisoned(tracking: &str) -> Webhook<Poisoned, MemoryArchive> {
        let store = Poisoned {
            inner: MemoryStore::new(),
            tracking: tracking.to_owned(),
        };
        Webhook::new(
            Kind::Shipment,
            fixtures::demo_config("t").settings,
            store,
            MemoryArchive::default(),
        )
    }

    /// A shipment delivery of `tracking` kept in the inbox as received `minutes_ago`, under
    /// `channel`; its key.
    fn inbox(archive: &MemoryArchive, tracking: &str, channel: &str, minutes_ago: i64) -> String {
        let mut body = fixtures::SHIPMENT_IN_TRANSIT.json();
        body["trackingNumber"] = json!(tracking);
        let Value::Object(mut body) = body else {
            panic!("an object")
        };
        body.remove("apiKey");
        let at = Utc::now() - chrono::Duration::minutes(minutes_ago);
        let kept = Kept::new(
            Place::Inbox,
            Kind::Shipment,
            Kind::Shipment,
            channel,
            &at,
            "store unavailable".into(),
            body,
        );
        block(archive.put(&kept.key(), kept.bytes())).expect("put");
        kept.key()
    }

    fn recorded(store: &MemoryStore, tracking: &str) -> bool {
        store
            .items()
            .keys()
            .any(|(pk, sk)| sk == "STATE" && pk.ends_with(&format!("#{tracking}")))
    }

    fn quarantined(archive: &MemoryArchive) -> Vec<Kept> {
        archive
            .objects()
            .iter()
            .filter(|(k, _)| k.starts_with(QUARANTINE))
            .map(|(_, v)| Kept::read(Place::Quarantine, v).expect("a kept delivery"))
            .collect()
    }

    #[test]
    fn a_poisoned_object_first_does_not_keep_a_valid_one_behind_it_waiting() {
        let hook = poisoned("POISON1");
        let archive = &hook.archive;
        let first = inbox(archive, "POISON1", DEMO_CHANNEL, 40);
        inbox(archive, "VALID1", DEMO_CHANNEL, 30);
        let summary = block(run(&hook, Utc::now(), None));
        assert!(recorded(&hook.store.inner, "VALID1"), "{summary:?}");
        assert_eq!(
            (summary.drained, summary.failing, summary.waiting),
            (1, 1, 1)
        );
        // The table answered: this is the object's failure, not an outage.
        assert_eq!(summary.outcome, "done");
        // The one left counts its attempt, and its age is from its receipt, not its rewrite.
        let left = Kept::read(Place::Inbox, &archive.objects()[&first]).expect("kept");
        assert_eq!(left.attempts, 1);
        assert!(
            (40 * 60..45 * 60).contains(&summary.oldest_seconds),
            "{summary:?}"
        );
    }

    #[test]
    fn five_hundred_unreadable_objects_do_not_starve_a_valid_one() {
        let hook = webhook(Kind::Shipment);
        let archive = &hook.archive;
        // Listed before the valid one (an earlier day), a full listing of them.
        for i in 0..BATCH {
            let key = format!("inbox/shipments/2026-01-01/{i:04}.json");
            block(archive.put(&key, b"nope".to_vec())).expect("put");
        }
        inbox(archive, "GONE1", "a-channel-removed-since", 20);
        inbox(archive, "VALID2", DEMO_CHANNEL, 10);
        let summary = block(run(&hook, Utc::now(), None));
        assert!(recorded(&hook.store, "VALID2"), "{summary:?}");
        assert_eq!(
            (summary.drained, summary.quarantined, summary.waiting),
            (1, BATCH + 1, 0)
        );
        assert_eq!(summary.outcome, "done");
        // Never listed again: each is in the quarantine, with its reason.
        assert!(!archive.objects().keys().any(|k| k.starts_with(INBOX)));
        let kept = quarantined(archive);
        assert_eq!(kept.len(), BATCH + 1);
        let gone = kept
            .iter()
            .find(|k| k.channel == "a-channel-removed-since")
            .expect("the removed channel's");
        assert!(gone.reason.contains("not a channel"), "{}", gone.reason);
        let nope = kept
            .iter()
            .find(|k| k.channel == UNREADABLE_CHANNEL)
            .expect("an unreadable one");
        assert!(
            nope.reason.contains("not a kept delivery"),
            "{}",
            nope.reason
        );
        assert_eq!(nope.body["unreadable"], json!("nope"));
    }

    #[test]
    fn the_drain_says_table_down_only_with_the_table_down() {
        let hook = poisoned("POISON2");
        let archive = &hook.archive;
        let key = inbox(archive, "POISON2", DEMO_CHANNEL, 10);
        inbox(archive, "VALID3", DEMO_CHANNEL, 5);
        hook.store.inner.set_down(true);
        let before = archive.objects();
        let down = block(run(&hook, Utc::now(), None));
        assert_eq!(
            (down.outcome, down.drained, down.waiting, down.failing),
            ("table_down", 0, 2, 0)
        );
        // An outage counts no attempt against the objects.
        assert_eq!(archive.objects(), before);
        hook.store.inner.set_down(false);
        let up = block(run(&hook, Utc::now(), None));
        assert_eq!(
            (up.outcome, up.drained, up.failing),
            ("done", 1, 1),
            "one object failing with the table up is no outage"
        );
        assert!(archive.objects().contains_key(&key));
    }

    #[test]
    fn an_object_failing_twelve_runs_ends_in_the_quarantine_with_its_reason() {
        let hook = poisoned("POISON3");
        let archive = &hook.archive;
        let key = inbox(archive, "POISON3", DEMO_CHANNEL, 5);
        for n in 1..MAX_ATTEMPTS {
            let summary = block(run(&hook, Utc::now(), None));
            assert_eq!((summary.failing, summary.quarantined), (1, 0), "run {n}");
            let left = Kept::read(Place::Inbox, &archive.objects()[&key]).expect("kept");
            assert_eq!(left.attempts, n);
        }
        let last = block(run(&hook, Utc::now(), None));
        assert_eq!(
            (last.failing, last.quarantined, last.waiting, last.outcome),
            (0, 1, 0, "done")
        );
        assert!(!archive.objects().contains_key(&key));
        let kept = quarantined(archive);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].attempts, MAX_ATTEMPTS);
        assert!(
            kept[0].reason.contains("12 drain runs") && kept[0].reason.contains("timed out"),
            "{}",
            kept[0].reason
        );
        // Its receipt is kept: a retry records it at the time Qapla' delivered it.
        assert_eq!(kept[0].channel, DEMO_CHANNEL);
        // Never listed again.
        let after = block(run(&hook, Utc::now(), None));
        assert_eq!((after.failing, after.waiting), (0, 0));
    }
}
