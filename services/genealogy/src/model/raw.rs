//! A value kept as the JSON it was read as, for parts of a document that readers mostly pass on
//! as they are.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A `T` held as its JSON text: reading it only finds where it ends, writing it copies the text.
///
/// A pedigree shows a thousand people's names and places exactly as stored; decoding each into
/// strings and encoding them again was a fifth of a first-visit pedigree's time.
pub struct RawJson<T> {
    json: Box<RawValue>,
    of: PhantomData<fn() -> T>,
}

impl<T: Serialize> RawJson<T> {
    /// `value` as JSON.
    pub fn new(value: &T) -> serde_json::Result<Self> {
        Ok(RawJson {
            json: serde_json::value::to_raw_value(value)?,
            of: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> RawJson<T> {
    /// The value, decoded.
    pub fn value(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.json.get())
    }
}

impl<T> Clone for RawJson<T> {
    fn clone(&self) -> Self {
        RawJson {
            json: self.json.clone(),
            of: PhantomData,
        }
    }
}

impl<T> fmt::Debug for RawJson<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json.get())
    }
}

/// Equal when the JSON values are, whatever the order of keys (a store may keep them sorted).
impl<T> PartialEq for RawJson<T> {
    fn eq(&self, other: &Self) -> bool {
        if self.json.get() == other.json.get() {
            return true;
        }
        let value = |r: &RawValue| serde_json::from_str::<serde_json::Value>(r.get()).ok();
        match (value(&self.json), value(&other.json)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

impl<T> Serialize for RawJson<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for RawJson<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        Ok(RawJson {
            json,
            of: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::model::Place;

    #[test]
    fn passes_the_text_through_and_decodes_on_demand() {
        let place = Place {
            name: "Brno, Czech Republic".into(),
            town: Some("Brno".into()),
            ..Place::default()
        };
        let raw = RawJson::new(&place).unwrap();
        assert_eq!(raw.value().unwrap(), place);
        let doc = serde_json::json!({"place": {"name": "Kraków", "country": "Poland"}});
        #[derive(Deserialize, Serialize)]
        struct Doc {
            place: RawJson<Place>,
        }
        let read: Doc = serde_json::from_str(&doc.to_string()).unwrap();
        assert_eq!(
            read.place.value().unwrap().country.as_deref(),
            Some("Poland")
        );
        // Read from a decoded value too, as bodies held in memory are.
        let from_value: Doc = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(from_value.place, read.place);
        assert_eq!(serde_json::to_value(&from_value).unwrap(), doc);
    }

    #[test]
    fn equal_whatever_the_order_of_keys() {
        let a: RawJson<Place> = serde_json::from_str(r#"{"name":"Brno","town":"Brno"}"#).unwrap();
        let b: RawJson<Place> = serde_json::from_str(r#"{"town":"Brno","name":"Brno"}"#).unwrap();
        let c: RawJson<Place> = serde_json::from_str(r#"{"town":"Brno","name":"Bern"}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn refuses_what_is_not_json() {
        let bad: Result<RawJson<Place>, _> = serde_json::from_str("{\"name\": ");
        assert!(bad.is_err());
    }
}
