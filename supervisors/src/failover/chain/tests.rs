//! The configuration manager's rules, one test each, on the core alone: inputs fed by hand,
//! actions compared with what the rule says.

use super::core::{Action, ChainManager, Timing};
use std::time::Duration;
use troupe_actors::chain::config::{self, Transitions};
use troupe_messages::chain::{ChainConfig, ChainStatus};
use troupe_messages::NodeId;

const LEASE: Duration = Duration::from_millis(600);
const HOLD: Duration = Duration::from_millis(960);
const TIMING: Timing = Timing {
    push_every: 10,
    lease: LEASE,
    fresh: 7,
    hold: HOLD,
};

fn n(i: u32) -> NodeId {
    NodeId(i)
}

fn nodes(ids: &[u32]) -> Vec<NodeId> {
    ids.iter().copied().map(n).collect()
}

/// A node's answer to a probe.
fn status(epoch: u64, synced: bool, applied: u64) -> Option<ChainStatus> {
    Some(ChainStatus {
        epoch,
        synced,
        applied,
    })
}

/// A manager of servers 1..=`servers` and chains of `length`, serving `config` (found in the
/// manager, held, then confirmed); and the actions of the confirmation's answer.
fn serving(config: &ChainConfig, servers: u32, length: usize) -> (ChainManager, Vec<Action>) {
    let mut m = ChainManager::new((1..=servers).map(n).collect(), length, TIMING);
    assert_eq!(m.start(), vec![Action::Read]);
    let held = m.on_read(Some(config::encode(config)));
    assert_eq!(
        held,
        vec![hold(config.epoch)],
        "a configuration found is held"
    );
    assert_eq!(m.config(), Some(config));
    let actions = confirm_after(&mut m, m_on_held(config.epoch), config);
    (m, actions)
}

/// `on_held(epoch)`, as a closure for [`confirm_after`].
fn m_on_held(epoch: u64) -> impl FnOnce(&mut ChainManager) -> Vec<Action> {
    move |m| m.on_held(epoch)
}

/// Runs `step`, which must ask for a confirmation, and confirms `config`: the actions the
/// answer brings.
fn confirm_after(
    m: &mut ChainManager,
    step: impl FnOnce(&mut ChainManager) -> Vec<Action>,
    config: &ChainConfig,
) -> Vec<Action> {
    let asked = step(m);
    let id = confirmation(&asked).unwrap_or_else(|| panic!("no confirmation in {asked:?}"));
    m.on_confirmed(id, Some(config::encode(config)))
}

/// The confirmation among `actions`, if any.
fn confirmation(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Confirm { id } => Some(*id),
        _ => None,
    })
}

fn hold(epoch: u64) -> Action {
    Action::Hold { epoch, wait: HOLD }
}

fn push(config: &ChainConfig, to: &[u32]) -> Action {
    Action::Push {
        config: config.clone(),
        lease: LEASE,
        to: nodes(to),
    }
}

fn pushes(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Push { .. }))
        .count()
}

/// The nodes probed, and the round.
fn probes(actions: &[Action]) -> (u64, Vec<NodeId>) {
    let mut round = 0;
    let mut asked = Vec::new();
    for action in actions {
        if let Action::Probe { round: r, node } = action {
            round = *r;
            asked.push(*node);
        }
    }
    (round, asked)
}

/// Answers every probe among `actions` with `answer(node)`; the actions the answers bring.
fn answer(
    m: &mut ChainManager,
    actions: &[Action],
    answer: impl Fn(NodeId) -> Option<ChainStatus>,
) -> Vec<Action> {
    let (round, asked) = probes(actions);
    assert!(!asked.is_empty(), "no probe in {actions:?}");
    let mut after = Vec::new();
    for node in asked {
        after.extend(m.on_probe(round, node, answer(node)));
    }
    after
}

/// The configuration a compare-and-swap among `actions` installs, and the text it expects.
fn swapped(actions: &[Action]) -> Option<(String, ChainConfig)> {
    actions.iter().find_map(|a| match a {
        Action::Swap { expect, value } => config::decode(value).ok().map(|c| (expect.clone(), c)),
        _ => None,
    })
}

/// Ticks until a confirmation is asked for; its id.
fn next_confirmation(m: &mut ChainManager) -> u64 {
    (0..100)
        .find_map(|_| confirmation(&m.on_tick()))
        .expect("a confirmation within 100 ticks")
}

