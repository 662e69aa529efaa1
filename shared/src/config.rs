//! Configuration from the environment, read once at cold start. A wrong value stops the function
//! at init with a message naming the variable, never at the first request.

use crate::auth::{Allowlist, Channels};
use crate::notify::{AlertRule, Notifier};
use crate::webhook::Settings;
use chrono_tz::Tz;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const QAPLA_CHANNELS: &str = "QAPLA_CHANNELS";
pub const QAPLA_ALLOWED_SOURCES: &str = "QAPLA_ALLOWED_SOURCES";
pub const QAPLA_TIMEZONE: &str = "QAPLA_TIMEZONE";
pub const QAPLA_MAX_BODY_BYTES: &str = "QAPLA_MAX_BODY_BYTES";
pub const QAPLA_HISTORY_DAYS: &str = "QAPLA_HISTORY_DAYS";
pub const QAPLA_RETURN_ORDER_DAYS: &str = "QAPLA_RETURN_ORDER_DAYS";
pub const TOPIC_ARN: &str = "TOPIC_ARN";
pub const QAPLA_ALERT_STATUSES: &str = "QAPLA_ALERT_STATUSES";
pub const QAPLA_ALERT_PERSONAL_DATA: &str = "QAPLA_ALERT_PERSONAL_DATA";
/// The S3 bucket of payloads too large for a table item and of quarantined deliveries. Unset, the
/// webhooks keep neither, and refuse what the table cannot hold (500).
pub const BUCKET_NAME: &str = "BUCKET_NAME";
pub const QAPLA_API_URL: &str = "QAPLA_API_URL";
pub const QAPLA_KEYS_PREFIX: &str = "QAPLA_KEYS_PREFIX";
pub const QAPLA_RECOVER_LOOKBACK_HOURS: &str = "QAPLA_RECOVER_LOOKBACK_HOURS";

/// The EventBridge bus every notification also goes to; unset or empty, none.
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// Days a shipment held in stock (EXCEPTION / STOCK) waits before its stuck alert.
pub const QAPLA_STUCK_STOCK_DAYS: &str = "QAPLA_STUCK_STOCK_DAYS";
/// Days any other open status waits unchanged before its stuck alert.
pub const QAPLA_STUCK_DAYS: &str = "QAPLA_STUCK_DAYS";
/// Hours without a delivery before a channel's heartbeat on a webhook counts as silent
/// (parameter `SilenceHours`), read by the heartbeat check in the stuck function.
pub const QAPLA_SILENCE_HOURS: &str = "QAPLA_SILENCE_HOURS";

/// The variables the webhook functions read.
pub const WEBHOOK_VARS: [&str; 8] = [
    TABLE_NAME,
    BUCKET_NAME,
    QAPLA_CHANNELS,
    QAPLA_ALLOWED_SOURCES,
    QAPLA_TIMEZONE,
    QAPLA_MAX_BODY_BYTES,
    QAPLA_HISTORY_DAYS,
    QAPLA_RETURN_ORDER_DAYS,
];
/// The variables the notifier reads.
pub const NOTIFIER_VARS: [&str; 6] = [
    TABLE_NAME,
    TOPIC_ARN,
    QAPLA_TIMEZONE,
    QAPLA_ALERT_STATUSES,
    QAPLA_ALERT_PERSONAL_DATA,
    EVENT_BUS_NAME,
];

/// The variables the reconciler reads.
pub const RECONCILER_VARS: [&str; 7] = [
    TABLE_NAME,
    QAPLA_CHANNELS,
    QAPLA_API_URL,
    QAPLA_KEYS_PREFIX,
    QAPLA_RECOVER_LOOKBACK_HOURS,
    QAPLA_TIMEZONE,
    QAPLA_HISTORY_DAYS,
];

