//! One DAV request: authentication, bounded answers, and HTTP statuses turned into core
//! errors with their retry status.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::auth::{SecretString, TokenProvider};
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use tokio::io::AsyncBufRead;

use crate::spool::{spool, SpoolError};
use crate::xml;

/// The provider name errors carry.
pub(crate) const PROVIDER: &str = "dav";

/// How requests authenticate.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum DavAuth {
    /// No credentials (a server behind an authenticating proxy, a test server).
    #[default]
    None,
    /// HTTP Basic (RFC 7617). Sent only over TLS unless plaintext is allowed.
    Basic {
        /// The user name.
        user: String,
        /// The password; never printed.
        password: SecretString,
    },
    /// A bearer token (RFC 6750) from a token provider, refreshed when the server
    /// refuses it.
    Bearer(Arc<dyn TokenProvider>),
}

impl fmt::Debug for DavAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &"***")
                .finish(),
            Self::Bearer(p) => f.debug_tuple("Bearer").field(p).finish(),
        }
    }
}

/// What a request sends.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Option<Bytes>,
    /// What the request is for, in errors: "PUT /u/c/a.vcf".
    pub(crate) what: &'a str,
}

/// A received answer, its body read up to the limit.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text (lossy: error bodies only need to be shown).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `ETag` header, when the server sent a strong one.
    pub(crate) fn etag(&self) -> Option<String> {
        let v = self.headers.get(reqwest::header::ETAG)?.to_str().ok()?;
        (!v.starts_with("W/")).then(|| v.to_owned())
    }
}

/// The HTTP side of a DAV store.
#[derive(Debug)]
pub(crate) struct Http {
    /// The client: its read timeout (`reqwest`'s `read_timeout`) is the store's timeout, so
    /// no request waits longer than that for its headers or for any read of its body.
    pub(crate) client: reqwest::Client,
    pub(crate) auth: DavAuth,
    /// The largest answer body read; a longer one is an error, not an allocation.
    pub(crate) max_answer: usize,
    /// The store's timeout, also the whole-exchange deadline of [`Deadline::Whole`].
    pub(crate) timeout: Duration,
}

/// How long one request may take, beyond the client's read timeout (no stall longer than
/// the store's timeout, waiting for the headers or between two reads of the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// The whole exchange, body included, within the store's timeout: answers read whole
    /// into memory (writes, multigets, discovery), so a server that trickles one is cut off.
    Whole,
    /// Only the read timeout: listings of whole collections, spooled at wire speed, whose
    /// length grows with the collection (60 MB take minutes on a slow link). Their spool's
    /// cap bounds them instead.
    Idle,
}

/// A WebDAV method that `reqwest` has no constant for.
pub(crate) fn method(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

/// The header pair of a `Depth`.
pub(crate) fn depth(d: &'static str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("depth"),
        HeaderValue::from_static(d),
    )
}

/// `Content-Type: application/xml`.
pub(crate) fn xml_body() -> (HeaderName, HeaderValue) {
    (
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    )
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

impl Http {
    async fn authorization(
        &self,
    ) -> Result<Option<(HeaderValue, Option<mailmigrate_core::auth::AccessToken>)>> {
        match &self.auth {
            DavAuth::None => Ok(None),
            DavAuth::Basic { user, password } => {
                let raw = format!("{user}:{}", password.expose_secret());
                let mut v = HeaderValue::try_from(format!("Basic {}", base64(raw.as_bytes())))
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::ConfigInvalid,
                            "the user name cannot go in a header",
                        )
                    })?;
                v.set_sensitive(true);
                Ok(Some((v, None)))
            }
            DavAuth::Bearer(p) => {
                let token = p.token().await?;
                let mut v =
                    HeaderValue::try_from(format!("Bearer {}", token.secret().expose_secret()))
                        .map_err(|_| {
                            Error::new(
                                ErrorKind::Unauthenticated,
                                "the access token cannot go in a header",
                            )
                        })?;
                v.set_sensitive(true);
                Ok(Some((v, Some(token))))
            }
        }
    }

    /// Sends a request and reads its answer, bounded by `max_answer`, all within the
    /// store's timeout.
    pub(crate) async fn send(&self, req: &Request<'_>) -> Result<Answer> {
        self.open(req, Deadline::Whole).await?.read().await
    }

    /// Sends a request and returns its status and headers with the body still unread, for
    /// answers too large to hold (listings of whole collections, see [`Opened::spool`]).
    /// Transport failures are errors (temporary; `outcome_unknown` for a write whose
    /// request may have arrived); HTTP statuses are left to the caller, except a refused
    /// bearer token, which is renewed once.
    pub(crate) async fn open(&self, req: &Request<'_>, deadline: Deadline) -> Result<Opened> {
        let writes = !matches!(
            req.method.as_str(),
            "GET" | "PROPFIND" | "REPORT" | "OPTIONS" | "HEAD"
        );
        let mut renewed = false;
        loop {
            let auth = self.authorization().await?;
            let mut b = self.client.request(req.method.clone(), req.url.clone());
            if deadline == Deadline::Whole {
                b = b.timeout(self.timeout);
            }
            for (k, v) in &req.headers {
                b = b.header(k, v);
            }
            if let Some((v, _)) = &auth {
                b = b.header(AUTHORIZATION, v.clone());
            }
            if let Some(body) = &req.body {
                b = b.body(body.clone());
            }
            let resp = b.send().await.map_err(|e| transport(e, req.what, writes))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed {
                if let (Some((_, Some(token))), DavAuth::Bearer(p)) = (&auth, &self.auth) {
                    p.invalidate(token);
                    renewed = true;
                    continue;
                }
            }
            return Ok(Opened {
                status: resp.status(),
                headers: resp.headers().clone(),
                resp,
                what: req.what.to_owned(),
                writes,
                max_answer: self.max_answer,
            });
        }
    }
}

