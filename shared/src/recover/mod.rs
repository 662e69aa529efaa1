//! Recovery of what Qapla' could not deliver: Qapla' retries a failed webhook twice and gives up,
//! so a run asks Qapla's API what changed since each channel's checkpoint, fetches the history of
//! the shipments whose status differs from ours or that changed in a window where we hold no
//! change of theirs, and records every dated change through the
//! webhook's own path ([`crate::record`]), so a change that came both ways is one history item and
//! at most one notification.
//!
//! - [`api`]: the answers read tolerantly, into the events a webhook makes;
//! - [`plan`]: the windows to ask and which shipments to fetch;
//! - [`pace`]: the token bucket and the backoff after a 429;
//! - [`memory`]: memory twins of the ports, and a fake of Qapla's API with a real bucket.
//!
//! The ports: [`QaplaApi`] (HTTP in the AWS adapters), [`Ledger`] (states and checkpoints),
//! [`Clock`]. The run is [`Reconciler::run`]; its answer is a [`RecoverySummary`].

pub mod api;
pub mod memory;
pub mod pace;
pub mod plan;

use crate::auth::{ApiKey, Channel};
use crate::dates::iso;
use crate::model::{identifier, Invalid};
use crate::record;
use crate::store::{Recorded, Store, StoreError};
use crate::table::{self, ShipmentState, Source};
use api::{Call, Listing, GET_SHIPMENT, TRACKING_BY_TIME_FRAME};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pace::{Pace, TokenBucket};
use plan::Window;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::time::Duration;

/// An HTTP answer of Qapla's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The API could not be reached or read. Its text never holds the URL (which holds the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Qapla's API: a GET of `path` under its base URL with `query`, the key added as `apiKey`.
pub trait QaplaApi: Send + Sync {
    fn get(
        &self,
        path: &str,
        key: &ApiKey,
        query: &[(&'static str, String)],
    ) -> impl Future<Output = Result<HttpAnswer, TransportError>> + Send;
}

/// What a run reads and keeps in the table besides the changes: shipment states and checkpoints.
pub trait Ledger: Send + Sync {
    fn state(
        &self,
        pk: &str,
    ) -> impl Future<Output = Result<Option<ShipmentState>, StoreError>> + Send;

    /// Does the shipment have a history item dated in `[from, until]`?
    fn has_history(
        &self,
        pk: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn checkpoint(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// Moves the channel's checkpoint to `until`, only forward: a later one stays.
    fn advance(
        &self,
        channel: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Time, for the deadline, the bucket and the backoff.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time since a fixed start.
    fn elapsed(&self) -> Duration;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    /// A number in [0, 1), for jitter.
    fn unit(&self) -> f64;
}

/// A clock shared with others (a test's fake of Qapla's API reads the same time).
impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        C::now(self)
    }

    fn elapsed(&self) -> Duration {
        C::elapsed(self)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        C::sleep(self, duration)
    }

    fn unit(&self) -> f64 {
        C::unit(self)
    }
}

/// How a recovery run asks Qapla's API: its zone, how far back, in which windows, at what pace
/// (the reconciler's counterpart of a webhook's `webhook::Settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecoverySettings {
    pub timezone: Tz,
    pub history_days: u32,
    /// Where a channel without a checkpoint starts, before now.
    pub lookback: chrono::Duration,
    /// How far each run goes back before the checkpoint (Qapla' advises overlapping windows).
    pub overlap: chrono::Duration,
    /// The longest window asked at once.
    pub window: chrono::Duration,
    /// A window is not split below this.
    pub min_window: chrono::Duration,
    /// An answer listing this many shipments or more is asked again in two halves (Qapla' does
    /// not document pages or a maximum: a large answer may be cut).
    pub split_above: usize,
    pub pace: Pace,
    /// Time kept before the deadline to finish the call under way and write the checkpoint.
    pub stop_margin: Duration,
}

impl RecoverySettings {
    pub fn new(timezone: Tz, history_days: u32, lookback_hours: u32) -> Self {
        RecoverySettings {
            timezone,
            history_days,
            lookback: chrono::Duration::hours(i64::from(lookback_hours)),
            overlap: chrono::Duration::minutes(5),
            window: chrono::Duration::hours(1),
            min_window: chrono::Duration::minutes(1),
            split_above: 200,
            pace: Pace::default(),
            stop_margin: Duration::from_secs(20),
        }
    }
}

/// What an invocation asked a run to do: the scheduled run, or a span (not to be confused with
/// `webhook::Mode`, how a delivery is taken in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// From each channel's checkpoint to now (`{}` or a scheduler's event).
    Scheduled,
    /// A given span; the checkpoint moves only if the span starts at or before it, never back.
    Span {
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    },
}

/// An invocation that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInvocation {
    #[error("{field}: {reason}")]
    Time { field: &'static str, reason: String },
    #[error("until is before since")]
    Backwards,
}

impl Invocation {
    /// The invocation: `{"since": …, "until": …}` (Qapla's `YYYY-MM-DD HH:MM:SS` in the
    /// merchant's zone, or RFC 3339; `until` optional) runs that span; anything without `since`
    /// (`{}`, a scheduler's event) is a scheduled run.
    pub fn from_event(event: &Value, tz: Tz) -> Result<Invocation, BadInvocation> {
        let time = |field: &'static str| -> Result<Option<DateTime<Utc>>, BadInvocation> {
            match event.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => {
                    plan::read_time(s, tz)
                        .map(Some)
                        .map_err(|e| BadInvocation::Time {
                            field,
                            reason: e.to_string(),
                        })
                }
                Some(other) => Err(BadInvocation::Time {
                    field,
                    reason: format!("{other} is not a time"),
                }),
            }
        };
        let (since, until) = (time("since")?, time("until")?);
        match (since, until) {
            (None, _) => Ok(Invocation::Scheduled),
            (Some(s), Some(u)) if u < s => Err(BadInvocation::Backwards),
            (Some(since), until) => Ok(Invocation::Span { since, until }),
        }
    }
}

