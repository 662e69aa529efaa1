//! The shipments webhook: Qapla' POSTs here; see `qapla::aws::lambda::serve_webhook`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::lambda::Error> {
    qapla::aws::lambda::serve_webhook(qapla::Kind::Shipment).await
}
