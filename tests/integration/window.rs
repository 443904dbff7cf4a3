//! Deploy windows end to end on an injected clock: the announcement at the
//! cron time pinging deployers and patch owners (queue read at that
//! moment), the summary at `done` with exactly the entries logged during the
//! window, a restart in the middle, bad input, and `GET /api/v1/windows`.

use std::sync::Arc;

use chrono::Duration;
use signalbox::clock::ManualClock;
use signalbox::outbox::Destination;

use crate::common::{at, bot, event_count, http, say, serve};
use crate::train::PEOPLE;

/// swat: daily 15:00 UTC for an hour, deployed by erin, announced in #deploy.
fn extra() -> String {
    format!(
        "{PEOPLE}\n[[windows]]\nname = \"swat\"\ncron = \"0 0 15 * * *\"\nduration = \"1h\"\ndeployers = [\"erin\"]\nchannels = [\"console:#deploy\"]\n"
    )
}

fn queued(bot: &signalbox::Bot, to: &str) -> Vec<String> {
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
async fn window_is_announced_at_its_cron_time_with_deployers_and_patch_owners() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Monday 2026-11-23 14:00 UTC.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T14:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    bot.scheduler().tick().await; // arms the windows
    assert_eq!(
        say(
            &bot,
            "bob",
            "!window join swat https://gerrit.example.org/r/c/ops/+/1234 T5"
        )
        .await,
        "queued #1 https://gerrit.example.org/r/c/ops/+/1234 for swat at 2026-11-23 15:00 UTC (T5) (T5 https://phabricator.wikimedia.org/T5)"
    );
    let list = say(&bot, "mallory", "!window today").await;
    assert!(list.contains("swat Mon 2026-11-23 15:00 UTC (1h); deployers: erin; patches: #1 https://gerrit.example.org/r/c/ops/+/1234 T5 (bob)"), "{list}");
    clock.set(at("2026-11-23T14:59:59Z"));
    assert_eq!(bot.scheduler().tick().await, 0);
    assert!(
        queued(&bot, "console:#deploy").is_empty(),
        "not before 15:00"
    );
    // Joined after the window was armed, before it fires: still pinged.
    say(&bot, "dave", "!window join swat 5678").await;
    clock.set(at("2026-11-23T15:00:00Z"));
    assert_eq!(bot.scheduler().tick().await, 1);
    assert_eq!(bot.scheduler().tick().await, 0, "once");
    let deploy = queued(&bot, "console:#deploy");
    assert_eq!(deploy.len(), 2, "{deploy:#?}");
    assert_eq!(
        deploy[0],
        "deploy window swat starts now, until 2026-11-23 16:00 UTC; deployers: erin"
    );
    assert!(
        deploy[1].starts_with("bob, dave: your patches are up in swat now, please be around: #1 https://gerrit.example.org/r/c/ops/+/1234 T5 (bob), #2 5678 (dave)"),
        "{}",
        deploy[1]
    );
    let dms: Vec<String> = bot
        .ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| matches!(&e.to, Destination::Direct { .. }))
        .map(|e| format!("{} {}", e.to, e.text))
        .collect();
    // One DM per owner on each network they have a handle on.
    assert_eq!(dms.len(), 3, "{dms:#?}");
    assert!(
        dms[0].starts_with("irc:@bob the swat deploy window starts now; your patches: #1"),
        "{dms:#?}"
    );
    assert!(
        dms[1].starts_with("matrix:@@bob:example.org the swat deploy window starts now"),
        "{dms:#?}"
    );
    assert!(
        dms[2].starts_with(
            "irc:@dave the swat deploy window starts now; your patches: #2 5678 (dave)"
        )
    );
    // The start opened it: log entries belong to it.
    assert_eq!(
        say(&bot, "erin", "!log synced T5").await.split(" (").next(),
        Some("logged #8 in the swat window for T5")
    );
}

