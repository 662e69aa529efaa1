//! The reconciler function: configuration, the channels' keys and the clients once per cold
//! start; each invocation one run of [`qapla::recover`], answered with its summary.

use crate::dynamo::DynamoStore;
use crate::qapla_http::HttpQapla;
use chrono::{DateTime, Utc};
use qapla::auth::{ApiKey, Channel};
use qapla::config::RecoverConfig;
use qapla::recover::{BadInvocation, Clock, Invocation, Reconciler, RecoverySummary};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use lambda_runtime::Error;

/// Real time: tokio's sleep, and a small generator for the backoff's jitter.
#[derive(Debug)]
pub struct TokioClock {
    start: Instant,
    seed: Mutex<u64>,
}

impl Default for TokioClock {
    fn default() -> Self {
        let nanos = Utc::now().timestamp_subsec_nanos();
        TokioClock {
            start: Instant::now(),
            seed: Mutex::new(u64::from(nanos) | 1),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn unit(&self) -> f64 {
        // xorshift64: jitter needs spread, not secrecy.
        // A panic while holding the lock leaves a plain number behind: still a seed.
        let mut seed = self
            .seed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The reconciler, ready to run, on real time unless given another clock (a test's).
pub struct ReconcilerFunction<C: Clock = TokioClock> {
    pub config: RecoverConfig,
    pub store: DynamoStore,
    pub api: HttpQapla,
    pub keys: Vec<(Channel, Option<ApiKey>)>,
    pub clock: C,
}

impl ReconcilerFunction {
    /// Reads the configuration and the keys (SSM), and builds the clients.
    pub async fn from_env() -> Result<Self, Error> {
        let config = RecoverConfig::from_env().map_err(|e| {
            tracing::error!(
                variable = e.var,
                reason = e.reason.as_str(),
                "configuration"
            );
            Box::new(e) as Error
        })?;
        let sdk = crate::sdk_config().await?;
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let keys = crate::ssm::channel_keys(&ssm, &config.keys_prefix, &config.channels).await?;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table_name.clone(),
        );
        let api = HttpQapla::new(&config.api_url)?;
        Ok(ReconcilerFunction {
            config,
            store,
            api,
            keys,
            clock: TokioClock::default(),
        })
    }

    /// The deadline on the clock's scale, from Lambda's (milliseconds since the epoch). Where the
    /// runtime gives none in the future (`cargo lambda watch` under `make local`), a run is
    /// bounded by Lambda's longest timeout instead of stopping before it starts.
    pub fn deadline(&self, epoch_ms: u64) -> Duration {
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let left = match epoch_ms.checked_sub(now_ms) {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => LAMBDA_LONGEST_TIMEOUT,
        };
        self.clock.elapsed() + left
    }
}

impl<C: Clock> ReconcilerFunction<C> {
    /// One run: `{}` or a scheduler's event from the checkpoints, `{"since", "until"}` a span.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: Duration,
    ) -> Result<RecoverySummary, BadInvocation> {
        let invocation =
            Invocation::from_event(event, self.config.settings.timezone).inspect_err(|e| {
                tracing::error!(reason = %e, "recover invocation refused");
            })?;
        let reconciler = Reconciler {
            api: &self.api,
            store: &self.store,
            clock: &self.clock,
            settings: &self.config.settings,
        };
        Ok(reconciler.run(&self.keys, invocation, deadline).await)
    }
}

/// Lambda's longest function timeout.
const LAMBDA_LONGEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Runs the reconciler function: each invocation one run, answered with its summary.
pub async fn serve_reconciler(function: ReconcilerFunction) -> Result<(), Error> {
    let function = Arc::new(function);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let function = Arc::clone(&function);
            async move {
                let deadline = function.deadline(event.context.deadline);
                let summary = function.handle(&event.payload, deadline).await?;
                Ok::<Value, Error>(serde_json::to_value(summary)?)
            }
        },
    ))
    .await
}
