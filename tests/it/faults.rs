//! The fault suite: outages of the store and of SNS, a burst of concurrent deliveries, and hostile
//! requests through the HTTP path. Nothing may be lost, doubled, written when refused, or leaked.

use crate::delivery::{self, deliver, invoke};
use crate::events::{event, fixture, shipment, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::proxy::Proxy;
use crate::stack;
use crate::table::{self, scan, timeless};
use qapla::fixtures::DEMO_KEY;
use qapla::Kind;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const KO: &str = r#"{"result":"KO"}"#;

async fn new_table(prefix: &str) -> stack::UniqueName {
    let client = stack::dynamo(&LocalEndpoints::shared()).await;
    let name = stack::unique_table(prefix);
    stack::create_table(&client, &name).await;
    name
}

/// `shipments` shipments with `per` events each, oldest first within a shipment, interleaved.
fn stream_of_deliveries(prefix: &str, shipments: usize, per: usize) -> Vec<String> {
    let statuses: [(u32, Option<u32>); 10] = [
        (1, None),
        (2, None),
        (3, None),
        (50, Some(1)),
        (4, None),
        (5, None),
        (6, Some(1)),
        (8, None),
        (4, None),
        (99, None),
    ];
    let mut out = Vec::new();
    for i in 0..per {
        for s in 0..shipments {
            let (id, detail) = statuses[i % statuses.len()];
            let date = format!("2026-04-{:02} {:02}:{:02}:00", 1 + i / 10, 8 + i % 10, s);
            out.push(shipment(&format!("{prefix}{s:03}"), &date, id, detail).to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_loses_nothing_and_doubles_nothing() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let deliveries = stream_of_deliveries("OUT", 4, 8);
    let (calm, stormy) = (new_table("calm").await, new_table("stormy").await);

    let hook = delivery::webhook(Kind::Shipment, &local, &calm).await;
    for body in &deliveries {
        deliver(&hook, body).await;
    }

    let proxy = Proxy::start(crate::local_aws::shared().dynamodb.port);
    let hook = delivery::webhook(
        Kind::Shipment,
        &local.with_dynamodb(proxy.endpoint()),
        &stormy,
    )
    .await;
    let (before, during, after) = (&deliveries[..10], &deliveries[10..16], &deliveries[16..]);
    for body in before {
        assert_eq!(
            invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP))
                .await
                .status,
            200
        );
    }
    proxy.set_down(true);
    let written = scan(&direct, &stormy).await;
    for body in during {
        let got = invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.as_str(), got.body.as_str()),
            (503, "failed:store", KO)
        );
    }
    assert_eq!(
        scan(&direct, &stormy).await,
        written,
        "a delivery in the outage wrote something"
    );
    proxy.set_down(false);
    // Qapla' retries the same bodies later; the stream goes on.
    for body in during.iter().chain(after) {
        assert_eq!(
            invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP))
                .await
                .status,
            200
        );
    }
    table::assert_same_table(
        &timeless(&scan(&direct, &stormy).await),
        &timeless(&scan(&direct, &calm).await),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_deliveries_ends_like_a_serial_run() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let deliveries = stream_of_deliveries("BURST", 20, 10);
    assert_eq!(deliveries.len(), 200);
    let (serial, burst) = (new_table("serial").await, new_table("burst").await);
    let hook = delivery::webhook(Kind::Shipment, &local, &serial).await;
    for body in &deliveries {
        deliver(&hook, body).await;
    }
    let hook = Arc::new(delivery::webhook(Kind::Shipment, &local, &burst).await);
    let started = std::time::Instant::now();
    delivery::deliver_concurrently(hook, &deliveries, 0xb00_5eed).await;
    // The rate one process sustains (the figure the stack's throttling defaults are sized from).
    let took = started.elapsed();
    eprintln!(
        "burst: 200 deliveries in {took:?}, {:.0} per second",
        200.0 / took.as_secs_f64()
    );
    let expected = timeless(&scan(&direct, &serial).await);
    assert_eq!(expected.len(), 20 + 200, "20 states and 200 history items");
    table::assert_same_table(&timeless(&scan(&direct, &burst).await), &expected);
}

/// The shipments webhook over `table` whose first `n` transactions are cancelled for a conflict,
/// and the count of transactions it sent.
async fn raced_webhook(table: &str, n: usize) -> (delivery::Hook, Arc<crate::archive::Redirected>) {
    let (client, conflict) = crate::archive::client_conflicting_first(n).await;
    let hook = qapla::webhook::Webhook::new(
        Kind::Shipment,
        delivery::webhook_config(table).settings,
        qapla_aws::dynamo::DynamoStore::new(client, table),
        None,
    );
    (hook, conflict)
}

