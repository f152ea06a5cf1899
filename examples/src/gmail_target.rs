//! `gmail://` URLs: a Google Workspace user's mailbox (and, under `[pim]`, calendars and
//! contacts) through the Gmail, Calendar and People APIs.

use std::path::PathBuf;
use std::time::Duration;

use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use mailmigrate_gmail::{
    Gmail, GmailBuilder, GmailLimits, GooglePim, GooglePimBuilder, ServiceAccountKey,
};

use crate::stores::{percent_decode, redact};

/// How a `gmail://` URL signs in. Only where the secrets are is kept: the secrets
/// themselves are read when connecting, from a file or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GmailSignIn {
    /// A service account with domain-wide delegation, acting for the URL's user (the
    /// assertion's subject): its JSON key in a file.
    KeyFile(PathBuf),
    /// A service account with domain-wide delegation, its JSON key (the file's contents)
    /// in an environment variable.
    KeyEnv(String),
    /// The user's own refresh token, issued to an OAuth client (installed app).
    RefreshToken {
        /// The OAuth client id.
        client_id: String,
        /// The environment variable holding the client secret.
        secret_env: String,
        /// The environment variable holding the refresh token.
        refresh_env: String,
    },
}

/// Where a `gmail://` URL points: one user of a Google Workspace domain (or a consumer
/// Gmail account, by refresh token), and how to sign in.
///
/// `gmail://USER@DOMAIN?key_file=PATH` — the user's address (`@` as is or `%40`). The
/// sign-in is chosen by the parameters:
/// - `key_file=PATH` or `key_env=VAR`: a service account's JSON key (in a file, or the
///   whole JSON in an environment variable) with domain-wide delegation, acting for the
///   user; its token endpoint is the key's `token_uri`;
/// - `client_id=ID`, `secret_env=VAR` (default `MAILMIGRATE_GMAIL_CLIENT_SECRET`) and
///   `refresh_env=VAR` (default `MAILMIGRATE_GMAIL_REFRESH_TOKEN`): the user's refresh
///   token of an installed-app OAuth client, exchanged at `token_url`.
///
/// Other parameters: `api_url` (the Google API root, percent-encoded: the Gmail API's and,
/// unless `calendar_url` / `people_url` say otherwise, the Calendar and People APIs' — the
/// emulator serves all three at one root), `token_url` (Google's token endpoint by
/// default), `calendar_url`, `people_url`, `quota_units=N` (the project's per-user quota
/// units a minute: 6,000 for projects created since 2026-05-01, 15,000 for older ones, see
/// [`GmailLimits`]), `concurrency=N` (requests in flight per user), `tls=plaintext`
/// (admits `http://` roots on a loopback address only: the emulator). Secrets never
/// appear in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GmailTarget {
    /// The user's address.
    pub user: String,
    /// How to sign in.
    pub sign_in: GmailSignIn,
    /// The Google API root, when not Google's.
    pub api_url: Option<String>,
    /// The token endpoint of the refresh-token grant, when not Google's.
    pub token_url: Option<String>,
    /// The Calendar API root, when neither Google's nor `api_url`.
    pub calendar_url: Option<String>,
    /// The People API root, when neither Google's nor `api_url`.
    pub people_url: Option<String>,
    /// Quota units a minute per user, when not the default 6,000.
    pub quota_units: Option<u64>,
    /// Requests in flight per user, when not the default.
    pub concurrency: Option<usize>,
    /// Whether `http://` loopback roots are admitted.
    pub plaintext: bool,
}

