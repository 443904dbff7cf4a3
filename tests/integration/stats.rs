//! Duty statistics end to end. Weeks of history are generated from a seeded
//! pseudo-random schedule and written through the real bot and ledger (each
//! step a chat command on a manual clock); the test keeps its own plain model
//! of what it did — closed intervals, holds, windows, requests with their
//! SLA deadlines counted minute by minute — and checks the API's numbers,
//! the chat summaries and the weekly series against sums over that model,
//! for the default span, the whole history and a span in the past. Then bad
//! input, and the `/stats` page in headless Chromium (screenshot saved as
//! `target/test-artifacts/stats.png`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use serde_json::{Value, json};
use signalbox::Bot;
use signalbox::clock::ManualClock;

use crate::board::{chromedriver, decode_base64, webdriver};
use crate::common::{at, bot, event_count, http, say, serve};
use crate::train::PEOPLE;

/// carol is on CI duty; `big` has machines enough that approval never
/// wait-lists, and an 8-working-hour SLA (Mon–Fri 09:00–17:00 UTC).
fn extra() -> String {
    format!(
        "{PEOPLE}\n[people.carol]\nroles = [\"ciduty\"]\nirc = \"carol\"\n\n\
         [[pools]]\nname = \"big\"\nmachines = [\"b1\", \"b2\", \"b3\", \"b4\", \"b5\", \"b6\"]\n\
         default_loan = \"1d\"\nmax_loan = \"2d\"\nquota = 1\nsla_hours = 8\n"
    )
}

/// SplitMix64: small, seeded, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const TREES: &[&str] = &["autoland", "mozilla-central", "try"];
const TAGS: &[&str] = &["infra", "checkin-test", "backlog"];
const REQUESTERS: &[&str] = &["alice", "bob", "dave", "erin"];

