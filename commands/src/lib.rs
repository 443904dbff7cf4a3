//! signalbox's functional core: the grammar of every command, who may run
//! it, and what it does to the state. It knows no network and no storage:
//! handlers read the current [`State`] (and the event log through
//! [`History`]) and return an [`Outcome`] — a reply, the changes to record
//! and the announcements to send. The shell in `src/` decides where the words
//! came from, makes the changes durable and delivers the messages.
//!
//! One clap definition per family drives parsing, `help`, permissions (an
//! exhaustive `match` per variant) and the Slack and Discord manifests.

#![forbid(unsafe_code)]

pub mod error;
pub mod event;
pub mod help;
pub mod id;
pub mod job;
pub mod manifest;
pub mod role;
pub mod task;
pub mod tree;
pub mod when;
pub mod words;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

pub use error::Error;
pub use event::{Actor, Change, Event, EventId, Family, History, SCHEMA};
pub use id::{ChannelAddr, Network, PersonId, PlatformUserId, TreeName};
pub use role::{Caller, Permit, Role};
pub use task::{TaskPatterns, TaskRef};

/// One line of chat, after the prefix or mention is taken off.
#[derive(Debug, Parser)]
#[command(
    name = "!",
    no_binary_name = true,
    disable_help_subcommand = true,
    disable_version_flag = true,
    color = clap::ColorChoice::Never,
    help_template = "{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}"
)]
struct Line {
    #[command(subcommand)]
    command: Command,
}

/// Every command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// List the command families, or show a family's or a command's usage.
    Help {
        /// A command family, e.g. `tree`.
        family: Option<String>,
        /// One of the family's verbs, e.g. `close`.
        verb: Option<String>,
    },
    /// Check the bot is alive: it replies `pong`.
    Ping,
    /// Show who the bot thinks you are and the roles you hold now.
    Whoami,
    /// Open, close and inspect code trees.
    #[command(subcommand)]
    Tree(tree::Tree),
}

impl Command {
    pub fn permit(&self) -> Permit {
        match self {
            Command::Help { .. } | Command::Ping | Command::Whoami => Permit::Anyone,
            Command::Tree(t) => t.permit(),
        }
    }

    /// The command's name as typed: `tree close`, `ping`.
    pub fn name(&self) -> String {
        match self {
            Command::Help { .. } => "help".to_string(),
            Command::Ping => "ping".to_string(),
            Command::Whoami => "whoami".to_string(),
            Command::Tree(t) => format!("tree {}", t.verb()),
        }
    }

    /// The family, for metrics and help.
    pub fn family(&self) -> &'static str {
        match self {
            Command::Help { .. } => "help",
            Command::Ping => "ping",
            Command::Whoami => "whoami",
            Command::Tree(_) => "tree",
        }
    }
}

/// What parsing produced: a command to run, or help text the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Command),
    Help(String),
}

/// Families whose bare name runs a default verb (`!tree` is `!tree status`).
const DEFAULT_VERBS: &[(&str, &str)] = &[("tree", "status")];

/// Parses the words of one command (prefix already removed).
pub fn parse(words: &[String], prefix: &str) -> Result<Parsed, Error> {
    let Some(first) = words.first() else {
        return Err(Error::Usage(format!("empty command; try {prefix}help")));
    };
    let first = first.to_lowercase();
    if first == "-h" || first == "--help" {
        return help::help(None, None, prefix).map(|o| Parsed::Help(o.reply));
    }
    if !help::families().iter().any(|(name, _)| *name == first) {
        return Err(Error::Usage(format!(
            "unknown command \"{}\"; commands are: {}; try {prefix}help",
            words::prefix(&words[0], 60),
            help::families()
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut words: Vec<String> = std::iter::once(first.clone())
        .chain(words[1..].iter().cloned())
        .collect();
    // `!tree help [VERB]` is `!help tree [VERB]`, as clap's own (disabled)
    // help verb would have it; otherwise `help` would be taken for a tree.
    if words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("help"))
        && !help::verbs(&first).is_empty()
    {
        words = ["help".to_string(), first]
            .into_iter()
            .chain(words.drain(2..))
            .collect();
    }
    if let Some((_, default)) = DEFAULT_VERBS.iter().find(|(f, _)| *f == words[0]) {
        let first = words[0].clone();
        let verbs = help::verbs(&first);
        let next = words.get(1).map(|w| w.to_lowercase());
        let is_verb = next
            .as_deref()
            .is_some_and(|w| verbs.iter().any(|v| v == w) || w.starts_with('-'));
        if !is_verb {
            words.insert(1, (*default).to_string());
        } else if let Some(verb) = next {
            words[1] = verb;
        }
    }
    match Line::try_parse_from(&words) {
        Ok(line) => Ok(Parsed::Run(line.command)),
        Err(e) => {
            let text = help::tidy(&e.render().to_string(), prefix, &words);
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Parsed::Help(text))
                }
                _ => Err(Error::Usage(text)),
            }
        }
    }
}