#[tokio::test]
async fn done_summarises_exactly_the_window_also_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T14:50:00Z")));
    {
        let bot = bot(dir.path(), &extra(), clock.clone()).await;
        say(&bot, "erin", "!log before the window T1").await;
        let n = event_count(&bot);
        assert_eq!(
            say(&bot, "bob", "!window start swat").await,
            r#"window start needs role "deployer"; bob holds no role"#
        );
        assert_eq!(event_count(&bot), n);
        assert_eq!(
            say(&bot, "erin", "!window start swat").await,
            "opened the swat window; !log entries now belong to it"
        );
        assert!(
            say(&bot, "erin", "!window start backport")
                .await
                .starts_with("window swat is open")
        );
        clock.advance(Duration::minutes(5));
        say(&bot, "erin", "!log synced T123 and bug 456").await;
    }
    // Restart in the middle of the window.
    clock.advance(Duration::minutes(10));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    say(&bot, "erin", "!log restarted mw1001 T124").await;
    clock.advance(Duration::minutes(20));
    let summary = say(&bot, "erin", "!window done").await;
    assert_eq!(
        summary,
        "erin closed the swat window after 35m; logged during it (2):\n\
         #4 2026-11-23 14:55 UTC erin: synced T123 and bug 456 (T123 https://phabricator.wikimedia.org/T123, bug 456 https://bugzilla.mozilla.org/show_bug.cgi?id=456)\n\
         #5 2026-11-23 15:05 UTC erin: restarted mw1001 T124 (T124 https://phabricator.wikimedia.org/T124)"
    );
    let posted = queued(&bot, "console:#deploy");
    assert_eq!(
        posted.last(),
        Some(&summary),
        "the summary goes to the window's channels"
    );
    say(&bot, "erin", "!log after the window T2").await;
    assert_eq!(
        say(&bot, "erin", "!window done").await,
        "no deploy window is open"
    );
    let found = say(&bot, "bob", "!log search --window swat").await;
    assert_eq!(found.lines().count(), 2, "{found}");
}

#[tokio::test]
async fn adhoc_windows_list_and_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    let cases = [
        (
            "erin",
            "!window start nope",
            r#"window "nope" is unknown; windows are: backport, swat"#,
        ),
        (
            "bob",
            "!window join nope 123",
            r#"window "nope" is unknown; windows are: backport, swat"#,
        ),
        (
            "bob",
            "!window join swat 123 soon",
            r#""soon" is not a task reference"#,
        ),
        (
            "alice",
            "!window add hotfix 16:00 1x erin",
            r#"duration "1x" is malformed"#,
        ),
        (
            "alice",
            "!window add hotfix 26:00 1h erin",
            r#"time "26:00" is malformed"#,
        ),
        (
            "alice",
            "!window add swat 16:00 1h",
            r#"window "swat" already exists"#,
        ),
        (
            "alice",
            "!window add hotfix 16:00 1h erin zed",
            r#""zed" is unknown (deployers must be configured people); people are: alice, bob, dave, erin"#,
        ),
        (
            "erin",
            "!window add hotfix 16:00 1h",
            r#"window add needs role "admin"; erin holds deployer"#,
        ),
        ("erin", "!window done", "no deploy window is open"),
        (
            "bob",
            "!window list month",
            r#"range "month" is unknown; use today or week"#,
        ),
        (
            "mallory",
            "!window join swat 123",
            "window join needs an identified account",
        ),
    ];
    for (who, line, want) in cases {
        let (state, events) = (bot.ledger.state(), event_count(&bot));
        let reply = say(&bot, who, line).await;
        assert!(reply.contains(want), "{line}: {reply}");
        assert_eq!(*bot.ledger.state(), *state, "{line}");
        assert_eq!(event_count(&bot), events, "{line}");
    }
    assert!(
        say(&bot, "alice", "!window add hotfix 16:00 30m erin")
            .await
            .starts_with("added window hotfix at 2026-11-23 16:00 UTC for 30m; deployers: erin")
    );
    let today = say(&bot, "bob", "!window").await;
    let names: Vec<&str> = today
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(names[..3], ["backport", "swat", "hotfix"], "{today}");
    clock.set(at("2026-11-23T16:00:00Z"));
    bot.scheduler().tick().await;
    assert!(
        queued(&bot, "console:#ops")
            .iter()
            .any(|t| t.starts_with("deploy window hotfix starts now"))
    );
    bot.scheduler().tick().await;
    assert_eq!(
        queued(&bot, "console:#ops")
            .iter()
            .filter(|t| t.starts_with("deploy window hotfix"))
            .count(),
        1
    );

    let (addr, shutdown) = serve(&bot).await;
    let (code, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/windows"))
        .await
        .expect("join");
    shutdown.cancel();
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["windows"][0]["name"], "backport");
    assert_eq!(json["windows"][1]["deployers"], serde_json::json!(["erin"]));
    assert_eq!(json["active"]["window"], "hotfix");
    assert!(json["upcoming"].as_array().expect("list").len() >= 7);
}

