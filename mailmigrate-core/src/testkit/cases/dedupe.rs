//! Finding an existing copy after a write whose outcome was lost.

use super::{ensure, skip};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{DedupeKey, ExistingCopy, Flag, Flags, FolderId, MessageId, RawMessage};

/// Looks `msg` up with the key the engine would build: of the canonical CRLF form when
/// the destination requires CRLF.
async fn find_copies(
    h: &Harness,
    folder: &FolderId,
    msg: &RawMessage,
) -> Result<Vec<ExistingCopy>, String> {
    let mut msg = msg.clone();
    msg.bytes = h.capabilities().stored_form(&msg.bytes);
    h.dest
        .find_existing(folder, &DedupeKey::of(&msg))
        .await
        .map_err(|e| format!("find_existing for {} failed: {e}", msg.meta.id))
}

/// The ids [`find_copies`] found, best first.
async fn find(h: &Harness, folder: &FolderId, msg: &RawMessage) -> Result<Vec<MessageId>, String> {
    Ok(find_copies(h, folder, msg)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// A message appended and its id dropped (as when a connection dies after sending) is
/// found by `find_existing`, and the match fetches back as the same message; a different
/// message is not matched.
///
/// When the pair is byte-exact it also checks that a message without a `Message-ID` is found
/// by content, that a message sharing only the `Message-ID` of a stored one is not taken
/// for a copy, and that the exact copy ranks first when both are stored.
///
/// # Errors
/// A message naming the lookup that found too little or too much.
pub async fn dedupe_after_interrupted_write(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.find_existing {
        return skip("needs find_existing");
    }
    let folder = h.folder("dedupe").await?;
    let msg = fixtures::MULTIPART_ATTACHMENT.message(&folder);
    let results = h
        .dest
        .append(&folder, vec![msg.clone()])
        .await
        .map_err(|e| format!("append failed: {e}"))?;
    ensure!(
        results.len() == 1,
        "append of one message returned {} results",
        results.len()
    );
    // The id is dropped here: the engine never learnt it.
    results
        .into_iter()
        .next()
        .expect("one result")
        .map_err(|e| format!("append failed: {e}"))?;
    let found = find(h, &folder, &msg).await?;
    let first = found
        .first()
        .ok_or("find_existing did not find the appended message")?;
    if caps.fetch {
        let copy = h.fetch_one(&folder, first).await?;
        h.same_content(&msg.bytes, &copy.bytes)
            .map_err(|d| format!("find_existing matched {first}, another message: {d}"))?;
    }
    let other = fixtures::RFC2047_HEADERS.message(&folder);
    let found = find(h, &folder, &other).await?;
    ensure!(
        found.is_empty(),
        "find_existing matched {found:?} for a message that was never appended"
    );
    if !caps.byte_exact {
        return Ok(Outcome::Passed);
    }

    let anonymous = fixtures::NO_MESSAGE_ID.message(&folder);
    let anonymous_id = h.append_one(&folder, anonymous.clone()).await?;
    let found = find(h, &folder, &anonymous).await?;
    ensure!(
        found.first() == Some(&anonymous_id),
        "a message without Message-ID must be found by content: expected {anonymous_id}, found {found:?}"
    );

    let a = fixtures::DUPLICATE_MESSAGE_ID_A.message(&folder);
    let b = fixtures::DUPLICATE_MESSAGE_ID_B.message(&folder);
    let a_id = h.append_one(&folder, a.clone()).await?;
    let found = find(h, &folder, &b).await?;
    ensure!(
        !found.contains(&a_id),
        "a message sharing only its Message-ID with {a_id} was taken for a copy of it; \
         skipping it would lose it"
    );
    let b_id = h.append_one(&folder, b.clone()).await?;
    for (msg, id) in [(&a, &a_id), (&b, &b_id)] {
        let found = find(h, &folder, msg).await?;
        ensure!(
            found.first() == Some(id),
            "the exact copy {id} of {} must rank first, found {found:?}",
            msg.meta.id
        );
    }
    Ok(Outcome::Passed)
}

/// Byte-identical twins (one message filed twice, with other flags and another date) are
/// two messages: `find_existing` returns both copies, and the flags and dates it reports
/// are each copy's own, so the engine can give each twin its own copy.
///
/// # Errors
/// A message naming the twin that was not found, or the copy whose reported flags or date
/// are another's.
pub async fn find_existing_tells_twins_apart(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.find_existing {
        return skip("needs find_existing");
    }
    let folder = h.folder("twins").await?;
    let seen: Flags = [Flag::Seen, Flag::Flagged].into_iter().collect();
    let dates = [
        time::macros::datetime!(2020-05-01 08:00:00 UTC),
        time::macros::datetime!(2023-11-20 17:45:10 +01:00),
    ];
    let mut twins = Vec::new();
    for (flags, date) in [(seen, dates[0]), (Flags::new(), dates[1])] {
        let mut msg = fixtures::NO_MESSAGE_ID.message(&folder);
        msg.meta.flags = flags.clone();
        msg.meta.internal_date = Some(date);
        let id = h.append_one(&folder, msg).await?;
        twins.push((id, flags, date));
    }
    let found = find_copies(h, &folder, &fixtures::NO_MESSAGE_ID.message(&folder)).await?;
    for (id, flags, date) in &twins {
        let copy = found
            .iter()
            .find(|c| &c.id == id)
            .ok_or_else(|| format!("find_existing did not return the twin {id}: {found:?}"))?;
        if caps.append_with_flags {
            if let Some(have) = &copy.flags {
                ensure!(
                    have == flags,
                    "find_existing reported flags {have:?} for {id}, which has {flags:?}"
                );
            }
        }
        if caps.append_with_internal_date {
            if let Some(have) = copy.internal_date {
                ensure!(
                    have.unix_timestamp() == date.unix_timestamp(),
                    "find_existing reported internal date {have} for {id}, which has {date}"
                );
            }
        }
    }
    ensure!(
        found.len() == twins.len(),
        "find_existing returned {} copies of a message stored twice: {found:?}",
        found.len()
    );
    Ok(Outcome::Passed)
}

/// The batched look-up ([`Destination::find_existing_many`](crate::Destination::find_existing_many))
/// answers each key exactly as [`find_existing`](crate::Destination::find_existing) does,
/// in order: byte-identical twins (both copies, each with its own flags), a message without
/// `Message-ID`, messages whose `Message-ID`s differ only by a suffix (a header search is a
/// substring search), two of one size whose `Message-ID`s differ by a letter, keys of
/// messages never stored (one the size of a stored one), and a key without a size.
///
/// # Errors
/// A message naming the key whose answers differ.
pub async fn batched_lookup_matches_single(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.find_existing {
        return skip("needs find_existing");
    }
    let folder = h.folder("batched").await?;
    // `pad` evens out the sizes of ids of different lengths.
    let look_alike = |n: u32, id: &str, pad: &str| {
        let bytes =
            format!("Message-ID: <{id}>\r\nSubject: look-alike {n}\r\n\r\nbody {n}{pad}\r\n");
        RawMessage::new(
            crate::MessageMeta::new(MessageId::new(format!("look-alike-{n}")), folder.clone()),
            bytes::Bytes::from(bytes),
        )
    };
    let mut twin = fixtures::NO_MESSAGE_ID.message(&folder);
    let mut stored = vec![
        twin.clone(),
        fixtures::DUPLICATE_MESSAGE_ID_A.message(&folder),
        fixtures::MULTIPART_ATTACHMENT.message(&folder),
        look_alike(1, "same@batched.example", ""),
        look_alike(2, "same@batched.example.org", ""),
        look_alike(4, "same@batched.exampl", "!"),
        look_alike(5, "samf@batched.example", ""),
    ];
    twin.meta.flags = [Flag::Seen].into_iter().collect();
    stored.push(twin);
    for msg in &stored {
        h.append_one(&folder, msg.clone()).await?;
    }
    let never = [
        fixtures::DUPLICATE_MESSAGE_ID_B.message(&folder),
        fixtures::RFC2047_HEADERS.message(&folder),
        look_alike(3, "same@batched.example.or", ""),
        look_alike(6, "same@batched.exampla", ""),
    ];
    let stored_form = |m: &RawMessage| {
        let mut m = m.clone();
        m.bytes = caps.stored_form(&m.bytes);
        DedupeKey::of(&m)
    };
    let mut keys: Vec<DedupeKey> = stored.iter().chain(&never).map(stored_form).collect();
    let mut sizeless = stored_form(&stored[2]);
    sizeless.size = None;
    keys.push(sizeless);
    let batched = h
        .dest
        .find_existing_many(&folder, &keys)
        .await
        .map_err(|e| format!("find_existing_many failed: {e}"))?;
    ensure!(
        batched.len() == keys.len(),
        "find_existing_many answered {} lists for {} keys",
        batched.len(),
        keys.len()
    );
    for (i, (key, got)) in keys.iter().zip(&batched).enumerate() {
        let single = h
            .dest
            .find_existing(&folder, key)
            .await
            .map_err(|e| format!("find_existing failed: {e}"))?;
        ensure!(
            got == &single,
            "key {i} ({:?}, size {:?}): find_existing_many answered {got:?}, \
             find_existing {single:?}",
            key.message_id,
            key.size
        );
    }
    // Not only alike, but right: both twins' copies, one copy of every other stored
    // message (a look-alike is not a copy), none of a message never stored.
    let twins = [0, stored.len() - 1];
    for (i, got) in batched.iter().enumerate() {
        let want = match i {
            _ if twins.contains(&i) => 2,
            _ if i < stored.len() || i == keys.len() - 1 => 1,
            _ => 0,
        };
        ensure!(
            got.len() == want,
            "key {i} ({:?}): {} copies found, not {want}",
            keys[i].message_id,
            got.len()
        );
    }
    Ok(Outcome::Passed)
}