/// Two writers racing for one shipment: DynamoDB cancels one transaction for
/// `TransactionConflict`, and the store tries it twice more in-process before answering 503
/// (Qapla' then retries). The first transactions of the client are cancelled on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cancelled_for_a_conflict_is_tried_again() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let body = shipment("RACE1", "2026-05-01 08:00:00", 3, None).to_string();
    let (calm, raced) = (new_table("calm-race").await, new_table("raced").await);
    deliver(
        &delivery::webhook(Kind::Shipment, &local, &calm).await,
        &body,
    )
    .await;

    // Two conflicts: the third try lands.
    let (hook, conflict) = raced_webhook(&raced, 2).await;
    let got = invoke(&hook, &event(Kind::Shipment, &body, QAPLA_IP)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    assert_eq!(conflict.seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    table::assert_same_table(
        &timeless(&scan(&direct, &raced).await),
        &timeless(&scan(&direct, &calm).await),
    );

    // Three conflicts: 503, nothing written; Qapla's retry lands.
    let other = new_table("raced-again").await;
    let (hook, conflict) = raced_webhook(&other, 3).await;
    let got = invoke(&hook, &event(Kind::Shipment, &body, QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (503, "failed:store", KO)
    );
    assert_eq!(conflict.seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(scan(&direct, &other).await.is_empty());
    let got = invoke(&hook, &event(Kind::Shipment, &body, QAPLA_IP)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    table::assert_same_table(
        &timeless(&scan(&direct, &other).await),
        &timeless(&scan(&direct, &calm).await),
    );
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { std::cell::RefCell::new(None) };
}

/// Where log lines go: the capture buffer of the writing thread, if it has one. One global
/// subscriber for the whole test binary, since scoped subscribers on parallel test threads race
/// on tracing's per-callsite interest cache.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(sink) = c.borrow().as_ref() {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the log lines this thread writes from now on.
pub(crate) fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(|| ThreadSink)
            .try_init();
    });
    let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(buffer.clone()));
    buffer
}

