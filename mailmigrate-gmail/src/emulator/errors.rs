//! Answers: Google's error envelope and JSON bodies \[GM-ERR\].

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

/// A JSON answer with `status`.
pub(crate) fn json(status: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// A Google API error: `{"error": {"code", "message", "errors": [{"message", "domain",
/// "reason", "location"?, "locationType"?}], "status"}}` \[GM-ERR\].
#[derive(Debug, Clone)]
pub(crate) struct GoogleError {
    pub(crate) code: u16,
    pub(crate) message: String,
    pub(crate) domain: &'static str,
    pub(crate) reason: &'static str,
    /// Located at the `Authorization` header (`authError`).
    pub(crate) at_authorization: bool,
    /// `Retry-After`, in seconds.
    pub(crate) retry_after: Option<u32>,
}

impl GoogleError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            domain: "global",
            reason,
            at_authorization: false,
            retry_after: None,
        }
    }

    /// The canonical `status` of the envelope.
    fn status(&self) -> &'static str {
        match self.code {
            400 if self.reason == "failedPrecondition" => "FAILED_PRECONDITION",
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            413 => "INVALID_ARGUMENT",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// 400 `invalidArgument` \[GM-ERR\].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalidArgument", message)
    }

    /// 404 `notFound` "Requested entity was not found." \[GM-ERR\].
    pub(crate) fn not_found() -> Self {
        Self::new(404, "notFound", "Requested entity was not found.")
    }

    /// 401 `authError` "Invalid Credentials", located at the `Authorization` header \[GM-ERR\].
    pub(crate) fn auth() -> Self {
        let mut e = Self::new(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        );
        e.at_authorization = true;
        e
    }

    pub(crate) fn with_domain(mut self, domain: &'static str) -> Self {
        self.domain = domain;
        self
    }

    pub(crate) fn with_retry_after(mut self, secs: Option<u32>) -> Self {
        self.retry_after = secs;
        self
    }

    pub(crate) fn into_response(self) -> Response {
        let mut item =
            json!({"message": self.message, "domain": self.domain, "reason": self.reason});
        if self.at_authorization {
            item["location"] = json!("Authorization");
            item["locationType"] = json!("header");
        }
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "errors": [item],
            "status": self.status(),
        }});
        let mut r = json(self.code, &body);
        if let Some(v) = self.retry_after.map(HeaderValue::from) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}
