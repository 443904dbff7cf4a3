//! The calendar feeds read by an independent parser: Python's `icalendar`
//! and `recurring_ical_events` (PyPI, installed by `scripts/ical-check`)
//! expand every feed, and what they find must equal the bot's own chat
//! answers (`window list`, `oncall who` / `oncall next`) for the same span,
//! across the autumn DST changes of Europe/Berlin and America/Los_Angeles,
//! with an override and a taken swap applied. UIDs survive edits and
//! restarts, an edit raises SEQUENCE, an occurrence that no longer happens is
//! CANCELLED, tokens and names are checked, and the week page renders in
//! headless Chromium (screenshot under `target/test-artifacts/calendar.png`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};
use signalbox::router::Inbound;
use signalbox_commands::{Network, PlatformUserId};
use tokio_util::sync::CancellationToken;

use crate::common::{at, config_env, http, say};

const TOKEN: &str = "cal-s3cret";

/// Windows and rotations in two zones, people to hold shifts.
const EXTRA: &str = r#"
[people.carol]
email = "carol@example.org"
irc = "carol"

[people.dave]
irc = "dave"

[[windows]]
name = "berlin"
cron = "0 0 15 * * Mon-Fri"
duration = "1h"
timezone = "Europe/Berlin"
deployers = ["bob"]

[[windows]]
name = "sf"
cron = "0 0 10 * * Mon-Fri"
duration = "90m"
timezone = "America/Los_Angeles"
deployers = ["carol", "dave"]

# 02:30 happens twice in Berlin on the night summer time ends.
[[windows]]
name = "night"
cron = "0 30 2 * * Sun"
duration = "30m"
timezone = "Europe/Berlin"
deployers = ["alice"]

[[rotations]]
name = "ciduty"
members = ["alice", "bob", "carol"]
shift = "1w"
start = "2026-10-19 09:00"
timezone = "Europe/Berlin"
channels = ["console:#ops"]
grants = ["ciduty"]

[[rotations]]
name = "sre"
members = ["bob", "carol", "dave"]
shift = "1d"
start = "2026-10-19 08:00"
timezone = "America/Los_Angeles"
channels = ["console:#ops"]
"#;

/// Wednesday 2026-10-21 12:00 UTC: the feeds reach from 2026-10-07 to
/// 2026-12-16, over Berlin's change (10-25) and Los Angeles' (11-01).
const NOW: &str = "2026-10-21T12:00:00Z";

async fn open(dir: &Path, extra: &str, clock: &Arc<ManualClock>) -> Bot {
    let config = config_env(dir, extra, &[("SIGNALBOX__HTTP__CALENDAR_TOKEN", TOKEN)]);
    Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot opens")
}

/// The HTTP server of `bot`, stoppable so the bot can be reopened.
struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(bot: &Bot) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(signalbox::http::serve(
            listener,
            bot.http_state(),
            shutdown.clone(),
        ));
        Server {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let addr = self.addr;
        let path = path.to_string();
        tokio::task::spawn_blocking(move || http(addr, "GET", &path))
            .await
            .expect("join")
    }

    /// A feed (with the token), expanded by the Python parser.
    async fn feed(&self, path: &str) -> Vec<Value> {
        let (code, body) = self.get(&format!("{path}?token={TOKEN}")).await;
        assert_eq!(code, 200, "{path}: {body}");
        let now = at(NOW);
        expand(&body, now - Duration::days(14), now + Duration::days(56))
    }
}

