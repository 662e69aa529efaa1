//! Which statuses alert: the merchant's rule (`QAPLA_ALERT_STATUSES`) and the severity it gives.

use crate::status::Severity;
use std::fmt;

/// Which statuses alert: entries `id` (any detail) or `id/detail`, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule(Vec<(u32, Option<u32>)>);

impl Default for AlertRule {
    /// The statuses the status table marks as alerting by default ([`crate::status::default_alerts`]).
    fn default() -> Self {
        AlertRule(crate::status::default_alerts())
    }
}

/// The rule as `QAPLA_ALERT_STATUSES` spells it (`5,8,6`, `6/1`, `none`): what [`AlertRule::parse`]
/// reads back.
impl fmt::Display for AlertRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, (id, detail)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match detail {
                Some(d) => write!(f, "{id}/{d}")?,
                None => write!(f, "{id}")?,
            }
        }
        Ok(())
    }
}

impl AlertRule {
    pub fn parse(spec: &str) -> Result<Self, String> {
        if spec.trim().eq_ignore_ascii_case("none") {
            return Ok(AlertRule(Vec::new()));
        }
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not a status id or id/detail (e.g. 5,8,6 or 6/1)");
            let (id, detail) = match entry.split_once('/') {
                Some((id, detail)) => (id, Some(detail.trim().parse::<u32>().map_err(|_| bad())?)),
                None => (entry, None),
            };
            rules.push((id.trim().parse::<u32>().map_err(|_| bad())?, detail));
        }
        if rules.is_empty() {
            return Err("no status listed (say none to alert on nothing)".into());
        }
        Ok(AlertRule(rules))
    }

    pub fn alerts(&self, id: u32, detail: Option<u32>) -> bool {
        self.0
            .iter()
            .any(|&(rid, rdetail)| rid == id && (rdetail.is_none() || rdetail == detail))
    }

    /// The `severity` attribute published: an alerting status is at least `warning`, any other
    /// status is `info`, so subscriptions that filter on warning and exception get exactly the alerts.
    pub fn severity(&self, id: u32, detail: Option<u32>, table: Severity) -> Severity {
        if self.alerts(id, detail) {
            table.max(Severity::Warning)
        } else {
            Severity::Info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_rules() {
        let default = AlertRule::default();
        let cases: [(&AlertRule, u32, Option<u32>, bool); 7] = [
            (&default, 5, None, true),
            (&default, 8, None, true),
            (&default, 6, None, true),
            (&default, 6, Some(4), true),
            (&default, 3, None, false),
            (&default, 99, None, false),
            (&default, 95, None, false),
        ];
        for (rule, id, detail, alerts) in cases {
            assert_eq!(rule.alerts(id, detail), alerts, "{id}/{detail:?}");
        }
        let only_stock = AlertRule::parse(" 6/1 , 95").expect("valid");
        assert!(
            only_stock.alerts(6, Some(1))
                && !only_stock.alerts(6, Some(2))
                && only_stock.alerts(95, None)
        );
        assert_eq!(AlertRule::parse("none"), Ok(AlertRule(Vec::new())));
        for bad in ["", "six", "6/x", "6/1/2", "-1"] {
            assert!(AlertRule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_rule_alerts_exactly_the_rows_that_alert_by_default() {
        let default = AlertRule::default();
        for s in crate::status::STATUSES {
            assert_eq!(
                default.alerts(s.id, s.detail),
                s.alerts_by_default,
                "{}",
                s.name
            );
        }
        // An unknown id never alerts by default, whatever its detail.
        assert!(!default.alerts(77, None) && !default.alerts(77, Some(1)));
    }

    #[test]
    fn a_rule_is_written_as_it_is_read() {
        assert_eq!(AlertRule::default().to_string(), "5,8,6");
        for spec in ["5,8,6", "6/1,95", "none", "3"] {
            let rule = AlertRule::parse(spec).expect("valid");
            assert_eq!(rule.to_string(), spec);
            assert_eq!(AlertRule::parse(&rule.to_string()), Ok(rule));
        }
    }

    #[test]
    fn severity_attribute_follows_the_alert_rule() {
        let rule = AlertRule::default();
        assert_eq!(
            rule.severity(6, Some(1), Severity::Exception),
            Severity::Exception
        );
        assert_eq!(rule.severity(5, None, Severity::Warning), Severity::Warning);
        assert_eq!(rule.severity(95, None, Severity::Warning), Severity::Info);
        let returned = AlertRule::parse("95,3").expect("valid");
        assert_eq!(
            returned.severity(3, None, Severity::Info),
            Severity::Warning
        );
    }
}
