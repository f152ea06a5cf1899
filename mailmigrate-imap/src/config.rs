//! Configuration keys, transport security and credentials.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::auth::TokenProvider;
use mailmigrate_core::{Error, ErrorKind, Result};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tls {
    /// TLS from the first byte (port 993).
    #[default]
    Implicit,
    /// A plain connection upgraded with `STARTTLS` before authenticating (port 143).
    StartTls,
    /// No encryption at all. Needs [`ImapBuilder::allow_plaintext`](crate::ImapBuilder::allow_plaintext).
    Plaintext,
}

impl Tls {
    /// The conventional port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Implicit => 993,
            Self::StartTls | Self::Plaintext => 143,
        }
    }
}

impl FromStr for Tls {
    type Err = Error;

    /// Parses `implicit`/`tls`/`imaps`, `starttls`, or `plaintext`/`plain`/`none`.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "implicit" | "tls" | "imaps" | "ssl" => Ok(Self::Implicit),
            "starttls" | "start_tls" => Ok(Self::StartTls),
            "plaintext" | "plain" | "none" | "insecure" => Ok(Self::Plaintext),
            _ => Err(Error::new(ErrorKind::ConfigInvalid, "unknown TLS mode")
                .with_provider(crate::error::PROVIDER)
                .with_context("value", s)),
        }
    }
}

/// The SASL mechanism or command used to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// The `LOGIN` command with user and password.
    Login,
    /// `AUTHENTICATE PLAIN` with user and password.
    Plain,
    /// `AUTHENTICATE XOAUTH2` with a bearer token (Gmail, Outlook).
    XOAuth2,
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628) with a bearer token.
    OAuthBearer,
}

/// A configuration key, for [`ImapBuilder::with_config`](crate::ImapBuilder::with_config)
/// and `MAILMIGRATE_IMAP_<KEY>` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImapConfigKey {
    /// Server host name (`host`).
    Host,
    /// Server port (`port`).
    Port,
    /// Login name (`user`, `username`).
    User,
    /// Password (`password`, `pass`).
    Password,
    /// Transport security: `implicit`, `starttls` or `plaintext` (`tls`).
    Tls,
    /// `true` to allow an unencrypted connection (`allow_plaintext`).
    AllowPlaintext,
    /// Most connections kept to the server (`pool_size`).
    PoolSize,
    /// Seconds to wait for any server response (`timeout`).
    Timeout,
    /// A PEM file of extra trusted root certificates, e.g. a private CA (`ca_file`).
    CaFile,
    /// `true` to run the fidelity probe at connect time (`probe_fidelity`, `probe`); see
    /// [`ImapBuilder::with_fidelity_probe`](crate::ImapBuilder::with_fidelity_probe).
    ProbeFidelity,
}

impl ImapConfigKey {
    /// Every key, in documentation order.
    pub const ALL: [ImapConfigKey; 10] = [
        Self::Host,
        Self::Port,
        Self::User,
        Self::Password,
        Self::Tls,
        Self::AllowPlaintext,
        Self::PoolSize,
        Self::Timeout,
        Self::CaFile,
        Self::ProbeFidelity,
    ];
}

impl AsRef<str> for ImapConfigKey {
    fn as_ref(&self) -> &str {
        match self {
            Self::Host => "host",
            Self::Port => "port",
            Self::User => "user",
            Self::Password => "password",
            Self::Tls => "tls",
            Self::AllowPlaintext => "allow_plaintext",
            Self::PoolSize => "pool_size",
            Self::Timeout => "timeout",
            Self::CaFile => "ca_file",
            Self::ProbeFidelity => "probe_fidelity",
        }
    }
}

impl FromStr for ImapConfigKey {
    type Err = Error;

    /// Parses a key name or alias, case-insensitively, with or without the
    /// `MAILMIGRATE_IMAP_` prefix.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let key = lower.strip_prefix("mailmigrate_imap_").unwrap_or(&lower);
        Ok(match key {
            "host" | "hostname" | "server" => Self::Host,
            "port" => Self::Port,
            "user" | "username" | "login" => Self::User,
            "password" | "pass" => Self::Password,
            "tls" | "security" => Self::Tls,
            "allow_plaintext" | "allow_insecure" => Self::AllowPlaintext,
            "pool_size" | "connections" => Self::PoolSize,
            "timeout" | "timeout_secs" => Self::Timeout,
            "ca_file" | "cafile" | "ca" => Self::CaFile,
            "probe_fidelity" | "probe" => Self::ProbeFidelity,
            _ => {
                return Err(
                    Error::new(ErrorKind::ConfigInvalid, "unknown IMAP configuration key")
                        .with_provider(crate::error::PROVIDER)
                        .with_context("key", s),
                )
            }
        })
    }
}

/// The credentials used to authenticate.
#[derive(Clone)]
pub(crate) enum Credentials {
    Password(String),
    Token(Arc<dyn TokenProvider>),
}

/// Debug never shows a password or token.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(***)",
            Self::Token(_) => "TokenProvider(***)",
        })
    }
}

/// The validated settings one backend instance connects with.
#[derive(Debug, Clone)]
pub(crate) struct ImapConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) credentials: Credentials,
    pub(crate) mechanism: Option<AuthMechanism>,
    pub(crate) tls: Tls,
    pub(crate) pool_size: usize,
    pub(crate) timeout: Duration,
    pub(crate) fetch_batch: usize,
    /// Run the fidelity probe at connect time.
    pub(crate) probe_fidelity: bool,
    pub(crate) ca_file: Option<std::path::PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_aliases_and_prefix() {
        assert_eq!(
            "HOST".parse::<ImapConfigKey>().unwrap(),
            ImapConfigKey::Host
        );
        assert_eq!(
            "MAILMIGRATE_IMAP_PASSWORD"
                .parse::<ImapConfigKey>()
                .unwrap(),
            ImapConfigKey::Password
        );
        assert_eq!(
            "username".parse::<ImapConfigKey>().unwrap(),
            ImapConfigKey::User
        );
        for k in ImapConfigKey::ALL {
            assert_eq!(k.as_ref().parse::<ImapConfigKey>().unwrap(), k);
        }
        let e = "colour".parse::<ImapConfigKey>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn tls_modes_parse() {
        assert_eq!("STARTTLS".parse::<Tls>().unwrap(), Tls::StartTls);
        assert_eq!("imaps".parse::<Tls>().unwrap(), Tls::Implicit);
        assert_eq!("plaintext".parse::<Tls>().unwrap(), Tls::Plaintext);
        assert!("maybe".parse::<Tls>().is_err());
        assert_eq!(Tls::Implicit.default_port(), 993);
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials::Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
