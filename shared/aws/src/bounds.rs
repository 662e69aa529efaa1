//! How long the store's and the archive's calls may take. A webhook answers Qapla' inside its
//! function's 6 s: a call that cannot finish in its bound fails, and the delivery waits in the
//! inbox, answered OK. The inbox drain answers nobody and has 60 s, so its bounds are longer.
//! A transaction's bounds grow with what it carries ([`for_transaction`]): a 100-item, near-4 MB
//! write of 50 orders takes far longer than a shipment's two small items, and must not fail on
//! every try for its size alone.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use std::time::Duration;

/// Bounds on every call of the webhooks, so that an unreachable store answers well within the
/// patience of a webhook sender (Qapla' documents none; common ones wait 5 to 10 s) and of the
/// function's own 6 s timeout. A healthy DynamoDB call takes tens of milliseconds in its region:
/// - connect: 500 ms (a connection in the region takes a few);
/// - one attempt: 1 s; the whole call, retries included: 2 s (a transaction: more, by its size).
pub fn bounded_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(2))
        .build()
}

/// The retries of every bounded client: 3 attempts, backing off from 50 ms up to 400 ms (the
/// SDK's defaults start at 1 s and reach 20 s).
pub fn bounded_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(400))
}

/// The bounds of the inbox drain's calls: nobody waits for its answer and its function has
/// 60 s, so a large transaction that could not finish in a webhook's time gets the time it needs
/// here rather than failing on every run:
/// - connect: 2 s; one attempt: 8 s; the whole call, retries included: 16 s.
pub fn drain_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(8))
        .operation_timeout(Duration::from_secs(16))
        .build()
}

/// The bounds of a webhook's heartbeat write: it comes after the delivery's own calls, so it
/// must fit in what the answer's reserve leaves, and it is worth little (the next delivery
/// writes it again): one small put, 250 ms an attempt, 500 ms in all.
pub fn heartbeat_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(250))
        .operation_attempt_timeout(Duration::from_millis(250))
        .operation_timeout(Duration::from_millis(500))
        .build()
}

/// What one attempt of a transaction may take beyond its client's bound, per item it writes:
/// DynamoDB checks each item's condition and writes it in two phases.
pub const PER_ITEM: Duration = Duration::from_millis(5);

/// ... and per MiB it sends: the request crosses the network (a 128 MB function's share of it
/// is small) and DynamoDB stores every byte twice over.
pub const PER_MIB: Duration = Duration::from_millis(250);

/// The largest transaction DynamoDB takes: 100 items, 4 MB.
const MOST_ITEMS: usize = 100;
const MOST_BYTES: usize = 4 * 1024 * 1024;

/// The most a transaction's attempt gets beyond its client's bound (100 items of 4 MB: 1.5 s).
pub fn most_extra() -> Duration {
    extra(MOST_ITEMS, MOST_BYTES)
}

fn extra(items: usize, bytes: usize) -> Duration {
    let items = u32::try_from(items.min(MOST_ITEMS)).unwrap_or(0);
    let bytes = bytes.min(MOST_BYTES) as f64;
    PER_ITEM * items + PER_MIB.mul_f64(bytes / (1024.0 * 1024.0))
}

/// The bounds of one transaction of `items` items and about `bytes` bytes, on a client bounded
/// by `base`: each attempt gets [`PER_ITEM`] and [`PER_MIB`] more, and the whole call twice that
/// more, so a transaction that fits in time when DynamoDB is well still gets its retry. A base
/// without an attempt bound, or without a whole-call bound, keeps none.
pub fn for_transaction(base: &TimeoutConfig, items: usize, bytes: usize) -> TimeoutConfig {
    let more = extra(items, bytes);
    let mut bounds = TimeoutConfig::builder();
    if let Some(connect) = base.connect_timeout() {
        bounds = bounds.connect_timeout(connect);
    }
    if let Some(attempt) = base.operation_attempt_timeout() {
        bounds = bounds.operation_attempt_timeout(attempt + more);
    }
    if let Some(whole) = base.operation_timeout() {
        bounds = bounds.operation_timeout(whole + 2 * more);
    }
    bounds.build()
}

/// The longest a store call of a client bounded by `base` may take, a transaction's growth
/// included: what a caller must keep in reserve before a deadline to make one more.
pub fn longest_call(base: &TimeoutConfig) -> Duration {
    base.operation_timeout().unwrap_or_default() + 2 * most_extra()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transactions_bounds_grow_with_its_items_and_bytes() {
        let base = bounded_timeouts();
        type Case = (usize, usize, u64, u64);
        // (items, bytes, attempt ms, whole call ms)
        let cases: [Case; 5] = [
            (2, 2 * 1024, 1_010, 2_020),
            (60, 100 * 1024, 1_324, 2_648),
            (100, 4 * 1024 * 1024, 2_500, 5_000),
            // Past DynamoDB's limits the bounds grow no more: no such transaction is sent.
            (500, 40 * 1024 * 1024, 2_500, 5_000),
            (0, 0, 1_000, 2_000),
        ];
        for (items, bytes, attempt, whole) in cases {
            let got = for_transaction(&base, items, bytes);
            let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
            assert_eq!(
                (
                    ms(got.operation_attempt_timeout()),
                    ms(got.operation_timeout())
                ),
                (Some(attempt), Some(whole)),
                "{items} items, {bytes} bytes"
            );
            assert_eq!(got.connect_timeout(), base.connect_timeout());
        }
        assert_eq!(longest_call(&base), Duration::from_secs(5));
    }

    #[test]
    fn a_client_without_bounds_gets_none() {
        let got = for_transaction(&TimeoutConfig::disabled(), 100, 4 * 1024 * 1024);
        assert_eq!(got.operation_attempt_timeout(), None);
        assert_eq!(got.operation_timeout(), None);
    }
}
