//! Sessions sender interface: eMSPs pull the sessions of their own tokens, CPOs their own
//! sessions. `total_cost` is a 2.3.0 `Price` (`before_taxes`, `taxes`).

crate::ocpi::common::sessions_sender::sessions_sender_handlers!(v2_3_0, V2_3_0, "", note = "");
