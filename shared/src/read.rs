//! The read side: pure queries over table items (a shipment's timeline, an order with its
//! shipments and returns, idle shipments, the changes of a window to replay), and the small
//! [`Reader`] port that fetches those items, with its memory twin. The DynamoDB reader lives in
//! the AWS adapters and only queries; what the items mean is decided here.

use crate::archive::held_payload;
use crate::model::shipment::{Shipment, ShipmentEvent, StatusDetail};
use crate::notify::{attr, Change, EventType, Notice};
use crate::status::Status;
use crate::store::MemoryStore;
use crate::table::{self, ItemKind, OrderItem, ReturnItem, ShipmentHistory, ShipmentState};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::future::Future;

/// Reading the table failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The table does not exist (a wrong name or region).
    #[error("table {0} not found")]
    NoTable(String),
    /// The table could not be read (no credentials, no network, throttled, refused).
    #[error("cannot read the table: {0}")]
    Unavailable(String),
    /// An item is not what its keys say.
    #[error("unreadable item {pk}: {reason}")]
    BadItem { pk: String, reason: String },
}

/// Fetches table items. Every method but [`Reader::received_between`] is a query.
pub trait Reader: Send + Sync {
    /// The pks of the shipments with this tracking number (the tracking index).
    fn shipment_keys(
        &self,
        tracking: &str,
    ) -> impl Future<Output = Result<Vec<String>, ReadError>> + Send;

    /// Every item of a partition: a shipment's state and history, a return, an order.
    fn partition(&self, pk: &str) -> impl Future<Output = Result<Vec<Value>, ReadError>> + Send;

    /// The items linked to a channel's order reference (the reference index).
    fn by_reference(
        &self,
        channel: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReadError>> + Send;

    /// The open shipments of a channel whose last change is before `before` (ISO 8601 UTC),
    /// oldest first (the open index).
    fn open_before(
        &self,
        channel: &str,
        before: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ReadError>> + Send;

    /// Every item received in `[since, until)` (ISO 8601 UTC). A scan: `progress` hears how many
    /// items were read so far.
    fn received_between(
        &self,
        since: &str,
        until: &str,
        progress: &(dyn Fn(usize) + Sync),
    ) -> impl Future<Output = Result<Vec<Value>, ReadError>> + Send;
}

fn text<'a>(item: &'a Value, name: &str) -> &'a str {
    item.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn kind(item: &Value) -> Option<ItemKind> {
    ItemKind::of(text(item, table::PK), text(item, table::SK))
}

fn typed<T: DeserializeOwned>(item: &Value) -> Result<T, ReadError> {
    T::deserialize(item).map_err(|e| ReadError::BadItem {
        pk: text(item, table::PK).to_owned(),
        reason: e.to_string(),
    })
}

/// The memory store read with the same rules as the table's indexes.
impl Reader for MemoryStore {
    async fn shipment_keys(&self, tracking: &str) -> Result<Vec<String>, ReadError> {
        let key = table::tracking_key(tracking);
        let mut found: Vec<(String, String)> = self
            .items()
            .into_values()
            .filter(|i| text(i, table::TRACKING_PK) == key)
            .map(|i| {
                (
                    text(&i, table::TRACKING_SK).to_owned(),
                    text(&i, table::PK).to_owned(),
                )
            })
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, pk)| pk).collect())
    }

    async fn partition(&self, pk: &str) -> Result<Vec<Value>, ReadError> {
        Ok(self
            .items()
            .into_iter()
            .filter(|((p, _), _)| p == pk)
            .map(|(_, v)| v)
            .collect())
    }

    async fn by_reference(&self, channel: &str, reference: &str) -> Result<Vec<Value>, ReadError> {
        let key = table::reference_key(channel, reference);
        let mut found: Vec<Value> = self
            .items()
            .into_values()
            .filter(|i| text(i, table::GSI1_PK) == key)
            .collect();
        found.sort_by(|a, b| text(a, table::GSI1_SK).cmp(text(b, table::GSI1_SK)));
        Ok(found)
    }

    async fn open_before(&self, channel: &str, before: &str) -> Result<Vec<Value>, ReadError> {
        let key = table::open_key(channel);
        let mut found: Vec<Value> = self
            .items()
            .into_values()
            .filter(|i| text(i, table::OPEN_PK) == key && text(i, table::OPEN_SK) < before)
            .collect();
        found.sort_by(|a, b| text(a, table::OPEN_SK).cmp(text(b, table::OPEN_SK)));
        Ok(found)
    }

    async fn received_between(
        &self,
        since: &str,
        until: &str,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Value>, ReadError> {
        let items = self.items();
        progress(items.len());
        Ok(items
            .into_values()
            .filter(|i| {
                let at = text(i, table::RECEIVED_AT);
                at >= since && at < until
            })
            .collect())
    }
}

