//! Lambda wiring: configuration and clients once per cold start, then one handler per request.

use crate::bounds;
use crate::claims::DynamoClaims;
use crate::dynamo::DynamoStore;
use crate::eventbridge::EventBridgeBus;
use crate::heartbeat::DynamoHeartbeats;
use crate::s3::S3Archive;
use crate::sns::SnsPublisher;
use crate::stream::StreamNotifier;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt, Response};
use qapla::config::{NotifierConfig, StuckConfig, WebhookConfig};
use qapla::kind::Kind;
use qapla::notify::batch::Deadline;
use qapla::notify::bus::FanOut;
use qapla::store::{Archive, Store};
use qapla::webhook::{self, Webhook};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

pub use lambda_runtime::Error;

/// Structured JSON logs, one object per line with the event's fields at the top level. The level
/// comes from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (a level name), INFO by default.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.trim().parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .finish()
        .with(log_filter(level));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Crates that log raw events, request and response bodies at `TRACE`: the API key and
/// customers' personal data. Prefixes of tracing targets.
pub const CAPPED_TARGETS: [&str; 7] = [
    "lambda_runtime",
    "lambda_http",
    "aws_",
    "hyper",
    "h2",
    "rustls",
    "tower",
];

/// The configured level for our own code, and at most `DEBUG` for [`CAPPED_TARGETS`], whatever
/// the configured level.
pub fn log_filter(level: tracing::Level) -> Targets {
    let level = LevelFilter::from_level(level);
    let capped = level.min(LevelFilter::DEBUG);
    CAPPED_TARGETS
        .iter()
        .fold(Targets::new().with_default(level), |targets, prefix| {
            targets.with_target(*prefix, capped)
        })
}

/// The sender as API Gateway or the function URL saw it; headers are never trusted for this.
pub fn source_ip(request: &lambda_http::Request) -> Option<IpAddr> {
    let ip = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }?;
    ip.trim().parse().ok()
}

