//! The WebDAV XML this crate sends and reads: request bodies, and the small `multistatus`
//! answers (RFC 4918 §13: collections, multiget batches, `UID` queries) read whole into
//! plain structs. Listings of a collection's members, which grow with it, are read as
//! they arrive by [`crate::multistatus`] instead.

use mailmigrate_core::pim::PimKind;
use mailmigrate_core::{Error, ErrorKind, Result};

use crate::http::PROVIDER;

/// `DAV:`.
pub(crate) const DAV: &str = "DAV:";
/// CalDAV (RFC 4791).
pub(crate) const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV (RFC 6352).
pub(crate) const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's iCal namespace, which holds the de-facto `calendar-color`.
pub(crate) const APPLE_ICAL: &str = "http://apple.com/ns/ical/";

const HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
const NAMESPACES: &str = r#"xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="urn:ietf:params:xml:ns:carddav" xmlns:i="http://apple.com/ns/ical/""#;

/// Escapes text for an XML element or attribute.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A `PROPFIND` for `props` (each a prefixed name: `d:getetag`).
pub(crate) fn propfind(props: &[&str]) -> String {
    let props: String = props.iter().map(|p| format!("<{p}/>")).collect();
    format!("{HEAD}<d:propfind {NAMESPACES}><d:prop>{props}</d:prop></d:propfind>")
}

/// The properties read of a collection.
pub(crate) const COLLECTION_PROPS: &[&str] = &[
    "d:resourcetype",
    "d:displayname",
    "d:sync-token",
    "c:calendar-description",
    "a:addressbook-description",
    "i:calendar-color",
    "c:supported-calendar-component-set",
];

/// A `sync-collection` report (RFC 6578 §3.2) from `token` (empty for the initial one).
pub(crate) fn sync_collection(token: &str) -> String {
    format!(
        "{HEAD}<d:sync-collection {NAMESPACES}><d:sync-token>{}</d:sync-token>\
         <d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>",
        escape(token)
    )
}

/// The data element of a kind: `a:address-data` or `c:calendar-data`.
fn data_prop(kind: PimKind) -> &'static str {
    match kind {
        PimKind::Contacts => "a:address-data",
        _ => "c:calendar-data",
    }
}

/// A multiget report (RFC 6352 §8.7, RFC 4791 §7.9) of `hrefs` (absolute paths).
pub(crate) fn multiget(kind: PimKind, hrefs: &[String]) -> String {
    let (root, data) = match kind {
        PimKind::Contacts => ("a:addressbook-multiget", data_prop(kind)),
        _ => ("c:calendar-multiget", data_prop(kind)),
    };
    let hrefs: String = hrefs
        .iter()
        .map(|h| format!("<d:href>{}</d:href>", escape(h)))
        .collect();
    format!("{HEAD}<{root} {NAMESPACES}><d:prop><d:getetag/><{data}/></d:prop>{hrefs}</{root}>")
}

/// A query report for the items whose `UID` is `uid` (RFC 6352 §8.6, RFC 4791 §7.8).
pub(crate) fn uid_query(kind: PimKind, uid: &str) -> String {
    let uid = escape(uid);
    let data = data_prop(kind);
    match kind {
        PimKind::Contacts => format!(
            "{HEAD}<a:addressbook-query {NAMESPACES}><d:prop><d:getetag/><{data}/></d:prop>\
             <a:filter><a:prop-filter name=\"UID\"><a:text-match collation=\"i;octet\" \
             match-type=\"equals\">{uid}</a:text-match></a:prop-filter></a:filter>\
             </a:addressbook-query>"
        ),
        _ => format!(
            "{HEAD}<c:calendar-query {NAMESPACES}><d:prop><d:getetag/><{data}/></d:prop>\
             <c:filter><c:comp-filter name=\"VCALENDAR\"><c:comp-filter name=\"VEVENT\">\
             <c:prop-filter name=\"UID\"><c:text-match collation=\"i;octet\">{uid}\
             </c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter>\
             </c:calendar-query>"
        ),
    }
}

