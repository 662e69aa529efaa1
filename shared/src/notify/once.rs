//! Each notice goes to each of its targets (the topic, the bus) once, whatever the stream retries.
//!
//! A retried stream record publishes its notice again. With two targets, a failure of one would
//! then resend the other: a bus outage would mail and text the merchant once per retry. So each
//! (notice id, target) pair is claimed in a store ([`Claims`]) before it is sent, marked done
//! after, and given back when the send failed: a retry skips the targets already done and sends
//! only the one that failed, across retries and cold starts alike.
//!
//! A crash (or a timeout) between a send and its claim's completion leaves the claim unfinished,
//! and nobody can tell whether the send went out. The two targets take opposite sides, on
//! purpose:
//! - the topic is **at most once**: its email and SMS subscribers are people, who cannot drop a
//!   duplicate, and a crash is rare and alarmed by itself (the notifier's Lambda errors). The
//!   retry does not send the notice again and logs it `unconfirmed`, with its id;
//! - the bus is **at least once**: its consumers are programs that deduplicate on the document's
//!   `id`, and an event that a rule routes or an archive keeps is worse lost than doubled. The
//!   retry sends it again.
//!
//! The stream hands a shard's records to one invocation at a time, so an unfinished claim is a
//! dead attempt's, never a live one's.

use super::{Notice, PublishError};
use crate::store::{lock, StoreError};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

/// Where a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The SNS topic: queues, functions, and the merchant's email and SMS.
    Topic,
    /// The EventBridge bus, when there is one.
    Bus,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Topic => "topic",
            Target::Bus => "bus",
        }
    }

    /// The claim's sort key in the table.
    pub fn sort_key(self) -> &'static str {
        match self {
            Target::Topic => crate::table::TOPIC_CLAIM,
            Target::Bus => crate::table::BUS_CLAIM,
        }
    }

    /// Whether a claim left unfinished by a dead attempt counts as sent (see the module's
    /// comment).
    fn at_most_once(self) -> bool {
        matches!(self, Target::Topic)
    }
}

/// What claiming a (notice, target) pair found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had it: this attempt sends.
    Won,
    /// An earlier attempt sent it and said so.
    Done,
    /// An earlier attempt claimed it and never said how its send ended.
    Unfinished,
}

