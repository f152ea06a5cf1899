//! Where folders live on disk: one mbox file per folder, children nested in `.sbd`
//! directories, segments escaped as in the Maildir store, the file names this store keeps
//! for itself, and roles.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{err, Inner, SCHEME};
use crate::store::maildir::{
    escape_segment, read_roles, remember_role, role_for_path, unescape_segment, ROLES_FILE,
};
use crate::{
    EnsuredFolder, Error, ErrorKind, Folder, FolderId, FolderPath, Operation, Result, SpecialUse,
};

pub(super) const INDEX_EXT: &str = ".mmidx";
pub(super) const TAIL_EXT: &str = ".mmtail-";
const SBD_EXT: &str = ".sbd";
/// The longest file name most file systems accept, in bytes.
const MAX_NAME: usize = 255;

/// The path of the sidecar index of the mbox file `mbox`.
pub(super) fn index_path(mbox: &Path) -> PathBuf {
    with_suffix(mbox, INDEX_EXT)
}

/// A sibling path with `suffix` appended to the file name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The relative file path of a folder.
fn rel_path(path: &FolderPath) -> String {
    let segs = path.segments();
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i == 0 && path.is_inbox() {
            out.push_str("INBOX");
        } else {
            out.push_str(&escape_segment(seg));
        }
        if i + 1 < segs.len() {
            out.push_str(SBD_EXT);
        }
    }
    out
}

impl Inner {
    /// The mbox file of an existing folder.
    pub(super) fn folder_file(&self, id: &FolderId, op: Operation) -> Result<PathBuf> {
        let s = id.as_str();
        let valid = !s.is_empty()
            && !s.contains(['\\', '\0'])
            && !s.ends_with(INDEX_EXT)
            && !s.contains(TAIL_EXT)
            && s.split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.starts_with('.'));
        let path = self.root.join(s);
        if valid && path.is_file() {
            Ok(path)
        } else {
            Err(err(ErrorKind::NotFound, "no such folder", op).with_context("folder", id))
        }
    }

    /// Every folder of the store, sorted by path, with the roles remembered for them.
    pub(super) fn list_folders(&self) -> Result<Vec<Folder>> {
        let op = Operation::ListFolders;
        let mut out = Vec::new();
        walk(&self.root, &mut Vec::new(), "", &mut out)
            .map_err(|e| Error::from(e).with_provider(SCHEME).with_operation(op))?;
        let roles = read_roles(&self.root).map_err(|e| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(op)
                .with_context("file", ROLES_FILE)
        })?;
        for f in &mut out {
            if let Some(&role) = roles.get(f.id.as_str()) {
                f.role = Some(role);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Creates the folder's mbox file (with an empty index) and every missing parent,
    /// remembering a role its name does not imply.
    pub(super) fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let op = Operation::EnsureFolder;
        let rel = rel_path(path);
        // Room for the longest suffix this store adds (`.mmtail-<offset>.<n>`).
        if rel.split('/').any(|c| c.len() + 32 > MAX_NAME) {
            return Err(err(
                ErrorKind::ConfigInvalid,
                "folder name too long for an mbox file name",
                op,
            )
            .with_context("folder", path));
        }
        let ioe = |e: io::Error| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(op)
                .with_context("folder", path)
        };
        let mut created = false;
        let mut prefix = PathBuf::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let leaf = i + 1 == parts.len();
            let (file_name, sbd) = if leaf {
                (*part, None)
            } else {
                let stem = part.strip_suffix(SBD_EXT).unwrap_or(part);
                (stem, Some(*part))
            };
            let file = self.root.join(&prefix).join(file_name);
            let make = || -> io::Result<bool> {
                if file.is_file() {
                    return Ok(false);
                }
                // The empty index first: an mbox with an index is never scanned as foreign.
                File::create(index_path(&file))?.sync_all()?;
                match OpenOptions::new().write(true).create_new(true).open(&file) {
                    Ok(f) => f.sync_all().map(|()| true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            };
            let made = make().map_err(ioe)?;
            if leaf {
                created = made;
            }
            if let Some(sbd) = sbd {
                prefix.push(sbd);
                fs::create_dir_all(self.root.join(&prefix)).map_err(ioe)?;
            }
        }
        let id = FolderId::new(rel);
        remember_role(&self.root, &self.roles, &id, path, role).map_err(ioe)?;
        Ok(EnsuredFolder::new(id, created))
    }
}

/// Lists the folders under `dir` into `out`.
fn walk(dir: &Path, segs: &mut Vec<String>, rel: &str, out: &mut Vec<Folder>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        let child_rel = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        if ty.is_dir() {
            if let Some(stem) = name.strip_suffix(SBD_EXT) {
                segs.push(unescape_segment(stem));
                walk(&entry.path(), segs, &child_rel, out)?;
                segs.pop();
            }
            continue;
        }
        if !ty.is_file()
            || name.ends_with(INDEX_EXT)
            || name.ends_with(".msf")
            || name.ends_with(".tmp")
            || name.contains(TAIL_EXT)
        {
            continue;
        }
        segs.push(unescape_segment(name));
        match FolderPath::new(segs.clone()) {
            Ok(path) => {
                let role = role_for_path(&path);
                out.push(Folder::new(FolderId::new(child_rel), path).with_role(role));
            }
            Err(_) => tracing::warn!(file = name, "skipping an mbox file with an invalid name"),
        }
        segs.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_map_to_nested_files() {
        let p = |s: &[&str]| FolderPath::new(s.iter().copied()).unwrap();
        assert_eq!(rel_path(&p(&["inbox"])), "INBOX");
        assert_eq!(rel_path(&p(&["Archive", "2020"])), "Archive.sbd/2020");
        assert_eq!(rel_path(&p(&["a.b", "c/d"])), "a%2Eb.sbd/c%2Fd");
    }
}
