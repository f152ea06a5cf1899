//! Inventories kept in a file, for migrations whose source has no directory API.

mod csv_file;
mod toml_file;

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::kind::normalise;
use super::{
    Account, Directory, DirectoryCapabilities, DirectoryInfo, Group, GroupMember, Inventory,
    MemoryDirectory, Permission,
};
use crate::{Error, ErrorKind, Operation, Result};

/// The format of an inventory file.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::FileFormat;
/// use std::path::Path;
///
/// assert_eq!(FileFormat::from_path(Path::new("accounts.CSV")), Some(FileFormat::Csv));
/// assert_eq!(FileFormat::from_path(Path::new("campaign.toml")), Some(FileFormat::Toml));
/// assert_eq!(FileFormat::from_path(Path::new("accounts.xlsx")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileFormat {
    /// Comma-separated values with a header row: accounts only.
    Csv,
    /// TOML with `[[account]]`, `[[group]]` and `[[permission]]` tables.
    Toml,
}

impl FileFormat {
    /// The format a file's extension names (`.csv`, `.toml`, in any case).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("csv") {
            Some(Self::Csv)
        } else if ext.eq_ignore_ascii_case("toml") {
            Some(Self::Toml)
        } else {
            None
        }
    }

    /// What a file of this format can list: CSV holds accounts (with stats) only, TOML
    /// everything.
    fn capabilities(self) -> DirectoryCapabilities {
        match self {
            Self::Csv => DirectoryCapabilities {
                stats: true,
                ..DirectoryCapabilities::default()
            },
            Self::Toml => DirectoryCapabilities {
                groups: true,
                permissions: true,
                stats: true,
            },
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "CSV",
            Self::Toml => "TOML",
        })
    }
}

/// A [`Directory`] read from a CSV or TOML file, for migrations whose source has no
/// directory API (IMAP to IMAP, a hosting company's mail service).
///
/// # CSV
/// A header row is required; it names the columns, in any order and in any case (`_`, `-`
/// and spaces are ignored, so `Source Login` is `source_login`):
///
/// | column | meaning | empty cell |
/// |---|---|---|
/// | `address` (required) | the primary address | — (an empty address is a [`Finding`](super::Finding)) |
/// | `name` | the display name | none |
/// | `kind` | `user`, `shared`, `room`, `equipment`, `other[:<name>]` ([`AccountKind`](super::AccountKind) spellings) | `user` |
/// | `aliases` | further addresses, separated by `;`, `,` or spaces | none |
/// | `source_login`, `destination_login` | the login at each side, when not the address | the address |
/// | `messages`, `bytes` | the mailbox's volume, whole numbers | unknown |
/// | `enabled` | `true`/`false`, `yes`/`no`, `1`/`0` | `true` |
/// | `id`, `contacts`, `events`, `folders` | the provider's id and further stats | unknown |
///
/// Cells are trimmed; quoted cells may hold commas and line breaks; a UTF-8 byte-order
/// mark, CRLF line ends and blank lines are accepted, as spreadsheets write them. A row
/// whose cells are all empty describes nothing and is passed over. A CSV file lists
/// accounts only: its directory does not declare groups or permissions.
///
/// # TOML
/// ```toml
/// [[account]]
/// address = "info@example.com"
/// name = "Info desk"
/// kind = "shared"
/// aliases = ["hello@example.com"]
/// messages = 4200
///
/// [[group]]
/// address = "team@example.com"
/// kind = "distribution"            # security, microsoft365, other[:<name>]
/// members = ["alice@example.com", { address = "partner@other.example", kind = "external" }]
/// owners = ["alice@example.com"]
///
/// [[permission]]
/// mailbox = "info@example.com"
/// grantee = "alice@example.com"
/// right = "send_as"                # full_access, send_on_behalf, folder_read, folder_edit
/// folder = "Inbox"                 # optional
/// ```
/// Account tables take the CSV columns as keys, with `aliases` as an array. A member given
/// as a plain address is a [`Group`](super::MemberKind::Group) member when the file has a
/// group of that address, an [`Account`](super::MemberKind::Account) member otherwise.
/// Unknown keys are errors.
///
/// # Errors and bad rows
/// The whole file is read and checked when the directory is opened. Anything it cannot
/// read fails the load, naming the file, the line and the column: an unknown column or
/// key, a row with more or fewer cells than the header, an unknown kind, a count that is
/// not a whole number, text that is not UTF-8. One bad row fails the whole load, because
/// an inventory that silently drops a row leaves that mailbox behind. What it can read but
/// does not add up (duplicate addresses, an alias that is another account's address, a
/// member nobody has) is left to [`Inventory::validate`], which lists every such problem
/// at once.
///
/// # No credentials
/// A `password` column or key, or anything named like a secret (`secret`, `token`,
/// `app_password`…), is refused: credentials do not belong in an inventory, which is
/// copied, mailed and checked into repositories. Give them in the job configuration or
/// through a credential provider.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{AccountKind, Directory, FileDirectory, FileFormat};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let csv = "address,name,kind,aliases,messages,bytes\n\
///            alice@example.com,\"Smith, Alice\",user,a.smith@example.com;alice.s@example.com,1200,350000000\n\
///            info@example.com,Info desk,shared,,,\n";
/// let dir = FileDirectory::parse("accounts.csv", FileFormat::Csv, csv)?;
/// let inv = dir.inventory().await?;
/// assert_eq!(inv.accounts[0].name.as_deref(), Some("Smith, Alice"));
/// assert_eq!(inv.accounts[1].kind, AccountKind::SharedMailbox);
/// assert_eq!(inv.find_account("ALICE.S@example.com").unwrap().address, "alice@example.com");
///
/// let bad = FileDirectory::parse("accounts.csv", FileFormat::Csv, "address,password\na@example.com,hunter2\n");
/// let err = bad.unwrap_err();
/// assert!(err.message().contains("credentials do not belong in the inventory file"));
/// assert!(!err.to_string().contains("hunter2"));
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FileDirectory {
    format: FileFormat,
    inner: MemoryDirectory,
}

