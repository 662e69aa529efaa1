//! The stuck check: on its schedule, alerts each open shipment stuck past its threshold once per
//! episode.

use qapla_aws::lambda::{self, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    // StuckConfig from the environment; the DynamoDB reader (the open index) and episodes, and
    // the topic and bus, each sent once through the table's claims.
    let check = lambda::stuck_from_env().await?;
    // Each scheduled invocation: one run of the check, answered with its summary.
    lambda::serve_stuck(check).await
}