// ---------------------------------------------------------------- timeline

/// Where an event came from: a webhook delivery unless the history item says otherwise.
pub const SOURCE_WEBHOOK: &str = "webhook";

/// One event of a shipment's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub event_id: String,
    /// The status time in the configured zone (with its abbreviation) and in UTC.
    pub local: String,
    pub date_utc: String,
    pub status_id: u32,
    pub status_detail: Option<u32>,
    pub status_name: String,
    pub place: Option<String>,
    /// The courier's own text for the status.
    pub courier_status: Option<String>,
    pub source: String,
    pub received_at: String,
    /// How long after the status time the event reached us, in seconds.
    pub delay_seconds: Option<i64>,
}

/// A shipment's state and its history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub state: ShipmentState,
    pub history: Vec<Entry>,
}

fn instant(iso: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A UTC instant in a zone, as `2026-03-02 09:41:07 CET`; the input unchanged if unreadable.
pub fn local(iso: &str, tz: Tz) -> String {
    instant(iso).map_or_else(
        || iso.to_owned(),
        |t| {
            t.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        },
    )
}

/// The order of events within a shipment: the state's (time, then a final status, then the id).
fn history_ord(h: &ShipmentHistory) -> String {
    let is_final = crate::status::lookup(h.status_id, h.status_detail).is_some_and(|s| s.is_final);
    format!("{}#{}#{}", h.date_utc, u8::from(is_final), h.event_id)
}

/// The timeline of one shipment from the items of its partition; `None` if it has no state.
pub fn timeline(items: &[Value], tz: Tz) -> Result<Option<Timeline>, ReadError> {
    let mut state = None;
    let mut history = Vec::new();
    for item in items {
        match kind(item) {
            Some(ItemKind::ShipmentState) => state = Some(typed::<ShipmentState>(item)?),
            Some(ItemKind::ShipmentHistory) => history.push(typed::<ShipmentHistory>(item)?),
            _ => {}
        }
    }
    let Some(state) = state else {
        return Ok(None);
    };
    history.sort_by_key(history_ord);
    let history = history
        .into_iter()
        .map(|h| Entry {
            local: local(&h.date_utc, tz),
            delay_seconds: instant(&h.received_at)
                .zip(instant(&h.date_utc))
                .map(|(r, d)| (r - d).num_seconds()),
            courier_status: h
                .payload
                .get("courierStatus")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            source: h.source.map_or(SOURCE_WEBHOOK, |s| s.as_str()).to_owned(),
            event_id: h.event_id.as_str().to_owned(),
            date_utc: h.date_utc,
            status_id: h.status_id,
            status_detail: h.status_detail,
            status_name: h.status_name,
            place: h.place,
            received_at: h.received_at,
        })
        .collect();
    Ok(Some(Timeline { state, history }))
}

// ---------------------------------------------------------------- order

/// An order reference with what the table links to it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OrderView {
    pub orders: Vec<OrderItem>,
    pub shipments: Vec<ShipmentState>,
    pub returns: Vec<ReturnItem>,
}

impl OrderView {
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.shipments.is_empty() && self.returns.is_empty()
    }
}

/// Sorts the items the reference index found for one order reference.
pub fn order(items: &[Value]) -> Result<OrderView, ReadError> {
    let mut view = OrderView::default();
    for item in items {
        match kind(item) {
            Some(ItemKind::Order) => view.orders.push(typed(item)?),
            Some(ItemKind::ShipmentState) => view.shipments.push(typed(item)?),
            Some(ItemKind::Return) => view.returns.push(typed(item)?),
            _ => {}
        }
    }
    view.shipments
        .sort_by(|a, b| (&a.date_utc, &a.pk).cmp(&(&b.date_utc, &b.pk)));
    view.returns.sort_by(|a, b| a.pk.cmp(&b.pk));
    view.orders.sort_by(|a, b| a.pk.cmp(&b.pk));
    Ok(view)
}

