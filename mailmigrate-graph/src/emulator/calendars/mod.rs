//! Calendars and events \[G-EVT\]: the default calendar and others by name, events with the
//! fields Graph has, series masters whose `recurrence` `/instances` expands (every pattern
//! type, the three range types), occurrences that become exceptions when patched and are
//! cancelled when deleted, `transactionId` idempotency, named properties \[G-EXT\] and an
//! invitation counter: every create or update that carries attendees counts one, as the
//! service would mail them \[G-EVPR\]\[I-INV\].
//!
//! Times are kept as written and answered in UTC with `originalStartTimeZone` beside them,
//! as Graph does without `Prefer: outlook.timezone` \[G-EVT\]; zones outside the crate's
//! table count as UTC. Event ids are the same with or without immutable ids \[G-IMM\].
//! Unverified and chosen here: a `POST` repeating a `transactionId` answers 201 with the
//! first event; a change to an occurrence gives its master a new `changeKey`.

mod body;
mod inspect;
mod json;
mod requests;
mod store;

pub use inspect::StoredEvent;
pub(crate) use requests::route;
pub(crate) use store::Diary;

#[cfg(test)]
mod tests {
    use super::body::{check, parse_body};

    #[test]
    fn bodies_are_checked_like_graph() {
        assert!(parse_body(br#"{"subjekt": "x"}"#).is_err());
        assert!(parse_body(br#"{"isAllDay": "yes"}"#).is_err());
        let (p, _) = parse_body(br#"{"isAllDay": true, "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "UTC"}}"#).unwrap();
        assert!(check(&p).is_err(), "an all-day event starts at midnight");
        let (p, _) = parse_body(br#"{"recurrence": {"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2025-01-06"}}}"#).unwrap();
        assert!(check(&p).is_err());
    }
}
