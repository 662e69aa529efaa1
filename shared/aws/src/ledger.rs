//! What the reconciler reads and keeps in the table besides the changes: shipment states, whether
//! a shipment holds a change in a window, and each channel's checkpoint (moved only forward by a
//! conditional write).

use crate::dynamo::DynamoStore;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use qapla::recover::Ledger;
use qapla::store::StoreError;
use qapla::table::{self, Checkpoint, ShipmentState};

fn retryable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Retryable(DisplayErrorContext(&e).to_string())
}

fn key(pk: &str, sk: &str) -> [(String, AttributeValue); 2] {
    [
        (table::PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (table::SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ]
}

impl Ledger for DynamoStore {
    async fn state(&self, pk: &str) -> Result<Option<ShipmentState>, StoreError> {
        let got = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(pk, table::STATE).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(retryable)?;
        got.item
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Refused(e.to_string()))
            })
            .transpose()
    }

    async fn has_history(
        &self,
        pk: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (first, last) = table::history_range(from, until);
        let got = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":first", AttributeValue::S(first))
            .expression_attribute_values(":last", AttributeValue::S(last))
            .projection_expression("#pk")
            .limit(1)
            .send()
            .await
            .map_err(retryable)?;
        Ok(got.count() > 0)
    }

    async fn checkpoint(&self, channel: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let pk = table::checkpoint_pk(channel);
        let got = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(&pk, table::CHECKPOINT).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(retryable)?;
        let Some(item) = got.item else {
            return Ok(None);
        };
        let item: Checkpoint =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Refused(e.to_string()))?;
        DateTime::parse_from_rfc3339(&item.until)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| StoreError::Refused(format!("checkpoint {:?}: {e}", item.until)))
    }

    async fn advance(
        &self,
        channel: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = Checkpoint::new(channel, until, now);
        let value = AttributeValue::S(item.until.clone());
        let item = serde_dynamo::to_item(&item).map_err(|e| StoreError::Refused(e.to_string()))?;
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #until < :until")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#until", table::UNTIL)
            .expression_attribute_values(":until", value)
            .send()
            .await;
        // A later checkpoint there already (a concurrent run) stays.
        crate::dynamo::put_applied(result)
    }
}
