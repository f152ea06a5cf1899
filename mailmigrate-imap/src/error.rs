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
#[derive(Debug, thiserror::Error)]
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
    /// A connection failure is temporary, except during an append: the message may have
    /// reached the server, so the engine must settle it with `find_existing` instead of
    /// writing again.
    pub(crate) fn into_error(self, op: Operation) -> Error {
        self.map_into(op, false)
    }

    /// Maps a failed `SELECT`/`EXAMINE` done on behalf of `op`: a bare `NO` means the
    /// folder does not exist, and nothing was written yet, so connection failures are
    /// temporary even for an append.
    pub(crate) fn into_select_error(self, op: Operation) -> Error {
        self.map_into(op, true)
    }

    fn map_into(self, op: Operation, selecting: bool) -> Error {
        let code = self.code();
        let lower_text = match &self {
            Self::Status { text, .. } => text.to_ascii_lowercase(),
            _ => String::new(),
        };
        let too_big = lower_text.contains("too large")
            || lower_text.contains("too big")
            || lower_text.contains("exceeds");
        // What the outcome rules below check: a select never leaves an append half-done.
        let op_rules = if selecting { Operation::Unknown } else { op };
        let (kind, temporary) = match (&self, code.as_deref()) {
            (
                Self::Status {
                    status: Status::No, ..
                },
                None,
            ) if selecting => (ErrorKind::NotFound, false),
            (Self::Status { .. }, Some("TRYCREATE" | "NONEXISTENT")) => {
                (ErrorKind::NotFound, false)
            }
            (Self::Status { .. }, Some("OVERQUOTA")) => (ErrorKind::QuotaExceeded, false),
            (Self::Status { .. }, Some("TOOBIG")) => (ErrorKind::MessageTooLarge, false),
            (Self::Status { .. }, Some("LIMIT")) if too_big => (ErrorKind::MessageTooLarge, false),
            (
                Self::Status { .. },
                Some("AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED"),
            ) => (ErrorKind::Unauthenticated, false),
            (Self::Status { .. }, Some("NOPERM")) => (ErrorKind::PermissionDenied, false),
            (Self::Status { .. }, Some("ALREADYEXISTS")) => (ErrorKind::AlreadyExists, false),
            (Self::Status { .. }, Some("PARSE")) => (ErrorKind::InvalidMessage, false),
            (Self::Status { .. }, Some("LIMIT")) => (ErrorKind::RateLimited, true),
            (Self::Status { .. }, Some("UNAVAILABLE" | "INUSE" | "SERVERBUG")) => {
                (ErrorKind::Unavailable, op_rules != Operation::Append)
            }
            (
                Self::Status {
                    status: Status::Bye,
                    ..
                },
                _,
            ) => (ErrorKind::Unavailable, op_rules != Operation::Append),
            (
                Self::Status {
                    status: Status::No, ..
                },
                _,
            ) if op_rules == Operation::Append && too_big => (ErrorKind::MessageTooLarge, false),
            (
                Self::Status {
                    status: Status::Bad,
                    ..
                },
                _,
            ) if op_rules == Operation::Append => (ErrorKind::InvalidMessage, false),
            (
                Self::Status {
                    status: Status::No, ..
                },
                _,
            ) if op_rules == Operation::Connect => (ErrorKind::Unauthenticated, false),
            (
                Self::Status {
                    status: Status::No, ..
                },
                _,
            ) if op_rules == Operation::Append => (ErrorKind::InvalidMessage, false),
            (Self::Status { .. }, _) => (ErrorKind::Unexpected, false),
            (Self::Io(_) | Self::Timeout(_) | Self::Closed, _) => {
                (ErrorKind::Unavailable, op_rules != Operation::Append)
            }
            (Self::Protocol(_), _) => (ErrorKind::Unexpected, false),
            (Self::Tls(_), _) => (ErrorKind::Unavailable, false),
            (Self::Config(_), _) => (ErrorKind::ConfigInvalid, false),
        };
        let mut message = self.to_string();
        if op == Operation::Append && matches!(self, Self::Io(_) | Self::Timeout(_) | Self::Closed)
        {
            message.push_str(" (the append may have reached the server: outcome unknown)");
        }
        let err = Error::new(kind, message)
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_source(self);
        if temporary {
            err.temporary()
        } else {
            err
        }
    }
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
            ("[LIMIT] Mail size is too large", ErrorKind::MessageTooLarge),
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
    fn unavailable_and_bye_are_temporary_except_for_append() {
        let e = no("[UNAVAILABLE] Internal error").into_error(Operation::Fetch);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());

        let bye = ImapError::status(Status::Bye, None, Some("Server shutting down."));
        let e = bye.into_error(Operation::ListChanges);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());

        let io = ImapError::io(&std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let e = io.into_error(Operation::Append);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            !e.is_temporary(),
            "an append with unknown outcome is never retried"
        );
        assert!(e.message().contains("outcome unknown"));

        let e = ImapError::Timeout(Duration::from_secs(5)).into_error(Operation::UpdateFlags);
        assert!(e.is_temporary());
    }

    #[test]
    fn append_refusals_isolate_the_message() {
        let bad = ImapError::status(Status::Bad, None, Some("Invalid arguments."));
        assert_eq!(
            bad.into_error(Operation::Append).kind(),
            ErrorKind::InvalidMessage
        );
        let big = no("Message size exceeds the limit");
        assert_eq!(
            big.into_error(Operation::Append).kind(),
            ErrorKind::MessageTooLarge
        );
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