/// The parts of the configuration the core needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefix: String,
    pub timezone: Tz,
    pub tasks: TaskPatterns,
    /// Reason categories a tree closure may be tagged with.
    pub tree_tags: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: "!".to_string(),
            timezone: Tz::UTC,
            tasks: TaskPatterns::default(),
            tree_tags: DEFAULT_TREE_TAGS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Treestatus's reason categories.
pub const DEFAULT_TREE_TAGS: &[&str] = &[
    "backlog",
    "checkin-compilation",
    "checkin-test",
    "infra",
    "merges",
    "other",
    "planned",
    "waiting-for-coverage",
];

/// Everything a handler may look at besides the state.
pub struct Context<'a> {
    pub caller: &'a Caller,
    pub network: Network,
    pub now: DateTime<Utc>,
    pub settings: &'a Settings,
    pub history: &'a dyn History,
    /// The id the event will get if the outcome changes anything.
    pub event_id: EventId,
}

/// The families of announcements, each mapped to channels in `[announce]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnounceKind {
    Trees,
    Train,
    Windows,
    DeployLog,
    Loaners,
    Handoff,
    Status,
}

/// Who an announcement is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every channel configured for this kind.
    Kind(AnnounceKind),
    Channel(ChannelAddr),
    /// A person, by direct message on each network where they have a handle.
    Person(PersonId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub to: Audience,
    pub text: String,
}

impl Announcement {
    pub fn to(kind: AnnounceKind, text: impl Into<String>) -> Self {
        Self {
            to: Audience::Kind(kind),
            text: text.into(),
        }
    }
}

/// What a handler decided: the reply, the changes to record, the messages to
/// send once they are recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub reply: String,
    pub changes: Vec<Change>,
    pub announce: Vec<Announcement>,
}

impl Outcome {
    pub fn reply(text: impl Into<String>) -> Self {
        Self {
            reply: text.into(),
            ..Self::default()
        }
    }

    pub fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    pub fn announce(mut self, announcement: Announcement) -> Self {
        self.announce.push(announcement);
        self
    }
}

/// The whole current state: one view per family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub trees: tree::Trees,
    pub jobs: job::Jobs,
}

impl State {
    pub fn apply(&mut self, event: &Event) {
        for change in &event.changes {
            match change {
                Change::Tree(c) => self.trees.apply(event, c),
                Change::Job(c) => self.jobs.apply(c),
            }
        }
    }

    /// One family's view, as stored.
    pub fn view(&self, family: Family) -> serde_json::Value {
        let value = match family {
            Family::Trees => serde_json::to_value(&self.trees),
            Family::Jobs => serde_json::to_value(&self.jobs),
        };
        value.expect("state views are plain data and always serialize")
    }

    /// Restores one family's view from its stored form.
    pub fn load_view(
        &mut self,
        family: Family,
        value: serde_json::Value,
    ) -> Result<(), serde_json::Error> {
        match family {
            Family::Trees => self.trees = serde_json::from_value(value)?,
            Family::Jobs => self.jobs = serde_json::from_value(value)?,
        }
        Ok(())
    }

    /// The one-shot timers the state asks for, with their instants.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, Job)> {
        self.trees.timers()
    }
}

/// Work the scheduler hands to the core when its time comes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    TreeWarn { tree: TreeName },
    TreeReopen { tree: TreeName },
}

impl Job {
    /// A stable name, for logs and the actor of the event.
    pub fn name(&self) -> String {
        match self {
            Job::TreeWarn { tree } => format!("tree-warn:{tree}"),
            Job::TreeReopen { tree } => format!("tree-reopen:{tree}"),
        }
    }
}

/// Checks the caller may run `command`, then runs it against `state`.
pub fn handle(command: &Command, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    ctx.caller.check(command.permit(), &command.name())?;
    match command {
        Command::Help { family, verb } => {
            help::help(family.as_deref(), verb.as_deref(), &ctx.settings.prefix)
        }
        Command::Ping => Ok(Outcome::reply("pong")),
        Command::Whoami => Ok(Outcome::reply(whoami(ctx))),
        Command::Tree(t) => tree::handle(t, ctx, &state.trees),
    }
}

/// Runs a scheduled job if it is still due; an empty outcome when not.
pub fn run_job(job: &Job, ctx: &Context, state: &State) -> Outcome {
    match job {
        Job::TreeWarn { .. } | Job::TreeReopen { .. } => tree::run_job(job, ctx, &state.trees),
    }
}

fn whoami(ctx: &Context) -> String {
    let c = ctx.caller;
    let roles = if c.roles.is_empty() {
        "no roles".to_string()
    } else {
        format!(
            "roles: {}",
            c.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match &c.person {
        Some(p) => format!(
            "you are {p} ({} user \"{}\"); {roles}",
            ctx.network, c.handle
        ),
        None => format!(
            "you are a guest ({} user \"{}\" is not mapped to a person); read-only commands only",
            ctx.network, c.handle
        ),
    }
}
