//! Memory twins of the recovery ports, with the real rules: the [`Ledger`] over the memory store
//! (checkpoints move only forward), a clock whose sleeps pass at once, and [`MemoryQapla`], a
//! fake of Qapla's API that answers from scripted shipments through a real token bucket (429
//! when overdrawn). The tests crate serves the same fake over loopback HTTP.

use crate::auth::ApiKey;
use crate::recover::api::{GET_SHIPMENT, TRACKING_BY_TIME_FRAME};
use crate::recover::pace::{TokenBucket, QAPLA_CAPACITY, QAPLA_PER_SECOND};
use crate::recover::{Clock, HttpAnswer, Ledger, QaplaApi, TransportError};
use crate::store::{lock, MemoryStore, StoreError};
use crate::table::{self, Checkpoint, ShipmentState};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl Ledger for MemoryStore {
    async fn state(&self, pk: &str) -> Result<Option<ShipmentState>, StoreError> {
        let item = self.with_items(|items| {
            items
                .get(&(pk.to_owned(), table::STATE.to_owned()))
                .cloned()
        });
        item.map(|v| serde_json::from_value(v).map_err(|e| StoreError::Refused(e.to_string())))
            .transpose()
    }

    async fn has_history(
        &self,
        pk: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (first, last) = table::history_range(from, until);
        let (first, last) = ((pk.to_owned(), first), (pk.to_owned(), last));
        Ok(self.with_items(|items| items.range(first..=last).next().is_some()))
    }

    async fn checkpoint(&self, channel: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = (table::checkpoint_pk(channel), table::CHECKPOINT.to_owned());
        let until = self.with_items(|items| {
            items
                .get(&key)
                .and_then(|v| v.get(table::UNTIL))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        until
            .map(|u| {
                DateTime::parse_from_rfc3339(&u)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| StoreError::Refused(format!("checkpoint {u:?}: {e}")))
            })
            .transpose()
    }

    async fn advance(
        &self,
        channel: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = Checkpoint::new(channel, until, now);
        let value = serde_json::to_value(&item).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.with_items(|items| {
            let key = (item.pk.clone(), item.sk.clone());
            let later = items
                .get(&key)
                .and_then(|v| v.get(table::UNTIL))
                .and_then(Value::as_str)
                .is_none_or(|stored| stored < item.until.as_str());
            if later {
                items.insert(key, value);
            }
        });
        Ok(())
    }
}

/// A clock whose sleeps pass at once, moving its time on: runs that wait minutes take none.
#[derive(Debug)]
pub struct ManualClock {
    start: DateTime<Utc>,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            start,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.elapsed) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = *lock(&self.elapsed);
        self.start + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn elapsed(&self) -> Duration {
        *lock(&self.elapsed)
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }

    fn unit(&self) -> f64 {
        0.5
    }
}

/// One status of a scripted shipment's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub status: u32,
    pub detail: Option<u32>,
    /// Local time, `YYYY-MM-DD HH:MM:SS`, as Qapla' writes it.
    pub date: String,
}

impl Step {
    pub fn new(status: u32, detail: Option<u32>, date: impl Into<String>) -> Self {
        Step {
            status,
            detail,
            date: date.into(),
        }
    }
}

/// A shipment as `getShipment` gives it (Qapla's sample shape: a numeric id, the courier as an
/// object, history newest first), its life `steps` oldest first, and Qapla's log of its webhook
/// deliveries (`(status id, local time, result)`).
pub fn scripted_shipment(
    id: u64,
    courier: &str,
    tracking: &str,
    reference: &str,
    steps: &[Step],
    webhook_log: &[(u32, &str, &str)],
) -> Value {
    let entry = |s: &Step| {
        let known = crate::status::lookup(s.status, s.detail);
        json!({
            "date": s.date.get(..16).unwrap_or(&s.date),
            "dateISO": s.date,
            "status": "PU",
            "place": "MILANO - ITA",
            "qaplaStatus": {
                "id": s.status,
                "status": known.map_or("UNKNOWN", |k| k.name),
                "detailID": s.detail.unwrap_or(0),
                "detail": s.detail.map(|_| "DETAIL"),
                "color": "#1D76D8"
            }
        })
    };
    let history: Vec<Value> = steps.iter().rev().map(entry).collect();
    let current = history.first().cloned().unwrap_or(Value::Null);
    let log: Vec<Value> = webhook_log
        .iter()
        .map(|(status, date, result)| {
            json!({"statusID": status, "date": date, "result": result, "status": "X"})
        })
        .collect();
    json!({
        "id": id,
        "reference": reference,
        "trackingNumber": tracking,
        "courier": {"code": courier, "name": courier, "icon": null},
        "status": current,
        "isReturnShipment": false,
        "isChild": false,
        "hasChildren": false,
        "custom1": null,
        "notifications": {"webhook": log},
        "trackingHistory": history
    })
}

/// What the fake saw of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUse {
    /// Requests that reached the bucket.
    pub requests: u32,
    /// Requests refused because the bucket was empty: a client pacing itself makes none.
    pub overdrawn: u32,
    /// Requests answered 429 on purpose ([`MemoryQapla::force_429`]).
    pub forced: u32,
}

#[derive(Debug)]
struct Account {
    bucket: TokenBucket,
    shipments: Vec<Value>,
    usage: KeyUse,
}

