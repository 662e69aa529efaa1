//! Runs over the memory twins: a fake of Qapla's API with its real bucket, the memory store, a
//! clock whose waits pass at once.

use super::memory::{scripted_shipment, ManualClock, MemoryQapla, Step};
use super::*;
use crate::auth::{Channels, OrderTrigger};
use crate::fixtures;
use crate::store::MemoryStore;
use chrono::TimeZone;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const KEY: &str = fixtures::DEMO_KEY;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Records a webhook body as the shipments webhook does (it calls the same function).
fn deliver(store: &MemoryStore, body: &Value) -> Recorded {
    let mut map = body.as_object().cloned().unwrap_or_default();
    map.remove("apiKey");
    let ev = crate::model::shipment::validate(map, crate::dates::rome()).expect("valid");
    let channel = demo()[0].0.clone();
    block_on(record::shipment(
        store,
        &crate::store::MemoryArchive::default(),
        &channel,
        &ev,
        Source::Webhook,
        Utc::now(),
        400,
    ))
    .expect("recorded")
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 12, 0, 0)
        .single()
        .expect("time")
}

fn settings() -> RecoverySettings {
    RecoverySettings {
        stop_margin: Duration::from_secs(1),
        ..RecoverySettings::new(crate::dates::rome(), 400, 24 * 7)
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    qapla: MemoryQapla,
    store: MemoryStore,
    settings: RecoverySettings,
}

impl Rig {
    fn new() -> Rig {
        let clock = Arc::new(ManualClock::new(start()));
        let ticks = Arc::clone(&clock);
        let qapla = MemoryQapla::new(Arc::new(move || ticks.elapsed()));
        qapla.add_key(KEY);
        Rig {
            clock,
            qapla,
            store: MemoryStore::new(),
            settings: settings(),
        }
    }

    fn run_for(
        &self,
        channels: &[(Channel, Option<ApiKey>)],
        invocation: Invocation,
        for_: Duration,
    ) -> RecoverySummary {
        let reconciler = Reconciler {
            api: &self.qapla,
            store: &self.store,
            clock: self.clock.as_ref(),
            settings: &self.settings,
        };
        let deadline = self.clock.elapsed() + for_;
        block_on(reconciler.run(channels, invocation, deadline))
    }

    fn run(&self) -> ChannelSummary {
        let summary = self.run_for(&demo(), Invocation::Scheduled, Duration::from_secs(900));
        summary.channels[0].clone()
    }
}

fn demo() -> Vec<(Channel, Option<ApiKey>)> {
    let channels = Channels::parse(&fixtures::demo_channels()).expect("demo");
    let channel = channels.get(fixtures::DEMO_CHANNEL).expect("demo").clone();
    vec![(channel, Some(ApiKey::new(KEY)))]
}

/// A life of distinct statuses at distinct times, oldest first, in Qapla's local time.
fn life() -> Vec<Step> {
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
    statuses
        .iter()
        .enumerate()
        .map(|(i, &(s, d))| Step::new(s, d, format!("2026-03-04 {:02}:{:02}:00", 8 + i, 5 * i)))
        .collect()
}

/// The webhook body of a step, as Qapla' would have sent it (the fake's place and texts).
fn webhook_body(step: &Step, tracking: &str) -> Value {
    let mut v = fixtures::SHIPMENT_IN_TRANSIT.json();
    v["trackingNumber"] = json!(tracking);
    v["date"] = json!(step.date);
    v["qaplaStatusID"] = json!(step.status.to_string());
    v["statusDetails"] = match step.detail {
        Some(d) => json!([{"id": d, "detail": "DETAIL"}]),
        None => json!([]),
    };
    v
}

/// The table as the tests compare it: what a change means, not when or by which path it came.
fn meaning(items: BTreeMap<(String, String), Value>) -> BTreeMap<(String, String), Value> {
    items
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("SHIPMENT#"))
        .map(|(k, mut v)| {
            if let Some(m) = v.as_object_mut() {
                for volatile in ["receivedAt", "expiresAt", "source", "deliveryId", "payload"] {
                    m.remove(volatile);
                }
                // The webhook's and the API's texts differ; the status does not.
                m.remove("qaplaStatus");
            }
            (k, v)
        })
        .collect()
}

