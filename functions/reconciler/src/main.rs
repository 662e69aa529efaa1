//! The reconciler: asks Qapla's API for the status changes its webhooks could not deliver and
//! records them as a webhook would; see `qapla::aws::reconciler::serve_reconciler`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::reconciler::Error> {
    qapla::aws::reconciler::serve_reconciler().await
}
