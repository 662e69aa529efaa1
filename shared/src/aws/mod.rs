//! The AWS adapters: the DynamoDB store, the SNS publisher and the Lambda wiring. They know
//! nothing of Qapla's rules; the core knows nothing of them.

pub mod dynamo;
pub mod lambda;
pub mod sns;
pub mod stream;

/// Loads the SDK configuration once per cold start. The standard variables apply, including
/// `AWS_ENDPOINT_URL`, which points every client at a local store.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