fn history_count(store: &MemoryStore) -> usize {
    store
        .items()
        .keys()
        .filter(|(_, sk)| sk.starts_with(table::EVENT_PREFIX))
        .count()
}

#[test]
fn an_outage_is_recovered_as_if_nothing_was_missed() {
    let steps = life();
    let undisturbed = MemoryStore::new();
    for step in &steps {
        let body = webhook_body(step, "JD0146000031");
        assert_eq!(deliver(&undisturbed, &body), Recorded::Stored);
    }
    let rig = Rig::new();
    // The webhooks were down for steps 2 to 5.
    for (i, step) in steps.iter().enumerate() {
        if !(2..=5).contains(&i) {
            deliver(&rig.store, &webhook_body(step, "JD0146000031"));
        }
    }
    rig.qapla.put_shipment(
        KEY,
        scripted_shipment(1, "DHL", "JD0146000031", "ORD-10452", &steps, &[]),
    );
    let first = rig.run();
    assert_eq!(first.outcome, ChannelOutcome::Done, "{first:?}");
    assert_eq!(first.changes_recovered, 4, "{first:?}");
    assert_eq!(first.shipments_fetched, 1);
    assert_eq!(meaning(rig.store.items()), meaning(undisturbed.items()));
    assert_eq!(history_count(&rig.store), steps.len());
    let api_items = rig
        .store
        .items()
        .values()
        .filter(|v| v["sk"].as_str().is_some_and(|s| s.starts_with("EVENT#")))
        .filter(|v| v["source"] == json!("api"))
        .count();
    assert_eq!(api_items, 4);

    let before = rig.store.items();
    rig.clock.advance(Duration::from_secs(900));
    let second = rig.run();
    assert_eq!(second.outcome, ChannelOutcome::Done);
    assert_eq!((second.changes_recovered, second.shipments_fetched), (0, 0));
    let after: BTreeMap<_, _> = rig
        .store
        .items()
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("SHIPMENT#"))
        .collect();
    let before: BTreeMap<_, _> = before
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("SHIPMENT#"))
        .collect();
    assert_eq!(after, before, "a second run changes nothing");
}

#[test]
fn hundreds_of_shipments_never_overdraw_qaplas_bucket() {
    let rig = Rig::new();
    for n in 0..300u64 {
        let steps = [Step::new(
            3,
            None,
            format!("2026-03-05 {:02}:{:02}:00", 8 + n / 60, n % 60),
        )];
        rig.qapla.put_shipment(
            KEY,
            scripted_shipment(n, "DHL", &format!("T{n}"), "R", &steps, &[]),
        );
    }
    let got = rig.run();
    assert_eq!(got.outcome, ChannelOutcome::Done, "{got:?}");
    assert_eq!(got.shipments_fetched, 300);
    assert_eq!(got.changes_recovered, 300);
    let usage = rig.qapla.usage(KEY);
    assert_eq!(usage.overdrawn, 0, "{usage:?}");
    assert_eq!(got.rate_limited, 0);
    assert_eq!(u64::from(usage.requests), u64::from(got.calls));
    // Paced: at most our capacity at once, then 2 a second.
    let elapsed = rig.clock.elapsed().as_secs_f64();
    let floor = (f64::from(got.calls) - 100.0) / 2.0;
    assert!(elapsed >= floor, "{} calls in {elapsed} s", got.calls);
}

#[test]
fn a_429_is_backed_off_and_the_run_completes() {
    let rig = Rig::new();
    rig.qapla
        .put_shipment(KEY, scripted_shipment(1, "DHL", "JD1", "R", &life(), &[]));
    rig.qapla.force_429(3);
    let got = rig.run();
    assert_eq!(got.outcome, ChannelOutcome::Done, "{got:?}");
    assert_eq!(got.rate_limited, 3);
    assert_eq!(got.changes_recovered, 8);
    // Waits of 1 to 2, 2 to 4 and 4 to 8 seconds (half kept at random; the twin's half is 0.5).
    assert!(rig.clock.elapsed() >= Duration::from_secs_f64(1.5 + 3.0 + 6.0));
    assert_eq!(rig.qapla.usage(KEY).overdrawn, 0);
}

