//! Recording a shipment status change, whatever path brought it: the webhook and the recovery
//! over Qapla's API both go through [`shipment`], so a change seen both ways is one history item
//! (its identity is [`crate::identity::EventId::of_change`]) and moves the state at most once.

use crate::archive;
use crate::auth::Channel;
use crate::model::shipment::ShipmentEvent;
use crate::store::{Recorded, Store, StoreError};
use crate::table::{ShipmentHistory, ShipmentState, Source};
use chrono::{DateTime, Utc};

/// Records one status change: its history item (kept `history_days`; a payload too large for the
/// item goes to the archive first) and, if newer, the state.
pub async fn shipment<S: Store>(
    store: &S,
    channel: &Channel,
    ev: &ShipmentEvent<'_>,
    source: Source,
    now: DateTime<Utc>,
    history_days: u32,
) -> Result<Recorded, StoreError> {
    let state = ShipmentState::new(channel, ev, source, now);
    let expires = now.timestamp() + i64::from(history_days) * 86_400;
    let mut history = ShipmentHistory::new(&state, ev, expires);
    if let Some(offload) = archive::fit(&mut history) {
        // Before the item that points at it; a retry writes the same object again.
        store.keep(&offload.key, offload.bytes).await?;
    }
    store.record_shipment(&state, &history).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::store::MemoryStore;
    use crate::webhook::tests::run;
    use serde_json::{json, Value};

    fn event(body: Value) -> ShipmentEvent<'static> {
        crate::model::shipment::validate(
            body.as_object().cloned().unwrap_or_default(),
            crate::dates::rome(),
        )
        .expect("valid")
    }

    fn channel() -> Channel {
        let channels = crate::auth::Channels::parse(&fixtures::demo_channels()).expect("demo");
        channels.get(fixtures::DEMO_CHANNEL).expect("demo").clone()
    }

    #[test]
    fn the_same_change_in_another_shape_is_a_duplicate() {
        let store = MemoryStore::new();
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        let mut other = body.clone();
        // Another path says the same change in other words: labels, courier text, flags, extras.
        other["qaplaStatus"] = json!("ECCEZIONE");
        other["courierStatus"] = json!("HELD");
        other["place"] = json!("Bologna");
        other["statusDetails"] = json!([{"id": "1", "detail": "GIACENZA"}]);
        other["return"] = json!(false);
        other["fromApi"] = json!(true);
        let now = Utc::now();
        let first = run(shipment(
            &store,
            &channel(),
            &event(body.clone()),
            Source::Webhook,
            now,
            1,
        ));
        let again = run(shipment(
            &store,
            &channel(),
            &event(body),
            Source::Webhook,
            now,
            1,
        ));
        let other = run(shipment(
            &store,
            &channel(),
            &event(other),
            Source::Api,
            now,
            1,
        ));
        assert_eq!(first, Ok(Recorded::Stored));
        assert_eq!(again, Ok(Recorded::Duplicate));
        assert_eq!(other, Ok(Recorded::Duplicate));
        let items = store.items();
        assert_eq!(items.len(), 2, "one state, one history item");
        assert!(items.values().all(|v| v["source"] == json!("webhook")));
    }

    #[test]
    fn another_time_or_detail_is_another_change() {
        let store = MemoryStore::new();
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        let mut later = body.clone();
        later["date"] = json!("2026-03-02 09:41:08");
        let mut detail = body.clone();
        detail["statusDetails"] = json!([{"id": 2, "detail": "RETURN"}]);
        let now = Utc::now();
        for (b, source) in [
            (body, Source::Webhook),
            (later, Source::Api),
            (detail, Source::Api),
        ] {
            let got = run(shipment(&store, &channel(), &event(b), source, now, 1));
            assert_ne!(got, Ok(Recorded::Duplicate));
        }
        let history = store
            .items()
            .into_iter()
            .filter(|((_, sk), _)| sk.starts_with(crate::table::EVENT_PREFIX))
            .count();
        assert_eq!(history, 3);
    }

    #[test]
    fn items_written_before_sources_were_recorded_still_read() {
        let body = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        let state = ShipmentState::new(&channel(), &event(body), Source::Webhook, Utc::now());
        let mut old = serde_json::to_value(&state).expect("json");
        old.as_object_mut().map(|m| m.remove("source"));
        let read: ShipmentState = serde_json::from_value(old).expect("an old item reads");
        assert_eq!(read.source, None);
    }
}
