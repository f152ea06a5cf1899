//! A migration job read from a TOML file.
//!
//! ```toml
//! # job.toml
//! name = "alice"                          # job name in the state store (default: file stem)
//! source = "maildir:///srv/old/alice"
//! destination = "mbox:///srv/backup/alice"
//! state = "state.sqlite"                  # default: mailmigrate-state.sqlite next to the file
//! propagate_deletions = false
//! sync_flags = true
//! batch_size = 256
//! folder_concurrency = 4
//! settle_grace_ms = 5000                  # wait before rewriting a lost write (default 5 s)
//!
//! [mapping]
//! include = ["**"]
//! exclude = ["Spam", "Trash/**"]
//! dest_prefix = "Imported"
//! renames = [{ pattern = "^Old Archive/(.*)$", replacement = "Archive/$1" }]
//!
//! [filter]
//! since = "2019-01-01"                    # a date, or an RFC 3339 instant
//! before = "2025-01-01T00:00:00Z"
//! max_size = 26214400
//!
//! [pim]                                   # contacts and calendars beside the mail
//! source = "dav://ann@dav.example.com/"   # or vdir:///path (see pim_stores)
//! destination = "vdir:///srv/backup/alice-pim"
//! kinds = ["contacts", "events"]          # default: both
//! propagate_deletions = false
//! notify_attendees = false                # never mail attendees unless set
//! ```
//!
//! Unknown keys are errors, so a typo never silently changes what a run does.

use std::path::{Path, PathBuf};

use mailmigrate_core::engine::{Filter, MappingRules, Rename, SyncOptions};
use mailmigrate_core::{Error, ErrorKind, FolderPath, Operation, Result};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// One job as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobConfig {
    /// The job's name in the state store.
    pub name: Option<String>,
    /// The source store URL.
    pub source: String,
    /// The destination store URL.
    pub destination: String,
    /// The state file.
    pub state: Option<PathBuf>,
    /// Delete at the destination what left the source.
    #[serde(default)]
    pub propagate_deletions: bool,
    /// Carry flag changes on later passes.
    pub sync_flags: Option<bool>,
    /// Messages per append batch.
    pub batch_size: Option<usize>,
    /// Folders copied at once.
    pub folder_concurrency: Option<usize>,
    /// Milliseconds to wait before a write of unknown outcome that a look-up did not find
    /// is written again (the server may still be committing a killed run's upload).
    pub settle_grace_ms: Option<u64>,
    /// Folder mapping.
    #[serde(default)]
    pub mapping: MappingConfig,
    /// Message filter.
    #[serde(default)]
    pub filter: FilterConfig,
    /// Contacts and calendars, when the job moves them.
    pub pim: Option<PimConfig>,
}

/// The `[pim]` table: which contact and calendar stores, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PimConfig {
    /// The source store URL (`dav://…`, `vdir://…`).
    pub source: String,
    /// The destination store URL.
    pub destination: String,
    /// The kinds to move (default: contacts and events).
    pub kinds: Option<Vec<mailmigrate_core::pim::PimKind>>,
    /// Delete copies of items removed at the source.
    #[serde(default)]
    pub propagate_deletions: bool,
    /// Let the destination send invitations to attendees.
    #[serde(default)]
    pub notify_attendees: bool,
    /// Items per fetch and write call.
    pub batch_size: Option<usize>,
}

impl PimConfig {
    /// The engine options this table asks for.
    ///
    /// ```
    /// use mailmigrate_examples::config::JobConfig;
    /// let c = JobConfig::parse("source = \"memory:\"\ndestination = \"memory:\"\n\
    ///     [pim]\nsource = \"vdir://a\"\ndestination = \"vdir://b\"\nkinds = [\"contacts\"]\n")
    ///     .unwrap();
    /// let o = c.pim.unwrap().options();
    /// assert_eq!(o.kinds, [mailmigrate_core::pim::PimKind::Contacts]);
    /// assert!(!o.notify_attendees);
    /// ```
    pub fn options(&self) -> mailmigrate_core::pim::sync::PimSyncOptions {
        let mut o = mailmigrate_core::pim::sync::PimSyncOptions::default()
            .with_propagate_deletions(self.propagate_deletions)
            .with_notify_attendees(self.notify_attendees);
        if let Some(k) = &self.kinds {
            o = o.with_kinds(k.iter().copied());
        }
        if let Some(n) = self.batch_size {
            o = o.with_batch_size(n);
        }
        o
    }
}