/// The body of an answer as bytes still to come.
pub(crate) type Body = Pin<Box<dyn AsyncBufRead + Send>>;

/// An answer whose status and headers have arrived and whose body is still unread.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The answer's status.
    pub(crate) status: StatusCode,
    /// The answer's headers.
    pub(crate) headers: HeaderMap,
    /// The answer, its body unread.
    resp: reqwest::Response,
    /// What the request was for, in errors.
    what: String,
    /// The request writes (a transport failure then has an unknown outcome).
    writes: bool,
    /// The longest body [`Opened::read`] reads.
    max_answer: usize,
}

impl Opened {
    /// What the request was for: "PROPFIND /u/c/".
    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// Reads the whole body, up to the store's `max_answer`.
    pub(crate) async fn read(self) -> Result<Answer> {
        let (what, writes, max) = (self.what, self.writes, self.max_answer);
        if self.resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_long(&what, max));
        }
        let mut out = Vec::new();
        let mut stream = self.resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport(e, &what, writes))?;
            if out.len() + chunk.len() > max {
                return Err(too_long(&what, max));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status: self.status,
            headers: self.headers,
            body: Bytes::from(out),
        })
    }

    /// Reads the whole body at wire speed into a spool of at most `max` bytes (memory,
    /// then an anonymous temporary file), releasing the connection, and returns it to be
    /// read at the reader's speed.
    ///
    /// # Errors
    /// `Unavailable` (temporary) when the answer breaks off or stalls past the read
    /// timeout; `Unexpected` for an answer longer than `max` or a spool file that fails
    /// (a full disk). Each names the request.
    pub(crate) async fn spool(self, max: u64) -> Result<Body> {
        if self.resp.content_length().is_some_and(|n| n > max) {
            return Err(SpoolError::TooLong(max).into_error(&self.what));
        }
        spool(self.resp.bytes_stream(), max)
            .await
            .map_err(|e| e.into_error(&self.what))
    }
}

fn too_long(what: &str, max: usize) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("the answer to {what} is longer than {max} bytes"),
    )
    .with_provider(PROVIDER)
}

fn transport(e: reqwest::Error, what: &str, writes: bool) -> Error {
    // The message of a reqwest error names the URL, never credentials (they travel in
    // headers).
    if let Some(rustls::Error::InvalidCertificate(why)) = tls_error(&e) {
        return untrusted(what, why, &causes(&e));
    }
    unavailable(what, causes(&e), writes && !e.is_connect())
}

/// The TLS error behind `e`, if any. reqwest's connector hands rustls' error on inside
/// I/O errors (tokio-rustls wraps rustls' `InvalidData` error in one of its own), and
/// `io::Error::source()` skips what it wraps, so each I/O error is opened as well.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// The server's certificate was refused during the handshake: permanent (the same
/// certificate is refused again; the IMAP client maps TLS failures the same way), and
/// nothing of the request was sent.
fn untrusted(what: &str, why: &rustls::CertificateError, causes: &str) -> Error {
    let hint = match why {
        rustls::CertificateError::UnknownIssuer => {
            "; a server whose certificate comes from a private CA needs that CA \
             (DavBuilder::with_root_certificate_pem)"
        }
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => {
            "; the URL must name a host the certificate is for"
        }
        _ => "",
    };
    Error::new(
        ErrorKind::Unavailable,
        format!("{what}: the server's TLS certificate is not trusted: {causes}{hint}"),
    )
    .with_provider(PROVIDER)
}

