//! Loaners end to end on an injected clock: request → approve → reminders
//! at −24 h and −1 h → extend (capped) → return; wait-list assignment; the
//! SLA warning counted in working hours; expiry once across a restart;
//! concurrent approvals; bad input; `GET /api/v1/loaners`.

use std::sync::Arc;

use signalbox::clock::ManualClock;
use signalbox_commands::loaner::Status;

use crate::common::{at, bot, event_count, http, say, serve};
use crate::train::{PEOPLE, ops};

/// carol is on CI duty; `mac` has a single machine.
fn extra() -> String {
    format!(
        "{PEOPLE}\n[people.carol]\nroles = [\"ciduty\"]\nirc = \"carol\"\n\n\
         [[pools]]\nname = \"mac\"\nmachines = [\"mac-01\"]\ndefault_loan = \"1d\"\nmax_loan = \"2d\"\n\
         max_extensions = 1\nquota = 1\nsla_hours = 8\n"
    )
}

/// Direct messages queued for `user` on IRC.
fn dms(bot: &signalbox::Bot, user: &str) -> Vec<String> {
    let to = format!("irc:@{user}");
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.to_string() == to)
        .map(|e| e.text)
        .collect()
}

fn count(texts: &[String], start: &str) -> usize {
    texts.iter().filter(|t| t.starts_with(start)).count()
}

#[tokio::test]
async fn request_approve_remind_extend_with_cap_and_return() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Monday 10:00 UTC.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    assert_eq!(
        say(
            &bot,
            "bob",
            "!loaner request linux-large for 2d reproduce a flaky test"
        )
        .await,
        "request #1 queued for linux-large (2d); CI duty is notified"
    );
    assert!(ops(&bot).iter().any(|t| t.starts_with("new loaner request #1 by bob: linux-large for 2d: reproduce a flaky test; answer by 2026-11-24 10:00 UTC")));
    let n = event_count(&bot);
    assert_eq!(
        say(&bot, "bob", "!loaner approve 1").await,
        r#"loaner approve needs role "ciduty"; bob holds no role"#
    );
    assert_eq!(event_count(&bot), n);
    assert_eq!(
        say(&bot, "carol", "!loaner approve 1").await,
        "approved #1: ci-linux-01 to bob until 2026-11-25 10:00 UTC"
    );
    assert_eq!(
        count(
            &dms(&bot, "bob"),
            "your loaner request #1 is approved: ci-linux-01 is yours until 2026-11-25 10:00 UTC"
        ),
        1
    );
    assert_eq!(
        say(&bot, "carol", "!loaner approve 1").await,
        "request #1 is already decided: active by carol"
    );
    let listed = say(&bot, "mallory", "!loaner").await;
    assert!(listed.contains("#1 bob linux-large (2d): reproduce a flaky test — active on ci-linux-01 until 2026-11-25 10:00 UTC"), "{listed}");

    let reminder = "your loaner ci-linux-01 (#1) expires at";
    clock.set(at("2026-11-24T09:59:59Z"));
    assert_eq!(bot.scheduler().tick().await, 0);
    clock.set(at("2026-11-24T10:00:00Z"));
    assert_eq!(bot.scheduler().tick().await, 1);
    assert_eq!(bot.scheduler().tick().await, 0);
    let d = dms(&bot, "bob");
    assert_eq!(count(&d, reminder), 1, "{d:#?}");
    assert!(
        d.iter()
            .any(|t| t.contains("expires at 2026-11-25 10:00 UTC (in 1d)")),
        "{d:#?}"
    );
    clock.set(at("2026-11-25T09:00:00Z"));
    // (the example's weekly reminder and window fire in between too)
    bot.scheduler().tick().await;
    assert!(dms(&bot, "bob").iter().any(|t| t.contains("(in 1h)")));
    assert_eq!(count(&dms(&bot, "bob"), reminder), 2);

    // Extensions: by the requester or CI duty, within 14 days and 2 times.
    assert_eq!(
        say(&bot, "dave", "!loaner extend 1 1d").await,
        r#"loaner extend needs role "ciduty"; dave did not request #1 and holds conductor"#
    );
    let capped = say(&bot, "bob", "!loaner extend 1 13d").await;
    assert!(
        capped.starts_with(
            "extending #1 by 13d would make the loan 15d; linux-large allows at most 14d"
        ),
        "{capped}"
    );
    assert_eq!(
        say(&bot, "bob", "!loaner extend 1 5d").await,
        "extended #1 (ci-linux-01) until 2026-11-30 10:00 UTC (extension 1 of 2)"
    );
    assert_eq!(
        say(&bot, "carol", "!loaner extend 1 1d").await,
        "extended #1 (ci-linux-01) until 2026-12-01 10:00 UTC (extension 2 of 2)"
    );
    assert_eq!(
        say(&bot, "bob", "!loaner extend 1 1h").await,
        "loan #1 was already extended 2 time(s), the most linux-large allows"
    );
    // The extension re-arms the reminders for the new expiry.
    clock.set(at("2026-11-30T10:00:00Z"));
    bot.scheduler().tick().await;
    assert_eq!(count(&dms(&bot, "bob"), reminder), 3);

    assert_eq!(
        say(&bot, "bob", "!loaner return 1").await,
        "#1 returned: ci-linux-01 is free"
    );
    assert_eq!(
        say(&bot, "bob", "!loaner return 1").await,
        "request #1 is returned, not an active loan"
    );
    assert!(
        say(&bot, "bob", "!loaner list all")
            .await
            .contains("— returned")
    );
    assert_eq!(
        say(&bot, "bob", "!loaner list active").await,
        "no loaner requests match"
    );
    assert_eq!(bot.ledger.state().timers(), [], "nothing left to fire");
}

