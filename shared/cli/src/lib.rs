//! The `qapla` command line: asks the table (timeline, order, stuck), re-publishes a window's
//! notifications (replay), and prints channel entries (channel). The queries and their meaning
//! are the core's ([`qapla::read`]); this module finds the table, reads and prints.
//!
//! AWS is reached with the AWS CLI's own credential chain (environment, profiles, SSO,
//! `credential_process`), honouring `AWS_ENDPOINT_URL`, `AWS_REGION` and `AWS_PROFILE`.

mod kept;
mod printable;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand};
use qapla::archive::Place;
use qapla::auth::{valid_channel_name, ApiKey, Channel, Channels, OrderTrigger};
use qapla::dates::iso;
use qapla::notify::{AlertRule, EventType, Notice, Notifier, Publisher};
use qapla::read::{self, ReadError, Reader, StatusFilter};
use qapla::table::{ItemKind, ShipmentState, PK, SK};
use qapla_aws::reader::DynamoReader;
use qapla_aws::sns::SnsPublisher;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "qapla",
    version,
    about = "Ask the qapla-webhooks table: shipment timelines, orders, stuck shipments; replay notifications; print channel entries.",
    after_help = "The table and topic come from --stack (its outputs) unless --table / --topic-arn say otherwise. \
AWS credentials and region as for the AWS CLI: AWS_PROFILE, AWS_REGION, aws sso login, AWS_ENDPOINT_URL."
)]
struct Args {
    /// The CloudFormation stack of the deployment: its outputs name the table and the topic,
    /// its parameters the channels, the time zone and the alerting statuses.
    #[arg(long, global = true)]
    stack: Option<String>,
    /// The DynamoDB table (overrides the stack's TableName output).
    #[arg(long, global = true)]
    table: Option<String>,
    /// The AWS region (overrides AWS_REGION and the profile's region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Print one JSON document on standard output instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The zone times are read and printed in (default: the stack's TimeZone, else Europe/Rome).
    #[arg(long, global = true)]
    timezone: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A shipment's state and whole history, oldest first.
    Timeline {
        /// The courier's tracking number.
        tracking: String,
        /// Only the shipment of this courier (Qapla' code, e.g. DHL).
        #[arg(long)]
        courier: Option<String>,
        /// Only the shipment of this channel.
        #[arg(long)]
        channel: Option<String>,
    },
    /// An order with its shipments and returns.
    Order {
        /// The merchant's order reference.
        reference: String,
        /// The channel (default: every channel of the stack).
        #[arg(long)]
        channel: Vec<String>,
    },
    /// Open shipments whose last change is older than N days, oldest first.
    // `qapla stuck` as users know it; what it lists is `read::Idle`.
    Stuck {
        /// Days since the last change.
        #[arg(long, default_value_t = 3)]
        days: u32,
        /// Only this status: an id, or id/detail (6/1 is EXCEPTION / STOCK).
        #[arg(long)]
        status: Option<String>,
        /// The channel (default: every channel of the stack).
        #[arg(long)]
        channel: Vec<String>,
    },
    /// Re-publishes the notifications of the changes received in a window, in order, marked
    /// with the attribute replay=true; the email and SMS subscriptions keep them out unless
    /// --alert-subscribers is given.
    Replay {
        /// Start of the window: YYYY-MM-DD[ HH:MM[:SS]] in the zone, or RFC 3339.
        #[arg(long)]
        since: String,
        /// End of the window, excluded (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
        /// Only these events (shipment.status_changed, return.requested, order.created,
        /// order.transmitted); repeatable.
        #[arg(long = "event")]
        events: Vec<String>,
        /// List what would be sent, send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send the replayed alerts to the merchant's email and SMS subscribers too (their
        /// filter policies keep replays out otherwise).
        #[arg(long)]
        alert_subscribers: bool,
        /// Most notifications published per second.
        #[arg(long, default_value_t = 10)]
        rate: u32,
        /// The SNS topic (overrides the stack's TopicArn output).
        #[arg(long)]
        topic_arn: Option<String>,
        /// Statuses that alert, as the stack's AlertStatuses (default: the stack's, else 5,8,6).
        #[arg(long)]
        alert_statuses: Option<String>,
    },
    /// Deliveries answered OK and kept in the bucket instead of the table, for an operator:
    /// content that does not validate, or that the table refused for good.
    Quarantine {
        /// The archive bucket (overrides the stack's ArchiveBucketName output).
        #[arg(long, global = true)]
        bucket: Option<String>,
        #[command(subcommand)]
        verb: kept::Verb,
    },
    /// Deliveries answered OK while the table could not take them, waiting for the drain.
    Inbox {
        /// The archive bucket (overrides the stack's ArchiveBucketName output).
        #[arg(long, global = true)]
        bucket: Option<String>,
        #[command(subcommand)]
        verb: kept::Verb,
    },
    /// Prints the Channels entry of a channel; its private API key is read from standard input.
    Channel {
        /// The channel's name: letters, digits, '.', '_' or '-'.
        name: String,
        /// The orders webhook's trigger of this channel.
        #[arg(value_parser = ["created", "transmitted"])]
        trigger: Option<String>,
    },
}