/// Runs one HTTP request through the pipeline.
pub async fn answer<S: Store, A: Archive>(
    webhook: &Webhook<S, A>,
    request: &lambda_http::Request,
) -> webhook::Answer {
    let record_by = request
        .lambda_context_ref()
        .and_then(|context| left_to_record(context.deadline()))
        .map(|left| Box::pin(tokio::time::sleep(left)) as webhook::Timer<'static>);
    webhook
        .handle_within(
            webhook::Request {
                method: request.method().as_str(),
                source: source_ip(request),
                body: request.body().as_ref(),
            },
            record_by,
        )
        .await
}

/// What a webhook keeps of its invocation's time after recording: one archive write (the
/// inbox: its client's whole-call bound; a recorded delivery's heartbeat write, which an inboxed
/// one never makes, is bounded far shorter, [`bounds::heartbeat_timeouts`]) and half a second
/// to answer.
pub fn answer_reserve() -> Duration {
    bounds::bounded_timeouts()
        .operation_timeout()
        .unwrap_or_default()
        + Duration::from_millis(500)
}

/// How long a delivery may wait for the table, by an invocation's `deadline`: what is left of
/// it but [`answer_reserve`] (nothing, when less is left). `None` where the runtime gives no
/// deadline in the future (a local emulator may not): the calls' own bounds only.
pub fn left_to_record(deadline: SystemTime) -> Option<Duration> {
    left_to_record_at(deadline, SystemTime::now())
}

fn left_to_record_at(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
    let left = deadline.duration_since(now).ok().filter(|l| !l.is_zero())?;
    Some(left.saturating_sub(answer_reserve()))
}

/// The HTTP response for an answer: its status and exactly `{"result":"OK"}` or `{"result":"KO"}`.
pub fn response(answer: &webhook::Answer) -> Response<Body> {
    use lambda_http::http::{header, HeaderValue, StatusCode};
    let mut response = Response::new(Body::from(answer.body()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Answers one HTTP request.
pub async fn respond<S: Store, A: Archive>(
    webhook: &Webhook<S, A>,
    request: lambda_http::Request,
) -> Response<Body> {
    response(&answer(webhook, &request).await)
}

fn fail_config(e: qapla::config::ConfigError) -> Error {
    tracing::error!(
        variable = e.var,
        reason = e.reason.as_str(),
        "configuration"
    );
    Box::new(e)
}

/// Builds a webhook function's pipeline from the environment.
pub async fn webhook_from_env(
    kind: Kind,
) -> Result<Webhook<DynamoStore, Option<S3Archive>>, Error> {
    let config = WebhookConfig::from_env().map_err(fail_config)?;
    let sdk = crate::sdk_config().await?;
    let store = DynamoStore::new(crate::dynamo::client(&sdk), config.table_name.clone());
    let archive = config
        .bucket_name
        .as_ref()
        .map(|bucket| S3Archive::new(crate::s3::client(&sdk), bucket.clone()));
    // The channels' heartbeats, on a client of short bounds: the write comes after the
    // delivery's own calls, inside the answer's reserve.
    let heartbeats = DynamoHeartbeats::new(
        crate::dynamo::heartbeat_client(&sdk),
        config.table_name.clone(),
    );
    Ok(Webhook::new(kind, config.settings, store, archive).with_heartbeats(heartbeats))
}

/// Runs a webhook function: each API Gateway request through `webhook`, answered as
/// [`response`] says.
pub async fn serve_webhook(webhook: Webhook<DynamoStore, Option<S3Archive>>) -> Result<(), Error> {
    let webhook = Arc::new(webhook);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let webhook = Arc::clone(&webhook);
        async move { Ok::<_, Error>(respond(&webhook, request).await) }
    }))
    .await
}

/// The drain's pipeline: the webhooks' own, over the stack's table and bucket (`BUCKET_NAME` is
/// required: the inbox is in it).
/// Its DynamoDB client has the drain's own, longer bounds ([`crate::dynamo::drain_client`]).
pub async fn drain_from_env() -> Result<Webhook<DynamoStore, S3Archive>, Error> {
    let config = WebhookConfig::from_env().map_err(fail_config)?;
    let Some(bucket) = config.bucket_name.clone() else {
        return Err(fail_config(qapla::config::ConfigError {
            var: qapla::config::BUCKET_NAME,
            reason: "the inbox drain needs the archive bucket".into(),
        }));
    };
    let sdk = crate::sdk_config().await?;
    let store = DynamoStore::new(crate::dynamo::drain_client(&sdk), config.table_name.clone());
    let archive = S3Archive::new(crate::s3::client(&sdk), bucket);
    Ok(Webhook::new(
        Kind::Shipment,
        config.settings,
        store,
        archive,
    ))
}

/// Runs the inbox drain on its schedule. The scheduler's event carries nothing it needs; the
/// answer is the run's summary, whose log line the template's inbox alarm reads.
pub async fn serve_drain(webhook: Webhook<DynamoStore, S3Archive>) -> Result<(), Error> {
    let webhook = Arc::new(webhook);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let webhook = Arc::clone(&webhook);
            async move {
                // Room for one more delivery's store calls and the answer.
                let reserve =
                    2 * bounds::longest_call(&bounds::drain_timeouts()) + Duration::from_secs(1);
                let deadline = deadline_with(&event.context, reserve).map(|d| d.at - d.reserve);
                let summary = webhook::drain::run(&webhook, chrono::Utc::now(), deadline).await;
                Ok::<_, Error>(summary)
            }
        },
    ))
    .await
}

/// The longest one publish may take, its retries included: the notifier starts a publish only
/// while this much time (and a second to answer) is left before the invocation's deadline.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The topic, and the EventBridge bus when one is named, each sent once per notice through the
/// table's claims when there are claims.
pub type Fanout = FanOut<SnsPublisher, EventBridgeBus, Option<DynamoClaims>>;

/// The topic's publisher and the bus's, each bounded by [`PUBLISH_TIMEOUT`], without claims (set
/// `claims` to send each target once).
pub fn fanout(sdk: &aws_config::SdkConfig, topic_arn: &str, event_bus: Option<&str>) -> Fanout {
    let timeout = || {
        aws_sdk_sns::config::timeout::TimeoutConfig::builder()
            .operation_timeout(PUBLISH_TIMEOUT)
            .build()
    };
    let sns = aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(timeout())
        .build();
    let bus = event_bus.map(|name| {
        let config = aws_sdk_eventbridge::config::Builder::from(sdk)
            .timeout_config(timeout())
            .build();
        EventBridgeBus::new(aws_sdk_eventbridge::Client::from_conf(config), name)
    });
    FanOut {
        publisher: SnsPublisher::new(aws_sdk_sns::Client::from_conf(sns), topic_arn),
        bus,
        claims: None,
    }
}

