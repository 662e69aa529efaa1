//! Qapla's API over HTTPS: hyper's client on rustls with ring and the system's roots (the stack
//! the SDK's client links already). GET calls carry the key in the query string, so no URL is
//! ever logged or put in an error: errors say what failed, never where.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use qapla::auth::ApiKey;
use qapla::recover::{HttpAnswer, QaplaApi, TransportError};
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read: a window's listing or a shipment's history is far smaller.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// One request's limit, connection included: under the run's stop margin, so that a call
/// started just before a run stops, and hanging, ends before the function's timeout.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The client could not be built (no trusted roots on the system, for one).
#[derive(Debug, thiserror::Error)]
#[error("Qapla' API client: {0}")]
pub struct ClientError(String);

#[derive(Clone)]
pub struct HttpQapla {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base_url: String,
}

impl std::fmt::Debug for HttpQapla {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpQapla")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl HttpQapla {
    /// A client of the API at `base_url` (`https://api.qapla.it`; plain http only to a local
    /// fake on this machine, which the configuration checks: `config::check_url`).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_native_roots()
        .map_err(|e| ClientError(format!("no trusted roots: {e}")))?
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpQapla {
            client: Client::builder(TokioExecutor::new()).build(https),
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error's text with its causes, the key left out should any part quote it.
fn describe(err: &(dyn std::error::Error + 'static), key: &ApiKey) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let secret = key.expose_secret();
    if secret.is_empty() {
        text
    } else {
        text.replace(secret, "<key>")
    }
}

impl QaplaApi for HttpQapla {
    async fn get(
        &self,
        path: &str,
        key: &ApiKey,
        query: &[(&'static str, String)],
    ) -> Result<HttpAnswer, TransportError> {
        let mut url = format!(
            "{}{path}?apiKey={}",
            self.base_url,
            encode(key.expose_secret())
        );
        for (name, value) in query {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.push_str(&encode(value));
        }
        let request = hyper::Request::get(url)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| TransportError(format!("request: {}", describe(&e, key))))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| TransportError(describe(&e, key)))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| TransportError(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok(HttpAnswer {
                status,
                body: body.to_vec(),
            })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| TransportError(format!("no answer in {} s", TIMEOUT.as_secs())))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_ends_within_the_runs_stop_margin() {
        let settings = qapla::recover::RecoverySettings::new(chrono_tz::Europe::Rome, 400, 24);
        assert!(TIMEOUT < settings.stop_margin, "{TIMEOUT:?}");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("2026-06-16 08:00:00"), "2026-06-16%2008%3A00%3A00");
        assert_eq!(encode("a+b&c=d/é"), "a%2Bb%26c%3Dd%2F%C3%A9");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn errors_never_quote_the_key() {
        let key = ApiKey::new("sekret-key");
        let err = std::io::Error::other("failed for ?apiKey=sekret-key&id=1");
        let text = describe(&err, &key);
        assert!(!text.contains("sekret-key"), "{text}");
    }
}
