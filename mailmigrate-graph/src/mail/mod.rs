//! One Exchange Online mailbox as a mail [`Source`](mailmigrate_core::Source) and
//! [`Destination`](mailmigrate_core::Destination).
//!
//! - [`folders`]: the folder tree (well-known folders as special-use roles) and
//!   folders created by path;
//! - [`source`]: per-folder delta listings and the MIME of each message (`$value`);
//! - [`create`]: a MIME message as the JSON of a received (non-draft) Graph message;
//! - [`destination`]: creating, finding, re-flagging and deleting messages;
//! - [`stage`]: messages over one request's 4 MB, created partial, completed after their
//!   attachments;
//! - [`upload`]: upload sessions for attachments from 3 MB.

mod create;
mod destination;
mod folders;
mod import;
mod source;
mod stage;
mod stamps;
mod upload;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use mailmigrate_core::{Capabilities, Folder, FolderId, Provider, ProviderInfo, Result};
use tokio::sync::{Mutex, OnceCell};

use crate::client::Client;

pub(crate) use create::hash_property;

/// An Exchange Online mailbox through Microsoft Graph: a mail source and destination.
/// Build it with [`GraphBuilder`](crate::GraphBuilder).
///
/// # What it keeps, and what it cannot
/// Messages are created as **received mail, not drafts**: as the JSON of a message with
/// `PR_MESSAGE_FLAGS` (`Integer 0x0E07`, read or unread) and the delivery and submit times
/// (`SystemTime 0x0E06`, `0x0039`) set at creation, the only moment Exchange accepts them
/// (\[G-CMSG\]\[MS-OXCMSG\]). Subject, addresses, `Message-ID`, dates, text and HTML bodies and
/// attachments travel as fields; `\Seen`, `\Flagged` and keywords (as categories) too.
/// Up to five `X-` headers travel as `internetMessageHeaders` (\[G-MSG\]\[I-IMH\]: named
/// `x-…`, set at creation only; 256 KB at most together, \[EXO-LIM\]), so Outlook shows
/// them and Graph's regenerated MIME has them; the header fields nothing carries are
/// counted by [`headers_not_carried`](Graph::headers_not_carried).
/// Graph regenerates the MIME of such a message, so the copy is not byte-exact
/// (`byte_exact` is off): the original header block travels in a named property
/// (`mailmigrate-headers`), and the message's content hash in another
/// (`mailmigrate-hash`), which is how [`find_existing`](mailmigrate_core::Destination::find_existing)
/// recognises a copy, twins included, after a lost answer. Copies this crate did not write
/// carry no hash and are not recognised.
///
/// # Large messages
/// One request holds at most 4 MB (\[I-4MB\]), so a message over 3 MB is written in stages:
/// created with the attachments that fit and its hash stamped `partial:`, the others added
/// after it (upload sessions for those from 3 MB, \[G-ATT\]), and only then stamped with its
/// hash. A look-up never takes a partial copy for the message: it deletes it (a write killed
/// half-way), and the message is written anew. Messages up to 150 MB are taken
/// (`append_max_size`); a larger one is refused as `MessageTooLarge`, naming it. Upload
/// chunks count against the per-mailbox upload budget of [`MailboxLimits`](crate::MailboxLimits)
/// (150 MB per 5 minutes, \[G-THR\]) like every other request body.
///
/// As a source it lists each folder by delta query (`@odata.deltaLink` is the checkpoint;
/// an expired one starts a full listing with [`Change::Reset`](mailmigrate_core::Change))
/// and fetches each message's MIME from `/$value`. `\Answered` and `$Forwarded` are read
/// from `PR_LAST_VERB_EXECUTED` (`Integer 0x1081`), expanded into each delta page; a fetched
/// message carries no flags (`fetch_flags` is off: `$value` is the MIME alone).
///
/// # Contacts
/// The mailbox's contact folders are address books for the PIM engine: the default
/// `Contacts` folder under its own name, the folders under it by path (`Work/Team`),
/// listed by per-folder delta (\[G-CDELTA\]; `changeKey` is the version). Graph's fields
/// hold names, three email addresses, business (two, \[I-CONTACT\]), home and mobile
/// phones, company and department, three postal addresses, birthday, notes, categories, IM
/// addresses and a few text fields (nickname, web page, profession, spouse…); what a
/// vCard says beyond them — types, parameters, further values, unknown properties —
/// travels in a named property holding the vCard as written (`mailmigrate-vcard`,
/// \[G-EXT\]), so a copy reads back as written and a field changed in Outlook since wins.
/// [`PimCapabilities`](mailmigrate_core::pim::PimCapabilities) declare the limits: more
/// than three email addresses or two phones are carried in the note by the engine and
/// reported. Graph contacts have no `UID`: each one written is stamped with the item's
/// (`mailmigrate-uid`), which `find_by_uid` filters on; a create of a `UID` the folder
/// holds is refused as `AlreadyExists` after a look-up (no `If-None-Match` on Graph, so
/// `conditional_writes` is not claimed). Contacts made in Outlook have no `UID`; the
/// engine gives them stable ones.
///
/// # Calendars
/// The mailbox's calendars hold events (\[G-EVT\]): the default calendar under its own name
/// (`Calendar`), the others by name; a calendar's collection id is `calendar:` and its Graph
/// id. Graph has no per-calendar delta (\[G-DQ\]: only a date range of the primary
/// calendar), so each pass lists every series master and single event with its
/// `changeKey`, and a listing given a checkpoint starts with `Reset`. Graph's fields hold
/// subject, text or HTML body, start and end in their zone (read back from UTC with a table
/// of common zones, Windows and IANA names), all-day, location, the six recurrence
/// patterns with their three ranges, categories, show-as, sensitivity, importance, one
/// reminder, organizer and attendees; the calendar object as written travels in a named
/// property (`mailmigrate-ical`), so parameters, further alarms, `VTIMEZONE`s, attachments by
/// reference and unknown properties read back as written, and a part changed in Outlook
/// since wins. A series' overrides are written to its instances after the master (patched
/// occurrences become exceptions, deleted ones are its `EXDATE`s) and read back from
/// `/instances`. A rule Graph has no pattern for (hourly, several month days…) is refused
/// as `InvalidMessage`, naming the event.
///
/// **Nobody is invited.** Graph mails every attendee of an event created with them
/// (\[G-EVPR\]\[I-INV\]); unless [`WriteOptions::notify_attendees`](mailmigrate_core::pim::WriteOptions)
/// is on, attendees are not sent and stay in the stored iCalendar only (`notifications` is
/// `Suppressible`). Creates carry a `transactionId` derived from the calendar and the `UID`,
/// so a repeated `POST` makes no second event, and the `UID` in `mailmigrate-uid` for
/// `find_by_uid`; a create of a `UID` the calendar holds is refused as `AlreadyExists`.
///
/// ```
/// use mailmigrate_core::pim::{Collection, CollectionId, PimDestination, PimKind, PimProvider};
/// use mailmigrate_graph::emulator::Emulator;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
/// let mailbox = emu.graph_builder("ada@example.com").connect().await.unwrap();
/// let like = Collection::new(CollectionId::new("x"), PimKind::Contacts, "Work");
/// let work = mailbox.ensure_collection(&like).await.unwrap();
/// let names: Vec<String> = mailbox
///     .list_collections(PimKind::Contacts)
///     .await
///     .unwrap()
///     .into_iter()
///     .map(|c| c.name)
///     .collect();
/// assert_eq!(names, ["Contacts", "Work"]);
/// assert_eq!(mailbox.ensure_collection(&like).await.unwrap().id, work.id);
/// emu.shutdown().await;
/// # });
/// ```
///
/// # Examples
/// ```
/// use mailmigrate_core::{Destination, FolderPath, Provider};
/// use mailmigrate_graph::emulator::Emulator;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
/// let mailbox = emu.graph_builder("ada@example.com").connect().await.unwrap();
/// let folder = mailbox
///     .ensure_folder(&FolderPath::parse("Projects/2026", '/').unwrap(), None)
///     .await
///     .unwrap();
/// assert!(folder.created);
/// let paths: Vec<String> =
///     mailbox.list_folders().await.unwrap().iter().map(|f| f.path.join("/")).collect();
/// assert!(paths.contains(&"Projects/2026".to_owned()));
/// assert!(paths.contains(&"INBOX".to_owned()));
/// emu.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Graph {
    client: Arc<Client>,
    info: ProviderInfo,
    well_known: OnceCell<folders::WellKnown>,
    /// Folders found or created by path, so a path is created once.
    paths: Mutex<folders::PathCache>,
    /// Partial copies being written now, which look-ups leave alone.
    staging: stage::Staging,
    /// The hash stamps each destination folder's copies may carry.
    stamps: stamps::Stamps,
    /// Whether messages are created with `importMime` (asked for, and not refused yet).
    imports: Option<import::ImportMime>,
    /// The contacts side's memory.
    books: crate::contacts::Books,
    /// The calendar side's memory.
    calendars: crate::calendars::Calendars,
    /// Header fields of written messages that no JSON field and no
    /// `internetMessageHeaders` entry carried, by lower-case name: in how many messages.
    not_carried: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Graph {
    pub(crate) fn new(client: Arc<Client>, mailbox: String) -> Self {
        Self {
            client,
            info: ProviderInfo::new(crate::SCHEME, mailbox, capabilities()),
            well_known: OnceCell::new(),
            paths: Mutex::new(folders::PathCache::default()),
            staging: stage::Staging::default(),
            stamps: stamps::Stamps::default(),
            imports: None,
            books: crate::contacts::Books::default(),
            calendars: crate::calendars::Calendars::default(),
            not_carried: std::sync::Mutex::default(),
        }
    }

    /// The header fields of the messages this mailbox created as JSON that Graph shows
    /// nowhere: by lower-case name, the number of messages that had one. A created
    /// message carries its addresses, subject, ids and date as fields, and up to five
    /// `X-` headers as `internetMessageHeaders` (\[G-MSG\]\[I-IMH\], in Outlook's header
    /// view and the MIME Graph regenerates); every other field (`Received`, `List-Id`,
    /// `References`, a sixth `X-` header…) is only in the header-block property this
    /// crate keeps (`mailmigrate-headers`). Messages created with `importMime` keep their
    /// whole header and are not counted.
    ///
    /// ```
    /// use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
    /// use mailmigrate_graph::emulator::Emulator;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
    /// let mailbox = emu.graph_builder("ada@example.com").connect().await.unwrap();
    /// let inbox = mailbox.ensure_folder(&FolderPath::inbox(), None).await.unwrap().id;
    /// let mime = b"Subject: hi\r\nList-Id: <team.example.com>\r\nX-Ticket: 42\r\n\r\nbody\r\n";
    /// let msg = RawMessage::new(
    ///     MessageMeta::new(MessageId::new("1"), inbox.clone()),
    ///     bytes::Bytes::from_static(mime),
    /// );
    /// mailbox.append(&inbox, vec![msg]).await.unwrap().pop().unwrap().unwrap();
    /// assert_eq!(mailbox.headers_not_carried().get("list-id"), Some(&1));
    /// assert_eq!(mailbox.headers_not_carried().get("x-ticket"), None);
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn headers_not_carried(&self) -> BTreeMap<String, u64> {
        self.not_carried
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Counts one message's header fields that nothing carried (see
    /// [`headers_not_carried`](Self::headers_not_carried)).
    pub(super) fn note_not_carried(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        tracing::debug!(headers = ?names, "header fields kept only in the header-block property");
        let mut tally = self
            .not_carried
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for n in names {
            *tally.entry(n.clone()).or_insert(0) += 1;
        }
    }

    /// Creates messages with `importMime` where the tenant offers it (see
    /// [`GraphBuilder::with_import_mime`](crate::GraphBuilder::with_import_mime)); the
    /// internal date is then not declared kept.
    pub(crate) fn importing(mut self, on: bool) -> Self {
        if on {
            self.imports = Some(import::ImportMime::default());
            self.info.capabilities.append_with_internal_date = false;
        }
        self
    }

    /// The HTTP client, for the contacts side.
    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Notes a write of a message with `hash` into `folder` before it is sent, so a
    /// batch of look-ups asks Graph about it (see `stamps`).
    pub(crate) fn note_writing(&self, folder: &FolderId, hash: &mailmigrate_core::ContentHash) {
        self.stamps.writing(folder, hash);
    }

    /// The contacts side's memory.
    pub(crate) fn books(&self) -> &crate::contacts::Books {
        &self.books
    }

    /// The calendar side's memory.
    pub(crate) fn calendars(&self) -> &crate::calendars::Calendars {
        &self.calendars
    }
}

/// What the JSON path keeps (see [`Graph`]).
fn capabilities() -> Capabilities {
    Capabilities {
        list_folders: true,
        list_since: true,
        list_removals: true,
        fetch: true,
        append: true,
        append_with_flags: true,
        append_with_keywords: true,
        append_with_internal_date: true,
        append_returns_id: true,
        update_flags: true,
        delete: true,
        find_existing: true,
        byte_exact: false,
        // [G-ATT] upload sessions take attachments up to 150 MB.
        append_max_size: Some(create::MAX_MESSAGE_BYTES),
        append_batch_max: 8,
        fetch_batch_max: 16,
        max_concurrency: 4,
        ..Capabilities::default()
    }
}

#[async_trait]
impl Provider for Graph {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        folders::list(self).await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        Some(folders::counts(self, folders).await)
    }
}
