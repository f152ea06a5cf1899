//! Flags, keywords and internal dates given at append, and flag updates.

use time::macros::datetime;
use time::OffsetDateTime;

use super::{ensure, skip};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{ErrorKind, Flag, FlagChange, Flags, FolderId, MessageId, MessageMeta};

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

fn keyword(k: &str) -> Flag {
    Flag::Keyword(k.to_owned())
}

fn system(flags: &Flags) -> Flags {
    flags.iter().filter(|f| !f.is_keyword()).cloned().collect()
}

async fn listed(h: &Harness, folder: &FolderId, id: &MessageId) -> Result<MessageMeta, String> {
    h.list(folder, None)
        .await?
        .get(id)
        .cloned()
        .ok_or_else(|| format!("{id} is missing from the listing of {folder}"))
}

/// Checks that `actual` has exactly the system flags of `expected` and every expected
/// keyword (servers may add keywords of their own), and none of `absent`.
fn check_flags(
    what: &str,
    expected: &Flags,
    actual: &Flags,
    absent: &[Flag],
) -> Result<(), String> {
    ensure!(
        system(expected) == system(actual),
        "{what}: expected system flags {:?}, listed {:?}",
        system(expected),
        system(actual)
    );
    for k in expected.iter().filter(|f| f.is_keyword()) {
        ensure!(
            actual.contains(k),
            "{what}: keyword {k} is missing: {actual:?}"
        );
    }
    for k in absent {
        ensure!(
            !actual.contains(k),
            "{what}: {k} should be gone: {actual:?}"
        );
    }
    Ok(())
}

/// Reading a message does not change it: a source that marks messages `\Seen` when they
/// are fetched (IMAP `BODY[]` instead of `BODY.PEEK[]`) turns every unread message of the
/// old mailbox into a read one.
///
/// # Errors
/// A message naming the flag the fetch set.
pub async fn fetch_leaves_flags_alone(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.fetch {
        return skip("needs fetch");
    }
    let folder = h.folder("fetch-unread").await?;
    let id = h
        .append_one(&folder, fixtures::RFC2047_HEADERS.message(&folder))
        .await?;
    let before = listed(h, &folder, &id).await?.flags;
    ensure!(
        !before.contains(&Flag::Seen),
        "{id} was appended unread but lists {before:?}"
    );
    h.fetch_one(&folder, &id).await?;
    let after = listed(h, &folder, &id).await?.flags;
    ensure!(
        after == before,
        "fetching {id} changed its flags from {before:?} to {after:?}"
    );
    Ok(Outcome::Passed)
}

/// A `Message-ID` the listing gives is the message's own header as the core reads it
/// (without angle brackets): look-ups after a lost answer compare the two, so a listing
/// that said `<id@host>` would never find a copy and every resumed write would be a
/// second one.
///
/// # Errors
/// A message naming the listed and the header's `Message-ID`.
pub async fn listed_message_id_is_the_header(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.fetch {
        return skip("needs fetch");
    }
    let folder = h.folder("message-id").await?;
    let id = h
        .append_one(&folder, fixtures::RFC2047_HEADERS.message(&folder))
        .await?;
    let listed = listed(h, &folder, &id).await?;
    let Some(said) = listed.message_id else {
        return Ok(Outcome::Passed);
    };
    let fetched = h.fetch_one(&folder, &id).await?;
    let header = crate::headers::message_id(&fetched.bytes);
    ensure!(
        header.as_deref() == Some(said.as_str()),
        "{id} is listed with Message-ID {said:?} but its header reads {header:?}"
    );
    Ok(Outcome::Passed)
}

/// System flags (and keywords, with `append_with_keywords`) given at append are listed
/// back, and fetched back where the store declares `fetch_flags`; a message appended
/// without flags is listed without system flags.
///
/// # Errors
/// A message naming the flag that was lost or invented.
pub async fn flags_preserved(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.append_with_flags {
        return skip("needs append_with_flags");
    }
    let folder = h.folder("flags").await?;
    let mut expected = flags(&[Flag::Seen, Flag::Answered, Flag::Flagged, Flag::Draft]);
    if caps.append_with_keywords {
        expected.insert(keyword("$Forwarded"));
        expected.insert(keyword("mm-custom"));
    }
    let mut flagged = fixtures::EIGHT_BIT_BODY.message(&folder);
    flagged.meta.flags = expected.clone();
    let plain = fixtures::FROM_LINE.message(&folder);
    let flagged_id = h.append_one(&folder, flagged).await?;
    let plain_id = h.append_one(&folder, plain).await?;
    let listing = h.list(&folder, None).await?;
    let meta = listing
        .get(&flagged_id)
        .ok_or_else(|| format!("{flagged_id} is missing from the listing"))?;
    check_flags("flagged message", &expected, &meta.flags, &[])?;
    let meta = listing
        .get(&plain_id)
        .ok_or_else(|| format!("{plain_id} is missing from the listing"))?;
    check_flags("unflagged message", &Flags::new(), &meta.flags, &[])?;
    if caps.fetch_flags {
        let fetched = h.fetch_one(&folder, &flagged_id).await?;
        check_flags(
            "flagged message as fetched (fetch_flags)",
            &expected,
            &fetched.meta.flags,
            &[],
        )?;
    }
    Ok(Outcome::Passed)
}

