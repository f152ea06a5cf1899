//! The contact and calendar conformance suite on the local stores.

mod memory {
    mailmigrate_core::pim_conformance_tests!(async {
        Some(mailmigrate_core::testkit::pim::PimHarness::new(
            mailmigrate_core::pim::MemoryPim::new("conformance"),
        ))
    });
}

mod vdir {
    mailmigrate_core::pim_conformance_tests!(async {
        let dir = std::env::temp_dir().join(format!(
            "mm-vdir-conformance-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let store = mailmigrate_core::pim::VdirStore::open(&dir).expect("open the vdir store");
        Some(mailmigrate_core::testkit::pim::PimHarness::new(store))
    });
}
