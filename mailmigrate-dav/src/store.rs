//! The store: discovery, collections, and the provider traits.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use mailmigrate_core::pim::{
    Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemWrite, Notifications,
    PimCapabilities, PimDestination, PimItem, PimKind, PimProvider, PimResult, PimSource,
    WriteOptions, Written,
};
use mailmigrate_core::{Capabilities, Checkpoint, Error, ErrorKind, ProviderInfo, Result};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::http::{
    depth, method, status_error, xml_body, Answer, Deadline, Http, Opened, Request, PROVIDER,
};
use crate::listing::Listing;
use crate::names::{collection_segment, href_path, last_segment, same_path};
use crate::xml::{self, Multistatus};

/// The scheme in a store's [`ProviderInfo`] and in job files.
pub const SCHEME: &str = "dav";

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Requests in flight at once.
    pub(crate) concurrency: usize,
    /// Items per multiget report and per write batch.
    pub(crate) batch: usize,
    /// The longest answer read whole into memory.
    pub(crate) max_answer: usize,
    /// The longest listing answer spooled (one page of a truncated report).
    pub(crate) max_listing: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrency: 4,
            batch: 100,
            max_answer: 256 << 20,
            max_listing: 1 << 30,
        }
    }
}

/// A CalDAV and CardDAV account as a [`PimSource`] and [`PimDestination`].
///
/// Built by [`DavBuilder`](crate::DavBuilder). Cloning is cheap: clones share one
/// connection pool.
///
/// What it does, by the RFCs:
/// - listings use `sync-collection` (RFC 6578) with the sync token as checkpoint; an
///   expired token is a [`Reset`](ItemChange::Reset) and a full listing; a server without
///   it is listed by `PROPFIND` with ETags (every pass a full listing, compared by version);
///   either answer is read at wire speed into a spool (a temporary file past 256 KiB), so
///   the server is never kept waiting, and parsed from there one response at a time as
///   the engine asks, so a listing's memory does not grow with the collection; responses
///   for anything but the collection's own members are ignored;
/// - items are read by multiget reports of at most the batch size;
/// - a create is `PUT` with `If-None-Match: *` to a resource named after the `UID`, so a
///   repeated create is refused (`AlreadyExists`) instead of stored twice; a replace is
///   `PUT` with `If-Match` on the version the engine last saw (`Conflict` when it changed);
/// - `UID` look-ups (which settle writes whose answer was lost) first read the resources
///   named after the `UID`s, by multiget reports of at most the batch size; only a `UID`
///   not found there (never written, or renamed by the server) is looked up by a query
///   report, or, where a server's query fails, a scan of the collection. A `UID` found at
///   its own name is answered with that copy alone;
/// - on a server that schedules (RFC 6638, `calendar-auto-schedule`), events are written
///   with `SCHEDULE-AGENT=CLIENT` on the organizer and attendees unless the caller opts in
///   to notifications, so the server mails no one.
#[derive(Clone)]
pub struct DavStore {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for DavStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DavStore")
            .field("base", &self.inner.base.as_str())
            .field("calendar_home", &self.inner.calendar_home)
            .field("addressbook_home", &self.inner.addressbook_home)
            .field("schedules", &self.inner.schedules)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: Http,
    pub(crate) base: Url,
    pub(crate) info: ProviderInfo,
    pub(crate) calendar_home: Option<String>,
    pub(crate) addressbook_home: Option<String>,
    /// The server schedules (sends invitations) on its own.
    pub(crate) schedules: bool,
    pub(crate) limits: Limits,
    /// The kind of each collection seen.
    pub(crate) kinds: Mutex<HashMap<String, PimKind>>,
    /// A kind whose `UID` query the server failed: look-ups scan instead.
    pub(crate) query_fails: [AtomicBool; 2],
}

fn kind_index(kind: PimKind) -> usize {
    usize::from(kind != PimKind::Contacts)
}