/// Internal dates given at append are listed back as the same instant, to the second,
/// whatever offset the server reports them in.
///
/// # Errors
/// A message naming the date that changed.
pub async fn internal_date_preserved(h: &Harness) -> CaseResult {
    if !h.capabilities().append_with_internal_date {
        return skip("needs append_with_internal_date");
    }
    let folder = h.folder("internal-date").await?;
    let dates: [OffsetDateTime; 3] = [
        datetime!(2009-02-13 23:31:30 +05:30),
        datetime!(1999-12-31 23:59:59 -08:00),
        datetime!(2021-06-30 12:00:00 UTC),
    ];
    let sources = [
        fixtures::RFC2047_HEADERS,
        fixtures::ODD_DATE,
        fixtures::ABSURD_DATE,
    ];
    let mut appended = Vec::new();
    for (fixture, date) in sources.iter().zip(dates) {
        let mut msg = fixture.message(&folder);
        msg.meta.internal_date = Some(date);
        appended.push((h.append_one(&folder, msg).await?, date));
    }
    let listing = h.list(&folder, None).await?;
    for (id, date) in appended {
        let meta = listing
            .get(&id)
            .ok_or_else(|| format!("{id} is missing from the listing"))?;
        let got = meta
            .internal_date
            .ok_or_else(|| format!("{id} was appended with {date} but lists no internal date"))?;
        ensure!(
            got.unix_timestamp() == date.unix_timestamp(),
            "{id} was appended with internal date {date}, listed as {got}"
        );
    }
    Ok(Outcome::Passed)
}

/// `update_flags` adds and removes exactly what the change says and keeps every other flag;
/// a change already in effect succeeds (a server that answers it with no untagged `FETCH`
/// must not report the message missing); an unknown message is `NotFound`.
///
/// # Errors
/// A message naming the update that was not applied as given.
pub async fn update_flags_applies_changes(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.update_flags {
        return skip("needs update_flags");
    }
    let folder = h.folder("update-flags").await?;
    let id = h
        .append_one(&folder, fixtures::MULTIPART_ATTACHMENT.message(&folder))
        .await?;
    let (old_kw, new_kw) = (keyword("mm-old"), keyword("mm-new"));
    let kw = |k: &Flag| {
        if caps.append_with_keywords {
            vec![k.clone()]
        } else {
            vec![]
        }
    };
    let change = |add: Vec<Flag>, remove: Vec<Flag>| FlagChange {
        add: add.into_iter().collect(),
        remove: remove.into_iter().collect(),
    };
    let mut expected = Flags::new();
    let steps = [
        (
            "adding",
            change(
                [vec![Flag::Seen, Flag::Flagged], kw(&old_kw)].concat(),
                vec![],
            ),
        ),
        (
            "repeating the same change",
            change(vec![Flag::Seen], vec![]),
        ),
        (
            "adding one and removing another",
            change(
                [vec![Flag::Answered], kw(&new_kw)].concat(),
                vec![Flag::Flagged],
            ),
        ),
        (
            "removing what is not set",
            change(vec![], vec![Flag::Draft]),
        ),
        (
            "clearing",
            change(
                vec![],
                [vec![Flag::Seen, Flag::Answered], kw(&old_kw), kw(&new_kw)].concat(),
            ),
        ),
    ];
    for (what, step) in steps {
        h.dest
            .update_flags(&folder, &id, &step)
            .await
            .map_err(|e| format!("{what} ({step:?}) on {id} failed: {e}"))?;
        expected = step.apply(&expected);
        let meta = listed(h, &folder, &id).await?;
        let absent: Vec<Flag> = step.remove.iter().cloned().collect();
        check_flags(what, &expected, &meta.flags, &absent)?;
    }
    let unknown = h.unknown_id(&folder).await?;
    let result = h
        .dest
        .update_flags(&folder, &unknown, &FlagChange::add(flags(&[Flag::Seen])))
        .await;
    crate::testkit::harness::expect_error(
        &format!("update_flags of unknown {unknown}"),
        &result,
        ErrorKind::NotFound,
    )?;
    Ok(Outcome::Passed)
}

/// Labels given at append (Gmail labels, Graph categories) are listed back; a message
/// appended without labels gains none of them.
///
/// # Errors
/// A message naming the label that was lost or invented.
pub async fn labels_preserved(h: &Harness) -> CaseResult {
    if !h.capabilities().append_with_labels {
        return skip("needs append_with_labels");
    }
    let folder = h.folder("labels").await?;
    let labels: std::collections::BTreeSet<String> = ["mm-label-a", "mm-label/nested", "mm-läbel"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut labelled = fixtures::EIGHT_BIT_BODY.message(&folder);
    labelled.meta.labels = labels.clone();
    let labelled_id = h.append_one(&folder, labelled).await?;
    let plain_id = h
        .append_one(&folder, fixtures::FROM_LINE.message(&folder))
        .await?;
    let listing = h.list(&folder, None).await?;
    let meta = listing
        .get(&labelled_id)
        .ok_or_else(|| format!("{labelled_id} is missing from the listing"))?;
    let missing: Vec<_> = labels.difference(&meta.labels).collect();
    ensure!(
        missing.is_empty(),
        "labels {missing:?} were lost: {:?}",
        meta.labels
    );
    let meta = listing
        .get(&plain_id)
        .ok_or_else(|| format!("{plain_id} is missing from the listing"))?;
    ensure!(
        meta.labels.is_disjoint(&labels),
        "a message appended without labels lists {:?}",
        meta.labels
    );
    Ok(Outcome::Passed)
}
