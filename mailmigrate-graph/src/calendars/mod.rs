//! The mailbox's calendars as a core PIM store: calendars are
//! [`Collection`](mailmigrate_core::pim::Collection)s of
//! [`PimKind::Events`](mailmigrate_core::pim::PimKind), each series or single event one
//! item.
//!
//! - [`times`]: core's event times and Graph's `dateTimeTimeZone`;
//! - [`map`]: Graph's event JSON and core's `CalendarEvent`, the stored iCalendar that
//!   keeps what the fields cannot;
//! - [`series`]: a series' exceptions and cancelled occurrences as overrides and `EXDATE`s;
//! - [`collections`]: the default calendar and the others, calendars created by name;
//! - [`source`]: full listings (`changeKey` is the version) and reads with instances;
//! - [`destination`]: idempotent creates, replaces, look-ups by `UID`, deletes, and the
//!   instances a series' overrides and `EXDATE`s make.

pub(crate) mod collections;
pub(crate) mod destination;
mod map;
mod series;
pub(crate) mod source;
pub(crate) mod times;

use tokio::sync::OnceCell;

/// What the calendar side remembers between calls: the default calendar.
#[derive(Debug, Default)]
pub(crate) struct Calendars {
    default: OnceCell<collections::GraphCalendar>,
}
