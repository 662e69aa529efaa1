//! The webhook functions against moto, through the real handlers: sample events, bad input,
//! redeliveries, out-of-order and concurrent deliveries, a store that is down.

use crate::delivery::{self, deliver, invoke, shuffle};
use crate::events::{self, event, fixture, life, shipment, QAPLA_IP};
use crate::local_aws::LocalEndpoints;

use crate::stack;
use crate::table::{scan, timeless};
use qapla::fixtures::{self, DEMO_KEY};
use qapla::Kind;
use serde_json::{json, Value};

const OK: &str = r#"{"result":"OK"}"#;
const KO: &str = r#"{"result":"KO"}"#;

async fn table() -> (stack::UniqueName, aws_sdk_dynamodb::Client) {
    let endpoint = LocalEndpoints::shared();
    let client = stack::dynamo(&endpoint).await;
    let name = stack::unique_table("webhooks");
    stack::create_table(&client, &name).await;
    (name, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_get_their_answers_and_bad_ones_write_nothing() {
    let (name, client) = table().await;
    let endpoint = LocalEndpoints::shared();
    let events = events::sample_events();
    assert!(
        events.len() >= 12,
        "events/expected.json lists every sample event"
    );
    // The bucket of quarantined and deferred deliveries, as the sample events' env file names one.
    let s3 = crate::archive::create_bucket(&endpoint, &name).await;
    for e in &events {
        let hook = crate::archive::webhook(e.function, &endpoint, &name, &name).await;
        let before = scan(&client, &name).await;
        let got = invoke(&hook, &e.json).await;
        assert_eq!(
            (got.status, got.outcome.as_str()),
            (e.expected.status, e.expected.outcome.as_str()),
            "{}",
            e.path
        );
        assert_eq!(
            got.body,
            if e.expected.status == 200 { OK } else { KO },
            "{}",
            e.path
        );
        if e.expected.status != 200 {
            assert_eq!(
                scan(&client, &name).await,
                before,
                "{} wrote something",
                e.path
            );
        }
    }
    let items = scan(&client, &name).await;
    let count = |prefix: &str, sk: &str| {
        items
            .keys()
            .filter(|(pk, s)| pk.starts_with(prefix) && s.starts_with(sk))
            .count()
    };
    assert_eq!(count("SHIPMENT#", "STATE"), 3);
    assert_eq!(count("SHIPMENT#", "EVENT#"), 5);
    assert_eq!(count("RETURN#", "STATE"), 2);
    // The orders fixture's two, and the one sent to the shipments URL.
    assert_eq!(count("ORDER#", "STATE"), 3);
    let quarantined = crate::archive::keys(&s3, &name, "quarantine/shipments/").await;
    assert_eq!(quarantined.len(), 1, "the delivery with a zero date");
    let dhl = &items[&(
        "SHIPMENT#shop-it#DHL#JD0146000031".to_owned(),
        "STATE".to_owned(),
    )];
    assert_eq!(dhl["statusId"], json!(99));
    assert_eq!(dhl["statusName"], json!("DELIVERED"));
    assert_eq!(dhl["dateUtc"], json!("2026-03-04T10:02:45Z"));
    let text = serde_json::to_string(&items.values().collect::<Vec<_>>()).expect("json");
    assert!(!text.contains(DEMO_KEY), "the API key must never be stored");

    // A second replay: every good delivery is a duplicate and the table does not change.
    for e in events.iter().filter(|e| e.expected.outcome == "stored") {
        let hook = delivery::webhook(e.function, &endpoint, &name).await;
        let got = invoke(&hook, &e.json).await;
        assert_eq!(
            (got.status, got.outcome.as_str()),
            (200, "duplicate"),
            "{}",
            e.path
        );
    }
    assert_eq!(scan(&client, &name).await, items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_answers_ko_and_writes_nothing() {
    let (name, client) = table().await;
    let endpoint = LocalEndpoints::shared();
    let good = fixture("shipment-1.2-in-transit");
    let with = |key: &str, value: Value| {
        let mut v = good.clone();
        v[key] = value;
        v.to_string()
    };
    let without = |key: &str| {
        let mut v = good.clone();
        v.as_object_mut().map(|m| m.remove(key));
        v.to_string()
    };
    let cases: Vec<(String, &str, u16, &str)> = vec![
        (String::new(), QAPLA_IP, 400, "rejected:empty_body"),
        (
            "{\"trackingNumber\": ".into(),
            QAPLA_IP,
            400,
            "rejected:not_json",
        ),
        ("[]".into(), QAPLA_IP, 400, "rejected:not_object"),
        (
            "{\"hello\": 1}".into(),
            QAPLA_IP,
            401,
            "rejected:missing_key",
        ),
        (
            good.to_string().replacen('{', "{\"apiKey\":\"x\",", 1),
            QAPLA_IP,
            400,
            "rejected:duplicate_key",
        ),
        (
            good.to_string(),
            "203.0.113.9",
            403,
            "rejected:foreign_sender",
        ),
        (good.to_string(), "not-an-ip", 403, "rejected:no_source"),
        (without("apiKey"), QAPLA_IP, 401, "rejected:missing_key"),
        (
            with("apiKey", json!("wrong")),
            QAPLA_IP,
            401,
            "rejected:unknown_key",
        ),
        (
            " ".repeat(2 * 1024 * 1024),
            QAPLA_IP,
            413,
            "rejected:too_large",
        ),
    ];
    let hook = delivery::webhook(Kind::Shipment, &endpoint, &name).await;
    for (body, ip, status, outcome) in &cases {
        let got = invoke(&hook, &event(Kind::Shipment, body, ip)).await;
        let shown: String = body.chars().take(60).collect();
        assert_eq!(
            (got.status, got.outcome.as_str(), got.body.as_str()),
            (*status, *outcome, KO),
            "{shown}"
        );
    }
    let mut get =
        serde_json::from_str::<Value>(&event(Kind::Shipment, &good.to_string(), QAPLA_IP))
            .expect("json");
    get["httpMethod"] = json!("GET");
    let got = invoke(&hook, &get.to_string()).await;
    assert_eq!((got.status, got.body.as_str()), (405, KO));
    assert!(
        scan(&client, &name).await.is_empty(),
        "a bad input wrote something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_redeliveries_give_one_history_item() {
    let (name, client) = table().await;
    let hook = delivery::webhook(Kind::Shipment, &LocalEndpoints::shared(), &name).await;
    let body = fixtures::Fixture::named("shipment-1.2-exception-stock").body;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.push(
            invoke(&hook, &event(Kind::Shipment, body, QAPLA_IP))
                .await
                .outcome,
        );
    }
    assert_eq!(outcomes[0], "stored");
    assert!(
        outcomes[1..].iter().all(|o| o == "duplicate"),
        "{outcomes:?}"
    );
    assert_eq!(
        scan(&client, &name).await.len(),
        2,
        "one STATE and one EVENT item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_go_to_history_and_never_move_the_state_back() {
    let (name, client) = table().await;
    let hook = delivery::webhook(Kind::Shipment, &LocalEndpoints::shared(), &name).await;
    let delivered = shipment("LATE1", "2026-03-04 11:00:00", 99, None);
    let earlier = shipment("LATE1", "2026-03-02 09:00:00", 6, Some(1));
    let same_time = shipment("LATE1", "2026-03-04 11:00:00", 4, None);
    let send = |v: &Value| event(Kind::Shipment, &v.to_string(), QAPLA_IP);
    assert_eq!(invoke(&hook, &send(&delivered)).await.outcome, "stored");
    assert_eq!(invoke(&hook, &send(&earlier)).await.outcome, "stale");
    // Equal times: the final status wins the tie, whatever the order.
    assert_eq!(invoke(&hook, &send(&same_time)).await.outcome, "stale");
    let items = scan(&client, &name).await;
    let state = &items[&("SHIPMENT#shop-it#DHL#LATE1".to_owned(), "STATE".to_owned())];
    assert_eq!(state["statusId"], json!(99));
    assert_eq!(items.len(), 4, "the state and three history items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_and_concurrent_replays_end_like_the_in_order_one() {
    let endpoint = LocalEndpoints::shared();
    let (serial, client) = table().await;
    let (shuffled, _) = table().await;
    let (concurrent, _) = table().await;
    let events: Vec<String> = life("LIFE20").iter().map(Value::to_string).collect();

    let hook = delivery::webhook(Kind::Shipment, &endpoint, &serial).await;
    for e in &events {
        // Two events of one hour tie on time; the tie goes the same way in every order.
        let outcome = deliver(&hook, e).await;
        assert!(outcome == "stored" || outcome == "stale", "{outcome}");
    }
    let expected = timeless(&scan(&client, &serial).await);
    assert_eq!(expected.len(), 21);
    let state = &expected[&("SHIPMENT#shop-it#DHL#LIFE20".to_owned(), "STATE".to_owned())];
    assert_eq!(state["statusId"], json!(99));

    let hook = delivery::webhook(Kind::Shipment, &endpoint, &shuffled).await;
    let mut order = events.clone();
    shuffle(&mut order, 0x5eed_1234_abcd);
    for e in &order {
        deliver(&hook, e).await;
    }
    assert_eq!(timeless(&scan(&client, &shuffled).await), expected.clone());

    let hook = std::sync::Arc::new(delivery::webhook(Kind::Shipment, &endpoint, &concurrent).await);
    delivery::deliver_concurrently(hook, &events, 0xfeed_0042).await;
    assert_eq!(timeless(&scan(&client, &concurrent).await), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_gives_503_and_the_retry_succeeds() {
    let (name, client) = table().await;
    // Nothing listens on a port we just released: the store is unreachable.
    let closed = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let unreachable = LocalEndpoints::shared().with_dynamodb(format!("http://127.0.0.1:{closed}"));
    let down = delivery::webhook(Kind::Shipment, &unreachable, &name).await;
    let body = fixtures::Fixture::named("shipment-1.2-exception-stock").body;
    let got = invoke(&down, &event(Kind::Shipment, body, QAPLA_IP)).await;
    assert_eq!(
        (got.status, got.outcome.as_str(), got.body.as_str()),
        (503, "failed:store", KO)
    );
    assert!(scan(&client, &name).await.is_empty());
    let up = delivery::webhook(Kind::Shipment, &LocalEndpoints::shared(), &name).await;
    assert_eq!(
        invoke(&up, &event(Kind::Shipment, body, QAPLA_IP))
            .await
            .outcome,
        "stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_finds_everything_of_an_order() {
    let (name, client) = table().await;
    let endpoint = LocalEndpoints::shared();
    for (kind, fixture_name) in [
        (Kind::Shipment, "shipment-1.2-in-transit"),
        (Kind::Return, "returns-wrapped"),
        (Kind::Order, "orders"),
    ] {
        let hook = delivery::webhook(kind, &endpoint, &name).await;
        let body = fixtures::Fixture::named(fixture_name).body;
        assert_eq!(
            invoke(&hook, &event(kind, body, QAPLA_IP)).await.outcome,
            "stored"
        );
    }
    let found = client
        .query()
        .table_name(&name)
        .index_name(qapla::table::GSI1)
        .key_condition_expression("gsi1pk = :r")
        .expression_attribute_values(
            ":r",
            aws_sdk_dynamodb::types::AttributeValue::S("REF#shop-it#ORD-10452".into()),
        )
        .send()
        .await
        .expect("query the index");
    let mut pks: Vec<String> = found
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    pks.sort();
    assert_eq!(
        pks,
        [
            "ORDER#shop-it#ORD-10452",
            "RETURN#shop-it#RMA-2026-0001",
            "SHIPMENT#shop-it#DHL#JD0146000031"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_listed_twice_in_one_body_is_stored_once() {
    let (name, client) = table().await;
    let hook = delivery::webhook(Kind::Order, &LocalEndpoints::shared(), &name).await;
    let mut body = fixture("orders");
    let mut again = body["orders"][0].clone();
    again["trackingNumber"] = json!("JD0146000099");
    if let Some(orders) = body["orders"].as_array_mut() {
        orders.push(again);
    }
    let got = invoke(&hook, &event(Kind::Order, &body.to_string(), QAPLA_IP)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    let items = scan(&client, &name).await;
    assert_eq!(
        items.len(),
        4,
        "one item per order reference, and its version"
    );
    let order = &items[&("ORDER#shop-it#ORD-10452".to_owned(), "STATE".to_owned())];
    assert_eq!(
        order["trackingNumber"],
        json!("JD0146000099"),
        "the last version wins"
    );
}
