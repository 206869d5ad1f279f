//! Which nodes are secondaries of which: every node that runs a name server gets `secondaries`
//! others (all others when fewer exist), spread so no node carries much more than another,
//! other operators and networks first. A change never leaves a listed server without the zones:
//!
//! 1. a new secondary starts `pending`: it configures and transfers the primary's zones (listed
//!    one by one in its desired state, not read from the primary's catalog) but is not in the
//!    NS records yet;
//! 2. once the monitor has seen it serve every zone of the primary at the primary's serial, it
//!    becomes `active` (the NS records gain it), and if the primary now has more active
//!    secondaries than it needs, the busiest one becomes `retiring` (the NS records lose it);
//! 3. a retiring secondary keeps serving for `retire_seconds` (resolvers cached the old NS set),
//!    then is dropped.
//!
//! [`changes`] is pure; the DNS round (`dns::placement`) reads the store, asks it, and writes
//! what it says in one transaction with its audit entry.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Pending,
    Active,
    Retiring,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Retiring => "retiring",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            "pending" => Some(State::Pending),
            "active" => Some(State::Active),
            "retiring" => Some(State::Retiring),
            _ => None,
        }
    }
}

/// A node that runs a name server: a primary for its own zones, a candidate secondary for others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub operator: Option<String>,
    /// The /24 (IPv4) or /48 (IPv6) of its name server: a rough "same network".
    pub network: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub primary: Uuid,
    pub secondary: Uuid,
    pub state: State,
    /// Seconds since the state was entered.
    pub age_seconds: u64,
    /// The secondary serves every zone of the primary at the primary's serial.
    pub caught_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Add { primary: Uuid, secondary: Uuid },
    Promote { primary: Uuid, secondary: Uuid },
    Retire { primary: Uuid, secondary: Uuid },
    Drop { primary: Uuid, secondary: Uuid },
}

impl Change {
    /// How the audit log shows it.
    pub fn audit(&self) -> serde_json::Value {
        let (what, primary, secondary) = match *self {
            Change::Add { primary, secondary } => ("add", primary, secondary),
            Change::Promote { primary, secondary } => ("promote", primary, secondary),
            Change::Retire { primary, secondary } => ("retire", primary, secondary),
            Change::Drop { primary, secondary } => ("drop", primary, secondary),
        };
        serde_json::json!({ "change": what, "primary": primary, "secondary": secondary })
    }
}

/// What to change, given the nodes that run a name server and today's assignments.
pub fn changes(
    nodes: &[Candidate],
    current: &[Assignment],
    want: usize,
    retire_seconds: u64,
) -> Vec<Change> {
    let by_id: BTreeMap<Uuid, &Candidate> = nodes.iter().map(|n| (n.id, n)).collect();
    let target = want.min(nodes.len().saturating_sub(1));
    let mut changes = Vec::new();
    // What each primary has after the changes planned so far.
    let mut live: BTreeMap<Uuid, BTreeMap<Uuid, State>> = BTreeMap::new();

    for a in current {
        if !by_id.contains_key(&a.primary) || !by_id.contains_key(&a.secondary) {
            // A node left (deleted, or stopped running a name server): nothing to serve from or on.
            changes.push(Change::Drop {
                primary: a.primary,
                secondary: a.secondary,
            });
            continue;
        }
        if a.state == State::Retiring && a.age_seconds >= retire_seconds {
            changes.push(Change::Drop {
                primary: a.primary,
                secondary: a.secondary,
            });
            continue;
        }
        let state = if a.state == State::Pending && a.caught_up {
            changes.push(Change::Promote {
                primary: a.primary,
                secondary: a.secondary,
            });
            State::Active
        } else {
            a.state
        };
        live.entry(a.primary)
            .or_default()
            .insert(a.secondary, state);
    }

    // Load: how many primaries a node serves (or is about to), retiring duties excluded.
    let load = |live: &BTreeMap<Uuid, BTreeMap<Uuid, State>>, node: Uuid| -> usize {
        live.values()
            .filter(|m| matches!(m.get(&node), Some(State::Pending | State::Active)))
            .count()
    };

    // Too many active secondaries (a replacement caught up): retire the busiest extra ones.
    for node in nodes {
        let Some(secs) = live.get(&node.id) else {
            continue;
        };
        let active: Vec<Uuid> = secs
            .iter()
            .filter(|(_, s)| **s == State::Active)
            .map(|(id, _)| *id)
            .collect();
        if active.len() <= target || secs.values().any(|s| *s == State::Pending) {
            continue;
        }
        let mut ranked: Vec<(usize, Uuid)> =
            active.iter().map(|id| (load(&live, *id), *id)).collect();
        ranked.sort_by(|a, b| b.cmp(a));
        for (_, id) in ranked.into_iter().take(active.len() - target) {
            changes.push(Change::Retire {
                primary: node.id,
                secondary: id,
            });
            if let Some(m) = live.get_mut(&node.id) {
                m.insert(id, State::Retiring);
            }
        }
    }

    // Missing secondaries: add the best candidates.
    for node in nodes {
        loop {
            let secs = live.entry(node.id).or_default().clone();
            let serving = secs
                .values()
                .filter(|s| matches!(s, State::Pending | State::Active))
                .count();
            if serving >= target {
                break;
            }
            let Some(best) = best_candidate(nodes, node, &secs, &live, &load) else {
                break;
            };
            changes.push(Change::Add {
                primary: node.id,
                secondary: best,
            });
            live.entry(node.id)
                .or_default()
                .insert(best, State::Pending);
        }
    }

    // Balance: move one duty at a time from a node serving two or more primaries more than the
    // least busy candidate, unless that would put two servers of one operator or network where
    // there were not. The old secondary is retired only once the new one caught up.
    for node in nodes {
        let secs = live.get(&node.id).cloned().unwrap_or_default();
        if secs.values().any(|s| *s == State::Pending) {
            continue;
        }
        let Some((busiest_load, busiest)) = secs
            .iter()
            .filter(|(_, s)| **s == State::Active)
            .map(|(id, _)| (load(&live, *id), *id))
            .max()
        else {
            continue;
        };
        let Some(best) = best_candidate(nodes, node, &secs, &live, &load) else {
            continue;
        };
        let others: Vec<&Candidate> = secs
            .iter()
            .filter(|(id, s)| **id != busiest && matches!(s, State::Active))
            .filter_map(|(id, _)| by_id.get(id).copied())
            .collect();
        let (Some(b), Some(c)) = (by_id.get(&busiest), by_id.get(&best)) else {
            continue;
        };
        if load(&live, best) + 2 <= busiest_load
            && diversity(node, &others, c) <= diversity(node, &others, b)
        {
            changes.push(Change::Add {
                primary: node.id,
                secondary: best,
            });
            live.entry(node.id)
                .or_default()
                .insert(best, State::Pending);
        }
    }
    changes
}

