//! The CSV inventory format: one account a row, columns named by a header row.

use super::{is_secret_name, located, normalise, NO_CREDENTIALS};
use crate::directory::{Account, AccountKind, Inventory, MailboxStats};
use crate::Result;

/// The columns a CSV inventory may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Address,
    Name,
    Kind,
    Aliases,
    Enabled,
    Id,
    SourceLogin,
    DestinationLogin,
    Messages,
    Bytes,
    Contacts,
    Events,
    Folders,
}

/// Every column with its canonical name and further accepted names.
const COLUMNS: &[(Column, &str, &[&str])] = &[
    (
        Column::Address,
        "address",
        &["email", "primary_address", "mail"],
    ),
    (Column::Name, "name", &["display_name"]),
    (Column::Kind, "kind", &["type"]),
    (Column::Aliases, "aliases", &[]),
    (Column::Enabled, "enabled", &[]),
    (Column::Id, "id", &[]),
    (Column::SourceLogin, "source_login", &[]),
    (Column::DestinationLogin, "destination_login", &[]),
    (Column::Messages, "messages", &[]),
    (Column::Bytes, "bytes", &[]),
    (Column::Contacts, "contacts", &[]),
    (Column::Events, "events", &[]),
    (Column::Folders, "folders", &[]),
];

impl Column {
    fn from_header(header: &str) -> Option<Self> {
        let key = normalise(header);
        COLUMNS
            .iter()
            .find(|(_, canon, alts)| {
                normalise(canon) == key || alts.iter().any(|a| normalise(a) == key)
            })
            .map(|(c, _, _)| *c)
    }

    fn name(self) -> &'static str {
        COLUMNS
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("?", |(_, canon, _)| canon)
    }
}

/// Reads a CSV inventory. See [`FileDirectory`](super::FileDirectory) for the format.
pub(super) fn parse(file: &str, text: &str) -> Result<Inventory> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(file, text, &e))?
        .clone();
    if headers.iter().all(str::is_empty) {
        return Err(located(
            file,
            Some(1),
            None,
            "no header row: the first line must name the columns \
             (address,name,kind,aliases,source_login,destination_login,messages,bytes)",
        ));
    }
    let mut columns: Vec<Column> = Vec::with_capacity(headers.len());
    for (i, header) in headers.iter().enumerate() {
        let label = if header.is_empty() {
            format!("#{}", i + 1)
        } else {
            header.to_owned()
        };
        if is_secret_name(header) {
            return Err(located(
                file,
                Some(1),
                Some(&label),
                format!("column `{header}`: {NO_CREDENTIALS} column"),
            ));
        }
        let Some(column) = Column::from_header(header) else {
            let known: Vec<&str> = COLUMNS.iter().map(|(_, canon, _)| *canon).collect();
            let what = if header.is_empty() {
                "a column has no name in the header row".to_owned()
            } else {
                format!("unknown column `{}`", header.escape_debug())
            };
            return Err(located(
                file,
                Some(1),
                Some(&label),
                format!("{what} (known columns: {})", known.join(", ")),
            ));
        };
        if columns.contains(&column) {
            return Err(located(
                file,
                Some(1),
                Some(&label),
                format!("column `{}` appears twice", column.name()),
            ));
        }
        columns.push(column);
    }
    if !columns.contains(&Column::Address) {
        return Err(located(
            file,
            Some(1),
            None,
            "the header row has no `address` column",
        ));
    }

    let mut accounts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(file, text, &e))?;
        if record.iter().all(str::is_empty) {
            continue; // a row of empty cells, as spreadsheets leave after the last line
        }
        let line = record.position().map(|p| line_of(text, p));
        let mut account = Account::new("");
        let mut stats = MailboxStats::new();
        for (column, cell) in columns.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let fail = |message: String| located(file, line, Some(column.name()), message);
            let count = || {
                cell.parse::<u64>()
                    .map_err(|_| fail(format!("`{}` is not a whole number", cell.escape_debug())))
            };
            match column {
                Column::Address => account.address = cell.to_owned(),
                Column::Name => account.name = Some(cell.to_owned()),
                Column::Kind => {
                    account.kind = cell
                        .parse::<AccountKind>()
                        .map_err(|e| fail(e.message().to_owned()))?;
                }
                Column::Aliases => {
                    account = account.with_aliases(
                        cell.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
                            .filter(|a| !a.is_empty()),
                    );
                }
                Column::Enabled => {
                    account.enabled = parse_bool(cell).ok_or_else(|| {
                        fail(format!(
                            "`{}` is not true or false (yes/no, 1/0 also do)",
                            cell.escape_debug()
                        ))
                    })?
                }
                Column::Id => account.id = Some(cell.to_owned()),
                Column::SourceLogin => account.source_login = Some(cell.to_owned()),
                Column::DestinationLogin => account.destination_login = Some(cell.to_owned()),
                Column::Messages => stats.messages = Some(count()?),
                Column::Bytes => stats.bytes = Some(count()?),
                Column::Contacts => stats.contacts = Some(count()?),
                Column::Events => stats.events = Some(count()?),
                Column::Folders => stats.folders = Some(count()?),
            }
        }
        if !stats.is_empty() {
            account.stats = Some(stats);
        }
        accounts.push(account);
    }
    Ok(Inventory::new(accounts))
}

