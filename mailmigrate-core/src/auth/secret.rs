//! [`SecretString`]: a string that never shows itself.

use std::fmt;

use zeroize::Zeroize;

/// A secret (an access or refresh token, a client secret, a password) that prints as `***`.
///
/// `Debug` and `Display` never show it, it implements no `Serialize`, and its bytes are
/// overwritten when it is dropped. The only way to read it is [`expose_secret`](Self::expose_secret),
/// so every place that sends a secret over the wire is easy to find.
///
/// # Examples
/// ```
/// use mailmigrate_core::auth::SecretString;
///
/// let s = SecretString::from("ya29.a0Af");
/// assert_eq!(format!("{s:?} {s}"), "*** ***");
/// assert_eq!(s.expose_secret(), "ya29.a0Af");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Send it where it belongs; never log or format it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_secret() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert_eq!(s.to_string(), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose_secret(), "hunter2");
    }
}
