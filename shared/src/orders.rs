//! The orders webhook (shipment generation): sent when shipments are created or transmitted to
//! the courier, per the channel's setting, which the payload does not carry.

use crate::dates;
use crate::error::Invalid;
use crate::flex;
use crate::identity::EventId;
use crate::items::key_part_ok;
use crate::shipment::required;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Most orders one delivery may carry (a DynamoDB transaction holds 100 items).
pub const MAX_ORDERS: usize = 100;

/// One order as Qapla' sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_date: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub ship_date: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub courier: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub tracking_number: Option<String>,
    #[serde(
        rename = "return",
        deserialize_with = "flex::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_return: Option<bool>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_tracking_number: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub parcels: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub length: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub width: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub height: Option<String>,
    /// A display string with currency, e.g. `€ 28.74`.
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<String>,
    #[serde(
        rename = "isPOD",
        deserialize_with = "flex::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_pod: Option<bool>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<String>,
    /// The customer's details (personal data).
    #[serde(flatten)]
    pub customer: Customer,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `customer*` fields of an order. Personal data: `Debug` shows only the country.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    #[serde(
        rename = "customerName",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        rename = "customerAddress",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<String>,
    #[serde(
        rename = "customerCity",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        rename = "customerState",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
    #[serde(
        rename = "customerZip",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub zip: Option<String>,
    #[serde(
        rename = "customerCountry",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    #[serde(
        rename = "customerTelephone",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub telephone: Option<String>,
    #[serde(
        rename = "customerEmail",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

/// A validated order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub reference: String,
    pub event_id: EventId,
    pub courier: Option<String>,
    pub tracking_number: Option<String>,
    pub order_date_utc: Option<DateTime<Utc>>,
    pub ship_date_utc: Option<DateTime<Utc>>,
    pub model: Order,
}

/// A validated orders delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OrdersDelivery {
    pub id: EventId,
    pub orders: Vec<OrderRecord>,
}

/// Reads and validates the `orders` of a body already told to be an orders delivery.
pub fn validate(body: &Map<String, Value>, tz: Tz) -> Result<OrdersDelivery, Invalid> {
    let orders = flex::list(body, "orders", MAX_ORDERS)?
        .iter()
        .enumerate()
        .map(|(i, raw)| one(i, raw, tz))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrdersDelivery {
        id: EventId::of_map(body),
        orders,
    })
}

fn one(i: usize, raw: &Value, tz: Tz) -> Result<OrderRecord, Invalid> {
    if !raw.is_object() {
        return Err(Invalid::field(format!("orders[{i}]"), "not an object"));
    }
    let model = Order::deserialize(raw)
        .map_err(|e| Invalid::field(format!("orders[{i}]"), e.to_string()))?;
    let reference = required(&model.reference, "orders[].reference")?;
    if !key_part_ok(&reference) {
        return Err(Invalid::field(
            format!("orders[{i}].reference"),
            "holds a control character or '#'",
        ));
    }
    let date = |value: &Option<String>, field: &'static str| {
        value
            .as_deref()
            .map(|d| dates::to_utc(d, tz))
            .transpose()
            .map_err(|source| Invalid::Date { field, source })
    };
    Ok(OrderRecord {
        reference,
        event_id: EventId::of_content(raw),
        courier: required(&model.courier, "courier").ok(),
        tracking_number: required(&model.tracking_number, "trackingNumber").ok(),
        order_date_utc: date(&model.order_date, "orders[].orderDate")?,
        ship_date_utc: date(&model.ship_date, "orders[].shipDate")?,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::dates::rome;

    fn order(reference: &str) -> Value {
        json!({
            "reference": reference, "orderDate": "2026-03-01 18:22:10", "shipDate": "2026-03-02",
            "courier": "BRT", "trackingNumber": "BRT123", "return": 0, "returnTrackingNumber": "",
            "weight": "1.20", "parcels": 1, "amount": "€ 28.74", "isPOD": "0",
            "customerName": "Giulia Bianchi", "customerEmail": "giulia@example.com",
            "customerCountry": "IT", "notes": ""
        })
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn orders_are_read() {
        let d = validate(
            &obj(json!({"orders": [order("A-1"), order("A-2")]})),
            rome(),
        )
        .expect("valid");
        assert_eq!(d.orders.len(), 2);
        let o = &d.orders[0];
        assert_eq!(o.reference, "A-1");
        assert_eq!(o.model.amount.as_deref(), Some("€ 28.74"));
        assert_eq!(o.model.is_pod, Some(false));
        assert_eq!(o.model.customer.name.as_deref(), Some("Giulia Bianchi"));
        assert!(o.model.extra.is_empty(), "{:?}", o.model.extra);
        assert_ne!(d.orders[0].event_id, d.orders[1].event_id);
        let printed = format!("{o:?}");
        assert!(!printed.contains("Giulia") && !printed.contains("example.com"));
    }

    #[test]
    fn invalid_cases() {
        let mut no_ref = order("x");
        no_ref["reference"] = json!(null);
        let mut bad_date = order("x");
        bad_date["orderDate"] = json!("ieri");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"orders": []}), "orders is empty"),
            (json!({"orders": "A-1"}), "not an array"),
            (json!({"orders": [null]}), "not an object"),
            (json!({"orders": [no_ref]}), "missing orders[].reference"),
            (json!({"orders": [bad_date]}), "orderDate"),
            (json!({"orders": [order("a#b")]}), "'#'"),
            (
                json!({"orders": vec![order("x"); MAX_ORDERS + 1]}),
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
