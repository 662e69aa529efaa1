//! The notifier against moto: deliveries through the real webhook handler, the real stream
//! records read back from moto, handed to the notifier as its Lambda event, and SQS queues
//! subscribed to the topic with the template's filter policies.

use crate::moto;
use crate::support::{self, event, invoke, QAPLA_IP};
use crate::template;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use qapla::aws::sns::SnsPublisher;
use qapla::aws::stream::StreamNotifier;
use qapla::fixtures;
use qapla::notify::{AlertRule, Notifier, SMS_MAX_CHARS};
use qapla::Kind;
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct Rig {
    pub endpoint: String,
    pub table: String,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    pub all_queue: String,
    pub alert_queue: String,
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Sequence numbers already handed to the notifier.
    pub seen: std::collections::HashSet<String>,
}

/// The filter policy of the template's alert subscriptions (email and SMS share it).
fn alert_policy() -> String {
    let email = template::to_json(
        &template::resource("AlertEmailSubscription")["Properties"]["FilterPolicy"],
    );
    let sms = template::to_json(
        &template::resource("AlertSmsSubscription")["Properties"]["FilterPolicy"],
    );
    assert_eq!(email, sms, "email and SMS alert policies differ");
    email.to_string()
}

impl Rig {
    pub async fn new() -> Rig {
        let endpoint = moto::shared().endpoint();
        let sdk = support::sdk(&endpoint).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let table = support::unique_table("notifier");
        support::create_table(&dynamo, &table).await;
        let topic_arn = sns
            .create_topic()
            .name(format!("{table}-topic"))
            .send()
            .await
            .expect("topic")
            .topic_arn()
            .expect("topic arn")
            .to_owned();
        let mut queues = Vec::new();
        for (suffix, policy) in [("all", None), ("alerts", Some(alert_policy()))] {
            let url = sqs
                .create_queue()
                .queue_name(format!("{table}-{suffix}"))
                .send()
                .await
                .expect("queue")
                .queue_url()
                .expect("queue url")
                .to_owned();
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("queue attributes")
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .expect("queue arn")
                .clone();
            let mut sub = sns
                .subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(arn)
                .attributes("RawMessageDelivery", "true");
            if let Some(policy) = policy {
                sub = sub
                    .attributes("FilterPolicy", policy)
                    .attributes("FilterPolicyScope", "MessageAttributes");
            }
            sub.send().await.expect("subscribe");
            queues.push(url);
        }
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        Rig {
            endpoint,
            table,
            streams,
            sqs,
            topic_arn,
            alert_queue: queues.pop().expect("alerts queue"),
            all_queue: queues.pop().expect("all queue"),
            dynamo,
            seen: Default::default(),
        }
    }

    /// An iterator at the start of the stream: reading from the start each time and skipping what
    /// was seen is simpler and sturdier against moto than carrying iterators along.
    async fn first_iterator(&self) -> String {
        let table = self
            .dynamo
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .expect("describe");
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("stream arn")
            .to_owned();
        let stream = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .expect("stream");
        let shard = stream
            .stream_description()
            .and_then(|d| d.shards().first())
            .and_then(|s| s.shard_id())
            .expect("a shard")
            .to_owned();
        self.streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator()
            .expect("iterator")
            .to_owned()
    }

    pub async fn deliver(&self, kind: Kind, body: &str) -> String {
        let hook = support::webhook(kind, &self.endpoint, &self.table).await;
        invoke(&hook, &event(kind, body, QAPLA_IP)).await.outcome
    }

