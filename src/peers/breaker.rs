//! What keeps a dead or slow eMSP from slowing anything else (docs/design.md §6 "Authorize
//! flow"): per partner platform, a bound on the forwarded calls in flight and a circuit breaker.
//!
//! The breaker opens after `peers.breaker_failures` consecutive failures; while open the partner
//! counts as unreachable without being called. After `peers.breaker_cooldown_ms` one call probes
//! it (half-open): an answer closes the breaker, a failure opens it for another period. Breakers
//! live in each instance's memory; what other instances must know (the partner is OFFLINE) the
//! caller writes to the database when a breaker opens or closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone, Copy, Debug)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (at least 1).
    pub failures: u32,
    pub cooldown: Duration,
    /// Forwarded calls in flight per partner platform (at least 1).
    pub max_in_flight: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One probe is in flight since `since`.
    HalfOpen {
        since: Instant,
    },
}

/// One partner's breaker: a state machine with the time passed in, so that its table test needs
/// no clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    consecutive_failures: u32,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call.
    Call,
    /// Half-open: this call is the probe.
    Probe,
    /// Open, or a probe is in flight: unreachable without calling.
    Refuse,
}

/// A change other instances and partners must hear of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Closed,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            consecutive_failures: 0,
            state: State::Closed,
        }
    }
}

impl Breaker {
    pub fn admit(&mut self, now: Instant, settings: &BreakerSettings) -> Admission {
        match self.state {
            State::Closed => Admission::Call,
            State::Open { until } if now < until => Admission::Refuse,
            // A probe whose request was dropped (the CPO hung up) never reports back: after
            // another cool-down, the next call probes instead of the breaker staying half-open.
            State::HalfOpen { since } if now < since + settings.cooldown => Admission::Refuse,
            State::Open { .. } | State::HalfOpen { .. } => {
                self.state = State::HalfOpen { since: now };
                Admission::Probe
            }
        }
    }

    /// Records how a call that was let through went.
    pub fn record(
        &mut self,
        succeeded: bool,
        now: Instant,
        settings: &BreakerSettings,
    ) -> Option<Transition> {
        let was_open = self.is_open();
        if succeeded {
            self.consecutive_failures = 0;
            self.state = State::Closed;
            return was_open.then_some(Transition::Closed);
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if was_open || self.consecutive_failures >= settings.failures.max(1) {
            self.state = State::Open {
                until: now + settings.cooldown,
            };
        }
        (!was_open && self.is_open()).then_some(Transition::Opened)
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }
}

/// Why a call may not be made now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The breaker is open (or its probe is in flight).
    Open,
    /// `peers.forward_max_in_flight` calls to this partner are in flight already.
    Busy,
}

/// Leave to call a partner: holds one of its in-flight places until dropped.
#[derive(Debug)]
pub struct Permit {
    _in_flight: OwnedSemaphorePermit,
    /// This call is the half-open probe.
    pub probe: bool,
}

struct Partner {
    breaker: Breaker,
    in_flight: Arc<Semaphore>,
}

/// Every partner platform's breaker and in-flight bound, keyed by platform id.
pub struct Breakers {
    settings: BreakerSettings,
    partners: Mutex<HashMap<i64, Partner>>,
}

impl Breakers {
    pub fn new(settings: BreakerSettings) -> Self {
        Breakers {
            settings,
            partners: Mutex::new(HashMap::new()),
        }
    }

