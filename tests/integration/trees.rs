//! Trees end to end: the shipped example driven through the binary, refusals
//! per command, undo, and timed closures on an injected clock.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::Duration;
use signalbox::clock::ManualClock;
use signalbox_commands::tree::Status;

use crate::common::{at, bin, bot, event_count, http, say};

#[test]
fn console_then_run_on_the_shipped_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example"),
        dir.path().join("config.toml.example"),
    )
    .expect("copy example");
    let mut console = Command::new(bin())
        .args(["console", "--config", "config.toml.example"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn console");
    console
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"!tree close autoland builds failing #infra\n!tree\n")
        .expect("write");
    let out = console.wait_with_output().expect("console exits");
    assert!(out.status.success(), "console exit status {:?}", out.status);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let confirm = stdout
        .lines()
        .position(|l| l.starts_with("closed autoland: builds failing [infra]"));
    let status = stdout
        .lines()
        .position(|l| l.starts_with("autoland: closed — builds failing [infra] (by alice"));
    assert!(
        matches!((confirm, status), (Some(c), Some(s)) if c < s),
        "{stdout}"
    );
    assert!(
        stdout.contains("[console:#ops] alice closed autoland: builds failing [infra]"),
        "{stdout}"
    );

    // The shipped config as is, but on an ephemeral port so the test cannot
    // collide with anything on 8080.
    let mut run = Command::new(bin())
        .args(["run", "--config", "config.toml.example"])
        .env("SIGNALBOX__HTTP__LISTEN", "127.0.0.1:0")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let stderr = BufReader::new(run.stderr.take().expect("stderr"));
    let addr = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("signalbox: http listening on http://")
                .map(str::to_string)
        })
        .expect("run announces its address");
    let (code, body) = http(addr.parse().expect("addr"), "GET", "/trees/autoland");
    let _ = run.kill();
    let _ = run.wait();
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["result"]["status"], "closed");
    assert_eq!(json["result"]["reason"], "builds failing");
    assert_eq!(json["result"]["tags"], serde_json::json!(["infra"]));
}

#[tokio::test]
async fn bob_is_refused_every_state_changing_tree_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    say(&bot, "alice", "!tree close try flaky #infra").await;
    let commands = [
        "!tree close autoland builds failing #infra",
        "!tree close all merge day #merges for 2h",
        "!tree open try",
        "!tree approval mozilla-central release #planned",
        "!tree motd try be nice",
        "!tree undo",
    ];
    for command in commands {
        let before_state = bot.ledger.state();
        let before_events = event_count(&bot);
        let reply = say(&bot, "bob", command).await;
        let verb = command.split(' ').nth(1).expect("verb");
        // Bob may hold duty roles from the example's rotations, never sheriff.
        let want = format!("tree {verb} needs role \"sheriff\"; bob holds ");
        assert!(reply.starts_with(&want), "{command}: {reply}");
        assert_eq!(
            *bot.ledger.state(),
            *before_state,
            "{command} changed state"
        );
        assert_eq!(event_count(&bot), before_events, "{command} wrote an event");
    }
    // A person nobody configured is a guest: refused, and told why.
    let reply = say(&bot, "mallory", "!tree open try").await;
    assert!(
        reply.contains("needs role \"sheriff\"; \"mallory\" is not an identified person"),
        "{reply}"
    );
    // Reading is open to all.
    assert!(
        say(&bot, "bob", "!tree")
            .await
            .contains("try: closed — flaky [infra]")
    );
}

#[tokio::test]
async fn undo_restores_all_trees_or_reports_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    say(&bot, "alice", "!tree approval try testing #planned").await;
    let reply = say(
        &bot,
        "alice",
        "!tree close autoland,try broken #checkin-test",
    )
    .await;
    let id: u64 = reply
        .rsplit(' ')
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .expect("undo id");

    // A later change to one tree of the entry blocks the undo.
    say(&bot, "alice", "!tree open try fixed").await;
    let before = bot.ledger.state();
    let events = event_count(&bot);
    let reply = say(&bot, "alice", &format!("!tree undo {id}")).await;
    assert!(
        reply.starts_with(&format!(
            "cannot undo {id}: try is now open (\"fixed\") by alice"
        )),
        "{reply}"
    );
    assert!(reply.ends_with("nothing changed"), "{reply}");
    assert_eq!(*bot.ledger.state(), *before);
    assert_eq!(event_count(&bot), events);

    // An untouched entry: every tree of it comes back, and the undo is logged.
    let reply = say(
        &bot,
        "alice",
        "!tree close autoland,mozilla-central bustage #infra",
    )
    .await;
    let id: u64 = reply
        .rsplit(' ')
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .expect("undo id");
    let reply = say(&bot, "alice", &format!("!tree undo {id}")).await;
    assert!(
        reply.starts_with(&format!("undid {id} by alice")),
        "{reply}"
    );
    let state = bot.ledger.state();
    let autoland = state.trees.get("autoland").expect("autoland");
    assert_eq!(
        autoland.condition.status,
        Status::Closed,
        "autoland back to the earlier closure"
    );
    assert_eq!(autoland.condition.reason, "broken");
    assert_eq!(
        state
            .trees
            .get("mozilla-central")
            .expect("m-c")
            .condition
            .status,
        Status::Open
    );
    assert!(
        state.trees.stack.iter().all(|e| e.id.0 != id),
        "entry left the stack"
    );
    let log = say(&bot, "bob", "!tree log mozilla-central").await;
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines[1].ends_with("alice open"),
        "undo is the newest log entry: {log}"
    );
    assert!(lines[2].ends_with("alice closed: bustage [infra]"), "{log}");
    let again = say(&bot, "alice", &format!("!tree undo {id}")).await;
    assert!(again.contains("is not on the undo stack"), "{again}");
}

