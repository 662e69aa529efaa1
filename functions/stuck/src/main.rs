//! The stuck check: on its schedule, alerts each open shipment stuck past its threshold once per
//! episode; see `qapla::aws::lambda::serve_stuck`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::lambda::Error> {
    qapla::aws::lambda::serve_stuck().await
}
