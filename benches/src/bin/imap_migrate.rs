//! Migrates one IMAP account into another with the mailmigrate engine and prints one JSON
//! line of figures: the program `benches/imap/run.sh` measures against mbsync.
//!
//! ```text
//! imap_migrate --port 10143 --src src1 --dst dst2 --state /tmp/state.sqlite \
//!     [--host 127.0.0.1] [--job bench] [--folder-concurrency 4] [--batch-size 256] \
//!     [--pool-size 4] [--fetch-batch 16] [--timing]
//! ```
//!
//! The password comes from `BENCH_PASS` (default `benchpass`), never from the command line.
//! Both accounts use plaintext IMAP, which is only meant for a server on loopback. Exit
//! status 0 means every folder completed and no message failed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use mailmigrate_core::engine::{Engine, SyncOptions, SyncReport};
use mailmigrate_core::state::SqliteState;
use mailmigrate_core::{Error, ErrorKind, Result};
use mailmigrate_imap::{Imap, ImapBuilder, Tls};

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    host: String,
    port: u16,
    src: String,
    dst: String,
    state: String,
    job: String,
    folder_concurrency: Option<usize>,
    batch_size: Option<usize>,
    pool_size: Option<usize>,
    fetch_batch: Option<usize>,
    timing: bool,
}

/// Parses `--key value` pairs (and the `--timing` switch) into [`Args`].
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args> {
    let bad = |msg: String| Error::new(ErrorKind::ConfigInvalid, msg);
    let mut out = Args {
        host: "127.0.0.1".to_owned(),
        port: 10143,
        src: String::new(),
        dst: String::new(),
        state: String::new(),
        job: "bench".to_owned(),
        folder_concurrency: None,
        batch_size: None,
        pool_size: None,
        fetch_batch: None,
        timing: false,
    };
    let mut it = args.into_iter();
    while let Some(key) = it.next() {
        if key == "--timing" {
            out.timing = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| bad(format!("{key} needs a value")))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("{key} takes a positive number")))
        };
        match key.as_str() {
            "--host" => out.host = value,
            "--port" => {
                out.port = value
                    .parse()
                    .map_err(|_| bad(format!("{key} takes a port number")))?;
            }
            "--src" => out.src = value,
            "--dst" => out.dst = value,
            "--state" => out.state = value,
            "--job" => out.job = value,
            "--folder-concurrency" => out.folder_concurrency = Some(number(&value)?),
            "--batch-size" => out.batch_size = Some(number(&value)?),
            "--pool-size" => out.pool_size = Some(number(&value)?),
            "--fetch-batch" => out.fetch_batch = Some(number(&value)?),
            other => return Err(bad(format!("unknown option {other}"))),
        }
    }
    for (name, v) in [
        ("--src", &out.src),
        ("--dst", &out.dst),
        ("--state", &out.state),
    ] {
        if v.is_empty() {
            return Err(bad(format!("{name} is required")));
        }
    }
    Ok(out)
}

/// The engine options the arguments ask for (the engine's defaults otherwise).
fn sync_options(args: &Args) -> SyncOptions {
    let mut opts = SyncOptions::new(args.job.clone());
    if let Some(n) = args.folder_concurrency {
        opts = opts.with_folder_concurrency(n);
    }
    if let Some(n) = args.batch_size {
        opts = opts.with_batch_size(n);
    }
    opts
}

/// Connects one plaintext loopback account.
async fn connect(args: &Args, user: &str, password: &str) -> Result<Imap> {
    let mut b = ImapBuilder::new()
        .with_host(args.host.clone())
        .with_port(args.port)
        .with_user(user)
        .with_password(password)
        .with_tls(Tls::Plaintext)
        .allow_plaintext(true);
    if let Some(n) = args.pool_size {
        b = b.with_pool_size(n);
    }
    if let Some(n) = args.fetch_batch {
        b = b.with_fetch_batch(n);
    }
    b.build().await
}

