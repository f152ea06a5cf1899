//! A 25 MiB message with a base64 attachment.

use super::{ensure, skip};
use crate::testkit::fixtures::{self, LARGE_MESSAGE_LEN};
use crate::testkit::{harness::expect_error, CaseResult, Harness, Outcome};
use crate::ErrorKind;

/// The source id the large message is appended under.
const NAME: &str = "large_message";

/// A generated 25 MiB MIME message round-trips; a destination whose `append_max_size` is
/// smaller refuses it with a per-item `MessageTooLarge` naming it (the case then reports a
/// skip).
///
/// # Errors
/// A message saying how the large message was refused, lost or altered.
pub async fn large_message_25mb(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    let bytes = fixtures::large_message(LARGE_MESSAGE_LEN);
    let len = bytes.len() as u64;
    let folder = h.folder("large").await?;
    let msg = fixtures::message(NAME, &folder, bytes);
    if let Some(max) = caps.append_max_size.filter(|&max| max < len) {
        let results = h.dest.append(&folder, vec![msg]).await;
        let result = match results {
            Err(e) => Err(e),
            Ok(mut items) => {
                ensure!(
                    items.len() == 1,
                    "append of one message returned {} results",
                    items.len()
                );
                items.pop().expect("one result").map(|a| a.id)
            }
        };
        let e = expect_error(
            "appending a message over append_max_size",
            &result,
            ErrorKind::MessageTooLarge,
        )?;
        ensure!(
            e.context("message") == Some(NAME),
            "MessageTooLarge must name the message: {e}"
        );
        return skip(format!(
            "append_max_size is {max} bytes; checked that a {len}-byte message is refused \
             as MessageTooLarge"
        ));
    }
    let id = h.append_one(&folder, msg.clone()).await?;
    if !caps.fetch {
        return skip("the large message was appended; reading it back needs fetch");
    }
    let got = h.fetch_one(&folder, &id).await?;
    h.same_content(&msg.bytes, &got.bytes)
        .map_err(|d| format!("the {len}-byte message did not round-trip: {d}"))?;
    Ok(Outcome::Passed)
}
