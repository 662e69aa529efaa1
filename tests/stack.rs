//! The local stack on moto: SDK clients, and the table, topic and subscriber queues created
//! exactly as `template.yaml` declares them.

use crate::template::{self, list, text};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const REGION: &str = "eu-south-1";

/// SDK configuration for a moto endpoint, with dummy credentials.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    qapla::aws::sdk_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk(endpoint).await)
}

/// A table name of its own for each test, so tests share one moto without meeting.
pub fn unique_table(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Creates a table exactly as `template.yaml` declares `Table`: keys, attribute types, GSI,
/// stream, TTL.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    create_table_with(client, name, true).await;
}

/// The same, optionally without the stream: moto copies a table whole, stream records included,
/// on every transaction, which long benchmark runs cannot afford.
pub async fn create_table_with(client: &aws_sdk_dynamodb::Client, name: &str, stream: bool) {
    let props = &template::resource("Table")["Properties"];
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
    for a in list(&props["AttributeDefinitions"], "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"], "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(
                    &a["AttributeType"],
                    "AttributeType",
                )))
                .build()
                .expect("attribute definition"),
        );
    }
    for k in key_schema(&props["KeySchema"]) {
        request = request.key_schema(k);
    }
    if let Some(indexes) = props["GlobalSecondaryIndexes"].as_sequence() {
        for index in indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(text(&index["IndexName"], "IndexName"))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(text(
                            &index["Projection"]["ProjectionType"],
                            "ProjectionType",
                        )))
                        .set_non_key_attributes(
                            index["Projection"]["NonKeyAttributes"]
                                .as_sequence()
                                .map(|names| {
                                    names
                                        .iter()
                                        .map(|n| text(n, "NonKeyAttributes").to_owned())
                                        .collect()
                                }),
                        )
                        .build(),
                );
            for k in key_schema(&index["KeySchema"]) {
                gsi = gsi.key_schema(k);
            }
            request = request.global_secondary_indexes(gsi.build().expect("gsi"));
        }
    }
    let view = props["StreamSpecification"]["StreamViewType"]
        .as_str()
        .filter(|_| stream);
    if let Some(view) = view {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()
                .expect("stream"),
        );
    }
    request.send().await.expect("create the table in moto");
    if let Some(ttl) = props["TimeToLiveSpecification"]["AttributeName"].as_str() {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("enable TTL in moto");
    }
}

fn key_schema(v: &serde_norway::Value) -> Vec<KeySchemaElement> {
    list(v, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"], "AttributeName"))
                .key_type(KeyType::from(text(&k["KeyType"], "KeyType")))
                .build()
                .expect("key schema")
        })
        .collect()
}

/// The filter policy of the template's alert subscriptions (email and SMS share it).
pub fn alert_policy() -> String {
    let policy =
        |id: &str| template::to_json(&template::resource(id)["Properties"]["FilterPolicy"]);
    let email = policy("AlertEmailSubscription");
    assert_eq!(
        email,
        policy("AlertSmsSubscription"),
        "email and SMS alert policies differ"
    );
    email.to_string()
}

/// Creates an SQS queue; its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone();
    (url, arn)
}

/// The topic and two SQS subscribers: one unfiltered, one with the alert filter policy of the
/// template's email and SMS subscriptions.
pub struct Subscribers {
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    pub all_queue: String,
    pub alert_queue: String,
}

impl Subscribers {
    /// Creates the topic `topic` and the queues `<prefix>all` and `<prefix>alerts`.
    pub async fn create(sdk: &aws_config::SdkConfig, topic: &str, prefix: &str) -> Subscribers {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic_arn = sns
            .create_topic()
            .name(topic)
            .send()
            .await
            .expect("topic")
            .topic_arn()
            .expect("topic arn")
            .to_owned();
        let mut queues = Vec::new();
        for (suffix, policy) in [("all", None), ("alerts", Some(alert_policy()))] {
            let (url, arn) = create_queue(&sqs, &format!("{prefix}{suffix}")).await;
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
        Subscribers {
            sqs,
            topic_arn,
            alert_queue: queues.pop().expect("alerts queue"),
            all_queue: queues.pop().expect("all queue"),
        }
    }

    /// Every message waiting in a queue (the JSON document), emptying it. Each document is
    /// checked against the published schema (`docs/notification.schema.json`) on the way, the
    /// `detail` of an EventBridge event as the SNS document.
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
                let message: Value =
                    serde_json::from_str(m.body().unwrap_or_default()).expect("a JSON document");
                crate::notification_schema::check(crate::notification_schema::document_of(
                    &message,
                ));
                out.push(message);
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
}

/// The table, the topic and its two subscriber queues of a local run, from the template.
pub async fn create_local_stack(
    sdk: &aws_config::SdkConfig,
    table: &str,
    topic: &str,
) -> Subscribers {
    create_table(&aws_sdk_dynamodb::Client::new(sdk), table).await;
    Subscribers::create(sdk, topic, &format!("{topic}-")).await
}
