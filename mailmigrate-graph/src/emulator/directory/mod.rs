//! The directory: users, groups and mail contacts, read-only, as `GET /users`,
//! `GET /groups` and `GET /groups/{id}/members` serve them, and each user's
//! `mailboxSettings/userPurpose`.
//!
//! - [`seed`]: the public types tests seed it with;
//! - [`listing`]: paging with opaque `$skiptoken` links, `$top` and `$select` as the
//!   directory applies them;
//! - [`users`] and [`groups`]: the routes.
//!
//! Directory calls are not throttled per mailbox: Entra ID's own limits are not
//! emulated; the armed [faults](super::Faults) apply to them as to every Graph request.
//! `mailboxSettings/userPurpose` is an Outlook call and is throttled per mailbox
//! \[G-THR\].

mod groups;
mod listing;
pub(crate) mod seed;
mod users;

use axum::http::Method;

use super::builder::Config;
use super::errors::{GraphError, Resp};
use super::ids;
use super::server::{unknown_segment, Ctx, State};
use super::store::{Mailbox, Store};
use seed::{TenantContact, TenantGroup, TenantUser};

/// A seeded user and its object id (its mailbox's user id when it has one).
#[derive(Debug, Clone)]
pub(crate) struct DirUser {
    pub(crate) id: String,
    pub(crate) user: TenantUser,
}

/// A seeded group, its members resolved to object ids.
#[derive(Debug, Clone)]
pub(crate) struct DirGroup {
    pub(crate) id: String,
    pub(crate) group: TenantGroup,
    pub(crate) members: Vec<String>,
}

/// A seeded mail contact.
#[derive(Debug, Clone)]
pub(crate) struct DirContact {
    pub(crate) id: String,
    pub(crate) contact: TenantContact,
}

/// The tenant's directory objects, in the order they were seeded (the order listings
/// return them in).
#[derive(Debug, Default)]
pub(crate) struct DirectoryStore {
    pub(crate) users: Vec<DirUser>,
    pub(crate) groups: Vec<DirGroup>,
    pub(crate) contacts: Vec<DirContact>,
}

impl DirectoryStore {
    /// A user by object id or user principal name (case-insensitive) \[G-USER\].
    pub(crate) fn user(&self, key: &str) -> Option<&DirUser> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(key) || u.user.upn.eq_ignore_ascii_case(key))
    }

    /// The object a member name means: a user (UPN, `mail` or proxy address), a group
    /// (address or, without one, name) or a contact.
    fn resolve(&self, name: &str) -> Option<String> {
        let has = |mail: &Option<String>, proxies: &[String]| {
            mail.as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(name))
                || proxies.iter().any(|p| {
                    p.split_once(':')
                        .is_some_and(|(_, a)| a.trim().eq_ignore_ascii_case(name))
                })
        };
        let user = self.users.iter().find(|u| {
            u.user.upn.eq_ignore_ascii_case(name) || has(&u.user.mail, &u.user.proxy_addresses)
        });
        let group = || {
            self.groups.iter().find(|g| {
                has(&g.group.mail, &g.group.proxy_addresses)
                    || (g.group.mail.is_none() && g.group.display_name.eq_ignore_ascii_case(name))
            })
        };
        let contact = || {
            self.contacts
                .iter()
                .find(|c| c.contact.mail.eq_ignore_ascii_case(name))
        };
        user.map(|u| u.id.clone())
            .or_else(|| group().map(|g| g.id.clone()))
            .or_else(|| contact().map(|c| c.id.clone()))
    }
}

/// Adds (or replaces, by UPN) a user; a user with a mailbox gets one, sharing its id.
pub(crate) fn seed_user(store: &mut Store, user: TenantUser) -> String {
    let id = if user.purpose.is_some() {
        if store.mailbox_mut(&user.upn).is_none() {
            store.mailboxes.push(Mailbox::new(&user.upn));
        }
        store
            .mailbox_mut(&user.upn)
            .map(|m| m.user_id.clone())
            .unwrap_or_default()
    } else {
        store
            .directory
            .user(&user.upn)
            .map(|u| u.id.clone())
            .unwrap_or_else(ids::new_guid)
    };
    let dir = &mut store.directory;
    dir.users
        .retain(|u| !u.user.upn.eq_ignore_ascii_case(&user.upn));
    dir.users.push(DirUser {
        id: id.clone(),
        user,
    });
    id
}

