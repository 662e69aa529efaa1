//! The local stack, with no AWS account and no Docker (`make local`): DynamoDB Local and moto on
//! free loopback ports with the table, topic and subscriber queues of `template.yaml`, the functions under
//! `cargo lambda watch` on loopback, a replay of `events/` in the order of `events/expected.json`
//! with each answer printed and compared, the table, the notifications each change produced, and
//! one run of the stuck check.
//! From a terminal it then serves the three webhook URLs until Ctrl-C; otherwise it exits after
//! the replay, non-zero if an answer differs.
//!
//! `--sam` prepares the same store for `sam local invoke` instead (`make sam-local`, see `sam.rs`).
//!
//! Every process it starts stops when it exits, however it exits.

mod functions;
mod sam;

use functions::Functions;
use integration_tests::events::{sample_events, Answer, SampleEvent};
use integration_tests::local_aws::{LocalAws, LocalEndpoints};
use integration_tests::moto::{free_port, project_root};
use integration_tests::stack::{self, Subscribers, REGION};
use integration_tests::stream::StreamReader;
use integration_tests::table::scan;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

/// The names a local run gives the table and the topic (as `events/env.local.json` does).
const TABLE: &str = "qapla-webhooks";
const TOPIC: &str = "qapla-webhooks";
/// The archive bucket of quarantined and deferred deliveries (as `events/env.local.json` names it).
const BUCKET: &str = "qapla-webhooks-archive";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => local().await,
        ["--sam"] => sam::prepare(sam::SamLocal::Serve).await,
        ["--sam", "--check"] => sam::prepare(sam::SamLocal::Check).await,
        ["--sam", "--docker"] => sam::prepare(sam::SamLocal::Docker).await,
        _ => Err("usage: local [--sam [--check | --docker]]".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("local: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `make local`. Whether every answer was the expected one.
async fn local() -> Result<bool, String> {
    functions::build()?;
    let local = LocalAws::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port(), free_port())?;
    let endpoint = local.endpoints();
    let sdk = stack::sdk(&endpoint).await;
    let subscribers = stack::create_local_stack(&sdk, TABLE, TOPIC).await;
    integration_tests::archive::create_bucket(&endpoint, BUCKET).await;
    println!(
        "local: DynamoDB Local (DynamoDB, its stream) on {}, moto (SNS, SQS, S3, SSM) on {}; table, bucket, topic and queues created from template.yaml",
        endpoint.dynamodb, endpoint.aws
    );

    let fake = recovery::prepare(&sdk).await?;
    let mut env = demo::environment(&endpoint, &subscribers.topic_arn);
    env.extend(recovery::environment(&fake));
    let log = target_dir()?.join("local-watch.log");
    let functions = Functions::serve(&env, &log)?;
    println!(
        "local: functions served by cargo lambda watch on 127.0.0.1:{} (compiled on first call: the first answer takes a while)\n",
        functions.port
    );

    println!("== replaying events/ (answer, expected)");
    let mismatches = replay(&functions, |e| &e.expected)?;
    budget::quarantine(&endpoint).await?;
    budget::outage(&endpoint, local.dynamodb.port, &functions).await?;
    recovery::run(&functions)?;
    let failures = report(&sdk, TABLE, &functions, &subscribers, &env).await?;
    let failures = failures + stuck(&functions, &subscribers).await?;

    if mismatches > 0 {
        println!("\nlocal: {mismatches} answer(s) differ from events/expected.json");
    }
    if std::io::stdin().is_terminal() && std::env::var_os("CI").is_none() {
        let base = format!("http://127.0.0.1:{}/lambda-url", functions.port);
        println!(
            "
== serving until Ctrl-C
  shipments: {base}/shipments/webhooks/shipments
  returns:   {base}/returns/webhooks/returns
  orders:    {base}/orders/webhooks/orders
Post a delivery by hand:
  curl -s -X POST {base}/shipments/webhooks/shipments -H 'Content-Type: application/json' \\
       -d @shared/fixtures/shipment-1.2-exception-stock.json
Logs of the functions: target/local-watch.log"
        );
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    }
    Ok(mismatches == 0 && failures == 0)
}

/// Recovery: a status change the replay never delivers (the webhooks "missed" it), known to a fake
/// of Qapla's API on loopback; the reconciler fetches it with the demo key from the local SSM, and the
/// notifier then prints its alert with the rest.
mod recovery {
    use integration_tests::qapla_fake::FakeQapla;
    use qapla::recover::memory::{scripted_shipment, Step};

    const PREFIX: &str = "/qapla-webhooks/keys/";

    pub async fn prepare(sdk: &aws_config::SdkConfig) -> Result<FakeQapla, String> {
        let fake = FakeQapla::start();
        let rome = qapla::dates::zone("Europe/Rome").ok_or("no Europe/Rome zone")?;
        let at = qapla::recover::plan::qapla_time(
            chrono::Utc::now() - chrono::Duration::minutes(10),
            rome,
        );
        fake.api.put_shipment(
            qapla::fixtures::DEMO_KEY,
            scripted_shipment(
                99,
                "DHL",
                "JD0146000099",
                "ORD-10452",
                &[Step::new(6, Some(1), at)],
                &[],
            ),
        );
        aws_sdk_ssm::Client::new(sdk)
            .put_parameter()
            .name(format!("{PREFIX}{}", qapla::fixtures::DEMO_CHANNEL))
            .value(qapla::fixtures::DEMO_KEY)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| format!("cannot store the demo key in moto's SSM: {e}"))?;
        Ok(fake)
    }

    pub fn environment(fake: &FakeQapla) -> [(String, String); 2] {
        [
            ("QAPLA_API_URL".to_owned(), fake.url()),
            ("QAPLA_KEYS_PREFIX".to_owned(), PREFIX.to_owned()),
        ]
    }

    pub fn run(functions: &super::Functions) -> Result<(), String> {
        println!("\n== recovery (the reconciler over a fake Qapla' API that knows a change the webhooks missed)");
        let file = super::target_dir()?.join("local-recover.json");
        std::fs::write(&file, "{}").map_err(|e| format!("{}: {e}", file.display()))?;
        let summary = functions.invoke("reconciler", &file)?;
        println!("  {summary}");
        let recovered = summary["channels"][0]["changesRecovered"].as_u64();
        if recovered != Some(1) {
            return Err(format!(
                "the reconciler recovered {recovered:?} changes, not the 1 the webhooks missed"
            ));
        }
        Ok(())
    }
}

