//! The text a delivery is made of: codes, dates, ids, names. Most of it is short, so it is kept
//! inline up to 24 bytes and on the heap only past that: reading a delivery into `String`s
//! allocated once per field, about a third of a small delivery's allocations. It reads and
//! serialises as a plain string.

/// Text kept inline up to 24 bytes; it dereferences to `str`.
pub type Text = compact_str::CompactString;

pub use compact_str::format_compact;
