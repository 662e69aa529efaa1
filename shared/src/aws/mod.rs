//! The AWS adapters: the DynamoDB store, the SNS publisher, the EventBridge bus, the stream reader, the stuck
//! episodes and the Lambda wiring. They implement the core's ports and decide nothing that is a Qapla' rule; the core
//! knows nothing of them.

#[cfg(feature = "cli")]
pub mod cli;
pub mod dynamo;
pub mod endpoint;
pub mod eventbridge;
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

/// The SDK configuration loader with our HTTP client. The standard variables apply, including
/// `AWS_ENDPOINT_URL`, which points every client at a local store; so does a non-empty
/// `LOCAL_ENDPOINT_URL` (see [`endpoint`]).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client(TlsContext::default()));
    match endpoint::local_endpoint(|k| std::env::var(k).ok()) {
        Some(url) => loader.endpoint_url(url),
        None => loader,
    }
}

/// Loads the SDK configuration, once per cold start.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_loader().load().await
}
