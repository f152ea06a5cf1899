//! The CLI's logs: warnings on stderr (or what `RUST_LOG` asks), and for campaign steps one
//! log file per run beside the campaign state, at `info` (or `RUST_LOG`) — secrets
//! redacted before anything is written.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Replaces what looks like a credential in a log line: bearer tokens, `password=`,
/// `secret=`, `token=`-style parameters and JSON fields, and the user-info password of a URL.
///
/// ```
/// use mailmigrate_examples::logging::redact_secrets;
/// assert_eq!(redact_secrets("Authorization: Bearer eyJ0eXAi.abc"), "Authorization: Bearer [redacted]");
/// assert_eq!(redact_secrets("imaps://ann:hunter2@mail"), "imaps://ann:[redacted]@mail");
/// assert_eq!(redact_secrets(r#"{"access_token":"ya29.x"}"#), r#"{"access_token":"[redacted]"}"#);
/// assert_eq!(redact_secrets("url?authtoken=abc&x=1"), "url?authtoken=[redacted]&x=1");
/// ```
pub fn redact_secrets(line: &str) -> String {
    static PATTERNS: std::sync::OnceLock<Vec<(Regex, &'static str)>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", "$1 [redacted]"),
            (
                r#"(?i)("(?:access_token|refresh_token|id_token|client_secret|password|assertion|code)"\s*:\s*")[^"]*"#,
                "${1}[redacted]",
            ),
            (
                r"(?i)\b((?:access_token|refresh_token|client_secret|password|passwd|secret|authtoken|token|assertion|code)=)[^&\s]+",
                "${1}[redacted]",
            ),
            (r"(://[^/\s:@]+:)[^@\s/]+@", "${1}[redacted]@"),
        ]
        .into_iter()
        .filter_map(|(re, to)| Regex::new(re).ok().map(|r| (r, to)))
        .collect()
    });
    let mut out = line.to_owned();
    for (re, to) in patterns {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

/// A log file whose every write is redacted first.
#[derive(Debug, Clone)]
struct RedactedFile(Arc<Mutex<File>>);

impl Write for RedactedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = redact_secrets(&String::from_utf8_lossy(buf));
        let mut f = self
            .0
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?;
        f.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?
            .flush()
    }
}

impl<'a> MakeWriter<'a> for RedactedFile {
    type Writer = RedactedFile;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the subscriber: stderr at `RUST_LOG` (default `warn`), and with `log_dir`, a
/// new file `run-<UTC time>-<step>.log` there at `RUST_LOG` (default `info`). Returns the
/// file's path. Call once, before anything logs.
///
/// # Errors
/// I/O errors creating the directory or the file.
pub fn init(log_dir: Option<&Path>, step: &str) -> io::Result<Option<PathBuf>> {
    let env = std::env::var("RUST_LOG").ok();
    let filter = |default: &str| EnvFilter::new(env.as_deref().unwrap_or(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_target(false)
        .with_filter(filter("warn"));
    let Some(dir) = log_dir else {
        let _ = tracing_subscriber::registry().with(stderr).try_init();
        return Ok(None);
    };
    std::fs::create_dir_all(dir)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let mut path = dir.join(format!("run-{stamp}-{step}.log"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("run-{stamp}-{step}-{n}.log"));
    }
    let file = RedactedFile(Arc::new(Mutex::new(File::create(&path)?)));
    let to_file = tracing_subscriber::fmt::layer()
        .with_writer(file)
        .with_ansi(false)
        .with_filter(filter("info"));
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(to_file)
        .try_init();
    tracing::info!(step, version = env!("CARGO_PKG_VERSION"), "run started");
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn ordinary_lines_are_kept() {
        let line = "mailbox ann@old.example: 300 messages copied in INBOX (code path ok)";
        assert_eq!(redact_secrets(line), line);
    }

    #[test]
    fn every_secret_form_is_redacted() {
        for (line, secret) in [
            ("client_secret=s3cr3t&grant_type=x", "s3cr3t"),
            (r#""refresh_token": "1//0gabc""#, "1//0gabc"),
            ("password=hunter2", "hunter2"),
            ("BEARER abc.def", "abc.def"),
        ] {
            let out = redact_secrets(line);
            assert!(!out.contains(secret), "{line} -> {out}");
            assert!(out.contains("[redacted]"), "{out}");
        }
    }
}
