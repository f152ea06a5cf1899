//! [`ImapBuilder`]: configuration in, a connected [`Imap`] out.

use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::{Operation, Result};

use crate::backend::Imap;
use crate::config::{AuthMechanism, Credentials, ImapConfig, ImapConfigKey, Tls};
use crate::error::ImapError;
use mailmigrate_core::auth::TokenProvider;

/// The default number of connections per mailbox.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// The default time to wait for any server response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

#[doc = include_str!("docs.md")]
#[must_use]
#[derive(Debug, Clone, Default)]
pub struct ImapBuilder {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    credentials: Option<Credentials>,
    mechanism: Option<AuthMechanism>,
    tls: Option<Tls>,
    allow_plaintext: bool,
    pool_size: Option<usize>,
    timeout: Option<Duration>,
    fetch_batch: Option<usize>,
    probe_fidelity: bool,
    ca_file: Option<std::path::PathBuf>,
    invalid: Vec<(ImapConfigKey, String)>,
    unknown_keys: Vec<String>,
}

impl ImapBuilder {
    /// Starts an empty configuration (implicit TLS, port 993).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `MAILMIGRATE_IMAP_<KEY>` environment variables (see [`ImapConfigKey`]).
    pub fn from_env() -> Self {
        Self::from_env_prefix("MAILMIGRATE_IMAP_")
    }

    /// Reads `<prefix><KEY>` environment variables, e.g. `MAILMIGRATE_TEST_IMAP_DOVECOT_`.
    pub fn from_env_prefix(prefix: &str) -> Self {
        let mut b = Self::new();
        for key in ImapConfigKey::ALL {
            let var = format!("{prefix}{}", key.as_ref().to_ascii_uppercase());
            if let Ok(v) = std::env::var(&var) {
                b = b.with_config(key, v);
            }
        }
        b
    }

    /// Sets one configuration value by key; invalid values are reported by [`build`](Self::build).
    pub fn with_config(mut self, key: ImapConfigKey, value: impl Into<String>) -> Self {
        let value = value.into();
        match key {
            ImapConfigKey::Host => self.host = Some(value),
            ImapConfigKey::Port => match value.parse() {
                Ok(p) => self.port = Some(p),
                Err(_) => self.invalid.push((key, value)),
            },
            ImapConfigKey::User => self.user = Some(value),
            ImapConfigKey::Password => self.credentials = Some(Credentials::Password(value)),
            ImapConfigKey::Tls => match value.parse() {
                Ok(t) => self.tls = Some(t),
                Err(_) => self.invalid.push((key, value)),
            },
            ImapConfigKey::AllowPlaintext => match parse_bool(&value) {
                Some(on) => self.allow_plaintext = on,
                None => self.invalid.push((key, value)),
            },
            ImapConfigKey::ProbeFidelity => match parse_bool(&value) {
                Some(on) => self.probe_fidelity = on,
                None => self.invalid.push((key, value)),
            },
            ImapConfigKey::PoolSize => match value.parse() {
                Ok(n) => self.pool_size = Some(n),
                Err(_) => self.invalid.push((key, value)),
            },
            ImapConfigKey::CaFile => self.ca_file = Some(value.into()),
            ImapConfigKey::Timeout => match value.parse() {
                Ok(s) => self.timeout = Some(Duration::from_secs(s)),
                Err(_) => self.invalid.push((key, value)),
            },
        }
        self
    }

