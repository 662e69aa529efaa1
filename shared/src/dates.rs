//! Qapla' dates: `YYYY-MM-DD HH:MM:SS` with no zone, meaning the merchant's local time
//! (Europe/Rome unless configured), turned into UTC.
//!
//! Daylight saving makes local time ambiguous twice a year. We resolve it deterministically:
//! - in the autumn overlap (a local time that happens twice) the earlier instant wins, since
//!   couriers report as events happen and the first pass is the one that existed first;
//! - in the spring gap (a local time that never happens) the time is read with the offset in force
//!   just before the gap, so 02:30 becomes 03:30 summer time, as a clock that missed the change would.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a date of the form YYYY-MM-DD HH:MM:SS")]
pub struct BadDate {
    pub value: String,
}

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
        return Ok(resolve(naive, tz));
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
    Ok(resolve(naive, tz))
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

fn resolve(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force a day before is the one before the gap (gaps last hours).
            let before = naive - chrono::Duration::days(1);
            let offset = tz.offset_from_utc_datetime(&before).fix();
            (naive - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
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
                    .map(|n| resolve(n, rome()))
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
        ] {
            assert!(to_utc(input, rome()).is_err(), "{input:?}");
        }
    }
}
