//! The notifier: reads the table's stream and publishes status changes, returns and orders to SNS.

use qapla_aws::lambda::{self, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    // NotifierConfig from the environment; the SNS topic, the EventBridge bus when
    // EVENT_BUS_NAME names one, and the table's claims so each target gets a notice once.
    let notifier = lambda::notifier_from_env().await?;
    // Each batch of stream records: decided, rendered and published in order.
    lambda::serve_notifier(notifier).await
}
