//! The deploy log (`!log synced T123 to group1`): what deployers did, when,
//! where, in which deploy window, and which tasks it touched. Each entry is an
//! event in the ledger and nothing else — the log *is* the event log — so
//! search, the window summary and `GET /api/v1/log` all read history, and the
//! state keeps only a count.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventId, History};
use crate::id::{ChannelAddr, Network};
use crate::role::{Permit, Role};
use crate::task::TaskRef;
use crate::when::{format_instant, parse_duration};
use crate::{AnnounceKind, Announcement, Context, Error, Outcome};

/// Most entries a search shows in chat.
pub const SEARCH_LIMIT: usize = 20;

/// Write and search the deploy log (`!log TEXT…` is `!log add TEXT…`).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !log synced T123 and bug 456 to group1\n  !log search --since 2h --task T123\n  !log search --window backport --author alice"
)]
pub enum Log {
    /// Record a deploy log entry: author, time, channel, active window and tasks.
    #[command(after_help = "example:\n  !log synced T123 to group1")]
    Add {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Search the deploy log, newest first.
    #[command(
        after_help = "examples:\n  !log search --since 2h\n  !log search --since 2026-11-20 --until 2026-11-21 --task T123"
    )]
    Search {
        /// A duration back from now (`2h`, `3d`) or a date/time (`2026-11-20 14:00`).
        #[arg(long)]
        since: Option<String>,
        /// A duration back from now or a date/time.
        #[arg(long)]
        until: Option<String>,
        /// Only entries referencing this task.
        #[arg(long)]
        task: Option<String>,
        /// Only entries made during this deploy window.
        #[arg(long)]
        window: Option<String>,
        /// Only entries by this person.
        #[arg(long)]
        author: Option<String>,
    },
}

impl Log {
    pub fn permit(&self) -> Permit {
        match self {
            Log::Add { .. } => Permit::Role(Role::Deployer),
            Log::Search { .. } => Permit::Anyone,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Log::Add { .. } => "add",
            Log::Search { .. } => "search",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Entry {
        text: String,
        tasks: Vec<TaskRef>,
        /// The deploy window active at the time, and its session (the event
        /// that opened it).
        window: Option<String>,
        session: Option<EventId>,
    },
}

/// The log's state: only a count; the entries are events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logs {
    pub entries: u64,
    pub last: Option<EventId>,
}

impl Logs {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Entry { .. } => {
                self.entries += 1;
                self.last = Some(event.id);
            }
        }
    }
}

/// One entry as read from history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub author: String,
    pub network: Network,
    pub channel: Option<ChannelAddr>,
    pub text: String,
    pub tasks: Vec<TaskRef>,
    pub window: Option<String>,
    pub session: Option<EventId>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub task: Option<String>,
    pub window: Option<String>,
    pub author: Option<String>,
    /// Only entries of this window session.
    pub session: Option<EventId>,
    /// Only entries older than this event (paging: the last id of a page).
    pub before: Option<EventId>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at <= u)
            && self
                .task
                .as_ref()
                .is_none_or(|t| e.tasks.iter().any(|x| x.id.eq_ignore_ascii_case(t)))
            && self
                .window
                .as_ref()
                .is_none_or(|w| e.window.as_deref() == Some(w.as_str()))
            && self
                .author
                .as_ref()
                .is_none_or(|a| e.author.eq_ignore_ascii_case(a))
            && self.session.is_none_or(|s| e.session == Some(s))
            && self.before.is_none_or(|b| e.id < b)
    }
}

