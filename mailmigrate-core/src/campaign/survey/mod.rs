//! The inventory of what each mailbox holds, and the preflight: what the destination would
//! refuse, found before any data moves.
//!
//! [`survey_mailbox`] lists every folder of a mailbox's source (metadata only, unless
//! [`SurveyOptions::read_headers`] asks for each message's header block), counts messages
//! and bytes per folder into a [`SizeHistogram`], counts the contacts and events of each
//! address book and calendar, and lists each message the destination's declared limits
//! would refuse (over its size cap) or that has no Message-ID, Date or From — which the
//! migration still carries, but without a Message-ID a destination's look-up must fall
//! back to the message's bytes, and without a Date some destinations date it by arrival.
//! [`survey_campaign`] does it for every mailbox of a plan, one mailbox's failure
//! recorded on it alone.

mod histogram;

use futures::StreamExt;
use serde::Serialize;

use super::{MailboxPair, MailboxStores, StoreFactory, ValidPlan};
use crate::headers::Headers;
use crate::pim::{ItemChange, PimKind, PimSource};
use crate::{Change, ErrorKind, FolderId, MessageId, Result, Source};

pub use histogram::{SizeBucket, SizeHistogram};

/// How deep a survey reads.
///
/// ```
/// use mailmigrate_core::campaign::SurveyOptions;
/// let o = SurveyOptions::default().with_read_headers(true).with_max_message_size(Some(25 << 20));
/// assert!(o.read_headers);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SurveyOptions {
    /// Fetch every message to check its Message-ID, Date and From (reads the whole
    /// mailbox; without it only listings are read and header problems are not looked for).
    pub read_headers: bool,
    /// The size cap to check against; `None` takes the destination's declared
    /// [`append_max_size`](crate::Capabilities::append_max_size).
    pub max_message_size: Option<u64>,
    /// Messages fetched per request when reading headers (default 50).
    pub fetch_batch: usize,
}

impl Default for SurveyOptions {
    fn default() -> Self {
        Self {
            read_headers: false,
            max_message_size: None,
            fetch_batch: 50,
        }
    }
}

impl SurveyOptions {
    /// Sets whether each message's header block is read.
    #[must_use]
    pub fn with_read_headers(mut self, read: bool) -> Self {
        self.read_headers = read;
        self
    }

    /// Sets the size cap checked (`None`: the destination's).
    #[must_use]
    pub fn with_max_message_size(mut self, max: Option<u64>) -> Self {
        self.max_message_size = max;
        self
    }
}

/// One folder's volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FolderSurvey {
    /// The folder's path at the source.
    pub path: String,
    /// Messages in it.
    pub messages: u64,
    /// Their bytes (of those whose size is known).
    pub bytes: u64,
    /// Messages whose size neither the listing nor a fetch told.
    pub unknown_size: u64,
}

/// One address book's or calendar's item count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CollectionSurvey {
    /// Contacts or events.
    pub kind: PimKind,
    /// The collection's name.
    pub name: String,
    /// Items in it.
    pub items: u64,
}

/// What the preflight found wrong with one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// Larger than the destination accepts: it would be refused (`MessageTooLarge`).
    TooLarge {
        /// The message's size.
        size: u64,
        /// The destination's cap.
        limit: u64,
    },
    /// No Message-ID header: carried, but looked up by its bytes alone.
    NoMessageId,
    /// No Date header, or one that names no real instant.
    NoDate,
    /// No From address.
    NoFrom,
    /// The source could not give the message as it is (a damaged file, a message the
    /// server cannot return): the copy will report it the same way.
    Unreadable {
        /// The source's reason.
        reason: String,
    },
}

impl Finding {
    /// Whether the message will not travel: the destination would refuse it, or the
    /// source cannot give it (rather than the message travelling with less).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Finding::TooLarge { .. } | Finding::Unreadable { .. })
    }
}

/// A message the preflight has something to say about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PreflightItem {
    /// The folder at the source.
    pub folder: String,
    /// The message's id at the source.
    pub id: String,
    /// Its subject, when headers were read.
    pub subject: Option<String>,
    /// What is wrong.
    pub finding: Finding,
}

/// Everything the survey learnt about one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MailboxSurvey {
    /// The source address.
    pub mailbox: String,
    /// Where it goes.
    pub destination: String,
    /// Its batch.
    pub batch: String,
    /// Each folder's volume.
    pub folders: Vec<FolderSurvey>,
    /// Message sizes.
    pub sizes: SizeHistogram,
    /// Address books and calendars (empty without contact and calendar stores).
    pub collections: Vec<CollectionSurvey>,
    /// The size cap checked, if any.
    pub size_limit: Option<u64>,
    /// Whether each message's headers were read.
    pub headers_read: bool,
    /// Messages the destination would refuse or take with less.
    pub preflight: Vec<PreflightItem>,
}

