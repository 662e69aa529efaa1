//! EventBridge as the second fan-out, against moto: a bus with a rule on our `source` and an SQS
//! queue as its target receives, for every notification of the notifier and of the stuck check,
//! an event whose `detail-type` is the event name and whose `detail` is the SNS message's JSON
//! document. And the template's side: the parameter off by default, the variable, and
//! `events:PutEvents` on that bus only.

use crate::notifier_rig::Rig;
use crate::stack;
use crate::template;
use aws_sdk_eventbridge::types::Target;
use qapla::aws::stream::StreamNotifier;
use qapla::config::EVENT_BUS_NAME;
use qapla::fixtures;
use qapla::notify::bus::SOURCE;
use qapla::notify::stuck::StuckRule;
use qapla::Kind;
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
    let sdk = stack::sdk(&rig.endpoint).await;
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
        notifier: rig.notifier(&rig.endpoint).await.notifier,
        publisher: qapla::aws::lambda::fanout(&sdk, &rig.subscribers.topic_arn, Some(&bus)),
    };
    assert!(notifier.handle(&event).await.batch_item_failures.is_empty());
    let sns = by_id(rig.drain_all().await);
    let events = details(rig.subscribers.drain(&bus_queue).await);
    assert_eq!(sns.len(), 6, "{:?}", sns.keys());
    assert_eq!(events, sns, "the same documents on the bus as on the topic");

    // Stuck alerts go to the bus too.
    let channels = vec![fixtures::DEMO_CHANNEL.to_owned()];
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let summary = qapla::stuck::Check {
        rule: StuckRule::default(),
        notifier: &notifier.notifier,
        channels: &channels,
    }
    .run(
        &qapla::aws::reader::DynamoReader::new(dynamo.clone(), &rig.table),
        &qapla::aws::stuck::DynamoEpisodes::new(dynamo, &rig.table),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bus_fails_the_record_and_the_retry_sends_it_to_both() {
    let mut rig = Rig::new().await;
    let sdk = stack::sdk(&rig.endpoint).await;
    let bus = format!("{}-bus", rig.table);
    let bus_queue = bus_and_queue(&sdk, &bus).await;
    let body = fixtures::Fixture::named("shipment-1.2-in-transit").body;
    assert_eq!(rig.deliver(Kind::Shipment, body).await, "stored");
    let event = rig.stream_event().await;
    let notifier = rig.notifier(&rig.endpoint).await.notifier;
    // The topic reachable, the bus not (a bus that does not exist).
    let broken = StreamNotifier {
        notifier: notifier.clone(),
        publisher: qapla::aws::lambda::fanout(
            &sdk,
            &rig.subscribers.topic_arn,
            Some("no-such-bus"),
        ),
    };
    let failed = broken.handle(&event).await.batch_item_failures;
    assert!(!failed.is_empty(), "the record is retried");
    assert_eq!(rig.drain_all().await.len(), 1, "the topic had it");
    assert!(rig.subscribers.drain(&bus_queue).await.is_empty());
    let fixed = StreamNotifier {
        notifier,
        publisher: qapla::aws::lambda::fanout(&sdk, &rig.subscribers.topic_arn, Some(&bus)),
    };
    assert!(fixed.handle(&event).await.batch_item_failures.is_empty());
    let again = rig.drain_all().await;
    assert_eq!(again.len(), 1, "the topic had it again");
    assert_eq!(details(rig.subscribers.drain(&bus_queue).await).len(), 1);
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
