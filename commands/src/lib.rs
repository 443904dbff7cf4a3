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

pub mod calendar;
pub mod error;
pub mod escalation;
pub mod event;
pub mod help;
pub mod id;
pub mod job;
pub mod liaison;
pub mod loaner;
pub mod log;
pub mod manifest;
pub mod meeting;
pub mod mention;
pub mod oncall;
pub mod profile;
pub mod role;
pub mod stats;
pub mod status;
pub mod task;
pub mod topic;
pub mod train;
pub mod tree;
pub mod treestatus;
pub mod when;
pub mod window;
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
    /// Check the bot is alive: it replies `pong` (words after it are ignored).
    Ping {
        /// Anything: `!ping anyone there?` is still a ping.
        #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Show who the bot thinks you are and the roles you hold now; `whoami tz` shows or sets your time zone.
    #[command(subcommand)]
    Whoami(profile::Whoami),
    /// Open, close and inspect code trees.
    #[command(subcommand)]
    Tree(tree::Tree),
    /// Start, promote, hold and inspect the deployment train.
    #[command(subcommand)]
    Train(train::Train),
    /// Deploy windows: list them, queue patches, open and close them.
    #[command(subcommand)]
    Window(window::Window),
    /// Write and search the deploy log (`log TEXT…` writes an entry).
    #[command(subcommand)]
    Log(log::Log),
    /// Request, approve, extend and return CI loaner machines.
    #[command(subcommand)]
    Loaner(loaner::Loaner),
    /// Who is on shift; overrides, swaps, handoffs and your calendar feed.
    #[command(subcommand)]
    Oncall(oncall::Oncall),
    /// Who covers an area (security, bugs, release, …); bare `who` lists every area.
    Who(liaison::Who),
    /// Set who covers an area.
    #[command(subcommand)]
    Role(liaison::RoleCmd),
    /// Incident alerts that set channel topics, notices, and the status log.
    #[command(subcommand)]
    Status(status::Status),
    /// Duty statistics: tree closures, deploy windows, loaner response, train holds.
    #[command(subcommand)]
    Stats(stats::Stats),
    /// Run a meeting here and keep its minutes.
    #[command(subcommand)]
    Meeting(meeting::Meeting),
    /// Add a line of information to the running meeting's minutes.
    Info(meeting::Note),
    /// Record a decision in the running meeting's minutes.
    Agreed(meeting::Note),
    /// Action items: `action PERSON TEXT…` in a meeting, `action list`, `action done ID`.
    #[command(subcommand)]
    Action(meeting::Action),
    /// Ping whoever covers an area until someone acknowledges.
    Escalate(escalation::Escalate),
    /// Acknowledge an escalation.
    Ack(escalation::Ack),
}

impl Command {
    pub fn permit(&self) -> Permit {
        match self {
            Command::Help { .. } | Command::Ping { .. } => Permit::Anyone,
            Command::Whoami(w) => w.permit(),
            Command::Tree(t) => t.permit(),
            Command::Oncall(o) => o.permit(),
            Command::Who(_) => Permit::Anyone,
            Command::Role(r) => r.permit(),
            Command::Status(s) => s.permit(),
            Command::Train(t) => t.permit(),
            Command::Window(w) => w.permit(),
            Command::Log(l) => l.permit(),
            Command::Loaner(l) => l.permit(),
            Command::Stats(s) => s.permit(),
            Command::Meeting(m) => m.permit(),
            Command::Info(_) | Command::Agreed(_) => Permit::Identified,
            Command::Action(a) => a.permit(),
            Command::Escalate(e) => e.permit(),
            Command::Ack(a) => a.permit(),
        }
    }

    /// The command's name as typed: `tree close`, `ping`.
    pub fn name(&self) -> String {
        match self {
            Command::Help { .. } => "help".to_string(),
            Command::Ping { .. } => "ping".to_string(),
            Command::Whoami(w) => format!("whoami {}", w.verb()),
            Command::Tree(t) => format!("tree {}", t.verb()),
            Command::Oncall(o) => format!("oncall {}", o.verb()),
            Command::Who(_) => "who".to_string(),
            Command::Role(r) => format!("role {}", r.verb()),
            Command::Status(s) => format!("status {}", s.verb()),
            Command::Train(t) => format!("train {}", t.verb()),
            Command::Window(w) => format!("window {}", w.verb()),
            Command::Log(l) => format!("log {}", l.verb()),
            Command::Loaner(l) => format!("loaner {}", l.verb()),
            Command::Stats(s) => format!("stats {}", s.verb()),
            Command::Meeting(m) => format!("meeting {}", m.verb()),
            Command::Info(_) => "info".to_string(),
            Command::Agreed(_) => "agreed".to_string(),
            Command::Action(a) => format!("action {}", a.verb()),
            Command::Escalate(_) => "escalate".to_string(),
            Command::Ack(_) => "ack".to_string(),
        }
    }