impl MailboxSurvey {
    /// Messages in every folder.
    pub fn messages(&self) -> u64 {
        self.folders.iter().map(|f| f.messages).sum()
    }

    /// Their bytes.
    pub fn bytes(&self) -> u64 {
        self.folders.iter().map(|f| f.bytes).sum()
    }

    /// Items of one kind, over every collection.
    pub fn items(&self, kind: PimKind) -> u64 {
        self.collections
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.items)
            .sum()
    }

    /// Messages the destination would refuse.
    pub fn refusals(&self) -> usize {
        self.preflight
            .iter()
            .filter(|p| p.finding.is_refusal())
            .count()
    }
}

/// A survey of every mailbox of a plan.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CampaignSurvey {
    /// The mailboxes surveyed.
    pub mailboxes: Vec<MailboxSurvey>,
    /// Mailboxes that could not be surveyed, with why.
    pub failed: Vec<(String, String)>,
}

impl CampaignSurvey {
    /// All message sizes.
    pub fn sizes(&self) -> SizeHistogram {
        let mut all = SizeHistogram::default();
        for m in &self.mailboxes {
            all.merge(&m.sizes);
        }
        all
    }
}

/// Surveys every mailbox of `plan`, opening each one's stores through `stores`, one at a
/// time (a survey is metadata traffic; the copy's concurrency limits are the copy's).
///
/// A mailbox whose stores do not open or whose listing fails is recorded in
/// [`failed`](CampaignSurvey::failed); the others go on.
///
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::campaign::*;
/// use mailmigrate_core::directory::{Account, Inventory};
/// use mailmigrate_core::store::MemoryStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let inventory = Inventory::new(vec![Account::new("ann@old.example")]);
/// let plan = CampaignPlan::new("acme", Strategy::Cutover)
///     .with_batch(Batch::new("all", ["ann@old.example"]))
///     .validate(&inventory)
///     .unwrap();
/// let stores = |_: &MailboxPair| {
///     Ok(MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new"))))
/// };
/// let survey = survey_campaign(&plan, &stores, &SurveyOptions::default()).await;
/// assert_eq!(survey.mailboxes[0].messages(), 0);
/// # });
/// ```
pub async fn survey_campaign(
    plan: &ValidPlan,
    stores: &dyn StoreFactory,
    options: &SurveyOptions,
) -> CampaignSurvey {
    let mut out = CampaignSurvey::default();
    for pair in plan.pairs() {
        let surveyed = match stores.open(pair).await {
            Ok(opened) => survey_mailbox(pair, &opened, options).await,
            Err(e) => Err(e),
        };
        match surveyed {
            Ok(s) => out.mailboxes.push(s),
            Err(e) => out
                .failed
                .push((pair.source.address.clone(), e.to_string())),
        }
    }
    out
}

/// Surveys one mailbox: its source's folders and collections, checked against its
/// destination's limits.
///
/// # Errors
/// The first listing or fetch error (the survey of a mailbox is all or nothing, so its
/// figures never undercount silently).
pub async fn survey_mailbox(
    pair: &MailboxPair,
    stores: &MailboxStores,
    options: &SurveyOptions,
) -> Result<MailboxSurvey> {
    let size_limit =
        options
            .max_message_size
            .or(stores.destination.info().capabilities.append_max_size);
    let mut survey = MailboxSurvey {
        mailbox: pair.source.address.clone(),
        destination: pair.destination.clone(),
        batch: pair.batch.clone(),
        folders: Vec::new(),
        sizes: SizeHistogram::default(),
        collections: Vec::new(),
        size_limit,
        headers_read: options.read_headers,
        preflight: Vec::new(),
    };
    let folders = stores.source.list_folders().await?;
    for folder in folders.iter().filter(|f| f.selectable) {
        let mut walk = FolderWalk::new(&*stores.source, &folder.id, folder.path.to_string());
        walk.run(options, size_limit, &mut survey).await?;
        survey.folders.push(walk.done);
    }
    if let Some(pim) = &stores.pim {
        survey.collections = survey_collections(&*pim.source).await?;
    }
    Ok(survey)
}

/// One folder's listing, read with its messages' headers when asked.
struct FolderWalk<'a> {
    source: &'a dyn Source,
    folder: &'a FolderId,
    done: FolderSurvey,
    /// Ids waiting for their headers, with the size the listing gave.
    waiting: Vec<(MessageId, Option<u64>)>,
}

impl<'a> FolderWalk<'a> {
    fn new(source: &'a dyn Source, folder: &'a FolderId, path: String) -> Self {
        Self {
            source,
            folder,
            done: FolderSurvey {
                path,
                messages: 0,
                bytes: 0,
                unknown_size: 0,
            },
            waiting: Vec::new(),
        }
    }