/// Claims on (notice id, target) pairs that outlive the invocation (the table in the AWS
/// adapters).
pub trait Claims: Send + Sync {
    /// Claims the pair unless an earlier attempt holds it.
    fn claim(
        &self,
        id: &str,
        target: Target,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;
    /// The pair's send succeeded.
    fn complete(
        &self,
        id: &str,
        target: Target,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The pair's send failed: a later attempt may claim it again.
    fn release(
        &self,
        id: &str,
        target: Target,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// No store at all (a run without a table): every claim is won, so a retry sends every target
/// again.
impl<C: Claims> Claims for Option<C> {
    async fn claim(&self, id: &str, target: Target) -> Result<Claim, StoreError> {
        match self {
            Some(c) => c.claim(id, target).await,
            None => Ok(Claim::Won),
        }
    }

    async fn complete(&self, id: &str, target: Target) -> Result<(), StoreError> {
        match self {
            Some(c) => c.complete(id, target).await,
            None => Ok(()),
        }
    }

    async fn release(&self, id: &str, target: Target) -> Result<(), StoreError> {
        match self {
            Some(c) => c.release(id, target).await,
            None => Ok(()),
        }
    }
}

/// Claims in memory with the port's rules; a claim can be left unfinished (as a crash leaves
/// it) and the store can be made unavailable, for tests.
#[derive(Debug, Default)]
pub struct MemoryClaims {
    /// `true` once done.
    claims: Mutex<BTreeMap<(String, Target), bool>>,
    down: Mutex<bool>,
}

impl MemoryClaims {
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves the pair claimed and unfinished, as an attempt that died after claiming does.
    pub fn leave_unfinished(&self, id: &str, target: Target) {
        lock(&self.claims).insert((id.to_owned(), target), false);
    }

    /// Makes every call fail as an unreachable store does, or work again.
    pub fn set_down(&self, down: bool) {
        *lock(&self.down) = down;
    }

    /// The pair's claim: `None` if none, `Some(true)` if done.
    pub fn state(&self, id: &str, target: Target) -> Option<bool> {
        lock(&self.claims).get(&(id.to_owned(), target)).copied()
    }

    fn up(&self) -> Result<(), StoreError> {
        if *lock(&self.down) {
            return Err(StoreError::Retryable("memory claims set down".into()));
        }
        Ok(())
    }
}

impl Claims for MemoryClaims {
    async fn claim(&self, id: &str, target: Target) -> Result<Claim, StoreError> {
        self.up()?;
        let mut claims = lock(&self.claims);
        Ok(match claims.get(&(id.to_owned(), target)) {
            Some(true) => Claim::Done,
            Some(false) => Claim::Unfinished,
            None => {
                claims.insert((id.to_owned(), target), false);
                Claim::Won
            }
        })
    }

    async fn complete(&self, id: &str, target: Target) -> Result<(), StoreError> {
        self.up()?;
        lock(&self.claims).insert((id.to_owned(), target), true);
        Ok(())
    }

    async fn release(&self, id: &str, target: Target) -> Result<(), StoreError> {
        self.up()?;
        lock(&self.claims).remove(&(id.to_owned(), target));
        Ok(())
    }
}

/// How a target's send ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Sent now.
    Published,
    /// An earlier attempt sent it: not sent again.
    Done,
    /// An earlier attempt claimed the topic and died before saying how its send ended: not sent
    /// again (at most once).
    Unconfirmed,
}

impl Sent {
    pub fn as_str(self) -> &'static str {
        match self {
            Sent::Published => "published",
            Sent::Done => "done",
            Sent::Unconfirmed => "unconfirmed",
        }
    }
}

/// What one notice came to, per target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: Result<Sent, PublishError>,
    /// `None` without a bus, or when the topic's temporary failure left the bus for the retry.
    pub bus: Option<Result<Sent, PublishError>>,
    /// Claims that could not be completed or given back: the send's own result stands, but a
    /// later attempt will read the claim as unfinished.
    pub notes: Vec<String>,
}

impl Delivery {
    /// A delivery to the topic alone.
    pub fn topic_only(result: Result<(), PublishError>) -> Delivery {
        Delivery {
            topic: result.map(|()| Sent::Published),
            bus: None,
            notes: Vec::new(),
        }
    }

    /// The first temporary failure, with its target: the record is retried for it.
    pub fn temporary(&self) -> Option<(Target, &PublishError)> {
        [
            (Target::Topic, Some(&self.topic)),
            (Target::Bus, self.bus.as_ref()),
        ]
        .into_iter()
        .find_map(|(t, r)| match r {
            Some(Err(e @ PublishError::Temporary(_))) => Some((t, e)),
            _ => None,
        })
    }

    /// The bus's refusal for good, if it refused.
    pub fn bus_refused(&self) -> Option<&PublishError> {
        match &self.bus {
            Some(Err(e @ PublishError::Permanent(_))) => Some(e),
            _ => None,
        }
    }

    /// A target's state for logs: `published`, `done`, `unconfirmed`, `refused`, `failed`, or
    /// `none` where it was not tried.
    pub fn state(&self, target: Target) -> &'static str {
        let result = match target {
            Target::Topic => Some(&self.topic),
            Target::Bus => self.bus.as_ref(),
        };
        match result {
            None => "none",
            Some(Ok(sent)) => sent.as_str(),
            Some(Err(PublishError::Permanent(_))) => "refused",
            Some(Err(PublishError::Temporary(_))) => "failed",
        }
    }

    /// The delivery as one publish's result: a temporary failure of either target, else the
    /// topic's refusal. A bus refusal is not the topic's failure: the caller logs it.
    pub fn result(&self) -> Result<(), PublishError> {
        if let Some((_, e)) = self.temporary() {
            return Err(e.clone());
        }
        self.topic.as_ref().map(|_| ()).map_err(Clone::clone)
    }
}

