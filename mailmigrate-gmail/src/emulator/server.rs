//! The HTTP server: connection faults, the token endpoint, request shapes checked against
//! the discovery document, auth, quota, and the dispatcher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;
use tokio::net::TcpListener;

use super::auth::{self, Issued};
use super::builder::Config;
use super::discovery::{self, Matched};
use super::errors::GoogleError;
use super::faults::{Fault, Faults};
use super::handle::EmulatorHandle;
use super::quota::{self, Counters};
use super::store::Mailbox;
use super::{history, import, labels, messages};
use mailmigrate_core::emulator::{ConnKill, KillableListener};

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) cfg: Config,
    pub(crate) base_url: String,
    pub(crate) faults: Faults,
    mailboxes: Mutex<HashMap<String, Mailbox>>,
    tokens: Mutex<HashMap<String, Issued>>,
    counters: Arc<Mutex<Counters>>,
    token_epoch: AtomicU64,
    /// Resumable upload sessions \[GM-UPL\].
    pub(crate) uploads: super::resumable::Sessions,
    /// The installed-app consent screen \[GO-IA\].
    pub(crate) consent: super::consent::ConsentState,
    /// Calendar and People data.
    pub(crate) pim: super::pim::PimState,
}

impl State {
    pub(crate) fn mailboxes(&self) -> MutexGuard<'_, HashMap<String, Mailbox>> {
        self.mailboxes.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn tokens(&self) -> MutexGuard<'_, HashMap<String, Issued>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn token_epoch(&self) -> u64 {
        self.token_epoch.load(Ordering::SeqCst)
    }
    pub(crate) fn expire_tokens(&self) {
        self.token_epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// A request matched to a Gmail method.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) matched: Matched,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    /// A path parameter (`id`).
    pub(crate) fn path(&self, name: &str) -> &str {
        self.matched.path.get(name).map_or("", String::as_str)
    }
    /// The first value of a query parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a repeated query parameter.
    pub(crate) fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// A boolean query parameter (`false` when absent, as the document's defaults say for
    /// every flag the emulator reads).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.param(name) == Some("true")
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Percent-decodes a query or form component (`+` is a space).
pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

pub(crate) async fn start(cfg: Config) -> std::io::Result<EmulatorHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mailboxes = cfg
        .users
        .iter()
        .map(|(email, _)| (email.clone(), Mailbox::new(email)))
        .collect();
    let st = Arc::new(State {
        base_url: format!("http://{addr}"),
        cfg,
        faults: Faults::default(),
        mailboxes: Mutex::new(mailboxes),
        tokens: Mutex::new(HashMap::new()),
        counters: Arc::new(Mutex::new(Counters::default())),
        token_epoch: AtomicU64::new(0),
        uploads: Default::default(),
        consent: Default::default(),
        pim: super::pim::PimState::default(),
    });
    let app = axum::Router::new()
        .fallback(dispatch)
        .with_state(Arc::clone(&st))
        .into_make_service_with_connect_info::<ConnKill>();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let _ = axum::serve(KillableListener(listener), app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(EmulatorHandle::new(st, stop, task))
}

async fn dispatch(
    AxState(st): AxState<Arc<State>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let limit = usize::try_from(st.cfg.max_upload).unwrap_or(usize::MAX) + (1 << 20);
    let Ok(body) = to_bytes(body, limit).await else {
        return GoogleError::new(413, "uploadTooLarge", "Request Entity Too Large").into_response();
    };
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    if parts.method == Method::POST && path == "/token" {
        return auth::token(&st, &body);
    }
    if parts.method == Method::GET
        && matches!(path.as_str(), "/o/oauth2/auth" | "/o/oauth2/v2/auth")
    {
        return super::consent::authorize(&st, parts.uri.query());
    }
    st.counters().requests += 1;
    if parts.method == Method::POST && super::batch::is_batch(&path) {
        return super::batch::handle(&st, &parts.headers, &body).await;
    }
    if let Some(fault) = st.faults.take(true, &method, &path) {
        if fault == Fault::Drop {
            conn.kill();
            return Response::new(Body::empty());
        }
        let resp = route(
            &st,
            &parts.method,
            &path,
            parts.uri.query(),
            parts.headers,
            body,
        )
        .await;
        conn.kill();
        drop(resp);
        return Response::new(Body::empty());
    }
    route(
        &st,
        &parts.method,
        &path,
        parts.uri.query(),
        parts.headers,
        body,
    )
    .await
    .unwrap_or_else(GoogleError::into_response)
}

/// Upload sessions (`…?upload_id=`, \[GM-UPL\]) first, then the Gmail API (the batch
/// endpoint's parts come here too).
pub(crate) async fn route(
    st: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GoogleError> {
    if let Some(r) = super::resumable::route(st, method.as_str(), path, query, &headers, &body) {
        return r;
    }
    api(st, method, path, query, headers, body).await
}

/// One Gmail API request, from its shape to its answer.
async fn api(
    st: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GoogleError> {
    if let Some(answer) = super::pim::route(st, method, path, query, &headers, &body) {
        return answer;
    }
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(answer) = super::directory::route(st, method.as_str(), path, query, bearer) {
        return answer;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let matched = discovery::find(method.as_str(), &segments)
        .ok_or_else(|| GoogleError::new(404, "notFound", format!("Not Found: {path}")))?;
    let query = parse_query(query);
    discovery::check_query(matched.method, &query)?;
    let auth_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = auth::check(st, auth_header)?;
    auth::check_scope(st, auth_header, &matched.method.id)?;
    let asked = decode(matched.path.get("userId").map_or("me", String::as_str));
    if asked != "me" && !asked.eq_ignore_ascii_case(&user) {
        return Err(GoogleError::new(
            403,
            "forbidden",
            format!("Delegation denied for {user}"),
        ));
    }
    match st.faults.take(false, method.as_str(), path) {
        Some(Fault::Fail { status, reason }) => {
            let reason: &'static str = match reason.as_str() {
                "backendError" => "backendError",
                "rateLimitExceeded" => "rateLimitExceeded",
                "userRateLimitExceeded" => "userRateLimitExceeded",
                "notFound" => "notFound",
                _ => "emulatorFault",
            };
            return Err(GoogleError::new(status, reason, "Injected fault."));
        }
        Some(Fault::RateLimit) => {
            return Err(GoogleError::new(
                st.cfg.quota.rate_limit_status,
                "userRateLimitExceeded",
                "User-rate limit exceeded.",
            )
            .with_domain("usageLimits"));
        }
        _ => {}
    }
    let _slot = quota::admit(&st.counters, &st.cfg.quota, &user, &matched.method.id)?;
    if !st.cfg.latency.is_zero() {
        // Real calls take time while they hold a slot: what makes the cap bite.
        tokio::time::sleep(st.cfg.latency).await;
    }
    let req = Req {
        matched,
        query,
        headers,
        body,
    };
    let mut mailboxes = st.mailboxes();
    let mbx = mailboxes
        .get_mut(&user)
        .ok_or_else(GoogleError::not_found)?;
    let id = req.matched.method.id.trim_start_matches("gmail.users.");
    match id {
        "getProfile" => messages::profile(mbx),
        "labels.list" => labels::list(mbx),
        "labels.get" => labels::get(&req, mbx),
        "labels.create" => labels::create(st, &req, mbx),
        "messages.list" => messages::list(&req, mbx),
        "messages.get" => messages::get(&req, mbx),
        "messages.modify" => messages::modify(&req, mbx),
        "messages.import" => import::import(st, &req, mbx),
        "history.list" => history::list(st, &req, mbx),
        "settings.delegates.list" => super::settings::delegates(st, mbx),
        "settings.sendAs.list" => super::settings::send_as(st, mbx),
        other => Err(GoogleError::new(
            501,
            "notImplemented",
            format!("{other} is not emulated"),
        )),
    }
}

impl State {
    /// Admits one Calendar or People call under the user's quota and concurrency cap.
    pub(crate) fn admit(&self, user: &str, method_id: &str) -> Result<quota::Slot, GoogleError> {
        quota::admit(&self.counters, &self.cfg.quota, user, method_id)
    }

    /// The user's max in-flight count so far.
    pub(crate) fn max_in_flight(&self, user: &str) -> usize {
        self.counters().max_in_flight(user)
    }
}
