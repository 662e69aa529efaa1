//! EventBridge as the second fan-out, against moto: a bus with a rule on our `source` and an SQS
//! queue as its target receives, for every notification of the notifier and of the stuck check,
//! an event whose `detail-type` is the event name and whose `detail` is the SNS message's JSON
//! document. Each change reaches the topic once whatever the bus does: a bus that does not exist
//! is refused for good and logged, a bus down and back gets the event on the retry and the topic
//! nothing twice. And the template's side: the parameter off by default, the variable,
//! `events:PutEvents` on that bus only, and the notice claims in the table.

use crate::notifier_rig::Rig;
use crate::proxy::Proxy;
use crate::{stack, template};
use aws_sdk_eventbridge::types::Target;
use qapla::config::EVENT_BUS_NAME;
use qapla::fixtures;
use qapla::notify::batch;
use qapla::notify::bus::SOURCE;
use qapla::stuck::rule::StuckRule;
use qapla::Kind;
use qapla_aws::claims::DynamoClaims;
use qapla_aws::eventbridge::EventBridgeBus;
use qapla_aws::lambda::Fanout;
use qapla_aws::stream::StreamNotifier;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A bus of its own, a rule taking every event of our source, and a queue as its target.
async fn bus_and_queue(sdk: &aws_config::SdkConfig, name: &str) -> String {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    events
        .create_event_bus()
        .name(name)
        .send()
        .await
        .expect("event bus");
    let (url, arn) = stack::create_queue(&sqs, &format!("{name}-rule")).await;
    events
        .put_rule()
        .name("all-notifications")
        .event_bus_name(name)
        .event_pattern(json!({"source": [SOURCE]}).to_string())
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule("all-notifications")
        .event_bus_name(name)
        .targets(
            Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("target");
    url
}

/// The documents by id: from the SNS queue as they are, from the bus's queue their `detail`,
/// after checking the event's source and detail-type.
fn by_id(documents: Vec<Value>) -> BTreeMap<String, Value> {
    documents
        .into_iter()
        .map(|d| (d["id"].as_str().unwrap_or_default().to_owned(), d))
        .collect()
}

fn details(events: Vec<Value>) -> BTreeMap<String, Value> {
    by_id(
        events
            .into_iter()
            .map(|e| {
                assert_eq!(e["source"], json!(SOURCE), "{e}");
                assert_eq!(e["detail-type"], e["detail"]["event"], "{e}");
                e["detail"].clone()
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_reaches_the_bus_with_the_sns_document() {
    let mut rig = Rig::new().await;
    let sdk = stack::sdk(&rig.endpoints).await;
    let bus = format!("{}-bus", rig.table);
    let bus_queue = bus_and_queue(&sdk, &bus).await;
    for (kind, name) in [
        (Kind::Shipment, "shipment-1.2-in-transit"),
        (Kind::Shipment, "shipment-1.2-exception-stock"),
        (Kind::Shipment, "shipment-1.2-failed-attempt"),
        (Kind::Return, "returns-wrapped"),
        (Kind::Order, "orders"),
    ] {
        let body = fixtures::Fixture::named(name).body;
        assert_eq!(rig.deliver(kind, body).await, "stored", "{name}");
    }
    let event = rig.stream_event().await;
    let notifier = StreamNotifier {
        notifier: rig.notifier(&rig.endpoints).await.notifier,
        publisher: qapla_aws::lambda::fanout(&sdk, &rig.subscribers.topic_arn, Some(&bus)),
    };
    assert!(notifier.handle(&event).await.batch_item_failures.is_empty());
    let sns = by_id(rig.drain_all().await);
    let events = details(rig.subscribers.drain(&bus_queue).await);
    assert_eq!(sns.len(), 6, "{:?}", sns.keys());
    assert_eq!(events, sns, "the same documents on the bus as on the topic");

    // Stuck alerts go to the bus too.
    let channels = vec![fixtures::DEMO_CHANNEL.to_owned()];
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let summary = qapla::stuck::StuckCheck {
        rule: StuckRule::default(),
        notifier: &notifier.notifier,
        channels: &channels,
    }
    .run(
        &qapla_aws::reader::DynamoReader::new(dynamo.clone(), &rig.table),
        &qapla_aws::stuck::DynamoEpisodes::new(dynamo, &rig.table),
        &notifier.publisher,
        chrono::Utc::now(),
        None,
    )
    .await;
    assert_eq!((summary.alerted, summary.failed), (2, 0), "{summary:?}");
    let sns = by_id(rig.drain_all().await);
    let events = details(rig.subscribers.drain(&bus_queue).await);
    assert_eq!(sns.len(), 2);
    assert!(sns.values().all(|d| d["event"] == "shipment.stuck"));
    assert_eq!(events, sns);
}

/// The notifier's fan-out as deployed: topic and bus through `sdk`, the claims in the rig's table.
fn once(sdk: &aws_config::SdkConfig, rig: &Rig, bus: &str) -> Fanout {
    let mut fanout = qapla_aws::lambda::fanout(sdk, &rig.subscribers.topic_arn, Some(bus));
    fanout.claims = Some(DynamoClaims::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &rig.table,
    ));
    fanout
}

/// Three status changes stored through the webhook; their stream records.
async fn three_changes(rig: &mut Rig) -> aws_lambda_events::event::dynamodb::Event {
    for name in [
        "shipment-1.2-in-transit",
        "shipment-1.2-exception-stock",
        "shipment-1.2-failed-attempt",
    ] {
        let body = fixtures::Fixture::named(name).body;
        assert_eq!(rig.deliver(Kind::Shipment, body).await, "stored", "{name}");
    }
    rig.stream_event().await
}

fn ids(documents: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = documents
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "current_thread")]
async fn a_bus_that_does_not_exist_lets_the_topic_have_each_change_once_and_logs_it_refused() {
    // The runtime is this thread alone, so every line of the notifier lands here.
    let logs = crate::faults::capture_logs();
    let mut rig = Rig::new().await;
    let sdk = stack::sdk(&rig.endpoints).await;
    let event = three_changes(&mut rig).await;
    let notifier = StreamNotifier {
        notifier: rig.notifier(&rig.endpoints).await.notifier,
        publisher: once(&sdk, &rig, &format!("{}-no-such-bus", rig.table)),
    };
    let failed = notifier.handle(&event).await.batch_item_failures;
    assert!(
        failed.is_empty(),
        "a missing bus is not retried: {failed:?}"
    );
    let sns = rig.drain_all().await;
    assert_eq!(sns.len(), 3, "one SNS message per change");
    let mut unique = ids(&sns);
    unique.dedup();
    assert_eq!(unique.len(), 3, "{unique:?}");
    // The batch delivered again (a crashed invocation's retry): nothing goes to the topic again.
    assert!(notifier.handle(&event).await.batch_item_failures.is_empty());
    assert!(rig.drain_all().await.is_empty(), "the topic had them");
    // The claims' own stream records notify nothing.
    let claims = rig.stream_event().await;
    assert!(!claims.records.is_empty(), "the claims are in the table");
    assert!(notifier
        .handle(&claims)
        .await
        .batch_item_failures
        .is_empty());
    assert!(rig.drain_all().await.is_empty());

    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let refused: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == batch::LOG_LINE && l["outcome"] == batch::BUS_REFUSED)
        .collect();
    assert_eq!(refused.len(), 6, "one line per notice and attempt:\n{text}");
    for line in &refused {
        assert_eq!(line["level"], "ERROR", "{line}");
        assert!(
            line["reason"]
                .as_str()
                .is_some_and(|r| r.contains("ResourceNotFoundException")),
            "{line}"
        );
        // The notice id: the event name, then the document's id.
        let id = line["id"].as_str().unwrap_or_default();
        assert!(
            unique
                .iter()
                .any(|d| id == format!("{}:{d}", line["event"].as_str().unwrap_or_default())),
            "{line}"
        );
    }
    let batches: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "batch")
        .collect();
    // The batch, its redelivery, and the claims' records.
    assert_eq!(batches.len(), 3, "{text}");
    assert_eq!(batches[2]["published"], 0);
    assert_eq!(batches[0]["bus_refused"], 3);
    assert_eq!(
        (&batches[1]["already"], &batches[1]["published"]),
        (&json!(3), &json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_down_then_back_gives_one_sns_message_and_one_bus_event_per_change() {
    let mut rig = Rig::new().await;
    let sdk = stack::sdk(&rig.endpoints).await;
    let bus = format!("{}-bus", rig.table);
    let bus_queue = bus_and_queue(&sdk, &bus).await;
    let proxy = Proxy::start(crate::local_aws::shared().moto.port);
    let event = three_changes(&mut rig).await;
    // The topic and the claims reachable, the bus behind the proxy.
    let mut fanout = once(&sdk, &rig, &bus);
    let through_proxy = stack::sdk(&rig.endpoints.with_aws(proxy.endpoint())).await;
    fanout.bus = Some(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&through_proxy),
        &bus,
    ));
    let notifier = StreamNotifier {
        notifier: rig.notifier(&rig.endpoints).await.notifier,
        publisher: fanout,
    };
    proxy.set_down(true);
    let failed = notifier.handle(&event).await.batch_item_failures;
    assert!(!failed.is_empty(), "the record is retried");
    let mut sns = rig.drain_all().await;
    assert_eq!(sns.len(), 1, "the topic had the first change");
    assert!(rig.subscribers.drain(&bus_queue).await.is_empty());

    // Lambda retries from the first failed record on; the bus is back.
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
    let again = rig.drain_all().await;
    assert_eq!(
        again.len(),
        2,
        "the topic did not get the first change again"
    );
    sns.extend(again);
    let events = details(rig.subscribers.drain(&bus_queue).await);
    assert_eq!(events.len(), 3, "one bus event per change");
    assert_eq!(ids(&sns), events.keys().cloned().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_alert_whose_bus_failed_goes_to_the_bus_alone_at_the_next_run() {
    let mut rig = Rig::new().await;
    let sdk = stack::sdk(&rig.endpoints).await;
    let bus = format!("{}-bus", rig.table);
    let bus_queue = bus_and_queue(&sdk, &bus).await;
    let proxy = Proxy::start(crate::local_aws::shared().moto.port);
    three_changes(&mut rig).await;
    let mut fanout = once(&sdk, &rig, &bus);
    let through_proxy = stack::sdk(&rig.endpoints.with_aws(proxy.endpoint())).await;
    fanout.bus = Some(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&through_proxy),
        &bus,
    ));
    let notifier = rig.notifier(&rig.endpoints).await.notifier;
    let channels = vec![fixtures::DEMO_CHANNEL.to_owned()];
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let check = qapla::stuck::StuckCheck {
        rule: StuckRule::default(),
        notifier: &notifier,
        channels: &channels,
    };
    let reader = qapla_aws::reader::DynamoReader::new(dynamo.clone(), &rig.table);
    let episodes = qapla_aws::stuck::DynamoEpisodes::new(dynamo, &rig.table);
    proxy.set_down(true);
    let first = check
        .run(&reader, &episodes, &fanout, chrono::Utc::now(), None)
        .await;
    assert_eq!((first.alerted, first.failed), (0, 2), "{first:?}");
    let mut sns = rig.drain_all().await;
    assert_eq!(sns.len(), 2, "the topic had both alerts");
    proxy.set_down(false);
    let second = check
        .run(&reader, &episodes, &fanout, chrono::Utc::now(), None)
        .await;
    assert_eq!((second.alerted, second.failed), (2, 0), "{second:?}");
    assert!(
        rig.drain_all().await.is_empty(),
        "the topic did not get them again"
    );
    let events = details(rig.subscribers.drain(&bus_queue).await);
    sns.sort_by_key(|d| d["id"].to_string());
    assert_eq!(ids(&sns), events.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn the_notifier_writes_notice_claims_only_in_its_table() {
    let f = &template::resource("NotifierFunction")["Properties"];
    let var = &f["Environment"]["Variables"][qapla::config::TABLE_NAME];
    assert!(
        matches!(var, serde_norway::Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("Table")),
        "{var:?}"
    );
    let statement = f["Policies"]
        .as_sequence()
        .expect("policies")
        .iter()
        .filter_map(|p| p["Statement"].as_sequence())
        .flatten()
        .find(|s| s["Sid"].as_str() == Some("ClaimNotices"))
        .expect("a statement for the claims");
    let actions: Vec<&str> = statement["Action"]
        .as_sequence()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:DeleteItem"
        ]
    );
    let keys = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    let prefix = qapla::table::notice_pk("");
    assert_eq!(keys[0].as_str(), Some(format!("{prefix}*").as_str()));
}

#[test]
fn the_bus_is_off_by_default_and_only_it_may_be_written() {
    let parameter = &template::template()["Parameters"]["EventBusName"];
    assert_eq!(parameter["Default"].as_str(), Some(""));
    for id in ["NotifierFunction", "StuckFunction"] {
        let f = &template::resource(id)["Properties"];
        let var = &f["Environment"]["Variables"][EVENT_BUS_NAME];
        assert!(
            matches!(var, serde_norway::Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("EventBusName")),
            "{id}: {var:?}"
        );
        let conditional: Vec<&serde_norway::Value> = f["Policies"]
            .as_sequence()
            .expect("policies")
            .iter()
            .filter_map(|p| match p {
                serde_norway::Value::Tagged(t) if t.tag == "If" => Some(&t.value),
                _ => None,
            })
            .collect();
        assert_eq!(conditional.len(), 1, "{id}");
        assert_eq!(conditional[0][0].as_str(), Some("HasEventBus"));
        let statement = &conditional[0][1]["Statement"][0];
        assert_eq!(
            statement["Action"][0].as_str(),
            Some("events:PutEvents"),
            "{id}"
        );
        let resource = format!("{:?}", statement["Resource"]);
        assert!(
            resource.contains("event-bus/${EventBusName}"),
            "{id}: {resource}"
        );
    }
    let condition = format!("{:?}", template::template()["Conditions"]["HasEventBus"]);
    assert!(condition.contains("EventBusName"), "{condition}");
}
