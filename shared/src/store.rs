//! The two storage ports, each with its memory twin here and its AWS adapter in `aws/`:
//! [`Store`] records deliveries in the table (DynamoDB); [`Archive`] keeps whole objects by key
//! (S3: the quarantine, the inbox, payloads too large for an item). The table's rules, which
//! both stores keep:
//! - a history item per distinct event (a redelivery adds nothing: `Duplicate`);
//! - the shipment state moves only forward in `ord` (an older event is history only: `Stale`);
//! - each distinct version of a return or order gets a version item (a redelivery adds nothing:
//!   `Duplicate`), and its current item moves only forward in `ord` (an older version is a
//!   version only: `Stale`);
//! - a delivery is written whole or not at all.

use crate::table::{self, Document, ShipmentHistory, ShipmentState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New: written.
    Stored,
    /// Already recorded: nothing written.
    Duplicate,
    /// Older than the shipment's state, or than the return's or order's current item: history
    /// (or version) written, state kept.
    Stale,
}

/// What recording returns or orders did, from whether any became the current item (`stored`)
/// and whether any was kept as an older version only (`stale`): the same for every store.
pub fn documents_recorded(stored: bool, stale: bool) -> Recorded {
    match (stored, stale) {
        (true, _) => Recorded::Stored,
        (false, true) => Recorded::Stale,
        (false, false) => Recorded::Duplicate,
    }
}

impl Recorded {
    pub fn as_str(self) -> &'static str {
        match self {
            Recorded::Stored => "stored",
            Recorded::Duplicate => "duplicate",
            Recorded::Stale => "stale",
        }
    }
}

/// The store could not record the delivery, classified once (by the adapter, from the store's
/// own error codes) by whether a retry can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, throttled, or in conflict with a concurrent write: a retry can succeed.
    #[error("store unavailable: {0}")]
    Retryable(String),
    /// The store refused the items themselves: the same write fails again whenever it is retried.
    #[error("store refused the items: {0}")]
    Refused(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Retryable(_))
    }
}