/// The body of an extended `MKCOL` (RFC 5689) for an address book, or of `MKCALENDAR`
/// (RFC 4791 §5.3.1) for a calendar of events.
pub(crate) fn make_collection(
    kind: PimKind,
    name: &str,
    description: Option<&str>,
    color: Option<&str>,
) -> String {
    let mut props = format!("<d:displayname>{}</d:displayname>", escape(name));
    match kind {
        PimKind::Contacts => {
            props.insert_str(
                0,
                "<d:resourcetype><d:collection/><a:addressbook/></d:resourcetype>",
            );
            if let Some(d) = description {
                props.push_str(&format!(
                    "<a:addressbook-description>{}</a:addressbook-description>",
                    escape(d)
                ));
            }
            format!("{HEAD}<d:mkcol {NAMESPACES}><d:set><d:prop>{props}</d:prop></d:set></d:mkcol>")
        }
        _ => {
            if let Some(d) = description {
                props.push_str(&format!(
                    "<c:calendar-description>{}</c:calendar-description>",
                    escape(d)
                ));
            }
            if let Some(c) = color {
                props.push_str(&format!(
                    "<i:calendar-color>{}</i:calendar-color>",
                    escape(c)
                ));
            }
            props.push_str(
                "<c:supported-calendar-component-set><c:comp name=\"VEVENT\"/>\
                 </c:supported-calendar-component-set>",
            );
            format!(
                "{HEAD}<c:mkcalendar {NAMESPACES}><d:set><d:prop>{props}</d:prop></d:set>\
                 </c:mkcalendar>"
            )
        }
    }
}

/// What a `multistatus` says.
#[derive(Debug, Default)]
pub(crate) struct Multistatus {
    /// One entry per `response`.
    pub(crate) responses: Vec<DavResponse>,
}

impl Multistatus {
    /// The properties of the first response (a Depth 0 request's only one), empty when
    /// there is none.
    pub(crate) fn first_props(self) -> Props {
        self.responses
            .into_iter()
            .next()
            .map(|r| r.props)
            .unwrap_or_default()
    }
}

/// One `response` of a multistatus.
#[derive(Debug, Default)]
pub(crate) struct DavResponse {
    /// The resource, as the server wrote it.
    pub(crate) href: String,
    /// The status of the whole response (a removed member: 404), when given.
    pub(crate) status: Option<u16>,
    /// The properties the server found (`propstat` with a 2xx status).
    pub(crate) props: Props,
}

/// The properties this crate reads.
#[derive(Debug, Default)]
pub(crate) struct Props {
    pub(crate) etag: Option<String>,
    pub(crate) displayname: Option<String>,
    pub(crate) sync_token: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) color: Option<String>,
    pub(crate) data: Option<String>,
    pub(crate) principal: Option<String>,
    pub(crate) calendar_home: Option<String>,
    pub(crate) addressbook_home: Option<String>,
    /// `(namespace, name)` of each resource type.
    pub(crate) resource_types: Vec<(String, String)>,
    /// The component names a calendar accepts, when it says.
    pub(crate) components: Option<Vec<String>>,
}

impl Props {
    /// Whether the resource is an address book (`kind` contacts) or a calendar (events).
    pub(crate) fn is_collection_of(&self, kind: PimKind) -> bool {
        let (ns, name) = match kind {
            PimKind::Contacts => (CARDDAV, "addressbook"),
            _ => (CALDAV, "calendar"),
        };
        let typed = self
            .resource_types
            .iter()
            .any(|(n, t)| n == ns && t == name);
        typed
            && self
                .components
                .as_ref()
                .is_none_or(|c| kind == PimKind::Contacts || c.iter().any(|c| c == "VEVENT"))
    }
}

