//! Qapla's API answers, read as tolerantly as the webhooks (ids as numbers or strings, the
//! courier as an object or a code, `error` as null, a string, `false` or an array, null dates,
//! labels in any language, unknown fields kept), and turned into the same [`ShipmentEvent`]s a
//! webhook makes: each dated status becomes the change it makes in the webhook's model, sent
//! through the webhook's own rules in the webhook's shape, so both paths meet in one identity
//! and one projection to the state.

use crate::model::shipment::{self, Shipment, ShipmentEvent, StatusDetail};
use crate::model::{optional, wire_model, Invalid};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// A call of Qapla's API: its name (the key its answer is wrapped in) and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub name: &'static str,
    pub version: &'static str,
}

impl Call {
    /// The path under the API's base URL.
    pub fn path(&self) -> String {
        format!("/{}/{}/", self.version, self.name)
    }
}

/// What changed in a window, each shipment with its current status only.
pub const TRACKING_BY_TIME_FRAME: Call = Call {
    name: "trackingByTimeFrame",
    version: "1.2",
};
/// One shipment with its whole history and Qapla's log of its webhook deliveries.
pub const GET_SHIPMENT: Call = Call {
    name: "getShipment",
    version: "1.3",
};

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAnswer {
    /// Qapla' answered KO (a wrong key, for one), with its error text.
    #[error("{call} answered KO: {error}")]
    Ko { call: &'static str, error: String },
    #[error("{call} answer unreadable: {reason}")]
    Unreadable { call: &'static str, reason: String },
}

wire_model! {
/// A status as the API gives it: the current one of a shipment, or an entry of its history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ApiStatus {
        pub date: Option<String>,
    #[serde(rename = "dateISO")]
    pub date_iso: Option<String>,
    /// The courier's own text.
        pub status: Option<String>,
        pub place: Option<String>,
        pub qapla_status: Option<QaplaStatus>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// `qaplaStatus`: the id and detail id (0 for none); labels follow `lang`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QaplaStatus {
        pub id: Option<String>,
        pub status: Option<String>,
    #[serde(rename = "detailID")]
    pub detail_id: Option<String>,
        pub detail: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// A shipment of either call: `trackingByTimeFrame` lists the current status only,
/// `getShipment` adds the history, flags and Qapla's delivery log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ApiShipment {
        pub id: Option<String>,
        pub reference: Option<String>,
        pub tracking_number: Option<String>,
    /// A code (`"GLS-ITA"`) or an object with a `code`.
    pub courier: Option<Value>,
        pub status: Option<ApiStatus>,
        pub is_return_shipment: Option<bool>,
        pub is_child: Option<bool>,
        pub has_children: Option<bool>,
        pub tracking_history: Option<Vec<ApiStatus>>,
        pub notifications: Option<Notifications>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// Qapla's own log of its notifications for a shipment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
        pub webhook: Option<Vec<Attempt>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

wire_model! {
/// One webhook delivery Qapla' attempted to us.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    #[serde(rename = "statusID")]
    pub status_id: Option<String>,
        pub date: Option<String>,
        pub result: Option<String>,
        pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

impl Attempt {
    /// A delivery Qapla' counts as failed: any result but OK.
    pub fn failed(&self) -> bool {
        !optional(&self.result).is_some_and(|r| r.eq_ignore_ascii_case("OK"))
    }
}

/// An entry of an answer that could not be turned into an event: where it is in the answer
/// (`shipments[3]`, `trackingHistory[2]`, `status`) and the shape that failed. Never its values:
/// it is logged, and an entry may hold the recipient's name or address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub entry: String,
    pub reason: String,
}

impl Unread {
    fn new(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        Unread {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}

/// The shipments of an answer, and those that could not be read (each with its reason).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub shipments: Vec<ApiShipment>,
    pub unreadable: Vec<Unread>,
    /// The `count` Qapla' gave, if any (it may exceed what the answer lists).
    pub count: Option<u64>,
}

/// The text of an `error` in any of its shapes; `None` for no error (`null`, `false`, `""`).
pub fn error_text(error: &Value) -> Option<String> {
    match error {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(error_text)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Value::Object(map) => Some(
            map.iter()
                .map(|(code, message)| match error_text(message) {
                    Some(m) => format!("{code}: {m}"),
                    None => code.clone(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Some(other.to_string()),
    }
}

/// Reads an answer of `call`: the envelope named after it, its `result`, and each shipment.
pub fn read(call: Call, body: &[u8]) -> Result<Listing, BadAnswer> {
    let unreadable = |reason: String| BadAnswer::Unreadable {
        call: call.name,
        reason,
    };
    let value: Value =
        serde_json::from_slice(body).map_err(|e| unreadable(format!("not JSON: {e}")))?;
    let envelope = match value.get(call.name) {
        Some(inner) => inner,
        // Tolerated: an answer that is not wrapped.
        None if value.get("result").is_some() => &value,
        None => return Err(unreadable(format!("no {} object", call.name))),
    };
    let Some(envelope) = envelope.as_object() else {
        return Err(unreadable(format!("{} is not an object", call.name)));
    };
    let result = envelope.get("result").and_then(Value::as_str).unwrap_or("");
    let error = envelope.get("error").and_then(error_text);
    if !result.trim().eq_ignore_ascii_case("OK") {
        return Err(BadAnswer::Ko {
            call: call.name,
            error: error.unwrap_or_else(|| format!("result {result:?}")),
        });
    }
    let list = match envelope.get("shipments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        // One shipment not in a list: tolerated.
        Some(one @ Value::Object(_)) => std::slice::from_ref(one),
        Some(_) => return Err(unreadable("shipments is not a list".into())),
    };
    let mut listing = Listing {
        count: envelope.get("count").and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
        }),
        ..Listing::default()
    };
    for (i, raw) in list.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, ApiShipment>(raw) {
            Ok(s) => listing.shipments.push(s),
            Err(e) => listing.unreadable.push(Unread::new(
                crate::model::path(&format!("shipments[{i}]"), &e),
                crate::model::shape_only(&e.inner().to_string()),
            )),
        }
    }
    Ok(listing)
}

/// The courier code of a courier field: a code, or an object's `code`.
pub fn courier_code(courier: &Option<Value>) -> Option<String> {
    let code = match courier.as_ref()? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(map) => match map.get("code") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        _ => None,
    };
    optional(&code)
}

impl ApiStatus {
    /// The status time as Qapla' wrote it: `dateISO`, else `date` (which may lack seconds).
    pub fn when(&self) -> Option<String> {
        optional(&self.date_iso).or_else(|| optional(&self.date))
    }
}

impl ApiShipment {
    pub fn courier_code(&self) -> Option<String> {
        courier_code(&self.courier)
    }

    pub fn tracking(&self) -> Option<String> {
        optional(&self.tracking_number)
    }

    /// Qapla's webhook attempts to us for this shipment.
    pub fn attempts(&self) -> &[Attempt] {
        self.notifications
            .as_ref()
            .and_then(|n| n.webhook.as_deref())
            .unwrap_or_default()
    }

    /// The change one status of this shipment makes, in the webhook's own model; `None` when it
    /// has no date or no status id (nothing a history item could be keyed on). Every field of
    /// the model is named here, so a field added to it does not build until this path says what
    /// the API gives for it.
    pub fn change(&self, status: &ApiStatus) -> Option<Shipment<'static>> {
        let date = status.when()?;
        let qapla = status.qapla_status.as_ref()?;
        let id = optional(&qapla.id)?;
        // detailID 0 means no detail, as an empty statusDetails does in a webhook.
        let details = match optional(&qapla.detail_id) {
            Some(d) if d.trim_end_matches(".0") != "0" => vec![StatusDetail {
                id: Some(Cow::Owned(d)),
                detail: qapla.detail.clone().map(Cow::Owned),
                extra: Map::new(),
            }],
            _ => Vec::new(),
        };
        let text = |v: Option<String>| v.map(Cow::Owned);
        Some(Shipment {
            tracking_number: text(self.tracking()),
            is_return: self.is_return_shipment,
            has_children: self.has_children,
            is_child: self.is_child,
            courier: text(self.courier_code()),
            reference: text(optional(&self.reference)),
            date: Some(Cow::Owned(date)),
            courier_status: text(optional(&status.status)),
            place: text(optional(&status.place)),
            qapla_status_id: Some(Cow::Owned(id)),
            qapla_status: text(optional(&qapla.status)),
            status_details: Some(details),
            // Not in the API's answers.
            custom1: None,
            custom2: None,
            custom3: None,
            rows: None,
            parcels: None,
            // In getShipment's answer, but personal data the recovery has no need to copy.
            consignee: None,
            // The entry's unknown fields join in the delivery (`webhook_body`), as a webhook's.
            extra: Map::new(),
        })
    }

    /// The delivery Qapla's webhook would have sent for one status of this shipment: its
    /// [`ApiShipment::change`] in the webhook's wire shape (flags as 0 or 1, a detail's text
    /// present even when null), and the entry's own fields the model does not name, kept as a
    /// webhook keeps its extras. The webhook's rules validate it, and the content id of this
    /// body is the recovered change's delivery id, as it was when the body was written key by
    /// key.
    pub fn webhook_body(&self, status: &ApiStatus) -> Option<Map<String, Value>> {
        let Ok(Value::Object(mut body)) = serde_json::to_value(self.change(status)?) else {
            return None;
        };
        for value in body.values_mut() {
            if let Value::Bool(flag) = value {
                *value = json!(u8::from(*flag));
            }
        }
        if let Some(Value::Array(details)) = body.get_mut("statusDetails") {
            for detail in details.iter_mut().filter_map(Value::as_object_mut) {
                detail.entry("detail").or_insert(Value::Null);
            }
        }
        for (k, v) in &status.extra {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Some(body)
    }

    /// Every dated status this shipment holds (its history and its current status), as the
    /// events a webhook would have made, oldest first, each once. Entries without a date, or
    /// that the webhook's rules refuse, are returned apart with where they are and why.
    pub fn events(&self, tz: Tz) -> (Vec<ShipmentEvent<'static>>, Vec<Unread>) {
        let mut events: Vec<ShipmentEvent<'static>> = Vec::new();
        let mut refused = Vec::new();
        let history = self.tracking_history.as_deref().unwrap_or_default();
        let entries = (history.iter().enumerate())
            .map(|(i, s)| (format!("trackingHistory[{i}]"), s))
            .chain(self.status.as_ref().map(|s| ("status".to_owned(), s)));
        for (entry, status) in entries {
            let Some(body) = self.webhook_body(status) else {
                refused.push(Unread::new(
                    entry,
                    Invalid::Missing("dateISO or qaplaStatus.id").to_string(),
                ));
                continue;
            };
            match shipment::validate(body, tz) {
                Ok(ev) => {
                    let same = |e: &ShipmentEvent| {
                        e.date_utc == ev.date_utc
                            && e.status.id == ev.status.id
                            && e.status.detail == ev.status.detail
                    };
                    if !events.iter().any(same) {
                        events.push(ev);
                    }
                }
                Err(e) => refused.push(Unread::new(entry, e.to_string())),
            }
        }
        events.sort_by_key(|e| (e.date_utc, e.status.is_final));
        (events, refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::{iso, rome};

    const GET_SHIPMENT_ANSWER: &str =
        include_str!("../../fixtures/qapla-api/getShipment.response.json");
    const TIME_FRAME_ANSWER: &str =
        include_str!("../../fixtures/qapla-api/trackingByTimeFrame.response.json");

    #[test]
    fn qaplas_get_shipment_sample() {
        let listing = read(GET_SHIPMENT, GET_SHIPMENT_ANSWER.as_bytes()).expect("OK answer");
        assert_eq!(listing.count, Some(1));
        let s = &listing.shipments[0];
        // The id is a number at the top of this sample (a string under parent and children).
        assert_eq!(s.id.as_deref(), Some("1690120025"));
        assert_eq!(s.courier_code().as_deref(), Some("BRT"));
        assert_eq!(s.tracking().as_deref(), Some("080010017684806"));
        assert_eq!(s.is_child, Some(true));
        assert_eq!(s.attempts().len(), 1);
        assert!(!s.attempts()[0].failed());
        // Unknown fields are kept: the parent with its misspelt key, the flag, the consignee.
        assert!(s.extra["parent"].get("rackingNumber").is_some());
        assert!(s.extra.contains_key("flag") && s.extra.contains_key("consignee"));
        let color = &s.status.as_ref().and_then(|st| st.qapla_status.clone());
        assert_eq!(
            color.as_ref().and_then(|q| q.extra.get("color")),
            Some(&json!("#1D76D8"))
        );
        let (events, refused) = s.events(rome());
        // The history entry with null dates is left out; the current status is the same change
        // as the dated history entry, so one event.
        assert_eq!(refused.len(), 1);
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!((ev.status.id, ev.status.detail), (3, None));
        assert_eq!(ev.courier, "BRT");
        assert_eq!(iso(&ev.date_utc), "2019-06-14T04:15:00Z");
        assert_eq!(ev.model.courier_status.as_deref(), Some("IN TRANSIT"));
        assert_eq!(ev.model.is_child, Some(true));
        assert!(ev.model.consignee.is_none(), "no personal data copied");
    }

    #[test]
    fn qaplas_time_frame_sample() {
        let listing =
            read(TRACKING_BY_TIME_FRAME, TIME_FRAME_ANSWER.as_bytes()).expect("OK answer");
        let s = &listing.shipments[0];
        assert_eq!(s.id.as_deref(), Some("000000000001"));
        assert_eq!(s.courier_code().as_deref(), Some("GLS-ITA"));
        assert!(s.extra.contains_key("getShipment"));
        let (events, refused) = s.events(rome());
        assert!(refused.is_empty());
        assert_eq!(events[0].status.id, 99);
        assert!(events[0].status.is_final);
        assert_eq!(iso(&events[0].date_utc), "2026-06-16T06:07:00Z");
    }

    #[test]
    fn the_same_change_by_webhook_and_by_api_is_one_identity() {
        let channel = "shop-it";
        let listing = read(GET_SHIPMENT, GET_SHIPMENT_ANSWER.as_bytes()).expect("OK");
        let (events, _) = listing.shipments[0].events(rome());
        let api = &events[0];
        let webhook = shipment::validate(
            json!({
                "apiKey": "k", "trackingNumber": "080010017684806", "courier": "BRT",
                "return": 0, "date": "2019-06-14 06:15:00", "qaplaStatusID": "3",
                "qaplaStatus": "IN TRANSITO", "statusDetails": [], "place": "RIVALTA",
                "courierStatus": "ON_THE_ROAD"
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            rome(),
        )
        .expect("valid");
        let id = |ev: &ShipmentEvent| {
            crate::identity::EventId::of_change(
                channel,
                &ev.courier,
                &ev.tracking_number,
                ev.status.id,
                ev.status.detail,
                &iso(&ev.date_utc),
            )
        };
        assert_ne!(api.id, webhook.id, "the bodies differ");
        assert_eq!(id(api), id(&webhook), "the change is the same");
    }

    /// The body as it was written key by key before the reconciler built the change in the
    /// webhook's model: the delivery ids of recovered changes already in tables were computed
    /// over it, so the body of the model must be the same map.
    fn body_written_by_hand(s: &ApiShipment, status: &ApiStatus) -> Option<Map<String, Value>> {
        let date = status.when()?;
        let qapla = status.qapla_status.as_ref()?;
        let id = optional(&qapla.id)?;
        let details = match optional(&qapla.detail_id) {
            Some(d) if d.trim_end_matches(".0") != "0" => {
                json!([{"id": d, "detail": qapla.detail}])
            }
            _ => json!([]),
        };
        let flag = |f: Option<bool>| f.map(|b| json!(u8::from(b)));
        let mut body = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_owned(), v);
            }
        };
        put("trackingNumber", s.tracking().map(Value::from));
        put("courier", s.courier_code().map(Value::from));
        put("reference", optional(&s.reference).map(Value::from));
        put("return", flag(s.is_return_shipment));
        put("isChild", flag(s.is_child));
        put("hasChildren", flag(s.has_children));
        put("date", Some(Value::from(date)));
        put("courierStatus", optional(&status.status).map(Value::from));
        put("place", optional(&status.place).map(Value::from));
        put("qaplaStatusID", Some(Value::from(id)));
        put("qaplaStatus", optional(&qapla.status).map(Value::from));
        put("statusDetails", Some(details));
        for (k, v) in &status.extra {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Some(body)
    }

    #[test]
    fn the_body_of_the_change_is_the_body_written_by_hand() {
        let samples = [
            read(GET_SHIPMENT, GET_SHIPMENT_ANSWER.as_bytes()).expect("OK"),
            read(TRACKING_BY_TIME_FRAME, TIME_FRAME_ANSWER.as_bytes()).expect("OK"),
        ];
        let mut shipments: Vec<ApiShipment> =
            samples.into_iter().flat_map(|l| l.shipments).collect();
        let variants = [
            json!({"trackingNumber": " T1 ", "courier": {"code": "DHL"}, "reference": 10452,
                   "isReturnShipment": "1", "isChild": false,
                   "status": {"dateISO": "2026-01-03 10:00", "status": " ", "place": "È",
                              "qaplaStatus": {"id": 6, "detailID": "2", "detail": null,
                                              "status": "ECCEZIONE", "color": "#fff"},
                              "custom1": 7, "place2": {"n": [1]}, "trackingNumber": "X"}}),
            json!({"trackingNumber": "T2", "courier": "SDA",
                   "status": {"date": "2026-01-03 10:00:00",
                              "qaplaStatus": {"id": "99", "detailID": "0.0", "detail": "x"}}}),
            json!({"trackingNumber": "T3", "status": {"dateISO": "2026-01-03 10:00:00",
                   "qaplaStatus": {"detailID": 1}}}),
        ];
        for v in variants {
            shipments.push(serde_json::from_value(v).expect("an API shipment"));
        }
        let mut compared = 0;
        for s in &shipments {
            let history = s.tracking_history.iter().flatten();
            for status in history.chain(s.status.as_ref()) {
                let body = s.webhook_body(status);
                assert_eq!(body, body_written_by_hand(s, status), "{status:?}");
                let id = body.as_ref().map(crate::identity::EventId::of_map);
                let by_hand = body_written_by_hand(s, status);
                assert_eq!(id, by_hand.as_ref().map(crate::identity::EventId::of_map));
                compared += usize::from(body.is_some());
            }
        }
        assert!(compared >= 5, "{compared} bodies compared");
    }

    #[test]
    fn error_in_every_shape() {
        let cases = [
            (json!(null), None),
            (json!(false), None),
            (json!(""), None),
            (json!([]), None),
            (json!("Invalid apiKey"), Some("Invalid apiKey")),
            (json!([{"E01": "bad key"}]), Some("E01: bad key")),
            (json!({"E02": "nope"}), Some("E02: nope")),
            (json!(["a", "b"]), Some("a; b")),
            (json!(42), Some("42")),
        ];
        for (error, text) in cases {
            assert_eq!(error_text(&error).as_deref(), text, "{error}");
        }
    }

    #[test]
    fn ko_and_unreadable_answers() {
        let ko = br#"{"getShipment": {"result": "KO", "error": [{"401": "Invalid apiKey"}]}}"#;
        assert_eq!(
            read(GET_SHIPMENT, ko),
            Err(BadAnswer::Ko {
                call: "getShipment",
                error: "401: Invalid apiKey".into()
            })
        );
        let no_error = br#"{"getShipment": {"result": "KO", "error": false}}"#;
        assert!(matches!(
            read(GET_SHIPMENT, no_error),
            Err(BadAnswer::Ko { .. })
        ));
        for bad in [
            &b"<html>"[..],
            br#"{"other": {}}"#,
            br#"{"getShipment": []}"#,
            br#"{"getShipment": {"result": "OK", "shipments": 3}}"#,
        ] {
            assert!(
                matches!(read(GET_SHIPMENT, bad), Err(BadAnswer::Unreadable { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn tolerated_shapes() {
        let answer = json!({"trackingByTimeFrame": {
        "result": "ok", "error": false, "count": "3",
        "shipments": [
            {"id": 7, "trackingNumber": 123456, "courier": {"code": "DHL", "name": "DHL"},
             "status": {"date": "2026-06-16 08:07", "dateISO": null, "place": null,
                        "qaplaStatus": {"id": "6", "detailID": "1", "detail": "GIACENZA",
                                        "status": "ECCEZIONE"}},
             "isReturnShipment": "1", "somethingNew": [1]},
            {"id": "8", "trackingNumber": "X8", "courier": "SDA",
             "status": {"dateISO": "2026-06-16 08:07:00",
                        "qaplaStatus": {"id": 99, "detailID": 0}}},
            {"id": "9", "trackingNumber": ["not", "text"]}
        ]}});
        let listing =
            read(TRACKING_BY_TIME_FRAME, answer.to_string().as_bytes()).expect("readable");
        assert_eq!(listing.count, Some(3));
        assert_eq!(listing.shipments.len(), 2);
        assert_eq!(listing.unreadable.len(), 1);
        let first = &listing.shipments[0];
        assert_eq!(first.id.as_deref(), Some("7"));
        assert_eq!(first.tracking().as_deref(), Some("123456"));
        assert_eq!(first.extra["somethingNew"], json!([1]));
        let (events, refused) = first.events(rome());
        assert!(refused.is_empty());
        let ev = &events[0];
        assert_eq!((ev.status.id, ev.status.detail), (6, Some(1)));
        // Labels in another language: the name comes from the id, not the text.
        assert_eq!(ev.status.name, "EXCEPTION / STOCK");
        assert_eq!(ev.model.is_return, Some(true));
        assert_eq!(iso(&ev.date_utc), "2026-06-16T06:07:00Z");
        let (events, _) = listing.shipments[1].events(rome());
        assert_eq!((events[0].status.id, events[0].status.detail), (99, None));
    }

    #[test]
    fn history_comes_out_oldest_first_and_once() {
        let s: ApiShipment = serde_json::from_value(json!({
            "trackingNumber": "T1", "courier": "DHL",
            "status": {"dateISO": "2026-01-03 10:00:00", "qaplaStatus": {"id": 99}},
            "trackingHistory": [
                {"dateISO": "2026-01-03 10:00:00", "qaplaStatus": {"id": 99}},
                {"dateISO": "2026-01-02 10:00:00", "qaplaStatus": {"id": 4}},
                {"dateISO": null, "date": null, "qaplaStatus": {"id": 20}},
                {"dateISO": "2026-01-01 10:00:00", "qaplaStatus": {"id": 3}},
                {"dateISO": "2026-01-01 11:00:00"}
            ]
        }))
        .expect("model");
        let (events, refused) = s.events(rome());
        let ids: Vec<u32> = events.iter().map(|e| e.status.id).collect();
        assert_eq!(ids, [3, 4, 99]);
        assert_eq!(refused.len(), 2);
    }

    #[test]
    fn failed_attempts() {
        let attempt = |r: Value| Attempt {
            result: serde_json::from_value::<Attempt>(json!({"result": r}))
                .expect("attempt")
                .result,
            ..Attempt::default()
        };
        assert!(!attempt(json!("OK")).failed());
        assert!(!attempt(json!("ok")).failed());
        assert!(attempt(json!("KO")).failed());
        assert!(attempt(json!("ERROR 503")).failed());
        assert!(attempt(json!(null)).failed());
    }
}
