//! Fitting an item to what its destination keeps: overflow carried elsewhere on the item,
//! anything that cannot be carried named in the report.

use serde::{Deserialize, Serialize};

use crate::pim::{CalendarEvent, Contact, Payload, PimCapabilities, PimItem};

/// What became of one property that the destination could not keep as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Fate {
    /// Moved to another property of the same item (`to`), where the destination keeps it.
    Carried {
        /// Where it went (`NOTE`).
        to: String,
    },
    /// Not kept: the destination has no place for it.
    Dropped,
}

/// One transformation of one item, for the report.
///
/// ```
/// use mailmigrate_core::pim::sync::{Fate, Transformation};
/// let t = Transformation::new("ann-1", "EMAIL", 1, Fate::Carried { to: "NOTE".into() });
/// assert_eq!(t.to_string(), "ann-1: 1 EMAIL carried in NOTE");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transformation {
    /// The item's `UID`.
    pub uid: String,
    /// The property (`EMAIL`, `VALARM`, `X-MS-OLK-WKHRSTART`).
    pub property: String,
    /// How many values.
    pub count: usize,
    /// What became of them.
    pub fate: Fate,
}

impl Transformation {
    /// A transformation record.
    pub fn new(
        uid: impl Into<String>,
        property: impl Into<String>,
        count: usize,
        fate: Fate,
    ) -> Self {
        Self {
            uid: uid.into(),
            property: property.into(),
            count,
            fate,
        }
    }
}

impl std::fmt::Display for Transformation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fate {
            Fate::Carried { to } => write!(
                f,
                "{}: {} {} carried in {to}",
                self.uid, self.count, self.property
            ),
            Fate::Dropped => write!(
                f,
                "{}: {} {} not kept by the destination",
                self.uid, self.count, self.property
            ),
        }
    }
}

/// Fits `item` to what `caps` says the destination keeps, and says what changed. An item
/// that needs nothing is left untouched (its source text included).
///
/// - Contacts over a [`ContactLimits`](crate::pim::ContactLimits) limit keep the first
///   values; the others are appended to the note, one line each (`EMAIL (work):
///   x@example.com`), so nothing is lost.
/// - Without `keeps_alarms`, `keeps_unknown_properties` or `keeps_attachment_references`
///   the values go and each kind is named.
///
/// ```
/// use mailmigrate_core::pim::{sync::adapt, *};
/// let mut c = Contact::new("Ann");
/// c.uid = Some("ann-1".into());
/// for n in 0..4 { c.emails.push(Email::new(format!("a{n}@example.com"))); }
/// let mut item = PimItem::new(ItemMeta::new(ItemId::new("1")), Payload::Contact(Box::new(c)));
/// let mut caps = MemoryPim::capabilities();
/// caps.contact_limits.emails = Some(3);
/// let done = adapt(&mut item, &caps);
/// assert_eq!(done[0].to_string(), "ann-1: 1 EMAIL carried in NOTE");
/// let Payload::Contact(c) = &item.payload else { unreachable!() };
/// assert_eq!(c.emails.len(), 3);
/// assert_eq!(c.notes, ["EMAIL: a3@example.com"]);
/// ```
pub fn adapt(item: &mut PimItem, caps: &PimCapabilities) -> Vec<Transformation> {
    let mut probe = item.payload.clone();
    let uid = item.uid().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    match &mut probe {
        Payload::Contact(c) => adapt_contact(c, caps, &uid, &mut out),
        Payload::Event(o) => {
            for e in o.events_mut() {
                adapt_event(e, caps, &uid, &mut out);
            }
            drop_timezones(o.events_mut(), caps, &uid, &mut out);
        }
    }
    if !out.is_empty() {
        item.edit(|p| *p = probe);
    }
    merge(out)
}

/// One line per property and fate, with the counts added up (an event's overrides).
fn merge(list: Vec<Transformation>) -> Vec<Transformation> {
    let mut out: Vec<Transformation> = Vec::new();
    for t in list {
        match out
            .iter_mut()
            .find(|o| o.property == t.property && o.fate == t.fate)
        {
            Some(o) => o.count += t.count,
            None => out.push(t),
        }
    }
    out
}

