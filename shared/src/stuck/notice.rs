//! What a stuck alert says: the `shipment.stuck` notice of an episode, in the notification schema
//! (v1) with the shipment as a status change has it and a `stuck` section, its email and SMS.

use super::rule::{Episode, Reason};
use crate::notify::render::{ascii_line, sms};
use crate::notify::{attr, EventType, Notice, Notifier, SCHEMA};
use crate::status::Severity;
use serde_json::json;

impl Episode {
    /// The notice for the episode: severity `warning`, and the attributes of a status change,
    /// so the subscriptions that take alerts take it.
    pub fn notice(&self, notifier: &Notifier) -> Notice {
        let s = &self.state;
        let since = notifier.local(&s.date_utc);
        let place = s.place.as_deref().unwrap_or("-");
        let reference = s.reference.as_deref().unwrap_or("-");
        let days = self.days();
        let id = self.id();
        let document = json!({
            "schema": SCHEMA,
            "id": id,
            "event": EventType::Stuck.as_str(),
            "channel": s.channel,
            "severity": Severity::Warning,
            "shipment": {
                "courier": s.courier,
                "trackingNumber": s.tracking_number,
                "reference": s.reference,
                "isReturn": s.is_return,
                "status": {"id": s.status_id, "detail": s.status_detail, "name": s.status_name,
                           "detailText": s.status_detail_text, "final": s.is_final},
                "date": s.date,
                "dateUtc": s.date_utc,
                "place": s.place,
                "courierStatus": s.courier_status,
                "eventId": s.event_id,
            },
            "stuck": {
                "reason": self.reason,
                "since": s.date_utc,
                "days": days,
                "thresholdDays": self.threshold_days,
                "checkedAt": self.checked_at,
            },
            "receivedAt": s.received_at,
        });
        let why = match self.reason {
            Reason::Stock => format!(
                "It has been held in stock for more than {} days: couriers return a parcel in \
                 stock to the sender after a few days unless someone acts.",
                self.threshold_days
            ),
            Reason::Unchanged => format!(
                "Its status has not changed for more than {} days.",
                self.threshold_days
            ),
        };
        let email_body = format!(
            "Shipment {tracking} ({courier}) has been {status} for {days} days.\n{why}\n\n\
             Status:     {status}\n\
             Since:      {since} ({tz})\n\
             Place:      {place}\n\
             Courier:    {courier}\n\
             Tracking:   {tracking}\n\
             Order:      {reference}\n\
             Channel:    {channel}\n\n\
             Alert id: {id}\n",
            tracking = s.tracking_number,
            courier = s.courier,
            status = s.status_name,
            channel = s.channel,
            tz = notifier.timezone.name(),
        );
        let mut attributes = vec![
            (attr::EVENT, EventType::Stuck.as_str().to_owned()),
            (attr::STATUS_ID, s.status_id.to_string()),
            (attr::SEVERITY, Severity::Warning.as_str().to_owned()),
            (attr::COURIER, s.courier.clone()),
            (attr::CHANNEL, s.channel.clone()),
            (attr::RETURN, s.is_return.to_string()),
        ];
        if let Some(d) = s.status_detail {
            attributes.push((attr::STATUS_DETAIL, d.to_string()));
        }
        Notice {
            event: EventType::Stuck,
            id: format!("{}:{id}", EventType::Stuck.as_str()),
            attributes,
            document,
            email_subject: ascii_line(
                &format!(
                    "Stuck {days} days: {} {} {}",
                    s.status_name, s.courier, s.tracking_number
                ),
                99,
            ),
            email_body,
            sms: sms(&format!(
                "{}: {} {} {} for {days} days since {since} - {place} - ord. {reference}",
                s.channel, s.courier, s.tracking_number, s.status_name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::kind::Kind;
    use crate::notify::SMS_MAX_CHARS;
    use crate::store::{MemoryArchive, MemoryStore};
    use crate::stuck::rule::{check, StuckRule, Verdict};
    use crate::table::STATE;
    use crate::testing::{at, deliver};
    use crate::webhook::Webhook;

    fn notifier() -> Notifier {
        Notifier {
            alerts: crate::notify::AlertRule::default(),
            timezone: crate::dates::zone("Europe/Rome").expect("zone"),
            personal_data: false,
        }
    }

    /// The demo shipment held in stock since 2 March 2026, 09:41:07 in Rome, checked at `now`.
    fn episode(now: &str) -> Episode {
        let hook = Webhook::new(
            Kind::Shipment,
            fixtures::demo_config("t").settings,
            MemoryStore::new(),
            MemoryArchive::default(),
        );
        deliver(&hook, "JD0146000031", "2026-03-02 09:41:07", 6, Some(1));
        let state = hook
            .store
            .items()
            .into_values()
            .find(|i| i["sk"] == STATE)
            .expect("state");
        match check(&state, &StuckRule::default(), at(now)) {
            Ok(Verdict::Stuck(episode)) => *episode,
            other => panic!("not stuck: {other:?}"),
        }
    }

    fn attribute<'a>(n: &'a Notice, name: &str) -> Option<&'a str> {
        n.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn stuck_notice_is_a_warning_with_the_attributes_of_a_status_change() {
        let episode = episode("2026-03-05T10:41:07Z");
        assert_eq!(
            (episode.reason, episode.threshold_days, episode.age_seconds),
            (Reason::Stock, 2, 3 * 86_400 + 7_200)
        );
        let n = episode.notice(&notifier());
        assert_eq!(n.event, EventType::Stuck);
        assert_eq!(attribute(&n, attr::EVENT), Some("shipment.stuck"));
        assert_eq!(attribute(&n, attr::SEVERITY), Some("warning"));
        assert_eq!(attribute(&n, attr::STATUS_ID), Some("6"));
        assert_eq!(attribute(&n, attr::STATUS_DETAIL), Some("1"));
        assert_eq!(attribute(&n, attr::COURIER), Some("DHL"));
        assert_eq!(attribute(&n, attr::CHANNEL), Some("shop-it"));
        assert_eq!(attribute(&n, attr::RETURN), Some("false"));
        assert!(n.attributes.iter().all(|(k, _)| attr::ALL.contains(k)));
        assert_eq!(n.document["schema"], SCHEMA);
        assert_eq!(n.document["event"], "shipment.stuck");
        assert_eq!(n.document["id"], json!(episode.id()));
        assert_ne!(
            n.document["id"],
            json!(episode.state.event_id),
            "not the status change's id"
        );
        assert_eq!(
            n.document["stuck"],
            json!({"reason": "stock", "since": "2026-03-02T08:41:07Z", "days": 3,
                   "thresholdDays": 2, "checkedAt": "2026-03-05T10:41:07Z"})
        );
        assert_eq!(
            n.document["shipment"]["status"]["name"],
            "EXCEPTION / STOCK"
        );
        assert_eq!(
            n.email_subject,
            "Stuck 3 days: EXCEPTION / STOCK DHL JD0146000031"
        );
        assert!(n.email_body.contains("held in stock for more than 2 days"));
        assert!(n
            .email_body
            .contains("Since:      02/03/2026 09:41 (Europe/Rome)"));
        assert!(n.sms.chars().count() <= SMS_MAX_CHARS, "{}", n.sms);
        assert!(n.sms.contains("JD0146000031") && n.sms.contains("3 days"));
    }
}