#[tokio::test]
async fn waitlisted_request_gets_the_machine_that_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    say(&bot, "bob", "!loaner request mac build the ios app").await;
    say(&bot, "dave", "!loaner request mac for 2d test a release").await;
    say(&bot, "carol", "!loaner approve 1").await;
    assert_eq!(
        say(&bot, "carol", "!loaner approve 2").await,
        "approved #2; no machine in mac is free, so it is wait-listed (position 1)"
    );
    assert_eq!(
        count(
            &dms(&bot, "dave"),
            "your loaner request #2 is approved and wait-listed (position 1)"
        ),
        1
    );
    let pending = say(&bot, "bob", "!loaner list pending").await;
    assert!(
        pending.contains("#2 dave mac (2d): test a release — wait-listed"),
        "{pending}"
    );
    clock.set(at("2026-11-23T12:00:00Z"));
    assert_eq!(
        say(&bot, "bob", "!loaner return 1").await,
        "#1 returned: mac-01 goes to dave (#2)"
    );
    assert_eq!(
        count(
            &dms(&bot, "dave"),
            "your wait-listed loaner request #2 got mac-01; it is yours until 2026-11-25 12:00 UTC"
        ),
        1
    );
    assert_eq!(
        count(
            &ops(&bot),
            "assigned mac-01 to dave (#2) from the wait-list, until 2026-11-25 12:00 UTC"
        ),
        1
    );
    let r = &bot.ledger.state().loaners.requests[&2];
    assert_eq!(
        (r.status, r.machine.as_deref()),
        (Status::Active, Some("mac-01"))
    );

    let (addr, shutdown) = serve(&bot).await;
    let (code, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/loaners"))
        .await
        .expect("join");
    shutdown.cancel();
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["pools"][0]["name"], "linux-large");
    assert_eq!(json["pools"][0]["machines"][0]["state"], "free");
    assert_eq!(json["pools"][1]["machines"][0]["state"], "loaned");
    assert_eq!(json["pools"][1]["machines"][0]["borrower"], "dave");
    assert_eq!(json["requests"].as_array().expect("list").len(), 2);
    assert_eq!(json["loans"][0]["id"], 2);
}

