//! One Gmail user's mailbox as a mail [`Source`](mailmigrate_core::Source) and
//! [`Destination`](mailmigrate_core::Destination).
//!
//! - [`labels`]: labels as folders, system labels as roles, flags and keywords as
//!   labels, names Gmail refuses renamed;
//! - [`api`]: the Gmail calls (listing, reading, importing, relabelling) and their DTOs;
//! - [`source`]: full listings, history listings since a checkpoint, raw fetches;
//! - [`destination`]: imports, look-ups by `rfc822msgid:` and content, flag changes.

mod api;
mod destination;
mod labels;
mod lookup;
mod source;
mod upload;

pub(crate) use upload::chunk_size;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mailmigrate_core::{Capabilities, Folder, Provider, ProviderInfo, Result};

use crate::client::Client;
use crate::quota::GmailLimits;

pub use labels::ALL_MAIL;

/// What the builder settles for the mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_message: u64,
    pub(crate) keyword_parent: String,
    /// Larger messages go by resumable upload \[GM-UPL\].
    pub(crate) resumable_threshold: u64,
    /// The chunk of a resumable upload, a multiple of 256 KiB.
    pub(crate) chunk: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_message: crate::MAX_MESSAGE_BYTES,
            keyword_parent: "Keywords".to_owned(),
            resumable_threshold: crate::RESUMABLE_THRESHOLD,
            chunk: crate::RESUMABLE_CHUNK,
        }
    }
}

/// A label name Gmail would refuse, and the name it was stored under instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelRename {
    /// The name asked for (`Inbox/Projects`).
    pub asked: String,
    /// The label created (`_Inbox/Projects`).
    pub stored: String,
}

/// A Gmail user's mailbox through the Gmail API: a mail source and destination. Build it
/// with [`GmailBuilder`](crate::GmailBuilder).
///
/// # Labels as folders
/// Every label is listed as a folder (its id is the label id; `Projects/2026` is nested by
/// `/`), the system labels with their roles (`INBOX`, `SENT` → Sent, `DRAFT` → Drafts,
/// `SPAM` → Junk, `TRASH`, `STARRED` → Flagged, `IMPORTANT`), and one more folder,
/// [`ALL_MAIL`] with the role `All`: every message but Spam and Trash. The mailbox declares
/// `list_labels`, so the engine copies `All Mail` (and Spam and Trash) once, each message
/// carrying its labels in `labels`: user labels by name, system labels as Gmail's IMAP names
/// them (`\Inbox`, `\Sent`, `\Important`; categories as `\CATEGORY_SOCIAL`…). `UNREAD`,
/// `STARRED` and `DRAFT` are flags (no `\Seen`, `\Flagged`, `\Draft`). A label folder lists
/// the messages with that label, without it in their `labels`.
///
/// # Writing
/// A message is imported (`messages.import`, as delivered mail: never sent, no SPF
/// check) with `neverMarkSpam=true`, `processForCalendar=false`, as a `multipart` upload
/// of its exact bytes (over 5 MB a resumable upload in chunks, resumed from where the
/// session stands after an interrupted chunk, \[GM-UPL\]), with the folder's label, its flags as labels and its labels
/// (user labels created as needed, each parent explicitly so they nest). IMAP keywords
/// have no Gmail counterpart; they become labels under `Keywords/` (configurable), and so
/// does `\Answered` (`Keywords/$Answered`); those labels are read back as keywords and flags.
/// A label name Gmail reserves (a system label's, `Sent`, `Archive`, `Muted`… as GYB lists
/// them) is stored with a `_` prefix and reported ([`label_renames`](Gmail::label_renames)).
/// Import takes its internal date from the `Date` header (`internalDateSource=dateHeader`);
/// no parameter sets it to a given instant, so `append_with_internal_date` is off.
/// Messages over the size cap are refused as `MessageTooLarge` without a request.
///
/// # Finding copies
/// [`find_existing`](mailmigrate_core::Destination::find_existing) searches
/// `rfc822msgid:` in the folder and compares each hit's raw bytes with the key's hash, so
/// twins and lost replies settle exactly; a message without `Message-ID` is looked for by
/// reading every message of the folder (costly, and rare).
///
/// # Examples
/// ```
/// use mailmigrate_core::{Destination, FolderPath, Provider};
/// use mailmigrate_gmail::emulator::Emulator;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder().user("ada@example.com").start().await.unwrap();
/// let gmail = emu.gmail_builder("ada@example.com").build().unwrap();
/// let folder = gmail
///     .ensure_folder(&FolderPath::parse("Projects/2026", '/').unwrap(), None)
///     .await
///     .unwrap();
/// assert!(folder.created);
/// let labels = emu.labels("ada@example.com");
/// assert!(labels.iter().any(|l| l.name == "Projects/2026" && l.nested));
/// let paths: Vec<String> =
///     gmail.list_folders().await.unwrap().iter().map(|f| f.path.join("/")).collect();
/// assert!(paths.contains(&"All Mail".to_owned()));
/// emu.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Gmail {
    shared: Arc<Shared>,
    info: ProviderInfo,
}

/// What the mailbox's calls and its `'static` streams share.
#[derive(Debug)]
pub(crate) struct Shared {
    client: Arc<Client>,
    settings: Settings,
    book: labels::Book,
    renames: Mutex<Vec<LabelRename>>,
}

impl Gmail {
    pub(crate) fn new(
        client: Arc<Client>,
        user: String,
        settings: Settings,
        limits: GmailLimits,
    ) -> Self {
        let caps = Capabilities {
            list_folders: true,
            list_since: true,
            list_removals: true,
            list_labels: true,
            fetch: true,
            fetch_flags: true,
            append: true,
            append_with_flags: true,
            append_with_keywords: true,
            append_with_internal_date: false,
            append_with_labels: true,
            append_returns_id: true,
            update_flags: true,
            delete: false,
            find_existing: true,
            byte_exact: true,
            append_max_size: Some(settings.max_message),
            append_batch_max: 10,
            fetch_batch_max: 25,
            max_concurrency: limits.concurrency,
            ..Capabilities::default()
        };
        Self {
            shared: Arc::new(Shared {
                client,
                settings,
                book: labels::Book::default(),
                renames: Mutex::new(Vec::new()),
            }),
            info: ProviderInfo::new(crate::SCHEME, user, caps),
        }
    }

    /// Gmail's own counts of the mailbox, for the directory's stats.
    pub(crate) async fn counts(&self) -> Result<mailmigrate_core::directory::MailboxStats> {
        api::counts(&self.shared.client).await
    }

    /// The delegations of this mailbox (its user's `address`), for the directory's
    /// permission listing.
    pub(crate) async fn delegations(
        &self,
        address: &str,
    ) -> Result<Vec<mailmigrate_core::directory::Permission>> {
        api::delegations(&self.shared.client, address).await
    }

    /// The HTTP client, shared with the calendar and contacts store.
    pub(crate) fn client(&self) -> Arc<Client> {
        Arc::clone(&self.shared.client)
    }

    /// The shared half, for `'static` streams.
    fn handle(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The label names this mailbox stored under another name than asked, because Gmail
    /// refuses them (see "Writing" above).
    pub fn label_renames(&self) -> Vec<LabelRename> {
        self.shared
            .renames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl Provider for Gmail {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        labels::folders(&self.shared).await
    }
}
