//! Is an open shipment stuck, and is its stuck episode still to be alerted? A Qapla' rule over a
//! shipment's state item: held in stock (EXCEPTION / STOCK) for more than `stock_days`, or any
//! other non-final status unchanged for more than `days`, measured from the state's last change.
//!
//! An episode is one state of the shipment: it is keyed by the state's `ord`, which every new
//! state changes. The state item records the `ord` it was alerted for ([`STUCK_ALERTED`]), so
//! a shipment is alerted once per episode, and a new change (which rewrites the item) starts a
//! new one.

use crate::dates::iso;
use crate::identity::EventId;
use crate::status::{EXCEPTION, STOCK_DETAIL};
use crate::table::{ShipmentState, STUCK_ALERTED};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// The thresholds, in whole days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckRule {
    /// Held in stock (EXCEPTION / STOCK): a courier returns such a parcel after a few days.
    pub stock_days: u32,
    /// Any other non-final status.
    pub days: u32,
}

pub const DEFAULT_STOCK_DAYS: u32 = 2;
pub const DEFAULT_DAYS: u32 = 5;

impl Default for StuckRule {
    fn default() -> Self {
        StuckRule {
            stock_days: DEFAULT_STOCK_DAYS,
            days: DEFAULT_DAYS,
        }
    }
}

/// Which threshold a shipment crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Held in stock for more than `stock_days`.
    Stock,
    /// Any other status unchanged for more than `days`.
    Unchanged,
}

impl StuckRule {
    /// The reason a shipment in this status would be stuck, and its threshold in days.
    pub fn threshold(&self, status_id: u32, detail: Option<u32>) -> (Reason, u32) {
        if status_id == EXCEPTION && detail == Some(STOCK_DETAIL) {
            (Reason::Stock, self.stock_days)
        } else {
            (Reason::Unchanged, self.days)
        }
    }

    /// The open index's bound at `now`: no shipment changed after it can be stuck under either
    /// threshold.
    pub fn cutoff(&self, now: DateTime<Utc>) -> String {
        iso(&(now - Duration::days(i64::from(self.stock_days.min(self.days)))))
    }
}

/// A stuck episode to alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub state: ShipmentState,
    pub reason: Reason,
    pub threshold_days: u32,
    /// How long the state is unchanged, at the check.
    pub age_seconds: i64,
    /// When the check found it.
    pub checked_at: String,
}

impl Episode {
    /// The episode's key on the state item: the state's `ord`.
    pub fn key(&self) -> &str {
        &self.state.ord
    }

    /// The stable id of the episode's alert: the same for every try, different from the id of
    /// the status change, so a subscriber deduplicating on `id` keeps both.
    pub fn id(&self) -> EventId {
        EventId::of_content(&json!({"event": "shipment.stuck", "pk": self.state.pk,
                                    "ord": self.state.ord}))
    }

    /// Whole days unchanged.
    pub fn days(&self) -> i64 {
        self.age_seconds / 86_400
    }
}

/// What the check makes of one open shipment.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Final: never stuck.
    Final,
    /// Changed within its threshold.
    Moving,
    /// Stuck, and this episode was alerted already.
    Alerted,
    /// Stuck, and not alerted yet.
    Stuck(Box<Episode>),
}

/// The verdict on a state item (as the table holds it) at `now`.
pub fn check(item: &Value, rule: &StuckRule, now: DateTime<Utc>) -> Result<Verdict, String> {
    let state: ShipmentState = serde_json::from_value(item.clone())
        .map_err(|e| crate::model::shape_only(&e.to_string()))?;
    let alerted = item.get(STUCK_ALERTED).and_then(Value::as_str);
    Ok(verdict(state, alerted, rule, now))
}

