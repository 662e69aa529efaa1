//! Tolerant field readers: Qapla's pages disagree on types, so a field is accepted in every shape
//! Qapla' is known to send and normalised once here.
//!
//! - text: a string, a number or a boolean; `null` and `""` mean absent.
//! - flag: `0`/`1`, `"0"`/`"1"`, booleans, `"true"`/`"false"`; `null` and `""` mean absent.
//! - list: an array, or a single object standing for a list of one; `null` means absent.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Reads text that may arrive as a string or a number; blank means absent. As a `Cow`, text
/// without an escape stays a slice of the body (the models that hold it borrow the body); as a
/// `String`, it is copied.
pub fn text<'de, D: Deserializer<'de>, T: From<Cow<'de, str>>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)).filter(|v| !v.is_empty()))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v)
                .filter(|v| !v.is_empty())
                .map(|v| Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::<str>::Owned(v)).filter(|v| !v.is_empty()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V).map(|text| text.map(T::from))
}

/// Reads a 0/1 flag in any of the shapes Qapla' uses.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a flag: 0, 1, \"0\", \"1\", true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
            }
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v == 0.0 {
                Ok(Some(false))
            } else if v == 1.0 {
                Ok(Some(true))
            } else {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.trim() {
                "" => Ok(None),
                "0" | "false" | "False" | "FALSE" => Ok(Some(false)),
                "1" | "true" | "True" | "TRUE" => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V)
}

/// Reads a list that may arrive as a single entry instead of an array of one. A visitor rather
/// than an untagged enum: that one buffers the value whole before trying each shape, which cost
/// more than reading the rest of a small shipment.
pub fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list or a single entry")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Some(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|one| Some(vec![one]))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(|one| Some(vec![one]))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(|one| Some(vec![one]))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(|one| Some(vec![one]))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(|one| Some(vec![one]))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            T::deserialize(v.into_deserializer()).map(|one| Some(vec![one]))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_option(V(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "super::text")]
        t: Option<String>,
        #[serde(default, deserialize_with = "super::flag")]
        f: Option<bool>,
    }

    fn read(v: serde_json::Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn flags_in_every_shape() {
        let cases = [
            (json!(0), Some(false)),
            (json!(1), Some(true)),
            (json!("0"), Some(false)),
            (json!("1"), Some(true)),
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("true"), Some(true)),
            (json!(1.0), Some(true)),
            (json!(null), None),
            (json!(""), None),
        ];
        for (input, expected) in cases {
            let got = read(json!({ "f": input.clone() })).map(|t| t.f);
            assert_eq!(got.ok(), Some(expected), "{input}");
        }
        assert_eq!(read(json!({})).map(|t| t.f).ok(), Some(None));
    }

    #[test]
    fn bad_flags_are_errors() {
        for input in [json!(2), json!("yes"), json!([1]), json!({}), json!(-1)] {
            assert!(read(json!({ "f": input.clone() })).is_err(), "{input}");
        }
    }

    #[test]
    fn text_in_every_shape() {
        let cases = [
            (json!("abc"), Some("abc")),
            (json!(""), None),
            (json!(null), None),
            (json!(42), Some("42")),
            (json!(-3), Some("-3")),
            (json!(20.5), Some("20.5")),
            (json!(true), Some("true")),
        ];
        for (input, expected) in cases {
            let got = read(json!({ "t": input.clone() })).map(|t| t.t);
            assert_eq!(got.ok(), Some(expected.map(str::to_owned)), "{input}");
        }
        assert!(read(json!({ "t": [1] })).is_err());
    }
}
