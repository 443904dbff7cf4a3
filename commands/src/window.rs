//! Deploy windows (backport, SWAT): recurring ones from config (a cron
//! schedule in a time zone, a duration, deployers, channels) and one-off ones
//! an admin adds. Developers queue patches for a window's next occurrence;
//! when it starts the bot announces it, pinging the deployers and, in a
//! separate message, the owners of the patches queued at that moment. A
//! deployer opens (`window start`) and closes (`window done`) it; deploy log
//! entries made while it is open carry its session (the event that opened
//! it), so the summary at `done` reads exactly those entries back from the
//! event log — also after a restart in the middle of the window.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventId};
use crate::id::{ChannelAddr, PersonId};
use crate::role::{Permit, Role};
use crate::task::TaskRef;
use crate::when::{format_duration, format_instant, parse_duration, parse_until};
use crate::{AnnounceKind, Announcement, Audience, Context, Error, Outcome, Settings};

/// How far ahead `window join` looks for a next occurrence.
const HORIZON_DAYS: i64 = 62;

/// Most occurrences listed for one window.
const MAX_LISTED: usize = 20;

/// How many closed sessions the state keeps.
pub const PAST_LIMIT: usize = 50;

/// How long before an open window's end its channels are warned.
pub const WARN_BEFORE: i64 = 5;

/// A recurring window from config.
#[derive(Debug, Clone)]
pub struct WindowDef {
    pub name: String,
    pub schedule: cron::Schedule,
    /// The cron text, for display.
    pub cron: String,
    pub duration: Duration,
    pub timezone: Tz,
    pub deployers: Vec<PersonId>,
    /// Where its announcements go; the `[announce] windows` channels when empty.
    pub channels: Vec<ChannelAddr>,
}

impl WindowDef {
    /// Starts of occurrences that end after `from` and start before `to`.
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let after = (from - self.duration).with_timezone(&self.timezone);
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        let mut last_local = None;
        for t in self.schedule.after(&after).take(1000) {
            // A local time a fall-back hour repeats is one occurrence.
            if last_local == Some(t.naive_local()) {
                continue;
            }
            last_local = Some(t.naive_local());
            let start = t.with_timezone(&Utc);
            if start >= to || out.len() >= MAX_LISTED {
                break;
            }
            if start + self.duration > from {
                out.push(start);
            }
        }
        out
    }
}

/// Queue patches for, open, close and list deploy windows.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !window\n  !window today\n  !window join backport https://gerrit.example.org/r/c/ops/+/1234 T123\n  !window start backport\n  !window done"
)]
pub enum Window {
    /// Upcoming windows (default: the next 7 days) with deployers and queued patches.
    #[command(after_help = "examples:\n  !window list\n  !window today")]
    List {
        /// `today` or `week`.
        range: Option<String>,
    },
    /// Queue a patch for the window's next occurrence; you are its owner.
    #[command(
        after_help = "example:\n  !window join backport https://gerrit.example.org/r/c/ops/+/1234 T123"
    )]
    Join {
        window: String,
        /// The change: a URL or a change number.
        change: String,
        /// The task it fixes, e.g. T123.
        task: Option<String>,
    },
    /// Take a queued patch back out (yours; a deployer may take out any).
    #[command(
        visible_alias = "unjoin",
        after_help = "examples:\n  !window leave backport https://gerrit.example.org/r/c/ops/+/1234\n  !window leave backport #3"
    )]
    Leave {
        window: String,
        /// The change as queued, or the patch number (`#3`).
        change: String,
    },
    /// Open a window now (its scheduled start opens it too).
    #[command(after_help = "example:\n  !window start backport")]
    Start { window: String },
    /// Close the open window and post what was logged (it closes itself at its end).
    #[command(after_help = "example:\n  !window done")]
    Done { window: Option<String> },
    /// Add a one-off window (admin).
    #[command(
        after_help = "START is HH:MM or YYYY-MM-DD HH:MM (quoted) in your time zone (see whoami tz).\nexample:\n  !window add hotfix 16:00 1h alice carol"
    )]
    Add {
        name: String,
        start: String,
        duration: String,
        /// Deployers: config names or mentions (<@id>, @user:server, a logged-in IRC nick).
        deployers: Vec<String>,
    },
}

impl Window {
    pub fn permit(&self) -> Permit {
        match self {
            Window::List { .. } => Permit::Anyone,
            Window::Join { .. } | Window::Leave { .. } => Permit::Identified,
            Window::Start { .. } | Window::Done { .. } => Permit::Role(Role::Deployer),
            Window::Add { .. } => Permit::Role(Role::Admin),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Window::List { .. } => "list",
            Window::Join { .. } => "join",
            Window::Leave { .. } => "leave",
            Window::Start { .. } => "start",
            Window::Done { .. } => "done",
            Window::Add { .. } => "add",
        }
    }
}

/// A one-off window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdHoc {
    pub name: String,
    pub start: DateTime<Utc>,
    pub duration: Duration,
    pub deployers: Vec<PersonId>,
    pub by: String,
    /// Whether its start was announced.
    pub announced: bool,
}

/// A patch queued for an occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patch {
    pub id: u64,
    pub window: String,
    pub occurrence: DateTime<Utc>,
    pub change: String,
    pub task: Option<TaskRef>,
    pub owner: PersonId,
    pub queued: DateTime<Utc>,
}

