//! A small in-process DAV server that gives the answers Radicale and Xandikos never give:
//! no `sync-collection`, truncated reports, refused tokens, refused PUTs, broken and huge
//! listings. Each test drives the public store, alone or under the core engine with the
//! memory store on the other side, and checks what moved and what the server holds.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use futures::{stream, StreamExt};
use mailmigrate_core::pim::sync::{PimReport, PimSync, PimSyncOptions};
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::testkit::pim::sample_contact;
use mailmigrate_core::{Checkpoint, ErrorKind, Operation};
use mailmigrate_dav::{DavBuilder, DavStore};

/// The address book home and its one address book.
const HOME: &str = "/dav/books/";
/// The address book.
const BOOK: &str = "/dav/books/book/";
/// The calendar home (empty).
const CALENDARS: &str = "/dav/calendars/";

/// What a listing answers instead of the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Fault {
    /// The truth.
    #[default]
    None,
    /// The members, then XML that breaks off mid-element.
    Malformed,
    /// One member whose href is 100 KiB long.
    HugeHref,
    /// The members, plus responses for resources outside the address book.
    Outside,
    /// This many generated members, streamed as they are written.
    Generated(usize),
    /// The members, then the connection closes short of the `Content-Length` announced.
    CutShort,
    /// The members, each piece sent after this pause.
    Trickle(Duration),
}

/// How the server behaves; each test sets what it needs.
#[derive(Debug, Clone, Default)]
struct Config {
    /// The status `REPORT sync-collection` answers with, when the server has none.
    no_sync: Option<u16>,
    /// The most changes per sync report; more are left for the next (RFC 6578 §3.6).
    page: Option<usize>,
    /// Every sync token is refused (RFC 6578 §3.2 `DAV:valid-sync-token`).
    refuse_tokens: bool,
    /// The status a PUT to a resource name answers with instead of storing.
    put_status: HashMap<String, u16>,
    /// What sync reports answer.
    fault: Fault,
    /// PUTs to these resource names whose answer is lost once (the connection breaks
    /// after the status line): `true` when the resource is stored before that.
    lose_answer: HashMap<String, bool>,
    /// The status multiget reports answer with instead of the truth.
    multiget_status: Option<u16>,
    /// A generated listing's connection is closed when the client leaves it unread this
    /// long (as Radicale's `[server] timeout` does, 30 s by default).
    close_unread_after: Option<Duration>,
}

/// The server's state: the address book's resources and their change log.
#[derive(Debug, Default)]
struct Dav {
    /// Resource name → (ETag, body).
    items: BTreeMap<String, (String, String)>,
    /// (sequence number, resource name, removed), oldest first.
    log: Vec<(u64, String, bool)>,
    /// The last sequence number given (the sync token's number).
    seq: u64,
    /// How it behaves.
    config: Config,
    /// Every request: "METHOD path" plus what matters of it.
    requests: Vec<String>,
}

impl Dav {
    /// Stores a resource (as a user of the server would) and returns its new ETag.
    fn put(&mut self, name: &str, body: String) -> String {
        self.seq += 1;
        let etag = format!("\"e{}\"", self.seq);
        self.items.insert(name.to_owned(), (etag.clone(), body));
        self.log.push((self.seq, name.to_owned(), false));
        etag
    }

    /// Moves a resource to another name, body and ETag kept (as a server that renames
    /// what it is given would).
    fn rename(&mut self, from: &str, to: &str) {
        let item = self.items.remove(from).expect("the resource to rename");
        self.items.insert(to.to_owned(), item);
        self.seq += 1;
        self.log.push((self.seq, from.to_owned(), true));
        self.log.push((self.seq, to.to_owned(), false));
    }

    /// Deletes a resource (as a user would); whether it was there.
    fn delete(&mut self, name: &str) -> bool {
        let gone = self.items.remove(name).is_some();
        if gone {
            self.seq += 1;
            self.log.push((self.seq, name.to_owned(), true));
        }
        gone
    }

    /// The latest change of each resource after `since`, oldest first.
    fn changes_since(&self, since: u64) -> Vec<(u64, String, bool)> {
        let mut latest: HashMap<&str, (u64, bool)> = HashMap::new();
        for (seq, name, removed) in self.log.iter().filter(|(s, ..)| *s > since) {
            latest.insert(name, (*seq, *removed));
        }
        let mut out: Vec<_> = latest
            .into_iter()
            .filter(|(_, (_, removed))| since > 0 || !removed)
            .map(|(name, (seq, removed))| (seq, name.to_owned(), removed))
            .collect();
        out.sort();
        out
    }
}

/// The running server.
struct Server {
    /// What it holds and how it behaves.
    dav: Mutex<Dav>,
    /// Its root URL.
    url: String,
}

