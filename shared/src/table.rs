//! The single-table layout: keys, attribute names and item shapes. This is the only place those
//! names are written; the DynamoDB adapter, the in-memory store, the notifier and the template all
//! follow them (a test checks the template).

use crate::auth::{Channel, OrderTrigger};
use crate::dates::iso;
use crate::identity::EventId;
use crate::model::orders::OrderRecord;
use crate::model::returns::ReturnRequest;
use crate::model::shipment::ShipmentEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The index that finds shipments, returns and orders by order reference.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// The sparse index of open (non-final) shipments by last change, per channel: only the state
/// items of shipments that are not final carry its keys, so a shipment leaves it when it
/// becomes final. Key `OPEN#<channel>`, sort `<dateUtc>#<pk>`: oldest change first.
pub const OPEN_INDEX: &str = "gsi2";
pub const OPEN_PK: &str = "gsi2pk";
pub const OPEN_SK: &str = "gsi2sk";
/// The index that finds a shipment's state by tracking number alone (the pk needs the channel
/// and the courier too). Key `TRACKING#<tracking>`, sort the shipment's pk; keys only.
pub const TRACKING_INDEX: &str = "gsi3";
pub const TRACKING_PK: &str = "gsi3pk";
pub const TRACKING_SK: &str = "gsi3sk";
/// When a delivery reached us (ISO 8601, UTC).
pub const RECEIVED_AT: &str = "receivedAt";
/// The TTL attribute of history items (epoch seconds).
pub const TTL: &str = "expiresAt";
/// The attributes the reference index carries besides the keys: what a query by order reference
/// shows (the items' status, courier, tracking number and dates). Never a payload: payloads hold
/// the customers' personal data, which stays in the items themselves.
pub const GSI1_ATTRIBUTES: [&str; 15] = [
    "channel",
    "courier",
    "trackingNumber",
    "reference",
    "statusId",
    "statusDetail",
    "statusName",
    "final",
    "dateUtc",
    "returnKey",
    "trigger",
    "orderDateUtc",
    "shipDateUtc",
    "receivedAt",
    EVENT_ID,
];
/// On a shipment's state item: the [`ORD`] of the state whose stuck alert was published (one
/// alert per stuck episode). Written only by the stuck check, with a conditional update; a new
/// state replaces the whole item, so a change of the shipment ends the episode by itself.
pub const STUCK_ALERTED: &str = "stuckAlerted";
/// What orders shipment states (see [`ShipmentState::ord`]); conditions compare it.
pub const ORD: &str = "ord";
/// The content id of an item; a return or order is rewritten only when it changes.
pub const EVENT_ID: &str = "eventId";
/// The sort key of the current item of a shipment, return or order.
pub const STATE: &str = "STATE";
/// The sort key prefix of a shipment's history items.
pub const EVENT_PREFIX: &str = "EVENT#";
/// The sort key prefix of the versions of a return or order: one item per distinct version,
/// `VERSION#<its order key as sent>` (see [`Document::version`]).
pub const VERSION_PREFIX: &str = "VERSION#";
/// A history item's payload: a map, or gzipped and base64 in the item, or gzipped in the archive
/// under the key `payloadRef` names (see `archive`).
pub const PAYLOAD: &str = "payload";
pub const PAYLOAD_GZ: &str = "payloadGz";
pub const PAYLOAD_REF: &str = "payloadRef";
/// How far ahead of its receipt an event's date may be and still order the shipment's state:
/// beyond it, the date is a typo or a wrong clock, and the event takes its place at its receipt.
pub const FUTURE_MARGIN_HOURS: i64 = 2;

/// The sort key of a channel's recovery checkpoint.
pub const CHECKPOINT: &str = "CHECKPOINT";
/// The attribute of a checkpoint compared when it moves (only forward).
pub const UNTIL: &str = "until";

/// A notice's claim on one of its targets, so that a retried stream record sends to each target
/// once (see `notify::once`): pk [`notice_pk`], sk [`TOPIC_CLAIM`] or [`BUS_CLAIM`], [`CLAIM`]
/// [`CLAIM_PENDING`] until the send ended well, then [`CLAIM_DONE`]; it expires ([`TTL`]) after
/// [`CLAIM_DAYS`], beyond the stream's retention. No notification reads it.
pub const TOPIC_CLAIM: &str = "TOPIC";
pub const BUS_CLAIM: &str = "BUS";
pub const CLAIM: &str = "claim";
pub const CLAIM_PENDING: &str = "pending";
pub const CLAIM_DONE: &str = "done";
pub const CLAIMED_AT: &str = "claimedAt";
pub const CLAIM_DAYS: i64 = 2;

