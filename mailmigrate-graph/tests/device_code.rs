//! Delegated access by device code against the emulator: a person signs in at the
//! verification page while the flow polls at the announced interval; the refresh token
//! then carries a mailbox through expired access tokens; a delegated token reaches its own
//! mailbox only; a declined or expired sign-in is a clear error.

use std::time::Duration;

use mailmigrate_core::{ErrorKind, Provider};
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};
use mailmigrate_graph::GraphBuilder;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

/// A builder pointed at the emulator, with no credentials yet.
fn builder(emu: &EmulatorHandle, upn: &str) -> GraphBuilder {
    GraphBuilder::new(upn)
        .with_graph_url(emu.graph_url())
        .with_authority_url(emu.base_url())
        .allow_plaintext(true)
}

async fn emulator(lifetime: Duration) -> EmulatorHandle {
    Emulator::builder()
        .mailbox(ADA)
        .mailbox(BOB)
        .device_code_interval(Duration::from_secs(1))
        .device_code_lifetime(lifetime)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_device_code_sign_in_gives_a_refresh_token_that_outlives_access_tokens() {
    let emu = emulator(Duration::from_secs(900)).await;
    let flow = builder(&emu, ADA)
        .device_code_flow(&emu.tenant(), &emu.client_id())
        .unwrap();
    let sign_in = flow.start().await.unwrap();
    let code = sign_in.user_code().to_owned();
    assert!(sign_in.message().contains(&code), "{}", sign_in.message());
    assert_eq!(
        sign_in.verification_uri(),
        "https://microsoft.com/devicelogin"
    );
    // The person signs in a little later, on another device.
    let approver = {
        let emu = emu.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert!(emu.approve_device_code(&code, ADA));
        })
    };
    let signed_in = sign_in.finish().await.unwrap();
    approver.await.unwrap();
    assert_eq!(emu.stats().early_device_polls, 0, "polls wait the interval");
    let refresh = signed_in.refresh_token().cloned().expect("a refresh token");
    assert!(!format!("{signed_in:?}").contains(refresh.expose_secret()));

    let ada = builder(&emu, ADA)
        .with_refresh_token(emu.tenant(), emu.client_id(), refresh.clone())
        .connect()
        .await
        .unwrap();
    assert!(!ada.list_folders().await.unwrap().is_empty());
    // Every access token expires: the refresh token gets new ones, the run goes on.
    let issued = emu.stats().tokens_issued;
    emu.faults().expire_tokens();
    assert!(!ada.list_folders().await.unwrap().is_empty());
    assert!(emu.stats().tokens_issued > issued);

    // A person's token reaches the person's own mailbox, not another's.
    let bob = builder(&emu, BOB)
        .with_refresh_token(emu.tenant(), emu.client_id(), refresh)
        .connect()
        .await
        .unwrap();
    let e = bob.list_folders().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_declined_or_expired_sign_in_says_so() {
    let emu = emulator(Duration::from_secs(3)).await;
    let flow = builder(&emu, ADA)
        .device_code_flow(&emu.tenant(), &emu.client_id())
        .unwrap();
    let sign_in = flow.start().await.unwrap();
    assert!(emu.decline_device_code(sign_in.user_code()));
    let e = sign_in.finish().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("declined"), "{e}");

    // Nobody signs in: the code runs out.
    let e = flow.start().await.unwrap().finish().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("expired"), "{e}");

    // An unknown client is refused at the start.
    let other = builder(&emu, ADA)
        .device_code_flow(&emu.tenant(), "no-such-app")
        .unwrap();
    let e = other.start().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    emu.shutdown().await;
}
