//! The stuck check against moto: deliveries through the real webhook handler, the open index
//! queried by the DynamoDB reader, episodes claimed on the state items by conditional updates,
//! alerts published to the topic with its two subscriber queues (one with the template's alert
//! filter policy), across several runs at chosen times. And the template's side of it: the
//! function, its variables, its least privilege, its schedule and its alarms.

use crate::events::shipment;
use crate::notifier_rig::Rig;
use crate::stack;
use crate::template::{self, list, text};
use qapla::config::STUCK_VARS;
use qapla::notify::Notifier;
use qapla::stuck::rule::StuckRule;
use qapla::stuck::{StuckCheck, StuckSummary};
use qapla::Kind;
use qapla_aws::reader::DynamoReader;
use qapla_aws::sns::SnsPublisher;
use qapla_aws::stuck::DynamoEpisodes;
use serde_json::{json, Value};
use std::collections::BTreeSet;

struct Ports {
    reader: DynamoReader,
    episodes: DynamoEpisodes,
    publisher: SnsPublisher,
    notifier: Notifier,
    channels: Vec<String>,
}

impl Ports {
    async fn new(rig: &Rig) -> Ports {
        let sdk = stack::sdk(&rig.endpoints).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let config = qapla::config::StuckConfig::from_lookup(|var| match var {
            "TABLE_NAME" => Some(rig.table.to_string()),
            "TOPIC_ARN" => Some(rig.subscribers.topic_arn.clone()),
            "QAPLA_CHANNELS" => Some(qapla::fixtures::demo_channels()),
            _ => None,
        })
        .expect("configuration");
        Ports {
            reader: DynamoReader::new(dynamo.clone(), &rig.table),
            episodes: DynamoEpisodes::new(dynamo, &rig.table),
            publisher: SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn),
            notifier: config.notifier,
            channels: config.channels,
        }
    }

    async fn run(&self, now: &str) -> StuckSummary {
        let now = chrono::DateTime::parse_from_rfc3339(now)
            .expect("time")
            .with_timezone(&chrono::Utc);
        StuckCheck {
            rule: StuckRule::default(),
            notifier: &self.notifier,
            channels: &self.channels,
        }
        .run(&self.reader, &self.episodes, &self.publisher, now, None)
        .await
    }
}

async fn deliver(rig: &Rig, tracking: &str, date: &str, status: u32, detail: Option<u32>) {
    deliver_as(rig, tracking, date, status, detail, "stored").await;
}

async fn deliver_as(
    rig: &Rig,
    tracking: &str,
    date: &str,
    status: u32,
    detail: Option<u32>,
    outcome: &str,
) {
    let body = shipment(tracking, date, status, detail).to_string();
    assert_eq!(
        rig.deliver(Kind::Shipment, &body).await,
        outcome,
        "{tracking}"
    );
}

