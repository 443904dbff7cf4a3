//! Escalation on an injected clock: whoever is on shift is pinged first,
//! then each next member of the rotation while nobody acknowledges; `ack`
//! stops the chain; a people area is reminded once; a restart in between
//! neither loses nor repeats a step.

use std::sync::Arc;

use chrono::Duration;
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};

use crate::common::{at, config, event_count, say, say_in};

const EXTRA: &str = r#"
[people.carol]
irc = "carol"
[people.dave]
irc = "dave"
[[rotations]]
name = "ciduty"
members = ["bob", "carol", "dave"]
shift = "1d"
start = "2026-11-02 09:00"
timezone = "UTC"
channels = ["console:#ops"]
grants = ["ciduty"]
[liaisons]
ci = "rotation:ciduty"
security = ["alice"]
[escalation]
ack_timeout = "10m"
"#;

async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Bot {
    Bot::open(config(dir, EXTRA), clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot opens")
}

/// Everything queued for `to` so far.
fn outbox(bot: &Bot, to: &str) -> Vec<String> {
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == to)
        .map(|e| e.text)
        .collect()
}

/// Ticks the scheduler once a minute for `minutes` minutes.
async fn minutes(bot: &Bot, clock: &ManualClock, minutes: i64) {
    for _ in 0..minutes {
        clock.advance(Duration::minutes(1));
        bot.scheduler().tick().await;
    }
}

#[tokio::test]
async fn no_ack_pings_the_next_in_the_rotation_and_ack_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2026-11-10 is dave's day (bob, carol, dave from 2026-11-02).
    let clock = Arc::new(ManualClock::new(at("2026-11-10T10:00:00Z")));
    let bot = open(dir.path(), &clock).await;
    bot.scheduler().tick().await;
    let sent = say_in(
        &bot,
        "alice",
        "#releng",
        "!escalate ci builds fail everywhere",
    )
    .await;
    assert_eq!(
        sent,
        "escalation #1 sent to dave; if nobody acks within 10m, the next in line is pinged"
    );
    let call = "escalation #1 (ci) from alice: builds fail everywhere — acknowledge with !ack 1";
    assert_eq!(
        outbox(&bot, "console:#releng"),
        vec![format!("dave: {call}")]
    );
    assert_eq!(outbox(&bot, "irc:@dave"), vec![call.to_string()]);

    minutes(&bot, &clock, 9).await;
    assert_eq!(outbox(&bot, "console:#releng").len(), 1, "not yet");
    minutes(&bot, &clock, 1).await;
    let later = format!("{call} (nobody acknowledged within 10m)");
    assert_eq!(
        outbox(&bot, "console:#releng"),
        vec![format!("dave: {call}"), format!("bob: {later}")],
        "after 10 minutes the next member (bob) is pinged"
    );

    // Only someone pinged (or an admin) may ack; carol was not pinged yet.
    let events = event_count(&bot);
    assert_eq!(
        say(&bot, "carol", "!ack 1").await,
        "ack needs role \"admin\"; carol was not pinged for escalation #1 (dave, bob were) \
         and holds no role"
    );
    assert_eq!(
        say(&bot, "bob", "!ack x").await,
        "escalation id \"x\" is malformed"
    );
    assert_eq!(
        say(&bot, "bob", "!ack 9").await,
        "escalation \"9\" is unknown"
    );
    assert_eq!(event_count(&bot), events, "refusals record nothing");
    minutes(&bot, &clock, 3).await;
    assert_eq!(
        say(&bot, "bob", "!ack 1").await,
        "escalation #1 (ci) acknowledged by bob after 13m"
    );
    assert_eq!(
        outbox(&bot, "console:#releng").last().map(String::as_str),
        Some("escalation #1 (ci) acknowledged by bob after 13m"),
        "the ack is told where the escalation was raised"
    );
    assert!(
        say(&bot, "dave", "!ack 1")
            .await
            .starts_with("escalation #1 was acknowledged by bob 0s ago")
    );
    let before = outbox(&bot, "console:#releng").len();
    minutes(&bot, &clock, 30).await;
    assert_eq!(
        outbox(&bot, "console:#releng").len(),
        before,
        "acked: carol is never pinged"
    );
    assert!(outbox(&bot, "irc:@carol").is_empty());
}

#[tokio::test]
async fn a_people_area_is_reminded_once_then_told_nobody_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-10T10:00:00Z")));
    let bot = open(dir.path(), &clock).await;
    say_in(&bot, "bob", "#sec", "!escalate security token in build log").await;
    minutes(&bot, &clock, 25).await;
    let call = "escalation #1 (security) from bob: token in build log — acknowledge with !ack 1";
    assert_eq!(
        outbox(&bot, "console:#sec"),
        vec![
            format!("alice: {call}"),
            format!("alice: {call} (nobody acknowledged within 10m)"),
            "escalation #1 (security) was not acknowledged; pinged alice. it stays open: !ack 1"
                .to_string(),
        ]
    );
    // Still open: the handoff digest lists it, and the reporter may be told.
    let digest = say(&bot, "carol", "!oncall handoff ciduty").await;
    assert!(
        digest.contains("- escalation #1 (security) not acknowledged: token in build log"),
        "{digest}"
    );
    assert!(
        say(&bot, "alice", "!ack 1")
            .await
            .contains("acknowledged by alice")
    );
    assert!(
        !say(&bot, "carol", "!oncall handoff ciduty")
            .await
            .contains("escalation")
    );
}

#[tokio::test]
async fn a_step_due_while_the_bot_is_down_runs_once_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-10T10:00:00Z")));
    {
        let bot = open(dir.path(), &clock).await;
        say_in(&bot, "alice", "#releng", "!escalate ci flaky").await;
    }
    clock.advance(Duration::minutes(12));
    let bot = open(dir.path(), &clock).await;
    bot.scheduler().tick().await;
    bot.scheduler().tick().await;
    let pings: Vec<String> = outbox(&bot, "console:#releng");
    assert_eq!(pings.len(), 2, "{pings:#?}");
    assert!(pings[1].starts_with("bob: escalation #1"), "{pings:#?}");

    let events = event_count(&bot);
    for (line, want) in [
        (
            "!escalate nowhere help",
            "area \"nowhere\" is unknown; areas are: ci, security",
        ),
        ("!escalate ci", "required"),
    ] {
        let reply = say(&bot, "alice", line).await;
        assert!(reply.contains(want), "{line}: {reply}");
    }
    assert!(
        say(&bot, "mallory", "!escalate ci x")
            .await
            .starts_with("escalate needs an identified account")
    );
    assert_eq!(event_count(&bot), events);
}