/// An error and its causes on one line (`a: b: c`): reqwest's own message ("error decoding
/// response body") says nothing of why; the cause (a timeout, a reset) is what an operator
/// needs.
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// A transport failure of the request `what`: temporary, or of unknown outcome for a
/// write whose request may have arrived.
pub(crate) fn unavailable(what: &str, e: impl fmt::Display, outcome_unknown: bool) -> Error {
    let err = Error::new(ErrorKind::Unavailable, format!("{what}: {e}")).with_provider(PROVIDER);
    if outcome_unknown {
        err.outcome_unknown()
    } else {
        err.temporary()
    }
}

/// The core error for an HTTP status that is not success: the kind from the status and
/// the precondition the server named (RFC 4918 §16, RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
pub(crate) fn status_error(answer: &Answer, what: &str) -> Error {
    let body = answer.text();
    let pre = xml::preconditions(&body);
    let named = |name: &str| pre.iter().any(|(_, n)| n == name);
    let status = answer.status;
    let reason: String = body.chars().take(300).collect::<String>();
    let reason = reason.trim();
    let msg = if reason.is_empty() {
        format!("{what}: {status}")
    } else {
        format!("{what}: {status}: {reason}")
    };
    let kind = if named("no-uid-conflict") {
        ErrorKind::AlreadyExists
    } else if named("max-resource-size") {
        ErrorKind::MessageTooLarge
    } else if [
        "valid-address-data",
        "valid-calendar-data",
        "valid-calendar-object-resource",
        "supported-address-data",
        "supported-calendar-data",
        "supported-calendar-component",
        "valid-timezone",
        "calendar-collection-location-ok",
    ]
    .iter()
    .any(|n| named(n))
    {
        ErrorKind::InvalidMessage
    } else {
        match status.as_u16() {
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 | 410 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            413 => ErrorKind::MessageTooLarge,
            400 | 415 | 422 => ErrorKind::InvalidMessage,
            405 | 501 => ErrorKind::Unsupported,
            429 => ErrorKind::RateLimited,
            507 => ErrorKind::QuotaExceeded,
            _ => ErrorKind::Unavailable,
        }
    };
    let err = Error::new(kind, msg).with_provider(PROVIDER);
    match (status.as_u16(), retry_after(&answer.headers)) {
        (429 | 503, Some(after)) => err.temporary_after(after),
        (429 | 500..=599, _) if status.as_u16() != 501 && status.as_u16() != 507 => err.temporary(),
        _ => err,
    }
}

/// Standard base64 (RFC 4648 §4), for the Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn statuses_and_preconditions_map_to_kinds() {
        let uid = r#"<error xmlns="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><CR:no-uid-conflict/></error>"#;
        assert_eq!(
            status_error(&answer(409, uid), "PUT x").kind(),
            ErrorKind::AlreadyExists
        );
        let bad = r#"<error xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:valid-calendar-data/></error>"#;
        let e = status_error(&answer(403, bad), "PUT x");
        assert_eq!(e.kind(), ErrorKind::InvalidMessage);
        assert!(e.disposition() == mailmigrate_core::Disposition::Final);
        assert_eq!(
            status_error(&answer(403, ""), "PUT x").kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            status_error(&answer(507, ""), "PUT x").kind(),
            ErrorKind::QuotaExceeded
        );
        assert!(!status_error(&answer(507, ""), "PUT x").is_temporary());
        assert!(status_error(&answer(503, ""), "PUT x").is_temporary());
        assert_eq!(
            status_error(&answer(413, ""), "PUT x").kind(),
            ErrorKind::MessageTooLarge
        );
        let mut slow = answer(429, "");
        slow.headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("1.5"),
        );
        assert_eq!(
            status_error(&slow, "PUT x").retry_after(),
            Some(Duration::from_millis(1500))
        );
    }

    /// An error whose cause is `inner`, as reqwest's and hyper's wrap the connector's.
    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + Send + Sync>);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn a_refused_certificate_is_found_inside_nested_io_errors() {
        use std::io;
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As tokio-rustls hands it on: rustls' InvalidData error inside one of its own.
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, refused));
        let e = Wrapped(Box::new(nested));
        assert!(matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ));
        let reset = Wrapped(Box::new(io::Error::from(io::ErrorKind::ConnectionReset)));
        assert!(tls_error(&reset).is_none());
        let err = untrusted(
            "PROPFIND /",
            &rustls::CertificateError::UnknownIssuer,
            "invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(!err.is_temporary() && !err.is_outcome_unknown());
        assert!(
            err.to_string().contains("with_root_certificate_pem"),
            "{err}"
        );
    }

    #[test]
    fn basic_credentials_encode_and_never_print() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        let auth = DavAuth::Basic {
            user: "ann".into(),
            password: SecretString::new("hunter2"),
        };
        let shown = format!("{auth:?}");
        assert!(shown.contains("ann") && !shown.contains("hunter2"));
    }
}