#[test]
fn endless_429s_stop_the_channel_not_the_run() {
    let rig = Rig::new();
    rig.qapla.force_429(100);
    let got = rig.run();
    assert_eq!(got.outcome, ChannelOutcome::Failed);
    assert_eq!(got.rate_limited, rig.settings.pace.max_retries + 1);
    assert!(got.errors[0].contains("rate limited"), "{:?}", got.errors);
    assert_eq!(got.checkpoint, None);
}

#[test]
fn a_run_cut_by_its_deadline_resumes_without_gaps_or_repeats() {
    let whole = Rig::new();
    let cut = Rig::new();
    for rig in [&whole, &cut] {
        for n in 0..250u64 {
            // Spread over the last 30 hours, so there are many windows.
            let at = start() - chrono::Duration::minutes(7 * n as i64 + 1);
            let local = plan::qapla_time(at, crate::dates::rome());
            let steps = [Step::new(3, None, local.clone()), Step::new(4, None, local)];
            rig.qapla.put_shipment(
                KEY,
                scripted_shipment(
                    n,
                    "DHL",
                    &format!("T{n}"),
                    "R",
                    &steps[..1 + (n as usize % 2)],
                    &[],
                ),
            );
        }
    }
    let all = whole.run();
    assert_eq!(all.outcome, ChannelOutcome::Done);
    // 100 tokens at once, then 2 a second: 60 s stops the run part way.
    let mut total = 0;
    let mut runs = 0;
    loop {
        let got = cut.run_for(&demo(), Invocation::Scheduled, Duration::from_secs(60));
        let got = &got.channels[0];
        total += got.changes_recovered;
        runs += 1;
        if got.outcome == ChannelOutcome::Done {
            break;
        }
        assert_eq!(got.outcome, ChannelOutcome::Deadline, "{got:?}");
        assert!(runs < 20, "no progress");
        cut.clock.advance(Duration::from_secs(60));
    }
    assert!(runs > 1, "the deadline never cut a run");
    assert_eq!(
        total, all.changes_recovered,
        "no change recorded twice or missed"
    );
    assert_eq!(meaning(cut.store.items()), meaning(whole.store.items()));
}

#[test]
fn channels_without_a_key_are_skipped_and_a_wrong_key_stops_only_its_channel() {
    let rig = Rig::new();
    rig.qapla
        .put_shipment(KEY, scripted_shipment(1, "DHL", "JD1", "R", &life(), &[]));
    let entry = |name: &str, key: &str| {
        crate::auth::Channel::entry(name, &ApiKey::new(key), OrderTrigger::Created)
    };
    let spec = [
        entry("quiet", "key-quiet"),
        entry("revoked", "key-revoked"),
        entry("swapped", "key-swapped"),
        fixtures::demo_channels(),
    ]
    .join(",");
    let channels = Channels::parse(&spec).expect("channels");
    let get = |n: &str| channels.get(n).expect("channel").clone();
    let list = vec![
        (get("quiet"), None),
        (get("revoked"), Some(ApiKey::new("key-revoked"))),
        (get("swapped"), Some(ApiKey::new("not-the-key-of-swapped"))),
        (get(fixtures::DEMO_CHANNEL), Some(ApiKey::new(KEY))),
    ];
    let summary = rig.run_for(&list, Invocation::Scheduled, Duration::from_secs(900));
    let outcomes: Vec<ChannelOutcome> = summary.channels.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ChannelOutcome::Skipped,
            ChannelOutcome::Failed,
            ChannelOutcome::Failed,
            ChannelOutcome::Done
        ]
    );
    assert!(summary.channels[1].errors[0].contains("Invalid apiKey"));
    assert!(summary.channels[2].errors[0].contains("digest"));
    assert_eq!(
        summary.channels[2].calls, 0,
        "a key not the channel's is never sent"
    );
    assert_eq!(summary.channels[3].changes_recovered, 8);
    let text = serde_json::to_string(&summary).expect("json");
    for key in ["key-revoked", "not-the-key-of-swapped", KEY] {
        assert!(!text.contains(key), "{key} in the summary");
    }
}

