//! Qapla's failure budget is never spent on our faults: a delivery of a known channel from a
//! Qapla' address is answered OK and ends recorded or kept, whatever is wrong with its content
//! (quarantined), with its URL (recorded as what it is) or with the table (the inbox, drained once
//! the table answers, to the same table and the same notifications as a run without the outage).
//! Only where neither the table nor the bucket took it is the answer a KO. Through the real
//! handlers, against moto with S3, the table behind a loopback proxy that can be switched off.

use crate::archive::{create_bucket, keys, s3};
use crate::delivery::invoke;
use crate::events::{event, fixture, shipment, QAPLA_IP};
use crate::faults::edit;
use crate::local_aws::LocalEndpoints;
use crate::notifier_rig::Rig;
use crate::proxy::Proxy;
use crate::stack;
use crate::table::{assert_same_table, scan, timeless};
use qapla::archive::{Kept, Place};
use qapla::fixtures::DEMO_KEY;
use qapla::store::Archive;
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::s3::S3Archive;
use serde_json::{json, Value};

const OK: &str = r#"{"result":"OK"}"#;
const KO: &str = r#"{"result":"KO"}"#;

/// A webhook over `table` and `bucket` through `endpoints` (the local servers, or proxies in
/// front of them), with the retries of the functions' DynamoDB client but not its time bounds:
/// a busy test machine's slow answers are waited for, not taken for an outage (the bounds are
/// checked on their own, in `reliability`).
async fn hook(
    kind: Kind,
    endpoints: &LocalEndpoints,
    table: &str,
    bucket: &str,
) -> Webhook<DynamoStore, S3Archive> {
    let sdk = stack::sdk(endpoints).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(qapla_aws::bounds::bounded_retries())
            .build(),
    );
    let store = DynamoStore::new(client, table);
    let archive = S3Archive::new(s3(endpoints).await, bucket);
    Webhook::new(
        kind,
        crate::delivery::webhook_config(table).settings,
        store,
        archive,
    )
}

