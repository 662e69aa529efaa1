//! The three webhooks Qapla' sends.

use std::fmt;

/// Which webhook a delivery belongs to; each has its own endpoint and function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Shipment,
    Return,
    Order,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shipment => "shipments",
            Kind::Return => "returns",
            Kind::Order => "orders",
        }
    }

    /// The kind named by [`Kind::as_str`].
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub const ALL: [Kind; 3] = [Kind::Shipment, Kind::Return, Kind::Order];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