impl GmailTarget {
    /// Parses a `gmail://` URL.
    ///
    /// ```
    /// use mailmigrate_examples::gmail_target::{GmailSignIn, GmailTarget};
    /// let t = GmailTarget::parse_url("gmail://ada@example.com?key_file=/etc/mm/sa.json").unwrap();
    /// assert_eq!(t.user, "ada@example.com");
    /// assert_eq!(t.sign_in, GmailSignIn::KeyFile("/etc/mm/sa.json".into()));
    /// let t = GmailTarget::parse_url("gmail://ada%40example.com?client_id=app-1").unwrap();
    /// assert!(matches!(t.sign_in, GmailSignIn::RefreshToken { .. }));
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL, no sign-in or two, a secret in the URL, an
    /// unknown parameter, or `tls=plaintext` with a root that is not on a loopback address
    /// (the error never shows a secret).
    pub fn parse_url(url: &str) -> Result<Self> {
        let shown = redact(url);
        let invalid = |msg: &str| {
            Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
                .with_operation(Operation::Build)
                .with_context("url", &shown)
        };
        let rest = url
            .split_once("://")
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("gmail"))
            .map(|(_, rest)| rest)
            .ok_or_else(|| invalid("a Gmail URL looks like gmail://user@domain?key_file=…"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let user = percent_decode(authority.trim_end_matches('/'));
        if user.contains(':') || user.contains('/') {
            return Err(invalid(
                "the Gmail URL names a user's address only, and no secret in it",
            ));
        }
        match user.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
            _ => {
                return Err(invalid(
                    "the Gmail URL needs the user's address (gmail://user@domain)",
                ))
            }
        }
        let mut key_file = None;
        let mut key_env = None;
        let mut client_id = None;
        let mut secret_env = None;
        let mut refresh_env = None;
        let mut target = Self {
            user,
            sign_in: GmailSignIn::KeyEnv(String::new()),
            api_url: None,
            token_url: None,
            calendar_url: None,
            people_url: None,
            quota_units: None,
            concurrency: None,
            plaintext: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "key_file" => key_file = Some(PathBuf::from(v)),
                "key_env" => key_env = Some(v),
                "client_id" => client_id = Some(v),
                "secret_env" => secret_env = Some(v),
                "refresh_env" => refresh_env = Some(v),
                "api_url" => target.api_url = Some(v),
                "token_url" => target.token_url = Some(v),
                "calendar_url" => target.calendar_url = Some(v),
                "people_url" => target.people_url = Some(v),
                "quota_units" => {
                    target.quota_units = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| invalid("quota_units is a positive number"))?,
                    );
                }
                "concurrency" => {
                    target.concurrency = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| invalid("concurrency is a positive number"))?,
                    );
                }
                "tls" if v == "plaintext" => target.plaintext = true,
                "tls" => return Err(invalid("tls takes only plaintext (for the emulator)")),
                _ => {
                    return Err(invalid(
                        "unknown Gmail URL parameter (known: key_file, key_env, client_id, \
                         secret_env, refresh_env, api_url, token_url, calendar_url, \
                         people_url, quota_units, concurrency, tls; secrets go in files or \
                         the environment, never in the URL)",
                    ))
                }
            }
        }
        let refresh_given = secret_env.is_some() || refresh_env.is_some();
        target.sign_in = match (key_file, key_env, client_id) {
            (Some(path), None, None) if !refresh_given => GmailSignIn::KeyFile(path),
            (None, Some(var), None) if !refresh_given => GmailSignIn::KeyEnv(var),
            (None, None, Some(client_id)) => GmailSignIn::RefreshToken {
                client_id,
                secret_env: secret_env.unwrap_or_else(|| "MAILMIGRATE_GMAIL_CLIENT_SECRET".into()),
                refresh_env: refresh_env
                    .unwrap_or_else(|| "MAILMIGRATE_GMAIL_REFRESH_TOKEN".into()),
            },
            (None, None, None) => {
                return Err(invalid(
                    "the Gmail URL needs a sign-in: key_file=PATH or key_env=VAR (a service \
                     account with domain-wide delegation), or client_id=ID with secret_env \
                     and refresh_env (a refresh token)",
                ))
            }
            _ => {
                return Err(invalid(
                    "the Gmail URL names two sign-ins: a service-account key (key_file or \
                     key_env) or a refresh token (client_id, secret_env, refresh_env)",
                ))
            }
        };
        if target.plaintext {
            let roots = [
                &target.api_url,
                &target.token_url,
                &target.calendar_url,
                &target.people_url,
            ];
            for url in roots.into_iter().flatten() {
                if url.starts_with("http://") && !is_loopback(url) {
                    return Err(invalid(
                        "tls=plaintext admits http:// on a loopback address only (the emulator)",
                    ));
                }
            }
        }
        Ok(target)
    }

    /// The Gmail builder of the user, its secrets read from their file or variables. No
    /// request is made yet.
    ///
    /// # Errors
    /// `ConfigInvalid` when a variable is unset, the key file cannot be read or is not a
    /// service account's key (the message names the file or variable, never its contents).
    pub fn builder(&self) -> Result<GmailBuilder> {
        let mut b = GmailBuilder::new(&self.user).allow_plaintext(self.plaintext);
        b = match &self.sign_in {
            GmailSignIn::KeyFile(path) => {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    self.config("cannot read the service account's key file")
                        .with_context("path", path.display())
                        .with_source(e)
                })?;
                b.with_service_account(&self.key(&json)?)
            }
            GmailSignIn::KeyEnv(var) => {
                let json = self.env(var, "the service account's JSON key")?;
                b.with_service_account(&self.key(&json)?)
            }
            GmailSignIn::RefreshToken {
                client_id,
                secret_env,
                refresh_env,
            } => {
                let secret = self.env(secret_env, "the OAuth client's secret")?;
                let refresh = self.env(refresh_env, "the user's refresh token")?;
                b.with_refresh_token(client_id, secret, refresh)
            }
        };
        if let Some(url) = &self.api_url {
            b = b.with_api_url(url).with_admin_url(url);
        }
        if let Some(url) = &self.token_url {
            b = b.with_token_url(url);
        }
        let mut limits = GmailLimits::default();
        if let Some(units) = self.quota_units {
            limits = limits.with_units(units, Duration::from_secs(60));
        }
        if let Some(n) = self.concurrency {
            limits = limits.with_concurrency(n);
        }
        Ok(b.with_limits(limits))
    }

    /// Builds the mailbox. No request is made yet.
    ///
    /// # Errors
    /// As [`builder`](Self::builder); `ConfigInvalid` for a root that is not `https://`
    /// without `tls=plaintext`.
    pub fn connect(&self) -> Result<Gmail> {
        self.builder()?.build()
    }

    /// Builds the user's calendars and contacts store. No request is made yet.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_pim(&self) -> Result<GooglePim> {
        let mut b = GooglePimBuilder::new(self.builder()?);
        if let Some(url) = self.calendar_url.as_ref().or(self.api_url.as_ref()) {
            b = b.with_calendar_url(url);
        }
        if let Some(url) = self.people_url.as_ref().or(self.api_url.as_ref()) {
            b = b.with_people_url(url);
        }
        b.build()
    }

    fn key(&self, json: &str) -> Result<ServiceAccountKey> {
        Ok(ServiceAccountKey::from_json(json)
            .map_err(|e| e.with_context("account", &self.user))?
            .allow_http_loopback(self.plaintext))
    }

    fn env(&self, var: &str, what: &str) -> Result<String> {
        std::env::var(var)
            .map_err(|_| self.config(&format!("set {what} in the environment variable {var}")))
    }

    fn config(&self, msg: &str) -> Error {
        Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
            .with_operation(Operation::Build)
            .with_context("account", &self.user)
    }
}

