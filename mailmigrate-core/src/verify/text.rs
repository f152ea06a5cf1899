//! The readable form of a [`VerifyReport`]: one status line per folder, then the
//! differences, then the totals.

use std::fmt::{self, Display, Formatter, Write as _};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::report::{Counts, FolderReport, VerifyReport};

impl VerifyReport {
    /// Renders the readable form (the same text as [`Display`]).
    ///
    /// ```
    /// use mailmigrate_core::verify::VerifyReport;
    /// let text = VerifyReport::default().to_text();
    /// assert!(text.contains("Totals: 0 folders"));
    /// ```
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// The readable form without its last line (`Result: ...`), for a caller that states
    /// one verdict of its own built from [`is_clean`](Self::is_clean).
    ///
    /// ```
    /// use mailmigrate_core::verify::VerifyReport;
    /// let text = VerifyReport::default().to_text_body();
    /// assert!(text.contains("Totals: 0 folders") && !text.contains("Result:"));
    /// ```
    pub fn to_text_body(&self) -> String {
        Body(self).to_string()
    }
}

/// Everything of the readable form but the verdict line.
struct Body<'a>(&'a VerifyReport);

fn status(f: &FolderReport) -> &'static str {
    if f.error.is_some() {
        "FAIL"
    } else if f.is_clean() {
        "OK"
    } else {
        "DIFF"
    }
}

fn pair_name(f: &FolderReport) -> String {
    match &f.dest {
        Some(d) => format!("{} -> {}", f.source.path, d.path),
        None => format!("{} -> (no such folder)", f.source.path),
    }
}

fn write_counts(out: &mut Formatter<'_>, c: &Counts) -> fmt::Result {
    write!(
        out,
        "source {}, dest {}, matched {}",
        c.source, c.dest, c.matched
    )?;
    if !c.is_clean() {
        write!(
            out,
            ", missing {}, extra {}, changed content {}, changed flags {}, changed dates {}, \
             unreadable {}",
            c.missing, c.extra, c.changed, c.flag_differences, c.date_differences, c.unreadable
        )?;
    }
    if c.failed > 0 {
        write!(out, ", recorded failures {}", c.failed)?;
    }
    Ok(())
}

fn mid(m: Option<&str>) -> String {
    m.map(|m| format!("  <{m}>")).unwrap_or_default()
}

fn date(d: Option<OffsetDateTime>) -> String {
    d.and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "none".to_owned())
}

fn flag_list<T: Display>(flags: &[T]) -> String {
    if flags.is_empty() {
        return "-".to_owned();
    }
    let mut s = String::new();
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{f}");
    }
    s
}

fn write_failed(out: &mut Formatter<'_>, f: &FolderReport) -> fmt::Result {
    if f.failed.is_empty() {
        return Ok(());
    }
    writeln!(out, "Recorded failures in {}:", pair_name(f))?;
    for m in &f.failed {
        writeln!(
            out,
            "  not copied  source {}{}",
            m.source_id,
            mid(m.message_id.as_deref())
        )?;
    }
    Ok(())
}

fn write_differences(out: &mut Formatter<'_>, f: &FolderReport) -> fmt::Result {
    writeln!(out, "Differences in {}:", pair_name(f))?;
    if let Some(e) = &f.error {
        writeln!(out, "  error       {} listing failed: {}", e.side, e.error)?;
    }
    for m in &f.missing {
        writeln!(
            out,
            "  missing     source {}{}",
            m.source_id,
            mid(m.message_id.as_deref())
        )?;
    }
    for x in &f.extra {
        writeln!(
            out,
            "  extra       dest {}{}",
            x.dest_id,
            mid(x.message_id.as_deref())
        )?;
    }
    for c in &f.changed {
        writeln!(
            out,
            "  changed (content)  source {} / dest {}{}",
            c.source_id,
            c.dest_id,
            mid(Some(&c.message_id))
        )?;
    }
    for d in &f.flag_differences {
        writeln!(
            out,
            "  changed (flags)    source {} / dest {}  only in source: {}; only in dest: {}",
            d.source_id,
            d.dest_id,
            flag_list(&d.only_in_source),
            flag_list(&d.only_in_dest)
        )?;
    }
    for d in &f.date_differences {
        writeln!(
            out,
            "  changed (date)     source {} / dest {}  {} vs {}",
            d.source_id,
            d.dest_id,
            date(d.source_date),
            date(d.dest_date)
        )?;
    }
    for u in &f.unreadable {
        writeln!(out, "  unreadable  {} {}  {}", u.side, u.id, u.error)?;
    }
    if f.truncated {
        writeln!(out, "  (lists truncated; the counts are exact)")?;
    }
    Ok(())
}

