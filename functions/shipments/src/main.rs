//! The shipments webhook: Qapla' POSTs here.

use qapla::Kind;
use qapla_aws::lambda::{self, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    // WebhookConfig from the environment; the DynamoDB store, with the S3 archive when
    // BUCKET_NAME names one; the webhook's pipeline over them.
    let webhook = lambda::webhook_from_env(Kind::Shipment).await?;
    // Each API Gateway request through it, answered {"result":"OK"} or {"result":"KO"}.
    lambda::serve_webhook(webhook).await
}
