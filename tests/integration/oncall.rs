//! Shifts and duty end to end on an injected clock: a week of handoffs across
//! a DST change and a restart, overrides and swaps, duty roles, the digest,
//! status alerts that survive a restart, and the rotation proxy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};
use signalbox::config::Config;
use signalbox::outbox::Destination;
use signalbox_commands::Change;
use signalbox_commands::oncall::Change as DutyChange;

use crate::common::{at, event_count, http, say, serve};

fn config(dir: &Path, extra: &str) -> Config {
    Config::from_text(
        &config_text(dir, extra),
        "oncall.toml",
        &HashMap::new(),
        None,
    )
    .expect("oncall test config")
}

fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        r#"
[bot]
data_dir = {data:?}
timezone = "Europe/Berlin"
console_as = "alice"
[http]
listen = "127.0.0.1:0"
[trees]
names = ["autoland", "try"]
[announce]
trees = ["console:#ops"]
status = ["console:#ops", "console:#dev"]
[people.alice]
roles = ["admin"]
email = "alice@example.org"
[people.bob]
email = "bob@example.org"
[people.carol]
email = "carol@example.org"
[[rotations]]
name = "ci"
members = ["alice", "bob", "carol"]
shift = "1d"
start = "2026-10-20 09:00"
timezone = "Europe/Berlin"
channels = ["console:#ci"]
grants = ["sheriff"]
[liaisons]
security = ["alice"]
ci = "rotation:ci"
[topics]
"console:#ops" = "ops topic"
"console:#dev" = "dev topic"
{extra}
"#,
        data = dir.join("data").display().to_string()
    )
}

async fn open(dir: &Path, clock: &Arc<ManualClock>) -> Bot {
    open_with(dir, clock, "").await
}

