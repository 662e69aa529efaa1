//! Integration tests: the real handlers against a local moto server (DynamoDB, its stream, SNS,
//! SQS) that the tests start themselves on a free loopback port.

mod agreement;
mod alarms;
mod budget;
mod builds;
mod cli;
mod docs;
mod documents;
mod eventbridge;
mod faults;
mod heartbeats;
mod notifier;
mod physical_names;
mod pinned;
mod publish_limits;
mod recover;
mod reliability;
mod sam_local_env;
mod stuck;
mod tls;
mod trace_logs;
mod webhooks;

pub use integration_tests::{
    archive, delivery, events, local_aws, moto, notifier_rig, proxy, qapla_fake, sam_local, stack,
    table, template,
};
