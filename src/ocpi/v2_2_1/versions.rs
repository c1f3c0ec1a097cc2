//! Versions module: the 2.2.1 endpoint list (the version list is `ocpi::common::versions`). No
//! routing headers.

crate::ocpi::common::versions::version_details!(V2_2_1, "2.2.1", "_2_2_1");
