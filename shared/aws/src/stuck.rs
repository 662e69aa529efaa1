//! Stuck episodes on DynamoDB: the claim is one conditional update of the shipment's state item
//! (still that state, and not alerted for it), so two concurrent runs alert once.

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use qapla::store::StoreError;
use qapla::stuck::Episodes;
use qapla::table::{ORD, PK, SK, STATE, STUCK_ALERTED};

/// The state is still the episode's, and the episode is not recorded yet.
const UNCLAIMED: &str = "#ord = :key AND (attribute_not_exists(#sa) OR #sa <> :key)";
/// The claim is still this episode's.
const CLAIMED: &str = "#sa = :key";

#[derive(Debug, Clone)]
pub struct DynamoEpisodes {
    client: Client,
    table: String,
}

impl DynamoEpisodes {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoEpisodes {
            client,
            table: table.into(),
        }
    }

    fn update(
        &self,
        pk: &str,
        key: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(STATE.to_owned()))
            .expression_attribute_names("#sa", STUCK_ALERTED)
            .expression_attribute_values(":key", AttributeValue::S(key.to_owned()))
    }
}

/// `Ok(false)` when the condition did not hold; any other failure may pass on a later run.
fn applied<T>(
    result: Result<T, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::Retryable(DisplayErrorContext(&e).to_string())),
    }
}

impl Episodes for DynamoEpisodes {
    async fn claim(&self, pk: &str, key: &str) -> Result<bool, StoreError> {
        applied(
            self.update(pk, key)
                .update_expression("SET #sa = :key")
                .condition_expression(UNCLAIMED)
                .expression_attribute_names("#ord", ORD)
                .send()
                .await,
        )
    }

    async fn release(&self, pk: &str, key: &str) -> Result<(), StoreError> {
        applied(
            self.update(pk, key)
                .update_expression("REMOVE #sa")
                .condition_expression(CLAIMED)
                .send()
                .await,
        )
        .map(|_| ())
    }
}
