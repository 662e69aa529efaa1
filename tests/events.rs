//! The sample events of `events/` with the answers `events/expected.json` promises, and the
//! requests and deliveries the tests build.

use crate::moto;
use qapla::fixtures;
use qapla::Kind;
use serde_json::{json, Value};

/// One of the addresses Qapla' publishes.
pub const QAPLA_IP: &str = "34.96.89.1";

/// An API Gateway REST proxy event around a body.
pub fn event(kind: Kind, body: &str, source_ip: &str) -> String {
    json!({
        "resource": format!("/webhooks/{kind}"),
        "path": format!("/webhooks/{kind}"),
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "User-Agent": "Mozilla/5.0"},
        "multiValueHeaders": {},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": format!("/webhooks/{kind}"),
            "httpMethod": "POST",
            "path": format!("/prod/webhooks/{kind}"),
            "stage": "prod",
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "requestId": "test",
            "identity": {"sourceIp": source_ip, "userAgent": "Mozilla/5.0"},
        },
        "body": body,
        "isBase64Encoded": false,
    })
    .to_string()
}

/// An answer a sample event must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub outcome: String,
}

/// A sample event, in replay order, with the answer it must get.
pub struct SampleEvent {
    /// Under `events/`.
    pub path: String,
    pub function: Kind,
    /// The function's name in the workspace (and for `cargo lambda`).
    pub binary: String,
    pub expected: Answer,
    /// The answer under `sam local invoke` with `events/env.local.json`, where it differs.
    pub sam_local: Option<Answer>,
    pub json: String,
}

impl SampleEvent {
    /// The answer under `sam local invoke` with `events/env.local.json`.
    pub fn sam_local_answer(&self) -> &Answer {
        self.sam_local.as_ref().unwrap_or(&self.expected)
    }

    /// The function's logical id in `template.yaml`.
    pub fn logical_id(&self) -> String {
        let mut name = self.binary.clone();
        name[..1].make_ascii_uppercase();
        format!("{name}Function")
    }
}

fn answer(v: &Value, what: &str) -> Answer {
    Answer {
        status: v["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("events/expected.json: {what}: no status")),
        outcome: v["outcome"]
            .as_str()
            .unwrap_or_else(|| panic!("events/expected.json: {what}: no outcome"))
            .to_owned(),
    }
}

pub fn sample_events() -> Vec<SampleEvent> {
    let dir = moto::project_root().join("events");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("events/expected.json"),
    )
    .expect("events/expected.json is JSON");
    manifest
        .as_array()
        .expect("events/expected.json is a list")
        .iter()
        .map(|e| {
            let path = e["event"].as_str().expect("event path").to_owned();
            let binary = e["function"].as_str().unwrap_or_default().to_owned();
            let function = match binary.as_str() {
                "shipments" => Kind::Shipment,
                "returns" => Kind::Return,
                "orders" => Kind::Order,
                other => panic!("unknown function {other:?} in events/expected.json"),
            };
            let json = std::fs::read_to_string(dir.join(&path))
                .unwrap_or_else(|e| panic!("events/{path}: {e}"));
            SampleEvent {
                expected: answer(e, &path),
                sam_local: e.get("samLocal").map(|v| answer(v, &path)),
                path,
                function,
                binary,
                json,
            }
        })
        .collect()
}

pub fn fixture(name: &str) -> Value {
    fixtures::Fixture::named(name).json()
}

/// A shipment delivery for one tracking number at a given local time and status.
pub fn shipment(tracking: &str, date: &str, status: u32, detail: Option<u32>) -> Value {
    let mut v = fixture("shipment-1.2-in-transit");
    v["trackingNumber"] = json!(tracking);
    v["date"] = json!(date);
    v["qaplaStatusID"] = json!(status.to_string());
    v["statusDetails"] = match detail {
        Some(d) => json!([{"id": d, "detail": "DETAIL"}]),
        None => json!([]),
    };
    v
}

/// A 20-event life of one shipment, oldest first, ending delivered.
pub fn life(tracking: &str) -> Vec<Value> {
    let statuses: [(u32, Option<u32>); 20] = [
        (0, None),
        (1, None),
        (2, None),
        (20, None),
        (3, None),
        (50, None),
        (50, Some(1)),
        (3, None),
        (4, None),
        (5, None),
        (8, None),
        (6, Some(1)),
        (6, None),
        (3, None),
        (4, None),
        (5, None),
        (10, None),
        (6, Some(5)),
        (4, None),
        (99, None),
    ];
    statuses
        .iter()
        .enumerate()
        .map(|(i, &(id, detail))| {
            // Two events share each hour, so equal times are part of the life too.
            let date = format!("2026-03-{:02} {:02}:00:00", 2 + i / 8, 8 + (i / 2) % 4);
            shipment(tracking, &date, id, detail)
        })
        .collect()
}
