//! A person or place: a shipment's consignee, a return's sender or consignee. Personal data.

use crate::model::wire_model;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

wire_model! {
/// Its `Debug` shows only the country, so it cannot leak into a log by accident.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Party<'a> {
    #[serde(rename = "name")]
    pub name: Option<Cow<'a, str>>,
    #[serde(rename = "address")]
    pub address: Option<Cow<'a, str>>,
    #[serde(rename = "city")]
    pub city: Option<Cow<'a, str>>,
    #[serde(rename = "state")]
    pub state: Option<Cow<'a, str>>,
    #[serde(rename = "postCode")]
    pub post_code: Option<Cow<'a, str>>,
    #[serde(rename = "country")]
    pub country: Option<Cow<'a, str>>,
    #[serde(rename = "email")]
    pub email: Option<Cow<'a, str>>,
    #[serde(rename = "phone")]
    pub phone: Option<Cow<'a, str>>,
    #[serde(rename = "telephone")]
    pub telephone: Option<Cow<'a, str>>,
    /// Fields this model does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

impl fmt::Debug for Party<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}
