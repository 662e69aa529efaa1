//! The core's test support, for every module's tests: the demo endpoint over the memory twins,
//! a request from Qapla's address, one future run to its end, and the documents and text the
//! tests build. Test builds only.

use crate::auth::{Channel, OrderTrigger};
use crate::fixtures;
use crate::identity::EventId;
use crate::kind::Kind;
use crate::notify::batch::{ItemKey, Record};
use crate::notify::{Notice, Notifier};
use crate::store::{MemoryArchive, MemoryStore};
use crate::table::{Document, OrderItem, ReturnItem};
use crate::webhook::{Request, Settings, Webhook};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// An endpoint of the demo channel over a memory store and archive, with a small body limit.
pub(crate) fn webhook(kind: Kind) -> Webhook<MemoryStore, MemoryArchive> {
    let settings = Settings {
        max_body_bytes: 4096,
        ..fixtures::demo_config("t").settings
    };
    Webhook::new(kind, settings, MemoryStore::new(), MemoryArchive::default())
}

/// A POST of `body` from one of Qapla's addresses.
pub(crate) fn post(body: &[u8]) -> Request<'_> {
    Request {
        method: "POST",
        source: Some([34, 96, 89, 1].into()),
        body,
    }
}

/// Runs `f` to its end on a runtime of its own.
pub(crate) fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Text that gzip cannot shrink much: hex digits of a running hash.
pub(crate) fn noise(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes);
    let mut n = 0u64;
    while out.len() < bytes {
        out.push_str(EventId::of_content(&json!(n)).as_str());
        n += 1;
    }
    out.truncate(bytes);
    out
}

/// When the documents of the tests were received: after every date they carry.
pub(crate) fn received() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The demo channel.
pub(crate) fn demo_channel() -> Channel {
    let channels = crate::auth::Channels::parse(&fixtures::demo_channels()).expect("demo");
    channels.get(fixtures::DEMO_CHANNEL).expect("demo").clone()
}

/// The flat fixture's return with `patch` applied to it, received at `at`.
pub(crate) fn a_return(patch: Value, at: DateTime<Utc>) -> Document {
    let mut body = fixtures::RETURNS_FLAT.json();
    let entry = &mut body["returnShipments"][0];
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        entry[k] = v;
    }
    let d = crate::model::returns::validate(
        body.as_object().cloned().unwrap_or_default(),
        crate::dates::rome(),
    )
    .expect("valid");
    Document::Return(ReturnItem::new(&demo_channel(), &d.id, &d.returns[0], at).expiring(9))
}

/// The fixture's first order with `patch` applied to it, sent on `trigger`, received at `at`.
pub(crate) fn an_order(trigger: OrderTrigger, patch: Value, at: DateTime<Utc>) -> Document {
    let mut body = fixtures::ORDERS.json();
    let mut entry = body["orders"][0].clone();
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        entry[k] = v;
    }
    body["orders"] = Value::Array(vec![entry]);
    let d = crate::model::orders::validate(
        body.as_object().cloned().unwrap_or_default(),
        crate::dates::rome(),
    )
    .expect("valid");
    Document::Order(OrderItem::new(&demo_channel(), trigger, &d.orders[0], at).expiring(9))
}

/// The notifier of a deployment with only a topic.
pub(crate) fn notifier() -> Notifier {
    crate::config::NotifierConfig::from_lookup(|var| {
        (var == crate::config::TOPIC_ARN).then(|| "local".to_owned())
    })
    .expect("config")
    .notifier
}

/// The records the stream would carry for `deliveries` of one shipment posted in order: one
/// per item each changed, of the items `wanted` (by pk and sk).
pub(crate) fn records_of(
    deliveries: &[fixtures::Fixture],
    wanted: impl Fn(&(String, String)) -> bool,
) -> Vec<Record> {
    let hook = webhook(Kind::Shipment);
    let mut records = Vec::new();
    for f in deliveries {
        let before = hook.store.items();
        run(hook.handle(post(f.bytes())));
        for (key, new) in hook.store.items() {
            if before.get(&key) != Some(&new) && wanted(&key) {
                let n = records.len();
                records.push(Record {
                    event_id: format!("r{n}"),
                    sequence_number: format!("{n:03}"),
                    key: Some(ItemKey {
                        pk: key.0.clone(),
                        sk: key.1.clone(),
                    }),
                    old: Ok(before.get(&key).cloned()),
                    new: Ok(Some(new)),
                });
            }
        }
    }
    records
}

pub(crate) fn ids(notices: &[Notice]) -> Vec<String> {
    notices.iter().map(|n| n.id.clone()).collect()
}

/// Delivers one shipment change through `hook`, which must answer 200.
pub(crate) fn deliver(
    hook: &Webhook<MemoryStore, MemoryArchive>,
    tracking: &str,
    date: &str,
    status: u32,
    detail: Option<u32>,
) {
    let v = fixtures::shipment_at(tracking, date, status, detail);
    let answer = run(hook.handle(post(v.to_string().as_bytes())));
    assert_eq!(answer.status, 200, "{}", answer.outcome);
}

/// A time written as RFC 3339.
pub(crate) fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t)
        .expect("time")
        .with_timezone(&Utc)
}
