//! A person or place: a shipment's consignee, a return's sender or consignee. Personal data.

use crate::model::{wire_model, Text};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

wire_model! {
/// Its `Debug` shows only the country, so it cannot leak into a log by accident.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct Party {
        pub name: Option<Text>,
        pub address: Option<Text>,
        pub city: Option<Text>,
        pub state: Option<Text>,
        pub post_code: Option<Text>,
        pub country: Option<Text>,
        pub email: Option<Text>,
        pub phone: Option<Text>,
        pub telephone: Option<Text>,
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
