//! Listings read one `response` at a time: a `multistatus` (RFC 4918 §13) of a
//! `PROPFIND Depth: 1` or a `sync-collection` report (RFC 6578 §3.2), with the report's
//! `sync-token`, read from its spool (see [`crate::spool`]).
//!
//! What is held at once is bounded by [`MAX_ELEMENT`], never by the number of responses:
//! one XML event (a tag, a run of text) is at most that many bytes, the text kept of one
//! element (an href, a status, an ETag, the token) too, and elements nest at most
//! [`MAX_DEPTH`] deep. Everything else (other properties, comments) is read and dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use mailmigrate_core::{Error, Result};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

use crate::http::Body;
use crate::spool::SpoolError;
use crate::xml::{status_code, unreadable, DAV};

/// The most bytes of one XML event, and of the text kept of one element.
pub(crate) const MAX_ELEMENT: usize = 64 << 10;

/// The deepest nesting read (a listing needs six levels).
const MAX_DEPTH: usize = 32;

/// One `response` of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The resource, as the server wrote it.
    pub(crate) href: String,
    /// The status of the whole response (a removed member: 404), when given.
    pub(crate) status: Option<u16>,
    /// `getetag` from a `propstat` with a 2xx status.
    pub(crate) etag: Option<String>,
}

/// The elements a listing reads; any other is [`Tag::Other`], and so is all below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// The root.
    Multistatus,
    /// One `response` of the root.
    Response,
    /// The `href` of a response.
    Href,
    /// The `status` of a whole response.
    ResponseStatus,
    /// A `propstat` of a response.
    Propstat,
    /// The `status` of a `propstat`.
    PropstatStatus,
    /// The `prop` of a `propstat`.
    Prop,
    /// `getetag` in a `prop`.
    Getetag,
    /// The report's `sync-token` (RFC 6578 §6.2).
    SyncToken,
    /// Anything else.
    Other,
}

impl Tag {
    /// The tag of a child of `parent` (`None`: the root) named `dav` in the DAV namespace
    /// (`None`: another namespace).
    fn of(parent: Option<Tag>, dav: Option<&[u8]>) -> Tag {
        match (parent, dav) {
            (None, Some(b"multistatus")) => Tag::Multistatus,
            (Some(Tag::Multistatus), Some(b"response")) => Tag::Response,
            (Some(Tag::Multistatus), Some(b"sync-token")) => Tag::SyncToken,
            (Some(Tag::Response), Some(b"href")) => Tag::Href,
            (Some(Tag::Response), Some(b"status")) => Tag::ResponseStatus,
            (Some(Tag::Response), Some(b"propstat")) => Tag::Propstat,
            (Some(Tag::Propstat), Some(b"status")) => Tag::PropstatStatus,
            (Some(Tag::Propstat), Some(b"prop")) => Tag::Prop,
            (Some(Tag::Prop), Some(b"getetag")) => Tag::Getetag,
            _ => Tag::Other,
        }
    }

    /// Whether the text of this element is kept.
    fn keeps_text(self) -> bool {
        matches!(
            self,
            Tag::Href | Tag::ResponseStatus | Tag::PropstatStatus | Tag::Getetag | Tag::SyncToken
        )
    }
}

/// A reader that hands out at most `limit` bytes between two calls of [`Self::restart`]:
/// the XML reader buffers one event whole, so this bounds the event.
struct Bounded {
    /// The answer's body (its spool).
    inner: Body,
    /// Bytes handed out since the last restart.
    used: usize,
    /// The most bytes handed out between restarts.
    limit: usize,
}

impl Bounded {
    /// Starts counting the next event.
    fn restart(&mut self) {
        self.used = 0;
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The XML reader only uses the buffered interface; reading through it keeps the
        // count in one place.
        let this = self.get_mut();
        let chunk = match Pin::new(&mut *this).poll_fill_buf(cx) {
            Poll::Ready(Ok(chunk)) => chunk,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = chunk.len().min(buf.remaining());
        buf.put_slice(&chunk[..n]);
        Pin::new(this).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for Bounded {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let room = this.limit.saturating_sub(this.used);
        if room == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an XML element is longer than {} bytes", this.limit),
            )));
        }
        match this.inner.as_mut().poll_fill_buf(cx) {
            Poll::Ready(Ok(chunk)) => Poll::Ready(Ok(&chunk[..chunk.len().min(room)])),
            other => other,
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.used += amt;
        this.inner.as_mut().consume(amt);
    }
}

