//! The folder plan: which source folder goes where, decided before any message moves.
//!
//! Order of decisions for each source folder:
//! 1. not selectable → skipped (its children are still planned);
//! 2. virtual role (`\All`, `\Important`, `\Flagged`) → skipped unless asked, since its
//!    messages are copied from their home folders;
//! 3. include/exclude globs on the `/`-joined source path;
//! 4. special-use automap: a role goes to the destination folder with the same role, or to
//!    the role's conventional name;
//! 5. regex renames on the `/`-joined path, then the destination prefix.
//!
//! Separators and namespaces are not the plan's concern: paths are segments, and each
//! backend translates them at its edge.

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{Error, ErrorKind, Folder, FolderPath, Operation, Result, SpecialUse};

/// A regex rename applied to the `/`-joined source path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rename {
    /// The pattern (Rust `regex` syntax).
    pub pattern: String,
    /// The replacement (`$1` refers to groups).
    pub replacement: String,
}

impl Rename {
    /// Builds a rename rule.
    pub fn new(pattern: impl Into<String>, replacement: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            replacement: replacement.into(),
        }
    }
}

/// How the labels of a message (Gmail labels, Graph categories) travel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LabelPolicy {
    /// As labels where the destination stores labels, else as keywords.
    #[default]
    LabelsOrKeywords,
    /// Always as keywords on the one copy in the home folder.
    Keywords,
    /// Dropped; only the home folder is kept.
    Drop,
}

impl LabelPolicy {
    /// Whether labels become keywords ([`Flag::from_label`](crate::Flag::from_label)) on a
    /// destination with `caps`: what the engine writes, and so what a verification must
    /// expect.
    ///
    /// ```
    /// use mailmigrate_core::engine::LabelPolicy;
    /// use mailmigrate_core::Capabilities;
    /// let imap = Capabilities { append_with_labels: false, ..Capabilities::default() };
    /// assert!(LabelPolicy::LabelsOrKeywords.as_keywords(&imap));
    /// assert!(!LabelPolicy::Drop.as_keywords(&imap));
    /// ```
    pub fn as_keywords(self, caps: &crate::Capabilities) -> bool {
        match self {
            Self::LabelsOrKeywords => !caps.append_with_labels,
            Self::Keywords => true,
            Self::Drop => false,
        }
    }
}

/// Where messages of a labelling source (Gmail: folders are labels, `All Mail` holds each
/// message once) are copied from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LabelFolders {
    /// From the `All` folder only, each message once, its labels travelling with it (as
    /// labels, or as keywords per [`LabelPolicy`]). Trash and Junk, which hold messages
    /// that are not in `All`, are copied as folders.
    #[default]
    AllMailOnce,
    /// From every label folder, as ordinary folders: a message with N labels becomes N
    /// copies. The `All` folder is skipped.
    CopyPerLabel,
}

/// The caller's rules for mapping folders.
///
/// ```
/// use mailmigrate_core::engine::{MappingRules, Rename};
/// let rules = MappingRules::default()
///     .with_exclude(["Spam", "Trash/**"])
///     .with_rename(Rename::new("^Old Archive/(.*)$", "Archive/$1"));
/// assert!(rules.automap_roles);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct MappingRules {
    /// Only folders matching one of these globs are copied (empty = all).
    pub include: Vec<String>,
    /// Folders matching one of these globs are skipped.
    pub exclude: Vec<String>,
    /// Regex renames, applied in order.
    pub renames: Vec<Rename>,
    /// A folder under which everything is placed on the destination.
    pub dest_prefix: Option<FolderPath>,
    /// Map special-use folders onto the destination's folders with the same role.
    pub automap_roles: bool,
    /// Copy virtual folders (`\All`, `\Important`, `\Flagged`) too.
    pub copy_virtual: bool,
    /// How labels travel.
    pub labels: LabelPolicy,
    /// Which folders of a labelling source are copied.
    pub label_folders: LabelFolders,
}

impl Default for MappingRules {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            renames: Vec::new(),
            dest_prefix: None,
            automap_roles: true,
            copy_virtual: false,
            labels: LabelPolicy::default(),
            label_folders: LabelFolders::default(),
        }
    }
}

