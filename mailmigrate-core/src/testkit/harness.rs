//! The [`Harness`] every conformance case runs against, and the helpers cases share.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::StreamExt;
use mail_parser::{MessageParser, MimeHeaders};

use crate::verify::parsed::{sender, text};

use crate::{
    Capabilities, Change, Checkpoint, Destination, Error, FolderId, FolderPath, MessageId,
    MessageMeta, RawMessage, Source,
};

/// What a case concluded when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every check passed.
    Passed,
    /// The case does not apply to this target; the reason names the missing capability.
    Skipped(String),
}

/// A case's result: an [`Outcome`], or a failure message naming what went wrong.
pub type CaseResult = Result<Outcome, String>;

/// A source and a destination over the same mailbox, and a fresh run id.
///
/// Cases append through [`dest`](Harness::dest) and read back through
/// [`source`](Harness::source), so both must see the same account: build it with
/// [`Harness::same`] for a backend that is both, or [`Harness::new`] for two handles on one
/// account. Folder ids returned by the destination must be valid for the source.
///
/// # Examples
/// ```
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::testkit::Harness;
///
/// let h = Harness::same(MemoryStore::new("demo"));
/// assert!(h.capabilities().append);
/// assert!(h.root().to_string().starts_with("mm-test-"));
/// ```
pub struct Harness {
    /// Reads the mailbox.
    pub source: Arc<dyn Source>,
    /// Writes the mailbox.
    pub dest: Arc<dyn Destination>,
    /// The random id naming this run's folders (`mm-test-<run_id>/`).
    pub run_id: String,
    folders: Mutex<Vec<FolderId>>,
    guards: Vec<Box<dyn Any + Send + Sync>>,
    renew: Option<Renew>,
    wire: Option<Wire>,
}

/// Deletes the folder at a path and creates it anew, empty (see [`Harness::with_renewal`]).
type Renew = Arc<dyn Fn(FolderPath) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Builds a destination that connects to the given address instead of its server's.
type Connect = Arc<
    dyn Fn(SocketAddr) -> BoxFuture<'static, Result<Arc<dyn Destination>, String>> + Send + Sync,
>;

/// How to reach the destination's server through a proxy (see [`Harness::with_wire`]).
#[derive(Clone)]
struct Wire {
    upstream: SocketAddr,
    connect: Connect,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("source", &self.source)
            .field("dest", &self.dest)
            .field("run_id", &self.run_id)
            .field("guards", &self.guards.len())
            .field("renewal", &self.renew.is_some())
            .field("wire", &self.wire.as_ref().map(|w| w.upstream))
            .finish_non_exhaustive()
    }
}

/// A folder's change listing, checked to end with exactly one checkpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Listing {
    /// The new or changed messages, in listing order.
    pub upserts: Vec<MessageMeta>,
    /// The removed messages.
    pub removed: Vec<MessageId>,
    /// Whether the source reported that the checkpoint was void.
    pub reset: bool,
    /// The position to resume from.
    pub checkpoint: Checkpoint,
}

impl Listing {
    /// The ids of the listed messages.
    pub fn ids(&self) -> BTreeSet<MessageId> {
        self.upserts.iter().map(|m| m.id.clone()).collect()
    }

    /// The metadata listed for `id`, if any.
    pub fn get(&self, id: &MessageId) -> Option<&MessageMeta> {
        self.upserts.iter().find(|m| &m.id == id)
    }
}

impl Harness {
    /// Uses one backend as both source and destination.
    pub fn same<S: Source + Destination>(store: S) -> Self {
        let store = Arc::new(store);
        let source: Arc<dyn Source> = Arc::<S>::clone(&store);
        Self::from_arcs(source, store)
    }

    /// Pairs a source and a destination that see the same mailbox.
    pub fn new(source: impl Source, dest: impl Destination) -> Self {
        Self::from_arcs(Arc::new(source), Arc::new(dest))
    }

    fn from_arcs(source: Arc<dyn Source>, dest: Arc<dyn Destination>) -> Self {
        Self {
            source,
            dest,
            run_id: format!("{:016x}", rand::random::<u64>()),
            folders: Mutex::new(Vec::new()),
            guards: Vec::new(),
            renew: None,
            wire: None,
        }
    }

