//! The request path of a webhook function, free of Lambda and AWS types:
//! method → body size → sender → parse → channel → kind → validate → record → answer,
//! with one structured log line per request. [`Rejection`] is every way a request can get a KO,
//! and [`Rejection::status`] the one place that maps it to the HTTP answer.

use crate::archive::Quarantined;
use crate::auth::{Allowlist, Channel, Channels};
use crate::kind::Kind;
use crate::model::Invalid;
use crate::payload::{self, Delivery, Unreadable};
use crate::store::{Recorded, Store, StoreError};
use crate::table::{Document, OrderItem, ReturnItem, Source};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::net::IpAddr;
use std::time::Instant;

/// Why a request gets a KO answer.
///
/// Answer policy (Qapla' disables a webhook after 100 failures, so KO must be earned):
/// - not a delivery at all (empty, not JSON, not an object, invalid content, wrong webhook): 400;
/// - not Qapla's (no key, unknown key): 401; sender outside the allowlist: 403;
/// - not a POST: 405; too large: 413;
/// - our store failed, so a retry can help: 503;
/// - the store refused the items for good: the delivery is quarantined whole and answered OK
///   (outcome `quarantined`); only if even the quarantine refuses it: 500.
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
    #[error("a {found} delivery sent to the {expected} endpoint")]
    WrongKind { expected: Kind, found: Kind },
    #[error("invalid: {0}")]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Rejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Method(_) => 405,
            Rejection::TooLarge { .. } => 413,
            Rejection::NoSource | Rejection::ForeignSender(_) => 403,
            Rejection::MissingKey | Rejection::UnknownKey => 401,
            Rejection::Unreadable(_) | Rejection::WrongKind { .. } | Rejection::Invalid(_) => 400,
            Rejection::Store(e) if e.is_retryable() => 503,
            Rejection::Store(_) => 500,
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
            Rejection::WrongKind { .. } => "wrong_kind",
            Rejection::Invalid(_) => "invalid",
            Rejection::Store(e) if e.is_retryable() => "store",
            Rejection::Store(_) => "store_refused",
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

/// The answer: an HTTP status and whether the body says OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub ok: bool,
    /// `stored`, `duplicate`, `stale`, `quarantined`, `rejected:<reason>` or `failed:<reason>`.
    pub outcome: String,
}

impl Answer {
    pub fn body(&self) -> &'static str {
        answer_body(self.ok)
    }
}

/// One webhook endpoint over a store.
#[derive(Debug)]
pub struct Webhook<S> {
    pub endpoint: Kind,
    pub settings: Settings,
    pub store: S,
}

/// What the log line says of a delivery; never the key, never consignee or customer data.
#[derive(Debug, Default)]
struct Facts {
    channel: Option<String>,
    courier: Option<String>,
    tracking: Option<String>,
    status: Option<String>,
    count: Option<usize>,
    /// Why a delivery answered OK was quarantined: the store's refusal.
    quarantined: Option<String>,
}

impl<S: Store> Webhook<S> {
    pub fn new(endpoint: Kind, settings: Settings, store: S) -> Self {
        Webhook {
            endpoint,
            settings,
            store,
        }
    }

