//! The shipments webhook (tracking), versions 1.2 and 1.3: the tolerant wire model and its
//! validation into a [`ShipmentEvent`].

use crate::dates;
use crate::error::Invalid;
use crate::flex;
use crate::identity::EventId;
use crate::items::key_part_ok;
use crate::status::Status;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A shipment status delivery as Qapla' sends it (the API key already taken out).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
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
        deserialize_with = "flex::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_children: Option<bool>,
    #[serde(
        deserialize_with = "flex::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_child: Option<bool>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub courier: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub courier_status: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub place: Option<String>,
    #[serde(
        rename = "qaplaStatusID",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub qapla_status_id: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub qapla_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Vec<StatusDetail>>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom1: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom2: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom3: Option<String>,
    /// 1.3: products shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Row>>,
    /// 1.3: parcels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcels: Option<Vec<Parcel>>,
    /// 1.3: the recipient (personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consignee: Option<Party>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `statusDetails`: `{"id": 1, "detail": "ON HOLD"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusDetail {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub detail: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A product row of a 1.3 shipment; numbers arrive as strings and are kept as text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
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
    pub price: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub qty: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_url: Option<String>,
    #[serde(
        deserialize_with = "flex::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_returnable: Option<bool>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub customs_code: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub net_weight: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub origin_country: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_of_measurement: Option<String>,
    #[serde(
        rename = "parcelID",
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub parcel_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A parcel of a 1.3 shipment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Parcel {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub box_code: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<String>,
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
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub origin_country: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub content: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A person or place: a shipment's consignee, a return's sender or consignee. Personal data:
/// its `Debug` shows only the country, so it cannot leak into a log by accident.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_code: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<String>,
    #[serde(
        deserialize_with = "flex::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub telephone: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

/// Which version of the shipments webhook a delivery follows; 1.3 is told by its extra blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_2 => "1.2",
            Version::V1_3 => "1.3",
        }
    }
}

/// A validated shipment status change.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentEvent {
    pub id: EventId,
    pub version: Version,
    pub tracking_number: String,
    pub courier: String,
    pub status: Status,
    /// The date as Qapla' sent it (local time, no zone).
    pub date_raw: String,
    pub date_utc: DateTime<Utc>,
    pub model: Shipment,
}

impl Shipment {
    pub fn version(&self) -> Version {
        if self.rows.is_some() || self.parcels.is_some() || self.consignee.is_some() {
            Version::V1_3
        } else {
            Version::V1_2
        }
    }

    /// Checks what the receiver needs and maps the status. `id` is the delivery's content id.
    pub fn validate(self, id: EventId, tz: Tz) -> Result<ShipmentEvent, Invalid> {
        let tracking_number = required(&self.tracking_number, "trackingNumber")?;
        let courier = required(&self.courier, "courier")?;
        for (field, value) in [("trackingNumber", &tracking_number), ("courier", &courier)] {
            if !key_part_ok(value) {
                return Err(Invalid::field(field, "holds a control character or '#'"));
            }
        }
        let status_id = required(&self.qapla_status_id, "qaplaStatusID")?;
        let status_id = parse_id(&status_id, "qaplaStatusID")?;
        let detail = self
            .status_details
            .as_deref()
            .and_then(<[StatusDetail]>::first);
        let detail_id = detail
            .and_then(|d| d.id.as_deref())
            .map(|raw| parse_id(raw, "statusDetails[0].id"))
            .transpose()?;
        let detail_text = detail.and_then(|d| d.detail.clone());
        let status = Status::map(
            status_id,
            detail_id,
            detail_text,
            self.qapla_status.as_deref().unwrap_or_default(),
        );
        let date_raw = required(&self.date, "date")?;
        let date_utc = dates::to_utc(&date_raw, tz).map_err(|source| Invalid::Date {
            field: "date",
            source,
        })?;
        Ok(ShipmentEvent {
            id,
            version: self.version(),
            tracking_number,
            courier,
            status,
            date_raw,
            date_utc,
            model: self,
        })
    }
}

/// A text field that must be present and not blank, trimmed.
pub(crate) fn required(value: &Option<String>, field: &'static str) -> Result<String, Invalid> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(Invalid::Missing(field)),
    }
}