    /// The family, for metrics and help.
    pub fn family(&self) -> &'static str {
        match self {
            Command::Help { .. } => "help",
            Command::Ping { .. } => "ping",
            Command::Whoami(_) => "whoami",
            Command::Tree(_) => "tree",
            Command::Oncall(_) => "oncall",
            Command::Who(_) => "who",
            Command::Role(_) => "role",
            Command::Status(_) => "status",
            Command::Train(_) => "train",
            Command::Window(_) => "window",
            Command::Log(_) => "log",
            Command::Loaner(_) => "loaner",
            Command::Stats(_) => "stats",
            Command::Meeting(_) => "meeting",
            Command::Info(_) => "info",
            Command::Agreed(_) => "agreed",
            Command::Action(_) => "action",
            Command::Escalate(_) => "escalate",
            Command::Ack(_) => "ack",
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
const DEFAULT_VERBS: &[(&str, &str)] = &[
    ("tree", "status"),
    ("train", "status"),
    ("window", "list"),
    ("log", "add"),
    ("loaner", "list"),
    ("oncall", "who"),
    ("action", "add"),
];

/// Verbs with verbs of their own whose first word, when it is not one of
/// them, is the start of a default one: `oncall override ci bob …` sets.
const DEFAULT_SUBVERBS: &[(&str, &str, &str)] = &[("oncall", "override", "set")];

/// Families whose bare name (no further words) runs a verb of its own:
/// `!action` lists (while `!action bob TEXT` gives one), `!status` shows
/// the alert, `!whoami` says who you are.
const BARE_VERBS: &[(&str, &str)] = &[("action", "list"), ("status", "show"), ("whoami", "show")];

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
    if let Some((_, verb)) = BARE_VERBS
        .iter()
        .find(|(f, _)| *f == words[0] && words.len() == 1)
    {
        words.push((*verb).to_string());
    } else if let Some((_, default)) = DEFAULT_VERBS.iter().find(|(f, _)| *f == words[0]) {
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
    // `oncall override ROTATION …` is `oncall override set ROTATION …`.
    for (family, verb, default) in DEFAULT_SUBVERBS {
        if words.len() > 2 && words[0] == *family && words[1] == *verb {
            let next = words[2].to_lowercase();
            let subverbs = help::subverbs(family, verb);
            if subverbs.contains(&next) || next.starts_with('-') {
                words[2] = next;
            } else {
                words.insert(2, (*default).to_string());
            }
        }
    }
    match help::parse_line(&words) {
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
    /// Everyone in `[people]`.
    pub people: Vec<PersonId>,
    pub rotations: Vec<oncall::Rotation>,
    /// Area → who covers it.
    pub liaisons: std::collections::BTreeMap<String, liaison::Cover>,
    /// The channels whose topics a status alert sets.
    pub status_channels: Vec<ChannelAddr>,
    /// The channels whose topics show a held train (`[announce] train`).
    pub train_channels: Vec<ChannelAddr>,
    /// Time zones from `[people.X] timezone`.
    pub zones: std::collections::BTreeMap<PersonId, Tz>,
    /// Standing topics, restored after an alert when the bot knows no other.
    pub topics: std::collections::BTreeMap<ChannelAddr, String>,
    /// The train's groups, in promotion order.
    pub train_groups: Vec<String>,
    /// Recurring deploy windows.
    pub windows: Vec<window::WindowDef>,
    /// Loaner machine pools.
    pub pools: Vec<loaner::Pool>,
    /// How the HTTP server is reached from outside, for links in chat.
    pub public_url: Option<String>,
    /// The calendar feeds' `?token=`, when they are guarded.
    pub calendar_token: Option<calendar::CalendarToken>,
    /// How long an escalation waits for an ack before the next step.
    pub escalation_timeout: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: "!".to_string(),
            timezone: Tz::UTC,
            tasks: TaskPatterns::default(),
            tree_tags: DEFAULT_TREE_TAGS.iter().map(|s| s.to_string()).collect(),
            people: Vec::new(),
            rotations: Vec::new(),
            liaisons: std::collections::BTreeMap::new(),
            status_channels: Vec::new(),
            train_channels: Vec::new(),
            zones: std::collections::BTreeMap::new(),
            topics: std::collections::BTreeMap::new(),
            train_groups: train::DEFAULT_GROUPS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            windows: Vec::new(),
            pools: Vec::new(),
            public_url: None,
            calendar_token: None,
            escalation_timeout: chrono::Duration::minutes(15),
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
    /// Where the command was said; `None` in a DM, the API or the scheduler.
    pub channel: Option<&'a ChannelAddr>,
    pub now: DateTime<Utc>,
    /// The zone the caller reads and types times in (`profile`); the team's
    /// for the scheduler.
    pub zone: Tz,
    pub settings: &'a Settings,
    pub history: &'a dyn History,
    /// The id the event will get if the outcome changes anything.
    pub event_id: EventId,
    /// Names this message used for people beyond `[people]` keys (live IRC
    /// nicks); empty outside chat.
    pub aliases: &'a mention::Aliases,
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
    /// The topic of a channel: the text replaces it.
    Topic(ChannelAddr),
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
    #[serde(default)]
    pub duty: oncall::Duty,
    #[serde(default)]
    pub status: status::StatusState,
    #[serde(default)]
    pub liaisons: liaison::Liaisons,
    #[serde(default)]
    pub trains: train::Trains,
    #[serde(default)]
    pub windows: window::Windows,
    #[serde(default)]
    pub log: log::Logs,
    #[serde(default)]
    pub loaners: loaner::Loaners,
    #[serde(default)]
    pub meetings: meeting::Meetings,
    #[serde(default)]
    pub escalations: escalation::Escalations,
    #[serde(default)]
    pub profiles: profile::Profiles,
}

impl State {
    pub fn apply(&mut self, event: &Event) {
        for change in &event.changes {
            match change {
                Change::Tree(c) => self.trees.apply(event, c),
                Change::Job(c) => self.jobs.apply(c),
                Change::Duty(c) => self.duty.apply(event, c),
                Change::Status(c) => self.status.apply(event, c),
                Change::Liaison(c) => self.liaisons.apply(event, c),
                Change::Train(c) => self.trains.apply(event, c),
                Change::Window(c) => self.windows.apply(event, c),
                Change::Log(c) => self.log.apply(event, c),
                Change::Loaner(c) => self.loaners.apply(event, c),
                Change::Meeting(c) => self.meetings.apply(event, c),
                Change::Escalation(c) => self.escalations.apply(event, c),
                Change::Profile(c) => self.profiles.apply(event, c),
            }
        }
    }

    /// One family's view, as stored.
    pub fn view(&self, family: Family) -> serde_json::Value {
        let value = match family {
            Family::Trees => serde_json::to_value(&self.trees),
            Family::Jobs => serde_json::to_value(&self.jobs),
            Family::Duty => serde_json::to_value(&self.duty),
            Family::Status => serde_json::to_value(&self.status),
            Family::Liaisons => serde_json::to_value(&self.liaisons),
            Family::Trains => serde_json::to_value(&self.trains),
            Family::Windows => serde_json::to_value(&self.windows),
            Family::Log => serde_json::to_value(&self.log),
            Family::Loaners => serde_json::to_value(&self.loaners),
            Family::Meetings => serde_json::to_value(&self.meetings),
            Family::Escalations => serde_json::to_value(&self.escalations),
            Family::Profiles => serde_json::to_value(&self.profiles),
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
            Family::Duty => self.duty = serde_json::from_value(value)?,
            Family::Status => self.status = serde_json::from_value(value)?,
            Family::Liaisons => self.liaisons = serde_json::from_value(value)?,
            Family::Trains => self.trains = serde_json::from_value(value)?,
            Family::Windows => self.windows = serde_json::from_value(value)?,
            Family::Log => self.log = serde_json::from_value(value)?,
            Family::Loaners => self.loaners = serde_json::from_value(value)?,
            Family::Meetings => self.meetings = serde_json::from_value(value)?,
            Family::Escalations => self.escalations = serde_json::from_value(value)?,
            Family::Profiles => self.profiles = serde_json::from_value(value)?,
        }
        Ok(())
    }

    /// The one-shot timers the state asks for, with their instants.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, Job)> {
        let mut timers = self.trees.timers();
        timers.extend(self.windows.timers());
        timers.extend(self.loaners.timers());
        timers.extend(self.escalations.timers());
        timers
    }
}

/// Work the scheduler hands to the core when its time comes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    TreeWarn {
        tree: TreeName,
    },
    TreeReopen {
        tree: TreeName,
    },
    /// A rotation's shift changed (or a gap is near): post the handoff.
    Handoff {
        rotation: String,
    },
    /// A one-off deploy window's start.
    WindowStart {
        window: String,
    },
    /// The open deploy window ends soon: warn its channels.
    WindowWarn {
        window: String,
    },
    /// The open deploy window reached its end: close it.
    WindowEnd {
        window: String,
    },
    /// A loan's reminder `hours` before it expires (24 and 1).
    LoanerRemind {
        id: u64,
        hours: u32,
    },
    LoanerExpire {
        id: u64,
    },
    /// A request pending past its pool's SLA.
    LoanerOverdue {
        id: u64,
    },
    /// An escalation nobody acknowledged in time moves to its next step.
    EscalationStep {
        id: u64,
    },
}

