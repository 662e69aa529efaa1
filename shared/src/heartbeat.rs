//! The webhooks' heartbeat per channel. Qapla' disables a channel's webhook after 100 failed
//! deliveries and then sends nothing, while the other channels' deliveries keep the webhook-wide
//! heartbeat alarms quiet. So each webhook records, per channel, when it last accepted a
//! delivery ([`Beats`], at most once per [`BEAT_EVERY_MINUTES`] per channel and warm instance:
//! [`Pulse`]), and an hourly [`HeartbeatCheck`] reads every configured channel × webhook and
//! logs how long each has been silent ([`LOG_LINE`]) and how many pairs reached the silence
//! ([`SUMMARY_LINE`]), which the template counts and alarms on.

use crate::kind::Kind;
use crate::store::{lock, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// The message of the check's line for each channel and webhook.
pub const LOG_LINE: &str = "heartbeat";
/// The message of the check's one summary line, whose `silent` the template's alarm counts.
pub const SUMMARY_LINE: &str = "heartbeat check";
/// The outcomes of a check: every pair read, or some could not be.
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";
/// Hours without a delivery before a pair counts as silent, unless configured.
pub const DEFAULT_SILENCE_HOURS: u32 = 24;
/// A warm webhook writes a channel's heartbeat at most this often: far below any silence worth
/// an alarm, and one write per few minutes, not per delivery.
pub const BEAT_EVERY_MINUTES: i64 = 5;

/// What the table holds of one channel's heartbeat on one webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// When the webhook last accepted a delivery of the channel.
    pub last_delivery: Option<DateTime<Utc>>,
    /// When the check first looked at a pair no delivery had reached.
    pub watched_since: Option<DateTime<Utc>>,
}

/// What the check makes of one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Heard from (or watched) within the silence.
    Alive { hours: f64 },
    /// Nothing for the silence's hours or more.
    Silent { hours: f64 },
    /// No item at all: the check starts watching it now.
    Unseen,
}

/// The seconds between `since` and `now`; a time ahead of `now` (another clock) counts as now.
fn seconds_between(since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - since).num_seconds().max(0)
}

/// Seconds as hours to a hundredth, for the log line and the dashboard.
fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0
}

/// The rule: silent from the last delivery, or for a pair never delivered from when the check
/// first watched it (so a new channel alarms after the silence, not at once), for
/// `silence_hours` or more.
pub fn verdict(beat: Option<&Heartbeat>, now: DateTime<Utc>, silence_hours: u32) -> Verdict {
    let Some(since) = beat.and_then(|b| b.last_delivery.or(b.watched_since)) else {
        return Verdict::Unseen;
    };
    // Whole seconds decide, not the rounded hours the line shows.
    let seconds = seconds_between(since, now);
    let hours = hours(seconds);
    if seconds >= i64::from(silence_hours) * 3600 {
        Verdict::Silent { hours }
    } else {
        Verdict::Alive { hours }
    }
}

/// A boxed future: [`Beats`] is held by the webhook as a trait object, so that the pipeline's
/// type does not change with it.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The webhook's side: records that `webhook` accepted a delivery of `channel` at `at`.
pub trait Beats: Send + Sync + std::fmt::Debug {
    fn beat(
        &self,
        channel: &str,
        webhook: Kind,
        at: DateTime<Utc>,
    ) -> Pending<'_, Result<(), StoreError>>;
}

/// Shared, as a test keeps a handle on what the webhook wrote.
impl<T: Beats + ?Sized> Beats for std::sync::Arc<T> {
    fn beat(
        &self,
        channel: &str,
        webhook: Kind,
        at: DateTime<Utc>,
    ) -> Pending<'_, Result<(), StoreError>> {
        (**self).beat(channel, webhook, at)
    }
}

