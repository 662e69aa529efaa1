//! The notifier against moto: deliveries through the real webhook handler, the real stream
//! records read back from moto, handed to the notifier as its Lambda event, and SQS queues
//! subscribed to the topic with the template's filter policies.

use crate::notifier_rig::Rig;
use qapla::fixtures;
use qapla::notify::SMS_MAX_CHARS;
use qapla::Kind;
use serde_json::{json, Value};

fn events_of(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_returns_and_orders_fan_out_once() {
    let mut rig = Rig::new().await;
    let body = |name: &str| fixtures::Fixture::named(name).body;

    // In transit: every subscriber but not the alerts.
    assert_eq!(
        rig.deliver(Kind::Shipment, body("shipment-1.2-in-transit"))
            .await,
        "stored"
    );
    assert_eq!(rig.notify().await, 0);
    let all = rig.drain_all().await;
    assert_eq!(events_of(&all), ["shipment.status_changed"]);
    assert_eq!(all[0]["shipment"]["status"]["name"], json!("IN TRANSIT"));
    assert_eq!(all[0]["schema"], json!(qapla::notify::SCHEMA));
    assert!(rig.drain_alerts().await.is_empty());

    // Exception on hold: both, with the previous status.
    assert_eq!(
        rig.deliver(Kind::Shipment, body("shipment-1.2-exception-stock"))
            .await,
        "stored"
    );
    let event = rig.stream_event().await;
    let notifier = rig.notifier(&rig.endpoints).await;
    let notices: Vec<_> = event
        .records
        .iter()
        .filter_map(|r| {
            qapla::notify::batch::notice(&notifier.notifier, &qapla_aws::stream::record(r))
                .expect("a readable record")
        })
        .collect();
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(
        n.email_subject,
        "Exception: EXCEPTION / STOCK DHL JD0146000031"
    );
    for line in [
        "Status:     EXCEPTION / STOCK",
        "Detail:     1 (ON HOLD)",
        "Place:      BOLOGNA - ITA",
        "Time:       02/03/2026 09:41 (Europe/Rome)",
        "Courier:    DHL",
        "Order:      ORD-10452",
        "Channel:    shop-it",
        "Previous:   IN TRANSIT",
    ] {
        assert!(n.email_body.contains(line), "{line}\n{}", n.email_body);
    }
    assert!(n.sms.chars().count() <= SMS_MAX_CHARS);
    assert!(
        n.sms.contains("EXCEPTION / STOCK") && n.sms.contains("JD0146000031"),
        "{}",
        n.sms
    );
    assert_eq!(notifier.handle(&event).await.batch_item_failures.len(), 0);
    let all = rig.drain_all().await;
    let alerts = rig.drain_alerts().await;
    assert_eq!(events_of(&all), ["shipment.status_changed"]);
    assert_eq!(events_of(&alerts), ["shipment.status_changed"]);
    assert_eq!(alerts[0]["severity"], json!("exception"));
    assert_eq!(
        alerts[0]["shipment"]["previousStatus"]["name"],
        json!("IN TRANSIT")
    );

    // A duplicate delivery and a stale event: nothing.
    assert_eq!(
        rig.deliver(Kind::Shipment, body("shipment-1.2-exception-stock"))
            .await,
        "duplicate"
    );
    assert_eq!(
        rig.deliver(Kind::Shipment, body("shipment-1.2-in-transit"))
            .await,
        "duplicate"
    );
    let mut stale: Value = serde_json::from_str(body("shipment-1.2-in-transit")).expect("json");
    stale["date"] = json!("2026-03-01 07:00:00");
    stale["qaplaStatusID"] = json!("2");
    assert_eq!(
        rig.deliver(Kind::Shipment, &stale.to_string()).await,
        "stale"
    );
    assert_eq!(rig.notify().await, 0);
    assert!(rig.drain_all().await.is_empty());
    assert!(rig.drain_alerts().await.is_empty());

    // A return and an order: their events, to every subscriber but the alerts.
    assert_eq!(
        rig.deliver(Kind::Return, body("returns-wrapped")).await,
        "stored"
    );
    assert_eq!(rig.deliver(Kind::Order, body("orders")).await, "stored");
    assert_eq!(rig.notify().await, 0);
    let mut events = events_of(&rig.drain_all().await);
    events.sort();
    assert_eq!(
        events,
        ["order.created", "order.created", "return.requested"]
    );
    assert!(rig.drain_alerts().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_unreachable_reports_failures_then_delivers_each_once() {
    let mut rig = Rig::new().await;
    let failed = fixtures::Fixture::named("shipment-1.2-failed-attempt").body;
    let transit = fixtures::Fixture::named("shipment-1.2-in-transit").body;
    assert_eq!(rig.deliver(Kind::Shipment, transit).await, "stored");
    assert_eq!(rig.deliver(Kind::Shipment, failed).await, "stored");
    let event = rig.stream_event().await;
    let closed = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let down = rig
        .notifier(&rig.endpoints.with_aws(format!("http://127.0.0.1:{closed}")))
        .await;
    let response = down.handle(&event).await;
    let first_change = event
        .records
        .iter()
        .find(|r| {
            qapla::notify::batch::notice(&down.notifier, &qapla_aws::stream::record(r))
                .ok()
                .flatten()
                .is_some()
        })
        .and_then(|r| r.change.sequence_number.clone());
    assert!(!response.batch_item_failures.is_empty());
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        first_change
    );
    assert!(rig.drain_all().await.is_empty());

    // The stream retries the batch once SNS is back: each change arrives once.
    let up = rig.notifier(&rig.endpoints).await;
    assert!(up.handle(&event).await.batch_item_failures.is_empty());
    let all = rig.drain_all().await;
    let names: Vec<&str> = all
        .iter()
        .filter_map(|m| m["shipment"]["status"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"IN TRANSIT") && names.contains(&"FAILED DELIVERY ATTEMPT"));
    let alerts = rig.drain_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], json!("warning"));
}

/// An order's notes (a doorbell, a staircase) and a field Qapla' adds reach the topic's
/// subscribers only with personal data allowed: the payload goes out by the schema's names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_notes_reach_subscribers_only_with_personal_data_on() {
    for personal_data in [false, true] {
        let mut rig = Rig::new().await;
        rig.personal_data = personal_data;
        let mut body = fixtures::ORDERS.json();
        body["orders"][0]["notes"] = json!("citofono Bianchi, scala B");
        body["orders"][0]["giftMessage"] = json!("Auguri Giulia");
        assert_eq!(rig.deliver(Kind::Order, &body.to_string()).await, "stored");
        assert_eq!(rig.notify().await, 0);
        let all = rig.drain_all().await;
        let first = all
            .iter()
            .find(|m| m["order"]["reference"] == json!("ORD-10452"))
            .expect("the order's message");
        let payload = &first["order"]["payload"];
        assert_eq!(payload["reference"], json!("ORD-10452"));
        for private in ["notes", "giftMessage", "customerName"] {
            assert_eq!(
                payload.get(private).is_some(),
                personal_data,
                "{private} with personal data {personal_data}: {payload}"
            );
        }
    }
}