impl MappingRules {
    /// Adds include globs.
    #[must_use]
    pub fn with_include<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.include.extend(globs.into_iter().map(Into::into));
        self
    }

    /// Adds exclude globs.
    #[must_use]
    pub fn with_exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.exclude.extend(globs.into_iter().map(Into::into));
        self
    }

    /// Adds a rename rule.
    #[must_use]
    pub fn with_rename(mut self, rename: Rename) -> Self {
        self.renames.push(rename);
        self
    }

    /// Sets which folders of a labelling source are copied.
    #[must_use]
    pub fn with_label_folders(mut self, label_folders: LabelFolders) -> Self {
        self.label_folders = label_folders;
        self
    }

    /// Sets how labels travel.
    #[must_use]
    pub fn with_labels(mut self, labels: LabelPolicy) -> Self {
        self.labels = labels;
        self
    }

    /// Places everything under `prefix` on the destination.
    #[must_use]
    pub fn with_dest_prefix(mut self, prefix: FolderPath) -> Self {
        self.dest_prefix = Some(prefix);
        self
    }

    /// Compiles the globs and regexes.
    ///
    /// # Errors
    /// `ConfigInvalid` naming the bad glob or regex.
    pub(crate) fn compile(&self) -> Result<CompiledRules> {
        let globs = |list: &[String]| -> Result<Option<GlobSet>> {
            if list.is_empty() {
                return Ok(None);
            }
            let mut b = GlobSetBuilder::new();
            for g in list {
                b.add(Glob::new(g).map_err(|e| {
                    Error::new(ErrorKind::ConfigInvalid, format!("bad folder glob {g:?}"))
                        .with_operation(Operation::Plan)
                        .with_source(e)
                })?);
            }
            b.build().map(Some).map_err(|e| {
                Error::new(ErrorKind::ConfigInvalid, "bad folder globs")
                    .with_operation(Operation::Plan)
                    .with_source(e)
            })
        };
        let renames = self
            .renames
            .iter()
            .map(|r| {
                Regex::new(&r.pattern)
                    .map(|re| (re, r.replacement.clone()))
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::ConfigInvalid,
                            format!("bad rename pattern {:?}", r.pattern),
                        )
                        .with_operation(Operation::Plan)
                        .with_source(e)
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CompiledRules {
            include: globs(&self.include)?,
            exclude: globs(&self.exclude)?,
            renames,
            rules: self.clone(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct CompiledRules {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    renames: Vec<(Regex, String)>,
    rules: MappingRules,
}

/// What the engine will do with one source folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PlanAction {
    /// Copy its messages to the target.
    Copy,
    /// Leave it, for the reason given.
    Skip(String),
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanEntry {
    /// The source folder.
    pub source: Folder,
    /// Where it goes on the destination.
    pub target: FolderPath,
    /// The role it carries to the destination.
    pub role: Option<SpecialUse>,
    /// Copy or skip.
    pub action: PlanAction,
}

/// The folder plan: a value the caller can inspect, print or edit before running.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderPlan {
    /// One entry per source folder, in source listing order (inbox and roles first).
    pub entries: Vec<PlanEntry>,
}

impl FolderPlan {
    /// The entries that will be copied.
    pub fn copies(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.action == PlanAction::Copy)
    }
}

impl std::fmt::Display for FolderPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.entries {
            match &e.action {
                PlanAction::Copy => writeln!(f, "copy  {}  ->  {}", e.source.path, e.target)?,
                PlanAction::Skip(why) => writeln!(f, "skip  {}  ({why})", e.source.path)?,
            }
        }
        Ok(())
    }
}

