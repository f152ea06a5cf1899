//! `GET /users`, `GET /users/{id}` and `GET /users/{id}/mailboxSettings/userPurpose`.

use serde_json::{json, Value};

use super::listing::{self, Shape};
use super::seed::MailboxPurpose;
use super::{not_found, require, DirUser};
use crate::emulator::errors::{GraphError, Resp};
use crate::emulator::server::{unknown_mailbox, Ctx, State};

/// The user resource as the emulator has it; without `$select` only the default
/// properties come back, so `proxyAddresses`, `accountEnabled` and `userType` need
/// naming \[G-USER\] ("Returned only on $select").
pub(super) const USER: Shape = Shape {
    type_name: "microsoft.graph.user",
    properties: &[
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "businessPhones",
        "jobTitle",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "accountEnabled",
        "proxyAddresses",
        "userType",
        "assignedLicenses",
    ],
    defaults: &[
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ],
};

/// An Exchange Online licence's SKU, on users with a person's mailbox (shared and
/// resource mailboxes need none).
const EXCHANGE_SKU: &str = "4b9405b0-7788-4568-add1-99614e613b69";

/// Every property of `u` \[G-USER\].
pub(super) fn render(u: &DirUser) -> Value {
    let licensed = matches!(
        u.user.purpose,
        Some(MailboxPurpose::User | MailboxPurpose::Linked)
    );
    let licences: Vec<Value> = if licensed {
        vec![json!({"disabledPlans": [], "skuId": EXCHANGE_SKU})]
    } else {
        Vec::new()
    };
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": u.id,
        "userPrincipalName": u.user.upn,
        "displayName": u.user.display_name,
        "givenName": null,
        "surname": null,
        "mail": u.user.mail,
        "businessPhones": [],
        "jobTitle": null,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "accountEnabled": u.user.account_enabled,
        "proxyAddresses": u.user.proxy_addresses,
        "userType": u.user.user_type,
        "assignedLicenses": licences,
    })
}

/// `GET /users`: every user, 100 a page by default, no `$filter` \[G-USERS\] (the
/// client filters nothing server-side, so any filter is refused here).
pub(super) fn list(st: &State, ctx: &Ctx) -> Result<Resp, GraphError> {
    require(st, "User.Read.All", false)?;
    listing::check_options(ctx)?;
    if let Some(f) = ctx.query.get("$filter") {
        return Err(GraphError::new(
            400,
            "Request_UnsupportedQuery",
            &format!("The emulator does not filter users ('{f}')."),
        ));
    }
    let select = listing::select(ctx, &[USER])?;
    let objects = st
        .store()
        .directory
        .users
        .iter()
        .map(|u| listing::untyped(listing::project(render(u), &USER, select.as_deref())))
        .collect();
    listing::page(st, ctx, "users", objects)
}

/// `GET /users/{id | userPrincipalName}` \[G-USER\].
pub(super) fn get(st: &State, ctx: &Ctx, key: &str) -> Result<Resp, GraphError> {
    require(st, "User.Read.All", false)?;
    let select = listing::select(ctx, &[USER])?;
    let store = st.store();
    let u = store.directory.user(key).ok_or_else(|| not_found(key))?;
    let mut v = listing::untyped(listing::project(render(u), &USER, select.as_deref()));
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", ctx.graph_url(st)));
    Ok(Resp::json(200, &v))
}

/// `GET /users/{id}/mailboxSettings/userPurpose` → `{"value": "shared"}` \[G-MBXS\]; a
/// user without a mailbox answers as mailbox calls do for it \[I-MBXREST\]. It is an
/// Outlook call: throttled per mailbox \[G-THR\].
pub(super) fn purpose(st: &State, ctx: &Ctx, key: &str) -> Result<Resp, GraphError> {
    require(st, "MailboxSettings.Read", true)?;
    let (id, upn, purpose) = {
        let store = st.store();
        let u = store
            .directory
            .user(key)
            .ok_or_else(|| unknown_mailbox(st))?;
        let purpose = u.user.purpose.ok_or_else(|| unknown_mailbox(st))?;
        (u.id.clone(), u.user.upn.clone(), purpose)
    };
    let _slot = st.throttle.admit(&st.cfg.limits, &ctx.client_id, &upn, 0)?;
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}/$metadata#users('{id}')/mailboxSettings/userPurpose", ctx.graph_url(st)),
            "value": purpose.as_str(),
        }),
    ))
}
