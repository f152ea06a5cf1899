//! The HTTP server: connection faults, the token endpoint, auth, the request cap, and the
//! dispatcher every Graph request (plain or inside `$batch`) goes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;
use tokio::net::TcpListener;

use super::attachments::{self, UploadSession};
use super::builder::Config;
use super::delta::DeltaState;
use super::errors::{GraphError, Resp};
use super::faults::{Fault, Faults};
use super::handle::EmulatorHandle;
use super::odata::{Prefer, Query};
use super::store::{Mailbox, Store};
use super::throttle::{self, Counters, Throttle};
use super::{auth, batch, calendars, contacts, delta, device, exchange, folders, messages};
use mailmigrate_core::emulator::{ConnKill, KillableListener};

/// Everything the server shares between requests and with the handle.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) cfg: Config,
    pub(crate) base_url: String,
    pub(crate) store: Mutex<Store>,
    pub(crate) tokens: auth::Tokens,
    pub(crate) sign_ins: device::SignIns,
    pub(crate) faults: Faults,
    pub(crate) throttle: Throttle,
    pub(crate) delta: Mutex<HashMap<String, DeltaState>>,
    pub(crate) uploads: Mutex<HashMap<String, UploadSession>>,
    /// Mailbox import sessions by token \[G-IMPS\].
    pub(crate) import_sessions: Mutex<HashMap<String, exchange::ImportSession>>,
}

impl State {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn imports(&self) -> MutexGuard<'_, HashMap<String, exchange::ImportSession>> {
        self.import_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        self.throttle
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// One Graph request, already authenticated, relative to `/v1.0` or `/beta`.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) method: Method,
    pub(crate) beta: bool,
    /// Decoded path segments after the version.
    pub(crate) segs: Vec<String>,
    /// The path as sent (for fault matching).
    pub(crate) path: String,
    pub(crate) query: Query,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) prefer: Prefer,
    pub(crate) client_id: String,
    /// The signed-in user of a delegated token; `None` for app-only.
    pub(crate) user: Option<String>,
}

impl Ctx {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `https://graph…/v1.0` or `/beta` of this emulator.
    pub(crate) fn graph_url(&self, st: &State) -> String {
        format!(
            "{}/{}",
            st.base_url,
            if self.beta { "beta" } else { "v1.0" }
        )
    }

    /// The request URL without its query (for paging links).
    pub(crate) fn self_url(&self, st: &State) -> String {
        let segs: Vec<String> = self
            .segs
            .iter()
            .map(|s| super::odata::encode_seg(s))
            .collect();
        format!("{}/{}", self.graph_url(st), segs.join("/"))
    }

    pub(crate) fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase()
    }
}

pub(crate) async fn start(cfg: Config) -> std::io::Result<EmulatorHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut store = Store::default();
    for upn in &cfg.mailboxes {
        if !store
            .mailboxes
            .iter()
            .any(|m| m.upn.eq_ignore_ascii_case(upn))
        {
            store.mailboxes.push(Mailbox::new(upn));
        }
    }
    super::directory::seed_config(&mut store, &cfg);
    let st = Arc::new(State {
        cfg,
        base_url: format!("http://{addr}"),
        store: Mutex::new(store),
        tokens: auth::Tokens::default(),
        sign_ins: device::SignIns::default(),
        faults: Faults::default(),
        throttle: Throttle::default(),
        delta: Mutex::new(HashMap::new()),
        uploads: Mutex::new(HashMap::new()),
        import_sessions: Mutex::new(HashMap::new()),
    });
    let app = axum::Router::new()
        .fallback(entry)
        .with_state(Arc::clone(&st));
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        KillableListener(listener),
        app.into_make_service_with_connect_info::<ConnKill>(),
    )
    .with_graceful_shutdown(async move {
        let _ = rx.wait_for(|stop| *stop).await;
    });
    let task = tokio::spawn(async move {
        let _ = server.await;
    });
    Ok(EmulatorHandle::new(st, tx, task))
}