    /// The stream records written since the last call, as the Lambda event the notifier gets.
    pub async fn stream_event(&mut self) -> StreamEvent {
        let out = self
            .streams
            .get_records()
            .shard_iterator(self.first_iterator().await)
            .limit(1000)
            .send()
            .await
            .expect("get records");
        let fresh: Vec<_> = out
            .records()
            .iter()
            .filter(|r| {
                let seq = r
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .unwrap_or_default();
                self.seen.insert(seq.to_owned())
            })
            .collect();
        let records: Vec<Value> = fresh
            .into_iter()
            .map(|r| {
                let d = r.dynamodb().expect("stream record");
                let image = |m: Option<
                    &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
                >| {
                    m.map(|m| {
                        serde_json::to_value(serde_dynamo::Item::from(m.clone())).expect("image")
                    })
                };
                json!({
                    "eventID": r.event_id(),
                    "eventName": r.event_name().map(|n| n.as_str()),
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": support::REGION,
                    "eventSourceARN": "arn:aws:dynamodb:eu-south-1:123456789012:table/t/stream/x",
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1_772_000_000,
                        "Keys": image(d.keys()),
                        "NewImage": image(d.new_image()),
                        "OldImage": image(d.old_image()),
                        "SequenceNumber": d.sequence_number(),
                        "SizeBytes": d.size_bytes().unwrap_or(0),
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
    }

    pub async fn notifier(&self, endpoint: &str) -> StreamNotifier<SnsPublisher> {
        let sns = aws_sdk_sns::Client::new(&support::sdk(endpoint).await);
        StreamNotifier {
            notifier: Notifier {
                alerts: AlertRule::default(),
                timezone: qapla::dates::zone("Europe/Rome").expect("zone"),
                personal_data: false,
            },
            publisher: SnsPublisher::new(sns, &self.topic_arn),
        }
    }

    /// Every message waiting in a queue (the JSON document), emptying it.
    pub async fn drain(&self, queue: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                out.push(
                    serde_json::from_str(m.body().unwrap_or_default()).expect("a JSON document"),
                );
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// Runs the notifier over the new stream records; returns the failures it reported.
    pub async fn notify(&mut self) -> usize {
        let event = self.stream_event().await;
        let notifier = self.notifier(&self.endpoint.clone()).await;
        notifier.handle(&event).await.batch_item_failures.len()
    }
}

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
    let all = rig.drain(&rig.all_queue).await;
    assert_eq!(events_of(&all), ["shipment.status_changed"]);
    assert_eq!(all[0]["shipment"]["status"]["name"], json!("IN TRANSIT"));
    assert_eq!(all[0]["schema"], json!(qapla::notify::SCHEMA));
    assert!(rig.drain(&rig.alert_queue).await.is_empty());

    // Exception on hold: both, with the previous status.
    assert_eq!(
        rig.deliver(Kind::Shipment, body("shipment-1.2-exception-stock"))
            .await,
        "stored"
    );
    let event = rig.stream_event().await;
    let notifier = rig.notifier(&rig.endpoint).await;
    let notices: Vec<_> = event
        .records
        .iter()
        .filter_map(|r| {
            qapla::notify::batch::notice(&notifier.notifier, &qapla::aws::stream::record(r))
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
    let all = rig.drain(&rig.all_queue).await;
    let alerts = rig.drain(&rig.alert_queue).await;
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
    assert!(rig.drain(&rig.all_queue).await.is_empty());
    assert!(rig.drain(&rig.alert_queue).await.is_empty());

    // A return and an order: their events, to every subscriber but the alerts.
    assert_eq!(
        rig.deliver(Kind::Return, body("returns-wrapped")).await,
        "stored"
    );
    assert_eq!(rig.deliver(Kind::Order, body("orders")).await, "stored");
    assert_eq!(rig.notify().await, 0);
    let mut events = events_of(&rig.drain(&rig.all_queue).await);
    events.sort();
    assert_eq!(
        events,
        ["order.created", "order.created", "return.requested"]
    );
    assert!(rig.drain(&rig.alert_queue).await.is_empty());
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
    let down = rig.notifier(&format!("http://127.0.0.1:{closed}")).await;
    let response = down.handle(&event).await;
    let first_change = event
        .records
        .iter()
        .find(|r| {
            qapla::notify::batch::notice(&down.notifier, &qapla::aws::stream::record(r))
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
    assert!(rig.drain(&rig.all_queue).await.is_empty());

    // The stream retries the batch once SNS is back: each change arrives once.
    let up = rig.notifier(&rig.endpoint).await;
    assert!(up.handle(&event).await.batch_item_failures.is_empty());
    let all = rig.drain(&rig.all_queue).await;
    let names: Vec<&str> = all
        .iter()
        .filter_map(|m| m["shipment"]["status"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"IN TRANSIT") && names.contains(&"FAILED DELIVERY ATTEMPT"));
    let alerts = rig.drain(&rig.alert_queue).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], json!("warning"));
}
