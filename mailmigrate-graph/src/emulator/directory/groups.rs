//! `GET /groups` (with the one `$filter` the client sends), `GET /groups/{id}` and
//! `GET /groups/{id}/members`.

use serde_json::{json, Value};

use super::listing::{self, Shape};
use super::seed::GroupType;
use super::users::{self, USER};
use super::{not_found, require, DirContact, DirGroup};
use crate::emulator::errors::{GraphError, Resp};
use crate::emulator::odata::{Cmp, Filter, Lit};
use crate::emulator::server::{Ctx, State};

/// The group resource as the emulator has it; these properties are returned by default
/// \[G-GROUP\].
const GROUP: Shape = Shape {
    type_name: "microsoft.graph.group",
    properties: GROUP_PROPERTIES,
    defaults: GROUP_PROPERTIES,
};

const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "proxyAddresses",
];

/// A mail contact (`orgContact`) \[G-MEMB\].
const CONTACT: Shape = Shape {
    type_name: "microsoft.graph.orgContact",
    properties: CONTACT_PROPERTIES,
    defaults: CONTACT_PROPERTIES,
};

const CONTACT_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "mail",
    "mailNickname",
    "proxyAddresses",
];

/// Every property of `g`, by the table of group kinds \[G-GROUP\].
fn render(g: &DirGroup) -> Value {
    let (types, mail_enabled, security_enabled): (&[&str], bool, bool) = match g.group.kind {
        GroupType::Distribution => (&[], true, false),
        GroupType::MailSecurity => (&[], true, true),
        GroupType::Security => (&[], false, true),
        GroupType::Microsoft365 => (&["Unified"], true, false),
    };
    let nickname = g
        .group
        .mail
        .as_deref()
        .and_then(|m| m.split('@').next())
        .unwrap_or(&g.group.display_name)
        .to_owned();
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": g.id,
        "displayName": g.group.display_name,
        "description": null,
        "mail": g.group.mail,
        "mailEnabled": mail_enabled,
        "mailNickname": nickname,
        "securityEnabled": security_enabled,
        "groupTypes": types,
        "proxyAddresses": g.group.proxy_addresses,
    })
}

fn render_contact(c: &DirContact) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.orgContact",
        "id": c.id,
        "displayName": c.contact.display_name,
        "mail": c.contact.mail,
        "mailNickname": c.contact.mail.split('@').next().unwrap_or(""),
        "proxyAddresses": [format!("SMTP:{}", c.contact.mail)],
    })
}

/// The `$filter` of a group listing: only `mailEnabled eq true|false`, the form the
/// client sends (\[G-GROUPS\]: `mailEnabled` supports `eq`); anything else is refused as
/// Graph refuses an unsupported clause (observed wording).
fn mail_enabled_filter(ctx: &Ctx) -> Result<Option<bool>, GraphError> {
    let Some(text) = ctx.query.get("$filter") else {
        return Ok(None);
    };
    let unsupported = || {
        GraphError::new(
            400,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified for property of resource 'Group'.",
        )
    };
    let filter = Filter::parse(text)
        .map_err(|_| GraphError::new(400, "Request_BadRequest", "Invalid filter clause"))?;
    match filter.0.as_slice() {
        [(field, Cmp::Eq, Lit::Bool(value))] if field == "mailEnabled" => Ok(Some(*value)),
        _ => Err(unsupported()),
    }
}

/// `GET /groups[?$filter=mailEnabled eq true]` \[G-GROUPS\].
pub(super) fn list(st: &State, ctx: &Ctx) -> Result<Resp, GraphError> {
    require(st, "Group.Read.All", false)?;
    listing::check_options(ctx)?;
    let mail_enabled = mail_enabled_filter(ctx)?;
    let select = listing::select(ctx, &[GROUP])?;
    let objects = st
        .store()
        .directory
        .groups
        .iter()
        .map(render)
        .filter(|v| mail_enabled.is_none_or(|want| v["mailEnabled"] == want))
        .map(|v| listing::untyped(listing::project(v, &GROUP, select.as_deref())))
        .collect();
    listing::page(st, ctx, "groups", objects)
}

/// `GET /groups/{id}` \[G-GROUP\].
pub(super) fn get(st: &State, ctx: &Ctx, id: &str) -> Result<Resp, GraphError> {
    require(st, "Group.Read.All", false)?;
    let select = listing::select(ctx, &[GROUP])?;
    let store = st.store();
    let g = store
        .directory
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| not_found(id))?;
    let mut v = listing::untyped(listing::project(render(g), &GROUP, select.as_deref()));
    v["@odata.context"] = json!(format!("{}/$metadata#groups/$entity", ctx.graph_url(st)));
    Ok(Resp::json(200, &v))
}

/// `GET /groups/{id}/members`: direct members only, each with its `@odata.type`;
/// `$select` may name properties of users, groups and contacts \[G-MEMB\].
pub(super) fn members(st: &State, ctx: &Ctx, id: &str) -> Result<Resp, GraphError> {
    require(st, "Group.Read.All", false)?;
    listing::check_options(ctx)?;
    if ctx.query.get("$filter").is_some() {
        return Err(GraphError::new(
            400,
            "Request_UnsupportedQuery",
            "The emulator does not filter members.",
        ));
    }
    let select = listing::select(ctx, &[USER, GROUP, CONTACT])?;
    let store = st.store();
    let dir = &store.directory;
    let g = dir
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| not_found(id))?;
    let objects = g
        .members
        .iter()
        .filter_map(|member| {
            let user = dir.users.iter().find(|u| &u.id == member);
            let group = || dir.groups.iter().find(|g| &g.id == member);
            let contact = || dir.contacts.iter().find(|c| &c.id == member);
            if let Some(u) = user {
                Some(listing::project(users::render(u), &USER, select.as_deref()))
            } else if let Some(g) = group() {
                Some(listing::project(render(g), &GROUP, select.as_deref()))
            } else {
                contact().map(|c| listing::project(render_contact(c), &CONTACT, select.as_deref()))
            }
        })
        .collect();
    drop(store);
    listing::page(st, ctx, "directoryObjects", objects)
}
