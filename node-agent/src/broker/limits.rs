//! Failure limits of the auth broker: after `max_failures` wrong logins within `window`, a login
//! name (whatever its case) or a remote address (an IPv4 address, or the /64 of an IPv6 one) is
//! refused at once, without hashing anything, until the window that began with its first failure
//! ends. One member's flood (or a flood at one member) then costs the node a handful of checks,
//! and other names and addresses keep their full share of the verifier's permits.
//!
//! - A success clears its login name's count (not its address's: one good account must not let
//!   an address go on guessing others).
//! - Memory is bounded: each table holds at most `capacity` keys. When full, expired entries are
//!   swept (at most once a second); if it is still full, a new key is not tracked (it is still
//!   limited by the other table), and a key already refused stays refused: filling the table
//!   cannot free anyone.
//! - Time is a parameter (`now`), so tests run on an injected clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// How one table counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Duration,
    pub capacity: usize,
}

/// The broker's policies: per login name, per remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    pub user: Policy,
    pub address: Policy,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            // A person mistyping a password a few times stays well below.
            user: Policy {
                max_failures: 10,
                window: Duration::from_secs(5 * 60),
                capacity: 10_000,
            },
            // Several people behind one NAT may share an address.
            address: Policy {
                max_failures: 30,
                window: Duration::from_secs(5 * 60),
                capacity: 10_000,
            },
        }
    }
}

/// Why a login was refused without a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    User,
    Address,
}

pub struct FailureLimits {
    users: Table<String>,
    addresses: Table<IpAddr>,
}

impl FailureLimits {
    pub fn new(policies: Policies) -> Self {
        Self {
            users: Table::new(policies.user),
            addresses: Table::new(policies.address),
        }
    }

    /// Is this login to be refused without a check? `user` is what the client typed.
    pub fn blocked(&self, user: &str, address: Option<IpAddr>, now: Instant) -> Option<Blocked> {
        if self.users.blocked(&user_key(user), now) {
            return Some(Blocked::User);
        }
        if address.is_some_and(|a| self.addresses.blocked(&address_key(a), now)) {
            return Some(Blocked::Address);
        }
        None
    }

    pub fn failure(&mut self, user: &str, address: Option<IpAddr>, now: Instant) {
        self.users.fail(user_key(user), now);
        if let Some(a) = address {
            self.addresses.fail(address_key(a), now);
        }
    }

    pub fn success(&mut self, user: &str) {
        self.users.entries.remove(&user_key(user));
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        (self.users.entries.len(), self.addresses.entries.len())
    }
}

fn user_key(user: &str) -> String {
    user.to_ascii_lowercase()
}

/// IPv4 addresses as they are (IPv4-mapped IPv6 ones too); IPv6 by their /64, which one
/// subscriber usually holds whole.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

struct Entry {
    failures: u32,
    since: Instant,
}

struct Table<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
    last_sweep: Option<Instant>,
}

