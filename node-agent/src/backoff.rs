//! Exponential backoff with jitter, for talking to a control plane that is away.
//!
//! Pure: the caller supplies the randomness (a number in `[0, 1)`), so tests can pin it. The
//! nominal delay starts at [`INITIAL`] and doubles with every failure up to [`MAX`]; the jitter
//! takes up to a quarter off it, so agents that lost the control plane together do not all come
//! back in the same second, and the delay still grows at every step (the shortest next delay,
//! three quarters of twice the nominal, is longer than the current nominal).

use std::time::Duration;

/// The delay after the first failure (before jitter).
pub const INITIAL: Duration = Duration::from_secs(1);
/// No delay is ever longer than this.
pub const MAX: Duration = Duration::from_secs(60);
/// The largest share of the nominal delay the jitter takes off.
const JITTER: f64 = 0.25;

/// The failures seen since the last success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff::default()
    }

    /// How many failures in a row were counted since the last [`Backoff::reset`].
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts one more failure and returns how long to wait before trying again. `random` is a
    /// number in `[0, 1)` (values outside are clamped): 0 gives the nominal delay, values towards
    /// 1 shorten it by up to a quarter.
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let nominal = nominal(self.failures);
        self.failures = self.failures.saturating_add(1);
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        nominal.mul_f64(1.0 - JITTER * random).min(MAX)
    }

    /// A success: the next failure starts again from [`INITIAL`].
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `INITIAL * 2^failures`, capped at [`MAX`].
fn nominal(failures: u32) -> Duration {
    // 2^6 s is already past the cap; stop doubling before anything can overflow.
    let factor = 1u32 << failures.min(6);
    INITIAL.saturating_mul(factor).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn starts_at_one_second_and_doubles_up_to_a_minute() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..10).map(|_| backoff.next_delay(0.0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(backoff.failures(), 10);
    }

    #[test]
    fn jitter_takes_at_most_a_quarter_off() {
        let mut backoff = Backoff::new();
        let first = backoff.next_delay(0.999_999);
        assert!(first > Duration::from_millis(750), "{first:?}");
        assert!(first <= INITIAL, "{first:?}");
        // Out-of-range randomness cannot push a delay outside its bounds.
        for random in [-1.0, 2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let delay = Backoff::new().next_delay(random);
            assert!(
                delay >= Duration::from_millis(750) && delay <= INITIAL,
                "{random}: {delay:?}"
            );
        }
    }

    #[test]
    fn never_above_a_minute_and_grows_until_then() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let mut backoff = Backoff::new();
            let mut previous = Duration::ZERO;
            for step in 0..1000 {
                let delay = backoff.next_delay(rng.gen());
                assert!(delay <= MAX, "step {step}: {delay:?}");
                assert!(
                    delay >= MAX.mul_f64(0.75) || delay > previous,
                    "step {step}"
                );
                assert!(
                    delay >= Duration::from_millis(750),
                    "step {step}: {delay:?}"
                );
                previous = delay;
            }
        }
    }

    #[test]
    fn counts_far_past_the_cap_without_overflowing() {
        let mut backoff = Backoff {
            failures: u32::MAX - 1,
        };
        assert_eq!(backoff.next_delay(0.0), MAX);
        assert_eq!(backoff.next_delay(0.0), MAX);
        assert_eq!(backoff.failures(), u32::MAX);
    }

    #[test]
    fn a_success_resets_it() {
        let mut backoff = Backoff::new();
        for _ in 0..8 {
            backoff.next_delay(0.5);
        }
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.next_delay(0.0), INITIAL);
    }
}
