//! Listing a collection as a stream of changes: by sync token (RFC 6578), or by ETags
//! (`PROPFIND Depth: 1`) where the server has no `sync-collection`.
//!
//! Each answer is read at wire speed into a spool ([`Opened::spool`]): the engine takes
//! changes at its own pace, and a server closes a connection left unread (Radicale after
//! 30 s). Its responses are then parsed from the spool as the engine asks ([`Members`]),
//! so a listing holds one response, never the collection. An answer that breaks off is an
//! error before any of its responses is handed on.
//!
//! [`Opened::spool`]: crate::http::Opened::spool

use std::ops::Deref;

use futures::stream::{self, Stream};
use mailmigrate_core::pim::{CollectionId, ItemChange, ItemId, ItemMeta};
use mailmigrate_core::{Checkpoint, Error, ErrorKind, Operation, Result};
use reqwest::StatusCode;

use crate::http::{status_error, Answer, Deadline, PROVIDER};
use crate::multistatus::{Member, Members};
use crate::names::{member_name, same_path};
use crate::store::Inner;
use crate::xml;

/// The checkpoint of a collection listed by ETags (a server without sync tokens): every
/// pass is a full listing.
pub(crate) const ETAG_LISTING: &str = "mailmigrate:etag-listing";

/// Whether an answer refuses a sync token (RFC 6578 §3.2: `DAV:valid-sync-token`; some
/// servers answer a bare 4xx).
fn token_refused(answer: &Answer) -> bool {
    xml::preconditions(&answer.text())
        .iter()
        .any(|(_, n)| n == "valid-sync-token")
        || matches!(answer.status.as_u16(), 400 | 403 | 409 | 412)
}

/// How a collection is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `sync-collection` reports from a token.
    Sync,
    /// `PROPFIND Depth: 1` of every member with its ETag.
    Etags,
}

/// One listing in progress: the request to send next, or the answer being read.
#[derive(Debug)]
pub(crate) struct Listing<I> {
    /// The store (an `Arc` for a `'static` stream, or a borrow).
    inner: I,
    /// The collection listed.
    collection: CollectionId,
    /// By sync token or by ETags.
    mode: Mode,
    /// The sync token to list from (empty: everything).
    token: String,
    /// A checkpoint was given: a listing of everything then starts with `Reset`.
    since: bool,
    /// `Reset` was handed out (once is enough).
    reset: bool,
    /// A change to hand out before reading on.
    queued: Option<ItemChange>,
    /// The answer being read.
    answer: Option<Members>,
    /// The answer being read is a truncated report (RFC 6578 §3.6): more to request.
    truncated: bool,
    /// The checkpoint or an error was handed out.
    done: bool,
}

impl<I: Deref<Target = Inner> + Send> Listing<I> {
    /// What changed in `collection` since `since` (everything without it), ending with the
    /// checkpoint.
    pub(crate) fn new(inner: I, collection: CollectionId, since: Option<Checkpoint>) -> Self {
        let since_token = since.as_ref().map(|c| c.as_str().to_owned());
        let mut listing = Self {
            inner,
            collection,
            mode: Mode::Sync,
            token: since_token.clone().unwrap_or_default(),
            since: since_token.is_some(),
            reset: false,
            queued: None,
            answer: None,
            truncated: false,
            done: false,
        };
        if listing.token == ETAG_LISTING {
            listing.mode = Mode::Etags;
            listing.token.clear();
            listing.queue_reset();
        }
        listing
    }

    /// Every member with its ETag, by `PROPFIND` (never a sync report).
    pub(crate) fn members(inner: I, collection: CollectionId) -> Self {
        Self::new(inner, collection, Some(Checkpoint::new(ETAG_LISTING)))
    }