/// Records deliveries.
pub trait Store: Send + Sync {
    /// Records a shipment event: its history item and, if newer, the state.
    fn record_shipment(
        &self,
        state: &ShipmentState,
        history: &ShipmentHistory,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Records returns or orders, each with its version item, all or nothing: `Stored` if any
    /// became the current item, else `Stale` if any was a new but older version, else
    /// `Duplicate` ([`documents_recorded`]).
    fn record_documents(
        &self,
        documents: &[Document],
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Whether the table answers at all (one cheap read): the drain asks after a delivery fails,
    /// so that it stops for an outage but not for one delivery's own failure.
    fn answers(&self) -> impl Future<Output = bool> + Send;
}

/// Where whole payloads and quarantined deliveries are kept.
pub trait Archive: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there (keys are content ids: the same key
    /// always holds the same bytes).
    fn put(&self, key: &str, bytes: Vec<u8>)
        -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The bytes under `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// The objects whose keys start with `prefix`, in key order, at most `limit`.
    fn list(
        &self,
        prefix: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Listed>, StoreError>> + Send;

    /// Removes the object under `key`; nothing if there is none.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// No archive where none is configured (a local table without a bucket, the recovery): a put is
/// refused, so what needed the archive is refused with its reason; nothing is there to read.
impl<A: Archive> Archive for Option<A> {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Some(archive) => archive.put(key, bytes).await,
            None => Err(StoreError::Refused(
                "no archive bucket is configured".into(),
            )),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Some(archive) => archive.get(key).await,
            None => Ok(None),
        }
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        match self {
            Some(archive) => archive.list(prefix, limit).await,
            None => Ok(Vec::new()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Some(archive) => archive.delete(key).await,
            None => Ok(()),
        }
    }
}

/// An object of the archive, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// When it was last written, where the archive says.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// An object's bytes and when they were put.
type Object = (Vec<u8>, chrono::DateTime<chrono::Utc>);

/// An archive in memory, for tests and the benchmarks.
#[derive(Debug, Default)]
pub struct MemoryArchive {
    objects: Mutex<BTreeMap<String, Object>>,
    down: Mutex<bool>,
}

impl MemoryArchive {
    /// Every object, by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.objects)
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// Makes every call fail as an unreachable bucket would, until set back.
    pub fn set_down(&self, down: bool) {
        *lock(&self.down) = down;
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if *lock(&self.down) {
            Err(StoreError::Retryable("memory archive set down".into()))
        } else {
            Ok(())
        }
    }
}

impl Archive for MemoryArchive {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.check_up()?;
        lock(&self.objects).insert(key.to_owned(), (bytes, chrono::Utc::now()));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_up()?;
        Ok(lock(&self.objects).get(key).map(|(v, _)| v.clone()))
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check_up()?;
        Ok(lock(&self.objects)
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, (_, at))| Listed {
                key: k.clone(),
                modified: Some(*at),
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check_up()?;
        lock(&self.objects).remove(key);
        Ok(())
    }
}

/// A store in memory with the same rules as the table: for tests and the benchmarks.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), Value>>,
    down: Mutex<bool>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail as an unreachable table would, until set back.
    pub fn set_down(&self, down: bool) {
        *lock(&self.down) = down;
    }

    /// Every item, keyed by (pk, sk).
    pub fn items(&self) -> BTreeMap<(String, String), Value> {
        lock(&self.items).clone()
    }

    /// The items under the lock, for the memory twins of other ports over the same table.
    pub(crate) fn with_items<R>(
        &self,
        f: impl FnOnce(&mut BTreeMap<(String, String), Value>) -> R,
    ) -> R {
        f(&mut lock(&self.items))
    }

    /// Applies `change` to the item under `(pk, sk)`, if there is one, under the lock, as a
    /// conditional update applies or not as a whole; whether `change` changed it.
    pub fn update_if(
        &self,
        pk: &str,
        sk: &str,
        change: impl FnOnce(&mut Value) -> bool,
    ) -> Result<bool, StoreError> {
        self.check_up()?;
        let mut items = lock(&self.items);
        Ok(items
            .get_mut(&(pk.to_owned(), sk.to_owned()))
            .is_some_and(change))
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if *lock(&self.down) {
            Err(StoreError::Retryable("memory store set down".into()))
        } else {
            Ok(())
        }
    }
}

/// Locks a memory twin's data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An item as JSON, refused as DynamoDB would refuse it when over the item size limit (its JSON
/// length stands in for DynamoDB's own measure).
fn to_value<T: serde::Serialize>(item: &T) -> Result<Value, StoreError> {
    let json = serde_json::to_vec(item).map_err(|e| StoreError::Refused(e.to_string()))?;
    if json.len() > crate::limits::MAX_ITEM {
        return Err(StoreError::Refused(
            "ValidationException: item over the size limit".into(),
        ));
    }
    serde_json::from_slice(&json).map_err(|e| StoreError::Refused(e.to_string()))
}

fn document_value(doc: &Document) -> Result<Value, StoreError> {
    match doc {
        Document::Return(r) => to_value(r),
        Document::Order(o) => to_value(o),
    }
}

impl Store for MemoryStore {
    async fn record_shipment(
        &self,
        state: &ShipmentState,
        history: &ShipmentHistory,
    ) -> Result<Recorded, StoreError> {
        self.check_up()?;
        let mut items = lock(&self.items);
        let history_key = (history.pk.clone(), history.sk.clone());
        if items.contains_key(&history_key) {
            return Ok(Recorded::Duplicate);
        }
        let state_key = (state.pk.clone(), state.sk.clone());
        let newer = items
            .get(&state_key)
            .and_then(|s| s.get(table::ORD))
            .and_then(Value::as_str)
            .is_none_or(|stored| stored < state.ord.as_str());
        let (history, state) = (to_value(history)?, to_value(state)?);
        items.insert(history_key, history);
        if newer {
            items.insert(state_key, state);
            Ok(Recorded::Stored)
        } else {
            Ok(Recorded::Stale)
        }
    }

    async fn record_documents(&self, documents: &[Document]) -> Result<Recorded, StoreError> {
        self.check_up()?;
        let mut items = lock(&self.items);
        let (mut stored, mut stale) = (false, false);
        // Every item is checked before any is written: all or nothing, as a transaction.
        let mut writes = Vec::new();
        for doc in documents {
            let version = doc.version();
            let version_key = (version.pk().to_owned(), version.sk().to_owned());
            if items.contains_key(&version_key) {
                continue;
            }
            writes.push((version_key, document_value(&version)?));
            let key = (doc.pk().to_owned(), table::STATE.to_owned());
            let current = items
                .get(&key)
                .and_then(|v| v.get(table::ORD))
                .and_then(Value::as_str);
            if table::supersedes(current, doc.ord()) {
                writes.push((key, document_value(doc)?));
                stored = true;
            } else {
                stale = true;
            }
        }
        items.extend(writes);
        Ok(documents_recorded(stored, stale))
    }

    async fn answers(&self) -> bool {
        self.check_up().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::OrderTrigger::{Created, Transmitted};
    use crate::testing::run;
    use crate::testing::{a_return, an_order, received};
    use serde_json::json;

    type Items = BTreeMap<(String, String), Value>;

    fn versions(items: &Items) -> usize {
        items
            .keys()
            .filter(|(_, sk)| sk.starts_with(table::VERSION_PREFIX))
            .count()
    }

    fn current<'a>(items: &'a Items, doc: &Document) -> &'a Value {
        &items[&(doc.pk().to_owned(), table::STATE.to_owned())]
    }

    #[test]
    fn documents_recorded_by_what_they_did() {
        let cases = [
            (true, false, Recorded::Stored),
            (true, true, Recorded::Stored),
            (false, true, Recorded::Stale),
            (false, false, Recorded::Duplicate),
        ];
        for (stored, stale, want) in cases {
            assert_eq!(documents_recorded(stored, stale), want, "{stored} {stale}");
        }
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one_and_every_version_is_kept() {
        let at = received();
        let ret = |patch: Value| a_return(patch, at);
        let later = json!({"date": "2026-03-12 09:15:00"});
        let order = |t, patch: Value| an_order(t, patch, at);
        // The second document's answer, which is current after both, how many versions.
        type Case = (&'static str, Document, Document, Recorded, usize, usize);
        let cases: Vec<Case> = vec![
            (
                "return, newer",
                ret(json!({})),
                ret(later.clone()),
                Recorded::Stored,
                1,
                2,
            ),
            (
                "return, older",
                ret(later.clone()),
                ret(json!({})),
                Recorded::Stale,
                0,
                2,
            ),
            (
                "return, redelivered",
                ret(json!({})),
                ret(json!({})),
                Recorded::Duplicate,
                0,
                1,
            ),
            (
                "order, transmitted then a late created",
                order(Transmitted, json!({})),
                order(Created, json!({})),
                Recorded::Stale,
                0,
                2,
            ),
            (
                "order, created then transmitted",
                order(Created, json!({})),
                order(Transmitted, json!({})),
                Recorded::Stored,
                1,
                2,
            ),
            (
                "order, redelivered",
                order(Created, json!({})),
                order(Created, json!({})),
                Recorded::Duplicate,
                0,
                1,
            ),
        ];
        for (name, first, second, want, winner, count) in cases {
            let store = MemoryStore::new();
            assert_eq!(
                run(store.record_documents(std::slice::from_ref(&first))),
                Ok(Recorded::Stored),
                "{name}"
            );
            let got = run(store.record_documents(std::slice::from_ref(&second)));
            assert_eq!(got, Ok(want), "{name}");
            let items = store.items();
            let expected = [&first, &second][winner];
            assert_eq!(
                current(&items, expected)[table::EVENT_ID],
                json!(expected.event_id()),
                "{name}"
            );
            assert_eq!(versions(&items), count, "{name}");
            assert_eq!(items.len(), count + 1, "{name}");
            // A redelivery of either adds nothing.
            for doc in [&first, &second] {
                let again = run(store.record_documents(std::slice::from_ref(doc)));
                assert_eq!(again, Ok(Recorded::Duplicate), "{name}");
            }
            assert_eq!(store.items(), items, "{name}");
        }
    }

    #[test]
    fn a_tie_ends_the_same_whatever_the_arrival_order() {
        let at = received();
        for (a, b) in [
            (
                a_return(json!({}), at),
                a_return(json!({"weight": 2.5}), at),
            ),
            (
                an_order(Created, json!({}), at),
                an_order(Created, json!({"trackingNumber": "JD0146000099"}), at),
            ),
        ] {
            let ends: Vec<(Vec<Recorded>, Items)> = [[&a, &b], [&b, &a]]
                .into_iter()
                .map(|order| {
                    let store = MemoryStore::new();
                    let answers = order
                        .iter()
                        .map(|d| run(store.record_documents(std::slice::from_ref(*d))))
                        .collect::<Result<Vec<_>, _>>()
                        .expect("recorded");
                    (answers, store.items())
                })
                .collect();
            assert_eq!(ends[0].1, ends[1].1, "the same table either way");
            assert_eq!(versions(&ends[0].1), 2);
            // One arrival order moved the current item twice, the other once.
            let mut seconds = vec![ends[0].0[1], ends[1].0[1]];
            seconds.sort_by_key(|r| r.as_str());
            assert_eq!(seconds, [Recorded::Stale, Recorded::Stored]);
        }
    }

    #[test]
    fn an_item_written_before_versions_were_ordered_is_older_than_any_version() {
        let at = received();
        let doc = a_return(json!({"date": "2026-03-12 09:15:00"}), at);
        let earlier = a_return(json!({}), at);
        for (name, arriving, want) in [
            ("the same content", &doc, Recorded::Stored),
            ("an earlier date", &earlier, Recorded::Stored),
        ] {
            let store = MemoryStore::new();
            run(store.record_documents(std::slice::from_ref(&doc))).expect("recorded");
            // As the item was before: no order key, no version.
            store.with_items(|items| {
                items.retain(|(_, sk), _| sk == table::STATE);
                for v in items.values_mut() {
                    v.as_object_mut().map(|m| m.remove(table::ORD));
                }
            });
            let got = run(store.record_documents(std::slice::from_ref(arriving)));
            assert_eq!(got, Ok(want), "{name}");
            let items = store.items();
            assert_eq!(current(&items, arriving)[table::ORD], json!(arriving.ord()));
            assert_eq!(versions(&items), 1, "{name}");
        }
    }

    #[test]
    fn documents_are_recorded_all_or_nothing() {
        let at = received();
        let store = MemoryStore::new();
        let newer = a_return(json!({"date": "2026-03-12 09:15:00"}), at);
        run(store.record_documents(std::slice::from_ref(&newer))).expect("recorded");
        let before = store.items();
        let older = a_return(json!({}), at);
        let order = an_order(Created, json!({}), at);
        let huge = an_order(
            Created,
            json!({"reference": "ORD-HUGE", "notes": "x".repeat(crate::limits::MAX_ITEM)}),
            at,
        );
        let got = run(store.record_documents(&[older.clone(), order.clone(), huge]));
        assert!(matches!(got, Err(StoreError::Refused(_))), "{got:?}");
        assert_eq!(store.items(), before, "nothing written");
        // An older version beside a new order: the delivery is stored, the return kept as it was.
        let got = run(store.record_documents(&[older.clone(), order]));
        assert_eq!(got, Ok(Recorded::Stored));
        let items = store.items();
        assert_eq!(
            current(&items, &older)[table::EVENT_ID],
            json!(newer.event_id())
        );
        assert_eq!(versions(&items), 3);
    }
}