impl Inner {
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        self.base.join(href_path(path)).map_err(|e| {
            Error::new(ErrorKind::Unexpected, format!("bad href {path:?}: {e}"))
                .with_provider(PROVIDER)
        })
    }

    /// Sends a request with an XML body and returns the answer, whatever its status, with
    /// its body unread.
    pub(crate) async fn xml_open(
        &self,
        verb: &'static str,
        path: &str,
        depth_value: &'static str,
        body: String,
        deadline: Deadline,
    ) -> Result<Opened> {
        let what = format!("{verb} {path}");
        self.http
            .open(
                &Request {
                    method: method(verb),
                    url: self.url(path)?,
                    headers: vec![depth(depth_value), xml_body()],
                    body: Some(Bytes::from(body)),
                    what: &what,
                },
                deadline,
            )
            .await
    }

    /// Sends a request with an XML body and reads the answer, whatever its status.
    pub(crate) async fn xml_request(
        &self,
        verb: &'static str,
        path: &str,
        depth_value: &'static str,
        body: String,
    ) -> Result<Answer> {
        self.xml_open(verb, path, depth_value, body, Deadline::Whole)
            .await?
            .read()
            .await
    }

    /// A request whose answer must be a multistatus.
    pub(crate) async fn multistatus(
        &self,
        verb: &'static str,
        path: &str,
        depth_value: &'static str,
        body: String,
    ) -> Result<Multistatus> {
        let answer = self.xml_request(verb, path, depth_value, body).await?;
        if answer.status != StatusCode::MULTI_STATUS {
            return Err(status_error(&answer, &format!("{verb} {path}")));
        }
        xml::parse_multistatus(&answer.text(), verb)
    }

    fn home(&self, kind: PimKind) -> Option<&str> {
        match kind {
            PimKind::Contacts => self.addressbook_home.as_deref(),
            _ => self.calendar_home.as_deref(),
        }
    }

    pub(crate) fn query_fails(&self, kind: PimKind) -> bool {
        self.query_fails[kind_index(kind)].load(Ordering::Relaxed)
    }

    pub(crate) fn mark_query_fails(&self, kind: PimKind) {
        self.query_fails[kind_index(kind)].store(true, Ordering::Relaxed);
    }

    fn remember(&self, c: &Collection) {
        if let Ok(mut k) = self.kinds.lock() {
            k.insert(c.id.as_str().to_owned(), c.kind);
        }
    }

    /// The kind of a collection, asking the server when it was not listed before.
    pub(crate) async fn kind_of(&self, id: &CollectionId) -> Result<PimKind> {
        if let Some(k) = self
            .kinds
            .lock()
            .ok()
            .and_then(|k| k.get(id.as_str()).copied())
        {
            return Ok(k);
        }
        let ms = self
            .multistatus(
                "PROPFIND",
                id.as_str(),
                "0",
                xml::propfind(xml::COLLECTION_PROPS),
            )
            .await?;
        let props = ms.first_props();
        for kind in PimKind::ALL {
            if props.is_collection_of(kind) {
                if let Ok(mut k) = self.kinds.lock() {
                    k.insert(id.as_str().to_owned(), kind);
                }
                return Ok(kind);
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!("{id} is neither an address book nor a calendar of events"),
        )
        .with_provider(PROVIDER))
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        let Some(home) = self.home(kind) else {
            return Ok(Vec::new());
        };
        let ms = self
            .multistatus("PROPFIND", home, "1", xml::propfind(xml::COLLECTION_PROPS))
            .await?;
        let mut out = Vec::new();
        for r in ms.responses {
            if same_path(&r.href, home) || !r.props.is_collection_of(kind) {
                continue;
            }
            let mut path = href_path(&r.href).to_owned();
            if !path.ends_with('/') {
                path.push('/');
            }
            let name = r
                .props
                .displayname
                .clone()
                .unwrap_or_else(|| last_segment(&path));
            let color = r.props.color.as_ref().map(|c| c.chars().take(7).collect());
            let c = Collection::new(CollectionId::new(path), kind, name)
                .with_description(r.props.description.clone())
                .with_color(color);
            self.remember(&c);
            out.push(c);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        let kind = like.kind;
        if let Some(c) = self
            .list_collections(kind)
            .await?
            .into_iter()
            .find(|c| c.name == like.name)
        {
            return Ok(c);
        }
        let Some(home) = self.home(kind) else {
            return Err(
                Error::unsupported(format!("this account holds no {kind}")).with_provider(PROVIDER)
            );
        };
        let path = format!(
            "{}/{}/",
            home.trim_end_matches('/'),
            collection_segment(&like.name, kind)
        );
        let verb = match kind {
            PimKind::Contacts => "MKCOL",
            _ => "MKCALENDAR",
        };
        let body = xml::make_collection(
            kind,
            &like.name,
            like.description.as_deref(),
            like.color.as_deref(),
        );
        let answer = self.xml_request(verb, &path, "0", body).await?;
        // 405: it exists already — an earlier create whose answer was lost.
        if !answer.status.is_success() && answer.status != StatusCode::METHOD_NOT_ALLOWED {
            return Err(status_error(&answer, &format!("{verb} {path}")));
        }
        let c = Collection::new(CollectionId::new(path), kind, like.name.clone())
            .with_description(like.description.clone())
            .with_color(like.color.clone());
        if answer.status == StatusCode::METHOD_NOT_ALLOWED && self.kind_of(&c.id).await? != kind {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "{} exists and is not an address book or calendar of {kind}",
                    c.id
                ),
            )
            .with_provider(PROVIDER));
        }
        self.remember(&c);
        Ok(c)
    }
}

