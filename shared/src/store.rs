//! Where deliveries are recorded: a small trait, with an in-memory implementation here and the
//! DynamoDB one in the AWS adapters. Both keep the same rules:
//! - a history item per distinct event (a redelivery adds nothing: `Duplicate`);
//! - the shipment state moves only forward in `ord` (an older event is history only: `Stale`);
//! - a return or order is stored when its content is new, a duplicate otherwise;
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
    /// Older than the shipment's state: history written, state kept.
    Stale,
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

    /// Records returns or orders; `Stored` if any was new, else `Duplicate`.
    fn record_documents(
        &self,
        documents: &[Document],
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Keeps `bytes` under `key` in the store's archive (payloads too large for an item,
    /// quarantined deliveries). A store without an archive refuses.
    fn keep(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (key, bytes);
        std::future::ready(Err(StoreError::Refused(
            "this store keeps no archive".into(),
        )))
    }
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

/// An object of the archive, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// When it was last written, where the archive says.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// An archive in memory, for tests and the benchmarks.
/// An object's bytes and when they were put.
type Object = (Vec<u8>, chrono::DateTime<chrono::Utc>);

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
    /// Its archive, as the S3 bucket is the DynamoDB store's.
    pub archive: MemoryArchive,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail as an unreachable store would, the archive's too, until set back.
    pub fn set_down(&self, down: bool) {
        *lock(&self.down) = down;
        self.archive.set_down(down);
    }

    /// Makes the table's calls fail as an unreachable table would, while the archive answers.
    pub fn set_table_down(&self, down: bool) {
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
        let mut stored = false;
        let mut writes = Vec::new();
        for doc in documents {
            let key = (doc.pk().to_owned(), table::STATE.to_owned());
            let same = items
                .get(&key)
                .and_then(|v| v.get(table::EVENT_ID))
                .and_then(Value::as_str)
                .is_some_and(|id| id == doc.event_id().as_str());
            if !same {
                let value = match doc {
                    Document::Return(r) => to_value(r)?,
                    Document::Order(o) => to_value(o)?,
                };
                writes.push((key, value));
                stored = true;
            }
        }
        items.extend(writes);
        Ok(if stored {
            Recorded::Stored
        } else {
            Recorded::Duplicate
        })
    }

    async fn keep(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.archive.put(key, bytes).await
    }
}