fn with_base64_body(kind: Kind, bytes: &[u8]) -> String {
    use base64::Engine;
    let mut v: Value = serde_json::from_str(&event(kind, "", QAPLA_IP)).expect("json");
    v["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    v["isBase64Encoded"] = json!(true);
    v.to_string()
}

pub(crate) fn edit(v: &Value, f: impl FnOnce(&mut Value)) -> String {
    let mut v = v.clone();
    f(&mut v);
    v.to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_requests_get_the_contracts_answer_write_nothing_and_leak_nothing() {
    let table = new_table("hostile").await;
    let direct = stack::dynamo(&LocalEndpoints::shared()).await;
    // The runtime is this thread alone, so every line of these requests lands here.
    let logs = capture_logs();

    const WRONG_KEY: &str = "stolen-or-guessed-key-0001";
    let good = fixture("shipment-1.3-delivered");
    let shipment_event = |body: &str| event(Kind::Shipment, body, QAPLA_IP);
    let nested_objects = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    let mut spoofed: Value =
        serde_json::from_str(&event(Kind::Shipment, &good.to_string(), "198.51.100.23"))
            .expect("json");
    spoofed["headers"]["X-Forwarded-For"] = json!(QAPLA_IP);
    spoofed["multiValueHeaders"]["X-Forwarded-For"] = json!([QAPLA_IP]);
    let mut no_source: Value =
        serde_json::from_str(&shipment_event(&good.to_string())).expect("json");
    no_source["requestContext"]["identity"]["sourceIp"] = Value::Null;
    let method = |m: &str| {
        let mut v: Value = serde_json::from_str(&shipment_event(&good.to_string())).expect("json");
        v["httpMethod"] = json!(m);
        v["requestContext"]["httpMethod"] = json!(m);
        v.to_string()
    };

    let cases: Vec<(&str, String, u16)> = vec![
        ("empty", shipment_event(""), 400),
        ("blank", shipment_event(" \n\t "), 400),
        ("huge", shipment_event(&" ".repeat(1024 * 1024 + 1)), 413),
        (
            "huge JSON",
            shipment_event(&json!({"apiKey": DEMO_KEY, "pad": "x".repeat(2 << 20)}).to_string()),
            413,
        ),
        (
            "deeply nested arrays",
            shipment_event(&format!("{{\"rows\":{}", "[".repeat(200_000))),
            400,
        ),
        (
            "deeply nested objects",
            shipment_event(&nested_objects),
            400,
        ),
        (
            "not JSON",
            shipment_event("trackingNumber=JD0146000031"),
            400,
        ),
        (
            "truncated JSON",
            shipment_event(&good.to_string()[..100]),
            400,
        ),
        ("array", shipment_event("[{\"trackingNumber\":\"X\"}]"), 400),
        ("string", shipment_event("\"OK\""), 400),
        ("number", shipment_event("42"), 400),
        ("null", shipment_event("null"), 400),
        ("BOM", shipment_event(&format!("\u{feff}{good}")), 400),
        (
            "non-UTF-8",
            with_base64_body(
                Kind::Shipment,
                b"{\"apiKey\":\"\xff\xfe\",\"trackingNumber\":\"X\"}",
            ),
            400,
        ),
        (
            "wrong key",
            shipment_event(&edit(&good, |v| v["apiKey"] = json!(WRONG_KEY))),
            401,
        ),
        (
            "no key",
            shipment_event(&edit(&good, |v| {
                v.as_object_mut().map(|m| m.remove("apiKey"));
            })),
            401,
        ),
        (
            "empty key",
            shipment_event(&edit(&good, |v| v["apiKey"] = json!(""))),
            401,
        ),
        (
            "key as number",
            shipment_event(&edit(&good, |v| v["apiKey"] = json!(12345))),
            401,
        ),
        (
            "key as object",
            shipment_event(&edit(&good, |v| v["apiKey"] = json!({"key": DEMO_KEY}))),
            401,
        ),
        (
            "two keys",
            shipment_event(&good.to_string().replacen(
                '{',
                &format!("{{\"apiKey\":\"{WRONG_KEY}\","),
                1,
            )),
            400,
        ),
        (
            "foreign sender",
            event(Kind::Shipment, &good.to_string(), "198.51.100.23"),
            403,
        ),
        ("spoofed X-Forwarded-For", spoofed.to_string(), 403),
        (
            "foreign IPv6 sender",
            event(Kind::Shipment, &good.to_string(), "2001:db8::7"),
            403,
        ),
        ("no source address", no_source.to_string(), 403),
        ("GET", method("GET"), 405),
        ("PUT", method("PUT"), 405),
    ];
    // Content of a known channel that does not validate is answered OK and kept instead: see
    // `budget`.
    assert!(cases.len() >= 20);
    for (name, request, status) in &cases {
        let kind = match serde_json::from_str::<Value>(request)
            .ok()
            .and_then(|v| v["path"].as_str().map(str::to_owned))
        {
            Some(p) if p.ends_with("orders") => Kind::Order,
            Some(p) if p.ends_with("returns") => Kind::Return,
            _ => Kind::Shipment,
        };
        let hook = delivery::webhook(kind, &LocalEndpoints::shared(), &table).await;
        let got = invoke(&hook, request).await;
        assert_eq!(
            (got.status, got.body.as_str()),
            (*status, KO),
            "{name}: {}",
            got.outcome
        );
    }
    assert!(
        scan(&direct, &table).await.is_empty(),
        "a hostile request wrote something"
    );

    // A good 1.3 delivery, with the consignee's personal data, for the log check below.
    let hook = delivery::webhook(Kind::Shipment, &LocalEndpoints::shared(), &table).await;
    assert_eq!(
        invoke(&hook, &shipment_event(&good.to_string()))
            .await
            .status,
        200
    );

    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"delivery\""))
        .collect();
    assert_eq!(lines.len(), cases.len() + 1, "one log line per request");
    for secret in [
        DEMO_KEY,
        WRONG_KEY,
        "Mario",
        "mario.rossi@example.com",
        "333 1234567",
        "Indipendenza",
    ] {
        assert!(!text.contains(secret), "the logs hold {secret:?}");
    }
    for line in &lines {
        let v: Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            v["outcome"].is_string() && v["status"].is_number() && v["latency_ms"].is_number(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_outage_delays_alerts_but_each_change_arrives_once() {
    use crate::notifier_rig::Rig;
    let mut rig = Rig::new().await;
    let proxy = Proxy::start(crate::local_aws::shared().moto.port);
    let changes = [
        shipment("SNS1", "2026-05-01 08:00:00", 3, None),
        shipment("SNS1", "2026-05-01 12:00:00", 5, None),
        shipment("SNS2", "2026-05-01 09:00:00", 6, Some(1)),
        shipment("SNS2", "2026-05-02 09:00:00", 8, None),
        shipment("SNS3", "2026-05-01 10:00:00", 4, None),
    ];
    for c in &changes {
        assert_eq!(rig.deliver(Kind::Shipment, &c.to_string()).await, "stored");
    }
    // A redelivery while SNS is away: no second change.
    assert_eq!(
        rig.deliver(Kind::Shipment, &changes[1].to_string()).await,
        "duplicate"
    );
    let event = rig.stream_event().await;
    proxy.set_down(true);
    let notifier = rig
        .notifier(&rig.endpoints.with_aws(proxy.endpoint()))
        .await;
    let failed = notifier.handle(&event).await.batch_item_failures;
    assert!(
        !failed.is_empty(),
        "records must be reported failed while SNS is away"
    );
    assert!(rig.drain_all().await.is_empty());

    // Lambda retries from the first failed record on; SNS is back.
    proxy.set_down(false);
    let first = failed[0].item_identifier.clone();
    let mut retry = event.clone();
    let from = retry
        .records
        .iter()
        .position(|r| r.change.sequence_number == first)
        .expect("the failed record is in the batch");
    retry.records.drain(..from);
    assert!(notifier.handle(&retry).await.batch_item_failures.is_empty());

    let all = rig.drain_all().await;
    let mut ids: Vec<&str> = all.iter().filter_map(|m| m["id"].as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a change arrived twice");
    assert_eq!(all.len(), changes.len(), "each change arrives once");
    let alerts = rig.drain_alerts().await;
    let mut alerted: Vec<String> = alerts
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["shipment"]["trackingNumber"], m["shipment"]["status"]["id"]
            )
        })
        .collect();
    alerted.sort();
    assert_eq!(alerted, ["\"SNS1\" 5", "\"SNS2\" 6", "\"SNS2\" 8"]);
}
