//! The local stack on DynamoDB Local and moto: SDK clients, and the table, topic and subscriber
//! queues created exactly as `template.yaml` declares them.

use crate::local_aws::LocalEndpoints;
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

/// SDK configuration for the local endpoints, with dummy credentials: built as a function builds
/// its own, so each client finds its own endpoint as a function's does.
pub async fn sdk(endpoints: &LocalEndpoints) -> aws_config::SdkConfig {
    qapla_aws::environment::build(
        REGION.to_owned(),
        aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests"),
        ),
        endpoints.service_config(),
    )
}

pub async fn dynamo(endpoints: &LocalEndpoints) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk(endpoints).await)
}

/// A name of its own for each test, so tests share one local AWS without meeting: its table, and
/// its bucket, topics, queues and event buses (the name, or the name and a `-suffix`).
pub fn unique_table(prefix: &str) -> UniqueName {
    static N: AtomicUsize = AtomicUsize::new(0);
    UniqueName(format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed)))
}

/// A test's name; dropping it (the test ended, passed or failed) removes what the test created
/// under it from the shared local AWS, so the servers hold only what running tests need.
#[derive(Debug, PartialEq, Eq)]
pub struct UniqueName(String);

impl std::ops::Deref for UniqueName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UniqueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UniqueName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl UniqueName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// So that `&name` goes wherever an SDK builder takes a name.
impl From<&UniqueName> for String {
    fn from(name: &UniqueName) -> String {
        name.0.clone()
    }
}

impl Drop for UniqueName {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        // Its own thread and runtime: a drop cannot await, and may run inside a test's runtime.
        let cleaned = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(remove_all(&name)))
        })
        .join();
        if !matches!(cleaned, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("could not remove a test's resources from the local AWS");
        }
    }
}

/// Whether a resource called `resource` belongs to the test called `name`.
fn belongs(resource: &str, name: &str) -> bool {
    resource == name
        || resource
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// Removes the table, buckets, queues, topics and event buses of the test called `name`.
async fn remove_all(name: &str) {
    let sdk = sdk(&LocalEndpoints::shared()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let tables = dynamo.list_tables().into_paginator().items().send();
    let tables: Vec<String> = tables.collect::<Result<_, _>>().await.unwrap_or_default();
    for table in tables.iter().filter(|t| belongs(t, name)) {
        let _ = dynamo.delete_table().table_name(table).send().await;
    }
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let buckets = s3.list_buckets().send().await.ok();
    let buckets = buckets.iter().flat_map(|b| b.buckets());
    for bucket in buckets
        .filter_map(|b| b.name())
        .filter(|b| belongs(b, name))
    {
        let objects = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        let pages: Vec<_> = objects.collect::<Result<_, _>>().await.unwrap_or_default();
        for key in pages
            .iter()
            .flat_map(|p| p.contents())
            .filter_map(|o| o.key())
        {
            let _ = s3.delete_object().bucket(bucket).key(key).send().await;
        }
        let _ = s3.delete_bucket().bucket(bucket).send().await;
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queues = sqs.list_queues().queue_name_prefix(name).send().await.ok();
    for url in queues.iter().flat_map(|q| q.queue_urls()) {
        if belongs(url.rsplit('/').next().unwrap_or_default(), name) {
            let _ = sqs.delete_queue().queue_url(url).send().await;
        }
    }
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topics = sns.list_topics().into_paginator().items().send();
    let topics: Vec<_> = topics.collect::<Result<_, _>>().await.unwrap_or_default();
    for arn in topics.iter().filter_map(|t| t.topic_arn()) {
        if belongs(arn.rsplit(':').next().unwrap_or_default(), name) {
            let subscriptions = sns
                .list_subscriptions_by_topic()
                .topic_arn(arn)
                .send()
                .await;
            for subscription in subscriptions.iter().flat_map(|s| s.subscriptions()) {
                if let Some(sub) = subscription.subscription_arn() {
                    let _ = sns.unsubscribe().subscription_arn(sub).send().await;
                }
            }
            let _ = sns.delete_topic().topic_arn(arn).send().await;
        }
    }
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let buses = events
        .list_event_buses()
        .name_prefix(name)
        .send()
        .await
        .ok();
    for bus in buses
        .iter()
        .flat_map(|b| b.event_buses())
        .filter_map(|b| b.name())
    {
        if !belongs(bus, name) {
            continue;
        }
        let rules = events.list_rules().event_bus_name(bus).send().await.ok();
        for rule in rules
            .iter()
            .flat_map(|r| r.rules())
            .filter_map(|r| r.name())
        {
            let targets = events
                .list_targets_by_rule()
                .rule(rule)
                .event_bus_name(bus)
                .send()
                .await
                .ok();
            let ids: Vec<String> = targets
                .iter()
                .flat_map(|t| t.targets())
                .map(|t| t.id().to_owned())
                .collect();
            if !ids.is_empty() {
                let _ = events
                    .remove_targets()
                    .rule(rule)
                    .event_bus_name(bus)
                    .set_ids(Some(ids))
                    .send()
                    .await;
            }
            let _ = events
                .delete_rule()
                .name(rule)
                .event_bus_name(bus)
                .send()
                .await;
        }
        let _ = events.delete_event_bus().name(bus).send().await;
    }
}

/// Creates a table exactly as `template.yaml` declares `Table`: keys, attribute types, GSI,
/// stream, TTL.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    create_table_with(client, name, true).await;
}

/// The same, optionally without the stream (the benchmarks' tables: nobody reads it).
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
    request
        .send()
        .await
        .expect("create the table in DynamoDB Local");
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
            .expect("enable TTL in DynamoDB Local");
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
