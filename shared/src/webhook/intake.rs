//! The intake: a delivery the gate let through, from here on Qapla's. It is validated and
//! recorded, or kept: content that does not validate goes to the quarantine (in a body of many
//! returns or orders, only the entries that do not, together in one object), a delivery the
//! table refuses for good to the quarantine, one the table cannot take in time to the inbox.
//! Each step returns what became of the delivery with what its log line says of it ([`Taken`]).

use super::gate::Content;
use super::{
    Mode, Outcome, Rejection, Timer, Webhook, DUPLICATE_KEY, INVALID, STORE_REFUSED, UNKNOWN_KIND,
};
use crate::archive::{Kept, Place};
use crate::auth::Channel;
use crate::kind::Kind;
use crate::model::{returns, Invalid};
use crate::payload::{self, Delivery, Unreadable};
use crate::store::{Archive, Recorded, Store, StoreError};
use crate::table::{Document, OrderItem, ReturnItem, Source};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::task::Poll;

/// What the log line says of a delivery; never the key, never consignee or customer data.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub channel: Option<String>,
    pub courier: Option<String>,
    pub tracking: Option<String>,
    pub status: Option<String>,
    pub count: Option<usize>,
    /// Why it was kept rather than recorded (the quarantine's reason, the store's error).
    pub reason: Option<String>,
    /// The kind of a delivery sent to another webhook's endpoint.
    pub misrouted: Option<Kind>,
    /// Why the channel's heartbeat could not be written (the answer does not change).
    pub heartbeat: Option<String>,
}

impl Facts {
    /// What a valid delivery says of itself: its shipment, or how many entries.
    fn about(delivery: &Delivery<'_>) -> Facts {
        match delivery {
            Delivery::Shipment(ev) => Facts {
                courier: Some(ev.courier.to_string()),
                tracking: Some(ev.tracking_number.to_string()),
                status: Some(ev.status.name.to_string()),
                ..Facts::default()
            },
            Delivery::Returns(d) => Facts {
                count: Some(d.returns.len()),
                ..Facts::default()
            },
            Delivery::Orders(d) => Facts {
                count: Some(d.orders.len()),
                courier: d.orders.first().and_then(|o| o.courier.clone()),
                ..Facts::default()
            },
        }
    }

    fn because(self, reason: String) -> Facts {
        Facts {
            reason: Some(reason),
            ..self
        }
    }
}

/// What became of a delivery taken in, and what its log line says of it.
pub(super) struct Taken {
    pub result: Result<Outcome, Rejection>,
    pub facts: Facts,
}

impl Taken {
    pub(super) fn ok(outcome: Outcome, facts: Facts) -> Taken {
        Taken {
            result: Ok(outcome),
            facts,
        }
    }

    pub(super) fn err(rejection: impl Into<Rejection>, facts: Facts) -> Taken {
        Taken {
            result: Err(rejection.into()),
            facts,
        }
    }
}

/// Who a delivery is from and how it is taken in.
pub(super) struct Intake<'c, 't> {
    pub channel: &'c Channel,
    pub mode: Mode,
    /// The endpoint it came to.
    pub endpoint: Kind,
    /// When Qapla' delivered it.
    pub now: DateTime<Utc>,
    /// Until when the table's answer is waited for (taken by the one recording it bounds).
    pub record_by: std::sync::Mutex<Option<Timer<'t>>>,
}

impl<'t> Intake<'_, 't> {
    fn timer(&self) -> Option<Timer<'t>> {
        crate::store::lock(&self.record_by).take()
    }

    /// A body of this delivery, to be kept in `place` as `kind`.
    fn kept(&self, place: Place, kind: Kind, reason: String, body: Map<String, Value>) -> Kept {
        Kept::new(
            place,
            kind,
            self.endpoint,
            &self.channel.name,
            &self.now,
            reason,
            body,
        )
    }
}

