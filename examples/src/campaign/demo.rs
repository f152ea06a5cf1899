//! The bundled campaign demo: six generated mailboxes (mail, an address book, a calendar)
//! moved by a staged campaign — a pilot, then two batches — between local Maildir and
//! vCard/iCalendar stores, with backups, a switch, validation and the report. No server
//! needed; run it again and it moves nothing.

use std::path::{Path, PathBuf};

use mailmigrate_core::{Error, Result};

use crate::{demo, pim_demo, run, stores};

/// The demo's mailboxes: (address, display name, batch).
pub const DEMO_MAILBOXES: [(&str, &str, &str); 6] = [
    ("ann@old.example", "Ann Archer", "pilot"),
    ("bo@old.example", "Bo Baker", "sales"),
    ("cy@old.example", "Cy Carter", "sales"),
    ("dee@old.example", "Dee Dunn", "everyone"),
    ("ed@old.example", "Ed Evans", "everyone"),
    ("flo@old.example", "Flo Fisher", "everyone"),
];

/// Messages generated per demo mailbox.
pub const DEMO_MESSAGES_PER_MAILBOX: usize = 250;

/// The campaign file of the demo (`{dir}` is its directory).
pub const DEMO_CAMPAIGN: &str = r#"# The demo campaign: old.example moves to new.example in three batches.
state = "campaign.sqlite"
report = "report"
logs = "logs"

[inventory]
accounts = "accounts.csv"

[stores]
source = "maildir://{dir}/old/{mailbox}"
destination = "maildir://{dir}/new/{destination}"
contacts_source = "vdir://{dir}/old-pim/{mailbox}"
contacts_destination = "vdir://{dir}/new-pim/{destination}"
contacts_backup = "vdir://{dir}/backup-pim/{mailbox}"

[plan]
name = "demo"
strategy = { kind = "staged" }
grace_period = "0s"
backup = { url = "maildir://{dir}/backup/{mailbox}" }
addresses = { rewrites = [{ from = "old.example", to = "new.example" }] }
limits = { mailboxes_in_parallel = 3 }

[[plan.batches]]
name = "pilot"
pilot = true
members = ["ann@old.example"]

[[plan.batches]]
name = "sales"
members = ["bo@old.example", "cy@old.example"]

[[plan.batches]]
name = "everyone"
members = ["dee@old.example", "ed@old.example", "flo@old.example"]
"#;

/// Writes the demo campaign under `root` (once) and generates its source mailboxes,
/// address books and calendars (once each; marker files say they are complete). Returns
/// the campaign file's path and how many messages were generated now.
///
/// # Errors
/// I/O and store errors.
pub async fn ensure_demo_campaign(root: &Path) -> Result<(PathBuf, usize)> {
    std::fs::create_dir_all(root).map_err(Error::from)?;
    let file = root.join("campaign.toml");
    if !file.exists() {
        std::fs::write(&file, DEMO_CAMPAIGN).map_err(Error::from)?;
    }
    let accounts = root.join("accounts.csv");
    if !accounts.exists() {
        let mut csv = String::from("address,name\n");
        for (address, name, _) in DEMO_MAILBOXES {
            csv.push_str(&format!("{address},{name}\n"));
        }
        std::fs::write(&accounts, csv).map_err(Error::from)?;
    }
    let mut generated = 0;
    for (i, (address, _, _)) in DEMO_MAILBOXES.iter().enumerate() {
        let dir = root.join("old").join(address);
        let store = stores::open_store(&format!("maildir://{}", dir.display())).await?;
        let marker = root.join("old").join(format!("{address}.complete"));
        generated += run::ensure_demo_source(
            &store,
            Some(&dir),
            &marker,
            demo::DEFAULT_SEED + i as u64,
            DEMO_MESSAGES_PER_MAILBOX,
        )
        .await?;
        let pim = root.join("old-pim").join(address);
        let pim_marker = root.join("old-pim").join(format!("{address}.complete"));
        pim_demo::ensure_demo_pim(&pim, &pim_marker).await?;
    }
    Ok((file, generated))
}
