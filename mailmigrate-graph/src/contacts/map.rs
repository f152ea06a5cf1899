//! The one mapping between Graph's contact JSON \[G-CONT\] and core's [`Contact`].
//!
//! Graph's fields hold the facts Outlook shows: names, up to 3 addresses without types,
//! business (≤ 2, \[I-CONTACT\]), home and mobile phones, company and department, three
//! postal addresses, birthday, notes, categories, IM addresses and a few text fields. What
//! a vCard says beyond them (types, preferences, groups and parameters, further units, a
//! photo URI, `REV`, unknown properties) travels in a named property holding the vCard as
//! written (`mailmigrate-vcard`, \[G-EXT\]). Reading, each group of fields that still says
//! what the stored vCard says takes the vCard's fuller form; a group changed in Outlook
//! since is read from the fields. Writing never sends more than Graph takes: the caller
//! fits the contact first (`sync::adapt` with the declared limits), and placement here
//! never exceeds a field's limit.

use mailmigrate_core::pim::{
    escape_text, Address, Contact, Email, Param, Phone, Property, StructuredName,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::extended::{self, named_string};

pub(crate) use crate::extended::uid_property;

/// The property holding the vCard the contact was written from.
pub(crate) fn card_property() -> String {
    named_string("mailmigrate-vcard")
}

/// The parameter holding an email address's display name (`emailAddress.name`).
const DISPLAY_NAME: &str = "X-DISPLAY-NAME";

/// Most `emailAddresses` Graph takes \[I-CONTACT\].
pub(crate) const MAX_EMAILS: usize = 3;
/// Most `businessPhones` Graph takes \[I-CONTACT\].
pub(crate) const MAX_BUSINESS_PHONES: usize = 2;
/// Most `homePhones` written: undocumented; Exchange has two home-phone slots, so no
/// more are sent.
const MAX_HOME_PHONES: usize = 2;
/// Most `imAddresses` written: undocumented; Exchange has three IM slots.
const MAX_IM: usize = 3;

/// The fields a read asks for (`$select`).
pub(crate) const SELECT: &str = "changeKey,displayName,givenName,surname,middleName,title,generation,nickName,emailAddresses,businessPhones,homePhones,mobilePhone,companyName,department,jobTitle,businessAddress,homeAddress,otherAddress,birthday,personalNotes,categories,imAddresses,businessHomePage,profession,officeLocation,assistantName,manager,spouseName,children,initials,fileAs,yomiGivenName,yomiSurname,yomiCompanyName";

/// A Graph text or string-list field kept as a vCard property of `extra`.
struct ExtraField {
    field: &'static str,
    property: &'static str,
    /// A list (`imAddresses`, `children`) of at most this many, or one value.
    many: Option<usize>,
    /// The value is a URI, not escaped text (`IMPP`, `URL`).
    uri: bool,
}

const fn one(field: &'static str, property: &'static str) -> ExtraField {
    ExtraField {
        field,
        property,
        many: None,
        uri: false,
    }
}

/// Graph fields without a typed core field, and the vCard properties that hold them
/// (RFC 6350 where it has one, Outlook's and Apple's `X-` names otherwise).
const EXTRA_FIELDS: &[ExtraField] = &[
    one("nickName", "NICKNAME"),
    ExtraField {
        field: "businessHomePage",
        property: "URL",
        many: None,
        uri: true,
    },
    ExtraField {
        field: "imAddresses",
        property: "IMPP",
        many: Some(MAX_IM),
        uri: true,
    },
    one("profession", "ROLE"),
    one("officeLocation", "X-MS-OFFICE-LOCATION"),
    one("assistantName", "X-MS-ASSISTANT"),
    one("manager", "X-MS-MANAGER"),
    one("spouseName", "X-MS-SPOUSE"),
    ExtraField {
        field: "children",
        property: "X-MS-CHILD",
        many: Some(usize::MAX),
        uri: false,
    },
    one("initials", "X-MS-INITIALS"),
    one("fileAs", "X-MS-FILE-AS"),
    one("yomiGivenName", "X-PHONETIC-FIRST-NAME"),
    one("yomiSurname", "X-PHONETIC-LAST-NAME"),
    one("yomiCompanyName", "X-PHONETIC-ORG"),
];

/// A contact as Graph returns it: its fields, and the named properties asked for.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphContact {
    pub(crate) id: String,
    #[serde(rename = "@removed")]
    pub(crate) removed: Option<Value>,
    pub(crate) change_key: Option<String>,
    #[serde(default)]
    single_value_extended_properties: Vec<extended::NamedValue>,
    #[serde(flatten)]
    pub(crate) fields: Map<String, Value>,
}

