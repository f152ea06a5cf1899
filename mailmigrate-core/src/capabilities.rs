//! What a provider can do, declared up front so the engine plans before any I/O.

/// What a provider supports. Build it with struct-update syntax from
/// [`Capabilities::default`] (everything off).
///
/// The engine reads these while planning and fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) before touching any data when a
/// requested feature is impossible; it never branches on a provider's name.
///
/// # Examples
/// ```
/// use mailmigrate_core::Capabilities;
/// let caps = Capabilities {
///     list_folders: true,
///     fetch: true,
///     append: true,
///     append_with_flags: true,
///     byte_exact: true,
///     ..Capabilities::default()
/// };
/// assert!(!caps.list_since);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each flag is an independent capability"
)]
pub struct Capabilities {
    /// Can list folders.
    pub list_folders: bool,
    /// Can list only what changed since a [`Checkpoint`](crate::Checkpoint) (CONDSTORE,
    /// Graph delta, Gmail history). Without it every pass lists everything and the engine
    /// diffs against its ledger.
    pub list_since: bool,
    /// Reports removals in change listings.
    pub list_removals: bool,
    /// Messages carry labels and folders are views of labels, with each message stored once
    /// in the folder whose role is [`All`](crate::SpecialUse::All) (Gmail). The engine then
    /// copies that folder, with labels, instead of one copy per label folder.
    pub list_labels: bool,
    /// Can fetch raw message bytes.
    pub fetch: bool,
    /// [`fetch`](crate::Source::fetch) yields each message's current flags and keywords
    /// in its metadata (IMAP's `FETCH FLAGS`, a Maildir file name). Without it (Graph's
    /// `$value` is the MIME alone) a reader takes flags from a listing.
    pub fetch_flags: bool,
    /// Can append messages.
    pub append: bool,
    /// Keeps flags given at append.
    pub append_with_flags: bool,
    /// Keeps keywords (non-system flags) given at append.
    pub append_with_keywords: bool,
    /// Keeps the internal date given at append.
    pub append_with_internal_date: bool,
    /// One message can carry several labels (Gmail).
    pub append_with_labels: bool,
    /// Append reports the destination id (IMAP UIDPLUS, an API id).
    pub append_returns_id: bool,
    /// Can change a message's flags after append.
    pub update_flags: bool,
    /// Can delete messages (used only when the caller asks to propagate deletions).
    pub delete: bool,
    /// Can look up an existing copy by Message-ID or content hash, which makes resume after
    /// an unknown-outcome write duplicate-free.
    pub find_existing: bool,
    /// `fetch(append(m))` returns the same bytes (after CRLF canonicalisation when
    /// `requires_crlf` is set).
    pub byte_exact: bool,
    /// The destination stores lines ending in CRLF only, as IMAP requires: bare LF is
    /// written as CRLF ([`canonical_crlf`](crate::headers::canonical_crlf)). The engine
    /// records and verification compares that canonical form.
    pub requires_crlf: bool,
    /// The destination stores each byte above 0x7F in a message's header section as `X`
    /// ([`replace_8bit_header_bytes`](crate::headers::replace_8bit_header_bytes); Cyrus IMAP
    /// with `munge8bit`, its default). A provider learns it by trying (the IMAP backend's
    /// fidelity probe). The engine writes that form itself, so the ledger, look-ups and
    /// verification see what the destination holds, and counts the messages it altered
    /// ([`Stats::header_bytes_replaced`](crate::engine::Stats::header_bytes_replaced)).
    pub replaces_8bit_header_bytes: bool,
    /// The largest message the destination accepts, in bytes.
    pub append_max_size: Option<u64>,
    /// The most messages worth sending in one append call (0 = no preference).
    pub append_batch_max: usize,
    /// The most ids worth asking for in one fetch call (0 = no preference).
    pub fetch_batch_max: usize,
    /// The most concurrent calls the provider tolerates (0 = no preference).
    pub max_concurrency: usize,
}

impl Capabilities {
    /// What this destination stores for `raw`: CRLF line ends where it
    /// [requires them](Self::requires_crlf), 8-bit header bytes as `X` where it
    /// [replaces them](Self::replaces_8bit_header_bytes), otherwise `raw` itself (not
    /// copied). The engine writes and records this form; verification hashes the source in
    /// it.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use mailmigrate_core::Capabilities;
    /// let caps = Capabilities { requires_crlf: true, replaces_8bit_header_bytes: true,
    ///     ..Capabilities::default() };
    /// let m = Bytes::from_static("Subject: é\n\né\n".as_bytes());
    /// assert_eq!(&caps.stored_form(&m)[..], "Subject: XX\r\n\r\né\r\n".as_bytes());
    /// assert_eq!(&Capabilities::default().stored_form(&m)[..], &m[..]);
    /// ```
    pub fn stored_form(&self, raw: &bytes::Bytes) -> bytes::Bytes {
        let crlf = if self.requires_crlf {
            crate::headers::canonical_crlf(raw)
        } else {
            raw.clone()
        };
        if self.replaces_8bit_header_bytes {
            crate::headers::replace_8bit_header_bytes(&crlf)
        } else {
            crlf
        }
    }
}

/// A provider's name, account label and capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The provider's scheme (`"imap"`, `"maildir"`, `"memory"`…).
    pub scheme: &'static str,
    /// A human label for the account (never a secret).
    pub account: String,
    /// What it supports.
    pub capabilities: Capabilities,
}

impl ProviderInfo {
    /// Builds the info.
    pub fn new(
        scheme: &'static str,
        account: impl Into<String>,
        capabilities: Capabilities,
    ) -> Self {
        Self {
            scheme,
            account: account.into(),
            capabilities,
        }
    }
}