async fn entry(
    AxState(st): AxState<Arc<State>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let mut lose = false;
    match st.faults.take(true, parts.method.as_str(), &path) {
        Some(Fault::Drop) => {
            conn.kill();
            return Response::new(Body::empty());
        }
        Some(Fault::LoseReply) => lose = true,
        _ => {}
    }
    let resp = match axum::body::to_bytes(body, 512 * 1024 * 1024).await {
        Ok(body) => handle(&st, &parts.method, &parts.uri, &parts.headers, body).await,
        Err(_) => GraphError::bad_request("The request body could not be read.").into_resp(None),
    };
    if lose {
        conn.kill();
    }
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = resp.status;
    for (name, value) in resp.headers {
        out.headers_mut().append(name, value);
    }
    if let Some(crid) = parts.headers.get("client-request-id") {
        out.headers_mut().insert("client-request-id", crid.clone());
    }
    out
}

async fn handle(
    st: &Arc<State>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Resp {
    let path = uri.path();
    let segs: Vec<String> = path.split('/').skip(1).map(decode_seg).collect();
    let crid = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok());
    let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
    // [AAD-CC][AAD-DC] POST /{tenant}/oauth2/v2.0/token and …/devicecode
    if segs.len() == 4
        && seg(1) == "oauth2"
        && seg(2) == "v2.0"
        && matches!(seg(3), "token" | "devicecode")
    {
        if method != Method::POST {
            return GraphError::new(405, "MethodNotAllowed", "Use POST.").into_resp(crid);
        }
        if let Some(resp) = answer_fault(st, method.as_str(), path, crid) {
            return resp;
        }
        return auth::endpoint(st, seg(0), seg(3), &body);
    }
    // [G-ATT] pre-authenticated upload URLs: answer faults apply to them as to Graph.
    if seg(0) == "upload" {
        if let Some(resp) = answer_fault(st, method.as_str(), path, crid) {
            return resp;
        }
        return attachments::upload(st, method, seg(1), headers, &body).into_resp_or(crid);
    }
    // [G-IMP] the pre-authenticated import URL (`/api/gbeta/Mailboxes('…')/importItem`).
    if seg(0) == "api" && seg(1) == "gbeta" && seg(3) == "importItem" {
        if let Some(resp) = answer_fault(st, method.as_str(), path, crid) {
            return resp;
        }
        if method != Method::POST {
            return GraphError::new(405, "MethodNotAllowed", "Use POST.").into_resp(crid);
        }
        return exchange::import_item(st, uri.query(), headers, &body).into_resp_or(crid);
    }
    let beta = match seg(0) {
        "v1.0" => false,
        "beta" => true,
        _ => return GraphError::new(404, "ResourceNotFound", "Invalid version.").into_resp(crid),
    };
    // [I-4MB] the whole request is capped at 4 MB.
    if body.len() > st.cfg.limits.max_request_bytes {
        let status = st.cfg.request_too_large_status;
        let code = if status == 413 {
            "RequestEntityTooLarge"
        } else {
            "BadRequest"
        };
        return GraphError::new(status, code, "The maximum request length supported is 4MB.")
            .into_resp(crid);
    }
    let auth_header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = match auth::check(st, auth_header) {
        Ok(t) => t,
        Err(e) => return e.into_resp(crid),
    };
    let ctx = Ctx {
        method: method.clone(),
        beta,
        segs: segs[1..].to_vec(),
        path: path.to_owned(),
        query: Query::parse(uri.query()),
        headers: headers.clone(),
        body,
        prefer: Prefer::parse(
            headers
                .get_all("prefer")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        ),
        client_id: token.client_id,
        user: token.user,
    };
    if ctx.segs.len() == 1 && ctx.segs[0] == "$batch" && method == Method::POST {
        return batch::handle(st, &ctx).await;
    }
    graph(st, &ctx).await
}

