//! The notifier: reads the table's stream and publishes status changes, returns and orders to SNS;
//! see `qapla::aws::lambda::serve_notifier`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::lambda::Error> {
    qapla::aws::lambda::serve_notifier().await
}
