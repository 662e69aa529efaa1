//! One of the four functions, chosen by its first argument (`shipments`, `returns`, `orders`,
//! `notifier`), wired exactly as `functions/*/src/main.rs` wire it: the log tests run it as a
//! process against a Runtime API of their own and read what it prints.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla::aws::lambda::Error> {
    use qapla::aws::lambda::{serve_notifier, serve_webhook};
    use qapla::Kind;
    match std::env::args().nth(1).as_deref() {
        Some("shipments") => serve_webhook(Kind::Shipment).await,
        Some("returns") => serve_webhook(Kind::Return).await,
        Some("orders") => serve_webhook(Kind::Order).await,
        Some("notifier") => serve_notifier().await,
        other => {
            Err(format!("usage: function shipments|returns|orders|notifier (got {other:?})").into())
        }
    }
}
