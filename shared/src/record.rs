//! Recording a shipment status change, whatever path brought it: the webhook and the recovery
//! over Qapla's API both go through [`shipment`], so a change seen both ways is one history item
//! (its identity is [`crate::identity::EventId::of_change`]) and moves the state at most once.

use crate::archive;
use crate::auth::Channel;
use crate::model::shipment::ShipmentEvent;
use crate::store::{Archive, Recorded, Store, StoreError};
use crate::table::{ShipmentHistory, ShipmentState, Source};
use chrono::{DateTime, Utc};

/// Records one status change: its history item (kept `history_days`; a payload too large for the
/// item goes to `archive` first) and, if newer, the state.
pub async fn shipment<S: Store, A: Archive>(
    store: &S,
    archive: &A,
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
        archive.put(&offload.key, offload.bytes).await?;
    }
    store.record_shipment(&state, &history).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::store::{MemoryArchive, MemoryStore};
    use crate::testing::run;
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
            &MemoryArchive::default(),
            &channel(),
            &event(body.clone()),
            Source::Webhook,
            now,
            1,
        ));
        let again = run(shipment(
            &store,
            &MemoryArchive::default(),
            &channel(),
            &event(body),
            Source::Webhook,
            now,
            1,
        ));
        let other = run(shipment(
            &store,
            &MemoryArchive::default(),
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

    /// A payload moved to the archive is never replaced by other content: a "duplicate" of the
    /// recorded change with other large content leaves the recorded one's payload as it was.
    #[test]
    fn a_duplicate_with_other_content_leaves_the_archived_payload() {
        let store = MemoryStore::new();
        let archive = MemoryArchive::default();
        let first = fixtures::large_shipment(900 * 1024, true);
        let mut other = first.clone();
        other["rows"][0]["notes"] = json!("other content, same change");
        let now = Utc::now();
        for (body, expected) in [(&first, Recorded::Stored), (&other, Recorded::Duplicate)] {
            let got = run(shipment(
                &store,
                &archive,
                &channel(),
                &event(body.clone()),
                Source::Webhook,
                now,
                1,
            ));
            assert_eq!(got, Ok(expected));
        }
        let item = store
            .items()
            .into_values()
            .find(|i| {
                i[crate::table::SK]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with(crate::table::EVENT_PREFIX))
            })
            .expect("a history item");
        assert!(item.get(crate::table::PAYLOAD_REF).is_some(), "moved out");
        let whole = run(archive::full_payload(&item, &archive)).expect("read back");
        let mut sent = first.clone();
        sent.as_object_mut().map(|m| m.remove("apiKey"));
        assert_eq!(whole["rows"], sent["rows"], "the recorded change's payload");
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
            let got = run(shipment(
                &store,
                &MemoryArchive::default(),
                &channel(),
                &event(b),
                source,
                now,
                1,
            ));
            assert_ne!(got, Ok(Recorded::Duplicate));
        }
        let history = store
            .items()
            .into_iter()
            .filter(|((_, sk), _)| sk.starts_with(crate::table::EVENT_PREFIX))
            .count();
        assert_eq!(history, 3);
    }

    /// The answer Qapla's API would give for the shipment of a webhook body, at that status.
    fn api_answer(body: &Value) -> crate::recover::api::ApiShipment {
        let detail = body.pointer("/statusDetails/0");
        let status = json!({
            "dateISO": body["date"], "status": body["courierStatus"], "place": body["place"],
            "qaplaStatus": {
                "id": body["qaplaStatusID"], "status": body["qaplaStatus"],
                "detailID": detail.map_or(json!(0), |d| d["id"].clone()),
                "detail": detail.map(|d| d["detail"].clone()),
            },
        });
        serde_json::from_value(json!({
            "trackingNumber": body["trackingNumber"], "courier": body["courier"],
            "reference": body["reference"], "isReturnShipment": body["return"],
            "isChild": body["isChild"], "hasChildren": body["hasChildren"], "status": status,
        }))
        .expect("an API shipment")
    }

    fn state_in(store: &MemoryStore) -> ShipmentState {
        let state = store
            .items()
            .into_values()
            .find(|i| i[crate::table::SK] == json!(crate::table::STATE))
            .expect("a state");
        serde_json::from_value(state).expect("a state item")
    }

    /// The point of the one projection: every field a change holds reaches the state the same
    /// way by the webhook, by replay (the past states rebuilt from the history) and by the
    /// reconciler. Each shipment fixture alone, then the changes of one shipment in a row whose
    /// first carries another reference and the return flag, so a past state that copied the
    /// present one's fields would show.
    #[test]
    fn every_path_projects_a_change_to_the_same_state() {
        let shipments = fixtures::ALL
            .into_iter()
            .filter(|f| f.kind == crate::Kind::Shipment);
        let mut runs: Vec<Vec<Value>> = shipments.map(|f| vec![f.json()]).collect();
        let mut earlier = fixtures::SHIPMENT_IN_TRANSIT.json();
        earlier["reference"] = json!("ORD-EARLIER");
        earlier["return"] = json!(1);
        runs.push(vec![
            earlier,
            fixtures::SHIPMENT_EXCEPTION_STOCK.json(),
            fixtures::SHIPMENT_DELIVERED_1_3.json(),
        ]);
        let start = crate::testing::received();
        for bodies in runs {
            let (by_webhook, by_api) = (MemoryStore::new(), MemoryStore::new());
            let mut states = Vec::new();
            for (i, body) in bodies.iter().enumerate() {
                // A second apart, so the replay walks them in this order.
                let now = start + chrono::Duration::seconds(i64::try_from(i).unwrap_or(0));
                let ev = event(body.clone());
                let got = run(shipment(
                    &by_webhook,
                    &MemoryArchive::default(),
                    &channel(),
                    &ev,
                    Source::Webhook,
                    now,
                    9,
                ));
                assert_eq!(got, Ok(Recorded::Stored), "{body}");
                let state = state_in(&by_webhook);
                states.push(state.clone());

                let (events, refused) = api_answer(body).events(crate::dates::rome());
                assert_eq!((events.len(), refused), (1, vec![]), "{body}");
                let got = run(shipment(
                    &by_api,
                    &MemoryArchive::default(),
                    &channel(),
                    &events[0],
                    Source::Api,
                    now,
                    9,
                ));
                assert_eq!(got, Ok(Recorded::Stored), "{body}");
                let api = state_in(&by_api);
                // The API's answers hold no 1.3 blocks: a 1.3 body's version is the webhook's.
                let version = match ev.version {
                    crate::model::shipment::Version::V1_3 => api.version.clone(),
                    crate::model::shipment::Version::V1_2 => state.version.clone(),
                };
                let expected = ShipmentState {
                    source: Some(Source::Api),
                    version,
                    ..state
                };
                assert_eq!(api, expected, "by the reconciler: {body}");
            }
            let items: Vec<Value> = by_webhook.items().into_values().collect();
            let replayed: Vec<ShipmentState> = crate::read::replay(&items, "0", "9")
                .expect("readable")
                .into_iter()
                .filter_map(|r| match r.change {
                    crate::notify::Change::Status { new, .. } => Some(*new),
                    _ => None,
                })
                .collect();
            assert_eq!(replayed, states, "by replay");
        }
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
