//! The archive: where what cannot live in a table item is stored whole, by key. A payload too large
//! for DynamoDB's item limit even compressed goes under [`PAYLOADS`]; a delivery the store refused
//! for good goes under [`QUARANTINE`]. The port is [`crate::store::Archive`]; its memory twin is
//! [`crate::store::MemoryArchive`], the S3 one is an AWS adapter.
//!
//! How a history payload is stored ([`fit`]): as a map in the item up to [`INLINE_BYTES`] of JSON
//! (readable in the console), else gzipped in the item (`payloadGz`, base64) while that stays
//! under [`COMPRESSED_BYTES`], else gzipped in the archive with a pointer in the item
//! (`payloadRef`). [`full_payload`] reads any of the three back.

use crate::kind::Kind;
use crate::limits;
use crate::store::{Archive, StoreError};
use crate::table::ShipmentHistory;
use base64::Engine;
use serde_json::Value;
use std::io::{Read, Write};

/// The key prefix of payloads moved out of their items.
pub const PAYLOADS: &str = "payloads/";
/// The key prefix of quarantined deliveries.
pub const QUARANTINE: &str = "quarantine/";
/// The key prefix of deliveries the table could not take, waiting to be recorded.
pub const INBOX: &str = "inbox/";
/// Largest payload, as JSON, stored as a map in its item.
pub const INLINE_BYTES: usize = 16 * 1024;
/// Largest compressed payload (base64) stored in its item: well under the 400 KB item limit, with
/// room for the item's other attributes.
pub const COMPRESSED_BYTES: usize = 300 * 1024;
/// Largest payload, as JSON, read back from its gzip: more is refused unread (a gzip bomb). A
/// payload is one webhook body, which no function takes over `QAPLA_MAX_BODY_BYTES` (at most
/// 5 MiB in the template) nor Lambda over its 6 MB request limit, written again as JSON; that
/// can be longer than the body (a number sent as `1e15` is written `1000000000000000.0`), under
/// 4 times in the worst case, so no payload this receiver stored comes near 32 MiB.
pub const MAX_PAYLOAD_BYTES: usize = 32 * 1024 * 1024;

/// A payload that goes to the archive before its item is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offload {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// Why a stored payload cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum Unrecoverable {
    #[error("the item holds no payload")]
    NoPayload,
    #[error("the archive has no object {0}")]
    Missing(String),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("the stored payload is corrupt: {0}")]
    Corrupt(String),
    #[error("the stored payload inflates past {0} bytes, more than any payload stored here: refused unread (a gzip bomb?)")]
    TooLarge(usize),
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, Unrecoverable> {
    gunzip_at_most(bytes, MAX_PAYLOAD_BYTES)
}

/// Inflates at most `limit` bytes, and one more to tell that there were more.
fn gunzip_at_most(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Unrecoverable> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Unrecoverable::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(Unrecoverable::TooLarge(limit));
    }
    Ok(out)
}

/// Where a history payload moved out of its item is stored: by shipment, change and the payload's
/// own content id. The object is put before the conditional write of its item, so the key must
/// name its content: a redelivery writes the same bytes again, and a "duplicate" of the change
/// with other content (its item is not written) puts an object of its own (left to expire with
/// the lifecycle rule) rather than replacing the payload the recorded item points at.
pub fn payload_key(history: &ShipmentHistory, content: &crate::identity::EventId) -> String {
    let shipment = crate::identity::EventId::of_content(&Value::String(history.pk.clone()));
    format!(
        "{PAYLOADS}{shipment}/{}-{content}.json.gz",
        history.event_id
    )
}

/// The fields of a payload the read side lists (timelines, replays), left inline beside a payload
/// moved out of its item, when they are small.
pub const LISTED_FIELDS: [&str; 2] = ["courierStatus", "statusDetails"];

