//! Calendar events and iCalendar (RFC 5545) text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::invalid;
use super::line::{
    classify, escape_text, fold_into, read_component, Component, Item, Lines, Param, ParseError,
    Property,
};
use crate::Result;

const FORMAT: &str = "icalendar";
const PRODID: &str = "-//mailmigrate//mailmigrate-core//EN";

/// When an event starts or ends: an all-day date, or a date-time that is floating, UTC,
/// or local to a named time zone (`TZID`).
///
/// ```
/// use mailmigrate_core::pim::EventTime;
/// let t = EventTime::parse("20250310T090000", Some("Europe/Berlin"), false).unwrap();
/// assert_eq!(t.tzid(), Some("Europe/Berlin"));
/// assert_eq!(t.value(), "20250310T090000");
/// assert!(EventTime::parse("20250310", None, true).unwrap().is_all_day());
/// assert!(EventTime::parse("2025-03-10", None, false).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "EventTimeRepr", into = "EventTimeRepr")]
pub enum EventTime {
    /// An all-day date (`VALUE=DATE`).
    Date(Date),
    /// A wall-clock time in whatever zone the viewer is in.
    Floating(PrimitiveDateTime),
    /// An instant, written in UTC (`…Z`).
    Utc(OffsetDateTime),
    /// A wall-clock time in a named zone.
    Zoned {
        /// The `TZID` (an IANA name, or a Windows name from Outlook).
        tzid: String,
        /// The local date and time.
        local: PrimitiveDateTime,
    },
}

impl EventTime {
    /// Parses an iCalendar `DATE` or `DATE-TIME` value; `is_date` is `VALUE=DATE`.
    /// A `Z` suffix wins over `tzid`, as RFC 5545 requires.
    pub fn parse(value: &str, tzid: Option<&str>, is_date: bool) -> Option<Self> {
        let value = value.trim();
        if is_date || value.len() == 8 {
            return parse_date(value).map(Self::Date);
        }
        if let Some(utc) = value.strip_suffix(['Z', 'z']) {
            return parse_local(utc).map(|l| Self::Utc(l.assume_utc()));
        }
        let local = parse_local(value)?;
        Some(match tzid {
            Some(tz) => Self::Zoned {
                tzid: tz.to_owned(),
                local,
            },
            None => Self::Floating(local),
        })
    }

    /// Whether this is an all-day date.
    pub fn is_all_day(&self) -> bool {
        matches!(self, Self::Date(_))
    }

    /// The time zone name, for a zoned time.
    pub fn tzid(&self) -> Option<&str> {
        match self {
            Self::Zoned { tzid, .. } => Some(tzid),
            _ => None,
        }
    }

    /// The value as iCalendar writes it (`20250310`, `20250310T090000`, `…Z`).
    pub fn value(&self) -> String {
        match self {
            Self::Date(d) => fmt_date(*d),
            Self::Floating(l) | Self::Zoned { local: l, .. } => fmt_local(*l),
            Self::Utc(t) => {
                let u = t.to_offset(UtcOffset::UTC);
                format!("{}Z", fmt_local(PrimitiveDateTime::new(u.date(), u.time())))
            }
        }
    }

    fn to_property(&self, name: &str, extra: Option<&Vec<Param>>) -> Property {
        let mut p = Property::new(name, self.value());
        match self {
            Self::Date(_) => p.params.push(Param::new("VALUE", ["DATE"])),
            Self::Zoned { tzid, .. } => p.params.push(Param::new("TZID", [tzid.clone()])),
            Self::Floating(_) | Self::Utc(_) => {}
        }
        if let Some(extra) = extra {
            p.params.extend(extra.iter().cloned());
        }
        p
    }

    /// Reads the value of a date property, removing the `TZID` and `VALUE` it used.
    fn take_from(p: &mut Property) -> std::result::Result<Self, String> {
        let tzid = p.take_param("TZID");
        let value = p.take_param("VALUE");
        let is_date = match value.as_ref().and_then(Param::value) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("DATE") => true,
            Some(v) if v.eq_ignore_ascii_case("DATE-TIME") => false,
            Some(_) => return Err(format!("{} has an unsupported VALUE type", p.name)),
        };
        let tz = tzid.as_ref().and_then(Param::value);
        let t = Self::parse(&p.value, tz, is_date)
            .ok_or_else(|| format!("{} is not an iCalendar date or date-time", p.name))?;
        // A TZID the value did not use is kept, so nothing is lost.
        if let (Some(tzp), false) = (tzid, matches!(t, Self::Zoned { .. })) {
            p.params.push(tzp);
        }
        Ok(t)
    }
}

#[derive(Serialize, Deserialize)]
struct EventTimeRepr {
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tzid: Option<String>,
}

impl From<EventTime> for EventTimeRepr {
    fn from(t: EventTime) -> Self {
        Self {
            value: t.value(),
            tzid: t.tzid().map(str::to_owned),
        }
    }
}

impl TryFrom<EventTimeRepr> for EventTime {
    type Error = String;
    fn try_from(r: EventTimeRepr) -> std::result::Result<Self, String> {
        EventTime::parse(&r.value, r.tzid.as_deref(), false)
            .ok_or_else(|| "not an iCalendar date or date-time".to_owned())
    }
}

fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u8 = s[4..6].parse().ok()?;
    let d: u8 = s[6..8].parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

