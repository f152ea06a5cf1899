//! The one error type shared by every crate in the workspace.
//!
//! What happened ([`ErrorKind`]) and whether repeating the call is safe ([`RetryStatus`]) are
//! separate facts: a server's "busy" and a quota's "slow down" have different kinds, and both
//! are temporary. Backends keep their own private error enums and map them into [`Error`] in
//! one place.

use std::fmt;
use std::time::Duration;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The provider cannot do this at all (see its [`Capabilities`](crate::Capabilities)).
    Unsupported,
    /// The configuration is invalid or incomplete.
    ConfigInvalid,
    /// Credentials were missing, wrong or expired.
    Unauthenticated,
    /// The account may not do this.
    PermissionDenied,
    /// The folder or item does not exist.
    NotFound,
    /// The folder or item exists already.
    AlreadyExists,
    /// The item changed at the destination since it was last written or read (a failed
    /// precondition such as HTTP 412 on `If-Match`): writing would overwrite someone's edit.
    Conflict,
    /// The provider asked us to slow down.
    RateLimited,
    /// A storage or daily quota is exhausted.
    QuotaExceeded,
    /// The message is larger than the destination accepts.
    MessageTooLarge,
    /// The item's content is malformed or refused as invalid.
    InvalidMessage,
    /// The service is unreachable or failing (network, 5xx, `BYE`).
    Unavailable,
    /// The durable state is unreadable or inconsistent.
    StateCorrupt,
    /// Anything else.
    Unexpected,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Unsupported => "unsupported",
            Self::ConfigInvalid => "invalid configuration",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission denied",
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate limited",
            Self::QuotaExceeded => "quota exceeded",
            Self::MessageTooLarge => "message too large",
            Self::InvalidMessage => "invalid message",
            Self::Unavailable => "unavailable",
            Self::StateCorrupt => "state corrupt",
            Self::Unexpected => "unexpected error",
        };
        f.write_str(s)
    }
}

/// Whether repeating the failed call is safe and useful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RetryStatus {
    /// Repeating it fails the same way.
    #[default]
    Permanent,
    /// Repeating it may succeed, optionally after the server's hint.
    Temporary {
        /// The server's retry-after hint, if it gave one.
        after: Option<Duration>,
    },
    /// It was temporary, but a retry layer already gave up on it.
    Exhausted,
    /// The request may have taken effect: the connection failed after the data was sent
    /// (a lost `APPEND` answer, a reset after the upload). Repeating the call could write a
    /// second copy, so no layer retries it; the engine keeps the write pending and settles
    /// it with [`Destination::find_existing`](crate::Destination::find_existing).
    OutcomeUnknown,
}

/// What the engine does with an item whose operation failed, decided by
/// [`Error::disposition`] from the error's kind, retry status and operation.
///
/// This is the whole policy, public so providers can see what their errors cause:
///
/// | disposition | when | the engine |
/// |---|---|---|
/// | [`Settle`](Self::Settle) | [`RetryStatus::OutcomeUnknown`] | keeps the ledger row pending, looks the item up at the destination at the end of the pass and on every later run; never writes it blindly again |
/// | [`Final`](Self::Final) | the item itself is refused: `InvalidMessage`, `MessageTooLarge`, `Unsupported`; or a `NotFound` while fetching (the item vanished from the source) | records the failure with its reason and lets the folder's checkpoint pass it; it is listed in every report until it succeeds |
/// | [`Retry`](Self::Retry) | anything else (a refusal that names no fault of the item, a folder that vanished, a throttle, an outage) | records the failure, holds the checkpoint, and writes the item again on the next pass |
///
/// # Examples
/// ```
/// use mailmigrate_core::{Disposition, Error, ErrorKind, Operation};
///
/// let lost = Error::new(ErrorKind::Unavailable, "connection reset after the literal")
///     .with_operation(Operation::Append)
///     .outcome_unknown();
/// assert_eq!(lost.disposition(), Disposition::Settle);
///
/// let refused = Error::new(ErrorKind::InvalidMessage, "bare newlines").with_operation(Operation::Append);
/// assert_eq!(refused.disposition(), Disposition::Final);
///
/// // A folder that vanished during the pass is not the message's fault.
/// let gone = Error::new(ErrorKind::NotFound, "[TRYCREATE]").with_operation(Operation::Append);
/// assert_eq!(gone.disposition(), Disposition::Retry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// The write may have happened: keep it pending and look it up.
    Settle,
    /// The item cannot travel as it is: report it, move on.
    Final,
    /// Nothing was written and a later pass may succeed: report it, try again next pass.
    Retry,
}

