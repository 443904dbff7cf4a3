//! SIGKILL at random points of a mixed workload, then a restart and a check
//! that every acknowledged change — and every announcement queued with it —
//! is still there. Where `durability.rs` streams one kind of change as fast
//! as it can, this drives every family the way a person does: one command,
//! wait for the reply, the next one (train start → hold → resume; window add
//! → start → log → done; loaner request → approve → return; tree close →
//! open; on-call override; status alert → ok), each carrying a unique token
//! so its event can be found again.
//!
//! Announcements go to `irc:#releng`, status ones to `irc:#status` (so a
//! train hold and an alert left on by a kill never share a topic, and each
//! step's topic count is fixed), and the console process delivers only to
//! the console, so every one of them stays in the outbox where the export
//! can count them. After the last kill the export's views must also equal a
//! replay of its event log (no torn batch).
//!
//! `SIGNALBOX_CRASH_ITERATIONS` (default 20) sets the number of kills and
//! `SIGNALBOX_CRASH_SEED` the seed (default: from the clock); the seed is
//! printed, so a failing run can be repeated. `scripts/crash-test` runs 100.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use signalbox::clock::SystemClock;
use signalbox_commands::{Event, State};

use crate::common::bin;

const DEFAULT_ITERATIONS: u64 = 20;
/// Each process is killed this long after it was started (uniform): from
/// inside start-up to a few hundred commands in.
const KILL_AFTER_MS: std::ops::Range<u64> = 20..500;
/// No reply may take this long; a hang is a failure, not a slow test.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// splitmix64: small, seedable, good enough to pick stories and moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How an acknowledged command's change is found in the export.
#[derive(Debug, Clone)]
enum Needle {
    /// This exact string is a value in the change (outside any `before`).
    Text(String),
    /// The change's `id` field.
    Id(u64),
}

/// One command and what its success looks like.
#[derive(Debug, Clone)]
struct Step {
    line: String,
    /// The reply of a success starts with this.
    ok: String,
    family: &'static str,
    kind: &'static str,
    needle: Needle,
    /// Outbox entries the change queues (see the config: one channel per
    /// kind; alice has four chat handles for direct messages).
    outbox: usize,
    /// A refusal is fine (cleanup whose target may not exist).
    may_fail: bool,
}

impl Step {
    fn new(line: String, ok: &str, family: &'static str, kind: &'static str) -> Step {
        Step {
            line,
            ok: ok.to_string(),
            family,
            kind,
            needle: Needle::Text(String::new()),
            outbox: 1,
            may_fail: false,
        }
    }

    fn text(mut self, token: &str) -> Step {
        self.needle = Needle::Text(token.to_string());
        self
    }

    fn outbox(mut self, n: usize) -> Step {
        self.outbox = n;
        self
    }
}

/// A command that was answered before the kill.
#[derive(Debug)]
struct Acked {
    iteration: u64,
    step: Step,
    reply: String,
}

/// The console of one process: a command in, its reply out. A `!ping`
/// after each command marks where the reply ends (replies may have
/// several lines).
struct Console {
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Console {
    /// The reply to `line`, or `None` once the process is gone.
    fn ask(&mut self, line: &str) -> Option<String> {
        self.stdin
            .write_all(format!("{line}\n!ping\n").as_bytes())
            .ok()?;
        let mut reply = Vec::new();
        loop {
            match self.lines.recv_timeout(REPLY_TIMEOUT) {
                Ok(l) if l == "pong" => return Some(reply.join("\n")),
                Ok(l) => reply.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no reply to {line:?} within {REPLY_TIMEOUT:?}")
                }
            }
        }
    }
}

/// One process's commands and what they answered.
struct Driver {
    console: Console,
    iteration: u64,
    acked: Vec<Acked>,
    steps: u64,
}

impl Driver {
    /// A token no other command of the run carries.
    fn token(&mut self) -> String {
        self.steps += 1;
        format!("c{}s{}", self.iteration, self.steps)
    }

    /// Runs one step; `None` when the process died before answering.
    fn run(&mut self, step: Step) -> Option<String> {
        let reply = self.console.ask(&step.line)?;
        self.acked.push(Acked {
            iteration: self.iteration,
            step,
            reply: reply.clone(),
        });
        Some(reply)
    }
}

