//! The one mapping from the oauth2 crate's errors into [`Error`].
//!
//! Nothing the endpoint sent is copied into an error: not the body, not
//! `error_description` (servers echo request parameters there), only a standard error code.

use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType};
use oauth2::RequestTokenError;

use super::http::HttpError;
use crate::{Error, ErrorKind};

/// Maps a failed token request.
pub(super) fn map(e: RequestTokenError<HttpError, BasicErrorResponse>) -> Error {
    map_with(e, |r| from_code(r.error()))
}

/// Maps a failed token request whose OAuth2 error answer `server` maps.
pub(super) fn map_with<T>(
    e: RequestTokenError<HttpError, T>,
    server: impl FnOnce(T) -> Error,
) -> Error
where
    T: oauth2::ErrorResponse,
{
    match e {
        RequestTokenError::Request(HttpError::Status {
            status,
            retry_after,
        }) => {
            let kind = if status == 429 {
                ErrorKind::RateLimited
            } else {
                ErrorKind::Unavailable
            };
            let err = Error::new(kind, format!("the token endpoint answered HTTP {status}"));
            match retry_after {
                Some(after) => err.temporary_after(after),
                None => err.temporary(),
            }
        }
        RequestTokenError::Request(e @ HttpError::Transport { .. }) => {
            Error::new(ErrorKind::Unavailable, e.to_string())
                .with_source(e)
                .temporary()
        }
        RequestTokenError::Request(e @ HttpError::Build(_)) => {
            Error::new(ErrorKind::ConfigInvalid, e.to_string()).with_source(e)
        }
        RequestTokenError::ServerResponse(r) => server(r),
        RequestTokenError::Parse(..) => Error::new(
            ErrorKind::Unexpected,
            "the token endpoint's answer is neither a token nor an OAuth2 error",
        ),
        RequestTokenError::Other(_) => Error::new(
            ErrorKind::Unexpected,
            "the token endpoint sent an answer that is not OAuth2 (empty, or not JSON)",
        ),
    }
}

/// Maps an RFC 6749 §5.2 error code.
pub(super) fn from_code(code: &BasicErrorResponseType) -> Error {
    use BasicErrorResponseType as T;
    match code {
        T::InvalidGrant => Error::new(
            ErrorKind::Unauthenticated,
            "the token endpoint refused the grant (invalid_grant): the refresh token is \
             expired or revoked, or the account must sign in again",
        ),
        T::InvalidClient => Error::new(
            ErrorKind::Unauthenticated,
            "the token endpoint refused the client (invalid_client): check the client id and secret",
        ),
        T::UnauthorizedClient => Error::new(
            ErrorKind::Unauthenticated,
            "the client may not use this grant (unauthorized_client)",
        ),
        T::InvalidScope => Error::new(
            ErrorKind::PermissionDenied,
            "the token endpoint refused the scopes (invalid_scope)",
        ),
        T::InvalidRequest => Error::new(
            ErrorKind::ConfigInvalid,
            "the token endpoint refused the request (invalid_request)",
        ),
        T::UnsupportedGrantType => Error::new(
            ErrorKind::ConfigInvalid,
            "the token endpoint does not support this grant (unsupported_grant_type)",
        ),
        T::Extension(c) if c == "temporarily_unavailable" => Error::new(
            ErrorKind::Unavailable,
            "the token endpoint is temporarily unavailable",
        )
        .temporary(),
        T::Extension(c) if c == "slow_down" => {
            Error::new(ErrorKind::RateLimited, "the token endpoint asks to slow down").temporary()
        }
        T::Extension(c) => {
            let named = if c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                format!(" ({c})")
            } else {
                String::new()
            };
            Error::new(
                ErrorKind::Unauthenticated,
                format!("the token endpoint refused the request{named}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_and_retry() {
        let e = from_code(&BasicErrorResponseType::InvalidGrant);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(!e.is_temporary());
        let e = from_code(&BasicErrorResponseType::Extension(
            "temporarily_unavailable".into(),
        ));
        assert!(e.is_temporary());
        let e = from_code(&BasicErrorResponseType::Extension(
            "secret value with spaces".into(),
        ));
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn status_errors_are_temporary_with_their_hint() {
        let e = map(RequestTokenError::Request(HttpError::Status {
            status: 429,
            retry_after: Some(std::time::Duration::from_secs(9)),
        }));
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(9)));
        let e = map(RequestTokenError::Request(HttpError::Status {
            status: 503,
            retry_after: None,
        }));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());
    }
}
