//! Opaque identifiers and tokens, and the base64 codecs Graph bodies use.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random 64-bit value (std's randomly keyed SipHash over a counter; no extra dependency).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&random_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Prefix of immutable message ids (real ones start `AAkALg`) \[G-IMM\].
pub(crate) const IMMUTABLE_PREFIX: &str = "AAkALg";
/// Prefix of rest message ids (real ones start `AAMkAG`) \[G-IMM\].
pub(crate) const REST_PREFIX: &str = "AAMkAG";
/// Prefix of folder ids (stable; real ones start `AQMkAD` or `AAMkAD`) \[G-IMM\].
pub(crate) const FOLDER_PREFIX: &str = "AQMkAD";
const BODY_LEN: usize = 48;

/// A random GUID in its usual 8-4-4-4-12 form (object ids, request ids).
pub(crate) fn new_guid() -> String {
    let h = format!("{:016x}{:016x}", random_u64(), random_u64());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new case-sensitive id: prefix, 48 base64url characters, `AAA=` \[G-IMM\] (ids are
/// case-sensitive, so mixed case is deliberate).
pub(crate) fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + BODY_LEN + 4);
    s.push_str(prefix);
    s.push_str(&encode_url(&random_bytes(36)));
    s.push_str("AAA=");
    s
}

/// Whether `id` has the shape of an id this emulator hands out with `prefix`; anything else
/// is answered `400 ErrorInvalidIdMalformed` [EE] (section 1.6).
pub(crate) fn is_well_formed(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + BODY_LEN + 4
        && id.starts_with(prefix)
        && id.ends_with("AAA=")
        && id[..id.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An opaque token (access tokens, delta and skip tokens, upload-session keys).
pub(crate) fn new_token(bytes: usize) -> String {
    encode_url(&random_bytes(bytes))
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding (`contentBytes`, MIME bodies) \[G-MIME\].
pub(crate) fn encode_std(data: &[u8]) -> String {
    encode_with(data, STD, true)
}

fn encode_url(data: &[u8]) -> String {
    encode_with(data, URL, false)
}

/// Decodes standard base64, ignoring ASCII whitespace (line-wrapped payloads are common);
/// `None` for anything else that is not base64 \[G-MIME\].
pub(crate) fn decode_std(text: &[u8]) -> Option<Vec<u8>> {
    let mut vals = Vec::with_capacity(text.len());
    let mut padding = 0usize;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None; // data after padding
        }
        vals.push(v);
    }
    if padding > 2
        || vals.len() % 4 == 1
        || (padding > 0 && !(vals.len() + padding).is_multiple_of(4))
    {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= u32::from(*v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode_std(encode_std(&data).as_bytes()).unwrap(), data);
        }
        assert_eq!(encode_std(b"hello"), "aGVsbG8=");
        assert!(decode_std(b"{\"a\":1}").is_none());
        assert_eq!(decode_std(b"aGVs\r\nbG8=").unwrap(), b"hello");
    }

    #[test]
    fn ids_are_well_formed_and_distinct() {
        let a = new_id(IMMUTABLE_PREFIX);
        let b = new_id(IMMUTABLE_PREFIX);
        assert_ne!(a, b);
        assert!(is_well_formed(&a, IMMUTABLE_PREFIX));
        assert!(!is_well_formed(&a, REST_PREFIX));
        assert!(!is_well_formed("not-an-id", IMMUTABLE_PREFIX));
    }
}
