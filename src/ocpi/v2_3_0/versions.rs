//! Versions module: the 2.3.0 endpoint list (the version list is `ocpi::common::versions`). No
//! routing headers.

crate::ocpi::common::versions::version_details!(V2_3_0, "2.3.0", "");