/// Entries matching `filter`, newest first, at most `limit`. The walk stops
/// at `since` (or at the session's opening event), so recent searches do not
/// read the whole log.
pub fn entries(history: &dyn History, filter: &Filter, limit: usize) -> Vec<Entry> {
    let mut out = Vec::new();
    history.newest_first(&mut |event| {
        if filter.since.is_some_and(|s| event.at < s)
            || filter.session.is_some_and(|s| event.id < s)
        {
            return false;
        }
        for change in &event.changes {
            if let crate::Change::Log(Change::Entry {
                text,
                tasks,
                window,
                session,
            }) = change
            {
                let entry = Entry {
                    id: event.id,
                    at: event.at,
                    author: event.actor.name().to_string(),
                    network: event.actor.network,
                    channel: event.actor.channel.clone(),
                    text: text.clone(),
                    tasks: tasks.clone(),
                    window: window.clone(),
                    session: *session,
                };
                if filter.matches(&entry) && out.len() < limit {
                    out.push(entry);
                }
            }
        }
        out.len() < limit
    });
    out
}

/// One entry as a chat line, with its tasks' links: `#12 2026-11-22 13:05
/// UTC alice: synced T123 (T123 https://…)`.
pub fn line(entry: &Entry, ctx: &Context) -> String {
    let mut line = format!(
        "#{} {} {}: {}",
        entry.id,
        format_instant(entry.at, ctx.zone),
        entry.author,
        entry.text
    );
    let links: Vec<String> = entry
        .tasks
        .iter()
        .filter_map(|t| {
            t.url
                .as_ref()
                .filter(|u| **u != t.id)
                .map(|u| format!("{} {u}", t.id))
        })
        .collect();
    if !links.is_empty() {
        line.push_str(&format!(" ({})", links.join(", ")));
    }
    line
}

/// `2h` back from now, or a date/time in `tz` at or before now.
pub fn parse_since(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, Error> {
    if text.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return parse_duration(text).map(|d| now - d);
    }
    let bad = || {
        Error::invalid(format!(
            "time \"{text}\" is malformed; use a duration back from now (2h, 3d) or YYYY-MM-DD [HH:MM] (time zone {tz})"
        ))
    };
    let naive = if let Ok(t) = NaiveTime::parse_from_str(text, "%H:%M") {
        let today = now.with_timezone(&tz).date_naive().and_time(t);
        let local = tz.from_local_datetime(&today).earliest().ok_or_else(bad)?;
        if local.with_timezone(&Utc) > now {
            today - Duration::days(1)
        } else {
            today
        }
    } else {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
            })
            .map_err(|_| bad())?
    };
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

