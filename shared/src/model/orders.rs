//! The orders webhook (shipment generation): sent when shipments are created or transmitted to
//! the courier, per the channel's setting, which the payload does not carry.

use crate::identity::EventId;
use crate::model::{each, identifier, optional, optional_date, required, wire_model, Invalid};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

wire_model! {
/// One order as Qapla' sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
#[serde(from = "OrderWire")]
pub struct Order {
        pub reference: Option<String>,
        pub order_date: Option<String>,
        pub ship_date: Option<String>,
        pub courier: Option<String>,
        pub tracking_number: Option<String>,
    #[serde(rename = "return")]
    pub is_return: Option<bool>,
        pub return_tracking_number: Option<String>,
        pub weight: Option<String>,
        pub parcels: Option<String>,
        pub length: Option<String>,
        pub width: Option<String>,
        pub height: Option<String>,
    /// A display string with currency, e.g. `€ 28.74`.
        pub amount: Option<String>,
    #[serde(rename = "isPOD")]
    pub is_pod: Option<bool>,
        pub notes: Option<String>,
    /// The customer's details (personal data).
    #[serde(flatten)]
    pub customer: Customer,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// An [`Order`] as read: the customer's fields side by side with the others, then moved into
/// `Customer`. Read through a second `flatten`, every field of an order went through serde's
/// buffered form first.
#[derive(Default, Deserialize)]
#[serde(default)]
struct OrderWire {
    #[serde(rename = "reference")]
    reference: Option<String>,
    #[serde(rename = "orderDate")]
    order_date: Option<String>,
    #[serde(rename = "shipDate")]
    ship_date: Option<String>,
    #[serde(rename = "courier")]
    courier: Option<String>,
    #[serde(rename = "trackingNumber")]
    tracking_number: Option<String>,
    #[serde(rename = "return")]
    is_return: Option<bool>,
    #[serde(rename = "returnTrackingNumber")]
    return_tracking_number: Option<String>,
    #[serde(rename = "weight")]
    weight: Option<String>,
    #[serde(rename = "parcels")]
    parcels: Option<String>,
    #[serde(rename = "length")]
    length: Option<String>,
    #[serde(rename = "width")]
    width: Option<String>,
    #[serde(rename = "height")]
    height: Option<String>,
    #[serde(rename = "amount")]
    amount: Option<String>,
    #[serde(rename = "isPOD")]
    is_pod: Option<bool>,
    #[serde(rename = "notes")]
    notes: Option<String>,
    #[serde(rename = "customerName")]
    customer_name: Option<String>,
    #[serde(rename = "customerAddress")]
    customer_address: Option<String>,
    #[serde(rename = "customerCity")]
    customer_city: Option<String>,
    #[serde(rename = "customerState")]
    customer_state: Option<String>,
    #[serde(rename = "customerZip")]
    customer_zip: Option<String>,
    #[serde(rename = "customerCountry")]
    customer_country: Option<String>,
    #[serde(rename = "customerTelephone")]
    customer_telephone: Option<String>,
    #[serde(rename = "customerEmail")]
    customer_email: Option<String>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    extra: Map<String, Value>,
}
}

impl From<OrderWire> for Order {
    fn from(w: OrderWire) -> Self {
        Order {
            reference: w.reference,
            order_date: w.order_date,
            ship_date: w.ship_date,
            courier: w.courier,
            tracking_number: w.tracking_number,
            is_return: w.is_return,
            return_tracking_number: w.return_tracking_number,
            weight: w.weight,
            parcels: w.parcels,
            length: w.length,
            width: w.width,
            height: w.height,
            amount: w.amount,
            is_pod: w.is_pod,
            notes: w.notes,
            customer: Customer {
                name: w.customer_name,
                address: w.customer_address,
                city: w.customer_city,
                state: w.customer_state,
                zip: w.customer_zip,
                country: w.customer_country,
                telephone: w.customer_telephone,
                email: w.customer_email,
            },
            extra: w.extra,
        }
    }
}

wire_model! {
/// The `customer*` fields of an order. Personal data: `Debug` shows only the country.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    #[serde(rename = "customerName")]
    pub name: Option<String>,
    #[serde(rename = "customerAddress")]
    pub address: Option<String>,
    #[serde(rename = "customerCity")]
    pub city: Option<String>,
    #[serde(rename = "customerState")]
    pub state: Option<String>,
    #[serde(rename = "customerZip")]
    pub zip: Option<String>,
    #[serde(rename = "customerCountry")]
    pub country: Option<String>,
    #[serde(rename = "customerTelephone")]
    pub telephone: Option<String>,
    #[serde(rename = "customerEmail")]
    pub email: Option<String>,
}
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
pub fn validate(mut body: Map<String, Value>, tz: Tz) -> Result<OrdersDelivery, Invalid> {
    // The id is of the whole body: taken before `each` takes the orders out.
    let id = EventId::of_map(&body);
    let orders = each(&mut body, "orders", |i, id, model| one(i, id, model, tz))?;
    Ok(OrdersDelivery { id, orders })
}

fn one(i: usize, event_id: EventId, model: Order, tz: Tz) -> Result<OrderRecord, Invalid> {
    let reference = identifier(
        required(&model.reference, "orders[].reference")?,
        format!("orders[{i}].reference"),
    )?;
    Ok(OrderRecord {
        reference,
        event_id,
        courier: optional(&model.courier),
        tracking_number: optional(&model.tracking_number),
        order_date_utc: optional_date(&model.order_date, "orders[].orderDate", tz)?,
        ship_date_utc: optional_date(&model.ship_date, "orders[].shipDate", tz)?,
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
        let d =
            validate(obj(json!({"orders": [order("A-1"), order("A-2")]})), rome()).expect("valid");
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
        // Written back as read: the customer's fields at the top, unknown fields kept.
        let mut sent = order("A-3");
        sent["giftWrap"] = json!("yes");
        let read: Order = serde_json::from_value(sent.clone()).expect("an order");
        assert_eq!(read.extra.keys().collect::<Vec<_>>(), ["giftWrap"]);
        let back = serde_json::to_value(&read).expect("json");
        assert_eq!(back["customerName"], sent["customerName"]);
        assert_eq!(back["giftWrap"], json!("yes"));
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
        ];
        for (body, message) in cases {
            let err = validate(obj(body.clone()), rome())
                .expect_err(&body.to_string())
                .to_string();
            assert!(err.contains(message), "{body}: {err}");
        }
    }

    #[test]
    fn any_number_of_orders() {
        let orders: Vec<Value> = (0..250).map(|i| order(&format!("ORD-{i}"))).collect();
        let d = validate(obj(json!({ "orders": orders })), rome()).expect("valid");
        assert_eq!(d.orders.len(), 250);
    }
}