/// The check's side.
pub trait Heartbeats: Send + Sync {
    /// The heartbeats of `channel`, by webhook (those with an item).
    fn read(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Vec<(Kind, Heartbeat)>, StoreError>> + Send;

    /// Starts watching a pair with no item: `watchedSince` = `since`, unless an item is there by
    /// now (a delivery's beat wins).
    fn watch(
        &self,
        channel: &str,
        webhook: Kind,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// When each channel's heartbeat was last written by this instance.
#[derive(Debug)]
pub struct Memo {
    every: Duration,
    last: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Memo {
    pub fn new(every: Duration) -> Self {
        Memo {
            every,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `channel`'s heartbeat is due at `now`; if so, it is marked written at `now`
    /// whatever the write then does, so a failing table costs one bounded call per interval, not
    /// one per delivery.
    pub fn due(&self, channel: &str, now: DateTime<Utc>) -> bool {
        let mut last = lock(&self.last);
        match last.get(channel) {
            Some(t) if (now - *t).abs() < self.every => false,
            _ => {
                last.insert(channel.to_owned(), now);
                true
            }
        }
    }
}

/// A webhook's heartbeat writer behind its memo.
#[derive(Debug)]
pub struct Pulse {
    beats: Box<dyn Beats>,
    memo: Memo,
}

impl Pulse {
    pub fn new(beats: impl Beats + 'static) -> Self {
        Pulse {
            beats: Box::new(beats),
            memo: Memo::new(Duration::minutes(BEAT_EVERY_MINUTES)),
        }
    }

    /// Writes `channel`'s heartbeat if it is due: `None` if it was not, else how the write went.
    pub async fn beat(
        &self,
        channel: &str,
        webhook: Kind,
        now: DateTime<Utc>,
    ) -> Option<Result<(), StoreError>> {
        if !self.memo.due(channel, now) {
            return None;
        }
        Some(self.beats.beat(channel, webhook, now).await)
    }
}

/// What a heartbeat check came to: its answer and its [`SUMMARY_LINE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeartbeatSummary {
    /// Channel × webhook pairs looked at.
    pub pairs: usize,
    /// Pairs silent for the configured hours or more.
    pub silent: usize,
    /// Pairs seen for the first time, watched from now.
    pub watched: usize,
    /// Pairs that could not be read or watched.
    pub unread: usize,
    /// The silent pairs, `<channel>/<webhook>`.
    pub silent_pairs: Vec<String>,
}

impl HeartbeatSummary {
    pub fn outcome(&self) -> &'static str {
        if self.unread > 0 {
            FAILED
        } else {
            DONE
        }
    }
}

/// The hourly check over the configured channels.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatCheck<'a> {
    pub channels: &'a [String],
    pub silence_hours: u32,
}

impl HeartbeatCheck<'_> {
    /// Reads every channel × webhook at `now`, logs one [`LOG_LINE`] per pair and one
    /// [`SUMMARY_LINE`]. A pair that could not be read leaves the summary's `silent` out, so the
    /// alarm sees no data (breaching) rather than a count that may be wrong.
    pub async fn run<H: Heartbeats>(&self, heartbeats: &H, now: DateTime<Utc>) -> HeartbeatSummary {
        let mut summary = HeartbeatSummary::default();
        for channel in self.channels {
            summary.pairs += Kind::ALL.len();
            let read = match heartbeats.read(channel).await {
                Ok(read) => read,
                Err(e) => {
                    summary.unread += Kind::ALL.len();
                    let reason = e.to_string();
                    tracing::warn!(channel, outcome = FAILED, reason, "{LOG_LINE}");
                    continue;
                }
            };
            for webhook in Kind::ALL {
                let beat = read.iter().find(|(k, _)| *k == webhook).map(|(_, b)| b);
                self.pair(heartbeats, channel, webhook, beat, now, &mut summary)
                    .await;
            }
        }
        tracing::info!(
            channels = self.channels.len(),
            pairs = summary.pairs,
            silent = (summary.unread == 0).then_some(summary.silent),
            watched = summary.watched,
            unread = summary.unread,
            silence_hours = self.silence_hours,
            outcome = summary.outcome(),
            "{SUMMARY_LINE}"
        );
        summary
    }

    async fn pair<H: Heartbeats>(
        &self,
        heartbeats: &H,
        channel: &str,
        webhook: Kind,
        beat: Option<&Heartbeat>,
        now: DateTime<Utc>,
        summary: &mut HeartbeatSummary,
    ) {
        let webhook_name = webhook.as_str();
        let last_delivery = beat
            .and_then(|b| b.last_delivery)
            .map(|t| crate::dates::iso(&t));
        let hours = match verdict(beat, now, self.silence_hours) {
            Verdict::Unseen => match heartbeats.watch(channel, webhook, now).await {
                Ok(()) => {
                    summary.watched += 1;
                    0.0
                }
                Err(e) => {
                    summary.unread += 1;
                    let reason = e.to_string();
                    tracing::warn!(
                        channel,
                        webhook = webhook_name,
                        outcome = FAILED,
                        reason,
                        "{LOG_LINE}"
                    );
                    return;
                }
            },
            Verdict::Alive { hours } => hours,
            Verdict::Silent { hours } => {
                summary.silent += 1;
                summary
                    .silent_pairs
                    .push(format!("{channel}/{webhook_name}"));
                tracing::warn!(
                    channel,
                    webhook = webhook_name,
                    hours_silent = hours,
                    silent = true,
                    last_delivery,
                    "{LOG_LINE}"
                );
                return;
            }
        };
        tracing::info!(
            channel,
            webhook = webhook_name,
            hours_silent = hours,
            silent = false,
            last_delivery,
            "{LOG_LINE}"
        );
    }
}

/// The heartbeats in memory, with the same rules as the table: a beat replaces the pair's item
/// unless it holds a later delivery; a watch writes only where there is no item.
#[derive(Debug, Default)]
pub struct MemoryHeartbeats {
    items: Mutex<BTreeMap<(String, &'static str), Heartbeat>>,
    /// Every beat fails, as a table that refuses them would.
    fail_beats: bool,
    /// Every read fails.
    fail_reads: bool,
    beats: Mutex<usize>,
}

impl MemoryHeartbeats {
    /// Heartbeats whose every beat fails.
    pub fn refusing_beats() -> Self {
        MemoryHeartbeats {
            fail_beats: true,
            ..MemoryHeartbeats::default()
        }
    }

    /// Heartbeats that cannot be read.
    pub fn unreadable() -> Self {
        MemoryHeartbeats {
            fail_reads: true,
            ..MemoryHeartbeats::default()
        }
    }

    /// A pair's item, if any.
    pub fn get(&self, channel: &str, webhook: Kind) -> Option<Heartbeat> {
        lock(&self.items)
            .get(&(channel.to_owned(), webhook.as_str()))
            .copied()
    }

    /// Sets a pair's item, as a test arranges the table.
    pub fn set(&self, channel: &str, webhook: Kind, beat: Heartbeat) {
        lock(&self.items).insert((channel.to_owned(), webhook.as_str()), beat);
    }

    /// How many beats were asked for, failed ones included.
    pub fn beats(&self) -> usize {
        *lock(&self.beats)
    }
}

impl Beats for MemoryHeartbeats {
    fn beat(
        &self,
        channel: &str,
        webhook: Kind,
        at: DateTime<Utc>,
    ) -> Pending<'_, Result<(), StoreError>> {
        *lock(&self.beats) += 1;
        let result = if self.fail_beats {
            Err(StoreError::Retryable("heartbeats refused".into()))
        } else {
            let mut items = lock(&self.items);
            let item = items
                .entry((channel.to_owned(), webhook.as_str()))
                .or_default();
            if item.last_delivery.is_none_or(|t| t < at) {
                *item = Heartbeat {
                    last_delivery: Some(at),
                    watched_since: None,
                };
            }
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }
}

impl Heartbeats for MemoryHeartbeats {
    async fn read(&self, channel: &str) -> Result<Vec<(Kind, Heartbeat)>, StoreError> {
        if self.fail_reads {
            return Err(StoreError::Retryable("heartbeats unreadable".into()));
        }
        let items = lock(&self.items);
        Ok(Kind::ALL
            .into_iter()
            .filter_map(|k| {
                items
                    .get(&(channel.to_owned(), k.as_str()))
                    .map(|b| (k, *b))
            })
            .collect())
    }

    async fn watch(
        &self,
        channel: &str,
        webhook: Kind,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.items)
            .entry((channel.to_owned(), webhook.as_str()))
            .or_insert(Heartbeat {
                last_delivery: None,
                watched_since: Some(since),
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    const NOW: &str = "2026-03-02T12:00:00Z";

    fn delivered(t: &str) -> Heartbeat {
        Heartbeat {
            last_delivery: Some(at(t)),
            watched_since: None,
        }
    }

    #[test]
    fn a_pair_is_silent_from_its_last_delivery_or_its_first_watch() {
        let watched = Heartbeat {
            last_delivery: None,
            watched_since: Some(at("2026-03-01T12:00:00Z")),
        };
        let cases = [
            (
                "fresh",
                Some(delivered("2026-03-02T11:30:00Z")),
                Verdict::Alive { hours: 0.5 },
            ),
            (
                "just under",
                Some(delivered("2026-03-01T12:00:01Z")),
                Verdict::Alive { hours: 24.0 },
            ),
            (
                "silent exactly the hours",
                Some(delivered("2026-03-01T12:00:00Z")),
                Verdict::Silent { hours: 24.0 },
            ),
            (
                "silent longer",
                Some(delivered("2026-02-27T12:00:00Z")),
                Verdict::Silent { hours: 72.0 },
            ),
            (
                "a delivery dated ahead of now",
                Some(delivered("2026-03-02T13:00:00Z")),
                Verdict::Alive { hours: 0.0 },
            ),
            ("never seen", None, Verdict::Unseen),
            (
                "an item with neither time",
                Some(Heartbeat::default()),
                Verdict::Unseen,
            ),
            (
                "watched, never delivered, for the hours",
                Some(watched),
                Verdict::Silent { hours: 24.0 },
            ),
            (
                "watched, then delivered",
                Some(Heartbeat {
                    last_delivery: Some(at("2026-03-02T10:00:00Z")),
                    ..watched
                }),
                Verdict::Alive { hours: 2.0 },
            ),
        ];
        for (case, beat, want) in cases {
            assert_eq!(verdict(beat.as_ref(), at(NOW), 24), want, "{case}");
        }
    }

    #[test]
    fn the_memo_lets_a_channel_beat_once_per_interval_and_each_channel_its_own() {
        let memo = Memo::new(Duration::minutes(BEAT_EVERY_MINUTES));
        let t0 = at(NOW);
        assert!(memo.due("shop-it", t0));
        assert!(!memo.due("shop-it", t0 + Duration::seconds(1)));
        assert!(!memo.due("shop-it", t0 + Duration::seconds(299)));
        assert!(
            memo.due("shop-de", t0 + Duration::seconds(10)),
            "another channel"
        );
        assert!(memo.due("shop-it", t0 + Duration::minutes(5)));
        assert!(!memo.due("shop-it", t0 + Duration::minutes(6)));
        assert!(!memo.due("shop-de", t0 + Duration::minutes(1)));
    }

    #[tokio::test]
    async fn a_pulse_writes_only_when_due_and_reports_a_failure() {
        let pulse = Pulse::new(MemoryHeartbeats::default());
        let t0 = at(NOW);
        assert_eq!(
            pulse.beat("shop-it", Kind::Shipment, t0).await,
            Some(Ok(()))
        );
        assert_eq!(
            pulse
                .beat("shop-it", Kind::Shipment, t0 + Duration::minutes(1))
                .await,
            None
        );
        let failing = Pulse::new(MemoryHeartbeats::refusing_beats());
        assert!(matches!(
            failing.beat("shop-it", Kind::Shipment, t0).await,
            Some(Err(_))
        ));
        // Marked anyway: the next try is an interval later.
        assert_eq!(
            failing
                .beat("shop-it", Kind::Shipment, t0 + Duration::minutes(1))
                .await,
            None
        );
    }

    #[tokio::test]
    async fn a_later_beat_wins_whatever_order_the_writes_land_in() {
        let beats = MemoryHeartbeats::default();
        beats
            .beat("shop-it", Kind::Order, at("2026-03-02T11:00:00Z"))
            .await
            .ok();
        beats
            .beat("shop-it", Kind::Order, at("2026-03-02T10:00:00Z"))
            .await
            .ok();
        assert_eq!(
            beats.get("shop-it", Kind::Order),
            Some(delivered("2026-03-02T11:00:00Z"))
        );
    }

    #[tokio::test]
    async fn the_check_reports_silent_pairs_of_configured_channels_only() {
        let beats = MemoryHeartbeats::default();
        for kind in Kind::ALL {
            beats.set("shop-it", kind, delivered("2026-03-02T11:00:00Z"));
            beats.set("shop-de", kind, delivered("2026-02-28T11:00:00Z"));
            // Removed from the configuration: never looked at.
            beats.set("shop-gone", kind, delivered("2026-01-01T00:00:00Z"));
        }
        let channels = ["shop-it".to_owned(), "shop-de".to_owned()];
        let check = HeartbeatCheck {
            channels: &channels,
            silence_hours: 24,
        };
        let summary = check.run(&beats, at(NOW)).await;
        assert_eq!(summary.pairs, 6);
        assert_eq!(summary.silent, 3);
        assert_eq!(
            summary.silent_pairs,
            ["shop-de/shipments", "shop-de/returns", "shop-de/orders"]
        );
        assert_eq!(summary.outcome(), DONE);
    }

    #[tokio::test]
    async fn a_pair_never_seen_is_watched_from_now_and_alarms_only_after_the_silence() {
        let beats = MemoryHeartbeats::default();
        let channels = ["shop-new".to_owned()];
        let check = HeartbeatCheck {
            channels: &channels,
            silence_hours: 24,
        };
        let first = check.run(&beats, at(NOW)).await;
        assert_eq!((first.watched, first.silent), (3, 0));
        let later = check.run(&beats, at(NOW) + Duration::hours(23)).await;
        assert_eq!((later.watched, later.silent), (0, 0));
        let silent = check.run(&beats, at(NOW) + Duration::hours(24)).await;
        assert_eq!(silent.silent, 3);
        // Watching does not move: the first watch stands.
        assert_eq!(
            beats
                .get("shop-new", Kind::Return)
                .and_then(|b| b.watched_since),
            Some(at(NOW))
        );
    }

    #[tokio::test]
    async fn a_check_that_cannot_read_fails_and_gives_no_count() {
        let beats = MemoryHeartbeats::unreadable();
        let channels = ["shop-it".to_owned()];
        let summary = HeartbeatCheck {
            channels: &channels,
            silence_hours: 24,
        }
        .run(&beats, at(NOW))
        .await;
        assert_eq!((summary.unread, summary.silent), (3, 0));
        assert_eq!(summary.outcome(), FAILED);
    }
}