    async fn run(
        &mut self,
        options: &SurveyOptions,
        limit: Option<u64>,
        survey: &mut MailboxSurvey,
    ) -> Result<()> {
        let mut listing = self.source.list_changes(self.folder, None);
        // What a Reset voids: counts made before it, per folder and in the histogram.
        let mut sizes = SizeHistogram::default();
        let mut found = Vec::new();
        while let Some(change) = listing.next().await {
            match change? {
                Change::Upsert(meta) if options.read_headers => {
                    self.waiting.push((meta.id, meta.size));
                    if self.waiting.len() >= options.fetch_batch.max(1) {
                        self.read_headers(limit, &mut sizes, &mut found).await?;
                    }
                }
                Change::Upsert(meta) => {
                    self.count(&meta.id, meta.size, None, limit, &mut sizes, &mut found);
                }
                Change::Reset => {
                    self.done.messages = 0;
                    self.done.bytes = 0;
                    self.done.unknown_size = 0;
                    self.waiting.clear();
                    sizes = SizeHistogram::default();
                    found.clear();
                }
                Change::Removed(_) | Change::Checkpoint(_) => {}
            }
        }
        self.read_headers(limit, &mut sizes, &mut found).await?;
        survey.sizes.merge(&sizes);
        survey.preflight.append(&mut found);
        Ok(())
    }

    async fn read_headers(
        &mut self,
        limit: Option<u64>,
        sizes: &mut SizeHistogram,
        found: &mut Vec<PreflightItem>,
    ) -> Result<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        let batch: std::collections::HashMap<MessageId, Option<u64>> =
            std::mem::take(&mut self.waiting).into_iter().collect();
        let ids = batch.keys().cloned().collect();
        let mut fetched = self.source.fetch(self.folder, ids);
        // Answers may come in any order: each names its id.
        while let Some((id, answer)) = fetched.next().await {
            let raw = match answer {
                Ok(raw) => raw,
                // Deleted since the listing: no longer part of the mailbox.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                // The item's own for good: counted, and named, and the survey goes on.
                Err(e) if e.kind().is_final_for_item(true) => {
                    let listed = batch.get(&id).copied().flatten();
                    self.count(&id, listed, None, limit, sizes, found);
                    found.push(PreflightItem {
                        folder: self.done.path.clone(),
                        id: id.as_str().to_owned(),
                        subject: None,
                        finding: Finding::Unreadable {
                            reason: e.to_string(),
                        },
                    });
                    continue;
                }
                Err(e) => {
                    return Err(e
                        .with_context("folder", &self.done.path)
                        .with_context("message", id.as_str()))
                }
            };
            let listed = batch.get(&id).copied().flatten();
            let size = listed.or(Some(raw.bytes.len() as u64));
            let headers = Headers::parse(&raw.bytes);
            self.count(&id, size, Some(&headers), limit, sizes, found);
        }
        Ok(())
    }

    fn count(
        &mut self,
        id: &MessageId,
        size: Option<u64>,
        headers: Option<&Headers>,
        limit: Option<u64>,
        sizes: &mut SizeHistogram,
        found: &mut Vec<PreflightItem>,
    ) {
        self.done.messages += 1;
        match size {
            Some(s) => {
                self.done.bytes += s;
                sizes.add(s);
            }
            None => self.done.unknown_size += 1,
        }
        let mut findings = Vec::new();
        if let (Some(size), Some(limit)) = (size, limit) {
            if size > limit {
                findings.push(Finding::TooLarge { size, limit });
            }
        }
        if let Some(h) = headers {
            if h.message_id.is_none() {
                findings.push(Finding::NoMessageId);
            }
            if h.date.is_none() {
                findings.push(Finding::NoDate);
            }
            if h.from.is_none() {
                findings.push(Finding::NoFrom);
            }
        }
        found.extend(findings.into_iter().map(|finding| PreflightItem {
            folder: self.done.path.clone(),
            id: id.as_str().to_owned(),
            subject: headers.and_then(|h| h.subject.clone()),
            finding,
        }));
    }
}

/// Counts the items of every address book and calendar.
async fn survey_collections(source: &dyn PimSource) -> Result<Vec<CollectionSurvey>> {
    let mut out = Vec::new();
    for kind in [PimKind::Contacts, PimKind::Events] {
        for c in source.list_collections(kind).await? {
            let mut listing = source.list_items(&c.id, None);
            let mut items = 0u64;
            while let Some(change) = listing.next().await {
                match change? {
                    ItemChange::Upsert(_) => items += 1,
                    ItemChange::Reset => items = 0,
                    ItemChange::Removed(_) | ItemChange::Checkpoint(_) => {}
                }
            }
            out.push(CollectionSurvey {
                kind,
                name: c.name,
                items,
            });
        }
    }
    Ok(out)
}