fn ticks(m: &mut ChainManager, count: usize) -> Vec<Action> {
    (0..count).flat_map(|_| m.on_tick()).collect()
}

/// Removes `gone` from the served `config` (the others answer complete): the new
/// configuration, swapped in and held, not yet pushed.
fn remove(m: &mut ChainManager, config: &ChainConfig, gone: u32) -> ChainConfig {
    let asked = m.on_down(n(gone));
    let decided = answer(m, &asked, |_| status(config.epoch, true, 5));
    let (expect, next) = swapped(&decided).expect("a swap");
    assert_eq!(expect, config::encode(config));
    assert_eq!(m.on_swapped(Some(expect)), vec![hold(next.epoch)]);
    next
}

#[test]
fn a_missing_configuration_is_created_then_pushed_with_a_lease_and_watched() {
    let mut m = ChainManager::new(nodes(&[1, 2, 3, 4]), 3, TIMING);
    assert_eq!(m.start(), vec![Action::Read]);
    assert_eq!(m.on_read(None), vec![Action::Read], "no answer: read again");
    let first = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let create = m.on_read(Some(String::new()));
    assert_eq!(swapped(&create), Some((String::new(), first.clone())));
    let served = m.on_swapped(Some(String::new()));
    let mut expected: Vec<Action> = nodes(&[1, 2, 3]).into_iter().map(Action::Watch).collect();
    expected.push(push(&first, &[1, 2, 3]));
    assert_eq!(served, expected, "a chain it created is pushed at once");
    assert_eq!(m.config(), Some(&first));
}

#[test]
fn a_value_that_is_not_a_configuration_is_replaced_by_the_first_chain() {
    let mut m = ChainManager::new(nodes(&[1, 2]), 2, TIMING);
    m.start();
    let actions = m.on_read(Some("1:n1,n2".into()));
    let first = ChainConfig::new(1, nodes(&[1, 2]));
    assert_eq!(swapped(&actions), Some(("1:n1,n2".into(), first)));
}

#[test]
fn leases_are_renewed_every_few_ticks_once_the_manager_confirms_the_configuration() {
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let (mut m, first) = serving(&config, 3, 3);
    assert_eq!(pushes(&first), 1);
    assert_eq!(ticks(&mut m, 9), vec![], "a full chain: nothing to do");
    let due = m.on_tick();
    assert_eq!(
        pushes(&due),
        0,
        "nothing is pushed before the manager confirms"
    );
    let id = confirmation(&due).expect("a confirmation");
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&config))),
        vec![push(&config, &[1, 2, 3])]
    );
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&config))),
        vec![],
        "answered once"
    );
    // A confirmation that came later than the fresh window renews nothing; one that did not
    // come renews nothing either.
    let id = next_confirmation(&mut m);
    ticks(&mut m, 8);
    assert_eq!(m.on_confirmed(id, Some(config::encode(&config))), vec![]);
    let id = next_confirmation(&mut m);
    assert_eq!(m.on_confirmed(id, None), vec![]);
    assert_eq!(m.config(), Some(&config), "still served");
    // An answer to an older confirmation is not taken for the one under way.
    let id = next_confirmation(&mut m);
    assert_eq!(
        m.on_confirmed(id - 1, Some(config::encode(&config))),
        vec![]
    );
    assert_eq!(
        pushes(&m.on_confirmed(id, Some(config::encode(&config)))),
        1
    );
}

#[test]
fn a_configuration_the_manager_no_longer_holds_is_never_renewed_and_its_successor_is_held() {
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let (mut m, _) = serving(&config, 3, 3);
    // Another supervisor removed n3 meanwhile.
    let theirs = config.without(n(3));
    let due = ticks(&mut m, 10);
    let id = confirmation(&due).expect("a confirmation");
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&theirs))),
        vec![hold(2)],
        "not renewed: held, since n3 may still hold a lease the other supervisor renewed"
    );
    assert_eq!(m.config(), Some(&theirs));
    let id = next_confirmation(&mut m);
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&theirs))),
        vec![push(&config, &[1, 2])],
        "during the hold, only the members the new chain keeps are renewed, in the old epoch"
    );
    assert_eq!(m.on_held(1), vec![], "not this configuration's hold");
    let after = confirm_after(&mut m, m_on_held(2), &theirs);
    assert_eq!(after, vec![push(&theirs, &[1, 2])]);
    // Two epochs ahead: the one between might have left a member out and committed without
    // it, so nobody is renewed in the old epoch during the hold.
    let (mut m, _) = serving(&config, 3, 3);
    let later = config.without(n(3)).with_joining(n(3));
    let id = next_confirmation(&mut m);
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&later))),
        vec![hold(3)]
    );
    let id = next_confirmation(&mut m);
    assert_eq!(m.on_confirmed(id, Some(config::encode(&later))), vec![]);
}

