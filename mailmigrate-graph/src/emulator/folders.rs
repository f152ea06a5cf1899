//! Mail folders: list, get, create \[G-FOLD\]\[G-LFOLD\]\[I-FOLD10\].

use serde_json::{json, Value};

use super::errors::{GraphError, Resp};
use super::render;
use super::server::{Ctx, State};
use super::store::{Lookup, Mailbox};

/// Resolves a folder id or well-known name \[G-FOLD\].
pub(crate) fn resolve(mbx: &Mailbox, key: &str) -> Result<usize, GraphError> {
    mbx.folder_index(key).map_err(|e| match e {
        Lookup::Malformed => GraphError::malformed_id(),
        Lookup::NotFound => GraphError::item_not_found(),
    })
}

/// `GET …/mailFolders` (children of msgfolderroot) or `…/mailFolders/{id}/childFolders`;
/// hidden folders only with `includeHiddenFolders=true` \[G-LFOLD\]; 10 per page with
/// `$skip` nextLinks \[I-FOLD10\].
pub(crate) fn list(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    parent: Option<&str>,
) -> Result<Resp, GraphError> {
    let parent_id = match parent {
        Some(key) => mbx.folders[resolve(mbx, key)?].id.clone(),
        None => mbx.root_id().to_owned(),
    };
    let hidden = ctx.query.get("includeHiddenFolders") == Some("true");
    let mut all: Vec<_> = mbx
        .children(&parent_id)
        .filter(|f| hidden || !f.is_hidden)
        .collect();
    all.sort_by_key(|f| f.display_name.to_lowercase());
    let top = ctx.query.top(st.cfg.page_size)?;
    let skip = ctx.query.skip()?;
    let select = ctx.query.select();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .map(|f| {
            let mut v = render::folder(mbx, f, ctx.beta);
            if let (Some(sel), Some(obj)) = (&select, v.as_object_mut()) {
                obj.retain(|k, _| k == "id" || sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
            }
            v
        })
        .collect();
    let context = match parent {
        None => format!(
            "{}/$metadata#users('{}')/mailFolders",
            ctx.graph_url(st),
            mbx.upn
        ),
        Some(_) => format!(
            "{}/$metadata#users('{}')/mailFolders('{}')/childFolders",
            ctx.graph_url(st),
            mbx.upn,
            parent_id
        ),
    };
    let mut body = json!({"@odata.context": context, "value": page});
    if skip + top < all.len() {
        // [I-FOLD10] the nextLink uses $skip (sent as %24skip).
        body["@odata.nextLink"] = json!(format!(
            "{}?{}",
            ctx.self_url(st),
            ctx.query.with("$skip", &(skip + top).to_string())
        ));
    }
    Ok(Resp::json(200, &body))
}

/// `GET …/mailFolders/{id|wellKnownName}` \[G-FOLD\].
pub(crate) fn get(st: &State, ctx: &Ctx, mbx: &Mailbox, key: &str) -> Result<Resp, GraphError> {
    let f = &mbx.folders[resolve(mbx, key)?];
    let mut v = render::folder(mbx, f, ctx.beta);
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/mailFolders/$entity",
        ctx.graph_url(st),
        mbx.upn
    ));
    Ok(Resp::json(200, &v))
}

/// `POST …/mailFolders` or `…/childFolders` `{displayName, isHidden?}` → 201; a sibling
/// with the same name (case-insensitive) → `ErrorFolderExists` (400 or 409, observed) \[1.6\].
pub(crate) fn create(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    parent: Option<&str>,
) -> Result<Resp, GraphError> {
    let parent_id = match parent {
        Some(key) => mbx.folders[resolve(mbx, key)?].id.clone(),
        None => mbx.root_id().to_owned(),
    };
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let name = display_name(&v)?;
    // [G-FOLD beta] isHidden can only be set at creation.
    let hidden = v.get("isHidden").and_then(Value::as_bool).unwrap_or(false);
    let i = mbx.create_folder(&parent_id, name, hidden).map_err(|()| {
        GraphError::new(
            st.cfg.folder_exists_status,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        )
    })?;
    let mut out = render::folder(mbx, &mbx.folders[i], ctx.beta);
    out["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/mailFolders/$entity",
        ctx.graph_url(st),
        mbx.upn
    ));
    Ok(Resp::json(201, &out))
}

/// The `displayName` a folder create must carry (mail and contact folders alike).
pub(crate) fn display_name(body: &Value) -> Result<&str, GraphError> {
    body.get("displayName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidRequest",
                "The displayName property is required.",
            )
        })
}
