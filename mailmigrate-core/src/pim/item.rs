//! One contact or one calendar object, as it travels between stores.

use bytes::Bytes;

use super::{events_to_ics, parse_ics_events, CalendarEvent, Contact, ItemMeta, PimKind};
use crate::{ContentHash, Error, ErrorKind, Result};

/// One calendar object: the events that share a `UID` — a single event, or a recurring
/// event (the one without `RECURRENCE-ID`, the master) with its overridden occurrences.
/// It is what one CalDAV resource or one `.ics` file holds; the series travels whole, so an
/// exception never arrives without its rule.
///
/// ```
/// use mailmigrate_core::pim::CalendarObject;
/// let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
///     BEGIN:VEVENT\r\nUID:s@x\r\nDTSTART:20250106T090000Z\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
///     BEGIN:VEVENT\r\nUID:s@x\r\nRECURRENCE-ID:20250113T090000Z\r\n\
///     DTSTART:20250113T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
/// let series = CalendarObject::from_ics(ics).unwrap();
/// assert_eq!(series.uid(), "s@x");
/// assert_eq!(series.overrides().count(), 1);
/// assert_eq!(CalendarObject::from_ics(&series.to_ics()).unwrap(), series);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CalendarObject {
    events: Vec<CalendarEvent>,
}

impl CalendarObject {
    /// A calendar object of one event (a master, or a lone override).
    pub fn new(event: CalendarEvent) -> Self {
        Self {
            events: vec![event],
        }
    }

    /// A calendar object of events that share a `UID`, the master first.
    ///
    /// # Errors
    /// `InvalidMessage` when `events` is empty, their `UID`s differ, or two of them are the
    /// same occurrence (two masters, or one `RECURRENCE-ID` twice).
    pub fn from_events(mut events: Vec<CalendarEvent>) -> Result<Self> {
        let Some(first) = events.first() else {
            return Err(Error::new(ErrorKind::InvalidMessage, "no VEVENT"));
        };
        let uid = first.uid.clone();
        if let Some(other) = events.iter().find(|e| e.uid != uid) {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                "events of one calendar object have different UIDs",
            )
            .with_context("event", &uid)
            .with_context("other", &other.uid));
        }
        events.sort_by_key(|e| e.recurrence_id.as_ref().map(super::EventTime::value));
        if events
            .windows(2)
            .any(|w| w[0].recurrence_id == w[1].recurrence_id)
        {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                "one occurrence is defined twice in a calendar object",
            )
            .with_context("event", &uid));
        }
        Ok(Self { events })
    }

    /// Parses the text of one calendar object (a `VCALENDAR` whose events share a `UID`).
    ///
    /// # Errors
    /// `InvalidMessage` naming the line and `UID` for malformed text, or as
    /// [`from_events`](Self::from_events).
    pub fn from_ics(text: &str) -> Result<Self> {
        let events = parse_ics_events(text).collect::<Result<Vec<_>>>()?;
        Self::from_events(events)
    }

    /// The shared `UID`.
    pub fn uid(&self) -> &str {
        &self.events[0].uid
    }

    /// Every event, the master (if any) first and then the overrides by `RECURRENCE-ID`.
    pub fn events(&self) -> &[CalendarEvent] {
        &self.events
    }

    /// Every event, to change in place (a change of `UID` or `RECURRENCE-ID` through it is
    /// the caller's to keep consistent).
    pub fn events_mut(&mut self) -> &mut [CalendarEvent] {
        &mut self.events
    }

    /// The event without `RECURRENCE-ID`, if there is one.
    pub fn master(&self) -> Option<&CalendarEvent> {
        self.events.iter().find(|e| e.recurrence_id.is_none())
    }

    /// The overridden occurrences.
    pub fn overrides(&self) -> impl Iterator<Item = &CalendarEvent> {
        self.events.iter().filter(|e| e.recurrence_id.is_some())
    }

    /// Writes the object as iCalendar 2.0 text.
    pub fn to_ics(&self) -> String {
        events_to_ics(&self.events)
    }
}

/// What an item is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Payload {
    /// A contact.
    Contact(Box<Contact>),
    /// A calendar object.
    Event(CalendarObject),
}

impl Payload {
    /// The kind of collection this payload belongs in.
    pub fn kind(&self) -> PimKind {
        match self {
            Self::Contact(_) => PimKind::Contacts,
            Self::Event(_) => PimKind::Events,
        }
    }

    /// The item's `UID`, when it has one (a contact may not).
    pub fn uid(&self) -> Option<&str> {
        match self {
            Self::Contact(c) => c.uid.as_deref(),
            Self::Event(e) => Some(e.uid()),
        }
    }

    /// The canonical text: vCard 4.0 or iCalendar 2.0, as core writes it.
    pub fn to_text(&self) -> String {
        match self {
            Self::Contact(c) => c.to_vcard(),
            Self::Event(e) => e.to_ics(),
        }
    }
}

