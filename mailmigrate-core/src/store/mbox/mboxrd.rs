//! The mboxrd format: the `From_` line with its asctime date, and `>From` quoting.

use std::io::{self, Write};

use time::OffsetDateTime;

/// Whether a line (without its newline) needs one more `>` in mboxrd.
fn is_from_line(line: &[u8]) -> bool {
    let rest = line
        .iter()
        .position(|&b| b != b'>')
        .map_or(&[][..], |i| &line[i..]);
    rest.starts_with(b"From ")
}

/// Writes `bytes` with mboxrd quoting and returns the number of bytes written.
pub(super) fn write_quoted(w: &mut impl Write, bytes: &[u8]) -> io::Result<u64> {
    let mut n = 0u64;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if is_from_line(line) {
            w.write_all(b">")?;
            n += 1;
        }
        w.write_all(line)?;
        n += line.len() as u64;
    }
    Ok(n)
}

/// The line without one level of mboxrd quoting.
pub(super) fn unquote_line(line: &[u8]) -> &[u8] {
    if line.first() == Some(&b'>') && is_from_line(line) {
        &line[1..]
    } else {
        line
    }
}

const ASCTIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
);
const ASCTIME_LOOSE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [year]"
);
const ASCTIME_ZONE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute] [year]"
);

pub(super) fn from_line(sender: Option<&str>, date: Option<OffsetDateTime>) -> Vec<u8> {
    let sender = sender
        .filter(|s| !s.is_empty() && s.len() < 256 && s.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("MAILER-DAEMON");
    let date = date
        .unwrap_or_else(OffsetDateTime::now_utc)
        .to_offset(time::UtcOffset::UTC);
    let stamp = date
        .format(ASCTIME)
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".to_owned());
    format!("From {sender} {stamp}\n").into_bytes()
}

/// The internal date written on a `From_` line, if it has a recognisable one.
pub(super) fn parse_from_line_date(line: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = text.split_whitespace().skip(2).collect();
    let joined = words.join(" ");
    if let Ok(t) = time::PrimitiveDateTime::parse(&joined, ASCTIME_LOOSE) {
        return Some(t.assume_utc());
    }
    if let Ok(t) = OffsetDateTime::parse(&joined, ASCTIME_ZONE) {
        return Some(t);
    }
    // Some writers put more words before the date; the date is the last five words.
    let tail = words.get(words.len().checked_sub(5)?..)?.join(" ");
    time::PrimitiveDateTime::parse(&tail, ASCTIME_LOOSE)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let msg = b"From: a@b\nSubject: x\n\nFrom here\n>From there\n>>From x\nFromage\n> From y";
        let mut out = Vec::new();
        let n = write_quoted(&mut out, msg).unwrap();
        assert_eq!(n as usize, out.len());
        assert_eq!(
            out,
            b"From: a@b\nSubject: x\n\n>From here\n>>From there\n>>>From x\nFromage\n> From y"
        );
        let back: Vec<u8> = out
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|l| unquote_line(l).to_vec())
            .collect();
        assert_eq!(back, msg);
    }

    #[test]
    fn from_line_uses_sender_and_asctime() {
        let date = time::macros::datetime!(2021-03-05 07:08:09 +02:00);
        let line = from_line(Some("ann@example.com"), Some(date));
        assert_eq!(line, b"From ann@example.com Fri Mar  5 05:08:09 2021\n");
        assert_eq!(
            parse_from_line_date(&line),
            Some(time::macros::datetime!(2021-03-05 05:08:09 UTC))
        );
        let line = from_line(None, Some(date));
        assert!(line.starts_with(b"From MAILER-DAEMON "));
        let line = from_line(Some("two words"), Some(date));
        assert!(line.starts_with(b"From MAILER-DAEMON "));
        assert_eq!(
            parse_from_line_date(b"From 1234@xxx Sat Jan 01 10:00:00 +0000 2022\n"),
            Some(time::macros::datetime!(2022-01-01 10:00:00 UTC))
        );
    }
}
