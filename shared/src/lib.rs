//! The common core of the Qapla' webhook receiver.
//!
//! Pure domain code (parse, validate, map, decide) lives in the top-level modules and makes no AWS
//! call. The AWS adapters (DynamoDB store, SNS publisher, Lambda wiring) live under [`aws`], behind
//! the `aws` feature, and know nothing of Qapla's rules.

pub mod auth;
pub mod config;
pub mod dates;
pub mod error;
pub mod fixtures;
pub mod flex;
pub mod identity;
pub mod items;
pub mod notify;
pub mod orders;
pub mod payload;
pub mod pipeline;
pub mod returns;
pub mod shipment;
pub mod status;
pub mod store;

pub use error::{Invalid, Rejection};
pub use payload::{Delivery, Kind};

#[cfg(test)]
mod proptests;

#[cfg(feature = "aws")]
pub mod aws;