/// The candidate to add as `primary`'s secondary: not itself, not already serving it; other
/// operators first, then other networks, then the least loaded, then by id (deterministic).
fn best_candidate(
    nodes: &[Candidate],
    primary: &Candidate,
    secs: &BTreeMap<Uuid, State>,
    live: &BTreeMap<Uuid, BTreeMap<Uuid, State>>,
    load: &impl Fn(&BTreeMap<Uuid, BTreeMap<Uuid, State>>, Uuid) -> usize,
) -> Option<Uuid> {
    let by_id: BTreeMap<Uuid, &Candidate> = nodes.iter().map(|n| (n.id, n)).collect();
    let chosen: Vec<&Candidate> = secs
        .iter()
        .filter(|(_, s)| matches!(s, State::Pending | State::Active))
        .filter_map(|(id, _)| by_id.get(id).copied())
        .collect();
    nodes
        .iter()
        .filter(|c| c.id != primary.id && !secs.contains_key(&c.id))
        .min_by_key(|c| {
            let (operators, networks) = diversity(primary, &chosen, c);
            (operators, networks, load(live, c.id), c.id)
        })
        .map(|c| c.id)
}

/// How many of the primary and its other secondaries share `c`'s operator, and its network
/// (lower is better).
fn diversity(primary: &Candidate, others: &[&Candidate], c: &Candidate) -> (usize, usize) {
    let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
    let all = || std::iter::once(primary).chain(others.iter().copied());
    (
        all().filter(|o| same(&o.operator, &c.operator)).count(),
        all().filter(|o| same(&o.network, &c.network)).count(),
    )
}

