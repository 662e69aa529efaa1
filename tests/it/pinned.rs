//! What every fixture, every sample event and a set of edge bodies come to, pinned as data
//! (`pinned.json`, written from the reader these answers were first given by): the answer (HTTP
//! status, body, logged outcome and reason), every table item written (its keys, its ids, the
//! payload kept), every quarantined object, and the ids the payload reader gives. A change to the
//! reader that moves any of them fails here. No moto: the real handler over the memory store.
//!
//! `PINNED_WRITE=1 cargo test -p integration-tests --test it pinned::` rewrites the file; only
//! for a change whose every difference was meant.

use crate::events::{event, sample_events, QAPLA_IP};
use crate::faults::capture_logs;
use qapla::fixtures::{self, DEMO_KEY};
use qapla::payload::{self, Delivery};
use qapla::store::MemoryStore;
use qapla::webhook::Webhook;
use qapla::Kind;
use serde_json::{json, Map, Value};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/it/pinned.json");

/// Bodies beyond the fixtures: each tolerated shape, each refusal and each reason, with the demo
/// key so that they reach the reader's every outcome.
fn edge_bodies() -> Vec<(&'static str, Kind, String)> {
    let k = DEMO_KEY;
    let ship = |extra: &str| {
        format!(
            r#"{{"apiKey":"{k}","trackingNumber":"JD0146000031","courier":"DHL","date":"2026-03-02 09:41:07","qaplaStatusID":"6","qaplaStatus":"EXCEPTION"{extra}}}"#
        )
    };
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    vec![
        ("empty", Kind::Shipment, String::new()),
        ("whitespace", Kind::Shipment, "  \n".into()),
        ("array", Kind::Shipment, "[1,2]".into()),
        ("text", Kind::Shipment, "\"text\"".into()),
        ("trailing", Kind::Shipment, format!("{} {{}}", ship(""))),
        ("too-deep", Kind::Shipment, ship(&format!(r#","x":{deep}"#))),
        (
            "duplicate-apikey",
            Kind::Shipment,
            format!(r#"{{"apiKey":"{k}","apiKey":"other","orders":[]}}"#),
        ),
        (
            "duplicate-top",
            Kind::Shipment,
            ship(r#","place":"A","place":"B""#),
        ),
        (
            "duplicate-nested-order",
            Kind::Order,
            format!(r#"{{"apiKey":"{k}","orders":[{{"reference":"A","x":{{"y":1,"y":2}}}}]}}"#),
        ),
        (
            "duplicate-in-unknown-list",
            Kind::Shipment,
            ship(r#","extra":[{"a":1},{"a":1,"a":2}]"#),
        ),
        (
            "duplicate-escaped",
            Kind::Shipment,
            ship(r#","place":"A","pl\u0061ce":"B""#),
        ),
        (
            "unknown-kind",
            Kind::Shipment,
            format!(r#"{{"apiKey":"{k}","unrelated":true}}"#),
        ),
        ("no-key", Kind::Shipment, ship("").replace(k, "")),
        (
            "consignee-a-string",
            Kind::Shipment,
            ship(r#","consignee":"Mario Rossi, Via Roma 1""#),
        ),
        ("no-date", Kind::Shipment, ship("").replace(r#","date":"2026-03-02 09:41:07""#, "")),
        (
            "bad-month",
            Kind::Shipment,
            ship("").replace("2026-03-02", "2026-13-01"),
        ),
        (
            "bad-detail-id",
            Kind::Shipment,
            ship(r#","statusDetails":[{"id":"x"}]"#),
        ),
        (
            "hash-in-tracking",
            Kind::Shipment,
            ship("").replace("JD0146000031", "JD#1"),
        ),
        ("flag-seven", Kind::Shipment, ship(r#","return":7"#)),
        (
            "tolerant-shapes",
            Kind::Shipment,
            ship(
                r#","return":"1","hasChildren":true,"isChild":"false","reference":10452,"place":"","custom1":null,"statusDetails":{"id":"1","detail":null}"#,
            )
            .replace(r#""qaplaStatusID":"6""#, r#""qaplaStatusID":6.0"#),
        ),
        (
            "escapes-and-numbers",
            Kind::Shipment,
            ship(
                r#","place":"BOLOGNA \"centro\" \u00e8 \ud83d\udce6","n":18446744073709551615,"m":-9223372036854775808,"f":1e300,"g":0.1,"h":1E2,"w":1.50,"z":-0.0"#,
            ),
        ),
        (
            "keys-nested",
            Kind::Shipment,
            ship(
                r#","rows":[{"sku":"A1","apiKey":"deep","extra":{"apiKey":"deeper","v":[{"apiKey":1}]}}],"consignee":{"apiKey":"x","country":"IT"},"unknown":{"apiKey":"y","keep":"me"}"#,
            ),
        ),
        (
            "one-row-unknown-fields",
            Kind::Shipment,
            ship(r#","rows":[{"sku":"A1","qty":"2","colour":"blu","dims":{"l":1}}],"parcels":[{"boxCode":"B1","weight":1.5,"seal":"S"}]"#),
        ),
        (
            "orders-empty",
            Kind::Order,
            format!(r#"{{"apiKey":"{k}","orders":[]}}"#),
        ),
        (
            "orders-one-bad-of-three",
            Kind::Order,
            format!(
                r#"{{"apiKey":"{k}","orders":[{{"reference":"A"}},{{"reference":"B","return":2}},{{"reference":"C","orderDate":"ieri"}},{{"reference":"D","giftWrap":"yes","customerName":"Giulia"}}]}}"#
            ),
        ),
        (
            "orders-listed-twice",
            Kind::Order,
            format!(
                r#"{{"apiKey":"{k}","orders":[{{"reference":"A","weight":"1"}},{{"reference":"A","weight":"2"}}]}}"#
            ),
        ),
        (
            "orders-not-objects",
            Kind::Order,
            format!(r#"{{"apiKey":"{k}","orders":[1]}}"#),
        ),
        (
            "returns-no-rma",
            Kind::Return,
            format!(
                r#"{{"webhookReturnShipments":{{"apiKey":"{k}","returnShipments":[{{"sender":{{"name":7}}}}]}}}}"#
            ),
        ),
        (
            "returns-wrapped-number-id-courier-code",
            Kind::Return,
            format!(
                r#"{{"webhookReturnShipments":{{"id":42,"apiKey":"{k}","returnShipments":[{{"RMA":"R1","courier":"GLS"}},{{"RMA":"R2","courier":{{"code":"BRT"}},"date":"soon"}}]}}}}"#
            ),
        ),
        (
            "returns-wrapper-not-object",
            Kind::Return,
            format!(r#"{{"apiKey":"{k}","webhookReturnShipments":[]}}"#),
        ),
        (
            "returns-flat-courier-number",
            Kind::Return,
            format!(r#"{{"apiKey":"{k}","returnShipments":[{{"RMA":"R1","courier":5}}]}}"#),
        ),
    ]
    .into_iter()
    .chain(REFUSALS.iter().enumerate().map(|(i, body)| {
        (REFUSAL_NAMES[i], Kind::Shipment, (*body).to_owned())
    }))
    .collect()
}

/// Bodies of an unknown key that the reader refuses, each for its own reason.
const REFUSALS: [&str; 8] = [
    r#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","consignee":"Mario Rossi"}"#,
    r#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","courier":"DHL"}"#,
    r#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","courier":"DHL","date":"2026-13-01 10:00:00"}"#,
    r#"{"apiKey":"k","orders":[]}"#,
    r#"{"apiKey":"k","orders":[{"reference":"A"},{"reference":"B","return":2}]}"#,
    r#"{"webhookReturnShipments":{"apiKey":"k","returnShipments":[{"sender":{"name":7}}]}}"#,
    r#"{"apiKey":"k","orders":[{"reference":"A","x":{"y":1,"y":2}}]}"#,
    r#"{"apiKey":"k","trackingNumber":"X"} {}"#,
];
const REFUSAL_NAMES: [&str; 8] = [
    "refusal consignee",
    "refusal no date",
    "refusal month 13",
    "refusal no orders",
    "refusal flag 2",
    "refusal no rma",
    "refusal nested duplicate",
    "refusal trailing",
];

/// The ids the payload reader gives a body: the delivery's, then each entry's.
fn read_ids(body: &[u8]) -> Value {
    let envelope = match payload::read(body) {
        Ok(envelope) => envelope,
        Err(e) => return json!({"unreadable": e.to_string(), "code": e.code()}),
    };
    let (kind, key) = (envelope.kind.as_str(), envelope.key.is_some());
    match envelope.validate(qapla::dates::zone("Europe/Rome").expect("a compiled-in zone")) {
        Err(e) => json!({"kind": kind, "key": key, "invalid": e.to_string()}),
        Ok(Delivery::Shipment(ev)) => json!({"kind": kind, "key": key, "id": ev.id.as_str(),
            "version": ev.version.as_str(), "status": ev.status.name, "dateUtc": qapla::dates::iso(&ev.date_utc)}),
        Ok(Delivery::Returns(d)) => json!({"kind": kind, "key": key, "id": d.id.as_str(),
            "entries": d.returns.iter().map(|r| json!([r.key, r.event_id.as_str()])).collect::<Vec<_>>()}),
        Ok(Delivery::Orders(d)) => json!({"kind": kind, "key": key, "id": d.id.as_str(),
            "entries": d.orders.iter().map(|o| json!([o.reference, o.event_id.as_str()])).collect::<Vec<_>>()}),
    }
}

/// One API Gateway event through the real handler over an empty memory store: what it answered
/// and logged, and all it wrote, without the times of receipt.
fn run(kind: Kind, event: &str) -> Value {
    let hook = Webhook::new(
        kind,
        fixtures::demo_config("t").settings,
        MemoryStore::new(),
        qapla::store::MemoryArchive::default(),
    );
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway event");
    let logs = capture_logs();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let answer = rt.block_on(qapla_aws::lambda::answer(&hook, &request));
    let response = qapla_aws::lambda::response(&answer);
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let log: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "delivery")
        .map(|mut l| {
            if let Some(m) = l.as_object_mut() {
                for volatile in ["timestamp", "latency_ms", "threadName", "threadId"] {
                    m.remove(volatile);
                }
            }
            l
        })
        .collect();
    let items: Map<String, Value> = hook
        .store
        .items()
        .into_iter()
        .map(|((pk, sk), mut item)| {
            if let Some(m) = item.as_object_mut() {
                for volatile in ["receivedAt", "updatedAt", "expiresAt"] {
                    m.remove(volatile);
                }
            }
            (format!("{pk} | {sk}"), item)
        })
        .collect();
    let kept: Vec<Value> = hook
        .archive
        .objects()
        .into_iter()
        .map(|(key, bytes)| {
            let mut object: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if let Some(m) = object.as_object_mut() {
                m.remove("receivedAt");
            }
            // The key without its day of receipt.
            let place = key.split('/').next().unwrap_or_default().to_owned();
            json!({"place": place, "object": object})
        })
        .collect();
    json!({
        "status": response.status().as_u16(),
        "body": String::from_utf8_lossy(response.body().as_ref()),
        "outcome": answer.outcome,
        "log": log,
        "items": items,
        "kept": kept,
    })
}

/// Every case, as the reader answers it now.
fn answers() -> Value {
    let mut cases = Map::new();
    for f in fixtures::ALL {
        let mut case = run(f.kind, &event(f.kind, f.body, QAPLA_IP));
        case["read"] = read_ids(f.bytes());
        cases.insert(format!("fixture {}", f.name), case);
    }
    for e in sample_events() {
        let mut case = run(e.function, &e.json);
        let envelope: Value = serde_json::from_str(&e.json).expect("an event is JSON");
        case["read"] = read_ids(envelope["body"].as_str().unwrap_or_default().as_bytes());
        cases.insert(format!("event {}", e.path), case);
    }
    for (name, kind, body) in edge_bodies() {
        let mut case = run(kind, &event(kind, &body, QAPLA_IP));
        case["read"] = read_ids(body.as_bytes());
        cases.insert(format!("edge {name}"), case);
    }
    Value::Object(cases)
}

#[test]
fn every_fixture_event_and_edge_body_keeps_its_answer_ids_and_items() {
    let now = answers();
    if std::env::var_os("PINNED_WRITE").is_some() {
        let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
        std::fs::write(FILE, text).expect("write pinned.json");
        return;
    }
    let pinned: Value =
        serde_json::from_str(&std::fs::read_to_string(FILE).expect("it/pinned.json"))
            .expect("pinned.json is JSON");
    let (Some(pinned), Some(now)) = (pinned.as_object(), now.as_object()) else {
        panic!("pinned.json is an object of cases")
    };
    assert_eq!(
        pinned.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>(),
        "the cases"
    );
    for (name, expected) in pinned {
        assert_eq!(&now[name], expected, "{name}");
    }
}