/// The test config plus `extra` TOML (pools, train, windows, rotations).
async fn open_with(dir: &Path, clock: &Arc<ManualClock>, extra: &str) -> Bot {
    Bot::open(config(dir, extra), clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot")
}

/// (instant, incoming person) of every handoff of `rotation` recorded so far.
fn handoffs(bot: &Bot, name: &str) -> Vec<(DateTime<Utc>, String)> {
    bot.ledger
        .events()
        .expect("events")
        .into_iter()
        .flat_map(|e| e.changes.into_iter().map(move |c| (e.at, c)))
        .filter_map(|(t, c)| match c {
            Change::Duty(DutyChange::HandedOff {
                rotation, person, ..
            }) if rotation == name => Some((t, person.map(|p| p.to_string()).unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn outbox_texts(bot: &Bot, to: &str) -> Vec<String> {
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == to)
        .map(|e| e.text)
        .collect()
}

#[tokio::test]
async fn a_week_of_handoffs_across_dst_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T04:00:00Z")));
    let mut bot = open(dir.path(), &clock).await;
    bot.scheduler().tick().await; // first sight: alice is on, nothing to hand over
    let end = at("2026-10-28T12:00:00Z");
    let restart_at = at("2026-10-24T12:00:00Z");
    while clock.now() < end {
        clock.advance(Duration::hours(1));
        if clock.now() == restart_at {
            drop(bot);
            bot = open(dir.path(), &clock).await;
        }
        bot.scheduler().tick().await;
    }
    let want: Vec<(DateTime<Utc>, String)> = [
        ("2026-10-21T04:00:00Z", "alice"),
        ("2026-10-21T07:00:00Z", "bob"),
        ("2026-10-22T07:00:00Z", "carol"),
        ("2026-10-23T07:00:00Z", "alice"),
        ("2026-10-24T07:00:00Z", "bob"),
        // Clocks go back on 2026-10-25: 09:00 in Berlin is now 08:00 UTC.
        ("2026-10-25T08:00:00Z", "carol"),
        ("2026-10-26T08:00:00Z", "alice"),
        ("2026-10-27T08:00:00Z", "bob"),
        ("2026-10-28T08:00:00Z", "carol"),
    ]
    .into_iter()
    .map(|(t, p)| (at(t), p.to_string()))
    .collect();
    assert_eq!(handoffs(&bot, "ci"), want);
    let posted = outbox_texts(&bot, "console:#ci");
    assert_eq!(posted.len(), 8, "one digest per shift change: {posted:#?}");
    assert!(
        posted[0]
            .starts_with("ci handoff: alice → bob until 2026-10-22 09:00 CEST. nothing is open."),
        "{}",
        posted[0]
    );
    assert!(
        posted[4].starts_with("ci handoff: bob → carol until 2026-10-26 09:00 CET"),
        "{}",
        posted[4]
    );
    let dms = bot
        .ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| matches!(e.to, Destination::Direct { .. }))
        .count();
    assert_eq!(dms, 0, "nobody here has a chat handle to DM");
}

#[tokio::test]
async fn overrides_and_swaps_change_who_is_on_and_who_the_handoff_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z"))); // 10:00 Berlin, bob's day
    let bot = open(dir.path(), &clock).await;
    bot.scheduler().tick().await;
    assert_eq!(
        say(&bot, "carol", "!oncall").await,
        "ci: bob until 2026-10-22 09:00 CEST"
    );

    let reply = say(
        &bot,
        "alice",
        "!oncall override ci carol 2026-10-21T12:00 2026-10-21T15:00",
    )
    .await;
    assert!(
        reply.starts_with(
            "carol is on ci shift from 2026-10-21 12:00 CEST until 2026-10-21 15:00 CEST"
        ),
        "{reply}"
    );
    let overlap = say(
        &bot,
        "bob",
        "!oncall override ci alice 2026-10-21T14:00 2026-10-21T16:00",
    )
    .await;
    assert!(
        overlap.starts_with("overlaps override 1 (carol from"),
        "{overlap}"
    );
    let outsider = say(
        &bot,
        "mallory",
        "!oncall override ci bob 2026-10-21T16:00 2026-10-21T17:00",
    )
    .await;
    assert!(
        outsider.contains("needs an identified account"),
        "{outsider}"
    );

    clock.set(at("2026-10-21T10:00:00Z"));
    bot.scheduler().tick().await;
    clock.set(at("2026-10-21T13:00:00Z"));
    bot.scheduler().tick().await;
    let names: Vec<String> = handoffs(&bot, "ci").into_iter().map(|(_, p)| p).collect();
    assert_eq!(names, ["bob", "carol", "bob"]);
    let ci = outbox_texts(&bot, "console:#ci");
    assert!(
        ci[0].starts_with("ci handoff: bob → carol until 2026-10-21 15:00 CEST"),
        "{ci:#?}"
    );
    assert!(
        ci[1].starts_with("ci handoff: carol → bob until 2026-10-22 09:00 CEST"),
        "{ci:#?}"
    );

    // bob offers his 2026-10-24 shift; alice is not on that day, so she cannot.
    let not_mine = say(&bot, "alice", "!oncall swap request ci 2026-10-24 travel").await;
    assert_eq!(
        not_mine,
        "alice is not on ci shift on \"2026-10-24\" (bob is); nothing to swap"
    );
    let offer = say(&bot, "bob", "!oncall swap request ci 2026-10-24 dentist").await;
    assert!(
        offer.contains("(take it with !oncall swap take 2)"),
        "{offer}"
    );
    assert!(
        say(&bot, "bob", "!oncall swap take 2")
            .await
            .contains("is your own shift")
    );
    let taken = say(&bot, "carol", "!oncall swap take 2").await;
    assert!(
        taken.starts_with("carol takes bob's ci shift 2026-10-24 09:00 CEST"),
        "{taken}"
    );
    assert!(
        say(&bot, "alice", "!oncall swap take 2")
            .await
            .contains("already taken by carol")
    );
    let next = say(&bot, "bob", "!oncall next ci 4").await;
    assert!(
        next.contains("ci: carol from 2026-10-24 09:00 CEST"),
        "{next}"
    );

    clock.set(at("2026-10-24T07:00:00Z"));
    bot.scheduler().tick().await;
    let last = handoffs(&bot, "ci").pop().expect("handoff");
    assert_eq!(last, (at("2026-10-24T07:00:00Z"), "carol".to_string()));
    assert!(
        outbox_texts(&bot, "console:#ci")
            .last()
            .expect("digest")
            .starts_with("ci handoff: alice → carol")
    );

    // Bad input changes nothing.
    let events = event_count(&bot);
    for (line, want) in [
        (
            "!oncall who nope",
            "rotation \"nope\" is unknown; rotations are: ci",
        ),
        (
            "!oncall override ci dave 2026-10-25 2026-10-26",
            "person \"dave\" is unknown",
        ),
        (
            "!oncall override ci bob 2026-10-26 2026-10-25",
            "is not after",
        ),
        (
            "!oncall override ci bob tomorrow 2026-10-26",
            "time \"tomorrow\" is malformed",
        ),
        ("!oncall swap take 99", "swap \"99\" is unknown"),
        (
            "!who nothing",
            "area \"nothing\" is unknown; areas are: ci, security",
        ),
    ] {
        let reply = say(&bot, "alice", line).await;
        assert!(reply.contains(want), "{line}: {reply}");
    }
    assert_eq!(event_count(&bot), events);
    assert_eq!(
        say(&bot, "bob", "!who ci").await,
        "ci: carol (on shift in ci)"
    );
    assert_eq!(
        say(&bot, "alice", "!role set security bob carol").await,
        "security is covered by bob, carol"
    );
    assert_eq!(
        say(&bot, "bob", "!who security").await,
        "security: bob, carol"
    );
}

#[tokio::test]
async fn duty_roles_follow_the_shift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z"))); // bob's day
    let bot = open(dir.path(), &clock).await;
    assert!(
        say(&bot, "bob", "!whoami")
            .await
            .ends_with("roles by duty now: sheriff, duty")
    );
    let closed = say(&bot, "bob", "!tree close try flaky #infra").await;
    assert!(closed.starts_with("closed try"), "{closed}");
    assert!(
        say(&bot, "carol", "!tree open try")
            .await
            .starts_with("tree open needs role \"sheriff\"")
    );

    clock.set(at("2026-10-22T07:00:00Z")); // carol's shift begins
    bot.scheduler().tick().await;
    let refused = say(&bot, "bob", "!tree open try").await;
    assert_eq!(
        refused,
        "tree open needs role \"sheriff\"; bob holds no role"
    );
    assert!(
        say(&bot, "carol", "!tree open try fixed")
            .await
            .starts_with("opened try")
    );
}

/// A pool, a train and a daily deploy window, so every kind of open item
/// can appear in a digest.
const FAMILIES: &str = r#"
[train]
groups = ["group0", "group1", "all"]
[[windows]]
name = "backport"
cron = "0 0 13 * * Mon-Fri"
duration = "1h"
timezone = "UTC"
deployers = ["alice"]
[[pools]]
name = "mac"
machines = ["mac-01", "mac-02"]
default_loan = "12h"
max_loan = "2d"
quota = 2
sla_hours = 1
"#;

/// CI duty handed over by cron on Monday and Thursday mornings, with a pool
/// whose requests CI duty approves.
const CIDUTY: &str = r#"
[[rotations]]
name = "ciduty"
members = ["bob", "carol"]
handoff = "0 0 9 * * Mon,Thu"
start = "2026-10-19 09:00"
timezone = "Europe/Berlin"
channels = ["console:#ciduty"]
grants = ["ciduty"]
[[pools]]
name = "mac"
machines = ["mac-01", "mac-02"]
default_loan = "1d"
max_loan = "2d"
quota = 2
sla_hours = 8
"#;

#[tokio::test]
async fn cron_handoffs_fire_at_each_firing_across_dst_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-19T12:00:00Z")));
    let mut bot = open_with(dir.path(), &clock, CIDUTY).await;
    bot.scheduler().tick().await; // first sight: bob is on
    let end = at("2026-11-03T00:00:00Z");
    let restart_at = at("2026-10-27T00:00:00Z");
    while clock.now() < end {
        clock.advance(Duration::hours(1));
        if clock.now() == restart_at {
            drop(bot);
            bot = open_with(dir.path(), &clock, CIDUTY).await;
        }
        bot.scheduler().tick().await;
    }
    let want: Vec<(DateTime<Utc>, String)> = [
        ("2026-10-19T12:00:00Z", "bob"),
        ("2026-10-22T07:00:00Z", "carol"),
        // Clocks go back on 2026-10-25: 09:00 in Berlin is now 08:00 UTC.
        ("2026-10-26T08:00:00Z", "bob"),
        ("2026-10-29T08:00:00Z", "carol"),
        ("2026-11-02T08:00:00Z", "bob"),
    ]
    .into_iter()
    .map(|(t, p)| (at(t), p.to_string()))
    .collect();
    assert_eq!(handoffs(&bot, "ciduty"), want);
    let posted = outbox_texts(&bot, "console:#ciduty");
    assert_eq!(posted.len(), 4, "one digest per shift change: {posted:#?}");
    assert!(
        posted[1].starts_with("ciduty handoff: carol → bob until 2026-10-29 09:00 CET"),
        "{}",
        posted[1]
    );
    assert_eq!(
        say(&bot, "bob", "!oncall next ciduty 2").await,
        "ciduty: carol from 2026-11-05 09:00 CET\nciduty: bob from 2026-11-09 09:00 CET"
    );
}