/// Adds a mail contact.
pub(crate) fn seed_contact(store: &mut Store, contact: TenantContact) -> String {
    let id = ids::new_guid();
    store.directory.contacts.push(DirContact {
        id: id.clone(),
        contact,
    });
    id
}

/// Adds a group whose members are already seeded.
///
/// # Panics
/// If a member names nothing seeded (a mistake in the test).
pub(crate) fn seed_group(store: &mut Store, group: TenantGroup) -> String {
    let dir = &mut store.directory;
    let members = group
        .members
        .iter()
        .map(|name| {
            dir.resolve(name)
                .unwrap_or_else(|| panic!("group member {name} is not seeded in the emulator"))
        })
        .collect();
    let id = ids::new_guid();
    dir.groups.push(DirGroup {
        id: id.clone(),
        group,
        members,
    });
    id
}

/// Seeds what the builder collected: its users, a member user for each plain
/// [`mailbox`](super::EmulatorBuilder::mailbox), its contacts, then its groups.
pub(crate) fn seed_config(store: &mut Store, cfg: &Config) {
    for user in &cfg.users {
        seed_user(store, user.clone());
    }
    let plain: Vec<(String, String)> = store
        .mailboxes
        .iter()
        .filter(|m| store.directory.user(&m.upn).is_none())
        .map(|m| (m.upn.clone(), m.user_id.clone()))
        .collect();
    for (upn, id) in plain {
        store.directory.users.push(DirUser {
            id,
            user: TenantUser::member(&upn),
        });
    }
    for contact in &cfg.contacts {
        seed_contact(store, contact.clone());
    }
    for group in &cfg.groups {
        seed_group(store, group.clone());
    }
}

/// Answers the directory's routes, `None` for any other path (the mail routes).
pub(crate) fn route(st: &State, ctx: &Ctx) -> Option<Result<Resp, GraphError>> {
    let segs: Vec<&str> = ctx.segs.iter().map(String::as_str).collect();
    let ours = matches!(
        segs.as_slice(),
        ["users"] | ["users", _] | ["users", _, "mailboxSettings", ..] | ["groups", ..]
    );
    if !ours {
        return None;
    }
    if ctx.method != Method::GET {
        // Emulator choice: the directory's writes (creating users, groups) are not
        // emulated, seeding replaces them.
        return Some(Err(GraphError::new(
            405,
            "Request_BadRequest",
            "The emulator's directory is read-only.",
        )));
    }
    Some(match segs.as_slice() {
        ["users"] => users::list(st, ctx),
        ["users", id] => users::get(st, ctx, id),
        ["users", id, "mailboxSettings", "userPurpose"] => users::purpose(st, ctx, id),
        ["groups"] => groups::list(st, ctx),
        ["groups", id] => groups::get(st, ctx, id),
        ["groups", id, "members"] => groups::members(st, ctx, id),
        [.., last] => Err(unknown_segment(last)),
        [] => Err(unknown_segment("")),
    })
}

/// Refuses a call the app was not granted `permission` for (see
/// [`EmulatorBuilder::without_permission`](super::EmulatorBuilder::without_permission)):
/// directory calls answer 403 `Authorization_RequestDenied` "Insufficient privileges to
/// complete the operation." \[I-DIR403\], mailbox calls 403 `ErrorAccessDenied` \[G-ERR\]\[1.6\].
pub(crate) fn require(st: &State, permission: &str, mailbox: bool) -> Result<(), GraphError> {
    let denied = st
        .cfg
        .denied_permissions
        .iter()
        .any(|p| p.eq_ignore_ascii_case(permission));
    match (denied, mailbox) {
        (false, _) => Ok(()),
        (true, false) => Err(GraphError::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )),
        (true, true) => Err(GraphError::new(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )),
    }
}

/// 404 for a directory object that does not exist (directory wording, observed).
pub(crate) fn not_found(key: &str) -> GraphError {
    GraphError::new(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}
