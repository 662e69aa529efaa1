//! Qapla' statuses: the published table, one row per status: which are final, how serious each
//! one is, and which alert by default.
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
    /// Nothing comes after it: an older status never replaces it, and it is never stuck.
    pub is_final: bool,
    pub severity: Severity,
    /// Whether it alerts by email and SMS when the merchant names no statuses
    /// (`QAPLA_ALERT_STATUSES` unset, the stack's `AlertStatuses` default).
    pub alerts_by_default: bool,
}

/// A column of [`STATUSES`]: whether the status ends the shipment.
#[derive(Clone, Copy)]
enum End {
    Open,
    Final,
}

/// A column of [`STATUSES`]: whether the status is in the default alert list.
#[derive(Clone, Copy)]
enum Alert {
    Quiet,
    Alerts,
}

const fn row(
    id: u32,
    detail: Option<u32>,
    name: &'static str,
    end: End,
    severity: Severity,
    alert: Alert,
) -> KnownStatus {
    KnownStatus {
        id,
        detail,
        name,
        is_final: matches!(end, End::Final),
        severity,
        alerts_by_default: matches!(alert, Alert::Alerts),
    }
}

/// EXCEPTION: the id the stuck rule singles out, with [`STOCK_DETAIL`].
pub const EXCEPTION: u32 = 6;
/// The detail of [`EXCEPTION`] that means held in stock ("giacenza"): EXCEPTION / STOCK.
pub const STOCK_DETAIL: u32 = 1;

use Alert::{Alerts, Quiet};
use End::{Final, Open};
use Severity::{Exception, Info, Warning};

/// The id/detail pairs Qapla' publishes, one row each; every other fact about a known status
/// (finality, severity, the default alert list) is read from here.
#[rustfmt::skip]
pub const STATUSES: &[KnownStatus] = &[
    //  id         detail   name                            end    severity   default alert
    row(0,         None,    "PROCESSING WAIT",              Open,  Info,      Quiet),
    row(1,         None,    "PENDING",                      Open,  Info,      Quiet),
    row(2,         None,    "WAITING FOR PICK-UP",          Open,  Info,      Quiet),
    row(20,        None,    "DEPARTED",                     Open,  Info,      Quiet),
    row(3,         None,    "IN TRANSIT",                   Open,  Info,      Quiet),
    row(50,        None,    "PROCESSING",                   Open,  Info,      Quiet),
    row(50,        Some(1), "PROCESSING / CUSTOMS",         Open,  Info,      Quiet),
    row(4,         None,    "OUT FOR DELIVERY",             Open,  Info,      Quiet),
    row(5,         None,    "FAILED DELIVERY ATTEMPT",      Open,  Warning,   Alerts),
    row(8,         None,    "DELAY",                        Open,  Warning,   Alerts),
    row(EXCEPTION, None,    "EXCEPTION",                    Open,  Exception, Alerts),
    row(EXCEPTION, Some(STOCK_DETAIL), "EXCEPTION / STOCK", Open,  Exception, Alerts),
    row(EXCEPTION, Some(2), "EXCEPTION / RETURN",           Open,  Exception, Alerts),
    row(EXCEPTION, Some(3), "EXCEPTION / DAMAGED",          Open,  Exception, Alerts),
    row(EXCEPTION, Some(4), "EXCEPTION / LOST",             Open,  Exception, Alerts),
    row(EXCEPTION, Some(5), "EXCEPTION / PARTIAL DELIVERY", Open,  Exception, Alerts),
    row(10,        None,    "PICKUP POINT",                 Open,  Info,      Quiet),
    row(95,        None,    "RETURNED",                     Final, Warning,   Quiet),
    row(99,        None,    "DELIVERED",                    Final, Info,      Quiet),
];

/// The default alert list, as entries of `QAPLA_ALERT_STATUSES`: `(id, None)` (any detail) where
/// the id's own row alerts, else `(id, Some(detail))` for each row of the id that alerts; in the
/// table's order. A test checks the entries take exactly the rows that alert.
pub fn default_alerts() -> Vec<(u32, Option<u32>)> {
    let mut entries = Vec::new();
    for s in STATUSES.iter().filter(|s| s.alerts_by_default) {
        let whole_id = lookup(s.id, None).is_some_and(|own| own.alerts_by_default);
        let entry = if whole_id {
            (s.id, None)
        } else {
            (s.id, s.detail)
        };
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries
}

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
        assert_eq!((pairs.len(), STATUSES.len()), (19, 19));
        // Every detail row has its id's own row to fall back to.
        assert!(STATUSES.iter().all(|s| lookup(s.id, None).is_some()));
    }

    #[test]
    fn only_returned_and_delivered_are_final() {
        let finals: Vec<_> = STATUSES
            .iter()
            .filter(|s| s.is_final)
            .map(|s| s.name)
            .collect();
        assert_eq!(finals, ["RETURNED", "DELIVERED"]);
    }

    #[test]
    fn the_default_alerts_are_failed_attempt_delay_and_any_exception() {
        assert_eq!(default_alerts(), [(5, None), (8, None), (EXCEPTION, None)]);
        // An id alerts as a whole only if each of its rows does, or the entry would take more.
        for (id, detail) in default_alerts() {
            let rows = STATUSES.iter().filter(|s| s.id == id);
            assert!(
                detail.is_some() || rows.clone().all(|s| s.alerts_by_default),
                "{id}"
            );
        }
        // A status that alerts by default is at least a warning, and an open one.
        for s in STATUSES.iter().filter(|s| s.alerts_by_default) {
            assert!(s.severity >= Warning && !s.is_final, "{}", s.name);
        }
    }

    #[test]
    fn every_row_maps_to_itself() {
        for known in STATUSES {
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
