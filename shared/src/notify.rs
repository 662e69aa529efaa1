//! What the notifier publishes, decided from a table change: which changes notify, the message
//! attributes that filter policies read, and the texts for each protocol. Pure: the SNS call lives
//! in the AWS adapters.

use crate::identity::EventId;
use crate::items::{OrderItem, ReturnItem, ShipmentState};
use crate::status::Severity;
use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::{json, Value};

/// Message attribute names, used by the publisher and by the template's filter policies.
pub mod attr {
    pub const EVENT: &str = "event";
    pub const STATUS_ID: &str = "statusId";
    pub const STATUS_DETAIL: &str = "statusDetail";
    pub const SEVERITY: &str = "severity";
    pub const COURIER: &str = "courier";
    pub const CHANNEL: &str = "channel";
    pub const RETURN: &str = "return";
    /// Every attribute name, for checks that the template uses only these.
    pub const ALL: [&str; 7] = [
        EVENT,
        STATUS_ID,
        STATUS_DETAIL,
        SEVERITY,
        COURIER,
        CHANNEL,
        RETURN,
    ];
}

/// The version of the JSON document queues and HTTP subscribers receive.
pub const SCHEMA: &str = "qapla-webhooks/notification/v1";
/// Longest SMS we send: one GSM segment.
pub const SMS_MAX_CHARS: usize = 160;

/// The kinds of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    StatusChanged,
    ReturnRequested,
    OrderCreated,
    OrderTransmitted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StatusChanged => "shipment.status_changed",
            EventType::ReturnRequested => "return.requested",
            EventType::OrderCreated => "order.created",
            EventType::OrderTransmitted => "order.transmitted",
        }
    }
}

/// Which statuses alert: entries `id` (any detail) or `id/detail`, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule(Vec<(u32, Option<u32>)>);

impl Default for AlertRule {
    /// FAILED DELIVERY ATTEMPT, DELAY, and EXCEPTION with any detail.
    fn default() -> Self {
        use crate::status::{DELAY, EXCEPTION, FAILED_DELIVERY_ATTEMPT};
        AlertRule(vec![
            (FAILED_DELIVERY_ATTEMPT, None),
            (DELAY, None),
            (EXCEPTION, None),
        ])
    }
}

