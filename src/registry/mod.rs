//! The registry's policy: the pure authorization decision (docs/design.md §4, §6) and its table
//! test. No actix, no diesel, no clock, no I/O: the service loads the inputs and stores the
//! outcome.

pub mod decision;

pub use decision::{
    decide, route, route_unknown, Decision, DecisionInput, KnownToken, Reason, Route, UnknownRoute,
    UnknownUid,
};
