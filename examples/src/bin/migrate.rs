//! `migrate`: the mailmigrate command-line tool.
//!
//! With no arguments it runs the bundled demo campaign: six generated mailboxes (mail,
//! contacts, calendars) under `target/mailmigrate-demo/campaign/` moved by a staged
//! campaign — inventory, plan, backups, the pilot and two batches, the switch, validation
//! and the HTML report, whose path ends the output. Run it again and it moves nothing.
//! `mailbox-demo` is the single-mailbox demo (a pass, its check, `verify`).
//!
//! The campaign steps (`inventory`, `plan`, `run`, `delta`, `switch`, `status`,
//! `validate`, `dns`, `report`, `pause`, `resume`, `retry-failed`) work over one campaign
//! file (`--campaign FILE`; see `mailmigrate_examples::campaign`), each with `--json` and
//! a log file of its run beside the campaign's state.
//!
//! With `--config job.toml` it runs a real job between stores (see
//! `mailmigrate_examples::config` for the file format).
//!
//! Every pass ends with a check that costs what changed: the copies it wrote are read back
//! from the destination, and each destination folder's message count is compared with its
//! source's (metadata only, no bodies). `migrate verify` is the full comparison, its own
//! step: it reads both mailboxes in full and writes nothing.
//!
//! The exit code says what to do next (`mailmigrate_examples::verdict` holds the table).
//!
//! ```text
//! cargo run --release -p mailmigrate-examples --bin migrate
//! cargo run --release -p mailmigrate-examples --bin migrate -- run --campaign acme.toml
//! cargo run --release -p mailmigrate-examples --bin migrate -- --config job.toml --dry-run
//! cargo run --release -p mailmigrate-examples --bin migrate -- verify --config job.toml
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::state::StateStore;
use mailmigrate_core::{Result, Store};
use mailmigrate_examples::config::JobConfig;
use mailmigrate_examples::progress::Progress;
use mailmigrate_examples::run::{self, DemoPaths};
use mailmigrate_examples::verdict::{self, Findings, EXIT_ERROR};
use mailmigrate_examples::{campaign, demo, pim_demo, pim_stores, stores};

/// Moves whole mailboxes between stores without losing or duplicating anything.
///
/// A pass checks what it wrote (read back from the destination) and compares folder
/// counts; `migrate verify` compares every message.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    job: JobArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare every message of the job's folders, source against destination (reads both
    /// mailboxes in full, writes nothing); recorded failures are named, not missing.
    Verify,
    /// The single-mailbox demo: a generated mailbox into a Maildir, contacts and calendars
    /// beside it (what `--config` jobs do, without a file).
    MailboxDemo,
    /// Campaign: the accounts, each mailbox's folders and volume, and the preflight of what
    /// the destination would refuse (writes inventory.json, inventory.csv, preflight.csv).
    Inventory {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// Read every message's headers (finds missing Message-ID, Date, From).
        #[arg(long)]
        headers: bool,
    },
    /// Campaign: the validated plan, every mailbox pair by batch.
    Plan(CampaignArgs),
    /// Campaign: the manifest of every backup made (counts, digests) written beside the
    /// report, and with --verify each backup read again and compared with its manifest.
    Backup {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// Read every backup and compare it with its manifest.
        #[arg(long)]
        verify: bool,
    },
    /// Campaign: restore one mailbox from its backup into a store (a URL template).
    Restore {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// The mailbox (its source address).
        #[arg(long)]
        mailbox: String,
        /// Where to restore it: a store URL, e.g. the source's template.
        #[arg(long, value_name = "URL")]
        into: String,
    },
    /// Campaign: back up and copy every mailbox whose batch may start (the pilot first).
    Run(CampaignArgs),
    /// Campaign: one more pass on every synced mailbox (coexistence, catch-up).
    Delta {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// Keep going: a pass every coexistence interval of the plan (or every
        /// --interval), until no mailbox is left synced or the process is stopped.
        #[arg(long)]
        repeat: bool,
        /// The time between two passes with --repeat, in seconds (default: the plan's
        /// coexistence interval, else an hour).
        #[arg(long, value_name = "SECONDS")]
        interval: Option<u64>,
    },
    /// Campaign: the batches were switched (MX moved); a grace-period pass, and validation
    /// once the grace period is over. Without batches: every batch.
    Switch {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// The batches switched.
        batches: Vec<String>,
    },
    /// Campaign: where every batch and mailbox stands.
    Status(CampaignArgs),
    /// Campaign: compare every mailbox in full, mail and contacts and calendars.
    Validate(CampaignArgs),
    /// Campaign: the DNS records of each domain against the planned switch (the file's
    /// `[dns]` table): TTLs to lower and by when, MX at the destination, old TTLs expired.
    Dns(CampaignArgs),
    /// Campaign: write the HTML report and its JSON (with each mailbox's validation unless
    /// --no-verify).
    Report {
        #[command(flatten)]
        campaign: CampaignArgs,
        /// Leave out the full comparison of every mailbox.
        #[arg(long)]
        no_verify: bool,
    },
    /// Campaign: stop starting new steps until `resume`.
    Pause(CampaignArgs),
    /// Campaign: carry on after `pause`.
    Resume(CampaignArgs),
    /// Campaign: queue every failed mailbox again and run it.
    RetryFailed(CampaignArgs),
}

