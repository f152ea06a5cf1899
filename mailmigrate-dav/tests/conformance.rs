//! The contact and calendar conformance suite on real CalDAV/CardDAV servers.

mod common;

mod radicale {
    mailmigrate_core::pim_conformance_tests!(async {
        super::common::connect("RADICALE")
            .await
            .map(mailmigrate_core::testkit::pim::PimHarness::new)
    });
}

mod xandikos {
    mailmigrate_core::pim_conformance_tests!(async {
        super::common::connect("XANDIKOS")
            .await
            .map(mailmigrate_core::testkit::pim::PimHarness::new)
    });
}