/// What went wrong, said so that the user knows what to fix.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NotFound(_) | CliError::Failed(_) => 1,
        }
    }
}

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("qapla: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = String::new();
    let result = runtime.block_on(run(args, &mut out));
    // Every command writes its output here, and its error below: the one place texts from the
    // table and the bucket leave the process, so the one place they are made printable.
    print!("{}", printable::printable(&out));
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qapla: {}", printable::printable(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The deployment a command works on.
struct Deployment {
    sdk: aws_config::SdkConfig,
    region: String,
    /// The stack's outputs and parameters, when `--stack` was given.
    outputs: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
    stack: Option<String>,
}

impl Deployment {
    async fn open(args: &Args) -> Result<Deployment, CliError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(
            qapla_aws::http_client(aws_smithy_http_client::tls::TlsContext::default()),
        );
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            CliError::Usage(
                "no AWS region: give --region (e.g. eu-south-1), or set AWS_REGION or a region in your AWS profile".into(),
            )
        })?;
        check_credentials(&sdk).await?;
        let mut deployment = Deployment {
            sdk,
            region,
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
            stack: args.stack.clone(),
        };
        if let Some(stack) = &args.stack {
            deployment.describe(stack).await?;
        }
        Ok(deployment)
    }

    async fn describe(&mut self, stack: &str) -> Result<(), CliError> {
        let client = aws_sdk_cloudformation::Client::new(&self.sdk);
        let answer = client
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_cloudformation::error::ProvideErrorMetadata;
                if e.message().is_some_and(|m| m.contains("does not exist")) {
                    CliError::NotFound(format!(
                        "no stack {stack} in region {}: check --stack and --region (the deploy printed both)",
                        self.region
                    ))
                } else {
                    CliError::Failed(format!(
                        "cannot read stack {stack}: {}",
                        aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                    ))
                }
            })?;
        let Some(found) = answer.stacks().first() else {
            return Err(CliError::NotFound(format!(
                "no stack {stack} in region {}",
                self.region
            )));
        };
        for o in found.outputs() {
            if let (Some(k), Some(v)) = (o.output_key(), o.output_value()) {
                self.outputs.insert(k.to_owned(), v.to_owned());
            }
        }
        for p in found.parameters() {
            if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                self.parameters.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(())
    }

    fn table(&self, args: &Args) -> Result<String, CliError> {
        if let Some(t) = &args.table {
            return Ok(t.clone());
        }
        match (&self.stack, self.outputs.get("TableName")) {
            (_, Some(t)) => Ok(t.clone()),
            (Some(stack), None) => Err(CliError::Failed(format!(
                "stack {stack} has no TableName output: is it a qapla-webhooks stack? Or give --table NAME"
            ))),
            (None, None) => Err(CliError::Usage(
                "which table? Give --stack NAME (the deployed stack, e.g. qapla-webhooks) or --table NAME".into(),
            )),
        }
    }

    /// The channels a command covers: those given, else the stack's `Channels` parameter.
    fn channels(&self, given: &[String]) -> Result<Vec<String>, CliError> {
        if !given.is_empty() {
            return Ok(given.to_vec());
        }
        let Some(spec) = self.parameters.get("Channels") else {
            return Err(CliError::Usage(
                "which channel? Give --channel NAME, or --stack NAME to take every channel of the deployment".into(),
            ));
        };
        Channels::parse(spec)
            .map(|c| c.iter().map(|ch| ch.name.clone()).collect())
            .map_err(|e| CliError::Failed(format!("the stack's Channels parameter: {e}")))
    }

    fn timezone(&self, args: &Args) -> Result<Tz, CliError> {
        let name = args
            .timezone
            .clone()
            .or_else(|| self.parameters.get("TimeZone").cloned())
            .unwrap_or_else(|| qapla::config::DEFAULT_TIMEZONE.to_owned());
        qapla::dates::zone(&name).ok_or_else(|| {
            CliError::Usage(format!(
                "--timezone {name:?} is not a time zone name such as Europe/Rome"
            ))
        })
    }
}