impl Display for Body<'_> {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for f in &report.folders {
            write!(out, "{:<5} {}  ", status(f), pair_name(f))?;
            match &f.error {
                Some(e) => writeln!(out, "{} listing failed ({})", e.side, e.kind)?,
                None => {
                    write_counts(out, &f.counts)?;
                    writeln!(out)?;
                }
            }
        }
        let dirty: Vec<&FolderReport> = report.folders.iter().filter(|f| !f.is_clean()).collect();
        if !dirty.is_empty() {
            writeln!(out)?;
            for f in dirty {
                write_differences(out, f)?;
            }
        }
        if report.totals.counts.failed > 0 {
            writeln!(out)?;
            for f in &report.folders {
                write_failed(out, f)?;
            }
        }
        let t = &report.totals;
        writeln!(out)?;
        write!(
            out,
            "Totals: {} folders, {} OK, {} DIFF (missing folders {}, failed {}); ",
            t.folders,
            t.clean_folders,
            t.folders - t.clean_folders,
            t.missing_folders,
            t.failed_folders
        )?;
        write_counts(out, &t.counts)?;
        writeln!(out)
    }
}

impl Display for VerifyReport {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        write!(out, "{}", Body(self))?;
        writeln!(
            out,
            "Result: {}",
            if self.is_clean() {
                "CLEAN"
            } else {
                "DIFFERENCES FOUND"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::{FolderRef, MissingItem};
    use super::*;
    use crate::{ContentHash, FolderId, FolderPath, MessageId};

    fn folder(p: &str) -> FolderRef {
        FolderRef::new(FolderId::new(p), FolderPath::parse(p, '/').unwrap())
    }

    #[test]
    fn clean_report_has_ok_lines_and_no_difference_section() {
        let mut f = FolderReport::new(folder("INBOX"), Some(folder("INBOX")));
        f.counts.source = 2;
        f.counts.dest = 2;
        f.counts.matched = 2;
        let text = VerifyReport::from_folders(vec![f]).to_text();
        assert!(
            text.starts_with("OK    INBOX -> INBOX  source 2, dest 2, matched 2\n"),
            "{text}"
        );
        assert!(!text.contains("Differences"));
        assert!(text.contains("Result: CLEAN"));
    }

    #[test]
    fn missing_folder_is_named_and_listed() {
        let mut f = FolderReport::new(folder("Old/Stuff"), None);
        f.counts.source = 1;
        f.counts.missing = 1;
        f.missing.push(MissingItem {
            source_id: MessageId::new("77"),
            message_id: Some("a@b".into()),
            hash: ContentHash::of(b"x"),
        });
        let text = VerifyReport::from_folders(vec![f]).to_text();
        assert!(text.contains("DIFF  Old/Stuff -> (no such folder)  source 1"));
        assert!(text.contains("  missing     source 77  <a@b>\n"), "{text}");
        assert!(text.contains("Result: DIFFERENCES FOUND"));
    }

    #[test]
    fn recorded_failures_are_listed_and_leave_the_report_clean() {
        let mut f = FolderReport::new(folder("INBOX"), Some(folder("INBOX")));
        f.counts.source = 1;
        f.counts.failed = 1;
        f.failed.push(MissingItem {
            source_id: MessageId::new("9"),
            message_id: None,
            hash: ContentHash::of(b""),
        });
        let r = VerifyReport::from_folders(vec![f]);
        let text = r.to_text();
        assert!(
            text.starts_with(
                "OK    INBOX -> INBOX  source 1, dest 0, matched 0, recorded failures 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("  not copied  source 9\n"), "{text}");
        assert!(text.ends_with("Result: CLEAN\n"), "{text}");
        assert!(!r.to_text_body().contains("Result:"));
    }
}