fn parse_local(s: &str) -> Option<PrimitiveDateTime> {
    if s.len() != 15 || s.as_bytes()[8] != b'T' || !s[9..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = parse_date(&s[..8])?;
    let (h, mi, se): (u8, u8, u8) = (
        s[9..11].parse().ok()?,
        s[11..13].parse().ok()?,
        s[13..15].parse().ok()?,
    );
    Some(PrimitiveDateTime::new(
        date,
        Time::from_hms(h, mi, se).ok()?,
    ))
}

fn fmt_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

fn fmt_local(l: PrimitiveDateTime) -> String {
    format!(
        "{}T{:02}{:02}{:02}",
        fmt_date(l.date()),
        l.hour(),
        l.minute(),
        l.second()
    )
}

macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this version does not know (`X-…` or IANA-registered later), verbatim.
            Other(String),
        }

        impl $name {
            /// Parses the keyword, case-insensitively.
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($text) { return Self::$variant; })*
                Self::Other(s.to_owned())
            }

            /// The keyword as iCalendar writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(
    /// An attendee's participation status (`PARTSTAT`).
    PartStat {
        /// `NEEDS-ACTION`.
        NeedsAction = "NEEDS-ACTION",
        /// `ACCEPTED`.
        Accepted = "ACCEPTED",
        /// `DECLINED`.
        Declined = "DECLINED",
        /// `TENTATIVE`.
        Tentative = "TENTATIVE",
        /// `DELEGATED`.
        Delegated = "DELEGATED",
    }
);

keyword_enum!(
    /// An event's `STATUS`.
    EventStatus {
        /// `TENTATIVE`.
        Tentative = "TENTATIVE",
        /// `CONFIRMED`.
        Confirmed = "CONFIRMED",
        /// `CANCELLED`.
        Cancelled = "CANCELLED",
    }
);

keyword_enum!(
    /// Whether an event blocks time (`TRANSP`).
    Transparency {
        /// `OPAQUE`: busy.
        Opaque = "OPAQUE",
        /// `TRANSPARENT`: free.
        Transparent = "TRANSPARENT",
    }
);

/// The event's organizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Organizer {
    /// The calendar address, usually `mailto:…`.
    pub address: String,
    /// `CN`, the display name.
    pub common_name: Option<String>,
    /// Other parameters, verbatim.
    pub params: Vec<Param>,
}

impl Organizer {
    /// An organizer with only an address.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            common_name: None,
            params: Vec::new(),
        }
    }
}

/// An invited attendee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attendee {
    /// The calendar address, usually `mailto:…`.
    pub address: String,
    /// `CN`, the display name.
    pub common_name: Option<String>,
    /// `ROLE` (`REQ-PARTICIPANT`, `OPT-PARTICIPANT`, `CHAIR`…).
    pub role: Option<String>,
    /// `PARTSTAT`.
    pub partstat: Option<PartStat>,
    /// `RSVP`.
    pub rsvp: Option<bool>,
    /// Other parameters (`CUTYPE`, `X-NUM-GUESTS`…), verbatim.
    pub params: Vec<Param>,
}

impl Attendee {
    /// An attendee with only an address.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            common_name: None,
            role: None,
            partstat: None,
            rsvp: None,
            params: Vec::new(),
        }
    }
}

/// A reminder (`VALARM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alarm {
    /// `ACTION` (`DISPLAY`, `EMAIL`, `AUDIO`).
    pub action: String,
    /// `TRIGGER` as given: a duration such as `-PT15M`, or a UTC date-time.
    pub trigger: String,
    /// `TRIGGER` parameters (`RELATED=END`, `VALUE=DATE-TIME`).
    pub trigger_params: Vec<Param>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// Every other property, verbatim.
    pub extra: Vec<Property>,
    /// Nested components, verbatim.
    pub extra_components: Vec<Component>,
}

impl Alarm {
    /// An alarm with an action and a trigger (`Alarm::new("DISPLAY", "-PT15M")`).
    pub fn new(action: impl Into<String>, trigger: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            trigger: trigger.into(),
            trigger_params: Vec::new(),
            description: None,
            extra: Vec::new(),
            extra_components: Vec::new(),
        }
    }

    fn to_component(&self) -> Component {
        let mut c = Component::new("VALARM");
        c.properties
            .push(Property::new("ACTION", escape_text(&self.action)));
        let mut trigger = Property::new("TRIGGER", self.trigger.clone());
        trigger.params.clone_from(&self.trigger_params);
        c.properties.push(trigger);
        if let Some(d) = &self.description {
            c.properties
                .push(Property::new("DESCRIPTION", escape_text(d)));
        }
        c.properties.extend(self.extra.iter().cloned());
        c.components.extend(self.extra_components.iter().cloned());
        c
    }

    fn from_component(comp: Component) -> std::result::Result<Self, &'static str> {
        let (mut action, mut trigger, mut description) = (None, None, None);
        let mut extra = Vec::new();
        for p in comp.properties {
            let plain = p.group.is_none();
            match p.name.as_str() {
                "ACTION" if plain && action.is_none() && p.params.is_empty() => {
                    action = Some(p.text());
                }
                "TRIGGER" if plain && trigger.is_none() => trigger = Some(p),
                "DESCRIPTION" if plain && description.is_none() && p.params.is_empty() => {
                    description = Some(p.text());
                }
                _ => extra.push(p),
            }
        }
        let trigger = trigger.ok_or("VALARM without TRIGGER")?;
        Ok(Self {
            action: action.ok_or("VALARM without ACTION")?,
            trigger: trigger.value,
            trigger_params: trigger.params,
            description,
            extra,
            extra_components: comp.components,
        })
    }
}

