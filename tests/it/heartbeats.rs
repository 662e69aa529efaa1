//! The heartbeat per channel against DynamoDB Local: a delivery through the real handler writes
//! its channel's heartbeat and no other's; the stuck function's heartbeat check reads them
//! through the DynamoDB adapter and names exactly the silent pairs, in its log lines; a
//! heartbeat that cannot be written changes no answer. And the template's side: the check's
//! schedule, its variable, and the alarm's filter fed by the check's real summary line.

use crate::delivery::invoke;
use crate::events::{event, shipment, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::stack;
use crate::template::{self, list, text};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use qapla::auth::{ApiKey, Channel, Channels, OrderTrigger};
use qapla::fixtures::{DEMO_CHANNEL, DEMO_KEY};
use qapla::heartbeat::{Beats, Heartbeats};
use qapla::table::{heartbeat_pk, LAST_DELIVERY, PK, SK};
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::heartbeat::DynamoHeartbeats;
use qapla_aws::lambda::{self, StuckFunction};
use serde_json::Value;

/// A second channel beside the demo one.
const OTHER_CHANNEL: &str = "shop-de";
const OTHER_KEY: &str = "demo-key-shop-de";

fn channels_spec() -> String {
    format!(
        "{},{}",
        qapla::fixtures::demo_channels(),
        Channel::entry(
            OTHER_CHANNEL,
            &ApiKey::new(OTHER_KEY),
            OrderTrigger::Created
        )
    )
}

async fn table(prefix: &str) -> (stack::UniqueName, aws_sdk_dynamodb::Client) {
    let client = stack::dynamo(&LocalEndpoints::shared()).await;
    let name = stack::unique_table(prefix);
    stack::create_table(&client, &name).await;
    (name, client)
}

/// The shipments webhook of both channels over `table`, its heartbeats on `beats_table`.
fn webhook(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    beats_table: &str,
) -> crate::delivery::Hook {
    let mut settings = crate::delivery::webhook_config(table).settings;
    settings.channels = Channels::parse(&channels_spec()).expect("channels");
    Webhook::new(
        Kind::Shipment,
        settings,
        DynamoStore::new(client.clone(), table),
        None,
    )
    .with_heartbeats(DynamoHeartbeats::new(client.clone(), beats_table))
}

/// A shipment delivery of the demo channel (`key` in place of its key for another channel).
fn delivery(tracking: &str, key: &str) -> String {
    let mut body = shipment(tracking, "2026-03-02 09:41:07", 3, None);
    body["apiKey"] = Value::from(key);
    event(Kind::Shipment, &body.to_string(), QAPLA_IP)
}

async fn heartbeat_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    channel: &str,
) -> Vec<(String, Option<String>)> {
    let answer = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(":pk", AttributeValue::S(heartbeat_pk(channel)))
        .send()
        .await
        .expect("query");
    answer
        .items()
        .iter()
        .map(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            (text(SK).unwrap_or_default(), text(LAST_DELIVERY))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_delivery_writes_its_channels_heartbeat_and_no_others() {
    let (name, client) = table("beat").await;
    let hook = webhook(&client, &name, &name);
    let before = Utc::now() - Duration::seconds(2);
    let got = invoke(&hook, &delivery("JD0001", DEMO_KEY)).await;
    assert_eq!((got.status, got.outcome.as_str()), (200, "stored"));
    let demo = heartbeat_items(&client, &name, DEMO_CHANNEL).await;
    assert_eq!(demo.len(), 1, "{demo:?}");
    assert_eq!(demo[0].0, "shipments");
    let at = demo[0].1.as_deref().expect("lastDelivery");
    let at = DateTime::parse_from_rfc3339(at).expect("RFC 3339");
    assert!(at >= before && at <= Utc::now(), "{at}");
    assert_eq!(heartbeat_items(&client, &name, OTHER_CHANNEL).await, []);

    // The other channel beats on its own, right after (the memo is per channel).
    let got = invoke(&hook, &delivery("JD0002", OTHER_KEY)).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        heartbeat_items(&client, &name, OTHER_CHANNEL).await.len(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_heartbeat_that_cannot_be_written_changes_no_answer() {
    let (name, client) = table("beatfail").await;
    // Its heartbeats go to a table that does not exist: every beat fails.
    let hook = webhook(&client, &name, "no-such-table-for-heartbeats");
    let logs = crate::faults::capture_logs();
    let got = invoke(&hook, &delivery("JD0003", DEMO_KEY)).await;
    assert_eq!(
        (got.status, got.body.as_str(), got.outcome.as_str()),
        (200, r#"{"result":"OK"}"#, "stored")
    );
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "delivery")
        .expect("the delivery line");
    assert_eq!(line["outcome"], "stored");
    assert!(
        line["heartbeat"].as_str().is_some_and(|r| !r.is_empty()),
        "{line}"
    );
    assert!(!text.contains(DEMO_KEY), "the key is never logged");
    assert_eq!(heartbeat_items(&client, &name, DEMO_CHANNEL).await, []);
}

async fn stuck_function(name: &str, client: &aws_sdk_dynamodb::Client) -> StuckFunction {
    let endpoints = LocalEndpoints::shared();
    let sdk = stack::sdk(&endpoints).await;
    let channels = channels_spec();
    let config = qapla::config::StuckConfig::from_lookup(|var| match var {
        "TABLE_NAME" => Some(name.to_owned()),
        "TOPIC_ARN" => Some("arn:aws:sns:eu-south-1:123456789012:never-published".to_owned()),
        "QAPLA_CHANNELS" => Some(channels.clone()),
        "QAPLA_SILENCE_HOURS" => Some("24".to_owned()),
        _ => None,
    })
    .expect("configuration");
    StuckFunction {
        reader: qapla_aws::reader::DynamoReader::new(client.clone(), name),
        episodes: qapla_aws::stuck::DynamoEpisodes::new(client.clone(), name),
        publisher: lambda::fanout(&sdk, &config.topic_arn, None),
        heartbeats: DynamoHeartbeats::new(client.clone(), name),
        config,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_check_names_exactly_the_channel_silent_past_the_hours() {
    let (name, client) = table("beatcheck").await;
    let now = Utc::now();
    let beats = DynamoHeartbeats::new(client.clone(), name.to_string());
    for kind in Kind::ALL {
        beats
            .beat(DEMO_CHANNEL, kind, now - Duration::hours(1))
            .await
            .expect("beat");
        beats
            .beat(OTHER_CHANNEL, kind, now - Duration::hours(25))
            .await
            .expect("beat");
    }
    // An older beat landing late does not move the time back.
    beats
        .beat(DEMO_CHANNEL, Kind::Order, now - Duration::hours(30))
        .await
        .expect("beat");
    let function = stuck_function(&name, &client).await;
    let logs = crate::faults::capture_logs();
    let summary = function.check_heartbeats(now).await;
    assert_eq!((summary.pairs, summary.silent, summary.unread), (6, 3, 0));
    assert_eq!(
        summary.silent_pairs,
        ["shop-de/shipments", "shop-de/returns", "shop-de/orders"]
    );
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let pairs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == qapla::heartbeat::LOG_LINE)
        .collect();
    assert_eq!(pairs.len(), 6, "{text}");
    for line in &pairs {
        let silent = line["channel"] == OTHER_CHANNEL;
        assert_eq!(line["silent"], silent, "{line}");
        let hours = line["hours_silent"].as_f64().expect("a number");
        assert_eq!(hours, if silent { 25.0 } else { 1.0 }, "{line}");
    }
    let summary_line = lines
        .iter()
        .find(|l| l["message"] == qapla::heartbeat::SUMMARY_LINE)
        .expect("the summary line");
    assert_eq!(summary_line["silent"], 3);
    // The alarm's metric filter reads that very line.
    let metrics = crate::alarms::metrics_of("StuckLogGroup", summary_line);
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0].0, "SilentHeartbeats");
    for line in &pairs {
        let fed = crate::alarms::metrics_of("StuckLogGroup", line);
        let dims = vec![
            (
                "Channel".to_owned(),
                line["channel"].as_str().unwrap_or_default().to_owned(),
            ),
            (
                "Webhook".to_owned(),
                line["webhook"].as_str().unwrap_or_default().to_owned(),
            ),
        ];
        assert_eq!(fed, [("HoursSilent".to_owned(), dims)], "{line}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_channel_never_seen_is_watched_from_the_first_check_and_not_silent_yet() {
    let (name, client) = table("beatnew").await;
    let function = stuck_function(&name, &client).await;
    let now = Utc::now();
    let first = function.check_heartbeats(now).await;
    assert_eq!((first.watched, first.silent), (6, 0));
    let beats = DynamoHeartbeats::new(client.clone(), name.to_string());
    let read = beats.read(OTHER_CHANNEL).await.expect("read");
    assert_eq!(read.len(), 3);
    // A second check does not move the watch: a day on, every pair is silent.
    function.check_heartbeats(now + Duration::hours(1)).await;
    let later = function.check_heartbeats(now + Duration::hours(24)).await;
    assert_eq!(later.silent, 6);
}

#[test]
fn the_heartbeat_check_runs_hourly_whatever_stuck_alerts_says() {
    let f = template::resource("StuckFunction");
    let schedule = &f["Properties"]["Events"]["Heartbeats"];
    assert_eq!(text(&schedule["Type"], "Type"), "ScheduleV2");
    let p = &schedule["Properties"];
    assert_eq!(text(&p["State"], "State"), "ENABLED");
    assert_eq!(
        text(&p["ScheduleExpression"], "ScheduleExpression"),
        "rate(1 hour)"
    );
    let input: Value = serde_json::from_str(text(&p["Input"], "Input")).expect("JSON input");
    assert!(lambda::asks_heartbeat_check(&input), "{input}");
    // The stuck check's own schedule sends nothing that would run the heartbeat check.
    assert!(f["Properties"]["Events"]["Hourly"]["Properties"]["Input"].is_null());
    let vars = &f["Properties"]["Environment"]["Variables"];
    assert_eq!(
        format!("{:?}", vars[qapla::config::QAPLA_SILENCE_HOURS]),
        format!(
            "{:?}",
            template::resource("ShipmentsHeartbeatAlarm")["Properties"]["EvaluationPeriods"]
        ),
        "the check's silence is SilenceHours, as the webhook-wide alarms'"
    );
    let alarm = &template::resource("ChannelHeartbeatAlarm")["Properties"];
    assert_eq!(
        text(&alarm["TreatMissingData"], "TreatMissingData"),
        "breaching"
    );
    assert_eq!(text(&alarm["MetricName"], "MetricName"), "SilentHeartbeats");
    assert_eq!(alarm["Threshold"].as_f64(), Some(1.0));
    assert_eq!(
        text(&alarm["ComparisonOperator"], "ComparisonOperator"),
        "GreaterThanOrEqualToThreshold"
    );
    assert!(list(&alarm["AlarmActions"], "AlarmActions").len() == 1);
}