pub const DEFAULT_QAPLA_API_URL: &str = "https://api.qapla.it";
pub const DEFAULT_RECOVER_LOOKBACK_HOURS: u32 = 24;
/// The variables the stuck check reads.
pub const STUCK_VARS: [&str; 8] = [
    TABLE_NAME,
    TOPIC_ARN,
    QAPLA_CHANNELS,
    QAPLA_TIMEZONE,
    QAPLA_STUCK_STOCK_DAYS,
    QAPLA_STUCK_DAYS,
    EVENT_BUS_NAME,
    QAPLA_SILENCE_HOURS,
];

pub const DEFAULT_TIMEZONE: &str = "Europe/Rome";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_HISTORY_DAYS: u32 = 400;
pub const DEFAULT_RETURN_ORDER_DAYS: u32 = 400;

/// A variable that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

fn err(var: &'static str, reason: impl ToString) -> ConfigError {
    ConfigError {
        var,
        reason: reason.to_string(),
    }
}

/// Where a URL may take plain http: no TLS means anyone on the way reads and changes every
/// request (and, for AWS, the table and the bucket), so only a host of a local run may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// This machine only: `localhost`, 127.0.0.0/8, `::1` (a local fake of Qapla's API).
    Loopback,
    /// This machine, a private address (10/8, 172.16/12, 192.168/16, fc00::/7) or
    /// `host.docker.internal`: a local store, as `sam local invoke` and the tests reach it.
    Local,
}

impl PlainHttp {
    fn allows(self, host: &str) -> bool {
        use std::net::IpAddr;
        let host = host.to_ascii_lowercase();
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let loopback = host == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
        match self {
            PlainHttp::Loopback => loopback,
            PlainHttp::Local => {
                loopback
                    || host == "host.docker.internal"
                    || match ip {
                        Some(IpAddr::V4(v4)) => v4.is_private(),
                        Some(IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
                        None => false,
                    }
            }
        }
    }

    fn hosts(self) -> &'static str {
        match self {
            PlainHttp::Loopback => "this machine (localhost, 127.0.0.0/8, ::1)",
            PlainHttp::Local => {
                "this machine, a private address (10/8, 172.16/12, 192.168/16, fc00::/7) or host.docker.internal"
            }
        }
    }
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    #[error("plain http to {host:?} is refused: without TLS only {} may be reached; give an https:// URL", .allowed.hosts())]
    PlainHttp { host: String, allowed: PlainHttp },
}

/// Checks that `url` is https, or plain http to a host `plain` allows.
pub fn check_url(url: &str, plain: PlainHttp) -> Result<(), UrlRefused> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(UrlRefused::NotHttp(url.to_owned()));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // `user@host`: the host is after the last `@`, whatever comes before.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => host_port.split(':').next().map(str::to_owned),
    }
    .unwrap_or_default();
    if plain.allows(&host) {
        Ok(())
    } else {
        Err(UrlRefused::PlainHttp {
            host,
            allowed: plain,
        })
    }
}

/// Reads variables through `get`, so tests need not touch the process environment.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or_else(|| err(var, "is not set"))
    }

    fn timezone(&self) -> Result<Tz, ConfigError> {
        let name = self
            .optional(QAPLA_TIMEZONE)
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
        crate::dates::zone(&name).ok_or_else(|| {
            err(
                QAPLA_TIMEZONE,
                format!("{name:?} is not a time zone name such as Europe/Rome"),
            )
        })
    }

    fn number<N: std::str::FromStr + PartialOrd + From<u8>>(
        &self,
        var: &'static str,
        default: N,
    ) -> Result<N, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<N>() {
                Ok(n) if n > N::from(0) => Ok(n),
                _ => Err(err(var, format!("{v:?} is not a positive whole number"))),
            },
        }
    }

    /// The event bus, if one is named.
    fn event_bus(&self) -> Option<String> {
        self.optional(EVENT_BUS_NAME).map(|b| b.trim().to_owned())
    }

    fn channels(&self) -> Result<Channels, ConfigError> {
        Channels::parse(&self.required(QAPLA_CHANNELS)?).map_err(|e| err(QAPLA_CHANNELS, e))
    }
}