/// A calendar event (`VEVENT`): the typed fields migrations care about, plus everything
/// else verbatim.
///
/// # Examples
/// ```
/// use mailmigrate_core::pim::{CalendarEvent, PartStat};
/// let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@x\r\n\
///            DTSTART;TZID=Europe/Paris:20250601T100000\r\n\
///            RRULE:FREQ=WEEKLY;BYDAY=MO\r\n\
///            ATTENDEE;CN=\"Doe, Jo\";PARTSTAT=ACCEPTED:mailto:jo@example.com\r\n\
///            END:VEVENT\r\nEND:VCALENDAR\r\n";
/// let e = CalendarEvent::from_ics(ics).unwrap();
/// assert_eq!(e.start.tzid(), Some("Europe/Paris"));
/// assert_eq!(e.rrule.as_deref(), Some("FREQ=WEEKLY;BYDAY=MO"));
/// assert_eq!(e.attendees[0].common_name.as_deref(), Some("Doe, Jo"));
/// assert_eq!(e.attendees[0].partstat, Some(PartStat::Accepted));
/// assert_eq!(CalendarEvent::from_ics(&e.to_ics()).unwrap(), e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CalendarEvent {
    /// `UID`.
    pub uid: String,
    /// `RECURRENCE-ID`: set on an override of one occurrence of a recurring event.
    pub recurrence_id: Option<EventTime>,
    /// `SUMMARY`, the title.
    pub summary: Option<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// `LOCATION`.
    pub location: Option<String>,
    /// `DTSTART`.
    pub start: EventTime,
    /// `DTEND` (exclusive; for all-day events the day after the last).
    pub end: Option<EventTime>,
    /// `DURATION` as given (`PT1H`), when there is no `DTEND`.
    pub duration: Option<String>,
    /// `RRULE` as given (`FREQ=WEEKLY;BYDAY=MO,WE`).
    pub rrule: Option<String>,
    /// `EXDATE`s: occurrences removed from the rule.
    pub exdates: Vec<EventTime>,
    /// `ORGANIZER`.
    pub organizer: Option<Organizer>,
    /// `ATTENDEE`s.
    pub attendees: Vec<Attendee>,
    /// `STATUS`.
    pub status: Option<EventStatus>,
    /// `TRANSP`.
    pub transparency: Option<Transparency>,
    /// `VALARM`s.
    pub alarms: Vec<Alarm>,
    /// `CREATED`.
    pub created: Option<EventTime>,
    /// `LAST-MODIFIED`.
    pub last_modified: Option<EventTime>,
    /// `DTSTAMP` (RFC 5545 requires one; it is written only when set).
    pub dtstamp: Option<EventTime>,
    /// `SEQUENCE`, the revision number.
    pub sequence: Option<u32>,
    /// Parameters of the typed single-valued properties that have no typed field, by
    /// property name (`"SUMMARY"` → `LANGUAGE=de`).
    pub params: BTreeMap<String, Vec<Param>>,
    /// Every other property, verbatim.
    pub extra: Vec<Property>,
    /// Every other nested component, verbatim.
    pub extra_components: Vec<Component>,
    /// The `VTIMEZONE` definitions of the zones this event uses, as the calendar gave them.
    pub timezones: Vec<Component>,
}

impl CalendarEvent {
    /// An event with a UID and a start.
    pub fn new(uid: impl Into<String>, start: EventTime) -> Self {
        Self {
            uid: uid.into(),
            recurrence_id: None,
            summary: None,
            description: None,
            location: None,
            start,
            end: None,
            duration: None,
            rrule: None,
            exdates: Vec::new(),
            organizer: None,
            attendees: Vec::new(),
            status: None,
            transparency: None,
            alarms: Vec::new(),
            created: None,
            last_modified: None,
            dtstamp: None,
            sequence: None,
            params: BTreeMap::new(),
            extra: Vec::new(),
            extra_components: Vec::new(),
            timezones: Vec::new(),
        }
    }

