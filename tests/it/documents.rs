//! Returns and orders against moto, through the real webhook handler and notifier: a late retry
//! of an older version never replaces a newer one, every version is kept, a redelivery adds
//! nothing, and the memory store agrees with DynamoDB on all of it.

use crate::delivery::{self, invoke};
use crate::events::{event, fixture, QAPLA_IP};
use crate::notifier_rig::Rig;
use crate::stack;
use crate::table::{scan, timeless, Items};
use qapla::read::Reader;
use qapla::store::MemoryStore;
use qapla::table::{STATE, VERSION_PREFIX};
use qapla::webhook::{Request, Webhook};
use qapla::Kind;
use serde_json::{json, Value};

const OK: &str = r#"{"result":"OK"}"#;

/// The orders fixture's first order alone, with `patch` applied.
fn one_order(patch: Value) -> Value {
    let mut body = fixture("orders");
    let mut order = body["orders"][0].clone();
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        order[k] = v;
    }
    body["orders"] = json!([order]);
    body
}

/// The flat returns fixture, with `patch` applied to its return.
fn one_return(patch: Value) -> Value {
    let mut body = fixture("returns-flat");
    for (k, v) in patch.as_object().cloned().unwrap_or_default() {
        body["returnShipments"][0][k] = v;
    }
    body
}

fn versions<'a>(items: &'a Items, pk: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|((p, sk), _)| p == pk && sk.starts_with(VERSION_PREFIX))
        .map(|(_, v)| v)
        .collect()
}