/// The error of an answer that is not the XML expected.
pub(crate) fn unreadable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("the server's {what} answer is not readable XML: {e}"),
    )
    .with_provider(PROVIDER)
}

fn is(node: roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| is(*c, ns, name))
}

/// All the text under `node`.
fn text(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|t| t.text())
        .collect()
}

fn href_in(node: roxmltree::Node<'_, '_>) -> Option<String> {
    child(node, DAV, "href").map(|h| text(h).trim().to_owned())
}

/// The code of an HTTP status line (`HTTP/1.1 404 Not Found`).
pub(crate) fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn read_props(prop: roxmltree::Node<'_, '_>, into: &mut Props) {
    for p in prop.children().filter(roxmltree::Node::is_element) {
        let ns = p.tag_name().namespace().unwrap_or_default();
        match (ns, p.tag_name().name()) {
            (DAV, "getetag") => into.etag = non_empty(text(p)),
            (DAV, "displayname") => into.displayname = non_empty(text(p)),
            (DAV, "sync-token") => into.sync_token = non_empty(text(p)),
            (DAV, "current-user-principal") => into.principal = href_in(p),
            (DAV, "resourcetype") => {
                into.resource_types = p
                    .children()
                    .filter(roxmltree::Node::is_element)
                    .map(|t| {
                        (
                            t.tag_name().namespace().unwrap_or_default().to_owned(),
                            t.tag_name().name().to_owned(),
                        )
                    })
                    .collect();
            }
            (CALDAV, "calendar-home-set") => into.calendar_home = href_in(p),
            (CARDDAV, "addressbook-home-set") => into.addressbook_home = href_in(p),
            (CALDAV, "calendar-description") | (CARDDAV, "addressbook-description") => {
                into.description = non_empty(text(p));
            }
            (APPLE_ICAL, "calendar-color") => into.color = non_empty(text(p)),
            (CALDAV, "supported-calendar-component-set") => {
                into.components = Some(
                    p.children()
                        .filter(|c| is(*c, CALDAV, "comp"))
                        .filter_map(|c| c.attribute("name").map(str::to_ascii_uppercase))
                        .collect(),
                );
            }
            // The data is taken as it is: no trimming, line ends included.
            (CALDAV, "calendar-data") | (CARDDAV, "address-data") => {
                let t = text(p);
                into.data = (!t.trim().is_empty()).then_some(t);
            }
            _ => {}
        }
    }
}