#[tokio::test]
async fn the_ciduty_shift_approves_loaners_until_it_hands_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z"))); // Wed: bob's shift
    let bot = open_with(dir.path(), &clock, CIDUTY).await;
    bot.scheduler().tick().await;
    assert!(
        say(&bot, "bob", "!whoami").await.contains("ciduty"),
        "whoami shows the duty role"
    );
    say(&bot, "alice", "!loaner request mac reproduce a flake").await;
    assert_eq!(
        say(&bot, "carol", "!loaner approve 1").await,
        r#"loaner approve needs role "ciduty"; carol holds no role"#
    );
    let approved = say(&bot, "bob", "!loaner approve 1").await;
    assert!(approved.contains("mac-01"), "{approved}");

    clock.set(at("2026-10-22T07:00:00Z")); // Thu 09:00 CEST: carol takes over
    bot.scheduler().tick().await;
    let digest = outbox_texts(&bot, "console:#ciduty");
    assert!(
        digest
            .iter()
            .any(|d| d.starts_with("ciduty handoff: bob → carol")),
        "{digest:#?}"
    );
    say(&bot, "alice", "!loaner request mac bisect a crash").await;
    let events = event_count(&bot);
    assert_eq!(
        say(&bot, "bob", "!loaner approve 2").await,
        r#"loaner approve needs role "ciduty"; bob holds no role"#
    );
    assert_eq!(event_count(&bot), events, "a refusal changes nothing");
    let approved = say(&bot, "carol", "!loaner approve 2").await;
    assert!(approved.contains("mac-02"), "{approved}");
}

