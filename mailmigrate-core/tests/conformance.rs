//! The conformance suite against the local stores.
//!
//! Each module runs every case once. The reduced memory stores declare fewer capabilities,
//! so the suite's skip and adapt paths run too: a store that cannot list since a checkpoint,
//! keep keywords, report ids or take large messages, and a minimal one that is not even
//! byte-exact.
//!
//! Maildir and mbox run on a fresh temporary directory each.
#![cfg(feature = "testkit")]

use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::Capabilities;

/// A memory store that cannot list incrementally, keep keywords, report appended ids or
/// take messages over 1 MiB.
fn reduced() -> MemoryStore {
    MemoryStore::with_capabilities(
        "reduced",
        Capabilities {
            list_since: false,
            list_removals: false,
            append_with_keywords: false,
            append_returns_id: false,
            append_max_size: Some(1024 * 1024),
            append_batch_max: 2,
            fetch_batch_max: 3,
            ..MemoryStore::capabilities()
        },
    )
}

/// A memory store declaring only listing, fetching and plain appends, and no byte-exactness.
fn minimal() -> MemoryStore {
    MemoryStore::with_capabilities(
        "minimal",
        Capabilities {
            list_folders: true,
            fetch: true,
            append: true,
            ..Capabilities::default()
        },
    )
}

mod memory {
    mailmigrate_core::conformance_tests!(async {
        let store = mailmigrate_core::store::MemoryStore::new("conformance");
        let handle = store.clone();
        let h = mailmigrate_core::testkit::Harness::same(store).with_renewal(move |path| {
            let handle = handle.clone();
            Box::pin(async move {
                let folder = mailmigrate_core::FolderId::new(path.join("/"));
                handle.remove_folder(&folder).map_err(|e| e.to_string())
            })
        });
        Some(h)
    });
}

mod memory_reduced {
    mailmigrate_core::conformance_tests!(async {
        Some(mailmigrate_core::testkit::Harness::same(super::reduced()))
    });
}

mod memory_minimal {
    mailmigrate_core::conformance_tests!(async {
        Some(mailmigrate_core::testkit::Harness::same(super::minimal()))
    });
}

mod memory_split {
    // Two handles on one mailbox: reading and writing through different objects.
    mailmigrate_core::testkit::conformance_tests!(async {
        let store = mailmigrate_core::store::MemoryStore::new("split");
        Some(mailmigrate_core::testkit::Harness::new(
            store.clone(),
            store,
        ))
    });
}

mod memory_from_env {
    // How a remote target is wired: skipped unless MAILMIGRATE_TEST_MEMORY_* is set, and a
    // failure instead when MAILMIGRATE_TEST_REQUIRE names memory.
    mailmigrate_core::conformance_tests!(async {
        let cfg = mailmigrate_core::testkit::env_config("memory")?;
        let account = cfg
            .get("account")
            .cloned()
            .unwrap_or_else(|| "env".to_owned());
        let store = mailmigrate_core::store::MemoryStore::new(account);
        Some(mailmigrate_core::testkit::Harness::same(store))
    });
}

mod maildir {
    mailmigrate_core::conformance_tests!(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = mailmigrate_core::store::MaildirStore::open(dir.path()).expect("opens");
        // Renewal removes the folder's directory; `ensure_folder` then makes it anew.
        let handle = store.clone();
        let h = mailmigrate_core::testkit::Harness::same(store)
            .with_guard(dir)
            .with_renewal(move |path| {
                use mailmigrate_core::Destination;
                let handle = handle.clone();
                Box::pin(async move {
                    let id = handle
                        .ensure_folder(&path, None)
                        .await
                        .map_err(|e| e.to_string())?
                        .id;
                    let dir = handle.folder_dir(&id).map_err(|e| e.to_string())?;
                    std::fs::remove_dir_all(dir).map_err(|e| e.to_string())
                })
            });
        Some(h)
    });
}

mod mbox {
    mailmigrate_core::conformance_tests!(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = mailmigrate_core::store::MboxStore::open(dir.path()).expect("opens");
        Some(mailmigrate_core::testkit::Harness::same(store).with_guard(dir))
    });
}