/// An open window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub window: String,
    pub occurrence: Option<DateTime<Utc>>,
    pub started: DateTime<Utc>,
    pub by: String,
    /// The event that opened it; log entries point here.
    pub session: EventId,
    /// When it closes itself if nobody says `window done` (none for a
    /// session opened before windows closed themselves).
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Whether the warning before `end` went out.
    #[serde(default)]
    pub warned: bool,
    pub ended: Option<DateTime<Utc>>,
    pub entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Add {
        name: String,
        start: DateTime<Utc>,
        duration: Duration,
        deployers: Vec<PersonId>,
    },
    Join {
        window: String,
        occurrence: DateTime<Utc>,
        change: String,
        task: Option<TaskRef>,
    },
    /// A queued patch taken back out.
    Leave {
        window: String,
        id: u64,
    },
    Open {
        window: String,
        occurrence: Option<DateTime<Utc>>,
        /// When it closes itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<DateTime<Utc>>,
    },
    /// The open window's channels were warned of its end.
    Warned {
        window: String,
    },
    Close {
        window: String,
        entries: usize,
    },
    /// A one-off window's start was announced.
    Announced {
        window: String,
    },
}

/// The windows family's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    pub adhoc: BTreeMap<String, AdHoc>,
    pub queue: Vec<Patch>,
    pub next_patch: u64,
    pub active: Option<Session>,
    /// Closed sessions, oldest first.
    pub past: Vec<Session>,
}

impl Windows {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Add {
                name,
                start,
                duration,
                deployers,
            } => {
                self.adhoc.insert(
                    name.clone(),
                    AdHoc {
                        name: name.clone(),
                        start: *start,
                        duration: *duration,
                        deployers: deployers.clone(),
                        by: event.actor.name().to_string(),
                        announced: false,
                    },
                );
            }
            Change::Join {
                window,
                occurrence,
                change,
                task,
            } => {
                self.next_patch += 1;
                if let Some(owner) = &event.actor.person {
                    self.queue.push(Patch {
                        id: self.next_patch,
                        window: window.clone(),
                        occurrence: *occurrence,
                        change: change.clone(),
                        task: task.clone(),
                        owner: owner.clone(),
                        queued: event.at,
                    });
                }
            }
            Change::Leave { window, id } => {
                self.queue.retain(|p| !(p.window == *window && p.id == *id));
            }
            Change::Open {
                window,
                occurrence,
                end,
            } => {
                self.active = Some(Session {
                    window: window.clone(),
                    occurrence: *occurrence,
                    started: event.at,
                    by: event.actor.name().to_string(),
                    session: event.id,
                    end: *end,
                    warned: false,
                    ended: None,
                    entries: 0,
                });
            }
            Change::Warned { window } => {
                if let Some(a) = self.active.as_mut().filter(|a| a.window == *window) {
                    a.warned = true;
                }
            }
            Change::Close { window, entries } => {
                if let Some(mut s) = self.active.take() {
                    s.ended = Some(event.at);
                    s.entries = *entries;
                    self.past.push(s);
                    let excess = self.past.len().saturating_sub(PAST_LIMIT);
                    self.past.drain(..excess);
                }
                // The patches of this window's occurrences so far are done.
                self.queue
                    .retain(|p| !(p.window == *window && p.occurrence <= event.at));
                // A one-off window is over once closed.
                if self.adhoc.get(window).is_some_and(|a| a.start <= event.at) {
                    self.adhoc.remove(window);
                }
            }
            Change::Announced { window } => {
                if let Some(a) = self.adhoc.get_mut(window) {
                    a.announced = true;
                }
            }
        }
    }

    /// A one-off window's start announcement, once; the open window's
    /// warning before its end and its closing at the end.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, crate::Job)> {
        let mut timers: Vec<(DateTime<Utc>, crate::Job)> = self
            .adhoc
            .values()
            .filter(|a| !a.announced)
            .map(|a| {
                (
                    a.start,
                    crate::Job::WindowStart {
                        window: a.name.clone(),
                    },
                )
            })
            .collect();
        if let Some(a) = &self.active
            && let Some(end) = a.end
        {
            let warn = end - Duration::minutes(WARN_BEFORE);
            if !a.warned && warn > a.started {
                timers.push((
                    warn,
                    crate::Job::WindowWarn {
                        window: a.window.clone(),
                    },
                ));
            }
            timers.push((
                end,
                crate::Job::WindowEnd {
                    window: a.window.clone(),
                },
            ));
        }
        timers
    }
}

/// A window as the commands see it: recurring (config) or one-off (state).
#[derive(Debug, Clone)]
pub struct Upcoming {
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub deployers: Vec<PersonId>,
    pub recurring: bool,
}