    /// Handles one request and logs its outcome.
    pub async fn handle(&self, request: Request<'_>) -> Answer {
        let started = Instant::now();
        let mut facts = Facts::default();
        let result = self.run(request, Utc::now(), &mut facts).await;
        let answer = match &result {
            Ok(recorded) => Answer {
                status: 200,
                ok: true,
                outcome: recorded.as_str().to_owned(),
            },
            Err(rejection) => Answer {
                status: rejection.status(),
                ok: false,
                outcome: rejection.outcome(),
            },
        };
        let reason = match &result {
            Err(rejection) => Some(rejection.to_string()),
            Ok(_) => facts.quarantined.take(),
        };
        tracing::info!(
            webhook = self.endpoint.as_str(),
            status = answer.status,
            outcome = answer.outcome.as_str(),
            reason = reason.as_deref(),
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

    async fn run(
        &self,
        request: Request<'_>,
        now: DateTime<Utc>,
        facts: &mut Facts,
    ) -> Result<Recorded, Rejection> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(Rejection::Method(request.method.chars().take(16).collect()));
        }
        let limit = self.settings.max_body_bytes;
        if request.body.len() > limit {
            return Err(Rejection::TooLarge {
                size: request.body.len(),
                limit,
            });
        }
        let source = request.source.ok_or(Rejection::NoSource)?;
        if !self.settings.allowlist.allows(source) {
            return Err(Rejection::ForeignSender(source));
        }
        let envelope = payload::read(request.body)?;
        let key = envelope.key.as_ref().ok_or(Rejection::MissingKey)?;
        let channel = self
            .settings
            .channels
            .authenticate(key)
            .ok_or(Rejection::UnknownKey)?;
        facts.channel = Some(channel.name.clone());
        if envelope.kind != self.endpoint {
            return Err(Rejection::WrongKind {
                expected: self.endpoint,
                found: envelope.kind,
            });
        }
        let delivery = envelope.validate(self.settings.timezone)?;
        match self.record(channel, &delivery, now, facts).await {
            Err(Rejection::Store(StoreError::Refused(reason))) => {
                self.quarantine(request.body, channel, now, reason, facts)
                    .await
            }
            other => other,
        }
    }

    /// Keeps a delivery the store refused for good whole in the quarantine, so that it is not
    /// lost and Qapla' does not retry it in vain. If the quarantine fails too, the refusal stands.
    async fn quarantine(
        &self,
        body: &[u8],
        channel: &Channel,
        now: DateTime<Utc>,
        reason: String,
        facts: &mut Facts,
    ) -> Result<Recorded, Rejection> {
        // The body was read once already; read again here, on this rare path, to keep it whole.
        let kept = payload::read(body)?.body();
        let entry = Quarantined {
            webhook: self.endpoint.as_str(),
            channel: channel.name.clone(),
            received_at: crate::dates::iso(&now),
            id: crate::identity::EventId::of_map(&kept).to_string(),
            body: serde_json::Value::Object(kept),
            reason,
        };
        match self.store.keep(&entry.key(), entry.bytes()).await {
            Ok(()) => {
                facts.quarantined = Some(entry.reason);
                Ok(Recorded::Quarantined)
            }
            Err(StoreError::Refused(_)) => Err(StoreError::Refused(entry.reason).into()),
            Err(retryable) => Err(retryable.into()),
        }
    }

    /// When a return or order item written now expires (epoch seconds, the table's TTL).
    fn document_expiry(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + i64::from(self.settings.return_order_days) * 86_400
    }

    async fn record(
        &self,
        channel: &Channel,
        delivery: &Delivery<'_>,
        now: DateTime<Utc>,
        facts: &mut Facts,
    ) -> Result<Recorded, Rejection> {
        let recorded = match delivery {
            Delivery::Shipment(ev) => {
                facts.courier = Some(ev.courier.to_string());
                facts.tracking = Some(ev.tracking_number.to_string());
                facts.status = Some(ev.status.name.to_string());
                let days = self.settings.history_days;
                crate::record::shipment(&self.store, channel, ev, Source::Webhook, now, days)
                    .await?
            }
            Delivery::Returns(d) => {
                facts.count = Some(d.returns.len());
                let expires = self.document_expiry(now);
                let docs = d.returns.iter().map(|r| {
                    Document::Return(ReturnItem::new(channel, &d.id, r, now).expiring(expires))
                });
                self.store.record_documents(&last_per_key(docs)).await?
            }
            Delivery::Orders(d) => {
                facts.count = Some(d.orders.len());
                facts.courier = d.orders.first().and_then(|o| o.courier.clone());
                let expires = self.document_expiry(now);
                let docs = d.orders.iter().map(|o| {
                    Document::Order(
                        OrderItem::new(channel, channel.trigger, o, now).expiring(expires),
                    )
                });
                self.store.record_documents(&last_per_key(docs)).await?
            }
        };
        Ok(recorded)
    }
}