impl GraphContact {
    fn named(&self, id: &str) -> Option<&str> {
        extended::value_of(&self.single_value_extended_properties, id)
    }

    /// The `UID` this crate stamped on the contact, if it wrote it.
    pub(crate) fn uid(&self) -> Option<&str> {
        self.named(&uid_property())
    }
}

fn text(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s)
    }
}

fn joined(parts: &[String], sep: &str) -> Value {
    text(&parts.join(sep))
}

/// Where a phone or an address goes, in order of preference, by its vCard types.
fn preference<const N: usize>(
    types: &[String],
    by_type: [(&str, [usize; N]); 2],
    otherwise: [usize; N],
) -> [usize; N] {
    for (t, order) in by_type {
        if types.iter().any(|x| x == t) {
            return order;
        }
    }
    otherwise
}

/// Phones into (business, home, mobile): each where its type says, else in the first
/// slot with room; a phone without room stays only in the stored vCard.
fn place_phones(phones: &[Phone]) -> [Vec<String>; 3] {
    let room = [MAX_BUSINESS_PHONES, MAX_HOME_PHONES, 1];
    let mut slots: [Vec<String>; 3] = Default::default();
    for p in phones {
        let cell = p.types.iter().any(|t| t == "cell" || t == "mobile");
        let order = if cell {
            [2, 0, 1]
        } else {
            preference(
                &p.types,
                [("home", [1, 0, 2]), ("work", [0, 1, 2])],
                [0, 1, 2],
            )
        };
        if let Some(&s) = order.iter().find(|&&s| slots[s].len() < room[s]) {
            slots[s].push(p.number.clone());
        }
    }
    slots
}

/// Addresses into (business, home, other), one each, the same way.
fn place_addresses(addresses: &[Address]) -> [Option<&Address>; 3] {
    let mut slots: [Option<&Address>; 3] = [None; 3];
    for a in addresses {
        let order = preference(
            &a.types,
            [("work", [0, 2, 1]), ("home", [1, 2, 0])],
            [2, 0, 1],
        );
        if let Some(&s) = order.iter().find(|&&s| slots[s].is_none()) {
            slots[s] = Some(a);
        }
    }
    slots
}

fn address_json(a: Option<&Address>) -> Value {
    let Some(a) = a else { return json!({}) };
    let street: Vec<String> = [&a.po_box, &a.extended, &a.street]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    json!({
        "street": joined(&street, "\n"),
        "city": joined(&a.locality, ", "),
        "state": joined(&a.region, ", "),
        "postalCode": joined(&a.postal_code, ", "),
        "countryOrRegion": joined(&a.country, ", "),
    })
}

/// `19850412`, `1985-04-12` or `1985-04-12T…` as Graph's date-time; a birthday without
/// a year (`--0412`) or in other text has no Graph form.
fn birthday_json(b: &str) -> Value {
    let digits: String = b
        .chars()
        .take_while(|c| *c != 'T')
        .filter(char::is_ascii_digit)
        .collect();
    let dashed = b.len() >= 10 && b.as_bytes()[4] == b'-' && b.as_bytes()[7] == b'-';
    if digits.len() == 8
        && !b.starts_with("--")
        && (dashed || b.len() == 8 || b.as_bytes().get(8) == Some(&b'T'))
    {
        json!(format!(
            "{}-{}-{}T00:00:00Z",
            &digits[..4],
            &digits[4..6],
            &digits[6..]
        ))
    } else {
        Value::Null
    }
}

fn extras<'a>(c: &'a Contact, property: &'a str) -> impl Iterator<Item = &'a Property> {
    c.extra
        .iter()
        .filter(move |p| p.name == property && p.group.is_none())
}