/// Every occurrence of every window in `[from, to)`, by start.
pub fn upcoming(
    settings: &Settings,
    windows: &Windows,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Upcoming> {
    let mut out: Vec<Upcoming> = Vec::new();
    for def in &settings.windows {
        for start in def.occurrences(from, to) {
            out.push(Upcoming {
                name: def.name.clone(),
                start,
                end: start + def.duration,
                deployers: def.deployers.clone(),
                recurring: true,
            });
        }
    }
    for a in windows.adhoc.values() {
        if a.start + a.duration > from && a.start < to {
            out.push(Upcoming {
                name: a.name.clone(),
                start: a.start,
                end: a.start + a.duration,
                deployers: a.deployers.clone(),
                recurring: false,
            });
        }
    }
    out.sort_by(|a, b| (a.start, &a.name).cmp(&(b.start, &b.name)));
    out
}

pub fn known(ctx: &Context, windows: &Windows, name: &str) -> bool {
    ctx.settings.windows.iter().any(|d| d.name == name) || windows.adhoc.contains_key(name)
}

pub fn names(ctx: &Context, windows: &Windows) -> String {
    let mut names: Vec<&str> = ctx
        .settings
        .windows
        .iter()
        .map(|d| d.name.as_str())
        .chain(windows.adhoc.keys().map(String::as_str))
        .collect();
    names.sort();
    if names.is_empty() {
        "none configured".to_string()
    } else {
        names.join(", ")
    }
}

fn unknown(ctx: &Context, windows: &Windows, name: &str) -> Error {
    Error::not_found(format!(
        "window \"{name}\" is unknown; windows are: {}",
        names(ctx, windows)
    ))
}

/// The occurrence of `name` in progress or next, if any within the horizon.
fn next_occurrence(ctx: &Context, windows: &Windows, name: &str) -> Option<Upcoming> {
    upcoming(
        ctx.settings,
        windows,
        ctx.now,
        ctx.now + Duration::days(HORIZON_DAYS),
    )
    .into_iter()
    .find(|u| u.name == name)
}

/// The caller, also holding the `deployer` role when the window a `window
/// start` or `window done` is about lists them among its deployers: a
/// window's own deployers run it without the static role.
pub fn as_window_deployer(
    command: &Window,
    caller: &crate::Caller,
    ctx: &Context,
    windows: &Windows,
) -> crate::Caller {
    let target = match command {
        Window::Start { window } => Some(window.as_str()),
        Window::Done { window } => window
            .as_deref()
            .or(windows.active.as_ref().map(|a| a.window.as_str())),
        _ => None,
    };
    let listed = target
        .and_then(|t| shape(ctx, windows, t))
        .is_some_and(|(deployers, _)| {
            caller
                .person
                .as_ref()
                .is_some_and(|p| deployers.contains(p))
        });
    let mut caller = caller.clone();
    if listed {
        caller.roles.insert(Role::Deployer);
    }
    caller
}

/// A window's deployers and how long it lasts, recurring or one-off.
fn shape(ctx: &Context, windows: &Windows, name: &str) -> Option<(Vec<PersonId>, Duration)> {
    match ctx.settings.windows.iter().find(|d| d.name == name) {
        Some(d) => Some((d.deployers.clone(), d.duration)),
        None => windows
            .adhoc
            .get(name)
            .map(|a| (a.deployers.clone(), a.duration)),
    }
}

fn people(list: &[PersonId]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.iter()
            .map(PersonId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn patch_line(p: &Patch) -> String {
    let mut s = format!("#{} {}", p.id, p.change);
    if let Some(t) = &p.task {
        s.push_str(&format!(" {}", t.id));
    }
    s.push_str(&format!(" ({})", p.owner));
    s
}

/// Where a window's announcements go.
fn audiences(ctx: &Context, name: &str) -> Vec<Audience> {
    match ctx.settings.windows.iter().find(|d| d.name == name) {
        Some(d) if !d.channels.is_empty() => {
            d.channels.iter().cloned().map(Audience::Channel).collect()
        }
        _ => vec![Audience::Kind(AnnounceKind::Windows)],
    }
}

fn to_all(outcome: Outcome, audiences: &[Audience], text: &str) -> Outcome {
    audiences.iter().fold(outcome, |o, to| {
        o.announce(Announcement {
            to: to.clone(),
            text: text.to_string(),
        })
    })
}

pub fn handle(cmd: &Window, ctx: &Context, windows: &Windows) -> Result<Outcome, Error> {
    let tz = ctx.zone;
    match cmd {
        Window::List { range } => {
            let local = ctx.now.with_timezone(&tz);
            let to = match range.as_deref().map(str::to_lowercase).as_deref() {
                None | Some("week") => ctx.now + Duration::days(7),
                Some("today") => {
                    let midnight = local
                        .date_naive()
                        .succ_opt()
                        .map(|d| d.and_time(NaiveTime::MIN))
                        .and_then(|n| tz.from_local_datetime(&n).earliest());
                    midnight.map_or(ctx.now + Duration::days(1), |m| m.with_timezone(&Utc))
                }
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "range \"{other}\" is unknown; use today or week"
                    )));
                }
            };
            let list = upcoming(ctx.settings, windows, ctx.now, to);
            let mut lines = Vec::new();
            if let Some(a) = &windows.active {
                lines.push(format!(
                    "open now: {} (opened by {} {} ago)",
                    a.window,
                    a.by,
                    format_duration(ctx.now - a.started)
                ));
            }
            for u in &list {
                let mut line = format!(
                    "{} {} {} ({}); deployers: {}",
                    u.name,
                    local_day(u.start, tz),
                    format_instant(u.start, tz),
                    format_duration(u.end - u.start),
                    people(&u.deployers)
                );
                let patches: Vec<String> = windows
                    .queue
                    .iter()
                    .filter(|p| p.window == u.name && p.occurrence == u.start)
                    .map(patch_line)
                    .collect();
                if patches.is_empty() {
                    line.push_str("; no patches queued");
                } else {
                    line.push_str(&format!("; patches: {}", patches.join(", ")));
                }
                lines.push(line);
            }
            if list.is_empty() {
                lines.push(format!(
                    "no deploy windows {}",
                    if range.as_deref() == Some("today") {
                        "left today"
                    } else {
                        "in the next 7 days"
                    }
                ));
            }
            if let Some(url) = &ctx.settings.public_url {
                let url = url.trim_end_matches('/');
                lines.push(format!("calendar: {url}/calendar/windows.ics"));
            }
            Ok(Outcome::reply(lines.join("\n")))
        }
        Window::Join {
            window,
            change,
            task,
        } => {
            if !known(ctx, windows, window) {
                return Err(unknown(ctx, windows, window));
            }
            let task = match task {
                None => None,
                Some(t) => {
                    let found = ctx.settings.tasks.find(t);
                    match found.into_iter().next() {
                        Some(r) if r.id.len() == t.len() => Some(r),
                        _ => {
                            return Err(Error::invalid(format!(
                                "\"{t}\" is not a task reference (e.g. T123)"
                            )));
                        }
                    }
                }
            };
            let Some(next) = next_occurrence(ctx, windows, window) else {
                return Err(Error::not_found(format!(
                    "window \"{window}\" has no occurrence in the next {HORIZON_DAYS} days"
                )));
            };
            let dup = windows
                .queue
                .iter()
                .find(|p| p.window == *window && p.occurrence == next.start && p.change == *change);
            if let Some(p) = dup {
                return Err(Error::conflict(format!(
                    "change \"{change}\" is already queued for {window} as #{} by {}",
                    p.id, p.owner
                )));
            }
            let id = windows.next_patch + 1;
            let reply = format!(
                "queued #{id} {change} for {window} at {}{}",
                format_instant(next.start, tz),
                task.as_ref()
                    .map(|t| format!(" ({})", t.id))
                    .unwrap_or_default()
            );
            Ok(
                Outcome::reply(reply).change(crate::Change::Window(Change::Join {
                    window: window.clone(),
                    occurrence: next.start,
                    change: change.clone(),
                    task,
                })),
            )
        }
        Window::Leave { window, change } => {
            if !known(ctx, windows, window) {
                return Err(unknown(ctx, windows, window));
            }
            let number = change.strip_prefix('#').and_then(|n| n.parse::<u64>().ok());
            let found = windows
                .queue
                .iter()
                .filter(|p| p.window == *window)
                .find(|p| p.change == *change || number == Some(p.id));
            let Some(patch) = found else {
                let queued: Vec<String> = windows
                    .queue
                    .iter()
                    .filter(|p| p.window == *window)
                    .map(patch_line)
                    .collect();
                return Err(Error::not_found(format!(
                    "change \"{change}\" is not queued for {window}; queued: {}",
                    if queued.is_empty() {
                        "none".to_string()
                    } else {
                        queued.join(", ")
                    }
                )));
            };
            let mine = ctx.caller.person.as_ref() == Some(&patch.owner);
            if !mine && !ctx.caller.has(Role::Deployer) {
                return Err(Error::conflict(format!(
                    "#{} {} was queued by {}; only they or a deployer may take it out",
                    patch.id, patch.change, patch.owner
                )));
            }
            Ok(Outcome::reply(format!(
                "took #{} {} out of {window} at {}",
                patch.id,
                patch.change,
                format_instant(patch.occurrence, tz)
            ))
            .change(crate::Change::Window(Change::Leave {
                window: window.clone(),
                id: patch.id,
            })))
        }
        Window::Start { window } => {
            if !known(ctx, windows, window) {
                return Err(unknown(ctx, windows, window));
            }
            if let Some(a) = &windows.active {
                return Err(Error::conflict(format!(
                    "window {} is open (since {}, by {}); close it with {}window done first",
                    a.window,
                    format_instant(a.started, tz),
                    a.by,
                    ctx.settings.prefix
                )));
            }
            // The occurrence in progress or starting within the hour; it
            // closes itself at that occurrence's end, or one duration from
            // now when none is that near.
            let near = next_occurrence(ctx, windows, window)
                .filter(|u| u.start <= ctx.now + Duration::hours(1));
            let end = match &near {
                Some(u) => Some(u.end),
                None => shape(ctx, windows, window).map(|(_, d)| ctx.now + d),
            };
            let text = format!("{} opened the {window} window", ctx.caller.name());
            let outcome = Outcome::reply(format!(
                "opened the {window} window; {}log entries now belong to it",
                ctx.settings.prefix
            ))
            .change(crate::Change::Window(Change::Open {
                window: window.clone(),
                occurrence: near.map(|u| u.start),
                end,
            }));
            Ok(to_all(outcome, &audiences(ctx, window), &text))
        }
        Window::Done { window } => {
            let Some(active) = &windows.active else {
                return Err(Error::conflict("no deploy window is open"));
            };
            if let Some(w) = window
                && *w != active.window
            {
                return Err(Error::conflict(format!(
                    "window \"{w}\" is not open; the open one is {}",
                    active.window
                )));
            }
            let lead = format!(
                "{} closed the {} window after {}",
                ctx.caller.name(),
                active.window,
                format_duration(ctx.now - active.started)
            );
            Ok(close(ctx, active, &lead))
        }
        Window::Add {
            name,
            start,
            duration,
            deployers,
        } => {
            let valid = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(Error::invalid(format!(
                    "window name \"{name}\" is invalid; use letters, digits and - _ ."
                )));
            }
            if known(ctx, windows, name) {
                return Err(Error::conflict(format!("window \"{name}\" already exists")));
            }
            let start = parse_until(start, ctx.now, tz)?;
            let duration = parse_duration(duration)?;
            // Each deployer by config name or a native mention; every
            // unknown one is named at once.
            let mut strangers: Vec<String> = Vec::new();
            let deployers: Vec<PersonId> = deployers
                .iter()
                .filter_map(|d| match crate::mention::person(ctx, d) {
                    Ok(p) => Some(p),
                    Err(_) => {
                        strangers.push(format!("\"{}\"", d.trim_start_matches('@')));
                        None
                    }
                })
                .collect();
            if !strangers.is_empty() {
                let known: Vec<&str> = ctx.settings.people.iter().map(PersonId::as_str).collect();
                return Err(Error::not_found(format!(
                    "{} {} unknown (deployers must be configured people); people are: {}",
                    strangers.join(", "),
                    if strangers.len() == 1 { "is" } else { "are" },
                    if known.is_empty() {
                        "none configured".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            let reply = format!(
                "added window {name} at {} for {}; deployers: {}",
                format_instant(start, tz),
                format_duration(duration),
                people(&deployers)
            );
            Ok(Outcome::reply(reply.clone())
                .change(crate::Change::Window(Change::Add {
                    name: name.clone(),
                    start,
                    duration,
                    deployers,
                }))
                .announce(Announcement::to(
                    AnnounceKind::Windows,
                    format!("{} {reply}", ctx.caller.name()),
                )))
        }
    }
}

/// Closes the open window: the reply and the post to its channels are
/// `lead` followed by every entry logged during it.
fn close(ctx: &Context, active: &Session, lead: &str) -> Outcome {
    let filter = crate::log::Filter {
        session: Some(active.session),
        ..Default::default()
    };
    let mut entries = crate::log::entries(ctx.history, &filter, usize::MAX);
    entries.reverse();
    let mut text = format!("{lead}; ");
    if entries.is_empty() {
        text.push_str("nothing was logged during it");
    } else {
        text.push_str(&format!("logged during it ({}):", entries.len()));
        for e in &entries {
            text.push('\n');
            text.push_str(&crate::log::line(e, ctx));
        }
    }
    let outcome = Outcome::reply(text.clone()).change(crate::Change::Window(Change::Close {
        window: active.window.clone(),
        entries: entries.len(),
    }));
    to_all(outcome, &audiences(ctx, &active.window), &text)
}

fn local_day(t: DateTime<Utc>, tz: Tz) -> &'static str {
    match t.with_timezone(&tz).weekday() {
        chrono::Weekday::Mon => "Mon",
        chrono::Weekday::Tue => "Tue",
        chrono::Weekday::Wed => "Wed",
        chrono::Weekday::Thu => "Thu",
        chrono::Weekday::Fri => "Fri",
        chrono::Weekday::Sat => "Sat",
        chrono::Weekday::Sun => "Sun",
    }
}

/// The start of an occurrence: announces the window with its deployers,
/// then (separately) pings the owners of the patches queued for it, read
/// from the state now; opens the window unless another one is open.
pub fn begin(ctx: &Context, windows: &Windows, name: &str, occurrence: DateTime<Utc>) -> Outcome {
    let tz = ctx.zone;
    let (deployers, end) = match ctx.settings.windows.iter().find(|d| d.name == name) {
        Some(d) => (d.deployers.clone(), occurrence + d.duration),
        None => match windows.adhoc.get(name) {
            Some(a) => (a.deployers.clone(), a.start + a.duration),
            None => return Outcome::default(),
        },
    };
    let patches: Vec<&Patch> = windows
        .queue
        .iter()
        .filter(|p| p.window == name && p.occurrence == occurrence)
        .collect();
    let audiences = audiences(ctx, name);
    let mut first = format!(
        "deploy window {name} starts now, until {}; deployers: {}",
        format_instant(end, tz),
        crate::mention::ping_all(&deployers)
    );
    if patches.is_empty() {
        first.push_str("; no patches queued");
    }
    let mut outcome = to_all(Outcome::default(), &audiences, &first);
    if !patches.is_empty() {
        let mut owners: Vec<&PersonId> = Vec::new();
        for p in &patches {
            if !owners.contains(&&p.owner) {
                owners.push(&p.owner);
            }
        }
        let list: Vec<String> = patches.iter().map(|p| patch_line(p)).collect();
        let second = format!(
            "{}: your patches are up in {name} now, please be around: {}",
            crate::mention::ping_all(owners.iter().copied()),
            list.join(", ")
        );
        outcome = to_all(outcome, &audiences, &second);
        for owner in owners {
            let mine: Vec<String> = patches
                .iter()
                .filter(|p| p.owner == *owner)
                .map(|p| patch_line(p))
                .collect();
            outcome = outcome.announce(Announcement {
                to: Audience::Person(owner.clone()),
                text: format!(
                    "the {name} deploy window starts now; your patches: {}",
                    mine.join(", ")
                ),
            });
        }
    }
    if windows.active.is_none() {
        outcome = outcome.change(crate::Change::Window(Change::Open {
            window: name.to_string(),
            occurrence: Some(occurrence),
            end: Some(end),
        }));
    }
    outcome
}

/// A one-off window's start, once; the open window's warning before its
/// end and its closing at the end (each re-checked against the state, so a
/// `window done` in between, or a restart, never repeats one).
pub fn run_job(job: &crate::Job, ctx: &Context, windows: &Windows) -> Outcome {
    let open = |window: &str| {
        windows
            .active
            .as_ref()
            .filter(|a| a.window == window)
            .and_then(|a| a.end.map(|end| (a, end)))
    };
    match job {
        crate::Job::WindowWarn { window } => match open(window) {
            // Missed while the bot was down past the end: the closing says it all.
            Some((a, end)) if !a.warned && ctx.now < end => {
                let deployers = shape(ctx, windows, window)
                    .map(|(d, _)| d)
                    .unwrap_or_default();
                let to = if deployers.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", people(&deployers))
                };
                let text = format!(
                    "{to}the {window} deploy window ends in {} (at {}) and then closes itself; say {}window done when you are finished",
                    format_duration(end - ctx.now),
                    format_instant(end, ctx.zone),
                    ctx.settings.prefix
                );
                to_all(Outcome::default(), &audiences(ctx, window), &text).change(
                    crate::Change::Window(Change::Warned {
                        window: window.clone(),
                    }),
                )
            }
            _ => Outcome::default(),
        },
        crate::Job::WindowEnd { window } => match open(window) {
            Some((a, end)) if end <= ctx.now => {
                let lead = format!(
                    "the {window} window closed itself at its end ({}) after {}",
                    format_instant(end, ctx.zone),
                    format_duration(end - a.started)
                );
                close(ctx, a, &lead)
            }
            _ => Outcome::default(),
        },
        crate::Job::WindowStart { window } => match windows.adhoc.get(window) {
            Some(a) if !a.announced && a.start <= ctx.now => {
                let mut outcome = Outcome::default();
                // Late by more than the window lasts (the bot was down): mark
                // it, without announcing a window that is already over.
                if ctx.now < a.start + a.duration {
                    outcome = begin(ctx, windows, window, a.start);
                }
                outcome.change(crate::Change::Window(Change::Announced {
                    window: window.clone(),
                }))
            }
            _ => Outcome::default(),
        },
        _ => Outcome::default(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::log::tests::erin;
    use crate::tests::{World, bob, root};
    use crate::{Caller, Command};

    pub(crate) fn variants() -> Vec<(Command, Permit)> {
        let w = Command::Window;
        vec![
            (w(Window::List { range: None }), Permit::Anyone),
            (
                w(Window::Join {
                    window: "backport".into(),
                    change: "1".into(),
                    task: None,
                }),
                Permit::Identified,
            ),
            (
                w(Window::Leave {
                    window: "backport".into(),
                    change: "1".into(),
                }),
                Permit::Identified,
            ),
            (
                w(Window::Start {
                    window: "backport".into(),
                }),
                Permit::Role(Role::Deployer),
            ),
            (
                w(Window::Done { window: None }),
                Permit::Role(Role::Deployer),
            ),
            (
                w(Window::Add {
                    name: "x".into(),
                    start: "14:00".into(),
                    duration: "1h".into(),
                    deployers: vec![],
                }),
                Permit::Role(Role::Admin),
            ),
        ]
    }

    /// Backport: weekdays 13:00 UTC for an hour, deployed by erin.
    pub(crate) fn backport() -> WindowDef {
        WindowDef {
            name: "backport".into(),
            schedule: cron::Schedule::from_str("0 0 13 * * Mon-Fri").expect("cron"),
            cron: "0 0 13 * * Mon-Fri".into(),
            duration: Duration::hours(1),
            timezone: Tz::UTC,
            deployers: vec![PersonId::new("erin")],
            channels: vec![],
        }
    }

    fn world() -> World {
        let mut w = World::empty();
        w.settings.windows = vec![backport()];
        w.settings.people = ["bob", "erin", "root"].map(PersonId::new).to_vec();
        // Monday 2026-11-23 12:00 UTC.
        w.now = "2026-11-23T12:00:00Z".parse().expect("instant");
        w
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn occurrences_include_the_one_in_progress() {
        let d = backport();
        let o = d.occurrences(at("2026-11-23T13:30:00Z"), at("2026-11-25T00:00:00Z"));
        assert_eq!(o, [at("2026-11-23T13:00:00Z"), at("2026-11-24T13:00:00Z")]);
    }

    #[test]
    fn join_list_begin_and_summary() {
        let mut w = world();
        let o = w.ok(&bob(), "window join backport 1234 T5");
        assert_eq!(
            o.reply,
            "queued #1 1234 for backport at 2026-11-23 13:00 UTC (T5)"
        );
        let list = w.try_line(&bob(), "window today").expect("anyone").reply;
        assert_eq!(
            list,
            "backport Mon 2026-11-23 13:00 UTC (1h); deployers: erin; patches: #1 1234 T5 (bob)"
        );
        w.now = at("2026-11-23T13:00:00Z");
        let o = begin(
            &w.ctx(&Caller::guest("s")),
            &w.state.windows,
            "backport",
            w.now,
        );
        let texts: Vec<String> = o
            .announce
            .iter()
            .map(|a| crate::mention::plain(&a.text))
            .collect();
        assert_eq!(
            texts,
            [
                "deploy window backport starts now, until 2026-11-23 14:00 UTC; deployers: erin",
                "bob: your patches are up in backport now, please be around: #1 1234 T5 (bob)",
                "the backport deploy window starts now; your patches: #1 1234 T5 (bob)"
            ]
        );
        assert_eq!(o.announce[2].to, Audience::Person(PersonId::new("bob")));
        // The channel messages ping the deployers and the patch owners; the
        // DM is for bob alone and pings nobody else.
        let pinged: Vec<Vec<String>> = o
            .announce
            .iter()
            .map(|a| crate::mention::people(&a.text))
            .collect();
        assert_eq!(pinged, [vec!["erin"], vec!["bob"], vec![]]);
        w.commit(crate::Actor::scheduler("window:backport"), o.changes);
        let session = w.state.windows.active.as_ref().expect("open").session;
        w.ok(&erin(), "log synced T5");
        w.ok(&erin(), "log restarted T6");
        let o = w.ok(&erin(), "window done");
        assert!(
            o.reply
                .starts_with("erin closed the backport window after 0s; logged during it (2):\n#"),
            "{}",
            o.reply
        );
        assert!(
            o.reply
                .contains("synced T5 (T5 https://phabricator.wikimedia.org/T5)")
        );
        assert!(w.state.windows.active.is_none());
        assert_eq!(w.state.windows.past[0].session, session);
        assert!(w.state.windows.queue.is_empty());
    }

    #[test]
    fn refusals_and_bad_input_change_nothing() {
        let mut w = world();
        let before = (w.state.clone(), w.history.len());
        for (caller, line, want) in [
            (
                bob(),
                "window start backport",
                "window start needs role \"deployer\"; bob holds no role",
            ),
            (
                erin(),
                "window start nope",
                "window \"nope\" is unknown; windows are: backport",
            ),
            (erin(), "window done", "no deploy window is open"),
            (bob(), "window join nope 1", "window \"nope\" is unknown"),
            (
                bob(),
                "window join backport 1 notatask",
                "\"notatask\" is not a task reference",
            ),
            (
                root(),
                "window add hot 25:00 1h",
                "time \"25:00\" is malformed",
            ),
            (
                root(),
                "window add hot 16:00 1x",
                "duration \"1x\" is malformed",
            ),
            (
                root(),
                "window add backport 16:00 1h",
                "window \"backport\" already exists",
            ),
            (
                root(),
                "window add hot 16:00 1h erin zed @yan",
                "\"zed\", \"yan\" are unknown (deployers must be configured people); people are: bob, erin, root",
            ),
            (
                root(),
                "window add hot 16:00 1h zed",
                "\"zed\" is unknown (deployers must be configured people)",
            ),
            (bob(), "window list month", "range \"month\" is unknown"),
            (
                erin(),
                "window add hot 16:00 1h",
                "window add needs role \"admin\"",
            ),
        ] {
            let err = w.run(&caller, line).expect_err(line);
            assert!(err.to_string().contains(want), "{line}: {err}");
            assert_eq!((w.state.clone(), w.history.len()), before, "{line}");
        }
    }

    #[test]
    fn the_list_ends_with_the_feed_when_the_bot_has_a_public_url() {
        let mut w = world();
        let plain = w.ok(&bob(), "window list").reply;
        assert!(!plain.contains("calendar:"), "{plain}");
        w.settings.public_url = Some("https://bot.example.org/".into());
        let list = w.ok(&bob(), "window list").reply;
        assert!(
            list.ends_with("\ncalendar: https://bot.example.org/calendar/windows.ics"),
            "{list}"
        );
    }

    #[test]
    fn an_open_window_warns_then_closes_itself_at_its_end() {
        let mut w = world();
        w.now = at("2026-11-23T13:00:00Z");
        let o = begin(
            &w.ctx(&Caller::guest("s")),
            &w.state.windows,
            "backport",
            w.now,
        );
        w.commit(crate::Actor::scheduler("window:backport"), o.changes);
        w.ok(&erin(), "log synced T5");
        let warn = crate::Job::WindowWarn {
            window: "backport".into(),
        };
        let end = crate::Job::WindowEnd {
            window: "backport".into(),
        };
        assert_eq!(
            w.state.timers(),
            [
                (at("2026-11-23T13:55:00Z"), warn.clone()),
                (at("2026-11-23T14:00:00Z"), end.clone())
            ]
        );
        // Not yet due: nothing happens.
        w.now = at("2026-11-23T13:54:00Z");
        assert_eq!(w.job(&end), Outcome::default());
        w.now = at("2026-11-23T13:55:00Z");
        let o = w.job(&warn);
        let texts: Vec<&str> = o.announce.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "erin: the backport deploy window ends in 5m (at 2026-11-23 14:00 UTC) and then closes itself; say !window done when you are finished"
            ]
        );
        assert_eq!(w.job(&warn), Outcome::default(), "warned once");
        w.now = at("2026-11-23T14:00:00Z");
        let o = w.job(&end);
        assert_eq!(o.announce.len(), 1);
        assert!(
            o.announce[0].text.starts_with(
                "the backport window closed itself at its end (2026-11-23 14:00 UTC) after 1h; logged during it (1):\n#"
            ),
            "{}",
            o.announce[0].text
        );
        assert!(w.state.windows.active.is_none());
        assert!(w.state.timers().is_empty());
        assert_eq!(w.job(&end), Outcome::default(), "closed once");
    }

    #[test]
    fn a_window_opened_by_hand_ends_with_its_occurrence_or_lasts_its_duration() {
        let mut w = world();
        // 12:30: the 13:00 occurrence is within the hour.
        w.now = at("2026-11-23T12:30:00Z");
        w.ok(&erin(), "window start backport");
        assert_eq!(
            w.state.windows.active.as_ref().and_then(|a| a.end),
            Some(at("2026-11-23T14:00:00Z"))
        );
        w.ok(&erin(), "window done");
        // 15:00: no occurrence near; it lasts one duration from now.
        w.now = at("2026-11-23T15:00:00Z");
        w.ok(&erin(), "window start backport");
        assert_eq!(
            w.state.windows.active.as_ref().and_then(|a| a.end),
            Some(at("2026-11-23T16:00:00Z"))
        );
        // `done` before the end: the timers go with it.
        w.ok(&erin(), "window done");
        assert!(w.state.timers().is_empty());
    }

    #[test]
    fn a_windows_own_deployers_run_it_without_the_role() {
        let mut w = world();
        let frank = Caller::person(PersonId::new("frank"), []);
        w.settings.windows[0].deployers.push(PersonId::new("frank"));
        w.ok(&frank, "window start backport");
        w.ok(&frank, "window done");
        w.ok(&frank, "window start backport");
        w.ok(&frank, "window done backport");
        // Not a deployer of another window.
        w.ok(&root(), "window add hotfix 16:00 1h erin");
        let err = w.run(&frank, "window start hotfix").expect_err("not hers");
        assert!(err.to_string().contains("needs role \"deployer\""), "{err}");
        w.ok(&erin(), "window start hotfix");
        assert!(w.run(&frank, "window done").is_err());
    }

    #[test]
    fn leave_takes_a_queued_patch_back_out() {
        let mut w = world();
        let dave = Caller::person(PersonId::new("dave"), []);
        w.ok(&bob(), "window join backport 1234 T5");
        w.ok(&dave, "window join backport 5678");
        let before = (w.state.clone(), w.history.len());
        for (caller, line, want) in [
            (
                dave.clone(),
                "window leave backport 1234",
                "#1 1234 was queued by bob; only they or a deployer may take it out",
            ),
            (
                bob(),
                "window leave backport 999",
                "change \"999\" is not queued for backport; queued: #1 1234 T5 (bob), #2 5678 (dave)",
            ),
            (
                bob(),
                "window leave nope 1234",
                "window \"nope\" is unknown; windows are: backport",
            ),
        ] {
            let err = w.run(&caller, line).expect_err(line);
            assert_eq!(err.to_string(), want, "{line}");
            assert_eq!((w.state.clone(), w.history.len()), before, "{line}");
        }
        let o = w.ok(&bob(), "window leave backport 1234");
        assert_eq!(
            o.reply,
            "took #1 1234 out of backport at 2026-11-23 13:00 UTC"
        );
        let o = w.ok(&erin(), "window unjoin backport #2");
        assert_eq!(
            o.reply,
            "took #2 5678 out of backport at 2026-11-23 13:00 UTC"
        );
        assert!(w.state.windows.queue.is_empty());
    }

    #[test]
    fn replies_use_the_configured_prefix() {
        let mut w = world();
        w.settings.prefix = ".".into();
        let o = w.ok(&erin(), "window start backport");
        assert_eq!(
            o.reply,
            "opened the backport window; .log entries now belong to it"
        );
    }

    #[test]
    fn adhoc_window_announces_once() {
        let mut w = world();
        let err = w
            .try_line(&root(), "window add hotfix 16:00 1h <@U0NOBODY>")
            .expect_err("not a person");
        assert!(err.to_string().contains("\"<@U0NOBODY>\""), "{err}");
        w.ok(&root(), "window add hotfix 16:00 1h @erin");
        assert_eq!(w.state.timers().len(), 1);
        w.now = at("2026-11-23T16:00:00Z");
        let job = crate::Job::WindowStart {
            window: "hotfix".into(),
        };
        let o = w.job(&job);
        assert!(
            o.announce[0]
                .text
                .starts_with("deploy window hotfix starts now")
        );
        assert!(
            !w.state
                .timers()
                .iter()
                .any(|(_, j)| matches!(j, crate::Job::WindowStart { .. })),
            "announced once"
        );
        assert_eq!(w.job(&job), Outcome::default());
        assert_eq!(
            w.state.windows.active.as_ref().map(|a| a.window.as_str()),
            Some("hotfix")
        );
    }
}