/// The campaign a step works on.
#[derive(Debug, Args)]
struct CampaignArgs {
    /// The campaign file (default: the bundled demo campaign under --demo-dir).
    #[arg(long, value_name = "FILE")]
    campaign: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JobArgs {
    /// A TOML job file; without it the bundled demo runs.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Plan and count, but write nothing and store no checkpoint.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Write again the writes of unknown outcome that the destination cannot look up
    /// (exit 5 says when there are some): check first whether they arrived, since each is
    /// written again.
    #[arg(long, global = true)]
    rewrite_uncheckable: bool,
    /// The job's name in the state store (default: `name` in the file, else its stem).
    #[arg(long, value_name = "NAME", global = true)]
    job: Option<String>,
    /// The state file (default: `state` in the file, else next to the file).
    #[arg(long, value_name = "PATH", global = true)]
    state: Option<PathBuf>,
    /// Where the demo keeps its files.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "target/mailmigrate-demo",
        global = true
    )]
    demo_dir: PathBuf,
}

/// Parses the command line; usage errors exit with [`EXIT_ERROR`], help and version with 0.
fn parse() -> std::result::Result<Cli, u8> {
    let command = Cli::command().after_help(verdict::exit_code_help());
    match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => Ok(cli),
        Err(e) => {
            let _ = e.print();
            Err(if e.use_stderr() { EXIT_ERROR } else { 0 })
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
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

/// A job ready to run: its stores, state, options, and the failures it tolerates.
struct Job {
    source: Arc<dyn Store>,
    dest: Arc<dyn Store>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
    tolerated: usize,
}

async fn run(cli: Cli) -> Result<u8> {
    if let Some(code) = campaign_step(&cli).await? {
        return Ok(code);
    }
    if cli.command.is_none() && cli.job.config.is_none() {
        return campaign_demo(&cli.job.demo_dir).await;
    }
    let _ = mailmigrate_examples::logging::init(None, "job");
    let verify = matches!(cli.command, Some(Command::Verify));
    let job = match &cli.job.config {
        Some(path) => open_config(&cli.job, path).await?,
        None => open_demo(&cli.job, !verify).await?,
    };
    let state = Arc::clone(&job.state);
    let findings = if verify {
        verify_all(job).await?
    } else {
        pass(job).await?
    };
    let mut code = findings.exit_code();
    if let Some(path) = &cli.job.config {
        if !cli.job.dry_run {
            code = code.max(pim_job_pass(&cli.job, path, &*state, verify).await?);
        }
    } else if !cli.job.dry_run {
        let job_name = cli.job.job.clone().unwrap_or_else(|| "demo".to_owned());
        code = code.max(pim_demo_pass(&cli.job.demo_dir, &*state, &job_name, verify).await?);
    }
    print!("\n{findings}");
    Ok(code)
}

/// Runs a campaign step, if the command is one; `None` for the job commands.
async fn campaign_step(cli: &Cli) -> Result<Option<u8>> {
    let (name, args) = match &cli.command {
        None | Some(Command::Verify | Command::MailboxDemo) => return Ok(None),
        Some(Command::Inventory { campaign, .. }) => ("inventory", campaign),
        Some(Command::Plan(a)) => ("plan", a),
        Some(Command::Backup { campaign, .. }) => ("backup", campaign),
        Some(Command::Restore { campaign, .. }) => ("restore", campaign),
        Some(Command::Run(a)) => ("run", a),
        Some(Command::Delta { campaign, .. }) => ("delta", campaign),
        Some(Command::Switch { campaign, .. }) => ("switch", campaign),
        Some(Command::Status(a)) => ("status", a),
        Some(Command::Validate(a)) => ("validate", a),
        Some(Command::Report { campaign, .. }) => ("report", campaign),
        Some(Command::Dns(a)) => ("dns", a),
        Some(Command::Pause(a)) => ("pause", a),
        Some(Command::Resume(a)) => ("resume", a),
        Some(Command::RetryFailed(a)) => ("retry-failed", a),
    };
    let path = match &args.campaign {
        Some(p) => p.clone(),
        None => {
            campaign::ensure_demo_campaign(&cli.job.demo_dir.join("campaign"))
                .await?
                .0
        }
    };
    let file = campaign::CampaignFile::load(&path)?;
    let log = mailmigrate_examples::logging::init(Some(&file.log_dir()), name)
        .map_err(mailmigrate_core::Error::from)?;
    let c = campaign::Campaign::from_file(file).await?;
    let quiet = args.json;
    let out = match &cli.command {
        Some(Command::Inventory { headers, .. }) => campaign::inventory(&c, *headers).await?,
        Some(Command::Plan(_)) => campaign::plan(&c),
        Some(Command::Backup { verify, .. }) => campaign::backup(&c, *verify).await?,
        Some(Command::Restore { mailbox, into, .. }) => {
            campaign::restore(&c, mailbox, into).await?
        }
        Some(Command::Run(_)) => campaign::run(&c, quiet).await?,
        Some(Command::Delta {
            repeat: true,
            interval,
            ..
        }) => repeat_delta(&c, *interval, args.json).await?,
        Some(Command::Delta { .. }) => campaign::delta(&c, quiet).await?,
        Some(Command::Switch { batches, .. }) => campaign::switch(&c, batches, quiet).await?,
        Some(Command::Status(_)) => campaign::status(&c).await?,
        Some(Command::Validate(_)) => campaign::validate(&c).await?,
        Some(Command::Dns(_)) => campaign::dns(&c).await?,
        Some(Command::Report { no_verify, .. }) => campaign::report(&c, None, !no_verify).await?,
        Some(Command::Pause(_)) => campaign::pause(&c, true).await?,
        Some(Command::Resume(_)) => campaign::pause(&c, false).await?,
        Some(Command::RetryFailed(_)) => campaign::retry_failed(&c, quiet).await?,
        _ => unreachable!("only campaign steps get here"),
    };
    out.log(name);
    println!("{}", out.render(args.json));
    if let (Some(log), false) = (log, args.json) {
        println!("Log: {}", log.display());
    }
    Ok(Some(out.code))
}

/// Delta passes on the coexistence interval until no mailbox is left synced (all switched,
/// validated or failed); each pass is printed as it ends. Returns the last pass's outcome.
async fn repeat_delta(
    c: &campaign::Campaign,
    interval: Option<u64>,
    json: bool,
) -> Result<campaign::StepOutput> {
    use mailmigrate_core::campaign::Strategy;
    let every =
        interval
            .map(std::time::Duration::from_secs)
            .unwrap_or(match c.plan.plan().strategy {
                Strategy::Coexistence { interval } => interval,
                _ => std::time::Duration::from_secs(3600),
            });
    loop {
        let out = campaign::delta(c, json).await?;
        let synced = out.json["status"]["mailboxes"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["stage"] == "synced").count());
        if synced == 0 {
            return Ok(out);
        }
        out.log("delta");
        println!("{}", out.render(json));
        println!(
            "Next delta pass in {} s ({synced} mailboxes in coexistence)",
            every.as_secs()
        );
        tokio::time::sleep(every).await;
    }
}

/// The bundled demo: a generated staged campaign of six mailboxes on local stores —
/// inventory, the pilot and two batches (backed up first), the switch, validation.
async fn campaign_demo(root: &std::path::Path) -> Result<u8> {
    let root = root.join("campaign");
    let (path, generated) = campaign::ensure_demo_campaign(&root).await?;
    if generated > 0 {
        println!(
            "Generated the demo campaign: {} mailboxes, {generated} messages, with address books and calendars, in {}",
            campaign::DEMO_MAILBOXES.len(),
            root.display()
        );
    } else {
        println!("Using the demo campaign in {}", root.display());
    }
    let file = campaign::CampaignFile::load(&path)?;
    let log = mailmigrate_examples::logging::init(Some(&file.log_dir()), "demo")
        .map_err(mailmigrate_core::Error::from)?;
    let c = campaign::Campaign::from_file(file).await?;
    let mut code = 0;
    let mut show = |title: &str, out: campaign::StepOutput| {
        out.log(title);
        println!("\n== {title} ==\n{}", out.render(false));
        code = code.max(out.code);
    };
    show(
        "1. Inventory and preflight",
        campaign::inventory(&c, false).await?,
    );
    show("2. Plan", campaign::plan(&c));
    show(
        "3. Backup and copy: the pilot, then each batch",
        campaign::run(&c, false).await?,
    );
    show(
        "4. Switch every batch and validate it (the demo's grace period is 0)",
        campaign::switch(&c, &[], false).await?,
    );
    let validation = campaign::validate_all(&c).await?;
    show(
        "5. Full validation: every message, contact and event",
        campaign::validation_output(&c, &validation),
    );
    let report = campaign::report(&c, Some(validation), true).await?;
    let html = report.json["html"].as_str().unwrap_or_default().to_owned();
    show("6. Report", report);
    let status = campaign::status(&c).await?;
    let counts = status.json["mailboxes"].as_array().map_or(0, Vec::len);
    println!(
        "\nResult: {}",
        if code == 0 {
            format!("campaign complete: {counts} mailboxes validated (exit 0)")
        } else {
            format!("campaign not complete (exit {code}): see above")
        }
    );
    if let Some(log) = log {
        println!("Log: {}", log.display());
    }
    println!("Report: {html}");
    Ok(code)
}

/// The demo's contacts and calendars: generated once, migrated beside the mail into a
/// backup directory, verified property by property.
async fn pim_demo_pass(
    root: &std::path::Path,
    state: &dyn StateStore,
    job: &str,
    verify: bool,
) -> Result<u8> {
    let (source, generated) =
        pim_demo::ensure_demo_pim(&root.join("source-pim"), &root.join("source-pim.complete"))
            .await?;
    if generated > 0 {
        println!("\nGenerated the demo address book and calendar: {generated} items");
    }
    let dest = mailmigrate_core::pim::VdirStore::open(root.join("pim"))?;
    let out = pim_demo::run_pim(&source, &dest, state, job, verify).await?;
    println!(
        "\nContacts and calendars ({} -> {}):\n{out}",
        root.join("source-pim").display(),
        root.join("pim").display()
    );
    Ok(out.exit_code())
}

/// The job file's `[pim]` table, when it has one: its contacts and calendars migrated
/// (unless `verify`) and verified property by property, in the job's state.
async fn pim_job_pass(
    args: &JobArgs,
    path: &std::path::Path,
    state: &dyn StateStore,
    verify: bool,
) -> Result<u8> {
    let config = JobConfig::load(path)?;
    let Some(pim) = &config.pim else {
        return Ok(0);
    };
    let job = config.job_name(args.job.as_deref(), Some(path));
    let (source, dest) = tokio::try_join!(
        pim_stores::open_pim_store(&pim.source),
        pim_stores::open_pim_store(&pim.destination)
    )?;
    let out = pim_demo::run_pim_with(&*source, &*dest, state, &job, pim.options(), verify).await?;
    println!(
        "\nContacts and calendars ({} -> {}):\n{out}",
        pim.source, pim.destination
    );
    Ok(out.exit_code())
}

async fn open_demo(args: &JobArgs, generate: bool) -> Result<Job> {
    let paths = DemoPaths::under(&args.demo_dir);
    let state_path = args.state.clone().unwrap_or_else(|| paths.state.clone());
    let source = stores::open_store(&paths.source_url()).await?;
    let dest = stores::open_destination(&paths.dest_url()).await?;
    let state = stores::open_state(&state_path)?;
    let generated = if generate {
        run::ensure_demo_source(
            &source,
            Some(&paths.source),
            &paths.marker,
            demo::DEFAULT_SEED,
            demo::DEFAULT_COUNT,
        )
        .await?
    } else {
        0
    };
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
    let job = args.job.clone().unwrap_or_else(|| "demo".to_owned());
    Ok(Job {
        source,
        dest,
        state,
        options: SyncOptions::new(job)
            .with_dry_run(args.dry_run)
            .with_rewrite_uncheckable(args.rewrite_uncheckable),
        tolerated: run::demo_expected_failures(demo::DEFAULT_COUNT, true),
    })
}

async fn open_config(args: &JobArgs, path: &std::path::Path) -> Result<Job> {
    let config = JobConfig::load(path)?;
    let job = config.job_name(args.job.as_deref(), Some(path));
    let options = config
        .sync_options(&job, args.dry_run)?
        .with_rewrite_uncheckable(args.rewrite_uncheckable);
    let state_path = args
        .state
        .clone()
        .or_else(|| {
            config.state.as_ref().map(|s| match path.parent() {
                Some(dir) if s.is_relative() => dir.join(s),
                _ => s.clone(),
            })
        })
        .unwrap_or_else(|| path.with_file_name("mailmigrate-state.sqlite"));
    // Both logins at once: a pass that has nothing to do is mostly connection set-up.
    let (source, dest) = tokio::try_join!(
        stores::open_store(&config.source),
        stores::open_destination(&config.destination)
    )?;
    let state = stores::open_state(&state_path)?;
    println!(
        "Job {job:?}: {} -> {} (state: {})",
        config.source,
        config.destination,
        state_path.display()
    );
    for note in stores::storage_notes(&dest.info().capabilities) {
        println!("Note: {note}");
    }
    Ok(Job {
        source,
        dest,
        state,
        options,
        tolerated: 0,
    })
}

/// One pass: run, check what it wrote, report.
async fn pass(job: Job) -> Result<Findings> {
    let dry_run = job.options.dry_run;
    let progress = Progress::stdout();
    let outcome = run::run_job(
        job.source,
        job.dest,
        job.state,
        job.options,
        progress.sink(),
    )
    .await;
    progress.finish();
    let outcome = outcome?;
    if dry_run {
        println!("\nFolder plan:\n{}", outcome.plan);
    }
    println!("\nSync report:\n{}", outcome.report);
    if let Some(check) = &outcome.check {
        println!("Check of this pass:\n{check}");
    }
    Ok(outcome.findings(job.tolerated))
}

/// The full comparison, its own step.
async fn verify_all(job: Job) -> Result<Findings> {
    let out = run::verify_job(job.source, job.dest, job.state, job.options).await?;
    println!(
        "\nFull verification (every message, both sides):\n{}",
        out.verification.report.to_text_body()
    );
    if out.verification.pending > 0 {
        println!(
            "{} writes are still pending in the ledger: run a pass first.",
            out.verification.pending
        );
    }
    if !out.failures.is_empty() {
        println!("Recorded failures:");
        for f in &out.failures {
            let how = if f.final_for_item {
                "refused for good"
            } else {
                "retried on the next pass"
            };
            println!("  {how}: {}", f.message);
        }
    }
    Ok(out.findings(job.tolerated))
}