/// Qapla's failure budget: what a known channel sends is answered OK and kept. The replay's
/// delivery with a zero date is in the quarantine; then one delivery arrives while the table is
/// down (the shipments pipeline run here, its DynamoDB behind a loopback proxy switched off, its
/// bucket reachable): deferred to the inbox, answered OK, and recorded by the drain function once
/// the table answers again.
mod budget {
    use super::{target_dir, Functions, LocalEndpoints, BUCKET, TABLE};
    use integration_tests::archive::{keys, s3};
    use integration_tests::proxy::Proxy;
    use qapla::archive::{Kept, Place};
    use qapla::Kind;

    async fn kept(endpoint: &LocalEndpoints, prefix: &str) -> Result<Vec<(String, Kept)>, String> {
        let client = s3(endpoint).await;
        let place = if prefix.starts_with("inbox/") {
            Place::Inbox
        } else {
            Place::Quarantine
        };
        let mut out = Vec::new();
        for key in keys(&client, BUCKET, prefix).await {
            let object = client
                .get_object()
                .bucket(BUCKET)
                .key(&key)
                .send()
                .await
                .map_err(|e| format!("cannot read {key}: {e}"))?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .into_bytes();
            out.push((key, Kept::read(place, &bytes).map_err(|e| e.to_string())?));
        }
        Ok(out)
    }