/// A channel's heartbeat on one webhook: pk [`heartbeat_pk`], sk the webhook's name
/// (`Kind::as_str`), [`LAST_DELIVERY`] the time of the last delivery a webhook accepted, or,
/// for a pair no delivery has reached yet, [`WATCHED_SINCE`] when the heartbeat check first
/// looked. No expiry: an expired heartbeat would start its silence again from nothing.
pub const LAST_DELIVERY: &str = "lastDelivery";
pub const WATCHED_SINCE: &str = "watchedSince";

const SHIPMENT: &str = "SHIPMENT";
const RECOVER: &str = "RECOVER";
const HEARTBEAT: &str = "HEARTBEAT";
const NOTICE: &str = "NOTICE";
const RETURN: &str = "RETURN";
const ORDER: &str = "ORDER";
const REFERENCE: &str = "REF";
const OPEN: &str = "OPEN";
const TRACKING: &str = "TRACKING";

pub fn shipment_pk(channel: &str, courier: &str, tracking: &str) -> String {
    format!("{SHIPMENT}#{channel}#{courier}#{tracking}")
}

/// The first and last sort keys a shipment's history items dated in `[from, until]` can have.
pub fn history_range(from: DateTime<Utc>, until: DateTime<Utc>) -> (String, String) {
    (
        format!("{EVENT_PREFIX}{}", iso(&from)),
        // '~' sorts after every hex digit of an event id.
        format!("{EVENT_PREFIX}{}#~", iso(&until)),
    )
}

/// The partition key of a channel's recovery checkpoint (no notification reads it).
pub fn checkpoint_pk(channel: &str) -> String {
    format!("{RECOVER}#{channel}")
}

/// The partition key of a channel's heartbeats, one item per webhook (no notification reads it).
pub fn heartbeat_pk(channel: &str) -> String {
    format!("{HEARTBEAT}#{channel}")
}

/// The partition key of a notice's claims.
pub fn notice_pk(notice_id: &str) -> String {
    format!("{NOTICE}#{notice_id}")
}

pub fn return_pk(channel: &str, key: &str) -> String {
    format!("{RETURN}#{channel}#{key}")
}

pub fn order_pk(channel: &str, reference: &str) -> String {
    format!("{ORDER}#{channel}#{reference}")
}

pub fn reference_key(channel: &str, reference: &str) -> String {
    format!("{REFERENCE}#{channel}#{reference}")
}

pub fn open_key(channel: &str) -> String {
    format!("{OPEN}#{channel}")
}

/// The open index's sort key: the last change's UTC time, then the pk, so equal times stay apart.
pub fn open_sort_key(date_utc: &str, pk: &str) -> String {
    format!("{date_utc}#{pk}")
}

pub fn tracking_key(tracking: &str) -> String {
    format!("{TRACKING}#{tracking}")
}

/// Every item leaves out the attributes it has no value for, and reads them back as absent.
macro_rules! table_item {
    ($item:item) => {
        #[serde_with::apply(Option => #[serde(default, skip_serializing_if = "Option::is_none")])]
        $item
    };
}

/// Where a shipment status change reached us from: Qapla's webhook, or Qapla's API (recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Webhook,
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Api => "api",
        }
    }
}

/// What an item of the table is, told by its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    ShipmentState,
    ShipmentHistory,
    Return,
    Order,
    /// One version of a return or order, kept beside its current item.
    DocumentVersion,
}

impl ItemKind {
    /// The kind of the item with these keys; `None` for keys this layout does not write.
    pub fn of(pk: &str, sk: &str) -> Option<ItemKind> {
        let (prefix, _) = pk.split_once('#')?;
        match (prefix, sk == STATE) {
            (SHIPMENT, true) => Some(ItemKind::ShipmentState),
            (SHIPMENT, false) if sk.starts_with(EVENT_PREFIX) => Some(ItemKind::ShipmentHistory),
            (RETURN, true) => Some(ItemKind::Return),
            (ORDER, true) => Some(ItemKind::Order),
            (RETURN | ORDER, false) if sk.starts_with(VERSION_PREFIX) => {
                Some(ItemKind::DocumentVersion)
            }
            _ => None,
        }
    }
}