/// The `[mapping]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MappingConfig {
    /// Globs of source folders to copy (empty = all).
    pub include: Vec<String>,
    /// Globs of source folders to skip.
    pub exclude: Vec<String>,
    /// Regex renames on the `/`-joined path, in order.
    pub renames: Vec<RenameConfig>,
    /// A `/`-separated folder under which everything lands.
    pub dest_prefix: Option<String>,
    /// Map special-use folders onto the destination's folders with the same role.
    pub automap_roles: bool,
    /// Copy virtual folders (`\All`, `\Important`, `\Flagged`) too.
    pub copy_virtual: bool,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            renames: Vec::new(),
            dest_prefix: None,
            automap_roles: true,
            copy_virtual: false,
        }
    }
}

/// One `renames` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RenameConfig {
    /// The pattern (Rust `regex` syntax).
    pub pattern: String,
    /// The replacement (`$1` refers to groups).
    pub replacement: String,
}

/// The `[filter]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FilterConfig {
    /// Only messages that arrived at or after this date (`YYYY-MM-DD`) or RFC 3339 instant.
    pub since: Option<String>,
    /// Only messages that arrived before this date or instant.
    pub before: Option<String>,
    /// Only messages of at most this many bytes.
    pub max_size: Option<u64>,
}

fn config_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_operation(Operation::Build)
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant.
fn parse_instant(key: &str, s: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            config_error(format!(
                "filter.{key} = {s:?} is neither a date (2020-01-31) nor an RFC 3339 instant"
            ))
        })
}