impl AlertRule {
    pub fn parse(spec: &str) -> Result<Self, String> {
        if spec.trim().eq_ignore_ascii_case("none") {
            return Ok(AlertRule(Vec::new()));
        }
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not a status id or id/detail (e.g. 5,8,6 or 6/1)");
            let (id, detail) = match entry.split_once('/') {
                Some((id, detail)) => (id, Some(detail.trim().parse::<u32>().map_err(|_| bad())?)),
                None => (entry, None),
            };
            rules.push((id.trim().parse::<u32>().map_err(|_| bad())?, detail));
        }
        if rules.is_empty() {
            return Err("no status listed (say none to alert on nothing)".into());
        }
        Ok(AlertRule(rules))
    }

    pub fn alerts(&self, id: u32, detail: Option<u32>) -> bool {
        self.0
            .iter()
            .any(|&(rid, rdetail)| rid == id && (rdetail.is_none() || rdetail == detail))
    }

    /// The `severity` attribute published: an alerting status is at least `warning`, any other
    /// status is `info`, so subscriptions that filter on warning and exception get exactly the alerts.
    pub fn severity(&self, id: u32, detail: Option<u32>, table: Severity) -> Severity {
        if self.alerts(id, detail) {
            table.max(Severity::Warning)
        } else {
            Severity::Info
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub event: EventType,
    /// Stable id of the change, so subscribers can drop SNS's occasional duplicate.
    pub id: String,
    pub attributes: Vec<(&'static str, String)>,
    pub document: Value,
    pub email_subject: String,
    pub email_body: String,
    pub sms: String,
}

impl Notice {
    /// The SNS message with `MessageStructure: json`: one text per protocol.
    pub fn message_structure(&self) -> String {
        let doc = self.document.to_string();
        json!({
            "default": doc,
            "sqs": doc,
            "lambda": doc,
            "http": doc,
            "https": doc,
            "email-json": doc,
            "firehose": doc,
            "email": self.email_body,
            "sms": self.sms,
        })
        .to_string()
    }
}

/// Publishing failed; the notifier reports the record failed so the stream retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Sends notices somewhere (SNS in the AWS adapters).
pub trait Publisher: Send + Sync {
    fn publish(
        &self,
        notice: &Notice,
    ) -> impl std::future::Future<Output = Result<(), PublishError>> + Send;
}

/// Renders notices for one deployment's settings.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub alerts: AlertRule,
    pub timezone: Tz,
    pub personal_data: bool,
}

impl Notifier {
    /// The notifier the configuration describes.
    pub fn from_config(config: &crate::config::NotifierConfig) -> Self {
        Notifier {
            alerts: config.alerts.clone(),
            timezone: config.timezone,
            personal_data: config.personal_data,
        }
    }
}

/// Did a shipment's state really change status or detail?
pub fn status_changed(old: Option<&ShipmentState>, new: &ShipmentState) -> bool {
    old.is_none_or(|o| o.status_id != new.status_id || o.status_detail != new.status_detail)
}

/// Is a return or order new, or has its content changed?
pub fn content_changed(
    old: Option<&crate::identity::EventId>,
    new: &crate::identity::EventId,
) -> bool {
    old != Some(new)
}

impl Notifier {
    /// Ends an email body: the customer's name where the merchant allows it, then the event id.
    fn finish_email(&self, mut body: String, customer: Option<&str>, event_id: &EventId) -> String {
        if let Some(name) = customer.filter(|_| self.personal_data) {
            body.push_str(&format!("Customer:   {name}\n"));
        }
        body.push_str(&format!("\nEvent id: {event_id}\n"));
        body
    }

    fn local(&self, utc: &str) -> String {
        DateTime::parse_from_rfc3339(utc)
            .map(|t| {
                t.with_timezone(&self.timezone)
                    .format("%d/%m/%Y %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|_| utc.to_owned())
    }

    /// The notice for a shipment's status change.
    pub fn status_changed(&self, old: Option<&ShipmentState>, new: &ShipmentState) -> Notice {
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
    pub fn return_requested(&self, item: &ReturnItem) -> Notice {
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
                "payload": item.payload,
            },
            "receivedAt": item.received_at,
        });
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
    pub fn order(&self, item: &OrderItem) -> Notice {
        let event = if item.trigger == "transmitted" {
            EventType::OrderTransmitted
        } else {
            EventType::OrderCreated
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
                "payload": item.payload,
            },
            "receivedAt": item.received_at,
        });
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

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Exception => "Exception",
        Severity::Warning => "Warning",
        Severity::Info => "Update",
    }
}

/// SNS subjects must be ASCII on one line: accents lose their mark, anything else becomes `?`.
fn ascii_line(text: &str, max: usize) -> String {
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
fn sms(text: &str) -> String {
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
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    fn attribute<'a>(n: &'a Notice, name: &str) -> Option<&'a str> {
        n.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn alert_rules() {
        let default = AlertRule::default();
        let cases: [(&AlertRule, u32, Option<u32>, bool); 7] = [
            (&default, 5, None, true),
            (&default, 8, None, true),
            (&default, 6, None, true),
            (&default, 6, Some(4), true),
            (&default, 3, None, false),
            (&default, 99, None, false),
            (&default, 95, None, false),
        ];
        for (rule, id, detail, alerts) in cases {
            assert_eq!(rule.alerts(id, detail), alerts, "{id}/{detail:?}");
        }
        let only_stock = AlertRule::parse(" 6/1 , 95").expect("valid");
        assert!(
            only_stock.alerts(6, Some(1))
                && !only_stock.alerts(6, Some(2))
                && only_stock.alerts(95, None)
        );
        assert_eq!(AlertRule::parse("none"), Ok(AlertRule(Vec::new())));
        for bad in ["", "six", "6/x", "6/1/2", "-1"] {
            assert!(AlertRule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn severity_attribute_follows_the_alert_rule() {
        let rule = AlertRule::default();
        assert_eq!(
            rule.severity(6, Some(1), Severity::Exception),
            Severity::Exception
        );
        assert_eq!(rule.severity(5, None, Severity::Warning), Severity::Warning);
        assert_eq!(rule.severity(95, None, Severity::Warning), Severity::Info);
        let returned = AlertRule::parse("95,3").expect("valid");
        assert_eq!(
            returned.severity(3, None, Severity::Info),
            Severity::Warning
        );
    }

    #[test]
    fn status_change_notice() {
        let old = state(3, None, Some("MILANO"));
        let new = state(6, Some(1), Some("BOLOGNA - ITA"));
        assert!(status_changed(Some(&old), &new));
        assert!(!status_changed(Some(&new), &new));
        assert!(status_changed(None, &new));
        let n = notifier(false).status_changed(Some(&old), &new);
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
        for protocol in ["default", "sqs", "lambda", "http", "https", "email", "sms"] {
            assert!(message[protocol].is_string(), "{protocol}");
        }
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
        let n = notifier(false).status_changed(None, &s);
        assert!(
            n.sms.chars().count() <= SMS_MAX_CHARS,
            "{} chars",
            n.sms.chars().count()
        );
        assert!(n.sms.ends_with("..."));
        assert!(n.sms.contains(longest.name));
        assert!(n.email_subject.len() < 100 && n.email_subject.is_ascii());
        let accented = state(3, None, Some("FORLÌ – CESENA"));
        let n = notifier(false).status_changed(None, &accented);
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
        let body: serde_json::Map<String, Value> =
            serde_json::from_str(crate::fixtures::get("orders").unwrap_or("{}")).expect("json");
        let orders = crate::orders::validate(&body, tz).expect("valid");
        let item = OrderItem::new(
            channel,
            channel.trigger,
            &orders.orders[0],
            chrono::Utc::now(),
        );
        let off = notifier(false).order(&item);
        let on = notifier(true).order(&item);
        for text in [&off.email_body, &off.sms, &off.email_subject] {
            assert!(
                !text.contains("Mario") && !text.contains("example.com"),
                "{text}"
            );
        }
        assert!(on.email_body.contains("Customer:   Mario Rossi"));
        assert_eq!(off.event, EventType::OrderCreated);
        assert_eq!(attribute(&off, attr::EVENT), Some("order.created"));

        let body: serde_json::Map<String, Value> =
            serde_json::from_str(crate::fixtures::get("returns-wrapped").unwrap_or("{}"))
                .expect("json");
        let returns = crate::returns::validate(&body, tz).expect("valid");
        let item = ReturnItem::new(
            channel,
            &returns.id,
            &returns.returns[0],
            chrono::Utc::now(),
        );
        let off = notifier(false).return_requested(&item);
        assert!(!off.email_body.contains("Mario") && !off.sms.contains("Mario"));
        assert!(notifier(true)
            .return_requested(&item)
            .email_body
            .contains("Mario Rossi"));
        assert_eq!(attribute(&off, attr::RETURN), Some("true"));
        assert_eq!(off.id, format!("return.requested:{}", item.event_id));
    }
}
