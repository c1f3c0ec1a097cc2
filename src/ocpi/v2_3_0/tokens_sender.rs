//! Tokens sender interface: the paginated token list (CPOs see every eMSP's tokens, an eMSP its
//! own) and real-time authorization (CPOs only).

crate::ocpi::common::tokens_sender::tokens_sender_handlers!(
    v2_3_0,
    V2_3_0,
    "",
    list_note = "",
    authorize_note = ""
);
