//! The statistics on small histories worked out by hand, the chat summaries
//! word for word, and bad input. The integration tests check the numbers on
//! weeks of generated history written through the ledger.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::tests::{TREES, World, alice, bob, guest, root};
use crate::tree::{Cause, Condition, Edit, Status};
use crate::{Actor, Caller, Change, Command, Network, Parsed, PersonId, Role, parse, words};

pub(crate) fn variants() -> Vec<(Command, Permit)> {
    let s = Command::Stats;
    vec![
        (
            s(Stats::Trees {
                tree: None,
                range: None,
            }),
            Permit::Anyone,
        ),
        (s(Stats::Windows { range: None }), Permit::Anyone),
        (s(Stats::Loaners { range: None }), Permit::Anyone),
        (s(Stats::Trains { range: None }), Permit::Anyone),
    ]
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn reply(w: &World, line: &str) -> String {
    w.try_line(&guest(), line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .reply
}

fn closed(tags: &[&str]) -> Condition {
    Condition {
        status: Status::Closed,
        reason: "x".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        until: None,
    }
}

/// A status change committed directly, as the treestatus API would make it.
fn set(w: &mut World, tree: &str, before: Condition, after: Condition) -> crate::EventId {
    let actor = Actor {
        person: Some(PersonId::new("api")),
        handle: "api".into(),
        network: Network::Http,
        channel: None,
    };
    let change = Change::Tree(crate::tree::Change::Set {
        edits: vec![Edit {
            tree: crate::TreeName::new(tree),
            before,
            after,
        }],
        undoable: true,
        cause: Cause::Command,
    });
    w.commit(actor, vec![change]).expect("a change")
}

#[test]
fn tree_hours_by_category_clipped_to_the_range_and_still_closed_ones_to_now() {
    let mut w = World::with_trees(TREES);
    w.ok(&alice(), "tree close autoland bustage #infra");
    w.advance(Duration::hours(2));
    w.ok(&alice(), "tree open autoland");
    w.advance(Duration::hours(1));
    // Two tags share the hours.
    w.ok(
        &alice(),
        "tree close try tests and infra #checkin-test #infra",
    );
    w.advance(Duration::hours(4));
    assert_eq!(
        reply(&w, "stats trees"),
        "trees, last 30d: closed 6.0 h in 2 closures; closed now: try\n\
         by category: infra 4.0 h, checkin-test 2.0 h\n\
         by tree: try 4.0 h, autoland 2.0 h"
    );
    assert_eq!(reply(&w, "stats trees all 30d"), reply(&w, "stats trees"));
    assert_eq!(
        reply(&w, "stats trees autoland"),
        "tree autoland, last 30d: closed 2.0 h in 1 closure\nby category: infra 2.0 h"
    );
    // The last 3 h: only try's closure, begun before, clipped to the range.
    let s = trees::stats(
        &w.history,
        &w.state.trees,
        None,
        Span::last(Duration::hours(3), w.now),
        w.now,
        w.settings.timezone,
    );
    assert_eq!(s.closures, 0);
    assert_eq!(s.closed_hours, 3.0);
    assert_eq!(s.categories["infra"], 1.5);
    assert_eq!(s.categories["checkin-test"], 1.5);
    assert_eq!(
        reply(&w, "stats trees try 3h"),
        "tree try, last 3h: closed 3.0 h in 0 closures; closed now: try\n\
         by category: checkin-test 1.5 h, infra 1.5 h"
    );
    // Weekly buckets add up to the total.
    let s = trees::stats(
        &w.history,
        &w.state.trees,
        None,
        Span::default_at(w.now),
        w.now,
        w.settings.timezone,
    );
    let weekly: f64 = s.weeks.iter().map(|x| x.closed_hours).sum();
    assert!((weekly - 6.0).abs() < 1e-9, "{weekly}");
    assert_eq!(s.weeks.iter().map(|x| x.closures).sum::<u64>(), 2);
}

#[test]
fn untagged_retagged_amended_and_approval_required() {
    let mut w = World::with_trees(TREES);
    // Closed without a tag (as the treestatus API allows), for 1 h.
    set(&mut w, "autoland", Condition::open(), closed(&[]));
    w.advance(Duration::hours(1));
    // Re-closed with a tag: a new category, not a new closure.
    let retag = set(&mut w, "autoland", closed(&[]), closed(&["merges"]));
    w.advance(Duration::hours(2));
    // Approval required is not closed.
    w.ok(&alice(), "tree approval autoland code freeze");
    w.advance(Duration::hours(5));
    // The 2 h entry's tag is corrected afterwards.
    w.commit(
        Actor::scheduler("amend"),
        vec![Change::Tree(crate::tree::Change::Amend {
            log: retag,
            reason: None,
            tags: Some(vec!["planned".into()]),
        })],
    );
    let s = trees::stats(
        &w.history,
        &w.state.trees,
        None,
        Span::default_at(w.now),
        w.now,
        w.settings.timezone,
    );
    assert_eq!(s.closures, 1);
    assert_eq!(s.closed_hours, 3.0);
    assert_eq!(s.categories.len(), 2, "{:?}", s.categories);
    assert_eq!(s.categories[trees::UNTAGGED], 1.0);
    assert_eq!(s.categories["planned"], 2.0);
    assert!(s.closed_now.is_empty());
}

#[test]
fn a_closure_older_than_the_range_counts_from_its_start() {
    let mut w = World::with_trees(TREES);
    w.ok(&alice(), "tree close mozilla-central long one #infra");
    w.advance(Duration::days(40));
    // Other events after the closure, so the walk must look past the range.
    w.ok(&alice(), "tree close try flaky #other");
    w.advance(Duration::hours(1));
    w.ok(&alice(), "tree open try");
    w.advance(Duration::days(1));
    let s = trees::stats(
        &w.history,
        &w.state.trees,
        None,
        Span::last(Duration::days(7), w.now),
        w.now,
        w.settings.timezone,
    );
    assert_eq!(
        s.trees[&crate::TreeName::new("mozilla-central")],
        7.0 * 24.0
    );
    assert_eq!(s.trees[&crate::TreeName::new("try")], 1.0);
    assert_eq!(s.closures, 1);
}

fn ciduty() -> Caller {
    Caller::person(PersonId::new("carol"), [Role::Ciduty])
}

fn erin() -> Caller {
    Caller::person(PersonId::new("erin"), [Role::Deployer])
}

#[test]
fn loaner_response_times_against_the_sla_fixed_at_request_time() {
    let mut w = World::empty();
    w.settings.pools = vec![crate::loaner::tests::linux()];
    // Sunday noon: due Monday 17:00 (8 working hours).
    w.ok(&bob(), "loaner request linux for 1d repro");
    w.advance(Duration::hours(22));
    w.ok(&ciduty(), "loaner approve 1");
    // Monday 10:00: due Tuesday 10:00.
    w.ok(&alice(), "loaner request linux for 1d bisect");
    w.advance(Duration::hours(26));
    w.ok(&ciduty(), "loaner deny 2 none free");
    // Tuesday 12:00: due Wednesday 12:00; still pending at Wednesday 13:00.
    w.ok(&erin(), "loaner request linux for 1d try");
    w.advance(Duration::hours(1));
    w.ok(&root(), "loaner request linux for 1d mine");
    w.ok(&root(), "loaner cancel 4");
    w.advance(Duration::hours(24));
    assert_eq!(w.now, at("2026-11-25T13:00:00Z"));
    assert_eq!(
        reply(&w, "stats loaners"),
        "loaners, last 30d: 4 requests; 2 answered (1 approved, 1 denied), 1 cancelled, 1 pending (1 past SLA)\n\
         response: median 1d, p90 1d 2h; within SLA: 50% (1 of 2)"
    );
    let s = loaners::stats(
        &w.history,
        &w.state.loaners,
        Span::default_at(w.now),
        w.settings.timezone,
    );
    let a: Vec<(u64, f64, f64, bool)> = s
        .answers
        .iter()
        .map(|a| (a.id, a.response_hours, a.sla_hours, a.within_sla))
        .collect();
    assert_eq!(a, [(1, 22.0, 29.0, true), (2, 26.0, 24.0, false)]);
    // A past span: the denial after its end is no answer yet.
    let past = Span::new(
        at("2026-11-22T00:00:00Z"),
        at("2026-11-24T00:00:00Z"),
        w.now,
    )
    .expect("span");
    let s = loaners::stats(&w.history, &w.state.loaners, past, w.settings.timezone);
    assert_eq!((s.requests, s.answered, s.pending), (2, 1, 1));
    assert_eq!(s.pending_overdue, 0);
    assert_eq!(
        reply(&w, "stats loaners 1h"),
        "loaners, last 1h: 0 requests; 0 answered (0 approved, 0 denied), 0 pending"
    );
}

#[test]
fn train_hold_hours_per_train_release_by_a_new_train_and_held_now() {
    let mut w = World::empty();
    let dave = crate::train::tests::dave();
    w.ok(&dave, "train start 1.0");
    w.advance(Duration::hours(1));
    w.ok(&dave, "train hold T1 login broken");
    w.advance(Duration::hours(2));
    w.ok(&dave, "train resume");
    w.advance(Duration::hours(1));
    w.ok(&dave, "train hold T2 search broken");
    w.advance(Duration::hours(2));
    // A new train releases the held one.
    w.ok(&dave, "train start 1.1");
    w.advance(Duration::hours(1));
    w.ok(&dave, "train hold T3 again");
    w.advance(Duration::hours(1));
    assert_eq!(
        reply(&w, "stats trains"),
        "trains, last 30d: held 5.0 h in 3 holds; held now\n\
         per train (newest first): 1.1 1.0 h in 1 hold; 1.0 4.0 h in 2 holds"
    );
    // The last 3 h: half of 1.0's second hold (begun before) and 1.1's.
    let s = trains::stats(
        &w.history,
        Span::last(Duration::hours(3), w.now),
        w.now,
        w.settings.timezone,
    );
    assert_eq!((s.holds, s.hold_hours), (1, 2.0));
    let per: Vec<(&str, u64, f64)> = s
        .trains
        .iter()
        .map(|t| (t.version.as_str(), t.holds, t.hold_hours))
        .collect();
    assert_eq!(per, [("1.0", 0, 1.0), ("1.1", 1, 1.0)]);
}

#[test]
fn windows_patches_and_durations() {
    let mut w = World::empty();
    w.settings.windows = vec![crate::window::tests::backport()];
    w.now = at("2026-11-23T12:00:00Z");
    w.ok(&erin(), "window start backport");
    w.advance(Duration::minutes(10));
    w.ok(&erin(), "log synced T1");
    w.advance(Duration::minutes(10));
    w.ok(&erin(), "log synced T2");
    w.advance(Duration::minutes(25));
    w.ok(&erin(), "window done");
    w.advance(Duration::minutes(15));
    w.ok(&erin(), "log outside any window");
    w.now = at("2026-11-24T13:00:00Z");
    w.ok(&erin(), "window start backport");
    w.ok(&erin(), "log synced T3");
    w.advance(Duration::minutes(90));
    w.ok(&erin(), "window done");
    w.now = at("2026-11-25T13:00:00Z");
    w.ok(&erin(), "window start backport");
    w.ok(&erin(), "log synced T4");
    w.advance(Duration::minutes(30));
    assert_eq!(
        reply(&w, "stats windows"),
        "windows, last 30d: 3 held (1 still open), 4 patches (1.3 per window)\n\
         duration: median 1h 7m, total 2h 15m\n\
         most patches: backport opened 2026-11-23 12:00 UTC (2)"
    );
    let s = windows::stats(&w.history, Span::default_at(w.now), w.settings.timezone);
    let held: Vec<(u64, Option<f64>)> = s.held.iter().map(|h| (h.patches, h.minutes)).collect();
    assert_eq!(held, [(2, Some(45.0)), (1, Some(90.0)), (1, None)]);
    assert_eq!(s.duration_median_minutes, Some(67.5));
    assert_eq!(
        reply(&w, "stats windows 1h"),
        "windows, last 1h: 1 held (1 still open), 1 patch (1.0 per window)"
    );
    assert_eq!(
        reply(&World::empty(), "stats windows"),
        "windows, last 30d: 0 held"
    );
}

#[test]
fn bad_input_is_refused_with_the_words_quoted() {
    let w = World::with_trees(TREES);
    for (line, want) in [
        (
            "stats trees nope",
            "tree \"nope\" is unknown; trees are: autoland, mozilla-beta, mozilla-central, try",
        ),
        (
            "stats trees 3x",
            "range \"3x\" is malformed; use a length back from now, up to 366 days: 7d, 30d, 12w",
        ),
        ("stats trees autoland 3x", "range \"3x\" is malformed"),
        ("stats trees autoland soon", "range \"soon\" is malformed"),
        ("stats windows 400d", "range \"400d\" is malformed"),
        ("stats loaners -1d", "unexpected argument '-1' found"),
        ("stats trains 0d", "range \"0d\" is malformed"),
    ] {
        let words = words::split(line).expect("split");
        let err = match parse(&words, "!") {
            Ok(Parsed::Run(c)) => crate::handle(&c, &w.ctx(&guest()), &w.state)
                .expect_err(line)
                .to_string(),
            Ok(other) => panic!("{line}: {other:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.starts_with(want), "{line}: {err}");
    }
    let words = words::split("stats foo").expect("split");
    let err = parse(&words, "!").expect_err("unknown verb").to_string();
    assert!(err.starts_with("unrecognized subcommand 'foo'"), "{err}");
    assert!(err.contains("usage: !stats <COMMAND>"), "{err}");
    // Bare `stats` and `help stats` show the verbs.
    let words = words::split("stats").expect("split");
    let Ok(Parsed::Help(text)) = parse(&words, "!") else {
        panic!("bare stats is help")
    };
    for verb in ["trees", "windows", "loaners", "trains"] {
        assert!(text.contains(verb), "{text}");
    }
    let help = reply(&w, "help stats trees");
    assert!(
        help.contains("usage: !stats trees [TREE] [RANGE]"),
        "{help}"
    );
}
