//! One of the four functions, chosen by its first argument (`shipments`, `returns`, `orders`,
//! `notifier`), wired exactly as `functions/*/src/main.rs` wire it: the log tests run it as a
//! process against a Runtime API of their own and read what it prints.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qapla_aws::lambda::Error> {
    use qapla::Kind;
    use qapla_aws::lambda::{
        init_logging, notifier_from_env, serve_notifier, serve_webhook, webhook_from_env,
    };
    init_logging();
    match std::env::args().nth(1).as_deref() {
        Some("shipments") => serve_webhook(webhook_from_env(Kind::Shipment).await?).await,
        Some("returns") => serve_webhook(webhook_from_env(Kind::Return).await?).await,
        Some("orders") => serve_webhook(webhook_from_env(Kind::Order).await?).await,
        Some("notifier") => serve_notifier(notifier_from_env().await?).await,
        other => {
            Err(format!("usage: function shipments|returns|orders|notifier (got {other:?})").into())
        }
    }
}
