//! The conformance cases, one `pub async fn` per behaviour, grouped by area.
//!
//! Each case reads [`Harness::capabilities`](super::Harness::capabilities) first and
//! returns [`Outcome::Skipped`](super::Outcome::Skipped) naming the missing capability when
//! it does not apply. [`conformance_tests!`](crate::conformance_tests) turns each into a
//! test.

pub mod changes;
pub mod dedupe;
pub mod engine;
pub mod folders;
pub mod large;
pub mod malformed;
pub mod metadata;
pub mod retry;
pub mod roundtrip;
pub mod unsupported;
pub mod wire;

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

/// Each case against a store with one deliberate defect: the case must catch it.
#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use async_trait::async_trait;
    use bytes::Bytes;
    use futures::stream::{BoxStream, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::store::MemoryStore;
    use crate::testkit::{CaseResult, Harness, Outcome};
    use crate::{
        Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
        ErrorKind, ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId,
        Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
    };

    /// The defect a [`Broken`] store has.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        None,
        RewriteLineEndings,
        DropKeywords,
        DropLabels,
        ShiftInternalDate,
        UpdateFlagsIgnoresRemovals,
        UnchangedFlagsNotFound,
        ListEverything,
        MatchByMessageIdOnly,
        OneTwinOnly,
        OmitUnknownIds,
        EmptyFailsBatch,
        HideParents,
        AlwaysCreated,
        IgnoreMaxSize,
        DeclaresNoUpdateButUpdates,
        StaleCheckpointHidesMessages,
        LostReplyTemporary,
        BatchedLookupDropsTwins,
    }

    /// A memory store with one defect, declaring full capabilities. With a `wire`, appends
    /// travel over TCP to a [`wire_server`] storing into the same mailbox, so that a proxy
    /// can lose their replies.
    #[derive(Debug)]
    struct Broken {
        inner: MemoryStore,
        info: ProviderInfo,
        fault: Fault,
        wire: Option<SocketAddr>,
    }

    impl Broken {
        fn over(fault: Fault, inner: MemoryStore, wire: Option<SocketAddr>) -> Self {
            let mut caps = MemoryStore::capabilities();
            match fault {
                Fault::IgnoreMaxSize => caps.append_max_size = Some(1024 * 1024),
                Fault::DeclaresNoUpdateButUpdates => caps.update_flags = false,
                _ => {}
            }
            Self {
                inner,
                info: ProviderInfo::new("broken", format!("{fault:?}"), caps),
                fault,
                wire,
            }
        }

        /// Appends over the wire: one frame per message (folder, then bytes, each after
        /// its length), then one reply (the new id) per message.
        async fn append_over(
            &self,
            addr: SocketAddr,
            folder: &FolderId,
            messages: &[RawMessage],
        ) -> Result<Vec<Result<Appended>>> {
            let io = |e: std::io::Error| Error::new(ErrorKind::Unavailable, e.to_string());
            let mut conn = TcpStream::connect(addr)
                .await
                .map_err(|e| io(e).temporary())?;
            for m in messages {
                for part in [folder.as_str().as_bytes(), &m.bytes[..]] {
                    conn.write_u32(part.len() as u32).await.map_err(io)?;
                    conn.write_all(part).await.map_err(io)?;
                }
            }
            let mut out = Vec::with_capacity(messages.len());
            while out.len() < messages.len() {
                match read_frame(&mut conn).await {
                    Ok(id) => out.push(Ok(Appended::new(Some(MessageId::new(
                        String::from_utf8_lossy(&id),
                    ))))),
                    Err(e) => {
                        let lost = || {
                            let e = io(std::io::Error::new(e.kind(), e.to_string()));
                            if self.fault == Fault::LostReplyTemporary {
                                e.temporary()
                            } else {
                                e.outcome_unknown()
                            }
                        };
                        out.extend((out.len()..messages.len()).map(|_| Err(lost())));
                    }
                }
            }
            Ok(out)
        }
    }

    async fn read_frame(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        let len = conn.read_u32().await?;
        let mut buf = vec![0u8; len as usize];
        conn.read_exact(&mut buf).await?;
        Ok(buf)
    }

    /// The server end of [`Broken::append_over`], storing into `store`; returns its address.
    async fn wire_server(store: MemoryStore) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    // A partial frame (a connection cut mid-message) stores nothing.
                    while let (Ok(folder), Ok(bytes)) =
                        (read_frame(&mut conn).await, read_frame(&mut conn).await)
                    {
                        let folder = FolderId::new(String::from_utf8_lossy(&folder));
                        let msg =
                            crate::testkit::fixtures::message("wired", &folder, Bytes::from(bytes));
                        let Ok(mut stored) = store.append(&folder, vec![msg]).await else {
                            return;
                        };
                        let Some(Ok(Appended { id: Some(id), .. })) = stored.pop() else {
                            return;
                        };
                        let id = id.as_str().as_bytes();
                        if conn.write_u32(id.len() as u32).await.is_err()
                            || conn.write_all(id).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[async_trait]
    impl Provider for Broken {
        fn info(&self) -> &ProviderInfo {
            &self.info
        }

        async fn list_folders(&self) -> Result<Vec<Folder>> {
            let folders = Provider::list_folders(&self.inner).await?;
            if self.fault != Fault::HideParents {
                return Ok(folders);
            }
            let paths: Vec<FolderPath> = folders.iter().map(|f| f.path.clone()).collect();
            Ok(folders
                .into_iter()
                .filter(|f| !paths.iter().any(|p| p.parent().as_ref() == Some(&f.path)))
                .collect())
        }
    }

    #[async_trait]
    impl Source for Broken {
        fn list_changes(
            &self,
            folder: &FolderId,
            since: Option<Checkpoint>,
        ) -> BoxStream<'static, Result<Change>> {
            let since = since.filter(|_| self.fault != Fault::ListEverything);
            if self.fault == Fault::StaleCheckpointHidesMessages && since.is_some() {
                // Like comparing a modification sequence of the folder's earlier life: only
                // the checkpoint comes through.
                return self
                    .inner
                    .list_changes(folder, None)
                    .filter(|c| std::future::ready(matches!(c, Ok(Change::Checkpoint(_)))))
                    .boxed();
            }
            self.inner.list_changes(folder, since)
        }
        fn fetch(
            &self,
            folder: &FolderId,
            ids: Vec<MessageId>,
        ) -> BoxStream<'static, ItemResult<RawMessage>> {
            let omit = self.fault == Fault::OmitUnknownIds;
            self.inner
                .fetch(folder, ids)
                .filter(move |(_, r)| std::future::ready(!(omit && r.is_err())))
                .boxed()
        }
    }

    #[async_trait]
    impl Destination for Broken {
        async fn ensure_folder(
            &self,
            path: &FolderPath,
            role: Option<SpecialUse>,
        ) -> Result<EnsuredFolder> {
            let mut ensured = self.inner.ensure_folder(path, role).await?;
            if self.fault == Fault::AlwaysCreated {
                ensured.created = true;
            }
            Ok(ensured)
        }
        async fn append(
            &self,
            folder: &FolderId,
            mut messages: Vec<RawMessage>,
        ) -> Result<Vec<Result<Appended>>> {
            if self.fault == Fault::EmptyFailsBatch && messages.iter().any(|m| m.bytes.is_empty()) {
                return Err(crate::Error::new(crate::ErrorKind::InvalidMessage, "empty"));
            }
            for m in &mut messages {
                match self.fault {
                    Fault::RewriteLineEndings => {
                        let text = String::from_utf8_lossy(&m.bytes).replace("\r\n", "\n");
                        m.bytes = Bytes::from(text);
                    }
                    Fault::DropKeywords => m.meta.flags.retain(|f| !f.is_keyword()),
                    Fault::DropLabels => {
                        m.meta.labels.pop_last();
                    }
                    Fault::ShiftInternalDate => {
                        m.meta.internal_date = m
                            .meta
                            .internal_date
                            .map(|d| d.replace_offset(time::UtcOffset::UTC));
                    }
                    _ => {}
                }
            }
            match self.wire {
                Some(addr) => self.append_over(addr, folder, &messages).await,
                None => self.inner.append(folder, messages).await,
            }
        }
        async fn update_flags(
            &self,
            folder: &FolderId,
            id: &MessageId,
            change: &FlagChange,
        ) -> Result<()> {
            let mut change = change.clone();
            match self.fault {
                Fault::UpdateFlagsIgnoresRemovals => change.remove.clear(),
                Fault::UnchangedFlagsNotFound => {
                    // Like reading "no untagged FETCH" as "no such message".
                    let current = self.inner.flags(folder, id)?;
                    if change.apply(&current) == current {
                        return Err(Error::new(ErrorKind::NotFound, "no such message"));
                    }
                }
                _ => {}
            }
            // The inner store has every capability, so it updates even when this one
            // declares it cannot.
            self.inner.update_flags(folder, id, &change).await
        }
        async fn find_existing(
            &self,
            folder: &FolderId,
            key: &DedupeKey,
        ) -> Result<Vec<ExistingCopy>> {
            if self.fault == Fault::OneTwinOnly {
                let mut found = self.inner.find_existing(folder, key).await?;
                found.truncate(1);
                return Ok(found);
            }
            if self.fault != Fault::MatchByMessageIdOnly {
                return self.inner.find_existing(folder, key).await;
            }
            let wanted = key.message_id.clone();
            Ok(self
                .inner
                .messages(folder)?
                .into_iter()
                .filter(|m| wanted.is_some() && DedupeKey::of(m).message_id == wanted)
                .map(|m| ExistingCopy::new(m.meta.id))
                .collect())
        }
        async fn find_existing_many(
            &self,
            folder: &FolderId,
            keys: &[DedupeKey],
        ) -> Result<Vec<Vec<ExistingCopy>>> {
            let mut out = self.inner.find_existing_many(folder, keys).await?;
            if self.fault == Fault::BatchedLookupDropsTwins {
                for found in &mut out {
                    found.truncate(1);
                }
            }
            Ok(out)
        }
        async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
            self.inner.delete(folder, ids).await
        }
    }

    async fn run<F>(fault: Fault, case: F) -> CaseResult
    where
        F: for<'a> AsyncFn(&'a Harness) -> CaseResult,
    {
        let store = MemoryStore::new("broken");
        let upstream = wire_server(store.clone()).await;
        let (renewed, wired) = (store.clone(), store.clone());
        let h = Harness::same(Broken::over(fault, store, None))
            .with_renewal(move |path| {
                let store = renewed.clone();
                Box::pin(async move {
                    let folder = FolderId::new(path.join("/"));
                    store.remove_folder(&folder).map_err(|e| e.to_string())
                })
            })
            .with_wire(upstream, move |addr| {
                let store = wired.clone();
                Box::pin(async move {
                    let dest: Arc<dyn Destination> =
                        Arc::new(Broken::over(fault, store, Some(addr)));
                    Ok(dest)
                })
            });
        let result = case(&h).await;
        h.cleanup().await;
        result
    }

    async fn assert_caught<F>(fault: Fault, case: F, phrase: &str)
    where
        F: for<'a> AsyncFn(&'a Harness) -> CaseResult,
    {
        match run(fault, case).await {
            Err(message) => assert!(
                message.contains(phrase),
                "{fault:?} was caught, but the message does not say {phrase:?}: {message}"
            ),
            Ok(outcome) => panic!("{fault:?} went unnoticed: {outcome:?}"),
        }
    }

    /// Every case of the one case list, against a store without defects and with every
    /// capability: each passes, but for the one that needs an operation to be missing.
    #[tokio::test]
    async fn a_faithful_wrapper_passes_every_case() {
        static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        async fn check<F>(name: &str, case: F)
        where
            F: for<'a> AsyncFn(&'a Harness) -> CaseResult,
        {
            match run(Fault::None, case).await {
                Ok(Outcome::Passed) => {}
                Ok(Outcome::Skipped(_)) => SKIPPED.lock().unwrap().push(name.to_owned()),
                Err(message) => panic!("{name}: {message}"),
            }
        }
        crate::__conformance_cases!(each(check));
        assert_eq!(
            *SKIPPED.lock().unwrap(),
            ["unsupported_op_returns_unsupported"]
        );
    }

    #[tokio::test]
    async fn rewritten_bytes_fail_the_roundtrip() {
        assert_caught(
            Fault::RewriteLineEndings,
            roundtrip::append_then_fetch_roundtrip,
            "did not round-trip",
        )
        .await;
    }

    #[tokio::test]
    async fn dropped_keywords_fail_flags_preserved() {
        assert_caught(Fault::DropKeywords, metadata::flags_preserved, "keyword").await;
    }

    #[tokio::test]
    async fn a_dropped_label_fails_labels_preserved() {
        assert_caught(Fault::DropLabels, metadata::labels_preserved, "were lost").await;
    }

    #[tokio::test]
    async fn a_shifted_instant_fails_internal_date_preserved() {
        assert_caught(
            Fault::ShiftInternalDate,
            metadata::internal_date_preserved,
            "internal date",
        )
        .await;
    }

    #[tokio::test]
    async fn ignoring_removals_fails_update_flags() {
        assert_caught(
            Fault::UpdateFlagsIgnoresRemovals,
            metadata::update_flags_applies_changes,
            "adding one and removing another",
        )
        .await;
    }

    #[tokio::test]
    async fn a_change_already_in_effect_is_not_a_missing_message() {
        assert_caught(
            Fault::UnchangedFlagsNotFound,
            metadata::update_flags_applies_changes,
            "repeating the same change",
        )
        .await;
    }

    #[tokio::test]
    async fn listing_everything_despite_list_since_fails_incremental_changes() {
        assert_caught(
            Fault::ListEverything,
            changes::incremental_changes,
            "expected exactly",
        )
        .await;
    }

    #[tokio::test]
    async fn matching_on_message_id_alone_fails_dedupe() {
        assert_caught(
            Fault::MatchByMessageIdOnly,
            dedupe::dedupe_after_interrupted_write,
            "without Message-ID",
        )
        .await;
    }

    #[tokio::test]
    async fn returning_one_twin_fails_the_twins_case() {
        assert_caught(
            Fault::OneTwinOnly,
            dedupe::find_existing_tells_twins_apart,
            "did not return the twin",
        )
        .await;
    }

    #[tokio::test]
    async fn a_batched_lookup_unlike_the_single_one_fails() {
        assert_caught(
            Fault::BatchedLookupDropsTwins,
            dedupe::batched_lookup_matches_single,
            "find_existing_many answered",
        )
        .await;
    }

    #[tokio::test]
    async fn omitting_unknown_ids_fails_fetch_unknown_id() {
        assert_caught(
            Fault::OmitUnknownIds,
            malformed::fetch_unknown_id_is_not_found,
            "yielded 1 entries",
        )
        .await;
    }

    #[tokio::test]
    async fn failing_the_whole_batch_fails_malformed_isolation() {
        assert_caught(
            Fault::EmptyFailsBatch,
            malformed::malformed_message_isolated,
            "failed as a whole",
        )
        .await;
    }

    #[tokio::test]
    async fn hidden_parents_fail_the_folder_listing() {
        assert_caught(
            Fault::HideParents,
            folders::nested_and_non_ascii,
            "not its parent",
        )
        .await;
    }

    #[tokio::test]
    async fn always_created_fails_idempotence() {
        assert_caught(
            Fault::AlwaysCreated,
            folders::ensure_folder_idempotent,
            "created == true",
        )
        .await;
    }

    #[tokio::test]
    async fn an_unenforced_size_limit_fails_the_large_case() {
        assert_caught(
            Fault::IgnoreMaxSize,
            large::large_message_25mb,
            "MessageTooLarge",
        )
        .await;
    }

    #[tokio::test]
    async fn an_undeclared_operation_that_works_fails_unsupported() {
        assert_caught(
            Fault::DeclaresNoUpdateButUpdates,
            unsupported::unsupported_op_returns_unsupported,
            "update_flags",
        )
        .await;
    }

    #[tokio::test]
    async fn a_stale_checkpoint_that_hides_messages_fails_the_renewal_case() {
        assert_caught(
            Fault::StaleCheckpointHidesMessages,
            changes::renewed_folder_lists_anew,
            "left out its messages",
        )
        .await;
    }

    #[tokio::test]
    async fn a_lost_reply_marked_temporary_fails_the_wire_case() {
        assert_caught(
            Fault::LostReplyTemporary,
            wire::lost_append_reply_is_outcome_unknown,
            "write it again without looking",
        )
        .await;
    }

    #[tokio::test]
    async fn a_lost_reply_marked_temporary_duplicates_under_the_engine() {
        assert_caught(
            Fault::LostReplyTemporary,
            wire::engine_settles_a_reply_lost_on_the_wire,
            "duplicated",
        )
        .await;
    }

    #[tokio::test]
    async fn cases_skip_with_the_missing_capability() {
        let caps = Capabilities {
            list_folders: true,
            fetch: false,
            append: true,
            ..Capabilities::default()
        };
        let h = Harness::same(MemoryStore::with_capabilities("bare", caps));
        let skipped = |r: CaseResult| match r {
            Ok(Outcome::Skipped(reason)) => reason,
            other => panic!("expected a skip, got {other:?}"),
        };
        assert_eq!(
            skipped(roundtrip::append_then_fetch_roundtrip(&h).await),
            "needs fetch"
        );
        assert_eq!(
            skipped(metadata::flags_preserved(&h).await),
            "needs append_with_flags"
        );
        assert_eq!(
            skipped(dedupe::dedupe_after_interrupted_write(&h).await),
            "needs find_existing"
        );
        // Without list_since, incremental listing still must hold every message.
        assert_eq!(changes::incremental_changes(&h).await, Ok(Outcome::Passed));
    }
}
