//! The deploy log: entries with their tasks once each, search, refusals and
//! `GET /api/v1/log`.

use std::sync::Arc;

use chrono::Duration;
use signalbox::clock::ManualClock;
use signalbox_commands::Change;

use crate::common::{at, bot, event_count, http, say, serve};
use crate::train::{PEOPLE, ops};

#[tokio::test]
async fn log_records_author_channel_and_each_task_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), PEOPLE, clock.clone()).await;
    assert_eq!(
        say(&bot, "erin", "!log T123 and T123, bug 456").await,
        "logged #2 for T123, bug 456 (T123 https://phabricator.wikimedia.org/T123, bug 456 https://bugzilla.mozilla.org/show_bug.cgi?id=456)"
    );
    let events = bot.ledger.events().expect("events");
    let event = events.last().expect("the entry");
    let [
        Change::Log(signalbox_commands::log::Change::Entry {
            text,
            tasks,
            window,
            ..
        }),
    ] = event.changes.as_slice()
    else {
        panic!("one log entry: {event:?}")
    };
    assert_eq!(text, "T123 and T123, bug 456");
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T123", "bug 456"]);
    assert_eq!(*window, None);
    assert_eq!(event.actor.name(), "erin");
    assert_eq!(
        event
            .actor
            .channel
            .as_ref()
            .map(|c| c.to_string())
            .as_deref(),
        Some("console:#ops")
    );
    assert_eq!(event.at, at("2026-11-22T10:00:00Z"));
    assert!(
        ops(&bot)
            .iter()
            .any(|t| t.starts_with("erin logged: T123 and T123, bug 456"))
    );

    // Only deployers write; the refusal names the role.
    let n = event_count(&bot);
    assert_eq!(
        say(&bot, "bob", "!log hello").await,
        r#"log add needs role "deployer"; bob holds no role"#
    );
    assert_eq!(event_count(&bot), n);

    clock.advance(Duration::hours(3));
    say(&bot, "erin", "!log add restarted T77 on mw1001").await;
    let recent = say(&bot, "bob", "!log search --since 2h").await;
    assert!(
        recent.starts_with("#3 2026-11-22 13:00 UTC erin: restarted T77 on mw1001"),
        "{recent}"
    );
    assert_eq!(recent.lines().count(), 1, "{recent}");
    let by_task = say(&bot, "bob", "!log search --task T123").await;
    assert!(
        by_task.starts_with("#2 2026-11-22 10:00 UTC erin: T123 and T123, bug 456"),
        "{by_task}"
    );
    assert_eq!(
        say(&bot, "bob", "!log search --author dave").await,
        "no deploy log entries match"
    );
    assert_eq!(
        say(&bot, "bob", "!log search --until 1h --since 4h")
            .await
            .lines()
            .count(),
        1
    );
    for (line, want) in [
        ("!log search --since 2y", r#"duration "2y" is malformed"#),
        (
            "!log search --until 2026-02-30",
            r#"time "2026-02-30" is malformed"#,
        ),
        (
            "!log search --window nope",
            r#"window "nope" is unknown; windows are: backport"#,
        ),
    ] {
        let reply = say(&bot, "bob", line).await;
        assert!(reply.contains(want), "{line}: {reply}");
    }

    let (addr, shutdown) = serve(&bot).await;
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http(addr, "GET", path));
    let (code, body) = get("/api/v1/log?task=T123").await.expect("join");
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let entries = json["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["author"], "erin");
    assert_eq!(entries[0]["tasks"][1]["id"], "bug 456");
    let (_, body) = get("/api/v1/log?since=2h").await.expect("join");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["entries"].as_array().expect("entries").len(), 1);
    let (_, body) = get("/api/v1/log?since=2026-11-22T09:00:00Z&author=erin")
        .await
        .expect("join");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["entries"].as_array().expect("entries").len(), 2);
    let (code, body) = get("/api/v1/log?since=soon").await.expect("join");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("soon"), "{body}");
    shutdown.cancel();
}

/// A message of several lines (as Matrix, Slack and Discord clients send a
/// paste) is one command: the first line is the command, the others
/// continue its text joined with ` / `; what goes out to IRC is one line.
#[tokio::test]
async fn a_multi_line_message_is_one_command_with_its_lines_folded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let extra =
        format!("{PEOPLE}\n[people.fay]\nroles = [\"deployer\"]\nmatrix = \"@fay:example.org\"\n");
    let text = crate::common::config_text(dir.path(), &extra).replace(
        "deploy_log = [\"console:#ops\"]",
        "deploy_log = [\"console:#ops\", \"irc:#releng\"]",
    );
    let config = signalbox::config::Config::from_text(&text, "t.toml", &Default::default(), None)
        .expect("valid config");
    let bot = signalbox::Bot::open(config, clock as Arc<dyn signalbox::clock::Clock>)
        .await
        .expect("bot opens");
    let msg = signalbox::router::Inbound {
        network: signalbox_commands::Network::Matrix,
        channel: Some(signalbox_commands::ChannelAddr::new(
            signalbox_commands::Network::Matrix,
            "!room:example.org",
        )),
        user: signalbox_commands::PlatformUserId::new("@fay:example.org"),
        text: "!log synced T123 to mw1001\r\nthen restarted php-fpm\n\n  and purged the cache\n"
            .to_string(),
        id: None,
        aliases: Vec::new(),
    };
    let reply = bot.router.dispatch(&msg).await.expect("a reply");
    assert!(reply.starts_with("logged #2 for T123"), "{reply}");
    let events = bot.ledger.events().expect("events");
    let Some(Change::Log(signalbox_commands::log::Change::Entry { text, .. })) =
        events.last().and_then(|e| e.changes.first())
    else {
        panic!("a log entry: {:?}", events.last())
    };
    assert_eq!(
        text,
        "synced T123 to mw1001 / then restarted php-fpm / and purged the cache"
    );
    let to_irc: Vec<String> = bot
        .ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == "irc:#releng")
        .map(|e| e.text)
        .collect();
    assert_eq!(to_irc.len(), 1, "{to_irc:?}");
    assert!(
        to_irc[0].starts_with("fay logged: synced T123 to mw1001 / then restarted php-fpm")
            && !to_irc[0].contains(['\n', '\r']),
        "{to_irc:?}"
    );
    // A line after the first is never a command of its own.
    let n = event_count(&bot);
    let msg = signalbox::router::Inbound {
        text: "!whoami\n!log sneaky".to_string(),
        ..msg
    };
    let reply = bot.router.dispatch(&msg).await.expect("a reply");
    assert!(reply.contains("unrecognized subcommand '/'"), "{reply}");
    assert_eq!(event_count(&bot), n);
}