    /// Gives the cases a way to delete a folder and create it anew at the same path, as a
    /// user of the mailbox would (IMAP `DELETE` then `CREATE`), so that they can check what
    /// a source lists since a checkpoint of the folder's earlier life. Without it those
    /// cases are skipped.
    ///
    /// `renew` gets the folder's path and returns once the new, empty folder exists.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::store::MemoryStore;
    /// use mailmigrate_core::testkit::Harness;
    /// use mailmigrate_core::FolderId;
    ///
    /// let store = MemoryStore::new("demo");
    /// let handle = store.clone(); // shares the mailbox
    /// let h = Harness::same(store).with_renewal(move |path| {
    ///     let handle = handle.clone();
    ///     Box::pin(async move {
    ///         let folder = FolderId::new(path.join("/"));
    ///         handle.remove_folder(&folder).map_err(|e| e.to_string())
    ///     })
    /// });
    /// assert!(h.can_renew());
    /// ```
    #[must_use]
    pub fn with_renewal(
        mut self,
        renew: impl Fn(FolderPath) -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    ) -> Self {
        self.renew = Some(Arc::new(renew));
        self
    }

    /// Gives the cases a way to reach the destination's server at `upstream` through a
    /// fault-injecting [`Proxy`](crate::testkit::proxy::Proxy): `connect` builds a new
    /// destination on the same account that connects to the address it is given instead.
    /// The wire cases lose replies on the real connection with it; without it they are
    /// skipped.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// # use mailmigrate_core::{store::MemoryStore, testkit::Harness, Destination};
    /// // Stands for a backend that connects to `addr` (a memory store connects nowhere).
    /// fn connect_my_backend(addr: std::net::SocketAddr) -> MemoryStore {
    ///     MemoryStore::new(format!("alice@{addr}"))
    /// }
    /// let upstream: std::net::SocketAddr = "127.0.0.1:1143".parse().unwrap();
    /// let h = Harness::same(connect_my_backend(upstream)).with_wire(upstream, |addr| {
    ///     Box::pin(async move {
    ///         Ok(Arc::new(connect_my_backend(addr)) as Arc<dyn Destination>)
    ///     })
    /// });
    /// assert_eq!(h.wire(), Some(upstream));
    /// ```
    #[must_use]
    pub fn with_wire(
        mut self,
        upstream: SocketAddr,
        connect: impl Fn(SocketAddr) -> BoxFuture<'static, Result<Arc<dyn Destination>, String>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.wire = Some(Wire {
            upstream,
            connect: Arc::new(connect),
        });
        self
    }

    /// Whether [`renew`](Self::renew) can be used.
    pub fn can_renew(&self) -> bool {
        self.renew.is_some()
    }

    /// Deletes the folder at `path` and creates it anew, empty; returns its id (which may
    /// differ from the old one) and marks it for cleanup.
    ///
    /// # Errors
    /// When the harness has no renewal, or renewing or ensuring the folder fails.
    pub async fn renew(&self, path: &FolderPath) -> Result<FolderId, String> {
        let renew = self
            .renew
            .as_ref()
            .ok_or("this harness cannot renew folders (Harness::with_renewal)")?;
        renew(path.clone())
            .await
            .map_err(|e| format!("renewing {path} failed: {e}"))?;
        let ensured = self
            .dest
            .ensure_folder(path, None)
            .await
            .map_err(|e| format!("ensure_folder({path}) after renewing it: {e}"))?;
        self.track(ensured.id.clone());
        Ok(ensured.id)
    }

    /// The address of the destination's server, when the harness can reach it through a
    /// proxy ([`with_wire`](Self::with_wire)).
    pub fn wire(&self) -> Option<SocketAddr> {
        self.wire.as_ref().map(|w| w.upstream)
    }

    /// A new destination on the same account that connects to `addr` (a proxy in front of
    /// [`wire`](Self::wire)).
    ///
    /// # Errors
    /// When the harness has no wire, or the destination cannot connect.
    pub async fn connect_to(&self, addr: SocketAddr) -> Result<Arc<dyn Destination>, String> {
        let wire = self
            .wire
            .as_ref()
            .ok_or("this harness has no wire (Harness::with_wire)")?;
        (wire.connect)(addr)
            .await
            .map_err(|e| format!("connecting the destination through {addr}: {e}"))
    }

    /// Keeps `guard` alive as long as the harness (a temporary directory, a server handle).
    #[must_use]
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// What the pair can do: listing and fetching from the source, writing from the
    /// destination, byte-exactness only if both are.
    pub fn capabilities(&self) -> Capabilities {
        let s = self.source.capabilities();
        let d = self.dest.capabilities();
        Capabilities {
            list_folders: s.list_folders && d.list_folders,
            list_since: s.list_since,
            list_removals: s.list_removals,
            fetch: s.fetch,
            byte_exact: s.byte_exact && d.byte_exact,
            fetch_batch_max: s.fetch_batch_max,
            ..d
        }
    }

    /// This run's root folder, `mm-test-<run_id>`.
    pub fn root(&self) -> FolderPath {
        FolderPath::new([format!("mm-test-{}", self.run_id)])
            .expect("a run id is a valid folder name")
    }

    /// The path `mm-test-<run_id>/<segments…>`.
    ///
    /// # Errors
    /// When a segment is not a valid folder name.
    pub fn path(&self, segments: &[&str]) -> Result<FolderPath, String> {
        let mut path = self.root();
        for s in segments {
            path = path.child(*s).map_err(|e| e.to_string())?;
        }
        Ok(path)
    }

    /// Creates the fresh folder `mm-test-<run_id>/<name>` and marks it for cleanup.
    ///
    /// # Errors
    /// When the destination cannot create it.
    pub async fn folder(&self, name: &str) -> Result<FolderId, String> {
        let path = self.path(&[name])?;
        let ensured = self
            .dest
            .ensure_folder(&path, None)
            .await
            .map_err(|e| format!("ensure_folder({path}): {e}"))?;
        self.track(ensured.id.clone());
        Ok(ensured.id)
    }

    /// Marks a folder for cleanup.
    pub fn track(&self, folder: FolderId) {
        let mut folders = self
            .folders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !folders.contains(&folder) {
            folders.push(folder);
        }
    }

    /// Appends a batch and returns each message's destination id or error, in input order.
    ///
    /// Without `append_returns_id` it finds the new ids by listing the folder before and
    /// after, and matches them to the inputs by content (fetching them when there are
    /// several).
    ///
    /// # Errors
    /// When the whole batch fails or the new messages cannot be matched to the inputs.
    pub async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<crate::Result<MessageId>>, String> {
        let returns_id = self.capabilities().append_returns_id;
        let before = if returns_id {
            BTreeSet::new()
        } else {
            self.list(folder, None).await?.ids()
        };
        let n = messages.len();
        let results = self
            .dest
            .append(folder, messages.clone())
            .await
            .map_err(|e| format!("append of {n} messages to {folder} failed as a whole: {e}"))?;
        if results.len() != n {
            return Err(format!(
                "append of {n} messages to {folder} returned {} results",
                results.len()
            ));
        }
        let mut out: Vec<crate::Result<MessageId>> = Vec::with_capacity(n);
        let mut unresolved = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(appended) => match appended.id {
                    Some(id) => out.push(Ok(id)),
                    None if returns_id => {
                        return Err(format!(
                            "append_returns_id is declared, but append of {} returned no id",
                            messages[i].meta.id
                        ))
                    }
                    None => {
                        unresolved.push(i);
                        out.push(Ok(MessageId::new("")));
                    }
                },
                Err(e) => out.push(Err(e)),
            }
        }
        if unresolved.is_empty() {
            return Ok(out);
        }
        let after = self.list(folder, None).await?.ids();
        let new: Vec<MessageId> = after.difference(&before).cloned().collect();
        if new.len() != unresolved.len() {
            return Err(format!(
                "{} messages were appended to {folder}, but {} new ids appeared in its listing",
                unresolved.len(),
                new.len()
            ));
        }
        if let ([i], [id]) = (unresolved.as_slice(), new.as_slice()) {
            out[*i] = Ok(id.clone());
            return Ok(out);
        }
        if !self.capabilities().fetch {
            return Err(format!(
                "{} new messages in {folder} cannot be told apart without append_returns_id \
                 or fetch",
                new.len()
            ));
        }
        let mut fetched = Vec::with_capacity(new.len());
        for id in new {
            let msg = self.fetch_one(folder, &id).await?;
            fetched.push((id, msg));
        }
        for i in unresolved {
            let pos = fetched
                .iter()
                .position(|(_, m)| self.same_content(&messages[i].bytes, &m.bytes).is_ok())
                .ok_or_else(|| {
                    format!(
                        "no message in {folder} matches appended {}",
                        messages[i].meta.id
                    )
                })?;
            out[i] = Ok(fetched.swap_remove(pos).0);
        }
        Ok(out)
    }

    /// Appends one message and returns its destination id.
    ///
    /// # Errors
    /// When the append fails or its id cannot be found.
    pub async fn append_one(
        &self,
        folder: &FolderId,
        msg: RawMessage,
    ) -> Result<MessageId, String> {
        let name = msg.meta.id.clone();
        let mut results = self.append(folder, vec![msg]).await?;
        results
            .pop()
            .expect("one result per message")
            .map_err(|e| format!("append of {name} to {folder} failed: {e}"))
    }

    /// Lists a folder's changes since `since`, checking the stream's shape: no errors, and
    /// exactly one checkpoint, last.
    ///
    /// # Errors
    /// When the stream fails or is malformed.
    pub async fn list(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> Result<Listing, String> {
        let mut stream = self.source.list_changes(folder, since);
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        let mut reset = false;
        let mut checkpoint = None;
        while let Some(item) = stream.next().await {
            let change = item.map_err(|e| format!("list_changes({folder}) failed: {e}"))?;
            if checkpoint.is_some() {
                return Err(format!(
                    "list_changes({folder}) yielded {change:?} after its checkpoint"
                ));
            }
            match change {
                Change::Upsert(meta) => upserts.push(meta),
                Change::Removed(id) => removed.push(id),
                Change::Reset => reset = true,
                Change::Checkpoint(cp) => checkpoint = Some(cp),
            }
        }
        let checkpoint = checkpoint
            .ok_or_else(|| format!("list_changes({folder}) ended without a checkpoint"))?;
        let mut seen = BTreeSet::new();
        if let Some(dup) = upserts.iter().find(|m| !seen.insert(&m.id)) {
            return Err(format!("list_changes({folder}) listed {} twice", dup.id));
        }
        Ok(Listing {
            upserts,
            removed,
            reset,
            checkpoint,
        })
    }

    /// Fetches one message.
    ///
    /// # Errors
    /// When the fetch stream yields anything but exactly that message.
    pub async fn fetch_one(&self, folder: &FolderId, id: &MessageId) -> Result<RawMessage, String> {
        let mut items: Vec<_> = self.source.fetch(folder, vec![id.clone()]).collect().await;
        match items.len() {
            1 => {}
            n => return Err(format!("fetch of {id} in {folder} yielded {n} entries")),
        }
        let (got, result) = items.pop().expect("one entry");
        if &got != id {
            return Err(format!("fetch of {id} in {folder} answered for {got}"));
        }
        result.map_err(|e| format!("fetch of {id} in {folder} failed: {e}"))
    }

    /// Checks that `actual` carries `expected`: byte for byte when the pair is byte-exact
    /// (in the destination's [stored form](crate::Capabilities::stored_form): CRLF, 8-bit
    /// header bytes), otherwise by parsed headers, text and attachments.
    ///
    /// # Errors
    /// A message naming the first difference (never the content itself).
    pub fn same_content(&self, expected: &[u8], actual: &[u8]) -> Result<(), String> {
        let caps = self.capabilities();
        if caps.byte_exact {
            let stored = caps.stored_form(&bytes::Bytes::copy_from_slice(expected));
            same_bytes(&stored, actual)
        } else {
            same_parsed(expected, actual)
        }
    }

    /// An id that names no message in `folder`: a deleted message's id where the
    /// destination can delete (so it is well-formed), otherwise a made-up one.
    ///
    /// # Errors
    /// When appending or deleting the placeholder message fails.
    pub async fn unknown_id(&self, folder: &FolderId) -> Result<MessageId, String> {
        if !self.capabilities().delete {
            return Ok(MessageId::new("mm-test-no-such-message"));
        }
        let msg = crate::testkit::fixtures::NO_MESSAGE_ID.message(folder);
        let id = self.append_one(folder, msg).await?;
        self.dest
            .delete(folder, std::slice::from_ref(&id))
            .await
            .map_err(|e| format!("delete of {id} in {folder} failed: {e}"))?;
        Ok(id)
    }

    /// Deletes every message in this run's folders, where the destination can delete.
    ///
    /// Folders stay: the traits have no folder deletion. Failures are reported on stderr
    /// and never fail the case.
    pub async fn cleanup(&self) {
        if !self.capabilities().delete {
            return;
        }
        let folders = self
            .folders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for folder in folders {
            let ids: Vec<MessageId> = match self.list(&folder, None).await {
                Ok(listing) => listing.ids().into_iter().collect(),
                Err(e) => {
                    eprintln!("cleanup of {folder} skipped: {e}");
                    continue;
                }
            };
            if ids.is_empty() {
                continue;
            }
            if let Err(e) = self.dest.delete(&folder, &ids).await {
                eprintln!("cleanup of {folder} failed: {e}");
            }
        }
    }
}

