//! The round trips a mailbox's first pass waits out before its first message: the
//! destination listed, then its folders created. After a full listing, a folder the
//! listing did not see is created without being looked for, and so are the folders under
//! one just created; one that exists (in another case) is still found, not made twice.
#![cfg(feature = "emulator")]

use mailmigrate_core::{Destination, FolderPath, Provider};
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};

const MAILBOX: &str = "ada@example.com";

fn requests(emu: &EmulatorHandle) -> u64 {
    emu.stats().requests.get(MAILBOX).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_listed_mailbox_creates_new_folders_without_looking_first() {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let before = requests(&emu);
    let listed = graph.list_folders().await.unwrap();
    // Six well-known folders and the top of the tree, sent together.
    assert!(requests(&emu) - before <= 8, "{}", requests(&emu) - before);
    assert!(listed.iter().any(|f| f.path.is_inbox()));

    let before = requests(&emu);
    let path = FolderPath::parse("Engine/INBOX/2024", '/').unwrap();
    let made = graph.ensure_folder(&path, None).await.unwrap();
    assert!(made.created);
    assert_eq!(requests(&emu) - before, 3, "three creates, no look-ups");

    // Known now: no request at all.
    let before = requests(&emu);
    let again = graph.ensure_folder(&path, None).await.unwrap();
    assert_eq!((again.id, again.created), (made.id.clone(), false));
    assert_eq!(requests(&emu), before);

    // A folder made elsewhere after the listing: its create is refused and it is found.
    let other = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let theirs = other
        .ensure_folder(&FolderPath::parse("Shared", '/').unwrap(), None)
        .await
        .unwrap();
    let ours = graph
        .ensure_folder(&FolderPath::parse("shared", '/').unwrap(), None)
        .await
        .unwrap();
    assert_eq!((ours.id, ours.created), (theirs.id, false));
    let names: Vec<String> = emu
        .folders(MAILBOX)
        .into_iter()
        .map(|f| f.display_name)
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("shared"))
            .count(),
        1,
        "{names:?}"
    );
    emu.shutdown().await;
}
