//! Notice claims in the stack's table (see `notify::once`): a claim is a put under the condition
//! that no claim of the pair exists, completed by a put of the done claim and given back by a
//! delete. Each claim expires (TTL) after `table::CLAIM_DAYS`.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use qapla::notify::once::{Claim, Claims, Target};
use qapla::store::StoreError;
use qapla::table;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct DynamoClaims {
    client: Client,
    table: String,
}

impl DynamoClaims {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoClaims {
            client,
            table: table.into(),
        }
    }

    fn key(id: &str, target: Target) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                table::PK.to_owned(),
                AttributeValue::S(table::notice_pk(id)),
            ),
            (
                table::SK.to_owned(),
                AttributeValue::S(target.sort_key().to_owned()),
            ),
        ])
    }

    fn item(id: &str, target: Target, state: &str) -> HashMap<String, AttributeValue> {
        let now = Utc::now();
        let mut item = Self::key(id, target);
        item.insert(table::CLAIM.to_owned(), AttributeValue::S(state.to_owned()));
        item.insert(
            table::CLAIMED_AT.to_owned(),
            AttributeValue::S(qapla::dates::iso(&now)),
        );
        let expires = now.timestamp() + table::CLAIM_DAYS * 86_400;
        item.insert(
            table::TTL.to_owned(),
            AttributeValue::N(expires.to_string()),
        );
        item
    }
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Retryable(DisplayErrorContext(&e).to_string())
}

impl Claims for DynamoClaims {
    async fn claim(&self, id: &str, target: Target) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(id, target, table::CLAIM_PENDING)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", table::PK)
            .send()
            .await;
        match put {
            Ok(_) => return Ok(Claim::Won),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        // Held by an earlier attempt: which side of its send it reached.
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id, target)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let done = got
            .item()
            .and_then(|i| i.get(table::CLAIM))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|s| s == table::CLAIM_DONE);
        Ok(if done { Claim::Done } else { Claim::Unfinished })
    }

    async fn complete(&self, id: &str, target: Target) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(id, target, table::CLAIM_DONE)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn release(&self, id: &str, target: Target) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id, target)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
