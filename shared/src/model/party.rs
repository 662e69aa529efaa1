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
#[serde(rename_all = "camelCase")]
pub struct Party<'a> {
        pub name: Option<Cow<'a, str>>,
        pub address: Option<Cow<'a, str>>,
        pub city: Option<Cow<'a, str>>,
        pub state: Option<Cow<'a, str>>,
        pub post_code: Option<Cow<'a, str>>,
        pub country: Option<Cow<'a, str>>,
        pub email: Option<Cow<'a, str>>,
        pub phone: Option<Cow<'a, str>>,
        pub telephone: Option<Cow<'a, str>>,
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
