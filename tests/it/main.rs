//! Integration tests: the real handlers against a local moto server (DynamoDB, its stream, SNS,
//! SQS) that the tests start themselves on a free loopback port.

mod agreement;
mod moto;
mod notifier;
mod support;
mod template;
mod webhooks;