/// The Graph fields of `c`: every field this crate writes, unset ones as `null`, `[]` or
/// `{}`, so a `PATCH` with them replaces the whole contact.
pub(crate) fn to_fields(c: &Contact) -> Map<String, Value> {
    let mut m = Map::new();
    let name = c.name.clone().unwrap_or_default();
    m.insert("displayName".into(), text(&c.full_name));
    m.insert("givenName".into(), joined(&name.given, " "));
    m.insert("surname".into(), joined(&name.family, " "));
    m.insert("middleName".into(), joined(&name.additional, " "));
    m.insert("title".into(), joined(&name.prefixes, " "));
    m.insert("generation".into(), joined(&name.suffixes, " "));
    let emails: Vec<Value> = c
        .emails
        .iter()
        .take(MAX_EMAILS)
        .map(|e| {
            let name = e
                .params
                .iter()
                .find(|p| p.name == DISPLAY_NAME)
                .and_then(|p| p.value())
                .unwrap_or(&e.address);
            json!({"address": e.address, "name": name})
        })
        .collect();
    m.insert("emailAddresses".into(), Value::Array(emails));
    let [business, home, mobile] = place_phones(&c.phones);
    m.insert("businessPhones".into(), json!(business));
    m.insert("homePhones".into(), json!(home));
    m.insert(
        "mobilePhone".into(),
        mobile.first().map_or(Value::Null, |p| json!(p)),
    );
    m.insert(
        "companyName".into(),
        text(c.organization.first().map_or("", String::as_str)),
    );
    m.insert(
        "department".into(),
        text(c.organization.get(1).map_or("", String::as_str)),
    );
    m.insert("jobTitle".into(), text(c.title.as_deref().unwrap_or("")));
    let [work, home_address, other] = place_addresses(&c.addresses);
    m.insert("businessAddress".into(), address_json(work));
    m.insert("homeAddress".into(), address_json(home_address));
    m.insert("otherAddress".into(), address_json(other));
    m.insert(
        "birthday".into(),
        c.birthday.as_deref().map_or(Value::Null, birthday_json),
    );
    m.insert("personalNotes".into(), joined(&c.notes, "\n\n"));
    m.insert("categories".into(), json!(c.categories));
    for x in EXTRA_FIELDS {
        let values = extras(c, x.property).map(|p| if x.uri { p.value.clone() } else { p.text() });
        let v = match x.many {
            Some(n) => json!(values.take(n).collect::<Vec<_>>()),
            None => values.map(|v| text(&v)).next().unwrap_or(Value::Null),
        };
        m.insert(x.field.into(), v);
    }
    m
}

/// The body that creates or replaces `c`: its fields, stamped with its `UID` and vCard.
pub(crate) fn to_body(c: &Contact) -> Value {
    let mut m = to_fields(c);
    let mut props = vec![json!({"id": card_property(), "value": c.to_vcard()})];
    if let Some(uid) = &c.uid {
        props.push(json!({"id": uid_property(), "value": uid}));
    }
    m.insert("singleValueExtendedProperties".into(), Value::Array(props));
    Value::Object(m)
}

/// A JSON value with empty strings, lists and objects (recursively) as `null`.
fn norm(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Object(o)) => {
            let kept: Map<String, Value> = o
                .iter()
                .map(|(k, v)| (k.clone(), norm(Some(v))))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Some(v) => v.clone(),
    }
}

/// Whether field `k` says the same in both: unset in any form is unset, birthdays
/// compare by date.
fn same(k: &str, a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let (x, y) = (norm(a.get(k)), norm(b.get(k)));
    if k == "birthday" {
        let day = |v: &Value| v.as_str().map(|s| s.chars().take(10).collect::<String>());
        return day(&x) == day(&y);
    }
    x == y
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn field<'a>(f: &'a Map<String, Value>, k: &str) -> &'a str {
    f.get(k).and_then(Value::as_str).unwrap_or("")
}

fn nonempty(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        vec![s.to_owned()]
    }
}

