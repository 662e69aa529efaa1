//! The stuck check, run on a schedule: for each channel, the open shipments whose last change is
//! older than the shortest threshold (a query of the open index, never a scan), each judged by
//! [`rule`]; a stuck episode not alerted yet is first claimed on its state item through the
//! [`Episodes`] port (a conditional write: two concurrent runs alert once), then published as
//! `shipment.stuck` ([`notice`]). A publish that fails for a while gives the claim back, so the
//! next run tries again; one refused for good keeps it, so it is not retried every run. The
//! DynamoDB episodes are `aws::stuck`'s.

pub mod notice;
pub mod rule;

use crate::notify::batch::{Deadline, UNCONFIRMED};
use crate::notify::once::Sent;
use crate::notify::{Notifier, PublishError, Publisher};
use crate::read::Reader;
use crate::store::{MemoryStore, StoreError};
use crate::table::{ORD, STATE, STUCK_ALERTED};
use chrono::{DateTime, Utc};
use rule::{check, Episode, StuckRule, Verdict};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::time::Instant;

/// The message of the run's one summary line, which the template's metric filter counts.
pub const LOG_LINE: &str = "stuck check";
/// The message of the line of each alert, and of each channel that could not be read.
pub const ALERT_LINE: &str = "stuck alert";
pub const PUBLISHED: &str = "published";
/// Something went wrong: an index that could not be read, a claim or a publish that failed.
pub const FAILED: &str = "failed";
/// An item that cannot be read as a shipment state: left alone.
pub const SKIPPED: &str = "skipped";
/// The deadline came first: the rest waits for the next run.
pub const DEFERRED: &str = "deferred";
pub const DONE: &str = "done";

/// Where stuck episodes are recorded as alerted: on the shipment's state item.
pub trait Episodes: Send + Sync {
    /// Records episode `key` (the state's `ord`) of shipment `pk` as alerted, if its state is
    /// still that one and the episode is not recorded yet; whether this call recorded it.
    fn claim(&self, pk: &str, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes back a claim whose alert could not be published, if it is still there.
    fn release(&self, pk: &str, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The memory store keeps episodes with the table's conditions.
impl Episodes for MemoryStore {
    async fn claim(&self, pk: &str, key: &str) -> Result<bool, StoreError> {
        self.update_if(pk, STATE, |item| {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            let current = text(ORD).as_deref() == Some(key);
            let alerted = text(STUCK_ALERTED).as_deref() == Some(key);
            match item.as_object_mut() {
                Some(map) if current && !alerted => {
                    map.insert(STUCK_ALERTED.to_owned(), Value::String(key.to_owned()));
                    true
                }
                _ => false,
            }
        })
    }

    async fn release(&self, pk: &str, key: &str) -> Result<(), StoreError> {
        self.update_if(pk, STATE, |item| match item.as_object_mut() {
            Some(map) if map.get(STUCK_ALERTED).and_then(Value::as_str) == Some(key) => {
                map.remove(STUCK_ALERTED).is_some()
            }
            _ => false,
        })
        .map(|_| ())
    }
}

/// What a stuck check came to: its answer and its [`LOG_LINE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StuckSummary {
    pub channels: usize,
    /// Open shipments past the shortest threshold, as the index gave them.
    pub open: usize,
    /// Alerts published.
    pub alerted: usize,
    /// Stuck, and their episode alerted already (by an earlier or a concurrent run).
    pub already: usize,
    /// Channels that could not be read, claims and publishes that failed.
    pub failed: usize,
    /// Items that are not readable shipment states.
    pub skipped: usize,
    /// Stuck episodes left for the next run by the deadline.
    pub deferred: usize,
    /// Alerts an earlier attempt claimed on the topic and never confirmed (its claim could not
    /// be given back after a failed send): not sent again, so maybe never sent. Counted apart,
    /// as the notifier's are.
    pub unconfirmed: usize,
}

impl StuckSummary {
    pub fn outcome(&self) -> &'static str {
        if self.failed > 0 {
            FAILED
        } else if self.deferred > 0 {
            DEFERRED
        } else {
            DONE
        }
    }
}

/// What a run needs besides the ports.
pub struct StuckCheck<'a> {
    pub rule: StuckRule,
    pub notifier: &'a Notifier,
    pub channels: &'a [String],
}

