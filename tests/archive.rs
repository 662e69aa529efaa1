//! The archive bucket in moto, webhooks that keep large payloads and quarantined deliveries in it,
//! and a switch that takes the store away between two transactions of one delivery.

use crate::local_aws::LocalEndpoints;
use crate::proxy::Proxy;
use crate::stack::{sdk, REGION};
use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::s3::S3Archive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An S3 client on moto. The SDK's default timeouts, as for the tests' DynamoDB client: the local
/// servers serve every test at once, slower than the bounds the functions set for AWS (a test of
/// its own checks those).
pub async fn s3(endpoints: &LocalEndpoints) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk(endpoints).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates a bucket in moto, in the tests' region.
pub async fn create_bucket(endpoints: &LocalEndpoints, name: &str) -> aws_sdk_s3::Client {
    let client = s3(endpoints).await;
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

/// A webhook function's real pipeline over the table and the archive bucket at `endpoints`.
pub async fn webhook(
    kind: Kind,
    endpoints: &LocalEndpoints,
    table: &str,
    bucket: &str,
) -> crate::delivery::Hook {
    let store = DynamoStore::new(crate::stack::dynamo(endpoints).await, table);
    let archive = S3Archive::new(s3(endpoints).await, bucket);
    Webhook::new(
        kind,
        crate::delivery::webhook_config(table).settings,
        store,
        Some(archive),
    )
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

/// A DynamoDB client through `proxy` (in front of DynamoDB Local) that takes the store away
/// before its `n`th transaction.
pub async fn client_down_before(proxy: Arc<Proxy>, n: usize) -> aws_sdk_dynamodb::Client {
    let base =
        crate::stack::dynamo(&LocalEndpoints::shared().with_dynamodb(proxy.endpoint())).await;
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

/// DynamoDB's answer to a transaction of two items cancelled because another transaction holds
/// the first one, as it sends it.
pub const TRANSACTION_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;

/// Which TransactWriteItems requests a [`Redirected`] client sends to its endpoint.
#[derive(Debug)]
pub enum Which {
    /// The first `n`, as DynamoDB cancels a transaction for `TransactionConflict` when two
    /// writers race for a shipment (DynamoDB Local applies them one at a time and never does).
    First(usize),
    /// Each whose body holds the marker: one delivery that keeps failing while the table answers
    /// everything else, as a transaction too large for its bounds does.
    Holding(String),
}

/// Sends some TransactWriteItems requests of a client to `endpoint` (one answering as DynamoDB
/// does in the case the test makes) instead of DynamoDB Local: what went there was never applied;
/// the rest goes to the table. `seen` counts the transactions sent.
#[derive(Debug)]
pub struct Redirected {
    pub endpoint: String,
    pub which: Which,
    pub seen: AtomicUsize,
}

impl Redirected {
    /// A DynamoDB client at `endpoints` whose transactions `which` get `status` and `answer`, with
    /// `retries` (the functions' own, or the SDK's).
    async fn client(
        endpoints: &LocalEndpoints,
        which: Which,
        status: u16,
        answer: &str,
        retries: Option<aws_sdk_dynamodb::config::retry::RetryConfig>,
    ) -> (aws_sdk_dynamodb::Client, Arc<Redirected>) {
        let redirected = Arc::new(Redirected {
            endpoint: crate::proxy::answering(status, answer.to_owned()),
            which,
            seen: AtomicUsize::new(0),
        });
        let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk(endpoints).await)
            .interceptor(Shared(Arc::clone(&redirected)));
        if let Some(retries) = retries {
            config = config.retry_config(retries);
        }
        (
            aws_sdk_dynamodb::Client::from_conf(config.build()),
            redirected,
        )
    }
}

/// The interceptor, sharing its count with the test.
#[derive(Debug)]
struct Shared(Arc<Redirected>);

impl Intercept for Shared {
    fn name(&self) -> &'static str {
        "Redirected"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"));
        if !transaction {
            return Ok(());
        }
        let nth = self.0.seen.fetch_add(1, Ordering::SeqCst);
        let redirect = match &self.0.which {
            Which::First(n) => nth < *n,
            Which::Holding(marker) => request
                .body()
                .bytes()
                .is_some_and(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes())),
        };
        if redirect {
            request.set_uri(format!("{}/", self.0.endpoint))?;
        }
        Ok(())
    }
}

/// A DynamoDB client on the shared DynamoDB Local whose first `n` transactions are cancelled for
/// a conflict, and its count of transactions.
pub async fn client_conflicting_first(n: usize) -> (aws_sdk_dynamodb::Client, Arc<Redirected>) {
    Redirected::client(
        &LocalEndpoints::shared(),
        Which::First(n),
        400,
        TRANSACTION_CONFLICT,
        None,
    )
    .await
}

/// A DynamoDB client at `endpoints`, with the functions' retries, whose transactions holding
/// `marker` fail as DynamoDB's internal errors; every other call reaches the table.
pub async fn client_failing_transactions_holding(
    endpoints: &LocalEndpoints,
    marker: &str,
) -> aws_sdk_dynamodb::Client {
    let internal = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"refused by the test"}"#;
    Redirected::client(
        endpoints,
        Which::Holding(marker.to_owned()),
        500,
        internal,
        Some(qapla_aws::bounds::bounded_retries()),
    )
    .await
    .0
}
