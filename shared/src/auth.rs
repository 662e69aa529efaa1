//! Who may deliver: channel keys and the sender allowlist.
//!
//! A channel is configured by the SHA-256 digest of its private key, never the key itself, so no
//! secret is stored anywhere and a leaked configuration reveals nothing. The presented key is hashed
//! and compared in constant time against every channel.

use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// A channel's private API key as presented in a body. It cannot be printed or serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The key itself, for the one place that must send it: the request to Qapla's API (which
    /// takes it in the query string, so that URL is never logged).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Which event the orders webhook of a channel is sent on; the payload does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderTrigger {
    #[default]
    Created,
    Transmitted,
}

impl OrderTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderTrigger::Created => "created",
            OrderTrigger::Transmitted => "transmitted",
        }
    }
}

/// One sales channel: a name and the digest of its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    digest: [u8; 32],
    pub trigger: OrderTrigger,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Is this the channel's key? Compared by digest, in constant time.
    pub fn holds(&self, key: &ApiKey) -> bool {
        bool::from(self.digest.ct_eq(&key.digest()))
    }

    /// The configuration entry for a channel with this key: `name:sha256hex`, plus
    /// `:transmitted` for a channel whose orders webhook fires on transmission.
    pub fn entry(name: &str, key: &ApiKey, trigger: OrderTrigger) -> String {
        let digest = hex::encode(key.digest());
        match trigger {
            OrderTrigger::Created => format!("{name}:{digest}"),
            OrderTrigger::Transmitted => format!("{name}:{digest}:transmitted"),
        }
    }
}

/// Why `QAPLA_CHANNELS` or `QAPLA_ALLOWED_SOURCES` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("no channel configured: give at least one name:sha256hex entry")]
    NoChannels,
    #[error("entry {position}: {reason} (expected name:sha256hex or name:sha256hex:transmitted)")]
    BadChannel { position: usize, reason: String },
    #[error("channel name {0:?} appears twice")]
    DuplicateName(String),
    #[error("channels {0:?} and {1:?} have the same key digest")]
    DuplicateDigest(String, String),
    #[error("{0:?} is not an IP address or CIDR (or the word any)")]
    BadSource(String),
    #[error("no sender address configured: list CIDRs or say any")]
    NoSources,
}

/// Is a channel name usable inside table keys: letters, digits, `.`, `_`, `-`.
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The configured channels.
#[derive(Debug, Clone)]
pub struct Channels(Vec<Channel>);

impl Channels {
    /// Parses comma-separated `name:sha256hex[:created|:transmitted]` entries.
    pub fn parse(spec: &str) -> Result<Self, AuthConfigError> {
        let mut channels: Vec<Channel> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let position = i + 1;
            if entry.is_empty() {
                continue;
            }
            let bad = |reason: &str| AuthConfigError::BadChannel {
                position,
                reason: reason.to_owned(),
            };
            let mut parts = entry.split(':');
            let name = parts.next().unwrap_or_default().trim();
            let digest_hex = parts.next().ok_or_else(|| bad("no digest"))?.trim();
            let trigger = match parts.next().map(str::trim) {
                None | Some("created") => OrderTrigger::Created,
                Some("transmitted") => OrderTrigger::Transmitted,
                Some(_) => return Err(bad("the trigger must be created or transmitted")),
            };
            if parts.next().is_some() {
                return Err(bad("too many fields"));
            }
            if !valid_channel_name(name) {
                return Err(bad(
                    "the name must be 1-64 letters, digits, '.', '_' or '-'",
                ));
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(digest_hex, &mut digest)
                .map_err(|_| bad("the digest must be 64 hex digits (SHA-256 of the key)"))?;
            if let Some(other) = channels.iter().find(|c| c.name == name) {
                return Err(AuthConfigError::DuplicateName(other.name.clone()));
            }
            if let Some(other) = channels.iter().find(|c| c.digest == digest) {
                return Err(AuthConfigError::DuplicateDigest(
                    other.name.clone(),
                    name.to_owned(),
                ));
            }
            channels.push(Channel {
                name: name.to_owned(),
                digest,
                trigger,
            });
        }
        if channels.is_empty() {
            return Err(AuthConfigError::NoChannels);
        }
        Ok(Channels(channels))
    }

    /// The channel whose key this is. Every channel is compared, whatever matches, so the time
    /// taken says nothing about which digest was close.
    pub fn authenticate(&self, key: &ApiKey) -> Option<&Channel> {
        let presented = key.digest();
        let mut found = None;
        for channel in &self.0 {
            if bool::from(channel.digest.ct_eq(&presented)) {
                found = Some(channel);
            }
        }
        found
    }

    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.0.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Channel> {
        self.0.iter().find(|c| c.name == name)
    }
}

/// The eight sender addresses Qapla' publishes (seven on the English page, one more on the Italian).
pub const QAPLA_SOURCES: [&str; 8] = [
    "34.96.89.1/32",
    "35.195.3.242/32",
    "35.205.84.188/32",
    "35.205.236.254/32",
    "34.78.56.172/32",
    "35.195.153.127/32",
    "35.205.146.223/32",
    "35.195.158.219/32",
];

