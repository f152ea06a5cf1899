//! How this crate names what it creates, and how hrefs map to ids.
//!
//! A resource is named after its item's `UID`, so the same item always lands at the same
//! href: a create with `If-None-Match: *` can then never store a second copy, even on a
//! server that does not enforce `UID` uniqueness itself.

use mailmigrate_core::pim::PimKind;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What stays unencoded in a path segment: unreserved characters and `@`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Encodes one path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The resource name of an item with `uid`: the `UID` itself when it is a plain name
/// (letters, digits, `-._@`, at most 100), else its BLAKE3 hash; then `.vcf` or `.ics`.
///
/// ```text
/// "u-1"                    → "u-1.vcf"
/// "urn:uuid:…" or "a/b c"  → "<32 hex digits>.vcf"
/// ```
pub(crate) fn resource_name(uid: &str, kind: PimKind) -> String {
    let plain = !uid.is_empty()
        && uid.len() <= 100
        && !uid.starts_with('.')
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'@'));
    let stem = if plain {
        uid.to_owned()
    } else {
        hex(&blake3::hash(uid.as_bytes()).as_bytes()[..16])
    };
    format!("{stem}.{}", kind.extension())
}

/// The path segment of a new collection named `name`: a readable slug of the name plus a
/// hash of kind and name, so an address book and a calendar of one name (which share a
/// home on some servers) and names that slug alike get different hrefs.
pub(crate) fn collection_segment(name: &str, kind: PimKind) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let hash = blake3::hash(format!("{}\u{0}{name}", kind.as_str()).as_bytes());
    let tag = &hex(hash.as_bytes())[..8];
    if slug.is_empty() {
        format!("{}-{tag}", kind.as_str())
    } else {
        format!("{slug}-{tag}")
    }
}

/// The path of an href (an absolute path, or a full URL some servers write).
pub(crate) fn href_path(href: &str) -> &str {
    if let Some(rest) = href
        .strip_prefix("https://")
        .or_else(|| href.strip_prefix("http://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        href
    }
}

/// The decoded last segment of an href: an item's id.
pub(crate) fn last_segment(href: &str) -> String {
    let path = href_path(href).trim_end_matches('/');
    let seg = path.rsplit('/').next().unwrap_or_default();
    percent_decode_str(seg).decode_utf8_lossy().into_owned()
}

/// The id of the internal member of `collection` at `href` (RFC 4918 §5.2: one segment
/// below it): the decoded last segment, or `None` when `href` is not directly inside.
pub(crate) fn member_name(href: &str, collection: &str) -> Option<String> {
    let path = href_path(href).trim_end_matches('/');
    let (parent, segment) = path.rsplit_once('/')?;
    (!segment.is_empty() && same_path(parent, collection)).then(|| last_segment(path))
}

/// Whether two collection hrefs are the same path (ignoring the trailing slash and
/// percent-encoding differences).
pub(crate) fn same_path(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        percent_decode_str(href_path(s).trim_end_matches('/'))
            .decode_utf8_lossy()
            .into_owned()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_after_plain_uids_and_hashed_otherwise() {
        assert_eq!(
            resource_name("u-1@x.org", PimKind::Contacts),
            "u-1@x.org.vcf"
        );
        let odd = resource_name("urn:uuid:1/2 3", PimKind::Events);
        assert_eq!(odd.len(), 32 + 4);
        assert!(odd.ends_with(".ics"));
        assert_eq!(
            odd,
            resource_name("urn:uuid:1/2 3", PimKind::Events),
            "stable"
        );
        assert_ne!(resource_name(".hidden", PimKind::Events), ".hidden.ics");
    }

    #[test]
    fn collections_of_one_name_differ_by_kind() {
        let a = collection_segment("Work & Play", PimKind::Contacts);
        let b = collection_segment("Work & Play", PimKind::Events);
        assert!(a.starts_with("work-play-") && b.starts_with("work-play-"));
        assert_ne!(a, b);
        assert!(collection_segment("日本", PimKind::Events).starts_with("events-"));
    }

    #[test]
    fn hrefs_map_to_ids() {
        assert_eq!(last_segment("/u/c/a%20b.vcf"), "a b.vcf");
        assert_eq!(last_segment("http://h:1/u/c/x.ics"), "x.ics");
        assert!(same_path("/u/c/", "http://h/u/c"));
        assert!(same_path("/u/c%40x/", "/u/c@x"));
        assert_eq!(encode_segment("a b/c@d.vcf"), "a%20b%2Fc@d.vcf");
        assert_eq!(
            member_name("http://h/u/c%40x/a%20b.vcf", "/u/c@x/").as_deref(),
            Some("a b.vcf")
        );
        assert_eq!(member_name("/u/other/a.vcf", "/u/c/"), None);
        assert_eq!(member_name("/u/c/sub/a.vcf", "/u/c/"), None);
        assert_eq!(member_name("/u/c/../d/a.vcf", "/u/c/"), None);
    }
}
