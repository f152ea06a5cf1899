//! Accounts: `GET /users`, each user's mailbox kind, and the optional folder counts.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use futures::future::ready;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use mailmigrate_core::directory::{Account, AccountKind, MailboxStats};
use mailmigrate_core::{ErrorKind, Result};
use serde::Deserialize;

use super::addresses::MailAddresses;
use super::{needs, Kinds, READ_RETRIES};
use crate::client::{segment, Call, Client};

/// What the listing asks for: `proxyAddresses`, `accountEnabled` and `userType` come only
/// when selected (\[G-USER\]: "Returned only on $select").
const SELECT: &str = "id,userPrincipalName,displayName,mail,proxyAddresses,accountEnabled,userType";

/// Users per page: the most `GET /users` gives (999; 100 by default, \[G-USERS\]).
const PAGE: u32 = 999;

/// Users whose mailbox is looked up at once: Outlook's per-mailbox limit is 4 \[G-THR\],
/// and these are different mailboxes, but the client's own slots are 4 too.
const LOOKUPS_AT_ONCE: usize = 4;

/// A user as `GET /users?$select=…` returns it (\[G-USER\]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    mail: Option<String>,
    #[serde(default)]
    proxy_addresses: Vec<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
}

/// `GET /users/{id}/mailboxSettings/userPurpose` → `{"value": "shared"}` \[G-MBXS\].
#[derive(Debug, Deserialize)]
struct Purpose {
    value: Option<String>,
}

/// Every account with a mailbox, page by page (see [`GraphDirectory`](super::GraphDirectory)).
pub(super) fn accounts(
    client: Arc<Client>,
    kinds: Kinds,
    stats: bool,
) -> BoxStream<'static, Result<Account>> {
    let url = client.url(&format!("/users?$select={SELECT}&$top={PAGE}"));
    let call = Call::get(url, "GET users").with_read_retries(READ_RETRIES);
    client
        .items::<User>(call)
        .map_err(needs("User.Read.All"))
        // [G-USER] userType Guest: an invited user, whose mailbox is in another tenant.
        .try_filter(|u| ready(!is_guest(u.user_type.as_deref())))
        .map_ok(move |user| {
            let client = Arc::clone(&client);
            let kinds = Arc::clone(&kinds);
            async move { account(&client, &kinds, user, stats).await }
        })
        .try_buffered(LOOKUPS_AT_ONCE)
        .try_filter_map(|account| ready(Ok(account)))
        .boxed()
}

/// Whether `userType` says guest (\[G-USER\]: `Member` or `Guest`).
pub(super) fn is_guest(user_type: Option<&str>) -> bool {
    user_type.is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
}

/// The account of `user`, `None` when it has no mailbox.
async fn account(
    client: &Arc<Client>,
    kinds: &Kinds,
    user: User,
    stats: bool,
) -> Result<Option<Account>> {
    let Some(kind) = mailbox_kind(client, kinds, &user.id).await? else {
        return Ok(None);
    };
    let addresses = MailAddresses::parse(&user.proxy_addresses, user.mail.as_deref());
    let upn = user.user_principal_name.unwrap_or_default();
    let address = addresses.primary.unwrap_or_else(|| upn.clone());
    let mut account = Account::new(address)
        .with_kind(kind)
        // [G-USER] accountEnabled; a disabled account's mailbox still moves.
        .with_enabled(user.account_enabled.unwrap_or(true))
        .with_aliases(addresses.aliases)
        .with_id(user.id.clone());
    if let Some(name) = user.display_name.filter(|n| !n.is_empty()) {
        account = account.with_name(name);
    }
    if !upn.is_empty() && !upn.eq_ignore_ascii_case(&account.address) {
        account = account.with_source_login(upn);
    }
    if stats {
        if let Some(stats) = folder_counts(client, &user.id).await? {
            account = account.with_stats(stats);
        }
    }
    Ok(Some(account))
}

/// The kind of `user`'s mailbox, `None` without one; asked once per user and remembered.
pub(super) async fn mailbox_kind(
    client: &Client,
    kinds: &Kinds,
    user: &str,
) -> Result<Option<AccountKind>> {
    if let Some(known) = lock(kinds).get(user) {
        return Ok(known.clone());
    }
    let url = client.users_url(user, "/mailboxSettings/userPurpose");
    let call = Call::get(url, "GET mailboxSettings/userPurpose").with_read_retries(READ_RETRIES);
    let kind = match client.json::<Purpose>(&call).await {
        Ok(p) => Some(kind_of(p.value.as_deref().unwrap_or(""))),
        // [I-MBXREST] MailboxNotEnabledForRESTAPI or ResourceNotFound: no mailbox here.
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(needs("MailboxSettings.Read")(e).with_context("user", user)),
    };
    lock(kinds).insert(user.to_owned(), kind.clone());
    Ok(kind)
}

fn lock(kinds: &Kinds) -> MutexGuard<'_, HashMap<String, Option<AccountKind>>> {
    kinds.lock().unwrap_or_else(|e| e.into_inner())
}

/// The account kind of a `userPurpose` value \[G-MBXS\]: `linked` is a person's mailbox
/// whose account lives in another forest.
fn kind_of(purpose: &str) -> AccountKind {
    match purpose {
        "user" | "linked" => AccountKind::User,
        "shared" => AccountKind::SharedMailbox,
        "room" => AccountKind::Room,
        "equipment" => AccountKind::Equipment,
        other => AccountKind::Other(other.to_owned()),
    }
}

/// A folder as the counting walk reads it (\[G-FOLD\]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderCount {
    id: String,
    #[serde(default)]
    child_folder_count: u64,
    #[serde(default)]
    total_item_count: u64,
}

/// Folders and items of `user`'s mailbox, walking `mailFolders` and `childFolders`
/// (\[G-LFOLD\]); `None` if the mailbox is gone since it was classified.
async fn folder_counts(client: &Arc<Client>, user: &str) -> Result<Option<MailboxStats>> {
    let (mut folders, mut items) = (0_u64, 0_u64);
    let mut todo: Vec<Option<String>> = vec![None];
    while let Some(parent) = todo.pop() {
        let path = match &parent {
            None => "/mailFolders".to_owned(),
            Some(id) => format!("/mailFolders/{}/childFolders", segment(id)),
        };
        let url = client.users_url(
            user,
            &format!("{path}?$select=id,childFolderCount,totalItemCount&$top=100"),
        );
        let call = Call::get(url, "GET mailFolders (counts)").with_read_retries(READ_RETRIES);
        let page: Vec<FolderCount> = match client.items(call).try_collect().await {
            Ok(page) => page,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(needs("Mail.ReadBasic.All")(e).with_context("user", user)),
        };
        for f in page {
            folders += 1;
            items += f.total_item_count;
            if f.child_folder_count > 0 {
                todo.push(Some(f.id));
            }
        }
    }
    Ok(Some(
        MailboxStats::new()
            .with_folders(folders)
            .with_messages(items),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_purposes_map_to_kinds() {
        assert_eq!(kind_of("user"), AccountKind::User);
        assert_eq!(kind_of("linked"), AccountKind::User);
        assert_eq!(kind_of("shared"), AccountKind::SharedMailbox);
        assert_eq!(kind_of("room"), AccountKind::Room);
        assert_eq!(kind_of("equipment"), AccountKind::Equipment);
        assert_eq!(kind_of("others"), AccountKind::Other("others".into()));
        assert!(is_guest(Some("Guest")));
        assert!(!is_guest(Some("Member")));
        assert!(!is_guest(None));
    }
}