/// Builds the plan from both sides' folder lists.
pub(crate) fn build_plan(
    source: &[Folder],
    dest: &[Folder],
    rules: &CompiledRules,
    labelling_source: bool,
) -> Result<FolderPlan> {
    // A labelling source keeps each message once, in its `All` folder.
    let once_in_all = labelling_source && rules.rules.label_folders == LabelFolders::AllMailOnce;
    if once_in_all
        && !source
            .iter()
            .any(|f| f.role == Some(SpecialUse::All) && f.selectable)
    {
        // Falling back to label folders would miss unlabelled mail and copy multi-label
        // mail once per label, and verification could not tell.
        return Err(Error::new(
            ErrorKind::ConfigInvalid,
            "the source keeps messages as labels, but its All Mail folder is not visible \
             (in Gmail: Settings → Labels → Show in IMAP for All Mail); make it visible, \
             or choose LabelFolders::CopyPerLabel to copy one folder per label",
        )
        .with_operation(Operation::Plan));
    }
    let mut ordered: Vec<&Folder> = source.iter().collect();
    // Roles first so that role folders claim their targets before look-alike names.
    ordered.sort_by_key(|f| (f.role.is_none(), !f.path.is_inbox()));
    let mut entries = Vec::with_capacity(ordered.len());
    for folder in ordered {
        let role = folder
            .role
            .or_else(|| folder.path.is_inbox().then_some(SpecialUse::Inbox));
        let joined = folder.path.join("/");
        let skip = |why: &str| PlanEntry {
            source: folder.clone(),
            target: folder.path.clone(),
            role,
            action: PlanAction::Skip(why.to_owned()),
        };
        if !folder.selectable {
            entries.push(skip("cannot hold messages"));
            continue;
        }
        if once_in_all {
            // Trash and Junk hold messages that are not in `All`: they stay folders.
            let own_home = matches!(
                role,
                Some(SpecialUse::All | SpecialUse::Trash | SpecialUse::Junk)
            );
            if !own_home {
                entries.push(skip(
                    "label folder: its messages are copied once from the All folder, with their labels",
                ));
                continue;
            }
        } else if role.is_some_and(SpecialUse::is_virtual) && !rules.rules.copy_virtual {
            entries.push(skip(
                "virtual folder: its messages are copied from their home folders",
            ));
            continue;
        }
        if rules.include.as_ref().is_some_and(|g| !g.is_match(&joined)) {
            entries.push(skip("not included"));
            continue;
        }
        if rules.exclude.as_ref().is_some_and(|g| g.is_match(&joined)) {
            entries.push(skip("excluded"));
            continue;
        }
        let target = target_path(folder, role, dest, rules)?;
        entries.push(PlanEntry {
            source: folder.clone(),
            target,
            role,
            action: PlanAction::Copy,
        });
    }
    Ok(FolderPlan { entries })
}