/// Escapes a string for a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the run's figures as one JSON object.
fn summary_json(report: &SyncReport, connect_s: f64, run_s: f64) -> String {
    let t = &report.totals;
    let incomplete: Vec<String> = report
        .folders
        .iter()
        .filter(|f| !f.complete)
        .map(|f| json_str(&f.source.to_string()))
        .collect();
    format!(
        "{{\"tool\":\"mailmigrate\",\"listed\":{},\"copied\":{},\"bytes\":{},\
         \"deduplicated\":{},\"flags_updated\":{},\"unchanged\":{},\"failed\":{},\
         \"folders\":{},\"incomplete\":[{}],\"connect_s\":{connect_s:.3},\"run_s\":{run_s:.3}}}",
        t.listed,
        t.copied,
        t.bytes,
        t.deduplicated,
        t.flags_updated,
        t.unchanged,
        t.failed,
        report.folders.len(),
        incomplete.join(","),
    )
}

/// Connects both sides, runs one engine pass and prints its figures.
async fn migrate(args: Args) -> Result<bool> {
    let password = std::env::var("BENCH_PASS").unwrap_or_else(|_| "benchpass".to_owned());
    let started = Instant::now();
    let (src, dst) = tokio::try_join!(
        connect(&args, &args.src, &password),
        connect(&args, &args.dst, &password)
    )?;
    let connect_s = started.elapsed().as_secs_f64();
    let state = SqliteState::open(&args.state)?;
    let engine = Engine::new(Arc::new(src), Arc::new(dst), Arc::new(state))
        .with_options(sync_options(&args));
    let t = Instant::now();
    let report = engine.run().await?;
    let run_s = t.elapsed().as_secs_f64();
    println!("{}", summary_json(&report, connect_s, run_s));
    if args.timing {
        for f in &report.folders {
            eprintln!("{} -> {}: {:?}", f.source, f.target, f.stats);
        }
    }
    for failure in &report.failures {
        eprintln!("failed {}: {}", failure.src_id, failure.message);
    }
    Ok(report.is_complete() && report.totals.failed == 0)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("imap_migrate: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("imap_migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(migrate(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("imap_migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parse_args_reads_every_option() {
        let a = args(&[
            "--host",
            "::1",
            "--port",
            "2143",
            "--src",
            "src1",
            "--dst",
            "dst2",
            "--state",
            "/tmp/s.sqlite",
            "--job",
            "j",
            "--folder-concurrency",
            "3",
            "--batch-size",
            "64",
            "--pool-size",
            "5",
            "--fetch-batch",
            "32",
            "--timing",
        ])
        .unwrap();
        assert_eq!(a.host, "::1");
        assert_eq!(a.port, 2143);
        assert_eq!((a.src.as_str(), a.dst.as_str()), ("src1", "dst2"));
        assert_eq!(a.state, "/tmp/s.sqlite");
        assert_eq!(a.job, "j");
        assert_eq!(a.folder_concurrency, Some(3));
        assert_eq!(a.batch_size, Some(64));
        assert_eq!(a.pool_size, Some(5));
        assert_eq!(a.fetch_batch, Some(32));
        assert!(a.timing);
        let opts = sync_options(&a);
        assert_eq!(opts.folder_concurrency, 3);
        assert_eq!(opts.batch_size, 64);
        assert_eq!(opts.job, "j");
    }

    #[test]
    fn parse_args_rejects_missing_and_bad_values() {
        let err = args(&["--src", "a", "--dst", "b"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.to_string().contains("--state"));
        let err = args(&[
            "--src",
            "a",
            "--dst",
            "b",
            "--state",
            "s",
            "--pool-size",
            "0",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--pool-size"));
        let err = args(&["--port", "x"]).unwrap_err();
        assert!(err.to_string().contains("--port"));
        let err = args(&["--bogus", "1"]).unwrap_err();
        assert!(err.to_string().contains("--bogus"));
        let err = args(&["--src"]).unwrap_err();
        assert!(err.to_string().contains("needs a value"));
    }

    #[test]
    fn defaults_leave_engine_options_alone() {
        let a = args(&["--src", "a", "--dst", "b", "--state", "s"]).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 10143));
        let opts = sync_options(&a);
        let default = SyncOptions::new("bench");
        assert_eq!(opts, default);
    }

    #[test]
    fn json_str_escapes_quotes_backslashes_and_controls() {
        assert_eq!(json_str("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
        assert_eq!(json_str("Entwürfe & Notizen"), "\"Entwürfe & Notizen\"");
    }
}
