//! Messages: ids, flags, metadata, raw bytes and content hashes.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::FolderId;

/// A provider's stable id for a message within a folder: IMAP `"{uidvalidity}:{uid}"`,
/// a Gmail message id, a Graph immutable id, a Maildir unique name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// Wraps a provider's message id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({:?})", self.0)
    }
}

/// A message flag: an IMAP system flag or a keyword.
///
/// # Examples
/// ```
/// use mailmigrate_core::Flag;
/// assert_eq!(Flag::parse("\\SEEN"), Flag::Seen);
/// assert_eq!(Flag::parse("$Forwarded"), Flag::Keyword("$Forwarded".into()));
/// assert_eq!(Flag::Answered.to_string(), "\\Answered");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Flag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted` (marked for expunge).
    Deleted,
    /// `\Draft`.
    Draft,
    /// A keyword such as `$Forwarded`, `$Junk` or a user tag.
    Keyword(String),
}

impl Flag {
    /// A label carried as a flag (for a destination without labels): Gmail's system labels
    /// take their IMAP meaning (`\\Starred` is `\\Flagged`, `\\Draft` is `\\Draft`, other
    /// system labels such as `\\Important` become `$Important`), other labels become keywords
    /// with the characters IMAP forbids in an atom replaced by `_`. An IMAP keyword is
    /// ASCII, so a label with other characters is written in modified UTF-7 (the form of
    /// IMAP folder names, [`utf7`](crate::utf7)): `Привет` becomes `&BB8EQAQ4BDIENQRC-`,
    /// which [`utf7::decode`](crate::utf7::decode) reads back, instead of a keyword the
    /// destination would refuse.
    ///
    /// ```
    /// use mailmigrate_core::Flag;
    /// assert_eq!(Flag::from_label("\\Starred"), Flag::Flagged);
    /// assert_eq!(Flag::from_label("\\Important"), Flag::Keyword("$Important".into()));
    /// assert_eq!(Flag::from_label("Work (old)"), Flag::Keyword("Work__old_".into()));
    /// assert_eq!(Flag::from_label("R&D/Q1"), Flag::Keyword("R&D/Q1".into()));
    /// assert_eq!(
    ///     Flag::from_label("Projekte/Übersicht"),
    ///     Flag::Keyword("Projekte/&ANw-bersicht".into())
    /// );
    /// ```
    pub fn from_label(label: &str) -> Flag {
        match label {
            "\\Starred" => return Flag::Flagged,
            "\\Draft" => return Flag::Draft,
            _ => {}
        }
        let name = label
            .strip_prefix('\\')
            .map_or_else(|| label.to_owned(), |l| format!("${l}"));
        let keyword: String = name
            .chars()
            .map(|c| {
                if c.is_control() || c.is_whitespace() || "(){%*\"\\]".contains(c) {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if keyword.is_ascii() {
            Flag::Keyword(keyword)
        } else {
            Flag::Keyword(crate::utf7::encode(&keyword))
        }
    }

    /// Parses an IMAP flag; system flags case-insensitively, anything else as a keyword.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "\\seen" => Self::Seen,
            "\\answered" => Self::Answered,
            "\\flagged" => Self::Flagged,
            "\\deleted" => Self::Deleted,
            "\\draft" => Self::Draft,
            _ => Self::Keyword(s.to_owned()),
        }
    }

    /// Whether this is a keyword rather than a system flag.
    pub fn is_keyword(&self) -> bool {
        matches!(self, Self::Keyword(_))
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Seen => "\\Seen",
            Self::Answered => "\\Answered",
            Self::Flagged => "\\Flagged",
            Self::Deleted => "\\Deleted",
            Self::Draft => "\\Draft",
            Self::Keyword(k) => k,
        })
    }
}

/// A set of flags, ordered so that equal sets compare and hash equal.
pub type Flags = BTreeSet<Flag>;

