//! The shipment returns webhook: a customer asked for a return. Two shapes are accepted, since the
//! sources disagree: wrapped in `webhookReturnShipments` (with a delivery id) and flat.

use crate::identity::EventId;
use crate::model::party::Party;
use crate::model::{each, identifier, optional, optional_date, wire_model, Invalid};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

wire_model! {
/// One return shipment as Qapla' sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnShipment<'a> {
    #[serde(rename = "date")]
    pub date: Option<Cow<'a, str>>,
    #[serde(rename = "reference")]
    pub reference: Option<Cow<'a, str>>,
    #[serde(rename = "RMA")]
    pub rma: Option<Cow<'a, str>>,
    #[serde(rename = "trackingNumber")]
    pub tracking_number: Option<Cow<'a, str>>,
    #[serde(rename = "courier", borrow)]
    pub courier: Option<CourierRef<'a>>,
    #[serde(rename = "parcels")]
    pub parcels: Option<Cow<'a, str>>,
    #[serde(rename = "weight")]
    pub weight: Option<Cow<'a, str>>,
    #[serde(rename = "refundMethodCode")]
    pub refund_method_code: Option<Cow<'a, str>>,
    #[serde(rename = "sender", borrow)]
    pub sender: Option<Party<'a>>,
    #[serde(rename = "consignee", borrow)]
    pub consignee: Option<Party<'a>>,
    #[serde(rename = "rows", borrow)]
    pub rows: Option<Vec<ReturnRow<'a>>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

/// The courier of a return: an object `{code, name, icon}` or a plain code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CourierRef<'a> {
    Code(Cow<'a, str>),
    Object(CourierObject<'a>),
}

/// Told apart by the shape read, not as an untagged enum (which buffers the value whole before
/// trying each variant).
impl<'de: 'a, 'a> Deserialize<'de> for CourierRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CourierRef<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a courier code or object")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CourierRef::Code(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CourierRef::Code(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CourierRef::Code(Cow::Owned(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                CourierObject::deserialize(MapAccessDeserializer::new(map)).map(CourierRef::Object)
            }
        }
        d.deserialize_any(V)
    }
}

wire_model! {
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CourierObject<'a> {
    #[serde(rename = "code")]
    pub code: Option<Cow<'a, str>>,
    #[serde(rename = "name")]
    pub name: Option<Cow<'a, str>>,
    #[serde(rename = "icon")]
    pub icon: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

impl CourierRef<'_> {
    pub fn code(&self) -> Option<&str> {
        match self {
            CourierRef::Code(code) => Some(code.as_ref()).filter(|c| !c.is_empty()),
            CourierRef::Object(o) => o.code.as_deref(),
        }
    }
}

wire_model! {
/// A product being returned.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnRow<'a> {
    #[serde(rename = "sku")]
    pub sku: Option<Cow<'a, str>>,
    #[serde(rename = "name")]
    pub name: Option<Cow<'a, str>>,
    #[serde(rename = "qty")]
    pub qty: Option<Cow<'a, str>>,
    #[serde(rename = "total")]
    pub total: Option<Cow<'a, str>>,
    #[serde(rename = "reason")]
    pub reason: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

/// A validated return request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnRequest<'a> {
    /// The return's own key: its RMA, else its tracking number.
    pub key: String,
    /// Content id of this return (a redelivery has the same one).
    pub event_id: EventId,
    pub reference: Option<String>,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
    pub date_utc: Option<DateTime<Utc>>,
    pub model: ReturnShipment<'a>,
}

/// A validated returns delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnsDelivery<'a> {
    /// The delivery id of the wrapped shape, else the content id of the whole body.
    pub id: EventId,
    pub returns: Vec<ReturnRequest<'a>>,
}

/// Reads and validates the `returnShipments` of a body already told to be a returns delivery.
/// `body` is the whole object (wrapped or flat), with the API key taken out.
pub fn validate(mut body: Map<String, Value>, tz: Tz) -> Result<ReturnsDelivery<'static>, Invalid> {
    let id = delivery_id(&body)?;
    let inner = match body.get_mut("webhookReturnShipments") {
        Some(Value::Object(inner)) => inner,
        _ => &mut body,
    };
    let returns = each(inner, "returnShipments", |i, id, model| {
        one(i, id, model, tz)
    })?;
    Ok(ReturnsDelivery { id, returns })
}

/// The id of a returns delivery: the one Qapla' gave the wrapped shape, else the content id of
/// the whole body (`body` without the API key).
pub fn delivery_id(body: &Map<String, Value>) -> Result<EventId, Invalid> {
    let given_id = match body.get("webhookReturnShipments") {
        Some(Value::Object(inner)) => inner.get("id").and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        Some(_) => {
            return Err(Invalid::field("webhookReturnShipments", "not an object"));
        }
        None => None,
    };
    Ok(match given_id {
        Some(id) => EventId::given(&id),
        None => EventId::of_map(body),
    })
}

fn one(
    i: usize,
    event_id: EventId,
    model: ReturnShipment<'_>,
    tz: Tz,
) -> Result<ReturnRequest<'_>, Invalid> {
    let tracking_number = optional(&model.tracking_number);
    let key = optional(&model.rma)
        .or_else(|| tracking_number.clone())
        .ok_or_else(|| {
            Invalid::field(
                format!("returnShipments[{i}].RMA"),
                "neither RMA nor trackingNumber",
            )
        })?;
    let key = identifier(key, format!("returnShipments[{i}].RMA"))?;
    Ok(ReturnRequest {
        key,
        event_id,
        reference: optional(&model.reference),
        tracking_number,
        courier: model
            .courier
            .as_ref()
            .and_then(|c| c.code())
            .map(str::to_owned),
        date_utc: optional_date(&model.date, "returnShipments[].date", tz)?,
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
        let w = validate(wrapped, rome()).expect("wrapped");
        let f = validate(flat, rome()).expect("flat");
        assert_eq!(w.id.as_str(), "d-123");
        assert_eq!(w.returns, f.returns);
        let r = &f.returns[0];
        assert_eq!(r.key, "RMA-1");
        assert_eq!(r.courier.as_deref(), Some("BRT"));
        assert_eq!(r.reference.as_deref(), Some("ORD-10452"));
        assert_eq!(r.model.parcels.as_deref(), Some("1"));
        assert_eq!(
            r.date_utc.map(|d| crate::dates::iso(&d)).as_deref(),
            Some("2026-03-05T09:00:00Z")
        );
    }

    #[test]
    fn courier_as_code_and_key_fallback() {
        let mut it = item();
        it["courier"] = json!("GLS");
        it["RMA"] = json!(null);
        let d = validate(obj(json!({"returnShipments": [it]})), rome()).expect("valid");
        assert_eq!(d.returns[0].courier.as_deref(), Some("GLS"));
        assert_eq!(d.returns[0].key, "RT1");
        let courier = |v: Value| ReturnShipment::deserialize(json!({"courier": v}));
        assert_eq!(courier(json!(null)).map(|r| r.courier).ok(), Some(None));
        for bad in [json!(5), json!(true), json!(["BRT"])] {
            assert!(courier(bad.clone()).is_err(), "{bad}");
        }
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
        ];
        for (body, message) in cases {
            let err = validate(obj(body.clone()), rome())
                .expect_err(&body.to_string())
                .to_string();
            assert!(err.contains(message), "{body}: {err}");
        }
    }
}