impl StuckCheck<'_> {
    /// Checks every channel at `now`, alerting each new stuck episode once; logs one summary line.
    pub async fn run<R: Reader, E: Episodes, P: Publisher>(
        &self,
        reader: &R,
        episodes: &E,
        publisher: &P,
        now: DateTime<Utc>,
        deadline: Option<Deadline>,
    ) -> StuckSummary {
        let mut summary = StuckSummary {
            channels: self.channels.len(),
            ..StuckSummary::default()
        };
        let cutoff = self.rule.cutoff(now);
        for channel in self.channels {
            let items = match reader.open_before(channel, &cutoff).await {
                Ok(items) => items,
                Err(e) => {
                    summary.failed += 1;
                    tracing::error!(
                        channel = channel.as_str(),
                        outcome = FAILED,
                        reason = e.to_string().as_str(),
                        "{ALERT_LINE}"
                    );
                    continue;
                }
            };
            summary.open += items.len();
            for item in &items {
                match check(item, &self.rule, now) {
                    Err(reason) => {
                        summary.skipped += 1;
                        let pk = item.get(crate::table::PK).and_then(Value::as_str);
                        tracing::warn!(
                            pk = pk.unwrap_or_default(),
                            outcome = SKIPPED,
                            reason = reason.as_str(),
                            "{ALERT_LINE}"
                        );
                    }
                    Ok(Verdict::Alerted) => summary.already += 1,
                    Ok(Verdict::Final | Verdict::Moving) => {}
                    Ok(Verdict::Stuck(episode)) => {
                        let late = deadline.is_some_and(|d| {
                            Instant::now()
                                .checked_add(d.reserve)
                                .is_none_or(|t| t >= d.at)
                        });
                        if late {
                            summary.deferred += 1;
                            continue;
                        }
                        self.alert(&episode, episodes, publisher, &mut summary)
                            .await;
                    }
                }
            }
        }
        tracing::info!(
            channels = summary.channels,
            open = summary.open,
            alerted = summary.alerted,
            already = summary.already,
            failed = summary.failed,
            skipped = summary.skipped,
            deferred = summary.deferred,
            unconfirmed = summary.unconfirmed,
            outcome = summary.outcome(),
            "{LOG_LINE}"
        );
        summary
    }

    /// Claims the episode, then publishes its alert; a temporary failure gives the claim back.
    async fn alert<E: Episodes, P: Publisher>(
        &self,
        episode: &Episode,
        episodes: &E,
        publisher: &P,
        summary: &mut StuckSummary,
    ) {
        let pk = episode.state.pk.as_str();
        let failed = |summary: &mut StuckSummary, reason: &str| {
            summary.failed += 1;
            tracing::error!(pk, outcome = FAILED, reason, "{ALERT_LINE}");
        };
        match episodes.claim(pk, episode.key()).await {
            // Alerted meanwhile by a concurrent run, or the shipment changed since the query.
            Ok(false) => summary.already += 1,
            Err(e) => failed(summary, &e.to_string()),
            Ok(true) => {
                let notice = episode.notice(self.notifier);
                let delivery = publisher.deliver(&notice).await;
                crate::notify::bus::log_bus_refusal(&notice, &delivery);
                match delivery.result() {
                    // The topic's email and SMS go at most once: an earlier attempt's claim
                    // left unfinished means this alert may never have reached anyone.
                    Ok(()) if delivery.topic == Ok(Sent::Unconfirmed) => {
                        summary.unconfirmed += 1;
                        tracing::warn!(
                            pk,
                            id = notice.id.as_str(),
                            outcome = UNCONFIRMED,
                            "{ALERT_LINE}"
                        );
                    }
                    Ok(()) => {
                        summary.alerted += 1;
                        tracing::info!(
                            pk,
                            id = notice.id.as_str(),
                            reason = format!("{:?}", episode.reason).to_lowercase().as_str(),
                            days = episode.days(),
                            outcome = PUBLISHED,
                            "{ALERT_LINE}"
                        );
                    }
                    Err(e @ PublishError::Permanent(_)) => failed(summary, &e.to_string()),
                    Err(e @ PublishError::Temporary(_)) => {
                        let released = episodes.release(pk, episode.key()).await;
                        let reason = match released {
                            Ok(()) => format!("{e}; the next run tries again"),
                            Err(r) => format!("{e}; the claim could not be taken back ({r}): this episode will not be alerted"),
                        };
                        failed(summary, &reason);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::kind::Kind;
    use crate::notify::{EventType, MemoryPublisher, Notice};
    use crate::store::MemoryArchive;
    use crate::testing::{at, deliver, run};
    use crate::webhook::Webhook;

    fn hook() -> Webhook<MemoryStore, MemoryArchive> {
        Webhook::new(
            Kind::Shipment,
            fixtures::demo_config("t").settings,
            MemoryStore::new(),
            MemoryArchive::default(),
        )
    }

    fn notifier() -> Notifier {
        crate::config::NotifierConfig::from_lookup(|v| {
            (v == crate::config::TOPIC_ARN).then(|| "t".to_owned())
        })
        .expect("config")
        .notifier
    }

    fn trackings(notices: &[Notice]) -> Vec<String> {
        notices
            .iter()
            .map(|n| {
                assert_eq!(n.event, EventType::Stuck);
                n.document["shipment"]["trackingNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn check_at<'a>(notifier: &'a Notifier, channels: &'a [String]) -> StuckCheck<'a> {
        StuckCheck {
            rule: StuckRule::default(),
            notifier,
            channels,
        }
    }

    #[test]
    fn each_episode_is_alerted_once_and_a_change_starts_a_new_one() {
        let hook = hook();
        deliver(&hook, "STOCK", "2026-03-01 10:00:00", 6, Some(1));
        deliver(&hook, "TRANSIT", "2026-03-01 10:00:00", 3, None);
        deliver(&hook, "FRESH", "2026-03-09 10:00:00", 3, None);
        deliver(&hook, "DONE", "2026-02-01 10:00:00", 99, None);
        let (notifier, channels) = (notifier(), vec!["shop-it".to_owned()]);
        let check = check_at(&notifier, &channels);
        let publisher = MemoryPublisher::new();
        let store = &hook.store;

        let first = run(check.run(store, store, &publisher, at("2026-03-10T12:00:00Z"), None));
        assert_eq!(
            (first.alerted, first.already, first.outcome()),
            (2, 0, DONE)
        );
        assert_eq!(trackings(&publisher.published()), ["STOCK", "TRANSIT"]);
        // The next runs: nothing new.
        let second = run(check.run(store, store, &publisher, at("2026-03-10T13:00:00Z"), None));
        assert_eq!((second.alerted, second.already), (0, 2));
        assert_eq!(publisher.published().len(), 2);

        // The stock shipment moves on, then stops again: a new episode, alerted once.
        deliver(&hook, "STOCK", "2026-03-11 09:00:00", 3, None);
        let third = run(check.run(store, store, &publisher, at("2026-03-12T12:00:00Z"), None));
        assert_eq!((third.alerted, third.already), (0, 1));
        let fourth = run(check.run(store, store, &publisher, at("2026-03-17T12:00:00Z"), None));
        assert_eq!(
            (fourth.alerted, fourth.already),
            (2, 1),
            "FRESH, and STOCK again"
        );
        // Oldest change first.
        assert_eq!(
            trackings(&publisher.published()),
            ["STOCK", "TRANSIT", "FRESH", "STOCK"]
        );
        let ids: std::collections::BTreeSet<String> =
            publisher.published().iter().map(|n| n.id.clone()).collect();
        assert_eq!(ids.len(), 4, "each episode its own id");
        assert!(
            run(check.run(store, store, &publisher, at("2026-03-18T12:00:00Z"), None)).alerted == 0
        );
    }

    #[test]
    fn a_failed_publish_gives_the_claim_back_and_the_next_run_alerts() {
        let hook = hook();
        deliver(&hook, "STOCK", "2026-03-01 10:00:00", 6, Some(1));
        let (notifier, channels) = (notifier(), vec!["shop-it".to_owned()]);
        let check = check_at(&notifier, &channels);
        let publisher = MemoryPublisher::new();
        publisher.fail_after(0);
        let store = &hook.store;
        let now = at("2026-03-10T12:00:00Z");
        let failed = run(check.run(store, store, &publisher, now, None));
        assert_eq!(
            (failed.alerted, failed.failed, failed.outcome()),
            (0, 1, FAILED)
        );
        assert!(store
            .items()
            .values()
            .all(|i| i.get(STUCK_ALERTED).is_none()));
        let retried = run(check.run(store, store, &publisher, now, None));
        assert_eq!((retried.alerted, retried.failed), (1, 0));

        // Refused for good: kept claimed, so not refused again every run.
        deliver(&hook, "BAD", "2026-03-01 10:00:00", 3, None);
        let refusing = MemoryPublisher::new();
        let bad_state = store
            .items()
            .into_values()
            .find(|i| i["trackingNumber"] == "BAD" && i["sk"] == STATE)
            .expect("state");
        let Ok(Verdict::Stuck(episode)) = rule::check(&bad_state, &StuckRule::default(), now)
        else {
            panic!("BAD is stuck");
        };
        refusing.refuse(episode.notice(&notifier).id);
        let refused = run(check_at(&notifier, &channels).run(store, store, &refusing, now, None));
        assert_eq!((refused.failed, refused.already), (1, 1));
        let after = run(check_at(&notifier, &channels).run(store, store, &refusing, now, None));
        assert_eq!((after.failed, after.already), (0, 2));
    }

    #[test]
    fn an_unreadable_store_fails_the_run_and_a_deadline_defers_the_rest() {
        let hook = hook();
        deliver(&hook, "STOCK", "2026-03-01 10:00:00", 6, Some(1));
        let (notifier, channels) = (notifier(), vec!["shop-it".to_owned()]);
        let check = check_at(&notifier, &channels);
        let publisher = MemoryPublisher::new();
        let now = at("2026-03-10T12:00:00Z");
        hook.store.set_down(true);
        let down = run(check.run(&hook.store, &hook.store, &publisher, now, None));
        hook.store.set_down(false);
        // The memory reader does not go down; the claim does.
        assert_eq!((down.failed, down.alerted, down.outcome()), (1, 0, FAILED));
        let deadline = Deadline {
            at: Instant::now(),
            reserve: std::time::Duration::from_secs(1),
        };
        let late = run(check.run(&hook.store, &hook.store, &publisher, now, Some(deadline)));
        assert_eq!(
            (late.deferred, late.alerted, late.outcome()),
            (1, 0, DEFERRED)
        );
        assert!(publisher.published().is_empty());
    }

    /// A send whose claim could not be given back leaves it unfinished: the next run does not
    /// send the alert again (at most once) and counts it as unconfirmed, never as alerted.
    #[test]
    fn an_alert_left_unconfirmed_is_counted_apart_not_as_alerted() {
        use crate::notify::bus::{FanOut, MemoryBus};
        use crate::notify::once::{MemoryClaims, Target};
        let hook = hook();
        deliver(&hook, "STOCK", "2026-03-01 10:00:00", 6, Some(1));
        let (notifier, channels) = (notifier(), vec!["shop-it".to_owned()]);
        let now = at("2026-03-10T12:00:00Z");
        let state = hook
            .store
            .items()
            .into_values()
            .find(|i| i["trackingNumber"] == "STOCK" && i["sk"] == STATE)
            .expect("state");
        let Ok(Verdict::Stuck(episode)) = rule::check(&state, &StuckRule::default(), now) else {
            panic!("STOCK is stuck");
        };
        let fan_out = FanOut {
            publisher: MemoryPublisher::new(),
            bus: None::<MemoryBus>,
            claims: MemoryClaims::new(),
        };
        fan_out
            .claims
            .leave_unfinished(&episode.notice(&notifier).id, Target::Topic);
        let store = &hook.store;
        let summary = run(check_at(&notifier, &channels).run(store, store, &fan_out, now, None));
        assert_eq!(
            (summary.unconfirmed, summary.alerted, summary.failed),
            (1, 0, 0),
            "{summary:?}"
        );
        assert!(fan_out.publisher.published().is_empty(), "at most once");
    }
}
