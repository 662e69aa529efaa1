//! The common core of the Qapla' webhook receiver.
//!
//! Modules are layered, and imports go only downwards (docs/architecture.md, "Code map"; the
//! `layers` test):
//! - leaf facts: [`kind`], [`status`], [`dates`], [`identity`], [`auth`];
//! - [`model`]: the tolerant wire models, their validation and [`model::Invalid`];
//! - [`payload`]: bytes → a typed [`payload::Delivery`];
//! - [`limits`]: DynamoDB's limits, checked before a write;
//! - [`table`]: keys, attribute names and items;
//! - [`store`]: the store and archive ports and their memory twins;
//! - [`archive`]: payloads stored whole whatever their size, and the kept deliveries
//!   (quarantine and inbox);
//! - [`record`]: a shipment status change recorded, whatever path brought it;
//! - [`notify`]: which changes notify, their texts, the publisher port;
//! - [`read`]: timelines, orders, idle shipments and replays: pure queries over table items,
//!   and the reader port;
//! - [`recover`]: Qapla's API answers → the same shipment events, which windows and shipments
//!   to ask, the pacing, and the run over its ports;
//! - [`stuck`]: the stuck check: its rule (open shipments past their threshold), the run that
//!   alerts each episode once, the episode port, and the `shipment.stuck` notice;
//! - [`heartbeat`]: the webhooks' heartbeat per channel: the beat a delivery writes (behind a
//!   memo), the hourly check of silent channels, their ports and memory twin;
//! - [`webhook`]: the request path, [`webhook::Rejection`] and its HTTP answer;
//! - [`config`]: the environment, read once.
//!
//! None of these makes an AWS call, and the crate links no AWS SDK, no Lambda runtime and no
//! tokio. The AWS adapters (DynamoDB store, SNS publisher, stream reader, Lambda wiring) are the
//! crate `qapla-aws` (shared/aws), which implements the ports and decides nothing that is a
//! Qapla' rule; the operator CLI is `qapla-cli` (shared/cli).

pub mod auth;
pub mod dates;
pub mod identity;
pub mod kind;
pub mod status;

pub mod model;
pub mod payload;

pub mod limits;

pub mod table;

pub mod store;

pub mod archive;

pub mod record;

pub mod notify;
pub mod read;
pub mod recover;
pub mod stuck;

pub mod heartbeat;

pub mod webhook;

pub mod config;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

pub use kind::Kind;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod shapes;
#[cfg(test)]
mod testing;
