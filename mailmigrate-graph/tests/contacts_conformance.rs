//! The shared contact and calendar conformance suite against the Graph emulator's
//! contact folders and calendars, through the real HTTP client.
#![cfg(feature = "emulator")]

const MAILBOX: &str = "conformance@example.com";

async fn harness() -> Option<mailmigrate_core::testkit::pim::PimHarness> {
    let emu = mailmigrate_graph::emulator::Emulator::builder()
        .mailbox(MAILBOX)
        .start()
        .await
        .expect("the emulator starts");
    let graph = emu
        .graph_builder(MAILBOX)
        .connect()
        .await
        .expect("the mailbox builds");
    Some(mailmigrate_core::testkit::pim::PimHarness::new(graph).with_guard(emu))
}

mailmigrate_core::pim_conformance_tests!(harness());
