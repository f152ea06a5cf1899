//! The item as written, kept in string key/value pairs beside Google's fields: an event's
//! private extended properties \[GC-EXT\], a contact's `clientData` \[GP-DISC\].
//!
//! Values are cut into pieces of at most [`PIECE`] characters (an extended property's
//! value holds 1,024 \[GC-EXT\]) under keys `{prefix}{n}`, with `{prefix}n` the number of
//! pieces and `{prefix}h` the hash of the whole, so a truncated or edited copy is ignored
//! rather than misread.

use mailmigrate_core::ContentHash;

/// The most characters of one value.
pub(crate) const PIECE: usize = 1000;

/// The pairs that hold `text` under `prefix`.
pub(crate) fn pieces(prefix: &str, text: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<String> = chars.chunks(PIECE).map(|c| c.iter().collect()).collect();
    let mut out = vec![
        (format!("{prefix}n"), parts.len().to_string()),
        (format!("{prefix}h"), hash(text)),
    ];
    out.extend(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("{prefix}{i}"), p)),
    );
    out
}

fn hash(text: &str) -> String {
    ContentHash::of(text.as_bytes()).to_hex()[..16].to_owned()
}

/// The text kept under `prefix`, when every piece is there and the hash matches.
pub(crate) fn join<'a>(prefix: &str, get: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let n: usize = get(&format!("{prefix}n"))?.parse().ok()?;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(get(&format!("{prefix}{i}"))?);
    }
    (get(&format!("{prefix}h"))? == hash(&text)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn text_is_cut_and_joined_and_a_change_is_noticed() {
        let text = "é".repeat(2500);
        let p = pieces("mm-ical-", &text);
        assert_eq!(p.len(), 5);
        assert!(p
            .iter()
            .all(|(k, v)| k.len() <= 44 && v.chars().count() <= 1024));
        let mut m: HashMap<String, String> = p.into_iter().collect();
        assert_eq!(
            join("mm-ical-", |k| m.get(k).map(String::as_str)),
            Some(text)
        );
        m.insert("mm-ical-1".into(), "x".into());
        assert_eq!(join("mm-ical-", |k| m.get(k).map(String::as_str)), None);
    }
}