/// One document per item key, the last one a delivery holds: a body may list the same order
/// twice, and one DynamoDB transaction cannot write an item twice.
fn last_per_key(docs: impl Iterator<Item = Document>) -> Vec<Document> {
    let mut kept: Vec<Document> = Vec::new();
    for doc in docs {
        match kept.iter_mut().find(|k| k.pk() == doc.pk()) {
            Some(slot) => *slot = doc,
            None => kept.push(doc),
        }
    }
    kept
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fixtures;
    use crate::store::MemoryStore;
    use serde_json::{json, Value};

    /// An endpoint of the demo channel over a memory store, with a small body limit.
    pub(crate) fn webhook(kind: Kind) -> Webhook<MemoryStore> {
        let settings = Settings {
            max_body_bytes: 4096,
            ..fixtures::demo_config("t").settings
        };
        Webhook::new(kind, settings, MemoryStore::new())
    }

    pub(crate) fn post(body: &[u8]) -> Request<'_> {
        Request {
            method: "POST",
            source: Some([34, 96, 89, 1].into()),
            body,
        }
    }

    pub(crate) fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

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
        let mut no_tracking: Value = serde_json::from_slice(shipment).expect("json");
        no_tracking["trackingNumber"] = json!("");
        let no_tracking = no_tracking.to_string();
        let big = vec![b' '; 5000];
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
            (post(fixtures::ORDERS.bytes()), 400, "rejected:wrong_kind"),
            (post(no_tracking.as_bytes()), 400, "rejected:invalid"),
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

    #[test]
    fn store_down_is_503_then_retry_succeeds() {
        let hook = webhook(Kind::Shipment);
        hook.store.set_down(true);
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.bytes();
        let answer = run(hook.handle(post(body)));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (503, "failed:store")
        );
        hook.store.set_down(false);
        assert!(hook.store.items().is_empty());
        assert_eq!(run(hook.handle(post(body))).outcome, "stored");
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
                Rejection::WrongKind {
                    expected: Kind::Shipment,
                    found: Kind::Order,
                },
                400,
                "rejected:wrong_kind",
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
    fn full_size(kind: Kind) -> Webhook<MemoryStore> {
        Webhook::new(
            kind,
            fixtures::demo_config("t").settings,
            MemoryStore::new(),
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
            let whole = run(crate::archive::full_payload(&history, &hook.store.archive))
                .expect("read back");
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
        body["orders"][0]["notes"] = json!(crate::archive::tests::noise(500 * 1024));
        let body = body.to_string();
        let answer = run(hook.handle(post(body.as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str(), answer.body()),
            (200, "quarantined", r#"{"result":"OK"}"#)
        );
        assert!(hook.store.items().is_empty());
        let objects = hook.store.archive.objects();
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
            "quarantined"
        );
        assert_eq!(hook.store.archive.objects().len(), 1);
    }

    #[test]
    fn a_refusal_that_cannot_be_quarantined_stays_a_failure() {
        let settings = fixtures::demo_config("t").settings;
        let mut body = fixtures::ORDERS.json();
        body["orders"][0]["notes"] = json!(crate::archive::tests::noise(500 * 1024));
        // A store without an archive: the refusal stands, and says so.
        use crate::table::{ShipmentHistory, ShipmentState};
        struct NoArchive(MemoryStore);
        impl Store for NoArchive {
            async fn record_shipment(
                &self,
                s: &ShipmentState,
                h: &ShipmentHistory,
            ) -> Result<Recorded, StoreError> {
                self.0.record_shipment(s, h).await
            }
            async fn record_documents(&self, d: &[Document]) -> Result<Recorded, StoreError> {
                self.0.record_documents(d).await
            }
        }
        let hook = Webhook::new(Kind::Order, settings, NoArchive(MemoryStore::new()));
        let answer = run(hook.handle(post(body.to_string().as_bytes())));
        assert_eq!(
            (answer.status, answer.outcome.as_str()),
            (500, "failed:store_refused")
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
}