impl Job {
    /// A stable name, for logs and the actor of the event.
    pub fn name(&self) -> String {
        match self {
            Job::TreeWarn { tree } => format!("tree-warn:{tree}"),
            Job::TreeReopen { tree } => format!("tree-reopen:{tree}"),
            Job::Handoff { rotation } => format!("handoff:{rotation}"),
            Job::WindowStart { window } => format!("window:{window}"),
            Job::WindowWarn { window } => format!("window-warn:{window}"),
            Job::WindowEnd { window } => format!("window-end:{window}"),
            Job::LoanerRemind { id, hours } => format!("loaner-remind-{hours}h:{id}"),
            Job::LoanerExpire { id } => format!("loaner-expire:{id}"),
            Job::LoanerOverdue { id } => format!("loaner-overdue:{id}"),
            Job::EscalationStep { id } => format!("escalation-step:{id}"),
        }
    }
}

/// Checks the caller may run `command`, then runs it against `state`.
pub fn handle(command: &Command, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    // Duty roles are the caller's for as long as the shift lasts: add them
    // here, from the state every handler sees, so no check can miss them.
    let caller = oncall::with_duty(ctx.caller, ctx.settings, &state.duty, ctx.now);
    let caller = match command {
        Command::Window(w) => window::as_window_deployer(w, &caller, ctx, &state.windows),
        _ => caller,
    };
    let ctx = &Context {
        caller: &caller,
        zone: state.profiles.zone(ctx.settings, caller.person.as_ref()),
        ..*ctx
    };
    ctx.caller.check(command.permit(), &command.name())?;
    decide(command, ctx, state).map(|outcome| topic::follow(ctx, state, outcome))
}

