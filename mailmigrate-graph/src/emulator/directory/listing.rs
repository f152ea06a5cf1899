//! Directory collections as Graph pages them: `$top` 1..=999 (100 by default), opaque
//! `$skiptoken` next links, no `$skip`, and `$select` that leaves out what was not asked
//! for \[G-USERS\]\[G-GROUPS\]\[G-MEMB\]\[G-PAGE\].

use serde_json::{json, Map, Value};

use super::super::errors::{GraphError, Resp};
use super::super::server::{Ctx, State};

/// The default page size of directory collections \[G-USERS\]\[G-GROUPS\]\[G-MEMB\].
const DEFAULT_PAGE: usize = 100;
/// The largest `$top` \[G-USERS\]\[G-GROUPS\]\[G-MEMB\].
const MAX_PAGE: usize = 999;
/// What every skip token starts with; the rest is the offset in hex. Opaque to clients
/// \[G-PAGE\].
const TOKEN_PREFIX: &str = "RFNwdAIAAQAAAB";

/// One type of directory object as a listing shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// `microsoft.graph.user`, for errors.
    pub(crate) type_name: &'static str,
    /// Every property it has (what `$select` may name).
    pub(crate) properties: &'static [&'static str],
    /// What it shows without `$select`.
    pub(crate) defaults: &'static [&'static str],
}

/// Query options no emulated directory listing takes. `$count` and `$search` need
/// `ConsistencyLevel: eventual` on Graph \[G-AQ\]; the client asks for neither.
const UNEMULATED: &[&str] = &["$count", "$search", "$orderby", "$expand"];

/// Refuses query options this listing does not take: `$skip` is not supported on
/// directory collections \[G-USERS\]; the advanced ones are not emulated.
pub(crate) fn check_options(ctx: &Ctx) -> Result<(), GraphError> {
    for (name, _) in &ctx.query.0 {
        if name == "$skip" {
            return Err(GraphError::new(
                400,
                "Request_BadRequest",
                "'$skip' is not supported by the service.",
            ));
        }
        if UNEMULATED.contains(&name.as_str()) {
            return Err(GraphError::new(
                400,
                "Request_UnsupportedQuery",
                &format!("The emulator does not support '{name}' on this collection."),
            ));
        }
    }
    Ok(())
}

/// The `$select` names, each checked against the shapes the collection may hold.
pub(crate) fn select(ctx: &Ctx, shapes: &[Shape]) -> Result<Option<Vec<String>>, GraphError> {
    let Some(names) = ctx.query.select() else {
        return Ok(None);
    };
    for name in &names {
        let known = shapes
            .iter()
            .any(|s| s.properties.iter().any(|p| p.eq_ignore_ascii_case(name)));
        if !known {
            // OData's answer to an unknown property (observed wording).
            return Err(GraphError::new(
                400,
                "Request_BadRequest",
                &format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
                    shapes
                        .first()
                        .map_or("microsoft.graph.directoryObject", |s| s.type_name)
                ),
            ));
        }
    }
    Ok(Some(names))
}

/// `object` as the request asked for it: the selected properties, or the shape's
/// defaults; `@odata.type` always stays.
pub(crate) fn project(object: Value, shape: &Shape, select: Option<&[String]>) -> Value {
    let Value::Object(map) = object else {
        return object;
    };
    let keep = |k: &str| {
        k == "@odata.type"
            || match select {
                Some(names) => names.iter().any(|n| n.eq_ignore_ascii_case(k)),
                None => shape.defaults.contains(&k),
            }
    };
    Value::Object(
        map.into_iter()
            .filter(|(k, _)| keep(k))
            .collect::<Map<_, _>>(),
    )
}

/// One page of `objects` (already filtered and projected) with the next link \[G-PAGE\].
pub(crate) fn page(
    st: &State,
    ctx: &Ctx,
    context: &str,
    objects: Vec<Value>,
) -> Result<Resp, GraphError> {
    let top = match ctx.query.get("$top") {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            // [I-DIRTOP] the directory's wording.
            _ => {
                return Err(GraphError::new(
                    400,
                    "Request_UnsupportedQuery",
                    &format!("Invalid page size specified: '{v}'. Must be between 1 and {MAX_PAGE} inclusive."),
                ))
            }
        },
    };
    let top = top.min(st.cfg.directory_page_cap);
    let offset = match ctx.query.get("$skiptoken") {
        None => 0,
        Some(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| {
                GraphError::new(400, "Request_BadRequest", "The skip token is not valid.")
            })?,
    };
    let total = objects.len();
    let value: Vec<Value> = objects.into_iter().skip(offset).take(top).collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#{context}", ctx.graph_url(st)),
        "value": value,
    });
    if offset + top < total {
        // [G-PAGE] the link keeps the request's other options and adds $skiptoken.
        let token = format!("{TOKEN_PREFIX}{:x}", offset + top);
        body["@odata.nextLink"] = json!(format!(
            "{}?{}",
            ctx.self_url(st),
            ctx.query.with("$skiptoken", &token)
        ));
    }
    Ok(Resp::json(200, &body))
}

/// Drops `@odata.type`: a plain user or group listing does not carry it, members do
/// \[G-MEMB\].
pub(crate) fn untyped(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("@odata.type");
    }
    v
}