/// Which sender addresses may deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowlist {
    /// Every sender: for local runs only, asked for explicitly with `any`.
    Any,
    Nets(Vec<IpNet>),
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist::Nets(
            QAPLA_SOURCES
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
        )
    }
}

impl Allowlist {
    /// Parses comma-separated CIDRs or bare addresses (IPv4 and IPv6), or `any`.
    pub fn parse(spec: &str) -> Result<Self, AuthConfigError> {
        let entries: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if entries.len() == 1 && entries[0].eq_ignore_ascii_case("any") {
            return Ok(Allowlist::Any);
        }
        if entries.is_empty() {
            return Err(AuthConfigError::NoSources);
        }
        entries
            .into_iter()
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| AuthConfigError::BadSource(e.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Allowlist::Nets)
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        // An IPv4 sender seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match self {
            Allowlist::Any => true,
            Allowlist::Nets(nets) => nets.iter().any(|n| n.contains(&ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_IT: &str = "chan-it-7f3a";

    fn digest_of(key: &str) -> String {
        hex::encode(ApiKey::new(key).digest())
    }

    #[test]
    fn entry_round_trips_through_parse() {
        let key = ApiKey::new(KEY_IT);
        let spec = format!(
            "{},{}",
            Channel::entry("shop-it", &key, OrderTrigger::Created),
            Channel::entry("shop-de", &ApiKey::new("de"), OrderTrigger::Transmitted)
        );
        let channels = Channels::parse(&spec).expect("valid");
        let found = channels.authenticate(&key).expect("known key");
        assert_eq!(found.name, "shop-it");
        assert_eq!(found.trigger, OrderTrigger::Created);
        let de = channels.authenticate(&ApiKey::new("de")).expect("known");
        assert_eq!(de.trigger, OrderTrigger::Transmitted);
        assert!(channels
            .authenticate(&ApiKey::new("chan-it-7f3b"))
            .is_none());
        assert!(channels.authenticate(&ApiKey::new("")).is_none());
    }

    #[test]
    fn known_answer_digest() {
        // sha256("abc")
        assert_eq!(
            digest_of("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_channel_specs() {
        let d = digest_of("k");
        let cases = [
            ("", "no channel"),
            (" , ", "no channel"),
            ("shop", "no digest"),
            ("shop:abc", "64 hex"),
            (
                &format!("shop:{d}:sometimes") as &str,
                "created or transmitted",
            ),
            (&format!("shop:{d}:created:x"), "too many"),
            (&format!("shop it:{d}"), "the name"),
            (&format!(":{d}"), "the name"),
            (&format!("a#b:{d}"), "the name"),
            (&format!("a:{d},a:{}", digest_of("other")), "appears twice"),
            (&format!("a:{d},b:{d}"), "same key digest"),
        ];
        for (spec, message) in cases {
            let err = Channels::parse(spec).expect_err(spec).to_string();
            assert!(err.contains(message), "{spec}: {err}");
        }
    }

    #[test]
    fn spec_tolerates_spaces_and_case_of_hex() {
        let d = digest_of(KEY_IT).to_uppercase();
        let channels = Channels::parse(&format!(" shop : {d} : created ,")).expect("valid");
        assert!(channels.authenticate(&ApiKey::new(KEY_IT)).is_some());
    }

    #[test]
    fn key_never_printed() {
        let key = ApiKey::new(KEY_IT);
        assert!(!format!("{key:?}").contains(KEY_IT));
        let channels =
            Channels::parse(&Channel::entry("s", &key, OrderTrigger::Created)).expect("valid");
        assert!(!format!("{channels:?}").contains(&digest_of(KEY_IT)));
    }

    #[test]
    fn allowlist_cases() {
        let default = Allowlist::default();
        let list = Allowlist::parse("10.0.0.0/8, 2001:db8::/32, 192.0.2.7").expect("valid");
        let cases: [(&Allowlist, &str, bool); 11] = [
            (&default, "34.96.89.1", true),
            (&default, "35.195.158.219", true),
            (&default, "35.195.158.220", false),
            (&default, "::ffff:35.205.84.188", true),
            (&default, "127.0.0.1", false),
            (&list, "10.255.0.1", true),
            (&list, "11.0.0.1", false),
            (&list, "2001:db8::1", true),
            (&list, "2001:db9::1", false),
            (&list, "192.0.2.7", true),
            (&Allowlist::Any, "203.0.113.5", true),
        ];
        for (list, ip, allowed) in cases {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(list.allows(ip), allowed, "{ip}");
        }
        assert_eq!(Allowlist::parse(" ANY "), Ok(Allowlist::Any));
        assert_eq!(Allowlist::parse(""), Err(AuthConfigError::NoSources));
        assert_eq!(
            Allowlist::parse("10.0.0.0/33"),
            Err(AuthConfigError::BadSource("10.0.0.0/33".into()))
        );
        assert!(Allowlist::parse("any,10.0.0.1").is_err());
        match default {
            Allowlist::Nets(nets) => assert_eq!(nets.len(), 8),
            Allowlist::Any => panic!("default must not be any"),
        }
    }
}
