//! Trains end to end through the console: roles, start → promote through
//! the groups, promotion refused while held or blocked (saying which),
//! announcements, bad input, and `GET /api/v1/train`.

use std::sync::Arc;

use signalbox::clock::ManualClock;

use crate::common::{at, bot, event_count, http, say, serve};

/// dave conducts, erin deploys; bob (in the example) holds no role.
pub const PEOPLE: &str = r#"
[people.dave]
roles = ["conductor"]
irc = "dave"

[people.erin]
roles = ["deployer"]
irc = "erin"
"#;

/// The texts queued for `console:#ops`.
pub fn ops(bot: &signalbox::Bot) -> Vec<String> {
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == "console:#ops")
        .map(|e| e.text)
        .collect()
}

#[tokio::test]
async fn refusals_name_the_role_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), PEOPLE, clock).await;
    say(&bot, "dave", "!train start 1.0").await;
    let cases = [
        (
            "bob",
            "!train start 2.0",
            r#"train start needs role "conductor"; bob holds no role"#,
        ),
        (
            "erin",
            "!train promote",
            r#"train promote needs role "conductor"; erin holds deployer"#,
        ),
        (
            "bob",
            "!train hold T1 broken",
            r#"train hold needs role "conductor" or role "deployer"; bob holds no role"#,
        ),
        (
            "bob",
            "!train resume",
            r#"train resume needs role "conductor" or role "deployer"; bob holds no role"#,
        ),
        (
            "erin",
            "!train blocker remove T1",
            r#"train blocker remove needs role "conductor"; erin holds deployer"#,
        ),
        (
            "mallory",
            "!train blocker add T1 x",
            r#"train blocker add needs an identified account; "mallory" is not an identified person"#,
        ),
    ];
    for (who, line, want) in cases {
        let (state, events) = (bot.ledger.state(), event_count(&bot));
        assert_eq!(say(&bot, who, line).await, want, "{line}");
        assert_eq!(*bot.ledger.state(), *state, "{line}");
        assert_eq!(event_count(&bot), events, "{line}");
    }
    // Reading is open to everybody, guests too.
    let status = say(&bot, "mallory", "!train").await;
    assert!(
        status.starts_with("train 1.0: rolling at group0"),
        "{status}"
    );
}

