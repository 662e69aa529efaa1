//! The archive bucket in moto, webhooks that keep large payloads and quarantined deliveries in it,
//! and a switch that takes the store away between two transactions of one delivery.

use crate::proxy::Proxy;
use crate::stack::{sdk, REGION};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use qapla::aws::dynamo::DynamoStore;
use qapla::aws::s3::S3Archive;
use qapla::webhook::Webhook;
use qapla::Kind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An S3 client on moto. The SDK's default timeouts, as for the tests' DynamoDB client: moto
/// serves one request at a time to every test at once, far slower than the bounds the functions
/// set for AWS (a test of its own checks those).
pub async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk(endpoint).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates a bucket in moto, in the tests' region.
pub async fn create_bucket(endpoint: &str, name: &str) -> aws_sdk_s3::Client {
    let client = s3(endpoint).await;
    client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("create the bucket in moto");
    client
}

/// The keys of a bucket's objects under `prefix`.
pub async fn keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list the bucket")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// A webhook function's real pipeline over the table and the archive bucket at `endpoint`.
pub async fn webhook(
    kind: Kind,
    endpoint: &str,
    table: &str,
    bucket: &str,
) -> Webhook<DynamoStore> {
    let store = DynamoStore::new(crate::stack::dynamo(endpoint).await, table)
        .with_archive(S3Archive::new(s3(endpoint).await, bucket));
    Webhook::new(kind, crate::delivery::webhook_config(table).settings, store)
}

/// Takes the store away (through its proxy) just before the `n`th TransactWriteItems request
/// goes out, as an outage between two transactions of one delivery would.
pub struct DownBeforeTransaction {
    pub proxy: Arc<Proxy>,
    pub n: usize,
    pub seen: AtomicUsize,
}

impl std::fmt::Debug for DownBeforeTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownBeforeTransaction")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl Intercept for DownBeforeTransaction {
    fn name(&self) -> &'static str {
        "DownBeforeTransaction"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        if target.ends_with(".TransactWriteItems")
            && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.n
        {
            self.proxy.set_down(true);
        }
        Ok(())
    }
}

/// A DynamoDB client through `proxy` that takes the store away before its `n`th transaction.
pub async fn client_down_before(proxy: Arc<Proxy>, n: usize) -> aws_sdk_dynamodb::Client {
    let base = crate::stack::dynamo(&proxy.endpoint()).await;
    let config = base
        .config()
        .to_builder()
        .interceptor(DownBeforeTransaction {
            proxy,
            n,
            seen: AtomicUsize::new(0),
        })
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
