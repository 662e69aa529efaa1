//! Qapla' statuses: the published table, which are final, and how serious each one is.
//!
//! Ids are not ordered by progress (20 comes after 2, 50 sits between 3 and 4), so nothing here
//! compares ids numerically. An id that is not in the table is still a valid status: it keeps the
//! name Qapla' sent.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// How serious a status is for the merchant. Ordered: `Info < Warning < Exception`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Exception,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Exception => "exception",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the published status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownStatus {
    pub id: u32,
    pub detail: Option<u32>,
    pub name: &'static str,
    pub is_final: bool,
    pub severity: Severity,
}

const fn row(id: u32, detail: Option<u32>, name: &'static str, severity: Severity) -> KnownStatus {
    KnownStatus {
        id,
        detail,
        name,
        is_final: id == RETURNED || id == DELIVERED,
        severity,
    }
}

pub const FAILED_DELIVERY_ATTEMPT: u32 = 5;
pub const DELAY: u32 = 8;
pub const EXCEPTION: u32 = 6;
/// The detail of [`EXCEPTION`] that means held in stock ("giacenza"): EXCEPTION / STOCK.
pub const STOCK_DETAIL: u32 = 1;
pub const RETURNED: u32 = 95;
pub const DELIVERED: u32 = 99;

use Severity::{Exception, Info, Warning};

/// The 19 id/detail pairs Qapla' publishes.
pub const STATUSES: [KnownStatus; 19] = [
    row(0, None, "PROCESSING WAIT", Info),
    row(1, None, "PENDING", Info),
    row(2, None, "WAITING FOR PICK-UP", Info),
    row(20, None, "DEPARTED", Info),
    row(3, None, "IN TRANSIT", Info),
    row(50, None, "PROCESSING", Info),
    row(50, Some(1), "PROCESSING / CUSTOMS", Info),
    row(4, None, "OUT FOR DELIVERY", Info),
    row(5, None, "FAILED DELIVERY ATTEMPT", Warning),
    row(8, None, "DELAY", Warning),
    row(6, None, "EXCEPTION", Exception),
    row(6, Some(1), "EXCEPTION / STOCK", Exception),
    row(6, Some(2), "EXCEPTION / RETURN", Exception),
    row(6, Some(3), "EXCEPTION / DAMAGED", Exception),
    row(6, Some(4), "EXCEPTION / LOST", Exception),
    row(6, Some(5), "EXCEPTION / PARTIAL DELIVERY", Exception),
    row(10, None, "PICKUP POINT", Info),
    row(95, None, "RETURNED", Warning),
    row(99, None, "DELIVERED", Info),
];

/// The table row for an id and detail. A detail the table does not list falls back to the
/// id's own row (an EXCEPTION with a new detail is still an EXCEPTION).
pub fn lookup(id: u32, detail: Option<u32>) -> Option<&'static KnownStatus> {
    STATUSES
        .iter()
        .find(|s| s.id == id && s.detail == detail)
        .or_else(|| STATUSES.iter().find(|s| s.id == id && s.detail.is_none()))
}

/// A status as received, mapped against the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: u32,
    /// The numeric detail (`statusDetails[0].id`), if any.
    pub detail: Option<u32>,
    /// The detail text Qapla' sent; informative only, it varies by language and over time.
    pub detail_text: Option<String>,
    /// The table's name, or the label Qapla' sent for an id the table does not know.
    pub name: Cow<'static, str>,
    pub known: bool,
    pub is_final: bool,
    pub severity: Severity,
}

impl Status {
    /// Maps an id/detail pair; `sent_name` is kept when the table does not know the id.
    pub fn map(id: u32, detail: Option<u32>, detail_text: Option<String>, sent_name: &str) -> Self {
        match lookup(id, detail) {
            Some(known) => {
                // A detail missing from the table keeps its text so nothing is lost from the name.
                let name = match (known.detail, detail, detail_text.as_deref()) {
                    (None, Some(_), Some(text)) if !text.is_empty() => {
                        Cow::Owned(format!("{} / {}", known.name, text))
                    }
                    _ => Cow::Borrowed(known.name),
                };
                Status {
                    id,
                    detail,
                    detail_text,
                    name,
                    known: true,
                    is_final: known.is_final,
                    severity: known.severity,
                }
            }
            None => Status {
                id,
                detail,
                detail_text,
                name: Cow::Owned(if sent_name.trim().is_empty() {
                    format!("STATUS {id}")
                } else {
                    sent_name.trim().to_owned()
                }),
                known: false,
                is_final: false,
                severity: Severity::Info,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_nineteen_distinct_pairs() {
        let mut pairs: Vec<_> = STATUSES.iter().map(|s| (s.id, s.detail)).collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 19);
    }

    #[test]
    fn every_row_maps_to_itself() {
        for known in &STATUSES {
            let status = Status::map(known.id, known.detail, None, "ignored");
            assert_eq!(status.name, known.name);
            assert!(status.known);
            assert_eq!(status.is_final, known.is_final);
            assert_eq!(status.severity, known.severity);
        }
    }

    #[test]
    fn table_cases() {
        // (id, detail, sent name, expected name, final, severity)
        type Case = (u32, Option<u32>, &'static str, &'static str, bool, Severity);
        let cases: &[Case] = &[
            (3, None, "IN TRANSIT", "IN TRANSIT", false, Info),
            (99, None, "CONSEGNATA", "DELIVERED", true, Info),
            (95, None, "RETURNED", "RETURNED", true, Warning),
            (
                6,
                Some(1),
                "EXCEPTION",
                "EXCEPTION / STOCK",
                false,
                Exception,
            ),
            (
                6,
                Some(5),
                "EXCEPTION",
                "EXCEPTION / PARTIAL DELIVERY",
                false,
                Exception,
            ),
            (6, None, "EXCEPTION", "EXCEPTION", false, Exception),
            (
                50,
                Some(1),
                "PROCESSING",
                "PROCESSING / CUSTOMS",
                false,
                Info,
            ),
            (5, None, "", "FAILED DELIVERY ATTEMPT", false, Warning),
            (8, None, "DELAY", "DELAY", false, Warning),
            (77, None, "NEW STATUS", "NEW STATUS", false, Info),
            (77, None, "  ", "STATUS 77", false, Info),
        ];
        for &(id, detail, sent, name, is_final, severity) in cases {
            let s = Status::map(id, detail, None, sent);
            assert_eq!(s.name, name, "{id}/{detail:?}");
            assert_eq!(s.is_final, is_final, "{id}/{detail:?}");
            assert_eq!(s.severity, severity, "{id}/{detail:?}");
        }
    }

    #[test]
    fn unknown_detail_falls_back_to_the_id_and_keeps_its_text() {
        let s = Status::map(6, Some(9), Some("REFUSED".into()), "EXCEPTION");
        assert!(s.known);
        assert_eq!(s.name, "EXCEPTION / REFUSED");
        assert_eq!(s.detail, Some(9));
        assert_eq!(s.severity, Exception);
    }

    #[test]
    fn the_stock_detail_is_exception_stock() {
        let row = lookup(EXCEPTION, Some(STOCK_DETAIL)).expect("a row");
        assert_eq!(
            (row.name, row.detail),
            ("EXCEPTION / STOCK", Some(STOCK_DETAIL))
        );
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Info < Warning && Warning < Exception);
        assert_eq!(Exception.to_string(), "exception");
    }
}