/// An address as core holds it: the display name Graph keeps with it, when it is not the
/// address itself, in an `X-DISPLAY-NAME` parameter.
fn email_from(v: &Value) -> Option<Email> {
    let address = v.get("address").and_then(Value::as_str)?;
    let mut e = Email::new(address);
    match v.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() && name != address => {
            e.params.push(Param::new(DISPLAY_NAME, [name.to_owned()]));
        }
        _ => {}
    }
    Some(e)
}

fn address_from(v: Option<&Value>, kind: Option<&str>) -> Option<Address> {
    let o = norm(v);
    let o = o.as_object()?;
    let get = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
    let mut a = Address::new();
    a.street = get("street")
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    a.locality = nonempty(get("city"));
    a.region = nonempty(get("state"));
    a.postal_code = nonempty(get("postalCode"));
    a.country = nonempty(get("countryOrRegion"));
    a.types = kind.into_iter().map(str::to_owned).collect();
    Some(a)
}

/// The contact the fields alone say (a contact made in Outlook, or a group changed
/// there).
fn from_fields(f: &Map<String, Value>) -> Contact {
    let mut c = Contact::new(field(f, "displayName"));
    let mut name = StructuredName::default();
    name.family = nonempty(field(f, "surname"));
    name.given = nonempty(field(f, "givenName"));
    name.additional = nonempty(field(f, "middleName"));
    name.prefixes = nonempty(field(f, "title"));
    name.suffixes = nonempty(field(f, "generation"));
    if name != StructuredName::default() {
        c.name = Some(name);
    }
    c.emails = f
        .get("emailAddresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(email_from)
        .collect();
    for (k, t) in [
        ("businessPhones", "work"),
        ("homePhones", "home"),
        ("mobilePhone", "cell"),
    ] {
        c.phones.extend(
            strings(f.get(k))
                .into_iter()
                .map(|n| Phone::new(n).with_types([t])),
        );
    }
    let (company, department) = (field(f, "companyName"), field(f, "department"));
    c.organization = match (company, department) {
        ("", "") => Vec::new(),
        (co, "") => vec![co.to_owned()],
        (co, d) => vec![co.to_owned(), d.to_owned()],
    };
    c.title = Some(field(f, "jobTitle").to_owned()).filter(|t| !t.is_empty());
    for (k, t) in [
        ("businessAddress", Some("work")),
        ("homeAddress", Some("home")),
        ("otherAddress", None),
    ] {
        c.addresses.extend(address_from(f.get(k), t));
    }
    c.birthday = f
        .get("birthday")
        .and_then(Value::as_str)
        .filter(|b| b.len() >= 10)
        .map(|b| b[..10].replace('-', ""));
    c.notes = nonempty(field(f, "personalNotes"));
    c.categories = strings(f.get("categories"));
    for x in EXTRA_FIELDS {
        for v in strings(f.get(x.field)) {
            let value = if x.uri { v } else { escape_text(&v) };
            c.extra.push(Property::new(x.property, value));
        }
    }
    if c.full_name.is_empty() {
        // vCard requires FN: the names, the company or the first address name it.
        c.full_name = [
            field(f, "givenName"),
            field(f, "middleName"),
            field(f, "surname"),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
        if c.full_name.is_empty() {
            c.full_name = c
                .organization
                .first()
                .or_else(|| c.emails.first().map(|e| &e.address))
                .cloned()
                .unwrap_or_default();
        }
    }
    c
}

/// One group of Graph fields and the part of a contact they map to.
#[derive(Clone, Copy)]
enum Part {
    FullName,
    Name,
    Emails,
    Phones,
    Organization,
    Title,
    Addresses,
    Birthday,
    Notes,
    Categories,
    Extra(&'static ExtraField),
}

impl Part {
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::FullName => &["displayName"],
            Self::Name => &["givenName", "surname", "middleName", "title", "generation"],
            Self::Emails => &["emailAddresses"],
            Self::Phones => &["businessPhones", "homePhones", "mobilePhone"],
            Self::Organization => &["companyName", "department"],
            Self::Title => &["jobTitle"],
            Self::Addresses => &["businessAddress", "homeAddress", "otherAddress"],
            Self::Birthday => &["birthday"],
            Self::Notes => &["personalNotes"],
            Self::Categories => &["categories"],
            Self::Extra(x) => std::slice::from_ref(&x.field),
        }
    }

    /// Replaces this part of `into` with `from`'s.
    fn take(self, from: &Contact, into: &mut Contact) {
        let params = |into: &mut Contact, name: &str| {
            into.params.remove(name);
        };
        match self {
            Self::FullName => {
                into.full_name.clone_from(&from.full_name);
                params(into, "FN");
            }
            Self::Name => {
                into.name.clone_from(&from.name);
                params(into, "N");
            }
            Self::Emails => into.emails.clone_from(&from.emails),
            Self::Phones => into.phones.clone_from(&from.phones),
            Self::Organization => {
                into.organization.clone_from(&from.organization);
                params(into, "ORG");
            }
            Self::Title => {
                into.title.clone_from(&from.title);
                params(into, "TITLE");
            }
            Self::Addresses => into.addresses.clone_from(&from.addresses),
            Self::Birthday => {
                into.birthday.clone_from(&from.birthday);
                params(into, "BDAY");
            }
            Self::Notes => into.notes.clone_from(&from.notes),
            Self::Categories => into.categories.clone_from(&from.categories),
            Self::Extra(x) => {
                into.extra
                    .retain(|p| !(p.name == x.property && p.group.is_none()));
                into.extra.extend(extras(from, x.property).cloned());
            }
        }
    }
}

const PARTS: [Part; 10] = [
    Part::FullName,
    Part::Name,
    Part::Emails,
    Part::Phones,
    Part::Organization,
    Part::Title,
    Part::Addresses,
    Part::Birthday,
    Part::Notes,
    Part::Categories,
];

/// The core contact of a Graph contact: the stored vCard where the fields still say what
/// it says, the fields where they changed since; the `UID` from its property.
pub(crate) fn from_graph(g: &GraphContact) -> Contact {
    let fresh = from_fields(&g.fields);
    let stored = g
        .named(&card_property())
        .and_then(|card| Contact::from_vcard(card).ok());
    let mut c = match stored {
        None => fresh,
        Some(mut base) => {
            let written = to_fields(&base);
            let parts = PARTS
                .into_iter()
                .chain(EXTRA_FIELDS.iter().map(Part::Extra));
            for part in parts {
                if !part.fields().iter().all(|k| same(k, &written, &g.fields)) {
                    part.take(&fresh, &mut base);
                }
            }
            base
        }
    };
    c.uid = g.uid().map(str::to_owned);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(fields: Value, props: &[(String, String)]) -> GraphContact {
        let mut v = fields;
        v["id"] = json!("c1");
        v["singleValueExtendedProperties"] = props
            .iter()
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect();
        serde_json::from_value(v).unwrap()
    }

    /// What the server keeps of a body: its fields and named properties.
    fn stored(body: &Value) -> GraphContact {
        let mut fields = body.clone();
        let props: Vec<(String, String)> = fields
            .as_object_mut()
            .unwrap()
            .remove("singleValueExtendedProperties")
            .and_then(|p| p.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        graph(fields, &props)
    }

    fn rich() -> Contact {
        let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u-1\r\nFN;LANGUAGE=de:Zoë Müller\r\n\
N:Müller;Zoë;Anna;Dr.;\r\nNICKNAME:Zo\r\nEMAIL;TYPE=work;PREF=1:zoe@example.com\r\n\
EMAIL;TYPE=home:zoe@home.example\r\nTEL;TYPE=cell:+49 170\r\nTEL;TYPE=work:+49 30 1\r\n\
ORG:Example GmbH;Ops\r\nTITLE:Lead\r\nADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;DE\r\n\
BDAY:19850412\r\nNOTE:Line one\\nline two\r\nCATEGORIES:friends,work\r\n\
IMPP:xmpp:zoe@example.com\r\nURL:https://example.com/zoe\r\nX-SOCIAL:@zoe\r\nEND:VCARD\r\n";
        Contact::from_vcard(card).unwrap()
    }

    #[test]
    fn a_written_contact_reads_back_equal() {
        let c = rich();
        let body = to_body(&c);
        assert_eq!(body["nickName"], "Zo");
        assert_eq!(body["mobilePhone"], "+49 170");
        assert_eq!(body["businessPhones"], json!(["+49 30 1"]));
        assert_eq!(body["companyName"], "Example GmbH");
        assert_eq!(body["department"], "Ops");
        assert_eq!(body["businessAddress"]["city"], "Berlin");
        assert_eq!(body["birthday"], "1985-04-12T00:00:00Z");
        assert_eq!(body["imAddresses"], json!(["xmpp:zoe@example.com"]));
        assert_eq!(body["businessHomePage"], "https://example.com/zoe");
        assert_eq!(from_graph(&stored(&body)), c);
    }

    #[test]
    fn a_field_changed_in_outlook_wins_over_the_stored_card() {
        let c = rich();
        let mut g = stored(&to_body(&c));
        g.fields.insert("jobTitle".into(), json!("Head"));
        g.fields.insert("nickName".into(), json!("Zoe"));
        g.fields.insert(
            "emailAddresses".into(),
            json!([{"address": "new@example.com"}]),
        );
        let back = from_graph(&g);
        assert_eq!(back.title.as_deref(), Some("Head"));
        assert_eq!(back.emails, vec![Email::new("new@example.com")]);
        assert!(back
            .extra
            .iter()
            .any(|p| p.name == "NICKNAME" && p.text() == "Zoe"));
        // What did not change keeps the card's detail.
        assert_eq!(back.phones, c.phones);
        assert_eq!(back.params["FN"], vec![Param::new("LANGUAGE", ["de"])]);
        assert!(back.extra.iter().any(|p| p.name == "X-SOCIAL"));
    }

    #[test]
    fn an_outlook_contact_round_trips_every_field_graph_holds() {
        let fields = json!({
            "displayName": "Bo Lee", "givenName": "Bo", "surname": "Lee", "title": "Mr.",
            "nickName": "B", "emailAddresses": [{"address": "bo@x.org", "name": "Bo"}, {"address": "b@y.org", "name": "b@y.org"}],
            "businessPhones": ["1", "2"], "homePhones": ["3"], "mobilePhone": "4",
            "companyName": "Co", "department": "Dep", "jobTitle": "CTO",
            "homeAddress": {"street": "A 1\nFloor 2", "city": "C", "state": "S", "postalCode": "P", "countryOrRegion": "X"},
            "otherAddress": {}, "businessAddress": {"city": "W"},
            "birthday": "1970-01-02T11:59:00Z", "personalNotes": "hi", "categories": ["k"],
            "imAddresses": ["sip:bo@x.org"], "profession": "Eng", "children": ["Al", "Cy"],
            "spouseName": "Di", "manager": "Ed", "assistantName": "Fi", "officeLocation": "3F",
            "initials": "B.L.", "fileAs": "Lee, Bo", "yomiGivenName": "ボ", "yomiSurname": "リー",
            "yomiCompanyName": "コ", "businessHomePage": "https://x.org",
        });
        let c = from_graph(&graph(fields.clone(), &[]));
        assert_eq!(c.uid, None);
        let again = to_fields(&c);
        for (k, v) in fields.as_object().unwrap() {
            assert!(
                same(k, &again, fields.as_object().unwrap()),
                "{k}: {v} became {:?}",
                again.get(k)
            );
        }
    }

    #[test]
    fn placement_never_exceeds_graph_limits() {
        let mut c = Contact::new("Many");
        for n in 0..5 {
            c.emails.push(Email::new(format!("m{n}@x.org")));
            c.phones
                .push(Phone::new(format!("{n}")).with_types(["work"]));
        }
        let f = to_fields(&c);
        assert_eq!(f["emailAddresses"].as_array().unwrap().len(), MAX_EMAILS);
        assert_eq!(
            f["businessPhones"].as_array().unwrap().len(),
            MAX_BUSINESS_PHONES
        );
        assert_eq!(f["homePhones"].as_array().unwrap().len(), 2);
        assert_eq!(f["mobilePhone"], "4");
    }

    #[test]
    fn birthdays_without_a_year_have_no_graph_form() {
        assert_eq!(birthday_json("1985-04-12"), json!("1985-04-12T00:00:00Z"));
        assert_eq!(birthday_json("--0412"), Value::Null);
        assert_eq!(birthday_json("sometime"), Value::Null);
    }
}
