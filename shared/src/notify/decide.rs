//! Does a change of a table item notify, and what? A Qapla' rule over table items: a shipment
//! whose status or detail really changed, a return that is new or changed, an order that is new or
//! changed. History items (a shipment's, the versions of a return or order), duplicates and
//! deletions (TTL expiry) notify nothing.

use crate::table::{self, ItemKind, OrderItem, ReturnItem, ShipmentState};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A change that calls for a notification, with the items it is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Status {
        old: Option<Box<ShipmentState>>,
        new: Box<ShipmentState>,
    },
    Return(ReturnItem),
    Order(OrderItem),
}

/// An item image that is not the item its keys say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable {kind:?} image: {reason}")]
pub struct BadImage {
    pub kind: ItemKind,
    pub reason: String,
}

/// Decides from an item's images before and after a write (as JSON objects, absent where the item
/// did not exist or no longer does) whether the change notifies.
pub fn decide(old: Option<&Value>, new: Option<&Value>) -> Result<Option<Change>, BadImage> {
    let Some(new) = new else {
        return Ok(None);
    };
    let key = |name: &str| new.get(name).and_then(Value::as_str).unwrap_or_default();
    let Some(kind) = ItemKind::of(key(table::PK), key(table::SK)) else {
        return Ok(None);
    };
    let change = match kind {
        // History: the change it records notifies through the current item, if at all.
        ItemKind::ShipmentHistory | ItemKind::DocumentVersion => None,
        ItemKind::ShipmentState => {
            let new: ShipmentState = read(kind, new)?;
            let old: Option<ShipmentState> = old.map(|o| read(kind, o)).transpose()?;
            let changed = old.as_ref().is_none_or(|o| {
                o.status_id != new.status_id || o.status_detail != new.status_detail
            });
            changed.then(|| Change::Status {
                old: old.map(Box::new),
                new: Box::new(new),
            })
        }
        ItemKind::Return => {
            let new: ReturnItem = read(kind, new)?;
            let old: Option<ReturnItem> = old.map(|o| read(kind, o)).transpose()?;
            content_changed(old.map(|o| o.event_id), &new.event_id).then_some(Change::Return(new))
        }
        ItemKind::Order => {
            let new: OrderItem = read(kind, new)?;
            let old: Option<OrderItem> = old.map(|o| read(kind, o)).transpose()?;
            content_changed(old.map(|o| o.event_id), &new.event_id).then_some(Change::Order(new))
        }
    };
    Ok(change)
}

fn content_changed(old: Option<crate::identity::EventId>, new: &crate::identity::EventId) -> bool {
    old.as_ref() != Some(new)
}

