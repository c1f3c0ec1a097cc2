//! Tokens receiver interface: eMSPs push (`PUT`, `PATCH`) and read back (`GET`) their own tokens.
//! `TokenType` is open: any type is stored, as a distinct type.

crate::ocpi::common::tokens_receiver::tokens_receiver_handlers!(v2_3_0, V2_3_0, "", put_note = "");