/// What has been read so far: the open elements and the response being filled.
#[derive(Debug, Default)]
struct State {
    /// The open elements, the root first.
    path: Vec<Tag>,
    /// The text of the innermost element that keeps its text.
    text: String,
    /// The response being read.
    member: Member,
    /// The status of the `propstat` being read.
    propstat_status: Option<u16>,
    /// The `getetag` of the `propstat` being read.
    propstat_etag: Option<String>,
    /// The report's new token.
    sync_token: Option<String>,
    /// The root element was opened.
    started: bool,
    /// The root element was closed.
    ended: bool,
}

impl State {
    /// Opens an element named `dav` in the DAV namespace (`None`: another namespace).
    fn start(&mut self, dav: Option<&[u8]>) -> std::result::Result<(), String> {
        let parent = self.path.last().copied();
        let tag = match parent {
            Some(Tag::Other) => Tag::Other,
            _ => Tag::of(parent, dav),
        };
        if parent.is_none() {
            if tag != Tag::Multistatus {
                return Err("the root element is not DAV:multistatus".into());
            }
            self.started = true;
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(format!("elements nest deeper than {MAX_DEPTH}"));
        }
        match tag {
            Tag::Response => self.member = Member::default(),
            Tag::Propstat => (self.propstat_status, self.propstat_etag) = (None, None),
            _ => {}
        }
        self.text.clear();
        self.path.push(tag);
        Ok(())
    }

    /// Closes the innermost element; a closed `response` is returned.
    fn end(&mut self) -> Option<Member> {
        let tag = self.path.pop()?;
        let text = || {
            let t = self.text.trim();
            (!t.is_empty()).then(|| t.to_owned())
        };
        match tag {
            Tag::Href => self.member.href = text().unwrap_or_default(),
            Tag::ResponseStatus => self.member.status = status_code(&self.text),
            Tag::PropstatStatus => self.propstat_status = status_code(&self.text),
            Tag::Getetag => self.propstat_etag = text(),
            Tag::SyncToken => self.sync_token = text(),
            // RFC 4918 §14.22: only a 2xx `propstat` holds properties found.
            Tag::Propstat
                if self
                    .propstat_status
                    .is_some_and(|s| (200..300).contains(&s)) =>
            {
                if let Some(etag) = self.propstat_etag.take() {
                    self.member.etag = Some(etag);
                }
            }
            Tag::Response => {
                let member = std::mem::take(&mut self.member);
                return (!member.href.is_empty()).then_some(member);
            }
            Tag::Multistatus => self.ended = true,
            _ => {}
        }
        self.text.clear();
        None
    }

    /// Whether the innermost element keeps its text.
    fn keeps_text(&self) -> bool {
        self.path.last().is_some_and(|t| t.keeps_text())
    }

    /// Adds text to the innermost element, when it keeps its text.
    fn text(&mut self, piece: &str) -> std::result::Result<(), String> {
        if !self.keeps_text() {
            return Ok(());
        }
        if self.text.len() + piece.len() > MAX_ELEMENT {
            return Err(format!(
                "an element's text is longer than {MAX_ELEMENT} bytes"
            ));
        }
        self.text.push_str(piece);
        Ok(())
    }
}

/// Reads the responses of a listing one at a time.
pub(crate) struct Members {
    /// The namespace-aware reader of the body.
    xml: NsReader<Bounded>,
    /// The bytes of the current event (at most [`MAX_ELEMENT`]).
    buf: Vec<u8>,
    /// What has been read.
    state: State,
    /// What the request was for, in errors.
    what: String,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("what", &self.what)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Members {
    /// A reader of `body`, the spooled answer to `what` ("REPORT /u/c/").
    pub(crate) fn new(body: Body, what: impl Into<String>) -> Self {
        let mut xml = NsReader::from_reader(Bounded {
            inner: body,
            used: 0,
            limit: MAX_ELEMENT,
        });
        xml.config_mut().check_end_names = true;
        Self {
            xml,
            buf: Vec::new(),
            state: State::default(),
            what: what.into(),
        }
    }

    /// The report's `sync-token`, once read (RFC 6578 §6.2: after the responses).
    pub(crate) fn sync_token(&self) -> Option<&str> {
        self.state.sync_token.as_deref()
    }

    /// The next response, `None` after `</multistatus>`.
    ///
    /// # Errors
    /// `Unexpected` for what is not a whole multistatus or breaks a bound, and for a
    /// spool that cannot be read back (the transport is done with by then).
    pub(crate) async fn next(&mut self) -> Result<Option<Member>> {
        while !self.state.ended {
            self.buf.clear();
            self.xml.get_mut().restart();
            let read = self.xml.read_resolved_event_into_async(&mut self.buf).await;
            let (ns, event) = read.map_err(|e| xml_error(&self.what, e))?;
            let dav = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == DAV.as_bytes());
            let member =
                apply(&mut self.state, dav, event).map_err(|e| unreadable(&self.what, e))?;
            if member.is_some() {
                return Ok(member);
            }
        }
        Ok(None)
    }
}