fn listed_fields(payload: &Value) -> Value {
    let listed: serde_json::Map<String, Value> = LISTED_FIELDS
        .iter()
        .filter_map(|f| payload.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .filter(|(_, v)| v.to_string().len() <= 1024 && limits::depth(v) < 8)
        .collect();
    if listed.is_empty() {
        Value::Null
    } else {
        Value::Object(listed)
    }
}

/// Makes a history item fit DynamoDB: numbers out of range become text, then the payload stays
/// inline, is compressed into the item, or moves to the archive (returned, to be put before the
/// item is written).
pub fn fit(history: &mut ShipmentHistory) -> Option<Offload> {
    limits::storable(&mut history.payload);
    let json = serde_json::to_vec(&history.payload).unwrap_or_default();
    if json.len() <= INLINE_BYTES && limits::depth(&history.payload) < limits::MAX_DEPTH - 1 {
        return None;
    }
    let compressed = gzip(&json);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&compressed);
    if encoded.len() <= COMPRESSED_BYTES {
        history.payload = listed_fields(&history.payload);
        history.payload_gz = Some(encoded);
        return None;
    }
    let key = payload_key(
        history,
        &crate::identity::EventId::of_content(&history.payload),
    );
    history.payload = listed_fields(&history.payload);
    history.payload_ref = Some(key.clone());
    Some(Offload {
        key,
        bytes: compressed,
    })
}

/// The whole payload of a history item (as the table holds it, JSON), wherever it was stored. Where
/// it was moved out, the item's `payload` holds only its [`LISTED_FIELDS`].
pub async fn full_payload<A: Archive>(item: &Value, archive: &A) -> Result<Value, Unrecoverable> {
    use crate::table::{PAYLOAD, PAYLOAD_GZ, PAYLOAD_REF};
    let moved = item.get(PAYLOAD_GZ).is_some() || item.get(PAYLOAD_REF).is_some();
    if let Some(payload) = item.get(PAYLOAD).filter(|p| !p.is_null() && !moved) {
        return Ok(payload.clone());
    }
    let compressed = if let Some(encoded) = item.get(PAYLOAD_GZ).and_then(Value::as_str) {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| Unrecoverable::Corrupt(e.to_string()))?
    } else if let Some(key) = item.get(PAYLOAD_REF).and_then(Value::as_str) {
        archive
            .get(key)
            .await?
            .ok_or_else(|| Unrecoverable::Missing(key.to_owned()))?
    } else {
        return Err(Unrecoverable::NoPayload);
    };
    serde_json::from_slice(&gunzip(&compressed)?).map_err(|e| Unrecoverable::Corrupt(e.to_string()))
}

/// The whole payload of a history item where the item itself holds it, as a map or compressed
/// (no archive needed, so pure queries can read it); `None` where it moved to the archive or
/// cannot be read back.
pub fn held_payload(history: &ShipmentHistory) -> Option<Value> {
    if history.payload_ref.is_some() {
        return None;
    }
    let Some(encoded) = &history.payload_gz else {
        return Some(history.payload.clone());
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    serde_json::from_slice(&gunzip(&compressed).ok()?).ok()
}

/// Where a kept delivery waits: the quarantine, for an operator (content that does not validate,
/// or that the table refused for good), or the inbox, to be recorded by itself once the table
/// answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    Quarantine,
    Inbox,
}

impl Place {
    /// Its key prefix in the archive.
    pub fn prefix(self) -> &'static str {
        match self {
            Place::Quarantine => QUARANTINE,
            Place::Inbox => INBOX,
        }
    }

    /// `quarantine` or `inbox`.
    pub fn as_str(self) -> &'static str {
        self.prefix().trim_end_matches('/')
    }
}

/// A delivery of a known channel kept whole (without any API key) in the archive, with what an
/// operator or the drain needs to record it later through the same path.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub place: Place,
    /// What the body is (`shipments`, `returns` or `orders`), or, where it says nothing a
    /// webhook would, the endpoint it came to: its retention follows it (template.yaml).
    pub webhook: Kind,
    /// The endpoint it came to.
    pub endpoint: Kind,
    pub channel: String,
    /// When Qapla' delivered it (ISO 8601, UTC); a later recording keeps this time.
    pub received_at: String,
    /// Why it is kept: the field's path and the shape expected, or the store's error code;
    /// never a value of the body.
    pub reason: String,
    /// The content id of the body.
    pub id: String,
    /// The body as received, without the API key.
    pub body: Value,
    /// How many drain runs found the table answering yet could not record it: counted in the
    /// object itself (rewritten in place, same key), so that one that keeps failing is given up
    /// on and quarantined rather than waited for forever.
    pub attempts: u32,
}

