//! The bundled demo mailbox: a deterministic, seeded corpus that looks like a real one.
//!
//! It has nested and non-ASCII folders (`Projekte/Ünïcode`, `Archive/2019`, `日本語`),
//! folders with roles (`Sent`, `Drafts`), multipart messages with small base64
//! attachments, RFC 2047 subjects, flags and keywords, internal dates spread over years,
//! and a couple of deliberately malformed messages (one empty, one without headers): the
//! empty one no destination can store, so a migration must report it as a typed failure
//! while the rest goes on; the headerless one travels byte-exact to a destination that
//! takes it (a Maildir does).
//!
//! Messages are generated one at a time, so memory does not grow with `n`.
//!
//! # Examples
//! ```
//! use mailmigrate_examples::demo::demo_messages;
//! let first: Vec<_> = demo_messages(7, 10).collect();
//! let again: Vec<_> = demo_messages(7, 10).collect();
//! assert_eq!(first.len(), 10);
//! assert_eq!(first[3].2.bytes, again[3].2.bytes); // deterministic
//! ```

use std::fmt::Write as _;

use bytes::Bytes;
use mailmigrate_core::{
    Flag, Flags, FolderId, FolderPath, MessageId, MessageMeta, RawMessage, SpecialUse,
};
use time::OffsetDateTime;

/// The seed the `migrate` demo uses.
pub const DEFAULT_SEED: u64 = 0x6d61_696c;

/// The number of messages the `migrate` demo generates.
pub const DEFAULT_COUNT: usize = 3_000;

/// How many deliberately malformed messages a corpus of at least
/// [`MALFORMED_MIN_COUNT`] messages holds.
pub const MALFORMED_COUNT: usize = 2;

/// The smallest corpus that holds all malformed messages.
pub const MALFORMED_MIN_COUNT: usize = 1_000;

/// Positions of the malformed messages (empty, then headerless).
const MALFORMED_AT: [usize; MALFORMED_COUNT] = [500, 999];

/// The demo's folders: path segments, role, and relative weight.
const FOLDERS: &[(&[&str], Option<SpecialUse>, u32)] = &[
    (&["INBOX"], Some(SpecialUse::Inbox), 30),
    (&["Sent"], Some(SpecialUse::Sent), 15),
    (&["Drafts"], Some(SpecialUse::Drafts), 3),
    (&["Archive", "2019"], None, 12),
    (&["Archive", "2020"], None, 12),
    (&["Projekte", "Ünïcode"], None, 10),
    (&["Projekte", "Alpha"], None, 8),
    (&["日本語"], None, 6),
    (&["Newsletters"], None, 4),
];

/// Every folder the demo fills, with its role.
///
/// ```
/// let folders = mailmigrate_examples::demo::demo_folders();
/// assert!(folders.iter().any(|(p, _)| p.to_string() == "Projekte/Ünïcode"));
/// ```
pub fn demo_folders() -> Vec<(FolderPath, Option<SpecialUse>)> {
    FOLDERS
        .iter()
        .map(|(segs, role, _)| (folder_path(segs), *role))
        .collect()
}

fn folder_path(segs: &[&str]) -> FolderPath {
    // The table above holds only valid segments.
    FolderPath::new(segs.iter().copied()).unwrap_or_else(|_| FolderPath::inbox())
}

/// Generates `n` demo messages from `seed`: `(folder, role, message)`.
///
/// The same seed and `n` always give the same bytes. Each message's `meta.id` is
/// `demo-{index}` and its `meta.folder` the `/`-joined folder path; stores assign their own
/// ids when the messages are appended.
pub fn demo_messages(
    seed: u64,
    n: usize,
) -> impl Iterator<Item = (FolderPath, Option<SpecialUse>, RawMessage)> {
    let folders = demo_folders();
    let total_weight: u32 = FOLDERS.iter().map(|f| f.2).sum();
    (0..n).map(move |i| {
        let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut pick = rng.below(u64::from(total_weight)) as u32;
        let mut idx = 0;
        for (k, f) in FOLDERS.iter().enumerate() {
            if pick < f.2 {
                idx = k;
                break;
            }
            pick -= f.2;
        }
        let (path, role) = folders[idx].clone();
        let msg = demo_message(&mut rng, seed, i, &path, role);
        (path, role, msg)
    })
}

