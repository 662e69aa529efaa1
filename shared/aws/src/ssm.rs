//! The channels' API keys, read once at cold start from SSM Parameter Store: channel `shop-it`'s
//! key is the `SecureString` parameter `<prefix>shop-it`. A channel without one has not opted in
//! to recovery.

use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::Client;
use qapla::auth::{ApiKey, Channel, Channels};

/// SSM takes at most ten names in one GetParameters call.
const NAMES_PER_CALL: usize = 10;

/// The keys could not be read (a permission, SSM unreachable): the function cannot start.
#[derive(Debug, thiserror::Error)]
#[error("reading the channel keys from SSM: {0}")]
pub struct KeysError(String);

/// Each channel with its stored key, or `None` where there is none.
pub async fn channel_keys(
    client: &Client,
    prefix: &str,
    channels: &Channels,
) -> Result<Vec<(Channel, Option<ApiKey>)>, KeysError> {
    let all: Vec<&Channel> = channels.iter().collect();
    let mut out = Vec::with_capacity(all.len());
    for chunk in all.chunks(NAMES_PER_CALL) {
        let names: Vec<String> = chunk
            .iter()
            .map(|c| format!("{prefix}{}", c.name))
            .collect();
        let answer = client
            .get_parameters()
            .set_names(Some(names.clone()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| KeysError(DisplayErrorContext(&e).to_string()))?;
        for (channel, name) in chunk.iter().zip(&names) {
            let key = answer
                .parameters()
                .iter()
                .find(|p| p.name() == Some(name.as_str()))
                .and_then(|p| p.value())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(ApiKey::new);
            out.push(((*channel).clone(), key));
        }
    }
    Ok(out)
}
