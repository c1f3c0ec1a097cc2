//! Tokens sender interface: the paginated token list and real-time authorization, over the one
//! registry that 2.3.0 partners push to as well, without the tokens whose type 2.2.1 cannot name.

crate::ocpi::common::tokens_sender::tokens_sender_handlers!(
    v2_2_1,
    V2_2_1,
    "_2_2_1",
    list_note = " Tokens pushed over 2.3.0 are listed too, except those whose type OCPI 2.2.1 cannot name (`EMAID`, other values of 2.3.0's open `TokenType`): they are left out of the pages and of `X-Total-Count`, and counted in the metric `tokenhub_ocpi221_tokens_hidden_total`.",
    authorize_note = " A token whose type OCPI 2.2.1 cannot name (`EMAID`, other values of 2.3.0's open `TokenType`, asked for with that `?type`) is unknown here: HTTP 404, OCPI 2004."
);