/// A kept object that cannot be read back as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a kept delivery: {0}")]
pub struct NotAKeptDelivery(pub String);

impl Kept {
    /// A body kept in `place` at `received_at`, its id its content's.
    pub fn new(
        place: Place,
        webhook: Kind,
        endpoint: Kind,
        channel: &str,
        received_at: &chrono::DateTime<chrono::Utc>,
        reason: String,
        body: serde_json::Map<String, Value>,
    ) -> Kept {
        Kept {
            place,
            webhook,
            endpoint,
            channel: channel.to_owned(),
            // To the microsecond: the drain records the inbox in the order it was received.
            received_at: received_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            id: crate::identity::EventId::of_map(&body).to_string(),
            reason,
            body: Value::Object(body),
            attempts: 0,
        }
    }

    /// Its key: by place, kind and day of receipt, then, in the quarantine, its channel and its
    /// content id, so a redelivery lands on the same object and the same body from two channels
    /// on two (the id leaves the key out, so it alone cannot tell them apart); in the inbox, the
    /// time of receipt first, so that the keys list in the order the drain records them (a
    /// shipment's changes as they came). Objects quarantined before the channel was in the key
    /// (`quarantine/<kind>/<day>/<id>.json`) are still listed and read: the channel is also in
    /// the object.
    pub fn key(&self) -> String {
        let day = self.received_at.get(..10).unwrap_or("unknown");
        let (prefix, kind) = (self.place.prefix(), self.webhook.as_str());
        match self.place {
            Place::Quarantine => format!("{prefix}{kind}/{day}/{}/{}.json", self.channel, self.id),
            Place::Inbox => {
                let stamp: String = self
                    .received_at
                    .chars()
                    .filter(|c| !matches!(c, '-' | ':'))
                    .collect();
                format!("{prefix}{kind}/{day}/{stamp}-{}.json", self.id)
            }
        }
    }