// ---------------------------------------------------------------- idle

/// Which statuses a query takes: `id` (any detail) or `id/detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter {
    pub id: u32,
    pub detail: Option<u32>,
}

impl StatusFilter {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || format!("{spec:?} is not a status id or id/detail (e.g. 6 or 6/1)");
        let (id, detail) = match spec.trim().split_once('/') {
            Some((id, d)) => (id, Some(d.trim().parse().map_err(|_| bad())?)),
            None => (spec.trim(), None),
        };
        Ok(StatusFilter {
            id: id.trim().parse().map_err(|_| bad())?,
            detail,
        })
    }

    pub fn matches(&self, id: u32, detail: Option<u32>) -> bool {
        self.id == id && (self.detail.is_none() || self.detail == detail)
    }
}

/// An idle shipment: open, and how long its last change is past (`qapla stuck` lists them; the
/// stuck check, [`crate::stuck`], has thresholds of its own).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Idle {
    pub state: ShipmentState,
    pub age_seconds: i64,
}

/// The bound of the open index's sort key for changes older than `older_than` at `now`.
pub fn open_cutoff(now: DateTime<Utc>, older_than: Duration) -> String {
    crate::dates::iso(&(now - older_than))
}

/// The open shipments whose last change is older than `older_than`, of a status if one is given,
/// oldest first. Final shipments are left out even if an item says otherwise.
pub fn idle(
    items: &[Value],
    status: Option<StatusFilter>,
    older_than: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Idle>, ReadError> {
    let cutoff = open_cutoff(now, older_than);
    let mut found = Vec::new();
    for item in items {
        if kind(item) != Some(ItemKind::ShipmentState) {
            continue;
        }
        let state: ShipmentState = typed(item)?;
        if state.is_final
            || state.last_change() >= cutoff.as_str()
            || status.is_some_and(|f| !f.matches(state.status_id, state.status_detail))
        {
            continue;
        }
        let age_seconds = instant(state.last_change()).map_or(0, |t| (now - t).num_seconds());
        found.push(Idle { state, age_seconds });
    }
    found.sort_by(|a, b| {
        (a.state.last_change(), &a.state.pk).cmp(&(b.state.last_change(), &b.state.pk))
    });
    Ok(found)
}

// ---------------------------------------------------------------- replay

/// A change to notify again, with when it reached us.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub received_at: String,
    pub change: Change,
}

/// The change a history item kept, rebuilt as the webhook validated it: its status, dates and
/// place from the item's own attributes, the rest from `payload`, the model the change was
/// recorded with (see [`payloads`]).
fn change_of(
    shipment: &ShipmentState,
    h: &ShipmentHistory,
    payload: Option<&Value>,
) -> Result<ShipmentEvent<'static>, ReadError> {
    let bad = |what: &str| ReadError::BadItem {
        pk: h.pk.clone(),
        reason: format!("{} {what} is not a time", h.sk),
    };
    // Owned, so the model lends nothing (`Shipment<'static>`).
    let mut model = payload
        .filter(|p| !p.is_null())
        .and_then(|p| Shipment::deserialize(p.clone()).ok())
        .unwrap_or_default();
    model.place = h.place.clone().map(Cow::Owned);
    let detail_text = model
        .status_details
        .as_deref()
        .and_then(<[StatusDetail]>::first)
        .and_then(|d| d.detail.as_deref())
        .map(str::to_owned);
    Ok(ShipmentEvent {
        id: h.delivery_id.clone().unwrap_or_else(|| h.event_id.clone()),
        version: model.version(),
        tracking_number: Cow::Owned(shipment.tracking_number.clone()),
        courier: Cow::Owned(shipment.courier.clone()),
        status: Status::map(h.status_id, h.status_detail, detail_text, &h.status_name),
        date_raw: Cow::Owned(h.date.clone()),
        date_utc: instant(&h.date_utc).ok_or_else(|| bad("dateUtc"))?,
        model,
    })
}

