//! Qapla' dates: `YYYY-MM-DD HH:MM:SS` with no zone, meaning the merchant's local time
//! (Europe/Rome unless configured), turned into UTC.
//!
//! Daylight saving makes local time ambiguous twice a year. We resolve it deterministically:
//! - in the autumn overlap (a local time that happens twice) the earlier instant wins, since
//!   couriers report as events happen and the first pass is the one that existed first;
//! - in the spring gap (a local time that never happens) the time is read with the offset in force
//!   just before the gap, so 02:30 becomes 03:30 summer time, as a clock that missed the change would.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a date could not be read. Its text names the shape expected, never the value, which ends up
/// in logs and in the reason a quarantined delivery is kept with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a date of the form YYYY-MM-DD HH:MM:SS between the years 1 and 9999")]
pub struct BadDate {
    /// The value's first 40 characters, for the caller that may show it.
    pub value: String,
}

/// The years a date may fall in once in UTC: their ISO 8601 text has four digits, so items sort
/// by it as by time; before or after, chrono could not always place the instant either.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Parses a time zone name such as `Europe/Rome` from the compiled-in database.
pub fn zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// Reads a Qapla' date in `tz` and returns the UTC instant. A bare date (`YYYY-MM-DD`) means
/// local midnight; seconds may be left out; a `T` separator is accepted as well as a space.
pub fn to_utc(value: &str, tz: Tz) -> Result<DateTime<Utc>, BadDate> {
    let bad = || BadDate {
        value: value.chars().take(40).collect(),
    };
    let s = value.trim();
    if let Some(naive) = plain(s) {
        return resolve(naive, tz).ok_or_else(bad);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| bad())?;
    resolve(naive, tz).ok_or_else(bad)
}

/// The form Qapla' sends nearly always, `YYYY-MM-DD HH:MM:SS` (or with a `T`), read without
/// chrono's format machinery, which took most of a date's time; anything else (or a value that is
/// no real date or time) is left to the formats above, which decide.
fn plain(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let shape = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?.and_hms_opt(
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    )
}

/// The UTC instant of a local time in `tz`; `None` where it falls outside [`YEARS`]. Every step is
/// checked: at chrono's own limits an unchecked day's arithmetic panics.
fn resolve(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    if !YEARS.contains(&naive.year()) {
        return None;
    }
    let utc = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force a day before is the one before the gap (gaps last hours).
            let before = naive.checked_sub_signed(chrono::Duration::days(1))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            naive
                .checked_sub_signed(chrono::Duration::seconds(i64::from(
                    offset.local_minus_utc(),
                )))?
                .and_utc()
        }
    };
    YEARS.contains(&utc.year()).then_some(utc)
}

