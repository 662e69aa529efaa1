//! The inbox drain: on its schedule, records the deliveries the table could not take.

use qapla_aws::lambda::{self, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    // The webhooks' own pipeline from the environment (WebhookConfig): the DynamoDB store and
    // the S3 bucket whose inbox holds the deliveries (BUCKET_NAME, required here).
    let webhook = lambda::drain_from_env().await?;
    // Each scheduled invocation: one run over the inbox, answered with its summary.
    lambda::serve_drain(webhook).await
}