/// A change of a message's flags: what to add and what to remove, leaving every other flag
/// as the destination has it.
///
/// The engine syncs flags three-way: it compares the source's flags with those it last
/// wrote (kept in the ledger) and sends only the difference, so a flag a user set or cleared
/// in the new system during coexistence is never overwritten. When both sides changed the
/// same flag, the source's change wins for that flag alone.
///
/// # Examples
/// ```
/// use mailmigrate_core::{Flag, FlagChange, Flags};
///
/// let last_synced: Flags = [Flag::Seen].into_iter().collect();
/// let source_now: Flags = [Flag::Seen, Flag::Flagged].into_iter().collect();
/// let change = FlagChange::between(&last_synced, &source_now);
/// assert_eq!(change.add, [Flag::Flagged].into_iter().collect());
/// assert!(change.remove.is_empty());
///
/// // The destination's own `$Todo` survives.
/// let at_dest: Flags = [Flag::Seen, Flag::Keyword("$Todo".into())].into_iter().collect();
/// let after = change.apply(&at_dest);
/// assert!(after.contains(&Flag::Flagged) && after.contains(&Flag::Keyword("$Todo".into())));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagChange {
    /// Flags to set.
    pub add: Flags,
    /// Flags to clear.
    pub remove: Flags,
}

impl FlagChange {
    /// The change that turns `before` into `after`.
    pub fn between(before: &Flags, after: &Flags) -> Self {
        Self {
            add: after.difference(before).cloned().collect(),
            remove: before.difference(after).cloned().collect(),
        }
    }

    /// A change that only adds `flags` (a copy found at the destination keeps its own).
    pub fn add(flags: Flags) -> Self {
        Self {
            add: flags,
            remove: Flags::new(),
        }
    }

    /// Whether the change does nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// `current` with the change applied.
    pub fn apply(&self, current: &Flags) -> Flags {
        current
            .iter()
            .filter(|f| !self.remove.contains(f))
            .chain(self.add.iter())
            .cloned()
            .collect()
    }
}

/// A 32-byte BLAKE3 hash of a message's raw bytes: the identity used for dedupe and
/// verification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes raw message bytes.
    ///
    /// ```
    /// use mailmigrate_core::ContentHash;
    /// let a = ContentHash::of(b"Subject: x\r\n\r\nbody");
    /// assert_eq!(a, ContentHash::of(b"Subject: x\r\n\r\nbody"));
    /// assert_eq!(a.to_hex().len(), 64);
    /// assert_eq!(ContentHash::from_hex(&a.to_hex()), Some(a));
    /// ```
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The hash as raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a hash from raw bytes (e.g. read back from the state store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Parses lower- or upper-case hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        blake3::Hash::from_hex(s).ok().map(|h| Self(*h.as_bytes()))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid content hash"))
    }
}

/// What a source knows about a message without fetching its body.
///
/// Build it with [`MessageMeta::new`] and the `with_*` setters.
///
/// ```
/// use mailmigrate_core::{Flag, FolderId, MessageId, MessageMeta};
/// let meta = MessageMeta::new(MessageId::new("7:42"), FolderId::new("INBOX"))
///     .with_flags([Flag::Seen].into_iter().collect())
///     .with_size(1024);
/// assert!(meta.flags.contains(&Flag::Seen));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageMeta {
    /// The provider's id for the message.
    pub id: MessageId,
    /// The folder it was listed in.
    pub folder: FolderId,
    /// System flags and keywords.
    pub flags: Flags,
    /// Labels beyond the home folder (Gmail labels, Graph categories).
    pub labels: BTreeSet<String>,
    /// When the message arrived (IMAP INTERNALDATE), with its offset.
    #[serde(with = "time::serde::rfc3339::option")]
    pub internal_date: Option<OffsetDateTime>,
    /// Size of the raw message in bytes, if known before fetching.
    pub size: Option<u64>,
    /// The `Message-ID` header without its angle brackets, as
    /// [`headers::message_id`](crate::headers::message_id) reads it, if the source knows it
    /// without fetching.
    pub message_id: Option<String>,
}

