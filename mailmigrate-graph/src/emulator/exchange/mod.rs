//! The mailbox import/export API (\[G-EXP\]\[G-IMP\]\[G-IMPS\]\[G-MBXF\]\[IE-GA\]): mailbox
//! discovery, the `admin/exchange` folder and item listings, `exportItems`,
//! `createImportSession` and the pre-authenticated `importItem` URL.
//!
//! A tenant that does not offer it ([`EmulatorBuilder::mailbox_import_export`](super::EmulatorBuilder::mailbox_import_export)
//! off) answers every one of these with the configured refusal (403 `ErrorAccessDenied`,
//! as for an app without `MailboxItem.ImportExport.All`, by default).

mod fts;

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::errors::{GraphError, Resp};
use super::ids;
use super::odata::Query;
use super::render::fmt_time;
use super::server::{Ctx, State};
use super::store::{Folder, Mailbox};

/// \[G-EXP\]: "You can export up to 20 items in a single export request."
const MAX_EXPORT: usize = 20;

/// One import session: whose mailbox, until when, and under which expiry epoch
/// ([`Faults::expire_import_sessions`](super::Faults::expire_import_sessions)).
#[derive(Debug, Clone)]
pub(crate) struct ImportSession {
    upn: String,
    client_id: String,
    expires: Instant,
    epoch: u64,
}

/// The mailbox id of `mbx`, shaped like Graph's `MBX:e0643f21@a7809c93` (\[G-EXP\] sample
/// keys; \[IE-GA\] part 1), stable for the mailbox's life.
pub(crate) fn mailbox_id(mbx: &Mailbox) -> String {
    let hex: String = mbx
        .user_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    format!("MBX:{}@{}", &hex[..8], &hex[hex.len() - 8..])
}

/// The refusal of a tenant without the API, or `None` when it is offered.
fn refused(st: &State) -> Option<GraphError> {
    let status = st.cfg.import_export_refusal?;
    Some(match status {
        404 => GraphError::new(
            404,
            "ResourceNotFound",
            "Resource not found for the segment 'exchange'.",
        ),
        501 => GraphError::new(501, "NotImplemented", "This API is not supported."),
        s => GraphError::new(
            s,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ),
    })
}

/// `GET /users/{id}/settings/exchange` → `exchangeSettings` `{id, primaryMailboxId,
/// inPlaceArchiveMailboxId}` (\[IE-GA\] part 1; Graph docs
/// `api-reference/beta/resources/exchangesettings.md`: the archive field is
/// `inPlaceArchiveMailboxId`).
pub(crate) fn settings(st: &State, ctx: &Ctx, mbx: &Mailbox) -> Result<Resp, GraphError> {
    if let Some(e) = refused(st) {
        return Err(e);
    }
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}/$metadata#users('{}')/settings/exchange/$entity", ctx.graph_url(st), mbx.upn),
            "id": mbx.user_id,
            "primaryMailboxId": mailbox_id(mbx),
            "inPlaceArchiveMailboxId": null,
        }),
    ))
}

/// `mailboxFolder` \[G-MBXF\].
fn folder_json(mbx: &Mailbox, f: &Folder) -> Value {
    json!({
        "id": f.id,
        "displayName": f.display_name,
        "parentFolderId": f.parent_id,
        "childFolderCount": mbx.children(&f.id).count(),
        "totalItemCount": mbx.messages.iter().filter(|m| m.folder_id == f.id).count(),
        "wellKnownName": f.well_known,
        "type": "IPF.Note",
    })
}

/// A page of `all` with a `$skip` next link, as Graph's collections \[1.3\].
fn page(st: &State, ctx: &Ctx, context: &str, all: Vec<Value>) -> Result<Resp, GraphError> {
    let top = ctx.query.top(st.cfg.page_size)?;
    let skip = ctx.query.skip()?;
    let n = all.len();
    let value: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut body = json!({"@odata.context": context, "value": value});
    if skip + top < n {
        body["@odata.nextLink"] = json!(format!(
            "{}?{}",
            ctx.self_url(st),
            ctx.query.with("$skip", &(skip + top).to_string())
        ));
    }
    Ok(Resp::json(200, &body))
}

/// The upn of the mailbox `id` names.
pub(crate) fn upn_of(st: &State, id: &str) -> Option<String> {
    st.store()
        .mailboxes
        .iter()
        .find(|m| mailbox_id(m) == id)
        .map(|m| m.upn.clone())
}

