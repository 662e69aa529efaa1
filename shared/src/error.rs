//! Every way a delivery can be refused or fail, and the one place that maps each to the answer.
//!
//! Answer policy (Qapla' disables a webhook after 100 failures, so KO must be earned):
//! - not a delivery at all (empty, not JSON, not an object, invalid content, wrong webhook): 400;
//! - not Qapla's (no key, unknown key): 401; sender outside the allowlist: 403;
//! - not a POST: 405; too large: 413;
//! - our store failed, so a retry can help: 503.

use crate::dates::BadDate;
use crate::payload::Kind;

/// Why the content of a delivery is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("{field}: {source}")]
    Date {
        field: &'static str,
        #[source]
        source: BadDate,
    },
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} holds more than {1} entries")]
    TooMany(&'static str, usize),
}

impl Invalid {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why a request gets a KO answer.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("method {0} is not allowed")]
    Method(String),
    #[error("body of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("no source address in the request context")]
    NoSource,
    #[error("sender {0} is not in the allowlist")]
    ForeignSender(std::net::IpAddr),
    #[error("empty body")]
    EmptyBody,
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("duplicate key {0:?} in a JSON object")]
    DuplicateKey(String),
    #[error("the body is not a JSON object")]
    NotObject,
    #[error("no API key")]
    MissingKey,
    #[error("unknown API key")]
    UnknownKey,
    #[error("the body is no Qapla' webhook")]
    UnknownKind,
    #[error("a {found} delivery sent to the {expected} endpoint")]
    WrongKind { expected: Kind, found: Kind },
    #[error("invalid: {0}")]
    Invalid(#[from] Invalid),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl Rejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Method(_) => 405,
            Rejection::TooLarge { .. } => 413,
            Rejection::NoSource | Rejection::ForeignSender(_) => 403,
            Rejection::MissingKey | Rejection::UnknownKey => 401,
            Rejection::EmptyBody
            | Rejection::NotJson(_)
            | Rejection::DuplicateKey(_)
            | Rejection::NotObject
            | Rejection::UnknownKind
            | Rejection::WrongKind { .. }
            | Rejection::Invalid(_) => 400,
            Rejection::Store(_) => 503,
        }
    }

    /// A short, stable code for logs and metrics: `rejected:<code>` or `failed:<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Method(_) => "method",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::NoSource => "no_source",
            Rejection::ForeignSender(_) => "foreign_sender",
            Rejection::EmptyBody => "empty_body",
            Rejection::NotJson(_) => "not_json",
            Rejection::DuplicateKey(_) => "duplicate_key",
            Rejection::NotObject => "not_object",
            Rejection::MissingKey => "missing_key",
            Rejection::UnknownKey => "unknown_key",
            Rejection::UnknownKind => "unknown_kind",
            Rejection::WrongKind { .. } => "wrong_kind",
            Rejection::Invalid(_) => "invalid",
            Rejection::Store(_) => "store",
        }
    }

    /// The outcome as logged: `failed:<code>` where a retry can help, else `rejected:<code>`.
    pub fn outcome(&self) -> String {
        if self.status() >= 500 {
            format!("failed:{}", self.code())
        } else {
            format!("rejected:{}", self.code())
        }
    }
}

/// The answer body Qapla' reads: exactly `{"result":"OK"}` or `{"result":"KO"}`.
pub fn answer_body(ok: bool) -> &'static str {
    if ok {
        r#"{"result":"OK"}"#
    } else {
        r#"{"result":"KO"}"#
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn each_rejection_maps_to_its_status() {
        let ip: std::net::IpAddr = [10, 0, 0, 1].into();
        let cases: Vec<(Rejection, u16, &str)> = vec![
            (Rejection::Method("GET".into()), 405, "rejected:method"),
            (
                Rejection::TooLarge { size: 2, limit: 1 },
                413,
                "rejected:too_large",
            ),
            (Rejection::NoSource, 403, "rejected:no_source"),
            (Rejection::ForeignSender(ip), 403, "rejected:foreign_sender"),
            (Rejection::EmptyBody, 400, "rejected:empty_body"),
            (Rejection::NotJson("x".into()), 400, "rejected:not_json"),
            (
                Rejection::DuplicateKey("a".into()),
                400,
                "rejected:duplicate_key",
            ),
            (Rejection::NotObject, 400, "rejected:not_object"),
            (Rejection::MissingKey, 401, "rejected:missing_key"),
            (Rejection::UnknownKey, 401, "rejected:unknown_key"),
            (Rejection::UnknownKind, 400, "rejected:unknown_kind"),
            (
                Rejection::WrongKind {
                    expected: Kind::Shipment,
                    found: Kind::Order,
                },
                400,
                "rejected:wrong_kind",
            ),
            (
                Invalid::Missing("trackingNumber").into(),
                400,
                "rejected:invalid",
            ),
            (
                StoreError::Unavailable("down".into()).into(),
                503,
                "failed:store",
            ),
        ];
        for (rejection, status, outcome) in cases {
            assert_eq!(rejection.status(), status, "{rejection}");
            assert_eq!(rejection.outcome(), outcome, "{rejection}");
        }
    }

    #[test]
    fn bodies_are_exact() {
        assert_eq!(answer_body(true), r#"{"result":"OK"}"#);
        assert_eq!(answer_body(false), r#"{"result":"KO"}"#);
    }
}