impl FileDirectory {
    /// Reads the inventory file at `path`, in the format its extension names.
    ///
    /// # Errors
    /// `ConfigInvalid` for an extension other than `.csv` or `.toml`, and as
    /// [`open_as`](Self::open_as).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let format = FileFormat::from_path(path).ok_or_else(|| {
            file_error(
                &path.display().to_string(),
                "cannot tell the format from the file name: name it .csv or .toml, or use open_as",
            )
        })?;
        Self::open_as(path, format)
    }

    /// Reads the inventory file at `path` as `format`.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied` and the like when the file cannot be read;
    /// `ConfigInvalid` for content it cannot read (see the [type docs](Self)), naming the
    /// file, the line and the column.
    pub fn open_as(path: impl AsRef<Path>, format: FileFormat) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(Operation::Build)
                .with_context("file", &name)
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(located(
                    &name,
                    Some(line as u64),
                    None,
                    "the file is not UTF-8: save it as UTF-8 (spreadsheets call it \"CSV UTF-8\")",
                ));
            }
        };
        Self::parse(&name, format, &text)
    }

    /// Reads an inventory from `text` in `format`; `name` stands for the file in errors.
    ///
    /// # Errors
    /// `ConfigInvalid` as [`open_as`](Self::open_as).
    pub fn parse(name: &str, format: FileFormat, text: &str) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let inventory = match format {
            FileFormat::Csv => csv_file::parse(name, text)?,
            FileFormat::Toml => toml_file::parse(name, text)?,
        };
        let inner = MemoryDirectory::with_scheme(SCHEME, name)
            .with_accounts(inventory.accounts)
            .with_groups(inventory.groups)
            .with_permissions(inventory.permissions)
            .with_capabilities(format.capabilities());
        Ok(Self { format, inner })
    }

    /// The file's format.
    ///
    /// ```
    /// use mailmigrate_core::directory::{FileDirectory, FileFormat};
    /// let dir = FileDirectory::parse("a.toml", FileFormat::Toml, "").unwrap();
    /// assert_eq!(dir.format(), FileFormat::Toml);
    /// ```
    pub fn format(&self) -> FileFormat {
        self.format
    }
}

#[async_trait]
impl Directory for FileDirectory {
    fn info(&self) -> &DirectoryInfo {
        self.inner.info()
    }

    fn accounts(&self) -> BoxStream<'static, Result<Account>> {
        self.inner.accounts()
    }

    async fn groups(&self) -> Result<Vec<Group>> {
        self.inner.groups().await
    }

    async fn group_members(&self, group: &Group) -> Result<Vec<GroupMember>> {
        self.inner.group_members(group).await
    }

    async fn permissions(&self, account: &Account) -> Result<Vec<Permission>> {
        self.inner.permissions(account).await
    }

    async fn inventory(&self) -> Result<Inventory> {
        self.inner.inventory().await
    }
}

/// The scheme file directories report.
const SCHEME: &str = "file";

/// What a credential column or key is told.
const NO_CREDENTIALS: &str = "credentials do not belong in the inventory file, which is \
    copied and shared: give passwords and tokens in the job configuration or through a \
    credential provider, and remove this";

/// Whether a column or key name looks like it holds a secret.
fn is_secret_name(name: &str) -> bool {
    let n = normalise(name);
    matches!(n.as_str(), "pass" | "pw" | "pwd" | "pin")
        || [
            "password",
            "passwd",
            "passphrase",
            "secret",
            "token",
            "credential",
            "apikey",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// A `ConfigInvalid` error naming the file.
fn file_error(file: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, message)
        .with_provider(SCHEME)
        .with_operation(Operation::Build)
        .with_context("file", file)
}

/// A `ConfigInvalid` error naming the file, the line and the column where known.
fn located(
    file: &str,
    line: Option<u64>,
    column: Option<&str>,
    message: impl Into<String>,
) -> Error {
    let mut e = file_error(file, message);
    if let Some(line) = line {
        e = e.with_context("line", line);
    }
    if let Some(column) = column {
        e = e.with_context("column", column);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "password",
            "Password",
            "imap_password",
            "PASSWD",
            "app-password",
            "client_secret",
            "access_token",
            "pwd",
            "API Key",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "address",
            "source_login",
            "destination_login",
            "messages",
            "passage",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn open_reads_by_extension_and_names_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.csv");
        std::fs::write(&path, "address\r\nalice@example.com\r\n").unwrap();
        let d = FileDirectory::open(&path).unwrap();
        assert_eq!(d.format(), FileFormat::Csv);
        assert_eq!(d.info().scheme, "file");

        let missing = dir.path().join("nope.toml");
        let err = FileDirectory::open(&missing).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.context("file"),
            Some(missing.display().to_string().as_str())
        );

        let err = FileDirectory::open(dir.path().join("a.xlsx")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn non_utf8_file_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.csv");
        std::fs::write(&path, b"address,name\na@example.com,Jos\xe9\n").unwrap();
        let err = FileDirectory::open(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(err.context("line"), Some("2"));
        assert!(err.message().contains("not UTF-8"), "{err}");
    }
}