/// `…/admin/exchange/mailboxes/{mailboxId}/…` once the mailbox is found and admitted:
/// `rest` is what follows the mailbox id.
pub(crate) fn admin(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    rest: &[&str],
) -> Result<Resp, GraphError> {
    if let Some(e) = refused(st) {
        return Err(e);
    }
    let ctx_url = format!(
        "{}/$metadata#Collection(microsoft.graph.mailboxFolder)",
        ctx.graph_url(st)
    );
    let folder = |key: &str| -> Result<usize, GraphError> {
        mbx.folders
            .iter()
            .position(|f| f.id == key)
            .ok_or_else(GraphError::item_not_found)
    };
    match (ctx.method.as_str(), rest) {
        // [G-MBXF] top-level folders (children of the root).
        ("GET", ["folders"]) => {
            let root = mbx.root_id().to_owned();
            let all = mbx.children(&root).map(|f| folder_json(mbx, f)).collect();
            page(st, ctx, &ctx_url, all)
        }
        ("GET", ["folders", f]) => Ok(Resp::json(200, &folder_json(mbx, &mbx.folders[folder(f)?]))),
        ("GET", ["folders", f, "childFolders"]) => {
            let id = mbx.folders[folder(f)?].id.clone();
            let all = mbx.children(&id).map(|c| folder_json(mbx, c)).collect();
            page(st, ctx, &ctx_url, all)
        }
        // [G-MBXF] mailboxItem: id, changeKey, type, size, categories, dates.
        ("GET", ["folders", f, "items"]) => {
            let id = mbx.folders[folder(f)?].id.clone();
            let all = mbx
                .messages
                .iter()
                .filter(|m| m.folder_id == id)
                .map(|m| {
                    json!({
                        "id": m.imm_id, "changeKey": m.change_key(), "type": "IPM.Note",
                        "size": m.mime.as_ref().map_or(m.body.len(), Bytes::len),
                        "categories": m.categories,
                        "createdDateTime": fmt_time(m.created),
                        "lastModifiedDateTime": fmt_time(m.modified),
                    })
                })
                .collect();
            let context = format!(
                "{}/$metadata#Collection(microsoft.graph.mailboxItem)",
                ctx.graph_url(st)
            );
            page(st, ctx, &context, all)
        }
        ("POST", ["exportItems"]) => export(st, ctx, mbx),
        ("POST", ["createImportSession"]) => create_session(st, ctx, mbx),
        (_, [.., last]) => Err(super::server::unknown_segment(last)),
        (_, []) => Err(super::server::unknown_segment("mailboxes")),
    }
}

/// `POST …/exportItems` `{"itemIds": [...]}` (at most 20) → a collection of
/// `exportItemResponse` `{itemId, changeKey, data}` or `{itemId, error}` \[G-EXP\].
fn export(st: &State, ctx: &Ctx, mbx: &Mailbox) -> Result<Resp, GraphError> {
    let body: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::bad_request("The request body is not JSON."))?;
    let ids: Vec<&str> = body["itemIds"]
        .as_array()
        .ok_or_else(|| GraphError::bad_request("itemIds is required."))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() || ids.len() > MAX_EXPORT {
        return Err(GraphError::bad_request(
            "itemIds must hold between 1 and 20 identifiers.",
        ));
    }
    let value: Vec<Value> = ids
        .iter()
        .map(|id| match mbx.message_index(id) {
            Ok(i) => {
                let m = &mbx.messages[i];
                json!({"itemId": id, "changeKey": m.change_key(),
                       "data": STANDARD.encode(fts::export(m))})
            }
            // [G-EXP] exportItemResponse.error is a mailTipsError {message, code}.
            Err(_) => json!({"itemId": id, "error": {
                "code": "ErrorItemNotFound",
                "message": "The specified object was not found in the store."}}),
        })
        .collect();
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}/$metadata#Collection(microsoft.graph.exportItemResponse)", ctx.graph_url(st)),
            "value": value,
        }),
    ))
}

/// `POST …/createImportSession` (no body) → `mailboxItemImportSession` `{importUrl,
/// expirationDateTime}`; the URL is on another host in Exchange Online and carries its
/// token in the query string \[G-IMPS\]\[G-IMP\]. (\[G-IMPS\] answers 200, the concept page
/// \[G-IMP\] says 201; the emulator answers 200.)
fn create_session(st: &State, ctx: &Ctx, mbx: &Mailbox) -> Result<Resp, GraphError> {
    let token = ids::new_token(48);
    let lifetime = st.cfg.import_session_lifetime;
    st.imports().insert(
        token.clone(),
        ImportSession {
            upn: mbx.upn.clone(),
            client_id: ctx.client_id.clone(),
            expires: Instant::now() + lifetime,
            epoch: st.faults.import_epoch(),
        },
    );
    let expires = time::OffsetDateTime::now_utc() + lifetime;
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.mailboxItemImportSession", ctx.graph_url(st)),
            "importUrl": format!("{}/api/gbeta/Mailboxes('{}')/importItem?authtoken={token}", st.base_url, mailbox_id(mbx)),
            "expirationDateTime": fmt_time(expires),
        }),
    ))
}

