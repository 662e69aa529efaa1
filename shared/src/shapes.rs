//! Snapshot tests: the items the webhook writes for every fixture, and the texts of the
//! notifications of a few representative changes, kept in `src/snapshots/`. Adding a field to an
//! item or changing a word of a notice is then one diff there, read in review.
//!
//! The runs are deterministic: every delivery reaches the webhook at one fixed time, ids are
//! content ids, and nothing is redacted.
//!
//! After a change meant to move them, write the new snapshots and read the diff before
//! committing:
//! - with cargo-insta: `cargo insta test -p qapla --lib --review -- shapes::`, or `cargo insta
//!   review` after a failing run;
//! - without it: `INSTA_UPDATE=always cargo test -p qapla --lib shapes::`, then `git diff`.
//!
//! A snapshot that differs fails its test. Where `CI` is set, insta writes no file at all (CI
//! checks, it never records); `INSTA_UPDATE=no` does the same on a developer's machine.

use crate::auth::OrderTrigger;
use crate::fixtures::{self, Fixture};
use crate::notify::{decide, AlertRule, Change, Notice, Notifier};
use crate::store::{MemoryArchive, MemoryStore};
use crate::table::Document;
use crate::testing::{an_order, post, received, run};
use crate::webhook::Webhook;
use serde_json::{json, Value};

/// The webhook of a fixture's kind, for the demo channel, over an empty memory store.
fn hook(kind: crate::kind::Kind) -> Webhook<MemoryStore, MemoryArchive> {
    Webhook::new(
        kind,
        fixtures::demo_config("t").settings,
        MemoryStore::new(),
        MemoryArchive::default(),
    )
}

fn deliver(hook: &mut Webhook<MemoryStore, MemoryArchive>, f: &Fixture) {
    hook.endpoint = f.kind;
    let answer = run(hook.handle_at(post(f.bytes()), received()));
    assert_eq!(answer.status, 200, "{}: {}", f.name, answer.outcome);
}

#[test]
fn the_items_the_webhook_writes_for_each_fixture() {
    for f in fixtures::ALL {
        let mut hook = hook(f.kind);
        deliver(&mut hook, &f);
        // In key order (pk, then sk): a shipment's history before its state, a document
        // before its versions.
        let items: Vec<Value> = hook.store.items().into_values().collect();
        insta::assert_json_snapshot!(format!("items@{}", f.name), items);
    }
}

fn notifier(personal_data: bool) -> Notifier {
    Notifier {
        alerts: AlertRule::default(),
        timezone: crate::dates::rome(),
        personal_data,
    }
}

/// A notice as a subscriber of each protocol reads it, in one text.
fn shown(n: &Notice) -> String {
    let attributes: Vec<String> = n
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let document = serde_json::to_string_pretty(&n.document).unwrap_or_default();
    format!(
        "id: {id}\nattributes: {attributes}\n\n--- email subject\n{subject}\n\n--- email\n\
         {email}\n--- sms ({chars} characters)\n{sms}\n\n--- json\n{document}\n",
        id = n.id,
        attributes = attributes.join(" "),
        subject = n.email_subject,
        email = n.email_body,
        chars = n.sms.chars().count(),
        sms = n.sms,
    )
}

/// The changes the notifier decides on while `fixtures` are delivered in order to one store, as
/// the table's stream would show them (each item's image before and after).
fn changes(list: &[Fixture]) -> Vec<Change> {
    let mut hook = hook(list[0].kind);
    let mut found = Vec::new();
    for f in list {
        let before = hook.store.items();
        deliver(&mut hook, f);
        for (key, new) in hook.store.items() {
            let old = before.get(&key);
            if old != Some(&new) {
                let change = decide(old, Some(&new)).expect("readable images");
                found.extend(change);
            }
        }
    }
    found
}

fn the_change(list: &[Fixture]) -> Change {
    changes(list).pop().expect("a change that notifies")
}

#[test]
fn the_texts_of_representative_notices() {
    let order = |trigger: OrderTrigger| match an_order(trigger, json!({}), received()) {
        Document::Order(item) => Change::Order(item),
        other => panic!("{other:?}"),
    };
    let cases: Vec<(&str, Change, bool)> = vec![
        (
            "first-status-in-transit",
            the_change(&[fixtures::SHIPMENT_IN_TRANSIT]),
            false,
        ),
        (
            "exception-with-detail-after-in-transit",
            the_change(&[
                fixtures::SHIPMENT_IN_TRANSIT,
                fixtures::SHIPMENT_EXCEPTION_STOCK,
            ]),
            false,
        ),
        (
            "delivered-after-exception",
            the_change(&[
                fixtures::SHIPMENT_EXCEPTION_STOCK,
                fixtures::SHIPMENT_DELIVERED_1_3,
            ]),
            false,
        ),
        (
            "failed-delivery-attempt",
            the_change(&[fixtures::SHIPMENT_FAILED_ATTEMPT]),
            false,
        ),
        (
            "unknown-status",
            the_change(&[fixtures::SHIPMENT_UNKNOWN_STATUS]),
            false,
        ),
        (
            "return-requested",
            the_change(&[fixtures::RETURNS_WRAPPED]),
            false,
        ),
        (
            "return-requested-personal-data-allowed",
            the_change(&[fixtures::RETURNS_WRAPPED]),
            true,
        ),
        ("order-created", the_change(&[fixtures::ORDERS]), false),
        ("order-transmitted", order(OrderTrigger::Transmitted), false),
    ];
    for (name, change, personal_data) in cases {
        let notice = notifier(personal_data).notice(&change);
        insta::assert_snapshot!(format!("notice@{name}"), shown(&notice));
    }
}
