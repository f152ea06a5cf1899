//! The folder tree: `mailFolders` and their `childFolders`, well-known folders as roles,
//! folders created by path.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::{
    EnsuredFolder, Error, ErrorKind, Folder, FolderId, FolderPath, Result, SpecialUse,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::Graph;
use crate::client::{segment, Call};
use crate::PROVIDER;

/// Graph's well-known folder names and the roles they play ([G-FOLD]).
const WELL_KNOWN: [(&str, SpecialUse); 6] = [
    ("inbox", SpecialUse::Inbox),
    ("sentitems", SpecialUse::Sent),
    ("drafts", SpecialUse::Drafts),
    ("deleteditems", SpecialUse::Trash),
    ("junkemail", SpecialUse::Junk),
    ("archive", SpecialUse::Archive),
];

/// The ids of the well-known folders this mailbox has.
#[derive(Debug, Default)]
pub(super) struct WellKnown(Vec<(SpecialUse, String)>);

impl WellKnown {
    fn role_of(&self, id: &str) -> Option<SpecialUse> {
        self.0.iter().find(|(_, i)| i == id).map(|(r, _)| *r)
    }

    fn id_of(&self, role: SpecialUse) -> Option<&str> {
        self.0
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, i)| i.as_str())
    }
}

/// Folder ids by path, as found or created.
#[derive(Debug, Default)]
pub(super) struct PathCache(HashMap<Vec<String>, String>);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailFolder {
    id: String,
    display_name: String,
    #[serde(default)]
    child_folder_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Count {
    #[serde(default)]
    total_item_count: u64,
}

/// Reads the well-known folders once: each is a `GET mailFolders/{name}`; one the mailbox
/// lacks (an archive folder that was never made) is left out.
async fn well_known(g: &Graph) -> Result<&WellKnown> {
    g.well_known
        .get_or_try_init(|| async {
            let mut out = Vec::new();
            for (name, role) in WELL_KNOWN {
                let call = Call::get(
                    g.client
                        .user_url(&format!("/mailFolders/{name}?$select=id")),
                    format!("GET mailFolders/{name}"),
                );
                match g.client.json::<MailFolder>(&call).await {
                    Ok(f) => out.push((role, f.id)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(WellKnown(out))
        })
        .await
}

/// The children of `parent` (`None`: the top of the tree), every page.
async fn children(g: &Graph, parent: Option<&str>) -> Result<Vec<MailFolder>> {
    let (path, what) = match parent {
        Some(id) => (
            format!("/mailFolders/{}/childFolders", segment(id)),
            "GET childFolders".to_owned(),
        ),
        None => ("/mailFolders".to_owned(), "GET mailFolders".to_owned()),
    };
    let url = g.client.user_url(&format!(
        "{path}?$select=id,displayName,childFolderCount&$top=100"
    ));
    g.client.items(Call::get(url, what)).try_collect().await
}

/// Every folder, depth first; the well-known inbox is `INBOX`, its children under it.
pub(super) async fn list(g: &Graph) -> Result<Vec<Folder>> {
    let known = well_known(g).await?;
    let mut out = Vec::new();
    let mut todo: Vec<(Option<String>, Option<FolderPath>)> = vec![(None, None)];
    while let Some((parent, parent_path)) = todo.pop() {
        for f in children(g, parent.as_deref()).await? {
            let role = known.role_of(&f.id);
            let path = match &parent_path {
                None if role == Some(SpecialUse::Inbox) => FolderPath::inbox(),
                None => FolderPath::new([f.display_name.clone()])?,
                Some(p) => p.child(f.display_name.clone())?,
            };
            if f.child_folder_count > 0 {
                todo.push((Some(f.id.clone()), Some(path.clone())));
            }
            out.push(Folder::new(FolderId::new(f.id), path).with_role(role));
        }
    }
    Ok(out)
}

/// `totalItemCount` of each folder.
pub(super) async fn counts(g: &Graph, folders: &[FolderId]) -> Vec<Result<u64>> {
    futures::stream::iter(folders.to_vec())
        .map(|f| async move {
            let call = Call::get(
                g.client.user_url(&format!(
                    "/mailFolders/{}?$select=totalItemCount",
                    segment(f.as_str())
                )),
                format!("GET mailFolders/{f}"),
            );
            g.client
                .json::<Count>(&call)
                .await
                .map(|c| c.total_item_count)
        })
        .buffered(4)
        .collect()
        .await
}

/// The folder at `path`, created with its parents where missing. The inbox and the
/// well-known folders of `role` are the mailbox's own; names compare without regard to
/// case, as Exchange's do.
pub(super) async fn ensure(
    g: &Graph,
    path: &FolderPath,
    role: Option<SpecialUse>,
) -> Result<EnsuredFolder> {
    let known = well_known(g).await?;
    let top_level = path.segments().len() == 1;
    let by_role = if path.is_inbox() {
        known.id_of(SpecialUse::Inbox)
    } else if top_level {
        role.and_then(|r| known.id_of(r))
    } else {
        None
    };
    if let Some(id) = by_role {
        return Ok(EnsuredFolder::new(FolderId::new(id), false));
    }
    let mut cache = g.paths.lock().await;
    let mut parent: Option<String> = None;
    let mut created = false;
    for (depth, name) in path.segments().iter().enumerate() {
        let prefix = path.segments()[..=depth].to_vec();
        if let Some(id) = cache.0.get(&prefix) {
            parent = Some(id.clone());
            continue;
        }
        let id = if depth == 0 && name.eq_ignore_ascii_case("INBOX") {
            known
                .id_of(SpecialUse::Inbox)
                .ok_or_else(|| missing("the inbox"))?
                .to_owned()
        } else {
            match find_child(g, parent.as_deref(), name).await? {
                Some(id) => id,
                None => {
                    let (id, new) = create_child(g, parent.as_deref(), name).await?;
                    created = new;
                    id
                }
            }
        };
        cache.0.insert(prefix, id.clone());
        parent = Some(id);
    }
    let id = parent.ok_or_else(|| missing("an empty path"))?;
    Ok(EnsuredFolder::new(FolderId::new(id), created))
}

async fn find_child(g: &Graph, parent: Option<&str>, name: &str) -> Result<Option<String>> {
    Ok(children(g, parent)
        .await?
        .into_iter()
        .find(|f| f.display_name.eq_ignore_ascii_case(name))
        .map(|f| f.id))
}

/// Creates `name` under `parent`; a folder made meanwhile by someone else (409
/// `ErrorFolderExists`, [G-FOLD]) is found instead. Says whether this call created it.
async fn create_child(g: &Graph, parent: Option<&str>, name: &str) -> Result<(String, bool)> {
    let path = match parent {
        Some(id) => format!("/mailFolders/{}/childFolders", segment(id)),
        None => "/mailFolders".to_owned(),
    };
    let call = Call::json(
        Method::POST,
        g.client.user_url(&path),
        &json!({ "displayName": name }),
        format!("create folder {name:?}"),
    );
    let answer = g.client.send(&call).await;
    let answer = match answer {
        Err(e) if e.disposition() == mailmigrate_core::Disposition::Settle => {
            // The answer was lost: the folder may exist now.
            return match find_child(g, parent, name).await? {
                Some(id) => Ok((id, true)),
                None => Err(e),
            };
        }
        other => other?,
    };
    if answer.status.is_success() {
        let f: MailFolder = answer.json(&call.what)?;
        return Ok((f.id, true));
    }
    if answer.status == StatusCode::CONFLICT {
        if let Some(id) = find_child(g, parent, name).await? {
            return Ok((id, false));
        }
    }
    Err(answer.error(&call))
}

fn missing(what: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("the mailbox has no folder for {what}"),
    )
    .with_provider(PROVIDER)
}