table_item! {
/// The current state of a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentState {
    pub pk: String,
    pub sk: String,
    pub channel: String,
    pub courier: String,
    pub tracking_number: String,
    pub reference: Option<String>,
    pub status_id: u32,
    pub status_detail: Option<u32>,
    pub status_name: String,
    pub status_detail_text: Option<String>,
    pub severity: crate::status::Severity,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub known: bool,
    /// The date as sent (local time) and as UTC.
    pub date: String,
    pub date_utc: String,
    pub place: Option<String>,
    pub courier_status: Option<String>,
    pub is_return: bool,
    pub has_children: bool,
    pub is_child: bool,
    pub version: String,
    /// The identity of the change ([`EventId::of_change`]): the same by webhook or by API.
    pub event_id: EventId,
    /// What orders states: `<dateUtc>#<1 if final else 0>#<eventId>`. A state moves only to a
    /// greater `ord`, so equal times break ties the same way whatever the arrival order or path,
    /// and a final status wins a tie. An event dated more than [`FUTURE_MARGIN_HOURS`] after its
    /// receipt is ordered at its receipt instead ([`ord_time`]), so one courier typo cannot
    /// freeze the state.
    pub ord: String,
    pub received_at: String,
    /// Where the change came from; absent on items written before sources were recorded.
    pub source: Option<Source>,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
    /// The open index's keys ([`OPEN_INDEX`]): present only while the status is not final.
    pub gsi2pk: Option<String>,
    pub gsi2sk: Option<String>,
    /// The tracking index's keys ([`TRACKING_INDEX`]).
    pub gsi3pk: Option<String>,
    pub gsi3sk: Option<String>,
}
}

table_item! {
/// One delivery in a shipment's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentHistory {
    pub pk: String,
    pub sk: String,
    /// The identity of the change, as in the state (and in the sort key).
    pub event_id: EventId,
    /// The content id of the body the change came in (a webhook's, or the API entry's).
    pub delivery_id: Option<EventId>,
    /// Where the change came from; absent on items written before sources were recorded.
    pub source: Option<Source>,
    pub status_id: u32,
    pub status_detail: Option<u32>,
    pub status_name: String,
    pub date: String,
    pub date_utc: String,
    pub place: Option<String>,
    pub received_at: String,
    pub expires_at: i64,
    /// The delivery as received, without the API key. When it is stored compressed
    /// (`payload_gz`) or in the archive (`payload_ref`), only its listed fields (`archive::fit`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
    pub payload_gz: Option<String>,
    pub payload_ref: Option<String>,
}
}

table_item! {
/// A return request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnItem {
    pub pk: String,
    pub sk: String,
    pub channel: String,
    pub return_key: String,
    pub event_id: EventId,
    pub delivery_id: EventId,
    pub reference: Option<String>,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
    pub date_utc: Option<String>,
    pub received_at: String,
    pub payload: Value,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,    /// When the item expires (epoch seconds, the table's TTL): it holds the customer's data.
    pub expires_at: Option<i64>,
    /// What orders the versions of a return: `<dateUtc>#<eventId>` (see [`Document::ord`]);
    /// absent on items written before versions were ordered.
    pub ord: Option<String>,
}
}

table_item! {
/// A created or transmitted order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub pk: String,
    pub sk: String,
    pub channel: String,
    pub reference: String,
    pub trigger: OrderTrigger,
    pub event_id: EventId,
    pub courier: Option<String>,
    pub tracking_number: Option<String>,
    pub order_date_utc: Option<String>,
    pub ship_date_utc: Option<String>,
    pub received_at: String,
    pub payload: Value,
    /// The reference index's keys: on the current item only, not on its versions.
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,    /// When the item expires (epoch seconds, the table's TTL): it holds the customer's data.
    pub expires_at: Option<i64>,
    /// What orders the versions of an order:
    /// `<1 created, 2 transmitted>#<shipDateUtc>#<orderDateUtc>#<eventId>` (see
    /// [`Document::ord`]); absent on items written before versions were ordered.
    pub ord: Option<String>,
}
}