/// What a webhook function needs: its table and the endpoint's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub table_name: String,
    /// The archive bucket, if any ([`BUCKET_NAME`]).
    pub bucket_name: Option<String>,
    pub settings: Settings,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(get);
        Ok(WebhookConfig {
            table_name: vars.required(TABLE_NAME)?,
            bucket_name: vars.optional(BUCKET_NAME).map(|b| b.trim().to_owned()),
            settings: Settings {
                channels: vars.channels()?,
                allowlist: match vars.optional(QAPLA_ALLOWED_SOURCES) {
                    None => Allowlist::default(),
                    Some(spec) => {
                        Allowlist::parse(&spec).map_err(|e| err(QAPLA_ALLOWED_SOURCES, e))?
                    }
                },
                timezone: vars.timezone()?,
                max_body_bytes: vars.number(QAPLA_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES)?,
                history_days: vars.number(QAPLA_HISTORY_DAYS, DEFAULT_HISTORY_DAYS)?,
                return_order_days: vars
                    .number(QAPLA_RETURN_ORDER_DAYS, DEFAULT_RETURN_ORDER_DAYS)?,
            },
        })
    }
}

/// What the notifier needs: its topic and how to render notices.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The table its notice claims go to ([`TABLE_NAME`]), so a retried record sends to each
    /// target once; unset (a local run without one), a retry sends to every target again.
    pub table_name: Option<String>,
    pub topic_arn: String,
    /// The EventBridge bus of the second fan-out, if any ([`EVENT_BUS_NAME`]).
    pub event_bus: Option<String>,
    pub notifier: Notifier,
}

impl NotifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(get);
        Ok(NotifierConfig {
            table_name: vars.optional(TABLE_NAME).map(|t| t.trim().to_owned()),
            topic_arn: vars.required(TOPIC_ARN)?,
            event_bus: vars.event_bus(),
            notifier: Notifier {
                timezone: vars.timezone()?,
                alerts: match vars.optional(QAPLA_ALERT_STATUSES) {
                    None => AlertRule::default(),
                    Some(spec) => {
                        AlertRule::parse(&spec).map_err(|e| err(QAPLA_ALERT_STATUSES, e))?
                    }
                },
                personal_data: match vars
                    .optional(QAPLA_ALERT_PERSONAL_DATA)
                    .as_deref()
                    .map(str::trim)
                {
                    None | Some("false") | Some("0") | Some("no") => false,
                    Some("true") | Some("1") | Some("yes") => true,
                    Some(other) => {
                        return Err(err(
                            QAPLA_ALERT_PERSONAL_DATA,
                            format!("{other:?} is not true or false"),
                        ))
                    }
                },
            },
        })
    }
}

/// What the reconciler needs: its table, the channels (to check each stored key against its
/// digest), where Qapla's API and the keys are, and how a run asks.
#[derive(Debug, Clone)]
pub struct RecoverConfig {
    pub table_name: String,
    pub channels: Channels,
    /// Without a trailing `/`.
    pub api_url: String,
    /// The SSM path the keys are under: channel `shop-it`'s key is `<prefix>shop-it`.
    pub keys_prefix: String,
    pub settings: crate::recover::RecoverySettings,
}

impl RecoverConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(get);
        let api_url = vars
            .optional(QAPLA_API_URL)
            .unwrap_or_else(|| DEFAULT_QAPLA_API_URL.to_owned());
        let api_url = api_url.trim().trim_end_matches('/').to_owned();
        // The API gets the channels' private keys: plain http only to a fake on this machine.
        check_url(&api_url, PlainHttp::Loopback).map_err(|e| {
            err(
                QAPLA_API_URL,
                format!("{e} (Qapla's is {DEFAULT_QAPLA_API_URL})"),
            )
        })?;
        let keys_prefix = vars.required(QAPLA_KEYS_PREFIX)?.trim().to_owned();
        if !keys_prefix.starts_with('/') {
            return Err(err(
                QAPLA_KEYS_PREFIX,
                format!("{keys_prefix:?} is not an SSM path such as /qapla-webhooks/keys/"),
            ));
        }
        Ok(RecoverConfig {
            table_name: vars.required(TABLE_NAME)?,
            channels: vars.channels()?,
            api_url,
            keys_prefix,
            settings: crate::recover::RecoverySettings::new(
                vars.timezone()?,
                vars.number(QAPLA_HISTORY_DAYS, DEFAULT_HISTORY_DAYS)?,
                vars.number(QAPLA_RECOVER_LOOKBACK_HOURS, DEFAULT_RECOVER_LOOKBACK_HOURS)?,
            ),
        })
    }
}

