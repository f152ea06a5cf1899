//! Contacts and calendar events as typed values that round-trip vCard 4 (RFC 6350) and
//! iCalendar (RFC 5545) text, for backups and for providers that speak those formats.
//!
//! Parsing is tolerant of what real exports contain (vCard 3.0 and 2.1 from Google and
//! Outlook, quoted-printable values, bare `TYPE` parameters, LF-only line ends, tab
//! folding) and strict about structure: a malformed item gives an
//! [`ErrorKind::InvalidMessage`] error naming its line
//! and UID. Writing always produces vCard 4.0 / iCalendar 2.0 with CRLF line ends, text
//! escaping and folding at 75 octets on UTF-8 character boundaries.
//!
//! Nothing a source gave is dropped: properties without a typed field are kept verbatim in
//! `extra`, parameters of typed single-valued properties in `params`, and unknown
//! sub-components in `extra_components`.
//!
//! # Moving contacts and calendars
//! [`PimSource`] and [`PimDestination`] are the address-book and calendar counterparts of
//! the mail traits: collections ([`Collection`]) hold items ([`PimItem`]: a contact, or a
//! [`CalendarObject`] — an event with its overridden occurrences), listed by provider id
//! and version since a checkpoint, written in batches with one answer per item, and looked
//! up by `UID` to settle a write whose answer was lost. [`PimCapabilities`] declares what a
//! store keeps; [`MemoryPim`] is the reference implementation.
//!
//! # Why not `calcard`
//! `calcard` 0.3 builds on Rust 1.95 and parses well, but it brings `chrono`, `chrono-tz`
//! (the whole IANA database, compiled in), `ahash` and `mail-builder` next to the `time`
//! crate core already uses, and its model is a generic property tree: the typed structs and
//! the lossless `extra` list would still have to be mapped by hand. The shared content-line
//! syntax is small, so core implements it directly ([`Property`], [`fold`],
//! [`escape_text`]) and keeps its dependency tree lean.
//!
//! # Examples
//! ```
//! use mailmigrate_core::pim::{CalendarEvent, Contact, Email, EventTime};
//!
//! let mut c = Contact::new("Zoë Müller");
//! c.emails.push(Email::new("zoe@example.com").with_types(["work"]));
//! let card = c.to_vcard();
//! assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"));
//! assert_eq!(Contact::from_vcard(&card).unwrap(), c);
//!
//! let day = time::macros::date!(2025 - 12 - 24);
//! let mut e = CalendarEvent::new("xmas-1@example.com", EventTime::Date(day));
//! e.summary = Some("Christmas Eve".into());
//! let ics = e.to_ics();
//! assert!(ics.contains("DTSTART;VALUE=DATE:20251224\r\n"));
//! assert_eq!(CalendarEvent::from_ics(&ics).unwrap(), e);
//! ```

mod canonical;
mod capabilities;
mod collection;
mod contact;
mod event;
mod item;
mod line;
mod memory;
mod provider;
pub mod sync;
mod vdir;
pub mod verify;

use crate::{Error, ErrorKind, Operation};

pub use contact::{parse_vcards, Address, Contact, Email, Phone, StructuredName, VCards};
pub use event::{
    events_to_ics, parse_ics_events, Alarm, Attendee, CalendarEvent, EventStatus, EventTime,
    IcsEvents, Organizer, PartStat, Transparency,
};
pub use line::{escape_text, fold, unescape_text, Component, Param, Property, FOLD_OCTETS};

pub use capabilities::{ContactLimits, Notifications, PimCapabilities};
pub use collection::{Collection, CollectionId, ItemChange, ItemId, ItemMeta, PimKind};
pub use item::{CalendarObject, Payload, PimItem};
pub use memory::MemoryPim;
pub use provider::{
    FoundItem, ItemWrite, PimDestination, PimProvider, PimResult, PimSource, PimStore,
    WriteOptions, WriteTarget, Written,
};
pub use vdir::{Manifest, ManifestCollection, VdirStore, MANIFEST_FILE};

/// Builds the typed error for malformed input: `InvalidMessage`, naming the format, the
/// line and (when known) the item's UID; never any content.
pub(crate) fn invalid(
    format: &'static str,
    item: &'static str,
    line: usize,
    uid: Option<&str>,
    message: impl Into<String>,
) -> Error {
    let mut e = Error::new(ErrorKind::InvalidMessage, message)
        .with_provider(format)
        .with_operation(Operation::Parse)
        .with_context("line", line);
    if let Some(uid) = uid {
        e = e.with_context(item, uid);
    }
    e
}
