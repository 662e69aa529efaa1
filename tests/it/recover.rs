//! The reconciler against the local AWS (the table, its stream, SNS, SQS, SSM for the keys) and a fake of
//! Qapla's API over loopback HTTP with a real token bucket.

use crate::local_aws::LocalEndpoints;
use crate::notifier_rig::Rig;
use crate::qapla_fake::FakeQapla;
use crate::table::{scan, timeless};
use crate::{delivery, events, stack};
use chrono::{DateTime, Duration as Span, Utc};
use qapla::auth::{ApiKey, Channel, Channels, OrderTrigger};
use qapla::config::{self, RecoverConfig};
use qapla::fixtures::{self, DEMO_KEY};
use qapla::recover::memory::{scripted_shipment, ManualClock, Step};
use qapla::recover::pace::{QAPLA_CAPACITY, QAPLA_PER_SECOND};
use qapla::recover::plan::qapla_time;
use qapla::recover::{ChannelOutcome, Clock, RecoverySummary};
use qapla::Kind;
use qapla_aws::reconciler::{ReconcilerFunction, TokioClock};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn rome() -> chrono_tz::Tz {
    qapla::dates::zone("Europe/Rome").expect("zone")
}

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&stack::sdk(&LocalEndpoints::shared()).await)
}

/// Stores a channel's key as `make channel-key` does: a SecureString under the prefix.
async fn store_key(prefix: &str, channel: &str, key: &str) {
    ssm()
        .await
        .put_parameter()
        .name(format!("{prefix}{channel}"))
        .value(key)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("put the key in moto's SSM");
}

/// The reconciler as its cold start builds it, on `table`, the fake at `api`, the keys under
/// `prefix` (read from SSM).
async fn reconciler<C: Clock>(
    table: &str,
    api: &str,
    channels: &str,
    prefix: &str,
    clock: C,
) -> ReconcilerFunction<C> {
    let config = RecoverConfig::from_lookup(|var| match var {
        config::TABLE_NAME => Some(table.to_owned()),
        config::QAPLA_CHANNELS => Some(channels.to_owned()),
        config::QAPLA_API_URL => Some(api.to_owned()),
        config::QAPLA_KEYS_PREFIX => Some(prefix.to_owned()),
        _ => None,
    })
    .expect("configuration");
    let keys = qapla_aws::ssm::channel_keys(&ssm().await, prefix, &config.channels)
        .await
        .expect("keys from SSM");
    let endpoint = LocalEndpoints::shared();
    ReconcilerFunction {
        store: qapla_aws::dynamo::DynamoStore::new(stack::dynamo(&endpoint).await, table),
        api: qapla_aws::qapla_http::HttpQapla::new(api).expect("client"),
        keys,
        clock,
        config,
    }
}

/// One run, its deadline `for_` from now on the function's clock.
async fn run<C: Clock>(
    function: &ReconcilerFunction<C>,
    event: Value,
    for_: Duration,
) -> RecoverySummary {
    let deadline = function.clock.elapsed() + for_;
    function
        .handle(&event, deadline)
        .await
        .expect("a valid invocation")
}

/// A table of the test's own, and the demo channel's key stored under its prefix.
async fn keyed_table(name: &str) -> (aws_sdk_dynamodb::Client, stack::UniqueName, String) {
    let client = stack::dynamo(&LocalEndpoints::shared()).await;
    let table = stack::unique_table(name);
    stack::create_table(&client, &table).await;
    let prefix = format!("/{table}/keys/");
    store_key(&prefix, fixtures::DEMO_CHANNEL, DEMO_KEY).await;
    (client, table, prefix)
}

/// A clock of the test's own, shared by the reconciler and the fake of Qapla's API: each wait
/// passes at once and moves the time on, so a pace is counted on it, whatever the machine's
/// speed, and a deadline cuts a run after the same waits on every machine.
fn test_clock(capacity: u32, per_second: f64) -> (Arc<ManualClock>, FakeQapla) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let read = Arc::clone(&clock);
    let fake = FakeQapla::on_clock(capacity, per_second, Arc::new(move || read.elapsed()));
    (clock, fake)
}

/// A life of distinct statuses, one every 40 minutes, ending 20 minutes ago.
fn life(now: DateTime<Utc>) -> Vec<Step> {
    let statuses: [(u32, Option<u32>); 8] = [
        (1, None),
        (3, None),
        (50, Some(1)),
        (4, None),
        (5, None),
        (6, Some(1)),
        (4, None),
        (99, None),
    ];
    let rome = rome();
    statuses
        .iter()
        .enumerate()
        .map(|(i, &(s, d))| {
            let at = now - Span::minutes(20 + 40 * (7 - i as i64));
            Step::new(s, d, qapla_time(at, rome))
        })
        .collect()
}

