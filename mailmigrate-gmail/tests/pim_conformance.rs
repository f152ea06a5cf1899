//! The shared PIM conformance suite against the emulator's Calendar and People APIs: a
//! calendars-only store (which declares exactly-once writes), a contacts-only store, and
//! the store holding both.
#![cfg(feature = "emulator")]

use std::time::Duration;

use mailmigrate_core::testkit::pim::PimHarness;
use mailmigrate_gmail::emulator::{Emulator, Quota};
use mailmigrate_gmail::GmailLimits;

const USER: &str = "pim@example.com";

async fn harness(calendars: bool, contacts: bool) -> Option<PimHarness> {
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(1_000_000, Duration::from_secs(60)))
        .start()
        .await
        .expect("the emulator starts");
    let limits =
        GmailLimits::default().with_backoff(Duration::from_millis(10), Duration::from_millis(200));
    let store = emu
        .pim_builder(USER)
        .with_kinds(calendars, contacts)
        .with_gmail(|g| g.with_limits(limits))
        .build()
        .expect("the store builds");
    Some(PimHarness::new(store).with_guard(emu))
}

mod calendars {
    mailmigrate_core::pim_conformance_tests!(super::harness(true, false));
}

mod contacts {
    mailmigrate_core::pim_conformance_tests!(super::harness(false, true));
}

mod both {
    mailmigrate_core::pim_conformance_tests!(super::harness(true, true));
}
