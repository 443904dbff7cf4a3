//! Meetings end to end: minutes with every kind of item, the summary with
//! its link, the minutes over HTTP, action items in `action list` and in the
//! next handoff digest until `action done`.

use std::sync::Arc;

use chrono::Duration;
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};

use crate::common::{at, config_env, event_count, http, say_in, serve};

const EXTRA: &str = r#"
[people.carol]
email = "carol@example.org"
[[rotations]]
name = "ciduty"
members = ["bob", "carol"]
shift = "1d"
start = "2026-11-02 09:00"
timezone = "UTC"
channels = ["console:#ops"]
grants = ["ciduty"]
"#;

async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Bot {
    let config = config_env(
        dir,
        EXTRA,
        &[("SIGNALBOX__HTTP__PUBLIC_URL", "https://bot.example.org/")],
    );
    Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot opens")
}

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

#[tokio::test]
async fn minutes_keep_every_item_and_actions_follow_into_the_handoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-10T10:00:00Z"))); // bob's shift
    let bot = open(dir.path(), &clock).await;
    bot.scheduler().tick().await;
    let releng = |person: &'static str, text: &'static str| {
        let bot = &bot;
        async move { say_in(bot, person, "#releng", text).await }
    };

    assert_eq!(
        releng("carol", "!info too early").await,
        "no meeting is running in console:#releng; start one with !meeting start NAME"
    );
    let started = releng("alice", "!meeting start release sync").await;
    assert!(
        started.starts_with("meeting 1 \"release sync\" started, chaired by alice"),
        "{started}"
    );
    assert_eq!(
        releng("bob", "!meeting start another").await,
        "meeting 1 \"release sync\" is already running in console:#releng; end it first"
    );
    assert_eq!(
        releng("alice", "!meeting topic train status").await,
        "topic: train status"
    );
    assert_eq!(
        releng("bob", "!info group1 is clean").await,
        "info: group1 is clean"
    );
    assert_eq!(
        releng("carol", "!agreed promote on Thursday").await,
        "agreed: promote on Thursday"
    );
    assert_eq!(
        releng("alice", "!action bob file the blocker").await,
        "action #1 for bob: file the blocker"
    );
    assert_eq!(
        releng("alice", "!action @carol update the runbook").await,
        "action #2 for carol: update the runbook"
    );

    // Refusals and bad input change nothing.
    let events = event_count(&bot);
    let refused = releng("bob", "!meeting topic my topic").await;
    assert_eq!(
        refused,
        "meeting topic needs role \"admin\"; bob does not chair meeting 1 (alice does) \
         and holds ciduty, duty"
    );
    assert!(
        releng("alice", "!action zed do it")
            .await
            .starts_with("person \"zed\" is unknown; people are: alice, bob, carol"),
    );
    assert!(releng("alice", "!info").await.contains("required"));
    assert!(
        say_in(&bot, "alice", "#other", "!info elsewhere")
            .await
            .starts_with("no meeting is running in console:#other")
    );
    assert_eq!(event_count(&bot), events, "refusals record nothing");

    clock.advance(Duration::minutes(45));
    let summary = releng("alice", "!meeting end").await;
    assert_eq!(
        summary,
        "meeting 1 \"release sync\" ended after 45m: 1 topic(s), 1 info, 1 agreed, 2 action(s). \
         minutes: https://bot.example.org/meetings/1\nactions:\n- bob: file the blocker\n- carol: update the runbook"
    );
    assert!(
        releng("bob", "!info late")
            .await
            .starts_with("no meeting is running")
    );

    // The minutes over HTTP, as JSON and as a page.
    let (addr, shutdown) = serve(&bot).await;
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http(addr, "GET", path));
    let (code, body) = get("/api/v1/meetings/1").await.expect("join");
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let m = &json["meeting"];
    assert_eq!(m["name"], "release sync");
    assert_eq!(m["chair"], "alice");
    assert_eq!(m["started"], "2026-11-10T10:00:00Z");
    assert_eq!(m["ended"], "2026-11-10T10:45:00Z");
    assert_eq!(m["attendees"], serde_json::json!(["alice", "bob", "carol"]));
    let items: Vec<(String, String)> = m["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or_default().to_string(),
                i["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("topic", "train status"),
        ("info", "group1 is clean"),
        ("agreed", "promote on Thursday"),
        ("action", "file the blocker"),
        ("action", "update the runbook"),
    ]
    .iter()
    .map(|(k, t)| (k.to_string(), t.to_string()))
    .collect();
    assert_eq!(items, want);
    assert_eq!(json["actions"][0]["owner"], "bob");
    let (code, page) = get("/meetings/1").await.expect("join");
    assert_eq!(code, 200);
    for text in [
        "release sync",
        "promote on Thursday",
        "file the blocker",
        "alice, bob, carol",
    ] {
        assert!(page.contains(text), "page shows {text:?}");
    }
    assert_eq!(get("/meetings/9").await.expect("join").0, 404);
    assert_eq!(get("/meetings/x").await.expect("join").0, 404);
    shutdown.cancel();

    // Action items: listed, mine, and in the next handoff digest.
    assert_eq!(
        releng("carol", "!action list").await,
        "open action items:\n#1 bob: file the blocker (meeting 1, 2026-11-10 10:00 UTC)\n\
         #2 carol: update the runbook (meeting 1, 2026-11-10 10:00 UTC)"
    );
    assert_eq!(
        releng("carol", "!action").await,
        releng("carol", "!action list").await
    );
    assert_eq!(
        releng("bob", "!action list mine").await,
        "open action items for bob:\n#1 bob: file the blocker (meeting 1, 2026-11-10 10:00 UTC)"
    );
    clock.set(at("2026-11-11T09:00:00Z")); // carol takes over
    bot.scheduler().tick().await;
    let digest = outbox(&bot, "console:#ops")
        .into_iter()
        .find(|t| t.starts_with("ciduty handoff: bob → carol"))
        .expect("the handoff was posted");
    assert!(
        digest.contains("- action #1 for bob: file the blocker")
            && digest.contains("- action #2 for carol: update the runbook"),
        "{digest}"
    );

    // Done removes it; only its owner, who gave it, or an admin may.
    let events = event_count(&bot);
    assert_eq!(
        releng("carol", "!action done 1").await,
        "action done needs role \"admin\"; carol neither owns nor gave action #1 \
         (bob's, given by alice) and holds ciduty, duty"
    );
    assert_eq!(
        releng("bob", "!action done x").await,
        "action id \"x\" is malformed"
    );
    assert_eq!(
        releng("bob", "!action done 7").await,
        "action \"7\" is unknown"
    );
    assert_eq!(event_count(&bot), events);
    assert_eq!(
        releng("bob", "!action done #1").await,
        "action #1 done: file the blocker"
    );
    assert_eq!(
        releng("bob", "!action done 1").await,
        "action #1 is already done; nothing changed"
    );
    assert!(!releng("carol", "!action list").await.contains("#1"));
    let now = releng("carol", "!oncall handoff ciduty").await;
    assert!(
        !now.contains("action #1") && now.contains("action #2 for carol"),
        "{now}"
    );
}

#[tokio::test]
async fn a_meeting_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-10T10:00:00Z")));
    {
        let bot = open(dir.path(), &clock).await;
        say_in(&bot, "alice", "#releng", "!meeting start triage").await;
        say_in(&bot, "bob", "#releng", "!info two new crashes").await;
    }
    let bot = open(dir.path(), &clock).await;
    assert_eq!(
        say_in(&bot, "bob", "#releng", "!agreed bob takes them").await,
        "agreed: bob takes them"
    );
    clock.advance(Duration::minutes(5));
    let summary = say_in(&bot, "alice", "#releng", "!meeting end").await;
    assert!(
        summary.starts_with(
            "meeting 1 \"triage\" ended after 5m: 0 topic(s), 1 info, 1 agreed, 0 action(s)"
        ),
        "{summary}"
    );
}
