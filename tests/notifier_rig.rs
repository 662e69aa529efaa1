//! A table with its stream, the topic and two subscriber queues on the shared local AWS, and the real
//! webhook handler and notifier over them: the rig of the notifier tests and of the SNS outage
//! in the fault suite.

use crate::delivery::{invoke, webhook};
use crate::events::{event, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::stack::{self, Subscribers};
use crate::stream::StreamReader;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use qapla::notify::{AlertRule, Notifier};
use qapla::Kind;
use qapla_aws::sns::SnsPublisher;
use qapla_aws::stream::StreamNotifier;
use serde_json::Value;

pub struct Rig {
    pub endpoints: LocalEndpoints,
    pub table: stack::UniqueName,
    pub subscribers: Subscribers,
    /// `QAPLA_ALERT_PERSONAL_DATA` of the notifier: off, as deployed by default.
    pub personal_data: bool,
    stream: StreamReader,
}

impl Rig {
    pub async fn new() -> Rig {
        let endpoints = LocalEndpoints::shared();
        let sdk = stack::sdk(&endpoints).await;
        let table = stack::unique_table("notifier");
        stack::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
        let subscribers =
            Subscribers::create(&sdk, &format!("{table}-topic"), &format!("{table}-")).await;
        Rig {
            stream: StreamReader::new(&sdk, &table),
            endpoints,
            table,
            subscribers,
            personal_data: false,
        }
    }

    pub async fn deliver(&self, kind: Kind, body: &str) -> String {
        let hook = webhook(kind, &self.endpoints, &self.table).await;
        invoke(&hook, &event(kind, body, QAPLA_IP)).await.outcome
    }

    /// The stream records written since the last call, as the Lambda event the notifier gets.
    pub async fn stream_event(&mut self) -> StreamEvent {
        self.stream.event().await
    }

    /// The notifier with the default settings, publishing through `endpoints`.
    pub async fn notifier(&self, endpoints: &LocalEndpoints) -> StreamNotifier<SnsPublisher> {
        let sns = aws_sdk_sns::Client::new(&stack::sdk(endpoints).await);
        StreamNotifier {
            notifier: Notifier {
                alerts: AlertRule::default(),
                timezone: qapla::dates::zone("Europe/Rome").expect("zone"),
                personal_data: self.personal_data,
            },
            publisher: SnsPublisher::new(sns, &self.subscribers.topic_arn),
        }
    }

    /// What reached the unfiltered queue, emptying it.
    pub async fn drain_all(&self) -> Vec<Value> {
        self.subscribers.drain(&self.subscribers.all_queue).await
    }

    /// What reached the alerts queue, emptying it.
    pub async fn drain_alerts(&self) -> Vec<Value> {
        self.subscribers.drain(&self.subscribers.alert_queue).await
    }

    /// Runs the notifier over the new stream records; returns the failures it reported.
    pub async fn notify(&mut self) -> usize {
        let event = self.stream_event().await;
        let notifier = self.notifier(&self.endpoints.clone()).await;
        notifier.handle(&event).await.batch_item_failures.len()
    }
}