/// The state a history item made: its change through the one projection the webhook and the
/// reconciler record with ([`ShipmentState::project`]), as it reached us then.
fn state_of(
    shipment: &ShipmentState,
    h: &ShipmentHistory,
    payload: Option<&Value>,
) -> Result<ShipmentState, ReadError> {
    let ev = change_of(shipment, h, payload)?;
    let received_at = instant(&h.received_at).ok_or_else(|| ReadError::BadItem {
        pk: h.pk.clone(),
        reason: format!("{} receivedAt is not a time", h.sk),
    })?;
    Ok(ShipmentState::project(
        &shipment.channel,
        &ev,
        h.source,
        received_at,
    ))
}

/// The payload each history item of a shipment recorded its change with, by event id: held in
/// the item (a map, or compressed), or else, for one moved to the archive, its listed fields over
/// the payload of the present state's change, the nearest one a pure query can read (so fields
/// not listed read as they are now, not as absent).
fn payloads(
    shipment: &ShipmentState,
    history: &[ShipmentHistory],
) -> std::collections::BTreeMap<String, Value> {
    let mut all: std::collections::BTreeMap<String, Value> = history
        .iter()
        .filter_map(|h| Some((h.event_id.as_str().to_owned(), held_payload(h)?)))
        .collect();
    let present = all
        .get(shipment.event_id.as_str())
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for h in history {
        if !all.contains_key(h.event_id.as_str()) {
            let mut payload = present.clone();
            if let Value::Object(listed) = &h.payload {
                payload.extend(listed.clone());
            }
            all.insert(h.event_id.as_str().to_owned(), Value::Object(payload));
        }
    }
    all
}

/// The changes that notified while items were received in `[since, until)`, in the order they
/// reached us. `items` holds the whole partitions of the shipments touched in the window (their
/// earlier history tells the previous status and whether an event moved the state at all) and
/// the returns and orders received in it. A shipment's events are walked in arrival order with
/// the store's rule (the state moves only forward) and the notifier's (only a new status or
/// detail notifies), so the replay holds the same changes the stream did, as far as the history
/// kept (`HistoryDays`) reaches back.
pub fn replay(items: &[Value], since: &str, until: &str) -> Result<Vec<Replay>, ReadError> {
    let inside = |at: &str| at >= since && at < until;
    let mut states = std::collections::BTreeMap::new();
    let mut histories: std::collections::BTreeMap<String, Vec<ShipmentHistory>> =
        Default::default();
    let mut found = Vec::new();
    for item in items {
        match kind(item) {
            Some(ItemKind::ShipmentState) => {
                let s: ShipmentState = typed(item)?;
                states.insert(s.pk.clone(), s);
            }
            Some(ItemKind::ShipmentHistory) => {
                let h: ShipmentHistory = typed(item)?;
                histories.entry(h.pk.clone()).or_default().push(h);
            }
            Some(ItemKind::Return) => {
                let r: ReturnItem = typed(item)?;
                if inside(&r.received_at) {
                    found.push((r.received_at.clone(), r.pk.clone(), Change::Return(r)));
                }
            }
            Some(ItemKind::Order) => {
                let o: OrderItem = typed(item)?;
                if inside(&o.received_at) {
                    found.push((o.received_at.clone(), o.pk.clone(), Change::Order(o)));
                }
            }
            // The current item of a return or order is what notified.
            Some(ItemKind::DocumentVersion) | None => {}
        }
    }
    for (pk, mut history) in histories {
        let Some(shipment) = states.get(&pk) else {
            continue;
        };
        history.sort_by_key(|h| (h.received_at.clone(), history_ord(h)));
        let payloads = payloads(shipment, &history);
        let mut current: Option<ShipmentState> = None;
        for h in &history {
            let next = state_of(shipment, h, payloads.get(h.event_id.as_str()))?;
            if current.as_ref().is_some_and(|c| c.ord >= next.ord) {
                continue;
            }
            let changed = current.as_ref().is_none_or(|c| {
                c.status_id != next.status_id || c.status_detail != next.status_detail
            });
            if changed && inside(&h.received_at) {
                found.push((
                    h.received_at.clone(),
                    next.ord.clone(),
                    Change::Status {
                        old: current.clone().map(Box::new),
                        new: Box::new(next.clone()),
                    },
                ));
            }
            current = Some(next);
        }
    }
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(found
        .into_iter()
        .map(|(received_at, _, change)| Replay {
            received_at,
            change,
        })
        .collect())
}

