//! `qapla quarantine` and `qapla inbox`: the deliveries the bucket keeps instead of the table.
//! Quarantined ones wait for an operator (content that does not validate, a refusal of the
//! table); the inbox's wait for the table, and the drain records them by itself. `retry` takes
//! them through the webhooks' own path ([`Webhook::reingest`]) and removes each once recorded.

use super::{Args, CliError, Deployment};
use clap::Subcommand;
use qapla::archive::{Kept, Place};
use qapla::auth::Channels;
use qapla::kind::Kind;
use qapla::store::Archive;
use qapla::webhook::{Mode, Outcome, Settings, Webhook};
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::s3::S3Archive;
use serde_json::{json, Value};

/// Most objects a listing reads.
const LIMIT: usize = 10_000;

#[derive(Debug, Subcommand)]
pub(super) enum Verb {
    /// Every kept delivery, oldest first: its key, webhook, channel, when received, why kept.
    List {
        /// Only this webhook's (shipments, returns or orders).
        #[arg(long)]
        webhook: Option<String>,
        /// Only this channel's.
        #[arg(long)]
        channel: Option<String>,
    },
    /// One kept delivery whole, by key (its body holds the customer's personal data).
    Show { key: String },
    /// Records kept deliveries again through the webhooks' path (after a fix, or once the
    /// table answers) and removes each one recorded; what is still wrong is said and kept.
    Retry {
        /// The keys to retry (as `list` prints them).
        keys: Vec<String>,
        /// Every kept delivery instead.
        #[arg(long, conflicts_with = "keys")]
        all: bool,
        /// The channels, as the stack's Channels parameter (default: the stack's).
        #[arg(long)]
        channels: Option<String>,
    },
}

/// Runs `verb` on the deliveries kept in `place`.
pub(super) async fn run(
    args: &Args,
    deployment: &Deployment,
    place: Place,
    bucket: Option<&str>,
    verb: &Verb,
    out: &mut String,
) -> Result<(), CliError> {
    let bucket =
        match (
            bucket,
            deployment
                .outputs
                .get("ArchiveBucketName")
                .map(String::as_str),
        ) {
            (Some(b), _) | (None, Some(b)) => b.to_owned(),
            (None, None) => return Err(CliError::Usage(
                "which bucket? Give --stack NAME (its ArchiveBucketName output) or --bucket NAME"
                    .into(),
            )),
        };
    let archive = S3Archive::new(qapla_aws::s3::client(&deployment.sdk), &bucket);
    match verb {
        Verb::List { webhook, channel } => {
            if let Some(w) = webhook {
                Kind::parse(w).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--webhook {w:?}: one of shipments, returns, orders"
                    ))
                })?;
            }
            let mut kept = listed(&archive, place, &bucket).await?;
            kept.retain(|(_, k)| {
                webhook.as_deref().is_none_or(|w| k.webhook.as_str() == w)
                    && channel.as_deref().is_none_or(|c| k.channel == c)
            });
            print_list(place, &kept, args.json, out);
            Ok(())
        }
        Verb::Show { key } => {
            let kept = one(&archive, place, key).await?;
            let mut doc: Value = serde_json::from_slice(&kept.bytes()).unwrap_or_default();
            doc["key"] = json!(key);
            doc["place"] = json!(place.as_str());
            out.push_str(&if args.json {
                doc.to_string()
            } else {
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            });
            out.push('\n');
            Ok(())
        }
        Verb::Retry {
            keys,
            all,
            channels,
        } => {
            let keys: Vec<String> = match (all, keys.is_empty()) {
                (true, _) => listed(&archive, place, &bucket)
                    .await?
                    .into_iter()
                    .map(|(key, _)| key)
                    .collect(),
                (false, false) => keys.clone(),
                (false, true) => {
                    return Err(CliError::Usage(
                        "which deliveries? Give their keys (from `list`) or --all".into(),
                    ))
                }
            };
            let webhook = pipeline(args, deployment, archive, channels.as_deref())?;
            retry(&webhook, place, &keys, args.json, out).await
        }
    }
}

/// The webhooks' pipeline over the deployment's table and bucket, with its channels, zone and
/// retention.
fn pipeline(
    args: &Args,
    deployment: &Deployment,
    archive: S3Archive,
    channels: Option<&str>,
) -> Result<Webhook<DynamoStore, S3Archive>, CliError> {
    let table = deployment.table(args)?;
    let spec = channels
        .map(str::to_owned)
        .or_else(|| deployment.parameters.get("Channels").cloned())
        .ok_or_else(|| {
            CliError::Usage(
                "which channels? Give --stack NAME (its Channels parameter) or --channels ENTRIES"
                    .into(),
            )
        })?;
    let channels =
        Channels::parse(&spec).map_err(|e| CliError::Usage(format!("the channels: {e}")))?;
    let days = |name: &str, default: u32| -> Result<u32, CliError> {
        deployment.parameters.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| CliError::Failed(format!("the stack's {name} is not a number: {v}")))
        })
    };
    let settings = Settings {
        channels,
        allowlist: qapla::auth::Allowlist::default(),
        timezone: deployment.timezone(args)?,
        max_body_bytes: qapla::config::DEFAULT_MAX_BODY_BYTES,
        history_days: days("HistoryDays", qapla::config::DEFAULT_HISTORY_DAYS)?,
        return_order_days: days("ReturnOrderDays", qapla::config::DEFAULT_RETURN_ORDER_DAYS)?,
    };
    let store = DynamoStore::new(qapla_aws::dynamo::client(&deployment.sdk), table);
    Ok(Webhook::new(Kind::Shipment, settings, store, archive))
}

