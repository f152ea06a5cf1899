//! IMAP failures and the one mapping into [`mailmigrate_core::Error`].
//!
//! Response codes follow RFC 3501, RFC 5530 (`[UNAVAILABLE]`, `[OVERQUOTA]`,
//! `[AUTHENTICATIONFAILED]`…) and RFC 4469 (`[TOOBIG]`). The server's human text is kept (it
//! names no secret: credentials are never echoed by a server), the request never is.

use std::fmt;
use std::time::Duration;

use mailmigrate_core::{Error, ErrorKind, Operation};

/// The provider name used in every error.
pub(crate) const PROVIDER: &str = "imap";

/// How a command completed, when it did not complete with `OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// `NO`: the server refused the command.
    No,
    /// `BAD`: the server could not parse or accept the command.
    Bad,
    /// `BYE`: the server is closing the connection.
    Bye,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::No => "NO",
            Self::Bad => "BAD",
            Self::Bye => "BYE",
        })
    }
}

/// Everything that can go wrong talking IMAP, before it becomes a core [`Error`].
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ImapError {
    /// The server answered `NO`, `BAD` or `BYE`, with an optional response code.
    #[error("server answered {status}{}: {text}", code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default())]
    Status {
        status: Status,
        code: Option<String>,
        text: String,
    },
    /// Reading or writing the connection failed.
    #[error("connection failed: {0}")]
    Io(String),
    /// The server did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// The server sent something this client cannot use.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// TLS could not be set up (certificate, handshake).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The configuration cannot work (missing host, plaintext without opt-in…).
    #[error("{0}")]
    Config(String),
    /// The token provider gave no token; its kind and retry status are kept.
    #[error("token provider failed: {message}")]
    Credentials {
        kind: ErrorKind,
        temporary: bool,
        message: String,
    },
}

impl ImapError {
    /// Builds a status error, taking the response code from `code` or, when the parser did
    /// not know it, from a leading `[CODE ...]` in the text.
    pub(crate) fn status(status: Status, code: Option<String>, text: Option<&str>) -> Self {
        let text = text.unwrap_or("").trim().to_owned();
        let (code, text) = match code {
            Some(c) => (Some(c), text),
            None => split_code(&text),
        };
        Self::Status { status, code, text }
    }

    /// Wraps an I/O error without its message when that message could quote server data
    /// (async-imap's parse errors print the whole unparsed buffer, which may be mail content).
    pub(crate) fn io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                Self::Closed
            }
            K::Other => Self::Protocol("the server sent a response that cannot be parsed".into()),
            k => Self::Io(k.to_string()),
        }
    }

    /// Whether the server refused the credentials (as opposed to failing otherwise).
    pub(crate) fn is_refused_credentials(&self) -> bool {
        self.code().as_deref() == Some("AUTHENTICATIONFAILED")
    }

    /// The response code, upper-case, if any.
    fn code(&self) -> Option<String> {
        match self {
            Self::Status { code: Some(c), .. } => Some(
                c.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
            ),
            _ => None,
        }
    }

    /// Maps this failure of `op` into the workspace error.
    ///
    /// For an append this is the mapping *after* the message left: a connection failure
    /// (lost answer, reset, timeout, `BYE`, an unparsable answer) leaves the outcome unknown
    /// ([`Error::outcome_unknown`]), so the engine settles the message with `find_existing`
    /// instead of writing it again. A tagged `NO`/`BAD` is an answer: nothing was stored.
    pub(crate) fn into_error(self, op: Operation) -> Error {
        let phase = if op == Operation::Append {
            Phase::Sent
        } else {
            Phase::Other
        };
        self.map_into(op, phase)
    }

    /// Maps the failure that cut off an append whose data had left: whatever it was, the
    /// message may be stored ([`Error::outcome_unknown`]).
    pub(crate) fn into_lost_error(self, op: Operation) -> Error {
        self.map_into(op, Phase::Lost)
    }

    /// Maps a failed `SELECT`/`EXAMINE` done on behalf of `op`: a bare `NO` means the
    /// folder does not exist, and nothing was written yet, so connection failures are
    /// temporary even for an append.
    pub(crate) fn into_select_error(self, op: Operation) -> Error {
        self.map_into(op, Phase::Selecting)
    }

    fn map_into(self, op: Operation, phase: Phase) -> Error {
        let (kind, retry) = match phase {
            Phase::Lost => (self.classify(op, Phase::Sent).0, Retry::Unknown),
            _ => self.classify(op, phase),
        };
        let mut message = self.to_string();
        if retry == Retry::Unknown {
            message.push_str(" (the append may have reached the server: outcome unknown)");
        }
        let err = Error::new(kind, message)
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_source(self);
        match retry {
            Retry::Permanent => err,
            Retry::Temporary => err.temporary(),
            Retry::Unknown => err.outcome_unknown(),
        }
    }

    /// The kind and retry status of this failure. The one table of the crate.
    fn classify(&self, op: Operation, phase: Phase) -> (ErrorKind, Retry) {
        let Self::Status { status, text, .. } = self else {
            return self.classify_transport(phase);
        };
        // A select never leaves an append half-done: the append rules do not apply.
        let append = op == Operation::Append && phase != Phase::Selecting;
        let code = self.code();
        let text = text.to_ascii_lowercase();
        if *status == Status::Bye {
            return (ErrorKind::Unavailable, Retry::after_loss(phase));
        }
        if let Some(c) = code.as_deref() {
            if let Some(mapped) = classify_code(c, op, append, &text) {
                return mapped;
            }
        }
        match status {
            Status::No if phase == Phase::Selecting && code.is_none() => {
                (ErrorKind::NotFound, Retry::Permanent)
            }
            Status::No if op == Operation::Connect => {
                (ErrorKind::Unauthenticated, Retry::Permanent)
            }
            Status::No if append => classify_append_refusal(&text),
            // BAD names a fault of the command, not of the message: nothing was stored,
            // and the next pass tries again.
            _ => (ErrorKind::Unexpected, Retry::Permanent),
        }
    }

    /// Failures below the protocol: the connection, TLS, the configuration.
    fn classify_transport(&self, phase: Phase) -> (ErrorKind, Retry) {
        match self {
            Self::Io(_) | Self::Timeout(_) | Self::Closed => {
                (ErrorKind::Unavailable, Retry::after_loss(phase))
            }
            // An answer this client cannot read after the data left is a lost answer too.
            Self::Protocol(_) if matches!(phase, Phase::Sent | Phase::Lost) => {
                (ErrorKind::Unexpected, Retry::Unknown)
            }
            Self::Protocol(_) | Self::Status { .. } => (ErrorKind::Unexpected, Retry::Permanent),
            Self::Tls(_) => (ErrorKind::Unavailable, Retry::Permanent),
            Self::Config(_) => (ErrorKind::ConfigInvalid, Retry::Permanent),
            Self::Credentials {
                kind, temporary, ..
            } => (
                *kind,
                if *temporary {
                    Retry::Temporary
                } else {
                    Retry::Permanent
                },
            ),
        }
    }
}