table_item! {
/// How far recovery over Qapla's API has fully processed a channel: status times before
/// `until` (UTC) were asked and recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub pk: String,
    pub sk: String,
    pub channel: String,
    pub until: String,
    pub updated_at: String,
}
}

impl Checkpoint {
    pub fn new(channel: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Checkpoint {
            pk: checkpoint_pk(channel),
            sk: CHECKPOINT.to_owned(),
            channel: channel.to_owned(),
            until: iso(&until),
            updated_at: iso(&now),
        }
    }
}

/// A return or an order. Each distinct version is kept ([`Document::version`]); the current
/// item moves only to a greater [`Document::ord`], so a late retry of an older version never
/// replaces a newer one.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Return(ReturnItem),
    Order(OrderItem),
}

impl Document {
    pub fn pk(&self) -> &str {
        match self {
            Document::Return(r) => &r.pk,
            Document::Order(o) => &o.pk,
        }
    }

    pub fn sk(&self) -> &str {
        match self {
            Document::Return(r) => &r.sk,
            Document::Order(o) => &o.sk,
        }
    }

    pub fn event_id(&self) -> &EventId {
        match self {
            Document::Return(r) => &r.event_id,
            Document::Order(o) => &o.event_id,
        }
    }

    /// What orders the versions of one return or order; a greater one is newer.
    /// - a return: its `date`, then its content id;
    /// - an order: its trigger (`created`, then `transmitted`), its `shipDate`, its `orderDate`,
    ///   then its content id.
    ///
    /// A missing date sorts before any date, and a date more than [`FUTURE_MARGIN_HOURS`] ahead
    /// of its receipt counts as its receipt ([`ord_time`]), as for shipments. The content id
    /// breaks ties the same way whatever the arrival order. Empty on an item written before
    /// versions were ordered: older than any.
    pub fn ord(&self) -> &str {
        match self {
            Document::Return(r) => r.ord.as_deref(),
            Document::Order(o) => o.ord.as_deref(),
        }
        .unwrap_or_default()
    }

    /// The same document as its version item: under `VERSION#<its order key as sent>` (dates
    /// never moved to the receipt, so a redelivery finds the same key), out of the reference
    /// index, with the same content and expiry.
    pub fn version(&self) -> Document {
        match self {
            Document::Return(r) => Document::Return(ReturnItem {
                sk: format!(
                    "{VERSION_PREFIX}{}",
                    return_ord(r.date_utc.as_deref(), &r.event_id)
                ),
                gsi1pk: None,
                gsi1sk: None,
                ..r.clone()
            }),
            Document::Order(o) => Document::Order(OrderItem {
                sk: format!(
                    "{VERSION_PREFIX}{}",
                    order_ord(
                        o.trigger,
                        o.ship_date_utc.as_deref(),
                        o.order_date_utc.as_deref(),
                        &o.event_id
                    )
                ),
                gsi1pk: None,
                gsi1sk: None,
                ..o.clone()
            }),
        }
    }
}

/// Does a document of order key `ord` replace the current item, whose order key is `stored`
/// (`None`: no item, or one written before versions were ordered)? Only if it is greater, so an
/// older version or the same one leaves it as it is.
pub fn supersedes(stored: Option<&str>, ord: &str) -> bool {
    stored.is_none_or(|s| s < ord)
}

/// The order key of a return (see [`Document::ord`]).
fn return_ord(date_utc: Option<&str>, event_id: &EventId) -> String {
    format!("{}#{event_id}", date_utc.unwrap_or_default())
}

/// The order key of an order (see [`Document::ord`]).
fn order_ord(
    trigger: OrderTrigger,
    ship_date_utc: Option<&str>,
    order_date_utc: Option<&str>,
    event_id: &EventId,
) -> String {
    // Sent on creation, then on transmission: a transmitted order is the later one.
    let step = match trigger {
        OrderTrigger::Created => 1,
        OrderTrigger::Transmitted => 2,
    };
    format!(
        "{step}#{}#{}#{event_id}",
        ship_date_utc.unwrap_or_default(),
        order_date_utc.unwrap_or_default()
    )
}

/// A document's date as its order key counts it ([`ord_time`]).
fn ord_date(date: Option<&DateTime<Utc>>, received_at: &DateTime<Utc>) -> Option<String> {
    date.map(|d| iso(&ord_time(d, received_at)))
}