    /// Sets several values from `(key, value)` pairs whose keys are [`ImapConfigKey`] names
    /// or aliases (for configuration maps and the conformance testkit); an unknown key is
    /// reported by [`build`](Self::build).
    pub fn with_configs<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        for (k, v) in pairs {
            match k.as_ref().parse::<ImapConfigKey>() {
                Ok(key) => self = self.with_config(key, v),
                Err(_) => self.unknown_keys.push(k.as_ref().to_owned()),
            }
        }
        self
    }

    /// Sets the server host name.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sets the port (default: 993 for implicit TLS, 143 otherwise).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the login name.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Authenticates with a password (AUTHENTICATE PLAIN when offered, else LOGIN; see
    /// [`with_auth_mechanism`](Self::with_auth_mechanism)).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Password(password.into()));
        self
    }

    /// Authenticates with OAuth2 tokens from `provider` (XOAUTH2 by default).
    pub fn with_credentials(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.credentials = Some(Credentials::Token(provider));
        self
    }

    /// Chooses the authentication mechanism explicitly.
    pub fn with_auth_mechanism(mut self, mechanism: AuthMechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Sets the transport security (default [`Tls::Implicit`]).
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Allows [`Tls::Plaintext`]: credentials and mail then cross the network unencrypted.
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Sets the most connections kept to the server (default [`DEFAULT_POOL_SIZE`]).
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = Some(size);
        self
    }

    /// Sets how long to wait for any server response (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Trusts the root certificates in a PEM file as well as the public web roots (for a
    /// server whose certificate comes from a private CA). Verification is never turned off.
    pub fn with_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets how many message bodies one FETCH asks for (default 16).
    pub fn with_fetch_batch(mut self, n: usize) -> Self {
        self.fetch_batch = Some(n);
        self
    }

    /// Runs the fidelity probe at connect time (default off): a mailbox of the backend's
    /// own (`mailmigrate-probe-…`) is created, one probe message appended and read back,
    /// and the mailbox deleted. What the server stored sets the capabilities
    /// ([`Fidelity`](crate::Fidelity), reported by [`Imap::fidelity`]): `byte_exact` off
    /// for a server that rewrites messages,
    /// [`replaces_8bit_header_bytes`](mailmigrate_core::Capabilities::replaces_8bit_header_bytes)
    /// for one that stores 8-bit header bytes as `X`. Turn it on for a destination (a
    /// migration's look-ups find copies by their content hash); a source needs it not, and
    /// may not allow creating mailboxes. A server that refuses a step leaves the
    /// capabilities as declared, with [`Fidelity::Unknown`](crate::Fidelity::Unknown).
    ///
    /// ```
    /// use mailmigrate_imap::ImapBuilder;
    /// let destination = ImapBuilder::new()
    ///     .with_host("imap.example.org")
    ///     .with_user("alice")
    ///     .with_password("s3cret")
    ///     .with_fidelity_probe(true);
    /// # let _ = destination;
    /// ```
    pub fn with_fidelity_probe(mut self, on: bool) -> Self {
        self.probe_fidelity = on;
        self
    }

    fn config(self) -> std::result::Result<ImapConfig, ImapError> {
        if let Some(key) = self.unknown_keys.first() {
            return Err(ImapError::Config(format!(
                "unknown configuration key {key:?}"
            )));
        }
        if let Some((key, _)) = self.invalid.first() {
            return Err(ImapError::Config(format!(
                "invalid value for {}",
                key.as_ref()
            )));
        }
        let host = self
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ImapError::Config("host is not set".into()))?;
        let user = self
            .user
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ImapError::Config("user is not set".into()))?;
        let credentials = self.credentials.ok_or_else(|| {
            ImapError::Config("neither password nor token provider is set".into())
        })?;
        let tls = self.tls.unwrap_or_default();
        if tls == Tls::Plaintext && !self.allow_plaintext {
            return Err(ImapError::Config(
                "plaintext IMAP needs allow_plaintext(true)".into(),
            ));
        }
        if matches!(
            (&credentials, self.mechanism),
            (
                Credentials::Password(_),
                Some(AuthMechanism::XOAuth2 | AuthMechanism::OAuthBearer)
            ) | (
                Credentials::Token(_),
                Some(AuthMechanism::Login | AuthMechanism::Plain)
            )
        ) {
            return Err(ImapError::Config(
                "the authentication mechanism does not match the credentials".into(),
            ));
        }
        Ok(ImapConfig {
            host,
            port: self.port.unwrap_or_else(|| tls.default_port()),
            user,
            credentials,
            mechanism: self.mechanism,
            tls,
            pool_size: self.pool_size.unwrap_or(DEFAULT_POOL_SIZE).max(1),
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            fetch_batch: self.fetch_batch.unwrap_or(16).max(1),
            ca_file: self.ca_file,
            probe_fidelity: self.probe_fidelity,
        })
    }

    /// Validates the configuration, connects, authenticates and reads the server's
    /// capabilities, namespace and separator.
    ///
    /// # Errors
    /// `ConfigInvalid` for a missing host, user or credentials, an invalid value, or
    /// plaintext without [`allow_plaintext`](Self::allow_plaintext); `Unauthenticated` when
    /// the server refuses the credentials; `Unavailable` when it cannot be reached.
    pub async fn build(self) -> Result<Imap> {
        let cfg = self.config().map_err(|e| e.into_error(Operation::Build))?;
        Imap::connect(cfg).await
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, in any case.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::ErrorKind;

    fn base() -> ImapBuilder {
        ImapBuilder::new()
            .with_host("imap.example.org")
            .with_user("alice")
            .with_password("s3cret-pw")
    }

    #[test]
    fn defaults_are_secure() {
        let cfg = base().config().unwrap();
        assert_eq!(cfg.tls, Tls::Implicit);
        assert_eq!(cfg.port, 993);
        assert_eq!(cfg.pool_size, DEFAULT_POOL_SIZE);
        let cfg = base().with_tls(Tls::StartTls).config().unwrap();
        assert_eq!(cfg.port, 143);
    }

    #[test]
    fn plaintext_needs_opt_in() {
        let e = base().with_tls(Tls::Plaintext).config().unwrap_err();
        assert_eq!(
            e.into_error(Operation::Build).kind(),
            ErrorKind::ConfigInvalid
        );
        assert!(base()
            .with_tls(Tls::Plaintext)
            .allow_plaintext(true)
            .config()
            .is_ok());
    }

    #[test]
    fn missing_and_invalid_values_are_reported() {
        assert!(ImapBuilder::new()
            .with_host("h")
            .with_password("p")
            .config()
            .is_err());
        let e = base()
            .with_config(ImapConfigKey::Port, "ninety")
            .config()
            .unwrap_err();
        assert!(e.to_string().contains("port"));
        let e = base()
            .with_auth_mechanism(AuthMechanism::XOAuth2)
            .config()
            .unwrap_err();
        assert_eq!(
            e.into_error(Operation::Build).kind(),
            ErrorKind::ConfigInvalid
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let b = base();
        let d = format!("{b:?}");
        assert!(!d.contains("s3cret-pw"), "{d}");
        let cfg = b.config().unwrap();
        assert!(!format!("{cfg:?}").contains("s3cret-pw"));
    }

    #[test]
    fn with_configs_takes_pairs_and_reports_unknown_keys() {
        let cfg = ImapBuilder::new()
            .with_configs([
                ("HOST", "h"),
                ("username", "u"),
                ("password", "p"),
                ("port", "1993"),
            ])
            .config()
            .unwrap();
        assert_eq!(
            (cfg.host.as_str(), cfg.user.as_str(), cfg.port),
            ("h", "u", 1993)
        );
        let e = base()
            .with_configs([("colour", "blue")])
            .config()
            .unwrap_err();
        assert!(e.to_string().contains("colour"));
    }

    #[test]
    fn with_config_sets_typed_values() {
        let cfg = ImapBuilder::new()
            .with_config(ImapConfigKey::Host, "h")
            .with_config(ImapConfigKey::User, "u")
            .with_config(ImapConfigKey::Password, "p")
            .with_config(ImapConfigKey::Tls, "plaintext")
            .with_config(ImapConfigKey::AllowPlaintext, "yes")
            .with_config(ImapConfigKey::Port, "1143")
            .with_config(ImapConfigKey::PoolSize, "2")
            .with_config(ImapConfigKey::Timeout, "9")
            .config()
            .unwrap();
        assert_eq!(cfg.port, 1143);
        assert_eq!(cfg.pool_size, 2);
        assert_eq!(cfg.timeout, Duration::from_secs(9));
        assert_eq!(cfg.tls, Tls::Plaintext);
    }
}