/// What one event does to the state: a closed response, or nothing to hand out yet.
fn apply(
    state: &mut State,
    dav: bool,
    event: Event<'_>,
) -> std::result::Result<Option<Member>, String> {
    let keep = |t: std::result::Result<std::borrow::Cow<'_, str>, _>, state: &mut State| {
        let t = t.map_err(|e: quick_xml::encoding::EncodingError| e.to_string())?;
        state.text(&t).map(|()| None)
    };
    match event {
        Event::Start(e) => state
            .start(dav.then_some(e.local_name().as_ref()))
            .map(|()| None),
        Event::Empty(e) => state
            .start(dav.then_some(e.local_name().as_ref()))
            .map(|()| state.end()),
        Event::End(_) => Ok(state.end()),
        Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) if !state.keeps_text() => Ok(None),
        Event::Text(t) => keep(t.decode(), state),
        Event::CData(t) => keep(t.decode(), state),
        Event::GeneralRef(r) => state.text(&reference(&r)?).map(|()| None),
        // RFC 4918 §20.6: no entity is expanded.
        Event::DocType(_) => Err("a DTD is not accepted".into()),
        Event::Eof => Err("the answer ends before </multistatus>".into()),
        Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ok(None),
    }
}

/// The text of a character or predefined entity reference (`&#13;`, `&amp;`).
fn reference(r: &BytesRef<'_>) -> std::result::Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| format!("the entity &{name}; is not defined"))
}