fn parse_id(raw: &str, field: &'static str) -> Result<u32, Invalid> {
    let raw = raw.trim();
    // Numbers may arrive as JSON floats ("6.0" after a float round trip): accept integral ones.
    let int = raw.strip_suffix(".0").unwrap_or(raw);
    int.parse::<u32>()
        .map_err(|_| Invalid::field(field, format!("{raw:?} is not a status id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Severity;
    use serde_json::json;

    use crate::dates::rome;

    fn parse(v: Value) -> Result<ShipmentEvent, Invalid> {
        let model: Shipment =
            serde_json::from_value(v.clone()).map_err(|e| Invalid::field("body", e.to_string()))?;
        model.validate(EventId::of_content(&v), rome())
    }

    fn base() -> Value {
        json!({
            "trackingNumber": "JD0146000031", "return": 0, "hasChildren": 0, "isChild": 0,
            "courier": "DHL", "reference": "ORD-10452", "date": "2026-03-02 09:41:07",
            "courierStatus": "WC", "place": "BOLOGNA - ITA", "qaplaStatusID": "6",
            "qaplaStatus": "EXCEPTION", "statusDetails": [{"id": 1, "detail": "ON HOLD"}],
            "custom1": "", "custom2": "", "custom3": ""
        })
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        if let Some(map) = v.as_object_mut() {
            map.remove(key);
        }
        v
    }

    #[test]
    fn the_contract_example() {
        let ev = parse(base()).expect("valid");
        assert_eq!(ev.tracking_number, "JD0146000031");
        assert_eq!(ev.courier, "DHL");
        assert_eq!(ev.version, Version::V1_2);
        assert_eq!(ev.status.name, "EXCEPTION / STOCK");
        assert_eq!(ev.status.severity, Severity::Exception);
        assert_eq!(dates::iso(&ev.date_utc), "2026-03-02T08:41:07Z");
        assert_eq!(ev.model.is_return, Some(false));
        assert_eq!(ev.model.custom1, None);
    }

    #[test]
    fn tolerated_shapes() {
        let cases = [
            with(base(), "qaplaStatusID", json!(6)),
            with(base(), "return", json!("0")),
            with(base(), "return", json!(false)),
            with(base(), "hasChildren", json!(null)),
            with(
                base(),
                "statusDetails",
                json!([{"id": "1", "detail": null}]),
            ),
            with(base(), "reference", json!(10452)),
            with(base(), "place", json!("")),
            without(base(), "custom1"),
            without(base(), "statusDetails"),
            with(base(), "statusDetails", json!(null)),
            with(base(), "somethingNew", json!({"nested": [1, 2]})),
        ];
        for case in cases {
            assert!(parse(case.clone()).is_ok(), "{case}");
        }
    }

    #[test]
    fn unknown_fields_are_kept() {
        let ev = parse(with(base(), "somethingNew", json!({"n": 1}))).expect("valid");
        assert_eq!(ev.model.extra.get("somethingNew"), Some(&json!({"n": 1})));
        let back = serde_json::to_value(&ev.model).expect("serialise");
        assert_eq!(back["somethingNew"], json!({"n": 1}));
    }

    #[test]
    fn invalid_cases() {
        let cases: Vec<(Value, &str)> = vec![
            (without(base(), "trackingNumber"), "missing trackingNumber"),
            (
                with(base(), "trackingNumber", json!("  ")),
                "missing trackingNumber",
            ),
            (without(base(), "courier"), "missing courier"),
            (without(base(), "qaplaStatusID"), "missing qaplaStatusID"),
            (with(base(), "qaplaStatusID", json!("six")), "qaplaStatusID"),
            (with(base(), "qaplaStatusID", json!(-1)), "qaplaStatusID"),
            (without(base(), "date"), "missing date"),
            (with(base(), "date", json!("02/03/2026")), "date"),
            (
                with(base(), "statusDetails", json!([{"id": "x"}])),
                "statusDetails[0].id",
            ),
            (with(base(), "trackingNumber", json!("A#B")), "'#'"),
            (with(base(), "courier", json!("D\u{1}L")), "'#'"),
        ];
        for (case, message) in cases {
            let err = parse(case.clone())
                .expect_err(&case.to_string())
                .to_string();
            assert!(err.contains(message), "{case}: {err}");
        }
    }

    #[test]
    fn model_type_errors() {
        for bad in [
            with(base(), "return", json!(7)),
            with(base(), "statusDetails", json!("ON HOLD")),
            with(base(), "rows", json!({"sku": "A"})),
            with(base(), "trackingNumber", json!(["A"])),
        ] {
            assert!(
                serde_json::from_value::<Shipment>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn version_1_3_blocks() {
        let v = with(
            with(
                base(),
                "rows",
                json!([{"sku": "A1", "qty": "2", "price": "20.0", "isReturnable": true, "parcelID": 3}]),
            ),
            "consignee",
            json!({"name": "Mario Rossi", "email": "mario@example.com", "country": "IT"}),
        );
        let ev = parse(v).expect("valid");
        assert_eq!(ev.version, Version::V1_3);
        let rows = ev.model.rows.as_deref().unwrap_or_default();
        assert_eq!(rows[0].qty.as_deref(), Some("2"));
        assert_eq!(rows[0].parcel_id.as_deref(), Some("3"));
        let consignee = format!("{:?}", ev.model.consignee);
        assert!(!consignee.contains("Mario") && !consignee.contains("example.com"));
    }

    #[test]
    fn unknown_status_keeps_its_label() {
        let v = with(
            with(base(), "qaplaStatusID", json!("77")),
            "qaplaStatus",
            json!("NEW THING"),
        );
        let ev = parse(without(v, "statusDetails")).expect("valid");
        assert_eq!(ev.status.name, "NEW THING");
        assert!(!ev.status.known);
    }
}