/// The webhook body Qapla' sends for a step (the fake's place and courier text).
fn webhook_body(step: &Step, tracking: &str) -> String {
    let mut v = events::shipment(tracking, &step.date, step.status, step.detail);
    v["place"] = json!("MILANO - ITA");
    v["courierStatus"] = json!("PU");
    v.to_string()
}

/// A table's shipments by what they mean, not by when or by which path they came.
fn meaning(items: &BTreeMap<(String, String), Value>) -> BTreeMap<(String, String), Value> {
    timeless(items)
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("SHIPMENT#"))
        .map(|(k, mut v)| {
            if let Some(m) = v.as_object_mut() {
                for by_path in ["source", "deliveryId", "payload"] {
                    m.remove(by_path);
                }
            }
            (k, v)
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_is_recovered_end_to_end_and_notified_once_per_change() {
    let mut rig = Rig::new().await;
    let endpoint = rig.endpoints.clone();
    let now = Utc::now();
    let steps = life(now);
    let tracking = "JD0146000031";

    // What an undisturbed run makes of the whole life.
    let client = stack::dynamo(&endpoint).await;
    let undisturbed = stack::unique_table("recover-undisturbed");
    stack::create_table(&client, &undisturbed).await;
    let hook = delivery::webhook(Kind::Shipment, &endpoint, &undisturbed).await;
    for step in &steps {
        assert_eq!(
            delivery::deliver(&hook, &webhook_body(step, tracking)).await,
            "stored"
        );
    }

    // Our run: steps 0 and 1 by webhook, then the webhooks are down for steps 2 to 5, which
    // Qapla' gives up on; the reconciler runs; steps 6 and 7 arrive by webhook again.
    let prefix = format!("/{}/keys/", rig.table);
    store_key(&prefix, fixtures::DEMO_CHANNEL, DEMO_KEY).await;
    let fake = FakeQapla::start();
    let hook = delivery::webhook(Kind::Shipment, &endpoint, &rig.table).await;
    for step in &steps[..2] {
        assert_eq!(
            delivery::deliver(&hook, &webhook_body(step, tracking)).await,
            "stored"
        );
    }
    let failed: Vec<(u32, &str, &str)> = steps[2..6]
        .iter()
        .map(|s| (s.status, s.date.as_str(), "KO"))
        .collect();
    fake.api.put_shipment(
        DEMO_KEY,
        scripted_shipment(7, "DHL", tracking, "ORD-10452", &steps[..6], &failed),
    );
    let function = reconciler(
        &rig.table,
        &fake.url(),
        &fixtures::demo_channels(),
        &prefix,
        TokioClock::default(),
    )
    .await;
    let first = run(&function, json!({}), Duration::from_secs(120)).await;
    let channel = &first.channels[0];
    assert_eq!(channel.outcome, ChannelOutcome::Done, "{first:?}");
    assert_eq!(channel.changes_recovered, 4, "{first:?}");
    assert_eq!(channel.failed_deliveries, 4, "{first:?}");
    for step in &steps[6..] {
        assert_eq!(
            delivery::deliver(&hook, &webhook_body(step, tracking)).await,
            "stored"
        );
    }
    fake.api.put_shipment(
        DEMO_KEY,
        scripted_shipment(7, "DHL", tracking, "ORD-10452", &steps, &failed),
    );

    let ours = scan(&client, &rig.table).await;
    assert_eq!(meaning(&ours), meaning(&scan(&client, &undisturbed).await));
    let recovered = ours
        .values()
        .filter(|v| v["sk"].as_str().is_some_and(|s| s.starts_with("EVENT#")))
        .filter(|v| v["source"] == json!("api"))
        .count();
    assert_eq!(recovered, 4);

    assert_eq!(rig.notify().await, 0, "no failed record");
    let messages = rig.drain_all().await;
    let statuses: Vec<(Value, Value)> = messages
        .iter()
        .map(|m| {
            (
                m["shipment"]["status"]["id"].clone(),
                m["shipment"]["status"]["detail"].clone(),
            )
        })
        .collect();
    let expected: Vec<(Value, Value)> = steps
        .iter()
        .map(|s| (json!(s.status), json!(s.detail)))
        .collect();
    assert_eq!(statuses, expected, "one message per real change, in order");

    // Runs again, scheduled and over the whole life: nothing changes, nothing is notified.
    let before = scan(&client, &rig.table).await;
    let again = run(&function, json!({}), Duration::from_secs(120)).await;
    assert_eq!(again.channels[0].outcome, ChannelOutcome::Done);
    let since = qapla_time(now - Span::hours(7), rome());
    let span = run(&function, json!({"since": since}), Duration::from_secs(120)).await;
    assert_eq!(span.channels[0].outcome, ChannelOutcome::Done, "{span:?}");
    assert!(span.channels[0].shipments_checked > 0);
    assert_eq!(span.channels[0].shipments_fetched, 0, "{span:?}");
    assert_eq!(span.changes_recovered() + again.changes_recovered(), 0);
    let after = scan(&client, &rig.table).await;
    let without_checkpoint = |items: &BTreeMap<(String, String), Value>| {
        items
            .iter()
            .filter(|((pk, _), _)| !pk.starts_with("RECOVER#"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(without_checkpoint(&after), without_checkpoint(&before));
    assert_eq!(rig.notify().await, 0);
    assert!(rig.drain_all().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn hundreds_of_shipments_stay_within_qaplas_rate_and_a_429_is_backed_off() {
    let (_, table, prefix) = keyed_table("recover-rate").await;
    // Qapla's own bucket (120, 2 a second) and our default pace (100, 2 a second).
    let (clock, fake) = test_clock(QAPLA_CAPACITY, QAPLA_PER_SECOND);
    let now = clock.now();
    let rome = rome();
    for n in 0..300u64 {
        let at = now - Span::seconds(20 * n as i64 + 30);
        let steps = [Step::new(3, None, qapla_time(at, rome))];
        fake.api.put_shipment(
            DEMO_KEY,
            scripted_shipment(n, "DHL", &format!("RATE{n}"), "R", &steps, &[]),
        );
    }
    let function = reconciler(
        &table,
        &fake.url(),
        &fixtures::demo_channels(),
        &prefix,
        Arc::clone(&clock),
    )
    .await;
    fake.api.force_429(2);
    let started = clock.elapsed();
    // Lambda's longest timeout: the run is bounded by its work, not by its deadline.
    let got = run(&function, json!({}), Duration::from_secs(15 * 60)).await;
    let channel = &got.channels[0];
    assert_eq!(channel.outcome, ChannelOutcome::Done, "{got:?}");
    assert_eq!(channel.shipments_fetched, 300);
    assert_eq!(channel.changes_recovered, 300);
    assert_eq!(channel.rate_limited, 2, "the forced 429s were backed off");
    let usage = fake.api.usage(DEMO_KEY);
    assert_eq!(usage.forced, 2);
    assert_eq!(
        usage.requests, channel.calls,
        "every call reached Qapla's bucket: {usage:?}"
    );
    assert_eq!(
        usage.overdrawn, 0,
        "Qapla's bucket was never overdrawn: {usage:?}"
    );
    // Paced: beyond our 100 at once, 2 a second, and each 429 backed off (2 s, then 4 s, at
    // least) on top.
    let paced = (f64::from(channel.calls) - 100.0) / QAPLA_PER_SECOND + 2.0 + 4.0;
    let took = (clock.elapsed() - started).as_secs_f64();
    assert!(
        took >= paced,
        "{} calls in {took} s of the run's clock, under the {paced} s the pace allows",
        channel.calls
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_cut_by_its_deadline_resumes_without_gaps_or_repeats() {
    let (client, table, prefix) = keyed_table("recover-deadline").await;
    // Qapla's bucket 25 times its rate, ours at 10 a second: the runs are cut by their deadline,
    // never by a 429.
    let (clock, fake) = test_clock(QAPLA_CAPACITY, 25.0 * QAPLA_PER_SECOND);
    let now = clock.now();
    let rome = rome();
    for n in 0..60u64 {
        // One shipment every 20 minutes over the last 20 hours: many windows.
        let at = now - Span::minutes(20 * n as i64 + 5);
        let steps = [Step::new(3, None, qapla_time(at, rome))];
        fake.api.put_shipment(
            DEMO_KEY,
            scripted_shipment(n, "DHL", &format!("CUT{n}"), "R", &steps, &[]),
        );
    }
    let mut function = reconciler(
        &table,
        &fake.url(),
        &fixtures::demo_channels(),
        &prefix,
        Arc::clone(&clock),
    )
    .await;
    function.config.settings.pace.capacity = 10;
    function.config.settings.pace.per_second = 10.0;
    function.config.settings.stop_margin = Duration::from_millis(200);
    let mut total = 0;
    let mut runs = 0;
    loop {
        let got = run(&function, json!({}), Duration::from_millis(1500)).await;
        let channel = &got.channels[0];
        total += channel.changes_recovered;
        runs += 1;
        if channel.outcome == ChannelOutcome::Done {
            break;
        }
        assert_eq!(channel.outcome, ChannelOutcome::Deadline, "{got:?}");
        assert!(runs < 30, "no progress: {got:?}");
        // The next scheduled run comes later.
        clock.advance(Duration::from_secs(60));
    }
    assert!(runs > 1, "the deadline never cut a run");
    assert_eq!(total, 60, "each change recorded once, none missed");
    assert_eq!(fake.api.usage(DEMO_KEY).overdrawn, 0);
    let history = scan(&client, &table)
        .await
        .keys()
        .filter(|(_, sk)| sk.starts_with("EVENT#"))
        .count();
    assert_eq!(history, 60);
}

#[tokio::test(flavor = "current_thread")]
async fn keys_stay_out_of_logs_missing_keys_skip_and_a_wrong_key_stops_only_its_channel() {
    let logs = crate::faults::capture_logs();
    let endpoint = LocalEndpoints::shared();
    let client = stack::dynamo(&endpoint).await;
    let table = stack::unique_table("recover-keys");
    stack::create_table(&client, &table).await;
    let prefix = format!("/{table}/keys/");
    const REVOKED: &str = "revoked-key-of-shop-de-0001";
    const SWAPPED: &str = "a-key-that-is-not-shop-fr-0002";
    let entry =
        |name: &str, key: &str| Channel::entry(name, &ApiKey::new(key), OrderTrigger::Created);
    let channels = [
        entry("shop-es", "never-stored-key-0003"),
        entry("shop-de", REVOKED),
        entry("shop-fr", "the-real-key-of-shop-fr"),
        fixtures::demo_channels(),
    ]
    .join(",");
    Channels::parse(&channels).expect("channels");
    store_key(&prefix, "shop-de", REVOKED).await;
    store_key(&prefix, "shop-fr", SWAPPED).await;
    store_key(&prefix, fixtures::DEMO_CHANNEL, DEMO_KEY).await;
    let fake = FakeQapla::start();
    let now = Utc::now();
    fake.api.put_shipment(
        DEMO_KEY,
        scripted_shipment(1, "DHL", "KEYS1", "R", &life(now), &[]),
    );
    let function = reconciler(
        &table,
        &fake.url(),
        &channels,
        &prefix,
        TokioClock::default(),
    )
    .await;
    let got = run(&function, json!({}), Duration::from_secs(120)).await;
    let outcomes: Vec<(&str, ChannelOutcome)> = got
        .channels
        .iter()
        .map(|c| (c.channel.as_str(), c.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("shop-es", ChannelOutcome::Skipped),
            ("shop-de", ChannelOutcome::Failed),
            ("shop-fr", ChannelOutcome::Failed),
            ("shop-it", ChannelOutcome::Done)
        ]
    );
    assert!(
        got.channels[1].errors[0].contains("Invalid apiKey"),
        "{got:?}"
    );
    assert_eq!(got.channels[3].changes_recovered, 8);

    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["message"] == "recover").collect();
    assert_eq!(summaries.len(), 4, "one line per channel:\n{text}");
    assert_eq!(summaries[0]["outcome"], "skipped");
    assert_eq!(summaries[3]["changes_recovered"], 8);
    let answer = serde_json::to_string(&got).expect("summary");
    for key in [REVOKED, SWAPPED, DEMO_KEY] {
        assert!(!text.contains(key), "a key in the logs:\n{text}");
        assert!(!answer.contains(key), "a key in the answer: {answer}");
    }
}

#[test]
fn the_template_runs_the_reconciler_with_exactly_the_variables_it_reads() {
    use crate::template::{self, text};
    let f = template::resource("ReconcilerFunction");
    assert_eq!(
        text(&f["Metadata"]["BuildProperties"]["Binary"], "Binary"),
        "reconciler"
    );
    assert!(crate::moto::project_root()
        .join("functions/reconciler/src/main.rs")
        .exists());
    let vars: std::collections::BTreeSet<String> = f["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .expect("environment")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let read: std::collections::BTreeSet<String> = config::RECONCILER_VARS
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    assert_eq!(vars, read);
    let schedule = &f["Properties"]["Events"]["Schedule"];
    assert_eq!(text(&schedule["Type"], "Type"), "ScheduleV2");
    assert_eq!(text(&schedule["Properties"]["Input"], "Input"), "{}");
    // The summary line the metric filters read is the one the run logs.
    for id in [
        "RecoveredChangesMetricFilter",
        "QaplaFailedDeliveriesMetricFilter",
    ] {
        let pattern = text(
            &template::resource(id)["Properties"]["FilterPattern"],
            "FilterPattern",
        );
        assert!(pattern.contains(r#"$.message = "recover""#), "{id}");
    }
}