fn decode_seg(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

trait IntoRespOr {
    fn into_resp_or(self, crid: Option<&str>) -> Resp;
}

impl IntoRespOr for Result<Resp, GraphError> {
    fn into_resp_or(self, crid: Option<&str>) -> Resp {
        self.unwrap_or_else(|e| e.into_resp(crid))
    }
}

/// An armed answer fault (fail/throttle) for this request, if any.
fn answer_fault(st: &State, method: &str, path: &str, crid: Option<&str>) -> Option<Resp> {
    match st.faults.take(false, method, path)? {
        Fault::Fail { status, code } => {
            Some(GraphError::new(status, &code, "Fault injected by the emulator.").into_resp(crid))
        }
        Fault::Throttle => {
            st.counters().throttled += 1;
            Some(throttle::too_many(&st.cfg.limits).into_resp(crid))
        }
        Fault::Drop | Fault::LoseReply => None,
    }
}

/// Handles one Graph request (a plain one or one inside `$batch`): answer faults,
/// mailbox lookup, throttling, then the route.
pub(crate) async fn graph(st: &Arc<State>, ctx: &Ctx) -> Resp {
    let crid = ctx.header("client-request-id");
    if let Some(resp) = answer_fault(st, ctx.method.as_str(), &ctx.path, crid) {
        return resp;
    }
    let mut resp = graph_inner(st, ctx).await.into_resp_or(crid);
    if ctx.prefer.immutable {
        resp = resp.with_header("preference-applied", "IdType=\"ImmutableId\"");
    }
    resp
}

async fn graph_inner(st: &Arc<State>, ctx: &Ctx) -> Result<Resp, GraphError> {
    if let Some(answer) = super::directory::route(st, ctx) {
        return answer;
    }
    let seg = |i: usize| ctx.segs.get(i).map(String::as_str).unwrap_or("");
    // [G-MBXF][G-EXP][G-IMPS] /admin/exchange/mailboxes/{mailboxId}/…
    if seg(0) == "admin" && seg(1) == "exchange" && seg(2) == "mailboxes" && ctx.segs.len() > 4 {
        let upn = exchange::upn_of(st, seg(3)).ok_or_else(|| {
            GraphError::new(404, "ErrorInvalidMailboxId", "The mailbox id is not known.")
        })?;
        let _slot =
            st.throttle
                .admit(&st.cfg.limits, &ctx.client_id, &upn, ctx.body.len() as u64)?;
        let mut store = st.store();
        let mbx = store.mailbox_mut(&upn).ok_or_else(|| unknown_mailbox(st))?;
        let rest: Vec<&str> = ctx.segs[4..].iter().map(String::as_str).collect();
        return exchange::admin(st, ctx, mbx, &rest);
    }
    if seg(0) != "users" || ctx.segs.len() < 3 {
        // [G-CMSG] app-only calls address /users/{id|upn}; anything else is unknown here.
        return Err(unknown_segment(
            ctx.segs.last().map(String::as_str).unwrap_or(""),
        ));
    }
    let upn = st
        .store()
        .mailbox_mut(seg(1))
        .map(|m| m.upn.clone())
        .ok_or_else(|| unknown_mailbox(st))?;
    // [AAD-DC] a delegated token reaches its own user's mailbox only.
    if ctx
        .user
        .as_ref()
        .is_some_and(|u| !u.eq_ignore_ascii_case(&upn))
    {
        return Err(GraphError::new(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    let upload = if matches!(ctx.method, Method::POST | Method::PATCH | Method::PUT) {
        ctx.body.len() as u64
    } else {
        0
    };
    let _slot = st
        .throttle
        .admit(&st.cfg.limits, &ctx.client_id, &upn, upload)?;
    if !st.cfg.latency.is_zero() {
        tokio::time::sleep(st.cfg.latency).await;
    }
    let mut store = st.store();
    let mbx = store.mailbox_mut(&upn).ok_or_else(|| unknown_mailbox(st))?;
    route(st, ctx, mbx)
}

/// \[I-MBXREST\] unknown or unlicensed user.
pub(crate) fn unknown_mailbox(st: &State) -> GraphError {
    match st.cfg.unknown_mailbox {
        super::builder::UnknownMailbox::ResourceNotFound => {
            GraphError::new(404, "ResourceNotFound", "Resource could not be discovered.")
        }
        _ => GraphError::new(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ),
    }
}

/// What Graph answers for a path segment it does not know (e.g. `importMime` where not
/// offered): 400 BadRequest "Resource not found for the segment '…'." \[G-IMIME\].
pub(crate) fn unknown_segment(seg: &str) -> GraphError {
    GraphError::bad_request(&format!("Resource not found for the segment '{seg}'."))
}

fn route(st: &State, ctx: &Ctx, mbx: &mut Mailbox) -> Result<Resp, GraphError> {
    let rest: Vec<&str> = ctx.segs[2..].iter().map(String::as_str).collect();
    let m = ctx.method.as_str();
    match (m, rest.as_slice()) {
        ("GET", ["mailFolders"]) => folders::list(st, ctx, mbx, None),
        ("GET", ["settings", "exchange"]) => exchange::settings(st, ctx, mbx),
        ("POST", ["mailFolders"]) => folders::create(st, ctx, mbx, None),
        ("GET", ["mailFolders", f]) => folders::get(st, ctx, mbx, f),
        ("GET", ["mailFolders", f, "childFolders"]) => folders::list(st, ctx, mbx, Some(f)),
        ("POST", ["mailFolders", f, "childFolders"]) => folders::create(st, ctx, mbx, Some(f)),
        ("GET", ["mailFolders", f, "messages"]) => messages::list(st, ctx, mbx, Some(f)),
        ("POST", ["mailFolders", f, "messages"]) => messages::create(st, ctx, mbx, Some(f)),
        ("GET", ["mailFolders", f, "messages", "delta"]) => delta::delta(st, ctx, mbx, f),
        // [G-IMIME] beta only, and only where the tenant offers it.
        ("POST", ["mailFolders", f, "importMime"]) if ctx.beta && st.cfg.import_mime => {
            messages::import_mime(st, ctx, mbx, f)
        }
        (_, ["mailFolders", _, "messages", id, tail @ ..]) => message_route(st, ctx, mbx, id, tail),
        ("GET", ["messages"]) => messages::list(st, ctx, mbx, None),
        ("POST", ["messages"]) => messages::create(st, ctx, mbx, None),
        (_, ["messages", id, tail @ ..]) => message_route(st, ctx, mbx, id, tail),
        (_, ["contactFolders", ..] | ["contacts", ..]) => contacts::route(st, ctx, mbx, &rest),
        (_, ["calendar" | "calendars" | "events", ..]) => calendars::route(st, ctx, mbx, &rest),
        (_, [.., last]) => Err(unknown_segment(last)),
        (_, []) => Err(unknown_segment(&ctx.segs[1])),
    }
}

fn message_route(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    id: &str,
    tail: &[&str],
) -> Result<Resp, GraphError> {
    match (ctx.method.as_str(), tail) {
        ("GET", []) => messages::get(st, ctx, mbx, id),
        ("PATCH", []) => messages::patch(st, ctx, mbx, id),
        ("DELETE", []) => messages::delete(ctx, mbx, id),
        ("GET", ["$value"]) => messages::value(st, mbx, id),
        ("POST", ["move"]) => messages::move_message(st, ctx, mbx, id),
        ("GET", ["attachments"]) => attachments::list(st, ctx, mbx, id),
        ("POST", ["attachments"]) => attachments::add(st, ctx, mbx, id),
        ("POST", ["attachments", "createUploadSession"]) => {
            attachments::create_session(st, ctx, mbx, id)
        }
        (_, [.., last]) => Err(unknown_segment(last)),
        (_, []) => Err(GraphError::new(
            405,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        )),
    }
}