    /// The listing as a stream; after an error it ends.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Result<ItemChange>> + Send {
        stream::unfold(self, |mut listing| async move {
            let next = listing.next().await?;
            Some((next, listing))
        })
    }

    /// The next change; `None` after the checkpoint or an error.
    async fn next(&mut self) -> Option<Result<ItemChange>> {
        if self.done {
            return None;
        }
        let step = self.step().await;
        self.done = !matches!(
            step,
            Ok(ItemChange::Upsert(_) | ItemChange::Removed(_) | ItemChange::Reset)
        );
        Some(step.map_err(|e| {
            let e = e.with_operation(Operation::ListChanges);
            if e.context("folder").is_some() {
                e
            } else {
                e.with_context("folder", &self.collection)
            }
        }))
    }

    /// Hands out `Reset` next, unless it was already.
    fn queue_reset(&mut self) {
        if !self.reset {
            self.reset = true;
            self.queued = Some(ItemChange::Reset);
        }
    }

    /// Reads on (requesting as needed) until there is a change or the checkpoint.
    async fn step(&mut self) -> Result<ItemChange> {
        loop {
            if let Some(change) = self.queued.take() {
                return Ok(change);
            }
            let Some(answer) = self.answer.as_mut() else {
                self.answer = self.request().await?;
                continue;
            };
            match answer.next().await? {
                Some(member) => {
                    if let Some(change) = self.change(member) {
                        return Ok(change);
                    }
                }
                None => {
                    if let Some(checkpoint) = self.finish()? {
                        return Ok(ItemChange::Checkpoint(checkpoint));
                    }
                }
            }
        }
    }

    /// Sends the next request: its answer to read, or `None` when it was refused in a way
    /// that changes what to request (a change may be queued).
    async fn request(&mut self) -> Result<Option<Members>> {
        let path = self.collection.as_str();
        let (verb, depth, body) = match self.mode {
            Mode::Sync => ("REPORT", "0", xml::sync_collection(&self.token)),
            Mode::Etags => (
                "PROPFIND",
                "1",
                xml::propfind(&["d:getetag", "d:resourcetype"]),
            ),
        };
        let opened = self
            .inner
            .xml_open(verb, path, depth, body, Deadline::Idle)
            .await?;
        if opened.status == StatusCode::MULTI_STATUS {
            let what = opened.what().to_owned();
            let spooled = opened.spool(self.inner.limits.max_listing).await?;
            return Ok(Some(Members::new(spooled, what)));
        }
        let answer = opened.read().await?;
        if self.mode == Mode::Sync {
            if !self.token.is_empty() && token_refused(&answer) {
                // The token expired: everything, and the engine compares.
                self.token.clear();
                self.queue_reset();
                return Ok(None);
            }
            if matches!(answer.status.as_u16(), 400 | 403 | 405 | 501) {
                // No sync-collection here (RFC 6578 §3.1 not supported): list by ETags.
                self.mode = Mode::Etags;
                if self.since {
                    self.queue_reset();
                }
                return Ok(None);
            }
        }
        let what = match self.mode {
            Mode::Sync => format!("REPORT sync-collection {path}"),
            Mode::Etags => format!("PROPFIND {path}"),
        };
        Err(status_error(&answer, &what))
    }

    /// The change a response names, if any.
    ///
    /// Only internal members (RFC 4918 §5.2: an href one segment below the collection's)
    /// are listed. A response for anything else — another collection, a deeper path, a
    /// child collection — is ignored: taking its last segment as an id would name an item
    /// of this collection that the server did not list, and a 404 there would delete it.
    fn change(&mut self, member: Member) -> Option<ItemChange> {
        let path = self.collection.as_str();
        if same_path(&member.href, path) {
            // RFC 6578 §3.6: 507 on the collection itself means "more to come".
            self.truncated |= self.mode == Mode::Sync && member.status == Some(507);
            return None;
        }
        if member.href.ends_with('/') {
            return None;
        }
        let Some(id) = member_name(&member.href, path) else {
            tracing::warn!(href = %member.href, collection = %path,
                "ignoring a response for a resource outside the collection");
            return None;
        };
        let id = ItemId::new(id);
        match self.mode {
            // RFC 6578 §3.5.2: a removed member is a response with status 404.
            Mode::Sync if member.status == Some(404) => Some(ItemChange::Removed(id)),
            Mode::Sync => member
                .etag
                .map(|etag| ItemChange::Upsert(ItemMeta::new(id).with_version(Some(etag)))),
            Mode::Etags => Some(ItemChange::Upsert(
                ItemMeta::new(id).with_version(member.etag),
            )),
        }
    }

    /// The answer was read whole: the checkpoint, or `None` when a truncated report asks
    /// for the rest.
    fn finish(&mut self) -> Result<Option<Checkpoint>> {
        let Some(answer) = self.answer.take() else {
            return Ok(None);
        };
        if self.mode == Mode::Etags {
            return Ok(Some(Checkpoint::new(ETAG_LISTING)));
        }
        let token = answer.sync_token().map(str::to_owned).ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "sync-collection answered without a sync token",
            )
            .with_provider(PROVIDER)
        })?;
        if !std::mem::take(&mut self.truncated) {
            return Ok(Some(Checkpoint::new(token)));
        }
        if token == self.token {
            // The same page again would come back: a server that never gets further.
            return Err(Error::new(
                ErrorKind::Unexpected,
                "sync-collection answered truncated without a new sync token",
            )
            .with_provider(PROVIDER));
        }
        self.token = token;
        Ok(None)
    }
}