/// How far an operation got when it failed, as far as the mapping needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Selecting the folder: nothing was written.
    Selecting,
    /// An append whose data may have reached the server.
    Sent,
    /// An append whose data left and whose answer was lost.
    Lost,
    /// Any other operation (reads, idempotent writes).
    Other,
}

/// The retry status a failure gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Permanent,
    Temporary,
    Unknown,
}

impl Retry {
    /// After a lost connection: unknown if an append's data had left, temporary otherwise.
    fn after_loss(phase: Phase) -> Self {
        if matches!(phase, Phase::Sent | Phase::Lost) {
            Self::Unknown
        } else {
            Self::Temporary
        }
    }
}

/// What a response code means (RFC 3501, 4469, 5530); `None` for codes that say nothing
/// about the failure, which then falls back to its status.
fn classify_code(
    code: &str,
    op: Operation,
    append: bool,
    text: &str,
) -> Option<(ErrorKind, Retry)> {
    use ErrorKind as K;
    use Retry::{Permanent, Temporary};
    Some(match code {
        // The folder vanished (or never was): the next pass recreates it.
        "TRYCREATE" | "NONEXISTENT" => (K::NotFound, Permanent),
        "OVERQUOTA" => (K::QuotaExceeded, Permanent),
        "TOOBIG" => (K::MessageTooLarge, Permanent),
        "LIMIT" if names_size(text) => (K::MessageTooLarge, Permanent),
        "LIMIT" => (K::RateLimited, Temporary),
        "AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED" => {
            (K::Unauthenticated, Permanent)
        }
        "NOPERM" => (K::PermissionDenied, Permanent),
        "ALREADYEXISTS" => (K::AlreadyExists, Permanent),
        "PARSE" => (K::InvalidMessage, Permanent),
        // RFC 5530: CANNOT "can never succeed" (e.g. a character the server does not allow
        // in a mailbox name). For an append it does not say the message is at fault.
        "CANNOT" if op == Operation::EnsureFolder => (K::ConfigInvalid, Permanent),
        "CANNOT" => (K::Unexpected, Permanent),
        // Dovecot answers transient internal failures (lock timeouts, I/O) with SERVERBUG.
        "UNAVAILABLE" | "INUSE" | "SERVERBUG" => (K::Unavailable, Temporary),
        // An alert is for a human; during login it explains a refusal.
        "ALERT" if op == Operation::Connect => (K::Unauthenticated, Permanent),
        "ALERT" if names_throttle(text) => (K::RateLimited, Temporary),
        "ALERT" if append && names_size(text) => (K::MessageTooLarge, Permanent),
        "ALERT" => (K::Unavailable, Temporary),
        _ => return None,
    })
}

