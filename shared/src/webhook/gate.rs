//! The gate: what a request must be to count as a delivery of a configured channel, checked in
//! this order: a POST, within the size limit, from an allowed sender, a body that reads (or a
//! JSON object a key may still claim), with the key of a channel. What fails is a [`Rejection`]
//! (a KO answer, nothing kept); what passes is Qapla's, and from here on is answered OK whatever
//! is wrong with its content ([`super::intake`]).

use super::{Rejection, Request, Settings};
use crate::auth::{ApiKey, Channel};
use crate::kind::Kind;
use crate::payload::{self, Envelope, Unreadable};
use serde_json::{Map, Value};

/// A request the gate let through: whose it is and what it holds.
pub(super) struct Admitted<'s> {
    pub channel: &'s Channel,
    pub content: Content,
    /// The kind its body says, where it came to another webhook's endpoint.
    pub misrouted: Option<Kind>,
}

/// Lets a request through to `endpoint`, or says why not.
pub(super) fn admit<'s>(
    settings: &'s Settings,
    endpoint: Kind,
    request: &Request<'_>,
) -> Result<Admitted<'s>, Rejection> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err(Rejection::Method(request.method.chars().take(16).collect()));
    }
    let limit = settings.max_body_bytes;
    if request.body.len() > limit {
        return Err(Rejection::TooLarge {
            size: request.body.len(),
            limit,
        });
    }
    let source = request.source.ok_or(Rejection::NoSource)?;
    if !settings.allowlist.allows(source) {
        return Err(Rejection::ForeignSender(source));
    }
    let content = Content::of(request.body)?;
    let key = content.key().ok_or(Rejection::MissingKey)?;
    let channel = settings
        .channels
        .authenticate(key)
        .ok_or(Rejection::UnknownKey)?;
    let misrouted = match &content {
        Content::Read(envelope) if envelope.kind != endpoint => Some(envelope.kind),
        _ => None,
    };
    Ok(Admitted {
        channel,
        content,
        misrouted,
    })
}

/// A body as read: an envelope, or a JSON object [`payload::read`] refused that a key may still
/// claim ([`payload::lenient`]).
pub(super) enum Content {
    Read(Envelope),
    Refused {
        refusal: Unreadable,
        key: Option<ApiKey>,
        body: Map<String, Value>,
    },
}

impl Content {
    /// Reads a body; what is refused stays a refusal unless a key may still claim it.
    pub(super) fn of(bytes: &[u8]) -> Result<Self, Unreadable> {
        match payload::read(bytes) {
            Ok(envelope) => Ok(Content::Read(envelope)),
            Err(refusal) => match payload::lenient(bytes, &refusal) {
                Some((key, body)) => Ok(Content::Refused { refusal, key, body }),
                None => Err(refusal),
            },
        }
    }

    fn key(&self) -> Option<&ApiKey> {
        match self {
            Content::Read(envelope) => envelope.key.as_ref(),
            Content::Refused { key, .. } => key.as_ref(),
        }
    }
}
