//! Contacts and vCard 4 (RFC 6350) text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::invalid;
use super::line::{
    classify, escape_text, fold_into, join_escaped, read_component, split_text, split_unescaped,
    unescape_text, Component, Item, Lines, Param, ParseError, Property,
};
use crate::Result;

const FORMAT: &str = "vcard";

/// A structured name (`N`): each component may hold several values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StructuredName {
    /// Family names (surnames).
    pub family: Vec<String>,
    /// Given names.
    pub given: Vec<String>,
    /// Additional (middle) names.
    pub additional: Vec<String>,
    /// Honorific prefixes (`Dr.`).
    pub prefixes: Vec<String>,
    /// Honorific suffixes (`Jr.`).
    pub suffixes: Vec<String>,
}

impl StructuredName {
    /// A name from a family and a given name.
    pub fn new(family: impl Into<String>, given: impl Into<String>) -> Self {
        let one = |s: String| if s.is_empty() { Vec::new() } else { vec![s] };
        Self {
            family: one(family.into()),
            given: one(given.into()),
            ..Self::default()
        }
    }
}

/// An email address with its types (`work`, `home`…) and preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Email {
    /// The address.
    pub address: String,
    /// Lower-cased `TYPE` values.
    pub types: Vec<String>,
    /// `PREF` (1 = most preferred).
    pub pref: Option<u8>,
    /// The property group (`item1`), which links it to labels such as `X-ABLabel`.
    pub group: Option<String>,
    /// Other parameters, verbatim.
    pub params: Vec<Param>,
}

impl Email {
    /// An address with no types.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            types: Vec::new(),
            pref: None,
            group: None,
            params: Vec::new(),
        }
    }

    /// Sets the types (lower-cased); a vCard 3 style `pref` type sets `pref` to 1 instead.
    #[must_use]
    pub fn with_types<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, types: I) -> Self {
        (self.types, self.pref) = split_pref(types, self.pref);
        self
    }
}

/// A telephone number with its types (`cell`, `voice`, `work`…) and preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Phone {
    /// The number as given: text, or a `tel:` URI when `params` holds `VALUE=uri`.
    pub number: String,
    /// Lower-cased `TYPE` values.
    pub types: Vec<String>,
    /// `PREF` (1 = most preferred).
    pub pref: Option<u8>,
    /// The property group.
    pub group: Option<String>,
    /// Other parameters, verbatim (including `VALUE`).
    pub params: Vec<Param>,
}

impl Phone {
    /// A number with no types.
    pub fn new(number: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            types: Vec::new(),
            pref: None,
            group: None,
            params: Vec::new(),
        }
    }

    /// Sets the types (lower-cased); a vCard 3 style `pref` type sets `pref` to 1 instead.
    #[must_use]
    pub fn with_types<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, types: I) -> Self {
        (self.types, self.pref) = split_pref(types, self.pref);
        self
    }

    fn is_uri(&self) -> bool {
        is_uri_param(&self.params)
    }
}

fn split_pref<I: IntoIterator<Item = S>, S: AsRef<str>>(
    types: I,
    pref: Option<u8>,
) -> (Vec<String>, Option<u8>) {
    let mut out = Vec::new();
    let mut pref = pref;
    for t in types {
        let t = t.as_ref().trim().to_ascii_lowercase();
        if t == "pref" {
            pref = pref.or(Some(1));
        } else if !t.is_empty() {
            out.push(t);
        }
    }
    (out, pref)
}

fn is_uri_param(params: &[Param]) -> bool {
    params.iter().any(|p| {
        p.name == "VALUE"
            && p.value()
                .is_some_and(|v| v.eq_ignore_ascii_case("uri") || v.eq_ignore_ascii_case("url"))
    })
}

