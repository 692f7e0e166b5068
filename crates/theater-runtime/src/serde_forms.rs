//! Serde forms of the world's fields that are not plain data: interface names (held as
//! `&'static str`, written as strings and read back as the names in
//! [`crate::INTERFACES`]) and supervision strategies (a WIT type, written as a number).
//! Used by the world's derives, for snapshots.

/// Serde for `BTreeSet<&'static str>` of interface names: written as strings, read back
/// as the names in [`crate::INTERFACES`] (an unknown one is an error).
pub(crate) mod interfaces {
    use std::collections::BTreeSet;

    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        set: &BTreeSet<&'static str>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        set.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeSet<&'static str>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                crate::INTERFACES
                    .iter()
                    .copied()
                    .find(|i| i == n)
                    .ok_or_else(|| D::Error::custom(format!("unknown interface {n:?}")))
            })
            .collect()
    }
}

/// Serde for a map from component name to its interface names (see [`interfaces`]).
pub(crate) mod interface_map {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Names(#[serde(with = "super::interfaces")] BTreeSet<&'static str>);

    pub(crate) fn serialize<S: Serializer>(
        map: &BTreeMap<String, BTreeSet<&'static str>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let names: BTreeMap<&String, Names> =
            map.iter().map(|(k, v)| (k, Names(v.clone()))).collect();
        names.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, BTreeSet<&'static str>>, D::Error> {
        let names = BTreeMap::<String, Names>::deserialize(d)?;
        Ok(names.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// Serde for a supervision strategy: 0 one-for-one, 1 one-for-all, 2 rest-for-one.
pub(crate) mod strategy {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::bindings::theater::actor::supervision::Strategy;

    pub(crate) fn serialize<S: Serializer>(strategy: &Strategy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match strategy {
            Strategy::OneForOne => 0,
            Strategy::OneForAll => 1,
            Strategy::RestForOne => 2,
        })
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Strategy, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(Strategy::OneForOne),
            1 => Ok(Strategy::OneForAll),
            2 => Ok(Strategy::RestForOne),
            n => Err(D::Error::custom(format!(
                "unknown supervision strategy {n}"
            ))),
        }
    }
}