#[tokio::test]
async fn timed_closure_warns_then_reopens_on_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock.clone()).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let scheduler = tokio::spawn(bot.scheduler().run(shutdown.clone()));
    let reply = say(
        &bot,
        "alice",
        "!tree close autoland,try reconfig #planned for 2h",
    )
    .await;
    assert!(reply.contains("until 2026-11-22 12:00 UTC"), "{reply}");

    clock.advance(Duration::minutes(109));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let state = bot.ledger.state();
    assert!(
        !state.trees.get("autoland").expect("tree").warned,
        "no warning before 11:50"
    );

    clock.advance(Duration::minutes(1));
    crate::common::eventually("the warning", || {
        bot.ledger
            .state()
            .trees
            .get("try")
            .is_some_and(|t| t.warned)
    })
    .await;
    assert_eq!(
        bot.ledger
            .state()
            .trees
            .get("try")
            .expect("try")
            .condition
            .status,
        Status::Closed
    );

    clock.advance(Duration::minutes(10));
    crate::common::eventually("the reopening", || {
        let s = bot.ledger.state();
        ["autoland", "try"].iter().all(|t| {
            s.trees
                .get(t)
                .is_some_and(|t| t.condition.status == Status::Open)
        })
    })
    .await;
    shutdown.cancel();
    scheduler.await.expect("scheduler stops");
    let outbox: Vec<String> = bot
        .ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .map(|e| e.text)
        .collect();
    for tree in ["autoland", "try"] {
        let warnings = outbox
            .iter()
            .filter(|t| t.starts_with(&format!("{tree} reopens at 2026-11-22 12:00 UTC")))
            .count();
        let reopens = outbox
            .iter()
            .filter(|t| t.starts_with(&format!("reopened {tree}: timed closure ended")))
            .count();
        assert_eq!((warnings, reopens), (1, 1), "{tree}: {outbox:#?}");
    }
}

#[tokio::test]
async fn timed_closure_reopens_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    {
        let bot = bot(dir.path(), "", clock.clone()).await;
        say(
            &bot,
            "alice",
            "!tree close autoland outage #infra until 11:00",
        )
        .await;
        bot.scheduler().tick().await;
        let autoland = bot
            .ledger
            .state()
            .trees
            .get("autoland")
            .cloned()
            .expect("tree");
        assert!(
            autoland.condition.until.is_some() && !autoland.warned,
            "nothing due yet"
        );
    }
    // Down across both the warning and the reopening instants.
    clock.set(at("2026-11-22T13:00:00Z"));
    for restart in 0..3 {
        let bot = bot(dir.path(), "", clock.clone()).await;
        bot.scheduler().tick().await;
        let reopens: Vec<_> = bot
            .ledger
            .events()
            .expect("events")
            .into_iter()
            .filter(|e| e.actor.handle == "tree-reopen:autoland")
            .collect();
        assert_eq!(reopens.len(), 1, "restart {restart}: {reopens:#?}");
        assert_eq!(
            bot.ledger
                .state()
                .trees
                .get("autoland")
                .expect("tree")
                .condition
                .status,
            Status::Open
        );
        let warnings = bot
            .ledger
            .events()
            .expect("events")
            .iter()
            .filter(|e| e.actor.handle == "tree-warn:autoland")
            .count();
        assert_eq!(warnings, 0, "a closure already over is not warned about");
    }
}

/// Each person reads and types times in their own zone: one from the config,
/// one set in chat and kept across a restart, and the team's for the rest.
#[tokio::test]
async fn each_person_reads_and_types_times_in_their_own_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let zed = r#"
[people.zed]
roles = ["sheriff"]
irc = "zed"
timezone = "America/Los_Angeles"
"#;
    {
        let bot = bot(dir.path(), zed, clock.clone()).await;
        // 14:00 in Los Angeles (PST, UTC-8) is 22:00 UTC.
        let reply = say(
            &bot,
            "zed",
            "!tree close autoland bustage #checkin-test until 14:00",
        )
        .await;
        assert!(reply.contains("until 2026-11-23 14:00 PST"), "{reply}");
        let until = bot
            .ledger
            .state()
            .trees
            .get("autoland")
            .and_then(|t| t.condition.until);
        assert_eq!(until, Some(at("2026-11-23T22:00:00Z")));
        assert_eq!(
            say(&bot, "alice", "!whoami tz Europe/Berlin").await,
            "times are now shown and read in Europe/Berlin for you"
        );
    }
    let bot = bot(dir.path(), zed, clock).await;
    let shown = [
        ("alice", "reopens 2026-11-23 23:00 CET"),
        ("zed", "reopens 2026-11-23 14:00 PST"),
        ("bob", "reopens 2026-11-23 22:00 UTC"),
    ];
    for (who, want) in shown {
        let status = say(&bot, who, "!tree autoland").await;
        assert!(status.contains(want), "{who}: {status}");
    }
}