/// A postal address (`ADR`): each component may hold several values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// Post office box.
    pub po_box: Vec<String>,
    /// Extended address (apartment, suite).
    pub extended: Vec<String>,
    /// Street address lines.
    pub street: Vec<String>,
    /// Locality (city).
    pub locality: Vec<String>,
    /// Region (state, province).
    pub region: Vec<String>,
    /// Postal code.
    pub postal_code: Vec<String>,
    /// Country name.
    pub country: Vec<String>,
    /// Lower-cased `TYPE` values.
    pub types: Vec<String>,
    /// `PREF` (1 = most preferred).
    pub pref: Option<u8>,
    /// The formatted label (`LABEL` parameter).
    pub label: Option<String>,
    /// The property group.
    pub group: Option<String>,
    /// Other parameters, verbatim.
    pub params: Vec<Param>,
}

impl Address {
    /// An empty address.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A contact: the typed fields migrations care about, plus everything else verbatim.
///
/// # Examples
/// ```
/// use mailmigrate_core::pim::{Contact, Phone};
/// let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Lee\r\nTEL;TYPE=CELL:+1 555 0100\r\n\
///             X-SOCIAL:@ann\r\nEND:VCARD\r\n";
/// let c = Contact::from_vcard(card).unwrap();
/// assert_eq!(c.full_name, "Ann Lee");
/// assert_eq!(c.phones, vec![Phone::new("+1 555 0100").with_types(["cell"])]);
/// assert_eq!(c.extra[0].name, "X-SOCIAL");
/// assert!(c.to_vcard().contains("X-SOCIAL:@ann\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// `UID`.
    pub uid: Option<String>,
    /// `FN`, the display name.
    pub full_name: String,
    /// `N`.
    pub name: Option<StructuredName>,
    /// `EMAIL`s.
    pub emails: Vec<Email>,
    /// `TEL`s.
    pub phones: Vec<Phone>,
    /// `ORG`: the organisation, then its units.
    pub organization: Vec<String>,
    /// `TITLE`.
    pub title: Option<String>,
    /// `ADR`s.
    pub addresses: Vec<Address>,
    /// `BDAY` as given (`19850412`, `--0412`, or text).
    pub birthday: Option<String>,
    /// `NOTE`s.
    pub notes: Vec<String>,
    /// `CATEGORIES`.
    pub categories: Vec<String>,
    /// `PHOTO` as a URI (`https:` or `data:`).
    pub photo: Option<String>,
    /// `REV`, the last revision timestamp as given.
    pub rev: Option<String>,
    /// Parameters of the typed single-valued properties, by property name
    /// (`"FN"` → `LANGUAGE=de`).
    pub params: BTreeMap<String, Vec<Param>>,
    /// Every other property, verbatim.
    pub extra: Vec<Property>,
}

impl Contact {
    /// A contact with only a display name.
    pub fn new(full_name: impl Into<String>) -> Self {
        Self {
            uid: None,
            full_name: full_name.into(),
            name: None,
            emails: Vec::new(),
            phones: Vec::new(),
            organization: Vec::new(),
            title: None,
            addresses: Vec::new(),
            birthday: None,
            notes: Vec::new(),
            categories: Vec::new(),
            photo: None,
            rev: None,
            params: BTreeMap::new(),
            extra: Vec::new(),
        }
    }