/// A model as the item keeps it: numbers out of DynamoDB's range become their text.
fn payload<T: Serialize>(model: &T) -> Value {
    let mut value = serde_json::to_value(model).unwrap_or(Value::Null);
    crate::limits::storable(&mut value);
    value
}

/// What orders the state (see [`ShipmentState::ord`]): the event's date, unless it is more than
/// [`FUTURE_MARGIN_HOURS`] ahead of its receipt; then its receipt time.
pub fn ord_time(date_utc: &DateTime<Utc>, received_at: &DateTime<Utc>) -> DateTime<Utc> {
    if *date_utc > *received_at + chrono::Duration::hours(FUTURE_MARGIN_HOURS) {
        *received_at
    } else {
        *date_utc
    }
}

impl ShipmentState {
    /// When the shipment last changed, as its order counts it: the status time, or the receipt
    /// for a status dated implausibly far ahead ([`ord_time`]), so a courier's typo cannot keep
    /// a shipment out of the stuck ones for years.
    pub fn last_change(&self) -> &str {
        self.ord.split('#').next().unwrap_or(&self.date_utc)
    }

    /// The state a change makes, on a channel of this deployment: [`ShipmentState::project`].
    pub fn new(
        channel: &Channel,
        ev: &ShipmentEvent,
        source: Source,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self::project(&channel.name, ev, Some(source), received_at)
    }

    /// The one projection from a change to a shipment's state: every attribute of the state
    /// item is made here from the validated change, the channel it came in on, where it came
    /// from and when it reached us. The webhook and the reconciler record through it
    /// (`record::shipment`), and replay derives each past state through it from the
    /// change its history item kept, so a new field of the change is projected once.
    pub fn project(
        channel: &str,
        ev: &ShipmentEvent,
        source: Option<Source>,
        received_at: DateTime<Utc>,
    ) -> Self {
        let pk = shipment_pk(channel, &ev.courier, &ev.tracking_number);
        let date_utc = iso(&ev.date_utc);
        let change = EventId::of_change(
            channel,
            &ev.courier,
            &ev.tracking_number,
            ev.status.id,
            ev.status.detail,
            &date_utc,
        );
        let reference = ev.model.reference.as_deref().map(str::to_owned);
        let (gsi1pk, gsi1sk) = crate::limits::index_keys(
            reference.as_deref().map(|r| reference_key(channel, r)),
            Some(pk.clone()),
        );
        let ord_utc = iso(&ord_time(&ev.date_utc, &received_at));
        ShipmentState {
            sk: STATE.to_owned(),
            channel: channel.to_owned(),
            courier: ev.courier.to_string(),
            tracking_number: ev.tracking_number.to_string(),
            reference,
            status_id: ev.status.id,
            status_detail: ev.status.detail,
            status_name: ev.status.name.to_string(),
            status_detail_text: ev.status.detail_text.clone(),
            severity: ev.status.severity,
            is_final: ev.status.is_final,
            known: ev.status.known,
            date: ev.date_raw.to_string(),
            ord: format!("{ord_utc}#{}#{change}", u8::from(ev.status.is_final)),
            date_utc,
            place: ev.model.place.as_deref().map(str::to_owned),
            courier_status: ev.model.courier_status.as_deref().map(str::to_owned),
            is_return: ev.model.is_return.unwrap_or(false),
            has_children: ev.model.has_children.unwrap_or(false),
            is_child: ev.model.is_child.unwrap_or(false),
            version: ev.version.as_str().to_owned(),
            event_id: change,
            received_at: iso(&received_at),
            source,
            gsi1sk,
            gsi1pk,
            gsi2pk: (!ev.status.is_final).then(|| open_key(channel)),
            gsi2sk: (!ev.status.is_final).then(|| open_sort_key(&ord_utc, &pk)),
            gsi3pk: Some(tracking_key(&ev.tracking_number)),
            gsi3sk: Some(pk.clone()),
            pk,
        }
    }
}

