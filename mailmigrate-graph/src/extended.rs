//! Named extended properties: how this crate stamps what it writes (a message's hash, a
//! contact's `UID`) and finds it again ([G-EXT]).

use serde::Deserialize;

/// `PS_PUBLIC_STRINGS`, the property set of named properties any client may define
/// ([G-EXT]).
const PUBLIC_STRINGS: &str = "{00020329-0000-0000-C000-000000000046}";

/// The id of the named string property `name` in `PS_PUBLIC_STRINGS`
/// (`String {00020329-…} Name mailmigrate-hash`, [G-EXT]).
pub(crate) fn named_string(name: &str) -> String {
    format!("String {PUBLIC_STRINGS} Name {name}")
}

/// An OData string literal: quotes doubled ([G-EXT]'s filter syntax).
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The `$filter` that finds the items whose property `id` holds `value`: a lambda over
/// `singleValueExtendedProperties`, the documented way ([G-EXT]).
pub(crate) fn value_filter(id: &str, value: &str) -> String {
    format!(
        "singleValueExtendedProperties/any(ep: ep/id eq {} and ep/value eq {})",
        literal(id),
        literal(value)
    )
}

/// The `$expand` that reads the properties `ids` with an item ([G-EXT]).
pub(crate) fn expand(ids: &[&str]) -> String {
    let cond: Vec<String> = ids
        .iter()
        .map(|id| format!("id eq {}", literal(id)))
        .collect();
    format!(
        "singleValueExtendedProperties($filter={})",
        cond.join(" or ")
    )
}

/// The property holding an item's `UID` (the core item's), by which look-ups find it:
/// contacts and events have none Graph keeps as given.
pub(crate) fn uid_property() -> String {
    named_string("mailmigrate-uid")
}

/// One `singleValueExtendedProperties` entry as Graph returns it ([G-EXT]).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NamedValue {
    id: String,
    value: String,
}

/// The value of property `id` among `props` (ids compare without regard to case).
pub(crate) fn value_of<'a>(props: &'a [NamedValue], id: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(id))
        .map(|p| p.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_values_and_name_the_property() {
        let id = named_string("mailmigrate-uid");
        assert_eq!(
            id,
            "String {00020329-0000-0000-C000-000000000046} Name mailmigrate-uid"
        );
        assert_eq!(
            value_filter("x", "o'brien"),
            "singleValueExtendedProperties/any(ep: ep/id eq 'x' and ep/value eq 'o''brien')"
        );
        assert_eq!(
            expand(&["a", "b"]),
            "singleValueExtendedProperties($filter=id eq 'a' or id eq 'b')"
        );
    }
}