#[test]
fn a_large_answer_is_asked_again_in_halves() {
    let mut rig = Rig::new();
    rig.settings.split_above = 10;
    for n in 0..40u64 {
        let steps = [Step::new(3, None, format!("2026-03-05 09:{:02}:00", n))];
        rig.qapla.put_shipment(
            KEY,
            scripted_shipment(n, "DHL", &format!("T{n}"), "R", &steps, &[]),
        );
    }
    let got = rig.run();
    assert_eq!(got.outcome, ChannelOutcome::Done);
    assert_eq!(got.changes_recovered, 40);
    assert!(
        got.windows > 24 * 7,
        "the busy hour was split: {} windows",
        got.windows
    );
}

#[test]
fn the_checkpoint_moves_only_forward_and_past_whole_windows() {
    let rig = Rig::new();
    let first = rig.run();
    assert_eq!(first.checkpoint.as_deref(), Some("2026-03-05T12:00:00Z"));
    // An explicit older span runs, and leaves the checkpoint where it is.
    let since = start() - chrono::Duration::hours(30);
    let span = rig.run_for(
        &demo(),
        Invocation::Span {
            since,
            until: Some(since + chrono::Duration::hours(2)),
        },
        Duration::from_secs(900),
    );
    assert_eq!(span.channels[0].windows, 2);
    assert_eq!(
        block_on(rig.store.checkpoint(fixtures::DEMO_CHANNEL)).expect("read"),
        Some(start())
    );
}

#[test]
fn failed_deliveries_in_qaplas_log_are_counted_once() {
    let rig = Rig::new();
    let log = [
        (3, "2026-03-04 09:05:10", "KO"),
        (3, "2026-03-04 12:05:10", "ERROR 503"),
        (50, "2026-03-04 10:10:10", "OK"),
        (1, "2025-01-01 08:00:00", "KO"),
    ];
    rig.qapla
        .put_shipment(KEY, scripted_shipment(1, "DHL", "JD1", "R", &life(), &log));
    let got = rig.run();
    assert_eq!(got.failed_deliveries, 2, "{got:?}");
}

#[test]
fn invocations() {
    let tz = crate::dates::rome();
    let at = |s: &str| plan::read_time(s, tz).expect("time");
    let cases: Vec<(Value, Result<Invocation, ()>)> = vec![
        (json!({}), Ok(Invocation::Scheduled)),
        (
            json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler"}),
            Ok(Invocation::Scheduled),
        ),
        (
            json!({"since": "2026-03-04 08:00:00"}),
            Ok(Invocation::Span {
                since: at("2026-03-04T07:00:00Z"),
                until: None,
            }),
        ),
        (
            json!({"since": "2026-03-04T08:00:00Z", "until": "2026-03-04 12:00:00"}),
            Ok(Invocation::Span {
                since: at("2026-03-04T08:00:00Z"),
                until: Some(at("2026-03-04T11:00:00Z")),
            }),
        ),
        (json!({"since": "yesterday"}), Err(())),
        (json!({"since": 5}), Err(())),
        (
            json!({"since": "2026-03-04 12:00:00", "until": "2026-03-04 08:00:00"}),
            Err(()),
        ),
    ];
    for (event, want) in cases {
        assert_eq!(
            Invocation::from_event(&event, tz).map_err(|_| ()),
            want,
            "{event}"
        );
    }
}

/// Channels of their own keys, each with `shipments` changes in the last hours, all to fetch.
fn busy_channels(rig: &Rig, names: &[(&str, u64)]) -> Vec<(Channel, Option<ApiKey>)> {
    let entries: Vec<String> = names
        .iter()
        .map(|(name, _)| {
            let key = ApiKey::new(format!("key-of-{name}"));
            crate::auth::Channel::entry(name, &key, OrderTrigger::Created)
        })
        .collect();
    let channels = Channels::parse(&entries.join(",")).expect("channels");
    names
        .iter()
        .map(|&(name, shipments)| {
            let key = format!("key-of-{name}");
            rig.qapla.add_key(&key);
            for n in 0..shipments {
                let at = start() - chrono::Duration::seconds(20 * n as i64 + 1);
                let steps = [Step::new(
                    3,
                    None,
                    plan::qapla_time(at, crate::dates::rome()),
                )];
                rig.qapla.put_shipment(
                    &key,
                    scripted_shipment(n, "DHL", &format!("{name}-{n}"), "R", &steps, &[]),
                );
            }
            let channel = channels.get(name).expect("channel").clone();
            (channel, Some(ApiKey::new(key)))
        })
        .collect()
}

