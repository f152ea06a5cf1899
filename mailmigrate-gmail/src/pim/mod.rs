//! Google Calendar and Google Contacts (People API) as one core PIM store
//! ([`GooglePim`]), told apart by collection id: contact groups are `contactGroups/…`,
//! every other id is a calendar's.
//!
//! - [`calendar`]: calendars as collections, events imported with their `UID`, series
//!   with their exceptions, sync tokens;
//! - [`contacts`]: contact groups as collections, Person ↔ vCard, sync tokens, batched
//!   creates, etag-conditional updates;
//! - [`stored`]: the item as written, kept in key/value pairs Google holds beside the
//!   fields, so what Google has no field for round-trips.

mod calendar;
mod contacts;
mod stored;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use mailmigrate_core::pim::{
    Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemWrite, Notifications,
    PimCapabilities, PimDestination, PimItem, PimKind, PimProvider, PimResult, PimSource,
    WriteOptions, Written,
};
use mailmigrate_core::{Capabilities, Checkpoint, Error, ErrorKind, ProviderInfo, Result};

use crate::client::Client;
use crate::{GmailBuilder, PROVIDER};

/// The Calendar API root \[GC-DISC\] `rootUrl`.
pub const CALENDAR_URL: &str = "https://www.googleapis.com";
/// The People API root \[GP-DISC\] `rootUrl`.
pub const PEOPLE_URL: &str = "https://people.googleapis.com";
/// The scope of calendars and events \[GC-DISC\].
pub const CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar";
/// The scope of contacts \[GP-DISC\].
pub const CONTACTS_SCOPE: &str = "https://www.googleapis.com/auth/contacts";

/// What the store settles at build time.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub(crate) calendar: String,
    pub(crate) people: String,
}

/// Connects to one user's calendars and contacts. It takes a [`GmailBuilder`] for the
/// user, credentials and limits (the same HTTP client, quota bucket and concurrency cap
/// serve both), and adds the Calendar and People roots and scopes.
///
/// # Examples
/// ```no_run
/// use mailmigrate_gmail::{GmailBuilder, GooglePimBuilder};
///
/// # fn run() -> mailmigrate_core::Result<()> {
/// let pim = GooglePimBuilder::new(
///     GmailBuilder::new("ada@example.com").with_refresh_token("id", "secret", "1//refresh"),
/// )
/// .build()?;
/// # let _ = pim;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct GooglePimBuilder {
    gmail: GmailBuilder,
    roots: Roots,
    calendars: bool,
    contacts: bool,
}

impl GooglePimBuilder {
    /// A builder over `gmail` (the user, credentials, limits, timeouts).
    pub fn new(gmail: GmailBuilder) -> Self {
        Self {
            gmail,
            roots: Roots {
                calendar: CALENDAR_URL.to_owned(),
                people: PEOPLE_URL.to_owned(),
            },
            calendars: true,
            contacts: true,
        }
    }

    /// Changes the Gmail builder underneath (limits, timeouts, credentials).
    pub fn with_gmail(mut self, f: impl FnOnce(GmailBuilder) -> GmailBuilder) -> Self {
        self.gmail = f(self.gmail);
        self
    }