/// Whether the message at `index` is one of the deliberately malformed ones.
pub fn is_malformed(index: usize) -> bool {
    MALFORMED_AT.contains(&index)
}

/// Whether the message at `index` is the planted empty one, which every destination refuses.
pub fn is_empty_message(index: usize) -> bool {
    index == MALFORMED_AT[0]
}

const FIRST: &[&str] = &[
    "Anna",
    "Björn",
    "Chloé",
    "Dmitri",
    "Eva",
    "François",
    "Greta",
    "Hiro",
    "Ingrid",
    "Jürgen",
];
const LAST: &[&str] = &[
    "Schmidt", "Müller", "Tanaka", "Dubois", "Nowak", "Larsen", "García", "Rossi",
];
const TOPICS: &[&str] = &[
    "Quarterly report",
    "Lunch on Friday?",
    "Re: Projektplan",
    "Angebot für Ünïcode",
    "会議の議事録",
    "Invoice 2024-117",
    "Fwd: Travel itinerary",
    "Build failed on main",
    "Welcome to the team",
    "Résumé attached",
];
const WORDS: &[&str] = &[
    "migration",
    "mailbox",
    "folder",
    "server",
    "schedule",
    "budget",
    "draft",
    "review",
    "Termin",
    "Grüße",
    "données",
    "meeting",
    "deadline",
    "archive",
    "contract",
    "update",
];