#[tokio::test]
async fn overdue_once_counting_only_working_hours() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Friday 15:00 UTC: 2 working hours today, 6 more on Monday.
    let clock = Arc::new(ManualClock::new(at("2026-11-27T15:00:00Z")));
    let overdue = "OVERDUE: loaner request #1 by bob (linux-large)";
    {
        let bot = bot(dir.path(), &extra(), clock.clone()).await;
        say(&bot, "bob", "!loaner request linux-large debug a hang").await;
        // 47 wall-clock hours later it is still within the SLA.
        for t in [
            "2026-11-27T23:00:00Z",
            "2026-11-29T14:00:00Z",
            "2026-11-30T14:59:59Z",
        ] {
            clock.set(at(t));
            bot.scheduler().tick().await;
            assert_eq!(count(&ops(&bot), overdue), 0, "{t}");
        }
        assert!(!say(&bot, "carol", "!loaner list").await.contains("OVERDUE"));
        clock.set(at("2026-11-30T15:00:00Z"));
        assert_eq!(bot.scheduler().tick().await, 1);
        assert_eq!(bot.scheduler().tick().await, 0);
        assert_eq!(count(&ops(&bot), overdue), 1);
        let list = say(&bot, "carol", "!loaner list pending").await;
        assert!(
            list.contains("#1 bob linux-large (3d): debug a hang — pending for 3d (OVERDUE)"),
            "{list}"
        );
    }
    clock.set(at("2026-11-30T16:00:00Z"));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    bot.scheduler().tick().await;
    assert_eq!(
        count(&ops(&bot), overdue),
        1,
        "a restart does not repeat it"
    );
}

