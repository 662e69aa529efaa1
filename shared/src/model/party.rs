//! A person or place: a shipment's consignee, a return's sender or consignee. Personal data.

use crate::model::wire_model;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

wire_model! {
/// Its `Debug` shows only the country, so it cannot leak into a log by accident.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Party {
        pub name: Option<String>,
        pub address: Option<String>,
        pub city: Option<String>,
        pub state: Option<String>,
        pub post_code: Option<String>,
        pub country: Option<String>,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub telephone: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}