/// The UTC instant as ISO 8601 with a `Z`, the form stored and sorted on.
pub fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Europe/Rome, for the tests of every module.
#[cfg(test)]
pub(crate) fn rome() -> Tz {
    chrono_tz::Europe::Rome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_form_reads_as_chrono_reads_it() {
        for s in [
            "2026-03-02 09:41:07",
            "2026-03-02T09:41:07",
            "2028-02-29 23:59:59",
            "0000-01-01 00:00:00",
            "2026-02-29 10:00:00",
            "2026-13-01 10:00:00",
            "2026-00-10 10:00:00",
            "2026-03-02 24:00:00",
            "2026-03-02 23:60:00",
            "2026-03-02 23:59:60",
            "2026-03-02x09:41:07",
            "2026-3-02 09:41:07 ",
            "+026-03-02 09:41:07",
            "2026-03-02 09:41:0a",
            "２026-03-02 09:41",
        ] {
            let chrono = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .ok();
            if let Some(fast) = plain(s) {
                assert_eq!(Some(fast), chrono, "{s}");
            }
            assert_eq!(
                to_utc(s, rome()).ok(),
                chrono
                    .and_then(|n| resolve(n, rome()))
                    .or_else(|| to_utc(s, rome()).ok()),
                "{s}"
            );
        }
        assert!(plain("2026-03-02 09:41:07").is_some());
    }

    #[test]
    fn table_of_dates() {
        let cases = [
            // winter: UTC+1
            ("2026-03-02 09:41:07", "2026-03-02T08:41:07Z"),
            // summer: UTC+2
            ("2026-07-15 18:00:00", "2026-07-15T16:00:00Z"),
            ("2026-07-15T18:00:00", "2026-07-15T16:00:00Z"),
            ("  2026-07-15 18:00:00 ", "2026-07-15T16:00:00Z"),
            ("2026-07-15 18:00", "2026-07-15T16:00:00Z"),
            ("2026-07-15T18:00", "2026-07-15T16:00:00Z"),
            ("2026-07-15", "2026-07-14T22:00:00Z"),
            // spring gap: 29 March 2026, 02:00 -> 03:00 local; 02:30 does not exist
            ("2026-03-29 02:30:00", "2026-03-29T01:30:00Z"),
            ("2026-03-29 01:59:59", "2026-03-29T00:59:59Z"),
            ("2026-03-29 03:00:00", "2026-03-29T01:00:00Z"),
            // autumn overlap: 25 October 2026, 03:00 -> 02:00 local; 02:30 happens twice
            ("2026-10-25 02:30:00", "2026-10-25T00:30:00Z"),
            ("2026-10-25 03:00:00", "2026-10-25T02:00:00Z"),
            // leap day
            ("2028-02-29 12:00:00", "2028-02-29T11:00:00Z"),
        ];
        for (input, expected) in cases {
            let got = to_utc(input, rome()).map(|t| iso(&t));
            assert_eq!(got.as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn other_zones() {
        let london = zone("Europe/London").expect("zone");
        assert_eq!(
            to_utc("2026-07-15 18:00:00", london).map(|t| iso(&t)),
            Ok("2026-07-15T17:00:00Z".to_owned())
        );
        assert!(zone("Mars/Olympus").is_none());
    }

    #[test]
    fn bad_dates() {
        for input in [
            "",
            "yesterday",
            "2026-13-01 00:00:00",
            "2026-02-30 10:00:00",
            "2026-03-02 25:00:00",
            "02/03/2026 09:41:07",
            "2026-03-02 09:41:07+01:00",
            "0000-00-00 00:00:00",
            "0000-01-01 00:30:00",
            "-262143-01-01 00:00:00",
            "+262142-12-31 23:59:59",
            "10000-01-01 00:00:00",
            "262142-12-31",
            "2 marzo 2026",
        ] {
            let err = to_utc(input, rome()).expect_err(input);
            // The reason names the shape, never the value.
            assert!(!input.trim().is_empty() || err.to_string().contains("YYYY"));
            assert!(
                input.len() < 4 || !err.to_string().contains(input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_edges_of_the_years_kept() {
        let cases = [
            // Before 1893 Rome kept its mean solar time, 49 min 56 s ahead of UTC.
            ("0001-01-01 01:00:00", Some("0001-01-01T00:10:04Z")),
            ("0001-01-01 00:30:00", None),
            ("9999-12-31 23:59:59", Some("9999-12-31T22:59:59Z")),
        ];
        for (input, expected) in cases {
            let got = to_utc(input, rome()).ok().map(|t| iso(&t));
            assert_eq!(got.as_deref(), expected, "{input}");
        }
    }

    proptest::proptest! {
        /// Any text, of any length: an answer, never a panic.
        #[test]
        fn any_text_is_read_or_refused(s in "\\PC{0,80}") {
            let _ = to_utc(&s, rome());
        }

        /// Any date chrono can hold, in any zone shape, in every form Qapla' is read in: a UTC
        /// instant in the kept years, or a refusal.
        #[test]
        fn any_date_of_any_year_is_placed_or_refused(
            days in i64::from(NaiveDate::MIN.num_days_from_ce())..=i64::from(NaiveDate::MAX.num_days_from_ce()),
            secs in 0u32..86_400,
            form in 0usize..5,
            zone in proptest::sample::select(vec!["Europe/Rome", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"]),
        ) {
            let tz = super::zone(zone).expect("zone");
            let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).unwrap_or(1))
                .unwrap_or_default();
            let t = date.and_time(chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or_default());
            let format = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M"][form];
            let text = t.format(format).to_string();
            if let Ok(utc) = to_utc(&text, tz) {
                proptest::prop_assert!(YEARS.contains(&utc.year()), "{text}");
                proptest::prop_assert_eq!(iso(&utc).len(), 20, "{}", text);
            }
        }
    }
}