/// How long publishing one notice may take: [`PUBLISH_TIMEOUT`] per send, and with claims a
/// claim and its completion per target, each bounded like the store's calls.
fn publish_time(fanout: &Fanout) -> Duration {
    let targets = if fanout.bus.is_some() { 2 } else { 1 };
    let claims = if fanout.claims.is_some() {
        2 * crate::bounds::bounded_timeouts()
            .operation_timeout()
            .unwrap_or_default()
    } else {
        Duration::ZERO
    };
    (PUBLISH_TIMEOUT + claims) * targets
}

/// Builds the notifier from the environment.
pub async fn notifier_from_env() -> Result<StreamNotifier<Fanout>, Error> {
    let config = NotifierConfig::from_env().map_err(fail_config)?;
    let sdk = crate::sdk_config().await?;
    let mut publisher = fanout(&sdk, &config.topic_arn, config.event_bus.as_deref());
    publisher.claims = config
        .table_name
        .map(|table| DynamoClaims::new(crate::dynamo::client(&sdk), table));
    Ok(StreamNotifier {
        notifier: config.notifier,
        publisher,
    })
}

/// The invocation's deadline as the batch watches it; none where the runtime gives no deadline
/// in the future (Lambda always does; a local emulator may not).
pub fn deadline(context: &lambda_runtime::Context) -> Option<Deadline> {
    deadline_with(context, PUBLISH_TIMEOUT)
}

/// The same, when one publish may take `publish` (to the topic and the bus).
fn deadline_with(context: &lambda_runtime::Context, publish: Duration) -> Option<Deadline> {
    let left = context.deadline().duration_since(SystemTime::now()).ok()?;
    Some(Deadline {
        at: Instant::now() + left,
        reserve: publish + Duration::from_secs(1),
    })
}

/// Runs the notifier on the table's stream: each batch of records published in order, its
/// failures answered as a partial batch response.
pub async fn serve_notifier(notifier: StreamNotifier<Fanout>) -> Result<(), Error> {
    let notifier = Arc::new(notifier);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<StreamEvent>| {
            let notifier = Arc::clone(&notifier);
            async move {
                let deadline = deadline_with(&event.context, publish_time(&notifier.publisher));
                Ok::<_, Error>(notifier.handle_until(&event.payload, deadline).await)
            }
        },
    ))
    .await
}

/// The stuck check's ports on the stack's table and topic.
pub struct StuckFunction {
    pub config: StuckConfig,
    pub reader: crate::reader::DynamoReader,
    pub episodes: crate::stuck::DynamoEpisodes,
    pub publisher: Fanout,
    /// The webhooks' heartbeats, checked on their own schedule ([`HEARTBEAT_CHECK`]).
    pub heartbeats: DynamoHeartbeats,
}

/// The event of the heartbeat check's schedule: `{"check": "heartbeats"}`. Any other event
/// (the stuck check's schedule carries none) runs the stuck check, as before.
pub const CHECK: &str = "check";
pub const HEARTBEAT_CHECK: &str = "heartbeats";

/// Whether a scheduled event asks for the heartbeat check.
pub fn asks_heartbeat_check(event: &serde_json::Value) -> bool {
    event.get(CHECK).and_then(serde_json::Value::as_str) == Some(HEARTBEAT_CHECK)
}

impl StuckFunction {
    /// One run at `now`.
    pub async fn run(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        deadline: Option<Deadline>,
    ) -> qapla::stuck::StuckSummary {
        qapla::stuck::StuckCheck {
            rule: self.config.rule,
            notifier: &self.config.notifier,
            channels: &self.config.channels,
        }
        .run(&self.reader, &self.episodes, &self.publisher, now, deadline)
        .await
    }