/// What the stuck check needs: the table to query, the topic, the channels' names and the rule.
#[derive(Debug, Clone)]
pub struct StuckConfig {
    pub table_name: String,
    pub topic_arn: String,
    /// The EventBridge bus stuck alerts also go to, if any ([`EVENT_BUS_NAME`]).
    pub event_bus: Option<String>,
    pub channels: Vec<String>,
    pub rule: crate::stuck::rule::StuckRule,
    pub notifier: Notifier,
    /// The heartbeat check's silence, in hours ([`QAPLA_SILENCE_HOURS`]).
    pub silence_hours: u32,
}

impl StuckConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::stuck::rule::{DEFAULT_DAYS, DEFAULT_STOCK_DAYS};
        let vars = Vars(get);
        Ok(StuckConfig {
            table_name: vars.required(TABLE_NAME)?,
            topic_arn: vars.required(TOPIC_ARN)?,
            event_bus: vars.event_bus(),
            channels: vars.channels()?.iter().map(|c| c.name.clone()).collect(),
            rule: crate::stuck::rule::StuckRule {
                stock_days: vars.number(QAPLA_STUCK_STOCK_DAYS, DEFAULT_STOCK_DAYS)?,
                days: vars.number(QAPLA_STUCK_DAYS, DEFAULT_DAYS)?,
            },
            // A stuck alert names no customer and follows no alert list: it is always a warning.
            notifier: Notifier {
                timezone: vars.timezone()?,
                alerts: AlertRule::default(),
                personal_data: false,
            },
            silence_hours: vars
                .number(QAPLA_SILENCE_HOURS, crate::heartbeat::DEFAULT_SILENCE_HOURS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            (TABLE_NAME, "qapla".into()),
            (QAPLA_CHANNELS, crate::fixtures::demo_channels()),
        ]
    }

    fn with(extra: &[(&'static str, &str)]) -> Result<WebhookConfig, ConfigError> {
        let mut pairs: Vec<(&str, String)> = good();
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, (*v).to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        WebhookConfig::from_lookup(env(&borrowed))
    }

    #[test]
    fn defaults() {
        let c = with(&[]).expect("valid").settings;
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.history_days, 400);
        assert_eq!(c.return_order_days, 400);
        assert_eq!(c.timezone, chrono_tz::Europe::Rome);
        assert_eq!(c.allowlist, Allowlist::default());
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases: [(&[(&'static str, &str)], &str); 9] = [
            (&[(TABLE_NAME, "")], TABLE_NAME),
            (&[(QAPLA_CHANNELS, "")], QAPLA_CHANNELS),
            (&[(QAPLA_CHANNELS, "shop:nothex")], QAPLA_CHANNELS),
            (
                &[(QAPLA_ALLOWED_SOURCES, "10.0.0.300")],
                QAPLA_ALLOWED_SOURCES,
            ),
            (&[(QAPLA_TIMEZONE, "Europe/Atlantis")], QAPLA_TIMEZONE),
            (&[(QAPLA_MAX_BODY_BYTES, "1MB")], QAPLA_MAX_BODY_BYTES),
            (&[(QAPLA_MAX_BODY_BYTES, "0")], QAPLA_MAX_BODY_BYTES),
            (&[(QAPLA_HISTORY_DAYS, "-5")], QAPLA_HISTORY_DAYS),
            (&[(QAPLA_RETURN_ORDER_DAYS, "0")], QAPLA_RETURN_ORDER_DAYS),
        ];
        for (extra, var) in cases {
            let e = with(extra).expect_err(var);
            assert_eq!(e.var, var);
            assert!(
                e.to_string()
                    .starts_with(&format!("configuration: {var}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn explicit_values() {
        let c = with(&[
            (QAPLA_ALLOWED_SOURCES, "any"),
            (QAPLA_TIMEZONE, "Europe/Berlin"),
            (QAPLA_MAX_BODY_BYTES, "2048"),
            (QAPLA_HISTORY_DAYS, "30"),
            (QAPLA_RETURN_ORDER_DAYS, "90"),
        ])
        .expect("valid")
        .settings;
        assert_eq!(c.return_order_days, 90);
        assert_eq!(c.allowlist, Allowlist::Any);
        assert_eq!(c.max_body_bytes, 2048);
        assert_eq!(c.history_days, 30);
    }

    #[test]
    fn stuck_config() {
        let channels = crate::fixtures::demo_channels();
        let base = [
            (TABLE_NAME, "t"),
            (TOPIC_ARN, "arn"),
            (QAPLA_CHANNELS, &channels),
        ];
        let ok = StuckConfig::from_lookup(env(&base)).expect("valid");
        assert_eq!((ok.rule.stock_days, ok.rule.days), (2, 5));
        assert_eq!(ok.channels, ["shop-it"]);
        assert_eq!(ok.silence_hours, 24);
        let mut set = base.to_vec();
        set.extend([
            (QAPLA_STUCK_STOCK_DAYS, "3"),
            (QAPLA_STUCK_DAYS, "7"),
            (QAPLA_SILENCE_HOURS, "48"),
        ]);
        let ok = StuckConfig::from_lookup(env(&set)).expect("valid");
        assert_eq!((ok.rule.stock_days, ok.rule.days), (3, 7));
        assert_eq!(ok.silence_hours, 48);
        for (var, value) in [
            (QAPLA_SILENCE_HOURS, "0"),
            (QAPLA_STUCK_DAYS, "0"),
            (QAPLA_STUCK_STOCK_DAYS, "two"),
            (TOPIC_ARN, ""),
            (TABLE_NAME, " "),
            (QAPLA_CHANNELS, "shop"),
        ] {
            let mut bad: Vec<(&str, &str)> =
                base.iter().filter(|(k, _)| *k != var).copied().collect();
            bad.push((var, value));
            let e = StuckConfig::from_lookup(env(&bad)).expect_err(var);
            assert_eq!(e.var, var);
        }
    }

    #[test]
    fn notifier_config() {
        let channels = crate::fixtures::demo_channels();
        let ok = NotifierConfig::from_lookup(env(&[
            (TOPIC_ARN, "arn:aws:sns:eu-south-1:000000000000:t"),
            (QAPLA_CHANNELS, &channels),
        ]))
        .expect("valid");
        assert!(!ok.notifier.personal_data);
        assert_eq!(ok.event_bus, None);
        for (value, bus) in [("", None), ("  ", None), (" qapla ", Some("qapla"))] {
            let with_bus =
                NotifierConfig::from_lookup(env(&[(TOPIC_ARN, "t"), (EVENT_BUS_NAME, value)]))
                    .expect("valid");
            assert_eq!(with_bus.event_bus.as_deref(), bus, "{value:?}");
        }
        assert_eq!(ok.table_name, None, "no claims without a table");
        for (value, table) in [("", None), (" ", None), (" qapla-t ", Some("qapla-t"))] {
            let with_table =
                NotifierConfig::from_lookup(env(&[(TOPIC_ARN, "t"), (TABLE_NAME, value)]))
                    .expect("valid");
            assert_eq!(with_table.table_name.as_deref(), table, "{value:?}");
        }
        let e =
            NotifierConfig::from_lookup(env(&[(QAPLA_CHANNELS, &channels)])).expect_err("no topic");
        assert_eq!(e.var, TOPIC_ARN);
        let e = NotifierConfig::from_lookup(env(&[
            (TOPIC_ARN, "t"),
            (QAPLA_CHANNELS, &channels),
            (QAPLA_ALERT_PERSONAL_DATA, "maybe"),
        ]))
        .expect_err("bad flag");
        assert_eq!(e.var, QAPLA_ALERT_PERSONAL_DATA);
    }

    #[test]
    fn plain_http_only_to_the_hosts_of_a_local_run() {
        use PlainHttp::{Local, Loopback};
        for (url, loopback, local) in [
            ("https://api.qapla.it", true, true),
            ("HTTPS://dynamodb.eu-south-1.amazonaws.com/", true, true),
            ("http://127.0.0.1:9", true, true),
            ("http://127.9.9.9", true, true),
            ("http://localhost:5050/", true, true),
            ("http://[::1]:8000", true, true),
            ("http://host.docker.internal:5050", false, true),
            ("http://172.17.0.1:5051", false, true),
            ("http://10.1.2.3", false, true),
            ("http://192.168.1.20:4566", false, true),
            ("http://[fd00::1]:80", false, true),
            ("http://api.qapla.it", false, false),
            ("http://dynamodb.eu-south-1.amazonaws.com", false, false),
            ("http://8.8.8.8", false, false),
            ("http://172.32.0.1", false, false),
            ("http://169.254.169.254", false, false),
            ("http://127.0.0.1.example.com", false, false),
            ("http://127.0.0.1@example.com", false, false),
            ("http://localhost.example.com:5050", false, false),
            ("ftp://127.0.0.1", false, false),
            ("127.0.0.1:9", false, false),
        ] {
            assert_eq!(
                check_url(url, Loopback).is_ok(),
                loopback,
                "{url} (loopback)"
            );
            assert_eq!(check_url(url, Local).is_ok(), local, "{url} (local)");
        }
        let said = check_url("http://api.qapla.it/x", Loopback)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            said,
            r#"plain http to "api.qapla.it" is refused: without TLS only this machine (localhost, 127.0.0.0/8, ::1) may be reached; give an https:// URL"#
        );
    }

    #[test]
    fn reconciler_config() {
        let channels = crate::fixtures::demo_channels();
        let base = [
            (TABLE_NAME, "t"),
            (QAPLA_CHANNELS, channels.as_str()),
            (QAPLA_KEYS_PREFIX, "/qapla-webhooks/keys/"),
        ];
        let ok = RecoverConfig::from_lookup(env(&base)).expect("valid");
        assert_eq!(ok.api_url, DEFAULT_QAPLA_API_URL);
        assert_eq!(ok.settings.lookback, chrono::Duration::hours(24));
        let mut local = base.to_vec();
        local.push((QAPLA_API_URL, "http://127.0.0.1:9/"));
        local.push((QAPLA_RECOVER_LOOKBACK_HOURS, "48"));
        let ok = RecoverConfig::from_lookup(env(&local)).expect("valid");
        assert_eq!(ok.api_url, "http://127.0.0.1:9");
        assert_eq!(ok.settings.lookback, chrono::Duration::hours(48));
        let cases: [(&'static str, &str); 7] = [
            (QAPLA_API_URL, "api.qapla.it"),
            (QAPLA_API_URL, "http://api.qapla.it"),
            (QAPLA_API_URL, "http://10.0.0.5:8080"),
            (QAPLA_KEYS_PREFIX, "qapla/keys/"),
            (QAPLA_KEYS_PREFIX, ""),
            (QAPLA_RECOVER_LOOKBACK_HOURS, "a day"),
            (QAPLA_API_URL, "http://127.0.0.1@api.qapla.it/"),
        ];
        for (var, value) in cases {
            let mut pairs: Vec<(&str, &str)> =
                base.iter().filter(|(k, _)| *k != var).copied().collect();
            pairs.push((var, value));
            let e = RecoverConfig::from_lookup(env(&pairs)).expect_err(var);
            assert_eq!(e.var, var);
        }
    }
}
