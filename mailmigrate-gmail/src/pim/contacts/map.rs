//! The one mapping between a People API Person \[GP-DISC\] and core's [`Contact`].
//!
//! Person fields hold names, nicknames, emails, phones, addresses, organisations,
//! birthdays, a biography (the notes) and URLs. The `UID` and the vCard as written travel
//! in `clientData` ([`stored`](crate::pim::stored)); reading, each field that still says
//! what the written vCard made of it takes the stored form, and a field changed in Google
//! since is read from Google.

use mailmigrate_core::pim::{Address, Contact, Email, Phone, Property, StructuredName};
use serde_json::{json, Map, Value};

/// The `clientData` key of the `UID`.
pub(crate) const UID_KEY: &str = "mm-uid";
/// The prefix of the stored vCard's `clientData` keys.
pub(crate) const VCARD: &str = "mm-vcard-";

/// The Person fields this crate writes (`updatePersonFields`).
pub(crate) const WRITTEN: &str =
    "names,nicknames,emailAddresses,phoneNumbers,addresses,organizations,birthdays,biographies,urls,clientData";
/// The Person fields a read asks for (`personFields`).
pub(crate) const READ: &str = "names,nicknames,emailAddresses,phoneNumbers,addresses,organizations,birthdays,biographies,urls,clientData,memberships,metadata";

fn join(v: &[String]) -> String {
    v.join(" ")
}

fn put(m: &mut Map<String, Value>, k: &str, v: String) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn one_type(types: &[String], known: &[&str]) -> Option<String> {
    types.iter().find(|t| known.contains(&t.as_str())).cloned()
}

fn phone_type(types: &[String]) -> Option<&'static str> {
    let has = |t: &str| types.iter().any(|x| x == t);
    Some(match () {
        () if has("cell") => "mobile",
        () if has("fax") && has("home") => "homeFax",
        () if has("fax") && has("work") => "workFax",
        () if has("fax") => "otherFax",
        () if has("pager") => "pager",
        () if has("home") => "home",
        () if has("work") => "work",
        () => return None,
    })
}

fn phone_types(t: &str) -> Vec<&'static str> {
    match t {
        "mobile" => vec!["cell"],
        "homeFax" => vec!["home", "fax"],
        "workFax" => vec!["work", "fax"],
        "otherFax" => vec!["fax"],
        "pager" => vec!["pager"],
        "home" => vec!["home"],
        "work" => vec!["work"],
        _ => Vec::new(),
    }
}

fn extras<'a>(c: &'a Contact, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
    c.extra
        .iter()
        .filter(move |p| p.name.eq_ignore_ascii_case(name))
}

/// `BDAY` as a People date (`19850412`, `1985-04-12`, `--0412`), or as text.
fn birthday_json(b: &str) -> Value {
    let digits: String = b.chars().filter(char::is_ascii_digit).collect();
    let no_year = b.starts_with("--");
    let date = match (no_year, digits.len()) {
        (true, 4) => Some((None, &digits[0..2], &digits[2..4])),
        (false, 8) => Some((Some(&digits[0..4]), &digits[4..6], &digits[6..8])),
        _ => None,
    };
    match date {
        Some((y, m, d)) => {
            let mut v =
                json!({"month": m.parse::<u8>().unwrap_or(0), "day": d.parse::<u8>().unwrap_or(0)});
            if let Some(y) = y {
                v["year"] = json!(y.parse::<u16>().unwrap_or(0));
            }
            json!({"date": v})
        }
        None => json!({"text": b}),
    }
}

fn birthday_of(v: &Value) -> Option<String> {
    if let Some(d) = v.get("date") {
        let n = |k: &str| d.get(k).and_then(Value::as_u64);
        let (m, day) = (n("month")?, n("day")?);
        return Some(match n("year") {
            Some(y) => format!("{y:04}{m:02}{day:02}"),
            None => format!("--{m:02}{day:02}"),
        });
    }
    v.get("text").and_then(Value::as_str).map(str::to_owned)
}