    /// One heartbeat check at `now`.
    pub async fn check_heartbeats(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> qapla::heartbeat::HeartbeatSummary {
        qapla::heartbeat::HeartbeatCheck {
            channels: &self.config.channels,
            silence_hours: self.config.silence_hours,
        }
        .run(&self.heartbeats, now)
        .await
    }
}

/// Builds the stuck check from the environment.
pub async fn stuck_from_env() -> Result<StuckFunction, Error> {
    let config = StuckConfig::from_env().map_err(fail_config)?;
    let sdk = crate::sdk_config().await?;
    let dynamo = crate::dynamo::client(&sdk);
    let mut publisher = fanout(&sdk, &config.topic_arn, config.event_bus.as_deref());
    publisher.claims = Some(DynamoClaims::new(dynamo.clone(), &config.table_name));
    Ok(StuckFunction {
        reader: crate::reader::DynamoReader::new(dynamo.clone(), &config.table_name),
        episodes: crate::stuck::DynamoEpisodes::new(dynamo.clone(), &config.table_name),
        heartbeats: DynamoHeartbeats::new(dynamo, &config.table_name),
        publisher,
        config,
    })
}

/// Runs the stuck check on its schedule. The scheduler's event carries nothing it needs; the
/// answer is the run's summary. A failed run still answers: the next run is its retry, and the
/// summary line's outcome is what the alarm counts. The heartbeat check's own schedule (always
/// on, whatever `StuckAlerts` says) sends [`HEARTBEAT_CHECK`]: that runs the heartbeat check
/// alone, answered with its summary.
pub async fn serve_stuck(check: StuckFunction) -> Result<(), Error> {
    let check = Arc::new(check);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let check = Arc::clone(&check);
            async move {
                if asks_heartbeat_check(&event.payload) {
                    let summary = check.check_heartbeats(chrono::Utc::now()).await;
                    return Ok::<_, Error>(serde_json::to_value(summary)?);
                }
                // A claim and a give-back may take a bounded store call each besides the publish.
                let publish = publish_time(&check.publisher);
                let deadline = deadline_with(&event.context, publish).map(|d| Deadline {
                    reserve: d.reserve
                        + 2 * crate::bounds::bounded_timeouts()
                            .operation_timeout()
                            .unwrap_or_default(),
                    ..d
                });
                let summary = check.run(chrono::Utc::now(), deadline).await;
                Ok::<_, Error>(serde_json::to_value(summary)?)
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn only_the_heartbeat_schedule_runs_the_heartbeat_check() {
        assert!(asks_heartbeat_check(
            &serde_json::json!({"check": "heartbeats"})
        ));
        for other in [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!({"check": "stuck"}),
            serde_json::json!({"source": "aws.scheduler"}),
        ] {
            assert!(!asks_heartbeat_check(&other), "{other}");
        }
    }

    #[test]
    fn chatty_crates_stop_at_debug_and_ours_follow_the_level() {
        let filter = log_filter(Level::TRACE);
        for target in [
            "lambda_runtime::layers::api_response",
            "lambda_http::request",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sdk_sns::operation",
            "hyper_util::client",
            "h2::codec",
            "rustls::conn",
        ] {
            assert!(filter.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!filter.would_enable(target, &Level::TRACE), "{target}");
        }
        assert!(filter.would_enable("qapla::webhook", &Level::TRACE));
        let quiet = log_filter(Level::WARN);
        assert!(!quiet.would_enable("hyper", &Level::DEBUG));
        assert!(!quiet.would_enable("qapla", &Level::INFO));
        assert!(quiet.would_enable("qapla", &Level::WARN));
    }

    #[test]
    fn a_delivery_waits_for_the_table_all_but_the_reserve_of_its_invocation() {
        let reserve = answer_reserve();
        assert_eq!(reserve, Duration::from_millis(2_500));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // The functions' 6 s: 3.5 s for the table.
        let left = left_to_record_at(now + Duration::from_secs(6), now);
        assert_eq!(left, Some(Duration::from_millis(3_500)));
        // Less left than the reserve: the table is not waited for.
        let left = left_to_record_at(now + Duration::from_secs(1), now);
        assert_eq!(left, Some(Duration::ZERO));
        // A deadline already past, or none (a local emulator's zero): no bound of ours.
        assert_eq!(left_to_record_at(now, now), None);
        assert_eq!(left_to_record_at(SystemTime::UNIX_EPOCH, now), None);
    }
}
