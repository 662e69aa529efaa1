//! The request path of a webhook function, free of Lambda and AWS types:
//! method → body size → sender → parse → channel → kind → validate → record → answer,
//! with one structured log line per request. [`Rejection`] is every way a request can get a KO,
//! and [`Rejection::status`] the one place that maps it to the HTTP answer.
//!
//! Once a request has passed the sender check and carries a key of a configured channel, it is
//! Qapla's, and it is answered OK and kept whatever is wrong with it: content that does not
//! validate goes to the quarantine (in a body of many returns or orders, only the entries that do
//! not), a delivery the table cannot take goes to the inbox, recorded later by [`drain`] through
//! the same path. Only where neither the table nor the archive took it is the answer a KO (503):
//! Qapla' disables a webhook after 100 failures, and a failure of ours must not spend them.

pub mod drain;
mod gate;
mod intake;

use crate::archive::Kept;
use crate::auth::{Allowlist, Channel, Channels};
use crate::heartbeat::{Beats, Pulse};
use crate::kind::Kind;
use crate::model::Invalid;
use crate::payload::Unreadable;
use crate::store::{Archive, Recorded, Store, StoreError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gate::Content;
use intake::{Facts, Intake, Taken};
use std::future::Future;
use std::net::IpAddr;
use std::time::Instant;

/// Why a request gets a KO answer.
///
/// Answer policy (Qapla' disables a webhook after 100 failures, so KO must be earned):
/// - not a delivery at all (empty, not JSON, not an object): 400;
/// - not Qapla's (no key, unknown key): 401; sender outside the allowlist: 403;
/// - not a POST: 405; too large: 413;
/// - neither the table nor the archive could keep it, so a retry can help: 503.
///
/// A delivery of a known channel whose content does not validate, or that the table cannot take,
/// is kept and answered OK ([`Outcome`]); [`Rejection::Invalid`] and [`Rejection::Store`] are
/// what a re-ingestion ([`Mode::Retry`], [`Mode::Drain`]) reports instead of keeping it again.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("method {0} is not allowed")]
    Method(String),
    #[error("body of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("no source address in the request context")]
    NoSource,
    #[error("sender {0} is not in the allowlist")]
    ForeignSender(IpAddr),
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error("no API key")]
    MissingKey,
    #[error("unknown API key")]
    UnknownKey,
    #[error("invalid: {0}")]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Neither the table nor the archive took the delivery.
    #[error("kept nowhere: {store}; the archive: {archive}")]
    Unkept {
        store: StoreError,
        archive: StoreError,
    },
}

impl Rejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Method(_) => 405,
            Rejection::TooLarge { .. } => 413,
            Rejection::NoSource | Rejection::ForeignSender(_) => 403,
            Rejection::MissingKey | Rejection::UnknownKey => 401,
            Rejection::Unreadable(_) | Rejection::Invalid(_) => 400,
            Rejection::Store(e) if !e.is_retryable() => 500,
            Rejection::Store(_) | Rejection::Unkept { .. } => 503,
        }
    }

    /// A short, stable code for logs and metrics: `rejected:<code>` or `failed:<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Method(_) => "method",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::NoSource => "no_source",
            Rejection::ForeignSender(_) => "foreign_sender",
            Rejection::Unreadable(e) => e.code(),
            Rejection::MissingKey => "missing_key",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Invalid(_) => "invalid",
            Rejection::Store(e) if !e.is_retryable() => "store_refused",
            Rejection::Store(_) | Rejection::Unkept { .. } => "store",
        }
    }

    /// The outcome as logged: `failed:<code>` where the fault is ours, else `rejected:<code>`.
    pub fn outcome(&self) -> String {
        if self.status() >= 500 {
            format!("failed:{}", self.code())
        } else {
            format!("rejected:{}", self.code())
        }
    }
}

/// What became of a delivery of a known channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded in the table (stored, duplicate or stale).
    Recorded(Recorded),
    /// All or part of it kept in the quarantine, for the reason `code`; `recorded` says what
    /// became of the entries that validated, where some did.
    Quarantined {
        code: &'static str,
        kept: usize,
        recorded: Option<Recorded>,
    },
    /// Kept in the inbox: the table could not take it; it is recorded once the table answers.
    Deferred,
}

impl Outcome {
    /// `stored`, `duplicate`, `stale`, `quarantined:<code>` or `deferred:store`.
    pub fn as_string(&self) -> String {
        match self {
            Outcome::Recorded(r) => r.as_str().to_owned(),
            Outcome::Quarantined { code, .. } => format!("quarantined:{code}"),
            Outcome::Deferred => "deferred:store".to_owned(),
        }
    }
}

/// The quarantine's reason codes: content that does not validate; a JSON object of a known
/// channel that is no webhook Qapla' sends, or that names a member twice; a delivery the table
/// refused for good.
pub const INVALID: &str = "invalid";
pub const UNKNOWN_KIND: &str = "unknown_kind";
pub const DUPLICATE_KEY: &str = "duplicate_key";
pub const STORE_REFUSED: &str = "store_refused";

/// How a delivery is taken in: from Qapla' (keep whatever cannot be recorded), from the inbox
/// (the table may still be down: leave it there), or by an operator's retry of a quarantined one
/// (report what is still wrong; keep nothing again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Deliver,
    Drain,
    Retry,
}

/// The answer body Qapla' reads: exactly `{"result":"OK"}` or `{"result":"KO"}`.
pub fn answer_body(ok: bool) -> &'static str {
    if ok {
        r#"{"result":"OK"}"#
    } else {
        r#"{"result":"KO"}"#
    }
}

/// What a webhook endpoint is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub channels: Channels,
    pub allowlist: Allowlist,
    /// The zone of Qapla's dates, which carry none.
    pub timezone: Tz,
    pub max_body_bytes: usize,
    /// How long history items are kept (the table's TTL).
    pub history_days: u32,
    /// How long return and order items, which hold customers' personal data, are kept (TTL).
    pub return_order_days: u32,
}

