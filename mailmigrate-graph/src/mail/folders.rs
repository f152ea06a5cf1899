//! The folder tree: `mailFolders` and their `childFolders`, well-known folders as roles,
//! folders created by path.

use std::collections::{HashMap, HashSet};

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

/// Folder ids by path, as found, created or listed.
#[derive(Debug, Default)]
pub(super) struct PathCache {
    ids: HashMap<Vec<String>, String>,
    /// The lower-cased paths of every folder the last full listing saw: a path not among
    /// them did not exist then, so [`ensure`] creates it without looking first (one made
    /// since answers `ErrorFolderExists` and is found then).
    listed: Option<HashSet<Vec<String>>>,
}

fn lower(segments: &[String]) -> Vec<String> {
    segments.iter().map(|s| s.to_lowercase()).collect()
}

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

/// Reads the well-known folders once: each is a `GET mailFolders/{name}`, sent together
/// (the client keeps them within the mailbox's four requests in flight, \[G-THR\]) rather
/// than one round trip after another, which every mailbox's first pass would wait out;
/// one the mailbox lacks (an archive folder that was never made) is left out.
async fn well_known(g: &Graph) -> Result<&WellKnown> {
    g.well_known
        .get_or_try_init(|| async {
            let asked = WELL_KNOWN.iter().map(|&(name, role)| async move {
                let call = Call::get(
                    g.client
                        .user_url(&format!("/mailFolders/{name}?$select=id")),
                    format!("GET mailFolders/{name}"),
                );
                match g.client.json::<MailFolder>(&call).await {
                    Ok(f) => Ok(Some((role, f.id))),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            });
            let found: Vec<Option<(SpecialUse, String)>> =
                futures::future::try_join_all(asked).await?;
            Ok(WellKnown(found.into_iter().flatten().collect()))
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
///
/// The well-known folders and the top of the tree are asked for at once, and the listing
/// fills the path cache [`ensure`] goes by: a migration's first pass lists the
/// destination, then creates its folders, and each round trip saved here is one every
/// mailbox waits out before its first message.
pub(super) async fn list(g: &Graph) -> Result<Vec<Folder>> {
    let (known, top) = futures::try_join!(well_known(g), children(g, None))?;
    let mut top = Some(top);
    let mut out = Vec::new();
    let mut todo: Vec<(Option<String>, Option<FolderPath>)> = vec![(None, None)];
    while let Some((parent, parent_path)) = todo.pop() {
        let listed = match (parent.as_deref(), top.take()) {
            (None, Some(top)) => top,
            (parent, _) => children(g, parent).await?,
        };
        for f in listed {
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
    // The listing replaces what the cache held: a folder deleted since is gone from it.
    let mut cache = g.paths.lock().await;
    cache.ids = out
        .iter()
        .map(|f| (f.path.segments().to_vec(), f.id.as_str().to_owned()))
        .collect();
    cache.listed = Some(out.iter().map(|f| lower(f.path.segments())).collect());
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
        if let Some(id) = cache.ids.get(&prefix) {
            parent = Some(id.clone());
            continue;
        }
        let id = if depth == 0 && name.eq_ignore_ascii_case("INBOX") {
            known
                .id_of(SpecialUse::Inbox)
                .ok_or_else(|| missing("the inbox"))?
                .to_owned()
        } else {
            // Under a folder this call has just created, or where the last full listing
            // saw none, there is nothing to find: one round trip fewer per level (one made
            // meanwhile by someone else answers 409 and is found then).
            let unlisted = cache
                .listed
                .as_ref()
                .is_some_and(|l| !l.contains(&lower(&prefix)));
            let found = if created || unlisted {
                None
            } else {
                find_child(g, parent.as_deref(), name).await?
            };
            match found {
                Some(id) => id,
                None => {
                    let (id, new) = create_child(g, parent.as_deref(), name).await?;
                    created = new;
                    id
                }
            }
        };
        cache.ids.insert(prefix, id.clone());
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
