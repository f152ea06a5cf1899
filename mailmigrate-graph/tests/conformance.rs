//! The shared conformance suite against the Graph emulator: every case, through the real
//! HTTP client, with the wire cases losing replies on the real connection through the
//! testkit's proxy; once creating messages as JSON, once with `importMime` offered and
//! used (module `import_mime`).
#![cfg(feature = "emulator")]

use std::net::SocketAddr;
use std::sync::Arc;

use mailmigrate_core::testkit::Harness;
use mailmigrate_core::Destination;
use mailmigrate_graph::emulator::Emulator;

const MAILBOX: &str = "conformance@example.com";

async fn harness(import: bool) -> Option<Harness> {
    let emu = Emulator::builder()
        .import_mime(import)
        .mailbox(MAILBOX)
        .start()
        .await
        .expect("the emulator starts");
    let graph = emu
        .graph_builder(MAILBOX)
        .with_import_mime(import)
        .connect()
        .await
        .expect("the mailbox builds");
    let upstream: SocketAddr = emu
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .expect("the emulator listens on an address");
    let wire = emu.clone();
    let harness = Harness::same(graph)
        .with_wire(upstream, move |addr| {
            let emu = wire.clone();
            Box::pin(async move {
                // Graph calls go through the proxy; tokens come from the emulator directly.
                let graph = emu
                    .graph_builder(MAILBOX)
                    .with_graph_url(format!("http://{addr}/v1.0"))
                    .with_import_mime(import)
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(graph) as Arc<dyn Destination>)
            })
        })
        .with_guard(emu);
    Some(harness)
}

mailmigrate_core::conformance_tests!(harness(false));

/// The suite with messages created by `importMime`.
mod import_mime {
    mailmigrate_core::conformance_tests!(super::harness(true));
}
