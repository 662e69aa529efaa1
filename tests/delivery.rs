//! Deliveries through the real webhook handler over a DynamoDB store: one, until answered, or
//! many at once in a shuffled order.

use crate::events::{event, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::stack::dynamo;
use qapla::config::WebhookConfig;
use qapla::store::{Archive, Store};
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::s3::S3Archive;
use std::sync::Arc;

/// The webhook configuration the sample events were made for.
pub fn webhook_config(table: &str) -> WebhookConfig {
    qapla::fixtures::demo_config(table)
}

/// A webhook function's pipeline as the functions build it: the table, and the archive bucket
/// where one is configured.
pub type Hook = Webhook<DynamoStore, Option<S3Archive>>;

/// A webhook function's real pipeline over a DynamoDB store at `endpoints`, without a bucket.
pub async fn webhook(kind: Kind, endpoints: &LocalEndpoints, table: &str) -> Hook {
    let store = DynamoStore::new(dynamo(endpoints).await, table);
    Webhook::new(kind, webhook_config(table).settings, store, None)
}

/// What the real handler made of an API Gateway event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    pub status: u16,
    pub body: String,
    pub outcome: String,
}

/// Invokes the real HTTP handler with an API Gateway event.
pub async fn invoke<S: Store, A: Archive>(hook: &Webhook<S, A>, event: &str) -> Invoked {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway event");
    let answer = qapla_aws::lambda::answer(hook, &request).await;
    let response = qapla_aws::lambda::response(&answer);
    Invoked {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
        outcome: answer.outcome,
    }
}

/// Delivers until OK, as Qapla's retries would: a 503 is retried, anything else is returned.
pub async fn deliver(hook: &Hook, body: &str) -> String {
    for _ in 0..20 {
        let got = invoke(hook, &event(Kind::Shipment, body, QAPLA_IP)).await;
        if got.status != 503 {
            return got.outcome;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a delivery kept failing with 503");
}

/// Delivers every body at once, in an order shuffled by `seed`, each until it is answered (503s
/// retried, as Qapla' would).
pub async fn deliver_concurrently(hook: Arc<Hook>, bodies: &[String], seed: u64) {
    let mut order = bodies.to_vec();
    shuffle(&mut order, seed);
    let tasks: Vec<_> = order
        .into_iter()
        .map(|body| {
            let hook = hook.clone();
            tokio::spawn(async move { deliver(&hook, &body).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("delivery task");
    }
}

/// Shuffles in place, the same way for the same seed (xorshift), so a failing order can be
/// replayed.
pub fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}