async fn table_and_bucket(prefix: &str) -> (stack::UniqueName, aws_sdk_s3::Client) {
    let endpoint = LocalEndpoints::shared();
    let name = stack::unique_table(prefix);
    stack::create_table(&stack::dynamo(&endpoint).await, &name).await;
    let s3 = create_bucket(&endpoint, &name).await;
    (name, s3)
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_content_of_a_known_channel_is_answered_ok_and_found_in_the_bucket() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3) = table_and_bucket("quarantine").await;
    let good = fixture("shipment-1.3-delivered");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "zero date",
            edit(&good, |v| v["date"] = json!("0000-00-00 00:00:00")),
            "invalid",
        ),
        (
            "date in words",
            edit(&good, |v| v["date"] = json!("ieri alle 9")),
            "invalid",
        ),
        (
            "date chrono cannot place",
            edit(&good, |v| v["date"] = json!("-262143-01-01 00:00:00")),
            "invalid",
        ),
        (
            "status id not a number",
            edit(&good, |v| v["qaplaStatusID"] = json!("DELIVERED")),
            "invalid",
        ),
        (
            "statusDetails as a bare string",
            edit(&good, |v| v["statusDetails"] = json!("ON HOLD")),
            "invalid",
        ),
        (
            "'#' in the tracking number",
            edit(&good, |v| v["trackingNumber"] = json!("JD#1")),
            "invalid",
        ),
        (
            "no tracking number",
            edit(&good, |v| {
                v.as_object_mut().map(|m| m.remove("trackingNumber"));
            }),
            "invalid",
        ),
        (
            "rows as an object",
            edit(&good, |v| v["rows"] = json!({"sku": "A"})),
            "invalid",
        ),
        (
            "a control character in the courier",
            edit(&good, |v| v["courier"] = json!("DH\u{7}L")),
            "invalid",
        ),
        (
            "no webhook Qapla' sends",
            json!({"apiKey": DEMO_KEY, "hello": "world"}).to_string(),
            "unknown_kind",
        ),
        (
            "a member named twice",
            good.to_string()
                .replacen("\"sku\":", "\"sku\":\"A\",\"sku\":", 1),
            "duplicate_key",
        ),
    ];
    let hook = hook(Kind::Shipment, &endpoint, &table, &table).await;
    for (name, body, code) in &cases {
        let before = keys(&s3, &table, "quarantine/").await;
        let got = invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.clone(), got.body.as_str()),
            (200, format!("quarantined:{code}"), OK),
            "{name}"
        );
        let after = keys(&s3, &table, "quarantine/shipments/").await;
        let new: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
        assert_eq!(new.len(), 1, "{name}: one object kept");
        let bytes = object(&s3, &table, new[0]).await;
        let kept = Kept::read(Place::Quarantine, &bytes).expect("a kept delivery");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(DEMO_KEY),
            "{name}: the key was kept"
        );
        assert_eq!(kept.channel, qapla::fixtures::DEMO_CHANNEL);
        assert!(!kept.reason.is_empty(), "{name}");
        // Qapla's retry of the same body: the same object, nothing more.
        invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
        assert_eq!(
            keys(&s3, &table, "quarantine/").await.len(),
            after.len(),
            "{name}"
        );
    }
    assert!(scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_thirty_orders_with_one_bad_records_29_and_quarantines_one() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3) = table_and_bucket("thirty").await;
    let mut body = qapla::fixtures::many_orders(30);
    body["orders"][11]["orderDate"] = json!("31/02/2026");
    let hook = hook(Kind::Order, &endpoint, &table, &table).await;
    let got = invoke(&hook, &event(Kind::Order, &body.to_string(), QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (200, "quarantined:invalid", OK)
    );
    let items = scan(&stack::dynamo(&endpoint).await, &table).await;
    let orders: Vec<&(String, String)> = items
        .keys()
        .filter(|(pk, sk)| pk.starts_with("ORDER#") && sk == "STATE")
        .collect();
    assert_eq!(orders.len(), 29);
    assert!(!items.keys().any(|(pk, _)| pk.ends_with("ORD-00011")));
    let kept = keys(&s3, &table, "quarantine/orders/").await;
    assert_eq!(kept.len(), 1);
    let kept = Kept::read(Place::Quarantine, &object(&s3, &table, &kept[0]).await).expect("kept");
    assert!(
        kept.reason.starts_with("orders[11].orderDate"),
        "{}",
        kept.reason
    );
    assert_eq!(kept.body["orders"][0]["reference"], json!("ORD-00011"));
}