    /// Writes the contact as one vCard 4.0, folded, with CRLF line ends.
    pub fn to_vcard(&self) -> String {
        let mut out = String::new();
        let mut line = |p: Property| fold_into(&mut out, &p.to_line());
        line(Property::new("BEGIN", "VCARD"));
        line(Property::new("VERSION", "4.0"));
        let single = |name: &str, value: String| {
            let mut p = Property::new(name, value);
            if let Some(params) = self.params.get(name) {
                p.params.clone_from(params);
            }
            p
        };
        if let Some(uid) = &self.uid {
            line(single("UID", escape_text(uid)));
        }
        line(single("FN", escape_text(&self.full_name)));
        if let Some(n) = &self.name {
            let parts = [&n.family, &n.given, &n.additional, &n.prefixes, &n.suffixes];
            line(single("N", structured(&parts)));
        }
        if !self.organization.is_empty() {
            line(single("ORG", join_escaped(&self.organization, ';')));
        }
        if let Some(t) = &self.title {
            line(single("TITLE", escape_text(t)));
        }
        for e in &self.emails {
            line(typed(
                "EMAIL",
                escape_text(&e.address),
                &e.group,
                &e.types,
                e.pref,
                &e.params,
            ));
        }
        for t in &self.phones {
            let value = if t.is_uri() {
                t.number.clone()
            } else {
                escape_text(&t.number)
            };
            line(typed("TEL", value, &t.group, &t.types, t.pref, &t.params));
        }
        for a in &self.addresses {
            let parts = [
                &a.po_box,
                &a.extended,
                &a.street,
                &a.locality,
                &a.region,
                &a.postal_code,
                &a.country,
            ];
            let mut p = typed("ADR", structured(&parts), &a.group, &a.types, a.pref, &[]);
            if let Some(label) = &a.label {
                p.params.push(Param::new("LABEL", [label.clone()]));
            }
            p.params.extend(a.params.iter().cloned());
            line(p);
        }
        if let Some(b) = &self.birthday {
            line(single("BDAY", escape_text(b)));
        }
        for n in &self.notes {
            line(Property::new("NOTE", escape_text(n)));
        }
        if !self.categories.is_empty() {
            line(Property::new(
                "CATEGORIES",
                join_escaped(&self.categories, ','),
            ));
        }
        if let Some(p) = &self.photo {
            line(single("PHOTO", p.clone()));
        }
        if let Some(r) = &self.rev {
            line(single("REV", escape_text(r)));
        }
        for p in &self.extra {
            line(p.clone());
        }
        line(Property::new("END", "VCARD"));
        out
    }

    /// Parses exactly one vCard (4.0, 3.0 or 2.1).
    ///
    /// Quoted-printable values are decoded and `CHARSET` parameters dropped (the text is
    /// UTF-8 once parsed). A missing `FN` is derived from `N`, `ORG` or the first `EMAIL`,
    /// as vCard 4 requires one. Nested cards (a vCard 2.1 `AGENT`) are not kept.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidMessage`](crate::ErrorKind::InvalidMessage) naming the line
    /// (and UID when known) if the text holds no vCard, more than one, or a malformed one.
    pub fn from_vcard(input: &str) -> Result<Contact> {
        let mut cards = parse_vcards(input);
        let first = cards
            .next()
            .unwrap_or_else(|| Err(invalid(FORMAT, "contact", 1, None, "no BEGIN:VCARD")))?;
        if let Some(next) = cards.next() {
            let line = match &next {
                Ok(_) => cards.last_start,
                Err(e) => e.context("line").and_then(|l| l.parse().ok()).unwrap_or(0),
            };
            return Err(invalid(
                FORMAT,
                "contact",
                line,
                first.uid.as_deref(),
                "more than one vCard; use parse_vcards",
            ));
        }
        Ok(first)
    }