fn read<T: DeserializeOwned>(kind: ItemKind, image: &Value) -> Result<T, BadImage> {
    serde_path_to_error::deserialize::<_, T>(image).map_err(|e| BadImage {
        kind,
        reason: format!(
            "{}: {}",
            crate::model::path("item", &e),
            crate::model::shape_only(&e.inner().to_string())
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, Fixture};
    use crate::store::{MemoryArchive, MemoryStore};
    use crate::testing::{post, run, webhook};
    use serde_json::json;

    /// The items a fixture writes, each with the image it replaced.
    fn write(
        hook: &crate::webhook::Webhook<MemoryStore, MemoryArchive>,
        f: &Fixture,
    ) -> Vec<(Option<Value>, Value)> {
        let before = hook.store.items();
        run(hook.handle(post(f.bytes())));
        hook.store
            .items()
            .into_iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .map(|(k, v)| (before.get(&k).cloned(), v))
            .collect()
    }

    fn decided(changes: &[(Option<Value>, Value)]) -> Vec<Change> {
        changes
            .iter()
            .filter_map(|(old, new)| decide(old.as_ref(), Some(new)).expect("readable"))
            .collect()
    }

    #[test]
    fn a_new_shipment_notifies_once_and_a_redelivery_not_at_all() {
        let hook = webhook(crate::kind::Kind::Shipment);
        let first = decided(&write(&hook, &fixtures::SHIPMENT_IN_TRANSIT));
        assert!(
            matches!(first.as_slice(), [Change::Status { old: None, .. }]),
            "{first:?}"
        );
        assert!(decided(&write(&hook, &fixtures::SHIPMENT_IN_TRANSIT)).is_empty());
        let next = decided(&write(&hook, &fixtures::SHIPMENT_EXCEPTION_STOCK));
        match next.as_slice() {
            [Change::Status {
                old: Some(old),
                new,
            }] => {
                assert_eq!(
                    (old.status_id, new.status_id, new.status_detail),
                    (3, 6, Some(1))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn same_status_at_a_later_time_does_not_notify() {
        let hook = webhook(crate::kind::Kind::Shipment);
        write(&hook, &fixtures::SHIPMENT_EXCEPTION_STOCK);
        let mut later = fixtures::SHIPMENT_EXCEPTION_STOCK.json();
        later["date"] = json!("2026-03-02 18:00:00");
        later["place"] = json!("MODENA");
        let before = hook.store.items();
        run(hook.handle(post(later.to_string().as_bytes())));
        let state = hook
            .store
            .items()
            .into_iter()
            .find(|((_, sk), _)| sk == table::STATE)
            .expect("state");
        let old = before.get(&state.0).cloned();
        assert_ne!(old.as_ref(), Some(&state.1), "the state moved");
        assert_eq!(decide(old.as_ref(), Some(&state.1)), Ok(None));
    }

    #[test]
    fn returns_and_orders_notify_when_new_or_changed() {
        for (kind, f) in [
            (crate::kind::Kind::Return, fixtures::RETURNS_WRAPPED),
            (crate::kind::Kind::Order, fixtures::ORDERS),
        ] {
            let hook = webhook(kind);
            let first = decided(&write(&hook, &f));
            assert!(!first.is_empty(), "{}", f.name);
            assert!(first
                .iter()
                .all(|c| matches!(c, Change::Return(_) | Change::Order(_))));
            let items = hook.store.items();
            for item in items.values() {
                assert_eq!(decide(Some(item), Some(item)), Ok(None), "{}", f.name);
            }
        }
    }

    #[test]
    fn history_items_deletions_and_foreign_keys_notify_nothing() {
        let hook = webhook(crate::kind::Kind::Shipment);
        let changes = write(&hook, &fixtures::SHIPMENT_DELIVERED_1_3);
        let history = changes
            .iter()
            .find(|(_, v)| {
                v[table::SK]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with(table::EVENT_PREFIX))
            })
            .expect("history item");
        assert_eq!(decide(None, Some(&history.1)), Ok(None));
        assert_eq!(decide(Some(&history.1), None), Ok(None));
        let foreign = json!({"pk": "CHECKPOINT#shop-it", "sk": "STATE"});
        assert_eq!(decide(None, Some(&foreign)), Ok(None));
    }

    #[test]
    fn versions_and_late_older_versions_notify_nothing() {
        let mut later_return = fixtures::RETURNS_FLAT.json();
        later_return["returnShipments"][0]["date"] = json!("2026-03-12 09:15:00");
        let mut earlier_orders = fixtures::ORDERS.json();
        for o in earlier_orders["orders"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            o["shipDate"] = json!("2026-02-28 10:00:00");
        }
        let cases = [
            (
                crate::kind::Kind::Return,
                later_return,
                fixtures::RETURNS_FLAT.json(),
            ),
            (
                crate::kind::Kind::Order,
                fixtures::ORDERS.json(),
                earlier_orders,
            ),
        ];
        for (kind, newer, older) in cases {
            let hook = webhook(kind);
            let deliver = |body: &Value| {
                let before = hook.store.items();
                let answer = run(hook.handle(post(body.to_string().as_bytes())));
                let changes: Vec<(Option<Value>, Value)> = hook
                    .store
                    .items()
                    .into_iter()
                    .filter(|(k, v)| before.get(k) != Some(v))
                    .map(|(k, v)| (before.get(&k).cloned(), v))
                    .collect();
                (answer.outcome, changes)
            };
            let (outcome, first) = deliver(&newer);
            assert_eq!(outcome, "stored");
            let (states, versions): (Vec<_>, Vec<_>) = first
                .iter()
                .partition(|(_, v)| v[table::SK] == table::STATE);
            assert_eq!(states.len(), versions.len(), "{kind:?}: a version each");
            for (old, new) in versions {
                assert_eq!(decide(old.as_ref(), Some(new)), Ok(None), "{kind:?}");
            }
            assert_eq!(decided(&first).len(), states.len(), "{kind:?}");
            let (outcome, late) = deliver(&older);
            assert_eq!(outcome, "stale", "{kind:?}");
            assert!(late.iter().all(|(old, new)| old.is_none()
                && new[table::SK]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with(table::VERSION_PREFIX))));
            assert!(decided(&late).is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn an_unreadable_image_is_an_error_naming_its_kind() {
        let bad = json!({"pk": "SHIPMENT#shop-it#DHL#X", "sk": "STATE", "statusId": "six"});
        let err = decide(None, Some(&bad)).expect_err("unreadable");
        assert_eq!(err.kind, ItemKind::ShipmentState);
    }
}
