//! The shipments webhook (tracking), versions 1.2 and 1.3: the tolerant wire model and its
//! validation into a [`ShipmentEvent`].

use crate::identity::EventId;
use crate::model::party::Party;
use crate::model::{date, identifier, required_text, trimmed, wire_model, Invalid};
use crate::status::Status;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

wire_model! {
/// A shipment status delivery as Qapla' sends it (the API key already taken out).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Shipment<'a> {
    #[serde(rename = "trackingNumber")]
    pub tracking_number: Option<Cow<'a, str>>,
    #[serde(rename = "return")]
    pub is_return: Option<bool>,
    #[serde(rename = "hasChildren")]
    pub has_children: Option<bool>,
    #[serde(rename = "isChild")]
    pub is_child: Option<bool>,
    #[serde(rename = "courier")]
    pub courier: Option<Cow<'a, str>>,
    #[serde(rename = "reference")]
    pub reference: Option<Cow<'a, str>>,
    #[serde(rename = "date")]
    pub date: Option<Cow<'a, str>>,
    #[serde(rename = "courierStatus")]
    pub courier_status: Option<Cow<'a, str>>,
    #[serde(rename = "place")]
    pub place: Option<Cow<'a, str>>,
    #[serde(rename = "qaplaStatusID")]
    pub qapla_status_id: Option<Cow<'a, str>>,
    #[serde(rename = "qaplaStatus")]
    pub qapla_status: Option<Cow<'a, str>>,
    /// An array; a single object is read as a list of one.
    #[serde(rename = "statusDetails", borrow, deserialize_with = "crate::model::flex::one_or_many")]
    pub status_details: Option<Vec<StatusDetail<'a>>>,
    #[serde(rename = "custom1")]
    pub custom1: Option<Cow<'a, str>>,
    #[serde(rename = "custom2")]
    pub custom2: Option<Cow<'a, str>>,
    #[serde(rename = "custom3")]
    pub custom3: Option<Cow<'a, str>>,
    /// 1.3: products shipped.
    #[serde(rename = "rows", borrow)]
    pub rows: Option<Vec<Row<'a>>>,
    /// 1.3: parcels.
    #[serde(rename = "parcels", borrow)]
    pub parcels: Option<Vec<Parcel<'a>>>,
    /// 1.3: the recipient (personal data).
    #[serde(rename = "consignee", borrow)]
    pub consignee: Option<Party<'a>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// One entry of `statusDetails`: `{"id": 1, "detail": "ON HOLD"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusDetail<'a> {
    #[serde(rename = "id")]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "detail")]
    pub detail: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// A product row of a 1.3 shipment; numbers arrive as strings and are kept as text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Row<'a> {
    #[serde(rename = "id")]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "sku")]
    pub sku: Option<Cow<'a, str>>,
    #[serde(rename = "name")]
    pub name: Option<Cow<'a, str>>,
    #[serde(rename = "price")]
    pub price: Option<Cow<'a, str>>,
    #[serde(rename = "total")]
    pub total: Option<Cow<'a, str>>,
    #[serde(rename = "qty")]
    pub qty: Option<Cow<'a, str>>,
    #[serde(rename = "weight")]
    pub weight: Option<Cow<'a, str>>,
    #[serde(rename = "url")]
    pub url: Option<Cow<'a, str>>,
    #[serde(rename = "imageUrl")]
    pub image_url: Option<Cow<'a, str>>,
    #[serde(rename = "isReturnable")]
    pub is_returnable: Option<bool>,
    #[serde(rename = "notes")]
    pub notes: Option<Cow<'a, str>>,
    #[serde(rename = "customsCode")]
    pub customs_code: Option<Cow<'a, str>>,
    #[serde(rename = "netWeight")]
    pub net_weight: Option<Cow<'a, str>>,
    #[serde(rename = "originCountry")]
    pub origin_country: Option<Cow<'a, str>>,
    #[serde(rename = "unitOfMeasurement")]
    pub unit_of_measurement: Option<Cow<'a, str>>,
    #[serde(rename = "parcelID")]
    pub parcel_id: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// A parcel of a 1.3 shipment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Parcel<'a> {
    #[serde(rename = "boxCode")]
    pub box_code: Option<Cow<'a, str>>,
    #[serde(rename = "weight")]
    pub weight: Option<Cow<'a, str>>,
    #[serde(rename = "length")]
    pub length: Option<Cow<'a, str>>,
    #[serde(rename = "width")]
    pub width: Option<Cow<'a, str>>,
    #[serde(rename = "height")]
    pub height: Option<Cow<'a, str>>,
    #[serde(rename = "originCountry")]
    pub origin_country: Option<Cow<'a, str>>,
    #[serde(rename = "content")]
    pub content: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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
pub struct ShipmentEvent<'a> {
    pub id: EventId,
    pub version: Version,
    pub tracking_number: Cow<'a, str>,
    pub courier: Cow<'a, str>,
    pub status: Status,
    /// The date as Qapla' sent it (local time, no zone).
    pub date_raw: Cow<'a, str>,
    pub date_utc: DateTime<Utc>,
    pub model: Shipment<'a>,
}

impl Shipment<'_> {
    pub fn version(&self) -> Version {
        if self.rows.is_some() || self.parcels.is_some() || self.consignee.is_some() {
            Version::V1_3
        } else {
            Version::V1_2
        }
    }
}