/// `work`'s output, or `None` if `timer` ends first.
async fn before<F: Future>(work: F, timer: Timer<'_>) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut timer = timer;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

impl<S: Store, A: Archive> Webhook<S, A> {
    /// A delivery of the intake's channel from here on: validated and recorded, or kept.
    pub(super) async fn ingest(
        &self,
        intake: &Intake<'_, '_>,
        content: Content,
        bytes: &[u8],
    ) -> Taken {
        let envelope = match content {
            Content::Read(envelope) => envelope,
            Content::Refused { refusal, body, .. } => {
                if intake.mode == Mode::Retry {
                    return Taken::err(refusal, Facts::default());
                }
                let code = match refusal {
                    Unreadable::DuplicateKey(_) => DUPLICATE_KEY,
                    _ => UNKNOWN_KIND,
                };
                let kept = intake.kept(
                    Place::Quarantine,
                    intake.endpoint,
                    refusal.to_string(),
                    body,
                );
                return self.quarantine(kept, code, None).await;
            }
        };
        let kind = envelope.kind;
        match envelope.validate(self.settings.timezone) {
            Ok(delivery) => self.record_or_keep(intake, &delivery, bytes).await,
            Err(invalid) if intake.mode == Mode::Retry => Taken::err(invalid, Facts::default()),
            Err(invalid) => self.split_or_quarantine(intake, kind, invalid, bytes).await,
        }
    }

    /// The body without any key, as a value tree: for the rare paths that keep it.
    fn whole(&self, bytes: &[u8]) -> Option<Map<String, Value>> {
        payload::read(bytes).ok().map(|e| e.body())
    }

    /// Records a valid delivery; what the table refuses for good is quarantined, and where the
    /// table cannot be reached in time, a delivery from Qapla' waits in the inbox.
    async fn record_or_keep(
        &self,
        intake: &Intake<'_, '_>,
        delivery: &Delivery<'_>,
        bytes: &[u8],
    ) -> Taken {
        let facts = Facts::about(delivery);
        let record = self.record(intake.channel, delivery, intake.now);
        let recorded = match intake.timer() {
            None => record.await,
            Some(timer) => before(record, timer).await.unwrap_or_else(|| {
                Err(StoreError::Retryable(
                    "the table did not answer in the time the delivery had".into(),
                ))
            }),
        };
        let error = match recorded {
            Ok(recorded) => return Taken::ok(Outcome::Recorded(recorded), facts),
            Err(error) => error,
        };
        let place = match (&error, intake.mode) {
            (StoreError::Refused(_), Mode::Deliver | Mode::Drain) => Place::Quarantine,
            (StoreError::Retryable(_), Mode::Deliver) => Place::Inbox,
            _ => return Taken::err(error, facts),
        };
        let Some(body) = self.whole(bytes) else {
            return Taken::err(error, facts);
        };
        let reason = match &error {
            StoreError::Refused(reason) | StoreError::Retryable(reason) => reason.clone(),
        };
        let kept = intake.kept(place, delivery.kind(), reason, body);
        match place {
            Place::Quarantine => {
                let taken = self.quarantine(kept, STORE_REFUSED, None).await;
                Taken {
                    facts: Facts {
                        reason: taken.facts.reason,
                        ..facts
                    },
                    ..taken
                }
            }
            Place::Inbox => {
                let facts = facts.because(error.to_string());
                match self.archive.put(&kept.key(), kept.bytes()).await {
                    Ok(()) => Taken::ok(Outcome::Deferred, facts),
                    Err(archive) => Taken::err(
                        Rejection::Unkept {
                            store: error,
                            archive,
                        },
                        facts,
                    ),
                }
            }
        }
    }

    /// Content that does not validate: a body of several returns or orders is taken entry by
    /// entry, the valid ones recorded as one delivery and the invalid ones quarantined together,
    /// as one body of those entries with each one's path and reason (one archive write, however
    /// many: a batch of 400 invalid orders is answered in one round trip, not 400); any other
    /// body is quarantined whole.
    async fn split_or_quarantine(
        &self,
        intake: &Intake<'_, '_>,
        kind: Kind,
        invalid: Invalid,
        bytes: &[u8],
    ) -> Taken {
        let Some(whole) = self.whole(bytes) else {
            return Taken::err(invalid, Facts::default());
        };
        let tz = self.settings.timezone;
        let Some(entries) = payload::each_entry(kind, &whole) else {
            let kept = intake.kept(Place::Quarantine, kind, invalid.to_string(), whole);
            return self.quarantine(kept, INVALID, None).await;
        };
        let mut valid = Vec::new();
        let mut bad = Vec::new();
        let mut reasons = Vec::new();
        for (i, entry) in entries {
            match payload::validate_body(kind, entry, tz) {
                Ok(delivery) => valid.push(delivery),
                Err(e) => {
                    bad.push(i);
                    reasons.push(payload::at_position(kind, &e.to_string(), i));
                }
            }
        }
        let (recorded, facts) = match merge(kind, &whole, valid) {
            None => (None, Facts::default()),
            Some(delivery) => {
                let taken = self.record_or_keep(intake, &delivery, bytes).await;
                match taken.result {
                    Ok(Outcome::Recorded(r)) => (Some(r), taken.facts),
                    // Deferred: the whole body waits in the inbox; its invalid entries are
                    // quarantined when it is drained, once. Quarantined: refused for good, the
                    // whole body is in the quarantine already. Or not kept at all.
                    _ => return taken,
                }
            }
        };
        let reason = reasons.join("; ");
        if let Some(body) = payload::with_entries(kind, &whole, &bad).filter(|_| !bad.is_empty()) {
            let kept = intake.kept(Place::Quarantine, kind, reason.clone(), body);
            if let Err(archive) = self.archive.put(&kept.key(), kept.bytes()).await {
                let unkept = Rejection::Unkept {
                    store: StoreError::Refused(reason),
                    archive,
                };
                return Taken::err(unkept, facts);
            }
        }
        let quarantined = Outcome::Quarantined {
            code: INVALID,
            kept: bad.len(),
            recorded,
        };
        Taken::ok(quarantined, facts.because(reason))
    }

    /// Keeps a whole delivery in the quarantine.
    async fn quarantine(
        &self,
        kept: Kept,
        code: &'static str,
        recorded: Option<Recorded>,
    ) -> Taken {
        match self.archive.put(&kept.key(), kept.bytes()).await {
            Ok(()) => {
                let quarantined = Outcome::Quarantined {
                    code,
                    kept: 1,
                    recorded,
                };
                Taken::ok(quarantined, Facts::default().because(kept.reason))
            }
            Err(archive) => Taken::err(
                Rejection::Unkept {
                    store: StoreError::Refused(kept.reason),
                    archive,
                },
                Facts::default(),
            ),
        }
    }

    /// When a return or order item written now expires (epoch seconds, the table's TTL).
    fn document_expiry(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + i64::from(self.settings.return_order_days) * 86_400
    }

    async fn record(
        &self,
        channel: &Channel,
        delivery: &Delivery<'_>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        match delivery {
            Delivery::Shipment(ev) => {
                let days = self.settings.history_days;
                crate::record::shipment(
                    &self.store,
                    &self.archive,
                    channel,
                    ev,
                    Source::Webhook,
                    now,
                    days,
                )
                .await
            }
            Delivery::Returns(d) => {
                let expires = self.document_expiry(now);
                let docs = d.returns.iter().map(|r| {
                    Document::Return(ReturnItem::new(channel, &d.id, r, now).expiring(expires))
                });
                self.store.record_documents(&last_per_key(docs)).await
            }
            Delivery::Orders(d) => {
                let expires = self.document_expiry(now);
                let docs = d.orders.iter().map(|o| {
                    Document::Order(
                        OrderItem::new(channel, channel.trigger, o, now).expiring(expires),
                    )
                });
                self.store.record_documents(&last_per_key(docs)).await
            }
        }
    }
}

