//! The archive on an S3 bucket of the stack: payloads too large for a table item, the
//! quarantine and the inbox. The bucket itself is private, encrypted and expires objects (template.yaml).

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use qapla::store::{Archive, Listed, StoreError};

#[derive(Debug, Clone)]
pub struct S3Archive {
    client: Client,
    bucket: String,
}

/// An S3 client from the SDK configuration, with the webhooks' bounded timeouts and retries
/// ([`crate::bounds`]). Path-style addressing where an endpoint is set (a local
/// S3 on loopback has no bucket subdomains); AWS's own virtual-hosted style otherwise.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .timeout_config(crate::bounds::bounded_timeouts())
        .retry_config(crate::bounds::bounded_retries())
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Archive {
            client,
            bucket: bucket.into(),
        }
    }
}

/// S3 refusing a request for good (a bad request, no such bucket) cannot be fixed by a retry;
/// anything else (throttling, the network, S3's own faults) can.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    let text = DisplayErrorContext(&err).to_string();
    let permanent = matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some("InvalidRequest" | "NoSuchBucket" | "EntityTooLarge" | "InvalidArgument")
    );
    if permanent {
        StoreError::Refused(text)
    } else {
        StoreError::Retryable(text)
    }
}

impl Archive for S3Archive {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(object) => object
                .body
                .collect()
                .await
                .map(|b| Some(b.into_bytes().to_vec()))
                .map_err(|e| StoreError::Retryable(e.to_string())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(err) => Err(classify(err)),
        }
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        let mut listed = Vec::new();
        let mut token = None;
        while listed.len() < limit {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(
                    i32::try_from(limit - listed.len())
                        .unwrap_or(1000)
                        .min(1000),
                )
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(classify)?;
            listed.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_owned(),
                    modified: o
                        .last_modified()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0)),
                })
            }));
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        listed.truncate(limit);
        Ok(listed)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}