/// How often a full table may be swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl<K: Hash + Eq> Table<K> {
    fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
            last_sweep: None,
        }
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.since) >= self.policy.window
    }

    fn blocked(&self, key: &K, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.failures >= self.policy.max_failures && !self.expired(e, now))
    }

    fn fail(&mut self, key: K, now: Instant) {
        let window = self.policy.window;
        if let Some(entry) = self.entries.get_mut(&key) {
            if now.saturating_duration_since(entry.since) >= window {
                *entry = Entry {
                    failures: 1,
                    since: now,
                };
            } else {
                entry.failures = entry.failures.saturating_add(1);
            }
            return;
        }
        if self.entries.len() >= self.policy.capacity {
            let due = self
                .last_sweep
                .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY);
            if due {
                self.last_sweep = Some(now);
                self.entries
                    .retain(|_, e| now.saturating_duration_since(e.since) < window);
            }
            if self.entries.len() >= self.policy.capacity {
                return;
            }
        }
        self.entries.insert(
            key,
            Entry {
                failures: 1,
                since: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn limits(capacity: usize) -> FailureLimits {
        FailureLimits::new(Policies {
            user: Policy {
                max_failures: 3,
                window: 5 * MINUTE,
                capacity,
            },
            address: Policy {
                max_failures: 5,
                window: 5 * MINUTE,
                capacity,
            },
        })
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_user_is_refused_after_its_failures_and_free_again_after_the_window() {
        let t0 = Instant::now();
        let mut l = limits(100);
        for i in 0..3 {
            assert_eq!(l.blocked("alice@a.test", ip("192.0.2.1"), t0), None);
            // From a different address each time: the user's count still grows.
            l.failure("alice@a.test", ip(&format!("192.0.2.{}", 10 + i)), t0);
        }
        assert_eq!(
            l.blocked("ALICE@a.test", ip("198.51.100.7"), t0 + MINUTE),
            Some(Blocked::User)
        );
        assert_eq!(
            l.blocked("alice@a.test", None, t0 + MINUTE),
            Some(Blocked::User)
        );
        // Other users, from the same addresses, are unaffected.
        assert_eq!(l.blocked("bob@b.test", ip("192.0.2.10"), t0 + MINUTE), None);
        // The window ends five minutes after the first failure.
        assert_eq!(l.blocked("alice@a.test", None, t0 + 5 * MINUTE), None);
        l.failure("alice@a.test", None, t0 + 5 * MINUTE);
        assert_eq!(l.blocked("alice@a.test", None, t0 + 5 * MINUTE), None);
    }

    #[test]
    fn an_address_is_refused_after_its_failures_whoever_it_tries() {
        let t0 = Instant::now();
        let mut l = limits(100);
        for i in 0..5 {
            l.failure(&format!("guess{i}@a.test"), ip("203.0.113.9"), t0);
        }
        assert_eq!(
            l.blocked("bob@b.test", ip("203.0.113.9"), t0),
            Some(Blocked::Address)
        );
        assert_eq!(l.blocked("bob@b.test", ip("203.0.113.10"), t0), None);
        assert_eq!(l.blocked("bob@b.test", None, t0), None);
        // A success does not clear an address.
        l.success("bob@b.test");
        assert_eq!(
            l.blocked("carol@b.test", ip("203.0.113.9"), t0 + MINUTE),
            Some(Blocked::Address)
        );
        assert_eq!(
            l.blocked("carol@b.test", ip("203.0.113.9"), t0 + 5 * MINUTE),
            None
        );
    }

    #[test]
    fn a_success_clears_the_users_count() {
        let t0 = Instant::now();
        let mut l = limits(100);
        l.failure("alice@a.test", None, t0);
        l.failure("alice@a.test", None, t0);
        l.success("Alice@A.test");
        l.failure("alice@a.test", None, t0);
        l.failure("alice@a.test", None, t0);
        assert_eq!(l.blocked("alice@a.test", None, t0), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let t0 = Instant::now();
        let mut l = limits(100);
        for i in 0..5 {
            l.failure(&format!("u{i}"), ip(&format!("2001:db8:1:2::{i:x}")), t0);
        }
        assert_eq!(
            l.blocked("x", ip("2001:db8:1:2:ffff::1"), t0),
            Some(Blocked::Address)
        );
        assert_eq!(l.blocked("x", ip("2001:db8:1:3::1"), t0), None);
        for i in 0..5 {
            l.failure(&format!("v{i}"), ip("::ffff:192.0.2.44"), t0);
        }
        assert_eq!(l.blocked("x", ip("192.0.2.44"), t0), Some(Blocked::Address));
    }

    #[test]
    fn the_tables_stay_bounded_and_filling_them_frees_no_one() {
        let t0 = Instant::now();
        let mut l = limits(10);
        for _ in 0..3 {
            l.failure("victim@a.test", ip("192.0.2.1"), t0);
        }
        // A flood of new names from many addresses.
        for i in 0..1000u32 {
            let octets = i.to_be_bytes();
            let address = IpAddr::from([10, octets[1], octets[2], octets[3]]);
            l.failure(&format!("n{i}@a.test"), Some(address), t0 + MINUTE);
        }
        let (users, addresses) = l.tracked();
        assert!(users <= 10 && addresses <= 10, "{users} {addresses}");
        assert_eq!(
            l.blocked("victim@a.test", None, t0 + MINUTE),
            Some(Blocked::User)
        );
        // Once the first entries expire, a sweep makes room for new ones.
        let later = t0 + 7 * MINUTE;
        l.failure("late@a.test", ip("192.0.2.99"), later);
        assert_eq!(l.tracked(), (1, 1));
    }
}
