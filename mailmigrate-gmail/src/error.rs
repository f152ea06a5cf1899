//! The one mapping from Gmail's answers to core errors.
//!
//! Google answers an error with `{"error": {"code", "message", "errors": [{"domain",
//! "reason", "message"}], "status"}}` \[GM-ERR\]; the `reason` decides, the status
//! otherwise, and the message is kept as a hint.

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
    message: String,
    #[serde(default)]
    errors: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
struct Item {
    #[serde(default)]
    reason: String,
}

/// The first `errors[].reason` and the `message` of an answer's body (empty when none).
pub(crate) fn reason_and_message(body: &[u8]) -> (String, String) {
    let env: Envelope = serde_json::from_slice(body).unwrap_or_default();
    let reason = env
        .error
        .errors
        .into_iter()
        .next()
        .map(|i| i.reason)
        .unwrap_or_default();
    (reason, env.error.message)
}

/// Whether an answer is a rate limit the request was refused for (so sending it again
/// is safe): 429, or 403 `rateLimitExceeded` / `userRateLimitExceeded` \[GM-ERR\].
pub(crate) fn is_rate_limit(status: StatusCode, body: &[u8]) -> bool {
    let (reason, _) = reason_and_message(body);
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && matches!(
                reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded"
            ))
}

/// The core error for a failed answer to `what`. `writes` says the request may have
/// changed the mailbox and is not safe to repeat: a server failure is then of unknown
/// outcome (settled by a look-up), never retried blindly.
pub(crate) fn from_answer(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    what: &str,
    writes: bool,
) -> Error {
    let (reason, message) = reason_and_message(body);
    let kind = kind_of(status, &reason, &message);
    let mut text = format!("{what}: HTTP {}", status.as_u16());
    if !reason.is_empty() {
        text.push_str(&format!(" {reason}"));
    }
    if !message.is_empty() {
        // Gmail's messages name ids and limits, never credentials.
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
        ErrorKind::Unavailable => err.temporary(),
        _ => err,
    }
}

fn kind_of(status: StatusCode, reason: &str, message: &str) -> ErrorKind {
    match reason {
        "rateLimitExceeded" | "userRateLimitExceeded" => return ErrorKind::RateLimited,
        "dailyLimitExceeded" | "quotaExceeded" => return ErrorKind::QuotaExceeded,
        "insufficientPermissions" | "domainPolicy" | "forbidden" => {
            return ErrorKind::PermissionDenied
        }
        "authError" => return ErrorKind::Unauthenticated,
        "notFound" => return ErrorKind::NotFound,
        "uploadTooLarge" => return ErrorKind::MessageTooLarge,
        "backendError" => return ErrorKind::Unavailable,
        // Calendar's If-Match refusal and People's stale etag in older copies [GP-UPD].
        "conditionNotMet" => return ErrorKind::Conflict,
        "duplicate" => return ErrorKind::AlreadyExists,
        _ => {}
    }
    // A malformed message id is an id no message has.
    if message == "Invalid id value" {
        return ErrorKind::NotFound;
    }
    match status.as_u16() {
        400 => ErrorKind::InvalidMessage,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::AlreadyExists,
        412 => ErrorKind::Conflict,
        413 => ErrorKind::MessageTooLarge,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Unexpected,
    }
}

/// The `Retry-After` of an answer, in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::Disposition;

    fn err(status: u16, reason: &str, message: &str, writes: bool) -> Error {
        let body = format!(
            r#"{{"error":{{"code":{status},"message":"{message}","errors":[{{"reason":"{reason}","domain":"global","message":"{message}"}}]}}}}"#
        );
        from_answer(
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
            Some(Duration::from_secs(2)),
            "import",
            writes,
        )
    }

    #[test]
    fn reasons_decide_before_statuses() {
        let limited = err(
            403,
            "userRateLimitExceeded",
            "User-rate limit exceeded.",
            true,
        );
        assert_eq!(limited.kind(), ErrorKind::RateLimited);
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(limited.disposition(), Disposition::Retry);
        let denied = err(403, "insufficientPermissions", "x", false);
        assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            err(400, "invalidArgument", "Invalid id value", false).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            err(413, "uploadTooLarge", "x", true).kind(),
            ErrorKind::MessageTooLarge
        );
        assert_eq!(
            err(409, "aborted", "Label name exists or conflicts", true).kind(),
            ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_server_failure_on_a_write_is_of_unknown_outcome() {
        let e = err(503, "backendError", "x", true);
        assert_eq!(e.disposition(), Disposition::Settle);
        assert!(err(503, "backendError", "x", false).is_temporary());
    }

    #[test]
    fn rate_limits_are_recognised() {
        let body = br#"{"error":{"errors":[{"reason":"rateLimitExceeded"}]}}"#;
        assert!(is_rate_limit(StatusCode::FORBIDDEN, body));
        assert!(is_rate_limit(StatusCode::TOO_MANY_REQUESTS, b""));
        assert!(!is_rate_limit(StatusCode::FORBIDDEN, b"{}"));
    }
}