/// The Person fields of `c` (without memberships), `clientData` holding its `UID` and
/// the vCard as written.
pub(crate) fn to_person(c: &Contact) -> Map<String, Value> {
    let mut m = Map::new();
    let mut name = Map::new();
    put(&mut name, "unstructuredName", c.full_name.clone());
    if let Some(n) = &c.name {
        put(&mut name, "familyName", join(&n.family));
        put(&mut name, "givenName", join(&n.given));
        put(&mut name, "middleName", join(&n.additional));
        put(&mut name, "honorificPrefix", join(&n.prefixes));
        put(&mut name, "honorificSuffix", join(&n.suffixes));
    }
    m.insert("names".into(), json!([name]));
    let nicks: Vec<Value> = extras(c, "NICKNAME")
        .flat_map(|p| {
            p.text()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .map(|s| json!({"value": s}))
        .collect();
    m.insert("nicknames".into(), Value::Array(nicks));
    let emails: Vec<Value> = c
        .emails
        .iter()
        .map(|e| {
            let mut v = json!({"value": e.address});
            if let Some(t) = one_type(&e.types, &["home", "work", "other"]) {
                v["type"] = json!(t);
            }
            v
        })
        .collect();
    m.insert("emailAddresses".into(), Value::Array(emails));
    let phones: Vec<Value> = c
        .phones
        .iter()
        .map(|p| {
            let mut v = json!({"value": p.number});
            if let Some(t) = phone_type(&p.types) {
                v["type"] = json!(t);
            }
            v
        })
        .collect();
    m.insert("phoneNumbers".into(), Value::Array(phones));
    let addresses: Vec<Value> = c
        .addresses
        .iter()
        .map(|a| {
            let mut v = Map::new();
            put(&mut v, "streetAddress", a.street.join("\n"));
            put(&mut v, "extendedAddress", a.extended.join("\n"));
            put(&mut v, "poBox", a.po_box.join("\n"));
            put(&mut v, "city", a.locality.join(" "));
            put(&mut v, "region", a.region.join(" "));
            put(&mut v, "postalCode", a.postal_code.join(" "));
            put(&mut v, "country", a.country.join(" "));
            if let Some(t) = one_type(&a.types, &["home", "work", "other"]) {
                v.insert("type".into(), json!(t));
            }
            Value::Object(v)
        })
        .collect();
    m.insert("addresses".into(), Value::Array(addresses));
    let mut org = Map::new();
    if let Some(n) = c.organization.first() {
        put(&mut org, "name", n.clone());
    }
    put(
        &mut org,
        "department",
        c.organization.get(1..).unwrap_or_default().join(";"),
    );
    put(&mut org, "title", c.title.clone().unwrap_or_default());
    let orgs = if org.is_empty() {
        json!([])
    } else {
        json!([org])
    };
    m.insert("organizations".into(), orgs);
    let birthdays = c
        .birthday
        .as_deref()
        .map(birthday_json)
        .into_iter()
        .collect();
    m.insert("birthdays".into(), Value::Array(birthdays));
    let notes = c.notes.join("\n");
    let bios = if notes.is_empty() {
        json!([])
    } else {
        json!([{"value": notes, "contentType": "TEXT_PLAIN"}])
    };
    m.insert("biographies".into(), bios);
    let urls: Vec<Value> = extras(c, "URL")
        .map(|p| {
            let mut v = json!({"value": p.text()});
            if let Some(t) = p
                .param("TYPE")
                .and_then(|t| t.value())
                .map(str::to_ascii_lowercase)
                .filter(|t| ["home", "work", "blog", "profile", "homePage"].contains(&t.as_str()))
            {
                v["type"] = json!(t);
            }
            v
        })
        .collect();
    m.insert("urls".into(), Value::Array(urls));
    let mut data: Vec<Value> = Vec::new();
    if let Some(u) = &c.uid {
        data.push(json!({"key": UID_KEY, "value": u}));
    }
    data.extend(
        crate::pim::stored::pieces(VCARD, &c.to_vcard())
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v})),
    );
    m.insert("clientData".into(), Value::Array(data));
    m
}

