//! Folder creation and listing: nested and non-ASCII names, idempotent `ensure_folder`.

use super::{ensure, skip};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{ErrorKind, Folder, FolderId, FolderPath};

/// The name with a dot and a space, which a server using `.` as its separator may refuse.
const DOTTED: &str = "v1.2 final";

/// Nested and non-ASCII folders (`Ärger/2020`, `日本語`, a name with `.` and a space) are
/// created, and both sides list them back with the same path and id, parents included.
///
/// A destination that cannot store the dotted name must refuse it with `ConfigInvalid`
/// naming the folder.
///
/// # Errors
/// A message naming the first folder that was not created or listed as expected.
pub async fn nested_and_non_ascii(h: &Harness) -> CaseResult {
    let mut created: Vec<(FolderPath, FolderId)> = Vec::new();
    for segments in [&["Ärger", "2020"][..], &["日本語"], &[DOTTED]] {
        let path = h.path(segments)?;
        match h.dest.ensure_folder(&path, None).await {
            Ok(ensured) => {
                h.track(ensured.id.clone());
                ensure!(
                    ensured.created,
                    "ensure_folder({path}) on a fresh path reported created == false"
                );
                created.push((path, ensured.id));
            }
            Err(e) if segments == [DOTTED] && e.kind() == ErrorKind::ConfigInvalid => {
                ensure!(
                    e.context("folder").is_some(),
                    "refusing {path} must name the folder: {e}"
                );
            }
            Err(e) => return Err(format!("ensure_folder({path}) failed: {e}")),
        }
    }
    if !h.capabilities().list_folders {
        return skip("folders were created; listing them back needs list_folders");
    }
    let listings = [
        (
            "destination",
            h.dest.list_folders().await.map_err(|e| e.to_string())?,
        ),
        (
            "source",
            h.source.list_folders().await.map_err(|e| e.to_string())?,
        ),
    ];
    for (side, folders) in &listings {
        for (path, id) in &created {
            let listed = find(folders, path)
                .ok_or_else(|| format!("the {side} does not list {path} after creating it"))?;
            ensure!(
                &listed.id == id,
                "the {side} lists {path} as {}, but ensure_folder returned {id}",
                listed.id
            );
            ensure!(
                listed.selectable,
                "the {side} lists {path} as not selectable"
            );
            let mut parent = path.parent();
            while let Some(p) = parent {
                ensure!(
                    find(folders, &p).is_some(),
                    "the {side} lists {path} but not its parent {p}"
                );
                parent = p.parent();
            }
        }
    }
    Ok(Outcome::Passed)
}

/// A second `ensure_folder` of the same path reports `created == false` and the same id,
/// ensuring an implicitly created parent reports it existed, and the folder is listed once.
///
/// # Errors
/// A message naming the call that broke idempotence.
pub async fn ensure_folder_idempotent(h: &Harness) -> CaseResult {
    let path = h.path(&["idempotent", "child"])?;
    let first = h
        .dest
        .ensure_folder(&path, None)
        .await
        .map_err(|e| format!("ensure_folder({path}) failed: {e}"))?;
    h.track(first.id.clone());
    ensure!(
        first.created,
        "ensure_folder({path}) on a fresh path reported created == false"
    );
    let second = h
        .dest
        .ensure_folder(&path, None)
        .await
        .map_err(|e| format!("second ensure_folder({path}) failed: {e}"))?;
    ensure!(
        !second.created,
        "second ensure_folder({path}) reported created == true"
    );
    ensure!(
        second.id == first.id,
        "second ensure_folder({path}) returned {}, the first {}",
        second.id,
        first.id
    );
    let parent = h.path(&["idempotent"])?;
    let ensured_parent = h
        .dest
        .ensure_folder(&parent, None)
        .await
        .map_err(|e| format!("ensure_folder({parent}) failed: {e}"))?;
    ensure!(
        !ensured_parent.created,
        "ensure_folder({parent}) reported created == true after creating its child"
    );
    if h.capabilities().list_folders {
        let folders = h.dest.list_folders().await.map_err(|e| e.to_string())?;
        let count = folders.iter().filter(|f| f.path == path).count();
        ensure!(count == 1, "{path} is listed {count} times");
    }
    Ok(Outcome::Passed)
}

/// `ensure_folder` says a folder is empty only when it is: the engine skips its look-ups
/// before writing into an empty folder, so a folder that holds mail but is called empty
/// gets every message a second time after a lost state file.
///
/// # Errors
/// A message naming the folder whose emptiness was misreported.
pub async fn ensure_folder_tells_whether_it_holds_mail(h: &Harness) -> CaseResult {
    let folder = h.folder("holds-mail").await?;
    let path = h.path(&["holds-mail"])?;
    let before = h
        .dest
        .ensure_folder(&path, None)
        .await
        .map_err(|e| format!("ensure_folder({path}) failed: {e}"))?;
    ensure!(
        before.id == folder,
        "ensure_folder({path}) returned {}, then {}",
        folder,
        before.id
    );
    h.append_one(&folder, fixtures::EIGHT_BIT_BODY.message(&folder))
        .await?;
    let after = h
        .dest
        .ensure_folder(&path, None)
        .await
        .map_err(|e| format!("ensure_folder({path}) failed: {e}"))?;
    ensure!(
        !after.empty,
        "ensure_folder({path}) says the folder is empty although it holds a message"
    );
    Ok(Outcome::Passed)
}

fn find<'a>(folders: &'a [Folder], path: &FolderPath) -> Option<&'a Folder> {
    folders.iter().find(|f| &f.path == path)
}