/// How a channel's run ended (a delivery's fate is `webhook::Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOutcome {
    /// Every window up to now was processed.
    #[default]
    Done,
    /// Stopped before the deadline; the next run resumes from the checkpoint.
    Deadline,
    /// Stopped by an error (listed); the next run retries from the checkpoint.
    Failed,
    /// No key stored for the channel: it has not opted in.
    Skipped,
}

impl ChannelOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelOutcome::Done => "done",
            ChannelOutcome::Deadline => "deadline",
            ChannelOutcome::Failed => "failed",
            ChannelOutcome::Skipped => "skipped",
        }
    }
}

/// One channel's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSummary {
    pub channel: String,
    pub outcome: ChannelOutcome,
    /// Windows fully processed.
    pub windows: u32,
    /// Requests sent to Qapla' (each costs one token of the key's bucket).
    pub calls: u32,
    /// Requests Qapla' refused with 429.
    pub rate_limited: u32,
    pub shipments_checked: u32,
    pub shipments_fetched: u32,
    /// Changes written by this run: they had not reached us by webhook.
    pub changes_recovered: u32,
    /// Qapla's failed webhook deliveries to us, seen in the fetched shipments' logs, dated
    /// inside the run's span.
    pub failed_deliveries: u32,
    /// Shipments or history entries that could not be read (left out), each logged.
    pub unreadable: u32,
    /// Time the channel's turns took in this run, in milliseconds.
    pub busy_ms: u64,
    /// The checkpoint after the run, if it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    pub errors: Vec<String>,
}

/// A recovery run's answer and log: each channel's [`ChannelSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecoverySummary {
    pub channels: Vec<ChannelSummary>,
}

impl RecoverySummary {
    pub fn changes_recovered(&self) -> u32 {
        self.channels.iter().map(|c| c.changes_recovered).sum()
    }
}

/// Why a channel's run stopped early.
enum Stop {
    Deadline,
    Failed(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(format!("store: {e}"))
    }
}

/// One recovery run over the ports.
pub struct Reconciler<'a, A, S, C> {
    pub api: &'a A,
    pub store: &'a S,
    pub clock: &'a C,
    pub settings: &'a RecoverySettings,
}

/// A channel's run under way.
struct Session<'k> {
    channel: &'k Channel,
    key: &'k ApiKey,
    bucket: TokenBucket,
    /// The end of the channel's current share of the run.
    deadline: Duration,
    summary: ChannelSummary,
    /// Failed deliveries already counted (shipment, status, date): windows overlap.
    attempts: HashSet<(String, String, String)>,
    /// The span of status times the run asks; failed deliveries dated in it are counted.
    span: (DateTime<Utc>, DateTime<Utc>),
    /// What is left to ask, once read from the checkpoint: a channel given time again resumes
    /// at the window it was cut in.
    plan: Option<Plan>,
    /// Done or failed: it gets no more time in this run.
    ended: bool,
}