/// Runs `tests/calendar/expand.py` on `ics` for `[from, to)`.
fn expand(ics: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = Command::new(root.join("scripts/ical-check"))
        .output()
        .expect("scripts/ical-check runs");
    assert!(
        python.status.success(),
        "scripts/ical-check: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let python = String::from_utf8(python.stdout).expect("utf-8");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("feed.ics");
    std::fs::write(&file, ics).expect("write feed");
    let iso = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let out = Command::new(python.trim())
        .arg(root.join("tests/calendar/expand.py"))
        .arg(&file)
        .arg(iso(from))
        .arg(iso(to))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "expand.py: {}\n{ics}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("expand.py prints JSON")
}

/// `2026-10-21T13:00:00Z` → `2026-10-21 13:00 UTC`, as the bot writes it.
fn minute(iso: &Value) -> String {
    let t: DateTime<Utc> = iso.as_str().expect("instant").parse().expect("instant");
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

/// Every occurrence `window list week` names while the clock walks the
/// span a week at a time: (name, start, duration, deployers).
async fn listed_windows(
    bot: &Bot,
    clock: &ManualClock,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeSet<(String, String, String, String)> {
    let mut seen = BTreeSet::new();
    let mut t = from;
    while t < to {
        clock.set(t);
        let reply = say(bot, "bob", "!window list week").await;
        for line in reply.lines().filter(|l| !l.starts_with("open now")) {
            // "berlin Wed 2026-10-21 13:00 UTC (1h); deployers: bob; …"
            let (head, rest) = line.split_once("; deployers: ").expect(line);
            let deployers = rest.split("; ").next().unwrap_or_default();
            let (when, duration) = head.split_once(" (").expect(line);
            let duration = duration.trim_end_matches(')').to_string();
            let words: Vec<&str> = when.split(' ').collect();
            assert_eq!(words.len(), 5, "{line}");
            let start = format!("{} {} UTC", words[2], words[3]);
            let starts: DateTime<Utc> = format!("{}T{}:00Z", words[2], words[3])
                .parse()
                .expect("start");
            if starts < to {
                seen.insert((words[0].to_string(), start, duration, deployers.to_string()));
            }
        }
        t += Duration::days(7);
    }
    clock.set(at(NOW));
    seen
}

/// Who holds `rotation` from each change in the span, by `oncall who` and
/// `oncall next`: (start, person); the first start is `from` itself.
async fn listed_shifts(
    bot: &Bot,
    clock: &ManualClock,
    rotation: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(String, String)> {
    clock.set(from);
    let who = say(bot, "bob", &format!("!oncall who {rotation}")).await;
    // "ciduty: alice until 2026-10-12 07:00 UTC"
    let person = who
        .strip_prefix(&format!("{rotation}: "))
        .and_then(|r| r.split(' ').next())
        .expect(&who)
        .to_string();
    let mut out = vec![(from.format("%Y-%m-%d %H:%M UTC").to_string(), person)];
    for _ in 0..50 {
        let reply = say(bot, "bob", &format!("!oncall next {rotation} 20")).await;
        let mut last = from;
        for line in reply.lines() {
            // "ciduty: bob from 2026-10-26 08:00 UTC"
            let rest = line.strip_prefix(&format!("{rotation}: ")).expect(line);
            let (person, when) = rest.split_once(" from ").expect(line);
            let t: DateTime<Utc> =
                format!("{}:00Z", when.trim_end_matches(" UTC").replace(' ', "T"))
                    .parse()
                    .expect(line);
            last = t;
            if t < to {
                out.push((when.to_string(), person.to_string()));
            }
        }
        if last >= to {
            break;
        }
        clock.set(last);
    }
    clock.set(at(NOW));
    out
}

/// The shifts a feed holds for `rotation`, in the same shape: the first
/// one (which may start before the span) from `from`.
fn fed_shifts(events: &[Value], rotation: &str, from: DateTime<Utc>) -> Vec<(String, String)> {
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| field(e, "summary").starts_with(&format!("{rotation}: ")))
        .collect();
    for pair in mine.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "shifts are contiguous");
    }
    mine.iter()
        .enumerate()
        .map(|(i, e)| {
            let start = if i == 0 {
                from.format("%Y-%m-%d %H:%M UTC").to_string()
            } else {
                minute(&e["start"])
            };
            let person = field(e, "summary")
                .split_once(": ")
                .map(|(_, p)| p.to_string())
                .unwrap_or_default();
            (start, person)
        })
        .collect()
}

fn find<'a>(events: &'a [Value], uid: &str) -> &'a Value {
    events
        .iter()
        .find(|e| field(e, "uid") == uid)
        .unwrap_or_else(|| panic!("no event {uid}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_match_the_bots_own_answers_across_dst_with_overrides_and_swaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = at(NOW);
    let (from, to) = (now - Duration::days(14), now + Duration::days(56));
    let clock = Arc::new(ManualClock::new(now));
    let bot = open(dir.path(), EXTRA, &clock).await;
    // dave covers Tuesday 27 October in Berlin; bob takes carol's Sunday
    // 1 November in Los Angeles (the day summer time ends there).
    let reply = say(
        &bot,
        "alice",
        "!oncall override ciduty dave 2026-10-27 2026-10-28",
    )
    .await;
    assert!(reply.starts_with("dave is on ciduty shift"), "{reply}");
    let reply = say(
        &bot,
        "carol",
        "!oncall swap request sre 2026-11-01 a wedding",
    )
    .await;
    let swap = bot.ledger.state().duty.swaps.last().expect(&reply).id;
    let reply = say(&bot, "bob", &format!("!oncall swap take {swap}")).await;
    assert!(!reply.contains("not"), "{reply}");

    let server = Server::start(&bot).await;

    // Windows: the parser finds exactly what `window list` lists.
    let windows = server.feed("/calendar/windows.ics").await;
    let fed: BTreeSet<(String, String, String, String)> = windows
        .iter()
        .map(|e| {
            let name = field(e, "summary").trim_end_matches(" deploy window");
            let start: DateTime<Utc> = field(e, "start").parse().expect("start");
            let end: DateTime<Utc> = field(e, "end").parse().expect("end");
            let minutes = (end - start).num_minutes();
            let duration = if minutes % 60 == 0 {
                format!("{}h", minutes / 60)
            } else if minutes < 60 {
                format!("{minutes}m")
            } else {
                format!("{}h {}m", minutes / 60, minutes % 60)
            };
            let deployers = field(e, "description")
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("deployers: "))
                .unwrap_or_default();
            (
                name.to_string(),
                minute(&e["start"]),
                duration,
                deployers.to_string(),
            )
        })
        .collect();
    let listed = listed_windows(&bot, &clock, from, to).await;
    assert_eq!(fed.len(), windows.len(), "no occurrence twice");
    assert!(fed.len() > 100, "ten weeks of three windows: {}", fed.len());
    assert_eq!(
        fed.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "in the feed only"
    );
    assert_eq!(
        listed.difference(&fed).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new(),
        "listed only"
    );
    // The local wall-clock time holds across each zone's change, and the
    // feed says which zone.
    for (uid, tzid) in [
        ("window-berlin-20261023T130000Z@signalbox", "Europe/Berlin"),
        ("window-berlin-20261026T140000Z@signalbox", "Europe/Berlin"),
        (
            "window-sf-20261030T170000Z@signalbox",
            "America/Los_Angeles",
        ),
        (
            "window-sf-20261102T180000Z@signalbox",
            "America/Los_Angeles",
        ),
        // The first of the two 02:30s, written in UTC: local time cannot
        // tell them apart.
        ("window-night-20261025T003000Z@signalbox", "UTC"),
        ("window-night-20261101T013000Z@signalbox", "Europe/Berlin"),
    ] {
        assert_eq!(field(find(&windows, uid), "tzid"), tzid, "{uid}");
    }

    // Shifts: the rotation feeds and the combined feed equal `oncall
    // who` + `oncall next`, override and swap applied.
    let combined = server.feed("/calendar/oncall.ics").await;
    for rotation in ["ciduty", "sre"] {
        let own = server
            .feed(&format!("/calendar/oncall/{rotation}.ics"))
            .await;
        let listed = listed_shifts(&bot, &clock, rotation, from, to).await;
        assert!(listed.len() > 8, "{listed:?}");
        assert_eq!(fed_shifts(&own, rotation, from), listed, "{rotation}");
        assert_eq!(fed_shifts(&combined, rotation, from), listed, "{rotation}");
    }
    let ciduty = server.feed("/calendar/oncall/ciduty.ics").await;
    // Berlin's 09:00 handoff is 07:00 UTC in summer time, 08:00 after.
    assert_eq!(
        field(
            find(&ciduty, "shift-ciduty-20261019T070000Z@signalbox"),
            "tzid"
        ),
        "Europe/Berlin"
    );
    let dave = find(&ciduty, "shift-ciduty-20261026T230000Z@signalbox");
    assert_eq!(field(dave, "summary"), "ciduty: dave");
    assert_eq!(field(dave, "end"), "2026-10-27T23:00:00Z");
    assert_eq!(dave["sequence"], 1, "the override changed that shift");
    let bob_before = find(&ciduty, "shift-ciduty-20261026T080000Z@signalbox");
    assert_eq!(field(bob_before, "summary"), "ciduty: bob");
    assert_eq!(field(bob_before, "end"), "2026-10-26T23:00:00Z");
    assert_eq!(bob_before["sequence"], 1);
    assert_eq!(
        find(&ciduty, "shift-ciduty-20261019T070000Z@signalbox")["sequence"],
        0
    );
    let sre = server.feed("/calendar/oncall/sre.ics").await;
    // Saturday 08:00 PDT to Sunday 08:00 PST: a 25-hour shift.
    let long = find(&sre, "shift-sre-20261031T150000Z@signalbox");
    assert_eq!(field(long, "end"), "2026-11-01T16:00:00Z", "{long}");
    assert_eq!(long["sequence"], 0);
    let swapped = find(&sre, "shift-sre-20261101T160000Z@signalbox");
    assert_eq!(
        field(swapped, "summary"),
        "sre: bob",
        "bob took carol's day"
    );
    assert_eq!(field(swapped, "end"), "2026-11-02T16:00:00Z");
    assert_eq!(swapped["sequence"], 1);
    let carol = find(&sre, "shift-sre-20261023T150000Z@signalbox");
    assert_eq!(
        carol["attendees"],
        json!(["carol mailto:carol@example.org"]),
        "name and email"
    );

    // One person's calendar: their shifts and the windows they deploy.
    let bobs = server.feed("/calendar/person/bob.ics").await;
    assert!(
        bobs.iter()
            .any(|e| field(e, "uid") == field(swapped, "uid"))
    );
    assert!(
        bobs.iter()
            .any(|e| field(e, "summary") == "berlin deploy window")
    );
    assert!(
        bobs.iter().all(|e| field(e, "summary").ends_with("bob")
            || field(e, "summary") == "berlin deploy window"),
        "only bob's: {bobs:#?}"
    );

    // Tokens and names.
    for (path, code) in [
        ("/calendar/windows.ics", 401),
        ("/calendar/windows.ics?token=wrong", 401),
        ("/calendar?token=", 401),
        ("/calendar/oncall/ciduty.ics", 401),
        ("/calendar/oncall/nope.ics?token=cal-s3cret", 404),
        ("/calendar/oncall/ciduty?token=cal-s3cret", 404),
        ("/calendar/person/mallory.ics?token=cal-s3cret", 404),
        ("/calendar/person/nobody.ics?token=cal-s3cret", 404),
        ("/calendar?token=cal-s3cret&week=someday", 400),
        ("/calendar?token=cal-s3cret&week=9999-12-31", 400),
        ("/calendar?token=cal-s3cret&week=2026-10-25", 200),
        ("/calendar/person/carol.ics?token=cal-s3cret", 200),
    ] {
        let (got, body) = server.get(path).await;
        assert_eq!(got, code, "{path}: {body}");
    }
    let (_, body) = server
        .get("/calendar/oncall/nope.ics?token=cal-s3cret")
        .await;
    assert!(
        body.contains(
            "rotation calendar \\\"nope.ics\\\" is unknown; calendars are: ciduty.ics, sre.ics"
        ),
        "{body}"
    );

    // An edit keeps the UID and raises SEQUENCE.
    let next = "window-berlin-20261021T130000Z@signalbox";
    assert_eq!(find(&windows, next)["sequence"], 0);
    let reply = say(&bot, "bob", "!window join berlin 1234 T5").await;
    assert!(reply.starts_with("queued #1 1234 for berlin"), "{reply}");
    let after = server.feed("/calendar/windows.ics").await;
    let edited = find(&after, next);
    assert_eq!(edited["sequence"], 1);
    assert!(
        field(edited, "description")
            .contains("#1 1234 T5 https://phabricator.wikimedia.org/T5 (bob)"),
        "{edited}"
    );
    let uids = |events: &[Value]| -> Vec<(String, i64)> {
        events
            .iter()
            .map(|e| {
                (
                    field(e, "uid").to_string(),
                    e["sequence"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let before_restart = (uids(&after), uids(&ciduty));

    // A restart changes no UID and no SEQUENCE.
    server.stop().await;
    drop(bot);
    let bot = open(dir.path(), EXTRA, &clock).await;
    let server = Server::start(&bot).await;
    let again = (
        uids(&server.feed("/calendar/windows.ics").await),
        uids(&server.feed("/calendar/oncall/ciduty.ics").await),
    );
    assert_eq!(again, before_restart);

    // Moved to 16:00: the occurrence bob queued for is cancelled (a higher
    // SEQUENCE, same UID), the new one has its own UID.
    server.stop().await;
    drop(bot);
    let moved = EXTRA.replace("0 0 15 * * Mon-Fri", "0 0 16 * * Mon-Fri");
    let bot = open(dir.path(), &moved, &clock).await;
    let server = Server::start(&bot).await;
    let after = server.feed("/calendar/windows.ics").await;
    let cancelled = find(&after, next);
    assert_eq!(field(cancelled, "status"), "CANCELLED");
    assert_eq!(cancelled["sequence"], 2);
    assert_eq!(
        field(
            find(&after, "window-berlin-20261021T140000Z@signalbox"),
            "status"
        ),
        "CONFIRMED"
    );

    // Taking the patch back out and cancelling the override are edits too:
    // same UIDs, higher SEQUENCE.
    let reply = say(&bot, "bob", "!window leave berlin 1234").await;
    assert!(reply.starts_with("took #1 1234 out of berlin"), "{reply}");
    let override_id = bot.ledger.state().duty.overrides[0].id;
    let reply = say(
        &bot,
        "alice",
        &format!("!oncall override cancel {override_id}"),
    )
    .await;
    assert!(reply.contains("cancelled by alice"), "{reply}");
    let after = server.feed("/calendar/windows.ics").await;
    let left = find(&after, next);
    assert_eq!(left["sequence"], 3, "{left}");
    assert!(
        field(left, "description").contains("no patches queued"),
        "{left}"
    );
    let ciduty = server.feed("/calendar/oncall/ciduty.ics").await;
    let bob_again = find(&ciduty, "shift-ciduty-20261026T080000Z@signalbox");
    assert_eq!(field(bob_again, "summary"), "ciduty: bob");
    assert_eq!(
        field(bob_again, "end"),
        "2026-11-02T08:00:00Z",
        "whole week"
    );
    assert_eq!(bob_again["sequence"], 2, "override, then its cancel");
    assert!(
        ciduty
            .iter()
            .all(|e| field(e, "uid") != "shift-ciduty-20261026T230000Z@signalbox"),
        "dave's stretch is gone"
    );
    server.stop().await;
}

/// `!oncall ics` from a direct message (no channel) on the console.
async fn say_privately(bot: &Bot, person: &str, text: &str) -> String {
    let msg = Inbound {
        network: Network::Console,
        channel: None,
        user: PlatformUserId::new(person),
        text: text.to_string(),
        id: None,
        aliases: Vec::new(),
    };
    bot.router
        .dispatch(&msg)
        .await
        .expect("console lines are always addressed to the bot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oncall_ics_links_the_callers_own_feed_with_the_token_only_in_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at(NOW)));
    // Without public_url there is nothing to link to.
    let bot = open(dir.path(), EXTRA, &clock).await;
    let reply = say_privately(&bot, "carol", "!oncall ics").await;
    assert_eq!(
        reply,
        "calendar links need the bot's [http] public_url, which is not set; ask an admin"
    );
    drop(bot);

    // With it: the bot's own server, reached through the link it gives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let config = config_env(
        dir.path(),
        EXTRA,
        &[
            ("SIGNALBOX__HTTP__CALENDAR_TOKEN", TOKEN),
            ("SIGNALBOX__HTTP__PUBLIC_URL", &base),
        ],
    );
    let bot = Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot opens");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(signalbox::http::serve(
        listener,
        bot.http_state(),
        shutdown.clone(),
    ));
    let get = |path: String| async move {
        tokio::task::spawn_blocking(move || http(addr, "GET", &path))
            .await
            .expect("join")
    };

    // In a channel: the feed named, the token not posted.
    let public = say(&bot, "carol", "!oncall ics").await;
    let feed = format!("{base}/calendar/person/carol.ics");
    assert!(
        public.contains(&format!("is {feed}, which needs")),
        "{public}"
    );
    assert!(!public.contains(TOKEN), "{public}");
    let (code, _) = get(feed[base.len()..].to_string()).await;
    assert_eq!(code, 401, "the tokenless link is refused");

    // In private: the whole link, and it serves carol's own calendar.
    let private = say_privately(&bot, "carol", "!oncall ics").await;
    let link = private
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("your calendar (your shifts and windows): "))
        .unwrap_or_else(|| panic!("a link: {private}"));
    assert_eq!(link, format!("{feed}?token={TOKEN}"));
    let (code, ics) = get(link[base.len()..].to_string()).await;
    assert_eq!(code, 200, "{ics}");
    let events = expand(&ics, at(NOW), at(NOW) + Duration::days(14));
    assert!(!events.is_empty(), "{ics}");
    let summaries: BTreeSet<&str> = events.iter().map(|e| field(e, "summary")).collect();
    assert!(summaries.contains("ciduty: carol"), "{summaries:?}");
    assert!(summaries.contains("sf deploy window"), "{summaries:?}");
    assert!(
        summaries
            .iter()
            .all(|s| s.ends_with("carol") || *s == "sf deploy window"),
        "only carol's: {summaries:?}"
    );

    // Someone the bot does not know has no calendar.
    let reply = say_privately(&bot, "mallory", "!oncall ics").await;
    assert!(
        reply.starts_with("oncall ics needs an identified account"),
        "{reply}"
    );
    shutdown.cancel();
    let _ = task.await;
}

/// What the week page shows, read in the browser.
const READ_WEEK: &str = "const q=s=>Array.from(document.querySelectorAll(s));\
return {days: q('#week th').map(t=>t.dataset.day),\
windows: q('#week li.window').map(l=>l.closest('td').dataset.day+' '+l.dataset.window+' '+l.textContent),\
shifts: q('#week li.shift').map(l=>l.closest('td').dataset.day+' '+l.dataset.rotation+' '+l.dataset.person),\
feeds: q('#feeds a.feed').map(a=>a.getAttribute('href')),\
next: document.getElementById('next').getAttribute('href')};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_week_page_shows_windows_and_shifts_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at(NOW)));
    let bot = open(dir.path(), EXTRA, &clock).await;
    say(
        &bot,
        "alice",
        "!oncall override ciduty dave 2026-10-27 2026-10-28",
    )
    .await;
    let server = Server::start(&bot).await;
    // The board links to the page.
    let (code, board) = server.get("/").await;
    assert_eq!(code, 200);
    assert!(board.contains("href=\"/calendar\""), "{board}");
    let (code, _) = server.get("/calendar").await;
    assert_eq!(code, 401, "the token guards the page too");

    // The week of Berlin's change, without script.
    let url = format!(
        "http://{}/calendar?token={TOKEN}&week=2026-10-28",
        server.addr
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let (driver, id, seen, png) = tokio::task::spawn_blocking(move || {
        let driver = crate::board::chromedriver();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-quic", "--no-first-run",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                     "--blink-settings=scriptEnabled=false",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let webdriver = crate::board::webdriver;
        let session = webdriver(driver.addr, "POST", "/session", Some(caps));
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        webdriver(
            driver.addr,
            "POST",
            &format!("/session/{id}/url"),
            Some(json!({"url": url})),
        );
        let seen = webdriver(
            driver.addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            Some(json!({"script": READ_WEEK, "args": []})),
        );
        let png = webdriver(
            driver.addr,
            "GET",
            &format!("/session/{id}/screenshot"),
            None,
        );
        (driver, id, seen, png)
    })
    .await
    .expect("join");
    let addr = driver.addr;
    tokio::task::spawn_blocking(move || {
        crate::board::webdriver(addr, "DELETE", &format!("/session/{id}"), None)
    })
    .await
    .expect("join");
    drop(driver);
    server.stop().await;

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let bytes = crate::board::decode_base64(png.as_str().expect("screenshot is base64"));
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(artifacts.join("calendar.png"), bytes).expect("save screenshot");

    let days: Vec<&str> = seen["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        days,
        [
            "2026-10-26",
            "2026-10-27",
            "2026-10-28",
            "2026-10-29",
            "2026-10-30",
            "2026-10-31",
            "2026-11-01"
        ],
        "Monday to Sunday: {seen}"
    );
    let list = |key: &str| -> Vec<String> {
        seen[key]
            .as_array()
            .expect(key)
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let windows = list("windows");
    // The bot's zone is UTC: Berlin's 15:00 is 14:00 UTC after the change,
    // Los Angeles' 10:00 still 17:00 UTC before its own.
    assert!(
        windows.contains(&"2026-10-26 berlin 14:00–15:00 berlin deploy window bob".to_string()),
        "{windows:#?}"
    );
    assert!(
        windows.contains(&"2026-10-30 sf 17:00–18:30 sf deploy window carol, dave".to_string()),
        "{windows:#?}"
    );
    assert!(
        windows.iter().all(|w| !w.starts_with("2026-10-31")),
        "no window on Saturday: {windows:#?}"
    );
    let shifts = list("shifts");
    for want in [
        "2026-10-26 ciduty bob",
        "2026-10-27 ciduty dave",
        "2026-10-28 ciduty bob",
        "2026-10-28 sre dave",
    ] {
        assert!(shifts.contains(&want.to_string()), "{want}: {shifts:#?}");
    }
    let feeds = list("feeds");
    for want in [
        "/calendar/windows.ics?token=cal-s3cret",
        "/calendar/oncall.ics?token=cal-s3cret",
        "/calendar/oncall/ciduty.ics?token=cal-s3cret",
        "/calendar/oncall/sre.ics?token=cal-s3cret",
        "/calendar/person/dave.ics?token=cal-s3cret",
    ] {
        assert!(feeds.contains(&want.to_string()), "{want}: {feeds:#?}");
    }
    assert_eq!(
        seen["next"], "/calendar?token=cal-s3cret&week=2026-11-02",
        "{seen}"
    );
}