impl MessageMeta {
    /// Metadata with no flags, labels, date or size.
    pub fn new(id: MessageId, folder: FolderId) -> Self {
        Self {
            id,
            folder,
            flags: Flags::new(),
            labels: BTreeSet::new(),
            internal_date: None,
            size: None,
            message_id: None,
        }
    }

    /// Sets the flags.
    #[must_use]
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the labels.
    #[must_use]
    pub fn with_labels(mut self, labels: BTreeSet<String>) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the internal date.
    #[must_use]
    pub fn with_internal_date(mut self, date: Option<OffsetDateTime>) -> Self {
        self.internal_date = date;
        self
    }

    /// Sets the size in bytes.
    #[must_use]
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets the `Message-ID` header value.
    #[must_use]
    pub fn with_message_id(mut self, message_id: Option<String>) -> Self {
        self.message_id = message_id;
        self
    }
}

/// A whole message: its metadata and its raw RFC 5322 bytes, moved byte-exact.
///
/// Cloning is O(1): the bytes are shared, so a retry can resend them.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawMessage {
    /// Metadata; `meta.size` equals `bytes.len()` once fetched.
    pub meta: MessageMeta,
    /// The raw bytes, never re-serialised.
    pub bytes: Bytes,
}

impl RawMessage {
    /// Pairs metadata with bytes, setting `meta.size` from the bytes.
    pub fn new(mut meta: MessageMeta, bytes: Bytes) -> Self {
        meta.size = Some(bytes.len() as u64);
        Self { meta, bytes }
    }

    /// The content hash of the bytes.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of(&self.bytes)
    }
}

/// Debug shows metadata and length, never content.
impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("meta", &self.meta)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A source's opaque position in a folder's change history (IMAP UIDVALIDITY/UIDNEXT/
/// HIGHESTMODSEQ, a Graph deltaLink, a Gmail historyId). Stored by the engine, handed back
/// on the next pass.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(String);

impl Checkpoint {
    /// Wraps a provider's position.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The position as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Debug shows only the length: a delta link can carry a token.
impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checkpoint({} bytes)", self.0.len())
    }
}

/// One entry of a change listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The message is new, or its flags or labels changed, since the checkpoint.
    Upsert(MessageMeta),
    /// The message was removed from the folder since the checkpoint.
    Removed(MessageId),
    /// The checkpoint is no longer valid (e.g. IMAP UIDVALIDITY changed): every id listed
    /// before is void and what follows is a full listing.
    Reset,
    /// The last entry: the position to resume from next time.
    Checkpoint(Checkpoint),
}

/// The result of appending one message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The destination's id, when it reports one (IMAP APPENDUID, an API id).
    pub id: Option<MessageId>,
}

impl Appended {
    /// Builds the result.
    pub fn new(id: Option<MessageId>) -> Self {
        Self { id }
    }
}

/// What the engine knows about a message when asking a destination for an existing copy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupeKey {
    /// The `Message-ID` header, if the message has one.
    pub message_id: Option<String>,
    /// The content hash of the raw bytes.
    pub hash: ContentHash,
    /// The raw size in bytes, when known. A key rebuilt from the ledger alone (the source
    /// item is gone) may lack it; `find_existing` must then match on the hash without
    /// narrowing by size.
    pub size: Option<u64>,
}

impl DedupeKey {
    /// Builds a key. A `Message-ID` given with its angle brackets (`<id@host>`, as some
    /// APIs report it) is kept without them, the form
    /// [`headers::message_id`](crate::headers::message_id) reads from a message, so
    /// look-ups compare like with like.
    ///
    /// ```
    /// use mailmigrate_core::{ContentHash, DedupeKey};
    /// let key = DedupeKey::new(Some(" <a@b> ".into()), ContentHash::of(b"x"), None);
    /// assert_eq!(key.message_id.as_deref(), Some("a@b"));
    /// ```
    pub fn new(message_id: Option<String>, hash: ContentHash, size: Option<u64>) -> Self {
        let message_id = message_id.and_then(|m| crate::headers::bare_message_id(&m));
        Self {
            message_id,
            hash,
            size,
        }
    }