/// A bare `NO` to an APPEND: the message's own fault only when the text says so.
fn classify_append_refusal(text: &str) -> (ErrorKind, Retry) {
    if names_size(text) {
        (ErrorKind::MessageTooLarge, Retry::Permanent)
    } else if MESSAGE_FAULTS.iter().any(|f| text.contains(f)) {
        (ErrorKind::InvalidMessage, Retry::Permanent)
    } else {
        // "Internal error", "try again later"…: a later attempt may succeed.
        (ErrorKind::Unexpected, Retry::Temporary)
    }
}

/// Lower-case texts with which servers refuse an APPEND for the message's own sake, without
/// a response code. Each was seen from a real server:
/// - Cyrus 3.6: `Message contains bare newlines`, `Message contains NUL characters`,
///   `Message contains invalid header` (also for a message without any header),
///   `Zero-length message literal`;
/// - Dovecot 2.3: `Can't save a zero byte message`.
const MESSAGE_FAULTS: &[&str] = &[
    "message contains ",
    "zero-length message",
    "zero byte message",
];

/// Whether a refusal's text names the message's size.
fn names_size(text: &str) -> bool {
    text.contains("too large") || text.contains("too big") || text.contains("exceeds")
}

/// Whether an alert's text asks the client to slow down.
fn names_throttle(text: &str) -> bool {
    [
        "too many",
        "slow down",
        "rate limit",
        "bandwidth",
        "throttl",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// Splits a leading `[CODE args]` off a response text.
fn split_code(text: &str) -> (Option<String>, String) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let code = rest[..end].trim().to_owned();
            let text = rest[end + 1..].trim().to_owned();
            if !code.is_empty() {
                return (Some(code), text);
            }
        }
    }
    (None, text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::Disposition;

    fn no(text: &str) -> ImapError {
        ImapError::status(Status::No, None, Some(text))
    }

    #[test]
    fn response_codes_map_to_kinds() {
        let cases = [
            ("[TRYCREATE] Mailbox doesn't exist: X", ErrorKind::NotFound),
            ("[NONEXISTENT] Unknown Mailbox", ErrorKind::NotFound),
            (
                "[OVERQUOTA] Quota exceeded (mailbox for user is full)",
                ErrorKind::QuotaExceeded,
            ),
            (
                "[AUTHENTICATIONFAILED] Authentication failed.",
                ErrorKind::Unauthenticated,
            ),
            ("[NOPERM] Permission denied", ErrorKind::PermissionDenied),
            (
                "[ALREADYEXISTS] Mailbox already exists",
                ErrorKind::AlreadyExists,
            ),
            ("[PARSE] Invalid message", ErrorKind::InvalidMessage),
            ("[TOOBIG] Message too large", ErrorKind::MessageTooLarge),
        ];
        for (text, kind) in cases {
            let e = no(text).into_error(Operation::Append);
            assert_eq!(e.kind(), kind, "{text}");
            assert!(!e.is_temporary(), "{text}");
            assert_eq!(e.provider(), "imap");
            assert_eq!(e.operation(), Operation::Append);
        }
    }

    #[test]
    fn cannot_is_a_bad_name_but_not_a_bad_message() {
        let text = "[CANNOT] Character not allowed in mailbox name: '.'";
        let e = no(text).into_error(Operation::EnsureFolder);
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        let e = no(text).into_error(Operation::Append);
        assert_eq!(e.kind(), ErrorKind::Unexpected);
        assert_eq!(e.disposition(), Disposition::Retry);
    }

    #[test]
    fn unavailable_and_bye_are_temporary_and_lost_appends_unknown() {
        let e = no("[UNAVAILABLE] Internal error").into_error(Operation::Fetch);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());

        let bye = ImapError::status(Status::Bye, None, Some("Server shutting down."));
        let e = bye.into_error(Operation::ListChanges);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());

        let e = ImapError::Timeout(Duration::from_secs(5)).into_error(Operation::UpdateFlags);
        assert!(e.is_temporary());
    }

    #[test]
    fn a_connection_lost_after_the_data_left_is_an_unknown_outcome() {
        let lost = [
            ImapError::io(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            ImapError::Closed,
            ImapError::Timeout(Duration::from_secs(5)),
            ImapError::status(Status::Bye, None, Some("Server shutting down.")),
            ImapError::io(&std::io::Error::other("unparsable")),
        ];
        for e in lost {
            let shown = e.to_string();
            let e = e.into_error(Operation::Append);
            assert!(e.is_outcome_unknown(), "{shown}: {e:?}");
            assert!(!e.is_temporary(), "{shown}: never retried blindly");
            assert_eq!(e.disposition(), Disposition::Settle, "{shown}");
            assert!(e.message().contains("outcome unknown"), "{shown}");
        }
    }

    #[test]
    fn append_refusals_that_are_not_the_message_s_fault_are_not_final() {
        let cases = [
            (
                no("Internal error occurred. Refer to server log for more information."),
                ErrorKind::Unexpected,
                true,
            ),
            (
                ImapError::status(Status::Bad, None, Some("Invalid arguments.")),
                ErrorKind::Unexpected,
                false,
            ),
            (
                no("[TRYCREATE] Mailbox doesn't exist: X"),
                ErrorKind::NotFound,
                false,
            ),
            (
                no("[ALERT] System maintenance, try again later"),
                ErrorKind::Unavailable,
                true,
            ),
            (
                no("[ALERT] Account exceeded command or bandwidth limits. (Failure)"),
                ErrorKind::RateLimited,
                true,
            ),
            (
                no("[UNAVAILABLE] Backend down"),
                ErrorKind::Unavailable,
                true,
            ),
            (
                no("[INUSE] Mailbox is locked"),
                ErrorKind::Unavailable,
                true,
            ),
            (
                no("[SERVERBUG] Internal error occurred."),
                ErrorKind::Unavailable,
                true,
            ),
            (
                no("[LIMIT] Too many appends, slow down"),
                ErrorKind::RateLimited,
                true,
            ),
            (
                no("[OVERQUOTA] Quota exceeded"),
                ErrorKind::QuotaExceeded,
                false,
            ),
        ];
        for (e, kind, temporary) in cases {
            let shown = e.to_string();
            let e = e.into_error(Operation::Append);
            assert_eq!(e.kind(), kind, "{shown}");
            assert_eq!(e.is_temporary(), temporary, "{shown}");
            assert!(!e.is_outcome_unknown(), "{shown}: the server answered");
            assert_eq!(e.disposition(), Disposition::Retry, "{shown}");
        }
    }

    #[test]
    fn append_refusals_for_the_message_s_sake_are_final() {
        let cases = [
            ("Message contains bare newlines", ErrorKind::InvalidMessage),
            ("Message contains NUL characters", ErrorKind::InvalidMessage),
            ("Message contains invalid header", ErrorKind::InvalidMessage),
            ("Zero-length message literal", ErrorKind::InvalidMessage),
            ("Can't save a zero byte message", ErrorKind::InvalidMessage),
            ("[PARSE] Invalid message", ErrorKind::InvalidMessage),
            ("[TOOBIG] Message too large", ErrorKind::MessageTooLarge),
            ("Message size exceeds the limit", ErrorKind::MessageTooLarge),
            ("[LIMIT] Mail size is too large", ErrorKind::MessageTooLarge),
        ];
        for (text, kind) in cases {
            let e = no(text).into_error(Operation::Append);
            assert_eq!(e.kind(), kind, "{text}");
            assert!(!e.is_temporary(), "{text}");
            assert_eq!(e.disposition(), Disposition::Final, "{text}");
        }
        let login = no("Login failed");
        assert_eq!(
            login.into_error(Operation::Connect).kind(),
            ErrorKind::Unauthenticated
        );
    }

    #[test]
    fn parse_errors_never_quote_the_buffer() {
        let io =
            std::io::Error::other("Error during parsing of \"* 1 FETCH (BODY[] {5}\r\nsecret\"");
        let e = ImapError::io(&io).into_error(Operation::Fetch);
        assert!(!e.to_string().contains("secret"));
        assert!(!format!("{e:?}").contains("secret"));
        assert_eq!(e.kind(), ErrorKind::Unexpected);
    }

    #[test]
    fn select_failures_mean_missing_folder_and_are_safe_to_retry() {
        let e = no("Mailbox doesn't exist: X").into_select_error(Operation::Append);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.operation(), Operation::Append);
        let e = ImapError::Closed.into_select_error(Operation::Append);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary(), "nothing was sent yet");
    }

    #[test]
    fn known_code_keeps_text() {
        let e = ImapError::status(Status::No, Some("TRYCREATE".into()), Some("no such folder"));
        assert_eq!(
            e.to_string(),
            "server answered NO [TRYCREATE]: no such folder"
        );
        assert_eq!(e.into_error(Operation::Append).kind(), ErrorKind::NotFound);
    }
}