/// Every delivery kept in `place`, oldest first, with its key.
async fn listed(
    archive: &S3Archive,
    place: Place,
    bucket: &str,
) -> Result<Vec<(String, Kept)>, CliError> {
    let objects = archive
        .list(place.prefix(), LIMIT)
        .await
        .map_err(|e| CliError::Failed(format!("cannot list bucket {bucket}: {e}")))?;
    let mut kept = Vec::with_capacity(objects.len());
    for object in objects {
        match one(archive, place, &object.key).await {
            Ok(k) => kept.push((object.key, k)),
            // Removed meanwhile (the drain): nothing to list.
            Err(CliError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    kept.sort_by(|a, b| (&a.1.received_at, &a.0).cmp(&(&b.1.received_at, &b.0)));
    Ok(kept)
}

async fn one(archive: &S3Archive, place: Place, key: &str) -> Result<Kept, CliError> {
    if !key.starts_with(place.prefix()) {
        return Err(CliError::Usage(format!(
            "{key}: not a key of the {} (they start with {})",
            place.as_str(),
            place.prefix()
        )));
    }
    let bytes = archive
        .get(key)
        .await
        .map_err(|e| CliError::Failed(format!("cannot read {key}: {e}")))?
        .ok_or_else(|| CliError::NotFound(format!("no object {key}")))?;
    Kept::read(place, &bytes).map_err(|e| CliError::Failed(format!("{key}: {e}")))
}

async fn retry(
    webhook: &Webhook<DynamoStore, S3Archive>,
    place: Place,
    keys: &[String],
    json_out: bool,
    out: &mut String,
) -> Result<(), CliError> {
    // The inbox's are recorded as the drain records them; a quarantined one is not kept again.
    let mode = match place {
        Place::Inbox => Mode::Drain,
        Place::Quarantine => Mode::Retry,
    };
    let mut results = Vec::new();
    let mut left = 0;
    for key in keys {
        let (outcome, done) = match one(&webhook.archive, place, key).await {
            Err(e) => (format!("unreadable: {e}"), false),
            Ok(kept) => match webhook.reingest(&kept, mode).await {
                Ok(o @ (Outcome::Recorded(_) | Outcome::Quarantined { .. })) => {
                    match webhook.archive.delete(key).await {
                        Ok(()) => (o.as_string(), true),
                        Err(e) => (format!("{}, not removed: {e}", o.as_string()), false),
                    }
                }
                Ok(o @ Outcome::Deferred) => (o.as_string(), false),
                Err(rejection) => (format!("{}: {rejection}", rejection.outcome()), false),
            },
        };
        left += usize::from(!done);
        results.push(json!({"key": key, "outcome": outcome, "removed": done}));
    }
    if json_out {
        out.push_str(&json!({"place": place.as_str(), "retried": results}).to_string());
        out.push('\n');
    } else {
        for r in &results {
            out.push_str(&format!(
                "{}  {}\n",
                r["key"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "{} recorded and removed, {left} still kept.\n",
            results.len() - left
        ));
    }
    if left > 0 {
        return Err(CliError::Failed(format!(
            "{left} of {} could not be recorded: see above",
            results.len()
        )));
    }
    Ok(())
}

fn print_list(place: Place, kept: &[(String, Kept)], json_out: bool, out: &mut String) {
    if json_out {
        let rows: Vec<Value> = kept
            .iter()
            .map(|(key, k)| {
                json!({
                    "key": key,
                    "webhook": k.webhook.as_str(),
                    "endpoint": k.endpoint.as_str(),
                    "channel": k.channel,
                    "receivedAt": k.received_at,
                    "reason": k.reason,
                })
            })
            .collect();
        out.push_str(&json!({"place": place.as_str(), "kept": rows}).to_string());
        out.push('\n');
        return;
    }
    if kept.is_empty() {
        out.push_str(&format!("Nothing in the {}.\n", place.as_str()));
        return;
    }
    out.push_str(&format!(
        "{:<22} {:<10} {:<10} {:<40} {}\n",
        "received", "webhook", "channel", "reason", "key"
    ));
    for (key, k) in kept {
        let reason: String = k.reason.chars().take(40).collect();
        let webhook = if k.endpoint == k.webhook {
            k.webhook.as_str().to_owned()
        } else {
            format!("{}<-{}", k.webhook, k.endpoint)
        };
        out.push_str(&format!(
            "{:<22} {:<10} {:<10} {:<40} {key}\n",
            k.received_at, webhook, k.channel, reason
        ));
    }
    out.push_str(&format!("{} in the {}.\n", kept.len(), place.as_str()));
}