/// One contact or calendar object with its listing metadata, and the text the source
/// stored when it had one.
///
/// The typed [`payload`](Self::payload) is what the engine adapts, compares and hands to
/// destinations that store fields (Graph, Google). The [`original`](Self::original) text is
/// what text destinations (CalDAV, CardDAV, a directory of files) write, so an item
/// travels between them as its source wrote it, unknown properties and vCard 3.0 included;
/// the engine drops it whenever it changes the payload, and then the payload is written.
///
/// ```
/// use mailmigrate_core::pim::{ItemId, ItemMeta, PimItem, PimKind};
/// let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nX-A:1\r\nEND:VCARD\r\n";
/// let item = PimItem::parse(PimKind::Contacts, ItemMeta::new(ItemId::new("u1.vcf")), text.into())
///     .unwrap();
/// assert_eq!(item.uid(), Some("u1"));
/// assert_eq!(item.text(), text.as_bytes()); // written as the source stored it
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PimItem {
    /// Id, `UID` and version at the source.
    pub meta: ItemMeta,
    /// The typed item.
    pub payload: Payload,
    /// The source's text, while it still says what `payload` says.
    pub original: Option<Bytes>,
}

impl PimItem {
    /// An item from a typed payload, without source text.
    pub fn new(meta: ItemMeta, payload: Payload) -> Self {
        Self {
            meta,
            payload,
            original: None,
        }
    }

    /// Parses an item's text (one vCard, or one calendar object), keeping the text.
    ///
    /// # Errors
    /// `InvalidMessage` naming the item id, the line and the `UID` when known: text that is
    /// not UTF-8, holds no item or more than one, or is malformed.
    pub fn parse(kind: PimKind, meta: ItemMeta, text: Bytes) -> Result<Self> {
        let named = |e: Error| e.with_context("item", meta.id.as_str());
        let s = std::str::from_utf8(&text).map_err(|e| {
            named(Error::new(
                ErrorKind::InvalidMessage,
                format!("not UTF-8 text (byte {})", e.valid_up_to()),
            ))
        })?;
        let payload = match kind {
            PimKind::Contacts => {
                let mut cards = super::parse_vcards(s);
                let card = cards
                    .next()
                    .unwrap_or_else(|| Err(Error::new(ErrorKind::InvalidMessage, "no VCARD")))
                    .map_err(named)?;
                if cards.next().is_some() {
                    return Err(named(Error::new(
                        ErrorKind::InvalidMessage,
                        "more than one VCARD in one item",
                    )));
                }
                Payload::Contact(Box::new(card))
            }
            PimKind::Events => Payload::Event(CalendarObject::from_ics(s).map_err(named)?),
        };
        Ok(Self {
            meta,
            payload,
            original: Some(text),
        })
    }

    /// The item's `UID`, from the payload.
    pub fn uid(&self) -> Option<&str> {
        self.payload.uid()
    }

    /// The kind of collection the item belongs in.
    pub fn kind(&self) -> PimKind {
        self.payload.kind()
    }

    /// The text to write: the source's, or else the payload's canonical form.
    pub fn text(&self) -> Bytes {
        self.original
            .clone()
            .unwrap_or_else(|| Bytes::from(self.payload.to_text()))
    }

    /// The hash of the payload's comparable form: equal for two stores that hold the same
    /// fields in different text (properties or parameters in another order, `RRULE`
    /// parts reordered, a scheduling server's `SCHEDULE-AGENT`). The ledger keeps it to
    /// tell a changed item.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of(&super::canonical::comparable_bytes(&self.payload))
    }

    /// Changes the payload through `f` and drops the source text, which no longer says
    /// the same.
    pub fn edit(&mut self, f: impl FnOnce(&mut Payload)) {
        f(&mut self.payload);
        self.original = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pim::{EventTime, ItemId};

    fn ev(uid: &str, rid: Option<&str>) -> CalendarEvent {
        let mut e = CalendarEvent::new(
            uid,
            EventTime::parse("20250106T090000Z", None, false).unwrap(),
        );
        e.recurrence_id = rid.and_then(|r| EventTime::parse(r, None, false));
        e
    }

    #[test]
    fn calendar_object_puts_the_master_first_and_refuses_mixed_uids() {
        let o = CalendarObject::from_events(vec![ev("a", Some("20250113T090000Z")), ev("a", None)])
            .unwrap();
        assert!(o.events()[0].recurrence_id.is_none());
        let e = CalendarObject::from_events(vec![ev("a", None), ev("b", None)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage);
        let e = CalendarObject::from_events(vec![ev("a", None), ev("a", None)]).unwrap_err();
        assert_eq!(e.context("event"), Some("a"));
    }

    #[test]
    fn a_malformed_item_names_itself() {
        let meta = ItemMeta::new(ItemId::new("bad.ics"));
        let e = PimItem::parse(
            PimKind::Events,
            meta.clone(),
            Bytes::from_static(
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            ),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage);
        assert_eq!(e.context("item"), Some("bad.ics"));
        let e =
            PimItem::parse(PimKind::Contacts, meta, Bytes::from_static(b"\xff\xfe")).unwrap_err();
        assert_eq!(e.context("item"), Some("bad.ics"));
    }

    #[test]
    fn editing_drops_the_source_text() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u\r\nFN:A\r\nEND:VCARD\r\n";
        let mut item = PimItem::parse(
            PimKind::Contacts,
            ItemMeta::new(ItemId::new("u")),
            Bytes::from(text),
        )
        .unwrap();
        let before = item.content_hash();
        item.edit(|p| {
            if let Payload::Contact(c) = p {
                c.full_name = "B".into();
            }
        });
        assert!(item.original.is_none());
        assert_ne!(item.content_hash(), before);
        assert!(std::str::from_utf8(&item.text()).unwrap().contains("FN:B"));
    }
}