#[tokio::test]
async fn promote_is_refused_while_held_or_blocked_and_announced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), PEOPLE, clock).await;
    assert_eq!(
        say(&bot, "dave", "!train start 1.44.0-wmf.3").await,
        "started train 1.44.0-wmf.3 at group0"
    );
    assert_eq!(
        say(&bot, "bob", "!train blocker add T9 search is empty").await,
        "added blocker T9 to train 1.44.0-wmf.3: search is empty (T9 https://phabricator.wikimedia.org/T9)"
    );
    let (state, events) = (bot.ledger.state(), event_count(&bot));
    assert_eq!(
        say(&bot, "dave", "!train promote").await,
        "cannot promote train 1.44.0-wmf.3: blockers are open: T9"
    );
    assert_eq!(
        (*bot.ledger.state() == *state, event_count(&bot)),
        (true, events)
    );
    say(&bot, "erin", "!train hold T123 login broken on group0").await;
    let refused = say(&bot, "dave", "!train promote group1").await;
    assert!(
        refused.starts_with("cannot promote train 1.44.0-wmf.3: it is held on T123 by erin: login broken on group0; blockers are open: T123, T9"),
        "{refused}"
    );
    let status = say(&bot, "bob", "!train status").await;
    assert!(status.contains("held at group0"), "{status}");
    assert!(status.contains("held on T123 by erin"), "{status}");
    let resumed = say(&bot, "dave", "!train resume fix deployed").await;
    assert!(
        resumed
            .starts_with("resumed train 1.44.0-wmf.3: fix deployed (blockers still open: T123, T9"),
        "{resumed}"
    );
    say(&bot, "dave", "!train blocker remove T123 fixed").await;
    say(&bot, "dave", "!train blocker remove T9").await;
    assert_eq!(
        say(&bot, "dave", "!train promote").await,
        "promoted train 1.44.0-wmf.3 to group1"
    );
    assert_eq!(
        say(&bot, "dave", "!train promote all").await,
        "promoted train 1.44.0-wmf.3 to all"
    );
    assert!(
        say(&bot, "bob", "!train")
            .await
            .starts_with("train 1.44.0-wmf.3: done at all")
    );

    let ops = ops(&bot);
    for want in [
        "dave started train 1.44.0-wmf.3 at group0",
        "erin held train 1.44.0-wmf.3 at group0 on T123: login broken on group0",
        "dave resumed train 1.44.0-wmf.3: fix deployed",
        "dave promoted train 1.44.0-wmf.3 to all",
    ] {
        assert!(
            ops.iter().any(|t| t.starts_with(want)),
            "{want} not in {ops:#?}"
        );
    }

    // History is kept: a new train moves this one there.
    say(&bot, "dave", "!train start 1.44.0-wmf.4").await;
    let (addr, shutdown) = serve(&bot).await;
    let (code, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/train"))
        .await
        .expect("join");
    shutdown.cancel();
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["current"]["version"], "1.44.0-wmf.4");
    assert_eq!(json["current"]["state"], "rolling");
    assert_eq!(json["history"][0]["version"], "1.44.0-wmf.3");
    assert_eq!(json["history"][0]["state"], "done");
    assert_eq!(
        json["history"][0]["timeline"]
            .as_array()
            .expect("list")
            .len(),
        8
    );
    assert_eq!(
        json["groups"],
        serde_json::json!(["group0", "group1", "all"])
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_message_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), PEOPLE, clock).await;
    assert!(
        say(&bot, "dave", "!train promote")
            .await
            .starts_with("no train is running")
    );
    say(&bot, "dave", "!train start 1.0").await;
    let cases = [
        (
            "!train hold",
            "the following required arguments were not provided",
        ),
        (
            "!train hold login is broken",
            r#"train hold needs a task first, e.g. "!train hold T123 …"; "login" is not a task reference"#,
        ),
        (
            "!train hold T1",
            "the following required arguments were not provided",
        ),
        (
            "!train promote group9",
            r#"group "group9" is unknown; groups are: group0, group1, all"#,
        ),
        ("!train blocker frob T1", "invalid value 'frob'"),
        ("!train start a/b", r#"version "a/b" is malformed"#),
    ];
    for (line, want) in cases {
        let (state, events) = (bot.ledger.state(), event_count(&bot));
        let reply = say(&bot, "dave", line).await;
        assert!(reply.contains(want), "{line}: {reply}");
        assert_eq!(*bot.ledger.state(), *state, "{line}");
        assert_eq!(event_count(&bot), events, "{line}");
    }
}

/// The topics queued for `console:#ops`, which is both a train and a status
/// channel in the example.
fn ops_topics(bot: &signalbox::Bot) -> Vec<String> {
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == "console:#ops (topic)")
        .map(|e| e.text)
        .collect()
}

/// A held train marks the `[announce] train` channels' topic, shares it
/// with a status alert, and is still known after a restart: the alert's end
/// keeps the hold's mark, and the resume restores the standing topic.
#[tokio::test]
async fn a_hold_is_in_the_topic_beside_an_alert_and_leaves_it_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let held = "train 1.0.0-wmf.1 held on T123";
    let both = "ALERT: CI is down | train 1.0.0-wmf.1 held on T123";
    let standing = "ops: trees, trains and loaners | be kind";
    {
        let bot = bot(dir.path(), PEOPLE, clock.clone()).await;
        say(&bot, "dave", "!train start 1.0.0-wmf.1").await;
        assert!(ops_topics(&bot).is_empty(), "a rolling train marks nothing");
        say(&bot, "dave", "!train hold T123 db migration stuck").await;
        assert_eq!(ops_topics(&bot), [held]);
        say(&bot, "alice", "!status alert CI is down").await;
        assert_eq!(ops_topics(&bot), [held, both]);
    }
    let bot = bot(dir.path(), PEOPLE, clock).await;
    say(&bot, "alice", "!status ok CI is back").await;
    assert_eq!(ops_topics(&bot), [held, both, held]);
    say(&bot, "dave", "!train resume fixed").await;
    assert_eq!(ops_topics(&bot), [held, both, held, standing]);
    // Nothing is left marked.
    assert!(bot.ledger.state().status.saved.is_empty());
}
