//! Never refuse what Qapla' may send, never lose what was accepted: large bodies kept whole, any
//! number of orders, a failure between two transactions of one delivery, a refusal no retry can
//! fix, and how soon an unreachable store answers. Through the real handlers, against moto with
//! S3.

use crate::archive::{self, client_down_before, create_bucket, keys};
use crate::delivery::{self, invoke};
use crate::events::{event, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::proxy::Proxy;
use crate::stack;
use crate::table::{assert_same_table, scan, timeless};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use qapla::fixtures::{self, DEMO_KEY};
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn new_table(prefix: &str) -> stack::UniqueName {
    let client = stack::dynamo(&LocalEndpoints::shared()).await;
    let name = stack::unique_table(prefix);
    stack::create_table(&client, &name).await;
    name
}

async fn new_bucket(prefix: &str) -> (stack::UniqueName, aws_sdk_s3::Client) {
    let name = stack::unique_table(prefix);
    let client = create_bucket(&LocalEndpoints::shared(), &name).await;
    (name, client)
}

/// Text gzip cannot shrink much: hex digits of running hashes.
fn noise(bytes: usize) -> String {
    let mut out = String::new();
    let mut n = 0u64;
    while out.len() < bytes {
        out.push_str(qapla::identity::EventId::of_content(&json!(n)).as_str());
        n += 1;
    }
    out.truncate(bytes);
    out
}

fn without_key(body: &Value) -> Value {
    let mut v = body.clone();
    v.as_object_mut().map(|m| m.remove("apiKey"));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_900_kb_body_is_recorded_whole_readable_back_and_then_a_duplicate() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    // Product rows that compress well (kept gzipped in the item), and rows of free text that do
    // not (kept in the bucket, with a pointer in the item).
    for varied in [false, true] {
        let table = new_table("large").await;
        let (bucket, s3) = new_bucket("large").await;
        let hook = archive::webhook(Kind::Shipment, &local, &table, &bucket).await;
        let body = fixtures::large_shipment(900 * 1024, varied);
        let text = body.to_string();
        assert!(
            (850 * 1024..1024 * 1024).contains(&text.len()),
            "{}",
            text.len()
        );
        let got = invoke(&hook, &event(Kind::Shipment, &text, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.as_str()),
            (200, "stored"),
            "{varied}"
        );

        let items = scan(&direct, &table).await;
        assert_eq!(items.len(), 2, "a state and a history item");
        let ((pk, sk), history) = items
            .iter()
            .find(|((_, sk), _)| sk.starts_with("EVENT#"))
            .expect("history item");
        // Only the summary the read side lists stays inline.
        let summary = history["payload"].as_object().expect("a summary");
        assert!(summary
            .keys()
            .all(|k| qapla::archive::LISTED_FIELDS.contains(&k.as_str())));
        assert_eq!(summary.get("courierStatus"), body.get("courierStatus"));
        assert_eq!(history.get("payloadGz").is_some(), !varied);
        assert_eq!(history.get("payloadRef").is_some(), varied);
        let state = &items[&(pk.clone(), "STATE".to_owned())];
        assert!(state.to_string().len() < 2048, "the state item stays small");
        assert_eq!(
            keys(&s3, &bucket, "payloads/").await.len(),
            usize::from(varied)
        );

        let whole = hook
            .store
            .history_payload(pk, sk, &hook.archive)
            .await
            .expect("readable")
            .expect("there");
        let sent = without_key(&body);
        assert_eq!(whole["rows"], sent["rows"]);
        assert_eq!(whole["consignee"], sent["consignee"]);
        assert_eq!(whole["trackingNumber"], sent["trackingNumber"]);

        let again = invoke(&hook, &event(Kind::Shipment, &text, QAPLA_IP)).await;
        assert_eq!((again.status, again.outcome.as_str()), (200, "duplicate"));
        assert_eq!(scan(&direct, &table).await, items);

        // The same change with other content: a duplicate, and the payload read back is still
        // the recorded one's (an archived payload is never replaced by other content).
        let mut other = body.clone();
        other["rows"][0]["notes"] = json!("other content, same change");
        let other = invoke(&hook, &event(Kind::Shipment, &other.to_string(), QAPLA_IP)).await;
        assert_eq!((other.status, other.outcome.as_str()), (200, "duplicate"));
        assert_eq!(scan(&direct, &table).await, items);
        let still = hook
            .store
            .history_payload(pk, sk, &hook.archive)
            .await
            .expect("readable")
            .expect("there");
        assert_eq!(still["rows"], sent["rows"], "{varied}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fifty_orders_in_one_body_are_all_recorded() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let table = new_table("orders250").await;
    let hook = delivery::webhook(Kind::Order, &local, &table).await;
    let body = fixtures::many_orders(250).to_string();
    let got = invoke(&hook, &event(Kind::Order, &body, QAPLA_IP)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    let items = scan(&direct, &table).await;
    assert_eq!(items.len(), 500, "each order and its version");
    assert!(items.keys().all(|(pk, sk)| pk.starts_with("ORDER#")
        && (sk == "STATE" || sk.starts_with(qapla::table::VERSION_PREFIX))));
    let again = invoke(&hook, &event(Kind::Order, &body, QAPLA_IP)).await;
    assert_eq!(again.outcome, "duplicate");
}

/// The time bounds each transaction of a client ran under: (one attempt, the whole call).
#[derive(Debug, Clone, Default)]
struct SeenBounds(Arc<std::sync::Mutex<Vec<(Duration, Duration)>>>);

impl Intercept for SeenBounds {
    fn name(&self) -> &'static str {
        "SeenBounds"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target");
        if target.is_some_and(|t| t.ends_with(".TransactWriteItems")) {
            let bounds = cfg.load::<TimeoutConfig>().expect("bounds");
            let seen = (
                bounds
                    .operation_attempt_timeout()
                    .expect("an attempt bound"),
                bounds.operation_timeout().expect("a whole-call bound"),
            );
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
        }
        Ok(())
    }
}

/// A transaction's bounds grow with what it carries: a shipment's two small items run under the
/// webhooks' 1 s an attempt and 2 s the call; 50 orders filling one transaction's 100 items
/// under more, by the rule of `qapla_aws::bounds` (the bounds as the SDK applied them to each
/// request, read by an interceptor: no timing involved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactions_time_bounds_grow_with_its_items_and_bytes() {
    let local = LocalEndpoints::shared();
    let table = new_table("bounds").await;
    let sdk = stack::sdk(&local).await;
    // A client of the functions' own, and the bounds each of its transactions ran under.
    let webhook = |kind| {
        let seen = SeenBounds::default();
        let client = aws_sdk_dynamodb::Client::from_conf(
            qapla_aws::dynamo::client(&sdk)
                .config()
                .to_builder()
                .interceptor(seen.clone())
                .build(),
        );
        let hook = Webhook::new(
            kind,
            delivery::webhook_config(&table).settings,
            DynamoStore::new(client, &table),
            None::<qapla_aws::s3::S3Archive>,
        );
        (hook, seen)
    };
    let (hook, small) = webhook(Kind::Shipment);
    let shipment = fixtures::SHIPMENT_EXCEPTION_STOCK.body;
    let got = invoke(&hook, &event(Kind::Shipment, shipment, QAPLA_IP)).await;
    assert_eq!(got.outcome, "stored");
    let (hook, large) = webhook(Kind::Order);
    let orders = fixtures::many_orders(50).to_string();
    let got = invoke(&hook, &event(Kind::Order, &orders, QAPLA_IP)).await;
    assert_eq!(got.outcome, "stored");

    // Every attempt of one transaction under the same bounds (a slow one may be sent again).
    let bounds = |seen: SeenBounds| {
        let seen = seen.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            !seen.is_empty() && seen.iter().all(|b| *b == seen[0]),
            "{seen:?}"
        );
        seen[0]
    };
    let (small, large) = (bounds(small), bounds(large));
    let ms = |d: Duration| d.as_millis();
    assert!((1_000..1_050).contains(&ms(small.0)), "{small:?}");
    assert_eq!(
        small.1 - Duration::from_secs(2),
        2 * (small.0 - Duration::from_secs(1))
    );
    // 100 items: at least 0.5 s more an attempt, and the whole call twice that more.
    assert!(ms(large.0) >= 1_500, "{large:?}");
    assert_eq!(
        large.1 - Duration::from_secs(2),
        2 * (large.0 - Duration::from_secs(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_two_batches_answers_503_and_the_retry_completes_the_table() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let body = fixtures::many_orders(250).to_string();
    let (calm, stormy) = (
        new_table("calm-batches").await,
        new_table("stormy-batches").await,
    );

    let hook = delivery::webhook(Kind::Order, &local, &calm).await;
    assert_eq!(
        invoke(&hook, &event(Kind::Order, &body, QAPLA_IP))
            .await
            .outcome,
        "stored"
    );

    // The store goes away just as the second transaction (orders 51 to 100) is sent.
    let proxy = Arc::new(Proxy::start(crate::local_aws::shared().dynamodb.port));
    let client = client_down_before(proxy.clone(), 2).await;
    let hook = Webhook::new(
        Kind::Order,
        delivery::webhook_config(&stormy).settings,
        DynamoStore::new(client, &stormy),
        None::<qapla_aws::s3::S3Archive>,
    );
    let got = invoke(&hook, &event(Kind::Order, &body, QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (503, "failed:store", r#"{"result":"KO"}"#)
    );
    assert_eq!(
        scan(&direct, &stormy).await.len(),
        100,
        "the first batch only: 50 orders and their versions"
    );

    // Qapla' retries later: the first batch is a duplicate, the rest is written.
    proxy.set_down(false);
    let got = invoke(&hook, &event(Kind::Order, &body, QAPLA_IP)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    assert_same_table(
        &timeless(&scan(&direct, &stormy).await),
        &timeless(&scan(&direct, &calm).await),
    );
    let got = invoke(&hook, &event(Kind::Order, &body, QAPLA_IP)).await;
    assert_eq!(got.outcome, "duplicate");
}

#[tokio::test(flavor = "current_thread")]
async fn a_permanent_refusal_is_quarantined_answered_ok_and_counted() {
    let local = LocalEndpoints::shared();
    let direct = stack::dynamo(&local).await;
    let table = new_table("refused").await;
    let (bucket, s3) = new_bucket("refused").await;
    // This runtime is this thread alone, so every line of the request lands here.
    let logs = crate::faults::capture_logs();
    let hook = archive::webhook(Kind::Order, &local, &table, &bucket).await;
    // One order too large for any DynamoDB item: the table refuses it whatever the retry.
    let mut body = fixtures::ORDERS.json();
    body["orders"][0]["notes"] = json!(noise(500 * 1024));
    let text = body.to_string();

    let got = invoke(&hook, &event(Kind::Order, &text, QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (200, "quarantined:store_refused", r#"{"result":"OK"}"#)
    );
    assert!(scan(&direct, &table).await.is_empty());
    let kept = keys(&s3, &bucket, "quarantine/orders/").await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&kept[0])
        .send()
        .await
        .expect("the quarantined delivery")
        .body
        .collect()
        .await
        .expect("its bytes")
        .into_bytes();
    let doc: Value = serde_json::from_slice(&object).expect("JSON");
    assert_eq!(
        doc["body"],
        without_key(&body),
        "kept whole, without its key"
    );
    assert_eq!(doc["channel"], json!(fixtures::DEMO_CHANNEL));
    assert!(doc["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("ValidationException")));

    // The line the metric filter counts: {$.outcome = "quarantined*"}, with its reason.
    let text_logs =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let lines: Vec<Value> = text_logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == json!("delivery"))
        .collect();
    assert_eq!(lines.len(), 1, "{text_logs}");
    assert_eq!(lines[0]["outcome"], json!("quarantined:store_refused"));
    assert_eq!(lines[0]["status"], json!(200));
    assert!(lines[0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("ValidationException")));
    assert!(!text_logs.contains(DEMO_KEY));
}

/// Times one shipment delivery through `hook`: its answer and how long it took.
async fn timed(hook: &delivery::Hook, body: &str) -> (u16, Duration) {
    let start = Instant::now();
    let got = invoke(hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
    (got.status, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_answers_503_within_its_bound() {
    let local = LocalEndpoints::shared();
    let table = new_table("unreachable").await;
    let body = fixtures::SHIPMENT_EXCEPTION_STOCK.body;
    let settings = || delivery::webhook_config(&table).settings;

    // Refused connections (the store's address answers nothing), as the fault suite's proxy does.
    let proxy = Proxy::start(crate::local_aws::shared().dynamodb.port);
    proxy.set_down(true);
    let sdk = stack::sdk(&local.with_dynamodb(proxy.endpoint())).await;
    let bounded = Webhook::new(
        Kind::Shipment,
        settings(),
        DynamoStore::new(qapla_aws::dynamo::client(&sdk), &table),
        None,
    );
    let defaults = Webhook::new(
        Kind::Shipment,
        settings(),
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        None,
    );
    let (status, refused) = timed(&bounded, body).await;
    assert_eq!(status, 503);
    let (status, refused_defaults) = timed(&defaults, body).await;
    assert_eq!(status, 503);

    // A black hole: the connection is taken but nothing ever answers.
    let hole = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    let hole_endpoint = format!(
        "http://127.0.0.1:{}",
        hole.local_addr().expect("addr").port()
    );
    let sdk = stack::sdk(&local.with_dynamodb(hole_endpoint)).await;
    let silent = Webhook::new(
        Kind::Shipment,
        settings(),
        DynamoStore::new(qapla_aws::dynamo::client(&sdk), &table),
        None,
    );
    let (status, black_hole) = timed(&silent, body).await;
    assert_eq!(status, 503);
    drop(hole);

    eprintln!(
        "503 after: refused {refused:?} (SDK defaults {refused_defaults:?}), black hole {black_hole:?}"
    );
    // How soon is the client's configuration, not this machine's speed: a busy machine only
    // answers later. The black hole was answered at all, so the operation's bound ended it; it
    // took the attempts' bound at least, so attempts were not cut short.
    let config = qapla_aws::dynamo::client(&sdk).config().clone();
    let timeouts = config.timeout_config().expect("bounded timeouts");
    assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(
        timeouts.operation_attempt_timeout(),
        Some(Duration::from_secs(1))
    );
    assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(500)));
    let retries = config.retry_config().expect("bounded retries");
    assert_eq!(retries.max_attempts(), 3);
    assert!(retries.max_backoff() <= Duration::from_millis(400));
    assert!(
        black_hole >= Duration::from_secs(1),
        "{black_hole:?}: attempts were cut short"
    );
}