/// A newer version, then a late retry of an older one: the answers, the table, what the
/// notifier published, the reference index and `qapla order`'s reading of it.
async fn a_late_older_version(kind: Kind, newer: Value, older: Value, pk: &str, reference: &str) {
    let mut rig = Rig::new().await;
    let client = stack::dynamo(&rig.endpoints).await;
    let hook = delivery::webhook(kind, &rig.endpoints, &rig.table).await;
    let send = |body: &Value| event(kind, &body.to_string(), QAPLA_IP);

    let got = invoke(&hook, &send(&newer)).await;
    assert_eq!(
        (got.status, got.body.as_str(), got.outcome.as_str()),
        (200, OK, "stored")
    );
    assert_eq!(rig.notify().await, 0);
    let published = rig.drain_all().await;
    assert_eq!(published.len(), 1, "{published:?}");

    let got = invoke(&hook, &send(&older)).await;
    assert_eq!(
        (got.status, got.body.as_str(), got.outcome.as_str()),
        (200, OK, "stale")
    );
    assert_eq!(rig.notify().await, 0);
    assert!(rig.drain_all().await.is_empty(), "a stale version notified");

    let items = scan(&client, &rig.table).await;
    let current = &items[&(pk.to_owned(), STATE.to_owned())];
    assert_eq!(
        published[0]["id"], current["eventId"],
        "the newer is current"
    );
    let kept = versions(&items, pk);
    assert_eq!(kept.len(), 2, "both versions are kept");
    assert!(kept.iter().any(|v| v["eventId"] == current["eventId"]));
    assert!(kept
        .iter()
        .all(|v| v["expiresAt"].is_i64() && v.get("gsi1pk").is_none()));
    let late = kept
        .iter()
        .find(|v| v["eventId"] != current["eventId"])
        .expect("the older version");
    let (sent, fields) = match kind {
        Kind::Order => (&older["orders"][0], ["shipDate", "trackingNumber"]),
        _ => (&older["returnShipments"][0], ["date", "parcels"]),
    };
    for field in fields {
        assert_eq!(late["payload"][field], sent[field], "{field}");
    }

    // Qapla's retries of either: duplicates, nothing written, nothing published.
    for body in [&newer, &older] {
        let got = invoke(&hook, &send(body)).await;
        assert_eq!((got.status, got.outcome.as_str()), (200, "duplicate"));
    }
    assert_eq!(scan(&client, &rig.table).await, items);
    assert_eq!(rig.notify().await, 0);
    assert!(rig.drain_all().await.is_empty());

    // The reference index holds the current item only, and `qapla order` reads it.
    let reader = qapla_aws::reader::DynamoReader::new(client.clone(), &rig.table);
    let found = reader
        .by_reference("shop-it", reference)
        .await
        .expect("read by reference");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["sk"], json!(STATE));
    let view = qapla::read::order(&found).expect("readable");
    let event_ids: Vec<&str> = match kind {
        Kind::Order => view.orders.iter().map(|o| o.event_id.as_str()).collect(),
        _ => view.returns.iter().map(|r| r.event_id.as_str()).collect(),
    };
    assert_eq!(event_ids, [current["eventId"].as_str().unwrap_or_default()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_older_order_never_replaces_the_newer_one_and_both_are_kept() {
    let newer = one_order(json!({
        "shipDate": "2026-03-02 09:00:00", "trackingNumber": "JD0146000099"
    }));
    let older = one_order(json!({}));
    a_late_older_version(
        Kind::Order,
        newer,
        older,
        "ORDER#shop-it#ORD-10452",
        "ORD-10452",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_older_return_never_replaces_the_newer_one_and_both_are_kept() {
    let newer = one_return(json!({"date": "2026-03-12 09:15:00", "parcels": "2"}));
    let older = one_return(json!({}));
    let pk = "RETURN#shop-it#RMA-2026-0002";
    a_late_older_version(Kind::Return, newer, older, pk, "ORD-10460").await;
}

/// Delivers `bodies` in order through the real handler over a new table; the answers and the
/// table.
async fn deliver_all(kind: Kind, bodies: &[&Value]) -> (Vec<String>, Items) {
    let endpoint = crate::local_aws::LocalEndpoints::shared();
    let client = stack::dynamo(&endpoint).await;
    let table = stack::unique_table("documents");
    stack::create_table(&client, &table).await;
    let hook = delivery::webhook(kind, &endpoint, &table).await;
    let mut answers = Vec::new();
    for body in bodies {
        let got = invoke(&hook, &event(kind, &body.to_string(), QAPLA_IP)).await;
        assert_eq!((got.status, got.body.as_str()), (200, OK));
        answers.push(got.outcome);
    }
    (answers, scan(&client, &table).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_at_the_same_dates_end_the_same_whatever_the_arrival_order() {
    for (kind, a, b) in [
        (
            Kind::Order,
            one_order(json!({})),
            one_order(json!({"trackingNumber": "JD0146000099"})),
        ),
        (
            Kind::Return,
            one_return(json!({})),
            one_return(json!({"weight": 2.5})),
        ),
    ] {
        let (first, one_way) = deliver_all(kind, &[&a, &b]).await;
        let (second, other_way) = deliver_all(kind, &[&b, &a]).await;
        assert_eq!(timeless(&one_way), timeless(&other_way), "{kind}");
        let mut last = vec![first[1].as_str(), second[1].as_str()];
        last.sort();
        assert_eq!(
            last,
            ["stale", "stored"],
            "{kind}: the content id decides, once"
        );
        assert_eq!(
            one_way.len(),
            3,
            "{kind}: the current item and two versions"
        );
    }
}

/// The same bodies through the real handler over the memory store; its table.
async fn memory_table(kind: Kind, bodies: &[&Value]) -> (Vec<String>, Items) {
    let settings = delivery::webhook_config("memory").settings;
    let hook = Webhook::new(
        kind,
        settings,
        MemoryStore::new(),
        qapla::store::MemoryArchive::default(),
    );
    let mut answers = Vec::new();
    for body in bodies {
        let body = body.to_string();
        let request = Request {
            method: "POST",
            source: QAPLA_IP.parse().ok(),
            body: body.as_bytes(),
        };
        answers.push(hook.handle(request).await.outcome);
    }
    (answers, hook.store.items())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_orders_older_and_newer_in_one_body_agree_with_the_memory_store() {
    // 60 orders (two transactions: 50 orders, two items each, then 10), then the same references
    // again: the even ones dated earlier (late retries of older versions), the odd ones later.
    let first = qapla::fixtures::many_orders(60);
    let mut second = first.clone();
    for (i, o) in second["orders"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let day = if i % 2 == 0 {
            "2026-02-27"
        } else {
            "2026-03-04"
        };
        o["shipDate"] = json!(format!("{day} 10:00:00"));
        o["weight"] = json!("1.5");
    }
    let bodies = [&first, &second, &first, &second];
    let (answers, table) = deliver_all(Kind::Order, &bodies).await;
    assert_eq!(answers, ["stored", "stored", "duplicate", "duplicate"]);
    let states: Vec<&Value> = table
        .iter()
        .filter(|((_, sk), _)| sk == STATE)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(states.len(), 60);
    assert_eq!(table.len(), 60 + 120, "each order and its two versions");
    for (i, state) in states.iter().enumerate() {
        let want = if i % 2 == 0 { "0.8" } else { "1.5" };
        assert_eq!(state["payload"]["weight"], json!(want), "{}", state["pk"]);
    }
    let (memory_answers, memory) = memory_table(Kind::Order, &bodies).await;
    assert_eq!(memory_answers, answers);
    crate::table::assert_same_table(&timeless(&table), &timeless(&memory));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_older_versions_only_is_stale() {
    let newer = one_order(json!({"shipDate": "2026-03-02 09:00:00"}));
    let older = one_order(json!({}));
    let (answers, table) = deliver_all(Kind::Order, &[&newer, &older, &older]).await;
    assert_eq!(answers, ["stored", "stale", "duplicate"]);
    assert_eq!(versions(&table, "ORDER#shop-it#ORD-10452").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_stored_before_versions_were_kept_takes_its_next_delivery() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let endpoint = crate::local_aws::LocalEndpoints::shared();
    let client = stack::dynamo(&endpoint).await;
    let table = stack::unique_table("documents-before");
    stack::create_table(&client, &table).await;
    let hook = delivery::webhook(Kind::Order, &endpoint, &table).await;
    let body = one_order(json!({"shipDate": "2026-03-02 09:00:00"}));
    let send = |body: &Value| event(Kind::Order, &body.to_string(), QAPLA_IP);
    assert_eq!(invoke(&hook, &send(&body)).await.outcome, "stored");

    // As an item written before: no order key, no version.
    let pk = "ORDER#shop-it#ORD-10452";
    for ((p, sk), _) in scan(&client, &table).await {
        if sk.starts_with(VERSION_PREFIX) {
            client
                .delete_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(p))
                .key("sk", AttributeValue::S(sk))
                .send()
                .await
                .expect("delete the version");
        }
    }
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(STATE.into()))
        .update_expression("REMOVE #o")
        .expression_attribute_names("#o", qapla::table::ORD)
        .send()
        .await
        .expect("remove the order key");
    let before = scan(&client, &table).await;
    assert_eq!(before.len(), 1);
    assert!(before.values().all(|v| v.get("ord").is_none()));

    // Its redelivery gives it its order key and its first version; then the rule holds.
    assert_eq!(invoke(&hook, &send(&body)).await.outcome, "stored");
    let items = scan(&client, &table).await;
    let current = &items[&(pk.to_owned(), STATE.to_owned())];
    assert!(current["ord"].is_string(), "{current}");
    assert_eq!(
        current["eventId"],
        before.values().next().expect("item")["eventId"]
    );
    assert_eq!(versions(&items, pk).len(), 1);
    assert_eq!(invoke(&hook, &send(&body)).await.outcome, "duplicate");
    let older = one_order(json!({}));
    assert_eq!(invoke(&hook, &send(&older)).await.outcome, "stale");
    assert_eq!(
        scan(&client, &table).await[&(pk.to_owned(), STATE.to_owned())],
        *current
    );
}