/// The verdict on a state, given the episode key its item records as alerted.
pub fn verdict(
    state: ShipmentState,
    alerted: Option<&str>,
    rule: &StuckRule,
    now: DateTime<Utc>,
) -> Verdict {
    if state.is_final {
        return Verdict::Final;
    }
    let (reason, threshold_days) = rule.threshold(state.status_id, state.status_detail);
    let since = DateTime::parse_from_rfc3339(state.last_change()).map(|t| t.with_timezone(&Utc));
    let age = match since {
        Ok(since) => now - since,
        // A state without a readable time cannot be measured: never alerted on a guess.
        Err(_) => return Verdict::Moving,
    };
    if age <= Duration::days(i64::from(threshold_days)) {
        return Verdict::Moving;
    }
    if alerted == Some(state.ord.as_str()) {
        return Verdict::Alerted;
    }
    Verdict::Stuck(Box::new(Episode {
        reason,
        threshold_days,
        age_seconds: age.num_seconds(),
        checked_at: iso(&now),
        state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    /// The state item the webhook writes for a fixture with this status and date (local time).
    fn item(status: u32, detail: Option<u32>, date: &str) -> Value {
        item_received(status, detail, date, now())
    }

    /// The same, received at `received`.
    fn item_received(
        status: u32,
        detail: Option<u32>,
        date: &str,
        received: DateTime<Utc>,
    ) -> Value {
        let mut body = fixtures::SHIPMENT_IN_TRANSIT.json();
        body["qaplaStatusID"] = json!(status.to_string());
        body["date"] = json!(date);
        body["statusDetails"] = match detail {
            Some(d) => json!([{"id": d, "detail": "ON HOLD"}]),
            None => json!([]),
        };
        let channels = crate::auth::Channels::parse(&fixtures::demo_channels()).expect("demo");
        let channel = channels.get(fixtures::DEMO_CHANNEL).expect("demo channel");
        let ev = crate::model::shipment::validate(
            body.as_object().cloned().unwrap_or_default(),
            crate::dates::rome(),
        )
        .expect("valid");
        serde_json::to_value(ShipmentState::new(
            channel,
            &ev,
            crate::table::Source::Webhook,
            received,
        ))
        .expect("json")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn name(v: &Verdict) -> &'static str {
        match v {
            Verdict::Final => "final",
            Verdict::Moving => "moving",
            Verdict::Alerted => "alerted",
            Verdict::Stuck(e) => match e.reason {
                Reason::Stock => "stuck:stock",
                Reason::Unchanged => "stuck:unchanged",
            },
        }
    }

    #[test]
    fn verdicts() {
        let rule = StuckRule::default();
        // (status, detail, date in Rome, alerted for this state?, verdict)
        let cases: [(u32, Option<u32>, &str, bool, &str); 13] = [
            // In stock: 2 days and a minute ago (CET is UTC+1) is past the 2 days.
            (6, Some(1), "2026-03-08 12:59:00", false, "stuck:stock"),
            (6, Some(1), "2026-03-08 13:01:00", false, "moving"),
            (6, Some(1), "2026-03-01 10:00:00", true, "alerted"),
            // Other exceptions and statuses: 5 days.
            (6, Some(4), "2026-03-08 10:00:00", false, "moving"),
            (6, Some(4), "2026-03-05 10:00:00", false, "stuck:unchanged"),
            (6, None, "2026-03-04 10:00:00", false, "stuck:unchanged"),
            (3, None, "2026-03-05 13:01:00", false, "moving"),
            (3, None, "2026-03-05 12:59:00", false, "stuck:unchanged"),
            (3, None, "2026-03-01 12:59:00", true, "alerted"),
            (77, None, "2026-02-01 10:00:00", false, "stuck:unchanged"),
            // Final, however old; a date ahead of the check is not stuck.
            (99, None, "2026-01-01 10:00:00", false, "final"),
            (95, None, "2026-01-01 10:00:00", false, "final"),
            (3, None, "2026-03-20 10:00:00", false, "moving"),
        ];
        for (status, detail, date, alerted, expected) in cases {
            let mut item = item(status, detail, date);
            if alerted {
                item[STUCK_ALERTED] = item["ord"].clone();
            }
            let v = check(&item, &rule, now()).expect("readable");
            assert_eq!(
                name(&v),
                expected,
                "{status}/{detail:?} {date} alerted {alerted}"
            );
        }
    }

    #[test]
    fn a_status_dated_years_ahead_is_aged_from_its_receipt() {
        // A courier's typo: in stock "in 2029", received 3 days ago. Its order, the open index
        // and the stuck check all count from the receipt, so it is stuck like any other.
        let received = now() - Duration::days(3);
        let item = item_received(6, Some(1), "2029-03-07 13:00:00", received);
        let Verdict::Stuck(e) = check(&item, &StuckRule::default(), now()).expect("ok") else {
            panic!("a future-dated stock status is never stuck");
        };
        assert_eq!(e.age_seconds, 3 * 86_400);
        let open_key = item[crate::table::OPEN_SK].as_str().expect("open");
        assert!(open_key.starts_with("2026-03-07T12:00:00Z"), "{open_key}");
    }

    #[test]
    fn an_alert_for_an_earlier_state_does_not_silence_a_new_episode() {
        let rule = StuckRule::default();
        let mut item = item(6, Some(1), "2026-03-01 10:00:00");
        item[STUCK_ALERTED] = json!("2026-02-20T09:00:00Z#0#older");
        assert_eq!(
            name(&check(&item, &rule, now()).expect("ok")),
            "stuck:stock"
        );
    }

    #[test]
    fn the_episode_has_its_own_stable_id_and_age() {
        let rule = StuckRule {
            stock_days: 1,
            days: 3,
        };
        let item = item(6, Some(1), "2026-03-07 13:00:00");
        let Verdict::Stuck(e) = check(&item, &rule, now()).expect("ok") else {
            panic!("not stuck");
        };
        assert_eq!(
            (e.reason, e.threshold_days, e.days()),
            (Reason::Stock, 1, 3)
        );
        assert_eq!(e.age_seconds, 3 * 86_400);
        assert_eq!(e.key(), item["ord"].as_str().expect("ord"));
        assert_eq!(e.checked_at, "2026-03-10T12:00:00Z");
        let again = check(&item, &rule, now() + Duration::hours(5)).expect("ok");
        let Verdict::Stuck(later) = again else {
            panic!("not stuck");
        };
        assert_eq!(later.id(), e.id(), "the same episode, the same id");
        assert_ne!(e.id().as_str(), e.state.event_id.as_str());
        assert_eq!(rule.cutoff(now()), "2026-03-09T12:00:00Z");
        assert_eq!(StuckRule::default().cutoff(now()), "2026-03-08T12:00:00Z");
    }

    #[test]
    fn an_unreadable_item_is_an_error() {
        let bad = json!({"pk": "SHIPMENT#shop-it#DHL#X", "sk": "STATE", "statusId": "six"});
        assert!(check(&bad, &StuckRule::default(), now()).is_err());
    }
}
