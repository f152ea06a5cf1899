//! The three listings: `users.list`, `groups.list`, `members.list` \[AD-DISC\], each
//! page by `nextPageToken`.

use std::sync::Arc;

use futures::future::ready;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use mailmigrate_core::directory::{Account, Group, GroupKind, GroupMember, MemberKind};
use mailmigrate_core::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{Mailboxes, DIRECTORY_GROUP_SCOPE, DIRECTORY_USER_SCOPE};
use crate::client::{segment, Call, Client};
use crate::quota::Cost;

/// Users per page: the most `users.list` gives (`maxResults` ≤ 500, \[AD-USERS\]).
const USERS_PAGE: u32 = 500;
/// Groups and members per page: the most those listings give (200, \[AD-GROUPS\]\[AD-MEMB\]).
const GROUPS_PAGE: u32 = 200;
/// Mailboxes counted at once with stats.
const COUNTS_AT_ONCE: usize = 4;

/// `users.list` \[AD-USER\]: the fields read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: Option<String>,
    primary_email: String,
    name: Option<Name>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    non_editable_aliases: Vec<String>,
    #[serde(default)]
    suspended: bool,
    is_mailbox_setup: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Name {
    full_name: Option<String>,
}

/// `groups.list` \[AD-GROUP\].
#[derive(Debug, Deserialize)]
struct GroupRes {
    id: Option<String>,
    email: String,
    name: Option<String>,
}

/// `members.list` \[AD-MEMB\]: `type` is `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
#[derive(Debug, Deserialize)]
struct Member {
    email: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// One page of any listing: its items under `field` and the next token.
#[derive(Debug)]
struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
}

/// `GET url[&pageToken=…]` and the items under `field`.
async fn page<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    token: Option<&str>,
    field: &'static str,
    scope: &'static str,
) -> Result<Page<T>> {
    let mut url = url.to_owned();
    if let Some(t) = token {
        url.push_str(&format!("&pageToken={}", segment(t)));
    }
    let call = Call::get(url, Cost::Small, format!("list {field}"));
    let mut v: serde_json::Value = client.json(&call).await.map_err(|e| needs(e, scope))?;
    let items = match v.get_mut(field).map(serde_json::Value::take) {
        Some(list) => serde_json::from_value(list).map_err(|e| {
            Error::new(ErrorKind::Unexpected, format!("list {field}: {e}"))
                .with_provider(crate::PROVIDER)
        })?,
        None => Vec::new(),
    };
    let next = v
        .get("nextPageToken")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    Ok(Page { items, next })
}

/// Every page of a listing, as one stream of items.
fn every<T: DeserializeOwned + Send + 'static>(
    client: Arc<Client>,
    url: String,
    field: &'static str,
    scope: &'static str,
) -> BoxStream<'static, Result<T>> {
    // `Some(token)` for the next page; the first page has none.
    stream::try_unfold(Some(None::<String>), move |state| {
        let (client, url) = (Arc::clone(&client), url.clone());
        async move {
            let Some(token) = state else {
                return Ok::<_, Error>(None);
            };
            let p: Page<T> = page(&client, &url, token.as_deref(), field, scope).await?;
            Ok(Some((p.items, p.next.map(Some))))
        }
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// Every account with a mailbox (see [`GoogleDirectory`](super::GoogleDirectory)).
pub(super) fn accounts(
    client: Arc<Client>,
    root: String,
    mailboxes: Option<Mailboxes>,
) -> BoxStream<'static, Result<Account>> {
    let url =
        format!("{root}/admin/directory/v1/users?customer=my_customer&maxResults={USERS_PAGE}");
    every::<User>(client, url, "users", DIRECTORY_USER_SCOPE)
        // [AD-USER] isMailboxSetup false: Gmail has no mailbox for the user yet.
        .try_filter(|u| ready(u.is_mailbox_setup != Some(false)))
        .map_ok(move |user| {
            let mailboxes = mailboxes.clone();
            async move {
                let mut account = account(user);
                if let Some(mailbox) = mailboxes {
                    let gmail = mailbox(&account.address).build()?;
                    let stats = gmail
                        .counts()
                        .await
                        .map_err(|e| e.with_context("user", &account.address))?;
                    account = account.with_stats(stats);
                }
                Ok(account)
            }
        })
        .try_buffered(COUNTS_AT_ONCE)
        .boxed()
}

fn account(user: User) -> Account {
    let mut account = Account::new(user.primary_email)
        .with_enabled(!user.suspended)
        .with_aliases(user.aliases.into_iter().chain(user.non_editable_aliases));
    if let Some(id) = user.id {
        account = account.with_id(id);
    }
    if let Some(name) = user
        .name
        .and_then(|n| n.full_name)
        .filter(|n| !n.is_empty())
    {
        account = account.with_name(name);
    }
    account
}

/// Every group of the domain, without members (they are a listing each).
pub(super) async fn groups(client: &Arc<Client>, root: &str) -> Result<Vec<Group>> {
    let url =
        format!("{root}/admin/directory/v1/groups?customer=my_customer&maxResults={GROUPS_PAGE}");
    every::<GroupRes>(Arc::clone(client), url, "groups", DIRECTORY_GROUP_SCOPE)
        .map_ok(|g| {
            let mut group = Group::new(g.email).with_kind(GroupKind::Distribution);
            if let Some(name) = g.name.filter(|n| !n.is_empty()) {
                group = group.with_name(name);
            }
            if let Some(id) = g.id {
                group = group.with_id(id);
            }
            group
        })
        .try_collect()
        .await
}

/// The members of `group`, every page.
pub(super) async fn members(
    client: &Arc<Client>,
    root: &str,
    group: &Group,
) -> Result<Vec<GroupMember>> {
    let key = group.id.as_deref().unwrap_or(&group.address);
    let url = format!(
        "{root}/admin/directory/v1/groups/{}/members?maxResults={GROUPS_PAGE}",
        segment(key)
    );
    every::<Member>(Arc::clone(client), url, "members", DIRECTORY_GROUP_SCOPE)
        .try_filter_map(|m| {
            let kind = match m.kind.as_deref() {
                Some("GROUP") => Some(MemberKind::Group),
                Some("EXTERNAL") => Some(MemberKind::External),
                // [AD-MEMB] CUSTOMER: the whole domain, no address.
                Some("CUSTOMER") => None,
                _ => Some(MemberKind::Account),
            };
            ready(Ok(kind.zip(m.email).map(|(k, a)| GroupMember::new(a, k))))
        })
        .try_collect()
        .await
        .map_err(|e: Error| e.with_context("group", &group.address))
}

/// Names what a refused listing needs: Google's 403 says only "Not Authorized to access
/// this resource/api" \[AD-403\].
fn needs(e: Error, scope: &'static str) -> Error {
    if e.kind() == ErrorKind::PermissionDenied {
        e.with_context(
            "needs",
            format!("an admin of the domain (the service account's subject) and {scope}"),
        )
    } else {
        e
    }
}