impl Server {
    /// Starts a server on 127.0.0.1 with `config` and `n` contacts `c0`…
    async fn start(config: Config, n: usize) -> Arc<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = Arc::new(Server {
            dav: Mutex::new(Dav {
                config,
                ..Dav::default()
            }),
            url,
        });
        for i in 0..n {
            server
                .dav()
                .put(&format!("c{i}.vcf"), contact(&format!("c{i}")));
        }
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&server));
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    /// Its state, locked.
    fn dav(&self) -> MutexGuard<'_, Dav> {
        self.dav
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The store of this server, with batches of 3.
    async fn store(&self) -> DavStore {
        self.store_with(|b| b).await
    }

    /// The store of this server, with batches of 3, reading answers of at most 1 MiB, and
    /// what `configure` sets.
    async fn store_with(&self, configure: impl FnOnce(DavBuilder) -> DavBuilder) -> DavStore {
        let builder = DavBuilder::new(&self.url)
            .allow_plaintext(true)
            .with_homes(Some(CALENDARS.into()), Some(HOME.into()))
            .with_batch_size(3)
            .with_max_answer(1 << 20);
        configure(builder)
            .connect()
            .await
            .expect("connect to the hostile server")
    }

    /// The requests seen whose line starts with `prefix`.
    fn requests(&self, prefix: &str) -> Vec<String> {
        let dav = self.dav();
        dav.requests
            .iter()
            .filter(|r| r.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The tokens of the sync reports asked for, in order ("" for the initial one).
    fn sync_tokens(&self) -> Vec<String> {
        let dav = self.dav();
        dav.requests
            .iter()
            .filter_map(|r| r.split_once(" sync=").map(|(_, t)| t.to_owned()))
            .collect()
    }

    /// The resource names held.
    fn names(&self) -> Vec<String> {
        self.dav().items.keys().cloned().collect()
    }
}

/// A vCard with `uid`.
fn contact(uid: &str) -> String {
    String::from_utf8(sample_contact(uid).text().to_vec()).unwrap()
}

/// The address book's id.
fn book() -> CollectionId {
    CollectionId::new(BOOK)
}

/// The text between `start` and the next `end`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    Some(&s[from..from + s[from..].find(end)?])
}

/// An answer with `status`, `headers` and `body`.
fn answer(status: u16, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(body.into()).unwrap()
}

/// A multistatus (RFC 4918 §13) of `responses`, with a sync token when given.
fn multistatus(responses: &str, token: Option<u64>) -> Response {
    let token = token.map_or(String::new(), |t| {
        format!("<D:sync-token>http://hostile/tok-{t}</D:sync-token>")
    });
    answer(
        207,
        &[("content-type", "application/xml; charset=utf-8".into())],
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav">{responses}{token}</D:multistatus>"#
        ),
    )
}

/// A `response` with a 200 `propstat` of `props`.
fn found(href: &str, props: &str) -> String {
    format!(
        "<D:response><D:href>{href}</D:href><D:propstat><D:prop>{props}</D:prop>\
         <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    )
}

/// A member with its ETag (and its data in a report that asks for it).
fn member(name: &str, etag: &str, data: Option<&str>) -> String {
    let data = data.map_or(String::new(), |d| {
        format!(
            "<A:address-data>{}</A:address-data>",
            d.replace('&', "&amp;")
        )
    });
    found(
        &format!("{BOOK}{name}"),
        &format!("<D:getetag>{etag}</D:getetag>{data}"),
    )
}

/// A response with a status of its own (RFC 6578 §3.5.2: 404 for a removed member).
fn with_status(href: &str, status: &str) -> String {
    format!(
        "<D:response><D:href>{href}</D:href><D:status>HTTP/1.1 {status}</D:status></D:response>"
    )
}

/// Every request: OPTIONS, PROPFIND (homes, the book at depth 0 and 1), REPORT, PUT and
/// DELETE on the book's resources.
async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut dav = server.dav();
    let sync = match between(&body, "<d:sync-token>", "</d:sync-token>") {
        Some(token) if body.contains("sync-collection") => format!(" sync={token}"),
        _ => String::new(),
    };
    let kind = if body.contains("addressbook-multiget") {
        format!(" multiget={}", body.matches("<d:href>").count())
    } else if body.contains("addressbook-query") {
        " query".to_owned()
    } else {
        String::new()
    };
    let line = format!(
        "{method} {path} depth={} if-match={} if-none-match={}{sync}{kind}",
        header("depth"),
        header("if-match"),
        header("if-none-match")
    );
    dav.requests.push(line);
    match (method.as_str(), path.as_str()) {
        ("OPTIONS", _) => answer(200, &[("dav", "1, 3, addressbook".into())], ""),
        ("PROPFIND", HOME) => multistatus(
            &(found(HOME, "<D:resourcetype><D:collection/></D:resourcetype>")
                + &found(
                    BOOK,
                    "<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype>\
                     <D:displayname>Book</D:displayname>",
                )),
            None,
        ),
        ("PROPFIND", CALENDARS) => multistatus(
            &found(
                CALENDARS,
                "<D:resourcetype><D:collection/></D:resourcetype>",
            ),
            None,
        ),
        ("PROPFIND", BOOK) if header("depth") == "0" => multistatus(
            &found(
                BOOK,
                "<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype>",
            ),
            None,
        ),
        ("PROPFIND", BOOK) => {
            let members: String = dav
                .items
                .iter()
                .map(|(name, (etag, _))| member(name, etag, None))
                .collect();
            multistatus(&(found(BOOK, "") + &members), None)
        }
        ("REPORT", BOOK) => report(&mut dav, &body),
        ("PUT", _) => put(&mut dav, &path, &headers, body),
        ("DELETE", _) => {
            let name = path.trim_start_matches(BOOK);
            answer(if dav.delete(name) { 204 } else { 404 }, &[], "")
        }
        _ => answer(404, &[], ""),
    }
}

