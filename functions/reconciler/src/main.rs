//! The reconciler: asks Qapla's API for the status changes its webhooks could not deliver and
//! records them as a webhook would.

use qapla_aws::lambda::init_logging;
use qapla_aws::reconciler::{serve_reconciler, Error, ReconcilerFunction};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_logging();
    // RecoverConfig from the environment; the channels' API keys from SSM; the DynamoDB store,
    // Qapla's API client and the clock.
    let function = ReconcilerFunction::from_env().await?;
    // Each invocation: one run from the checkpoints (or the span it names), its summary answered.
    serve_reconciler(function).await
}