/// `POST {importUrl}` `{"FolderId", "Mode", "Data", "ItemId"?, "ChangeKey"?}` →
/// `importMailboxItemResponse` `{itemId, changeKey}` \[G-IMP\].
pub(crate) fn import_item(
    st: &State,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Resp, GraphError> {
    // [G-IMP] "don't specify an Authorization request header for this operation".
    if headers.contains_key("authorization") {
        return Err(GraphError::bad_request(
            "The import URL is pre-authenticated; do not send an Authorization header.",
        ));
    }
    let token = Query::parse(query)
        .get("authtoken")
        .unwrap_or("")
        .to_owned();
    let session = st.imports().get(&token).cloned();
    let session = session
        .filter(|s| Instant::now() < s.expires && s.epoch == st.faults.import_epoch())
        .ok_or_else(|| {
            // [G-IMP]: "After this time, the importUrl expires and is deleted."
            GraphError::new(
                401,
                "InvalidAuthenticationToken",
                "The import session's token is missing, invalid or expired.",
            )
        })?;
    if let Some(e) = refused(st) {
        return Err(e);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| GraphError::bad_request("The request body is not JSON."))?;
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    let folder =
        text("FolderId").ok_or_else(|| GraphError::bad_request("FolderId is required."))?;
    let data = text("Data")
        .and_then(|d| STANDARD.decode(d).ok())
        .ok_or_else(|| GraphError::bad_request("Data is required, base64."))?;
    let (item, key) = (text("ItemId"), text("ChangeKey"));
    let mode = text("Mode").unwrap_or_default();
    let _slot = st.throttle.admit(
        &st.cfg.limits,
        &session.client_id,
        &session.upn,
        body.len() as u64,
    )?;
    let mut store = st.store();
    let mbx = store
        .mailbox_mut(&session.upn)
        .ok_or_else(GraphError::item_not_found)?;
    if !mbx.folders.iter().any(|f| f.id == folder) {
        return Err(GraphError::new(
            404,
            "ErrorItemNotFound",
            "The folder was not found.",
        ));
    }
    let mut m = fts::import(&data, &folder)
        .ok_or_else(|| GraphError::bad_request("Data is not a FastTransfer stream."))?;
    match mode.as_str() {
        // [G-IMP] create: "If you specify ItemId or ChangeKey … it results in an error."
        "create" if item.is_some() || key.is_some() => Err(GraphError::bad_request(
            "ItemId and ChangeKey are not allowed in create mode.",
        )),
        "create" => {
            let i = mbx.insert(m);
            let m = &mbx.messages[i];
            Ok(Resp::json(
                200,
                &json!({"itemId": m.imm_id, "changeKey": m.change_key()}),
            ))
        }
        // [G-IMP] update: both required, and must match an item in the folder.
        "update" => {
            let (Some(item), Some(key)) = (item, key) else {
                return Err(GraphError::bad_request(
                    "ItemId and ChangeKey are required in update mode.",
                ));
            };
            let i = mbx
                .messages
                .iter()
                .position(|x| x.imm_id == item && x.folder_id == folder && x.change_key() == key)
                .ok_or_else(GraphError::item_not_found)?;
            let old = &mbx.messages[i];
            m.imm_id = old.imm_id.clone();
            m.rest_id = old.rest_id.clone();
            m.change_n = old.change_n;
            m.folder_seq = old.folder_seq;
            mbx.messages[i] = m;
            mbx.touch(i);
            let m = &mbx.messages[i];
            Ok(Resp::json(
                200,
                &json!({"itemId": m.imm_id, "changeKey": m.change_key()}),
            ))
        }
        _ => Err(GraphError::bad_request("Mode must be create or update.")),
    }
}

/// The default lifetime of an import session's URL (not documented; \[G-IMPS\]'s sample
/// shows an expiry, not its length).
pub(crate) const IMPORT_SESSION_LIFETIME: Duration = Duration::from_secs(3600);