/// Runs a permitted command: one family's handler.
fn decide(command: &Command, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    match command {
        Command::Help { family, verb } => {
            help::help(family.as_deref(), verb.as_deref(), &ctx.settings.prefix)
        }
        Command::Ping { .. } => Ok(Outcome::reply("pong")),
        Command::Whoami(profile::Whoami::Show) => Ok(Outcome::reply(whoami(ctx, state))),
        Command::Whoami(profile::Whoami::Tz { zone }) => {
            profile::tz(zone.as_deref(), ctx, &state.profiles)
        }
        Command::Tree(t) => tree::handle(t, ctx, &state.trees),
        Command::Oncall(o) => oncall::handle(o, ctx, state),
        Command::Who(w) => liaison::who(w, ctx, state),
        Command::Role(r) => liaison::handle(r, ctx),
        Command::Status(s) => status::handle(s, ctx, &state.status),
        Command::Train(t) => train::handle(t, ctx, &state.trains),
        Command::Window(w) => window::handle(w, ctx, &state.windows),
        Command::Log(l) => log::handle(l, ctx, state),
        Command::Loaner(l) => loaner::handle(l, ctx, &state.loaners),
        Command::Stats(s) => stats::handle(s, ctx, state),
        Command::Meeting(m) => meeting::handle(m, ctx, &state.meetings),
        Command::Info(n) => meeting::note(meeting::ItemKind::Info, n, ctx, &state.meetings),
        Command::Agreed(n) => meeting::note(meeting::ItemKind::Agreed, n, ctx, &state.meetings),
        Command::Action(a) => meeting::handle_action(a, ctx, &state.meetings),
        Command::Escalate(e) => escalation::escalate(e, ctx, state),
        Command::Ack(a) => escalation::ack(a, ctx, state),
    }
}

