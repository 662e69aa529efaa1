//! Shared helpers: SDK clients on moto, the table as the template declares it, the real
//! handlers, the sample events.

use crate::moto;
use crate::template::{self, list, text};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use qapla::aws::dynamo::DynamoStore;
use qapla::config::WebhookConfig;
use qapla::fixtures;
use qapla::webhook::Webhook;
use qapla::Kind;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const REGION: &str = "eu-south-1";

/// SDK configuration for a moto endpoint, with dummy credentials.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    qapla::aws::sdk_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk(endpoint).await)
}

/// A table name of its own for each test, so tests share one moto without meeting.
pub fn unique_table(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Creates a table exactly as `template.yaml` declares `Table`: keys, attribute types, GSI,
/// stream, TTL.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    create_table_with(client, name, true).await;
}

/// The same, optionally without the stream: moto copies a table whole, stream records included,
/// on every transaction, which long benchmark runs cannot afford.
pub async fn create_table_with(client: &aws_sdk_dynamodb::Client, name: &str, stream: bool) {
    let props = &template::resource("Table")["Properties"];
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
    for a in list(&props["AttributeDefinitions"], "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"], "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(
                    &a["AttributeType"],
                    "AttributeType",
                )))
                .build()
                .expect("attribute definition"),
        );
    }
    for k in key_schema(&props["KeySchema"]) {
        request = request.key_schema(k);
    }
    if let Some(indexes) = props["GlobalSecondaryIndexes"].as_sequence() {
        for index in indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(text(&index["IndexName"], "IndexName"))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(text(
                            &index["Projection"]["ProjectionType"],
                            "ProjectionType",
                        )))
                        .build(),
                );
            for k in key_schema(&index["KeySchema"]) {
                gsi = gsi.key_schema(k);
            }
            request = request.global_secondary_indexes(gsi.build().expect("gsi"));
        }
    }
    let view = props["StreamSpecification"]["StreamViewType"]
        .as_str()
        .filter(|_| stream);
    if let Some(view) = view {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()
                .expect("stream"),
        );
    }
    request.send().await.expect("create the table in moto");
    if let Some(ttl) = props["TimeToLiveSpecification"]["AttributeName"].as_str() {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("enable TTL in moto");
    }
}

fn key_schema(v: &serde_norway::Value) -> Vec<KeySchemaElement> {
    list(v, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"], "AttributeName"))
                .key_type(KeyType::from(text(&k["KeyType"], "KeyType")))
                .build()
                .expect("key schema")
        })
        .collect()
}

/// The webhook configuration the sample events were made for.
pub fn webhook_config(table: &str) -> WebhookConfig {
    fixtures::demo_config(table)
}

/// A webhook function's real pipeline over a DynamoDB store at `endpoint`.
pub async fn webhook(kind: Kind, endpoint: &str, table: &str) -> Webhook<DynamoStore> {
    let store = DynamoStore::new(dynamo(endpoint).await, table);
    Webhook::new(kind, webhook_config(table).settings, store)
}

/// What the real handler made of an API Gateway event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    pub status: u16,
    pub body: String,
    pub outcome: String,
}

/// Invokes the real HTTP handler with an API Gateway event.
pub async fn invoke(hook: &Webhook<DynamoStore>, event: &str) -> Invoked {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway event");
    let answer = qapla::aws::lambda::answer(hook, &request).await;
    let response = qapla::aws::lambda::response(&answer);
    Invoked {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
        outcome: answer.outcome,
    }
}

/// An API Gateway REST proxy event around a body, from a Qapla' address unless told otherwise.
pub fn event(kind: Kind, body: &str, source_ip: &str) -> String {
    serde_json::json!({
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

pub const QAPLA_IP: &str = "34.96.89.1";

/// Every item of a table, keyed by (pk, sk), as JSON.
pub async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let value: Value = serde_dynamo::from_item(item.clone()).expect("item as JSON");
            let pk = value["pk"].as_str().unwrap_or_default().to_owned();
            let sk = value["sk"].as_str().unwrap_or_default().to_owned();
            out.insert((pk, sk), value);
        }
        match page.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return out,
        }
    }
}

/// The table without the attributes that depend on when a delivery arrived.
pub fn timeless(items: &BTreeMap<(String, String), Value>) -> BTreeMap<(String, String), Value> {
    items
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            if let Some(map) = v.as_object_mut() {
                map.remove("receivedAt");
                map.remove("expiresAt");
            }
            (k.clone(), v)
        })
        .collect()
}

/// The sample events in replay order, with the answer each must get.
pub struct SampleEvent {
    pub path: String,
    pub function: Kind,
    pub status: u16,
    pub outcome: String,
    pub json: String,
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
            let function = match e["function"].as_str() {
                Some("shipments") => Kind::Shipment,
                Some("returns") => Kind::Return,
                Some("orders") => Kind::Order,
                other => panic!("unknown function {other:?} in events/expected.json"),
            };
            let json = std::fs::read_to_string(dir.join(&path))
                .unwrap_or_else(|e| panic!("events/{path}: {e}"));
            SampleEvent {
                path,
                function,
                status: e["status"].as_u64().expect("status") as u16,
                outcome: e["outcome"].as_str().expect("outcome").to_owned(),
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

pub fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// Delivers until OK, as Qapla's retries would: a 503 is retried, anything else is returned.
pub async fn deliver(
    hook: &qapla::webhook::Webhook<qapla::aws::dynamo::DynamoStore>,
    body: &str,
) -> String {
    for _ in 0..20 {
        let got = invoke(hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
        if got.status != 503 {
            return got.outcome;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a delivery kept failing with 503");
}

/// Asserts two tables hold the same items, naming the first few keys that differ.
pub fn assert_same_table(
    got: &BTreeMap<(String, String), Value>,
    want: &BTreeMap<(String, String), Value>,
) {
    let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .take(5)
        .map(|k| {
            format!(
                "{} | {}: got {} / want {}",
                k.0,
                k.1,
                got.get(k).map_or("nothing".into(), |v| v
                    .get("statusName")
                    .map_or("item".into(), Value::to_string)),
                want.get(k).map_or("nothing".into(), |v| v
                    .get("statusName")
                    .map_or("item".into(), Value::to_string)),
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "tables differ ({} vs {} items):\n{}",
        got.len(),
        want.len(),
        differ.join("\n")
    );
}

/// Delivers every body at once, in an order shuffled by `seed`, each until it is answered (503s
/// retried, as Qapla' would).
pub async fn deliver_concurrently(
    hook: std::sync::Arc<qapla::webhook::Webhook<qapla::aws::dynamo::DynamoStore>>,
    bodies: &[String],
    seed: u64,
) {
    let mut order = bodies.to_vec();
    shuffle(&mut order, seed);
    let tasks: Vec<_> = order
        .into_iter()
        .map(|body| {
            let hook = hook.clone();
            tokio::spawn(async move { deliver(&hook, &body).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("delivery task");
    }
}