/// Validates a shipments delivery (its body without the API key): what the receiver needs is
/// there, and the status is mapped. The event id is the content id of the body.
pub fn validate(body: Map<String, Value>, tz: Tz) -> Result<ShipmentEvent<'static>, Invalid> {
    let id = EventId::of_map(&body);
    let model =
        serde_path_to_error::deserialize::<_, Shipment>(Value::Object(body)).map_err(|e| {
            Invalid::field(
                crate::model::path("body", &e),
                crate::model::shape_only(&e.inner().to_string()),
            )
        })?;
    checked(id, model, tz)
}

fn checked(id: EventId, model: Shipment<'_>, tz: Tz) -> Result<ShipmentEvent<'_>, Invalid> {
    let tracking_number = identifier(
        required_text(&model.tracking_number, "trackingNumber")?,
        "trackingNumber",
    )?;
    let courier = identifier(required_text(&model.courier, "courier")?, "courier")?;
    let status_id = parse_id(
        trimmed(&model.qapla_status_id).ok_or(Invalid::Missing("qaplaStatusID"))?,
        "qaplaStatusID",
    )?;
    let detail = model
        .status_details
        .as_deref()
        .and_then(<[StatusDetail]>::first);
    let detail_id = detail
        .and_then(|d| d.id.as_deref())
        .map(|raw| parse_id(raw, "statusDetails[0].id"))
        .transpose()?;
    let detail_text = detail.and_then(|d| d.detail.as_deref()).map(str::to_owned);
    let status = Status::map(
        status_id,
        detail_id,
        detail_text,
        model.qapla_status.as_deref().unwrap_or_default(),
    );
    let date_raw = required_text(&model.date, "date")?;
    let date_utc = date(&date_raw, "date", tz)?;
    Ok(ShipmentEvent {
        id,
        version: model.version(),
        tracking_number,
        courier,
        status,
        date_raw,
        date_utc,
        model,
    })
}

fn parse_id(raw: &str, field: &'static str) -> Result<u32, Invalid> {
    let raw = raw.trim();
    // Numbers may arrive as JSON floats ("6.0" after a float round trip): accept integral ones.
    let int = raw.strip_suffix(".0").unwrap_or(raw);
    int.parse::<u32>()
        .map_err(|_| Invalid::field(field, "not a status id (an integer)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Severity;
    use serde_json::json;

    use crate::dates::rome;

    fn parse(v: Value) -> Result<ShipmentEvent<'static>, Invalid> {
        validate(v.as_object().cloned().unwrap_or_default(), rome())
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
        assert_eq!(crate::dates::iso(&ev.date_utc), "2026-03-02T08:41:07Z");
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
    fn status_details_in_every_shape() {
        let cases = [
            (json!([{"id": 1, "detail": "ON HOLD"}]), Some(1)),
            (json!({"id": 1, "detail": "ON HOLD"}), Some(1)),
            (json!([{"id": "1", "detail": null}]), Some(1)),
            (json!({"id": " 1 "}), Some(1)),
            (json!([]), None),
            (json!(null), None),
        ];
        for (details, id) in cases {
            let ev = parse(with(base(), "statusDetails", details.clone())).expect("valid");
            assert_eq!(ev.status.detail, id, "{details}");
        }
    }

    #[test]
    fn dates_with_or_without_seconds() {
        for date in [
            "2026-03-02 09:41:07",
            "2026-03-02 09:41",
            "2026-03-02T09:41",
        ] {
            let ev = parse(with(base(), "date", json!(date))).expect(date);
            assert!(crate::dates::iso(&ev.date_utc).starts_with("2026-03-02T08:41:"));
        }
    }

    #[test]
    fn blocks_of_1_3_present_empty_or_null() {
        for (block, value) in [
            ("rows", json!([{"sku": "A1", "qty": "2"}])),
            ("rows", json!([])),
            ("rows", json!(null)),
            ("parcels", json!([{"boxCode": "B1", "weight": 1.5}])),
            ("parcels", json!([])),
            ("parcels", json!(null)),
            ("consignee", json!({"name": "Zoë", "country": "IT"})),
            ("consignee", json!({})),
            ("consignee", json!(null)),
        ] {
            let ev = parse(with(base(), block, value.clone()));
            assert!(ev.is_ok(), "{block}: {value}: {ev:?}");
        }
    }

    #[test]
    fn non_ascii_text_anywhere() {
        let mut v = base();
        for (field, text) in [
            ("trackingNumber", "JD01460000Ä1"),
            ("courier", "POSTE-ITALIANE-È"),
            ("reference", "ORDINE-№-10452"),
            ("place", "CITTÀ DI CASTELLO - ITA 📦"),
            ("courierStatus", "Consegnato al destinatario ✓"),
            ("qaplaStatus", "ECCEZIONE – GIACENZA"),
            ("custom1", "日本語"),
        ] {
            v[field] = json!(text);
        }
        v["statusDetails"] = json!([{"id": 1, "detail": "IN GIACENZA – “FERMO”"}]);
        let ev = parse(v).expect("valid");
        assert_eq!(ev.tracking_number, "JD01460000Ä1");
        assert_eq!(
            ev.model.place.as_deref(),
            Some("CITTÀ DI CASTELLO - ITA 📦")
        );
        assert_eq!(
            ev.status.detail_text.as_deref(),
            Some("IN GIACENZA – “FERMO”")
        );
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
            assert!(Shipment::deserialize(bad.clone()).is_err(), "{bad}");
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
