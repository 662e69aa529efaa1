//! The functions' SDK configuration, from the environment alone.
//!
//! Lambda hands a function its role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`) and its region (`AWS_REGION`) in the environment; `sam local invoke`,
//! `cargo lambda watch`, the local stack and the tests do the same. So the functions need none of
//! the default chain's other sources (profile files, SSO, STS web identity, ECS, IMDS), and leaving
//! its loader out leaves their code out of the binaries. Retries and timeouts are the SDK's
//! defaults for the behaviour version, as the loader would set them; each client bounds its own
//! (`dynamo::client`, `s3::client`, the notifier's SNS client).

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::TlsContext;

use super::endpoint::{Endpoints, InsecureEndpoint};

/// What the environment lacks for the SDK; the function stops at its cold start with it.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("AWS_REGION (or AWS_DEFAULT_REGION) is not set")]
    Region,
    #[error("AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set ({0})")]
    Credentials(String),
    #[error("endpoint {0}")]
    Endpoint(#[from] InsecureEndpoint),
}

/// The region and endpoints the environment names; a blank value counts as unset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RegionEndpoints {
    pub region: String,
    /// AWS's own unless a local run names others (see [`Endpoints`]).
    pub endpoints: Endpoints,
}

impl RegionEndpoints {
    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        super::endpoint::check(&var)?;
        Ok(RegionEndpoints {
            region: set("AWS_REGION")
                .or_else(|| set("AWS_DEFAULT_REGION"))
                .ok_or(EnvError::Region)?,
            endpoints: Endpoints::from_lookup(&var),
        })
    }
}

/// Fails, naming the variables, unless credentials were found at cold start: a function without
/// them could answer nothing but 503.
pub(crate) fn check_credentials<C, E: std::error::Error>(
    found: Result<C, E>,
) -> Result<(), EnvError> {
    found.map(drop).map_err(|e| {
        EnvError::Credentials(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
    })
}

/// The SDK configuration of a function, from its environment, with our HTTP client (rustls over
/// ring, the system's roots).
pub async fn sdk_config() -> Result<SdkConfig, EnvError> {
    let region_endpoints =
        RegionEndpoints::from_lookup(|name| std::env::var(name).ok()).inspect_err(log)?;
    let credentials = EnvironmentVariableCredentialsProvider::new();
    check_credentials(credentials.provide_credentials().await).inspect_err(log)?;
    Ok(build(
        region_endpoints.region,
        SharedCredentialsProvider::new(credentials),
        region_endpoints.endpoints,
    ))
}

/// The SDK configuration of a region, credentials and endpoints, with our HTTP client: each
/// client takes its service's own endpoint, else the one for every service, else AWS's. (An
/// endpoint given to aws-config's loader in code would win over every service's own.)
pub fn build(
    region: String,
    credentials: SharedCredentialsProvider,
    endpoints: Endpoints,
) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(credentials)
        .http_client(super::http_client(TlsContext::default()));
    config.set_endpoint_url(endpoints.all.clone());
    config.service_config(endpoints).build()
}

fn log(e: &EnvError) {
    tracing::error!(reason = %e, "configuration");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn region_endpoints(vars: &[(&str, &str)]) -> Result<RegionEndpoints, EnvError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RegionEndpoints::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn region_from_aws_region_then_the_default_region() {
        let s = region_endpoints(&[
            ("AWS_REGION", "eu-south-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]);
        assert_eq!(s.map(|s| s.region).ok().as_deref(), Some("eu-south-1"));
        let s = region_endpoints(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(s.map(|s| s.region).ok().as_deref(), Some("us-east-1"));
        let s = region_endpoints(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(s.map(|s| s.region).ok().as_deref(), Some("us-east-1"));
    }

    #[test]
    fn no_region_is_an_error_that_names_the_variable() {
        let e = region_endpoints(&[
            ("AWS_REGION", ""),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        assert!(matches!(e, Err(EnvError::Region)));
        assert!(EnvError::Region.to_string().contains("AWS_REGION"));
    }

    #[test]
    fn a_blank_endpoint_counts_as_unset() {
        let s = region_endpoints(&[("AWS_REGION", "eu-south-1"), ("AWS_ENDPOINT_URL", "")]);
        assert_eq!(s.ok().and_then(|s| s.endpoints.all), None);
        let s = region_endpoints(&[
            ("AWS_REGION", "eu-south-1"),
            ("AWS_ENDPOINT_URL", "https://h:1"),
        ]);
        assert_eq!(
            s.ok().and_then(|s| s.endpoints.all).as_deref(),
            Some("https://h:1")
        );
    }

    #[test]
    fn the_local_endpoint_of_sam_local_invoke_comes_first() {
        let s = region_endpoints(&[
            ("AWS_REGION", "eu-south-1"),
            ("LOCAL_ENDPOINT_URL", "http://host.docker.internal:5050"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        assert_eq!(
            s.ok().and_then(|s| s.endpoints.all).as_deref(),
            Some("http://host.docker.internal:5050")
        );
        // Deployed, the template's LOCAL_ENDPOINT_URL is empty: AWS's own endpoints.
        let s = region_endpoints(&[("AWS_REGION", "eu-south-1"), ("LOCAL_ENDPOINT_URL", "")]);
        assert_eq!(s.ok().and_then(|s| s.endpoints.all), None);
    }

    /// The cold start stops, naming the variable, on an endpoint of plain http beyond a local
    /// run's hosts.
    #[test]
    fn a_plain_http_endpoint_elsewhere_stops_the_cold_start() {
        let e = region_endpoints(&[
            ("AWS_REGION", "eu-south-1"),
            ("LOCAL_ENDPOINT_URL", "http://store.example.com:5050"),
        ])
        .expect_err("refused");
        assert_eq!(
            e.to_string(),
            r#"endpoint LOCAL_ENDPOINT_URL: plain http to "store.example.com" is refused: without TLS only this machine, a private address (10/8, 172.16/12, 192.168/16, fc00::/7) or host.docker.internal may be reached; give an https:// URL"#
        );
        let e = region_endpoints(&[
            ("AWS_REGION", "eu-south-1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://8.8.8.8:8000"),
        ]);
        assert!(matches!(e, Err(EnvError::Endpoint(_))), "{e:?}");
    }

    #[test]
    fn missing_credentials_stop_the_cold_start_with_the_variables_named() {
        let missing = Err::<(), _>(std::io::Error::other("environment variable not set"));
        let text = check_credentials(missing)
            .expect_err("no credentials")
            .to_string();
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
        assert!(text.contains("not set"), "{text}");
        assert!(check_credentials(Ok::<_, std::io::Error>(())).is_ok());
    }
}