fn parse_bool(cell: &str) -> Option<bool> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "enabled" | "active" => Some(true),
        "false" | "no" | "n" | "0" | "disabled" | "inactive" => Some(false),
        _ => None,
    }
}

/// The 1-based line a record starts on.
///
/// The reader's own line count misses blank lines and CRLF line ends, and its byte offset
/// may point at the end of the line before: skip line ends from there, then count.
fn line_of(text: &str, position: &csv::Position) -> u64 {
    let bytes = text.as_bytes();
    let mut at = usize::try_from(position.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
    while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
        at += 1;
    }
    bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// Maps a reader error, naming its line.
fn csv_error(file: &str, text: &str, e: &csv::Error) -> crate::Error {
    let line = e.position().map(|p| line_of(text, p));
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "the row has {len} cell{} but the header has {expected_len}: quote a cell that holds a comma",
            if *len == 1 { "" } else { "s" }
        ),
        _ => format!("unreadable CSV: {e}"),
    };
    located(file, line, None, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn headers_are_matched_loosely() {
        let inv = parse(
            "t.csv",
            "E-Mail, Display Name ,Source Login,TYPE\nA@x.example,Ann,ann,Room\n",
        )
        .unwrap();
        let a = &inv.accounts[0];
        assert_eq!(
            (a.address.as_str(), a.name.as_deref()),
            ("A@x.example", Some("Ann"))
        );
        assert_eq!(a.source_login.as_deref(), Some("ann"));
        assert_eq!(a.kind, AccountKind::Room);
        assert_eq!(a.stats, None);
    }

    #[test]
    fn header_problems_name_the_column() {
        let err = parse("t.csv", "address,alias\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(
            (err.context("line"), err.context("column")),
            (Some("1"), Some("alias"))
        );
        let err = parse("t.csv", "address,name,Name\n").unwrap_err();
        assert!(err.message().contains("appears twice"), "{err}");
        let err = parse("t.csv", "name\nAnn\n").unwrap_err();
        assert!(err.message().contains("no `address` column"), "{err}");
        let err = parse("t.csv", "").unwrap_err();
        assert!(err.message().starts_with("no header row"), "{err}");
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_breaks() {
        let lines = |text: &str| -> Vec<u64> {
            let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            r.headers().unwrap();
            r.records()
                .map(|rec| line_of(text, rec.unwrap().position().unwrap()))
                .collect()
        };
        assert_eq!(lines("a,b\na,1\n\nb,2\nc,3\n"), [2, 4, 5]);
        assert_eq!(lines("a,b\r\na,1\r\n\r\nb,2\r\nc,3\r\n"), [2, 4, 5]);
        assert_eq!(lines("a,b\na,\"x\ny\"\nb,2\n"), [2, 4]);
    }

    #[test]
    fn enabled_column_reads_yes_and_no() {
        let inv = parse(
            "t.csv",
            "address,enabled\na@x.example,no\nb@x.example,YES\nc@x.example,\n",
        )
        .unwrap();
        let enabled: Vec<bool> = inv.accounts.iter().map(|a| a.enabled).collect();
        assert_eq!(enabled, [false, true, true]);
        let err = parse("t.csv", "address,enabled\na@x.example,maybe\n").unwrap_err();
        assert_eq!(
            (err.context("line"), err.context("column")),
            (Some("2"), Some("enabled"))
        );
    }
}
