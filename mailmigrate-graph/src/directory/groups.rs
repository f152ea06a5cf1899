//! Groups: `GET /groups` filtered on `mailEnabled`, and `GET /groups/{id}/members`.

use std::sync::Arc;

use futures::TryStreamExt;
use mailmigrate_core::directory::{Group, GroupKind, GroupMember, MemberKind};
use mailmigrate_core::{Error, ErrorKind, Result};
use serde::Deserialize;

use super::addresses::MailAddresses;
use super::users::{is_guest, mailbox_kind};
use super::{needs, Kinds, READ_RETRIES};
use crate::client::{segment, Call, Client};
use crate::PROVIDER;

/// The group properties read (\[G-GROUP\]).
const GROUP_SELECT: &str =
    "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,proxyAddresses";

/// The member properties read: members are users, groups and contacts, and `$select`
/// names properties of any of them (\[G-MEMB\]).
const MEMBER_SELECT: &str = "id,mail,userPrincipalName,proxyAddresses,userType";

/// Objects per page: the most these listings give (999; 100 by default, \[G-GROUPS\]\[G-MEMB\]).
const PAGE: u32 = 999;

/// A group as `GET /groups?$select=…` returns it (\[G-GROUP\]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphGroup {
    id: String,
    display_name: Option<String>,
    mail: Option<String>,
    #[serde(default)]
    security_enabled: bool,
    #[serde(default)]
    group_types: Vec<String>,
    #[serde(default)]
    proxy_addresses: Vec<String>,
}

/// A member: a user, group, contact or other directory object (\[G-MEMB\]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    #[serde(rename = "@odata.type", default)]
    odata_type: String,
    id: String,
    mail: Option<String>,
    user_principal_name: Option<String>,
    #[serde(default)]
    proxy_addresses: Vec<String>,
    user_type: Option<String>,
}

/// Every mail-enabled group, members not yet listed.
pub(super) async fn list(client: &Arc<Client>) -> Result<Vec<Group>> {
    // [G-GROUPS] mailEnabled supports `eq` without advanced query headers.
    let url = client.url(&format!(
        "/groups?$filter=mailEnabled%20eq%20true&$select={GROUP_SELECT}&$top={PAGE}"
    ));
    let call = Call::get(url, "GET groups").with_read_retries(READ_RETRIES);
    let listed: Vec<GraphGroup> = client
        .items(call)
        .map_err(needs("Group.Read.All"))
        .try_collect()
        .await?;
    Ok(listed.into_iter().filter_map(group).collect())
}

/// The core group of a listed one; `None` for one without any address (a mail-enabled
/// group always has one, so this only guards against a partial answer).
fn group(g: GraphGroup) -> Option<Group> {
    let address = MailAddresses::parse(&g.proxy_addresses, g.mail.as_deref()).primary;
    let Some(address) = address else {
        tracing::warn!(group = %g.id, "a mail-enabled group without an address is left out");
        return None;
    };
    let mut out = Group::new(address).with_kind(kind_of(&g)).with_id(g.id);
    if let Some(name) = g.display_name.filter(|n| !n.is_empty()) {
        out = out.with_name(name);
    }
    Some(out)
}

/// Which sort of group, as the group resource's table has it (\[G-GROUP\]): `Unified` in
/// `groupTypes` is a Microsoft 365 group; otherwise a mail-enabled group is a security
/// group when `securityEnabled`, a distribution list when not.
fn kind_of(g: &GraphGroup) -> GroupKind {
    if g.group_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("Unified"))
    {
        GroupKind::Microsoft365
    } else if g.security_enabled {
        GroupKind::Security
    } else {
        GroupKind::Distribution
    }
}

/// The members of `group` that can receive mail (see
/// [`GraphDirectory`](super::GraphDirectory)).
pub(super) async fn members(
    client: &Arc<Client>,
    kinds: &Kinds,
    group: &Group,
) -> Result<Vec<GroupMember>> {
    let Some(id) = group.id.as_deref() else {
        return Err(Error::new(
            ErrorKind::ConfigInvalid,
            format!(
                "group {} has no Graph object id: list members of groups this directory listed",
                group.address
            ),
        )
        .with_provider(PROVIDER));
    };
    let url = client.url(&format!(
        "/groups/{}/members?$select={MEMBER_SELECT}&$top={PAGE}",
        segment(id)
    ));
    let call = Call::get(url, "GET group members").with_read_retries(READ_RETRIES);
    let listed: Vec<Member> = client
        .items(call)
        .map_err(needs("Group.Read.All"))
        .map_err(|e| e.with_context("group", &group.address))
        .try_collect()
        .await?;
    let mut out = Vec::with_capacity(listed.len());
    for m in listed {
        if let Some(member) = member(client, kinds, m).await? {
            out.push(member);
        }
    }
    Ok(out)
}

/// One member as the core sees it, `None` for one that cannot receive mail.
async fn member(client: &Client, kinds: &Kinds, m: Member) -> Result<Option<GroupMember>> {
    let address = MailAddresses::parse(&m.proxy_addresses, m.mail.as_deref()).primary;
    let kind = match m.odata_type.as_str() {
        "#microsoft.graph.user" if is_guest(m.user_type.as_deref()) => MemberKind::External,
        "#microsoft.graph.user" => match mailbox_kind(client, kinds, &m.id).await? {
            Some(_) => MemberKind::Account,
            None => MemberKind::External,
        },
        "#microsoft.graph.group" => MemberKind::Group,
        "#microsoft.graph.orgContact" => MemberKind::External,
        other => {
            tracing::debug!(member = %m.id, kind = other, "a member that is not a recipient is left out");
            return Ok(None);
        }
    };
    // An account is named as the account listing names it: its primary address, else
    // its user principal name.
    let address = match kind {
        MemberKind::Account => address.or(m.user_principal_name),
        _ => address,
    };
    match address {
        Some(address) => Ok(Some(GroupMember::new(address, kind))),
        None => {
            tracing::debug!(member = %m.id, "a member without a mail address is left out");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(types: &[&str], security: bool) -> GraphGroup {
        GraphGroup {
            id: "g".into(),
            display_name: None,
            mail: Some("g@example.com".into()),
            security_enabled: security,
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            proxy_addresses: Vec::new(),
        }
    }

    #[test]
    fn group_kinds_follow_the_documented_table() {
        assert_eq!(
            kind_of(&listed(&["Unified"], false)),
            GroupKind::Microsoft365
        );
        assert_eq!(kind_of(&listed(&[], true)), GroupKind::Security);
        assert_eq!(kind_of(&listed(&[], false)), GroupKind::Distribution);
        assert_eq!(
            kind_of(&listed(&["DynamicMembership", "Unified"], false)),
            GroupKind::Microsoft365
        );
    }
}
