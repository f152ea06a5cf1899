//! Indexing a foreign mbox (from Thunderbird, mutt or Google Takeout): one streaming scan
//! that reads flags from `Status`, `X-Status`, `X-Mozilla-Status` and `X-Keywords`, labels
//! from `X-Gmail-Labels`, and the internal date from the `From_` line.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::index::{write_index_file, write_line, IdxErr, Msg};
use super::layout::{index_path, INDEX_EXT};
use super::mboxrd::{parse_from_line_date, unquote_line};
use crate::{ContentHash, Flag, Flags, FolderId};

/// How many header bytes a scan keeps to read flags and labels from.
const HEADER_LIMIT: usize = 256 * 1024;

/// Unfolded header fields of a header block, in order.
fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in block.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

/// Splits a comma-separated label list, honouring double quotes.
fn split_labels(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Flags and labels from a foreign message's headers.
fn flags_from_headers(block: &[u8]) -> (Flags, BTreeSet<String>) {
    let mut flags = Flags::new();
    let mut labels = BTreeSet::new();
    for (name, value) in header_fields(block) {
        match name.as_str() {
            "status" if value.contains('R') => {
                flags.insert(Flag::Seen);
            }
            "x-status" => {
                for c in value.chars() {
                    match c {
                        'A' => {
                            flags.insert(Flag::Answered);
                        }
                        'F' => {
                            flags.insert(Flag::Flagged);
                        }
                        'T' => {
                            flags.insert(Flag::Draft);
                        }
                        'D' => {
                            flags.insert(Flag::Deleted);
                        }
                        _ => {}
                    }
                }
            }
            "x-mozilla-status" => {
                if let Ok(bits) = u32::from_str_radix(value.trim(), 16) {
                    for (bit, flag) in [
                        (0x0001, Flag::Seen),
                        (0x0002, Flag::Answered),
                        (0x0004, Flag::Flagged),
                        (0x0008, Flag::Deleted),
                        (0x1000, Flag::Keyword("$Forwarded".to_owned())),
                    ] {
                        if bits & bit != 0 {
                            flags.insert(flag);
                        }
                    }
                }
            }
            "x-keywords" => {
                for k in value.split([',', ' ', '\t']).filter(|k| !k.is_empty()) {
                    flags.insert(Flag::Keyword(k.to_owned()));
                }
            }
            "x-gmail-labels" => {
                for l in split_labels(&value) {
                    match l.as_str() {
                        "Opened" => {
                            flags.insert(Flag::Seen);
                        }
                        "Starred" => {
                            flags.insert(Flag::Flagged);
                        }
                        _ => {}
                    }
                    labels.insert(l);
                }
            }
            _ => {}
        }
    }
    (flags, labels)
}

/// The state of one message while scanning a foreign mbox.
struct ScanMsg {
    o: u64,
    d: u64,
    date: Option<OffsetDateTime>,
    in_headers: bool,
    headers: Vec<u8>,
    hasher: blake3::Hasher,
    n: u64,
    /// The line ending held back: it is data only if more data follows.
    pending: &'static [u8],
}

impl ScanMsg {
    fn new(o: u64, from_line: &[u8]) -> Self {
        Self {
            o,
            d: o + from_line.len() as u64,
            date: parse_from_line_date(from_line),
            in_headers: true,
            headers: Vec::new(),
            hasher: blake3::Hasher::new(),
            n: 0,
            pending: b"",
        }
    }

    /// Feeds one line of data as stored on disk (with its newline, if any).
    fn feed(&mut self, disk_line: &[u8]) {
        let line = unquote_line(disk_line);
        // The line ending before the next From_ line is the separator, not data: hold each
        // one back until more data follows. A blank CRLF line (a CRLF mbox) is held whole.
        self.hasher.update(self.pending);
        self.n += self.pending.len() as u64;
        let (body, pending): (&[u8], &'static [u8]) = if line == b"\r\n" {
            (b"", b"\r\n")
        } else if let Some(b) = line.strip_suffix(b"\n") {
            (b, b"\n")
        } else {
            (line, b"")
        };
        self.hasher.update(body);
        self.n += body.len() as u64;
        self.pending = pending;
        if self.in_headers {
            if body.is_empty() || body == b"\r" {
                self.in_headers = false;
            }
            if self.headers.len() + line.len() <= HEADER_LIMIT {
                self.headers.extend_from_slice(line);
            } else {
                self.in_headers = false;
            }
        }
    }

    fn finish(self, end: u64) -> Msg {
        let (flags, labels) = flags_from_headers(&self.headers);
        let region = end - self.d;
        Msg {
            o: self.o,
            d: self.d,
            q: region - self.pending.len() as u64,
            e: end,
            n: self.n,
            nl: false,
            flags,
            labels,
            date: self.date,
            hash: ContentHash::from_bytes(*self.hasher.finalize().as_bytes()),
            message_id: crate::headers::message_id(&self.headers),
        }
    }
}

/// Scans a foreign mbox file line by line, handing each message's entry to `emit`.
fn scan(path: &Path, mut emit: impl FnMut(Msg) -> io::Result<()>) -> Result<(), IdxErr> {
    let mut r = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut line = Vec::new();
    let mut pos = 0u64;
    let mut cur: Option<ScanMsg> = None;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                emit(m.finish(pos))?;
            }
            cur = Some(ScanMsg::new(pos, &line));
        } else {
            match cur.as_mut() {
                Some(m) => m.feed(&line),
                None => return Err(IdxErr::Corrupt("the file does not start with a From_ line")),
            }
        }
        pos += n as u64;
    }
    if let Some(m) = cur {
        emit(m.finish(pos))?;
    }
    Ok(())
}