/// Qapla' changing a format for a batch: 400 orders whose dates are all in words. Every entry is
/// kept, in one archive write (400 sequential writes at a region's 25 ms each took 13.8 s, past
/// the function's 6 s), and the answer is OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_invalid_orders_are_kept_in_one_write_and_answered_ok() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3) = table_and_bucket("fourhundred").await;
    let mut body = qapla::fixtures::many_orders(400);
    for o in body["orders"].as_array_mut().into_iter().flatten() {
        o["orderDate"] = json!("due marzo duemilaventisei");
    }
    let hook = hook(Kind::Order, &endpoint, &table, &table).await;
    let got = invoke(&hook, &event(Kind::Order, &body.to_string(), QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (200, "quarantined:invalid", OK)
    );
    assert!(scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .is_empty());
    let kept = keys(&s3, &table, "quarantine/orders/").await;
    assert_eq!(kept.len(), 1, "one object for the delivery: {kept:?}");
    let kept = Kept::read(Place::Quarantine, &object(&s3, &table, &kept[0]).await).expect("kept");
    assert_eq!(kept.body["orders"].as_array().map(Vec::len), Some(400));
    let reasons: Vec<&str> = kept.reason.split("; ").collect();
    assert_eq!(reasons.len(), 400);
    assert!(
        reasons[399].starts_with("orders[399].orderDate"),
        "{}",
        reasons[399]
    );
    assert!(!String::from_utf8_lossy(
        &object(&s3, &table, &keys(&s3, &table, "quarantine/").await[0]).await
    )
    .contains(DEMO_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_another_webhooks_url_is_recorded_as_what_its_body_says() {
    let endpoint = LocalEndpoints::shared();
    let (table, _) = table_and_bucket("misrouted").await;
    let hook = hook(Kind::Shipment, &endpoint, &table, &table).await;
    for body in [fixture("orders"), fixture("returns-flat")] {
        let got = invoke(&hook, &event(Kind::Shipment, &body.to_string(), QAPLA_IP)).await;
        assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    }
    let items = scan(&stack::dynamo(&endpoint).await, &table).await;
    assert!(items.keys().any(|(pk, _)| pk.starts_with("ORDER#shop-it#")));
    assert!(items
        .keys()
        .any(|(pk, _)| pk.starts_with("RETURN#shop-it#")));
}

/// The deliveries of the outage: a shipment's life, a return and orders.
fn outage_deliveries() -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = [
        "2026-04-01 08:00:00",
        "2026-04-01 12:00:00",
        "2026-04-02 09:30:00",
    ]
    .iter()
    .zip([(3, None), (6, Some(1)), (99, None)])
    .map(|(date, (id, detail))| {
        (
            Kind::Shipment,
            shipment("INBOX001", date, id, detail).to_string(),
        )
    })
    .collect();
    // Delivered out of order: the late one must not move the state back once drained.
    out.swap(1, 2);
    out.push((Kind::Return, fixture("returns-wrapped").to_string()));
    out.push((Kind::Order, fixture("orders").to_string()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_outage_is_answered_ok_kept_in_the_inbox_and_drained_as_if_nothing_happened() {
    let endpoint = LocalEndpoints::shared();
    let direct = stack::dynamo(&endpoint).await;

    // The undisturbed run, and its notifications.
    let mut calm = Rig::new().await;
    create_bucket(&endpoint, &calm.table).await;
    for (kind, body) in outage_deliveries() {
        let hook = hook(kind, &endpoint, &calm.table, &calm.table).await;
        let got = invoke(&hook, &event(kind, &body, QAPLA_IP)).await;
        assert_eq!(got.status, 200);
    }
    assert_eq!(calm.notify().await, 0);
    let calm_notices = calm.drain_all().await;

    // The same deliveries while DynamoDB fails every call (its proxy is off) and S3 answers.
    let mut stormy = Rig::new().await;
    let s3c = create_bucket(&endpoint, &stormy.table).await;
    let proxy = Proxy::start(crate::local_aws::shared().dynamodb.port);
    let through_proxy = endpoint.with_dynamodb(proxy.endpoint());
    proxy.set_down(true);
    for (kind, body) in outage_deliveries() {
        let hook = hook(kind, &through_proxy, &stormy.table, &stormy.table).await;
        let got = invoke(&hook, &event(kind, &body, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.as_str(), got.body.as_str()),
            (200, "deferred:store", OK),
            "{kind}"
        );
    }
    assert!(scan(&direct, &stormy.table).await.is_empty());
    let waiting = keys(&s3c, &stormy.table, "inbox/").await;
    assert_eq!(waiting.len(), outage_deliveries().len());
    for key in &waiting {
        let text = String::from_utf8_lossy(&object(&s3c, &stormy.table, key).await).into_owned();
        assert!(!text.contains(DEMO_KEY), "{key} holds the key");
    }

    // The drain while the table is still down: nothing moves, nothing is lost.
    let drain = hook(Kind::Shipment, &through_proxy, &stormy.table, &stormy.table).await;
    let down = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!(
        (down.drained, down.waiting, down.outcome),
        (0, waiting.len(), "table_down")
    );

    // The table answers again: the drain records everything and empties the inbox.
    proxy.set_down(false);
    let up = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!(
        (up.drained, up.waiting, up.outcome),
        (waiting.len(), 0, "done")
    );
    assert!(drain
        .archive
        .list("inbox/", 100)
        .await
        .expect("list")
        .is_empty());
    assert_same_table(
        &timeless(&scan(&direct, &stormy.table).await),
        &timeless(&scan(&direct, &calm.table).await),
    );
    assert_eq!(stormy.notify().await, 0);
    let stormy_notices = stormy.drain_all().await;
    let ids = |notices: &[Value]| {
        let mut ids: Vec<(String, String)> = notices
            .iter()
            .map(|n| {
                (
                    n["event"].as_str().unwrap_or_default().to_owned(),
                    n["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    assert!(!calm_notices.is_empty());
    assert_eq!(
        ids(&stormy_notices),
        ids(&calm_notices),
        "the same notifications, once each"
    );

    // A second drain finds nothing; Qapla' never retried, and nothing is doubled.
    let again = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!((again.drained, again.waiting), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_failing_too_is_a_503_with_nothing_half_written() {
    let local = crate::local_aws::shared();
    let endpoint = local.endpoints();
    let (table, s3c) = table_and_bucket("bothdown").await;
    let (dynamo, bucket) = (
        Proxy::start(local.dynamodb.port),
        Proxy::start(local.moto.port),
    );
    let through_proxies = endpoint
        .with_dynamodb(dynamo.endpoint())
        .with_aws(bucket.endpoint());
    dynamo.set_down(true);
    bucket.set_down(true);
    let bad_date = edit(&fixture("shipment-1.2-in-transit"), |v| {
        v["date"] = json!("0000-00-00 00:00:00")
    });
    for (kind, body) in [
        (
            Kind::Shipment,
            fixture("shipment-1.2-in-transit").to_string(),
        ),
        (Kind::Order, qapla::fixtures::many_orders(30).to_string()),
        (Kind::Shipment, bad_date.clone()),
    ] {
        let hook = hook(kind, &through_proxies, &table, &table).await;
        let got = invoke(&hook, &event(kind, &body, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.as_str(), got.body.as_str()),
            (503, "failed:store", KO),
            "{kind}"
        );
    }
    // Only the bucket down: content the table would take is still recorded; a body that must be
    // quarantined is a 503, so that Qapla' retries it.
    dynamo.set_down(false);
    let hook = hook(Kind::Shipment, &through_proxies, &table, &table).await;
    let got = invoke(&hook, &event(Kind::Shipment, &bad_date, QAPLA_IP)).await;
    assert_eq!((got.status, got.body.as_str()), (503, KO));
    assert!(scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .is_empty());
    assert!(keys(&s3c, &table, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_qaplas_is_still_a_ko_and_keeps_nothing() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3c) = table_and_bucket("notqaplas").await;
    let good = fixture("shipment-1.2-in-transit");
    let hook = hook(Kind::Shipment, &endpoint, &table, &table).await;
    let mut get: Value =
        serde_json::from_str(&event(Kind::Shipment, &good.to_string(), QAPLA_IP)).expect("json");
    get["httpMethod"] = json!("GET");
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "no key",
            event(
                Kind::Shipment,
                &edit(&good, |v| {
                    v.as_object_mut().map(|m| m.remove("apiKey"));
                }),
                QAPLA_IP,
            ),
            401,
        ),
        (
            "unknown key",
            event(
                Kind::Shipment,
                &edit(&good, |v| v["apiKey"] = json!("guessed")),
                QAPLA_IP,
            ),
            401,
        ),
        (
            "unknown key, bad content",
            event(
                Kind::Shipment,
                &edit(&good, |v| {
                    v["apiKey"] = json!("guessed");
                    v["date"] = json!("0000-00-00");
                }),
                QAPLA_IP,
            ),
            401,
        ),
        (
            "foreign sender",
            event(Kind::Shipment, &good.to_string(), "198.51.100.23"),
            403,
        ),
        (
            "not JSON",
            event(Kind::Shipment, &format!("apiKey={DEMO_KEY}"), QAPLA_IP),
            400,
        ),
        (
            "two keys",
            event(
                Kind::Shipment,
                &good.to_string().replacen('{', "{\"apiKey\":\"x\",", 1),
                QAPLA_IP,
            ),
            400,
        ),
        ("wrong method", get.to_string(), 405),
        (
            "over the size limit",
            event(
                Kind::Shipment,
                &edit(&good, |v| v["pad"] = json!("x".repeat(2 << 20))),
                QAPLA_IP,
            ),
            413,
        ),
    ];
    for (name, request, status) in &cases {
        let got = invoke(&hook, request).await;
        assert_eq!(
            (got.status, got.body.as_str()),
            (*status, KO),
            "{name}: {}",
            got.outcome
        );
    }
    assert!(scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .is_empty());
    assert!(
        keys(&s3c, &table, "").await.is_empty(),
        "a refused request kept something"
    );
}

/// An HTTP endpoint on loopback that answers every request as DynamoDB answers the error `code`.
fn failing_dynamodb(status: u16, code: &'static str) -> String {
    crate::proxy::answering(
        status,
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"refused by the test"}}"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_answering_errors_defers_to_the_inbox_whatever_the_error() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3c) = table_and_bucket("errors").await;
    // An outage, throttling of a new table, an IAM mistake, a table that is not there.
    let errors = [
        (500, "InternalServerError"),
        (400, "ThrottlingException"),
        (400, "ProvisionedThroughputExceededException"),
        (400, "AccessDeniedException"),
        (400, "ResourceNotFoundException"),
    ];
    for (i, (status, code)) in errors.into_iter().enumerate() {
        let failing = failing_dynamodb(status, code);
        let hook = hook(
            Kind::Shipment,
            &endpoint.with_dynamodb(failing.clone()),
            &table,
            &table,
        )
        .await;
        let body = shipment(&format!("ERR{i:03}"), "2026-04-01 08:00:00", 3, None).to_string();
        let got = invoke(&hook, &event(Kind::Shipment, &body, QAPLA_IP)).await;
        assert_eq!(
            (got.status, got.outcome.as_str(), got.body.as_str()),
            (200, "deferred:store", OK),
            "{code}"
        );
        assert_eq!(keys(&s3c, &table, "inbox/").await.len(), i + 1, "{code}");
    }
    // The table answers: all drained, nothing quarantined.
    let drain = hook(Kind::Shipment, &endpoint, &table, &table).await;
    let summary = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!((summary.drained, summary.waiting), (errors.len(), 0));
    assert!(keys(&s3c, &table, "quarantine/").await.is_empty());
    let states = scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .into_keys()
        .filter(|(_, sk)| sk == "STATE")
        .count();
    assert_eq!(states, errors.len());
}

/// The drain over `table` and its bucket through `endpoints`, whose transactions holding
/// `poison` fail while the table answers everything else.
async fn poisoned_drain(
    endpoints: &LocalEndpoints,
    table: &str,
    poison: &str,
) -> Webhook<DynamoStore, S3Archive> {
    let client = crate::archive::client_failing_transactions_holding(endpoints, poison).await;
    let store = DynamoStore::new(client, table);
    Webhook::new(
        Kind::Shipment,
        crate::delivery::webhook_config(table).settings,
        store,
        S3Archive::new(s3(endpoints).await, table),
    )
}

/// Whether the table holds a shipment state of `tracking`.
async fn recorded(endpoints: &LocalEndpoints, table: &str, tracking: &str) -> bool {
    scan(&stack::dynamo(endpoints).await, table)
        .await
        .into_keys()
        .any(|(pk, sk)| sk == "STATE" && pk.ends_with(&format!("#{tracking}")))
}

/// Delivers a shipment of each of `trackings`, in order, while the table is down: each waits in
/// the inbox.
async fn inboxed(endpoint: &LocalEndpoints, table: &str, trackings: &[&str]) {
    let proxy = Proxy::start(crate::local_aws::shared().dynamodb.port);
    proxy.set_down(true);
    let through = endpoint.with_dynamodb(proxy.endpoint());
    let hook = hook(Kind::Shipment, &through, table, table).await;
    for (i, tracking) in trackings.iter().enumerate() {
        let date = format!("2026-04-01 08:0{i}:00");
        let body = shipment(tracking, &date, 3, None).to_string();
        let got = invoke(&hook, &event(Kind::Shipment, &body, QAPLA_IP)).await;
        assert_eq!((got.status, got.outcome.as_str()), (200, "deferred:store"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_inbox_object_first_holds_nothing_back_and_ends_in_the_quarantine() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3c) = table_and_bucket("poison").await;
    inboxed(&endpoint, &table, &["POISONED01", "VALIDAFTER01"]).await;
    let waiting = keys(&s3c, &table, "inbox/").await;
    assert_eq!(waiting.len(), 2);
    let poisoned_key = waiting[0].clone();

    // The table down: the drain says so, and counts nothing against the objects.
    let proxy = Proxy::start(crate::local_aws::shared().dynamodb.port);
    let through = endpoint.with_dynamodb(proxy.endpoint());
    let drain = poisoned_drain(&through, &table, "POISONED01").await;
    proxy.set_down(true);
    let down = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!(
        (down.outcome, down.drained, down.waiting),
        ("table_down", 0, 2)
    );
    let first = Kept::read(Place::Inbox, &object(&s3c, &table, &poisoned_key).await).expect("kept");
    assert_eq!(first.attempts, 0);

    // The table up: the poisoned one, listed first, fails alone; the one behind it is recorded
    // in the same run, and the run is no outage.
    proxy.set_down(false);
    let up = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!(
        (up.outcome, up.drained, up.failing, up.waiting),
        ("done", 1, 1, 1)
    );
    assert!(recorded(&endpoint, &table, "VALIDAFTER01").await);
    assert!(!recorded(&endpoint, &table, "POISONED01").await);

    // Failing every run while the table answers: after 12, in the quarantine with its reason.
    let max = qapla::webhook::drain::MAX_ATTEMPTS;
    for _ in 1..max {
        qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    }
    assert!(keys(&s3c, &table, "inbox/").await.is_empty());
    let quarantined = keys(&s3c, &table, "quarantine/").await;
    assert_eq!(quarantined.len(), 1);
    let kept = Kept::read(
        Place::Quarantine,
        &object(&s3c, &table, &quarantined[0]).await,
    )
    .expect("kept");
    assert_eq!(kept.attempts, max);
    assert!(kept.reason.contains("12 drain runs"), "{}", kept.reason);
    assert!(kept.reason.contains("store unavailable"), "{}", kept.reason);
    let after = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert_eq!(
        (after.waiting, after.failing, after.outcome),
        (0, 0, "done")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_unreadable_inbox_objects_do_not_starve_a_valid_one() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3c) = table_and_bucket("unreadable").await;
    // A full listing of objects that are no kept delivery, listed before the valid one.
    let batch = qapla::webhook::drain::BATCH;
    for i in 0..batch {
        s3c.put_object()
            .bucket(&*table)
            .key(format!("inbox/shipments/2000-01-01/{i:04}.json"))
            .body(b"not a delivery".to_vec().into())
            .send()
            .await
            .expect("put");
    }
    inboxed(&endpoint, &table, &["VALIDAFTER02"]).await;
    let drain = hook(Kind::Shipment, &endpoint, &table, &table).await;
    let summary = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
    assert!(
        recorded(&endpoint, &table, "VALIDAFTER02").await,
        "{summary:?}"
    );
    assert_eq!(
        (
            summary.drained,
            summary.quarantined,
            summary.waiting,
            summary.outcome
        ),
        (1, batch, 0, "done")
    );
    assert!(keys(&s3c, &table, "inbox/").await.is_empty());
    assert_eq!(keys(&s3c, &table, "quarantine/").await.len(), batch);
}

/// A webhook function's pipeline (or the drain's) over `table`, with `dynamo` for the table and
/// the archive on `s3` in the bucket of the same name.
fn webhook_over(
    kind: Kind,
    dynamo: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: &str,
) -> Webhook<DynamoStore, S3Archive> {
    Webhook::new(
        kind,
        crate::delivery::webhook_config(table).settings,
        DynamoStore::new(dynamo, table),
        S3Archive::new(s3, table),
    )
}

/// 120 valid orders of one channel in one body: 240 items (a version and a current item each),
/// written in three transactions by the webhook with the functions' own bounded DynamoDB client
/// (1 s an attempt, 2 s a call). Either path is allowed: recorded at once (`stored`), or, where a
/// busy machine takes the table past those bounds, kept in the inbox (`deferred:store`) and
/// recorded by the drain with its own client (8 s, 16 s). What is checked is how the delivery
/// ends, not how long it took: answered OK, every order's current item in the table, the inbox
/// empty and nothing quarantined. The archive's client is the tests' own (the SDK's timeouts):
/// this is about the table's bounds, and a slow local S3 must not turn the inbox path into a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_twenty_valid_orders_in_one_body_end_recorded_at_once_or_by_the_drain() {
    let endpoint = LocalEndpoints::shared();
    let (table, s3c) = table_and_bucket("hundredtwenty").await;
    let count = 120;
    let body = qapla::fixtures::many_orders(count);
    let sdk = stack::sdk(&endpoint).await;
    let hook = webhook_over(
        Kind::Order,
        qapla_aws::dynamo::client(&sdk),
        s3(&endpoint).await,
        &table,
    );
    let got = invoke(&hook, &event(Kind::Order, &body.to_string(), QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (200, OK),
        "{}",
        got.outcome
    );
    match got.outcome.as_str() {
        "stored" => {}
        "deferred:store" => {
            let drain = webhook_over(
                Kind::Shipment,
                qapla_aws::dynamo::drain_client(&sdk),
                s3(&endpoint).await,
                &table,
            );
            let summary = qapla::webhook::drain::run(&drain, chrono::Utc::now(), None).await;
            assert_eq!(
                (
                    summary.drained,
                    summary.waiting,
                    summary.quarantined,
                    summary.outcome
                ),
                (1, 0, 0, "done"),
                "{summary:?}"
            );
        }
        other => panic!("neither recorded nor kept in the inbox: {other}"),
    }
    let current: std::collections::HashSet<String> = scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .into_keys()
        .filter(|(pk, sk)| pk.starts_with("ORDER#") && sk == qapla::table::STATE)
        .map(|(pk, _)| pk)
        .collect();
    let expected: std::collections::HashSet<String> = (0..count)
        .map(|i| qapla::table::order_pk(qapla::fixtures::DEMO_CHANNEL, &format!("ORD-{i:05}")))
        .collect();
    assert_eq!(current.len(), count);
    assert_eq!(current, expected);
    assert!(keys(&s3c, &table, "inbox/").await.is_empty());
    assert!(keys(&s3c, &table, "quarantine/").await.is_empty());
}

/// The 400 orders dated in words again, with S3 as far away as in a region: a proxy in front of
/// the local S3 holds each request back 25 ms, and the webhook's S3 client has the functions'
/// retries but not their time bounds (a busy machine's slow answer is waited for, not taken for
/// an outage: the bounds have their own tests). Every entry is kept, each with its path and reason, in one object, and the answer
/// is OK. 400 sequential PUTs would take 10 s at 25 ms each, past the function's 6 s timeout;
/// what is checked is that the delivery took one request through the proxy (a few at most,
/// with the client's retries), never how long the answer took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_invalid_orders_with_s3_a_regions_latency_away_take_one_request() {
    let local = crate::local_aws::shared();
    let endpoint = local.endpoints();
    let (table, s3c) = table_and_bucket("latency").await;
    let mut body = qapla::fixtures::many_orders(400);
    for o in body["orders"].as_array_mut().into_iter().flatten() {
        o["orderDate"] = json!("due marzo duemilaventisei");
    }
    // Only S3 (every service but DynamoDB) goes through the proxy.
    let proxy = Proxy::start(local.moto.port);
    proxy.set_delay(std::time::Duration::from_millis(25));
    let sdk = stack::sdk(&endpoint.with_aws(proxy.endpoint())).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .retry_config(qapla_aws::bounds::bounded_retries())
            .force_path_style(true)
            .build(),
    );
    let hook = webhook_over(Kind::Order, qapla_aws::dynamo::client(&sdk), s3, &table);
    let got = invoke(&hook, &event(Kind::Order, &body.to_string(), QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (200, "quarantined:invalid", OK)
    );
    let requests = proxy.requests();
    assert!(
        (1..=3).contains(&requests),
        "{requests} S3 requests for one delivery: one write, and its retries at most"
    );
    assert!(scan(&stack::dynamo(&endpoint).await, &table)
        .await
        .is_empty());
    let kept = keys(&s3c, &table, "quarantine/").await;
    assert_eq!(kept.len(), 1, "one object for the delivery: {kept:?}");
    let bytes = object(&s3c, &table, &kept[0]).await;
    assert!(!String::from_utf8_lossy(&bytes).contains(DEMO_KEY));
    let kept = Kept::read(Place::Quarantine, &bytes).expect("kept");
    let orders = kept.body["orders"].as_array().expect("the kept orders");
    let reasons: Vec<&str> = kept.reason.split("; ").collect();
    assert_eq!((orders.len(), reasons.len()), (400, 400));
    for (i, (order, reason)) in orders.iter().zip(&reasons).enumerate() {
        assert_eq!(order["reference"], json!(format!("ORD-{i:05}")));
        let path = format!("orders[{i}].orderDate: ");
        assert!(
            reason
                .strip_prefix(&path)
                .is_some_and(|why| !why.is_empty()),
            "entry {i}: no path or no reason in {reason:?}"
        );
    }
}
