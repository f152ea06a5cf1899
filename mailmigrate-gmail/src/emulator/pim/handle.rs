//! What tests see of the emulated calendars and contacts, and what they change "as the
//! user".

use serde_json::{Map, Value};

use crate::emulator::EmulatorHandle;

/// An event as the server stores it (a master, a single event, or an occurrence's
/// exception).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The calendar id (the user's address for the primary calendar).
    pub calendar: String,
    /// The calendar's name.
    pub calendar_name: String,
    /// The event's JSON as Google answers it.
    pub json: Map<String, Value>,
}

impl StoredEvent {
    /// A string field.
    pub fn str(&self, k: &str) -> Option<&str> {
        self.json.get(k).and_then(Value::as_str)
    }
    /// Whether it is deleted (`status: cancelled`).
    pub fn is_cancelled(&self) -> bool {
        self.str("status") == Some("cancelled")
    }
}

/// A contact as the server stores it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredContact {
    /// `people/c…`.
    pub resource_name: String,
    /// Its etag.
    pub etag: String,
    /// Its contact fields as Person JSON.
    pub fields: Map<String, Value>,
}

impl EmulatorHandle {
    /// A builder for `user`'s calendars and contacts against this emulator.
    pub fn pim_builder(&self, user: &str) -> crate::GooglePimBuilder {
        crate::GooglePimBuilder::new(self.gmail_builder(user))
            .with_calendar_url(self.base_url())
            .with_people_url(self.base_url())
    }

    /// Every event of `user` that is not deleted, exceptions included.
    pub fn events(&self, user: &str) -> Vec<StoredEvent> {
        self.st().pim.with(user, |a| {
            a.calendars
                .events
                .iter()
                .filter(|e| !e.cancelled())
                .map(|e| StoredEvent {
                    calendar: e.calendar.clone(),
                    calendar_name: a
                        .calendars
                        .calendars
                        .iter()
                        .find(|c| c.id == e.calendar)
                        .map(|c| c.summary.clone())
                        .unwrap_or_default(),
                    json: e.json.clone(),
                })
                .collect()
        })
    }

    /// Every event of `user`, deleted ones (`cancelled`) included.
    pub fn all_events(&self, user: &str) -> Vec<StoredEvent> {
        self.st().pim.with(user, |a| {
            a.calendars
                .events
                .iter()
                .map(|e| StoredEvent {
                    calendar: e.calendar.clone(),
                    calendar_name: String::new(),
                    json: e.json.clone(),
                })
                .collect()
        })
    }

    /// Stores `event` (Google's Event JSON) in calendar `calendar` (`primary`, or a
    /// calendar's name) as if the user made it; its id.
    ///
    /// # Panics
    /// If there is no such calendar or `event` is not an object.
    pub fn seed_event(&self, user: &str, calendar: &str, event: Value) -> String {
        self.st().pim.with(user, |a| {
            let cal = a
                .calendars
                .calendars
                .iter()
                .find(|c| (calendar == "primary" && c.primary) || c.summary == calendar)
                .map(|c| c.id.clone())
                .unwrap_or_else(|| panic!("no calendar {calendar}"));
            let Value::Object(m) = event else {
                panic!("an event is a JSON object")
            };
            let out = a.calendars.store_new(&cal, m);
            out["id"].as_str().unwrap_or_default().to_owned()
        })
    }

    /// How many mails to guests the `sendUpdates` of `user`'s writes would have sent.
    pub fn notifications_sent(&self, user: &str) -> u64 {
        self.st().pim.with(user, |a| a.calendars.notifications)
    }

    /// Expires every calendar and contacts sync token handed out to `user` so far.
    pub fn expire_sync_tokens(&self, user: &str) {
        self.st().pim.with(user, |a| {
            a.calendars.expire_sync_tokens();
            a.people.expire_sync_tokens();
        });
    }

    /// Every live contact of `user`.
    pub fn contacts(&self, user: &str) -> Vec<StoredContact> {
        self.st().pim.with(user, |a| {
            a.people
                .people
                .iter()
                .filter(|p| !p.deleted)
                .map(|p| StoredContact {
                    resource_name: p.resource.clone(),
                    etag: p.etag.clone(),
                    fields: p.fields.clone(),
                })
                .collect()
        })
    }

    /// Stores a contact (Person JSON) as if the user made it; its resource name.
    ///
    /// # Panics
    /// If the Person names an unknown contact group.
    pub fn seed_contact(&self, user: &str, person: Value) -> String {
        self.st()
            .pim
            .with(user, |a| a.people.create(&person))
            .unwrap_or_else(|e| panic!("seed_contact: {}", e.message))
    }

    /// The status an `updateContact` with a stale etag answers: 400 `failedPrecondition`
    /// (default, the current reference) or 412 (older copies of it).
    pub fn set_stale_etag_status(&self, status: u16) {
        self.st().pim.cfg().stale_etag_status = status;
    }

    /// Whether importing the iCalUID of a deleted event brings it back (default) or is
    /// 409 like a live one.
    pub fn set_import_revives_deleted(&self, on: bool) {
        self.st().pim.cfg().import_revives_deleted = on;
    }
}