    pub async fn quarantine(endpoint: &LocalEndpoints) -> Result<(), String> {
        println!(
            "
== the quarantine (answered OK, kept in the bucket for an operator: `qapla quarantine list`)"
        );
        let kept = kept(endpoint, "quarantine/").await?;
        for (key, k) in &kept {
            println!(
                "  {key}
    {} from {}: {}",
                k.webhook, k.channel, k.reason
            );
        }
        if kept.len() != 1 {
            return Err(format!(
                "{} deliveries quarantined, not the replay's one",
                kept.len()
            ));
        }
        Ok(())
    }

    /// The table taken away through a proxy in front of DynamoDB Local's `port`.
    pub async fn outage(
        endpoint: &LocalEndpoints,
        port: u16,
        functions: &Functions,
    ) -> Result<(), String> {
        println!(
            "
== the inbox (a delivery while the table is down, then the drain function once it answers)"
        );
        let proxy = Proxy::start(port);
        proxy.set_down(true);
        let sdk = integration_tests::stack::sdk(&endpoint.with_dynamodb(proxy.endpoint())).await;
        let store = qapla_aws::dynamo::DynamoStore::new(qapla_aws::dynamo::client(&sdk), TABLE);
        let archive = qapla_aws::s3::S3Archive::new(s3(endpoint).await, BUCKET);
        let settings = qapla::fixtures::demo_config(TABLE).settings;
        let hook = qapla::webhook::Webhook::new(Kind::Shipment, settings, store, archive);
        let body =
            integration_tests::events::shipment("JD0146000123", "2026-03-05 10:15:00", 4, None);
        let event = integration_tests::events::event(
            Kind::Shipment,
            &body.to_string(),
            integration_tests::events::QAPLA_IP,
        );
        let got = integration_tests::delivery::invoke(&hook, &event).await;
        println!(
            "  DHL JD0146000123 OUT FOR DELIVERY, table down: {} {} ({})",
            got.status, got.body, got.outcome
        );
        for (key, k) in kept(endpoint, "inbox/").await? {
            println!(
                "  waiting: {key}
    {} from {}: {}",
                k.webhook,
                k.channel,
                k.reason.chars().take(100).collect::<String>()
            );
        }
        proxy.set_down(false);
        let file = target_dir()?.join("local-drain-event.json");
        std::fs::write(&file, "{}").map_err(|e| format!("{}: {e}", file.display()))?;
        let summary = functions.invoke("drain", &file)?;
        println!("  the table answers again; the drain function: {summary}");
        let left = kept(endpoint, "inbox/").await?.len();
        if got.outcome != "deferred:store" || summary["drained"] != 1 || left != 0 {
            return Err(format!(
                "the inbox did not drain: {} then {summary}, {left} left",
                got.outcome
            ));
        }
        Ok(())
    }
}

/// The demo channel and Qapla's senders, from the crate: the one place the runner reads them.
mod demo {
    use super::*;