/// `REPORT` on the address book: sync-collection (RFC 6578), multiget (RFC 6352 §8.7) or
/// a `UID` query (RFC 6352 §8.6).
fn report(dav: &mut Dav, body: &str) -> Response {
    if body.contains("sync-collection") {
        return sync_report(dav, body);
    }
    if body.contains("addressbook-multiget") {
        if let Some(status) = dav.config.multiget_status {
            return answer(status, &[], "multiget refused");
        }
        let responses: String = body
            .split("<d:href>")
            .skip(1)
            .filter_map(|h| h.split("</d:href>").next())
            .map(|href| {
                let name = href.trim_start_matches(BOOK);
                match dav.items.get(name) {
                    Some((etag, data)) => member(name, etag, Some(data)),
                    None => with_status(href, "404 Not Found"),
                }
            })
            .collect();
        return multistatus(&responses, None);
    }
    let uid = between(body, "match-type=\"equals\">", "</a:text-match>").unwrap_or_default();
    let responses: String = dav
        .items
        .iter()
        .filter(|(_, (_, data))| data.contains(&format!("\r\nUID:{uid}\r\n")))
        .map(|(name, (etag, data))| member(name, etag, Some(data)))
        .collect();
    multistatus(&responses, None)
}

/// `sync-collection` from the request's token (RFC 6578 §3.2), in pages when configured,
/// or refused as configured.
fn sync_report(dav: &mut Dav, body: &str) -> Response {
    if let Some(status) = dav.config.no_sync {
        return answer(status, &[], "sync-collection is not supported here");
    }
    let token = between(body, "<d:sync-token>", "</d:sync-token>").unwrap_or_default();
    let since = match token.strip_prefix("http://hostile/tok-") {
        _ if token.is_empty() => Some(0),
        Some(n) if !dav.config.refuse_tokens => n.parse::<u64>().ok(),
        _ => None,
    };
    let Some(since) = since else {
        return answer(
            403,
            &[("content-type", "application/xml".into())],
            r#"<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>"#,
        );
    };
    if dav.config.fault != Fault::None {
        return faulty_listing(dav);
    }
    let mut changes = dav.changes_since(since);
    let mut token = dav.seq;
    let mut out = String::new();
    if let Some(page) = dav.config.page.filter(|p| changes.len() > *p) {
        changes.truncate(page);
        token = changes.last().map_or(since, |c| c.0);
        // RFC 6578 §3.6: the request-URI's own response, 507, says the answer is partial.
        out.push_str(&format!(
            "<D:response><D:href>{BOOK}</D:href><D:status>HTTP/1.1 507 Insufficient Storage\
             </D:status><D:error><D:number-of-matches-within-limits/></D:error></D:response>"
        ));
    }
    for (_, name, removed) in &changes {
        match dav.items.get(name) {
            Some((etag, _)) if !removed => out.push_str(&member(name, etag, None)),
            _ => out.push_str(&with_status(&format!("{BOOK}{name}"), "404 Not Found")),
        }
    }
    multistatus(&out, Some(token))
}

/// A listing that is not the truth, streamed in pieces.
fn faulty_listing(dav: &Dav) -> Response {
    let real: Vec<String> = dav
        .items
        .iter()
        .map(|(name, (etag, _))| member(name, etag, None))
        .collect();
    let head = r#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">"#.to_owned();
    let tail = format!(
        "<D:sync-token>http://hostile/tok-{}</D:sync-token></D:multistatus>",
        dav.seq
    );
    let pieces: Vec<String> = match dav.config.fault {
        Fault::Malformed => [head]
            .into_iter()
            .chain(real)
            .chain(["<D:response><D:href>/dav/books/book/x.vcf</D:hre".into()])
            .collect(),
        Fault::HugeHref => vec![head, member(&"h".repeat(100 << 10), "\"e\"", None), tail],
        Fault::Outside => [head]
            .into_iter()
            .chain(real)
            .chain([
                found("/dav/other/x.vcf", "<D:getetag>\"o1\"</D:getetag>"),
                found(&format!("{BOOK}sub/y.vcf"), "<D:getetag>\"o2\"</D:getetag>"),
                found("/dav/books/book-2/c0.vcf", "<D:getetag>\"o3\"</D:getetag>"),
                // A removal of c1 named under another collection must remove nothing.
                with_status("/dav/elsewhere/c1.vcf", "404 Not Found"),
                tail,
            ])
            .collect(),
        Fault::Generated(n) => return generated(n, dav.config.close_unread_after),
        Fault::CutShort => {
            // Announced whole, sent without its end (which the client receives: the body
            // ends after a pause): the connection closes early.
            let sent: Vec<String> = [head].into_iter().chain(real).collect();
            let announced = sent.iter().map(String::len).sum::<usize>() + tail.len();
            let pause = stream::once(tokio::time::sleep(Duration::from_millis(100)))
                .filter_map(|()| async { None });
            let chunks = stream::iter(sent)
                .map(|p| Ok::<_, Infallible>(Bytes::from(p)))
                .chain(pause);
            return answer(
                207,
                &[("content-length", announced.to_string())],
                Body::from_stream(chunks),
            );
        }
        Fault::Trickle(pause) => {
            let all = [head].into_iter().chain(real).chain([tail]);
            let chunks = stream::iter(all).then(move |p| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, Infallible>(Bytes::from(p))
            });
            return answer(207, &[], Body::from_stream(chunks));
        }
        Fault::None => unreachable!("no fault"),
    };
    let chunks = pieces
        .into_iter()
        .map(|p| Ok::<_, Infallible>(Bytes::from(p)));
    answer(207, &[], Body::from_stream(stream::iter(chunks)))
}