    fn from_component(comp: Component, line: usize) -> Result<Contact> {
        let uid = comp.property("UID").map(Property::text);
        let err = |m: &str| invalid(FORMAT, "contact", line, uid.as_deref(), m.to_owned());
        let mut c = Contact::new(String::new());
        let mut have_fn = false;
        for mut p in comp.properties {
            let plain = p.group.is_none();
            match p.name.as_str() {
                "VERSION" => {}
                "FN" if plain && !have_fn => {
                    have_fn = true;
                    c.full_name = p.text();
                    c.keep_params(p);
                }
                "UID" if plain && c.uid.is_none() => {
                    c.uid = Some(p.text());
                    c.keep_params(p);
                }
                "N" if plain && c.name.is_none() => {
                    let mut parts = split_unescaped(&p.value, ';')
                        .into_iter()
                        .map(|s| split_text(s, ','));
                    let mut next = || parts.next().unwrap_or_default();
                    c.name = Some(StructuredName {
                        family: next(),
                        given: next(),
                        additional: next(),
                        prefixes: next(),
                        suffixes: next(),
                    });
                    c.keep_params(p);
                }
                "ORG" if plain && c.organization.is_empty() => {
                    c.organization = split_text(&p.value, ';');
                    c.keep_params(p);
                }
                "TITLE" if plain && c.title.is_none() => {
                    c.title = Some(p.text());
                    c.keep_params(p);
                }
                "BDAY" if plain && c.birthday.is_none() => {
                    c.birthday = Some(p.text());
                    c.keep_params(p);
                }
                "REV" if plain && c.rev.is_none() => {
                    c.rev = Some(p.text());
                    c.keep_params(p);
                }
                "PHOTO" if plain && c.photo.is_none() && p.param("ENCODING").is_none() => {
                    c.photo = Some(p.value.clone());
                    c.keep_params(p);
                }
                "NOTE" if plain && p.params.is_empty() => c.notes.push(p.text()),
                "CATEGORIES" if plain && p.params.is_empty() => {
                    c.categories.extend(split_text(&p.value, ','));
                }
                "EMAIL" => {
                    let (types, pref) = take_types_pref(&mut p).map_err(&err)?;
                    c.emails.push(Email {
                        address: p.text(),
                        types,
                        pref,
                        group: p.group,
                        params: p.params,
                    });
                }
                "TEL" => {
                    let (types, pref) = take_types_pref(&mut p).map_err(&err)?;
                    let number = if is_uri_param(&p.params) {
                        p.value
                    } else {
                        unescape_text(&p.value)
                    };
                    c.phones.push(Phone {
                        number,
                        types,
                        pref,
                        group: p.group,
                        params: p.params,
                    });
                }
                "ADR" => {
                    let (types, pref) = take_types_pref(&mut p).map_err(&err)?;
                    let label = p
                        .take_param("LABEL")
                        .and_then(|l| l.values.into_iter().next());
                    let mut parts = split_unescaped(&p.value, ';')
                        .into_iter()
                        .map(|s| split_text(s, ','));
                    let mut next = || parts.next().unwrap_or_default();
                    c.addresses.push(Address {
                        po_box: next(),
                        extended: next(),
                        street: next(),
                        locality: next(),
                        region: next(),
                        postal_code: next(),
                        country: next(),
                        types,
                        pref,
                        label,
                        group: p.group,
                        params: p.params,
                    });
                }
                _ => c.extra.push(p),
            }
        }
        if !have_fn {
            // vCard 2.1 and some exports omit FN; vCard 4 requires it, so derive one.
            let from_name = c.name.as_ref().map(|n| {
                [&n.prefixes, &n.given, &n.additional, &n.family, &n.suffixes]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            c.full_name = from_name
                .filter(|s| !s.is_empty())
                .or_else(|| c.organization.first().cloned())
                .or_else(|| c.emails.first().map(|e| e.address.clone()))
                .ok_or_else(|| err("vCard has no FN, N, ORG or EMAIL to name it"))?;
        }
        Ok(c)
    }

    fn keep_params(&mut self, mut p: Property) {
        p.params.retain(|x| {
            !(x.name == "VALUE"
                && x.value()
                    .is_some_and(|v| v.eq_ignore_ascii_case("text") && p.name != "BDAY"))
        });
        if !p.params.is_empty() {
            self.params.insert(p.name, p.params);
        }
    }
}

fn structured(parts: &[&Vec<String>]) -> String {
    let mut s = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            s.push(';');
        }
        s.push_str(&join_escaped(part, ','));
    }
    s
}