/// One process's worth of stories, until it dies. `seq` numbers the
/// overrides across the whole run so their hours never overlap.
fn drive(console: Console, iteration: u64, rng: &mut Rng, seq: &mut u64) -> Vec<Acked> {
    let mut d = Driver {
        console,
        iteration,
        acked: Vec::new(),
        steps: 0,
    };
    loop {
        let story = rng.below(6);
        let done = match story {
            0 => {
                let tree = ["autoland", "mozilla-central", "try"][rng.below(3) as usize];
                let (a, b) = (d.token(), d.token());
                d.run(
                    Step::new(
                        format!("!tree close {tree} {a} #infra"),
                        &format!("closed {tree}: {a}"),
                        "tree",
                        "set",
                    )
                    .text(&a),
                )
                .and_then(|_| {
                    d.run(
                        Step::new(
                            format!("!tree open {tree} {b}"),
                            &format!("opened {tree}: {b}"),
                            "tree",
                            "set",
                        )
                        .text(&b),
                    )
                })
            }
            1 => {
                let (v, hold, resume) = (d.token(), d.token(), d.token());
                let version = format!("1.{iteration}.{v}");
                d.run(
                    Step::new(
                        format!("!train start {version}"),
                        &format!("started train {version}"),
                        "train",
                        "start",
                    )
                    .text(&version),
                )
                .and_then(|_| {
                    d.run(
                        Step::new(
                            format!("!train hold T{} {hold}", rng.below(1000)),
                            &format!("held train {version}"),
                            "train",
                            "hold",
                        )
                        .text(&hold)
                        // The message and the topic mark; the resume puts
                        // back no topic: this config knows none.
                        .outbox(2),
                    )
                })
                .and_then(|_| {
                    d.run(
                        Step::new(
                            format!("!train resume {resume}"),
                            &format!("resumed train {version}: {resume}"),
                            "train",
                            "resume",
                        )
                        .text(&resume),
                    )
                })
            }
            2 => {
                let (w, entry) = (d.token(), d.token());
                // A window left open by an earlier kill would refuse the
                // start: close whatever is open first (a refusal is fine).
                let cleanup = Step {
                    may_fail: true,
                    ..Step::new(
                        "!window done".into(),
                        "alice closed the ",
                        "window",
                        "close",
                    )
                };
                d.run(cleanup)
                    .and_then(|_| {
                        d.run(
                            Step::new(
                                format!("!window add {w} {} 1h", days_ahead(30)),
                                &format!("added window {w}"),
                                "window",
                                "add",
                            )
                            .text(&w),
                        )
                    })
                    .and_then(|_| {
                        d.run(
                            Step::new(
                                format!("!window start {w}"),
                                &format!("opened the {w} window"),
                                "window",
                                "open",
                            )
                            .text(&w),
                        )
                    })
                    .and_then(|_| {
                        d.run(
                            Step::new(format!("!log add {entry}"), "logged #", "log", "entry")
                                .text(&entry),
                        )
                    })
                    .and_then(|_| {
                        d.run(
                            Step::new(
                                format!("!window done {w}"),
                                &format!("alice closed the {w} window"),
                                "window",
                                "close",
                            )
                            .text(&w),
                        )
                    })
            }
            3 => {
                let reason = d.token();
                d.run(
                    Step::new(
                        format!("!loaner request crash for 1d {reason}"),
                        "request #",
                        "loaner",
                        "request",
                    )
                    .text(&reason),
                )
                .and_then(|reply| {
                    let id = number_after(&reply, "request #")?;
                    d.run(Step {
                        needle: Needle::Id(id),
                        ..Step::new(
                            format!("!loaner approve {id}"),
                            &format!("approved #{id}"),
                            "loaner",
                            "approve",
                        )
                        .outbox(5)
                    })
                    .map(|_| id)
                })
                .and_then(|id| {
                    d.run(Step {
                        needle: Needle::Id(id),
                        ..Step::new(
                            format!("!loaner return {id}"),
                            &format!("#{id} returned"),
                            "loaner",
                            "return",
                        )
                    })
                })
            }
            4 => {
                *seq += 1;
                // Two-hour slots from 60 days ahead, one per override.
                let start = (SystemClock::current() + chrono::Duration::days(60))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight is a valid time")
                    + chrono::Duration::hours(2 * *seq as i64);
                let until = start + chrono::Duration::hours(1);
                let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
                let line = format!("!oncall override ciduty bob {} {}", fmt(start), fmt(until));
                // The id is only known from the reply.
                d.run(Step::new(line, "bob is on ciduty shift", "duty", "override").outbox(0))
                    .inspect(|reply| {
                        let id = number_after(reply, "(override ").unwrap_or(0);
                        if let Some(last) = d.acked.last_mut() {
                            last.step.needle = Needle::Id(id);
                        }
                    })
            }
            _ => {
                let (alert, ok) = (d.token(), d.token());
                d.run(
                    Step::new(
                        format!("!status alert {alert}"),
                        &format!("alert posted to 1 channel(s): {alert}"),
                        "status",
                        "alert",
                    )
                    .text(&alert)
                    .outbox(2),
                )
                .and_then(|_| {
                    d.run(
                        Step::new(
                            format!("!status ok {ok}"),
                            "alert from alice",
                            "status",
                            "ok",
                        )
                        .text(&ok)
                        // The OK message; no topic: this config knows none
                        // for the channel, and an unknown one is left as is.
                        .outbox(1),
                    )
                })
            }
        };
        if done.is_none() {
            return d.acked;
        }
    }
}