impl ErrorKind {
    /// Whether a failure of this kind, reported while fetching (`fetch`) or writing
    /// (otherwise), is the item's own for good. See [`Disposition`].
    pub fn is_final_for_item(self, fetching: bool) -> bool {
        match self {
            Self::InvalidMessage | Self::MessageTooLarge | Self::Unsupported => true,
            Self::NotFound => fetching,
            _ => false,
        }
    }
}

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Operation {
    /// Not attributed to an operation.
    #[default]
    Unknown,
    /// Building a provider from its configuration.
    Build,
    /// Connecting or authenticating.
    Connect,
    /// Listing folders.
    ListFolders,
    /// Listing messages or changes.
    ListChanges,
    /// Fetching message bodies.
    Fetch,
    /// Creating or resolving a folder.
    EnsureFolder,
    /// Appending messages.
    Append,
    /// Updating flags.
    UpdateFlags,
    /// Looking up an existing copy.
    FindExisting,
    /// Deleting messages.
    Delete,
    /// Reading or writing durable state.
    State,
    /// Parsing message headers.
    Parse,
    /// Planning a migration.
    Plan,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Unknown => "unknown",
            Self::Build => "build",
            Self::Connect => "connect",
            Self::ListFolders => "list_folders",
            Self::ListChanges => "list_changes",
            Self::Fetch => "fetch",
            Self::EnsureFolder => "ensure_folder",
            Self::Append => "append",
            Self::UpdateFlags => "update_flags",
            Self::FindExisting => "find_existing",
            Self::Delete => "delete",
            Self::State => "state",
            Self::Parse => "parse",
            Self::Plan => "plan",
        };
        f.write_str(s)
    }
}