/// Sends `notice` to `target` through `send` unless an earlier attempt did; `Err` in the second
/// place notes a claim that could not be completed or given back.
pub async fn send_once<C, F>(
    claims: &C,
    notice: &Notice,
    target: Target,
    send: impl FnOnce() -> F,
) -> (Result<Sent, PublishError>, Option<String>)
where
    C: Claims,
    F: Future<Output = Result<(), PublishError>>,
{
    let id = notice.id.as_str();
    match claims.claim(id, target).await {
        // Without its claim the send could not be told apart from a later one: retried.
        Err(e) => {
            return (
                Err(PublishError::Temporary(format!(
                    "cannot claim the {} send: {e}",
                    target.as_str()
                ))),
                None,
            )
        }
        Ok(Claim::Done) => return (Ok(Sent::Done), None),
        Ok(Claim::Unfinished) if target.at_most_once() => return (Ok(Sent::Unconfirmed), None),
        Ok(Claim::Won | Claim::Unfinished) => {}
    }
    match send().await {
        Ok(()) => {
            let note = claims.complete(id, target).await.err().map(|e| {
                format!(
                    "the {} send is not recorded as done ({e}): a retry reads it as unfinished",
                    target.as_str()
                )
            });
            (Ok(Sent::Published), note)
        }
        Err(failure) => {
            let note = claims.release(id, target).await.err().map(|e| {
                format!(
                    "the {} claim could not be given back ({e}): a retry reads it as unfinished",
                    target.as_str()
                )
            });
            (Err(failure), note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;
    use serde_json::json;

    #[test]
    fn a_pair_is_won_once_done_after_completion_and_free_again_after_release() {
        let claims = MemoryClaims::new();
        let cases: [(&str, Target, Claim); 4] = [
            ("a", Target::Topic, Claim::Won),
            ("a", Target::Topic, Claim::Unfinished),
            ("a", Target::Bus, Claim::Won),
            ("b", Target::Topic, Claim::Won),
        ];
        for (id, target, expected) in cases {
            assert_eq!(
                run(claims.claim(id, target)),
                Ok(expected),
                "{id} {target:?}"
            );
        }
        run(claims.complete("a", Target::Topic)).expect("memory");
        assert_eq!(run(claims.claim("a", Target::Topic)), Ok(Claim::Done));
        run(claims.release("a", Target::Bus)).expect("memory");
        assert_eq!(run(claims.claim("a", Target::Bus)), Ok(Claim::Won));
        claims.set_down(true);
        assert!(run(claims.claim("c", Target::Topic)).is_err());
        let none: Option<MemoryClaims> = None;
        assert_eq!(run(none.claim("a", Target::Topic)), Ok(Claim::Won));
        assert_eq!(run(none.claim("a", Target::Topic)), Ok(Claim::Won));
    }

    #[test]
    fn a_claim_item_in_the_table_notifies_nothing() {
        for target in [Target::Topic, Target::Bus] {
            let item = json!({
                crate::table::PK: crate::table::notice_pk("shipment.status_changed:ab12"),
                crate::table::SK: target.sort_key(),
                crate::table::CLAIM: crate::table::CLAIM_PENDING,
            });
            assert_eq!(super::super::decide(None, Some(&item)), Ok(None));
            assert_eq!(super::super::decide(Some(&item), None), Ok(None));
        }
    }

    #[test]
    fn a_delivery_reads_as_one_result() {
        fn temporary<T>() -> Result<T, PublishError> {
            Err(PublishError::Temporary("t".into()))
        }
        fn refused<T>() -> Result<T, PublishError> {
            Err(PublishError::Permanent("p".into()))
        }
        type Case = (
            Result<Sent, PublishError>,
            Option<Result<Sent, PublishError>>,
            Result<(), PublishError>,
            &'static str,
        );
        let cases: [Case; 5] = [
            (Ok(Sent::Published), None, Ok(()), "none"),
            (
                Ok(Sent::Done),
                Some(Ok(Sent::Published)),
                Ok(()),
                "published",
            ),
            (
                Ok(Sent::Published),
                Some(temporary()),
                temporary(),
                "failed",
            ),
            (Ok(Sent::Published), Some(refused()), Ok(()), "refused"),
            (refused(), Some(Ok(Sent::Done)), refused(), "done"),
        ];
        for (topic, bus, result, bus_state) in cases {
            let d = Delivery {
                topic,
                bus,
                notes: Vec::new(),
            };
            assert_eq!(d.result(), result, "{d:?}");
            assert_eq!(d.state(Target::Bus), bus_state, "{d:?}");
        }
    }
}
