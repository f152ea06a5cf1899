//! What tests read and change of an emulated mailbox's calendars, beside the HTTP API.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::emulator::handle::EmulatorHandle;
use crate::emulator::ids::{self, IMMUTABLE_PREFIX};
use crate::emulator::store::now;

use super::store::Event;

/// An event as the emulator holds it, for tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Its id.
    pub id: String,
    /// Its calendar's name.
    pub calendar: String,
    /// Its writable properties as sent (`subject`, `start`, `recurrence`…).
    pub props: Map<String, Value>,
    /// Its named properties (id, value) \[G-EXT\].
    pub extended: Vec<(String, String)>,
    /// Patched occurrences by original local date (`2025-01-13`) and what was patched.
    pub exceptions: Vec<(String, Map<String, Value>)>,
    /// Deleted occurrences by original local date (`2025-01-20`).
    pub cancelled: Vec<String>,
}

fn dashed(key: &str) -> String {
    format!("{}-{}-{}", &key[..4], &key[4..6], &key[6..])
}

impl EmulatorHandle {
    /// Every event (series master or single) of `upn`'s mailbox, in every calendar.
    ///
    /// # Panics
    /// When the emulator has no such mailbox.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_graph::emulator::Emulator;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
    /// let id = emu.seed_event(
    ///     "ada@example.com",
    ///     "Work",
    ///     serde_json::json!({"subject": "Review",
    ///         "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"},
    ///         "end": {"dateTime": "2025-01-06T10:00:00", "timeZone": "Europe/Berlin"}}),
    /// );
    /// let all = emu.events("ada@example.com");
    /// assert_eq!((all[0].id.as_str(), all[0].calendar.as_str()), (id.as_str(), "Work"));
    /// assert_eq!(emu.invitations_sent("ada@example.com"), 0);
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn events(&self, upn: &str) -> Vec<StoredEvent> {
        self.with_mailbox(upn, |mbx| {
            let d = &mbx.calendars;
            d.events
                .iter()
                .map(|e| StoredEvent {
                    id: e.id.clone(),
                    calendar: d
                        .calendars
                        .iter()
                        .find(|c| c.id == e.calendar_id)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    props: e.props.clone(),
                    extended: e.extended.clone(),
                    exceptions: e
                        .exceptions
                        .iter()
                        .map(|(k, v)| (dashed(k), v.clone()))
                        .collect(),
                    cancelled: e.cancelled.iter().map(|k| dashed(k)).collect(),
                })
                .collect()
        })
    }

    /// How many creates and updates carried attendees: the invitations Graph would have
    /// sent \[G-EVPR\].
    ///
    /// # Panics
    /// When the emulator has no such mailbox.
    pub fn invitations_sent(&self, upn: &str) -> u64 {
        self.with_mailbox(upn, |mbx| mbx.calendars.invitations)
    }

    /// Adds an event with the Graph properties `props` to the calendar named `calendar`
    /// (`""`: the default one), created as needed, as a user would; returns its id.
    /// Nothing is checked and nobody is invited.
    ///
    /// # Panics
    /// When the emulator has no such mailbox or `props` is not a JSON object.
    pub fn seed_event(&self, upn: &str, calendar: &str, props: Value) -> String {
        self.with_mailbox(upn, |mbx| {
            let Value::Object(props) = props else {
                panic!("an event's properties are a JSON object");
            };
            let calendar_id = mbx.calendars.calendar_by_name(calendar);
            let t = now();
            let id = ids::new_id(IMMUTABLE_PREFIX);
            mbx.calendars.events.push(Event {
                id: id.clone(),
                calendar_id,
                props,
                extended: Vec::new(),
                ical_uid: format!("040000008200E00074C5B7101A82E008{:016X}", ids::random_u64()),
                created: t,
                modified: t,
                change_n: 1,
                exceptions: BTreeMap::new(),
                cancelled: BTreeSet::new(),
            });
            id
        })
    }

    /// Changes occurrence `date` (`2025-01-13`, its original local date) of series `id` as
    /// a user would: `Some(patch)` makes it an exception, `None` cancels it.
    ///
    /// # Panics
    /// When the mailbox or the series does not exist.
    pub fn change_occurrence(&self, upn: &str, id: &str, date: &str, patch: Option<Value>) {
        self.with_mailbox(upn, |mbx| {
            let e = mbx
                .calendars
                .events
                .iter_mut()
                .find(|e| e.id == id)
                .expect("no such series");
            let key = date.replace('-', "");
            match patch {
                Some(Value::Object(p)) => {
                    e.exceptions.entry(key).or_default().extend(p);
                }
                _ => {
                    e.exceptions.remove(&key);
                    e.cancelled.insert(key);
                }
            }
            e.touch();
        });
    }

    /// Changes event `id`'s properties as a user would (the ones `patch` names).
    ///
    /// # Panics
    /// When the mailbox or the event does not exist, or `patch` is not an object.
    pub fn update_event(&self, upn: &str, id: &str, patch: Value) {
        self.with_mailbox(upn, |mbx| {
            let e = mbx
                .calendars
                .events
                .iter_mut()
                .find(|e| e.id == id)
                .expect("no such event");
            let Value::Object(p) = patch else {
                panic!("a patch is a JSON object")
            };
            e.props.extend(p);
            e.touch();
        });
    }

    /// Deletes event `id` as a user would.
    ///
    /// # Panics
    /// When the mailbox does not exist.
    pub fn delete_event(&self, upn: &str, id: &str) {
        self.with_mailbox(upn, |mbx| mbx.calendars.events.retain(|e| e.id != id));
    }
}