/// Finds the principal and home sets from `base`, and whether the server schedules.
pub(crate) async fn discover(
    http: Http,
    base: Url,
    account: String,
    calendar_home: Option<String>,
    addressbook_home: Option<String>,
    limits: Limits,
) -> Result<DavStore> {
    let mut inner = Inner {
        http,
        info: ProviderInfo::new(SCHEME, account, Capabilities::default()),
        base: base.clone(),
        calendar_home,
        addressbook_home,
        schedules: false,
        limits,
        kinds: Mutex::new(HashMap::new()),
        query_fails: [AtomicBool::new(false), AtomicBool::new(false)],
    };
    if inner.calendar_home.is_none() || inner.addressbook_home.is_none() {
        let principal = find_principal(&inner).await?;
        let home_props = xml::propfind(&["c:calendar-home-set", "a:addressbook-home-set"]);
        let ms = inner
            .multistatus("PROPFIND", &principal, "0", home_props)
            .await?;
        let props = ms.first_props();
        let norm = |h: String| {
            let mut p = href_path(&h).to_owned();
            if !p.ends_with('/') {
                p.push('/');
            }
            p
        };
        if inner.calendar_home.is_none() {
            inner.calendar_home = props.calendar_home.map(norm);
        }
        if inner.addressbook_home.is_none() {
            inner.addressbook_home = props.addressbook_home.map(norm);
        }
    }
    if inner.calendar_home.is_none() && inner.addressbook_home.is_none() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("{base} names no calendar or address book home set"),
        )
        .with_provider(PROVIDER));
    }
    if let Some(home) = inner.calendar_home.clone() {
        inner.schedules = schedules(&inner, &home).await?;
    }
    Ok(DavStore {
        inner: Arc::new(inner),
    })
}

/// The principal: `current-user-principal` of the URL given, else of the well-known
/// URLs (RFC 6764 §5), following their redirect on the same origin.
async fn find_principal(inner: &Inner) -> Result<String> {
    let body = || xml::propfind(&["d:current-user-principal"]);
    let start = inner.base.path().to_owned();
    let answer = inner.xml_request("PROPFIND", &start, "0", body()).await?;
    if answer.status == StatusCode::UNAUTHORIZED {
        return Err(status_error(&answer, "PROPFIND current-user-principal"));
    }
    if answer.status == StatusCode::MULTI_STATUS {
        let ms = xml::parse_multistatus(&answer.text(), "PROPFIND")?;
        if let Some(p) = ms.responses.into_iter().find_map(|r| r.props.principal) {
            return Ok(href_path(&p).to_owned());
        }
    }
    for well_known in ["/.well-known/caldav", "/.well-known/carddav"] {
        let mut path = well_known.to_owned();
        for _ in 0..5 {
            let answer = inner.xml_request("PROPFIND", &path, "0", body()).await?;
            if answer.status.is_redirection() {
                let Some(loc) = answer
                    .headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                else {
                    break;
                };
                let target = inner.url(&path)?.join(loc).map_err(|e| {
                    Error::new(ErrorKind::Unexpected, format!("bad redirect {loc:?}: {e}"))
                })?;
                if target.origin() != inner.base.origin() {
                    // Credentials go only where they were given.
                    break;
                }
                path = target.path().to_owned();
                continue;
            }
            if answer.status == StatusCode::MULTI_STATUS {
                let ms = xml::parse_multistatus(&answer.text(), "PROPFIND")?;
                if let Some(p) = ms.responses.into_iter().find_map(|r| r.props.principal) {
                    return Ok(href_path(&p).to_owned());
                }
            }
            break;
        }
    }
    // No principal: the URL given is taken as the home of both kinds.
    Ok(start)
}

