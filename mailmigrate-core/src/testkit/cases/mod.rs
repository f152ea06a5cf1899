//! The conformance cases, one `pub async fn` per behaviour, grouped by area.
//!
//! Each case reads [`Harness::capabilities`](super::Harness::capabilities) first and
//! returns [`Outcome::Skipped`](super::Outcome::Skipped) naming the missing capability when
//! it does not apply. [`conformance_tests!`](crate::conformance_tests) turns each into a
//! test.

pub mod changes;
pub mod dedupe;
pub mod folders;
pub mod large;
pub mod malformed;
pub mod metadata;
pub mod roundtrip;
pub mod unsupported;

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// A skip naming what the case needs.
fn skip(reason: impl Into<String>) -> super::CaseResult {
    Ok(super::Outcome::Skipped(reason.into()))
}