/// A `clientData` value.
pub(crate) fn client_data<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    p.get("clientData")?
        .as_array()?
        .iter()
        .find(|d| d.get("key").and_then(Value::as_str) == Some(key))?
        .get("value")?
        .as_str()
}

fn arr<'a>(p: &'a Map<String, Value>, k: &str) -> impl Iterator<Item = &'a Value> + 'a {
    p.get(k).and_then(Value::as_array).into_iter().flatten()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn words(v: &str) -> Vec<String> {
    if v.is_empty() {
        Vec::new()
    } else {
        vec![v.to_owned()]
    }
}

/// The contact a Person's fields alone say.
pub(crate) fn from_person(p: &Map<String, Value>) -> Contact {
    let name = arr(p, "names").next();
    let full = name
        .map(|n| {
            let u = s(n, "unstructuredName");
            if u.is_empty() {
                let d = s(n, "displayName");
                if d.is_empty() {
                    format!("{} {}", s(n, "givenName"), s(n, "familyName"))
                        .trim()
                        .to_owned()
                } else {
                    d.to_owned()
                }
            } else {
                u.to_owned()
            }
        })
        .unwrap_or_default();
    let mut c = Contact::new(full);
    c.uid = client_data(p, UID_KEY).map(str::to_owned);
    if let Some(n) = name {
        let mut sn = StructuredName::new(s(n, "familyName"), s(n, "givenName"));
        sn.additional = words(s(n, "middleName"));
        sn.prefixes = words(s(n, "honorificPrefix"));
        sn.suffixes = words(s(n, "honorificSuffix"));
        if sn != StructuredName::default() {
            c.name = Some(sn);
        }
    }
    for n in arr(p, "nicknames") {
        c.extra.push(Property::new(
            "NICKNAME",
            mailmigrate_core::pim::escape_text(s(n, "value")),
        ));
    }
    c.emails = arr(p, "emailAddresses")
        .map(|e| Email::new(s(e, "value")).with_types(words(s(e, "type"))))
        .collect();
    c.phones = arr(p, "phoneNumbers")
        .map(|x| Phone::new(s(x, "value")).with_types(phone_types(s(x, "type"))))
        .collect();
    c.addresses = arr(p, "addresses")
        .map(|a| {
            let mut out = Address::new();
            let lines = |k: &str| -> Vec<String> {
                let v = s(a, k);
                if v.is_empty() {
                    Vec::new()
                } else {
                    v.split('\n').map(str::to_owned).collect()
                }
            };
            out.street = lines("streetAddress");
            out.extended = lines("extendedAddress");
            out.po_box = lines("poBox");
            out.locality = words(s(a, "city"));
            out.region = words(s(a, "region"));
            out.postal_code = words(s(a, "postalCode"));
            out.country = words(s(a, "country"));
            out.types = words(s(a, "type"));
            out
        })
        .collect();
    if let Some(o) = arr(p, "organizations").next() {
        let mut org = words(s(o, "name"));
        if !s(o, "department").is_empty() {
            if org.is_empty() {
                org.push(String::new());
            }
            org.extend(s(o, "department").split(';').map(str::to_owned));
        }
        c.organization = org;
        c.title = Some(s(o, "title").to_owned()).filter(|t| !t.is_empty());
    }
    c.birthday = arr(p, "birthdays").next().and_then(birthday_of);
    c.notes = arr(p, "biographies")
        .map(|b| s(b, "value").to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    for u in arr(p, "urls") {
        c.extra.push(Property::new("URL", s(u, "value")));
    }
    c
}

/// Keys of each field that this crate writes: what two Persons are compared on.
fn keys(field: &str) -> &'static [&'static str] {
    match field {
        "names" => &[
            "unstructuredName",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ],
        "addresses" => &[
            "streetAddress",
            "extendedAddress",
            "poBox",
            "city",
            "region",
            "postalCode",
            "country",
            "type",
        ],
        "organizations" => &["name", "department", "title"],
        "birthdays" => &["date", "text"],
        "biographies" | "nicknames" => &["value"],
        _ => &["value", "type"],
    }
}

fn norm(p: &Map<String, Value>, field: &str) -> Vec<Value> {
    arr(p, field)
        .map(|v| {
            let m: Map<String, Value> = keys(field)
                .iter()
                .filter_map(|k| Some(((*k).to_owned(), v.get(*k)?.clone())))
                .filter(|(_, v)| v.as_str() != Some(""))
                .collect();
            Value::Object(m)
        })
        .collect()
}

const FIELDS: [&str; 9] = [
    "names",
    "nicknames",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "organizations",
    "birthdays",
    "biographies",
    "urls",
];

fn take(field: &str, from: &Contact, into: &mut Contact) {
    let extra = |into: &mut Contact, name: &str| {
        into.extra.retain(|p| !p.name.eq_ignore_ascii_case(name));
        into.extra.extend(extras(from, name).cloned());
    };
    match field {
        "names" => {
            into.full_name.clone_from(&from.full_name);
            into.name.clone_from(&from.name);
            into.params.remove("FN");
            into.params.remove("N");
        }
        "nicknames" => extra(into, "NICKNAME"),
        "emailAddresses" => into.emails.clone_from(&from.emails),
        "phoneNumbers" => into.phones.clone_from(&from.phones),
        "addresses" => into.addresses.clone_from(&from.addresses),
        "organizations" => {
            into.organization.clone_from(&from.organization);
            into.title.clone_from(&from.title);
        }
        "birthdays" => into.birthday.clone_from(&from.birthday),
        "biographies" => into.notes.clone_from(&from.notes),
        _ => extra(into, "URL"),
    }
}

/// The contact a Person holds: the stored vCard, with every field changed in Google since
/// read from Google.
pub(crate) fn contact_of(p: &Map<String, Value>) -> Contact {
    let fresh = from_person(p);
    let stored = crate::pim::stored::join(VCARD, |k| client_data(p, k))
        .and_then(|t| mailmigrate_core::pim::parse_vcards(&t).next()?.ok());
    let Some(stored) = stored else {
        return fresh;
    };
    let written = to_person(&stored);
    let mut out = stored;
    for f in FIELDS {
        if norm(&written, f) != norm(p, f) {
            take(f, &fresh, &mut out);
        }
    }
    out.uid = fresh.uid.or(out.uid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_round_trips_and_a_change_in_google_wins() {
        let card =
            "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Zoë Müller\r\nN:Müller;Zoë;;Dr.;\r\n\
EMAIL;TYPE=work:zoe@example.com\r\nEMAIL;TYPE=home:zoe@home.example\r\nTEL;TYPE=cell:+49 30 1\r\n\
ORG:Example GmbH;Ops\r\nTITLE:Lead\r\nBDAY:--0412\r\nNOTE:Line one\\nline two\r\nX-KEPT:1\r\n\
ADR;TYPE=home:;;Main St 1;Berlin;;10115;Germany\r\nURL:https://zoe.example\r\nEND:VCARD\r\n";
        let c = mailmigrate_core::pim::parse_vcards(card)
            .next()
            .unwrap()
            .unwrap();
        let p = to_person(&c);
        assert_eq!(p["names"][0]["givenName"], "Zoë");
        assert_eq!(p["phoneNumbers"][0]["type"], "mobile");
        assert_eq!(p["birthdays"][0]["date"], json!({"month": 4, "day": 12}));
        assert_eq!(p["organizations"][0]["department"], "Ops");
        assert_eq!(contact_of(&p), c);
        let fresh = from_person(&p);
        assert_eq!(fresh.emails, c.emails);
        assert_eq!(fresh.birthday, c.birthday);
        let mut changed = p.clone();
        changed.insert(
            "emailAddresses".into(),
            json!([{"value": "new@example.com", "formattedType": "Other"}]),
        );
        let got = contact_of(&changed);
        assert_eq!(got.emails.len(), 1);
        assert_eq!(got.emails[0].address, "new@example.com");
        assert!(got.extra.iter().any(|x| x.name == "X-KEPT"));
    }
}