fn typed(
    name: &str,
    value: String,
    group: &Option<String>,
    types: &[String],
    pref: Option<u8>,
    params: &[Param],
) -> Property {
    let mut p = Property::new(name, value).with_group(group.clone());
    if !types.is_empty() {
        p.params.push(Param::new("TYPE", types.iter().cloned()));
    }
    if let Some(pref) = pref {
        p.params.push(Param::new("PREF", [pref.to_string()]));
    }
    p.params.extend(params.iter().cloned());
    p
}

/// Removes `TYPE` and `PREF` parameters, returning lower-cased types (without the
/// vCard 3 `pref` type) and the preference (vCard 3 `TYPE=pref` counts as 1).
fn take_types_pref(
    p: &mut Property,
) -> std::result::Result<(Vec<String>, Option<u8>), &'static str> {
    let mut raw = Vec::new();
    while let Some(t) = p.take_param("TYPE") {
        for v in t.values {
            raw.extend(v.split(',').map(str::to_owned));
        }
    }
    let (types, mut pref) = split_pref(raw, None);
    if let Some(pr) = p.take_param("PREF") {
        let v = pr.value().unwrap_or_default().trim();
        let n: u8 = v
            .parse()
            .map_err(|_| "PREF is not a number from 1 to 100")?;
        if !(1..=100).contains(&n) {
            return Err("PREF is not a number from 1 to 100");
        }
        pref = Some(n);
    }
    Ok((types, pref))
}

/// Parses every vCard in `input`, one result per card, lazily: memory holds one card at
/// a time. A malformed card yields an error and parsing goes on with the next; broken
/// structure (a missing `END:VCARD`) ends the iteration after its error.
///
/// ```
/// use mailmigrate_core::pim::parse_vcards;
/// let text = "BEGIN:VCARD\nVERSION:4.0\nFN:A\nEND:VCARD\n\
///             BEGIN:VCARD\nVERSION:4.0\nEMAIL;PREF=x:b@x\nEND:VCARD\n\
///             BEGIN:VCARD\nVERSION:4.0\nFN:C\nEND:VCARD\n";
/// let results: Vec<_> = parse_vcards(text).collect();
/// assert_eq!(results.len(), 3);
/// assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
/// ```
pub fn parse_vcards(input: &str) -> VCards<'_> {
    VCards {
        lines: Lines::new(input),
        skipping: false,
        done: false,
        last_start: 0,
    }
}

/// The iterator returned by [`parse_vcards`].
#[derive(Debug)]
pub struct VCards<'a> {
    lines: Lines<'a>,
    skipping: bool,
    done: bool,
    last_start: usize,
}

fn to_error(e: ParseError) -> crate::Error {
    invalid(FORMAT, "contact", e.line, e.uid.as_deref(), e.message)
}

