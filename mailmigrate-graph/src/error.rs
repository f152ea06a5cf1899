//! The one mapping from Graph's answers to core errors.
//!
//! Graph answers an error with one envelope, `{"error": {"code", "message", "innerError"}}`
//! ([G-ERR]); the `code` decides, the message is kept only as a hint (it is not localised
//! and must not be branched on, [G-ERR]). Outlook workloads use Exchange codes
//! (`ErrorItemNotFound`, `ErrorQuotaExceeded`…, [G-ERR], see `docs/graph-sources.md`).

use std::time::Duration;

use mailmigrate_core::{Error, ErrorKind};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::PROVIDER;

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Body,
}

#[derive(Debug, Default, Deserialize)]
struct Body {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The `error.code` and `error.message` of an answer's body, empty when it has none.
pub(crate) fn code_and_message(body: &[u8]) -> (String, String) {
    let env: Envelope = serde_json::from_slice(body).unwrap_or_default();
    (env.error.code, env.error.message)
}

/// Whether the answer says a delta or skip token is no longer valid: 410 Gone, or the
/// `syncStateNotFound` / `resyncRequired` codes on another 4xx ([G-DQ][G-ERR]).
pub(crate) fn is_expired_sync_state(status: StatusCode, body: &[u8]) -> bool {
    let (code, _) = code_and_message(body);
    status == StatusCode::GONE
        || code.eq_ignore_ascii_case("syncStateNotFound")
        || code.eq_ignore_ascii_case("resyncRequired")
}

/// The core error for a failed answer to `what`. `writes` says the request may have
/// changed the mailbox: a server failure after it was sent is then of unknown outcome
/// (settled by a look-up), never retried blindly.
pub(crate) fn from_answer(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    what: &str,
    writes: bool,
) -> Error {
    let (code, message) = code_and_message(body);
    let kind = kind_of(status, &code);
    let mut text = format!("{what}: HTTP {}", status.as_u16());
    if !code.is_empty() {
        text.push_str(&format!(" {code}"));
    }
    if !message.is_empty() {
        // Graph messages name ids and limits, never credentials.
        let short: String = message.chars().take(200).collect();
        text.push_str(&format!(" ({short})"));
    }
    let err = Error::new(kind, text).with_provider(PROVIDER);
    match kind {
        ErrorKind::RateLimited => match retry_after {
            Some(after) => err.temporary_after(after),
            None => err.temporary(),
        },
        ErrorKind::Unavailable if writes => err.outcome_unknown(),
        ErrorKind::Unavailable => match retry_after {
            Some(after) => err.temporary_after(after),
            None => err.temporary(),
        },
        _ => err,
    }
}

/// The kind of an error answer: the Exchange or Graph code first, the status otherwise.
fn kind_of(status: StatusCode, code: &str) -> ErrorKind {
    match code {
        "ErrorItemNotFound" | "itemNotFound" | "ResourceNotFound" | "Request_ResourceNotFound" => {
            ErrorKind::NotFound
        }
        "MailboxNotEnabledForRESTAPI" => ErrorKind::NotFound,
        "ErrorAccessDenied" | "accessDenied" | "Authorization_RequestDenied" => {
            ErrorKind::PermissionDenied
        }
        "ErrorQuotaExceeded" | "quotaLimitReached" => ErrorKind::QuotaExceeded,
        "ErrorMessageSizeExceeded" => ErrorKind::MessageTooLarge,
        "ErrorFolderExists" | "nameAlreadyExists" => ErrorKind::AlreadyExists,
        "InvalidAuthenticationToken" | "unauthenticated" => ErrorKind::Unauthenticated,
        "TooManyRequests" | "ApplicationThrottled" | "activityLimitReached" => {
            ErrorKind::RateLimited
        }
        "ErrorInvalidIdMalformed" => ErrorKind::NotFound,
        "InvalidInternetMessageHeader" | "InvalidInternetMessageHeaderCollection" => {
            ErrorKind::InvalidMessage
        }
        _ => match status.as_u16() {
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 | 410 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            412 => ErrorKind::Conflict,
            413 => ErrorKind::MessageTooLarge,
            429 => ErrorKind::RateLimited,
            507 => ErrorKind::QuotaExceeded,
            400 | 422 => ErrorKind::InvalidMessage,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Unexpected,
        },
    }
}

/// The `Retry-After` of an answer: seconds, possibly fractional ([G-THG] shows `2.128`).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::Disposition;

    fn err(status: u16, body: &str, writes: bool) -> Error {
        from_answer(
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
            Some(Duration::from_millis(2128)),
            "POST messages",
            writes,
        )
    }

    #[test]
    fn codes_decide_before_statuses() {
        let throttled = err(
            429,
            r#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#,
            true,
        );
        assert_eq!(throttled.kind(), ErrorKind::RateLimited);
        assert_eq!(throttled.retry_after(), Some(Duration::from_millis(2128)));
        assert_eq!(throttled.disposition(), Disposition::Retry);
        let quota = err(
            403,
            r#"{"error":{"code":"ErrorQuotaExceeded","message":"x"}}"#,
            true,
        );
        assert_eq!(quota.kind(), ErrorKind::QuotaExceeded);
        let gone = err(
            404,
            r#"{"error":{"code":"ErrorItemNotFound","message":"x"}}"#,
            false,
        );
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        let header = err(
            400,
            r#"{"error":{"code":"InvalidInternetMessageHeader","message":"x"}}"#,
            true,
        );
        assert_eq!(header.disposition(), Disposition::Final);
    }

    #[test]
    fn a_server_failure_on_a_write_is_of_unknown_outcome() {
        let e = err(503, "", true);
        assert!(e.is_outcome_unknown());
        assert_eq!(e.disposition(), Disposition::Settle);
        assert!(err(503, "", false).is_temporary());
    }

    #[test]
    fn expired_delta_tokens_are_recognised() {
        assert!(is_expired_sync_state(StatusCode::GONE, b""));
        assert!(is_expired_sync_state(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"code":"syncStateNotFound","message":"x"}}"#
        ));
        assert!(!is_expired_sync_state(StatusCode::NOT_FOUND, b"{}"));
    }

    #[test]
    fn retry_after_reads_fractional_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2.128".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(2128)));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
