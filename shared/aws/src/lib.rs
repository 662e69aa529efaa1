//! The AWS adapters: the DynamoDB store, the SNS publisher, the EventBridge bus, the stream reader, the stuck
//! episodes and the Lambda wiring. They implement the core's ports and decide nothing that is a Qapla' rule; the core
//! knows nothing of them.

pub mod bounds;
pub mod claims;
pub mod dynamo;
pub mod endpoint;
pub mod environment;
pub mod eventbridge;
pub mod heartbeat;
pub mod lambda;
pub mod ledger;
pub mod qapla_http;
pub mod reader;
pub mod reconciler;
pub mod s3;
pub mod sns;
pub mod ssm;
pub mod stream;
pub mod stuck;

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};

/// The SDK's HTTP client: rustls over ring, which makes a smaller binary and a quicker start than
/// the default aws-lc. `tls` chooses the trusted roots (the system's by default).
pub fn http_client(tls: TlsContext) -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// The SDK's full configuration loader (profiles, STS, ECS, IMDS) with our HTTP client, for what
/// runs outside Lambda (the tests, the local stack). The standard variables apply, including
/// `AWS_ENDPOINT_URL`, which points every client at a local store; so does a non-empty
/// `LOCAL_ENDPOINT_URL` (see [`endpoint`]). The functions use [`sdk_config`], which links none of
/// the chain; the `qapla` CLI (crate `qapla-cli`) builds its own, with SSO and `credential_process`.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client(TlsContext::default()));
    match endpoint::local_endpoint(|k| std::env::var(k).ok()) {
        Some(url) => loader.endpoint_url(url),
        None => loader,
    }
}

/// A function's SDK configuration, from its environment alone, once per cold start; see
/// [`environment`]. Every client of the function (DynamoDB, S3, SNS) is built from it.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, environment::EnvError> {
    environment::sdk_config().await
}