fn overflow<T>(values: &mut Vec<T>, limit: Option<usize>) -> Vec<T> {
    match limit {
        Some(n) if values.len() > n => values.split_off(n),
        _ => Vec::new(),
    }
}

fn note_line(property: &str, types: &[String], value: &str) -> String {
    if types.is_empty() {
        format!("{property}: {value}")
    } else {
        format!("{property} ({}): {value}", types.join(", "))
    }
}

fn adapt_contact(
    c: &mut Contact,
    caps: &PimCapabilities,
    uid: &str,
    out: &mut Vec<Transformation>,
) {
    let limits = caps.contact_limits;
    let mut lines = Vec::new();
    let emails = overflow(&mut c.emails, limits.emails);
    lines.extend(
        emails
            .iter()
            .map(|e| note_line("EMAIL", &e.types, &e.address)),
    );
    if !emails.is_empty() {
        out.push(Transformation::new(uid, "EMAIL", emails.len(), carried()));
    }
    let phones = overflow(&mut c.phones, limits.phones);
    lines.extend(phones.iter().map(|p| note_line("TEL", &p.types, &p.number)));
    if !phones.is_empty() {
        out.push(Transformation::new(uid, "TEL", phones.len(), carried()));
    }
    let addresses = overflow(&mut c.addresses, limits.addresses);
    lines.extend(addresses.iter().map(|a| {
        let value = [
            &a.street,
            &a.locality,
            &a.region,
            &a.postal_code,
            &a.country,
        ]
        .iter()
        .map(|v| v.join(" "))
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
        note_line("ADR", &a.types, &value)
    }));
    if !addresses.is_empty() {
        out.push(Transformation::new(uid, "ADR", addresses.len(), carried()));
    }
    if !lines.is_empty() {
        c.notes.push(lines.join("\n"));
    }
    if !caps.keeps_unknown_properties && !c.extra.is_empty() {
        for p in std::mem::take(&mut c.extra) {
            out.push(Transformation::new(uid, p.name, 1, Fate::Dropped));
        }
    }
}

fn adapt_event(
    e: &mut CalendarEvent,
    caps: &PimCapabilities,
    uid: &str,
    out: &mut Vec<Transformation>,
) {
    if !caps.keeps_alarms && !e.alarms.is_empty() {
        out.push(Transformation::new(
            uid,
            "VALARM",
            e.alarms.len(),
            Fate::Dropped,
        ));
        e.alarms.clear();
    }
    let (attach, extra): (Vec<_>, Vec<_>) = std::mem::take(&mut e.extra)
        .into_iter()
        .partition(|p| p.name == "ATTACH");
    e.extra = extra;
    if caps.keeps_attachment_references {
        e.extra.extend(attach);
    } else if !attach.is_empty() {
        out.push(Transformation::new(
            uid,
            "ATTACH",
            attach.len(),
            Fate::Dropped,
        ));
    }
    if !caps.keeps_unknown_properties {
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut e.extra)
            .into_iter()
            .partition(|p| p.name == "ATTACH");
        e.extra = keep;
        for p in gone {
            out.push(Transformation::new(uid, p.name, 1, Fate::Dropped));
        }
        for c in std::mem::take(&mut e.extra_components) {
            out.push(Transformation::new(uid, c.name, 1, Fate::Dropped));
        }
    }
}

/// The `VTIMEZONE` definitions a destination that keeps only IANA ids cannot store,
/// counted once per zone however many events of the object carry it (a series and its
/// overrides each hold the zones they use). The events keep their `TZID` references: the
/// destination resolves them as IANA ids.
fn drop_timezones(
    events: &mut [CalendarEvent],
    caps: &PimCapabilities,
    uid: &str,
    out: &mut Vec<Transformation>,
) {
    if caps.keeps_timezone_definitions {
        return;
    }
    let mut zones = std::collections::BTreeSet::new();
    for e in events.iter_mut() {
        for tz in e.timezones.drain(..) {
            zones.insert(tz.property("TZID").map(|p| p.value.clone()));
        }
    }
    if !zones.is_empty() {
        out.push(Transformation::new(
            uid,
            "VTIMEZONE",
            zones.len(),
            Fate::Dropped,
        ));
    }
}

fn carried() -> Fate {
    Fate::Carried { to: "NOTE".into() }
}