#[test]
fn a_member_that_goes_down_is_removed_once_another_holds_a_complete_copy() {
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let (mut m, _) = serving(&config, 3, 3);
    let asked = m.on_down(n(2));
    assert_eq!(probes(&asked).1, nodes(&[1, 3]), "the others are asked");
    let decided = answer(&mut m, &asked, |node| status(1, node == n(3), 5));
    let next = config.without(n(2));
    assert_eq!(
        decided,
        vec![Action::Swap {
            expect: config::encode(&config),
            value: config::encode(&next)
        }],
        "installed at once"
    );
    assert_eq!(m.on_swapped(Some(config::encode(&config))), vec![hold(2)]);
    let installed = confirm_after(&mut m, m_on_held(2), &next);
    assert_eq!(installed, vec![push(&next, &[1, 3])]);
    assert_eq!(m.config(), Some(&next));
}

#[test]
fn a_removed_members_lease_runs_out_before_the_new_chain_is_pushed() {
    // The hold covers a lease renewed by any supervisor just before the swap: a lease, the
    // fresh window of the read that confirmed it, and the push's travel.
    assert!(HOLD > LEASE + Duration::from_millis(20) * (TIMING.fresh as u32 + 1));
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let (mut m, _) = serving(&config, 3, 3);
    let next = remove(&mut m, &config, 1);
    // However long the hold: the new chain is not pushed; the members it keeps have their
    // leases renewed in the old epoch (a write of the new one must pass them), once the manager
    // confirms it holds the new chain; the removed member gets nothing.
    let id = next_confirmation(&mut m);
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&next))),
        vec![push(&config, &[2, 3])]
    );
    let id = next_confirmation(&mut m);
    assert_eq!(
        m.on_confirmed(id, None),
        vec![],
        "not confirmed: nothing renewed"
    );
    assert_eq!(
        m.on_down(n(3)),
        vec![],
        "nothing is decided during the hold"
    );
    assert_eq!(m.on_held(1), vec![], "not this configuration's hold");
    let asked = m.on_held(2);
    assert_eq!(pushes(&asked), 0, "confirmed first");
    assert!(confirmation(&asked).is_some());
    assert_eq!(m.config(), Some(&next));
}

#[test]
fn the_last_complete_copy_is_never_given_up() {
    // n2 joined later and is not complete yet: n1 holds the only complete copy.
    let config = ChainConfig::new(3, nodes(&[1, 2]));
    let (mut m, _) = serving(&config, 2, 2);
    let asked = m.on_down(n(1));
    assert_eq!(probes(&asked).1, nodes(&[2]));
    assert_eq!(answer(&mut m, &asked, |_| status(3, false, 4)), vec![]);
    // Asked again at every tick, never removed while n2 is incomplete.
    for _ in 0..3 {
        let again = m.on_tick();
        assert_eq!(probes(&again).1, nodes(&[2]));
        let decided = answer(&mut m, &again, |_| status(3, false, 4));
        assert_eq!(swapped(&decided), None);
    }
    // The last node of a chain is never removed: nobody is even asked.
    let alone = ChainConfig::new(5, nodes(&[1]));
    let (mut m, _) = serving(&alone, 1, 1);
    assert_eq!(m.on_down(n(1)), vec![]);
    assert_eq!(ticks(&mut m, 9), vec![]);
}

#[test]
fn a_member_that_answers_again_is_taken_back() {
    let alone = ChainConfig::new(5, nodes(&[1]));
    let (mut m, _) = serving(&alone, 1, 1);
    m.on_down(n(1));
    assert!(m.is_down(n(1)));
    assert_eq!(ticks(&mut m, 9), vec![]);
    // A renewal is due: the member known down is asked whether it is back.
    let due = m.on_tick();
    assert_eq!(probes(&due).1, nodes(&[1]));
    let id = confirmation(&due).expect("a confirmation");
    assert_eq!(
        m.on_confirmed(id, Some(config::encode(&alone))),
        vec![],
        "no push to a member known down"
    );
    let back = answer(&mut m, &due, |_| status(5, true, 9));
    assert_eq!(back, vec![Action::Watch(n(1))]);
    assert!(!m.is_down(n(1)));
    assert_eq!(m.config(), Some(&alone), "it stays in the chain");
    // It gets the next renewal, confirmed at the next tick.
    let renewed = confirm_after(&mut m, |m| m.on_tick(), &alone);
    assert_eq!(renewed, vec![push(&alone, &[1])]);
    // A member that does not answer stays down.
    m.on_down(n(1));
    let due = ticks(&mut m, 10);
    assert_eq!(answer(&mut m, &due, |_| None), vec![]);
    assert!(m.is_down(n(1)));
}