fn target_path(
    folder: &Folder,
    role: Option<SpecialUse>,
    dest: &[Folder],
    rules: &CompiledRules,
) -> Result<FolderPath> {
    if rules.rules.automap_roles {
        if let Some(role) = role {
            if role == SpecialUse::Inbox {
                return Ok(FolderPath::inbox());
            }
            let path = dest
                .iter()
                .find(|d| d.role == Some(role))
                .map(|d| d.path.clone());
            let path = match path {
                Some(p) => p,
                None => FolderPath::new([role.default_name()])?,
            };
            return Ok(path);
        }
    }
    let mut path = folder.path.clone();
    let joined = path.join("/");
    let mut renamed = joined.clone();
    for (re, rep) in &rules.renames {
        renamed = re.replace_all(&renamed, rep.as_str()).into_owned();
    }
    if renamed != joined {
        path = FolderPath::parse(&renamed, '/').map_err(|e| {
            e.with_operation(Operation::Plan)
                .with_context("rename", format!("{joined} -> {renamed}"))
        })?;
    }
    if let Some(prefix) = &rules.rules.dest_prefix {
        let mut segs = prefix.segments().to_vec();
        segs.extend_from_slice(path.segments());
        path = FolderPath::new(segs)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FolderId;

    fn folder(path: &str, role: Option<SpecialUse>) -> Folder {
        Folder::new(FolderId::new(path), FolderPath::parse(path, '/').unwrap()).with_role(role)
    }

    fn plan(src: &[Folder], dst: &[Folder], rules: MappingRules) -> FolderPlan {
        build_plan(src, dst, &rules.compile().unwrap(), false).unwrap()
    }

    fn target_of<'a>(p: &'a FolderPlan, src: &str) -> &'a PlanEntry {
        p.entries
            .iter()
            .find(|e| e.source.path.join("/") == src)
            .unwrap()
    }

    #[test]
    fn roles_map_to_destination_role_folders() {
        let src = [
            folder("INBOX", None),
            folder("Sent Items", Some(SpecialUse::Sent)),
            folder("[Gmail]/All Mail", Some(SpecialUse::All)),
            folder("Projects/Ünïcode", None),
        ];
        let dst = [folder("Gesendet", Some(SpecialUse::Sent))];
        let p = plan(&src, &dst, MappingRules::default());
        assert_eq!(target_of(&p, "Sent Items").target.to_string(), "Gesendet");
        assert_eq!(target_of(&p, "INBOX").role, Some(SpecialUse::Inbox));
        assert!(matches!(
            target_of(&p, "[Gmail]/All Mail").action,
            PlanAction::Skip(_)
        ));
        assert_eq!(
            target_of(&p, "Projects/Ünïcode").target.to_string(),
            "Projects/Ünïcode"
        );
    }

    #[test]
    fn role_without_destination_uses_default_name() {
        let p = plan(
            &[folder("Papierkorb", Some(SpecialUse::Trash))],
            &[],
            MappingRules::default(),
        );
        assert_eq!(p.entries[0].target.to_string(), "Trash");
    }

    #[test]
    fn include_exclude_rename_prefix() {
        let src = [
            folder("Old/2019", None),
            folder("Old/2020", None),
            folder("Spam", None),
            folder("Keep", None),
        ];
        let rules = MappingRules::default()
            .with_exclude(["Spam"])
            .with_rename(Rename::new("^Old/(.*)$", "Archive/$1"))
            .with_dest_prefix(FolderPath::new(["Migrated"]).unwrap());
        let p = plan(&src, &[], rules);
        assert_eq!(
            target_of(&p, "Old/2019").target.to_string(),
            "Migrated/Archive/2019"
        );
        assert!(matches!(target_of(&p, "Spam").action, PlanAction::Skip(_)));
        assert_eq!(p.copies().count(), 3);
        let p = plan(&src, &[], MappingRules::default().with_include(["Old/*"]));
        assert_eq!(p.copies().count(), 2);
    }

    #[test]
    fn separators_inside_segments_survive() {
        // A source segment containing the destination's separator stays one segment.
        let f = Folder::new(FolderId::new("x"), FolderPath::new(["a.b/c"]).unwrap());
        let p = plan(&[f], &[], MappingRules::default());
        assert_eq!(p.entries[0].target.segments(), ["a.b/c"]);
    }

    #[test]
    fn bad_glob_and_regex_are_config_errors() {
        let e = MappingRules::default()
            .with_include(["a["])
            .compile()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        let e = MappingRules::default()
            .with_rename(Rename::new("(", "x"))
            .compile()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn labelling_source_copies_all_mail_once() {
        let src = [
            folder("INBOX", None),
            folder("[Gmail]/All Mail", Some(SpecialUse::All)),
            folder("[Gmail]/Sent Mail", Some(SpecialUse::Sent)),
            folder("[Gmail]/Trash", Some(SpecialUse::Trash)),
            folder("[Gmail]/Spam", Some(SpecialUse::Junk)),
            folder("Projects", None),
        ];
        let compiled = MappingRules::default().compile().unwrap();
        let p = build_plan(&src, &[], &compiled, true).unwrap();
        let copied: Vec<String> = p.copies().map(|e| e.source.path.to_string()).collect();
        assert_eq!(copied.len(), 3, "{copied:?}");
        assert!(copied.contains(&"[Gmail]/All Mail".to_owned()));
        assert!(copied.contains(&"[Gmail]/Trash".to_owned()));
        assert!(copied.contains(&"[Gmail]/Spam".to_owned()));
        assert_eq!(
            target_of(&p, "[Gmail]/All Mail").target.to_string(),
            "All Mail"
        );
        // Per label: every label folder, All Mail skipped.
        let rules = MappingRules::default().with_label_folders(LabelFolders::CopyPerLabel);
        let p = build_plan(&src, &[], &rules.compile().unwrap(), true).unwrap();
        assert_eq!(p.copies().count(), 5);
        assert!(matches!(
            target_of(&p, "[Gmail]/All Mail").action,
            PlanAction::Skip(_)
        ));
    }

    #[test]
    fn noselect_is_skipped() {
        let f = folder("Parent", None).with_selectable(false);
        let p = plan(&[f], &[], MappingRules::default());
        assert!(matches!(p.entries[0].action, PlanAction::Skip(_)));
    }
}