#[tokio::test]
async fn the_digest_lists_open_items_or_says_nothing_is_open() {
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z"))); // Wed 10:00 CEST
    let quiet_dir = tempfile::tempdir().expect("tempdir");
    let quiet_bot = open(quiet_dir.path(), &clock).await;
    assert_eq!(
        say(&quiet_bot, "carol", "!oncall handoff ci").await,
        "ci handoff: bob is on shift until 2026-10-22 09:00 CEST. nothing is open."
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bot = open_with(dir.path(), &clock, FAMILIES).await;
    bot.scheduler().tick().await;
    // Today's 13:00 UTC window falls in bob's shift.
    assert_eq!(
        say(&bot, "carol", "!oncall handoff ci").await,
        "ci handoff: bob is on shift until 2026-10-22 09:00 CEST. open:\n\
         - deploy window backport at 2026-10-21 15:00 CEST"
    );

    say(&bot, "alice", "!tree close autoland bustage #infra").await;
    say(&bot, "alice", "!train start 1.44.0-wmf.3").await;
    let held = say(&bot, "alice", "!train hold T123 login broken on group1").await;
    assert!(held.contains("held"), "{held}");
    let first = say(&bot, "carol", "!loaner request mac reproduce a flake").await;
    assert!(first.contains("#1"), "{first}");
    say(&bot, "bob", "!loaner request mac bisect a crash").await;
    let approved = say(&bot, "alice", "!loaner approve 2").await;
    assert!(approved.contains("mac-01"), "{approved}");
    say(&bot, "alice", "!status alert CI is down").await;
    clock.advance(Duration::minutes(90)); // #1 passes its one-hour SLA
    bot.scheduler().tick().await;
    say(&bot, "carol", "!loaner request mac a second look").await;

    let busy = say(&bot, "carol", "!oncall handoff").await;
    let want = [
        "ci handoff: bob is on shift until 2026-10-22 09:00 CEST. open:",
        "- tree autoland closed for 1h 30m: bustage",
        "- train 1.44.0-wmf.3 held at group0 for 1h 30m on T123: login broken on group1",
        "- loaner request #1 pending from carol (mac) — OVERDUE",
        "- loaner #2 (mac-01) of bob expires 2026-10-21 22:00 CEST",
        "- loaner request #3 pending from carol (mac)",
        "- deploy window backport at 2026-10-21 15:00 CEST",
        // Replies end with links for the task ids they mention.
        "- status alert since 2026-10-21 10:00 CEST: CI is down \
         (T123 https://phabricator.wikimedia.org/T123)",
    ];
    assert_eq!(busy.lines().collect::<Vec<_>>(), want, "{busy}");
    assert!(
        outbox_texts(&bot, "console:#ci").contains(&busy),
        "posted to the rotation's channels"
    );

    // Items outside the next shift stay out: after bob returns mac-01 and
    // the train resumes, only what is still open is listed.
    say(&bot, "bob", "!loaner return 2").await;
    say(&bot, "alice", "!train resume").await;
    let later = say(&bot, "carol", "!oncall handoff ci").await;
    assert!(!later.contains("loaner #2"), "{later}");
    assert!(!later.contains("train"), "{later}");
}

#[tokio::test]
async fn status_alert_survives_a_restart_and_ok_restores_topics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z")));
    {
        let bot = open(dir.path(), &clock).await;
        let refused = say(&bot, "carol", "!status alert nope").await;
        assert!(
            refused.starts_with("status alert needs role \"duty\""),
            "{refused}"
        );
        say(&bot, "bob", "!status alert CI is down, do not land").await; // on shift: may alert
        let topics = outbox_texts(&bot, "console:#ops (topic)");
        assert_eq!(topics, ["ALERT: CI is down, do not land"]);
    }
    let bot = open(dir.path(), &clock).await;
    assert!(
        say(&bot, "alice", "!status ok CI is back")
            .await
            .starts_with("alert from bob")
    );
    assert_eq!(
        outbox_texts(&bot, "console:#ops (topic)"),
        ["ALERT: CI is down, do not land", "ops topic"]
    );
    assert_eq!(
        outbox_texts(&bot, "console:#dev (topic)")
            .last()
            .map(String::as_str),
        Some("dev topic")
    );
    assert!(
        say(&bot, "alice", "!status ok")
            .await
            .contains("there is no active alert")
    );
    assert_eq!(bot.ledger.state().status.alert, None);
}