    /// Leave to call `platform_id` now, without waiting: over the in-flight bound or with the
    /// breaker open, refused at once.
    pub fn admit(&self, platform_id: i64, now: Instant) -> Result<Permit, Refusal> {
        let mut partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        let partner = partners.entry(platform_id).or_insert_with(|| Partner {
            breaker: Breaker::default(),
            in_flight: Arc::new(Semaphore::new(self.settings.max_in_flight.max(1))),
        });
        let in_flight = Arc::clone(&partner.in_flight)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)?;
        match partner.breaker.admit(now, &self.settings) {
            Admission::Refuse => Err(Refusal::Open),
            admitted => Ok(Permit {
                _in_flight: in_flight,
                probe: admitted == Admission::Probe,
            }),
        }
    }

    /// Records how a call to `platform_id` went; the transition, if the breaker opened or closed.
    pub fn record(&self, platform_id: i64, succeeded: bool, now: Instant) -> Option<Transition> {
        let mut partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        partners
            .get_mut(&platform_id)
            .and_then(|p| p.breaker.record(succeeded, now, &self.settings))
    }

    pub fn is_open(&self, platform_id: i64) -> bool {
        let partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        partners
            .get(&platform_id)
            .is_some_and(|p| p.breaker.is_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failures: 3,
        cooldown: Duration::from_secs(10),
        max_in_flight: 2,
    };

    /// Each step: (seconds since the start, what happens, what is expected).
    #[derive(Debug)]
    enum Step {
        Admit(Admission),
        Record(bool, Option<Transition>),
    }

    #[test]
    fn breaker_table() {
        use Admission::*;
        use Step::*;
        let steps: Vec<(u64, Step)> = vec![
            (0, Admit(Call)),
            (0, Record(false, None)),
            (0, Record(false, None)),
            (0, Record(true, None)),
            // The count is of consecutive failures: a success started it over.
            (1, Record(false, None)),
            (1, Record(false, None)),
            (1, Admit(Call)),
            (1, Record(false, Some(Transition::Opened))),
            (2, Admit(Refuse)),
            (10, Admit(Refuse)),
            // After the cool-down, one probe; the others still wait.
            (11, Admit(Probe)),
            (11, Admit(Refuse)),
            (12, Record(false, None)),
            (13, Admit(Refuse)),
            (22, Admit(Probe)),
            (22, Record(true, Some(Transition::Closed))),
            (22, Admit(Call)),
            // Closed again: it takes the full count to open it.
            (23, Record(false, None)),
            (23, Record(false, None)),
            (23, Record(false, Some(Transition::Opened))),
            // A probe that never reports back does not keep it half-open for ever.
            (34, Admit(Probe)),
            (35, Admit(Refuse)),
            (44, Admit(Probe)),
            (44, Record(true, Some(Transition::Closed))),
        ];
        let start = Instant::now();
        let mut breaker = Breaker::default();
        for (i, (at, step)) in steps.into_iter().enumerate() {
            let now = start + Duration::from_secs(at);
            match step {
                Admit(expect) => {
                    assert_eq!(breaker.admit(now, &SETTINGS), expect, "step {i} at {at} s")
                }
                Record(ok, expect) => {
                    assert_eq!(
                        breaker.record(ok, now, &SETTINGS),
                        expect,
                        "step {i} at {at} s"
                    )
                }
            }
        }
    }

    #[test]
    fn in_flight_calls_are_bounded_per_partner() {
        let breakers = Breakers::new(SETTINGS);
        let now = Instant::now();
        let first = breakers.admit(1, now).unwrap();
        let _second = breakers.admit(1, now).unwrap();
        assert_eq!(breakers.admit(1, now).unwrap_err(), Refusal::Busy);
        assert!(
            breakers.admit(2, now).is_ok(),
            "another partner has its own bound"
        );
        drop(first);
        assert!(
            breakers.admit(1, now).is_ok(),
            "a finished call frees its place"
        );
    }

    #[test]
    fn an_open_breaker_refuses_without_a_place() {
        let breakers = Breakers::new(BreakerSettings {
            failures: 1,
            ..SETTINGS
        });
        let now = Instant::now();
        drop(breakers.admit(7, now).unwrap());
        assert_eq!(breakers.record(7, false, now), Some(Transition::Opened));
        assert!(breakers.is_open(7));
        assert_eq!(breakers.admit(7, now).unwrap_err(), Refusal::Open);
        let probe = breakers.admit(7, now + SETTINGS.cooldown).unwrap();
        assert!(probe.probe);
        assert_eq!(
            breakers.record(7, true, now + SETTINGS.cooldown),
            Some(Transition::Closed)
        );
        assert!(!breakers.is_open(7));
    }
}