impl ShipmentHistory {
    pub fn new(state: &ShipmentState, ev: &ShipmentEvent, expires_at: i64) -> Self {
        ShipmentHistory {
            pk: state.pk.clone(),
            sk: format!("{EVENT_PREFIX}{}#{}", state.date_utc, state.event_id),
            event_id: state.event_id.clone(),
            delivery_id: Some(ev.id.clone()),
            source: state.source,
            status_id: state.status_id,
            status_detail: state.status_detail,
            status_name: state.status_name.clone(),
            date: state.date.clone(),
            date_utc: state.date_utc.clone(),
            place: state.place.clone(),
            received_at: state.received_at.clone(),
            expires_at,
            payload: payload(&ev.model),
            payload_gz: None,
            payload_ref: None,
        }
    }
}

impl ReturnItem {
    pub fn new(
        channel: &Channel,
        delivery_id: &EventId,
        r: &ReturnRequest,
        received_at: DateTime<Utc>,
    ) -> Self {
        let pk = return_pk(&channel.name, &r.key);
        let (gsi1pk, gsi1sk) = crate::limits::index_keys(
            r.reference
                .as_deref()
                .map(|re| reference_key(&channel.name, re)),
            Some(pk.clone()),
        );
        ReturnItem {
            sk: STATE.to_owned(),
            channel: channel.name.clone(),
            return_key: r.key.clone(),
            event_id: r.event_id.clone(),
            delivery_id: delivery_id.clone(),
            reference: r.reference.clone(),
            tracking_number: r.tracking_number.clone(),
            courier: r.courier.clone(),
            date_utc: r.date_utc.as_ref().map(iso),
            received_at: iso(&received_at),
            payload: payload(&r.model),
            gsi1sk,
            gsi1pk,
            pk,
            expires_at: None,
            ord: Some(return_ord(
                ord_date(r.date_utc.as_ref(), &received_at).as_deref(),
                &r.event_id,
            )),
        }
    }
}

impl ReturnItem {
    /// The item with its expiry set.
    pub fn expiring(self, expires_at: i64) -> Self {
        ReturnItem {
            expires_at: Some(expires_at),
            ..self
        }
    }
}

impl OrderItem {
    /// The item with its expiry set.
    pub fn expiring(self, expires_at: i64) -> Self {
        OrderItem {
            expires_at: Some(expires_at),
            ..self
        }
    }

