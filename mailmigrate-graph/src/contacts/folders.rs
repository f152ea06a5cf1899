//! Contact folders \[G-CFOLD\]: the default `Contacts` folder, the folders under it
//! (`contactFolders`) and theirs (`childFolders`), named by path (`Work/Team`).

use futures::TryStreamExt;
use mailmigrate_core::pim::{Collection, CollectionId, PimKind};
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::{segment, Call};
use crate::mail::Graph;
use crate::PROVIDER;

/// A contact folder as Graph lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContactFolder {
    pub(crate) id: String,
    pub(crate) display_name: String,
    #[serde(default)]
    parent_folder_id: Option<String>,
}

fn collection(f: &ContactFolder, name: String) -> Collection {
    Collection::new(CollectionId::new(&f.id), PimKind::Contacts, name)
}

/// The default `Contacts` folder, read once: by its well-known name \[G-CFOLD\], else as
/// the parent of the folders under it.
async fn default_folder(g: &Graph) -> Result<&ContactFolder> {
    g.books()
        .default_folder
        .get_or_try_init(|| async {
            let call = Call::get(
                g.client()
                    .user_url("/contactFolders/contacts?$select=id,displayName"),
                "GET contactFolders/contacts",
            );
            match g.client().json::<ContactFolder>(&call).await {
                Ok(f) => return Ok(f),
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidMessage) => {}
                Err(e) => return Err(e),
            }
            let parent = children(g, None)
                .await?
                .into_iter()
                .find_map(|f| f.parent_folder_id)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        "the default contacts folder cannot be found by name, and no folder under it tells its id",
                    )
                    .with_provider(PROVIDER)
                })?;
            Ok(ContactFolder {
                id: parent,
                display_name: "Contacts".into(),
                parent_folder_id: None,
            })
        })
        .await
}

/// The folders under `parent` (`None`: under the default folder), every page.
async fn children(g: &Graph, parent: Option<&str>) -> Result<Vec<ContactFolder>> {
    let path = match parent {
        Some(id) => format!("/contactFolders/{}/childFolders", segment(id)),
        None => "/contactFolders".to_owned(),
    };
    let url = g.client().user_url(&format!(
        "{path}?$select=id,displayName,parentFolderId&$top=100"
    ));
    g.client()
        .items(Call::get(
            url,
            format!("GET {}", path.trim_start_matches('/')),
        ))
        .try_collect()
        .await
}

/// Every contact folder: the default one first, then the tree under it, depth first.
pub(crate) async fn list(g: &Graph) -> Result<Vec<Collection>> {
    let default = default_folder(g).await?;
    let mut out = vec![collection(default, default.display_name.clone())];
    let mut todo: Vec<(Option<String>, String)> = vec![(None, String::new())];
    while let Some((parent, prefix)) = todo.pop() {
        for f in children(g, parent.as_deref()).await? {
            let name = if prefix.is_empty() {
                f.display_name.clone()
            } else {
                format!("{prefix}/{}", f.display_name)
            };
            todo.push((Some(f.id.clone()), name.clone()));
            out.push(collection(&f, name));
        }
    }
    Ok(out)
}

/// The folder named `like.name` (a path below the default folder, or the default
/// folder's own name), created where missing; names compare without regard to case, as
/// Exchange's do.
pub(crate) async fn ensure(g: &Graph, like: &Collection) -> Result<Collection> {
    if like.kind != PimKind::Contacts {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("Graph contact folders hold contacts, not {}", like.kind),
        )
        .with_provider(PROVIDER));
    }
    let default = default_folder(g).await?;
    if like.name.eq_ignore_ascii_case(&default.display_name) {
        return Ok(collection(default, default.display_name.clone()));
    }
    let mut parent: Option<String> = None;
    let mut last = None;
    for name in like.name.split('/').filter(|s| !s.trim().is_empty()) {
        let f = match find_child(g, parent.as_deref(), name).await? {
            Some(f) => f,
            None => create_child(g, parent.as_deref(), name).await?,
        };
        parent = Some(f.id.clone());
        last = Some(f);
    }
    let f = last.ok_or_else(|| {
        Error::new(ErrorKind::InvalidMessage, "a contact folder needs a name")
            .with_provider(PROVIDER)
    })?;
    Ok(collection(&f, like.name.clone()))
}

async fn find_child(g: &Graph, parent: Option<&str>, name: &str) -> Result<Option<ContactFolder>> {
    Ok(children(g, parent)
        .await?
        .into_iter()
        .find(|f| f.display_name.eq_ignore_ascii_case(name)))
}

/// Creates `name` under `parent`; a folder made meanwhile (409 `ErrorFolderExists`,
/// \[1.6\]) or by a create whose answer was lost is found instead.
async fn create_child(g: &Graph, parent: Option<&str>, name: &str) -> Result<ContactFolder> {
    let path = match parent {
        Some(id) => format!("/contactFolders/{}/childFolders", segment(id)),
        None => "/contactFolders".to_owned(),
    };
    let call = Call::json(
        Method::POST,
        g.client().user_url(&path),
        &json!({ "displayName": name }),
        format!("create contact folder {name:?}"),
    );
    crate::pim::create_or_find(g, &call, || find_child(g, parent, name)).await
}