#[test]
fn a_joining_node_that_goes_down_is_removed_at_once_without_a_hold() {
    let config = ChainConfig::new(1, nodes(&[1, 2])).with_joining(n(3));
    let (mut m, _) = serving(&config, 3, 3);
    let swap = m.on_down(n(3));
    let next = config.without(n(3));
    assert_eq!(
        swapped(&swap),
        Some((config::encode(&config), next.clone())),
        "it served nobody"
    );
    assert_eq!(
        m.on_swapped(Some(config::encode(&config))),
        vec![push(&next, &[1, 2])]
    );
}

#[test]
fn a_short_chain_takes_the_first_server_that_answers_as_its_joining_node() {
    let config = ChainConfig::new(2, nodes(&[1, 2]));
    let (mut m, _) = serving(&config, 5, 3);
    let asked = m.on_tick();
    assert_eq!(
        probes(&asked).1,
        nodes(&[2, 3, 4, 5]),
        "the tail and the spares"
    );
    // n3 does not answer; n4 does, and comes before n5 in the plan.
    let grown = answer(&mut m, &asked, |node| match node.0 {
        2 => status(2, true, 7),
        3 => None,
        _ => status(0, false, 0),
    });
    let next = config.with_joining(n(4));
    assert_eq!(
        swapped(&grown),
        Some((config::encode(&config), next.clone()))
    );
    assert_eq!(next.nodes, nodes(&[1, 2]));
    assert_eq!(next.joining, Some(n(4)), "behind the tail");
    let served = m.on_swapped(Some(config::encode(&config)));
    assert_eq!(served, vec![Action::Watch(n(4)), push(&next, &[1, 2, 4])]);
}

#[test]
fn a_swap_answered_late_is_confirmed_before_it_is_pushed() {
    let config = ChainConfig::new(2, nodes(&[1, 2])).with_joining(n(3));
    let (mut m, _) = serving(&config, 3, 3);
    let swap = m.on_down(n(3));
    let (expect, next) = swapped(&swap).expect("a swap");
    ticks(&mut m, 8);
    assert_eq!(
        m.on_swapped(Some(expect)),
        vec![],
        "too late to push on its word"
    );
    let renewed = confirm_after(&mut m, |m| m.on_tick(), &next);
    assert_eq!(renewed, vec![push(&next, &[1, 2])]);
}

#[test]
fn a_server_known_down_that_answers_may_join() {
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let (mut m, _) = serving(&config, 3, 3);
    let short = remove(&mut m, &config, 3);
    let pushed = confirm_after(&mut m, m_on_held(2), &short);
    assert!(pushed.contains(&push(&short, &[1, 2])));
    let asked = m.on_tick();
    let grown = answer(&mut m, &asked, |node| {
        status(2 * u64::from(node != n(3)), true, 3)
    });
    assert_eq!(swapped(&grown).map(|s| s.1), Some(short.with_joining(n(3))));
    assert!(!m.is_down(n(3)));
}

#[test]
fn no_node_joins_behind_a_tail_that_is_incomplete_in_another_epoch_or_silent() {
    let config = ChainConfig::new(2, nodes(&[1, 2]));
    let tails = [status(2, false, 7), status(1, true, 7), None];
    for tail in tails {
        let (mut m, _) = serving(&config, 3, 3);
        let asked = m.on_tick();
        let after = answer(&mut m, &asked, |node| match node.0 {
            2 => tail.clone(),
            _ => status(0, false, 0),
        });
        assert_eq!(after, vec![], "tail {tail:?}");
    }
}