    /// The functions' environment for `make local`: the demo channel, Qapla's senders and this
    /// machine's (for curl), the store at `endpoint` (the SDK's endpoint variables).
    pub fn environment(endpoint: &LocalEndpoints, topic_arn: &str) -> BTreeMap<String, String> {
        let mut senders: Vec<&str> = qapla::auth::QAPLA_SOURCES.to_vec();
        senders.extend(["127.0.0.1/32", "::1/128"]);
        let mut env: BTreeMap<String, String> = endpoint.variables().into_iter().collect();
        env.extend(
            [
                ("AWS_REGION", REGION),
                ("AWS_DEFAULT_REGION", REGION),
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("TABLE_NAME", TABLE),
                ("BUCKET_NAME", BUCKET),
                ("QAPLA_CHANNELS", &qapla::fixtures::demo_channels()),
                ("QAPLA_ALLOWED_SOURCES", &senders.join(",")),
                ("TOPIC_ARN", topic_arn),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env
    }
}

fn target_dir() -> Result<std::path::PathBuf, String> {
    let dir = project_root().join("target");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Replays every sample event in order, printing each answer beside the one `want` gives it;
/// the number of answers that differ.
fn replay(functions: &Functions, want: impl Fn(&SampleEvent) -> &Answer) -> Result<usize, String> {
    let mut mismatches = 0;
    for e in sample_events() {
        let answer = functions.invoke(&e.binary, &project_root().join("events").join(&e.path))?;
        let status = answer["statusCode"].as_u64().unwrap_or_default();
        let body = answer["body"].as_str().unwrap_or_default();
        let want = want(&e);
        let ok = status == u64::from(want.status);
        mismatches += usize::from(!ok);
        println!(
            "  {:36} {status} {body}   (expected {}, {}) {}",
            e.path,
            want.status,
            want.outcome,
            if ok { "ok" } else { "UNEXPECTED" }
        );
    }
    Ok(mismatches)
}

/// Prints the table, then runs the notifier over the table's stream and prints each notification
/// and what reached each queue; the number of records the notifier reported failed.
async fn report(
    sdk: &aws_config::SdkConfig,
    table: &str,
    functions: &Functions,
    subscribers: &Subscribers,
    notifier_env: &BTreeMap<String, String>,
) -> Result<usize, String> {
    println!("\n== the table");
    print_table(sdk, table).await;

    println!("\n== notifications (the notifier run over the table's stream)");
    let event = StreamReader::new(sdk, table).event_json().await;
    let file = target_dir()?.join("local-stream-event.json");
    std::fs::write(&file, event.to_string()).map_err(|e| format!("{}: {e}", file.display()))?;
    let result = functions.invoke("notifier", &file)?;
    let failures = result["batchItemFailures"].as_array().map_or(0, Vec::len);
    let records = event["Records"].as_array().map_or(0, Vec::len);
    println!("  {records} stream records, {failures} reported failed");
    functions::print_notices(&event, notifier_env)?;
    for (name, queue) in [
        ("all", &subscribers.all_queue),
        ("alerts", &subscribers.alert_queue),
    ] {
        let messages = subscribers.drain(queue).await;
        println!("  queue {name}: {} message(s)", messages.len());
        for m in messages {
            println!(
                "    {:24} {:9} {}",
                m["event"].as_str().unwrap_or_default(),
                m["severity"].as_str().unwrap_or_default(),
                m["id"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(failures)
}

/// Runs the stuck check once, now, as its schedule would, and prints its summary and the alerts
/// that reached each queue; the number of failures it reported. The sample events are dated
/// months ago, so every shipment they leave open is stuck.
async fn stuck(functions: &Functions, subscribers: &Subscribers) -> Result<usize, String> {
    println!("\n== stuck check (the stuck function run once, now)");
    let file = target_dir()?.join("local-schedule-event.json");
    std::fs::write(&file, "{}").map_err(|e| format!("{}: {e}", file.display()))?;
    let summary = functions.invoke("stuck", &file)?;
    println!("  {summary}");
    for (name, queue) in [
        ("all", &subscribers.all_queue),
        ("alerts", &subscribers.alert_queue),
    ] {
        let messages = subscribers.drain(queue).await;
        println!("  queue {name}: {} message(s)", messages.len());
        for m in messages {
            println!(
                "    {:16} {:9} {} {} {} for {} days",
                m["event"].as_str().unwrap_or_default(),
                m["severity"].as_str().unwrap_or_default(),
                m["shipment"]["courier"].as_str().unwrap_or_default(),
                m["shipment"]["trackingNumber"].as_str().unwrap_or_default(),
                m["shipment"]["status"]["name"].as_str().unwrap_or_default(),
                m["stuck"]["days"]
            );
        }
    }
    Ok(summary["failed"].as_u64().unwrap_or(1) as usize)
}

async fn print_table(sdk: &aws_config::SdkConfig, table: &str) {
    let items = scan(&aws_sdk_dynamodb::Client::new(sdk), table).await;
    for ((pk, sk), item) in items {
        let sk: String = sk.chars().take(60).collect();
        let status = item["statusName"].as_str().unwrap_or_default();
        println!("  {pk:40} {sk:60} {status}");
    }
}