/// The valid entries of a body as one delivery, under the whole body's delivery id; `None` if
/// there are none.
fn merge(
    kind: Kind,
    whole: &Map<String, Value>,
    valid: Vec<Delivery<'static>>,
) -> Option<Delivery<'static>> {
    if valid.is_empty() {
        return None;
    }
    match kind {
        Kind::Shipment => valid.into_iter().next(),
        Kind::Return => {
            let id = returns::delivery_id(whole).ok()?;
            let returns = valid
                .into_iter()
                .filter_map(|d| match d {
                    Delivery::Returns(r) => Some(r.returns),
                    _ => None,
                })
                .flatten()
                .collect();
            Some(Delivery::Returns(returns::ReturnsDelivery { id, returns }))
        }
        Kind::Order => {
            let id = crate::identity::EventId::of_map(whole);
            let orders = valid
                .into_iter()
                .filter_map(|d| match d {
                    Delivery::Orders(o) => Some(o.orders),
                    _ => None,
                })
                .flatten()
                .collect();
            Some(Delivery::Orders(crate::model::orders::OrdersDelivery {
                id,
                orders,
            }))
        }
    }
}

/// One document per item key, the last one a delivery holds: a body may list the same order
/// twice, and one DynamoDB transaction cannot write an item twice. One pass, by a map of each
/// key's place.
pub(super) fn last_per_key(docs: impl Iterator<Item = Document>) -> Vec<Document> {
    let mut kept: Vec<Document> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for doc in docs {
        match at.entry(doc.pk().to_owned()) {
            std::collections::hash_map::Entry::Occupied(slot) => kept[*slot.get()] = doc,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(doc);
            }
        }
    }
    kept
}