#[test]
fn a_joining_node_is_promoted_once_it_has_applied_what_the_tail_had() {
    let config = ChainConfig::new(1, nodes(&[1, 2])).with_joining(n(3));
    let (mut m, _) = serving(&config, 3, 3);
    let joiner_answers = [
        status(2, false, 9),
        status(1, false, 10),
        status(2, false, 10),
    ];
    let mut last = Vec::new();
    for joiner in joiner_answers {
        let asked = m.on_tick();
        assert_eq!(
            probes(&asked).1,
            nodes(&[2, 3]),
            "the tail and the joining node"
        );
        last = answer(&mut m, &asked, |node| match node.0 {
            2 => status(2, true, 10),
            _ => joiner.clone(),
        });
    }
    let promoted = config.promoted();
    assert_eq!(promoted.nodes, nodes(&[1, 2, 3]));
    assert_eq!(swapped(&last), Some((config::encode(&config), promoted)));
}

#[test]
fn a_supervisor_that_loses_the_swap_starts_over_from_the_winners_configuration() {
    let config = ChainConfig::new(1, nodes(&[1, 2, 3]));
    let text = config::encode(&config);
    let (mut old, _) = serving(&config, 3, 3);
    let (mut new, _) = serving(&config, 3, 3);
    // Both see n3 down; the new supervisor installs first.
    let asked_old = old.on_down(n(3));
    let old_swap = answer(&mut old, &asked_old, |_| status(1, true, 3));
    let won = remove(&mut new, &config, 3);
    let winner = config::encode(&won);
    assert_eq!(new.config(), Some(&won));
    // The old one's swap finds the winner's value: it takes that configuration, holds it (it
    // did not see it installed), and its next change starts from the winner's text.
    assert!(swapped(&old_swap).is_some());
    assert_eq!(old.on_swapped(Some(winner.clone())), vec![hold(2)]);
    assert_eq!(old.config(), Some(&won));
    let pushed = confirm_after(&mut old, m_on_held(2), &won);
    assert_eq!(pushed, vec![push(&won, &[1, 2])]);
    let asked = old.on_down(n(2));
    let decided = answer(&mut old, &asked, |_| status(2, true, 3));
    let (expect, next) = swapped(&decided).expect("a swap");
    assert_eq!(expect, winner);
    assert_eq!(next, won.without(n(2)));
    // A swap the manager did not answer may or may not have happened: read again. If it did
    // not, the configuration read is the one served already: pushed at once, no hold.
    let (mut m, _) = serving(&config, 3, 3);
    let asked = m.on_down(n(1));
    answer(&mut m, &asked, |_| status(1, true, 3));
    assert_eq!(m.on_swapped(None), vec![Action::Read]);
    let read = m.on_read(Some(text));
    assert_eq!(read[0], push(&config, &[2, 3]));
    assert_eq!(
        probes(&read).1,
        nodes(&[2, 3]),
        "n1's removal is looked at again"
    );
}

#[test]
fn a_member_that_goes_down_during_a_round_is_checked_when_it_ends() {
    let config = ChainConfig::new(1, nodes(&[1, 2]));
    let (mut m, _) = serving(&config, 3, 3);
    let growing = m.on_tick();
    assert_eq!(probes(&growing).1, nodes(&[2, 3]));
    assert_eq!(m.on_down(n(1)), vec![], "one round at a time");
    let removal = answer(&mut m, &growing, |_| status(1, true, 3));
    assert_eq!(
        probes(&removal).1,
        nodes(&[2]),
        "removal first, growth later"
    );
    assert_eq!(swapped(&removal), None);
    // Answers of a round that is over change nothing.
    assert_eq!(
        m.on_probe(probes(&growing).0, n(2), status(1, true, 3)),
        vec![]
    );
    let decided = answer(&mut m, &removal, |_| status(1, true, 3));
    assert_eq!(swapped(&decided).map(|s| s.1), Some(config.without(n(1))));
}

#[test]
fn a_joining_node_that_goes_down_during_a_round_is_removed_when_it_ends() {
    let config = ChainConfig::new(1, nodes(&[1, 2])).with_joining(n(3));
    let (mut m, _) = serving(&config, 3, 3);
    let promoting = m.on_tick();
    assert_eq!(probes(&promoting).1, nodes(&[2, 3]));
    assert_eq!(m.on_down(n(3)), vec![], "one round at a time");
    // Even an answer that would promote it does not: it is down.
    let removed = answer(&mut m, &promoting, |_| status(2, true, 10));
    assert_eq!(
        swapped(&removed),
        Some((config::encode(&config), config.without(n(3))))
    );
}
