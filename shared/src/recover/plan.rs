//! What a run asks: the windows from a channel's checkpoint to now (overlapping the last one a
//! little, short, split when an answer is large), and which listed shipments need their history.

use crate::dates;
use crate::recover::api::ApiShipment;
use crate::table::ShipmentState;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use std::collections::VecDeque;

/// A span of status times, `[from, until)`, asked of `trackingByTimeFrame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Window {
    pub fn length(&self) -> Duration {
        self.until - self.from
    }

    /// Its two halves, if it is longer than `min`.
    pub fn split(&self, min: Duration) -> Option<(Window, Window)> {
        if self.length() <= min {
            return None;
        }
        let middle = self.from + self.length() / 2;
        Some((
            Window {
                from: self.from,
                until: middle,
            },
            Window {
                from: middle,
                until: self.until,
            },
        ))
    }
}

/// `[from, until)` cut into windows of at most `length`, oldest first.
pub fn windows(from: DateTime<Utc>, until: DateTime<Utc>, length: Duration) -> VecDeque<Window> {
    let mut out = VecDeque::new();
    let mut start = from;
    while start < until {
        let end = (start + length).min(until);
        out.push_back(Window {
            from: start,
            until: end,
        });
        start = end;
    }
    out
}

/// Where a scheduled run starts: a little before the checkpoint (Qapla' advises overlapping
/// windows), or `lookback` before now for a channel that has none.
pub fn start(
    checkpoint: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    lookback: Duration,
    overlap: Duration,
) -> DateTime<Utc> {
    match checkpoint {
        Some(c) => (c - overlap).min(now),
        None => now - lookback,
    }
}

/// A UTC time as Qapla's API takes it: `YYYY-MM-DD HH:MM:SS` in the merchant's zone.
pub fn qapla_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A time given to a run: RFC 3339, or Qapla's `YYYY-MM-DD HH:MM:SS` in the merchant's zone.
pub fn read_time(value: &str, tz: Tz) -> Result<DateTime<Utc>, dates::BadDate> {
    match DateTime::parse_from_rfc3339(value.trim()) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => dates::to_utc(value, tz),
    }
}

/// Does a listed shipment need its history fetched? Yes when we do not know it, or our state is
/// not exactly its current status (id, detail and time): something happened we did not record.
pub fn needs_history(listed: &ApiShipment, ours: Option<&ShipmentState>, tz: Tz) -> bool {
    let Some(ours) = ours else {
        return true;
    };
    let (events, _) = listed.events(tz);
    match events.last() {
        Some(current) => {
            current.status.id != ours.status_id
                || current.status.detail != ours.status_detail
                || dates::iso(&current.date_utc) != ours.date_utc
        }
        // No dated current status: only the history can tell.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 16, h, m, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn windows_cover_the_span_without_gaps() {
        let w = windows(at(8, 0), at(10, 30), Duration::hours(1));
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].from, at(8, 0));
        assert_eq!(w[2].until, at(10, 30));
        for pair in w.iter().collect::<Vec<_>>().windows(2) {
            assert_eq!(pair[0].until, pair[1].from);
        }
        assert!(windows(at(8, 0), at(8, 0), Duration::hours(1)).is_empty());
    }

    #[test]
    fn a_window_splits_into_halves_down_to_its_minimum() {
        let w = Window {
            from: at(8, 0),
            until: at(9, 0),
        };
        let (a, b) = w.split(Duration::minutes(1)).expect("splits");
        assert_eq!(
            (a.from, a.until, b.from, b.until),
            (at(8, 0), at(8, 30), at(8, 30), at(9, 0))
        );
        let short = Window {
            from: at(8, 0),
            until: at(8, 1),
        };
        assert_eq!(short.split(Duration::minutes(1)), None);
    }

    #[test]
    fn start_overlaps_the_checkpoint_or_looks_back() {
        let now = at(12, 0);
        let (lookback, overlap) = (Duration::hours(24), Duration::minutes(5));
        assert_eq!(start(Some(at(10, 0)), now, lookback, overlap), at(9, 55));
        assert_eq!(start(None, now, lookback, overlap), now - lookback);
        // A checkpoint in the future (a clock ahead) never starts after now.
        assert_eq!(start(Some(at(13, 0)), now, lookback, overlap), now);
    }

    #[test]
    fn times_in_qaplas_form_and_back() {
        let tz = crate::dates::rome();
        assert_eq!(qapla_time(at(6, 7), tz), "2026-06-16 08:07:00");
        assert_eq!(read_time("2026-06-16 08:07:00", tz), Ok(at(6, 7)));
        assert_eq!(read_time("2026-06-16T06:07:00Z", tz), Ok(at(6, 7)));
        assert_eq!(read_time("2026-06-16T08:07:00+02:00", tz), Ok(at(6, 7)));
        assert!(read_time("yesterday", tz).is_err());
    }

    #[test]
    fn which_shipments_need_their_history() {
        let tz = crate::dates::rome();
        let listed: ApiShipment = serde_json::from_value(json!({
            "trackingNumber": "JD1", "courier": "DHL",
            "status": {"dateISO": "2026-03-02 09:41:07",
                       "qaplaStatus": {"id": 6, "detailID": 1}}
        }))
        .expect("listed");
        let body = crate::fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        let ev =
            crate::model::shipment::validate(body.as_object().cloned().unwrap_or_default(), tz)
                .expect("valid");
        let channels = crate::auth::Channels::parse(&crate::fixtures::demo_channels()).expect("c");
        let channel = channels.get(crate::fixtures::DEMO_CHANNEL).expect("demo");
        let ours = ShipmentState::new(channel, &ev, crate::table::Source::Webhook, Utc::now());
        assert!(!needs_history(&listed, Some(&ours), tz));
        assert!(needs_history(&listed, None, tz));
        let mut older = ours.clone();
        older.date_utc = "2026-03-01T08:41:07Z".into();
        assert!(needs_history(&listed, Some(&older), tz));
        let mut other = ours.clone();
        other.status_detail = None;
        assert!(needs_history(&listed, Some(&other), tz));
    }
}
