//! The inbox drain: on its schedule, records the deliveries the table could not take; see
//! `qapla::aws::lambda::serve_drain`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::lambda::Error> {
    qapla::aws::lambda::serve_drain().await
}
