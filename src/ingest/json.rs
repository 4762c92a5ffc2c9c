//! Borrowing JSON field types for the adapters' typed views.
//!
//! serde's `Cow<str>` never borrows inside an `Option` (only a bare field
//! marked `#[serde(borrow)]` does), so every optional string would be a
//! fresh allocation; these types borrow from the record's bytes whenever
//! the JSON string has no escapes, which is nearly always.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON string, borrowed from the record when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStr<'a>(pub Cow<'a, str>);

impl Deref for JsonStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<JsonStr<'a>> for Cow<'a, str> {
    fn from(s: JsonStr<'a>) -> Self {
        s.0
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = JsonStr<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Owned(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

/// Any JSON value, kept as text when it is a string or a number and
/// dropped otherwise: for free-form fields (CloudTrail request parameters,
/// Falco output fields) whose shape varies and must never reject a record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalar<'a>(pub Option<Cow<'a, str>>);

impl Scalar<'_> {
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_borrow_and_with_escapes_are_unescaped() {
        let plain: Vec<JsonStr> = serde_json::from_str(r#"["abc"]"#).unwrap();
        assert!(matches!(plain[0].0, Cow::Borrowed("abc")));
        let escaped: Vec<JsonStr> = serde_json::from_str(r#"["a\"b"]"#).unwrap();
        assert!(matches!(&escaped[0].0, Cow::Owned(s) if s == "a\"b"));
        assert!(serde_json::from_str::<JsonStr>("7").is_err());
    }

    #[test]
    fn a_scalar_keeps_strings_and_numbers_and_drops_the_rest() {
        let values: Vec<Scalar> =
            serde_json::from_str(r#"["x", 42, -1.5, true, null, [1, {"a": 2}], {"b": [3]}]"#)
                .unwrap();
        let texts: Vec<Option<&str>> = values.iter().map(Scalar::as_str).collect();
        assert_eq!(
            texts,
            [Some("x"), Some("42"), Some("-1.5"), None, None, None, None]
        );
        assert!(matches!(values[0].0, Some(Cow::Borrowed("x"))));
    }
}
