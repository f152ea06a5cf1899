//! The validation's other checks: a send-and-receive probe through each destination's
//! submission path (the campaign file's `[probe]` table), and the permissions review of
//! delegations, source against destination (`[inventory] destination_accounts`).

use std::time::Duration;

use mailmigrate_core::campaign::permissions::review_permissions;
use mailmigrate_core::campaign::probe::{probe_mailbox, ProbeMessage, ProbeOptions, ProbeResult};
use mailmigrate_core::campaign::report::PermissionReview;
use mailmigrate_core::directory::{Directory, FileDirectory};
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use mailmigrate_imap::{SmtpSubmission, Tls};
use serde::{Deserialize, Serialize};

use super::open::Campaign;

/// The campaign file's `[probe]` table.
///
/// ```toml
/// [probe]
/// submission = "smtp://smtp.new.example:587"   # STARTTLS; smtps:// implicit TLS; lmtp:// plain, loopback
/// from = "migration-probe@new.example"
/// user = "probe@new.example"                    # optional AUTH PLAIN, with…
/// password_env = "PROBE_PASSWORD"               # …the password from this variable
/// timeout = 120                                 # seconds to wait for the delivery
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// `smtp://HOST:PORT` (STARTTLS), `smtps://HOST:PORT` (implicit TLS) or
    /// `lmtp://HOST:PORT` (plaintext, for a local delivery agent).
    pub submission: String,
    /// The probe's sender.
    pub from: String,
    /// The submission login, if it needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The variable holding its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Seconds to wait for the probe to arrive (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl ProbeSettings {
    fn submission(&self) -> Result<SmtpSubmission> {
        let invalid = |msg: &str| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("[probe] submission: {msg}"),
            )
            .with_operation(Operation::Build)
        };
        let (scheme, rest) = self
            .submission
            .split_once("://")
            .ok_or_else(|| invalid("a URL such as smtp://smtp.new.example:587"))?;
        let (host, port) = rest.trim_end_matches('/').rsplit_once(':').map_or(
            Ok((rest.trim_end_matches('/'), None)),
            |(h, p)| {
                p.parse::<u16>()
                    .map(|p| (h, Some(p)))
                    .map_err(|_| invalid("the port is not a number"))
            },
        )?;
        let mut s = match scheme {
            "smtp" => SmtpSubmission::new(host, port.unwrap_or(587)),
            "smtps" => SmtpSubmission::new(host, port.unwrap_or(465)).with_tls(Tls::Implicit),
            "lmtp" => SmtpSubmission::lmtp(host, port.unwrap_or(24)),
            _ => return Err(invalid("the scheme is smtp, smtps or lmtp")),
        };
        if let Some(user) = &self.user {
            let var = self
                .password_env
                .as_deref()
                .unwrap_or("MAILMIGRATE_PROBE_PASSWORD");
            let password = std::env::var(var).map_err(|_| {
                invalid(&format!(
                    "set the submission password in the environment variable {var}"
                ))
            })?;
            s = s.with_credentials(user, password);
        }
        Ok(s)
    }
}

/// Probes every mailbox of the campaign, one after another: a message submitted for its
/// destination address, looked for in the destination's inbox; `None` without `[probe]`.
///
/// # Errors
/// `ConfigInvalid` for a bad `[probe]` table (each mailbox's own problem is in its result).
pub async fn probe_all(campaign: &Campaign) -> Result<Option<Vec<ProbeResult>>> {
    let Some(settings) = &campaign.file.probe else {
        return Ok(None);
    };
    let submission = settings.submission()?;
    let options = ProbeOptions::default()
        .with_timeout(Duration::from_secs(settings.timeout.unwrap_or(120)))
        .with_poll_interval(Duration::from_millis(500));
    let mut out = Vec::new();
    for pair in campaign.plan.pairs() {
        let message = ProbeMessage::new(campaign.plan.name(), &settings.from, &pair.destination);
        let result = match campaign.stores.open_mail(pair, false).await {
            Ok((_, dest)) => probe_mailbox(&submission, &*dest, &message, &options).await,
            Err(e) => ProbeResult::not_sent(&message, e.to_string()),
        };
        out.push(result);
    }
    Ok(Some(out))
}

/// The permissions review against the destination's inventory
/// (`[inventory] destination_accounts`); `None` without one.
///
/// # Errors
/// The destination account file's errors.
pub async fn review(campaign: &Campaign) -> Result<Option<PermissionReview>> {
    let Some(file) = &campaign.file.inventory.destination_accounts else {
        return Ok(None);
    };
    let destination = FileDirectory::open(campaign.file.dir().join(file))?
        .inventory()
        .await?;
    Ok(Some(review_permissions(
        &campaign.inventory,
        &destination,
        &campaign.plan,
    )))
}
