//! The Admin SDK Directory API \[AD-DISC\]: `users.list`, `groups.list` and `members.list`
//! of the emulated domain, paged by `nextPageToken`, readable by admins only \[AD-403\].
//!
//! Requests are checked against `admin-discovery.json`, the published document
//! (revision 20240618, `/work/shared/specs/google/`) trimmed to these three methods: an
//! unknown parameter or a value outside an enum is 400, a token without one of the
//! method's `scopes` is 403 `insufficientPermissions`, as for Gmail.

use axum::response::Response;
use serde_json::{json, Value};

use super::errors::{json, GoogleError};
use super::messages::{page_offset, page_token};
use super::pim::discovery::{self as disc, Api};
use super::server::{decode, parse_query, State};

mod model;

pub(crate) use model::DirectoryConfig;
pub use model::{WorkspaceGroup, WorkspaceUser};

/// Answers an Admin SDK request; `None` when the path is not `/admin/directory/v1/…`.
pub(crate) fn route(
    st: &State,
    method: &str,
    path: &str,
    query: Option<&str>,
    auth_header: Option<&str>,
) -> Option<Result<Response, GoogleError>> {
    if !path.starts_with("/admin/") {
        return None;
    }
    Some(serve(st, method, path, query, auth_header))
}

fn serve(
    st: &State,
    method: &str,
    path: &str,
    query: Option<&str>,
    auth_header: Option<&str>,
) -> Result<Response, GoogleError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let matched = disc::find_in(&[Api::Admin], method, &segments)
        .ok_or_else(|| GoogleError::new(404, "notFound", format!("Not Found: {path}")))?;
    let query = parse_query(query);
    disc::check_query(Api::Admin, matched.method, &query)?;
    let user = super::auth::check(st, auth_header)?;
    if !super::auth::has_scope(st, auth_header, matched.method.scopes()) {
        return Err(GoogleError::new(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        ));
    }
    let dir = &st.cfg.directory;
    // [AD-403] a caller (or a service account's subject) who is not an admin of the
    // domain: 403 `forbidden` "Not Authorized to access this resource/api".
    if !dir.is_admin(&user) {
        return Err(GoogleError::new(
            403,
            "forbidden",
            "Not Authorized to access this resource/api",
        ));
    }
    let _slot = st.admit(&user, &matched.method.id)?;
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // [AD-USERS][AD-GROUPS] one of `customer` or `domain` is required; `my_customer` is
    // the caller's own account.
    if matched.method.id != "directory.members.list"
        && param("customer").is_none()
        && param("domain").is_none()
    {
        return Err(GoogleError::new(400, "badRequest", "Bad Request"));
    }
    let max = |default: usize, cap: usize| {
        param("maxResults")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(default)
            .clamp(1, cap)
            .min(dir.page_size.unwrap_or(usize::MAX))
    };
    let offset = page_offset(param("pageToken"))?;
    match matched.method.id.as_str() {
        // [AD-USERS] maxResults 1..=500, default 100; `users`, `nextPageToken`.
        "directory.users.list" => {
            let all: Vec<Value> = dir
                .users(&st.cfg.users)
                .iter()
                .map(|u| u.render())
                .collect();
            Ok(page(
                "admin#directory#users",
                "users",
                &all,
                offset,
                max(100, 500),
            ))
        }
        // [AD-GROUPS] maxResults at most 200.
        "directory.groups.list" => {
            let all: Vec<Value> = dir.groups.iter().map(WorkspaceGroup::render).collect();
            Ok(page(
                "admin#directory#groups",
                "groups",
                &all,
                offset,
                max(200, 200),
            ))
        }
        // [AD-MEMB] groupKey is the group's address (or alias, or id); maxResults ≤ 200.
        _ => {
            let key = decode(matched.path.get("groupKey").map_or("", String::as_str));
            let group = dir
                .group(&key)
                .ok_or_else(|| GoogleError::new(404, "notFound", "Resource Not Found: groupKey"))?;
            let all = group.render_members(dir);
            Ok(page(
                "admin#directory#members",
                "members",
                &all,
                offset,
                max(200, 200),
            ))
        }
    }
}

/// One page of `all` from `offset`: `{kind, <field>: […], nextPageToken?}`; an empty
/// page leaves the field out, as Google does.
fn page(kind: &str, field: &str, all: &[Value], offset: usize, size: usize) -> Response {
    let items: Vec<&Value> = all.iter().skip(offset).take(size).collect();
    let mut v = json!({"kind": kind, "etag": "\"emulated\""});
    if !items.is_empty() {
        v[field] = json!(items);
    }
    if offset + size < all.len() {
        v["nextPageToken"] = json!(page_token(offset + size));
    }
    json(200, &v)
}
