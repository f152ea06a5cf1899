//! The shared conformance suite against the Gmail emulator: every case, through the real
//! HTTP client, the wire cases losing replies on the real connection through the
//! testkit's proxy.
#![cfg(feature = "emulator")]

use std::net::SocketAddr;
use std::sync::Arc;

use mailmigrate_core::testkit::Harness;
use mailmigrate_core::Destination;
use mailmigrate_gmail::emulator::{Emulator, Quota};
use mailmigrate_gmail::GmailLimits;
use std::time::Duration;

const USER: &str = "conformance@example.com";

async fn harness() -> Option<Harness> {
    let emu = Emulator::builder()
        .user(USER)
        // A quick test needs more than a real user's 6,000 units a minute.
        .quota(Quota::default().with_units_per_window(1_000_000, Duration::from_secs(60)))
        .start()
        .await
        .expect("the emulator starts");
    let limits =
        GmailLimits::default().with_backoff(Duration::from_millis(10), Duration::from_millis(200));
    let gmail = emu
        .gmail_builder(USER)
        .with_limits(limits)
        .build()
        .expect("the mailbox builds");
    let upstream: SocketAddr = emu
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .expect("the emulator listens on an address");
    let wire = emu.clone();
    let harness = Harness::same(gmail)
        .with_wire(upstream, move |addr| {
            let emu = wire.clone();
            Box::pin(async move {
                // API calls go through the proxy; tokens come from the emulator directly.
                let gmail = emu
                    .gmail_builder(USER)
                    .with_limits(limits)
                    .with_api_url(format!("http://{addr}"))
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(gmail) as Arc<dyn Destination>)
            })
        })
        .with_guard(emu);
    Some(harness)
}

mailmigrate_core::conformance_tests!(harness());