/// 10:00 UTC, `days` days from now (the config's time zone is UTC), as chat
/// takes it: dates in this test are relative so that it passes on any day.
fn days_ahead(days: i64) -> String {
    (SystemClock::current() + chrono::Duration::days(days))
        .format("%Y-%m-%dT10:00")
        .to_string()
}

/// The number right after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn config_text(data: &Path) -> String {
    let machines: Vec<String> = (1..=300).map(|n| format!("\"m{n:03}\"")).collect();
    let announce: String = [
        "trees",
        "train",
        "windows",
        "deploy_log",
        "loaners",
        "handoff",
        "status",
    ]
    .iter()
    .map(|k| match *k {
        "status" => format!("{k} = [\"irc:#status\"]\n"),
        _ => format!("{k} = [\"irc:#releng\"]\n"),
    })
    .collect();
    format!(
        r#"[bot]
data_dir = {data:?}
console_as = "alice"
timezone = "UTC"

[http]
enabled = false

[trees]
names = ["autoland", "mozilla-central", "try"]

[announce]
{announce}
[people.alice]
roles = ["admin", "sheriff"]
irc = "alice"
matrix = "@alice:example.org"
slack = "U0ALICE01"
discord = "100000000000000001"

[people.bob]
irc = "bob"

[[pools]]
name = "crash"
description = "machines for the crash test"
machines = [{machines}]
default_loan = "3d"
max_loan = "14d"
max_extensions = 2
quota = 100000
sla_hours = 8
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
working_hours = "09:00-17:00"
timezone = "UTC"

[[rotations]]
name = "ciduty"
members = ["alice", "bob"]
shift = "1w"
start = "2026-01-05 09:00"
timezone = "UTC"
channels = ["irc:#releng"]
grants = ["ciduty"]
"#,
        data = data.display().to_string(),
        machines = machines.join(", "),
    )
}