/// Runs a scheduled job if it is still due; an empty outcome when not.
pub fn run_job(job: &Job, ctx: &Context, state: &State) -> Outcome {
    let outcome = match job {
        Job::TreeWarn { .. } | Job::TreeReopen { .. } => tree::run_job(job, ctx, &state.trees),
        Job::Handoff { rotation } => oncall::run_handoff(ctx, state, rotation),
        Job::WindowStart { .. } | Job::WindowWarn { .. } | Job::WindowEnd { .. } => {
            window::run_job(job, ctx, &state.windows)
        }
        Job::LoanerRemind { .. } | Job::LoanerExpire { .. } | Job::LoanerOverdue { .. } => {
            loaner::run_job(job, ctx, &state.loaners)
        }
        Job::EscalationStep { id } => escalation::run_step(ctx, &state.escalations, *id),
    };
    topic::follow(ctx, state, outcome)
}

/// What is still open, for a handoff digest: each family adds its items.
/// `until` is the end of the incoming shift (for items due within it).
pub fn open_items(ctx: &Context, state: &State, until: DateTime<Utc>) -> Vec<String> {
    let tz = ctx.zone;
    let mut items = Vec::new();
    for tree in state.trees.trees.values() {
        let c = &tree.condition;
        if c.status != tree::Status::Open {
            let since = tree
                .since
                .map(|s| format!(" for {}", when::format_duration(ctx.now - s)))
                .unwrap_or_default();
            items.push(format!(
                "tree {} {}{since}: {}",
                tree.name,
                c.status.as_str(),
                c.reason
            ));
        }
    }
    if let Some(train) = &state.trains.current
        && let Some(hold) = &train.hold
    {
        let tasks: Vec<&str> = hold.tasks.iter().map(|t| t.id.as_str()).collect();
        items.push(format!(
            "train {} held at {} for {} on {}: {}",
            train.version,
            train.group,
            when::format_duration(ctx.now - hold.since),
            tasks.join(", "),
            hold.reason
        ));
    }
    for r in state.loaners.requests.values() {
        match r.status {
            loaner::Status::Pending => items.push(format!(
                "loaner request #{} pending from {} ({}){}",
                r.id,
                r.requester,
                r.pool,
                if r.overdue { " — OVERDUE" } else { "" }
            )),
            loaner::Status::Active if r.expires.is_some_and(|e| e <= until) => items.push(format!(
                "loaner #{} ({}) of {} expires {}",
                r.id,
                r.machine.as_deref().unwrap_or("?"),
                r.requester,
                when::format_instant(r.expires.expect("checked above"), tz)
            )),
            _ => {}
        }
    }
    for w in window::upcoming(ctx.settings, &state.windows, ctx.now, until) {
        items.push(format!(
            "deploy window {} at {}",
            w.name,
            when::format_instant(w.start, tz)
        ));
    }
    items.extend(escalation::digest_items(&state.escalations));
    items.extend(meeting::digest_items(&state.meetings));
    if let Some(alert) = &state.status.alert {
        items.push(format!(
            "status alert since {}: {}",
            when::format_instant(alert.since, tz),
            alert.text
        ));
    }
    items
}

fn whoami(ctx: &Context, state: &State) -> String {
    let c = ctx.caller;
    let duty = c
        .person
        .as_ref()
        .map(|p| oncall::duty_roles(ctx.settings, &state.duty, p, ctx.now))
        .unwrap_or_default();
    let list = |roles: Vec<&Role>| {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fixed: Vec<&Role> = c.roles.iter().filter(|r| !duty.contains(r)).collect();
    let roles = match (fixed.is_empty(), duty.is_empty()) {
        (true, true) => "no roles".to_string(),
        (false, true) => format!("roles: {}", list(fixed)),
        (true, false) => format!("roles by duty now: {}", list(duty.iter().collect())),
        (false, false) => format!(
            "roles: {}; by duty now: {}",
            list(fixed),
            list(duty.iter().collect())
        ),
    };
    // Only a zone of one's own is worth a word: `whoami tz` says more.
    let zone = if ctx.zone == ctx.settings.timezone {
        String::new()
    } else {
        format!("; times in {}", ctx.zone.name())
    };
    match &c.person {
        Some(p) => format!(
            "you are {p} ({} user \"{}\"); {roles}{zone}",
            ctx.network, c.handle
        ),
        None => format!(
            "you are a guest ({} user \"{}\" is not mapped to a person); read-only commands only",
            ctx.network, c.handle
        ),
    }
}