pub fn handle(cmd: &Log, ctx: &Context, state: &crate::State) -> Result<Outcome, Error> {
    match cmd {
        Log::Add { text } => {
            let text = text.join(" ");
            if text.trim().is_empty() {
                return Err(Error::invalid("log needs some text"));
            }
            let tasks = ctx.settings.tasks.find(&text);
            let active = state.windows.active.as_ref();
            let window = active.map(|a| a.window.clone());
            let session = active.map(|a| a.session);
            let mut reply = format!("logged #{}", ctx.event_id);
            if let Some(w) = &window {
                reply.push_str(&format!(" in the {w} window"));
            }
            if !tasks.is_empty() {
                let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
                reply.push_str(&format!(" for {}", ids.join(", ")));
            }
            let announce = format!("{} logged: {text}", ctx.caller.name());
            Ok(Outcome::reply(reply)
                .change(crate::Change::Log(Change::Entry {
                    text,
                    tasks,
                    window,
                    session,
                }))
                .announce(Announcement::to(AnnounceKind::DeployLog, announce)))
        }
        Log::Search {
            since,
            until,
            task,
            window,
            author,
        } => {
            let tz = ctx.zone;
            let filter = Filter {
                since: since
                    .as_deref()
                    .map(|s| parse_since(s, ctx.now, tz))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|s| parse_since(s, ctx.now, tz))
                    .transpose()?,
                task: task.clone(),
                window: window.clone(),
                author: author.clone(),
                session: None,
                before: None,
            };
            if let Some(w) = window
                && !crate::window::known(ctx, &state.windows, w)
            {
                return Err(Error::not_found(format!(
                    "window \"{w}\" is unknown; windows are: {}",
                    crate::window::names(ctx, &state.windows)
                )));
            }
            let found = entries(ctx.history, &filter, SEARCH_LIMIT + 1);
            if found.is_empty() {
                return Ok(Outcome::reply("no deploy log entries match"));
            }
            let more = found.len() > SEARCH_LIMIT;
            let mut lines: Vec<String> = found
                .iter()
                .take(SEARCH_LIMIT)
                .map(|e| line(e, ctx))
                .collect();
            if more {
                lines.push(format!(
                    "… more; narrow with --since/--until, or see /api/v1/log (showing the newest {SEARCH_LIMIT})"
                ));
            }
            Ok(Outcome::reply(lines.join("\n")))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tests::{World, bob, noon};
    use crate::{Caller, Command, PersonId};

    pub(crate) fn erin() -> Caller {
        Caller::person(PersonId::new("erin"), [Role::Deployer])
    }

    pub(crate) fn variants() -> Vec<(Command, Permit)> {
        vec![
            (
                Command::Log(Log::Add {
                    text: vec!["x".into()],
                }),
                Permit::Role(Role::Deployer),
            ),
            (
                Command::Log(Log::Search {
                    since: None,
                    until: None,
                    task: None,
                    window: None,
                    author: None,
                }),
                Permit::Anyone,
            ),
        ]
    }

    #[test]
    fn log_records_each_task_once() {
        let mut w = World::empty();
        let o = w.ok(&erin(), "log T123 and T123, bug 456");
        assert_eq!(o.reply, "logged #1 for T123, bug 456");
        let [crate::Change::Log(Change::Entry { tasks, window, .. })] = o.changes.as_slice() else {
            panic!("one entry: {o:?}")
        };
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T123", "bug 456"]);
        assert_eq!(*window, None);
        assert_eq!(w.state.log.entries, 1);
        // Bare `!log TEXT` is `log add`.
        assert_eq!(
            w.command("log search"),
            Command::Log(Log::Search {
                since: None,
                until: None,
                task: None,
                window: None,
                author: None
            })
        );
        assert!(matches!(
            w.command("log rolled back T1"),
            Command::Log(Log::Add { .. })
        ));
        let err = w.try_line(&bob(), "log hi").expect_err("role");
        assert_eq!(
            err.to_string(),
            "log add needs role \"deployer\"; bob holds no role"
        );
    }

    #[test]
    fn search_filters_by_time_task_and_author() {
        let mut w = World::empty();
        w.ok(&erin(), "log first T1");
        w.advance(Duration::hours(3));
        w.ok(&erin(), "log second T2");
        w.advance(Duration::minutes(30));
        let reply = w
            .try_line(&bob(), "log search --since 2h")
            .expect("anyone")
            .reply;
        assert_eq!(
            reply,
            "#2 2026-11-22 15:00 UTC erin: second T2 (T2 https://phabricator.wikimedia.org/T2)"
        );
        let reply = w
            .try_line(&bob(), "log search --task t1")
            .expect("anyone")
            .reply;
        assert!(
            reply.starts_with("#1 2026-11-22 12:00 UTC erin: first T1"),
            "{reply}"
        );
        let reply = w
            .try_line(&bob(), "log search --author bob")
            .expect("anyone")
            .reply;
        assert_eq!(reply, "no deploy log entries match");
        let reply = w
            .try_line(&bob(), "log search --since 2026-11-22 --until 13:00")
            .expect("anyone")
            .reply;
        assert!(reply.starts_with("#1 "), "{reply}");
        for (line, want) in [
            ("log search --since 2x", "duration \"2x\" is malformed"),
            (
                "log search --since yesterday",
                "duration \"yesterday\" is malformed",
            ),
            (
                "log search --since 2026-13-01",
                "time \"2026-13-01\" is malformed",
            ),
            ("log search --window nope", "window \"nope\" is unknown"),
        ] {
            let err = w.try_line(&bob(), line).expect_err(line);
            assert!(err.to_string().contains(want), "{line}: {err}");
        }
        assert_eq!(
            parse_since("1h", noon(), Tz::UTC),
            Ok(noon() - Duration::hours(1))
        );
    }
}