/// What the pipeline needs of an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The sender as API Gateway saw it (request context), never a header.
    pub source: Option<IpAddr>,
    pub body: &'a [u8],
}

/// A timer that ends when the table's answer is no longer worth waiting for: past it, a valid
/// delivery is not recorded now but waits in the inbox, answered OK, in the time left for that
/// write and the answer. The Lambda adapter sets it from the invocation's deadline; the core
/// only waits on it (it holds no clock of its own).
pub type Timer<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The answer: an HTTP status and whether the body says OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub ok: bool,
    /// `stored`, `duplicate`, `stale`, `quarantined:<code>`, `deferred:store`,
    /// `rejected:<reason>` or `failed:<reason>`.
    pub outcome: String,
}

impl Answer {
    pub fn body(&self) -> &'static str {
        answer_body(self.ok)
    }
}

/// One webhook endpoint over a store.
#[derive(Debug)]
pub struct Webhook<S, A> {
    pub endpoint: Kind,
    pub settings: Settings,
    /// Where deliveries are recorded (the table).
    pub store: S,
    /// Where what the table does not hold is kept: the quarantine, the inbox, payloads too
    /// large for an item (the bucket).
    pub archive: A,
    /// The channels' heartbeats, written by deliveries from Qapla' only; none, none written.
    pub pulse: Option<Pulse>,
}

impl<S: Store, A: Archive> Webhook<S, A> {
    pub fn new(endpoint: Kind, settings: Settings, store: S, archive: A) -> Self {
        Webhook {
            endpoint,
            settings,
            store,
            archive,
            pulse: None,
        }
    }

    /// The same, writing each channel's heartbeat through `beats` when it accepts a delivery.
    pub fn with_heartbeats(self, beats: impl Beats + 'static) -> Self {
        Webhook {
            pulse: Some(Pulse::new(beats)),
            ..self
        }
    }

    /// Handles one request and logs its outcome.
    pub async fn handle(&self, request: Request<'_>) -> Answer {
        self.handle_at(request, Utc::now()).await
    }

    /// [`Webhook::handle`], recording only until `record_by` ends ([`Timer`]): what the table
    /// has not taken by then waits in the inbox.
    pub async fn handle_within(
        &self,
        request: Request<'_>,
        record_by: Option<Timer<'_>>,
    ) -> Answer {
        self.answer(request, Utc::now(), record_by).await
    }

    /// [`Webhook::handle`] as if the request reached us at `now`: a fixed clock, for tests whose
    /// items must come out the same on every run.
    pub async fn handle_at(&self, request: Request<'_>, now: DateTime<Utc>) -> Answer {
        self.answer(request, now, None).await
    }