#[tokio::test]
async fn rotation_proxy_returns_the_on_shift_email() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z")));
    let bot = open(dir.path(), &clock).await;
    let (addr, shutdown) = serve(&bot).await;
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http(addr, "GET", path));
    let (code, body) = get("/current/ci").await.expect("join");
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["emails"], serde_json::json!(["bob@example.org"]));
    let (code, _) = get("/current/nope").await.expect("join");
    assert_eq!(code, 404);
    let (_, body) = get("/api/v1/oncall").await.expect("join");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["result"][0]["person"], "bob");
    assert_eq!(json["result"][0]["next"][0]["person"], "carol");
    assert_eq!(bot.ledger.state().duty.overrides.len(), 0);
    shutdown.cancel();
}

/// Handoff digests go to the rotation's channels and to `[announce]
/// handoff`, once to a channel that both name.
#[tokio::test]
async fn handoff_digests_also_go_to_the_handoff_channels_once_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T04:00:00Z")));
    let text = config_text(dir.path(), "").replace(
        "[announce]\n",
        "[announce]\nhandoff = [\"console:#ci\", \"console:#handoffs\"]\n",
    );
    let config = Config::from_text(&text, "oncall.toml", &HashMap::new(), None).expect("config");
    let bot = Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot");
    bot.scheduler().tick().await; // first sight: alice is on
    clock.advance(Duration::hours(3)); // 09:00 in Berlin: bob's shift
    bot.scheduler().tick().await;
    let ci = outbox_texts(&bot, "console:#ci");
    let handoffs = outbox_texts(&bot, "console:#handoffs");
    assert_eq!(ci.len(), 1, "once, though both name #ci: {ci:#?}");
    assert!(ci[0].starts_with("ci handoff: alice → bob"), "{ci:?}");
    assert_eq!(handoffs, ci);
    // `oncall handoff` posts there too.
    say(&bot, "carol", "!oncall handoff ci").await;
    assert_eq!(outbox_texts(&bot, "console:#handoffs").len(), 2);
    assert_eq!(outbox_texts(&bot, "console:#ci").len(), 2);
}

/// `status ok` restores the topics it knew and leaves alone one it never
/// knew, rather than clearing it.
#[tokio::test]
async fn status_ok_leaves_a_topic_it_never_knew() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-10-21T08:00:00Z")));
    let text = config_text(dir.path(), "").replace(
        "status = [\"console:#ops\", \"console:#dev\"]",
        "status = [\"console:#ops\", \"console:#dev\", \"console:#new\"]",
    );
    let config = Config::from_text(&text, "oncall.toml", &HashMap::new(), None).expect("config");
    let bot = Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot");
    say(&bot, "alice", "!status alert CI is down").await;
    assert_eq!(
        outbox_texts(&bot, "console:#new (topic)"),
        ["ALERT: CI is down"]
    );
    let reply = say(&bot, "alice", "!status ok").await;
    assert!(
        reply.ends_with(
            "the topic of console:#new was not known before the alert, so it was left as it is"
        ),
        "{reply}"
    );
    assert_eq!(
        outbox_texts(&bot, "console:#new (topic)"),
        ["ALERT: CI is down"],
        "no empty topic is sent"
    );
    assert_eq!(
        outbox_texts(&bot, "console:#ops (topic)"),
        ["ALERT: CI is down", "ops topic"]
    );
}