    /// The key for a raw message (parses its `Message-ID` header).
    pub fn of(msg: &RawMessage) -> Self {
        let message_id = msg
            .meta
            .message_id
            .clone()
            .or_else(|| crate::headers::message_id(&msg.bytes));
        Self::new(message_id, msg.content_hash(), Some(msg.bytes.len() as u64))
    }
}

/// A copy that [`Destination::find_existing`](crate::Destination::find_existing) found: its
/// id and, where the destination knows them from the same look-up, its flags and internal
/// date.
///
/// Byte-identical messages (the same mail filed twice in one folder) share one
/// [`DedupeKey`]; the flags and the date are what tell their copies apart, so each is given
/// back its own copy. A destination that cannot tell them leaves them `None`.
///
/// ```
/// use mailmigrate_core::{ExistingCopy, Flag, MessageId};
///
/// let copy = ExistingCopy::new(MessageId::new("42"))
///     .with_flags([Flag::Seen].into_iter().collect())
///     .with_internal_date(Some(time::macros::datetime!(2021-03-02 10:00:00 +01:00)));
/// assert!(copy.flags.as_ref().is_some_and(|f| f.contains(&Flag::Seen)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExistingCopy {
    /// The destination's id for the copy.
    pub id: MessageId,
    /// The copy's flags and keywords, when known.
    pub flags: Option<Flags>,
    /// The copy's internal date, when known.
    pub internal_date: Option<OffsetDateTime>,
}

impl ExistingCopy {
    /// A copy known by its id alone.
    pub fn new(id: MessageId) -> Self {
        Self {
            id,
            flags: None,
            internal_date: None,
        }
    }

    /// Sets the copy's flags.
    #[must_use]
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Sets the copy's internal date.
    #[must_use]
    pub fn with_internal_date(mut self, date: Option<OffsetDateTime>) -> Self {
        self.internal_date = date;
        self
    }
}

impl From<MessageId> for ExistingCopy {
    fn from(id: MessageId) -> Self {
        Self::new(id)
    }
}

/// A per-item outcome in a batch: the item's id and its result.
pub type ItemResult<T> = (MessageId, crate::Result<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_order_is_stable() {
        let a: Flags = [Flag::Seen, Flag::Keyword("x".into())]
            .into_iter()
            .collect();
        let b: Flags = [Flag::Keyword("x".into()), Flag::Seen]
            .into_iter()
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn raw_message_debug_hides_content() {
        let m = RawMessage::new(
            MessageMeta::new(MessageId::new("1"), FolderId::new("f")),
            Bytes::from_static(b"Subject: secret plans\r\n\r\n"),
        );
        let d = format!("{m:?}");
        assert!(!d.contains("secret"));
        assert_eq!(m.meta.size, Some(25));
    }

    #[test]
    fn checkpoint_debug_hides_value() {
        let c = Checkpoint::new("https://x/delta?token=abc");
        assert!(!format!("{c:?}").contains("token"));
    }

    #[test]
    fn meta_serde_round_trip() {
        let m = MessageMeta::new(MessageId::new("9:1"), FolderId::new("INBOX"))
            .with_flags(
                [Flag::Seen, Flag::Keyword("$Label1".into())]
                    .into_iter()
                    .collect(),
            )
            .with_internal_date(Some(time::macros::datetime!(2019-03-04 05:06:07 +02:00)))
            .with_size(10);
        let j = serde_json::to_string(&m).unwrap();
        let back: MessageMeta = serde_json::from_str(&j).unwrap();
        assert_eq!(back, m);
    }
}