fn spawn(config: &Path) -> (Child, Console) {
    let mut child = Command::new(bin())
        .args(["console", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn console");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, Console { stdin, lines })
}

/// A change with its `before` parts removed, as text.
fn without_before(change: &Value) -> String {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "before")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    strip(change).to_string()
}

fn matches(change: &Value, step: &Step) -> bool {
    if change["family"] != step.family || change["kind"] != step.kind {
        return false;
    }
    match &step.needle {
        Needle::Text(t) => without_before(change).contains(&format!("{t:?}")),
        Needle::Id(id) => change["id"] == *id,
    }
}

#[test]
fn sigkill_during_a_mixed_workload_loses_no_acknowledged_change_or_announcement() {
    let iterations: u64 = std::env::var("SIGNALBOX_CRASH_ITERATIONS")
        .ok()
        .map(|v| v.parse().expect("SIGNALBOX_CRASH_ITERATIONS is a number"))
        .unwrap_or(DEFAULT_ITERATIONS);
    let seed: u64 = std::env::var("SIGNALBOX_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("SIGNALBOX_CRASH_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos() as u64
        });
    eprintln!("crash test: {iterations} iterations, SIGNALBOX_CRASH_SEED={seed}");
    let context = format!("(repeat with SIGNALBOX_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&dir.path().join("data"))).expect("write config");

    let started = Instant::now();
    let mut acked: Vec<Acked> = Vec::new();
    let mut overrides = 0u64;
    for iteration in 0..iterations {
        let (mut child, console) = spawn(&config);
        let kill_after = Duration::from_millis(
            KILL_AFTER_MS.start + rng.below(KILL_AFTER_MS.end - KILL_AFTER_MS.start),
        );
        let spawned = Instant::now();
        let mut story_rng = Rng(rng.next());
        let driver = std::thread::spawn(move || {
            let mut seq = overrides;
            let acked = drive(console, iteration, &mut story_rng, &mut seq);
            (acked, seq)
        });
        std::thread::sleep(kill_after.saturating_sub(spawned.elapsed()));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let (mut got, seq) = driver.join().expect("driver");
        overrides = seq;
        acked.append(&mut got);
    }
    let elapsed = started.elapsed();

    // Restart once more: the export opens the ledger after the last kill.
    let out = Command::new(bin())
        .args(["export", "--config"])
        .arg(&config)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "the ledger does not open after the last kill {context}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: Value = serde_json::from_slice(&out.stdout).expect("export json");
    let events: Vec<Event> =
        serde_json::from_value(export["events"].clone()).expect("export events");
    let raw_events = export["events"].as_array().expect("events");
    let outbox = export["outbox"].as_array().expect("outbox");
    let mut queued: BTreeMap<u64, usize> = BTreeMap::new();
    for entry in outbox {
        *queued
            .entry(entry["event"].as_u64().expect("outbox event id"))
            .or_default() += 1;
    }

    // Every acknowledged success is exactly once in the log, with its
    // announcements still queued.
    let mut per_family: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &acked {
        if !a.reply.starts_with(&a.step.ok) {
            assert!(
                a.step.may_fail,
                "iteration {}: {:?} was refused: {:?} {context}",
                a.iteration, a.step.line, a.reply
            );
            continue;
        }
        if a.step.may_fail {
            // A cleanup whose change is not identifiable by a token.
            continue;
        }
        let found: Vec<u64> = raw_events
            .iter()
            .filter(|e| {
                e["changes"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| matches(c, &a.step)))
            })
            .map(|e| e["id"].as_u64().expect("event id"))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "iteration {}: acknowledged {:?} (reply {:?}) is in the log {} times {context}",
            a.iteration,
            a.step.line,
            a.reply,
            found.len()
        );
        let announced = queued.get(&found[0]).copied().unwrap_or(0);
        assert_eq!(
            announced, a.step.outbox,
            "iteration {}: acknowledged {:?} has {announced} queued announcements, not {} {context}",
            a.iteration, a.step.line, a.step.outbox
        );
        *per_family.entry(a.step.family).or_default() += 1;
    }
    eprintln!(
        "crash test: {} acknowledged changes over {iterations} kills in {elapsed:?}: {per_family:?}",
        per_family.values().sum::<usize>()
    );
    if iterations >= DEFAULT_ITERATIONS {
        for family in ["tree", "train", "window", "log", "loaner", "duty", "status"] {
            assert!(
                per_family.get(family).copied().unwrap_or(0) > 0,
                "no acknowledged {family} change in {iterations} iterations: the test proved nothing for it {context}"
            );
        }
    }

    // The views the ledger stored are what its log says: no torn batch.
    let mut replayed = State::default();
    for event in &events {
        replayed.apply(event);
    }
    let stored: State = serde_json::from_value(export["state"].clone()).expect("export state");
    assert!(
        stored == replayed,
        "the stored views differ from a replay of the event log {context}"
    );
}