/// Checks that `result` is an error of `kind` and returns it.
pub(crate) fn expect_error<'a, T: fmt::Debug>(
    what: &str,
    result: &'a crate::Result<T>,
    kind: crate::ErrorKind,
) -> Result<&'a Error, String> {
    match result {
        Ok(v) => Err(format!(
            "{what}: expected error kind {kind:?}, got Ok({v:?})"
        )),
        Err(e) if e.kind() != kind => Err(format!("{what}: expected error kind {kind:?}, got {e}")),
        Err(e) => Ok(e),
    }
}

/// Byte-exact comparison, reporting lengths and the first differing offset.
pub(crate) fn same_bytes(expected: &[u8], actual: &[u8]) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    Err(format!(
        "bytes differ: expected {} bytes, got {}; first difference at offset {at}",
        expected.len(),
        actual.len()
    ))
}

/// Semantic comparison with mail-parser: Message-ID, subject, sender, date, text body
/// (line endings normalised) and attachments.
pub(crate) fn same_parsed(expected: &[u8], actual: &[u8]) -> Result<(), String> {
    let parser = MessageParser::new();
    let e = parser
        .parse(expected)
        .ok_or("the expected message does not parse")?;
    let a = parser
        .parse(actual)
        .ok_or("the stored message does not parse")?;
    let field = |name: &str, x: Option<String>, y: Option<String>| {
        if x == y {
            Ok(())
        } else {
            Err(format!("{name} differs: expected {x:?}, got {y:?}"))
        }
    };
    field(
        "Message-ID",
        e.message_id().map(str::to_owned),
        a.message_id().map(str::to_owned),
    )?;
    field(
        "Subject",
        e.subject().map(str::to_owned),
        a.subject().map(str::to_owned),
    )?;
    field("From", sender(&e), sender(&a))?;
    if let Some(date) = e.date().filter(|d| d.is_valid()) {
        field(
            "Date",
            Some(date.to_timestamp().to_string()),
            a.date().map(|d| d.to_timestamp().to_string()),
        )?;
    }
    field("text body", text(&e), text(&a))?;
    if e.attachment_count() != a.attachment_count() {
        return Err(format!(
            "attachment count differs: expected {}, got {}",
            e.attachment_count(),
            a.attachment_count()
        ));
    }
    for (i, (x, y)) in e.attachments().zip(a.attachments()).enumerate() {
        field(
            &format!("attachment {i} name"),
            x.attachment_name().map(str::to_owned),
            y.attachment_name().map(str::to_owned),
        )?;
        same_bytes(x.contents(), y.contents())
            .map_err(|d| format!("attachment {i} content differs: {d}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::testkit::fixtures;

    #[test]
    fn run_ids_are_fresh_and_valid_folder_names() {
        let a = Harness::same(MemoryStore::new("a"));
        let b = Harness::same(MemoryStore::new("b"));
        assert_ne!(a.run_id, b.run_id);
        assert_eq!(a.run_id.len(), 16);
        let p = a.path(&["Ärger", "2020"]).unwrap();
        assert_eq!(p.segments().len(), 3);
        assert_eq!(p.segments()[0], format!("mm-test-{}", a.run_id));
        assert!(a.path(&["bad\u{0}"]).is_err());
    }

    #[test]
    fn capabilities_take_reading_from_source_and_writing_from_dest() {
        let source = MemoryStore::with_capabilities(
            "s",
            Capabilities {
                list_since: true,
                fetch: true,
                byte_exact: true,
                ..Capabilities::default()
            },
        );
        let dest = MemoryStore::with_capabilities(
            "d",
            Capabilities {
                append: true,
                update_flags: true,
                byte_exact: false,
                ..Capabilities::default()
            },
        );
        let caps = Harness::new(source, dest).capabilities();
        assert!(caps.list_since && caps.fetch && caps.append && caps.update_flags);
        assert!(!caps.byte_exact, "byte-exact only when both sides are");
    }

    #[test]
    fn same_bytes_names_the_first_difference() {
        assert!(same_bytes(b"abc", b"abc").is_ok());
        let e = same_bytes(b"abcd", b"abXd").unwrap_err();
        assert!(e.contains("offset 2"), "{e}");
        let e = same_bytes(b"abc", b"ab").unwrap_err();
        assert!(e.contains("expected 3 bytes, got 2"), "{e}");
    }

    #[test]
    fn same_parsed_ignores_line_endings_but_not_bodies() {
        let crlf = fixtures::DUPLICATE_MESSAGE_ID_A.bytes;
        let lf: Vec<u8> = String::from_utf8_lossy(crlf)
            .replace("\r\n", "\n")
            .into_bytes();
        same_parsed(crlf, &lf).expect("line endings are not content");
        let other = fixtures::DUPLICATE_MESSAGE_ID_B.bytes;
        let e = same_parsed(crlf, other).unwrap_err();
        assert!(e.contains("Subject"), "{e}");
        for f in fixtures::ALL {
            same_parsed(f.bytes, f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        }
    }

    #[test]
    fn same_parsed_compares_attachments() {
        let original = fixtures::MULTIPART_ATTACHMENT.bytes;
        // Corrupt one base64 character of the attachment.
        let mut corrupted = original.to_vec();
        let at = corrupted.len() - 40;
        corrupted[at] = if corrupted[at] == b'A' { b'B' } else { b'A' };
        let e = same_parsed(original, &corrupted).unwrap_err();
        assert!(e.contains("attachment 0 content"), "{e}");
    }

    #[tokio::test]
    async fn append_locates_ids_without_append_returns_id() {
        let caps = Capabilities {
            append_returns_id: false,
            ..MemoryStore::capabilities()
        };
        let h = Harness::same(MemoryStore::with_capabilities("no-ids", caps));
        let folder = h.folder("locate").await.unwrap();
        let msgs = vec![
            fixtures::DUPLICATE_MESSAGE_ID_B.message(&folder),
            fixtures::DUPLICATE_MESSAGE_ID_A.message(&folder),
        ];
        let ids = h.append(&folder, msgs).await.unwrap();
        for (id, f) in ids.iter().zip([
            fixtures::DUPLICATE_MESSAGE_ID_B,
            fixtures::DUPLICATE_MESSAGE_ID_A,
        ]) {
            let id = id.as_ref().unwrap();
            let got = h.fetch_one(&folder, id).await.unwrap();
            assert_eq!(got.bytes, f.bytes);
        }
    }

    #[tokio::test]
    async fn cleanup_empties_tracked_folders_only() {
        let store = MemoryStore::new("cleanup");
        let h = Harness::same(store.clone());
        let tracked = h.folder("tracked").await.unwrap();
        let other = h
            .dest
            .ensure_folder(&h.path(&["untracked"]).unwrap(), None)
            .await
            .unwrap()
            .id;
        h.append_one(&tracked, fixtures::BARE_LF.message(&tracked))
            .await
            .unwrap();
        h.append_one(&other, fixtures::BARE_LF.message(&other))
            .await
            .unwrap();
        h.cleanup().await;
        assert!(store.messages(&tracked).unwrap().is_empty());
        assert_eq!(store.messages(&other).unwrap().len(), 1);
    }
}