/// Indexes a foreign mbox, next to it if possible, else in the temp directory; returns
/// where the index went.
pub(super) fn index_foreign(path: &Path, folder: &FolderId) -> Result<PathBuf, IdxErr> {
    let fill = |w: &mut BufWriter<File>| scan(path, |m| write_line(w, &m.to_record()));
    let sidecar = index_path(path);
    match write_index_file(&sidecar, fill) {
        Ok(()) => Ok(sidecar),
        Err(IdxErr::Io(e)) => {
            let key = blake3::hash(path.as_os_str().as_encoded_bytes()).to_hex();
            let alt = std::env::temp_dir().join(format!("mailmigrate-{}{INDEX_EXT}", &key[..32]));
            tracing::warn!(folder = %folder, error = %e, "cannot write the mbox index next to the mbox; using the temp directory");
            write_index_file(&alt, fill)?;
            Ok(alt)
        }
        Err(c) => Err(c),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn foreign_headers_give_flags_and_labels() {
        let h = b"Status: RO\nX-Status: AF\nX-Keywords: $Label1, work\nX-Gmail-Labels: Inbox,\"a,b\",Opened\n\nbody";
        let (flags, labels) = flags_from_headers(h);
        for f in [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Keyword("$Label1".into()),
            Flag::Keyword("work".into()),
        ] {
            assert!(flags.contains(&f), "{f}");
        }
        assert_eq!(flags.len(), 5);
        let want: BTreeSet<String> = ["Inbox", "a,b", "Opened"].map(String::from).into();
        assert_eq!(labels, want);
        let (flags, _) = flags_from_headers(b"X-Mozilla-Status: 0003\n\n");
        assert!(flags.contains(&Flag::Seen) && flags.contains(&Flag::Answered));
    }

    fn scan_all(path: &Path) -> Result<Vec<Msg>, IdxErr> {
        let mut out = Vec::new();
        scan(path, |m| {
            out.push(m);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn scan_splits_messages_and_strips_separators() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(
            &path,
            b"From a Mon Jan  1 00:00:00 2001\nSubject: 1\n\n>From quoted\n\nFrom b Mon Jan  1 00:00:00 2001\nSubject: 2\n\nno newline",
        )
        .unwrap();
        let msgs = scan_all(&path).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].n, b"Subject: 1\n\nFrom quoted\n".len() as u64);
        assert_eq!(
            msgs[0].hash,
            ContentHash::of(b"Subject: 1\n\nFrom quoted\n")
        );
        assert_eq!(msgs[1].hash, ContentHash::of(b"Subject: 2\n\nno newline"));
        assert_eq!(msgs[1].e, fs::metadata(&path).unwrap().len());
        fs::write(
            &path,
            b"From a Mon Jan  1 00:00:00 2001\r\nSubject: crlf\r\n\r\nbody\r\n\r\nFrom b Mon Jan  1 00:00:00 2001\r\nSubject: 2\r\n\r\nx\r\n",
        )
        .unwrap();
        let msgs = scan_all(&path).unwrap();
        assert_eq!(
            msgs[0].hash,
            ContentHash::of(b"Subject: crlf\r\n\r\nbody\r\n")
        );
        assert_eq!(msgs[0].q, b"Subject: crlf\r\n\r\nbody\r\n".len() as u64);
        assert_eq!(msgs[1].hash, ContentHash::of(b"Subject: 2\r\n\r\nx\r"));
        fs::write(&path, b"not an mbox\n").unwrap();
        assert!(matches!(scan_all(&path), Err(IdxErr::Corrupt(_))));
    }
}