#[test]
fn a_busy_channel_first_in_line_leaves_the_others_their_share_and_takes_what_they_leave() {
    let mut rig = Rig::new();
    rig.settings.lookback = chrono::Duration::hours(3);
    // 600 shipments to fetch take 100 at once and then 250 s at 2 a second: more than the run.
    let channels = busy_channels(&rig, &[("busy", 600), ("quiet", 10)]);
    let run = Duration::from_secs(61);
    let got = rig.run_for(&channels, Invocation::Scheduled, run);
    let (busy, quiet) = (&got.channels[0], &got.channels[1]);
    assert_eq!(quiet.outcome, ChannelOutcome::Done, "{quiet:?}");
    assert_eq!(quiet.changes_recovered, 10, "{quiet:?}");
    assert_eq!(busy.outcome, ChannelOutcome::Deadline, "{busy:?}");
    // Its first share was half the run (30 s, so 100 + 60 calls); the quiet channel needed
    // almost none of its half, and the busy one had it in a second round.
    assert!(busy.calls > 100 + 2 * 50, "{busy:?}");
    assert!(busy.busy_ms >= 55_000, "{busy:?}");
    let end = run - rig.settings.stop_margin;
    assert!(
        rig.clock.elapsed() <= end,
        "{:?} past {end:?}",
        rig.clock.elapsed()
    );
    assert_eq!(rig.qapla.usage("key-of-busy").overdrawn, 0);
}

#[test]
fn channels_that_all_have_more_than_a_run_share_it_evenly() {
    let mut rig = Rig::new();
    rig.settings.lookback = chrono::Duration::hours(5);
    let names = [("shop-a", 900), ("shop-b", 900), ("shop-c", 900)];
    let channels = busy_channels(&rig, &names);
    let run = Duration::from_secs(91);
    let got = rig.run_for(&channels, Invocation::Scheduled, run);
    let third = (run - rig.settings.stop_margin).as_millis() as u64 / 3;
    for c in &got.channels {
        assert_eq!(c.outcome, ChannelOutcome::Deadline, "{c:?}");
        assert!(c.changes_recovered > 0, "{c:?}");
        assert!(
            c.busy_ms.abs_diff(third) <= 1_000,
            "{} had {} ms of a third of {third} ms",
            c.channel,
            c.busy_ms
        );
    }
    // Each key's bucket is its own, and refills while the others run: at least its capacity
    // and its rate over a third of the run each.
    for c in &got.channels {
        assert!(u64::from(c.calls) >= 100 + 2 * third / 1_000 - 2, "{c:?}");
    }
}

#[test]
fn a_channel_cut_in_a_round_resumes_at_its_window_and_records_nothing_twice() {
    let mut rig = Rig::new();
    rig.settings.lookback = chrono::Duration::hours(3);
    let whole = Rig::new();
    let channels = busy_channels(&rig, &[("busy", 300), ("quiet", 3)]);
    let mut once = whole.settings.clone();
    once.lookback = chrono::Duration::hours(3);
    let alone = busy_channels(&whole, &[("busy", 300), ("quiet", 3)]);
    let reconciler = Reconciler {
        api: &whole.qapla,
        store: &whole.store,
        clock: whole.clock.as_ref(),
        settings: &once,
    };
    let all = block_on(reconciler.run(&alone, Invocation::Scheduled, Duration::from_secs(900)));
    assert!(all
        .channels
        .iter()
        .all(|c| c.outcome == ChannelOutcome::Done));
    // Long enough for both in two rounds, short enough to cut the busy one in the first.
    let got = rig.run_for(&channels, Invocation::Scheduled, Duration::from_secs(200));
    for (c, a) in got.channels.iter().zip(&all.channels) {
        assert_eq!(c.outcome, ChannelOutcome::Done, "{c:?}");
        assert_eq!(c.changes_recovered, a.changes_recovered, "{c:?}");
        assert!(c.checkpoint.is_some(), "{c:?}");
    }
    assert_eq!(meaning(rig.store.items()), meaning(whole.store.items()));
}