/// The rough network of an address: its /24 or /48.
pub fn network(address: &SocketAddr) -> String {
    match address.ip() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn nodes(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                id: Uuid::from_u128(i as u128 + 1),
                operator: None,
                network: Some("127.0.0.0/24".to_owned()),
            })
            .collect()
    }

    /// Applies a plan to assignments, with every pending secondary catching up at once and
    /// retiring ones past their time, as rounds of the job would.
    fn step(current: &[Assignment], changes: &[Change]) -> Vec<Assignment> {
        let mut map: BTreeMap<(Uuid, Uuid), State> = current
            .iter()
            .map(|a| ((a.primary, a.secondary), a.state))
            .collect();
        for c in changes {
            match *c {
                Change::Add { primary, secondary } => {
                    map.insert((primary, secondary), State::Pending);
                }
                Change::Promote { primary, secondary } => {
                    map.insert((primary, secondary), State::Active);
                }
                Change::Retire { primary, secondary } => {
                    map.insert((primary, secondary), State::Retiring);
                }
                Change::Drop { primary, secondary } => {
                    map.remove(&(primary, secondary));
                }
            }
        }
        map.into_iter()
            .map(|((primary, secondary), state)| Assignment {
                primary,
                secondary,
                state,
                age_seconds: 10_000,
                caught_up: true,
            })
            .collect()
    }

    fn converge(nodes: &[Candidate], mut current: Vec<Assignment>) -> Vec<Assignment> {
        for _ in 0..50 {
            let changes = super::changes(nodes, &current, 2, 60);
            if changes.is_empty() {
                return current;
            }
            current = step(&current, &changes);
        }
        panic!("placement did not settle: {current:?}");
    }

    fn active_of(current: &[Assignment], primary: Uuid) -> BTreeSet<Uuid> {
        current
            .iter()
            .filter(|a| a.primary == primary && a.state == State::Active)
            .map(|a| a.secondary)
            .collect()
    }

    #[test]
    fn three_nodes_serve_each_other() {
        let n = nodes(3);
        let settled = converge(&n, vec![]);
        for node in &n {
            let active = active_of(&settled, node.id);
            assert_eq!(active.len(), 2);
            assert!(!active.contains(&node.id));
        }
    }

    #[test]
    fn a_new_secondary_is_listed_only_once_caught_up() {
        let n = nodes(2);
        let changes = super::changes(&n, &[], 2, 60);
        assert!(changes.iter().all(|c| matches!(c, Change::Add { .. })));
        let pending = step(&[], &changes)
            .into_iter()
            .map(|a| Assignment {
                caught_up: false,
                ..a
            })
            .collect::<Vec<_>>();
        assert!(
            super::changes(&n, &pending, 2, 60).is_empty(),
            "nothing happens until it caught up"
        );
    }

    #[test]
    fn a_fourth_node_takes_over_duties_without_a_gap() {
        let three = nodes(3);
        let settled = converge(&three, vec![]);
        let four = nodes(4);
        let mut current = settled;
        for _ in 0..50 {
            let changes = super::changes(&four, &current, 2, 60);
            if changes.is_empty() {
                break;
            }
            // No primary ever has fewer than 2 listed secondaries during the move.
            let next = step(&current, &changes);
            for node in &three {
                assert!(active_of(&next, node.id).len() >= 2, "{next:?}");
            }
            current = next;
        }
        let mut loads: BTreeMap<Uuid, usize> = BTreeMap::new();
        for a in current.iter().filter(|a| a.state == State::Active) {
            *loads.entry(a.secondary).or_default() += 1;
        }
        assert_eq!(loads.len(), 4, "the new node serves others: {loads:?}");
        let (min, max) = (loads.values().min().unwrap(), loads.values().max().unwrap());
        assert!(max - min <= 1, "{loads:?}");
    }

    #[test]
    fn other_operators_come_first() {
        let mut n = nodes(4);
        n[0].operator = Some("alpha".into());
        n[1].operator = Some("alpha".into());
        n[2].operator = Some("beta".into());
        n[3].operator = Some("gamma".into());
        let settled = converge(&n, vec![]);
        let of_first = active_of(&settled, n[0].id);
        assert!(!of_first.contains(&n[1].id), "{of_first:?}");
    }

    #[test]
    fn a_node_that_left_is_replaced() {
        let four = nodes(4);
        let settled = converge(&four, vec![]);
        let three = nodes(3);
        let after = converge(&three, settled);
        assert!(after
            .iter()
            .all(|a| a.primary != four[3].id && a.secondary != four[3].id));
        for node in &three {
            assert_eq!(active_of(&after, node.id).len(), 2);
        }
    }

    proptest! {
        /// From any start, placement settles with every primary having min(2, n-1) active
        /// secondaries, never itself, with loads within one of each other.
        #[test]
        fn settles_balanced(n in 1usize..9, seed in prop::collection::vec((0usize..9, 0usize..9, 0u8..3), 0..20)) {
            let ns = nodes(n);
            let start: Vec<Assignment> = seed
                .into_iter()
                .filter(|(p, s, _)| p != s)
                .map(|(p, s, st)| ((p, s), Assignment {
                    primary: Uuid::from_u128(p as u128 + 1),
                    secondary: Uuid::from_u128(s as u128 + 1),
                    state: [State::Pending, State::Active, State::Retiring][st as usize],
                    age_seconds: 0,
                    caught_up: false,
                }))
                .collect::<BTreeMap<_, _>>()
                .into_values()
                .collect();
            let settled = converge(&ns, start);
            let want = 2.min(n.saturating_sub(1));
            let mut loads: BTreeMap<Uuid, usize> = ns.iter().map(|c| (c.id, 0)).collect();
            for node in &ns {
                let active = active_of(&settled, node.id);
                prop_assert_eq!(active.len(), want);
                prop_assert!(!active.contains(&node.id));
                for s in active { *loads.get_mut(&s).unwrap() += 1; }
            }
            if n > 1 {
                let (min, max) = (loads.values().min().unwrap(), loads.values().max().unwrap());
                prop_assert!(max - min <= 1, "{:?}", loads);
            }
        }
    }
}