    /// The Calendar API root (`https://www.googleapis.com` by default).
    pub fn with_calendar_url(mut self, url: impl Into<String>) -> Self {
        self.roots.calendar = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The People API root (`https://people.googleapis.com` by default).
    pub fn with_people_url(mut self, url: impl Into<String>) -> Self {
        self.roots.people = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Which kinds the store holds (both by default). A calendars-only store declares
    /// `conditional_writes` (see [`GooglePim`]).
    pub fn with_kinds(mut self, calendars: bool, contacts: bool) -> Self {
        self.calendars = calendars;
        self.contacts = contacts;
        self
    }

    /// Builds the store; it makes no request.
    ///
    /// # Errors
    /// As [`GmailBuilder::build`]; `ConfigInvalid` for a root that is not `https://`
    /// (unless the Gmail builder allows plaintext) or a store of neither kind.
    pub fn build(self) -> Result<GooglePim> {
        let plain = self.gmail.allows_plaintext();
        for url in [&self.roots.calendar, &self.roots.people] {
            if !(url.starts_with("https://") || plain && url.starts_with("http://")) {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("the URL {url:?} is not https://"),
                )
                .with_provider(PROVIDER));
            }
        }
        if !self.calendars && !self.contacts {
            return Err(
                Error::new(ErrorKind::ConfigInvalid, "a store of neither kind")
                    .with_provider(PROVIDER),
            );
        }
        let mut gmail = self.gmail;
        if self.calendars {
            gmail.extra_scopes.push(CALENDAR_SCOPE);
        }
        if self.contacts {
            gmail.extra_scopes.push(CONTACTS_SCOPE);
        }
        let limits = gmail.limits();
        let mailbox = gmail.build()?;
        let user = mailmigrate_core::Provider::info(&mailbox).account.clone();
        let caps = capabilities(self.calendars, self.contacts);
        let info = ProviderInfo::new(
            crate::SCHEME,
            user,
            Capabilities {
                max_concurrency: limits.concurrency,
                ..Capabilities::default()
            },
        );
        Ok(GooglePim {
            shared: Arc::new(Shared {
                client: mailbox.client(),
                roots: self.roots,
            }),
            info,
            caps,
        })
    }
}

/// What the store's calls and streams share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Arc<Client>,
    pub(crate) roots: Roots,
}

impl Shared {
    /// `{calendar root}/calendar/v3{path}` \[GC-DISC\].
    pub(crate) fn calendar_url(&self, path: &str) -> String {
        format!("{}/calendar/v3{path}", self.roots.calendar)
    }
    /// `{people root}/v1{path}` \[GP-DISC\].
    pub(crate) fn people_url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.roots.people)
    }
}

/// The largest item text kept beside the fields: extended properties hold at most 32 kB
/// of keys and values per event (values of 1,024 characters, keys of 44) \[GC-EXT\];
/// contacts' `clientData` is held to the same budget (People documents no limit).
pub(crate) const MAX_ITEM: u64 = 30 * 1024;

fn capabilities(calendars: bool, contacts: bool) -> PimCapabilities {
    PimCapabilities {
        contacts,
        events: calendars,
        // Calendar and People sync tokens, with removals [GC-SYNC][GP-CONN].
        list_since: true,
        list_removals: true,
        create_collections: true,
        write: true,
        update: true,
        delete: true,
        // Events keep their iCalUID [GC-IMP]; contacts carry it in clientData.
        keeps_uid: true,
        find_by_uid: true,
        // events.import refuses a held iCalUID (409) and events.update honours If-Match
        // (412): exactly-once. People has no create that refuses a held UID (a look-up
        // first is not atomic), so a store holding contacts does not claim it.
        conditional_writes: !contacts,
        // The item as written travels beside the fields ([`stored`]).
        keeps_unknown_properties: true,
        keeps_attachment_references: true,
        keeps_alarms: true,
        keeps_timezone_definitions: true,
        // Import mails nobody; updates and deletes go with sendUpdates=none unless
        // notify_attendees is on [GC-IMP][GC-DISC].
        notifications: Notifications::Suppressible,
        contact_limits: mailmigrate_core::pim::ContactLimits::default(),
        max_item_size: Some(MAX_ITEM),
        // [GP-BCC] at most 200 contacts per batchCreateContacts.
        write_batch_max: if contacts { contacts::BATCH } else { 50 },
    }
}