impl JobConfig {
    /// Reads a job from a TOML file.
    ///
    /// # Errors
    /// `NotFound` if the file cannot be read; `ConfigInvalid` naming the bad key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::NotFound, "cannot read the config file")
                .with_operation(Operation::Build)
                .with_context("path", path.display())
                .with_source(e)
        })?;
        Self::parse(&text).map_err(|e| e.with_context("path", path.display()))
    }

    /// Parses a job from TOML text.
    ///
    /// ```
    /// use mailmigrate_examples::config::JobConfig;
    /// let job = JobConfig::parse(r#"
    ///     source = "maildir:///old"
    ///     destination = "maildir:///new"
    ///     [mapping]
    ///     exclude = ["Spam"]
    /// "#).unwrap();
    /// let opts = job.sync_options("alice", false).unwrap();
    /// assert_eq!(opts.mapping.exclude, ["Spam"]);
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` naming the bad or unknown key.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str(text)
            .map_err(|e| config_error(format!("invalid job config: {}", e.message())))
    }

    /// The job name: `--job`, else `name`, else the config file's stem, else `"default"`.
    pub fn job_name(&self, cli: Option<&str>, config_path: Option<&Path>) -> String {
        cli.map(str::to_owned)
            .or_else(|| self.name.clone())
            .or_else(|| {
                config_path
                    .and_then(Path::file_stem)
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "default".to_owned())
    }

    /// The engine options this job asks for.
    ///
    /// # Errors
    /// `ConfigInvalid` for a bad date, an empty prefix segment, or zero sizes.
    pub fn sync_options(&self, job: &str, dry_run: bool) -> Result<SyncOptions> {
        let mut opts = SyncOptions::new(job)
            .with_dry_run(dry_run)
            .with_propagate_deletions(self.propagate_deletions)
            .with_mapping(self.mapping.rules()?)
            .with_filter(self.filter.filter()?);
        if let Some(yes) = self.sync_flags {
            opts = opts.with_sync_flags(yes);
        }
        match self.batch_size {
            Some(0) => return Err(config_error("batch_size must be at least 1")),
            Some(n) => opts = opts.with_batch_size(n),
            None => {}
        }
        match self.folder_concurrency {
            Some(0) => return Err(config_error("folder_concurrency must be at least 1")),
            Some(n) => opts = opts.with_folder_concurrency(n),
            None => {}
        }
        if let Some(ms) = self.settle_grace_ms {
            opts = opts.with_settle_grace(std::time::Duration::from_millis(ms));
        }
        Ok(opts)
    }
}

impl MappingConfig {
    /// The engine's mapping rules.
    ///
    /// # Errors
    /// `ConfigInvalid` for a bad `dest_prefix`.
    pub fn rules(&self) -> Result<MappingRules> {
        let mut rules = MappingRules::default()
            .with_include(self.include.iter().cloned())
            .with_exclude(self.exclude.iter().cloned());
        for r in &self.renames {
            rules = rules.with_rename(Rename::new(&r.pattern, &r.replacement));
        }
        if let Some(p) = &self.dest_prefix {
            let prefix = FolderPath::parse(p.trim_matches('/'), '/').map_err(|e| {
                config_error(format!("mapping.dest_prefix = {p:?}: {}", e.message()))
            })?;
            rules = rules.with_dest_prefix(prefix);
        }
        rules.automap_roles = self.automap_roles;
        rules.copy_virtual = self.copy_virtual;
        Ok(rules)
    }
}

impl FilterConfig {
    /// The engine's filter.
    ///
    /// # Errors
    /// `ConfigInvalid` for a bad date or `since` not before `before`.
    pub fn filter(&self) -> Result<Filter> {
        let mut f = Filter::default();
        f.since = self
            .since
            .as_deref()
            .map(|s| parse_instant("since", s))
            .transpose()?;
        f.before = self
            .before
            .as_deref()
            .map(|s| parse_instant("before", s))
            .transpose()?;
        f.max_size = self.max_size;
        if let (Some(s), Some(b)) = (f.since, f.before) {
            if s >= b {
                return Err(config_error("filter.since must be before filter.before"));
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FULL: &str = r#"
        name = "alice"
        source = "maildir:///old"
        destination = "mbox:///new"
        state = "s.sqlite"
        propagate_deletions = true
        sync_flags = false
        batch_size = 64
        folder_concurrency = 2
        settle_grace_ms = 250
        [mapping]
        include = ["**"]
        exclude = ["Spam", "Trash/**"]
        dest_prefix = "/Imported/Old/"
        renames = [{ pattern = "^Old/(.*)$", replacement = "Archive/$1" }]
        automap_roles = false
        [filter]
        since = "2019-01-01"
        before = "2025-01-01T12:00:00+02:00"
        max_size = 1000
    "#;

    #[test]
    fn full_config_maps_onto_sync_options() {
        let job = JobConfig::parse(FULL).unwrap();
        assert_eq!(job.job_name(None, None), "alice");
        assert_eq!(job.job_name(Some("bob"), None), "bob");
        let o = job.sync_options("alice", true).unwrap();
        assert!(o.dry_run && o.propagate_deletions && !o.sync_flags);
        assert_eq!((o.batch_size, o.folder_concurrency), (64, 2));
        assert_eq!(o.settle_grace, std::time::Duration::from_millis(250));
        assert_eq!(o.mapping.exclude, ["Spam", "Trash/**"]);
        assert_eq!(
            o.mapping.dest_prefix.as_ref().map(ToString::to_string),
            Some("Imported/Old".to_owned())
        );
        assert_eq!(o.mapping.renames[0].replacement, "Archive/$1");
        assert!(!o.mapping.automap_roles);
        assert_eq!(o.filter.since, Some(datetime!(2019-01-01 0:00 UTC)));
        assert_eq!(o.filter.before, Some(datetime!(2025-01-01 10:00 UTC)));
        assert_eq!(o.filter.max_size, Some(1000));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_config_errors() {
        let typo = "source = \"memory:\"\ndestination = \"memory:\"\nbatch_sise = 3\n";
        let e = JobConfig::parse(typo).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.to_string().contains("batch_sise"), "{e}");

        let missing = JobConfig::parse("source = \"memory:\"\n").unwrap_err();
        assert!(missing.to_string().contains("destination"), "{missing}");

        let bad_date = JobConfig::parse(
            "source = \"memory:\"\ndestination = \"memory:\"\n[filter]\nsince = \"last tuesday\"\n",
        )
        .unwrap();
        let e = bad_date.sync_options("j", false).unwrap_err();
        assert!(e.to_string().contains("filter.since"), "{e}");

        let zero =
            JobConfig::parse("source = \"memory:\"\ndestination = \"memory:\"\nbatch_size = 0\n")
                .unwrap();
        assert_eq!(
            zero.sync_options("j", false).unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
    }

    #[test]
    fn inverted_date_range_is_rejected() {
        let f = FilterConfig {
            since: Some("2021-01-01".into()),
            before: Some("2020-01-01".into()),
            max_size: None,
        };
        assert_eq!(f.filter().unwrap_err().kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn job_name_falls_back_to_file_stem() {
        let job = JobConfig::parse("source = \"memory:\"\ndestination = \"memory:\"\n").unwrap();
        assert_eq!(
            job.job_name(None, Some(Path::new("/x/alice-job.toml"))),
            "alice-job"
        );
        assert_eq!(job.job_name(None, None), "default");
    }
}
