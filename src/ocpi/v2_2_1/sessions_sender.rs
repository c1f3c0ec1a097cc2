//! Sessions sender interface: eMSPs pull the sessions of their own tokens, CPOs their own
//! sessions, in 2.2.1's shape (`total_cost` as `excl_vat`/`incl_vat`) whichever version pushed
//! them.

crate::ocpi::common::sessions_sender::sessions_sender_handlers!(
    v2_2_1,
    V2_2_1,
    "_2_2_1",
    note = " Sessions whose token type OCPI 2.2.1 cannot name (`EMAID`, other values of 2.3.0's open `TokenType`) are left out of the pages and of `X-Total-Count`. A session pushed over 2.3.0 is served with `excl_vat` = `before_taxes` and, when it has `taxes`, `incl_vat` = `before_taxes` plus their amounts."
);