fn trackings(messages: &[Value]) -> Vec<String> {
    let mut found: Vec<String> = messages
        .iter()
        .map(|m| {
            assert_eq!(m["event"], json!("shipment.stuck"), "{m}");
            m["shipment"]["trackingNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_shipments_are_alerted_once_per_episode_across_runs() {
    let mut rig = Rig::new().await;
    deliver(&rig, "STOCK", "2026-03-01 10:00:00", 6, Some(1)).await;
    deliver(&rig, "TRANSIT", "2026-03-01 10:00:00", 3, None).await;
    deliver(&rig, "RECENT", "2026-03-09 10:00:00", 3, None).await;
    deliver(&rig, "DELIVERED", "2026-02-01 10:00:00", 99, None).await;
    deliver(&rig, "LATE", "2026-03-02 10:00:00", 99, None).await;
    // A late non-final event of a delivered shipment: history only, never stuck.
    deliver_as(&rig, "LATE", "2026-03-01 10:00:00", 6, Some(1), "stale").await;
    assert_eq!(rig.notify().await, 0);
    rig.drain_all().await;
    rig.drain_alerts().await;
    let ports = Ports::new(&rig).await;

    let first = ports.run("2026-03-10T12:00:00Z").await;
    assert_eq!(
        (first.alerted, first.already, first.failed),
        (2, 0, 0),
        "{first:?}"
    );
    let all = rig.drain_all().await;
    // Neither the recent nor the delivered ones (not even with a late stock event).
    assert_eq!(trackings(&all), ["STOCK", "TRANSIT"]);
    let first_stock_id = all
        .iter()
        .find(|m| m["shipment"]["trackingNumber"] == "STOCK")
        .expect("the stock alert")["id"]
        .clone();
    // The alert subscriptions' filter policy takes them: a warning of event shipment.stuck.
    let alerts = rig.drain_alerts().await;
    assert_eq!(trackings(&alerts), ["STOCK", "TRANSIT"]);
    let stock = alerts
        .iter()
        .find(|m| m["shipment"]["trackingNumber"] == "STOCK")
        .expect("the stock alert");
    assert_eq!(stock["severity"], json!("warning"));
    assert_eq!(stock["schema"], json!(qapla::notify::SCHEMA));
    assert_eq!(stock["stuck"]["reason"], json!("stock"));
    assert_eq!(stock["stuck"]["thresholdDays"], json!(2));
    assert_eq!(stock["stuck"]["days"], json!(9));
    assert_eq!(
        stock["shipment"]["status"]["name"],
        json!("EXCEPTION / STOCK")
    );
    // The claims are updates of the state items: the notifier sees them and publishes nothing.
    assert_eq!(rig.notify().await, 0);
    assert!(rig.drain_all().await.is_empty());

    // Later runs: nothing new, however many.
    for now in ["2026-03-10T13:00:00Z", "2026-03-11T09:00:00Z"] {
        let again = ports.run(now).await;
        assert_eq!((again.alerted, again.already), (0, 2), "{now}: {again:?}");
    }
    assert!(rig.drain_all().await.is_empty());

    // STOCK moves on: the episode ends. Stuck again later: one new alert, and RECENT's first.
    deliver(&rig, "STOCK", "2026-03-11 10:00:00", 3, None).await;
    let moved = ports.run("2026-03-12T12:00:00Z").await;
    assert_eq!((moved.alerted, moved.already), (0, 1), "{moved:?}");
    let later = ports.run("2026-03-17T12:00:00Z").await;
    assert_eq!((later.alerted, later.already), (2, 1), "{later:?}");
    let alerts = rig.drain_alerts().await;
    assert_eq!(trackings(&alerts), ["RECENT", "STOCK"]);
    let stock = alerts
        .iter()
        .find(|m| m["shipment"]["trackingNumber"] == "STOCK")
        .expect("the stock alert");
    assert_eq!(stock["stuck"]["reason"], json!("unchanged"));
    assert_ne!(stock["id"], first_stock_id, "a new episode, a new id");
    assert_eq!(ports.run("2026-03-18T12:00:00Z").await.alerted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_alert_once() {
    let rig = Rig::new().await;
    for i in 0..6 {
        deliver(
            &rig,
            &format!("HELD-{i}"),
            "2026-03-01 10:00:00",
            6,
            Some(1),
        )
        .await;
    }
    let (a, b) = (Ports::new(&rig).await, Ports::new(&rig).await);
    let (x, y) = tokio::join!(a.run("2026-03-10T12:00:00Z"), b.run("2026-03-10T12:00:00Z"));
    assert_eq!(x.alerted + y.alerted, 6, "{x:?} {y:?}");
    assert_eq!(x.already + y.already, 6, "{x:?} {y:?}");
    assert_eq!(rig.drain_all().await.len(), 6);
}

fn reference(v: &serde_norway::Value) -> Option<&str> {
    match v {
        serde_norway::Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

#[test]
fn the_stuck_function_is_built_configured_and_scheduled_as_the_code_expects() {
    let f = template::resource("StuckFunction");
    assert_eq!(
        text(&f["Metadata"]["BuildProperties"]["Binary"], "Binary"),
        "stuck"
    );
    assert!(crate::moto::project_root()
        .join("functions/stuck/src/main.rs")
        .exists());
    let vars: BTreeSet<&str> = f["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .expect("variables")
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(vars, STUCK_VARS.into_iter().collect());

    let parameters = &template::template()["Parameters"];
    let rule = StuckRule::default();
    assert_eq!(
        parameters["StuckStockDays"]["Default"].as_u64(),
        Some(u64::from(rule.stock_days))
    );
    assert_eq!(
        parameters["StuckDays"]["Default"].as_u64(),
        Some(u64::from(rule.days))
    );
    assert_eq!(parameters["StuckAlerts"]["Default"].as_str(), Some("true"));
    let schedule = &f["Properties"]["Events"]["Hourly"];
    assert_eq!(text(&schedule["Type"], "Type"), "ScheduleV2");
    match &schedule["Properties"]["State"] {
        serde_norway::Value::Tagged(t) => {
            assert_eq!(t.tag, "If");
            assert_eq!(t.value[0].as_str(), Some("HasStuckAlerts"));
        }
        other => panic!("the schedule's state follows StuckAlerts, not {other:?}"),
    }

    // Least privilege: the open index queried, state items of shipments updated, the topic.
    let policies = list(&f["Properties"]["Policies"], "Policies");
    let statements: Vec<&serde_norway::Value> = policies
        .iter()
        .filter_map(|p| p.get("Statement"))
        .flat_map(|s| list(s, "Statement"))
        .collect();
    let actions: Vec<String> = statements
        .iter()
        .flat_map(|s| list(&s["Action"], "Action"))
        .map(|a| text(a, "Action").to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:PutItem"
        ]
    );
    let keys = &statements[3]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    let heartbeats = format!("{}*", qapla::table::heartbeat_pk(""));
    assert_eq!(text(&list(keys, "LeadingKeys")[0], "key"), heartbeats);
    assert!(format!("{:?}", statements[3]["Resource"]).contains("Table.Arn"));
    let query = format!("{:?}", statements[0]["Resource"]);
    assert!(
        query.contains(&format!("/index/{}", qapla::table::OPEN_INDEX)),
        "{query}"
    );
    let keys = &statements[1]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    assert_eq!(text(&list(keys, "LeadingKeys")[0], "key"), "SHIPMENT#*");
    let keys = &statements[2]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    let claims = format!("{}*", qapla::table::notice_pk(""));
    assert_eq!(text(&list(keys, "LeadingKeys")[0], "key"), claims);
    assert!(policies
        .iter()
        .any(|p| p.get("SNSPublishMessagePolicy").is_some()));
    assert_eq!(
        reference(&f["Properties"]["LoggingConfig"]["LogGroup"]),
        Some("StuckLogGroup")
    );
}

#[test]
fn a_failed_run_is_counted_from_its_summary_line_and_alarmed() {
    let filter = template::resource("StuckFailuresMetricFilter");
    assert_eq!(
        reference(&filter["Properties"]["LogGroupName"]),
        Some("StuckLogGroup")
    );
    let pattern = text(&filter["Properties"]["FilterPattern"], "FilterPattern");
    assert!(
        pattern.contains(&format!("$.message = \"{}\"", qapla::stuck::LOG_LINE))
            && pattern.contains(&format!("$.outcome = \"{}\"", qapla::stuck::FAILED)),
        "{pattern}"
    );
    let metric = text(
        &list(
            &filter["Properties"]["MetricTransformations"],
            "transformations",
        )[0]["MetricName"],
        "MetricName",
    );
    let alarm = &template::resource("StuckFailuresAlarm")["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some(metric));
    let errors = &template::resource("StuckErrorsAlarm")["Properties"];
    assert_eq!(
        reference(&list(&errors["Dimensions"], "Dimensions")[0]["Value"]),
        Some("StuckFunction")
    );
}
