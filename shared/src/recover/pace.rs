//! Pacing calls to Qapla's API: a token bucket below Qapla's own (capacity 120, 2 tokens a second
//! per key, one token a request), and an exponential backoff with jitter for the 429 that comes
//! anyway (the merchant's other systems draw on the same key). Pure: the caller passes the time.

use std::time::Duration;

/// Qapla's bucket per key, as documented.
pub const QAPLA_CAPACITY: u32 = 120;
pub const QAPLA_PER_SECOND: f64 = 2.0;

/// A token bucket driven by the time the caller gives it (time since any fixed start).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(capacity: u32, per_second: f64, now: Duration) -> Self {
        TokenBucket {
            capacity: f64::from(capacity),
            per_second,
            tokens: f64::from(capacity),
            at: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// Takes one token at `now`, or says how long to wait until one is there.
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second))
        }
    }

    /// Empties the bucket: after a 429 the next call waits for a fresh token at least.
    pub fn drain(&mut self, now: Duration) {
        self.refill(now);
        self.tokens = 0.0;
    }

    /// Tokens there at `now`.
    pub fn tokens(&mut self, now: Duration) -> f64 {
        self.refill(now);
        self.tokens
    }
}

/// How a run paces itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Our bucket: below Qapla's capacity, so others using the key keep some room.
    pub capacity: u32,
    pub per_second: f64,
    /// First wait after a 429, doubled on each one that follows, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// 429s in a row after which the channel stops for this run.
    pub max_retries: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            capacity: 100,
            per_second: QAPLA_PER_SECOND,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(60),
            max_retries: 5,
        }
    }
}

impl Pace {
    /// The wait before retry `attempt` (0 for the first) after a 429: the exponential step, of
    /// which a random half is kept (`unit` in [0, 1)), so that several clients do not retry in step.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let step = self
            .backoff_base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.backoff_cap);
        step.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn a_full_bucket_gives_its_capacity_then_its_rate() {
        let mut b = TokenBucket::new(100, 2.0, s(0.0));
        for _ in 0..100 {
            assert_eq!(b.take(s(0.0)), Ok(()));
        }
        assert_eq!(b.take(s(0.0)), Err(s(0.5)));
        assert_eq!(b.take(s(0.25)), Err(s(0.25)));
        assert_eq!(b.take(s(0.5)), Ok(()));
        // Over a minute at most 120 more: the rate, never more.
        let mut taken = 0;
        let mut t = 0.5;
        while t < 60.5 {
            if b.take(s(t)).is_ok() {
                taken += 1;
            }
            t += 0.01;
        }
        assert!((119..=121).contains(&taken), "{taken}");
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let mut b = TokenBucket::new(10, 2.0, s(0.0));
        assert!((b.tokens(s(3600.0)) - 10.0).abs() < 1e-9);
        b.drain(s(3600.0));
        assert_eq!(b.take(s(3600.0)), Err(s(0.5)));
    }

    #[test]
    fn time_going_back_takes_nothing() {
        let mut b = TokenBucket::new(1, 1.0, s(10.0));
        assert_eq!(b.take(s(10.0)), Ok(()));
        assert!(b.take(s(5.0)).is_err());
    }

    #[test]
    fn our_bucket_stays_under_qaplas() {
        let pace = Pace::default();
        assert!(pace.capacity < QAPLA_CAPACITY);
        assert!(pace.per_second <= QAPLA_PER_SECOND);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let pace = Pace::default();
        assert_eq!(pace.backoff(0, 1.0), s(2.0));
        assert_eq!(pace.backoff(0, 0.0), s(1.0));
        assert_eq!(pace.backoff(1, 1.0), s(4.0));
        assert_eq!(pace.backoff(3, 0.5), s(12.0));
        assert_eq!(pace.backoff(10, 1.0), s(60.0));
        assert_eq!(pace.backoff(40, 0.0), s(30.0));
    }
}
