//! Integration tests: the real handlers against a local moto server (DynamoDB, its stream, SNS,
//! SQS) that the tests start themselves on a free loopback port.

mod agreement;
mod faults;
mod notifier;
mod tls;
mod webhooks;

pub use integration_tests::{
    delivery, events, moto, notifier_rig, proxy, stack, table, template,
};