#[derive(Debug, Clone)]
struct Closure {
    tree: &'static str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    tags: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct Hold {
    version: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Held {
    opened: DateTime<Utc>,
    closed: Option<DateTime<Utc>>,
    patches: u64,
}

#[derive(Debug, Clone)]
struct Req {
    id: u64,
    person: &'static str,
    requested: DateTime<Utc>,
    sla_due: DateTime<Utc>,
    answered: Option<(DateTime<Utc>, bool)>,
    cancelled: Option<DateTime<Utc>>,
    returned: bool,
}

impl Req {
    fn open(&self) -> bool {
        self.cancelled.is_none() && !self.returned && self.answered.is_none_or(|(_, ok)| ok)
    }
}

/// What the generator did, as plain records.
#[derive(Debug, Default)]
struct Model {
    closures: Vec<Closure>,
    trains: u32,
    holds: Vec<Hold>,
    windows: Vec<Held>,
    requests: Vec<Req>,
}

/// 8 working hours after `from` (Mon–Fri 09:00–17:00 UTC), minute by minute.
fn sla_due(from: DateTime<Utc>) -> DateTime<Utc> {
    let mut t = from;
    let mut left = 8 * 60;
    for _ in 0..60 * 24 * 14 {
        let weekday = !matches!(t.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && (9..17).contains(&t.hour()) {
            left -= 1;
            if left == 0 {
                return t + Duration::minutes(1);
            }
        }
        t += Duration::minutes(1);
    }
    panic!("no SLA deadline within two weeks of {from}")
}

/// Runs `line` as `who` and checks it recorded exactly one event.
async fn act(bot: &Bot, who: &str, line: &str) -> String {
    let before = event_count(bot);
    let reply = say(bot, who, line).await;
    assert_eq!(
        event_count(bot),
        before + 1,
        "{who}: {line} should change something: {reply}"
    );
    reply
}

/// `days` of duty history from `start`, through the bot, with its model.
async fn generate(bot: &Bot, clock: &ManualClock, seed: u64, days: i64) -> Model {
    let mut rng = Rng(seed);
    let mut m = Model::default();
    let end = clock_now(clock) + Duration::days(days);
    for _ in 0..10_000 {
        clock.advance(Duration::minutes(20 + rng.below(220) as i64));
        let now = clock_now(clock);
        if now >= end {
            break;
        }
        match rng.below(100) {
            0..25 => {
                let tree = *rng.pick(TREES);
                if let Some(c) = m
                    .closures
                    .iter_mut()
                    .find(|c| c.tree == tree && c.end.is_none())
                {
                    act(bot, "alice", &format!("!tree open {tree} fixed")).await;
                    c.end = Some(now);
                } else {
                    let mut tags = vec![*rng.pick(TAGS)];
                    if rng.below(4) == 0 {
                        let second = *rng.pick(TAGS);
                        if second != tags[0] {
                            tags.push(second);
                        }
                    }
                    let words: Vec<String> = tags.iter().map(|t| format!("#{t}")).collect();
                    act(
                        bot,
                        "alice",
                        &format!("!tree close {tree} bustage {}", words.join(" ")),
                    )
                    .await;
                    m.closures.push(Closure {
                        tree,
                        start: now,
                        end: None,
                        tags,
                    });
                }
            }
            25..40 => {
                let held = m.holds.iter_mut().find(|h| h.end.is_none());
                if m.trains == 0 || rng.below(5) == 0 {
                    m.trains += 1;
                    act(bot, "dave", &format!("!train start 1.{}", m.trains)).await;
                    // A new train releases a held one.
                    if let Some(h) = held {
                        h.end = Some(now);
                    }
                } else if let Some(h) = held {
                    act(bot, "dave", "!train resume fixed").await;
                    h.end = Some(now);
                } else {
                    let task = rng.below(9000) + 100;
                    act(bot, "dave", &format!("!train hold T{task} broken")).await;
                    m.holds.push(Hold {
                        version: format!("1.{}", m.trains),
                        start: now,
                        end: None,
                    });
                }
            }
            40..60 => {
                let open = m.windows.iter_mut().find(|w| w.closed.is_none());
                match open {
                    Some(w) if rng.below(5) < 3 => {
                        act(bot, "erin", &format!("!log synced T{}", rng.below(999))).await;
                        w.patches += 1;
                    }
                    Some(w) => {
                        act(bot, "erin", "!window done").await;
                        w.closed = Some(now);
                    }
                    None if rng.below(3) == 0 => {
                        act(bot, "erin", "!log outside any window").await;
                    }
                    None => {
                        act(bot, "erin", "!window start backport").await;
                        m.windows.push(Held {
                            opened: now,
                            closed: None,
                            patches: 0,
                        });
                    }
                }
            }
            _ => {
                let person = *rng.pick(REQUESTERS);
                let mine = m
                    .requests
                    .iter_mut()
                    .rev()
                    .find(|r| r.person == person && r.open());
                match mine {
                    None => {
                        let reply = act(
                            bot,
                            person,
                            &format!("!loaner request big for 1d try {}", rng.below(99)),
                        )
                        .await;
                        let id = m.requests.len() as u64 + 1;
                        assert!(
                            reply.starts_with(&format!("request #{id} queued")),
                            "{reply}"
                        );
                        m.requests.push(Req {
                            id,
                            person,
                            requested: now,
                            sla_due: sla_due(now),
                            answered: None,
                            cancelled: None,
                            returned: false,
                        });
                    }
                    Some(r) if r.answered.is_none() => match rng.below(10) {
                        0..6 => {
                            act(bot, "carol", &format!("!loaner approve {}", r.id)).await;
                            r.answered = Some((now, true));
                        }
                        6..8 => {
                            act(bot, "carol", &format!("!loaner deny {} none left", r.id)).await;
                            r.answered = Some((now, false));
                        }
                        8 => {
                            act(bot, person, &format!("!loaner cancel {}", r.id)).await;
                            r.cancelled = Some(now);
                        }
                        // Left waiting a while longer.
                        _ => {}
                    },
                    Some(r) => {
                        act(bot, person, &format!("!loaner return {}", r.id)).await;
                        r.returned = true;
                    }
                }
            }
        }
    }
    m
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    signalbox::clock::Clock::now(clock)
}

/// Hours of `[from, to)` inside `[since, until)`.
fn overlap(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> f64 {
    let (a, b) = (from.max(since), to.min(until));
    if b > a {
        (b - a).num_minutes() as f64 / 60.0
    } else {
        0.0
    }
}

fn close(a: f64, b: &Value, what: &str) {
    let b = b
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {b} is not a number"));
    assert!((a - b).abs() < 1e-6, "{what}: expected {a}, got {b}");
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        None
    } else if n % 2 == 1 {
        Some(v[n / 2])
    } else {
        Some((v[n / 2 - 1] + v[n / 2]) / 2.0)
    }
}

/// The smallest value with at least 90% of the values at or below it.
fn p90(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (1..=v.len())
        .find(|k| *k as f64 / v.len() as f64 >= 0.9 - 1e-12)
        .map(|k| v[k - 1])
}

fn close_opt(a: Option<f64>, b: &Value, what: &str) {
    match a {
        None => assert!(b.is_null(), "{what}: expected null, got {b}"),
        Some(a) => close(a, b, what),
    }
}

/// Checks every family's API answer for `[since, until)` against the model.
fn check(
    addr: SocketAddr,
    m: &Model,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let q = format!(
        "since={}&until={}",
        since.format("%Y-%m-%dT%H:%M:%SZ"),
        until.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let get = |family: &str| -> Value {
        let (code, body) = http(addr, "GET", &format!("/api/v1/stats/{family}?{q}"));
        assert_eq!(code, 200, "{family}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let span = format!("{since}..{until}");

    // Trees: closed hours by category (a closure's hours split among its
    // tags), per tree, per week; closures begun in the span.
    let t = get("trees");
    let mut total = 0.0;
    let mut by_tag: BTreeMap<&str, f64> = BTreeMap::new();
    let mut by_tree: BTreeMap<&str, f64> = BTreeMap::new();
    let mut closures = 0;
    for c in &m.closures {
        let h = overlap(c.start, c.end.unwrap_or(now), since, until);
        closures += u64::from(since <= c.start && c.start < until);
        if h > 0.0 {
            total += h;
            *by_tree.entry(c.tree).or_default() += h;
            for tag in &c.tags {
                *by_tag.entry(tag).or_default() += h / c.tags.len() as f64;
            }
        }
    }
    close(total, &t["closed_hours"], &format!("{span} closed hours"));
    assert_eq!(t["closures"], json!(closures), "{span} closures");
    let cats = t["categories"].as_object().expect("categories");
    assert_eq!(cats.len(), by_tag.len(), "{span}: {cats:?} vs {by_tag:?}");
    for (tag, h) in &by_tag {
        close(*h, &cats[*tag], &format!("{span} #{tag}"));
    }
    for (tree, h) in &by_tree {
        close(*h, &t["trees"][*tree], &format!("{span} {tree}"));
    }
    let still: Vec<&str> = {
        let mut v: Vec<&str> = m
            .closures
            .iter()
            .filter(|c| c.end.is_none())
            .map(|c| c.tree)
            .collect();
        v.sort();
        v
    };
    assert_eq!(t["closed_now"], json!(still));
    // Weekly buckets: contiguous, cut at Mondays 00:00 UTC, each matching
    // the model over its own bounds.
    let weeks = t["weeks"].as_array().expect("weeks");
    let bound =
        |v: &Value| -> DateTime<Utc> { v.as_str().expect("instant").parse().expect("rfc3339") };
    assert_eq!(bound(&weeks[0]["since"]), since);
    assert_eq!(bound(&weeks[weeks.len() - 1]["until"]), until);
    for (i, w) in weeks.iter().enumerate() {
        let (ws, wu) = (bound(&w["since"]), bound(&w["until"]));
        if i + 1 < weeks.len() {
            assert_eq!(wu, bound(&weeks[i + 1]["since"]));
            assert_eq!((wu.weekday(), wu.hour(), wu.minute()), (Weekday::Mon, 0, 0));
        }
        let h: f64 = m
            .closures
            .iter()
            .map(|c| overlap(c.start, c.end.unwrap_or(now), ws, wu))
            .sum();
        close(h, &w["closed_hours"], &format!("week from {ws}"));
    }

    // Windows: counted in the span they opened in, with all their patches.
    let w = get("windows");
    let held: Vec<&Held> = m
        .windows
        .iter()
        .filter(|h| since <= h.opened && h.opened < until)
        .collect();
    let minutes: Vec<f64> = held
        .iter()
        .filter_map(|h| h.closed.map(|c| (c - h.opened).num_minutes() as f64))
        .collect();
    let patches: u64 = held.iter().map(|h| h.patches).sum();
    assert_eq!(w["windows"], json!(held.len()), "{span} windows");
    assert_eq!(
        w["open"],
        json!(held.iter().filter(|h| h.closed.is_none()).count())
    );
    assert_eq!(w["patches"], json!(patches), "{span} patches");
    let per: Vec<u64> = held.iter().map(|h| h.patches).collect();
    let got: Vec<u64> = w["held"]
        .as_array()
        .expect("held")
        .iter()
        .map(|h| h["patches"].as_u64().expect("patches"))
        .collect();
    assert_eq!(got, per, "{span} patches per window");
    close_opt(
        median(minutes.clone()),
        &w["duration_median_minutes"],
        "median duration",
    );
    close(
        minutes.iter().sum(),
        &w["duration_total_minutes"],
        "total duration",
    );

    // Loaners: as things stood at the span's end.
    let l = get("loaners");
    let asked: Vec<&Req> = m
        .requests
        .iter()
        .filter(|r| since <= r.requested && r.requested < until)
        .collect();
    let answered: Vec<(&Req, DateTime<Utc>, bool)> = asked
        .iter()
        .filter_map(|r| {
            r.answered
                .filter(|(t, _)| *t < until)
                .map(|(t, ok)| (*r, t, ok))
        })
        .collect();
    let cancelled = asked
        .iter()
        .filter(|r| r.cancelled.is_some_and(|t| t < until))
        .count();
    let pending: Vec<&&Req> = asked
        .iter()
        .filter(|r| {
            r.answered.is_none_or(|(t, _)| t >= until) && r.cancelled.is_none_or(|t| t >= until)
        })
        .collect();
    let responses: Vec<f64> = answered
        .iter()
        .map(|(r, t, _)| (*t - r.requested).num_minutes() as f64 / 60.0)
        .collect();
    let within = answered.iter().filter(|(r, t, _)| *t <= r.sla_due).count();
    assert_eq!(l["requests"], json!(asked.len()), "{span} requests");
    assert_eq!(l["answered"], json!(answered.len()), "{span} answered");
    assert_eq!(
        l["approved"],
        json!(answered.iter().filter(|a| a.2).count())
    );
    assert_eq!(l["cancelled"], json!(cancelled), "{span} cancelled");
    assert_eq!(l["pending"], json!(pending.len()), "{span} pending");
    assert_eq!(
        l["pending_overdue"],
        json!(pending.iter().filter(|r| r.sla_due <= until).count()),
        "{span} overdue"
    );
    assert_eq!(l["within_sla"], json!(within), "{span} within SLA");
    close_opt(
        median(responses.clone()),
        &l["response_median_hours"],
        "median response",
    );
    close_opt(p90(responses), &l["response_p90_hours"], "p90 response");
    for (a, (r, _, _)) in l["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .zip(&answered)
    {
        close(
            (r.sla_due - r.requested).num_minutes() as f64 / 60.0,
            &a["sla_hours"],
            &format!("request #{} SLA", r.id),
        );
    }

    // Trains: hold hours clipped to the span, per version; holds begun in it.
    let tr = get("trains");
    let mut per_train: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let mut hold_hours = 0.0;
    let mut holds = 0;
    for h in &m.holds {
        let hours = overlap(h.start, h.end.unwrap_or(now), since, until);
        let begun = since <= h.start && h.start < until;
        hold_hours += hours;
        holds += u64::from(begun);
        if hours > 0.0 || begun {
            let e = per_train.entry(&h.version).or_default();
            e.0 += u64::from(begun);
            e.1 += hours;
        }
    }
    close(hold_hours, &tr["hold_hours"], &format!("{span} hold hours"));
    assert_eq!(tr["holds"], json!(holds), "{span} holds");
    let trains = tr["trains"].as_array().expect("trains");
    assert_eq!(trains.len(), per_train.len(), "{span}: {trains:?}");
    for t in trains {
        let (n, hours) = per_train[t["version"].as_str().expect("version")];
        assert_eq!(t["holds"], json!(n));
        close(hours, &t["hold_hours"], "hours per train");
    }
    assert_eq!(
        tr["held_now"],
        json!(m.holds.iter().any(|h| h.end.is_none()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_weeks_of_history_match_an_independent_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = at("2026-08-31T00:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    let m = generate(&bot, &clock, 0x5eed_0012, 70).await;
    // The schedule exercised every family, with things left running.
    assert!(m.closures.len() > 30, "{}", m.closures.len());
    assert!(m.holds.len() > 10 && m.windows.len() > 10, "{m:?}");
    assert!(m.requests.len() > 30, "{}", m.requests.len());
    assert!(m.requests.iter().any(|r| r.cancelled.is_some()));
    assert!(
        m.requests
            .iter()
            .any(|r| r.answered.is_some_and(|(t, _)| t > r.sla_due))
    );
    let now = clock_now(&clock);
    let (addr, shutdown) = serve(&bot).await;
    let model = Arc::new(m);
    let spans = [
        (now - Duration::days(30), now),
        (start - Duration::days(1), now),
        (
            start + Duration::days(17) + Duration::hours(5),
            start + Duration::days(40) + Duration::hours(13),
        ),
    ];
    tokio::task::spawn_blocking({
        let model = model.clone();
        move || {
            for (since, until) in spans {
                check(addr, &model, since, until, now);
            }
            // No parameters: the last 30 days.
            let (code, body) = http(addr, "GET", "/api/v1/stats/trains");
            assert_eq!(code, 200);
            let v: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(v["until"], json!(now));
            assert_eq!(v["since"], json!(now - Duration::days(30)));
        }
    })
    .await
    .expect("checks pass");

    // Chat says what the API says.
    let (_, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/stats/trains"))
        .await
        .expect("join");
    let v: Value = serde_json::from_str(&body).expect("json");
    let reply = say(&bot, "bob", "!stats trains").await;
    let first = reply.lines().next().expect("a line");
    assert!(
        first.starts_with(&format!(
            "trains, last 30d: held {:.1} h in {} holds",
            v["hold_hours"].as_f64().expect("hours"),
            v["holds"]
        )),
        "{reply}"
    );
    let (_, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1/stats/loaners"))
        .await
        .expect("join");
    let v: Value = serde_json::from_str(&body).expect("json");
    let reply = say(&bot, "bob", "!stats loaners").await;
    assert!(
        reply.starts_with(&format!(
            "loaners, last 30d: {} requests; {} answered",
            v["requests"], v["answered"]
        )),
        "{reply}"
    );
    let share = v["within_sla_share"].as_f64().expect("share") * 100.0;
    assert!(
        reply.contains(&format!(
            "within SLA: {share:.0}% ({} of {})",
            v["within_sla"], v["answered"]
        )),
        "{reply}"
    );
    let reply = say(&bot, "bob", "!stats trees 12w").await;
    assert!(reply.starts_with("trees, last 12w: closed "), "{reply}");
    assert!(reply.contains("\nby category: "), "{reply}");
    let reply = say(&bot, "bob", "!stats windows 12w").await;
    assert!(reply.starts_with("windows, last 12w: "), "{reply}");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_answer_in_chat_and_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T12:00:00Z")));
    let bot = bot(dir.path(), &extra(), clock).await;
    let n = event_count(&bot);
    for (line, want) in [
        ("!stats foo", "unrecognized subcommand 'foo'"),
        (
            "!stats trees nope",
            "tree \"nope\" is unknown; trees are: autoland, mozilla-central, try",
        ),
        ("!stats trees 3x", "range \"3x\" is malformed"),
        ("!stats loaners forever", "range \"forever\" is malformed"),
        ("!stats trains 500d", "range \"500d\" is malformed"),
    ] {
        let reply = say(&bot, "bob", line).await;
        assert!(reply.starts_with(want), "{line}: {reply}");
    }
    assert_eq!(event_count(&bot), n, "reading statistics changes nothing");
    let (addr, shutdown) = serve(&bot).await;
    tokio::task::spawn_blocking(move || {
        for (path, code, want) in [
            (
                "/api/v1/stats/trees?since=yesterday",
                400,
                "Failed to deserialize query string",
            ),
            (
                "/api/v1/stats/trees?since=2026-11-20T00:00:00Z&until=2026-11-01T00:00:00Z",
                400,
                "the span is empty",
            ),
            (
                "/api/v1/stats/loaners?since=2020-01-01T00:00:00Z",
                400,
                "longer than 366 days",
            ),
            ("/api/v1/stats/trains?tree=try", 400, "unknown field"),
            (
                "/api/v1/stats/windows?until=soon",
                400,
                "Failed to deserialize",
            ),
            (
                "/api/v1/stats/trees?tree=nope",
                404,
                "tree \\\"nope\\\" is unknown",
            ),
            ("/stats?since=yesterday", 400, "Failed to deserialize"),
            (
                "/stats?tree=%3Cb%3E",
                400,
                "tree &quot;&lt;b&gt;&quot; is unknown",
            ),
        ] {
            let (got, body) = http(addr, "GET", path);
            assert_eq!(got, code, "{path}: {body}");
            assert!(body.contains(want), "{path}: {body}");
        }
        let (code, body) = http(addr, "GET", "/api/v1/stats/trees?tree=try");
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (v["tree"].clone(), v["closures"].clone()),
            (json!("try"), json!(0))
        );
    })
    .await
    .expect("checks pass");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_page_draws_its_charts_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = at("2026-10-05T00:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let bot = bot(dir.path(), &extra(), clock.clone()).await;
    generate(&bot, &clock, 7, 35).await;
    let (board, shutdown) = serve(&bot).await;
    let (code, html) = tokio::task::spawn_blocking(move || http(board, "GET", "/"))
        .await
        .expect("join");
    assert_eq!(code, 200);
    assert!(html.contains("href=\"/stats\""), "the board links the page");

    let profile = tempfile::tempdir().expect("profile dir");
    let (counts, png) = tokio::task::spawn_blocking(move || {
        let driver = chromedriver();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-quic", "--no-first-run",
                     "--disable-component-update", "--disable-sync", "--window-size=900,1900",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let session = webdriver(driver.addr, "POST", "/session", Some(caps));
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        webdriver(
            driver.addr,
            "POST",
            &format!("/session/{id}/url"),
            Some(json!({"url": format!("http://{board}/stats")})),
        );
        // Per chart: bars drawn with a visible size, and the chart's width
        // as laid out.
        let script = json!({"script": "return [...document.querySelectorAll('svg.chart')].map(s => [s.id, \
            [...s.querySelectorAll('g.bar rect')].filter(r => r.getBBox().height > 0).length, \
            Math.round(s.getBoundingClientRect().width), s.querySelectorAll('text').length]);", "args": []});
        let counts = webdriver(
            driver.addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            Some(script),
        );
        let png = webdriver(driver.addr, "GET", &format!("/session/{id}/screenshot"), None);
        webdriver(driver.addr, "DELETE", &format!("/session/{id}"), None);
        drop(driver);
        (counts, png)
    })
    .await
    .expect("join");
    shutdown.cancel();
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let bytes = decode_base64(png.as_str().expect("screenshot is base64"));
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(artifacts.join("stats.png"), bytes).expect("save screenshot");
    let charts = counts.as_array().expect("an array of charts");
    let ids: Vec<&str> = charts.iter().filter_map(|c| c[0].as_str()).collect();
    assert_eq!(
        ids,
        [
            "chart-trees",
            "chart-loaners",
            "chart-windows",
            "chart-trains"
        ]
    );
    for c in charts {
        assert!(c[1].as_u64().unwrap_or(0) > 0, "{c}: bars are drawn");
        assert!(c[2].as_u64().unwrap_or(0) > 300, "{c}: laid out wide");
        assert!(c[3].as_u64().unwrap_or(0) > 5, "{c}: labelled");
    }
    // Give the server a moment to stop before the temp dir goes.
    tokio::time::sleep(StdDuration::from_millis(50)).await;
}
