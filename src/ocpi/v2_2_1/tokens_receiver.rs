//! Tokens receiver interface: eMSPs push (`PUT`, `PATCH`) and read back (`GET`) their own tokens.
//! `TokenType` is 2.2.1's closed enum: another type (`EMAID`, say) in the body or in `?type` is
//! refused (OCPI 2001).

crate::ocpi::common::tokens_receiver::tokens_receiver_handlers!(
    v2_2_1,
    V2_2_1,
    "_2_2_1",
    put_note = " `type` must be an OCPI 2.2.1 `TokenType` (`AD_HOC_USER`, `APP_USER`, `OTHER`, `RFID`), in the body and in `?type`; another one (`EMAID`, say) is refused with OCPI 2001 naming `type`. Tokens pushed here are served to 2.3.0 partners too: one registry."
);
