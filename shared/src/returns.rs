//! The shipment returns webhook: a customer asked for a return. Two shapes are accepted, since the
//! sources disagree: wrapped in `webhookReturnShipments` (with a delivery id) and flat.

use crate::dates;
use crate::error::Invalid;
use crate::flex;
use crate::identity::EventId;
use crate::items::key_part_ok;
use crate::shipment::{required, Party};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most returns one delivery may carry (a DynamoDB transaction holds 100 items).
pub const MAX_RETURNS: usize = 100;

/// One return shipment as Qapla' sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ReturnShipment {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<String>,
    #[serde(
        rename = "RMA",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub rma: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub courier: Option<CourierRef>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub parcels: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub refund_method_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consignee: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<ReturnRow>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The courier of a return: an object `{code, name, icon}` or a plain code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CourierRef {
    Code(String),
    Object(CourierObject),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CourierObject {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub icon: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CourierRef {
    pub fn code(&self) -> Option<&str> {
        match self {
            CourierRef::Code(code) => Some(code.as_str()).filter(|c| !c.is_empty()),
            CourierRef::Object(o) => o.code.as_deref(),
        }
    }
}

/// A product being returned.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnRow {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sku: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub qty: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A validated return request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnRequest {
    /// The return's own key: its RMA, else its tracking number.
    pub key: String,
    /// Content id of this return (a redelivery has the same one).
    pub event_id: EventId,
    pub reference: Option<String>,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
    pub date_utc: Option<DateTime<Utc>>,
    pub model: ReturnShipment,
}

/// A validated returns delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnsDelivery {
    /// The delivery id of the wrapped shape, else the content id of the whole body.
    pub id: EventId,
    pub returns: Vec<ReturnRequest>,
}

/// Reads and validates the `returnShipments` of a body already told to be a returns delivery.
/// `body` is the whole object (wrapped or flat), with the API key taken out.
pub fn validate(body: &Map<String, Value>, tz: Tz) -> Result<ReturnsDelivery, Invalid> {
    let (inner, given_id) = match body.get("webhookReturnShipments") {
        Some(Value::Object(inner)) => {
            let id = inner.get("id").and_then(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            (inner, id)
        }
        Some(_) => {
            return Err(Invalid::field("webhookReturnShipments", "not an object"));
        }
        None => (body, None),
    };
    let returns = flex::list(inner, "returnShipments", MAX_RETURNS)?
        .iter()
        .enumerate()
        .map(|(i, raw)| one(i, raw, tz))
        .collect::<Result<Vec<_>, _>>()?;
    let id = match given_id {
        Some(id) => EventId::given(&id),
        None => EventId::of_map(body),
    };
    Ok(ReturnsDelivery { id, returns })
}

fn one(i: usize, raw: &Value, tz: Tz) -> Result<ReturnRequest, Invalid> {
    let field = |name: &str| format!("returnShipments[{i}].{name}");
    if !raw.is_object() {
        return Err(Invalid::field(
            format!("returnShipments[{i}]"),
            "not an object",
        ));
    }
    let model = ReturnShipment::deserialize(raw)
        .map_err(|e| Invalid::field(format!("returnShipments[{i}]"), e.to_string()))?;
    let rma = required(&model.rma, "RMA").ok();
    let tracking_number = required(&model.tracking_number, "trackingNumber").ok();
    let key = rma
        .or_else(|| tracking_number.clone())
        .ok_or_else(|| Invalid::field(field("RMA"), "neither RMA nor trackingNumber"))?;
    if !key_part_ok(&key) {
        return Err(Invalid::field(
            field("RMA"),
            "holds a control character or '#'",
        ));
    }
    let date_utc = model
        .date
        .as_deref()
        .map(|d| dates::to_utc(d, tz))
        .transpose()
        .map_err(|source| Invalid::Date {
            field: "returnShipments[].date",
            source,
        })?;
    Ok(ReturnRequest {
        key,
        event_id: EventId::of_content(raw),
        reference: required(&model.reference, "reference").ok(),
        tracking_number,
        courier: model
            .courier
            .as_ref()
            .and_then(|c| c.code())
            .map(str::to_owned),
        date_utc,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::dates::rome;

    fn item() -> Value {
        json!({
            "date": "2026-03-05 10:00:00", "reference": "ORD-10452", "RMA": "RMA-1",
            "trackingNumber": "RT1", "courier": {"code": "BRT", "name": "Bartolini", "icon": ""},
            "parcels": 1, "weight": "1.5", "refundMethodCode": "0001",
            "sender": {"name": "Mario Rossi", "telephone": "+39 333 0000000", "country": "IT"},
            "rows": [{"sku": "A1", "qty": 1, "reason": "too small"}]
        })
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn both_shapes() {
        let wrapped = obj(json!({"webhookReturnShipments": {
            "id": "d-123", "version": 1.0, "count": 1, "returnShipments": [item()]}}));
        let flat = obj(json!({"returnShipments": [item()]}));
        let w = validate(&wrapped, rome()).expect("wrapped");
        let f = validate(&flat, rome()).expect("flat");
        assert_eq!(w.id.as_str(), "d-123");
        assert_eq!(w.returns, f.returns);
        let r = &f.returns[0];
        assert_eq!(r.key, "RMA-1");
        assert_eq!(r.courier.as_deref(), Some("BRT"));
        assert_eq!(r.reference.as_deref(), Some("ORD-10452"));
        assert_eq!(r.model.parcels.as_deref(), Some("1"));
        assert_eq!(
            r.date_utc.map(|d| dates::iso(&d)).as_deref(),
            Some("2026-03-05T09:00:00Z")
        );
    }

    #[test]
    fn courier_as_code_and_key_fallback() {
        let mut it = item();
        it["courier"] = json!("GLS");
        it["RMA"] = json!(null);
        let d = validate(&obj(json!({"returnShipments": [it]})), rome()).expect("valid");
        assert_eq!(d.returns[0].courier.as_deref(), Some("GLS"));
        assert_eq!(d.returns[0].key, "RT1");
    }

    #[test]
    fn invalid_cases() {
        let mut no_ids = item();
        no_ids["RMA"] = json!("");
        no_ids["trackingNumber"] = json!(null);
        let mut bad_date = item();
        bad_date["date"] = json!("soon");
        let mut hash_key = item();
        hash_key["RMA"] = json!("A#B");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"returnShipments": []}), "returnShipments is empty"),
            (json!({"returnShipments": null}), "missing returnShipments"),
            (json!({"returnShipments": {"a": 1}}), "not an array"),
            (json!({"returnShipments": [1]}), "not an object"),
            (json!({"webhookReturnShipments": []}), "not an object"),
            (
                json!({"webhookReturnShipments": {"id": "x"}}),
                "missing returnShipments",
            ),
            (
                json!({"returnShipments": [no_ids]}),
                "neither RMA nor trackingNumber",
            ),
            (json!({"returnShipments": [bad_date]}), "date"),
            (json!({"returnShipments": [hash_key]}), "'#'"),
            (
                json!({"returnShipments": vec![item(); MAX_RETURNS + 1]}),
                "more than",
            ),
        ];
        for (body, message) in cases {
            let err = validate(&obj(body.clone()), rome())
                .expect_err(&body.to_string())
                .to_string();
            assert!(err.contains(message), "{body}: {err}");
        }
    }
}