/// The windows left of a channel's run, the one under way first.
struct Plan {
    queue: VecDeque<Window>,
    now: DateTime<Utc>,
    advance: bool,
}

/// Where a window's processing went.
enum Progress {
    Processed,
    Split(Window, Window),
}

impl<A: QaplaApi, S: Store + Ledger, C: Clock> Reconciler<'_, A, S, C> {
    /// Runs every channel until `deadline` (on the clock's [`Clock::elapsed`] scale), less the
    /// stop margin, and logs one summary line per channel and one for the run. A channel without
    /// a key is skipped; one whose key fails does not stop the others.
    ///
    /// Each channel gets a fair share of the time left: in turn, the time left divided by the
    /// channels still to run in the round. A channel that finishes early leaves its rest to
    /// those after it, and those cut by their share get the time still left in further rounds,
    /// resuming where they stopped; so one busy channel cannot take a whole run from the others.
    pub async fn run(
        &self,
        channels: &[(Channel, Option<ApiKey>)],
        invocation: Invocation,
        deadline: Duration,
    ) -> RecoverySummary {
        let end = deadline.saturating_sub(self.settings.stop_margin);
        let mut sessions: Vec<Result<Session<'_>, ChannelSummary>> = channels
            .iter()
            .map(|(channel, key)| self.session(channel, key.as_ref()))
            .collect();
        loop {
            let mut open: Vec<&mut Session<'_>> = sessions
                .iter_mut()
                .filter_map(|s| s.as_mut().ok())
                .filter(|s| !s.ended)
                .collect();
            let calls = |open: &[&mut Session<'_>]| -> u64 {
                open.iter().map(|s| u64::from(s.summary.calls)).sum()
            };
            let before = calls(&open);
            let sharing = open.len();
            for (turn, session) in open.iter_mut().enumerate() {
                let now = self.clock.elapsed();
                let left = u32::try_from(sharing - turn).unwrap_or(u32::MAX);
                session.deadline = now + end.saturating_sub(now) / left;
                self.turn(session, invocation).await;
                session.summary.busy_ms += millis(self.clock.elapsed().saturating_sub(now));
            }
            // A round in which no channel could send a call would be repeated in vain.
            if open.is_empty() || calls(&open) == before {
                break;
            }
        }
        let summary = RecoverySummary {
            channels: sessions
                .into_iter()
                .map(|s| s.map_or_else(|ended| ended, |s| s.summary))
                .collect(),
        };
        for channel in &summary.channels {
            log(channel);
        }
        log_run(&summary);
        summary
    }

    /// A channel ready to run, or the summary of one that ends before it starts: without a
    /// key, or with a key that is not its own (never sent).
    fn session<'k>(
        &self,
        channel: &'k Channel,
        key: Option<&'k ApiKey>,
    ) -> Result<Session<'k>, ChannelSummary> {
        let ended = |outcome: ChannelOutcome, errors: Vec<String>| ChannelSummary {
            channel: channel.name.clone(),
            outcome,
            errors,
            ..ChannelSummary::default()
        };
        let key = match key {
            None => return Err(ended(ChannelOutcome::Skipped, Vec::new())),
            Some(key) if !channel.holds(key) => {
                return Err(ended(
                    ChannelOutcome::Failed,
                    vec![
                    "the stored key is not the channel's: its digest differs from QAPLA_CHANNELS"
                        .into(),
                ],
                ))
            }
            Some(key) => key,
        };
        Ok(Session {
            channel,
            key,
            bucket: TokenBucket::new(
                self.settings.pace.capacity,
                self.settings.pace.per_second,
                self.clock.elapsed(),
            ),
            deadline: Duration::ZERO,
            summary: ChannelSummary {
                channel: channel.name.clone(),
                ..ChannelSummary::default()
            },
            attempts: HashSet::new(),
            span: (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
            plan: None,
            ended: false,
        })
    }

    /// One turn of a channel, until its windows are done, it fails, or its share is used.
    async fn turn(&self, session: &mut Session<'_>, invocation: Invocation) {
        match self.windows(session, invocation).await {
            Ok(()) => {
                session.summary.outcome = ChannelOutcome::Done;
                session.ended = true;
            }
            Err(Stop::Deadline) => session.summary.outcome = ChannelOutcome::Deadline,
            Err(Stop::Failed(reason)) => {
                session.summary.outcome = ChannelOutcome::Failed;
                session.summary.errors.push(redact(&reason, session.key));
                session.ended = true;
            }
        }
    }

    /// The windows from the checkpoint (or the span asked) to now.
    async fn plan(&self, session: &mut Session<'_>, invocation: Invocation) -> Result<Plan, Stop> {
        let settings = self.settings;
        let now = self.clock.now();
        let checkpoint = self.store.checkpoint(&session.channel.name).await?;
        let (from, until, advance) = match invocation {
            Invocation::Scheduled => (
                plan::start(checkpoint, now, settings.lookback, settings.overlap),
                now,
                true,
            ),
            Invocation::Span { since, until } => (
                since,
                until.unwrap_or(now).min(now),
                checkpoint.is_some_and(|c| since <= c),
            ),
        };
        session.span = (from, now);
        Ok(Plan {
            queue: plan::windows(from, until, settings.window),
            now,
            advance,
        })
    }

    async fn windows(&self, session: &mut Session<'_>, invocation: Invocation) -> Result<(), Stop> {
        if session.plan.is_none() {
            session.plan = Some(self.plan(session, invocation).await?);
        }
        loop {
            let next = session
                .plan
                .as_ref()
                .and_then(|p| Some((*p.queue.front()?, p.now, p.advance)));
            let Some((window, now, advance)) = next else {
                return Ok(());
            };
            // The window stays first in the queue until processed: cut, it is asked again.
            let step = self.window(session, window, now).await?;
            let Some(plan) = session.plan.as_mut() else {
                return Ok(());
            };
            plan.queue.pop_front();
            match step {
                Progress::Split(first, second) => {
                    plan.queue.push_front(second);
                    plan.queue.push_front(first);
                }
                Progress::Processed => {
                    session.summary.windows += 1;
                    if advance {
                        let name = session.channel.name.as_str();
                        self.store.advance(name, window.until, now).await?;
                        session.summary.checkpoint = Some(iso(&window.until));
                    }
                }
            }
        }
    }

    async fn window(
        &self,
        session: &mut Session<'_>,
        window: Window,
        now: DateTime<Utc>,
    ) -> Result<Progress, Stop> {
        let settings = self.settings;
        let listing = self.list(session, window).await?;
        let listed = listing.shipments.len().max(
            listing
                .count
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(0),
        );
        if listed >= settings.split_above {
            if let Some((first, second)) = window.split(settings.min_window) {
                return Ok(Progress::Split(first, second));
            }
        }
        for unread in &listing.unreadable {
            unreadable(session, TRACKING_BY_TIME_FRAME, unread, None);
        }
        for shipment in &listing.shipments {
            self.shipment(session, shipment, window, now).await?;
        }
        Ok(Progress::Processed)
    }

    async fn list(&self, session: &mut Session<'_>, window: Window) -> Result<Listing, Stop> {
        let tz = self.settings.timezone;
        let query = [
            ("dateFrom", plan::qapla_time(window.from, tz)),
            ("dateTo", plan::qapla_time(window.until, tz)),
            ("lang", "en".to_owned()),
        ];
        self.call(session, TRACKING_BY_TIME_FRAME, &query).await
    }

    /// Checks one listed shipment, and fetches and records its history if ours differs.
    async fn shipment(
        &self,
        session: &mut Session<'_>,
        listed: &api::ApiShipment,
        window: Window,
        now: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let tz = self.settings.timezone;
        session.summary.shipments_checked += 1;
        let names = (|| {
            let courier = listed.courier_code().ok_or(Invalid::Missing("courier"))?;
            let tracking = listed
                .tracking()
                .ok_or(Invalid::Missing("trackingNumber"))?;
            Ok::<_, Invalid>((
                identifier(courier, "courier")?,
                identifier(tracking, "trackingNumber")?,
            ))
        })();
        let (courier, tracking) = match names {
            Ok(names) => names,
            Err(e) => {
                let unread = api::Unread {
                    entry: "shipment".into(),
                    reason: e.to_string(),
                };
                unreadable(session, TRACKING_BY_TIME_FRAME, &unread, Some(listed));
                return Ok(());
            }
        };
        let pk = table::shipment_pk(&session.channel.name, &courier, &tracking);
        // Qapla' lists a shipment in a window when its status changed in it: if our state is its
        // current status and we hold a change dated in the window, nothing was missed.
        let ours = self.store.state(&pk).await?;
        let missed = plan::needs_history(listed, ours.as_ref(), tz)
            || !self
                .store
                .has_history(&pk, window.from, window.until)
                .await?;
        if !missed {
            return Ok(());
        }
        let query = match listed.id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => [("id", id.to_owned()), ("lang", "en".to_owned())],
            _ => [
                ("trackingNumber", tracking.clone()),
                ("lang", "en".to_owned()),
            ],
        };
        let fetched = self.call(session, GET_SHIPMENT, &query).await?;
        session.summary.shipments_fetched += 1;
        for unread in &fetched.unreadable {
            unreadable(session, GET_SHIPMENT, unread, Some(listed));
        }
        let same = |s: &&api::ApiShipment| {
            s.tracking().as_deref() == Some(tracking.as_str())
                && s.courier_code().is_none_or(|c| c == courier)
        };
        for shipment in fetched.shipments.iter().filter(same) {
            for attempt in shipment.attempts().iter().filter(|a| a.failed()) {
                let date = attempt.date.clone().unwrap_or_default();
                let (from, to) = session.span;
                let inside = crate::dates::to_utc(&date, tz).is_ok_and(|d| d >= from && d <= to);
                let seen = (
                    tracking.clone(),
                    attempt.status_id.clone().unwrap_or_default(),
                    date,
                );
                if inside && session.attempts.insert(seen) {
                    session.summary.failed_deliveries += 1;
                }
            }
            let (events, refused) = shipment.events(tz);
            for unread in &refused {
                unreadable(session, GET_SHIPMENT, unread, Some(shipment));
            }
            for ev in &events {
                // The recovery keeps no archive: a recovered change too large for a table item
                // is refused with its reason.
                let recorded = record::shipment(
                    self.store,
                    &None::<crate::store::MemoryArchive>,
                    session.channel,
                    ev,
                    Source::Api,
                    now,
                    self.settings.history_days,
                )
                .await?;
                if recorded != Recorded::Duplicate {
                    session.summary.changes_recovered += 1;
                }
            }
        }
        Ok(())
    }

    /// One call, paced by the session's bucket and backed off after a 429; stops rather than
    /// cross the deadline.
    async fn call(
        &self,
        session: &mut Session<'_>,
        call: Call,
        query: &[(&'static str, String)],
    ) -> Result<Listing, Stop> {
        let pace = self.settings.pace;
        let mut attempt = 0;
        loop {
            loop {
                let now = self.clock.elapsed();
                match session.bucket.take(now) {
                    Ok(()) => break,
                    Err(wait) if now + wait >= session.deadline => return Err(Stop::Deadline),
                    Err(wait) => self.clock.sleep(wait).await,
                }
            }
            if self.clock.elapsed() >= session.deadline {
                return Err(Stop::Deadline);
            }
            session.summary.calls += 1;
            let answer = self
                .api
                .get(&call.path(), session.key, query)
                .await
                .map_err(|e| Stop::Failed(format!("{}: {e}", call.name)))?;
            match answer.status {
                200..=299 => {
                    return api::read(call, &answer.body).map_err(|e| Stop::Failed(e.to_string()))
                }
                429 => {
                    session.summary.rate_limited += 1;
                    if attempt >= pace.max_retries {
                        return Err(Stop::Failed(format!(
                            "{}: still rate limited after {attempt} backoffs",
                            call.name
                        )));
                    }
                    let wait = pace.backoff(attempt, self.clock.unit());
                    tracing::warn!(
                        channel = session.channel.name.as_str(),
                        call = call.name,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "qapla rate limited"
                    );
                    session.bucket.drain(self.clock.elapsed());
                    if self.clock.elapsed() + wait >= session.deadline {
                        return Err(Stop::Deadline);
                    }
                    self.clock.sleep(wait).await;
                    attempt += 1;
                }
                status => {
                    let said = match api::read(call, &answer.body) {
                        Err(api::BadAnswer::Ko { error, .. }) => format!(": {error}"),
                        _ => String::new(),
                    };
                    return Err(Stop::Failed(format!("{}: HTTP {status}{said}", call.name)));
                }
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The message of a channel's summary line.
pub const LOG_LINE: &str = "recover";
/// The message of the line logged for each answer entry left out.
pub const UNREADABLE_LINE: &str = "recover entry";
/// The outcome of an entry left out.
pub const UNREADABLE: &str = "unreadable";
/// The message of the run's line, naming the channels cut by the deadline.
pub const RUN_LINE: &str = "recover run";

/// Counts and logs an answer entry that could not be turned into an event: the channel, the
/// call, where the entry is and the shape that failed, and Qapla's id and the tracking number
/// of its shipment where they are readable. Never a value of the entry: it may hold the
/// recipient's personal data.
fn unreadable(
    session: &mut Session<'_>,
    call: Call,
    unread: &api::Unread,
    shipment: Option<&api::ApiShipment>,
) {
    session.summary.unreadable += 1;
    let qapla_id = shipment
        .and_then(|s| s.id.clone())
        .and_then(|id| identifier(id, "id").ok());
    let tracking = shipment
        .and_then(api::ApiShipment::tracking)
        .and_then(|t| identifier(t, "trackingNumber").ok());
    tracing::warn!(
        channel = session.channel.name.as_str(),
        outcome = UNREADABLE,
        call = call.name,
        entry = unread.entry.as_str(),
        reason = unquoted(&unread.reason).as_str(),
        qapla_id = qapla_id.as_deref(),
        tracking_number = tracking.as_deref(),
        "{UNREADABLE_LINE}"
    );
}

/// Leaves the key out of a text that might quote it (an error echoing a request, say).
fn redact(text: &str, key: &ApiKey) -> String {
    let secret = key.expose_secret();
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<key>")
    }
}

/// The one log line of a channel's run; metric filters read `changes_recovered`,
/// `failed_deliveries` and the outcomes `failed` and `deadline` from it.
fn log(s: &ChannelSummary) {
    let errors = s.errors.join("; ");
    tracing::info!(
        channel = s.channel.as_str(),
        outcome = s.outcome.as_str(),
        windows = s.windows,
        calls = s.calls,
        tokens = s.calls,
        rate_limited = s.rate_limited,
        shipments_checked = s.shipments_checked,
        shipments_fetched = s.shipments_fetched,
        changes_recovered = s.changes_recovered,
        failed_deliveries = s.failed_deliveries,
        unreadable = s.unreadable,
        busy_ms = s.busy_ms,
        checkpoint = s.checkpoint.as_deref(),
        errors = (!errors.is_empty()).then_some(errors.as_str()),
        "{LOG_LINE}"
    );
}

/// A reason with each quoted literal left out: the webhook's rules quote what they refuse (a
/// status id that is not one), and here it could be any text of the entry.
fn unquoted(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            let mut escaped = false;
            for c in chars.by_ref() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => break,
                    _ => {}
                }
            }
            out.push_str("…\"");
        }
    }
    out
}

/// The run's line: how many channels ended each way, and which were cut by the deadline (they
/// resume from their checkpoint at the next run).
fn log_run(summary: &RecoverySummary) {
    let ended = |outcome: ChannelOutcome| {
        summary
            .channels
            .iter()
            .filter(move |c| c.outcome == outcome)
    };
    let deadline: Vec<&str> = ended(ChannelOutcome::Deadline)
        .map(|c| c.channel.as_str())
        .collect();
    let outcome = if ended(ChannelOutcome::Failed).next().is_some() {
        ChannelOutcome::Failed
    } else if !deadline.is_empty() {
        ChannelOutcome::Deadline
    } else {
        ChannelOutcome::Done
    };
    tracing::info!(
        outcome = outcome.as_str(),
        channels = summary.channels.len(),
        done = ended(ChannelOutcome::Done).count(),
        deadline = deadline.len(),
        failed = ended(ChannelOutcome::Failed).count(),
        skipped = ended(ChannelOutcome::Skipped).count(),
        deadline_channels = (!deadline.is_empty())
            .then(|| deadline.join(","))
            .as_deref(),
        "{RUN_LINE}"
    );
}

#[cfg(test)]
mod tests;