    /// The object: one JSON document with the facts and the body.
    pub fn bytes(&self) -> Vec<u8> {
        let mut doc = serde_json::json!({
            "webhook": self.webhook.as_str(),
            "endpoint": self.endpoint.as_str(),
            "channel": self.channel,
            "receivedAt": self.received_at,
            "reason": self.reason,
            "id": self.id,
            "body": self.body,
        });
        // Written only once counted, so objects never drained keep their old shape.
        if self.attempts > 0 {
            doc["attempts"] = Value::from(self.attempts);
        }
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// Reads an object of `place` back.
    pub fn read(place: Place, bytes: &[u8]) -> Result<Kept, NotAKeptDelivery> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| NotAKeptDelivery(e.to_string()))?;
        let text = |name: &str| -> Result<String, NotAKeptDelivery> {
            doc.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| NotAKeptDelivery(format!("no {name}")))
        };
        let kind = |name: &str| -> Result<Kind, NotAKeptDelivery> {
            let t = text(name)?;
            Kind::parse(&t).ok_or_else(|| NotAKeptDelivery(format!("{name} is not a webhook")))
        };
        let webhook = kind("webhook")?;
        Ok(Kept {
            place,
            webhook,
            // Quarantined before the endpoint was written down: the endpoint was the kind.
            endpoint: kind("endpoint").unwrap_or(webhook),
            channel: text("channel")?,
            received_at: text("receivedAt")?,
            reason: text("reason").unwrap_or_default(),
            id: text("id")?,
            body: match doc.get("body") {
                Some(body @ Value::Object(_)) => body.clone(),
                _ => return Err(NotAKeptDelivery("no body".into())),
            },
            attempts: doc
                .get("attempts")
                .and_then(Value::as_u64)
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        })
    }

    /// When the inbox object under `key` was received, read from its key (`<time of
    /// receipt>-<id>.json`, see [`Kept::key`]) without reading the object: the age of a delivery
    /// counts from Qapla's delivery, not from the object's last write (the drain rewrites it to
    /// count its attempts).
    pub fn received_from_inbox_key(key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let name = key.rsplit('/').next()?;
        let stamp = name.split('-').next()?.strip_suffix('Z')?;
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.f")
            .ok()
            .map(|t| t.and_utc())
    }

    /// When it was received; `None` if its text is not an instant.
    pub fn received(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.received_at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::EventId;
    use crate::store::MemoryArchive;
    use crate::testing::noise;
    use serde_json::json;

    fn history(payload: Value) -> ShipmentHistory {
        ShipmentHistory {
            pk: "SHIPMENT#shop-it#DHL#JD1".into(),
            sk: "EVENT#2026-03-02T08:41:07Z#ab".into(),
            event_id: EventId::given("ab"),
            delivery_id: None,
            status_id: 3,
            status_detail: None,
            status_name: "IN TRANSIT".into(),
            date: "2026-03-02 09:41:07".into(),
            date_utc: "2026-03-02T08:41:07Z".into(),
            place: None,
            received_at: "2026-03-02T08:41:10Z".into(),
            expires_at: 1,
            source: None,
            payload,
            payload_gz: None,
            payload_ref: None,
        }
    }

    fn round_trip(payload: Value) -> (ShipmentHistory, Option<Offload>, Value) {
        let mut h = history(payload);
        let offload = fit(&mut h);
        let archive = MemoryArchive::default();
        if let Some(o) = &offload {
            crate::testing::run(archive.put(&o.key, o.bytes.clone())).expect("put");
        }
        let item = serde_json::to_value(&h).expect("item");
        let back = crate::testing::run(full_payload(&item, &archive)).expect("read back");
        (h, offload, back)
    }

    #[test]
    fn small_payloads_stay_inline() {
        let payload = json!({"trackingNumber": "JD1", "place": "Città di Castello ✓"});
        let (h, offload, back) = round_trip(payload.clone());
        assert_eq!((h.payload_gz, h.payload_ref, offload), (None, None, None));
        assert_eq!(back, payload);
    }

    #[test]
    fn large_compressible_payloads_are_gzipped_in_the_item() {
        let rows: Vec<Value> = (0..5000)
            .map(|i| json!({"sku": format!("SKU-{i}"), "name": "T-shirt blu", "qty": "1"}))
            .collect();
        let payload = json!({"trackingNumber": "JD1", "rows": rows});
        let (h, offload, back) = round_trip(payload.clone());
        assert!(h.payload_gz.is_some() && offload.is_none());
        assert_eq!(
            h.payload,
            serde_json::Value::Null,
            "no listed fields in this payload"
        );
        assert!(serde_json::to_vec(&h).expect("json").len() < limits::MAX_ITEM);
        assert_eq!(back, payload);
    }

    #[test]
    fn incompressible_payloads_go_to_the_archive() {
        let payload = json!({"trackingNumber": "JD1", "notes": noise(900 * 1024)});
        let (h, offload, back) = round_trip(payload.clone());
        let offload = offload.expect("offloaded");
        assert_eq!(h.payload_ref.as_deref(), Some(offload.key.as_str()));
        assert!(offload.key.starts_with(PAYLOADS));
        assert!(serde_json::to_vec(&h).expect("json").len() < 2048);
        assert_eq!(back, payload);
    }

    #[test]
    fn what_the_read_side_lists_stays_beside_a_moved_payload() {
        let payload = json!({"courierStatus": "Consegnato ✓", "statusDetails": [{"id": 1}],
                             "notes": noise(900 * 1024)});
        let (h, offload, back) = round_trip(payload.clone());
        assert!(offload.is_some());
        assert_eq!(
            h.payload,
            json!({"courierStatus": "Consegnato ✓", "statusDetails": [{"id": 1}]})
        );
        assert_eq!(back, payload, "the whole payload, not its listed fields");
    }

    #[test]
    fn deep_payloads_are_stored_compressed() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let (h, _, back) = round_trip(json!({"x": deep.clone()}));
        assert!(h.payload_gz.is_some());
        assert_eq!(back["x"], deep);
    }

    /// A gzip that inflates past any payload this receiver stores (valid JSON, so that only the
    /// cap refuses it) is refused with its own error, in the item or in the archive, and its
    /// holder reads as having no payload it can show.
    #[test]
    fn a_gzip_bomb_is_refused_unread() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = encoder.write_all(br#"{"notes":""#);
        let zeros = vec![b'0'; 1024 * 1024];
        for _ in 0..(MAX_PAYLOAD_BYTES / zeros.len() + 1) {
            let _ = encoder.write_all(&zeros);
        }
        let _ = encoder.write_all(br#""}"#);
        let bomb = encoder.finish().expect("gzip");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bomb);
        // Small enough to sit in an item as `payloadGz`.
        assert!(encoded.len() <= COMPRESSED_BYTES, "{}", encoded.len());
        let archive = MemoryArchive::default();
        crate::testing::run(archive.put("payloads/x/bomb.json.gz", bomb)).expect("put");
        for item in [
            json!({"payloadGz": encoded}),
            json!({"payloadRef": "payloads/x/bomb.json.gz"}),
        ] {
            let got = crate::testing::run(full_payload(&item, &archive));
            let Err(e @ Unrecoverable::TooLarge(limit)) = got else {
                panic!("{item:?}: not refused: {got:?}");
            };
            assert_eq!(limit, MAX_PAYLOAD_BYTES);
            assert!(
                e.to_string().contains("inflates past 33554432 bytes"),
                "{e}"
            );
        }
        let mut h = history(Value::Null);
        h.payload_gz = Some(encoded);
        assert_eq!(held_payload(&h), None);
        // Up to the cap itself, inflated whole.
        assert_eq!(gunzip_at_most(&gzip(b"12345"), 5).expect("five"), b"12345");
        assert!(matches!(
            gunzip_at_most(&gzip(b"123456"), 5),
            Err(Unrecoverable::TooLarge(5))
        ));
    }

    #[test]
    fn a_missing_object_is_an_error() {
        let item = json!({"payloadRef": "payloads/x/y.json.gz"});
        let got = crate::testing::run(full_payload(&item, &MemoryArchive::default()));
        assert!(matches!(got, Err(Unrecoverable::Missing(_))));
        let got = crate::testing::run(full_payload(&json!({}), &MemoryArchive::default()));
        assert!(matches!(got, Err(Unrecoverable::NoPayload)));
    }

    #[test]
    fn kept_keys_by_place_kind_day_and_content_and_read_back() {
        for (place, prefix) in [(Place::Quarantine, "quarantine/"), (Place::Inbox, "inbox/")] {
            let q = Kept {
                place,
                webhook: Kind::Order,
                endpoint: Kind::Shipment,
                channel: "shop-it".into(),
                received_at: "2026-03-02T08:41:10Z".into(),
                reason: "ValidationException".into(),
                id: "abc".into(),
                body: json!({"orders": []}),
                attempts: 0,
            };
            let name = match place {
                Place::Quarantine => "shop-it/abc.json",
                Place::Inbox => "20260302T084110Z-abc.json",
            };
            assert_eq!(q.key(), format!("{prefix}orders/2026-03-02/{name}"));
            let doc: Value = serde_json::from_slice(&q.bytes()).expect("json");
            assert_eq!(doc["body"], json!({"orders": []}));
            assert_eq!(doc["reason"], json!("ValidationException"));
            assert_eq!(Kept::read(place, &q.bytes()), Ok(q.clone()));
            assert!(q.received().is_some());
            let counted = Kept {
                attempts: 3,
                ..q.clone()
            };
            assert_eq!(Kept::read(place, &counted.bytes()), Ok(counted));
        }
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T08:41:10.123456Z")
            .expect("instant")
            .with_timezone(&chrono::Utc);
        let inbox = Kept::new(
            Place::Inbox,
            Kind::Shipment,
            Kind::Shipment,
            "c",
            &at,
            String::new(),
            serde_json::Map::new(),
        );
        assert_eq!(Kept::received_from_inbox_key(&inbox.key()), Some(at));
        assert_eq!(
            Kept::received_from_inbox_key("inbox/shipments/x.json"),
            None
        );
        for bad in [
            &b"{}"[..],
            b"[]",
            b"nope",
            br#"{"webhook":"x","channel":"c","receivedAt":"t","id":"i","body":{}}"#,
        ] {
            assert!(Kept::read(Place::Inbox, bad).is_err());
        }
        // An object kept before the endpoint was written down.
        let old = br#"{"webhook":"orders","channel":"c","receivedAt":"2026-03-02T08:41:10Z","reason":"r","id":"i","body":{"orders":[]}}"#;
        assert_eq!(
            Kept::read(Place::Quarantine, old).map(|k| k.endpoint),
            Ok(Kind::Order)
        );
    }
}
