//! `migrate`: the mailmigrate command-line tool.
//!
//! With no arguments it runs the bundled demo: it generates a demo mailbox (once) under
//! `target/mailmigrate-demo/`, migrates it into a Maildir there with its state in
//! `state.sqlite`, and prints the sync and verification reports. Run it again and it
//! moves nothing.
//!
//! With `--config job.toml` it runs a real job between local stores (see
//! `mailmigrate_examples::config` for the file format).
//!
//! ```text
//! cargo run --release -p mailmigrate-examples --bin migrate
//! cargo run --release -p mailmigrate-examples --bin migrate -- --config job.toml --dry-run
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::Result;
use mailmigrate_examples::config::JobConfig;
use mailmigrate_examples::progress::Progress;
use mailmigrate_examples::run::{self, DemoPaths, Outcome, EXIT_ERROR};
use mailmigrate_examples::{demo, stores};

const EXIT_CODES: &str = "\
Exit codes:
  0  the run completed and verification passed (the demo tolerates its planted malformed messages)
  1  the job could not start: bad config, unknown scheme, unreadable store or state
  2  some folder stopped early; run again to resume from its checkpoint
  3  the run completed but some messages failed (listed in the report)
  4  verification found a migrated message missing or different at the destination";

/// Moves whole mailboxes between stores without losing or duplicating anything.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXIT_CODES)]
struct Cli {
    /// A TOML job file; without it the bundled demo runs.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Plan and count, but write nothing and store no checkpoint.
    #[arg(long)]
    dry_run: bool,
    /// The job's name in the state store (default: `name` in the file, else its stem).
    #[arg(long, value_name = "NAME")]
    job: Option<String>,
    /// The state file (default: `state` in the file, else next to the file).
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Where the demo keeps its files.
    #[arg(long, value_name = "DIR", default_value = "target/mailmigrate-demo")]
    demo_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    match &cli.config {
        Some(path) => run_config(&cli, path).await,
        None => run_demo(&cli).await,
    }
}

async fn run_demo(cli: &Cli) -> Result<u8> {
    let paths = DemoPaths::under(&cli.demo_dir);
    let state_path = cli.state.clone().unwrap_or_else(|| paths.state.clone());
    let source = stores::open_store(&paths.source_url()).await?;
    let dest = stores::open_store(&paths.dest_url()).await?;
    let state = stores::open_state(&state_path)?;
    let generated = run::ensure_demo_source(
        &source,
        Some(&paths.source),
        &paths.marker,
        demo::DEFAULT_SEED,
        demo::DEFAULT_COUNT,
    )
    .await?;
    if generated > 0 {
        println!(
            "Generated the demo mailbox: {generated} messages in {}",
            paths.source.display()
        );
    } else {
        println!("Using the demo mailbox in {}", paths.source.display());
    }
    println!(
        "Migrating into {} (state: {})",
        paths.dest.display(),
        state_path.display()
    );
    let job = cli.job.clone().unwrap_or_else(|| "demo".to_owned());
    let options = SyncOptions::new(job).with_dry_run(cli.dry_run);
    let outcome = execute(source, dest, state, options).await?;
    let expected = run::demo_expected_failures(demo::DEFAULT_COUNT, true);
    if !outcome.report.failures.is_empty() && outcome.exit_code(expected) == run::EXIT_OK {
        println!(
            "The {expected} failures above are the demo's deliberately malformed messages; \
             everything else went through."
        );
    }
    Ok(outcome.exit_code(expected))
}

async fn run_config(cli: &Cli, path: &std::path::Path) -> Result<u8> {
    let config = JobConfig::load(path)?;
    let job = config.job_name(cli.job.as_deref(), Some(path));
    let options = config.sync_options(&job, cli.dry_run)?;
    let state_path = cli
        .state
        .clone()
        .or_else(|| {
            config.state.as_ref().map(|s| match path.parent() {
                Some(dir) if s.is_relative() => dir.join(s),
                _ => s.clone(),
            })
        })
        .unwrap_or_else(|| path.with_file_name("mailmigrate-state.sqlite"));
    let source = stores::open_store(&config.source).await?;
    let dest = stores::open_store(&config.destination).await?;
    let state = stores::open_state(&state_path)?;
    println!(
        "Job {job:?}: {} -> {} (state: {})",
        config.source,
        config.destination,
        state_path.display()
    );
    let outcome = execute(source, dest, state, options).await?;
    Ok(outcome.exit_code(0))
}

async fn execute(
    source: std::sync::Arc<dyn mailmigrate_core::Store>,
    dest: std::sync::Arc<dyn mailmigrate_core::Store>,
    state: std::sync::Arc<dyn mailmigrate_core::state::StateStore>,
    options: SyncOptions,
) -> Result<Outcome> {
    let dry_run = options.dry_run;
    let progress = Progress::stdout();
    let outcome = run::run_job(source, dest, state, options, progress.sink()).await;
    progress.finish();
    let outcome = outcome?;
    if dry_run {
        println!("\nFolder plan:\n{}", outcome.plan);
    }
    println!("\nSync report:\n{}", outcome.report);
    if let Some(v) = &outcome.verification {
        println!("Verification report:\n{v}");
    }
    Ok(outcome)
}