/// The channel a change is about.
pub fn channel_of(change: &Change) -> &str {
    match change {
        Change::Status { new, .. } => &new.channel,
        Change::Return(r) => &r.channel,
        Change::Order(o) => &o.channel,
    }
}

/// Marks a notice as a replay, in its attributes (for filter policies) and its document.
pub fn mark_replay(mut notice: Notice) -> Notice {
    notice.attributes.push((attr::REPLAY, "true".to_owned()));
    if let Some(doc) = notice.document.as_object_mut() {
        doc.insert("replay".to_owned(), Value::Bool(true));
    }
    notice
}

/// Lets a replayed notice through the email and SMS subscriptions' filter policies, which keep
/// replays out otherwise: the operator asked for it (`--alert-subscribers`).
pub fn alert_subscribers(mut notice: Notice) -> Notice {
    notice
        .attributes
        .push((attr::ALERT_SUBSCRIBERS, "true".to_owned()));
    notice
}

/// The event names `--event` takes.
pub fn event_type(name: &str) -> Option<EventType> {
    [
        EventType::StatusChanged,
        EventType::ReturnRequested,
        EventType::OrderCreated,
        EventType::OrderTransmitted,
    ]
    .into_iter()
    .find(|e| e.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::kind::Kind;
    use crate::store::MemoryArchive;
    use crate::testing::{post, run};
    use crate::webhook::Webhook;
    use serde_json::json;

    fn hook(store: MemoryStore) -> Webhook<MemoryStore, MemoryArchive> {
        Webhook::new(
            Kind::Shipment,
            fixtures::demo_config("t").settings,
            store,
            MemoryArchive::default(),
        )
    }

    use crate::fixtures::shipment_at as shipment;

    fn deliver(hook: &Webhook<MemoryStore, MemoryArchive>, body: &Value) {
        let answer = run(hook.handle(post(body.to_string().as_bytes())));
        assert_eq!(answer.status, 200, "{}", answer.outcome);
    }

    fn items(hook: &Webhook<MemoryStore, MemoryArchive>) -> Vec<Value> {
        hook.store.items().into_values().collect()
    }

    fn rome() -> Tz {
        chrono_tz::Europe::Rome
    }

    #[test]
    fn a_timeline_is_oldest_first_with_both_times_source_and_delay() {
        let hook = hook(MemoryStore::new());
        // Delivered out of order: the timeline still reads in time order.
        for (date, status, detail) in [
            ("2026-03-02 09:41:07", 6, Some(1)),
            ("2026-03-01 18:00:00", 3, None),
            ("2026-07-01 12:00:00", 4, None),
        ] {
            deliver(&hook, &shipment("T1", date, status, detail));
        }
        let pk = table::shipment_pk("shop-it", "DHL", "T1");
        let mine: Vec<Value> = run(hook.store.partition(&pk)).expect("partition");
        let t = timeline(&mine, rome()).expect("readable").expect("a state");
        let times: Vec<(&str, &str)> = t
            .history
            .iter()
            .map(|e| (e.local.as_str(), e.date_utc.as_str()))
            .collect();
        assert_eq!(
            times,
            [
                ("2026-03-01 18:00:00 CET", "2026-03-01T17:00:00Z"),
                ("2026-03-02 09:41:07 CET", "2026-03-02T08:41:07Z"),
                ("2026-07-01 12:00:00 CEST", "2026-07-01T10:00:00Z"),
            ]
        );
        assert!(t.history.iter().all(|e| e.source == SOURCE_WEBHOOK));
        assert_eq!(t.history[1].courier_status.as_deref(), Some("PU"));
        assert_eq!(t.history[1].status_detail, Some(1));
        let first = &t.history[0];
        let delay = first.delay_seconds.expect("a delay");
        let expected = (instant(&first.received_at).expect("received")
            - instant("2026-03-01T17:00:00Z").expect("date"))
        .num_seconds();
        assert_eq!(delay, expected);
        assert_eq!(t.state.status_id, 4);
        // Another shipment's partition, or none at all: no timeline.
        assert_eq!(timeline(&[], rome()), Ok(None));
    }

    #[test]
    fn the_tracking_index_finds_every_courier_and_channel() {
        let hook = hook(MemoryStore::new());
        deliver(&hook, &shipment("T2", "2026-03-02 09:00:00", 3, None));
        let mut other = shipment("T2", "2026-03-02 09:00:00", 3, None);
        other["courier"] = json!("BRT");
        deliver(&hook, &other);
        let keys = run(hook.store.shipment_keys("T2")).expect("keys");
        assert_eq!(
            keys,
            [
                table::shipment_pk("shop-it", "BRT", "T2"),
                table::shipment_pk("shop-it", "DHL", "T2")
            ]
        );
        assert!(run(hook.store.shipment_keys("NOPE"))
            .expect("keys")
            .is_empty());
    }

    #[test]
    fn an_order_gathers_its_shipments_and_returns() {
        let store = MemoryStore::new();
        let mut hook = hook(store);
        for f in [
            fixtures::ORDERS,
            fixtures::RETURNS_WRAPPED,
            fixtures::SHIPMENT_EXCEPTION_STOCK,
        ] {
            hook.endpoint = f.kind;
            run(hook.handle(post(f.bytes())));
        }
        let reference = fixtures::SHIPMENT_EXCEPTION_STOCK.json()["reference"]
            .as_str()
            .expect("reference")
            .to_owned();
        let found = run(hook.store.by_reference("shop-it", &reference)).expect("query");
        let view = order(&found).expect("readable");
        assert_eq!(view.shipments.len(), 1);
        assert_eq!(
            view.shipments[0].reference.as_deref(),
            Some(reference.as_str())
        );
        assert!(view.orders.iter().all(|o| o.reference == reference));
        assert!(view
            .returns
            .iter()
            .all(|r| r.reference.as_deref() == Some(reference.as_str())));
        assert!(
            !view.orders.is_empty() || !view.returns.is_empty(),
            "{view:?}"
        );
        let none = run(hook.store.by_reference("shop-it", "NO-SUCH")).expect("query");
        assert!(order(&none).expect("readable").is_empty());
    }

    #[test]
    fn a_shipment_leaves_the_open_index_when_final_and_a_late_event_does_not_bring_it_back() {
        let hook = hook(MemoryStore::new());
        let open = |hook: &Webhook<MemoryStore, MemoryArchive>| {
            run(hook.store.open_before("shop-it", "9999")).expect("query")
        };
        deliver(&hook, &shipment("T3", "2026-03-02 09:00:00", 3, None));
        assert_eq!(open(&hook).len(), 1);
        deliver(&hook, &shipment("T3", "2026-03-03 09:00:00", 99, None));
        assert!(open(&hook).is_empty(), "a delivered shipment is not open");
        // A late in-transit event, older than the delivery: history only.
        deliver(&hook, &shipment("T3", "2026-03-02 15:00:00", 4, None));
        assert!(open(&hook).is_empty(), "a late event reopened it");
        let state = hook
            .store
            .items()
            .into_values()
            .find(|i| kind(i) == Some(ItemKind::ShipmentState))
            .expect("state");
        assert_eq!(state["statusId"], 99);
        assert!(state.get(table::OPEN_PK).is_none());
        assert!(state.get(table::OPEN_SK).is_none());
    }

    #[test]
    fn idle_by_status_and_age_oldest_first() {
        let hook = hook(MemoryStore::new());
        for (t, date, status, detail) in [
            ("S1", "2026-03-01 10:00:00", 6, Some(1)),
            ("S2", "2026-03-03 10:00:00", 6, Some(1)),
            ("S3", "2026-02-20 10:00:00", 3, None),
            ("S4", "2026-03-05 09:00:00", 3, None),
            ("S5", "2026-02-01 10:00:00", 99, None),
        ] {
            deliver(&hook, &shipment(t, date, status, detail));
        }
        let now = instant("2026-03-05T10:00:00Z").expect("now");
        let days = Duration::days(3);
        let open = run(hook.store.open_before("shop-it", &open_cutoff(now, days))).expect("query");
        let all = idle(&open, None, days, now).expect("readable");
        let names: Vec<&str> = all
            .iter()
            .map(|s| s.state.tracking_number.as_str())
            .collect();
        assert_eq!(names, ["S3", "S1"]);
        assert_eq!(all[1].age_seconds, 4 * 86_400 + 3600);
        let stock = StatusFilter::parse("6/1").expect("filter");
        let held = idle(&open, Some(stock), Duration::days(1), now).expect("readable");
        assert_eq!(held.len(), 1, "S2 is not in the index query above");
        let open = run(hook.store.open_before("shop-it", "9999")).expect("query");
        let held = idle(&open, Some(stock), Duration::days(1), now).expect("readable");
        let names: Vec<&str> = held
            .iter()
            .map(|s| s.state.tracking_number.as_str())
            .collect();
        assert_eq!(names, ["S1", "S2"]);
        assert!(StatusFilter::parse("6/x").is_err());
        assert!(StatusFilter::parse("6").expect("id").matches(6, Some(3)));
    }

    fn statuses(replays: &[Replay]) -> Vec<(Option<u32>, u32)> {
        replays
            .iter()
            .filter_map(|r| match &r.change {
                Change::Status { old, new } => {
                    Some((old.as_ref().map(|o| o.status_id), new.status_id))
                }
                _ => None,
            })
            .collect()
    }

    /// Delivers in order, each a second after the last (`receivedAt` has whole seconds), and
    /// returns the table.
    fn arrive(hook: &Webhook<MemoryStore, MemoryArchive>, bodies: &[Value]) -> Vec<Value> {
        let mut received = std::collections::BTreeMap::new();
        for (i, body) in bodies.iter().enumerate() {
            let before = hook.store.items();
            deliver(hook, body);
            for (key, item) in hook.store.items() {
                if !before.contains_key(&key) && kind(&item) == Some(ItemKind::ShipmentHistory) {
                    received.insert(key, format!("2026-03-10T10:00:{i:02}Z"));
                }
            }
        }
        hook.store
            .items()
            .into_iter()
            .map(|(key, mut item)| {
                if let Some(at) = received.get(&key) {
                    item[table::RECEIVED_AT] = json!(at);
                }
                item
            })
            .collect()
    }

    #[test]
    fn replay_holds_the_changes_that_notified_in_arrival_order() {
        let hook = hook(MemoryStore::new());
        let bodies: Vec<Value> = [
            ("2026-03-01 10:00:00", 3, None),
            ("2026-03-01 12:00:00", 3, None), // same status: no notice
            ("2026-03-02 10:00:00", 6, Some(1)),
            ("2026-03-01 11:00:00", 4, None), // late: history only, no notice
            ("2026-03-03 10:00:00", 99, None),
        ]
        .iter()
        .map(|&(date, status, detail)| shipment("R1", date, status, detail))
        .collect();
        // What the notifier published on the stream of the same deliveries.
        let all = replay(&arrive(&hook, &bodies), "0", "9").expect("readable");
        assert_eq!(statuses(&all), [(None, 3), (Some(3), 6), (Some(6), 99)]);
        if let Change::Status { new, .. } = &all[1].change {
            assert_eq!(new.status_detail, Some(1));
            assert_eq!(new.status_detail_text.as_deref(), Some("ON HOLD"));
            assert_eq!(new.tracking_number, "R1");
        }
        assert!(all.windows(2).all(|w| w[0].received_at < w[1].received_at));
        // A window that holds nothing received.
        assert!(replay(&items(&hook), "0", "1")
            .expect("readable")
            .is_empty());
    }

    #[test]
    fn replay_window_and_previous_status_come_from_the_received_times() {
        let store = MemoryStore::new();
        let hook = hook(store);
        deliver(&hook, &shipment("R2", "2026-03-01 10:00:00", 3, None));
        deliver(&hook, &shipment("R2", "2026-03-02 10:00:00", 5, None));
        let mut items = items(&hook);
        // Received on two days: the first event before the window, the second inside it.
        for item in &mut items {
            let first = text(item, "date") == "2026-03-01 10:00:00";
            if kind(item) == Some(ItemKind::ShipmentHistory) {
                item[table::RECEIVED_AT] = json!(if first {
                    "2026-03-01T09:00:05Z"
                } else {
                    "2026-03-02T09:00:05Z"
                });
            }
        }
        let got = replay(&items, "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z").expect("ok");
        assert_eq!(statuses(&got), [(Some(3), 5)]);
        assert_eq!(got[0].received_at, "2026-03-02T09:00:05Z");
    }

    #[test]
    fn replay_reads_a_payload_compressed_in_its_item_or_its_listed_fields_when_archived() {
        use base64::Engine;
        use std::io::Write;
        let hook = hook(MemoryStore::new());
        let mut first = shipment("R4", "2026-03-01 10:00:00", 3, None);
        first["reference"] = json!("ORD-EARLIER");
        let bodies = [first, shipment("R4", "2026-03-02 10:00:00", 6, Some(1))];
        let items = arrive(&hook, &bodies);
        let news = |items: &[Value]| -> Vec<ShipmentState> {
            let all = replay(items, "0", "9").expect("readable");
            all.into_iter()
                .filter_map(|r| match r.change {
                    Change::Status { new, .. } => Some(*new),
                    _ => None,
                })
                .collect()
        };
        let inline = news(&items);
        assert_eq!(inline[0].reference.as_deref(), Some("ORD-EARLIER"));
        // The first event's payload moved out of its item, as `archive::fit` moves a large one.
        let moved = |how: &dyn Fn(&mut Value)| -> Vec<Value> {
            let mut items = items.clone();
            for item in &mut items {
                if kind(item) == Some(ItemKind::ShipmentHistory) && item["statusId"] == json!(3) {
                    how(item);
                }
            }
            items
        };
        let compressed = moved(&|item: &mut Value| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(item[table::PAYLOAD].to_string().as_bytes())
                .expect("gzip");
            let bytes = gz.finish().expect("gzip");
            item[table::PAYLOAD_GZ] =
                json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            item[table::PAYLOAD] = json!({"courierStatus": "PU", "statusDetails": []});
        });
        assert_eq!(news(&compressed), inline, "read back from the item");
        let archived = moved(&|item: &mut Value| {
            item[table::PAYLOAD_REF] = json!("payloads/x/y.json.gz");
            item[table::PAYLOAD] = json!({"courierStatus": "MOVED", "statusDetails": []});
        });
        let got = news(&archived);
        // The item's own attributes and its listed fields, the rest as the present state has it.
        assert_eq!(
            (got[0].status_id, got[0].place.clone()),
            (3, inline[0].place.clone())
        );
        assert_eq!(got[0].courier_status.as_deref(), Some("MOVED"));
        assert_eq!(got[0].reference.as_deref(), Some("ORD-10452"));
        assert_eq!(got[1], inline[1]);
    }

    #[test]
    fn a_replayed_notice_is_marked() {
        let notifier = crate::config::NotifierConfig::from_lookup(|v| {
            (v == crate::config::TOPIC_ARN).then(|| "t".to_owned())
        })
        .expect("config")
        .notifier;
        let hook = hook(MemoryStore::new());
        deliver(&hook, &shipment("R3", "2026-03-01 10:00:00", 3, None));
        let all = replay(&items(&hook), "0", "9").expect("readable");
        let notice = mark_replay(notifier.notice(&all[0].change));
        assert!(notice
            .attributes
            .iter()
            .any(|(k, v)| *k == attr::REPLAY && v == "true"));
        assert_eq!(notice.document["replay"], json!(true));
        let through = alert_subscribers(notice.clone());
        assert_eq!(
            through.attributes[..notice.attributes.len()],
            notice.attributes[..]
        );
        assert_eq!(
            through.attributes.last(),
            Some(&(attr::ALERT_SUBSCRIBERS, "true".to_owned()))
        );
        assert_eq!(
            through.document, notice.document,
            "the v1 document as it was"
        );
        assert_eq!(channel_of(&all[0].change), "shop-it");
        assert_eq!(
            event_type("shipment.status_changed"),
            Some(EventType::StatusChanged)
        );
        assert_eq!(event_type("shipment.nope"), None);
    }
}