#[tokio::test]
async fn expiry_notice_once_across_a_restart_spanning_the_instant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let expired =
        "loan #1 of mac-01 to bob expired at 2026-11-24 10:00 UTC; CI duty: please reclaim it";
    {
        let bot = bot(dir.path(), &extra(), clock.clone()).await;
        say(&bot, "bob", "!loaner request mac build").await;
        say(&bot, "carol", "!loaner approve 1 mac-01").await;
        clock.set(at("2026-11-24T08:00:00Z"));
        bot.scheduler().tick().await;
        assert_eq!(count(&ops(&bot), "loan #1"), 0);
    }
    // Down from 08:00 until 11:00: the 1 h reminder and the expiry passed.
    clock.set(at("2026-11-24T11:00:00Z"));
    for _ in 0..2 {
        let bot = bot(dir.path(), &extra(), clock.clone()).await;
        bot.scheduler().tick().await;
        bot.scheduler().tick().await;
        assert_eq!(count(&ops(&bot), expired), 1);
        let d = dms(&bot, "bob");
        assert_eq!(
            count(&d, "your loan of mac-01 (#1) has expired"),
            1,
            "{d:#?}"
        );
        assert_eq!(
            count(&d, "your loaner mac-01 (#1) expires at"),
            0,
            "no stale reminder: {d:#?}"
        );
    }
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    assert!(
        say(&bot, "carol", "!loaner list")
            .await
            .contains("(EXPIRED)")
    );
    assert_eq!(bot.ledger.state().timers(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approvals_never_assign_the_same_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    for who in ["alice", "bob", "dave", "erin"] {
        say(&bot, who, "!loaner request linux-large run the suite").await;
    }
    let (a, b, c, d) = tokio::join!(
        say(&bot, "carol", "!loaner approve 1"),
        say(&bot, "carol", "!loaner approve 2"),
        say(&bot, "carol", "!loaner approve 3"),
        say(&bot, "carol", "!loaner approve 4"),
    );
    for reply in [&a, &b, &c, &d] {
        assert!(reply.starts_with("approved #"), "{reply}");
    }
    let state = bot.ledger.state();
    let mut machines: Vec<&str> = state
        .loaners
        .requests
        .values()
        .filter(|r| r.status == Status::Active)
        .filter_map(|r| r.machine.as_deref())
        .collect();
    machines.sort();
    assert_eq!(machines, ["ci-linux-01", "ci-linux-02"]);
    let waiting = state
        .loaners
        .requests
        .values()
        .filter(|r| r.status == Status::Waitlisted)
        .count();
    assert_eq!(waiting, 2);
    // Naming a machine on loan is refused.
    say(&bot, "alice", "!loaner request mac x").await;
    say(&bot, "bob", "!loaner request mac y").await;
    say(&bot, "carol", "!loaner approve 5 mac-01").await;
    assert_eq!(
        say(&bot, "carol", "!loaner approve 6 mac-01").await,
        "machine mac-01 is on loan to alice (#5)"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_message_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    say(&bot, "bob", "!loaner request mac build").await;
    say(&bot, "carol", "!loaner deny 1 use a simulator").await;
    assert_eq!(
        count(
            &dms(&bot, "bob"),
            "your loaner request #1 was denied by carol: use a simulator"
        ),
        1
    );
    say(&bot, "bob", "!loaner request linux-large build").await;
    let cases = [
        (
            "bob",
            "!loaner request linux-large again",
            "bob already has 1 open request(s) in linux-large (quota 1)",
        ),
        (
            "bob",
            "!loaner request winders build",
            r#"pool "winders" is unknown; pools are: linux-large, mac"#,
        ),
        (
            "bob",
            "!loaner request mac for 3x build",
            r#"duration "3x" is malformed"#,
        ),
        (
            "bob",
            "!loaner request mac for 3d build",
            "a loan from mac lasts at most 2d",
        ),
        (
            "bob",
            "!loaner request mac",
            "the following required arguments were not provided",
        ),
        (
            "mallory",
            "!loaner request mac x",
            "loaner request needs an identified account",
        ),
        (
            "carol",
            "!loaner approve 99",
            "loaner request #99 does not exist",
        ),
        (
            "carol",
            "!loaner approve x1",
            r#"request id "x1" is malformed"#,
        ),
        (
            "carol",
            "!loaner approve 1",
            "request #1 is already decided: denied by carol",
        ),
        (
            "carol",
            "!loaner approve 2 mac-01",
            r#"machine "mac-01" is not in pool linux-large"#,
        ),
        (
            "carol",
            "!loaner extend 2 2x",
            r#"duration "2x" is malformed"#,
        ),
        (
            "carol",
            "!loaner extend 2 1d",
            "request #2 is pending, not an active loan",
        ),
        (
            "dave",
            "!loaner cancel 2",
            "only bob (the requester) may cancel #2",
        ),
        ("bob", "!loaner list soon", r#"list "soon" is unknown"#),
    ];
    for (who, line, want) in cases {
        let (state, events) = (bot.ledger.state(), event_count(&bot));
        let reply = say(&bot, who, line).await;
        assert!(reply.contains(want), "{line}: {reply}");
        assert_eq!(*bot.ledger.state(), *state, "{line}");
        assert_eq!(event_count(&bot), events, "{line}");
    }
    assert_eq!(say(&bot, "bob", "!loaner cancel #2").await, "cancelled #2");
    assert_eq!(
        say(&bot, "bob", "!loaner cancel 2").await,
        "request #2 is cancelled; only a pending request can be cancelled"
    );
}

#[tokio::test]
async fn a_bare_length_after_the_pool_is_the_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    assert_eq!(
        say(&bot, "bob", "!loaner request mac 2d build the ios app").await,
        "request #1 queued for mac (2d); CI duty is notified"
    );
    let request = bot.ledger.state().loaners.requests[&1].clone();
    assert_eq!(request.reason, "build the ios app");
    assert_eq!(
        say(&bot, "dave", "!loaner request mac 5d build").await,
        r#"a loan from mac lasts at most 2d; "5d" is longer"#
    );
}