/// The core error of a failed read: a broken bound or bad XML is unreadable, a failing
/// read of the spool a disk failure (both `Unexpected`).
fn xml_error(what: &str, e: quick_xml::Error) -> Error {
    match &e {
        quick_xml::Error::Io(io) if io.kind() != io::ErrorKind::InvalidData => {
            SpoolError::Disk(io::Error::new(io.kind(), io.to_string())).into_error(what)
        }
        _ => unreadable(what, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::stream;
    use tokio_util::io::StreamReader;

    /// A body arriving `chunk` bytes at a time.
    fn body(text: &str, chunk: usize) -> Body {
        let chunks: Vec<io::Result<Bytes>> = text
            .as_bytes()
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(StreamReader::new(stream::iter(chunks)))
    }

    async fn read_all(text: &str, chunk: usize) -> Result<(Vec<Member>, Option<String>)> {
        let mut members = Members::new(body(text, chunk), "REPORT /u/c/");
        let mut out = Vec::new();
        while let Some(m) = members.next().await? {
            out.push(m);
        }
        Ok((out, members.sync_token().map(str::to_owned)))
    }

    const REPORT: &str = r#"<?xml version="1.0"?><ns0:multistatus xmlns:ns0="DAV:"
        xmlns:c="urn:ietf:params:xml:ns:caldav">
      <ns0:response><ns0:href>/u/c/a.ics</ns0:href><ns0:propstat>
        <ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:getetag>"e&amp;1"</ns0:getetag>
        <c:calendar-data>BEGIN:VCALENDAR</c:calendar-data></ns0:prop></ns0:propstat>
        <ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status>
        <ns0:prop><ns0:getetag>"not-this"</ns0:getetag></ns0:prop></ns0:propstat></ns0:response>
      <!-- a comment --><ns0:response><ns0:href>/u/c/b%20x.ics</ns0:href>
        <ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:response>
      <ns0:response><ns0:href><![CDATA[/u/c/]]></ns0:href>
        <ns0:status>HTTP/1.1 507 Insufficient Storage</ns0:status></ns0:response>
      <ns0:sync-token>http://x/tok&#45;2</ns0:sync-token></ns0:multistatus>"#;

    #[tokio::test]
    async fn reads_responses_and_the_token_whatever_the_chunking() {
        for chunk in [1, 7, 4096] {
            let (members, token) = read_all(REPORT, chunk).await.unwrap();
            assert_eq!(token.as_deref(), Some("http://x/tok-2"), "chunk {chunk}");
            assert_eq!(
                members,
                vec![
                    Member {
                        href: "/u/c/a.ics".into(),
                        status: None,
                        etag: Some("\"e&1\"".into()),
                    },
                    Member {
                        href: "/u/c/b%20x.ics".into(),
                        status: Some(404),
                        etag: None,
                    },
                    Member {
                        href: "/u/c/".into(),
                        status: Some(507),
                        etag: None,
                    },
                ],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn reads_any_prefix_and_the_default_namespace() {
        let body = r#"<multistatus xmlns="DAV:"><response><href>/c/x.vcf</href>
            <propstat><prop><D:getetag xmlns:D="DAV:">"1"</D:getetag><getetag xmlns="urn:x">"no"</getetag>
            </prop><status>HTTP/1.1 200 OK</status></propstat></response>
            <x:response xmlns:x="urn:other"><href>/c/not-dav.vcf</href></x:response>
            </multistatus>"#;
        let (members, token) = read_all(body, 5).await.unwrap();
        assert_eq!(token, None);
        assert_eq!(members.len(), 1, "{members:?}");
        assert_eq!(members[0].etag.as_deref(), Some("\"1\""));
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_whole_multistatus() {
        let cases = [
            ("<html/>", "root"),
            ("not xml", "text"),
            (
                r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><multistatus xmlns="DAV:"/>"#,
                "dtd",
            ),
            (
                r#"<multistatus xmlns="DAV:"><response><href>/c/a"#,
                "cut off",
            ),
            (
                r#"<multistatus xmlns="DAV:"><response></multistatus>"#,
                "mismatched",
            ),
            (
                r#"<multistatus xmlns="DAV:"><response><href>&x;</href>"#,
                "entity",
            ),
            ("", "empty"),
        ];
        for (body, what) in cases {
            let e = read_all(body, 3).await.unwrap_err();
            assert_eq!(
                e.kind(),
                mailmigrate_core::ErrorKind::Unexpected,
                "{what}: {e}"
            );
        }
    }

    #[tokio::test]
    async fn bounds_one_element_and_the_nesting_not_the_answer() {
        let huge = format!(
            r#"<multistatus xmlns="DAV:"><response><href>/c/{}</href></response></multistatus>"#,
            "a".repeat(MAX_ELEMENT + 1)
        );
        let e = read_all(&huge, 8192).await.unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
        // Many small text pieces (references) add up too.
        let refs = format!(
            r#"<multistatus xmlns="DAV:"><response><href>{}</href></response></multistatus>"#,
            "&amp;".repeat(MAX_ELEMENT + 1)
        );
        assert!(read_all(&refs, 8192).await.is_err());
        let deep = format!(
            r#"<multistatus xmlns="DAV:">{}"#,
            "<x>".repeat(MAX_DEPTH + 1)
        );
        assert!(read_all(&deep, 8192).await.is_err());
        // A big property that is not kept is read and dropped, however long in total.
        let big_prop = format!(
            r#"<multistatus xmlns="DAV:"><response><href>/c/a</href><propstat><prop>
            <displayname>{}</displayname></prop></propstat></response></multistatus>"#,
            "<b>x</b>".repeat(MAX_ELEMENT)
        );
        assert_eq!(read_all(&big_prop, 8192).await.unwrap().0.len(), 1);
    }

    #[tokio::test]
    async fn a_spool_failing_mid_answer_is_a_disk_failure() {
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(
                br#"<multistatus xmlns="DAV:"><response>"#,
            )),
            Err(io::Error::other("input/output error")),
        ];
        let mut members = Members::new(
            Box::pin(StreamReader::new(stream::iter(chunks))),
            "PROPFIND /c/",
        );
        let e = members.next().await.unwrap_err();
        assert_eq!(e.kind(), mailmigrate_core::ErrorKind::Unexpected, "{e}");
        assert!(!e.is_temporary());
        let text = e.to_string();
        assert!(
            text.contains("PROPFIND /c/") && text.contains("input/output error"),
            "{text}"
        );
    }
}