    async fn answer(
        &self,
        request: Request<'_>,
        now: DateTime<Utc>,
        record_by: Option<Timer<'_>>,
    ) -> Answer {
        let started = Instant::now();
        let Taken { result, facts } = match gate::admit(&self.settings, self.endpoint, &request) {
            Err(rejection) => Taken::err(rejection, Facts::default()),
            Ok(admitted) => {
                let intake = Intake {
                    channel: admitted.channel,
                    mode: Mode::Deliver,
                    endpoint: self.endpoint,
                    now,
                    record_by: std::sync::Mutex::new(record_by),
                };
                let taken = self.ingest(&intake, admitted.content, request.body).await;
                let heartbeat = self.beat(&taken.result, admitted.channel, now).await;
                Taken {
                    facts: Facts {
                        channel: Some(admitted.channel.name.clone()),
                        misrouted: admitted.misrouted,
                        heartbeat,
                        ..taken.facts
                    },
                    ..taken
                }
            }
        };
        let answer = match &result {
            Ok(outcome) => Answer {
                status: 200,
                ok: true,
                outcome: outcome.as_string(),
            },
            Err(rejection) => Answer {
                status: rejection.status(),
                ok: false,
                outcome: rejection.outcome(),
            },
        };
        let reason = match &result {
            Err(rejection) => Some(rejection.to_string()),
            Ok(_) => facts.reason,
        };
        let quarantined = match &result {
            Ok(Outcome::Quarantined { kept, .. }) => Some(*kept),
            _ => None,
        };
        tracing::info!(
            webhook = self.endpoint.as_str(),
            status = answer.status,
            outcome = answer.outcome.as_str(),
            reason = reason.as_deref(),
            misrouted = facts.misrouted.map(Kind::as_str),
            quarantined,
            heartbeat = facts.heartbeat.as_deref(),
            channel = facts.channel.as_deref(),
            courier = facts.courier.as_deref(),
            tracking_number = facts.tracking.as_deref(),
            qapla_status = facts.status.as_deref(),
            items = facts.count,
            source_ip = request.source.map(|ip| ip.to_string()).as_deref(),
            bytes = request.body.len(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "delivery"
        );
        answer
    }

    /// The channel's heartbeat, after an answer of 200: Qapla' delivers and we took it. Not
    /// after a deferral: the table failed this very request within its bounds, and one more
    /// call to it could take the answer past the function's timeout; the next delivery beats.
    /// Why a beat failed, if it did (logged; the answer stays).
    async fn beat(
        &self,
        result: &Result<Outcome, Rejection>,
        channel: &Channel,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let pulse = self.pulse.as_ref()?;
        match result {
            Ok(outcome) if *outcome != Outcome::Deferred => pulse
                .beat(&channel.name, self.endpoint, now)
                .await
                .and_then(Result::err)
                .map(|e| e.to_string()),
            _ => None,
        }
    }

    /// Records a kept delivery again through the same path, as `mode` says, at the time it was
    /// first received: the drain's and the operator's retry.
    pub async fn reingest(&self, kept: &Kept, mode: Mode) -> Result<Outcome, Rejection> {
        let channel = self.settings.channels.get(&kept.channel).ok_or_else(|| {
            Rejection::Invalid(Invalid::field(
                "channel",
                "not a channel of this deployment's configuration",
            ))
        })?;
        let bytes = serde_json::to_vec(&kept.body).unwrap_or_default();
        let content = Content::of(&bytes)?;
        let intake = Intake {
            channel,
            mode,
            endpoint: kept.endpoint,
            now: kept.received().unwrap_or_else(Utc::now),
            record_by: std::sync::Mutex::new(None),
        };
        let Taken { result, facts } = self.ingest(&intake, content, &bytes).await;
        tracing::info!(
            webhook = kept.webhook.as_str(),
            place = kept.place.as_str(),
            object_id = kept.id.as_str(),
            channel = kept.channel.as_str(),
            outcome = match &result {
                Ok(o) => o.as_string(),
                Err(r) => r.outcome(),
            }
            .as_str(),
            reason = match &result {
                Err(r) => Some(r.to_string()),
                Ok(_) => facts.reason,
            }
            .as_deref(),
            "reingest"
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::intake::last_per_key;
    use super::*;
    use crate::archive::Place;
    use crate::fixtures;
    use crate::payload::{self, Delivery};
    use crate::store::{MemoryArchive, MemoryStore};
    use crate::table::{Document, OrderItem};
    use crate::testing::{post, run, webhook};
    use serde_json::{json, Value};

    #[test]
    fn every_fixture_is_stored_then_duplicate() {
        for f in fixtures::ALL {
            let (name, body) = (f.name, f.body);
            let hook = webhook(f.kind);
            let first = run(hook.handle(post(body.as_bytes())));
            assert_eq!(
                (first.status, first.outcome.as_str()),
                (200, "stored"),
                "{name}"
            );
            assert_eq!(first.body(), r#"{"result":"OK"}"#);
            let again = run(hook.handle(post(body.as_bytes())));
            assert_eq!(
                (again.status, again.outcome.as_str()),
                (200, "duplicate"),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_requests_answer_ko_and_write_nothing() {
        let shipment = fixtures::SHIPMENT_IN_TRANSIT.bytes();
        let mut wrong_key: Value = serde_json::from_slice(shipment).expect("json");
        wrong_key["apiKey"] = json!("not-a-channel-key");
        let wrong_key = wrong_key.to_string();
        let mut no_key: Value = serde_json::from_slice(shipment).expect("json");
        no_key.as_object_mut().map(|m| m.remove("apiKey"));
        let no_key = no_key.to_string();
        let big = vec![b' '; 5000];
        // Two keys after another name given twice, the channel's key last.
        let two_keys = format!(
            r#"{{"place":"A","place":"B","apiKey":"other","trackingNumber":"X","apiKey":"{}"}}"#,
            fixtures::DEMO_KEY
        );
        let cases: Vec<(Request, u16, &str)> = vec![
            (
                Request {
                    method: "GET",
                    ..post(shipment)
                },
                405,
                "rejected:method",
            ),
            (post(&big), 413, "rejected:too_large"),
            (
                Request {
                    source: None,
                    ..post(shipment)
                },
                403,
                "rejected:no_source",
            ),
            (
                Request {
                    source: Some([10, 0, 0, 1].into()),
                    ..post(shipment)
                },
                403,
                "rejected:foreign_sender",
            ),
            (post(b""), 400, "rejected:empty_body"),
            (post(b"{nope"), 400, "rejected:not_json"),
            (post(b"[]"), 400, "rejected:not_object"),
            (post(no_key.as_bytes()), 401, "rejected:missing_key"),
            (post(wrong_key.as_bytes()), 401, "rejected:unknown_key"),
            (
                post(br#"{"apiKey":"a","apiKey":"b","orders":[]}"#),
                400,
                "rejected:duplicate_key",
            ),
            (post(two_keys.as_bytes()), 400, "rejected:duplicate_key"),
            (
                post(br#"{"apiKey":"not-a-key","unrelated":1}"#),
                401,
                "rejected:unknown_key",
            ),
            (post(br#"{"unrelated":1}"#), 401, "rejected:missing_key"),
        ];
        let hook = webhook(Kind::Shipment);
        for (request, status, outcome) in cases {
            let answer = run(hook.handle(request));
            assert_eq!((answer.status, answer.outcome.as_str()), (status, outcome));
            assert_eq!(answer.body(), r#"{"result":"KO"}"#);
        }
        assert!(hook.store.items().is_empty());
    }

    #[test]
    fn an_order_listed_twice_is_stored_once_as_its_last_version() {
        let hook = webhook(Kind::Order);
        let mut body = fixtures::ORDERS.json();
        let mut again = body["orders"][0].clone();
        again["trackingNumber"] = json!("JD0146000099");
        if let Some(orders) = body["orders"].as_array_mut() {
            orders.push(again);
        }
        let answer = run(hook.handle(post(body.to_string().as_bytes())));
        assert_eq!(answer.outcome, "stored");
        let items = hook.store.items();
        assert_eq!(items.len(), 4, "two orders, each with its version");
        let first = &items[&("ORDER#shop-it#ORD-10452".to_owned(), "STATE".to_owned())];
        assert_eq!(first["trackingNumber"], json!("JD0146000099"));
    }

    /// A table that takes a write and never answers.
    struct Stalled(MemoryStore);

    impl Store for Stalled {
        async fn record_shipment(
            &self,
            _: &crate::table::ShipmentState,
            _: &crate::table::ShipmentHistory,
        ) -> Result<Recorded, StoreError> {
            std::future::pending().await
        }
        async fn record_documents(&self, _: &[Document]) -> Result<Recorded, StoreError> {
            std::future::pending().await
        }
        async fn answers(&self) -> bool {
            self.0.answers().await
        }
    }

    /// The invocation's time runs out while the table has not answered: the delivery waits in
    /// the inbox, answered OK, rather than the function timing out on Qapla'.
    #[test]
    fn a_table_that_does_not_answer_in_the_deliverys_time_defers_it_to_the_inbox() {
        for (kind, body) in [
            (Kind::Shipment, fixtures::SHIPMENT_EXCEPTION_STOCK.bytes()),
            (Kind::Order, fixtures::ORDERS.bytes()),
        ] {
            let settings = fixtures::demo_config("t").settings;
            let hook = Webhook::new(
                kind,
                settings,
                Stalled(MemoryStore::new()),
                MemoryArchive::default(),
            );
            let ended: Timer = Box::pin(std::future::ready(()));
            let answer = run(hook.handle_within(post(body), Some(ended)));
            assert_eq!(
                (answer.status, answer.outcome.as_str(), answer.body()),
                (200, "deferred:store", r#"{"result":"OK"}"#),
                "{kind:?}"
            );
            let objects = hook.archive.objects();
            assert_eq!(objects.len(), 1);
            assert!(objects.keys().all(|k| k.starts_with(crate::archive::INBOX)));
        }
    }

    /// A timer that has not ended changes nothing.
    #[test]
    fn a_table_that_answers_in_time_records_as_without_a_timer() {
        let hook = webhook(Kind::Shipment);
        let never: Timer = Box::pin(std::future::pending());
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.bytes();
        let answer = run(hook.handle_within(post(body), Some(never)));
        assert_eq!(answer.outcome, "stored");
        assert!(hook.archive.objects().is_empty());
    }

    #[test]
    fn table_and_bucket_down_is_503_with_nothing_written_then_the_retry_succeeds() {
        for (kind, body) in [
            (Kind::Shipment, fixtures::SHIPMENT_EXCEPTION_STOCK.bytes()),
            (Kind::Order, fixtures::ORDERS.bytes()),
        ] {
            let hook = webhook(kind);
            hook.store.set_down(true);
            hook.archive.set_down(true);
            let answer = run(hook.handle(post(body)));
            assert_eq!(
                (answer.status, answer.outcome.as_str()),
                (503, "failed:store"),
                "{kind:?}"
            );
            hook.store.set_down(false);
            hook.archive.set_down(false);
            assert!(hook.store.items().is_empty(), "{kind:?}");
            assert!(hook.archive.objects().is_empty(), "{kind:?}");
            assert_eq!(run(hook.handle(post(body))).outcome, "stored", "{kind:?}");
        }
    }

    #[test]
    fn an_older_event_is_history_only() {
        let hook = webhook(Kind::Shipment);
        let delivered = fixtures::SHIPMENT_DELIVERED_1_3.bytes();
        let earlier = fixtures::SHIPMENT_EXCEPTION_STOCK.bytes();
        assert_eq!(run(hook.handle(post(delivered))).outcome, "stored");
        assert_eq!(run(hook.handle(post(earlier))).outcome, "stale");
        let items = hook.store.items();
        let state = items
            .iter()
            .find(|((_, sk), _)| sk == "STATE")
            .map(|(_, v)| v.clone())
            .expect("state");
        assert_eq!(state["statusId"], json!(99));
        assert_eq!(
            items
                .keys()
                .filter(|(_, sk)| sk.starts_with("EVENT#"))
                .count(),
            2
        );
        let stored = serde_json::to_string(&items.values().collect::<Vec<_>>()).expect("json");
        assert!(
            !stored.contains(fixtures::DEMO_KEY),
            "the key must never be stored"
        );
    }

    #[test]
    fn each_rejection_maps_to_its_status() {
        let ip: IpAddr = [10, 0, 0, 1].into();
        let cases: Vec<(Rejection, u16, &str)> = vec![
            (Rejection::Method("GET".into()), 405, "rejected:method"),
            (
                Rejection::TooLarge { size: 2, limit: 1 },
                413,
                "rejected:too_large",
            ),
            (Rejection::NoSource, 403, "rejected:no_source"),
            (Rejection::ForeignSender(ip), 403, "rejected:foreign_sender"),
            (Unreadable::Empty.into(), 400, "rejected:empty_body"),
            (
                Unreadable::NotJson("x".into()).into(),
                400,
                "rejected:not_json",
            ),
            (
                Unreadable::DuplicateKey("a".into()).into(),
                400,
                "rejected:duplicate_key",
            ),
            (Unreadable::NotObject.into(), 400, "rejected:not_object"),
            (Rejection::MissingKey, 401, "rejected:missing_key"),
            (Rejection::UnknownKey, 401, "rejected:unknown_key"),
            (Unreadable::UnknownKind.into(), 400, "rejected:unknown_kind"),
            (
                Rejection::Unkept {
                    store: StoreError::Retryable("down".into()),
                    archive: StoreError::Retryable("down".into()),
                },
                503,
                "failed:store",
            ),
            (
                Invalid::Missing("trackingNumber").into(),
                400,
                "rejected:invalid",
            ),
            (
                StoreError::Retryable("down".into()).into(),
                503,
                "failed:store",
            ),
            (
                StoreError::Refused("too large".into()).into(),
                500,
                "failed:store_refused",
            ),
        ];
        for (rejection, status, outcome) in cases {
            assert_eq!(rejection.status(), status, "{rejection}");
            assert_eq!(rejection.outcome(), outcome, "{rejection}");
        }
    }

    #[test]
    fn bodies_are_exact() {
        assert_eq!(answer_body(true), r#"{"result":"OK"}"#);
        assert_eq!(answer_body(false), r#"{"result":"KO"}"#);
    }

    /// An endpoint of the demo channel over a memory store, with the default 1 MiB body limit.
    fn full_size(kind: Kind) -> Webhook<MemoryStore, MemoryArchive> {
        Webhook::new(
            kind,
            fixtures::demo_config("t").settings,
            MemoryStore::new(),
            MemoryArchive::default(),
        )
    }

    #[test]
    fn a_body_too_large_for_any_item_is_kept_whole_and_read_back() {
        for varied in [false, true] {
            let hook = full_size(Kind::Shipment);
            let body = fixtures::large_shipment(900 * 1024, varied).to_string();
            assert!(body.len() < 1024 * 1024);
            let answer = run(hook.handle(post(body.as_bytes())));
            assert_eq!((answer.status, answer.outcome.as_str()), (200, "stored"));
            let items = hook.store.items();
            let history = items
                .iter()
                .find(|((_, sk), _)| sk.starts_with("EVENT#"))
                .map(|(_, v)| v.clone())
                .expect("history item");
            assert_eq!(history.get("payloadRef").is_some(), varied, "{varied}");
            let whole =
                run(crate::archive::full_payload(&history, &hook.archive)).expect("read back");
            let mut sent: Value = serde_json::from_str(&body).expect("json");
            sent.as_object_mut().map(|m| m.remove("apiKey"));
            assert_eq!(whole["rows"], sent["rows"]);
            assert_eq!(whole["trackingNumber"], sent["trackingNumber"]);
            let again = run(hook.handle(post(body.as_bytes())));
            assert_eq!(again.outcome, "duplicate");
        }
    }

    #[test]
    fn a_permanent_refusal_is_quarantined_and_answered_ok() {
        let hook = full_size(Kind::Order);
        let mut body = fixtures::ORDERS.json();
        // One order too large for a table item: the store refuses it whatever the retry.
        body["orders"][0]["notes"] = json!(crate::testing::noise(500 * 1024));
        let body = body.to_string();
        let answer = run(hook.handle(post(body.as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str(), answer.body()),
            (200, "quarantined:store_refused", r#"{"result":"OK"}"#)
        );
        assert!(hook.store.items().is_empty());
        let objects = hook.archive.objects();
        let (key, kept) = objects.iter().next().expect("quarantined");
        assert!(key.starts_with("quarantine/orders/"), "{key}");
        let kept: Value = serde_json::from_slice(kept).expect("json");
        assert_eq!(
            kept["reason"],
            json!("ValidationException: item over the size limit")
        );
        assert_eq!(
            kept["body"]["orders"],
            serde_json::from_str::<Value>(&body).expect("json")["orders"]
        );
        assert!(!String::from_utf8_lossy(&objects[key]).contains(fixtures::DEMO_KEY));
        // Qapla's redelivery lands on the same object.
        assert_eq!(
            run(hook.handle(post(body.as_bytes()))).outcome,
            "quarantined:store_refused"
        );
        assert_eq!(hook.archive.objects().len(), 1);
    }

    #[test]
    fn a_refusal_that_cannot_be_quarantined_is_a_503() {
        let settings = fixtures::demo_config("t").settings;
        let mut body = fixtures::ORDERS.json();
        body["orders"][0]["notes"] = json!(crate::testing::noise(500 * 1024));
        // No archive: the refusal stands, and says so.
        let hook = Webhook::new(
            Kind::Order,
            settings,
            MemoryStore::new(),
            None::<MemoryArchive>,
        );
        let answer = run(hook.handle(post(body.to_string().as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (503, "failed:store")
        );
    }

    #[test]
    fn an_event_dated_far_ahead_cannot_freeze_the_shipment() {
        let hook = full_size(Kind::Shipment);
        let now = Utc::now();
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&crate::dates::rome())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        let mut typo = fixtures::SHIPMENT_IN_TRANSIT.json();
        typo["date"] = json!(local(now + chrono::Duration::days(3 * 365)));
        assert_eq!(
            run(hook.handle(post(typo.to_string().as_bytes()))).outcome,
            "stored"
        );
        let mut real = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        real["date"] = json!(local(now + chrono::Duration::seconds(5)));
        assert_eq!(
            run(hook.handle(post(real.to_string().as_bytes()))).outcome,
            "stored"
        );
        let items = hook.store.items();
        let state = items
            .iter()
            .find(|((_, sk), _)| sk == "STATE")
            .map(|(_, v)| v.clone())
            .expect("state");
        assert_eq!(state["statusId"], json!(6));
        // Both are in the history, the typo under the date it was sent with.
        let typo_year = local(now + chrono::Duration::days(3 * 365))[..4].to_owned();
        assert!(items
            .keys()
            .any(|(_, sk)| sk.starts_with(&format!("EVENT#{typo_year}"))));
        // Slightly ahead (a clock a little fast) still orders by its own date.
        let mut ahead = fixtures::SHIPMENT_DELIVERED_1_3.json();
        ahead["trackingNumber"] = json!("JD0146000031");
        ahead["courier"] = json!("DHL");
        ahead["date"] = json!(local(now + chrono::Duration::minutes(30)));
        assert_eq!(
            run(hook.handle(post(ahead.to_string().as_bytes()))).outcome,
            "stored"
        );
        assert_eq!(
            run(hook.handle(post(real.to_string().as_bytes()))).outcome,
            "duplicate"
        );
    }

    #[test]
    fn two_hundred_fifty_orders_in_one_body() {
        let hook = full_size(Kind::Order);
        let body = fixtures::many_orders(250).to_string();
        let answer = run(hook.handle(post(body.as_bytes())));
        assert_eq!(answer.outcome, "stored");
        assert_eq!(hook.store.items().len(), 500, "each order and its version");
        assert_eq!(run(hook.handle(post(body.as_bytes()))).outcome, "duplicate");
    }

    /// A shipment of the demo channel with `edit` applied.
    fn shipment_with(edit: impl FnOnce(&mut Value)) -> String {
        let mut body = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        edit(&mut body);
        body.to_string()
    }

    /// How many current items (`STATE`) the store holds.
    fn states(hook: &Webhook<MemoryStore, MemoryArchive>) -> usize {
        hook.store
            .items()
            .keys()
            .filter(|(_, sk)| sk == crate::table::STATE)
            .count()
    }

    /// The only object under `prefix`, read back.
    fn only_kept(hook: &Webhook<MemoryStore, MemoryArchive>, prefix: &str) -> Kept {
        let objects: Vec<(String, Vec<u8>)> = hook
            .archive
            .objects()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        assert_eq!(
            objects.len(),
            1,
            "{prefix}: {:?}",
            objects.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        let place = if prefix.starts_with("inbox/") {
            Place::Inbox
        } else {
            Place::Quarantine
        };
        Kept::read(place, &objects[0].1).expect("a kept delivery")
    }

    /// The same invalid body from two channels is kept twice, each under its own channel: one
    /// channel's retry must not record the other's delivery.
    #[test]
    fn the_same_invalid_body_from_two_channels_is_kept_for_each() {
        use crate::auth::{ApiKey, Channel, Channels, OrderTrigger};
        let other = ApiKey::new("demo-key-shop-de");
        let spec = format!(
            "{},{}",
            fixtures::demo_channels(),
            Channel::entry("shop-de", &other, OrderTrigger::Created)
        );
        let settings = Settings {
            channels: Channels::parse(&spec).expect("channels"),
            ..webhook(Kind::Shipment).settings
        };
        let hook = Webhook::new(
            Kind::Shipment,
            settings,
            MemoryStore::new(),
            MemoryArchive::default(),
        );
        let body = shipment_with(|b| b["date"] = json!("2 marzo 2026"));
        for key in [fixtures::DEMO_KEY, "demo-key-shop-de"] {
            let sent = body.replace(fixtures::DEMO_KEY, key);
            let answer = run(hook.handle(post(sent.as_bytes())));
            assert_eq!(answer.outcome, "quarantined:invalid");
        }
        let kept: Vec<(String, String)> = hook
            .archive
            .objects()
            .into_iter()
            .map(|(key, bytes)| {
                let kept = Kept::read(Place::Quarantine, &bytes).expect("kept");
                (kept.channel, key)
            })
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        for (channel, key) in &kept {
            assert!(key.contains(&format!("/{channel}/")), "{key}");
        }
        let channels: Vec<&str> = kept.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(channels, ["shop-de", "shop-it"]);
    }

    #[test]
    fn content_of_a_known_channel_that_does_not_validate_is_quarantined_and_answered_ok() {
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "zero date",
                shipment_with(|b| b["date"] = json!("0000-00-00 00:00:00")),
                "invalid",
                "date: not a date",
            ),
            (
                "date in words",
                shipment_with(|b| b["date"] = json!("2 marzo 2026, 09:41")),
                "invalid",
                "date: not a date",
            ),
            (
                "a date chrono cannot place",
                shipment_with(|b| b["date"] = json!("-262143-01-01 00:00:00")),
                "invalid",
                "date: not a date",
            ),
            (
                "a year of five digits",
                shipment_with(|b| b["date"] = json!("+262142-12-31 23:59:59")),
                "invalid",
                "date: not a date",
            ),
            (
                "status id not a number",
                shipment_with(|b| b["qaplaStatusID"] = json!("SEI")),
                "invalid",
                "qaplaStatusID: not a status id",
            ),
            (
                "statusDetails a bare string",
                shipment_with(|b| b["statusDetails"] = json!("ON HOLD")),
                "invalid",
                "statusDetails",
            ),
            (
                "'#' in a tracking number",
                shipment_with(|b| b["trackingNumber"] = json!("JD01#46")),
                "invalid",
                "trackingNumber: holds",
            ),
            (
                "no tracking number",
                shipment_with(|b| {
                    b.as_object_mut().map(|m| m.remove("trackingNumber"));
                }),
                "invalid",
                "trackingNumber",
            ),
            (
                "blank tracking number",
                shipment_with(|b| b["trackingNumber"] = json!("  ")),
                "invalid",
                "trackingNumber",
            ),
            (
                "no webhook at all",
                json!({"apiKey": fixtures::DEMO_KEY, "hello": "world"}).to_string(),
                "unknown_kind",
                "not a Qapla' webhook",
            ),
            (
                "a member named twice",
                format!(
                    r#"{{"apiKey":"{}","trackingNumber":"A","trackingNumber":"B","qaplaStatusID":"3"}}"#,
                    fixtures::DEMO_KEY
                ),
                "duplicate_key",
                "duplicate key",
            ),
        ];
        for (name, body, code, reason) in cases {
            let hook = webhook(Kind::Shipment);
            let answer = run(hook.handle(post(body.as_bytes())));
            assert_eq!(
                (answer.status, answer.outcome.clone(), answer.body()),
                (200, format!("quarantined:{code}"), r#"{"result":"OK"}"#),
                "{name}"
            );
            assert!(hook.store.items().is_empty(), "{name}");
            let kept = only_kept(&hook, "quarantine/shipments/");
            assert!(kept.reason.contains(reason), "{name}: {}", kept.reason);
            for value in [
                "0000-00-00",
                "marzo",
                "262143",
                "SEI",
                "ON HOLD",
                "JD01#46",
                "world",
            ] {
                assert!(
                    !kept.reason.contains(value),
                    "{name}: the reason quotes the value: {}",
                    kept.reason
                );
            }
            let raw = String::from_utf8_lossy(
                &hook
                    .archive
                    .objects()
                    .into_values()
                    .next()
                    .unwrap_or_default(),
            )
            .into_owned();
            assert!(
                !raw.contains(fixtures::DEMO_KEY),
                "{name}: the key was kept"
            );
            assert_eq!(kept.channel, fixtures::DEMO_CHANNEL, "{name}");
            // Qapla's retry lands on the same object.
            run(hook.handle(post(body.as_bytes())));
            assert_eq!(hook.archive.objects().len(), 1, "{name}");
        }
    }

    #[test]
    fn a_delivery_to_another_webhooks_endpoint_is_recorded_as_what_it_is() {
        for (endpoint, body) in [
            (Kind::Shipment, fixtures::ORDERS.bytes()),
            (Kind::Order, fixtures::SHIPMENT_IN_TRANSIT.bytes()),
            (Kind::Shipment, fixtures::RETURNS_WRAPPED.bytes()),
        ] {
            let hook = webhook(endpoint);
            let right = webhook(payload::read(body).expect("read").kind);
            let answer = run(hook.handle(post(body)));
            assert_eq!(
                (answer.status, answer.outcome.as_str()),
                (200, "stored"),
                "{endpoint}"
            );
            run(right.handle(post(body)));
            assert_eq!(hook.store.items(), right.store.items(), "{endpoint}");
        }
    }

    #[test]
    fn the_bad_orders_of_a_body_are_kept_together_in_one_object_with_each_reason() {
        let hook = full_size(Kind::Order);
        let mut body = fixtures::many_orders(30);
        for bad in [3, 17, 29] {
            body["orders"][bad]["shipDate"] = json!("0000-00-00 00:00:00");
        }
        let body = body.to_string();
        let answer = run(hook.handle(post(body.as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (200, "quarantined:invalid")
        );
        assert_eq!(states(&hook), 27);
        // One archive write for the three, in their order, each reason naming its entry.
        let kept = only_kept(&hook, "quarantine/orders/");
        let sent: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            kept.body["orders"],
            json!([sent["orders"][3], sent["orders"][17], sent["orders"][29]])
        );
        let reasons: Vec<&str> = kept.reason.split("; ").collect();
        assert_eq!(reasons.len(), 3, "{}", kept.reason);
        for (reason, at) in reasons
            .iter()
            .zip(["orders[3]", "orders[17]", "orders[29]"])
        {
            assert!(reason.starts_with(at), "{reason}");
        }
        // A retry of the kept object keeps it as it is: the same object, nothing recorded.
        let again = run(hook.handle(post(body.as_bytes())));
        assert_eq!(again.outcome, "quarantined:invalid");
        assert_eq!(hook.archive.objects().len(), 1);
    }

    #[test]
    fn one_bad_order_among_thirty_is_quarantined_alone() {
        let hook = full_size(Kind::Order);
        let mut body = fixtures::many_orders(30);
        body["orders"][17]["shipDate"] = json!("0000-00-00 00:00:00");
        let body = body.to_string();
        let answer = run(hook.handle(post(body.as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (200, "quarantined:invalid")
        );
        assert_eq!(states(&hook), 29);
        let kept = only_kept(&hook, "quarantine/orders/");
        assert!(kept.reason.starts_with("orders[17]"), "{}", kept.reason);
        let sent: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(kept.body["orders"], json!([sent["orders"][17]]));
        // Redelivered: the 29 are duplicates, the bad one the same object.
        let again = run(hook.handle(post(body.as_bytes())));
        assert_eq!(again.outcome, "quarantined:invalid");
        assert_eq!(hook.archive.objects().len(), 1);
        assert_eq!(states(&hook), 29);
    }

    #[test]
    fn one_bad_return_among_several_is_quarantined_alone_in_both_shapes() {
        let wrapped = fixtures::RETURNS_WRAPPED.json();
        let list = wrapped["webhookReturnShipments"]["returnShipments"].clone();
        let mut two = list[0].clone();
        two["RMA"] = json!("RMA-2");
        let mut bad = list[0].clone();
        bad["RMA"] = json!("RMA#3");
        let entries = json!([list[0], two, bad]);
        let mut wrapped_body = wrapped.clone();
        wrapped_body["webhookReturnShipments"]["returnShipments"] = entries.clone();
        let flat_body = json!({"apiKey": fixtures::DEMO_KEY, "returnShipments": entries});
        for body in [wrapped_body, flat_body] {
            let hook = webhook(Kind::Return);
            let answer = run(hook.handle(post(body.to_string().as_bytes())));
            assert_eq!(answer.outcome, "quarantined:invalid");
            assert_eq!(states(&hook), 2);
            let kept = only_kept(&hook, "quarantine/returns/");
            assert!(
                kept.reason.starts_with("returnShipments[2]"),
                "{}",
                kept.reason
            );
        }
    }

    #[test]
    fn a_quarantined_delivery_is_retried_once_its_cause_is_fixed() {
        let hook = webhook(Kind::Shipment);
        let body = shipment_with(|b| b["date"] = json!("2026-03-02 9.41"));
        run(hook.handle(post(body.as_bytes())));
        let mut kept = only_kept(&hook, "quarantine/");
        // Still invalid: said, nothing kept again, nothing recorded.
        let still = run(hook.reingest(&kept, Mode::Retry));
        assert!(matches!(still, Err(Rejection::Invalid(_))), "{still:?}");
        assert!(hook.store.items().is_empty());
        kept.body["date"] = json!("2026-03-02 09:41:00");
        let fixed = run(hook.reingest(&kept, Mode::Retry)).expect("recorded");
        assert_eq!(fixed, Outcome::Recorded(Recorded::Stored));
        assert_eq!(hook.store.items().len(), 2);
    }

    #[test]
    fn the_orders_dedupe_keeps_the_last_of_each_key_in_first_seen_order() {
        let hook = full_size(Kind::Order);
        let channel = hook
            .settings
            .channels
            .get(fixtures::DEMO_CHANNEL)
            .expect("demo")
            .clone();
        let body = fixtures::many_orders(4)
            .as_object()
            .cloned()
            .unwrap_or_default();
        let Ok(Delivery::Orders(d)) =
            payload::validate_body(Kind::Order, body, crate::dates::rome())
        else {
            panic!("orders")
        };
        let now = Utc::now();
        let docs = |picks: &[(usize, &str)]| {
            picks
                .iter()
                .map(|(i, tracking)| {
                    let mut o = d.orders[*i].clone();
                    o.tracking_number = Some((*tracking).to_owned());
                    Document::Order(OrderItem::new(&channel, channel.trigger, &o, now))
                })
                .collect::<Vec<_>>()
        };
        let got = last_per_key(
            docs([(0, "a"), (1, "b"), (0, "c"), (2, "d"), (1, "e")].as_slice()).into_iter(),
        );
        let expected = docs(&[(0, "c"), (1, "e"), (2, "d")]);
        assert_eq!(
            got.iter().map(|d| d.pk().to_owned()).collect::<Vec<_>>(),
            expected
                .iter()
                .map(|d| d.pk().to_owned())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            got.iter()
                .map(|d| d.event_id().as_str().to_owned())
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|d| d.event_id().as_str().to_owned())
                .collect::<Vec<_>>()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any date text, of any year or length, in a shipment or an order of a known channel: an
        /// OK answer (recorded or quarantined), never a panic or a 500.
        #[test]
        fn any_date_is_recorded_or_quarantined(
            year in proptest::prop_oneof![-300_000i64..300_000, 0i64..10_000],
            rest in "(-[0-9]{1,2}-[0-9]{1,2}( [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?)?",
            noise in "\\PC{0,12}",
            pick in 0usize..3,
        ) {
            let date = match pick {
                0 => format!("{year:04}{rest}"),
                1 => format!("{year:+}{rest}"),
                _ => noise,
            };
            let mut shipment = fixtures::SHIPMENT_IN_TRANSIT.json();
            shipment["date"] = json!(date);
            let hook = webhook(Kind::Shipment);
            let answer = run(hook.handle(post(shipment.to_string().as_bytes())));
            proptest::prop_assert_eq!(answer.status, 200, "{} {}", date, answer.outcome);
            let mut orders = fixtures::many_orders(3);
            orders["orders"][1]["shipDate"] = json!(date);
            let hook = full_size(Kind::Order);
            let answer = run(hook.handle(post(orders.to_string().as_bytes())));
            proptest::prop_assert_eq!(answer.status, 200, "{} {}", date, answer.outcome);
        }
    }

    mod heartbeats {
        use super::*;
        use crate::heartbeat::MemoryHeartbeats;
        use std::sync::Arc;

        fn at(minute: i64) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
                + chrono::Duration::minutes(minute)
        }

        fn beating(
            kind: Kind,
            beats: &Arc<MemoryHeartbeats>,
        ) -> Webhook<MemoryStore, MemoryArchive> {
            webhook(kind).with_heartbeats(Arc::clone(beats))
        }

        #[test]
        fn an_accepted_delivery_beats_for_its_channel_once_per_interval() {
            let beats = Arc::new(MemoryHeartbeats::default());
            let hook = beating(Kind::Shipment, &beats);
            let body = fixtures::SHIPMENT_IN_TRANSIT.body.as_bytes();
            assert_eq!(run(hook.handle_at(post(body), at(0))).status, 200);
            let beat = beats.get(fixtures::DEMO_CHANNEL, Kind::Shipment);
            assert_eq!(beat.and_then(|b| b.last_delivery), Some(at(0)));
            assert_eq!(beats.get(fixtures::DEMO_CHANNEL, Kind::Order), None);
            // A redelivery a minute later is accepted, and the memo spares the write.
            assert_eq!(run(hook.handle_at(post(body), at(1))).outcome, "duplicate");
            assert_eq!(beats.beats(), 1);
            // Quarantined content is Qapla's delivery too.
            let invalid =
                br#"{"apiKey": "demo-key-shop-it", "trackingNumber": "", "qaplaStatusID": "x"}"#;
            let answer = run(hook.handle_at(post(invalid), at(6)));
            assert!(
                answer.outcome.starts_with("quarantined:"),
                "{}",
                answer.outcome
            );
            assert_eq!(beats.beats(), 2);
            assert_eq!(
                beats
                    .get(fixtures::DEMO_CHANNEL, Kind::Shipment)
                    .and_then(|b| b.last_delivery),
                Some(at(6))
            );
        }

        #[test]
        fn what_is_not_accepted_does_not_beat() {
            let beats = Arc::new(MemoryHeartbeats::default());
            let hook = beating(Kind::Order, &beats);
            let unknown = br#"{"apiKey": "someone-else", "orders": []}"#;
            assert_eq!(run(hook.handle_at(post(unknown), at(0))).status, 401);
            let deferred = webhook(Kind::Order).with_heartbeats(Arc::clone(&beats));
            deferred.store.set_down(true);
            let body = fixtures::ORDERS.body.as_bytes();
            let answer = run(deferred.handle_at(post(body), at(0)));
            assert_eq!(
                (answer.status, answer.outcome.as_str()),
                (200, "deferred:store")
            );
            assert_eq!(beats.beats(), 0);
        }

        #[test]
        fn a_failed_beat_changes_no_answer() {
            let beats = Arc::new(MemoryHeartbeats::refusing_beats());
            let hook = beating(Kind::Return, &beats);
            let plain = webhook(Kind::Return);
            let body = fixtures::RETURNS_FLAT.body.as_bytes();
            let failing = run(hook.handle_at(post(body), at(0)));
            assert_eq!(beats.beats(), 1);
            assert_eq!(failing, run(plain.handle_at(post(body), at(0))));
            assert_eq!((failing.status, failing.outcome.as_str()), (200, "stored"));
        }
    }
}