/// A listing of `n` members `m0.vcf`… written as it is sent, a thousand at a time: the
/// server never holds it either. With `close_unread_after`, the connection is closed when
/// the client reads nothing for that long.
fn generated(n: usize, close_unread_after: Option<Duration>) -> Response {
    let head = stream::once(async {
        Bytes::from_static(br#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">"#)
    });
    let body = stream::iter((0..n).step_by(1000)).map(move |from| {
        let to = (from + 1000).min(n);
        let text: String = (from..to)
            .map(|i| member(&format!("m{i}.vcf"), &format!("\"g{i}\""), None))
            .collect();
        Bytes::from(text)
    });
    let tail = stream::once(async {
        Bytes::from_static(b"<D:sync-token>http://hostile/tok-1</D:sync-token></D:multistatus>")
    });
    let mut last = Instant::now();
    let all = head.chain(body).chain(tail).map(move |chunk| {
        // The next piece is asked for once the last is taken (the socket's buffers full,
        // only once the client reads): a long wait means the client left it unread.
        let waited = last.elapsed();
        last = Instant::now();
        match close_unread_after {
            Some(limit) if waited > limit => Err(std::io::Error::other(format!(
                "the client left the answer unread for {waited:?}"
            ))),
            _ => Ok(chunk),
        }
    });
    answer(207, &[], Body::from_stream(all))
}

/// `PUT` honouring `If-None-Match: *` and `If-Match` (RFC 9110 §13.1), or refusing as
/// configured.
fn put(dav: &mut Dav, path: &str, headers: &HeaderMap, body: String) -> Response {
    let name = path.trim_start_matches(BOOK).to_owned();
    if let Some(&status) = dav.config.put_status.get(&name) {
        return answer(status, &[], "refused");
    }
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    let held = dav.items.get(&name).map(|(etag, _)| etag.clone());
    let refused = match (header("if-none-match"), header("if-match")) {
        (Some("*"), _) => held.is_some(),
        (_, Some(want)) => held.as_deref() != Some(want),
        _ => false,
    };
    if refused {
        return answer(412, &[], "precondition failed");
    }
    let status = if held.is_some() { 204 } else { 201 };
    let lost = dav.config.lose_answer.remove(&name);
    if lost == Some(false) {
        return lost_answer(status);
    }
    let etag = dav.put(&name, body);
    if lost.is_some() {
        return lost_answer(status);
    }
    answer(status, &[("etag", etag)], "")
}

/// An answer that breaks off after its status line: the client cannot tell what became of
/// its request.
fn lost_answer(status: u16) -> Response {
    let broken = stream::iter([Err::<Bytes, _>(std::io::Error::other("connection lost"))]);
    answer(status, &[], Body::from_stream(broken))
}

/// One engine pass from `src` to `dest` with deletions propagated.
async fn pass(src: &dyn PimSource, dest: &dyn PimDestination, state: &MemoryState) -> PimReport {
    PimSync::new(src, dest, state, "hostile")
        .with_options(
            PimSyncOptions::default()
                .with_kinds([PimKind::Contacts])
                .with_propagate_deletions(true),
        )
        .run()
        .await
        .expect("the pass runs")
}

/// (written, updated, deleted) of a pass.
fn moved(report: &PimReport) -> (u64, u64, u64) {
    let t = report.totals();
    (t.written, t.updated, t.deleted)
}

/// The full names of the memory store's contacts by `UID`.
async fn held(mem: &MemoryPim) -> BTreeMap<String, String> {
    let books = mem.list_collections(PimKind::Contacts).await.unwrap();
    assert_eq!(books.len(), 1, "{books:?}");
    mem.items(&books[0].id)
        .into_iter()
        .map(|i| {
            let name = match &i.payload {
                Payload::Contact(c) => c.full_name.clone(),
                _ => String::new(),
            };
            (i.uid().unwrap_or_default().to_owned(), name)
        })
        .collect()
}

/// Everything a listing yields, or its error.
async fn list(
    store: &DavStore,
    since: Option<Checkpoint>,
) -> Vec<mailmigrate_core::Result<ItemChange>> {
    store.list_items(&book(), since).collect().await
}

/// The ids of the upserts of a listing.
fn upserts(changes: &[mailmigrate_core::Result<ItemChange>]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            Ok(ItemChange::Upsert(m)) => Some(m.id.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// Changes one contact (body and ETag), adds one and deletes one at the server.
fn edit_at_server(server: &Server) {
    let mut dav = server.dav();
    let changed = contact("c1").replace("FN:Zoë Müller", "FN:Changed At Server");
    dav.put("c1.vcf", changed);
    dav.put("new.vcf", contact("new"));
    assert!(dav.delete("c2.vcf"));
}

/// Without sync-collection (501 or 403 to the report) every pass lists by ETags: the first
/// moves everything, the next exactly what changed, an idle one nothing.
#[tokio::test]
async fn without_sync_collection_passes_compare_etags() {
    for status in [501, 403] {
        let config = Config {
            no_sync: Some(status),
            ..Config::default()
        };
        let server = Server::start(config, 5).await;
        let dav = server.store().await;
        let mem = MemoryPim::new("mem");
        let state = MemoryState::new();

        let first = pass(&dav, &mem, &state).await;
        assert!(first.is_clean(), "{status}: {first:?}");
        assert_eq!(moved(&first), (5, 0, 0), "{status}: {first:?}");

        edit_at_server(&server);
        let second = pass(&dav, &mem, &state).await;
        assert!(second.is_clean(), "{status}: {second:?}");
        assert_eq!(
            moved(&second),
            (2, 1, 1),
            "{status}: one new, one changed, one gone"
        );
        let now = held(&mem).await;
        assert_eq!(now.len(), 5, "{status}: {now:?}");
        assert_eq!(now["c1"], "Changed At Server", "{status}");
        assert!(
            !now.contains_key("c2") && now.contains_key("new"),
            "{status}"
        );

        let idle = pass(&dav, &mem, &state).await;
        assert_eq!(moved(&idle), (0, 0, 0), "{status}: {idle:?}");
        // The report is tried once; the checkpoint then says to list by ETags.
        assert_eq!(server.sync_tokens(), [""], "{status}");
        assert_eq!(
            server.requests(&format!("PROPFIND {BOOK} depth=1")).len(),
            3,
            "{status}: one ETag listing per pass"
        );
    }
}

/// A sync report truncated by the server (507 on the collection's own response and a
/// partial token, RFC 6578 §3.6) is read on to the end: nothing missed, nothing twice.
#[tokio::test]
async fn a_truncated_report_is_read_to_the_end() {
    let config = Config {
        page: Some(2),
        ..Config::default()
    };
    let server = Server::start(config, 5).await;
    let dav = server.store().await;

    let all = list(&dav, None).await;
    let mut ids = upserts(&all);
    assert_eq!(ids.len(), 5, "{all:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each member once: {all:?}");
    assert!(matches!(all.last(), Some(Ok(ItemChange::Checkpoint(_)))));
    assert_eq!(
        server.sync_tokens(),
        ["", "http://hostile/tok-2", "http://hostile/tok-4"],
        "three pages"
    );

    let mem = MemoryPim::new("mem");
    let state = MemoryState::new();
    let first = pass(&dav, &mem, &state).await;
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(moved(&first), (5, 0, 0), "{first:?}");
    edit_at_server(&server);
    let second = pass(&dav, &mem, &state).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(moved(&second), (2, 1, 1), "{second:?}");
    assert_eq!(held(&mem).await.len(), 5);
    assert_eq!(moved(&pass(&dav, &mem, &state).await), (0, 0, 0));
}

/// A refused sync token (403 with `DAV:valid-sync-token`, RFC 6578 §3.2) is a `Reset` and
/// a listing of everything; the engine writes nothing twice.
#[tokio::test]
async fn a_refused_token_resets_and_writes_nothing_twice() {
    let server = Server::start(Config::default(), 5).await;
    let dav = server.store().await;
    let mem = MemoryPim::new("mem");
    let state = MemoryState::new();
    assert_eq!(moved(&pass(&dav, &mem, &state).await), (5, 0, 0));

    server.dav().config.refuse_tokens = true;
    let changed = contact("c3").replace("FN:Zoë Müller", "FN:Renamed");
    server.dav().put("c3.vcf", changed);
    let listing = list(&dav, Some(Checkpoint::new("http://hostile/tok-5"))).await;
    assert!(matches!(listing[0], Ok(ItemChange::Reset)), "{listing:?}");
    assert_eq!(upserts(&listing).len(), 5, "everything after the reset");

    let again = pass(&dav, &mem, &state).await;
    assert!(again.is_clean(), "{again:?}");
    assert_eq!(moved(&again), (1, 1, 0), "only the changed one: {again:?}");
    let now = held(&mem).await;
    assert_eq!(now.len(), 5, "no duplicates: {now:?}");
    assert_eq!(now["c3"], "Renamed");
}

/// PUTs the server refuses, as a destination: each refusal is a typed error naming its
/// item, the rest of the batch is stored, and nothing already stored is touched.
#[tokio::test]
async fn refused_puts_fail_only_their_items() {
    let refusals = [("quota", 507), ("denied", 403), ("big", 413)];
    let config = Config {
        put_status: refusals
            .iter()
            .map(|(uid, s)| (format!("{uid}.vcf"), *s))
            .collect(),
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    // Already at the server, under the name its create goes to.
    let before = server.dav().put("held.vcf", contact("held"));
    let dav = server.store().await;

    let uids = ["held", "quota", "denied", "big", "ok-1", "ok-2"];
    let writes = uids
        .iter()
        .map(|u| ItemWrite::create(sample_contact(u)))
        .collect();
    let answers = dav
        .write_items(&book(), writes, &WriteOptions::default())
        .await
        .unwrap();
    let expect = [
        (ErrorKind::AlreadyExists, "held.vcf"),
        (ErrorKind::QuotaExceeded, "quota.vcf"),
        (ErrorKind::PermissionDenied, "denied.vcf"),
        (ErrorKind::MessageTooLarge, "big.vcf"),
    ];
    for (answer, (kind, name)) in answers.iter().zip(expect) {
        let e = answer.as_ref().unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert_eq!(e.context("message"), Some(name), "{e}");
        assert!(!e.is_outcome_unknown(), "{e}");
    }
    assert!(answers[4..].iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(server.names(), ["held.vcf", "ok-1.vcf", "ok-2.vcf"]);
    assert_eq!(
        server.dav().items["held.vcf"].0,
        before,
        "held is untouched"
    );

    // The engine over the same server: the held copy is adopted, the refused fail by
    // name, the two stored already are found where they are.
    let mem = memory_book(&uids).await;
    let report = pass(&mem, &dav, &MemoryState::new()).await;
    let t = report.totals();
    assert_eq!((t.written, t.adopted, t.failed), (0, 3, 3), "{report:?}");
    let mut failed: Vec<(String, ErrorKind)> = report.collections[0]
        .failures
        .iter()
        .map(|f| (f.src_id.as_str().to_owned(), f.kind))
        .collect();
    failed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        failed,
        [
            ("big".to_owned(), ErrorKind::MessageTooLarge),
            ("denied".to_owned(), ErrorKind::PermissionDenied),
            ("quota".to_owned(), ErrorKind::QuotaExceeded),
        ]
    );
    assert!(server.requests("DELETE").is_empty(), "nothing deleted");
    for put in server.requests("PUT") {
        assert!(put.ends_with("if-none-match=*"), "only creates: {put}");
    }
    assert_eq!(
        server.dav().items["held.vcf"].0,
        before,
        "held is untouched"
    );
}

/// A listing that breaks off mid-answer is a typed error naming the collection; no
/// checkpoint is saved, so the next pass lists everything again.
#[tokio::test]
async fn a_malformed_listing_fails_and_saves_no_checkpoint() {
    let config = Config {
        fault: Fault::Malformed,
        ..Config::default()
    };
    let server = Server::start(config, 4).await;
    let dav = server.store().await;

    let listing = list(&dav, None).await;
    assert_eq!(upserts(&listing).len(), 4, "the members before the break");
    let e = listing.last().unwrap().as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unexpected, "{e}");
    assert_eq!(e.operation(), Operation::ListChanges, "{e}");
    assert_eq!(e.context("folder"), Some(BOOK), "{e}");
    assert!(
        !listing
            .iter()
            .any(|c| matches!(c, Ok(ItemChange::Checkpoint(_)))),
        "no checkpoint after an error"
    );

    fails_then_heals(&server, &dav, ErrorKind::Unexpected).await;
}

/// An engine pass over the server's failing listing fails with `kind`, naming the book,
/// and saves no checkpoint: once the fault is gone, the next pass lists everything again
/// and moves every contact.
async fn fails_then_heals(server: &Server, dav: &DavStore, kind: ErrorKind) {
    let mem = MemoryPim::new("mem");
    let state = MemoryState::new();
    let broken = pass(dav, &mem, &state).await;
    assert!(!broken.is_clean(), "{broken:?}");
    let failure = &broken.collections[0].failures[0];
    assert_eq!(failure.kind, kind, "{failure:?}");
    assert!(failure.message.contains(BOOK), "{failure:?}");

    server.dav().config.fault = Fault::None;
    let healed = pass(dav, &mem, &state).await;
    assert!(healed.is_clean(), "{healed:?}");
    assert_eq!(held(&mem).await.len(), server.names().len());
    let tokens = server.sync_tokens();
    assert_eq!(
        tokens.last().map(String::as_str),
        Some(""),
        "listed again: {tokens:?}"
    );
}

/// An answer cut short (the connection closed before the `Content-Length` announced) is
/// a temporary `Unavailable` naming the collection, before any member is handed out: the
/// answer is read whole before it is parsed, so nothing half-listed passes for complete.
#[tokio::test]
async fn a_listing_cut_short_is_temporary_and_lists_nothing() {
    let config = Config {
        fault: Fault::CutShort,
        ..Config::default()
    };
    let server = Server::start(config, 4).await;
    let dav = server.store().await;

    let listing = list(&dav, None).await;
    assert_eq!(listing.len(), 1, "only the error: {listing:?}");
    let e = listing[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_temporary(), "{e}");
    assert_eq!(e.operation(), Operation::ListChanges, "{e}");
    assert_eq!(e.context("folder"), Some(BOOK), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("REPORT {BOOK}")) && text.contains("broke off"),
        "{text}"
    );

    fails_then_heals(&server, &dav, ErrorKind::Unavailable).await;
}

/// A server that closes a connection left unread for a second (Radicale does after 30 s)
/// still gives every member of a 100,000-member listing to a consumer that pauses longer
/// than that: the answer is read at wire speed into a spool, and parsed from there.
#[tokio::test]
async fn a_slow_consumer_gets_every_member_from_an_impatient_server() {
    const N: usize = 100_000;
    const PATIENCE: Duration = Duration::from_secs(1);
    let config = Config {
        fault: Fault::Generated(N),
        close_unread_after: Some(PATIENCE),
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    let dav = server.store().await;
    let mut listing = dav.list_items(&book(), None);
    let mut count = 0;
    let mut checkpoint = None;
    while let Some(change) = listing.next().await {
        match change.expect("the listing reads") {
            ItemChange::Upsert(meta) => {
                assert_eq!(meta.id.as_str(), format!("m{count}.vcf"));
                count += 1;
                if count % 50_000 == 1 {
                    // The engine writing a batch: longer than the server waits.
                    tokio::time::sleep(PATIENCE * 2).await;
                }
            }
            ItemChange::Checkpoint(cp) => checkpoint = Some(cp),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(count, N);
    assert_eq!(
        checkpoint.as_ref().map(Checkpoint::as_str),
        Some("http://hostile/tok-1")
    );
}

/// One href longer than the bound on an element is a typed error, not an allocation.
#[tokio::test]
async fn a_huge_href_is_refused() {
    let config = Config {
        fault: Fault::HugeHref,
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    let listing = list(&server.store().await, None).await;
    assert_eq!(listing.len(), 1, "{listing:?}");
    let e = listing[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unexpected, "{e}");
    assert!(e.to_string().contains("longer than"), "{e}");
}

/// Responses for resources outside the address book (another collection, a deeper path,
/// a removal named elsewhere) are ignored: they list and remove nothing here.
#[tokio::test]
async fn hrefs_outside_the_collection_are_ignored() {
    let config = Config {
        fault: Fault::Outside,
        ..Config::default()
    };
    let server = Server::start(config, 3).await;
    let listing = list(&server.store().await, None).await;
    assert_eq!(
        upserts(&listing),
        ["c0.vcf", "c1.vcf", "c2.vcf"],
        "{listing:?}"
    );
    assert!(
        !listing
            .iter()
            .any(|c| matches!(c, Ok(ItemChange::Removed(_)))),
        "{listing:?}"
    );
    assert!(matches!(
        listing.last(),
        Some(Ok(ItemChange::Checkpoint(_)))
    ));
}

/// A listing of 100,000 members (some 20 MB), generated by the server as it sends it, is
/// read whole by a store that reads no answer longer than 64 KiB into memory: the listing
/// is spooled and parsed one response at a time, never held. Every member comes once, in
/// order, then the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_100000_members_is_spooled_not_held() {
    const N: usize = 100_000;
    let config = Config {
        fault: Fault::Generated(N),
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    let dav = server.store_with(|b| b.with_max_answer(64 << 10)).await;
    let mut listing = dav.list_items(&book(), None);
    let mut count = 0;
    let mut checkpoint = None;
    while let Some(change) = listing.next().await {
        match change.expect("the listing reads") {
            ItemChange::Upsert(meta) => {
                assert_eq!(meta.id.as_str(), format!("m{count}.vcf"));
                count += 1;
            }
            ItemChange::Checkpoint(cp) => checkpoint = Some(cp),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(count, N);
    assert_eq!(
        checkpoint.as_ref().map(Checkpoint::as_str),
        Some("http://hostile/tok-1")
    );
}

/// A listing longer than the store's cap on listings is refused, naming the collection,
/// before any member is handed out.
#[tokio::test]
async fn a_listing_over_the_cap_is_refused() {
    let config = Config {
        fault: Fault::Generated(10_000),
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    let dav = server.store_with(|b| b.with_max_listing(1 << 20)).await;
    let listing = list(&dav, None).await;
    assert_eq!(listing.len(), 1, "only the error: {listing:?}");
    let e = listing[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unexpected, "{e}");
    assert!(!e.is_temporary(), "{e}");
    assert_eq!(e.context("folder"), Some(BOOK), "{e}");
    assert!(e.to_string().contains("longer than 1048576 bytes"), "{e}");
}

/// A listing has no whole-request deadline, only the idle one: with a 1 s timeout, an
/// answer trickled a piece every 0.3 s (2 s in all) is read whole; one that stalls 1.5 s
/// is a temporary `Unavailable` naming the collection, with nothing listed.
#[tokio::test]
async fn a_listing_may_take_longer_than_the_timeout_but_not_stall() {
    let server = Server::start(Config::default(), 4).await;
    let dav = server
        .store_with(|b| b.with_timeout(Duration::from_secs(1)))
        .await;

    server.dav().config.fault = Fault::Trickle(Duration::from_millis(300));
    let started = Instant::now();
    let listing = list(&dav, None).await;
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "slower than the timeout"
    );
    assert_eq!(upserts(&listing).len(), 4, "{listing:?}");
    assert!(matches!(
        listing.last(),
        Some(Ok(ItemChange::Checkpoint(_)))
    ));

    server.dav().config.fault = Fault::Trickle(Duration::from_millis(1500));
    let listing = list(&dav, None).await;
    assert_eq!(listing.len(), 1, "only the error: {listing:?}");
    let e = listing[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_temporary(), "{e}");
    assert_eq!(e.context("folder"), Some(BOOK), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}

/// A memory address book holding a sample contact for each of `uids`.
async fn memory_book(uids: &[&str]) -> MemoryPim {
    let mem = MemoryPim::new("mem");
    let src = mem
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Book",
        ))
        .await
        .unwrap();
    for uid in uids {
        mem.put(&src.id, sample_contact(uid));
    }
    mem
}

/// The number of multiget reports and of `UID` queries the server was sent.
fn lookups(server: &Server) -> (usize, usize) {
    let reports = server.requests(&format!("REPORT {BOOK}"));
    (
        reports.iter().filter(|r| r.contains(" multiget=")).count(),
        reports.iter().filter(|r| r.ends_with(" query")).count(),
    )
}

/// Writes whose answers were lost are settled by one multiget per batch of the resources
/// named after their `UID`s; only what is not found there is queried by `UID`: a resource
/// the server renamed is still found (and adopted, not written again), one never stored is
/// found absent and written once.
#[tokio::test]
async fn lost_answers_are_settled_by_multiget_batches() {
    // Eight writes, batches of three: three multigets settle them.
    let stored = ["s0", "s1", "s2", "s3", "s4", "s5"];
    let mut lose_answer: HashMap<String, bool> = stored
        .iter()
        .chain(&["moved"])
        .map(|u| (format!("{u}.vcf"), true))
        .collect();
    lose_answer.insert("never.vcf".into(), false);
    let config = Config {
        lose_answer,
        ..Config::default()
    };
    let server = Server::start(config, 0).await;
    let dav = server.store().await;
    let uids: Vec<&str> = stored.iter().copied().chain(["moved", "never"]).collect();
    let mem = memory_book(&uids).await;
    let state = MemoryState::new();

    let lost = pass(&mem, &dav, &state).await;
    let t = lost.totals();
    assert_eq!((t.written, t.pending, t.failed), (0, 8, 0), "{lost:?}");
    assert_eq!(server.names().len(), 7, "all but never arrived");
    server.dav().rename("moved.vcf", "renamed-moved.vcf");

    // The look-up itself: three multigets, a query for each of the two not at their name.
    server.dav().requests.clear();
    let want: Vec<String> = uids.iter().map(|u| (*u).to_owned()).collect();
    let found = dav.find_by_uid(&book(), &want).await.unwrap();
    assert_eq!(lookups(&server), (3, 2), "{:?}", server.requests(""));
    for (uid, copies) in stored.iter().zip(&found) {
        let ids: Vec<&str> = copies.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, [format!("{uid}.vcf")], "{uid}");
        assert_eq!(copies[0].hash, Some(sample_contact(uid).content_hash()));
    }
    assert_eq!(found[6].len(), 1, "{found:?}");
    assert_eq!(found[6][0].id.as_str(), "renamed-moved.vcf");
    assert!(found[7].is_empty(), "never stored: {found:?}");

    // The engine settles the same way, before anything else: seven adopted where they
    // are, never written once.
    server.dav().requests.clear();
    let settled = pass(&mem, &dav, &state).await;
    assert!(settled.is_clean(), "{settled:?}");
    let t = settled.totals();
    assert_eq!((t.written, t.failed), (1, 0), "{settled:?}");
    assert!(t.adopted >= 7, "{settled:?}");
    let reports = server.requests(&format!("REPORT {BOOK}"));
    // The multigets go out together (in any order), the queries after them.
    let mut settling: Vec<&str> = reports
        .iter()
        .take(5)
        .map(|r| r.rsplit(' ').next().unwrap_or_default())
        .collect();
    settling.sort_unstable();
    assert_eq!(
        settling,
        ["multiget=2", "multiget=3", "multiget=3", "query", "query"],
        "{reports:?}"
    );
    assert_eq!(lookups(&server).1, 2, "only moved and never are queried");
    // The engine lists never again in the same pass (its row is still pending) and
    // creates it a second time; If-None-Match refuses that one and the look-up adopts the
    // copy written, so the server holds one.
    let puts = server.requests("PUT");
    assert!(!puts.is_empty(), "never is written");
    for put in &puts {
        assert!(
            put.starts_with(&format!("PUT {BOOK}never.vcf ")) && put.ends_with("if-none-match=*"),
            "only never, only creates: {puts:?}"
        );
    }
    let mut names = server.names();
    names.sort();
    assert_eq!(
        names,
        [
            "never.vcf",
            "renamed-moved.vcf",
            "s0.vcf",
            "s1.vcf",
            "s2.vcf",
            "s3.vcf",
            "s4.vcf",
            "s5.vcf"
        ],
        "one copy of each"
    );

    server.dav().requests.clear();
    let idle = pass(&mem, &dav, &state).await;
    assert!(idle.is_clean(), "{idle:?}");
    assert_eq!(idle.totals().written, 0, "{idle:?}");
    assert!(server.requests("PUT").is_empty());
}

/// A server that refuses multiget reports is looked up by a `UID` query each, with the
/// same answers.
#[tokio::test]
async fn a_refused_multiget_falls_back_to_uid_queries() {
    let config = Config {
        multiget_status: Some(400),
        ..Config::default()
    };
    let server = Server::start(config, 4).await;
    let dav = server.store().await;
    let want: Vec<String> = ["c0", "c3", "absent"].map(String::from).into();
    let found = dav.find_by_uid(&book(), &want).await.unwrap();
    assert_eq!(lookups(&server), (1, 3), "{:?}", server.requests(""));
    assert_eq!(found[0][0].id.as_str(), "c0.vcf");
    assert_eq!(found[1][0].id.as_str(), "c3.vcf");
    assert!(found[2].is_empty(), "{found:?}");
}