/// The error every mailmigrate operation returns.
///
/// It carries a kind, a retry status, the provider and operation, context pairs naming the
/// folder and item (never content or credentials), a message and an optional source.
///
/// # Examples
/// ```
/// use mailmigrate_core::{Error, ErrorKind};
/// use std::time::Duration;
///
/// let err = Error::new(ErrorKind::RateLimited, "slow down")
///     .with_provider("graph")
///     .with_context("folder", "Inbox")
///     .temporary_after(Duration::from_secs(3));
/// assert!(err.is_temporary());
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
/// assert_eq!(err.to_string(), "rate limited in graph.unknown (folder: Inbox): slow down");
/// ```
pub struct Error {
    kind: ErrorKind,
    retry: RetryStatus,
    provider: &'static str,
    operation: Operation,
    context: Vec<(&'static str, String)>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Creates a permanent error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            retry: RetryStatus::Permanent,
            provider: "core",
            operation: Operation::Unknown,
            context: Vec::new(),
            message: message.into(),
            source: None,
        }
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error.
    pub fn unsupported(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, what)
    }

    /// Names the provider that failed (`"imap"`, `"maildir"`, …).
    #[must_use]
    pub fn with_provider(mut self, provider: &'static str) -> Self {
        self.provider = provider;
        self
    }

    /// Fills in the provider and the operation where the error does not name them yet
    /// (`"core"` and [`Operation::Unknown`]); names it set are kept.
    ///
    /// The engine applies this to every error out of a provider call, so a provider need
    /// not stamp each error with its scheme and operation.
    ///
    /// ```
    /// use mailmigrate_core::{Error, ErrorKind, Operation};
    ///
    /// let e = Error::new(ErrorKind::NotFound, "gone").attributed("imap", Operation::Fetch);
    /// assert_eq!((e.provider(), e.operation()), ("imap", Operation::Fetch));
    /// let named = Error::new(ErrorKind::NotFound, "gone").with_operation(Operation::Delete);
    /// assert_eq!(named.attributed("imap", Operation::Fetch).operation(), Operation::Delete);
    /// ```
    #[must_use]
    pub fn attributed(mut self, provider: &'static str, operation: Operation) -> Self {
        if self.provider == "core" {
            self.provider = provider;
        }
        if self.operation == Operation::Unknown {
            self.operation = operation;
        }
        self
    }

    /// Names the operation that failed.
    #[must_use]
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// Adds a context pair such as `("folder", "INBOX")`. Never pass content or secrets.
    #[must_use]
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Names the folder and item, unless the error already does.
    #[must_use]
    pub fn with_item(mut self, folder: impl fmt::Display, item: impl fmt::Display) -> Self {
        if self.context("folder").is_none() {
            self = self.with_context("folder", folder);
        }
        if self.context("message").is_none() {
            self = self.with_context("message", item);
        }
        self
    }

    /// A copy of this error for one item of a batch that failed as a whole: kind, message,
    /// provider, operation, retry status and context, naming `folder` and `item` (errors
    /// are not `Clone`: the source error is not copied).
    ///
    /// ```
    /// use mailmigrate_core::{Error, ErrorKind};
    /// let batch = Error::new(ErrorKind::Unavailable, "reset").temporary();
    /// let one = batch.copy_for_item("INBOX", "m1");
    /// assert!(one.is_temporary());
    /// assert_eq!(one.context("message"), Some("m1"));
    /// ```
    #[must_use]
    pub fn copy_for_item(&self, folder: impl fmt::Display, item: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            retry: self.retry,
            provider: self.provider,
            operation: self.operation,
            context: self.context.clone(),
            message: self.message.clone(),
            source: None,
        }
        .with_item(folder, item)
    }

    /// Attaches the underlying error, reachable through [`std::error::Error::source`].
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Marks the error temporary: repeating the same call is safe.
    #[must_use]
    pub fn temporary(mut self) -> Self {
        self.retry = RetryStatus::Temporary { after: None };
        self
    }

    /// Marks the error temporary with the server's retry-after hint.
    #[must_use]
    pub fn temporary_after(mut self, after: Duration) -> Self {
        self.retry = RetryStatus::Temporary { after: Some(after) };
        self
    }

    /// Marks the error as one whose effect is unknown: the request may have been carried out
    /// (see [`RetryStatus::OutcomeUnknown`]). Backends must use it for every write whose
    /// answer was lost after the data left.
    #[must_use]
    pub fn outcome_unknown(mut self) -> Self {
        self.retry = RetryStatus::OutcomeUnknown;
        self
    }

    /// Whether the failed request may have taken effect.
    pub fn is_outcome_unknown(&self) -> bool {
        self.retry == RetryStatus::OutcomeUnknown
    }

    /// What the engine does with the item this error is about. See [`Disposition`].
    pub fn disposition(&self) -> Disposition {
        if self.is_outcome_unknown() {
            Disposition::Settle
        } else if self
            .kind
            .is_final_for_item(self.operation == Operation::Fetch)
        {
            Disposition::Final
        } else {
            Disposition::Retry
        }
    }

    /// Marks a temporary error as given up on by a retry layer.
    #[must_use]
    pub fn exhausted(mut self) -> Self {
        if matches!(self.retry, RetryStatus::Temporary { .. }) {
            self.retry = RetryStatus::Exhausted;
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether repeating the call is safe and may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self.retry, RetryStatus::Temporary { .. })
    }

    /// The retry status.
    pub fn retry_status(&self) -> RetryStatus {
        self.retry
    }

    /// The server's retry-after hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry {
            RetryStatus::Temporary { after } => after,
            _ => None,
        }
    }

    /// The provider that failed.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The value of a context key, if set.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The human-readable message, without kind or context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A copy of everything but the source (which need not be `Clone`), for handing one
    /// failure to several callers.
    pub(crate) fn detached(&self) -> Self {
        Self {
            kind: self.kind,
            retry: self.retry,
            provider: self.provider,
            operation: self.operation,
            context: self.context.clone(),
            message: self.message.clone(),
            source: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}.{}", self.kind, self.provider, self.operation)?;
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Debug prints the display form, the retry status and the source chain.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        match self.retry {
            RetryStatus::Permanent => {}
            RetryStatus::Temporary { after } => write!(f, " [temporary, after {after:?}]")?,
            RetryStatus::Exhausted => f.write_str(" [retries exhausted]")?,
            RetryStatus::OutcomeUnknown => f.write_str(" [outcome unknown]")?,
        }
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            write!(f, "\n  caused by: {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied => ErrorKind::PermissionDenied,
            Io::AlreadyExists => ErrorKind::AlreadyExists,
            Io::InvalidData | Io::InvalidInput | Io::UnexpectedEof => ErrorKind::InvalidMessage,
            Io::StorageFull | Io::QuotaExceeded => ErrorKind::QuotaExceeded,
            _ => ErrorKind::Unexpected,
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_provider_operation_and_context() {
        let e = Error::new(ErrorKind::InvalidMessage, "no header/body separator")
            .with_provider("maildir")
            .with_operation(Operation::Fetch)
            .with_context("folder", "Archive/2020")
            .with_context("message", "42");
        assert_eq!(
            e.to_string(),
            "invalid message in maildir.fetch (folder: Archive/2020, message: 42): no header/body separator"
        );
        assert_eq!(e.context("message"), Some("42"));
        assert!(!e.is_temporary());
    }

    #[test]
    fn exhausted_is_no_longer_temporary() {
        let e = Error::new(ErrorKind::Unavailable, "down")
            .temporary()
            .exhausted();
        assert!(!e.is_temporary());
        assert_eq!(e.retry_status(), RetryStatus::Exhausted);
        // A permanent error stays permanent.
        let p = Error::new(ErrorKind::NotFound, "x").exhausted();
        assert_eq!(p.retry_status(), RetryStatus::Permanent);
    }

    #[test]
    fn debug_shows_source_chain() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::from(io).with_context("path", "x");
        let dbg = format!("{e:?}");
        assert!(dbg.contains("caused by: disk on fire"), "{dbg}");
    }
}
