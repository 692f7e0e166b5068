//! The `store` interface: each actor's keys and values, kept by the host in the world
//! and recorded as host calls, with the byte layout of each call's request and response
//! (`docs/trace-format.md` documents it).

use theater_trace::HostFunction;

use super::HostState;
use crate::bindings::theater::actor::store;

impl store::Host for HostState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        let ctx = self.ctx()?;
        let actor = ctx.actor;
        let bytes = ctx.recorded(
            HostFunction::StoreGet,
            key.clone().into_bytes(),
            |w| match w.kv.get(&(actor, key)) {
                Some(v) => [&[1u8][..], v].concat(),
                None => vec![0],
            },
        );
        match bytes.split_first() {
            Some((1, v)) => Some(v.to_vec()),
            _ => None,
        }
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), store::StoreError> {
        let Some(ctx) = self.ctx() else {
            return Err(store::StoreError::QuotaExceeded);
        };
        let actor = ctx.actor;
        let too_large = key.len() > 1024 || value.len() as u64 > ctx.world.limits.message_bytes;
        let mut request = (key.len() as u32).to_le_bytes().to_vec();
        request.extend_from_slice(key.as_bytes());
        request.extend_from_slice(&value);
        let result = ctx.recorded(HostFunction::StoreSet, request, |w| {
            if too_large {
                vec![1]
            } else if w.kv_set(actor, key, value) {
                vec![0]
            } else {
                vec![2]
            }
        });
        match result.first() {
            Some(0) => Ok(()),
            Some(2) => Err(store::StoreError::QuotaExceeded),
            _ => Err(store::StoreError::TooLarge),
        }
    }

    fn delete(&mut self, key: String) -> bool {
        let Some(ctx) = self.ctx() else {
            return false;
        };
        let actor = ctx.actor;
        let result = ctx.recorded(HostFunction::StoreDelete, key.clone().into_bytes(), |w| {
            vec![u8::from(w.kv_delete(actor, key))]
        });
        result.first() == Some(&1)
    }

    fn list_keys(&mut self, prefix: String) -> Vec<String> {
        let Some(ctx) = self.ctx() else {
            return Vec::new();
        };
        let actor = ctx.actor;
        let result = ctx.recorded(
            HostFunction::StoreListKeys,
            prefix.clone().into_bytes(),
            |w| {
                encode_keys(
                    w.kv.range((actor, prefix.clone())..)
                        .take_while(|((a, k), _)| *a == actor && k.starts_with(&prefix))
                        .map(|((_, k), _)| k.as_str()),
                )
            },
        );
        decode_keys(&result)
    }
}

/// Whether `computed`, a store call's answer in a replay, is the recorded `recorded`.
/// A listing is compared as keys: the first traces wrote it in another encoding.
pub(super) fn same_response(function: &HostFunction, computed: &[u8], recorded: &[u8]) -> bool {
    computed == recorded
        || (*function == HostFunction::StoreListKeys
            && recorded.first() != Some(&KEYS_MARK)
            && decode_keys(computed)
                .into_iter()
                .filter(|k| !k.is_empty())
                .eq(decode_keys(recorded)))
}

/// Marks a `store.list-keys` response as length-prefixed keys. The first traces
/// joined keys with `"\n"`, which loses an empty key and splits one holding a newline;
/// their responses are text, which never starts with this byte (it is not UTF-8), so
/// [`decode_keys`] still reads them.
const KEYS_MARK: u8 = 0xff;

/// A `store.list-keys` response: [`KEYS_MARK`], then each key as a little-endian `u32`
/// length and its bytes.
fn encode_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = vec![KEYS_MARK];
    for k in keys {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
    }
    out
}

/// Reads a recorded `store.list-keys` response (either encoding). A damaged one reads
/// as the keys before the damage.
fn decode_keys(bytes: &[u8]) -> Vec<String> {
    let Some((&KEYS_MARK, mut rest)) = bytes.split_first() else {
        // The first encoding: keys joined with "\n" (empty keys were lost).
        return String::from_utf8_lossy(bytes)
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    };
    let mut keys = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        let Some(key) = tail.get(..len) else { break };
        keys.push(String::from_utf8_lossy(key).into_owned());
        rest = &tail[len..];
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::{decode_keys, encode_keys};

    fn check(keys: &[&str]) {
        assert_eq!(decode_keys(&encode_keys(keys.iter().copied())), keys);
    }

    #[test]
    fn listed_keys_survive_any_content() {
        check(&[]);
        check(&[""]);
        check(&["", "a\nb", "\n", "c", "\u{1f600}"]);
    }

    #[test]
    fn listed_keys_of_the_first_encoding_still_read() {
        assert_eq!(decode_keys(b"a\nb"), ["a", "b"]);
        assert_eq!(decode_keys(b""), Vec::<String>::new());
    }

    #[test]
    fn a_damaged_key_list_reads_up_to_the_damage() {
        let mut bytes = encode_keys(["one", "two"].into_iter());
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode_keys(&bytes), ["one"]);
    }
}