/// Whether the server schedules on its own: `calendar-auto-schedule` (RFC 6638 §2) in the
/// `DAV` header of the calendar home (some servers spell it `calendar-auto-scheduling`).
async fn schedules(inner: &Inner, home: &str) -> Result<bool> {
    let what = format!("OPTIONS {home}");
    let answer = inner
        .http
        .send(&Request {
            method: Method::OPTIONS,
            url: inner.url(home)?,
            headers: Vec::new(),
            body: None,
            what: &what,
        })
        .await?;
    Ok(answer
        .headers
        .get_all(HeaderName::from_static("dav"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().starts_with("calendar-auto-schedul")))
}

impl DavStore {
    /// The calendar home set in use, when the account has one.
    pub fn calendar_home(&self) -> Option<&str> {
        self.inner.calendar_home.as_deref()
    }

    /// The address book home set in use, when the account has one.
    pub fn addressbook_home(&self) -> Option<&str> {
        self.inner.addressbook_home.as_deref()
    }

    /// Whether the server sends invitations on its own (RFC 6638 scheduling).
    pub fn schedules(&self) -> bool {
        self.inner.schedules
    }
}

#[async_trait]
impl PimProvider for DavStore {
    fn info(&self) -> &ProviderInfo {
        &self.inner.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        PimCapabilities {
            contacts: self.inner.addressbook_home.is_some(),
            events: self.inner.calendar_home.is_some(),
            list_since: true,
            list_removals: true,
            create_collections: true,
            write: true,
            update: true,
            delete: true,
            keeps_uid: true,
            find_by_uid: true,
            conditional_writes: true,
            keeps_unknown_properties: true,
            keeps_attachment_references: true,
            keeps_alarms: true,
            keeps_timezone_definitions: true,
            notifications: if self.inner.schedules {
                Notifications::Suppressible
            } else {
                Notifications::Never
            },
            write_batch_max: self.inner.limits.batch,
            ..PimCapabilities::default()
        }
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        self.inner.list_collections(kind).await
    }
}

#[async_trait]
impl PimSource for DavStore {
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        Listing::new(Arc::clone(&self.inner), collection.clone(), since)
            .into_stream()
            .boxed()
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        let inner = Arc::clone(&self.inner);
        let collection = collection.clone();
        let batch = inner.limits.batch;
        let concurrency = inner.limits.concurrency;
        let chunks: Vec<Vec<ItemId>> = ids.chunks(batch).map(<[ItemId]>::to_vec).collect();
        stream::iter(chunks)
            .map(move |chunk| {
                let inner = Arc::clone(&inner);
                let collection = collection.clone();
                async move { inner.fetch_chunk(&collection, chunk).await }
            })
            .buffered(concurrency)
            .flat_map(stream::iter)
            .boxed()
    }
}

#[async_trait]
impl PimDestination for DavStore {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        self.inner.ensure_collection(like).await
    }

    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        let kind = self.inner.kind_of(collection).await?;
        let inner = &self.inner;
        let options = *options;
        Ok(stream::iter(writes)
            .map(|w| inner.put(collection, kind, w, options))
            .buffered(inner.limits.concurrency)
            .collect()
            .await)
    }

    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let kind = self.inner.kind_of(collection).await?;
        self.inner.find_by_uid(collection, kind, uids).await
    }

    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        let inner = &self.inner;
        Ok(stream::iter(ids.iter().cloned())
            .map(|id| async move { inner.delete(collection, &id).await })
            .buffered(inner.limits.concurrency)
            .collect()
            .await)
    }
}

/// A header pair.
pub(crate) fn header(name: HeaderName, value: &str) -> Result<(HeaderName, HeaderValue)> {
    HeaderValue::try_from(value)
        .map(|v| (name, v))
        .map_err(|_| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{value:?} cannot go in a header"),
            )
        })
}
