//! What a notification says: the JSON document of the v1 schema, the attributes filter policies
//! read, and the email and SMS texts.

use super::{
    attr, AlertRule, Change, EventType, Notice, MAX_DOCUMENT_BYTES, SCHEMA, SMS_MAX_CHARS,
};
use crate::auth::OrderTrigger;
use crate::identity::EventId;
use crate::status::Severity;
use crate::table::{OrderItem, ReturnItem, ShipmentState};
use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::{json, Value};

/// A payload field subscribers get with personal data off: its name and, for an object, the
/// names of its own fields that go with it (empty: the value as it is).
pub type Field = (&'static str, &'static [&'static str]);

/// A return's fields published with personal data off: exactly those `returnPayload` names in
/// `docs/notification.schema.json` (a test holds the two together). An allowlist, so the
/// customer (`sender`), `consignee`, `rows` (the customer's reasons) and any field Qapla' adds
/// stay in the table unless the merchant allows personal data.
pub const RETURN_PAYLOAD_FIELDS: &[Field] = &[
    ("RMA", &[]),
    ("date", &[]),
    ("reference", &[]),
    ("trackingNumber", &[]),
    ("courier", &["code", "name", "icon"]),
    ("parcels", &[]),
    ("weight", &[]),
    ("refundMethodCode", &[]),
];

/// An order's fields published with personal data off: exactly those `orderPayload` names in
/// the schema. The `customer*` fields, `notes` (a doorbell, a staircase) and any field Qapla'
/// adds stay out.
pub const ORDER_PAYLOAD_FIELDS: &[Field] = &[
    ("reference", &[]),
    ("orderDate", &[]),
    ("shipDate", &[]),
    ("courier", &[]),
    ("trackingNumber", &[]),
    ("return", &[]),
    ("returnTrackingNumber", &[]),
    ("weight", &[]),
    ("parcels", &[]),
    ("length", &[]),
    ("width", &[]),
    ("height", &[]),
    ("amount", &[]),
    ("isPOD", &[]),
];

/// `value` cut to `allowed` fields (an object's own fields too, where `allowed` names them).
fn only(value: &Value, allowed: &[&str]) -> Value {
    match value {
        Value::Object(map) if !allowed.is_empty() => Value::Object(
            map.iter()
                .filter(|(k, _)| allowed.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// Renders notices for one deployment's settings.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub alerts: AlertRule,
    pub timezone: Tz,
    /// Whether email and SMS texts may name the customer (off unless the merchant turns it on).
    pub personal_data: bool,
}

impl Notifier {
    /// The notice a change calls for.
    pub fn notice(&self, change: &Change) -> Notice {
        match change {
            Change::Status { old, new } => self.status_change(old.as_deref(), new),
            Change::Return(item) => self.return_requested(item),
            Change::Order(item) => self.order(item),
        }
    }

    /// Ends an email body: the customer's name where the merchant allows it, then the event id.
    fn finish_email(&self, mut body: String, customer: Option<&str>, event_id: &EventId) -> String {
        if let Some(name) = customer.filter(|_| self.personal_data) {
            body.push_str(&format!("Customer:   {name}\n"));
        }
        body.push_str(&format!("\nEvent id: {event_id}\n"));
        body
    }

    /// A payload as subscribers get it: whole where the merchant allows personal data, else
    /// only the `fields` named.
    fn payload_gate(&self, payload: &Value, fields: &[Field]) -> Value {
        match payload {
            Value::Object(map) if !self.personal_data => Value::Object(
                fields
                    .iter()
                    .filter_map(|(name, inner)| {
                        map.get(*name).map(|v| ((*name).to_owned(), only(v, inner)))
                    })
                    .collect(),
            ),
            Value::Object(_) => payload.clone(),
            // Never other than an object as the table keeps it; nothing unknown goes out.
            _ if !self.personal_data => json!({}),
            _ => payload.clone(),
        }
    }

    pub(crate) fn local(&self, utc: &str) -> String {
        DateTime::parse_from_rfc3339(utc)
            .map(|t| {
                t.with_timezone(&self.timezone)
                    .format("%d/%m/%Y %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|_| utc.to_owned())
    }

    /// The notice for a shipment's status change.
    fn status_change(&self, old: Option<&ShipmentState>, new: &ShipmentState) -> Notice {
        let severity = self
            .alerts
            .severity(new.status_id, new.status_detail, new.severity);
        let when = self.local(&new.date_utc);
        let place = new.place.as_deref().unwrap_or("-");
        let reference = new.reference.as_deref().unwrap_or("-");
        let detail = match (new.status_detail, new.status_detail_text.as_deref()) {
            (Some(id), Some(text)) => format!("{id} ({text})"),
            (Some(id), None) => id.to_string(),
            (None, _) => "-".into(),
        };
        let status = |s: &ShipmentState| {
            json!({"id": s.status_id, "detail": s.status_detail, "name": s.status_name,
                   "detailText": s.status_detail_text, "final": s.is_final})
        };
        let document = json!({
            "schema": SCHEMA,
            "id": new.event_id,
            "event": EventType::StatusChanged.as_str(),
            "channel": new.channel,
            "severity": severity,
            "shipment": {
                "courier": new.courier,
                "trackingNumber": new.tracking_number,
                "reference": new.reference,
                "isReturn": new.is_return,
                "status": status(new),
                "previousStatus": old.map(status),
                "date": new.date,
                "dateUtc": new.date_utc,
                "place": new.place,
                "courierStatus": new.courier_status,
            },
            "receivedAt": new.received_at,
        });
        let email_subject = ascii_line(
            &format!(
                "{}: {} {} {}",
                label(severity),
                new.status_name,
                new.courier,
                new.tracking_number
            ),
            99,
        );
        let email_body = format!(
            "Shipment {tracking} ({courier}) is now {status}.\n\n\
             Status:     {status}\n\
             Detail:     {detail}\n\
             Place:      {place}\n\
             Time:       {when} ({tz})\n\
             Courier:    {courier}\n\
             Tracking:   {tracking}\n\
             Order:      {reference}\n\
             Channel:    {channel}\n\
             Previous:   {previous}\n\n\
             Event id: {id}\n",
            tracking = new.tracking_number,
            courier = new.courier,
            status = new.status_name,
            channel = new.channel,
            previous = old.map_or("-", |o| o.status_name.as_str()),
            tz = self.timezone.name(),
            id = new.event_id,
        );
        let sms = sms(&format!(
            "{}: {} {} {} - {} {} - ord. {}",
            new.channel, new.courier, new.tracking_number, new.status_name, place, when, reference
        ));
        let mut attributes = vec![
            (attr::EVENT, EventType::StatusChanged.as_str().to_owned()),
            (attr::STATUS_ID, new.status_id.to_string()),
            (attr::SEVERITY, severity.as_str().to_owned()),
            (attr::COURIER, new.courier.clone()),
            (attr::CHANNEL, new.channel.clone()),
            (attr::RETURN, new.is_return.to_string()),
        ];
        if let Some(d) = new.status_detail {
            attributes.push((attr::STATUS_DETAIL, d.to_string()));
        }
        Notice {
            event: EventType::StatusChanged,
            id: format!("{}:{}", EventType::StatusChanged.as_str(), new.event_id),
            attributes,
            document,
            email_subject,
            email_body,
            sms,
        }
    }

    /// The notice for a new return request.
    fn return_requested(&self, item: &ReturnItem) -> Notice {
        let reference = item.reference.as_deref().unwrap_or("-");
        let courier = item.courier.as_deref().unwrap_or("-");
        let tracking = item.tracking_number.as_deref().unwrap_or("-");
        let when = item
            .date_utc
            .as_deref()
            .map_or_else(|| "-".to_owned(), |d| self.local(d));
        let customer = item.payload.pointer("/sender/name").and_then(Value::as_str);
        let document = json!({
            "schema": SCHEMA,
            "id": item.event_id,
            "event": EventType::ReturnRequested.as_str(),
            "channel": item.channel,
            "severity": Severity::Info,
            "return": {
                "key": item.return_key,
                "reference": item.reference,
                "trackingNumber": item.tracking_number,
                "courier": item.courier,
                "dateUtc": item.date_utc,
                "deliveryId": item.delivery_id,
                "payload": self.payload_gate(&item.payload, RETURN_PAYLOAD_FIELDS),
            },
            "receivedAt": item.received_at,
        });
        let document = bounded(document, "return", &item.pk, &item.sk);
        let email_body = format!(
            "A return was requested.\n\n\
             Return:     {key}\n\
             Order:      {reference}\n\
             Courier:    {courier}\n\
             Tracking:   {tracking}\n\
             Time:       {when} ({tz})\n\
             Channel:    {channel}\n",
            key = item.return_key,
            channel = item.channel,
            tz = self.timezone.name(),
        );
        let email_body = self.finish_email(email_body, customer, &item.event_id);
        Notice {
            event: EventType::ReturnRequested,
            id: format!("{}:{}", EventType::ReturnRequested.as_str(), item.event_id),
            attributes: vec![
                (attr::EVENT, EventType::ReturnRequested.as_str().to_owned()),
                (attr::SEVERITY, Severity::Info.as_str().to_owned()),
                (attr::COURIER, courier.to_owned()),
                (attr::CHANNEL, item.channel.clone()),
                (attr::RETURN, "true".to_owned()),
            ],
            document,
            email_subject: ascii_line(
                &format!("Return requested: {} order {reference}", item.return_key),
                99,
            ),
            email_body,
            sms: sms(&format!(
                "{}: return {} requested, order {reference}, {courier} {tracking}",
                item.channel, item.return_key
            )),
        }
    }

    /// The notice for a new (or changed) order.
    fn order(&self, item: &OrderItem) -> Notice {
        let event = match item.trigger {
            OrderTrigger::Transmitted => EventType::OrderTransmitted,
            OrderTrigger::Created => EventType::OrderCreated,
        };
        let courier = item.courier.as_deref().unwrap_or("-");
        let tracking = item.tracking_number.as_deref().unwrap_or("-");
        let customer = item.payload.get("customerName").and_then(Value::as_str);
        let verb = if event == EventType::OrderTransmitted {
            "transmitted to the courier"
        } else {
            "created"
        };
        let document = json!({
            "schema": SCHEMA,
            "id": item.event_id,
            "event": event.as_str(),
            "channel": item.channel,
            "severity": Severity::Info,
            "order": {
                "reference": item.reference,
                "trigger": item.trigger,
                "courier": item.courier,
                "trackingNumber": item.tracking_number,
                "orderDateUtc": item.order_date_utc,
                "shipDateUtc": item.ship_date_utc,
                "payload": self.payload_gate(&item.payload, ORDER_PAYLOAD_FIELDS),
            },
            "receivedAt": item.received_at,
        });
        let document = bounded(document, "order", &item.pk, &item.sk);
        let email_body = format!(
            "The shipment of order {reference} was {verb}.\n\n\
             Order:      {reference}\n\
             Courier:    {courier}\n\
             Tracking:   {tracking}\n\
             Channel:    {channel}\n",
            reference = item.reference,
            channel = item.channel,
        );
        let email_body = self.finish_email(email_body, customer, &item.event_id);
        Notice {
            event,
            id: format!("{}:{}", event.as_str(), item.event_id),
            attributes: vec![
                (attr::EVENT, event.as_str().to_owned()),
                (attr::SEVERITY, Severity::Info.as_str().to_owned()),
                (attr::COURIER, courier.to_owned()),
                (attr::CHANNEL, item.channel.clone()),
                (
                    attr::RETURN,
                    item.payload
                        .get("return")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                ),
            ],
            document,
            email_subject: ascii_line(
                &format!("Order {} {verb}: {courier} {tracking}", item.reference),
                99,
            ),
            email_body,
            sms: sms(&format!(
                "{}: order {} {verb}, {courier} {tracking}",
                item.channel, item.reference
            )),
        }
    }
}

/// A document within [`MAX_DOCUMENT_BYTES`]: beyond it, the payload under `section` is left out
/// and `section.item` gives the table item's key, where the whole payload stays.
fn bounded(mut document: Value, section: &str, pk: &str, sk: &str) -> Value {
    if document.to_string().len() <= MAX_DOCUMENT_BYTES {
        return document;
    }
    if let Some(Value::Object(part)) = document.get_mut(section) {
        part.remove("payload");
        part.insert("payloadOmitted".into(), Value::Bool(true));
        part.insert("item".into(), json!({"pk": pk, "sk": sk}));
    }
    document
}

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Exception => "Exception",
        Severity::Warning => "Warning",
        Severity::Info => "Update",
    }
}

/// SNS subjects must be ASCII on one line: accents lose their mark, anything else becomes `?`.
pub(crate) fn ascii_line(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'À' | 'Á' => 'A',
            'È' | 'É' => 'E',
            'Ì' | 'Í' => 'I',
            'Ò' | 'Ó' => 'O',
            'Ù' | 'Ú' => 'U',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            c if c.is_whitespace() => ' ',
            _ => '?',
        })
        .take(max)
        .collect()
}

/// One SMS segment at most, cut with an ellipsis.
pub(crate) fn sms(text: &str) -> String {
    let text = ascii_line(text, usize::MAX);
    if text.chars().count() <= SMS_MAX_CHARS {
        text
    } else {
        let mut cut: String = text.chars().take(SMS_MAX_CHARS - 3).collect();
        cut.push_str("...");
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::STATUSES;

    fn notifier(personal_data: bool) -> Notifier {
        Notifier {
            alerts: AlertRule::default(),
            timezone: crate::dates::zone("Europe/Rome").expect("zone"),
            personal_data,
        }
    }

    fn state(id: u32, detail: Option<u32>, place: Option<&str>) -> ShipmentState {
        let known = crate::status::lookup(id, detail);
        ShipmentState {
            pk: "SHIPMENT#shop-it#DHL#JD0146000031".into(),
            sk: "STATE".into(),
            channel: "shop-it".into(),
            courier: "DHL".into(),
            tracking_number: "JD0146000031".into(),
            reference: Some("ORD-10452".into()),
            status_id: id,
            status_detail: detail,
            status_name: known.map_or("UNKNOWN".into(), |k| k.name.to_owned()),
            status_detail_text: detail.map(|_| "ON HOLD".into()),
            severity: known.map_or(Severity::Info, |k| k.severity),
            is_final: known.is_some_and(|k| k.is_final),
            known: known.is_some(),
            date: "2026-03-02 09:41:07".into(),
            date_utc: "2026-03-02T08:41:07Z".into(),
            place: place.map(str::to_owned),
            courier_status: Some("WC".into()),
            is_return: false,
            has_children: false,
            is_child: false,
            version: "1.2".into(),
            event_id: EventId::given("e1"),
            ord: "x".into(),
            received_at: "2026-03-02T08:41:10Z".into(),
            source: None,
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
        }
    }

    fn attribute<'a>(n: &'a Notice, name: &str) -> Option<&'a str> {
        n.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn status_change_notice() {
        let old = state(3, None, Some("MILANO"));
        let new = state(6, Some(1), Some("BOLOGNA - ITA"));
        let n = notifier(false).notice(&Change::Status {
            old: Some(Box::new(old)),
            new: Box::new(new),
        });
        assert_eq!(n.event, EventType::StatusChanged);
        assert_eq!(attribute(&n, attr::EVENT), Some("shipment.status_changed"));
        assert_eq!(attribute(&n, attr::STATUS_ID), Some("6"));
        assert_eq!(attribute(&n, attr::STATUS_DETAIL), Some("1"));
        assert_eq!(attribute(&n, attr::SEVERITY), Some("exception"));
        assert_eq!(attribute(&n, attr::COURIER), Some("DHL"));
        assert_eq!(attribute(&n, attr::CHANNEL), Some("shop-it"));
        assert_eq!(attribute(&n, attr::RETURN), Some("false"));
        assert!(n.attributes.iter().all(|(k, _)| attr::ALL.contains(k)));
        assert_eq!(
            n.email_subject,
            "Exception: EXCEPTION / STOCK DHL JD0146000031"
        );
        assert!(
            n.email_body
                .contains("Time:       02/03/2026 09:41 (Europe/Rome)"),
            "{}",
            n.email_body
        );
        assert!(n.email_body.contains("Previous:   IN TRANSIT"));
        assert_eq!(n.document["schema"], SCHEMA);
        assert_eq!(n.document["shipment"]["previousStatus"]["id"], 3);
        let message: Value = serde_json::from_str(&n.message_structure()).expect("json");
        let keys: Vec<&str> = message
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["default", "email", "sms"],
            "only the texts that differ"
        );
        assert_eq!(message["default"], json!(n.document.to_string()));
        assert_eq!(message["email"], json!(n.email_body));
        assert_eq!(message["sms"], json!(n.sms));
    }

    #[test]
    fn sms_fits_one_segment_for_the_longest_status_and_place() {
        let longest = STATUSES
            .iter()
            .max_by_key(|s| s.name.len())
            .expect("statuses");
        let place =
            "SAN GIOVANNI IN PERSICETO - CENTRO DI SMISTAMENTO REGIONALE EMILIA-ROMAGNA - ITALIA";
        let mut s = state(longest.id, longest.detail, Some(place));
        s.tracking_number = "JJD000390007880451234567890".into();
        s.reference = Some("ORDINE-2026-0000123456789".into());
        s.channel = "shop-italia-principale".into();
        let n = notifier(false).notice(&Change::Status {
            old: None,
            new: Box::new(s),
        });
        assert!(
            n.sms.chars().count() <= SMS_MAX_CHARS,
            "{} chars",
            n.sms.chars().count()
        );
        assert!(n.sms.ends_with("..."));
        assert!(n.sms.contains(longest.name));
        assert!(n.email_subject.len() < 100 && n.email_subject.is_ascii());
        let accented = state(3, None, Some("FORLÌ – CESENA"));
        let n = notifier(false).notice(&Change::Status {
            old: None,
            new: Box::new(accented),
        });
        assert!(n.sms.is_ascii(), "{}", n.sms);
        assert!(
            n.sms.contains("FORLI ? CESENA") || n.sms.contains("FORLI - CESENA"),
            "{}",
            n.sms
        );
    }

    #[test]
    fn customer_data_stays_out_of_texts_unless_turned_on() {
        let channel =
            crate::auth::Channels::parse(&crate::fixtures::demo_channels()).expect("channel");
        let channel = channel.get("shop-it").expect("demo channel");
        let tz = crate::dates::zone("Europe/Rome").expect("zone");
        let object =
            |f: &crate::fixtures::Fixture| f.json().as_object().cloned().unwrap_or_default();
        let orders =
            crate::model::orders::validate(object(&crate::fixtures::ORDERS), tz).expect("valid");
        let item = OrderItem::new(
            channel,
            channel.trigger,
            &orders.orders[0],
            chrono::Utc::now(),
        );
        let off = notifier(false).notice(&Change::Order(item.clone()));
        let on = notifier(true).notice(&Change::Order(item));
        for text in [&off.email_body, &off.sms, &off.email_subject] {
            assert!(
                !text.contains("Mario") && !text.contains("example.com"),
                "{text}"
            );
        }
        assert!(on.email_body.contains("Customer:   Mario Rossi"));
        let document = off.document.to_string();
        for customer in ["Mario", "example.com", "customer", "333"] {
            assert!(!document.contains(customer), "{customer}: {document}");
        }
        assert!(off.document["order"]["payload"]["reference"].is_string());
        assert_eq!(
            on.document["order"]["payload"]["customerName"],
            json!("Mario Rossi")
        );
        assert_eq!(off.event, EventType::OrderCreated);
        assert_eq!(attribute(&off, attr::EVENT), Some("order.created"));

        let returns =
            crate::model::returns::validate(object(&crate::fixtures::RETURNS_WRAPPED), tz)
                .expect("valid");
        let item = ReturnItem::new(
            channel,
            &returns.id,
            &returns.returns[0],
            chrono::Utc::now(),
        );
        let off = notifier(false).notice(&Change::Return(item.clone()));
        assert!(!off.email_body.contains("Mario") && !off.sms.contains("Mario"));
        let document = off.document.to_string();
        assert!(
            !document.contains("Mario") && !document.contains("sender"),
            "{document}"
        );
        assert!(off.document["return"]["payload"].get("rows").is_none());
        assert_eq!(
            off.document["return"]["payload"]["RMA"],
            json!("RMA-2026-0001")
        );
        assert_eq!(
            notifier(true)
                .notice(&Change::Return(item.clone()))
                .document["return"]["payload"]["sender"]["name"],
            json!("Mario Rossi")
        );
        assert!(notifier(true)
            .notice(&Change::Return(item.clone()))
            .email_body
            .contains("Mario Rossi"));
        assert_eq!(attribute(&off, attr::RETURN), Some("true"));
        assert_eq!(off.id, format!("return.requested:{}", item.event_id));
    }

    /// Only the fields the schema names go out with personal data off: an order's notes (a
    /// doorbell, a staircase), a return's rows and consignee, and any field Qapla' adds stay in
    /// the table.
    #[test]
    fn personal_data_off_publishes_only_the_named_payload_fields() {
        let order = match crate::testing::an_order(
            OrderTrigger::Created,
            json!({"notes": "citofono Bianchi, scala B", "giftMessage": "Auguri Giulia"}),
            chrono::Utc::now(),
        ) {
            crate::table::Document::Order(item) => item,
            other => panic!("{other:?}"),
        };
        let off = notifier(false).notice(&Change::Order(order.clone()));
        let document = off.document.to_string();
        for private in ["Bianchi", "Giulia", "notes", "giftMessage"] {
            assert!(!document.contains(private), "{private}: {document}");
        }
        assert_eq!(off.document["order"]["payload"]["amount"], json!("€ 40.00"));
        let on = notifier(true).notice(&Change::Order(order));
        assert_eq!(
            on.document["order"]["payload"]["notes"],
            json!("citofono Bianchi, scala B")
        );
        assert_eq!(
            on.document["order"]["payload"]["giftMessage"],
            json!("Auguri Giulia")
        );

        let mut item = big_return(1);
        item.payload["courier"]["tracker"] = json!("https://example.com/?to=Mario");
        item.payload["pickupNotes"] = json!("dalla portineria");
        let off = notifier(false).notice(&Change::Return(item.clone()));
        let document = off.document.to_string();
        for private in [
            "taglia",
            "consignee",
            "rows",
            "Via Roma",
            "portineria",
            "tracker",
        ] {
            assert!(!document.contains(private), "{private}: {document}");
        }
        assert_eq!(
            off.document["return"]["payload"]["courier"]["code"],
            json!("BRT")
        );
        assert_eq!(
            off.document["return"]["payload"]["RMA"],
            json!("RMA-2026-0001")
        );
        let on = notifier(true).notice(&Change::Return(item));
        assert!(on.document["return"]["payload"]["rows"].is_array());
        assert_eq!(
            on.document["return"]["payload"]["pickupNotes"],
            json!("dalla portineria")
        );
    }

    /// A return of the wrapped fixture with `rows` rows of about 200 bytes each.
    pub(crate) fn big_return(rows: usize) -> ReturnItem {
        let channel =
            crate::auth::Channels::parse(&crate::fixtures::demo_channels()).expect("channel");
        let channel = channel.get("shop-it").expect("demo channel");
        let tz = crate::dates::zone("Europe/Rome").expect("zone");
        let mut body = crate::fixtures::RETURNS_WRAPPED.json();
        let row = json!({"sku": "SKU-0000000001", "name": "Maglietta in cotone biologico, taglia M, colore blu notte",
                         "qty": "1", "total": "19.90", "reason": "La taglia non corrisponde a quella ordinata, troppo stretta"});
        body["webhookReturnShipments"]["returnShipments"][0]["rows"] = json!(vec![row; rows]);
        let returns =
            crate::model::returns::validate(body.as_object().cloned().unwrap_or_default(), tz)
                .expect("valid");
        ReturnItem::new(
            channel,
            &returns.id,
            &returns.returns[0],
            chrono::Utc::now(),
        )
    }

    #[test]
    fn a_40_kb_return_is_one_message_well_under_the_sns_limit() {
        let item = big_return(240);
        let payload = item.payload.to_string().len();
        assert!(payload > 40 * 1024, "{payload} bytes");
        // Personal data on: the rows go out, and make the payload large.
        let n = notifier(true).notice(&Change::Return(item));
        assert!(n.document["return"]["payload"].is_object(), "payload kept");
        // The document once (its quotes escaped inside the message), not once per protocol.
        let message = n.message_structure().len();
        assert!(
            message < 2 * payload,
            "{message} bytes for a {payload} byte payload"
        );
        assert!(message < 256 * 1024, "{message} bytes");
    }

    #[test]
    fn a_return_beyond_the_bound_points_at_its_item() {
        let item = big_return(1500);
        assert!(item.payload.to_string().len() > MAX_DOCUMENT_BYTES);
        let n = notifier(true).notice(&Change::Return(item.clone()));
        let part = &n.document["return"];
        assert!(part.get("payload").is_none());
        assert_eq!(part["payloadOmitted"], json!(true));
        assert_eq!(part["item"], json!({"pk": item.pk, "sk": item.sk}));
        assert_eq!(part["reference"], json!(item.reference));
        assert!(n.message_structure().len() < MAX_DOCUMENT_BYTES);
    }
}