/// A user's Google calendars and contacts as one core PIM store; build it with
/// [`GooglePimBuilder`].
///
/// # Calendars
/// Each calendar of the calendar list is a collection (id = the calendar id, name = its
/// summary); `ensure_collection` creates a secondary calendar by name. An item is a single
/// event or a series — its master (with `recurrence` lines: `RRULE`, `EXDATE`) and its
/// exceptions (`recurringEventId` + `originalStartTime`); cancelled occurrences read as
/// `EXDATE`s. Listing is `events.list` with `singleEvents=false`, resumed from a
/// `syncToken` (an expired one, 410, answers `Reset` and a full listing). Creates are
/// `events.import` with the `UID` as iCalUID: a second import of it is 409, so creates are
/// exactly-once; exceptions are written to the occurrences `events.instances` lists, with
/// `sendUpdates=none`, like every update and delete. Nobody is mailed unless
/// [`notify_attendees`](mailmigrate_core::pim::WriteOptions::notify_attendees) is on.
/// Core's fields map to Google's (summary, description, location, start/end with their
/// zone or date, recurrence, attendees, organizer, alarms as reminder overrides,
/// transparency, `CLASS` as visibility, `STATUS`, `SEQUENCE`, `X-GOOGLE-COLOR-ID` as
/// colorId); the calendar object as written is kept in the master's private extended
/// properties, so everything else round-trips (a part changed in Google since is read
/// from Google's fields).
///
/// # Contacts
/// The People API has one address book with labels (contact groups). Each group is a
/// collection — `My Contacts` (every contact) and each user group (its members) — so a
/// contact in a group is listed in both. A create into a group of a `UID` a contact
/// outside the group holds adds the membership instead of a second contact. Creates are
/// `batchCreateContacts` (≤ 200), sent one call at a time as the reference asks;
/// replaces are `updateContact` with the version as etag (a stale one is `Conflict`);
/// deleting from a user group removes the membership, from `My Contacts` the contact.
/// The `UID` and the vCard as written travel in `clientData`; `find_by_uid` reads the
/// listing (`searchContacts` does not search `clientData`). Mapped: names, nicknames,
/// emails, phones, addresses, organisation and title, birthday, notes (biography), URLs.
///
/// # Limits
/// Items over 30 kB are refused (`max_item_size`): that is what an event's extended
/// properties hold. Calendar and People calls spend one unit each of the Gmail quota
/// bucket; their own per-minute quotas are answered with rate limits, which are waited
/// out.
#[derive(Debug)]
pub struct GooglePim {
    shared: Arc<Shared>,
    info: ProviderInfo,
    caps: PimCapabilities,
}

fn is_contacts(c: &CollectionId) -> bool {
    c.as_str().starts_with("contactGroups/")
}

fn wrong_kind(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("this store holds no {what}"),
    )
    .with_provider(PROVIDER)
}

#[async_trait]
impl PimProvider for GooglePim {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        self.caps
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        match kind {
            PimKind::Events if self.caps.events => calendar::list_calendars(&self.shared).await,
            PimKind::Contacts if self.caps.contacts => contacts::list_groups(&self.shared).await,
            _ => Ok(Vec::new()),
        }
    }
}

impl PimSource for GooglePim {
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        let shared = Arc::clone(&self.shared);
        if is_contacts(collection) {
            contacts::list_items(shared, collection.clone(), since)
        } else {
            calendar::list_items(shared, collection.clone(), since)
        }
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        let shared = Arc::clone(&self.shared);
        if is_contacts(collection) {
            contacts::fetch_items(shared, collection.clone(), ids)
        } else {
            calendar::fetch_items(shared, collection.clone(), ids)
        }
    }
}

#[async_trait]
impl PimDestination for GooglePim {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        match like.kind {
            PimKind::Events if self.caps.events => calendar::ensure(&self.shared, like).await,
            PimKind::Contacts if self.caps.contacts => contacts::ensure(&self.shared, like).await,
            PimKind::Events => Err(wrong_kind("calendars")),
            _ => Err(wrong_kind("contacts")),
        }
    }

    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        if is_contacts(collection) {
            contacts::write_items(&self.shared, &self.caps, collection, writes).await
        } else {
            Ok(calendar::write_items(&self.shared, &self.caps, collection, writes, options).await)
        }
    }

    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        if is_contacts(collection) {
            contacts::find_by_uid(&self.shared, collection, uids).await
        } else {
            calendar::find_by_uid(&self.shared, collection, uids).await
        }
    }

    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        if is_contacts(collection) {
            Ok(contacts::delete_items(&self.shared, collection, ids).await)
        } else {
            Ok(calendar::delete_items(&self.shared, collection, ids).await)
        }
    }
}
