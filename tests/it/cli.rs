//! The `qapla` command line against the local AWS, run as a process with the SDK's standard
//! environment (`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`, keys): each command's text and `--json` output on a table
//! filled by the sample events and scripted lives of shipments, the open index through the
//! DynamoDB reader, replay against what the notifier published, and the errors a user meets.

use crate::delivery::{invoke, webhook};
use crate::events::{self, event, QAPLA_IP};
use crate::local_aws::LocalEndpoints;
use crate::notifier_rig::Rig;
use crate::stack;
use crate::template::{self, list, text};
use chrono::{Duration, Utc};
use qapla::read::Reader;
use qapla::table;
use qapla::Kind;
use qapla_aws::reader::DynamoReader;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", self.stdout))
    }
}

/// A home with no AWS files, so only the environment given counts.
fn empty_home() -> PathBuf {
    let home = std::env::temp_dir().join(format!("qapla-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a home directory");
    home
}

/// The SDK's endpoint variables of the shared local AWS, and `more`.
fn local_env<'a>(
    variables: &'a [(String, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// Runs `qapla` with exactly this environment (plus PATH and an empty HOME).
fn run_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = empty_home();
    let mut command = Command::new(env!("CARGO_BIN_EXE_qapla-cli"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run qapla");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `qapla` against the local AWS, as a user with credentials would.
fn qapla(args: &[&str]) -> Output {
    let variables = LocalEndpoints::shared().variables();
    run_with(
        &local_env(
            &variables,
            &[
                ("AWS_REGION", stack::REGION),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        ),
        args,
    )
}

fn ok(out: Output) -> Output {
    assert_eq!(
        out.code, 0,
        "stderr: {}\nstdout: {}",
        out.stderr, out.stdout
    );
    out
}

async fn new_table(prefix: &str) -> stack::UniqueName {
    let client = stack::dynamo(&LocalEndpoints::shared()).await;
    let table = stack::unique_table(prefix);
    stack::create_table(&client, &table).await;
    table
}

async fn deliver(table: &str, kind: Kind, body: &str) -> String {
    let hook = webhook(kind, &LocalEndpoints::shared(), table).await;
    invoke(&hook, &event(kind, body, QAPLA_IP)).await.outcome
}

async fn deliver_shipment(table: &str, body: &Value) {
    let outcome = deliver(table, Kind::Shipment, &body.to_string()).await;
    assert!(
        matches!(outcome.as_str(), "stored" | "stale" | "duplicate"),
        "{outcome}"
    );
}

/// A table with every sample event and a scripted life of 20 events.
async fn filled() -> stack::UniqueName {
    let table = new_table("cli").await;
    let endpoint = LocalEndpoints::shared();
    // The bucket the sample events' quarantined delivery is kept in.
    crate::archive::create_bucket(&endpoint, &table).await;
    for e in events::sample_events() {
        let hook = crate::archive::webhook(e.function, &endpoint, &table, &table).await;
        let got = invoke(&hook, &e.json).await;
        assert_eq!(got.status, e.expected.status, "{}", e.path);
    }
    for body in events::life("LIFE-1") {
        deliver_shipment(&table, &body).await;
    }
    table
}

/// Local time in Rome, as Qapla' sends it, `ago` before now.
fn rome_ago(ago: Duration) -> String {
    (Utc::now() - ago)
        .with_timezone(&chrono_tz::Europe::Rome)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn timeline_text_and_json() {
    let table = filled().await;
    let json = ok(qapla(&["--table", &table, "--json", "timeline", "LIFE-1"])).json();
    let history = json["timeline"]["history"].as_array().expect("history");
    assert_eq!(history.len(), 20);
    let times: Vec<&str> = history
        .iter()
        .map(|e| e["dateUtc"].as_str().expect("dateUtc"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Two events share each hour of the life: equal times order by id, a final status last.
    let first: std::collections::BTreeSet<u64> = history[..2]
        .iter()
        .filter_map(|e| e["statusId"].as_u64())
        .collect();
    assert_eq!(first, [0, 1].into());
    assert_eq!(history[19]["statusId"], 99);
    assert_eq!(history[0]["local"], "2026-03-02 08:00:00 CET");
    assert_eq!(history[0]["dateUtc"], "2026-03-02T07:00:00Z");
    assert_eq!(history[0]["source"], "webhook");
    assert!(history[0]["delaySeconds"].as_i64().expect("delay") > 0);
    assert_eq!(json["timeline"]["state"]["statusId"], 99);
    assert_eq!(json["timezone"], "Europe/Rome");

    let text = ok(qapla(&["--table", &table, "timeline", "LIFE-1"])).stdout;
    assert!(
        text.starts_with("Shipment LIFE-1 (DHL), channel shop-it, order ORD-10452\n"),
        "{text}"
    );
    assert!(
        text.contains("Now: DELIVERED (99), final at 2026-03-04 "),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("2026-")).collect();
    assert_eq!(rows.len(), 20, "{text}");
    assert!(
        rows[..2].iter().any(|r| r.contains("PROCESSING WAIT (0)")),
        "{text}"
    );
    assert!(
        rows.iter().any(|r| r.contains("EXCEPTION / STOCK (6/1)")),
        "{text}"
    );
    assert!(rows[19].contains("DELIVERED (99)"), "{}", rows[19]);

    // The sample events' shipment, in another zone.
    let text = ok(qapla(&[
        "--table",
        &table,
        "--timezone",
        "UTC",
        "timeline",
        "JD0146000031",
    ]))
    .stdout;
    assert!(text.contains("time (UTC)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tracking_number_of_two_couriers_is_listed_not_guessed() {
    let table = new_table("cli-twins").await;
    let mut dhl = events::shipment("TWIN-1", "2026-03-02 10:00:00", 3, None);
    deliver_shipment(&table, &dhl).await;
    dhl["courier"] = json!("BRT");
    deliver_shipment(&table, &dhl).await;
    let both = qapla(&["--table", &table, "timeline", "TWIN-1"]);
    assert_eq!(both.code, 1);
    assert!(
        both.stderr.contains(
            "2 shipments have tracking number TWIN-1: say which with --courier or --channel"
        ),
        "{}",
        both.stderr
    );
    assert_eq!(both.stdout.lines().count(), 2, "{}", both.stdout);
    assert!(both.stdout.contains("BRT") && both.stdout.contains("DHL"));
    let json = qapla(&["--table", &table, "--json", "timeline", "TWIN-1"]).json();
    assert_eq!(json["matches"].as_array().map(Vec::len), Some(2));
    let one = ok(qapla(&[
        "--table",
        &table,
        "--json",
        "timeline",
        "TWIN-1",
        "--courier",
        "BRT",
    ]))
    .json();
    assert_eq!(one["timeline"]["state"]["courier"], "BRT");
}

#[tokio::test(flavor = "multi_thread")]
async fn order_text_and_json() {
    let table = filled().await;
    let json = ok(qapla(&[
        "--table",
        &table,
        "--json",
        "order",
        "ORD-10452",
        "--channel",
        "shop-it",
    ]))
    .json();
    let order = &json["order"];
    let trackings: Vec<&str> = order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .filter_map(|s| s["trackingNumber"].as_str())
        .collect();
    assert!(trackings.contains(&"JD0146000031"), "{trackings:?}");
    assert!(trackings.contains(&"LIFE-1"), "{trackings:?}");
    assert_eq!(order["orders"][0]["reference"], "ORD-10452");
    assert_eq!(order["returns"][0]["reference"], "ORD-10452");
    let text = ok(qapla(&[
        "--table",
        &table,
        "order",
        "ORD-10452",
        "--channel",
        "shop-it",
    ]))
    .stdout;
    assert!(text.starts_with("Order ORD-10452\n"), "{text}");
    assert!(
        text.contains("created order, channel shop-it: DHL JD0146000031"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Shipments ({}):", trackings.len())),
        "{text}"
    );
    assert!(text.contains("Returns (1):\n  RMA-2026-0001"), "{text}");
    let none = qapla(&[
        "--table",
        &table,
        "order",
        "ORD-NONE",
        "--channel",
        "shop-it",
    ]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("nothing for order ORD-NONE"),
        "{}",
        none.stderr
    );
    let which = qapla(&["--table", &table, "order", "ORD-10452"]);
    assert_eq!(which.code, 2);
    assert!(
        which.stderr.contains("which channel? Give --channel NAME"),
        "{}",
        which.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stuck_by_status_and_age() {
    let table = new_table("cli-stuck").await;
    for (tracking, ago, status, detail) in [
        ("STOCK-OLD", Duration::days(4), 6, Some(1)),
        ("STOCK-NEW", Duration::hours(20), 6, Some(1)),
        ("TRANSIT-OLD", Duration::days(10), 3, None),
        ("TRANSIT-NEW", Duration::hours(12), 3, None),
        ("DELIVERED-OLD", Duration::days(20), 99, None),
    ] {
        deliver_shipment(
            &table,
            &events::shipment(tracking, &rome_ago(ago), status, detail),
        )
        .await;
    }
    let names = |out: &Output| -> Vec<String> {
        out.json()["stuck"]
            .as_array()
            .expect("stuck")
            .iter()
            .map(|s| {
                s["state"]["trackingNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let base = [
        "--table",
        table.as_str(),
        "--json",
        "stuck",
        "--channel",
        "shop-it",
    ];
    let all = ok(qapla(&base));
    assert_eq!(
        names(&all),
        ["TRANSIT-OLD", "STOCK-OLD"],
        "default: 3 days, oldest first"
    );
    let age = all.json()["stuck"][1]["ageSeconds"].as_i64().expect("age");
    assert!((4 * 86_400..4 * 86_400 + 120).contains(&age), "{age}");
    let stock = ok(qapla(
        &[&base[..], &["--status", "6/1", "--days", "0"]].concat(),
    ));
    assert_eq!(names(&stock), ["STOCK-OLD", "STOCK-NEW"]);
    let transit = ok(qapla(
        &[&base[..], &["--status", "3", "--days", "1"]].concat(),
    ));
    assert_eq!(names(&transit), ["TRANSIT-OLD"]);
    let text = ok(qapla(&["--table", &table, "stuck", "--channel", "shop-it"])).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("channel    courier  tracking"),
        "{text}"
    );
    assert!(
        lines[1].contains("TRANSIT-OLD") && lines[1].contains("IN TRANSIT (3)"),
        "{text}"
    );
    assert!(
        lines[2].contains("STOCK-OLD") && lines[2].contains("4d 0h"),
        "{text}"
    );
    assert_eq!(lines[3], "2 open shipments unchanged for more than 3 days.");
    let none = ok(qapla(&[
        "--table",
        &table,
        "stuck",
        "--channel",
        "shop-it",
        "--days",
        "30",
    ]))
    .stdout;
    assert_eq!(none, "No open shipment unchanged for more than 30 days.\n");
    let bad = qapla(&[&base[..], &["--status", "six"]].concat());
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--status"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shipment_leaves_the_open_index_when_final_and_a_late_event_keeps_it_out() {
    let table = new_table("cli-open").await;
    let reader = DynamoReader::new(stack::dynamo(&LocalEndpoints::shared()).await, &table);
    let open = || async { reader.open_before("shop-it", "9999").await.expect("query") };
    deliver_shipment(
        &table,
        &events::shipment("OPEN-1", "2026-03-02 10:00:00", 3, None),
    )
    .await;
    deliver_shipment(
        &table,
        &events::shipment("OPEN-2", "2026-03-01 10:00:00", 6, Some(1)),
    )
    .await;
    let found = open().await;
    let keys: Vec<&str> = found
        .iter()
        .filter_map(|i| i[table::OPEN_SK].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "2026-03-01T09:00:00Z#SHIPMENT#shop-it#DHL#OPEN-2",
            "2026-03-02T09:00:00Z#SHIPMENT#shop-it#DHL#OPEN-1"
        ]
    );
    deliver_shipment(
        &table,
        &events::shipment("OPEN-1", "2026-03-03 10:00:00", 99, None),
    )
    .await;
    assert_eq!(open().await.len(), 1, "delivered: out of the open index");
    // A late in-transit event, older than the delivery, arrives after it.
    let late = deliver(
        &table,
        Kind::Shipment,
        &events::shipment("OPEN-1", "2026-03-02 18:00:00", 4, None).to_string(),
    )
    .await;
    assert_eq!(late, "stale");
    let still = open().await;
    assert_eq!(still.len(), 1, "a late event brought it back: {still:?}");
    assert_eq!(still[0]["trackingNumber"], "OPEN-2");
    let pk = table::shipment_pk("shop-it", "DHL", "OPEN-1");
    let state = reader
        .partition(&pk)
        .await
        .expect("partition")
        .into_iter()
        .find(|i| i[table::SK] == table::STATE)
        .expect("state");
    assert_eq!(state["statusId"], 99);
    assert!(state.get(table::OPEN_PK).is_none() && state.get(table::OPEN_SK).is_none());
    assert_eq!(state[table::TRACKING_PK], "TRACKING#OPEN-1");
}

#[test]
fn the_template_declares_the_open_and_tracking_indexes() {
    let props = &template::resource("Table")["Properties"];
    let indexes = list(&props["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes");
    for (name, pk, sk, projection) in [
        (table::OPEN_INDEX, table::OPEN_PK, table::OPEN_SK, "ALL"),
        (
            table::TRACKING_INDEX,
            table::TRACKING_PK,
            table::TRACKING_SK,
            "KEYS_ONLY",
        ),
    ] {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no index {name}"));
        let keys: Vec<&str> = list(&index["KeySchema"], "KeySchema")
            .iter()
            .map(|k| text(&k["AttributeName"], "AttributeName"))
            .collect();
        assert_eq!(keys, [pk, sk], "{name}");
        assert_eq!(
            text(&index["Projection"]["ProjectionType"], "ProjectionType"),
            projection
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_publishes_exactly_the_windows_changes_in_order_marked() {
    let mut rig = Rig::new().await;
    // A queue that takes replays only, through the attribute.
    let sdk = stack::sdk(&rig.endpoints).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let replays_queue = rig
        .subscribers
        .sqs
        .create_queue()
        .queue_name(format!("{}-replays", rig.table))
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let arn = rig
        .subscribers
        .sqs
        .get_queue_attributes()
        .queue_url(&replays_queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("arn")
        .clone();
    sns.subscribe()
        .topic_arn(&rig.subscribers.topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"replay": ["true"]}"#)
        .attributes("FilterPolicyScope", "MessageAttributes")
        .send()
        .await
        .expect("subscribe");

    let ship = |t: &str, d: &str, s: u32, detail: Option<u32>| {
        events::shipment(t, d, s, detail).to_string()
    };
    let next_second = || async {
        let ms = 1000 - u64::from(Utc::now().timestamp_subsec_millis());
        tokio::time::sleep(std::time::Duration::from_millis(ms + 20)).await;
    };
    // Before the window.
    rig.deliver(
        Kind::Shipment,
        &ship("REP-1", "2026-03-01 10:00:00", 3, None),
    )
    .await;
    assert_eq!(rig.notify().await, 0);
    rig.drain_all().await;
    next_second().await;
    let since = Utc::now().to_rfc3339();
    // The window: a change, a redelivery, a status unchanged, a new shipment, then (a second
    // later, as arrival order within one second is not kept) a late event and a delivery; an
    // order and a return.
    rig.deliver(
        Kind::Shipment,
        &ship("REP-1", "2026-03-02 10:00:00", 6, Some(1)),
    )
    .await;
    rig.deliver(
        Kind::Shipment,
        &ship("REP-1", "2026-03-02 10:00:00", 6, Some(1)),
    )
    .await;
    rig.deliver(
        Kind::Shipment,
        &ship("REP-1", "2026-03-02 12:00:00", 6, Some(1)),
    )
    .await;
    rig.deliver(
        Kind::Shipment,
        &ship("REP-2", "2026-03-02 11:00:00", 2, None),
    )
    .await;
    next_second().await;
    assert_eq!(
        rig.deliver(
            Kind::Shipment,
            &ship("REP-1", "2026-03-01 12:00:00", 4, None)
        )
        .await,
        "stale"
    );
    rig.deliver(
        Kind::Shipment,
        &ship("REP-1", "2026-03-03 10:00:00", 99, None),
    )
    .await;
    rig.deliver(Kind::Order, qapla::fixtures::ORDERS.body).await;
    rig.deliver(Kind::Return, qapla::fixtures::RETURNS_WRAPPED.body)
        .await;
    assert_eq!(rig.notify().await, 0);
    let published = rig.drain_all().await;
    next_second().await;
    let until = Utc::now().to_rfc3339();
    // After the window.
    rig.deliver(
        Kind::Shipment,
        &ship("REP-2", "2026-03-04 11:00:00", 3, None),
    )
    .await;
    assert_eq!(rig.notify().await, 0);
    rig.drain_all().await;
    let events: Vec<&str> = published
        .iter()
        .filter_map(|d| d["event"].as_str())
        .collect();
    assert_eq!(
        events,
        [
            "shipment.status_changed",
            "shipment.status_changed",
            "shipment.status_changed",
            "order.created",
            "order.created",
            "return.requested"
        ],
        "what the notifier published in the window"
    );

    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--table", &rig.table, "--json", "replay", "--since", &since, "--until", &until,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let run = |a: Vec<String>| qapla(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // A dry run lists the same and sends nothing.
    let dry = ok(run(args(&["--dry-run"]))).json();
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["published"], 0);
    assert_eq!(
        dry["notices"].as_array().map(Vec::len),
        Some(published.len())
    );
    assert!(rig.drain_all().await.is_empty());
    let text = ok(run(args(&["--dry-run"])
        .into_iter()
        .filter(|a| a != "--json")
        .collect()))
    .stdout;
    assert!(
        text.ends_with(&format!(
            "{} notifications would be published (dry run: nothing sent)\n",
            published.len()
        )),
        "{text}"
    );

    // What alerted the merchant live: the exception on hold.
    let live_alerts: Vec<Value> = rig.drain_alerts().await;
    assert_eq!(live_alerts.len(), 1, "{live_alerts:?}");
    let sent = ok(run(args(&[
        "--topic-arn",
        &rig.subscribers.topic_arn,
        "--rate",
        "50",
    ])))
    .json();
    assert_eq!(sent["published"], published.len());
    assert!(sent["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .all(|n| n["attributes"]["replay"] == "true"));
    let replayed = rig.drain_all().await;
    let unmarked: Vec<Value> = replayed
        .iter()
        .map(|d| {
            assert_eq!(d["replay"], true, "{d}");
            let mut d = d.clone();
            d.as_object_mut().map(|m| m.remove("replay"));
            d
        })
        .collect();
    assert_eq!(
        unmarked, published,
        "the replay is the window's notifications, in order"
    );
    let filtered = rig.subscribers.drain(&replays_queue).await;
    assert_eq!(
        filtered.len(),
        published.len(),
        "the replay attribute reaches filter policies"
    );
    // The email and SMS filter policy keeps replays out unless the operator lets them through.
    assert!(
        rig.drain_alerts().await.is_empty(),
        "a replay reached the email and SMS subscribers unasked"
    );
    let loud = ok(run(args(&[
        "--topic-arn",
        &rig.subscribers.topic_arn,
        "--rate",
        "50",
        "--alert-subscribers",
    ])))
    .json();
    assert!(loud["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .all(|n| n["attributes"]["alertSubscribers"] == "true"
            && n["attributes"]["replay"] == "true"));
    let alerted = rig.drain_alerts().await;
    assert_eq!(
        alerted.iter().map(|d| &d["id"]).collect::<Vec<_>>(),
        live_alerts.iter().map(|d| &d["id"]).collect::<Vec<_>>(),
        "asked for, the replay alerts what alerted live"
    );
    assert!(alerted.iter().all(|d| d["replay"] == true));
    rig.drain_all().await;
    rig.subscribers.drain(&replays_queue).await;

    // One event only.
    let only = ok(run(args(&["--dry-run", "--event", "return.requested"]))).json();
    assert_eq!(only["notices"].as_array().map(Vec::len), Some(1));
    let bad = run(args(&["--dry-run", "--event", "shipment.lost"]));
    assert_eq!(bad.code, 2);
    let no_topic = run(args(&[]));
    assert_eq!(no_topic.code, 2);
    assert!(
        no_topic.stderr.contains("which topic?"),
        "{}",
        no_topic.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_say_what_to_fix() {
    let table = new_table("cli-errors").await;
    let missing = qapla(&["--table", "no-such-table", "timeline", "X"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        format!(
            "qapla: table no-such-table not found in region {}: check --table, --stack and --region",
            stack::REGION
        )
    );
    let unknown = qapla(&["--table", &table, "timeline", "NOPE-404"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.stderr.trim(),
        format!("qapla: no shipment with tracking number NOPE-404 in table {table}")
    );
    assert!(unknown.stdout.is_empty());
    let no_table = qapla(&["timeline", "X"]);
    assert_eq!(no_table.code, 2);
    assert!(
        no_table.stderr.contains("which table? Give --stack NAME"),
        "{}",
        no_table.stderr
    );
    let variables = LocalEndpoints::shared().variables();
    let no_credentials = run_with(
        &local_env(&variables, &[("AWS_REGION", stack::REGION)]),
        &["--table", &table, "timeline", "X"],
    );
    assert_eq!(no_credentials.code, 2);
    assert!(
        no_credentials
            .stderr
            .starts_with("qapla: no AWS credentials: run `aws configure` or `aws sso login`"),
        "{}",
        no_credentials.stderr
    );
    let no_region = run_with(
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
        &["--table", &table, "timeline", "X"],
    );
    assert_eq!(no_region.code, 2);
    assert!(
        no_region.stderr.contains("no AWS region: give --region"),
        "{}",
        no_region.stderr
    );
    let no_stack = qapla(&["--stack", "no-such-stack", "stuck"]);
    assert_eq!(no_stack.code, 1);
    assert!(
        no_stack.stderr.contains("no stack no-such-stack in region"),
        "{}",
        no_stack.stderr
    );
}

#[test]
fn channel_prints_the_entry_of_a_key_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_qapla-cli"))
        .args(["channel", "shop-it", "transmitted"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run qapla");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", qapla::fixtures::DEMO_KEY).as_bytes())
        .expect("write the key");
    let out = child.wait_with_output().expect("qapla");
    assert!(out.status.success());
    let expected = qapla::auth::Channel::entry(
        "shop-it",
        &qapla::auth::ApiKey::new(qapla::fixtures::DEMO_KEY),
        qapla::auth::OrderTrigger::Transmitted,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{expected}\n")
    );
    assert!(expected.ends_with(":transmitted"));
    let bad = run_with(&[], &["channel", "shop it"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("letters, digits"), "{}", bad.stderr);
}

/// `qapla quarantine` and `qapla inbox`: the deliveries kept in the bucket listed, shown, and
/// retried through the webhooks' path, each removed once recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_and_inbox_are_listed_shown_and_retried() {
    let endpoint = LocalEndpoints::shared();
    let table = stack::unique_table("kept");
    stack::create_table(&stack::dynamo(&endpoint).await, &table).await;
    crate::archive::create_bucket(&endpoint, &table).await;
    let hook = crate::archive::webhook(Kind::Shipment, &endpoint, &table, &table).await;
    let mut bad = events::fixture("shipment-1.2-exception-stock");
    bad["date"] = json!("2026-03-02 9.41");
    let got = invoke(&hook, &event(Kind::Shipment, &bad.to_string(), QAPLA_IP)).await;
    assert_eq!(got.outcome, "quarantined:invalid");
    let channels = qapla::fixtures::demo_channels();
    let base = ["--table", &table, "--bucket", &table];

    let listed = ok(qapla(
        &[&["quarantine", "list", "--json"], &base[..]].concat(),
    ))
    .json();
    let kept = listed["kept"].as_array().expect("kept");
    assert_eq!(kept.len(), 1, "{listed}");
    assert_eq!(kept[0]["webhook"], json!("shipments"));
    assert_eq!(kept[0]["channel"], json!("shop-it"));
    assert!(kept[0]["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("date: not a date")));
    let key = kept[0]["key"].as_str().expect("key").to_owned();
    assert!(
        key.contains("/shop-it/"),
        "the key holds the channel: {key}"
    );
    let text = ok(qapla(&[&["quarantine", "list"], &base[..]].concat())).stdout;
    assert!(
        text.contains(&key) && text.contains("1 in the quarantine."),
        "{text}"
    );
    let shown = ok(qapla(
        &[&["quarantine", "show", &key, "--json"], &base[..]].concat(),
    ))
    .json();
    assert_eq!(shown["body"]["trackingNumber"], bad["trackingNumber"]);
    assert!(shown["body"].get("apiKey").is_none());

    // Still invalid: said, kept, exit 1.
    let still = qapla(
        &[
            &["quarantine", "retry", &key, "--channels", &channels],
            &base[..],
        ]
        .concat(),
    );
    assert_eq!(still.code, 1, "{}", still.stderr);
    assert!(
        still.stdout.contains("rejected:invalid"),
        "{}",
        still.stdout
    );
    // A key of another place, and no key at all, are usage errors.
    let wrong = qapla(&[&["inbox", "show", &key], &base[..]].concat());
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    let none = qapla(&[&["quarantine", "retry", "--channels", &channels], &base[..]].concat());
    assert_eq!(none.code, 2, "{}", none.stderr);

    // The merchant's fix: the object is edited in place (as an operator would, with the console
    // or `aws s3 cp`), then retried: recorded, and removed.
    let s3 = crate::archive::s3(&endpoint).await;
    let mut doc = shown.clone();
    doc["body"]["date"] = json!("2026-03-02 09:41:00");
    doc.as_object_mut().map(|m| {
        m.remove("key");
        m.remove("place")
    });
    s3.put_object()
        .bucket(&table)
        .key(&key)
        .body(doc.to_string().into_bytes().into())
        .send()
        .await
        .expect("put");
    let retried = ok(qapla(
        &[
            &[
                "quarantine",
                "retry",
                "--all",
                "--json",
                "--channels",
                &channels,
            ],
            &base[..],
        ]
        .concat(),
    ))
    .json();
    assert_eq!(
        retried["retried"][0]["outcome"],
        json!("stored"),
        "{retried}"
    );
    assert_eq!(retried["retried"][0]["removed"], json!(true));
    let empty = ok(qapla(&[&["quarantine", "list"], &base[..]].concat())).stdout;
    assert!(empty.contains("Nothing in the quarantine."), "{empty}");
    let items = crate::table::scan(&stack::dynamo(&endpoint).await, &table).await;
    assert_eq!(items.len(), 2, "the state and its history");

    // The inbox, listed the same way: empty here.
    let inbox = ok(qapla(&[&["inbox", "list", "--json"], &base[..]].concat())).json();
    assert_eq!(inbox, json!({"place": "inbox", "kept": []}));
}

/// Whether a text holds a character a terminal would act on: a C0 control but newline and tab,
/// DEL, a C1 control.
fn acts_on_a_terminal(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}')
}

/// The courier's texts (a status label, a place, its own status) and a kept object's facts reach
/// the operator's terminal written out, never as control sequences: timeline, stuck, order and
/// the quarantine's list, in text and JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_from_the_table_and_the_bucket_reach_the_terminal_escaped() {
    // Ends in text: a label is kept trimmed.
    const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\u{7f}\r!";
    let endpoint = LocalEndpoints::shared();
    let table = new_table("cli-escape").await;
    let bucket = crate::archive::create_bucket(&endpoint, &table).await;
    let mut body = events::shipment("ESC-1", &rome_ago(Duration::days(5)), 77, None);
    body["qaplaStatus"] = json!(format!("LABEL{HOSTILE}"));
    body["place"] = json!(format!("PLACE{HOSTILE}"));
    body["courierStatus"] = json!(format!("COURIER{HOSTILE}"));
    body["reference"] = json!("ORD-ESC");
    deliver_shipment(&table, &body).await;
    let kept = json!({
        "webhook": "shipments", "channel": format!("shop-it{HOSTILE}"),
        "receivedAt": "2026-03-02T08:41:10Z", "reason": format!("REASON{HOSTILE}"),
        "id": "abc", "body": {"trackingNumber": "ESC-1"},
    });
    bucket
        .put_object()
        .bucket(&table)
        .key("quarantine/shipments/2026-03-02/abc.json")
        .body(kept.to_string().into_bytes().into())
        .send()
        .await
        .expect("put");

    let commands: [&[&str]; 4] = [
        &["timeline", "ESC-1"],
        &["stuck", "--channel", "shop-it", "--days", "1"],
        &["order", "ORD-ESC", "--channel", "shop-it"],
        &["quarantine", "list", "--bucket", &table],
    ];
    for command in commands {
        for json_out in [false, true] {
            let mut args = vec!["--table", &table];
            if json_out {
                args.push("--json");
            }
            args.extend_from_slice(command);
            let out = ok(qapla(&args));
            for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                assert_eq!(
                    acts_on_a_terminal(text),
                    None,
                    "{command:?} (json: {json_out}) {name}: {text:?}"
                );
            }
            // Said, written out: the operator sees what was sent.
            assert!(
                out.stdout
                    .contains(r"\u001b]0;owned\u0007\u001b[2J\u009b31m\u007f"),
                "{command:?} (json: {json_out}): {}",
                out.stdout
            );
            if json_out {
                // Still one JSON document, of the same texts.
                let doc = out.json();
                assert!(doc.to_string().contains("owned"), "{doc}");
            }
        }
    }
    let timeline = ok(qapla(&["--table", &table, "--json", "timeline", "ESC-1"])).json();
    assert_eq!(
        timeline["timeline"]["state"]["statusName"],
        json!(format!("LABEL{HOSTILE}")),
        "the JSON document's text is the courier's, only written out"
    );
}