    pub fn new(
        channel: &Channel,
        trigger: OrderTrigger,
        o: &OrderRecord,
        received_at: DateTime<Utc>,
    ) -> Self {
        let pk = order_pk(&channel.name, &o.reference);
        OrderItem {
            sk: STATE.to_owned(),
            channel: channel.name.clone(),
            reference: o.reference.clone(),
            trigger,
            event_id: o.event_id.clone(),
            courier: o.courier.clone(),
            tracking_number: o.tracking_number.clone(),
            order_date_utc: o.order_date_utc.as_ref().map(iso),
            ship_date_utc: o.ship_date_utc.as_ref().map(iso),
            received_at: iso(&received_at),
            payload: payload(&o.model),
            gsi1pk: Some(reference_key(&channel.name, &o.reference)),
            gsi1sk: Some(pk.clone()),
            pk,
            expires_at: None,
            ord: Some(order_ord(
                trigger,
                ord_date(o.ship_date_utc.as_ref(), &received_at).as_deref(),
                ord_date(o.order_date_utc.as_ref(), &received_at).as_deref(),
                &o.event_id,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::testing::{a_return, an_order, received};

    #[test]
    fn item_kinds_by_key() {
        let pk = shipment_pk("shop-it", "DHL", "JD1");
        let cases = [
            (pk.as_str(), STATE, Some(ItemKind::ShipmentState)),
            (
                pk.as_str(),
                "EVENT#2026-03-02T08:41:07Z#ab",
                Some(ItemKind::ShipmentHistory),
            ),
            (
                &return_pk("shop-it", "RMA-1"),
                STATE,
                Some(ItemKind::Return),
            ),
            (&order_pk("shop-it", "ORD-1"), STATE, Some(ItemKind::Order)),
            (
                &return_pk("shop-it", "RMA-1"),
                "VERSION#2026-03-11T08:15:00Z#ab",
                Some(ItemKind::DocumentVersion),
            ),
            (
                &order_pk("shop-it", "ORD-1"),
                "VERSION#1###ab",
                Some(ItemKind::DocumentVersion),
            ),
            (pk.as_str(), "VERSION#2026-03-11T08:15:00Z#ab", None),
            (&return_pk("shop-it", "RMA-1"), "EVENT#x", None),
            (&reference_key("shop-it", "ORD-1"), STATE, None),
            ("CHECKPOINT", STATE, None),
            (&checkpoint_pk("shop-it"), CHECKPOINT, None),
            (&heartbeat_pk("shop-it"), "shipments", None),
            (pk.as_str(), "OTHER", None),
        ];
        for (pk, sk, kind) in cases {
            assert_eq!(ItemKind::of(pk, sk), kind, "{pk} {sk}");
        }
    }

    #[test]
    fn attribute_names_are_those_the_items_write() {
        let channels = crate::auth::Channels::parse(&fixtures::demo_channels()).expect("demo");
        let channel = channels.get(fixtures::DEMO_CHANNEL).expect("demo channel");
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        let ev = crate::model::shipment::validate(
            body.as_object().cloned().unwrap_or_default(),
            crate::dates::rome(),
        )
        .expect("valid");
        let state = ShipmentState::new(channel, &ev, Source::Webhook, chrono::Utc::now());
        let state = serde_json::to_value(state).expect("json");
        for name in [PK, SK, ORD, EVENT_ID, GSI1_PK, GSI1_SK] {
            assert!(state.get(name).is_some(), "{name}");
        }
        let tz = crate::dates::rome();
        let object = |f: &fixtures::Fixture| f.json().as_object().cloned().unwrap_or_default();
        let returns =
            crate::model::returns::validate(object(&fixtures::RETURNS_WRAPPED), tz).expect("valid");
        let orders = crate::model::orders::validate(object(&fixtures::ORDERS), tz).expect("valid");
        let now = chrono::Utc::now();
        let ret = ReturnItem::new(channel, &returns.id, &returns.returns[0], now).expiring(7);
        let order = OrderItem::new(channel, channel.trigger, &orders.orders[0], now).expiring(7);
        let ret = serde_json::to_value(ret).expect("json");
        let order = serde_json::to_value(order).expect("json");
        assert_eq!(
            (ret.get(TTL), order.get(TTL)),
            (Some(&7.into()), Some(&7.into()))
        );
        for name in GSI1_ATTRIBUTES {
            let written = [&state, &ret, &order].iter().any(|i| i.get(name).is_some());
            assert!(written, "{name} is not an attribute of the items");
        }
        let history = ShipmentHistory::new(&serde_json::from_value(state).expect("state"), &ev, 1);
        let history = serde_json::to_value(history).expect("json");
        assert!(history.get(TTL).is_some());
        assert!(history[SK]
            .as_str()
            .is_some_and(|sk| sk.starts_with(EVENT_PREFIX)));
    }

    /// How `b` stands to `a` in the order of versions.
    #[derive(Debug, PartialEq)]
    enum Stands {
        Newer,
        Older,
        Same,
        /// Equal in all but content: the content id decides, one way whatever the arrival.
        Tie,
    }

    #[test]
    fn which_version_is_newer() {
        use serde_json::json;
        use OrderTrigger::{Created, Transmitted};
        let at = received();
        let ret = |patch: Value| a_return(patch, at);
        let order = |t: OrderTrigger, patch: Value| an_order(t, patch, at);
        let cases: Vec<(&str, Document, Document, Stands)> = vec![
            (
                "return dated later",
                ret(json!({})),
                ret(json!({"date": "2026-03-12 09:15:00"})),
                Stands::Newer,
            ),
            (
                "return dated earlier",
                ret(json!({})),
                ret(json!({"date": "2026-03-10 09:15:00"})),
                Stands::Older,
            ),
            (
                "return redelivered",
                ret(json!({})),
                ret(json!({})),
                Stands::Same,
            ),
            (
                "return changed at the same date",
                ret(json!({})),
                ret(json!({"weight": 2.5})),
                Stands::Tie,
            ),
            (
                "return without a date",
                ret(json!({})),
                ret(json!({"date": null})),
                Stands::Older,
            ),
            (
                "return dated years ahead counts at its receipt",
                ret(json!({"date": "2031-01-01 00:00:00"})),
                a_return(json!({}), at + chrono::Duration::days(20)),
                Stands::Older,
            ),
            (
                "return after one dated years ahead, dated after its receipt",
                ret(json!({"date": "2031-01-01 00:00:00"})),
                a_return(
                    json!({"date": "2026-04-02 12:00:00"}),
                    at + chrono::Duration::days(2),
                ),
                Stands::Newer,
            ),
            (
                "order transmitted after created, its ship date earlier",
                order(Created, json!({})),
                order(Transmitted, json!({"shipDate": "2026-02-28 10:00:00"})),
                Stands::Newer,
            ),
            (
                "order created after transmitted",
                order(Transmitted, json!({})),
                order(Created, json!({"shipDate": "2026-03-05 10:00:00"})),
                Stands::Older,
            ),
            (
                "order shipped later",
                order(Created, json!({})),
                order(Created, json!({"shipDate": "2026-03-02 09:00:00"})),
                Stands::Newer,
            ),
            (
                "order shipped earlier",
                order(Created, json!({})),
                order(Created, json!({"shipDate": "2026-03-01 16:00:00"})),
                Stands::Older,
            ),
            (
                "order ordered later, shipped the same",
                order(Created, json!({})),
                order(Created, json!({"orderDate": "2026-03-01 11:00:00"})),
                Stands::Newer,
            ),
            (
                "order without a ship date",
                order(Created, json!({})),
                order(Created, json!({"shipDate": ""})),
                Stands::Older,
            ),
            (
                "order redelivered",
                order(Transmitted, json!({})),
                order(Transmitted, json!({})),
                Stands::Same,
            ),
            (
                "order changed at the same dates",
                order(Created, json!({})),
                order(Created, json!({"trackingNumber": "JD0146000099"})),
                Stands::Tie,
            ),
        ];
        for (name, a, b, want) in cases {
            let (a, b) = (a.ord(), b.ord());
            // Only the content id (after the last '#') tells a tie apart.
            let tie =
                a != b && a.rsplit_once('#').map(|(d, _)| d) == b.rsplit_once('#').map(|(d, _)| d);
            let got = match (supersedes(Some(a), b), supersedes(Some(b), a)) {
                (true, false) | (false, true) if tie => Stands::Tie,
                (true, false) => Stands::Newer,
                (false, true) => Stands::Older,
                (false, false) if a == b => Stands::Same,
                other => panic!("{name}: {other:?} for {a} / {b}"),
            };
            assert_eq!(got, want, "{name}: {a} / {b}");
        }
        // Nothing stored, or an item written before versions were ordered: any version is newer.
        assert!(supersedes(None, ret(json!({})).ord()));
        assert!(supersedes(None, ""));
    }

    #[test]
    fn a_version_is_the_document_under_its_own_key_out_of_the_index() {
        use serde_json::json;
        let at = received();
        for (doc, later) in [
            (
                a_return(json!({"date": "2031-01-01 00:00:00"}), at),
                a_return(
                    json!({"date": "2031-01-01 00:00:00"}),
                    at + chrono::Duration::days(1),
                ),
            ),
            (
                an_order(OrderTrigger::Created, json!({}), at),
                an_order(
                    OrderTrigger::Created,
                    json!({}),
                    at + chrono::Duration::days(1),
                ),
            ),
        ] {
            let version = doc.version();
            assert_eq!(
                (version.pk(), version.event_id()),
                (doc.pk(), doc.event_id())
            );
            assert!(version.sk().starts_with(VERSION_PREFIX), "{}", version.sk());
            assert_eq!(
                ItemKind::of(version.pk(), version.sk()),
                Some(ItemKind::DocumentVersion)
            );
            // A redelivery on another day finds the same version key.
            assert_eq!(later.version().sk(), version.sk());
            let (doc, version) = match (&doc, &version) {
                (Document::Return(d), Document::Return(v)) => (
                    serde_json::to_value(d).expect("json"),
                    serde_json::to_value(v).expect("json"),
                ),
                (Document::Order(d), Document::Order(v)) => (
                    serde_json::to_value(d).expect("json"),
                    serde_json::to_value(v).expect("json"),
                ),
                other => panic!("{other:?}"),
            };
            assert!(doc.get(GSI1_PK).is_some() && doc.get(GSI1_SK).is_some());
            assert_eq!((version.get(GSI1_PK), version.get(GSI1_SK)), (None, None));
            for name in ["payload", TTL, ORD, EVENT_ID, RECEIVED_AT] {
                assert_eq!(version.get(name), doc.get(name), "{name}");
            }
        }
    }
}