/// A fake of Qapla's API: per key, scripted shipments (as `getShipment` gives them) and a token
/// bucket (Qapla's 120 and 2 a second unless told otherwise), on the time `clock` gives.
pub struct MemoryQapla {
    accounts: Mutex<BTreeMap<String, Account>>,
    forced: Mutex<u32>,
    capacity: u32,
    per_second: f64,
    clock: Arc<dyn Fn() -> Duration + Send + Sync>,
}

impl std::fmt::Debug for MemoryQapla {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryQapla").finish_non_exhaustive()
    }
}

impl MemoryQapla {
    /// Qapla's bucket, on `clock`.
    pub fn new(clock: Arc<dyn Fn() -> Duration + Send + Sync>) -> Self {
        Self::with_bucket(QAPLA_CAPACITY, QAPLA_PER_SECOND, clock)
    }

    pub fn with_bucket(
        capacity: u32,
        per_second: f64,
        clock: Arc<dyn Fn() -> Duration + Send + Sync>,
    ) -> Self {
        MemoryQapla {
            accounts: Mutex::new(BTreeMap::new()),
            forced: Mutex::new(0),
            capacity,
            per_second,
            clock,
        }
    }

    /// Makes `key` known (with no shipments yet).
    pub fn add_key(&self, key: &str) {
        let now = (self.clock)();
        lock(&self.accounts)
            .entry(key.to_owned())
            .or_insert_with(|| Account {
                bucket: TokenBucket::new(self.capacity, self.per_second, now),
                shipments: Vec::new(),
                usage: KeyUse::default(),
            });
    }

    /// Adds or replaces (by tracking number) a shipment of `key`.
    pub fn put_shipment(&self, key: &str, shipment: Value) {
        self.add_key(key);
        let mut accounts = lock(&self.accounts);
        if let Some(account) = accounts.get_mut(key) {
            let tracking = shipment["trackingNumber"].clone();
            account
                .shipments
                .retain(|s| s["trackingNumber"] != tracking);
            account.shipments.push(shipment);
        }
    }

    /// Answers the next `n` requests with 429, whatever the bucket holds.
    pub fn force_429(&self, n: u32) {
        *lock(&self.forced) = n;
    }

    pub fn usage(&self, key: &str) -> KeyUse {
        lock(&self.accounts)
            .get(key)
            .map(|a| a.usage.clone())
            .unwrap_or_default()
    }

    /// The answer to a GET of `path` with `query` (the key as `apiKey`), as Qapla' gives it.
    pub fn answer(&self, path: &str, query: &[(String, String)]) -> HttpAnswer {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let call = [TRACKING_BY_TIME_FRAME, GET_SHIPMENT]
            .into_iter()
            .find(|c| c.path() == path);
        let Some(call) = call else {
            return HttpAnswer {
                status: 404,
                body: b"not found".to_vec(),
            };
        };
        let envelope = |status: u16, inner: Value| HttpAnswer {
            status,
            body: json!({ call.name: inner }).to_string().into_bytes(),
        };
        let now = (self.clock)();
        let mut accounts = lock(&self.accounts);
        let Some(account) = get("apiKey").and_then(|k| accounts.get_mut(k)) else {
            return envelope(200, json!({"result": "KO", "error": "Invalid apiKey"}));
        };
        account.usage.requests += 1;
        let too_many = json!({"result": "KO", "error": "Too Many Requests"});
        {
            let mut forced = lock(&self.forced);
            if *forced > 0 {
                *forced -= 1;
                account.usage.forced += 1;
                return envelope(429, too_many);
            }
        }
        if account.bucket.take(now).is_err() {
            account.usage.overdrawn += 1;
            return envelope(429, too_many);
        }
        let shipments: Vec<Value> = if call == TRACKING_BY_TIME_FRAME {
            let (from, to) = (get("dateFrom").unwrap_or(""), get("dateTo").unwrap_or(""));
            account
                .shipments
                .iter()
                .filter(|s| {
                    s["trackingHistory"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e["dateISO"].as_str())
                        .any(|d| from <= d && d <= to)
                })
                .map(|s| {
                    json!({
                        "id": s["id"].to_string(),
                        "reference": s["reference"],
                        "trackingNumber": s["trackingNumber"],
                        "courier": s["courier"]["code"],
                        "status": s["status"],
                        "getShipment": format!(
                            "https://api.qapla.it/1.2/getShipment/?apiKey={}&id={}",
                            get("apiKey").unwrap_or_default(),
                            s["id"]
                        )
                    })
                })
                .collect()
        } else {
            let by_id = get("id");
            let by_tracking = get("trackingNumber");
            account
                .shipments
                .iter()
                .filter(|s| {
                    by_id.is_some_and(|id| s["id"].to_string().trim_matches('"') == id)
                        || by_tracking.is_some_and(|t| s["trackingNumber"] == t)
                })
                .cloned()
                .collect()
        };
        envelope(
            200,
            json!({
                "result": "OK", "error": null, "lang": get("lang").unwrap_or("it"),
                "count": shipments.len(), "shipments": shipments,
                "dateFrom": get("dateFrom"), "dateTo": get("dateTo")
            }),
        )
    }
}

impl QaplaApi for MemoryQapla {
    async fn get(
        &self,
        path: &str,
        key: &ApiKey,
        query: &[(&'static str, String)],
    ) -> Result<HttpAnswer, TransportError> {
        let mut all: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        all.push(("apiKey".to_owned(), key.expose_secret().to_owned()));
        Ok(self.answer(path, &all))
    }
}