/// Reads a `multistatus` body.
///
/// # Errors
/// `Unexpected` when the body is not XML or not a multistatus.
pub(crate) fn parse_multistatus(body: &str, what: &str) -> Result<Multistatus> {
    let doc = roxmltree::Document::parse_with_options(
        body,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .map_err(|e| unreadable(what, e))?;
    let root = doc.root_element();
    if !is(root, DAV, "multistatus") {
        return Err(unreadable(what, "the root element is not DAV:multistatus"));
    }
    let mut out = Multistatus::default();
    for r in root.children().filter(|c| is(*c, DAV, "response")) {
        let Some(href) = href_in(r) else { continue };
        let mut resp = DavResponse {
            href,
            status: child(r, DAV, "status").and_then(|s| status_code(&text(s))),
            props: Props::default(),
        };
        for ps in r.children().filter(|c| is(*c, DAV, "propstat")) {
            let ok = child(ps, DAV, "status")
                .and_then(|s| status_code(&text(s)))
                .is_some_and(|c| (200..300).contains(&c));
            if let (true, Some(prop)) = (ok, child(ps, DAV, "prop")) {
                read_props(prop, &mut resp.props);
            }
        }
        out.responses.push(resp);
    }
    Ok(out)
}

/// The precondition names (`DAV:error` children, RFC 4918 §16) of an error body, as
/// `namespace name` pairs; empty when the body is no such document.
pub(crate) fn preconditions(body: &str) -> Vec<(String, String)> {
    let Ok(doc) = roxmltree::Document::parse(body) else {
        return Vec::new();
    };
    let root = doc.root_element();
    if !is(root, DAV, "error") {
        return Vec::new();
    }
    root.children()
        .filter(roxmltree::Node::is_element)
        .map(|c| {
            (
                c.tag_name().namespace().unwrap_or_default().to_owned(),
                c.tag_name().name().to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sync_report_with_removals_and_data() {
        let body = r#"<?xml version="1.0"?><ns0:multistatus xmlns:ns0="DAV:"
            xmlns:c="urn:ietf:params:xml:ns:caldav">
          <ns0:response><ns0:href>/u/c/a.ics</ns0:href><ns0:propstat>
            <ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:getetag>"e1"</ns0:getetag>
            <c:calendar-data>BEGIN:VCALENDAR&#13;
END:VCALENDAR&#13;
</c:calendar-data></ns0:prop></ns0:propstat>
            <ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status>
            <ns0:prop><ns0:displayname/></ns0:prop></ns0:propstat></ns0:response>
          <ns0:response><ns0:href>/u/c/b%20x.ics</ns0:href>
            <ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:response>
          <ns0:sync-token>tok-2</ns0:sync-token></ns0:multistatus>"#;
        let ms = parse_multistatus(body, "test").unwrap();
        assert_eq!(ms.responses.len(), 2);
        assert_eq!(ms.responses[0].props.etag.as_deref(), Some("\"e1\""));
        assert_eq!(
            ms.responses[0].props.data.as_deref(),
            Some("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        );
        assert_eq!(ms.responses[1].status, Some(404));
        assert_eq!(ms.responses[1].href, "/u/c/b%20x.ics");
    }

    #[test]
    fn reads_collection_types_and_components() {
        let body = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
          <response><href>/u/tasks/</href><propstat><prop><resourcetype><collection/>
          <C:calendar/></resourcetype><C:supported-calendar-component-set>
          <C:comp name="VTODO"/></C:supported-calendar-component-set></prop>
          <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;
        let ms = parse_multistatus(body, "test").unwrap();
        let p = &ms.responses[0].props;
        assert!(
            !p.is_collection_of(PimKind::Events),
            "a task list holds no events"
        );
        assert!(!p.is_collection_of(PimKind::Contacts));
    }

    #[test]
    fn refuses_what_is_not_a_multistatus() {
        assert!(parse_multistatus("<html/>", "test").is_err());
        assert!(parse_multistatus("not xml", "test").is_err());
        let dtd = r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><multistatus xmlns="DAV:"/>"#;
        assert!(
            parse_multistatus(dtd, "test").is_err(),
            "no entity expansion"
        );
    }

    #[test]
    fn names_preconditions_and_escapes_queries() {
        let body = r#"<error xmlns="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><CR:no-uid-conflict/></error>"#;
        assert_eq!(
            preconditions(body),
            vec![(CARDDAV.to_owned(), "no-uid-conflict".to_owned())]
        );
        assert!(preconditions("Precondition failed.").is_empty());
        let q = uid_query(PimKind::Contacts, "a<b&\"c\"");
        assert!(q.contains("a&lt;b&amp;&quot;c&quot;"));
        roxmltree::Document::parse(&q).unwrap();
        roxmltree::Document::parse(&uid_query(PimKind::Events, "x")).unwrap();
        roxmltree::Document::parse(&multiget(PimKind::Events, &["/a&b.ics".into()])).unwrap();
        roxmltree::Document::parse(&make_collection(
            PimKind::Events,
            "W<",
            Some("d"),
            Some("#ff0000"),
        ))
        .unwrap();
        roxmltree::Document::parse(&make_collection(PimKind::Contacts, "B", Some("d"), None))
            .unwrap();
        roxmltree::Document::parse(&sync_collection("http://x/?a&b")).unwrap();
        roxmltree::Document::parse(&propfind(COLLECTION_PROPS)).unwrap();
    }
}