#[test]
fn entries_that_cannot_be_read_are_counted_and_the_rest_recorded() {
    let rig = Rig::new();
    // A life inside one window, so each shipment is listed and fetched once.
    let steps: Vec<Step> = life()
        .iter()
        .enumerate()
        .map(|(i, s)| Step::new(s.status, s.detail, format!("2026-03-05 09:1{i}:00")))
        .collect();
    let mut shipment = scripted_shipment(1, "DHL", "JD1", "R", &steps, &[]);
    // A history entry at a time that does not exist, and one without a status id.
    shipment["trackingHistory"][1]["dateISO"] = json!("2026-03-05 09:16:99");
    shipment["trackingHistory"][2]["qaplaStatus"] = json!(null);
    rig.qapla.put_shipment(KEY, shipment);
    // A listed shipment whose tracking number is not an identifier.
    let mut odd = scripted_shipment(2, "DHL", "JD2", "R", &steps, &[]);
    odd["trackingNumber"] = json!("JD#2");
    rig.qapla.put_shipment(KEY, odd);
    let got = rig.run();
    assert_eq!(got.outcome, ChannelOutcome::Done, "{got:?}");
    assert_eq!(
        (got.shipments_checked, got.shipments_fetched),
        (2, 1),
        "{got:?}"
    );
    assert_eq!(got.unreadable, 3, "{got:?}");
    assert_eq!(got.changes_recovered, 6, "{got:?}");
}

#[test]
fn unreadable_entries_say_where_and_why_without_their_values() {
    let answer = json!({"trackingByTimeFrame": {"result": "OK", "shipments": [
        {"id": "1", "trackingNumber": "T1", "courier": "DHL",
         "status": "Mario Rossi, Via Roma 1"},
        {"id": "2", "trackingNumber": "T2", "courier": "DHL"}
    ]}});
    let listing = api::read(TRACKING_BY_TIME_FRAME, answer.to_string().as_bytes()).expect("OK");
    assert_eq!(listing.shipments.len(), 1);
    let unread = &listing.unreadable[0];
    assert_eq!(unread.entry, "shipments[0].status");
    assert!(
        unread.reason.starts_with("invalid type: string"),
        "{unread:?}"
    );
    assert!(!format!("{unread:?}").contains("Rossi"), "{unread:?}");

    // Unknown fields of an entry go into the webhook-shaped body: they must not reach a reason.
    let shipment: api::ApiShipment = serde_json::from_value(json!({
        "trackingNumber": "T1", "courier": "DHL",
        "status": {"dateISO": "2026-01-03 10:00:00", "qaplaStatus": {"id": "x"},
                   "recipient": "Mario Rossi"},
        "trackingHistory": [
            {"dateISO": "2026-01-02 10:00:00", "qaplaStatus": {"id": 4}},
            {"dateISO": "2026-02-30 10:00:00", "qaplaStatus": {"id": 3},
             "recipient": "Mario Rossi"},
            {"dateISO": null, "qaplaStatus": {"id": 3}, "recipient": "Mario Rossi"}
        ]
    }))
    .expect("model");
    let (events, refused) = shipment.events(crate::dates::rome());
    assert_eq!(events.len(), 1);
    let entries: Vec<&str> = refused.iter().map(|u| u.entry.as_str()).collect();
    assert_eq!(
        entries,
        ["trackingHistory[1]", "trackingHistory[2]", "status"]
    );
    for unread in &refused {
        assert!(!unread.reason.contains("Rossi"), "{unread:?}");
        assert!(!unread.reason.is_empty());
    }
}

#[test]
fn a_logged_reason_quotes_no_value() {
    let cases = [
        (
            r#"qaplaStatusID: "Mario Rossi" is not a status id"#,
            r#"qaplaStatusID: "…" is not a status id"#,
        ),
        (r#"a "quoted \" escape" then "two""#, r#"a "…" then "…""#),
        (
            "missing dateISO or qaplaStatus.id",
            "missing dateISO or qaplaStatus.id",
        ),
        (r#"unclosed "Via Roma"#, r#"unclosed "…""#),
        ("", ""),
    ];
    for (reason, logged) in cases {
        assert_eq!(unquoted(reason), logged, "{reason}");
    }
}