/// Fails early, and plainly, when the credential chain finds nothing.
async fn check_credentials(sdk: &aws_config::SdkConfig) -> Result<(), CliError> {
    use aws_sdk_dynamodb::config::ProvideCredentials;
    let none = || {
        CliError::Usage(
            "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into(),
        )
    };
    let provider = sdk.credentials_provider().ok_or_else(none)?;
    provider.provide_credentials().await.map_err(|e| match e {
        aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_) => none(),
        other => CliError::Usage(format!(
            "AWS credentials could not be loaded ({}): check your AWS profile, or run `aws sso login`",
            aws_sdk_dynamodb::error::DisplayErrorContext(&other)
        )),
    })?;
    Ok(())
}

fn read_failed(e: ReadError, table: &str, region: &str) -> CliError {
    match e {
        ReadError::NoTable(_) => CliError::NotFound(format!(
            "table {table} not found in region {region}: check --table, --stack and --region"
        )),
        other => CliError::Failed(other.to_string()),
    }
}

async fn run(args: Args, out: &mut String) -> Result<(), CliError> {
    if let Command::Channel { name, trigger } = &args.command {
        return channel(name, trigger.as_deref(), args.json, out);
    }
    let deployment = Deployment::open(&args).await?;
    match &args.command {
        Command::Quarantine { bucket, verb } => {
            return kept::run(
                &args,
                &deployment,
                Place::Quarantine,
                bucket.as_deref(),
                verb,
                out,
            )
            .await
        }
        Command::Inbox { bucket, verb } => {
            return kept::run(
                &args,
                &deployment,
                Place::Inbox,
                bucket.as_deref(),
                verb,
                out,
            )
            .await
        }
        _ => {}
    }
    let table = deployment.table(&args)?;
    let tz = deployment.timezone(&args)?;
    let reader = DynamoReader::new(aws_sdk_dynamodb::Client::new(&deployment.sdk), &table);
    let failed = |e: ReadError| read_failed(e, &table, &deployment.region);
    match &args.command {
        Command::Timeline {
            tracking,
            courier,
            channel,
        } => {
            let mut found = Vec::new();
            for pk in reader.shipment_keys(tracking).await.map_err(failed)? {
                let items = reader.partition(&pk).await.map_err(failed)?;
                if let Some(t) = read::timeline(&items, tz).map_err(failed)? {
                    let wanted = courier.as_ref().is_none_or(|c| c == &t.state.courier)
                        && channel.as_ref().is_none_or(|c| c == &t.state.channel);
                    if wanted {
                        found.push(t);
                    }
                }
            }
            match found.len() {
                0 => Err(CliError::NotFound(format!(
                    "no shipment with tracking number {tracking}{} in table {table}",
                    filters(courier.as_deref(), channel.as_deref())
                ))),
                1 => {
                    print_timeline(&found[0], tz, args.json, out);
                    Ok(())
                }
                _ => {
                    let states: Vec<&ShipmentState> = found.iter().map(|t| &t.state).collect();
                    print_states("matches", &states, tz, args.json, out);
                    Err(CliError::NotFound(format!(
                        "{} shipments have tracking number {tracking}: say which with --courier or --channel",
                        found.len()
                    )))
                }
            }
        }
        Command::Order { reference, channel } => {
            let mut items = Vec::new();
            for c in deployment.channels(channel)? {
                items.extend(reader.by_reference(&c, reference).await.map_err(failed)?);
            }
            let view = read::order(&items).map_err(failed)?;
            if view.is_empty() {
                return Err(CliError::NotFound(format!(
                    "nothing for order {reference} in table {table}"
                )));
            }
            print_order(reference, &view, tz, args.json, out);
            Ok(())
        }
        Command::Stuck {
            days,
            status,
            channel,
        } => {
            let status = status
                .as_deref()
                .map(StatusFilter::parse)
                .transpose()
                .map_err(|e| CliError::Usage(format!("--status: {e}")))?;
            let now = Utc::now();
            let older = Duration::days(i64::from(*days));
            let cutoff = read::open_cutoff(now, older);
            let mut items = Vec::new();
            for c in deployment.channels(channel)? {
                items.extend(reader.open_before(&c, &cutoff).await.map_err(failed)?);
            }
            let idle = read::idle(&items, status, older, now).map_err(failed)?;
            print_idle(&idle, *days, tz, args.json, out);
            Ok(())
        }
        Command::Replay {
            since,
            until,
            channel,
            events,
            dry_run,
            alert_subscribers,
            rate,
            topic_arn,
            alert_statuses,
        } => {
            let since = instant(since, tz, "--since")?;
            let until = until
                .as_deref()
                .map(|u| instant(u, tz, "--until"))
                .transpose()?
                .unwrap_or_else(Utc::now);
            if since >= until {
                return Err(CliError::Usage("--since must be before --until".into()));
            }
            let wanted: Vec<EventType> = events
                .iter()
                .map(|e| {
                    read::event_type(e).ok_or_else(|| {
                        CliError::Usage(format!(
                            "--event {e:?}: one of shipment.status_changed, return.requested, order.created, order.transmitted"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            if *rate == 0 {
                return Err(CliError::Usage("--rate must be at least 1".into()));
            }
            let rules = alert_statuses
                .clone()
                .or_else(|| deployment.parameters.get("AlertStatuses").cloned());
            let notifier = Notifier {
                alerts: match rules {
                    Some(spec) => AlertRule::parse(&spec)
                        .map_err(|e| CliError::Usage(format!("alert statuses: {e}")))?,
                    None => AlertRule::default(),
                },
                timezone: tz,
                personal_data: deployment
                    .parameters
                    .get("AlertPersonalData")
                    .is_some_and(|v| v == "true"),
            };
            let topic = match (dry_run, topic_arn, deployment.outputs.get("TopicArn")) {
                (true, _, _) => None,
                (false, Some(t), _) | (false, None, Some(t)) => Some(t.clone()),
                (false, None, None) => return Err(CliError::Usage(
                    "which topic? Give --stack NAME or --topic-arn ARN (or --dry-run to list only)"
                        .into(),
                )),
            };
            let (since, until) = (iso(&since), iso(&until));
            let mut notices =
                replay_notices(&reader, &notifier, (&since, &until), channel, &wanted)
                    .await
                    .map_err(failed)?;
            if *alert_subscribers {
                notices = notices
                    .into_iter()
                    .map(|(at, n)| (at, read::alert_subscribers(n)))
                    .collect();
            }
            let publisher =
                topic.map(|t| SnsPublisher::new(aws_sdk_sns::Client::new(&deployment.sdk), t));
            replay(&notices, publisher.as_ref(), *rate, args.json, out).await
        }
        Command::Channel { .. } | Command::Quarantine { .. } | Command::Inbox { .. } => Ok(()),
    }
}

fn filters(courier: Option<&str>, channel: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(c) = courier {
        s.push_str(&format!(" for courier {c}"));
    }
    if let Some(c) = channel {
        s.push_str(&format!(" in channel {c}"));
    }
    s
}

/// A time given on the command line: RFC 3339, or a local date and time in the zone.
fn instant(value: &str, tz: Tz, flag: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    qapla::dates::to_utc(value, tz).map_err(|_| {
        CliError::Usage(format!(
            "{flag} {value:?}: give YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (in {}), or RFC 3339",
            tz.name()
        ))
    })
}

/// The notices of the window, in order, marked as replays.
async fn replay_notices<R: Reader>(
    reader: &R,
    notifier: &Notifier,
    (since, until): (&str, &str),
    channel: &Option<String>,
    wanted: &[EventType],
) -> Result<Vec<(String, Notice)>, ReadError> {
    let terminal = std::io::stderr().is_terminal();
    let progress = move |n: usize| {
        if terminal {
            eprint!("\rscanning the table for the window: {n} items read");
        }
    };
    let received = reader.received_between(since, until, &progress).await?;
    if terminal {
        eprintln!();
    }
    // A shipment's earlier history tells its previous status: read each touched one whole.
    let mut shipments = BTreeSet::new();
    let mut items = Vec::new();
    for item in received {
        let pk = item.get(PK).and_then(Value::as_str).unwrap_or_default();
        let sk = item.get(SK).and_then(Value::as_str).unwrap_or_default();
        match ItemKind::of(pk, sk) {
            Some(ItemKind::ShipmentState | ItemKind::ShipmentHistory) => {
                shipments.insert(pk.to_owned());
            }
            _ => items.push(item),
        }
    }
    for pk in &shipments {
        items.extend(reader.partition(pk).await?);
    }
    Ok(read::replay(&items, since, until)?
        .into_iter()
        .filter(|r| {
            channel
                .as_ref()
                .is_none_or(|c| c == read::channel_of(&r.change))
        })
        .map(|r| (r.received_at, read::mark_replay(notifier.notice(&r.change))))
        .filter(|(_, n)| wanted.is_empty() || wanted.contains(&n.event))
        .collect())
}

async fn replay<P: Publisher>(
    notices: &[(String, Notice)],
    publisher: Option<&P>,
    rate: u32,
    json_out: bool,
    out: &mut String,
) -> Result<(), CliError> {
    let pause = std::time::Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut sent = 0usize;
    let mut listed = Vec::new();
    for (i, (received_at, notice)) in notices.iter().enumerate() {
        if let Some(p) = publisher {
            if i > 0 {
                tokio::time::sleep(pause).await;
            }
            if let Err(e) = p.publish(notice).await {
                summary(notices, &listed, publisher.is_some(), json_out, out);
                return Err(CliError::Failed(format!(
                    "published {sent} of {}; then {e}. Run again with --since {received_at} to go on",
                    notices.len()
                )));
            }
            sent += 1;
        }
        listed.push(i);
    }
    summary(notices, &listed, publisher.is_some(), json_out, out);
    Ok(())
}

fn summary(
    notices: &[(String, Notice)],
    done: &[usize],
    published: bool,
    json_out: bool,
    out: &mut String,
) {
    if json_out {
        let list: Vec<Value> = done
            .iter()
            .map(|&i| {
                let (at, n) = &notices[i];
                let attributes: serde_json::Map<String, Value> = n
                    .attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect();
                json!({"receivedAt": at, "event": n.event.as_str(), "id": n.id,
                       "attributes": attributes, "document": n.document})
            })
            .collect();
        out.push_str(
            &json!({"dryRun": !published, "published": if published { done.len() } else { 0 },
                             "notices": list})
            .to_string(),
        );
        out.push('\n');
        return;
    }
    for &i in done {
        let (at, n) = &notices[i];
        out.push_str(&format!(
            "{at}  {:<24} {}\n",
            n.event.as_str(),
            n.email_subject
        ));
    }
    out.push_str(&if published {
        format!(
            "{} notifications published, marked replay=true\n",
            done.len()
        )
    } else {
        format!(
            "{} notifications would be published (dry run: nothing sent)\n",
            done.len()
        )
    });
}

fn channel(
    name: &str,
    trigger: Option<&str>,
    json_out: bool,
    out: &mut String,
) -> Result<(), CliError> {
    if !valid_channel_name(name) {
        return Err(CliError::Usage(
            "the channel name must be 1-64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    let trigger = match trigger {
        Some("transmitted") => OrderTrigger::Transmitted,
        _ => OrderTrigger::Created,
    };
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::Failed(format!("cannot read the key from standard input: {e}")))?;
    // A trailing newline from `echo` or a terminal is not part of the key.
    let key = input.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        return Err(CliError::Usage(
            "no key on standard input: pipe the channel's private API key in (make channel NAME=… asks for it)".into(),
        ));
    }
    let entry = Channel::entry(name, &ApiKey::new(key), trigger);
    if json_out {
        out.push_str(
            &json!({"channel": name, "trigger": trigger.as_str(), "entry": entry}).to_string(),
        );
    } else {
        out.push_str(&entry);
    }
    out.push('\n');
    Ok(())
}

// ---------------------------------------------------------------- printing

fn status_text(id: u32, detail: Option<u32>, name: &str) -> String {
    match detail {
        Some(d) => format!("{name} ({id}/{d})"),
        None => format!("{name} ({id})"),
    }
}

fn duration(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let text = if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 2 * 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    };
    if seconds < 0 {
        format!("-{text}")
    } else {
        text
    }
}

fn print_timeline(t: &read::Timeline, tz: Tz, json_out: bool, out: &mut String) {
    if json_out {
        out.push_str(&json!({"timezone": tz.name(), "timeline": t}).to_string());
        out.push('\n');
        return;
    }
    let s = &t.state;
    out.push_str(&format!(
        "Shipment {} ({}), channel {}, order {}{}\n",
        s.tracking_number,
        s.courier,
        s.channel,
        s.reference.as_deref().unwrap_or("-"),
        if s.is_return { ", a return" } else { "" }
    ));
    out.push_str(&format!(
        "Now: {}{} at {} ({}), {}\n\n",
        status_text(s.status_id, s.status_detail, &s.status_name),
        if s.is_final { ", final" } else { "" },
        read::local(&s.date_utc, tz),
        s.date_utc,
        s.place.as_deref().unwrap_or("no place")
    ));
    out.push_str(&format!(
        "{:<24}  {:<20}  {:<32}  {:<20}  {:<8}  {:<7}  {}\n",
        format!("time ({})", tz.name()),
        "UTC",
        "status",
        "place",
        "courier",
        "source",
        "received (late by)"
    ));
    for e in &t.history {
        out.push_str(&format!(
            "{:<24}  {:<20}  {:<32}  {:<20}  {:<8}  {:<7}  {} ({})\n",
            e.local,
            e.date_utc,
            status_text(e.status_id, e.status_detail, &e.status_name),
            e.place.as_deref().unwrap_or("-"),
            e.courier_status.as_deref().unwrap_or("-"),
            e.source,
            e.received_at,
            e.delay_seconds.map_or("?".into(), duration)
        ));
    }
}

fn print_states(key: &str, states: &[&ShipmentState], tz: Tz, json_out: bool, out: &mut String) {
    if json_out {
        out.push_str(&json!({ key: states }).to_string());
        out.push('\n');
        return;
    }
    for s in states {
        out.push_str(&shipment_columns(s));
        out.push_str(&format!(
            "{}  {}\n",
            read::local(&s.date_utc, tz),
            s.place.as_deref().unwrap_or("-")
        ));
    }
}

/// The columns that name a shipment and its status, as the listings of shipments start.
fn shipment_columns(s: &ShipmentState) -> String {
    format!(
        "{:<10} {:<8} {:<20} {:<32} ",
        s.channel,
        s.courier,
        s.tracking_number,
        status_text(s.status_id, s.status_detail, &s.status_name),
    )
}

fn print_order(reference: &str, view: &read::OrderView, tz: Tz, json_out: bool, out: &mut String) {
    if json_out {
        out.push_str(
            &json!({"reference": reference, "timezone": tz.name(), "order": view}).to_string(),
        );
        out.push('\n');
        return;
    }
    out.push_str(&format!("Order {reference}\n"));
    for o in &view.orders {
        out.push_str(&format!(
            "  {} order, channel {}: {} {}, ordered {}, shipped {}\n",
            o.trigger.as_str(),
            o.channel,
            o.courier.as_deref().unwrap_or("-"),
            o.tracking_number.as_deref().unwrap_or("-"),
            o.order_date_utc
                .as_deref()
                .map_or("-".into(), |d| read::local(d, tz)),
            o.ship_date_utc
                .as_deref()
                .map_or("-".into(), |d| read::local(d, tz)),
        ));
    }
    out.push_str(&format!("Shipments ({}):\n", view.shipments.len()));
    let states: Vec<&ShipmentState> = view.shipments.iter().collect();
    let mut text = String::new();
    print_states("shipments", &states, tz, false, &mut text);
    for line in text.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!("Returns ({}):\n", view.returns.len()));
    for r in &view.returns {
        out.push_str(&format!(
            "  {} channel {}: {} {}, requested {}\n",
            r.return_key,
            r.channel,
            r.courier.as_deref().unwrap_or("-"),
            r.tracking_number.as_deref().unwrap_or("-"),
            r.date_utc
                .as_deref()
                .map_or("-".into(), |d| read::local(d, tz)),
        ));
    }
}

fn print_idle(idle: &[read::Idle], days: u32, tz: Tz, json_out: bool, out: &mut String) {
    if json_out {
        // `stuck`: the key of the command's JSON, as scripts read it.
        out.push_str(&json!({"days": days, "timezone": tz.name(), "stuck": idle}).to_string());
        out.push('\n');
        return;
    }
    if idle.is_empty() {
        out.push_str(&format!(
            "No open shipment unchanged for more than {days} days.\n"
        ));
        return;
    }
    out.push_str(&format!(
        "{:<10} {:<8} {:<20} {:<32} {:<24} {:<8} {}\n",
        "channel", "courier", "tracking", "status", "since", "for", "place"
    ));
    for s in idle {
        let st = &s.state;
        out.push_str(&shipment_columns(st));
        out.push_str(&format!(
            "{:<24} {:<8} {}\n",
            read::local(&st.date_utc, tz),
            duration(s.age_seconds),
            st.place.as_deref().unwrap_or("-")
        ));
    }
    out.push_str(&format!(
        "{} open shipments unchanged for more than {days} days.\n",
        idle.len()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_replay_help_names_the_default_alert_statuses() {
        let mut args = Args::command();
        let replay = args.find_subcommand_mut("replay").expect("replay");
        let help = replay.render_long_help().to_string();
        assert!(
            help.contains(&format!("else {})", AlertRule::default())),
            "{help}"
        );
    }
}