/// Whether an `http://` URL's host is a loopback address.
fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_urls_parse_and_refuse_secrets() {
        let t = GmailTarget::parse_url(
            "gmail://ada%40x.com?client_id=app&secret_env=S&refresh_env=R&tls=plaintext\
             &api_url=http%3A%2F%2F127.0.0.1%3A9&token_url=http%3A%2F%2F127.0.0.1%3A9%2Ftoken\
             &quota_units=15000&concurrency=4",
        )
        .unwrap();
        assert_eq!(t.user, "ada@x.com");
        assert_eq!(
            t.sign_in,
            GmailSignIn::RefreshToken {
                client_id: "app".into(),
                secret_env: "S".into(),
                refresh_env: "R".into()
            }
        );
        assert_eq!(t.api_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(t.token_url.as_deref(), Some("http://127.0.0.1:9/token"));
        assert_eq!((t.quota_units, t.concurrency), (Some(15_000), Some(4)));
        assert!(t.plaintext);
        let t = GmailTarget::parse_url("gmail://ada@x.com/?key_env=SA_JSON").unwrap();
        assert_eq!(t.sign_in, GmailSignIn::KeyEnv("SA_JSON".into()));
        for bad in [
            "gmail://ada@x.com",
            "gmail://x.com?key_file=k",
            "gmail://ada:secret@x.com?key_file=k",
            "gmail://ada@x.com?key_file=k&client_id=a",
            "gmail://ada@x.com?key_env=K&secret_env=S",
            "gmail://ada@x.com?client_id=a&client_secret=secret",
            "gmail://ada@x.com?client_id=a&refresh_token=secret",
            "gmail://ada@x.com?client_id=a&tls=none",
            "gmail://ada@x.com?client_id=a&quota_units=0",
            "gmail://ada@x.com?client_id=a&tls=plaintext&api_url=http%3A%2F%2Fexample.com",
            "graph://ada@x.com?client_id=a",
        ] {
            let e = GmailTarget::parse_url(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{bad}");
            assert!(!e.to_string().contains("secret@"), "{e}");
            assert!(!e.to_string().contains("=secret"), "{e}");
        }
    }

    #[test]
    fn loopback_hosts_are_told_apart() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost"));
        assert!(is_loopback("http://[::1]:9/"));
        assert!(!is_loopback("http://10.0.0.1:9/"));
        assert!(!is_loopback("http://127.0.0.1.example.com/"));
    }

    #[test]
    fn missing_secrets_name_their_variable_or_file_only() {
        let t = GmailTarget::parse_url(
            "gmail://ada@x.com?client_id=a&secret_env=MAILMIGRATE_TEST_NO_SUCH_SECRET",
        )
        .unwrap();
        let e = t.connect().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(
            e.to_string().contains("MAILMIGRATE_TEST_NO_SUCH_SECRET"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sa.json");
        std::fs::write(
            &path,
            r#"{"private_key": "-----BEGIN PRIVATE KEY-----hush"}"#,
        )
        .unwrap();
        let t = GmailTarget::parse_url(&format!("gmail://ada@x.com?key_file={}", path.display()))
            .unwrap();
        let e = t.connect().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(!format!("{e:?}").contains("hush"), "{e:?}");
        let t = GmailTarget::parse_url("gmail://ada@x.com?key_file=/no/such/sa.json").unwrap();
        let e = t.connect().err().unwrap();
        assert!(e.to_string().contains("key file"), "{e}");
    }
}