fn demo_message(
    rng: &mut Rng,
    seed: u64,
    i: usize,
    path: &FolderPath,
    role: Option<SpecialUse>,
) -> RawMessage {
    // 2012-01-01 .. 2025-12-31, in seconds.
    let date = OffsetDateTime::from_unix_timestamp(1_325_376_000 + rng.below(441_763_200) as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut flags = Flags::new();
    match role {
        Some(SpecialUse::Drafts) => {
            flags.insert(Flag::Draft);
        }
        Some(SpecialUse::Sent) => {
            flags.insert(Flag::Seen);
        }
        _ => {
            if rng.below(10) < 7 {
                flags.insert(Flag::Seen);
            }
            if rng.below(10) == 0 {
                flags.insert(Flag::Answered);
            }
            if rng.below(20) == 0 {
                flags.insert(Flag::Flagged);
            }
            if rng.below(15) == 0 {
                flags.insert(Flag::Keyword("$Forwarded".into()));
            }
            if rng.below(12) == 0 {
                flags.insert(Flag::Keyword("Wichtig".into()));
            }
        }
    }
    let bytes = if i == MALFORMED_AT[0] {
        Bytes::new()
    } else if i == MALFORMED_AT[1] {
        Bytes::from_static(b"\r\nThis message lost its header block in transit.\r\n")
    } else {
        Bytes::from(render(rng, seed, i, date))
    };
    let meta = MessageMeta::new(
        MessageId::new(format!("demo-{i}")),
        FolderId::new(path.join("/")),
    )
    .with_flags(flags)
    .with_internal_date(Some(date));
    RawMessage::new(meta, bytes)
}

fn render(rng: &mut Rng, seed: u64, i: usize, date: OffsetDateTime) -> Vec<u8> {
    let from = person(rng);
    let to = person(rng);
    let topic = TOPICS[rng.below(TOPICS.len() as u64) as usize];
    let subject = if topic.is_ascii() {
        topic.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", base64(topic.as_bytes()))
    };
    let mut h = String::with_capacity(512);
    let _ = write!(h, "Return-Path: <{}>\r\n", from.1);
    let _ = write!(h, "From: {} <{}>\r\n", from.0, from.1);
    let _ = write!(h, "To: {} <{}>\r\n", to.0, to.1);
    let _ = write!(h, "Subject: {subject}\r\n");
    let _ = write!(h, "Date: {}\r\n", rfc2822(date));
    let _ = write!(h, "Message-ID: <demo-{seed:x}-{i}@mailmigrate.example>\r\n");
    h.push_str("MIME-Version: 1.0\r\n");
    let words = 20 + rng.below(120) as usize;
    let body = paragraph(rng, words);
    if rng.below(4) == 0 {
        let boundary = format!("=_demo_{seed:x}_{i}");
        let _ = write!(
            h,
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        );
        h.push_str("This is a multi-part message in MIME format.\r\n");
        let _ = write!(h, "--{boundary}\r\n");
        h.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        h.push_str(&body);
        let _ = write!(h, "\r\n--{boundary}\r\n");
        let len = 200 + rng.below(1800) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = write!(
            h,
            "Content-Type: application/octet-stream; name=\"anhang-{i}.bin\"\r\n\
             Content-Disposition: attachment; filename=\"anhang-{i}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        );
        let encoded = base64(&data);
        for line in encoded.as_bytes().chunks(76) {
            h.push_str(std::str::from_utf8(line).unwrap_or_default());
            h.push_str("\r\n");
        }
        let _ = write!(h, "--{boundary}--\r\n");
    } else {
        h.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        h.push_str(&body);
    }
    h.into_bytes()
}

fn person(rng: &mut Rng) -> (String, String) {
    let f = FIRST[rng.below(FIRST.len() as u64) as usize];
    let l = LAST[rng.below(LAST.len() as u64) as usize];
    let name = format!("{f} {l}");
    let addr: String = format!("{f}.{l}@example.org")
        .chars()
        .filter(char::is_ascii)
        .collect::<String>()
        .to_ascii_lowercase();
    // A non-ASCII display name is sent RFC 2047-encoded.
    let display = if name.is_ascii() {
        name
    } else {
        format!("=?UTF-8?B?{}?=", base64(name.as_bytes()))
    };
    (display, addr)
}

fn paragraph(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    let mut line = 0;
    for _ in 0..words {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        s.push_str(w);
        line += w.len() + 1;
        if line > 66 {
            s.push_str("\r\n");
            line = 0;
        } else {
            s.push(' ');
        }
    }
    s.push_str("\r\n");
    s
}

fn rfc2822(d: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[d.weekday().number_days_from_monday() as usize],
        d.day(),
        MONTHS[d.month() as usize - 1],
        d.year(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// Standard base64 with padding (RFC 4648), for attachments and encoded words.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// SplitMix64: small, fast, and stable across platforms and crate versions.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::headers::{check_message, Headers};

    #[test]
    fn corpus_is_deterministic_and_seed_dependent() {
        let a: Vec<_> = demo_messages(1, 50).map(|m| m.2.bytes).collect();
        let b: Vec<_> = demo_messages(1, 50).map(|m| m.2.bytes).collect();
        let c: Vec<_> = demo_messages(2, 50).map(|m| m.2.bytes).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn corpus_covers_the_promised_shapes() {
        let all: Vec<_> = demo_messages(DEFAULT_SEED, DEFAULT_COUNT).collect();
        let paths: std::collections::BTreeSet<String> =
            all.iter().map(|(p, _, _)| p.to_string()).collect();
        for want in [
            "INBOX",
            "Sent",
            "Drafts",
            "Archive/2019",
            "Projekte/Ünïcode",
            "日本語",
        ] {
            assert!(paths.contains(want), "missing folder {want}");
        }
        assert!(all.iter().any(|(_, r, _)| *r == Some(SpecialUse::Sent)));
        let multipart = all
            .iter()
            .filter(|(_, _, m)| m.bytes.windows(21).any(|w| w == b"multipart/mixed; boun"))
            .count();
        assert!(multipart > DEFAULT_COUNT / 10, "only {multipart} multipart");
        assert!(all
            .iter()
            .any(|(_, _, m)| m.meta.flags.iter().any(Flag::is_keyword)));
        let years: std::collections::BTreeSet<i32> = all
            .iter()
            .filter_map(|(_, _, m)| m.meta.internal_date.map(|d| d.year()))
            .collect();
        assert!(years.len() >= 10, "dates span only {years:?}");
    }

    #[test]
    fn exactly_the_planted_messages_are_malformed() {
        let bad: Vec<usize> = demo_messages(DEFAULT_SEED, DEFAULT_COUNT)
            .enumerate()
            .filter(|(_, (_, _, m))| check_message(&m.bytes).is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, MALFORMED_AT.to_vec());
        assert!(bad.iter().all(|&i| is_malformed(i)));
    }

    #[test]
    fn headers_parse_and_subjects_decode() {
        let (_, _, m) = demo_messages(3, 20)
            .find(|(_, _, m)| m.bytes.windows(8).any(|w| w == b"=?UTF-8?"))
            .expect("some encoded header");
        let h = Headers::parse(&m.bytes);
        assert!(h.message_id.unwrap().ends_with("@mailmigrate.example"));
        assert!(h.date.is_some());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