    /// The time zones this event refers to.
    fn tzids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = [
            Some(&self.start),
            self.end.as_ref(),
            self.recurrence_id.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(&self.exdates)
        .filter_map(EventTime::tzid)
        .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Writes the event as a complete iCalendar 2.0 object (a `VCALENDAR` holding its
    /// time zones and one `VEVENT`), folded, with CRLF line ends.
    pub fn to_ics(&self) -> String {
        events_to_ics(std::slice::from_ref(self))
    }

    fn to_component(&self) -> Component {
        let mut c = Component::new("VEVENT");
        let props = &mut c.properties;
        let single = |name: &str, value: String| {
            let mut p = Property::new(name, value);
            if let Some(params) = self.params.get(name) {
                p.params.clone_from(params);
            }
            p
        };
        props.push(single("UID", escape_text(&self.uid)));
        if let Some(t) = &self.dtstamp {
            props.push(t.to_property("DTSTAMP", self.params.get("DTSTAMP")));
        }
        if let Some(t) = &self.recurrence_id {
            props.push(t.to_property("RECURRENCE-ID", self.params.get("RECURRENCE-ID")));
        }
        props.push(
            self.start
                .to_property("DTSTART", self.params.get("DTSTART")),
        );
        if let Some(t) = &self.end {
            props.push(t.to_property("DTEND", self.params.get("DTEND")));
        }
        if let Some(d) = &self.duration {
            props.push(single("DURATION", d.clone()));
        }
        if let Some(r) = &self.rrule {
            props.push(single("RRULE", r.clone()));
        }
        for x in &self.exdates {
            props.push(x.to_property("EXDATE", None));
        }
        for (name, v) in [
            ("SUMMARY", &self.summary),
            ("DESCRIPTION", &self.description),
            ("LOCATION", &self.location),
        ] {
            if let Some(v) = v {
                props.push(single(name, escape_text(v)));
            }
        }
        if let Some(s) = &self.status {
            props.push(single("STATUS", s.as_str().to_owned()));
        }
        if let Some(t) = &self.transparency {
            props.push(single("TRANSP", t.as_str().to_owned()));
        }
        if let Some(o) = &self.organizer {
            let mut p = Property::new("ORGANIZER", o.address.clone());
            if let Some(cn) = &o.common_name {
                p.params.push(Param::new("CN", [cn.clone()]));
            }
            p.params.extend(o.params.iter().cloned());
            props.push(p);
        }
        for a in &self.attendees {
            let mut p = Property::new("ATTENDEE", a.address.clone());
            if let Some(cn) = &a.common_name {
                p.params.push(Param::new("CN", [cn.clone()]));
            }
            if let Some(r) = &a.role {
                p.params.push(Param::new("ROLE", [r.clone()]));
            }
            if let Some(s) = &a.partstat {
                p.params.push(Param::new("PARTSTAT", [s.as_str()]));
            }
            if let Some(r) = a.rsvp {
                p.params
                    .push(Param::new("RSVP", [if r { "TRUE" } else { "FALSE" }]));
            }
            p.params.extend(a.params.iter().cloned());
            props.push(p);
        }
        for (name, t) in [
            ("CREATED", &self.created),
            ("LAST-MODIFIED", &self.last_modified),
        ] {
            if let Some(t) = t {
                props.push(t.to_property(name, self.params.get(name)));
            }
        }
        if let Some(s) = self.sequence {
            props.push(single("SEQUENCE", s.to_string()));
        }
        props.extend(self.extra.iter().cloned());
        c.components
            .extend(self.alarms.iter().map(Alarm::to_component));
        c.components.extend(self.extra_components.iter().cloned());
        c
    }

    /// Parses a calendar holding exactly one event (a `VCALENDAR`, or a bare `VEVENT`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidMessage`](crate::ErrorKind::InvalidMessage) naming the line
    /// (and UID when known) if the text holds no event, more than one (a recurring event
    /// with overrides is several: use [`parse_ics_events`]), or a malformed one.
    pub fn from_ics(input: &str) -> Result<CalendarEvent> {
        let mut events = parse_ics_events(input);
        let first = events
            .next()
            .unwrap_or_else(|| Err(invalid(FORMAT, "event", 1, None, "no VEVENT")))?;
        if events.next().is_some() {
            return Err(invalid(
                FORMAT,
                "event",
                events.last_start,
                Some(&first.uid),
                "more than one VEVENT; use parse_ics_events",
            ));
        }
        Ok(first)
    }

    fn from_component(
        comp: Component,
        line: usize,
        timezones: &[Component],
    ) -> Result<CalendarEvent> {
        let uid = comp
            .properties
            .iter()
            .find(|p| p.name == "UID" && p.group.is_none())
            .map(Property::text);
        let err = |m: String| invalid(FORMAT, "event", line, uid.as_deref(), m);
        let mut e = CalendarEvent::new(
            uid.clone()
                .ok_or_else(|| err("VEVENT without UID".into()))?,
            EventTime::Date(Date::MIN),
        );
        let (mut start, mut have_uid) = (None, false);
        for mut p in comp.properties {
            let plain = p.group.is_none();
            let name = p.name.clone();
            match name.as_str() {
                "UID" if plain && !have_uid => {
                    have_uid = true;
                    e.keep_params(p);
                }
                "DTSTART" if plain && start.is_none() => {
                    start = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "DTEND" if plain && e.end.is_none() => {
                    e.end = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "RECURRENCE-ID" if plain && e.recurrence_id.is_none() => {
                    e.recurrence_id = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "DTSTAMP" if plain && e.dtstamp.is_none() => {
                    e.dtstamp = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "CREATED" if plain && e.created.is_none() => {
                    e.created = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "LAST-MODIFIED" if plain && e.last_modified.is_none() => {
                    e.last_modified = Some(EventTime::take_from(&mut p).map_err(err)?);
                    e.keep_params(p);
                }
                "EXDATE" if plain => {
                    let original = p.clone();
                    let tzid = p.take_param("TZID");
                    let value = p.take_param("VALUE");
                    let is_date = value
                        .as_ref()
                        .and_then(Param::value)
                        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
                    if !p.params.is_empty() {
                        e.extra.push(original);
                        continue;
                    }
                    for v in p.value.split(',') {
                        let t = EventTime::parse(v, tzid.as_ref().and_then(Param::value), is_date)
                            .ok_or_else(|| err("EXDATE is not a date or date-time".into()))?;
                        e.exdates.push(t);
                    }
                }
                "SUMMARY" if plain && e.summary.is_none() => {
                    e.summary = Some(p.text());
                    e.keep_params(p);
                }
                "DESCRIPTION" if plain && e.description.is_none() => {
                    e.description = Some(p.text());
                    e.keep_params(p);
                }
                "LOCATION" if plain && e.location.is_none() => {
                    e.location = Some(p.text());
                    e.keep_params(p);
                }
                "DURATION" if plain && e.duration.is_none() => {
                    e.duration = Some(p.value.clone());
                    e.keep_params(p);
                }
                "RRULE" if plain && e.rrule.is_none() => {
                    e.rrule = Some(p.value.clone());
                    e.keep_params(p);
                }
                "STATUS" if plain && e.status.is_none() => {
                    e.status = Some(EventStatus::parse(p.value.trim()));
                    e.keep_params(p);
                }
                "TRANSP" if plain && e.transparency.is_none() => {
                    e.transparency = Some(Transparency::parse(p.value.trim()));
                    e.keep_params(p);
                }
                "SEQUENCE" if plain && e.sequence.is_none() => {
                    let n = p
                        .value
                        .trim()
                        .parse()
                        .map_err(|_| err("SEQUENCE is not a non-negative integer".into()))?;
                    e.sequence = Some(n);
                    e.keep_params(p);
                }
                "ORGANIZER" if plain && e.organizer.is_none() => {
                    let common_name = p.take_param("CN").and_then(|c| c.values.into_iter().next());
                    e.organizer = Some(Organizer {
                        address: p.value,
                        common_name,
                        params: p.params,
                    });
                }
                "ATTENDEE" if plain => {
                    let first = |p: &mut Property, n: &str| {
                        p.take_param(n).and_then(|c| c.values.into_iter().next())
                    };
                    let common_name = first(&mut p, "CN");
                    let role = first(&mut p, "ROLE");
                    let partstat = first(&mut p, "PARTSTAT").map(|s| PartStat::parse(&s));
                    let rsvp = match p.take_param("RSVP") {
                        Some(r) if r.value().is_some_and(|v| v.eq_ignore_ascii_case("TRUE")) => {
                            Some(true)
                        }
                        Some(r) if r.value().is_some_and(|v| v.eq_ignore_ascii_case("FALSE")) => {
                            Some(false)
                        }
                        Some(other) => {
                            p.params.push(other);
                            None
                        }
                        None => None,
                    };
                    e.attendees.push(Attendee {
                        address: p.value,
                        common_name,
                        role,
                        partstat,
                        rsvp,
                        params: p.params,
                    });
                }
                _ => e.extra.push(p),
            }
        }
        e.start = start.ok_or_else(|| err("VEVENT without DTSTART".into()))?;
        for c in comp.components {
            if c.name == "VALARM" {
                e.alarms
                    .push(Alarm::from_component(c).map_err(|m| err(m.to_owned()))?);
            } else {
                e.extra_components.push(c);
            }
        }
        let used = e.tzids();
        e.timezones = timezones
            .iter()
            .filter(|tz| {
                tz.property("TZID")
                    .is_some_and(|p| used.contains(&p.text().as_str()))
            })
            .cloned()
            .collect();
        Ok(e)
    }

    fn keep_params(&mut self, p: Property) {
        if !p.params.is_empty() {
            self.params.insert(p.name, p.params);
        }
    }
}

/// Writes several events as one iCalendar 2.0 object: every time zone they use (once),
/// then the events. The text [`parse_ics_events`] reads back.
pub fn events_to_ics(events: &[CalendarEvent]) -> String {
    let mut out = String::new();
    fold_into(&mut out, "BEGIN:VCALENDAR");
    fold_into(&mut out, "VERSION:2.0");
    fold_into(&mut out, &format!("PRODID:{PRODID}"));
    let mut written: Vec<&Component> = Vec::new();
    for tz in events.iter().flat_map(|e| &e.timezones) {
        if !written.contains(&tz) {
            tz.write(&mut out);
            written.push(tz);
        }
    }
    for e in events {
        e.to_component().write(&mut out);
    }
    fold_into(&mut out, "END:VCALENDAR");
    out
}

/// Parses every event in an iCalendar text, one result per `VEVENT`, lazily. Time zones
/// defined before an event are attached to it; other components (`VTODO`…) are skipped.
/// A malformed event yields an error naming its line and UID and parsing goes on; broken
/// structure (a missing `END`) ends the iteration after its error.
///
/// ```
/// use mailmigrate_core::pim::parse_ics_events;
/// let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20250101T100000Z\nEND:VEVENT\n\
///            BEGIN:VEVENT\nUID:b\nDTSTART:not-a-date\nEND:VEVENT\n\
///            BEGIN:VTODO\nUID:t\nEND:VTODO\nEND:VCALENDAR\n";
/// let r: Vec<_> = parse_ics_events(ics).collect();
/// assert_eq!(r.len(), 2);
/// assert_eq!(r[0].as_ref().unwrap().uid, "a");
/// assert_eq!(r[1].as_ref().unwrap_err().context("event"), Some("b"));
/// ```
pub fn parse_ics_events(input: &str) -> IcsEvents<'_> {
    IcsEvents {
        lines: Lines::new(input),
        timezones: Vec::new(),
        in_calendar: false,
        skipping: false,
        done: false,
        last_start: 0,
    }
}

/// The iterator returned by [`parse_ics_events`].
#[derive(Debug)]
pub struct IcsEvents<'a> {
    lines: Lines<'a>,
    timezones: Vec<Component>,
    in_calendar: bool,
    skipping: bool,
    done: bool,
    last_start: usize,
}

fn to_error(e: ParseError) -> crate::Error {
    invalid(FORMAT, "event", e.line, e.uid.as_deref(), e.message)
}

impl Iterator for IcsEvents<'_> {
    type Item = Result<CalendarEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (n, text) = self.lines.next()?;
            let item = classify(n, &text);
            if matches!(item, Ok(Item::Begin(_))) {
                self.skipping = false;
            }
            match item {
                Ok(Item::Begin(name)) if name == "VCALENDAR" && !self.in_calendar => {
                    self.in_calendar = true;
                }
                Ok(Item::End(name)) if name == "VCALENDAR" && self.in_calendar => {
                    self.in_calendar = false;
                }
                Ok(Item::Begin(name)) => {
                    self.last_start = n;
                    let comp = match read_component(&mut self.lines, &name, n) {
                        Ok(c) => c,
                        Err(e) => {
                            self.done = e.fatal;
                            if name == "VEVENT" || e.fatal {
                                return Some(Err(to_error(e)));
                            }
                            continue;
                        }
                    };
                    match name.as_str() {
                        "VEVENT" => {
                            return Some(CalendarEvent::from_component(comp, n, &self.timezones))
                        }
                        "VTIMEZONE" => {
                            let id = comp.property("TZID").map(Property::text);
                            self.timezones
                                .retain(|t| t.property("TZID").map(Property::text) != id);
                            self.timezones.push(comp);
                        }
                        _ => {}
                    }
                }
                // Calendar properties (PRODID, METHOD, X-WR-CALNAME) describe the file.
                Ok(Item::Prop(_)) if self.in_calendar => {}
                _ if self.skipping => {}
                _ => {
                    self.skipping = true;
                    return Some(Err(invalid(
                        FORMAT,
                        "event",
                        n,
                        None,
                        "expected BEGIN:VCALENDAR or BEGIN:VEVENT",
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
    use time::macros::{date, datetime};

    fn meeting() -> CalendarEvent {
        let mut e = CalendarEvent::new(
            "040000008200E00074C5B7101A82E008@example.com",
            EventTime::Zoned {
                tzid: "Europe/Berlin".into(),
                local: datetime!(2025-03-10 09:00:00),
            },
        );
        e.end = Some(EventTime::Zoned {
            tzid: "Europe/Berlin".into(),
            local: datetime!(2025-03-10 10:30:00),
        });
        e.summary = Some("Planning; Q2, \"budget\" \\ review".into());
        e.description = Some("Agenda:\n1. Numbers\n2. Hiring, maybe\n".into());
        e.location = Some("Raum 3.14 – Besprechungsraum Süd".into());
        e.rrule = Some("FREQ=WEEKLY;BYDAY=MO;UNTIL=20250630T220000Z".into());
        e.exdates = vec![
            EventTime::Zoned {
                tzid: "Europe/Berlin".into(),
                local: datetime!(2025-04-21 09:00:00),
            },
            EventTime::Utc(datetime!(2025-05-05 07:00:00 UTC)),
        ];
        let mut org = Organizer::new("mailto:boss@example.com");
        org.common_name = Some("Boss, The".into());
        e.organizer = Some(org);
        let mut a = Attendee::new("mailto:ann@example.com");
        a.common_name = Some("Ann: \"A\"".into());
        a.role = Some("REQ-PARTICIPANT".into());
        a.partstat = Some(PartStat::Accepted);
        a.rsvp = Some(true);
        a.params.push(Param::new("CUTYPE", ["INDIVIDUAL"]));
        let mut b = Attendee::new("mailto:bob@example.com");
        b.partstat = Some(PartStat::Other("X-MAYBE".into()));
        b.rsvp = Some(false);
        e.attendees = vec![a, b];
        e.status = Some(EventStatus::Confirmed);
        e.transparency = Some(Transparency::Opaque);
        let mut alarm = Alarm::new("DISPLAY", "-PT15M");
        alarm.description = Some("Reminder".into());
        e.alarms.push(alarm);
        let mut end_alarm = Alarm::new("EMAIL", "PT0S");
        end_alarm
            .trigger_params
            .push(Param::new("RELATED", ["END"]));
        end_alarm
            .extra
            .push(Property::new("ATTENDEE", "mailto:ann@example.com"));
        e.alarms.push(end_alarm);
        e.created = Some(EventTime::Utc(datetime!(2025-01-02 03:04:05 UTC)));
        e.last_modified = Some(EventTime::Utc(datetime!(2025-01-03 03:04:05 UTC)));
        e.dtstamp = Some(EventTime::Utc(datetime!(2025-01-04 03:04:05 UTC)));
        e.sequence = Some(3);
        e.params
            .insert("SUMMARY".into(), vec![Param::new("LANGUAGE", ["de"])]);
        e.extra
            .push(Property::new("X-MICROSOFT-CDO-BUSYSTATUS", "BUSY"));
        e.extra.push(Property::new("CATEGORIES", "Work,Planning"));
        e
    }

    #[test]
    fn full_event_round_trips() {
        let e = meeting();
        let ics = e.to_ics();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
        assert!(
            ics.contains("\r\nDTSTART;TZID=Europe/Berlin:20250310T090000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("\r\nEXDATE:20250505T070000Z\r\n"));
        assert!(ics.contains("\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250630T220000Z\r\n"));
        assert!(
            ics.contains("\r\nSUMMARY;LANGUAGE=de:Planning\\; Q2\\, \"budget\" \\\\ review\r\n")
        );
        assert!(ics.contains(
            "\r\nATTENDEE;CN=\"Ann: ^'A^'\";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CUTYPE=INDIVIDUAL:mailto:ann@example.com\r\n"
        ) || ics.replace("\r\n ", "").contains(
            "ATTENDEE;CN=\"Ann: ^'A^'\";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CUTYPE=INDIVIDUAL:mailto:ann@example.com"
        ));
        assert!(ics.contains("\r\nTRIGGER;RELATED=END:PT0S\r\n"));
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{l}");
        }
        let back = CalendarEvent::from_ics(&ics).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_ics(), ics);
    }

    #[test]
    fn all_day_event_uses_value_date() {
        let mut e = CalendarEvent::new("day@x", EventTime::Date(date!(2024 - 02 - 29)));
        e.end = Some(EventTime::Date(date!(2024 - 03 - 01)));
        e.exdates.push(EventTime::Date(date!(2024 - 03 - 07)));
        e.transparency = Some(Transparency::Transparent);
        let ics = e.to_ics();
        assert!(ics.contains("\r\nDTSTART;VALUE=DATE:20240229\r\nDTEND;VALUE=DATE:20240301\r\n"));
        assert!(ics.contains("\r\nEXDATE;VALUE=DATE:20240307\r\n"));
        let back = CalendarEvent::from_ics(&ics).unwrap();
        assert!(back.start.is_all_day());
        assert_eq!(back, e);
        // A bare 8-digit value without VALUE=DATE is a date too.
        let bare = "BEGIN:VEVENT\nUID:d\nDTSTART:20240229\nEND:VEVENT\n";
        assert!(CalendarEvent::from_ics(bare).unwrap().start.is_all_day());
    }

    #[test]
    fn multibyte_text_folds_at_75_octets() {
        let mut e = CalendarEvent::new(
            "fold@x",
            EventTime::Floating(datetime!(2025-01-01 12:00:00)),
        );
        e.description = Some("Ünïcödé → 漢字かな交じり文 🎉 ".repeat(15));
        let ics = e.to_ics();
        assert!(ics.split("\r\n").all(|l| l.len() <= 75));
        assert!(ics.split("\r\n").filter(|l| l.starts_with(' ')).count() > 5);
        assert_eq!(CalendarEvent::from_ics(&ics).unwrap(), e);
    }

    #[test]
    fn google_style_calendar_parses() {
        let g = "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n\
VERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:alex@gmail.com\r\n\
X-WR-TIMEZONE:America/Los_Angeles\r\n\
BEGIN:VTIMEZONE\r\nTZID:America/Los_Angeles\r\nX-LIC-LOCATION:America/Los_Angeles\r\n\
BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0800\r\nTZOFFSETTO:-0700\r\nTZNAME:PDT\r\n\
DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:-0700\r\nTZOFFSETTO:-0800\r\nTZNAME:PST\r\n\
DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n\
END:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nDTSTART;TZID=America/Los_Angeles:20250107T100000\r\n\
DTEND;TZID=America/Los_Angeles:20250107T103000\r\n\
RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=TU\r\n\
EXDATE;TZID=America/Los_Angeles:20250114T100000,20250121T100000\r\n\
DTSTAMP:20250110T120000Z\r\nORGANIZER;CN=Alex Doe:mailto:alex@gmail.com\r\n\
UID:7kukuqrfedlm2f9t0vvlr0ii1a@google.com\r\n\
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Alex Doe;X-NUM-GUESTS=0:mailto:alex@gmail.com\r\n\
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=\r\n TRUE;CN=sam@example.com;X-NUM-GUESTS=0:mailto:sam@example.com\r\n\
X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij\r\n\
CREATED:20250101T080000Z\r\nDESCRIPTION:Weekly sync\\nJoin: https://meet.google.com/abc-defg-hij\r\n\
LAST-MODIFIED:20250110T115959Z\r\nLOCATION:\r\nSEQUENCE:2\r\nSTATUS:CONFIRMED\r\n\
SUMMARY:Team sync\r\nTRANSP:OPAQUE\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:This is an event reminder\r\nTRIGGER:-P0DT0H10M0S\r\nEND:VALARM\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20250704\r\nDTEND;VALUE=DATE:20250705\r\nDTSTAMP:20250110T120000Z\r\n\
UID:holiday-0704@google.com\r\nSUMMARY:Independence Day\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let events: Vec<CalendarEvent> = parse_ics_events(g).map(|r| r.unwrap()).collect();
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.uid, "7kukuqrfedlm2f9t0vvlr0ii1a@google.com");
        assert_eq!(e.start.tzid(), Some("America/Los_Angeles"));
        assert_eq!(e.exdates.len(), 2);
        assert_eq!(e.exdates[1].value(), "20250121T100000");
        assert_eq!(e.rrule.as_deref(), Some("FREQ=WEEKLY;WKST=SU;BYDAY=TU"));
        assert_eq!(
            e.organizer.as_ref().unwrap().common_name.as_deref(),
            Some("Alex Doe")
        );
        assert_eq!(e.attendees.len(), 2);
        assert_eq!(e.attendees[1].partstat, Some(PartStat::NeedsAction));
        assert_eq!(e.attendees[1].rsvp, Some(true), "folded inside a parameter");
        assert_eq!(
            e.attendees[1].params,
            vec![
                Param::new("CUTYPE", ["INDIVIDUAL"]),
                Param::new("X-NUM-GUESTS", ["0"])
            ]
        );
        assert_eq!(
            e.description.as_deref(),
            Some("Weekly sync\nJoin: https://meet.google.com/abc-defg-hij")
        );
        assert_eq!(e.location.as_deref(), Some(""));
        assert_eq!(e.sequence, Some(2));
        assert_eq!(e.alarms[0].trigger, "-P0DT0H10M0S");
        assert_eq!(e.extra[0].name, "X-GOOGLE-CONFERENCE");
        assert_eq!(e.timezones.len(), 1);
        assert_eq!(e.timezones[0].components.len(), 2);
        assert_eq!(
            e.dtstamp,
            Some(EventTime::Utc(datetime!(2025-01-10 12:00:00 UTC)))
        );
        let holiday = &events[1];
        assert!(holiday.start.is_all_day());
        assert!(holiday.timezones.is_empty());
        assert_eq!(holiday.transparency, Some(Transparency::Transparent));
        // Both survive a trip through one calendar file.
        let again: Vec<CalendarEvent> = parse_ics_events(&events_to_ics(&events))
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(again, events);
    }

    #[test]
    fn outlook_style_calendar_parses() {
        let o = "BEGIN:VCALENDAR\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\nVERSION:2.0\nMETHOD:REQUEST\n\
X-MS-OLK-FORCEINSPECTOROPEN:TRUE\n\
BEGIN:VTIMEZONE\nTZID:W. Europe Standard Time\n\
BEGIN:STANDARD\nDTSTART:16011028T030000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\n\
BEGIN:DAYLIGHT\nDTSTART:16010325T020000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nEND:DAYLIGHT\n\
END:VTIMEZONE\n\
BEGIN:VEVENT\n\
ATTENDEE;CN=\"Müller, Jürgen\";RSVP=TRUE:mailto:juergen@contoso.example\n\
ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE;CN=room@contoso.example:mailto:room@contoso.example\n\
CLASS:PUBLIC\nCREATED:20250301T090000Z\n\
DESCRIPTION:Bitte vorbereiten: Zahlen\\, Daten\\, Fakten.\\n\\n\n\
DTEND;TZID=\"W. Europe Standard Time\":20250312T150000\n\
DTSTAMP:20250301T090000Z\n\
DTSTART;TZID=\"W. Europe Standard Time\":20250312T140000\n\
LAST-MODIFIED:20250301T090000Z\nLOCATION;LANGUAGE=de-DE:Konferenzraum Nord\n\
ORGANIZER;CN=\"Schmidt, Anna\":mailto:anna@contoso.example\n\
PRIORITY:5\nSEQUENCE:0\nSUMMARY;LANGUAGE=de-DE:Quartalsbericht\nTRANSP:OPAQUE\n\
UID:040000008200E00074C5B7101A82E00800000000D0F3F0B5E38ADB01000000000000000010000000\n\
X-ALT-DESC;FMTTYPE=text/html:<html><body><p>Bitte vorbereiten</p></body></html>\n\
X-MICROSOFT-CDO-BUSYSTATUS:BUSY\nX-MICROSOFT-CDO-IMPORTANCE:1\n\
BEGIN:VALARM\nDESCRIPTION:REMINDER\nTRIGGER;RELATED=START:-PT15M\nACTION:DISPLAY\nEND:VALARM\n\
END:VEVENT\nEND:VCALENDAR\n";
        let e = CalendarEvent::from_ics(o).unwrap();
        assert_eq!(e.start.tzid(), Some("W. Europe Standard Time"));
        assert_eq!(
            e.end,
            Some(EventTime::Zoned {
                tzid: "W. Europe Standard Time".into(),
                local: datetime!(2025-03-12 15:00:00)
            })
        );
        assert_eq!(
            e.attendees[0].common_name.as_deref(),
            Some("Müller, Jürgen")
        );
        assert_eq!(e.attendees[0].rsvp, Some(true));
        assert_eq!(e.attendees[1].role.as_deref(), Some("OPT-PARTICIPANT"));
        assert_eq!(e.attendees[1].partstat, Some(PartStat::Tentative));
        assert_eq!(
            e.organizer.as_ref().unwrap().address,
            "mailto:anna@contoso.example"
        );
        assert_eq!(
            e.description.as_deref(),
            Some("Bitte vorbereiten: Zahlen, Daten, Fakten.\n\n")
        );
        assert_eq!(
            e.params["LOCATION"],
            vec![Param::new("LANGUAGE", ["de-DE"])]
        );
        assert_eq!(e.params["SUMMARY"], vec![Param::new("LANGUAGE", ["de-DE"])]);
        assert_eq!(
            e.alarms[0].trigger_params,
            vec![Param::new("RELATED", ["START"])]
        );
        assert_eq!(e.timezones.len(), 1, "the VTIMEZONE travels with the event");
        let names: Vec<&str> = e.extra.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "CLASS",
                "PRIORITY",
                "X-ALT-DESC",
                "X-MICROSOFT-CDO-BUSYSTATUS",
                "X-MICROSOFT-CDO-IMPORTANCE"
            ]
        );
        let ics = e.to_ics();
        assert!(ics.contains("\r\nDTSTART;TZID=W. Europe Standard Time:20250312T140000\r\n"));
        assert!(ics.contains("\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n"));
        assert_eq!(CalendarEvent::from_ics(&ics).unwrap(), e);
    }

    #[test]
    fn recurrence_overrides_are_separate_events() {
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:r\nDTSTART:20250101T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:r\nRECURRENCE-ID:20250103T100000Z\nDTSTART:20250103T120000Z\nSUMMARY:moved\nEND:VEVENT\nEND:VCALENDAR\n";
        let v: Vec<CalendarEvent> = parse_ics_events(ics).map(|r| r.unwrap()).collect();
        assert_eq!(
            v[1].recurrence_id,
            Some(EventTime::Utc(datetime!(2025-01-03 10:00:00 UTC)))
        );
        let e = CalendarEvent::from_ics(ics).unwrap_err();
        assert!(e.to_string().contains("more than one VEVENT"));
        assert_eq!(e.context("event"), Some("r"));
    }

    #[test]
    fn malformed_input_gives_typed_errors_naming_the_item() {
        let cases = [
            ("", "no VEVENT", None),
            ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u1\nDTSTART:2025-01-01\nEND:VEVENT\nEND:VCALENDAR\n", "DTSTART is not", Some("u1")),
            ("BEGIN:VEVENT\nUID:u2\nEND:VEVENT\n", "without DTSTART", Some("u2")),
            ("BEGIN:VEVENT\nDTSTART:20250101\nEND:VEVENT\n", "without UID", None),
            ("BEGIN:VEVENT\nUID:u3\nDTSTART:20250101\nSEQUENCE:-1\nEND:VEVENT\n", "SEQUENCE", Some("u3")),
            ("BEGIN:VEVENT\nUID:u4\nDTSTART:20250101\nBEGIN:VALARM\nACTION:DISPLAY\nEND:VALARM\nEND:VEVENT\n", "TRIGGER", Some("u4")),
            ("BEGIN:VEVENT\nUID:u5\nDTSTART:20250230T100000\nEND:VEVENT\n", "DTSTART", Some("u5")),
            ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u6\nDTSTART:20250101\n", "without END", Some("u6")),
            ("BEGIN:VEVENT\nUID:u7\nDTSTART;TZID=\"open:20250101T100000\nEND:VEVENT\n", "unterminated", Some("u7")),
            ("hello\n", "expected BEGIN", None),
        ];
        for (input, what, uid) in cases {
            let e = CalendarEvent::from_ics(input).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidMessage);
            assert!(e.to_string().contains(what), "{e} should mention {what}");
            assert_eq!(e.context("event"), uid, "{e}");
            assert!(e.context("line").is_some());
            assert_eq!(e.provider(), "icalendar");
        }
    }

    #[test]
    fn serde_round_trip_is_readable() {
        let e = meeting();
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["start"]["value"], "20250310T090000");
        assert_eq!(j["start"]["tzid"], "Europe/Berlin");
        let back: CalendarEvent = serde_json::from_value(j).unwrap();
        assert_eq!(back, e);
    }
}