#[tokio::test]
async fn a_forgotten_window_warns_closes_itself_and_the_next_one_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Monday 2026-11-23 14:00 UTC.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T14:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    bot.scheduler().tick().await; // arms the windows
    clock.set(at("2026-11-23T15:00:00Z"));
    bot.scheduler().tick().await;
    clock.set(at("2026-11-23T15:10:00Z"));
    say(&bot, "erin", "!log synced T5").await;
    clock.set(at("2026-11-23T15:54:59Z"));
    assert_eq!(bot.scheduler().tick().await, 0, "not warned before 15:55");
    clock.set(at("2026-11-23T15:55:00Z"));
    assert_eq!(bot.scheduler().tick().await, 1);
    assert_eq!(bot.scheduler().tick().await, 0, "warned once");
    assert_eq!(
        queued(&bot, "console:#deploy").last().map(String::as_str),
        Some(
            "erin: the swat deploy window ends in 5m (at 2026-11-23 16:00 UTC) and then closes itself; say !window done when you are finished"
        )
    );
    clock.set(at("2026-11-23T16:00:00Z"));
    assert_eq!(bot.scheduler().tick().await, 1);
    assert_eq!(bot.scheduler().tick().await, 0, "closed once");
    let summary = queued(&bot, "console:#deploy")
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(
        summary.starts_with(
            "the swat window closed itself at its end (2026-11-23 16:00 UTC) after 1h; logged during it (1):\n#"
        ),
        "{summary}"
    );
    assert!(summary.contains("erin: synced T5"), "{summary}");
    // Later entries are no longer filed under it.
    clock.set(at("2026-11-23T16:05:00Z"));
    let reply = say(&bot, "erin", "!log after the window T6").await;
    assert!(reply.starts_with("logged #"), "{reply}");
    assert!(!reply.contains("window"), "{reply}");
    // The next occurrence is announced and opened.
    clock.set(at("2026-11-24T15:00:00Z"));
    bot.scheduler().tick().await;
    let active = bot.ledger.state().windows.active.clone();
    assert_eq!(
        active.map(|a| (a.window, a.started)),
        Some(("swat".to_string(), at("2026-11-24T15:00:00Z")))
    );
}

#[tokio::test]
async fn a_window_whose_end_passed_while_the_bot_was_down_closes_once_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T14:00:00Z")));
    {
        let bot = bot(dir.path(), &extra(), clock.clone()).await;
        bot.scheduler().tick().await;
        clock.set(at("2026-11-23T15:00:00Z"));
        bot.scheduler().tick().await;
        say(&bot, "erin", "!log synced T5").await;
    }
    // Down from 15:00 to 16:30, across the warning and the end.
    clock.set(at("2026-11-23T16:30:00Z"));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    let before = queued(&bot, "console:#deploy").len();
    assert_eq!(bot.scheduler().tick().await, 1);
    assert_eq!(bot.scheduler().tick().await, 0, "once");
    let posted = queued(&bot, "console:#deploy");
    assert_eq!(posted.len(), before + 1, "no stale warning: {posted:#?}");
    assert!(
        posted[before].starts_with(
            "the swat window closed itself at its end (2026-11-23 16:00 UTC) after 1h; logged during it (1):"
        ),
        "{}",
        posted[before]
    );
    assert!(bot.ledger.state().windows.active.is_none());
}