impl Iterator for VCards<'_> {
    type Item = Result<Contact>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (n, text) = self.lines.next()?;
            match classify(n, &text) {
                Ok(Item::Begin(name)) if name == "VCARD" => {
                    self.skipping = false;
                    self.last_start = n;
                    return Some(match read_component(&mut self.lines, "VCARD", n) {
                        Ok(comp) => Contact::from_component(comp, n),
                        Err(e) => {
                            self.done = e.fatal;
                            Err(to_error(e))
                        }
                    });
                }
                _ if self.skipping => {}
                _ => {
                    self.skipping = true;
                    return Some(Err(invalid(
                        FORMAT,
                        "contact",
                        n,
                        None,
                        "expected BEGIN:VCARD",
                    )));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn full() -> Contact {
        let mut c = Contact::new("Dr. Jane Q. Public, Esq.");
        c.uid = Some("urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1".into());
        c.name = Some(StructuredName {
            family: vec!["Public".into()],
            given: vec!["Jane".into()],
            additional: vec!["Quinlan".into(), "Q.".into()],
            prefixes: vec!["Dr.".into()],
            suffixes: vec!["Esq.".into(), "Ph.D., M.D.".into()],
        });
        c.emails
            .push(Email::new("jane@example.com").with_types(["work", "PREF"]));
        c.emails
            .push(Email::new("j.public@home.example").with_types(["home"]));
        let mut t = Phone::new("tel:+1-555-555-0100;ext=102").with_types(["work", "voice"]);
        t.params.push(Param::new("VALUE", ["uri"]));
        c.phones.push(t);
        c.phones
            .push(Phone::new("+44 20 7946 0958").with_types(["cell"]));
        c.organization = vec!["ABC, Inc.".into(), "North American Division".into()];
        c.title = Some("Research Scientist; Lead".into());
        let mut a = Address::new();
        a.street = vec!["123 Main Street".into(), "Apt. 4\\B".into()];
        a.locality = vec!["Any Town".into()];
        a.region = vec!["CA".into()];
        a.postal_code = vec!["91921-1234".into()];
        a.country = vec!["U.S.A.".into()];
        a.types = vec!["home".into()];
        a.label = Some("123 Main Street\nAny Town, CA 91921-1234\nU.S.A.".into());
        c.addresses.push(a);
        c.birthday = Some("19850412".into());
        c.notes = vec!["Met at the conference.\nLikes: tea, \"green\"; not coffee \\o/".into()];
        c.categories = vec!["friends".into(), "work, misc".into()];
        c.photo = Some("https://example.com/photos/jane.jpg".into());
        c.rev = Some("20240131T101500Z".into());
        c.params
            .insert("FN".into(), vec![Param::new("LANGUAGE", ["en"])]);
        c.extra.push(
            Property::new("X-SOCIAL-PROFILE", "https://example.com/@jane")
                .with_param(Param::new("TYPE", ["mastodon"])),
        );
        c
    }

    #[test]
    fn full_contact_round_trips_with_escaping() {
        let c = full();
        let text = c.to_vcard();
        assert!(
            text.contains("\r\nTITLE:Research Scientist\\; Lead\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nORG:ABC\\, Inc.;North American Division\r\n"));
        assert!(text.contains("\r\nCATEGORIES:friends,work\\, misc\r\n"));
        assert!(text.contains("\r\nTEL;TYPE=work,voice;VALUE=uri:tel:+1-555-555-0100;ext=102\r\n"));
        assert!(text.contains("\r\nEMAIL;TYPE=work;PREF=1:jane@example.com\r\n"));
        assert!(text.contains("\r\nFN;LANGUAGE=en:Dr. Jane Q. Public\\, Esq.\r\n"));
        assert!(text.ends_with("END:VCARD\r\n"));
        let back = Contact::from_vcard(&text).unwrap();
        assert_eq!(back, c);
        // And a second trip is byte-identical.
        assert_eq!(back.to_vcard(), text);
    }

    #[test]
    fn long_multibyte_values_fold_at_75_octets() {
        let mut c = Contact::new("Ωμέγα ".repeat(30));
        c.notes.push("日本語のメモ、とても長い。".repeat(12));
        let text = c.to_vcard();
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        assert!(text.lines().any(|l| l.starts_with(' ')), "was folded");
        assert_eq!(Contact::from_vcard(&text).unwrap(), c);
    }

    #[test]
    fn google_style_vcard3_parses() {
        let g = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alex Doe\r\nN:Doe;Alex;;;\r\n\
EMAIL;TYPE=INTERNET;TYPE=HOME:alex@gmail.com\r\n\
EMAIL;TYPE=INTERNET;TYPE=WORK;TYPE=pref:alex@corp.example\r\n\
TEL;TYPE=CELL:+1 650-555-0199\r\n\
ADR;TYPE=HOME:;;1600 Amphitheatre Pkwy;Mountain View;CA;94043;US\r\n\
item1.EMAIL;TYPE=INTERNET:alex.alias@example.org\r\nitem1.X-ABLabel:Alias\r\n\
ORG:Example Corp\r\nTITLE:Engineer\r\nBDAY:1990-07-15\r\n\
PHOTO:https://lh3.googleusercontent.com/contacts/abc\r\n\
NOTE:line one\\nline two\r\nCATEGORIES:myContacts,Friends\r\nEND:VCARD\r\n";
        let c = Contact::from_vcard(g).unwrap();
        assert_eq!(c.full_name, "Alex Doe");
        assert_eq!(c.name.as_ref().unwrap().given, vec!["Alex"]);
        assert_eq!(c.emails.len(), 3);
        assert_eq!(c.emails[0].types, vec!["internet", "home"]);
        assert_eq!(c.emails[1].pref, Some(1));
        assert_eq!(c.emails[1].types, vec!["internet", "work"]);
        assert_eq!(c.emails[2].group.as_deref(), Some("item1"));
        assert_eq!(c.extra[0].group.as_deref(), Some("item1"));
        assert_eq!(c.extra[0].name, "X-ABLABEL");
        assert_eq!(c.addresses[0].street, vec!["1600 Amphitheatre Pkwy"]);
        assert_eq!(c.addresses[0].country, vec!["US"]);
        assert_eq!(c.organization, vec!["Example Corp"]);
        assert_eq!(c.birthday.as_deref(), Some("1990-07-15"));
        assert_eq!(c.notes, vec!["line one\nline two"]);
        assert_eq!(c.categories, vec!["myContacts", "Friends"]);
        assert!(c.photo.as_deref().unwrap().starts_with("https://"));
        let again = Contact::from_vcard(&c.to_vcard()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn outlook_style_vcard21_parses() {
        let o = "BEGIN:VCARD\r\nVERSION:2.1\r\n\
N;LANGUAGE=de;CHARSET=utf-8:Müller;Jürgen\r\n\
FN;CHARSET=utf-8:Jürgen Müller\r\n\
N:Mueller;Juergen\r\n\
ORG;CHARSET=utf-8:Contoso GmbH;Vertrieb\r\nTITLE:Leiter\r\n\
TEL;WORK;VOICE:+49 30 1234567\r\nTEL;CELL;VOICE:+49 170 1234567\r\n\
ADR;WORK;PREF;CHARSET=utf-8:;;Hauptstraße 1;Berlin;;10115;Deutschland\r\n\
LABEL;WORK;PREF;ENCODING=QUOTED-PRINTABLE;CHARSET=utf-8:Hauptstra=C3=9Fe 1=0D=0A=\r\n10115 Berlin\r\n\
X-MS-OL-DEFAULT-POSTAL-ADDRESS:2\r\n\
EMAIL;PREF;INTERNET:juergen@contoso.example\r\n\
NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=utf-8:Erste Zeile=0D=0AZweite Zeile\r\n\
PHOTO;TYPE=JPEG;ENCODING=BASE64:\r\n /9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\r\n AQEBAQEBAQEBAQE=\r\n\r\n\
REV:20240102T030405Z\r\nEND:VCARD\r\n";
        let c = Contact::from_vcard(o).unwrap();
        assert_eq!(c.full_name, "Jürgen Müller");
        assert!(
            !c.params.contains_key("FN"),
            "CHARSET is dropped: {:?}",
            c.params
        );
        let n = c.name.as_ref().unwrap();
        assert_eq!(
            (n.family.as_slice(), n.given.as_slice()),
            (&["Müller".to_owned()][..], &["Jürgen".to_owned()][..])
        );
        assert_eq!(c.params["N"], vec![Param::new("LANGUAGE", ["de"])]);
        // A second N is kept verbatim.
        assert!(c
            .extra
            .iter()
            .any(|p| p.name == "N" && p.value == "Mueller;Juergen"));
        assert_eq!(c.organization, vec!["Contoso GmbH", "Vertrieb"]);
        assert_eq!(c.title.as_deref(), Some("Leiter"));
        assert_eq!(c.phones[0].types, vec!["work", "voice"]);
        assert_eq!(c.phones[1].types, vec!["cell", "voice"]);
        assert_eq!(c.addresses[0].types, vec!["work"]);
        assert_eq!(c.addresses[0].pref, Some(1));
        assert_eq!(c.addresses[0].street, vec!["Hauptstraße 1"]);
        assert_eq!(c.addresses[0].country, vec!["Deutschland"]);
        let label = c.extra.iter().find(|p| p.name == "LABEL").unwrap();
        assert_eq!(label.text(), "Hauptstraße 1\n10115 Berlin");
        assert_eq!(c.emails[0].pref, Some(1));
        assert_eq!(c.emails[0].types, vec!["internet"]);
        assert_eq!(c.notes, vec!["Erste Zeile\nZweite Zeile"]);
        // A base64 photo is not a URI: kept verbatim, unfolded.
        assert_eq!(c.photo, None);
        let photo = c.extra.iter().find(|p| p.name == "PHOTO").unwrap();
        assert!(photo.value.starts_with("/9j/4AAQ") && photo.value.ends_with("AQE="));
        assert_eq!(c.rev.as_deref(), Some("20240102T030405Z"));
        assert!(c
            .extra
            .iter()
            .any(|p| p.name == "X-MS-OL-DEFAULT-POSTAL-ADDRESS"));
        assert_eq!(Contact::from_vcard(&c.to_vcard()).unwrap(), c);
    }

    #[test]
    fn missing_fn_is_derived_from_n() {
        let c = Contact::from_vcard("BEGIN:VCARD\nVERSION:2.1\nN:Smith;Ann;;Ms.;\nEND:VCARD\n")
            .unwrap();
        assert_eq!(c.full_name, "Ms. Ann Smith");
    }

    #[test]
    fn malformed_input_gives_typed_errors_naming_the_item() {
        let cases = [
            ("", "no BEGIN:VCARD"),
            ("BEGIN:VCARD\nFN:x\n", "without END"),
            ("BEGIN:VCARD\nUID:u-1\nFN x\nEND:VCARD\n", "without ':'"),
            ("BEGIN:VCARD\nUID:u-2\nEND:VCARD\n", "no FN"),
            (
                "BEGIN:VCARD\nUID:u-3\nFN:a\nEMAIL;PREF=0:x@y\nEND:VCARD\n",
                "PREF",
            ),
            ("BEGIN:VCARD\nFN:a\nEND:VEVENT\n", "END:VEVENT"),
            (
                "BEGIN:VCARD\nFN:a\nEND:VCARD\nBEGIN:VCARD\nFN:b\nEND:VCARD\n",
                "more than one",
            ),
        ];
        for (input, what) in cases {
            let e = Contact::from_vcard(input).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{input}");
            assert!(e.to_string().contains(what), "{e} should mention {what}");
            assert!(e.context("line").is_some());
        }
        let e = Contact::from_vcard("BEGIN:VCARD\nUID:u-1\nFN x\nEND:VCARD\n").unwrap_err();
        assert_eq!(e.context("contact"), Some("u-1"));
        assert_eq!(e.context("line"), Some("3"));
        assert_eq!(e.provider(), "vcard");
    }

    #[test]
    fn iterator_recovers_after_a_bad_card_and_skips_garbage_once() {
        let text = "junk\nmore junk\nBEGIN:VCARD\nFN:A\nEND:VCARD\nBEGIN:VCARD\nFN;=x:B\nEND:VCARD\nBEGIN:VCARD\nFN:C\nEND:VCARD\n";
        let r: Vec<Result<Contact>> = parse_vcards(text).collect();
        assert_eq!(r.len(), 4);
        assert!(r[0].is_err());
        assert_eq!(r[1].as_ref().unwrap().full_name, "A");
        assert!(r[2].is_err());
        assert_eq!(r[3].as_ref().unwrap().full_name, "C");
    }

    #[test]
    fn serde_round_trip() {
        let c = full();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Contact>(&j).unwrap(), c);
    }
}
