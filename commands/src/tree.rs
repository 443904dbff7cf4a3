//! Trees: code repositories that sheriffs open and close. A closed tree
//! refuses landings; CI hooks read the state over HTTP in treestatus's shape.
//!
//! Every call that changes the status of trees is one event with the state of
//! each tree before and after; that pair is what undo restores, what `tree log`
//! shows and what the treestatus `/logs` and `/stack` endpoints serve.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventId, History};
use crate::id::TreeName;
use crate::role::Permit;
use crate::when::{format_duration, format_instant, split_deadline};
use crate::{AnnounceKind, Announcement, Context, Error, Outcome};

/// How long before a timed closure ends the channels are warned.
pub const WARN_BEFORE: Duration = Duration::minutes(10);

/// How many undo entries are kept; older ones could not apply cleanly anyway.
pub const STACK_LIMIT: usize = 100;

/// Open, close and inspect code trees.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !tree\n  !tree close autoland,try builds failing #checkin-compilation for 2h\n  !tree open all\n  !tree undo"
)]
pub enum Tree {
    /// Show the state of every tree, or of the trees named.
    #[command(visible_alias = "show")]
    Status {
        /// Trees to show (names, `all`, or globs like `mozilla-*`).
        trees: Vec<String>,
    },
    /// Close trees: landings are refused until they reopen.
    #[command(
        after_help = "TREES is `a,b`, `all` or a glob; a #tag (reason category) is required;\nend with `for 2h` or `until 14:00` for a closure that reopens by itself.\nexamples:\n  !tree close autoland builds failing #checkin-compilation\n  !tree close \"mozilla-*\" merge day #merges until 18:00"
    )]
    Close {
        /// Trees: `a,b`, `all`, or a glob.
        trees: String,
        /// Reason words and #tags, optionally ending in `for DURATION` or `until TIME`.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Open trees.
    #[command(after_help = "example:\n  !tree open autoland,try fixed by backout")]
    Open {
        /// Trees: `a,b`, `all`, or a glob.
        trees: String,
        /// Optional reason words and #tags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Require approval for landings on trees.
    #[command(after_help = "example:\n  !tree approval mozilla-beta release candidate #planned")]
    Approval {
        /// Trees: `a,b`, `all`, or a glob.
        trees: String,
        /// Reason words and #tags.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Set a tree's message of the day ("" clears it); not an undo entry.
    #[command(after_help = "example:\n  !tree motd try \"please use --rebuild sparingly\"")]
    Motd {
        tree: String,
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Restore the trees of an undo entry (the latest by default), if nothing changed them since.
    #[command(after_help = "example:\n  !tree undo\n  !tree undo 42")]
    Undo {
        /// The undo entry's id, as given when the change was made.
        id: Option<u64>,
    },
    /// Show a tree's history, newest first.
    #[command(after_help = "example:\n  !tree log autoland 5")]
    Log {
        tree: String,
        /// How many entries (default 10).
        #[arg(default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=200))]
        count: u16,
    },
}

impl Tree {
    pub fn permit(&self) -> Permit {
        match self {
            Tree::Status { .. } | Tree::Log { .. } => Permit::Anyone,
            Tree::Close { .. }
            | Tree::Open { .. }
            | Tree::Approval { .. }
            | Tree::Motd { .. }
            | Tree::Undo { .. } => Permit::Role(crate::role::Role::Sheriff),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Tree::Status { .. } => "status",
            Tree::Close { .. } => "close",
            Tree::Open { .. } => "open",
            Tree::Approval { .. } => "approval",
            Tree::Motd { .. } => "motd",
            Tree::Undo { .. } => "undo",
            Tree::Log { .. } => "log",
        }
    }
}

/// A tree's status, spelled as treestatus spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "approval required")]
    ApprovalRequired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
            Status::ApprovalRequired => "approval required",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Status::Open => "opened",
            Status::Closed => "closed",
            Status::ApprovalRequired => "set approval required on",
        }
    }
}

/// The part of a tree's state that a status change sets and undo restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub status: Status,
    pub reason: String,
    pub tags: Vec<String>,
    /// When a timed closure reopens by itself.
    pub until: Option<DateTime<Utc>>,
}

impl Condition {
    pub fn open() -> Self {
        Self {
            status: Status::Open,
            reason: String::new(),
            tags: Vec::new(),
            until: None,
        }
    }

    fn describe(&self) -> String {
        let mut s = self.status.as_str().to_string();
        if !self.reason.is_empty() {
            s.push_str(&format!(" (\"{}\")", self.reason));
        }
        if !self.tags.is_empty() {
            s.push_str(&format!(" [{}]", self.tags.join(", ")));
        }
        s
    }
}

/// One tree now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeState {
    pub name: TreeName,
    #[serde(flatten)]
    pub condition: Condition,
    pub motd: String,
    /// The event that last changed the condition.
    pub log_id: Option<EventId>,
    pub since: Option<DateTime<Utc>>,
    pub by: Option<String>,
    /// Whether the channels were warned that the timed closure ends soon.
    pub warned: bool,
}

/// One tree's edit inside a change: what it was and what it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub tree: TreeName,
    pub before: Condition,
    pub after: Condition,
}

/// Why a status change happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cause {
    Command,
    Timer,
    Undo { entry: EventId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A tree came into being (from config or the API), open.
    Add {
        tree: TreeName,
    },
    /// Trees changed status; `undoable` ones go on the undo stack.
    Set {
        edits: Vec<Edit>,
        undoable: bool,
        cause: Cause,
    },
    Motd {
        tree: TreeName,
        text: String,
    },
    /// The end of a timed closure was announced ahead of time.
    Warned {
        tree: TreeName,
    },
}

/// An entry on the undo stack: one call's edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoEntry {
    pub id: EventId,
    pub when: DateTime<Utc>,
    pub who: String,
    pub edits: Vec<Edit>,
}

/// The trees family's state: every tree and the undo stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trees {
    pub trees: BTreeMap<TreeName, TreeState>,
    /// Oldest first.
    pub stack: Vec<UndoEntry>,
}

/// One line of a tree's history, in treestatus's log shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: EventId,
    pub tree: TreeName,
    pub when: DateTime<Utc>,
    pub who: String,
    pub status: Status,
    pub reason: String,
    pub tags: Vec<String>,
}

impl Trees {
    pub fn get(&self, name: &str) -> Option<&TreeState> {
        self.trees.get(&TreeName::new(name))
    }

    pub fn names(&self) -> String {
        self.trees
            .keys()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Add { tree } => {
                self.trees.entry(tree.clone()).or_insert_with(|| TreeState {
                    name: tree.clone(),
                    condition: Condition::open(),
                    motd: String::new(),
                    log_id: None,
                    since: None,
                    by: None,
                    warned: false,
                });
            }
            Change::Set {
                edits,
                undoable,
                cause,
            } => {
                for edit in edits {
                    if let Some(tree) = self.trees.get_mut(&edit.tree) {
                        tree.condition = edit.after.clone();
                        tree.log_id = Some(event.id);
                        tree.since = Some(event.at);
                        tree.by = Some(event.actor.name().to_string());
                        tree.warned = false;
                    }
                }
                if let Cause::Undo { entry } = cause {
                    self.stack.retain(|e| e.id != *entry);
                }
                if *undoable {
                    self.stack.push(UndoEntry {
                        id: event.id,
                        when: event.at,
                        who: event.actor.name().to_string(),
                        edits: edits.clone(),
                    });
                    let excess = self.stack.len().saturating_sub(STACK_LIMIT);
                    self.stack.drain(..excess);
                }
            }
            Change::Motd { tree, text } => {
                if let Some(tree) = self.trees.get_mut(tree) {
                    tree.motd = text.clone();
                }
            }
            Change::Warned { tree } => {
                if let Some(tree) = self.trees.get_mut(tree) {
                    tree.warned = true;
                }
            }
        }
    }

    /// Resolves `a,b`, `all` and globs to tree names, in the order given.
    pub fn select(&self, spec: &str) -> Result<Vec<TreeName>, Error> {
        let mut picked: Vec<TreeName> = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let matched: Vec<TreeName> = if part == "all" {
                self.trees.keys().cloned().collect()
            } else if part.contains(['*', '?']) {
                let m: Vec<TreeName> = self
                    .trees
                    .keys()
                    .filter(|t| glob(part, t.as_str()))
                    .cloned()
                    .collect();
                if m.is_empty() {
                    return Err(Error::not_found(format!(
                        "no tree matches \"{part}\"; trees are: {}",
                        self.names()
                    )));
                }
                m
            } else if self.trees.contains_key(&TreeName::new(part)) {
                vec![TreeName::new(part)]
            } else {
                return Err(Error::not_found(format!(
                    "tree \"{part}\" is unknown; trees are: {}",
                    self.names()
                )));
            };
            for t in matched {
                if !picked.contains(&t) {
                    picked.push(t);
                }
            }
        }
        Ok(picked)
    }

    /// The instants at which timed closures need the scheduler.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, crate::Job)> {
        let mut timers = Vec::new();
        for tree in self.trees.values() {
            let Some(until) = tree.condition.until else {
                continue;
            };
            let warn_at = until - WARN_BEFORE;
            let long_enough = tree.since.is_none_or(|since| warn_at > since);
            if !tree.warned && long_enough {
                timers.push((
                    warn_at,
                    crate::Job::TreeWarn {
                        tree: tree.name.clone(),
                    },
                ));
            }
            timers.push((
                until,
                crate::Job::TreeReopen {
                    tree: tree.name.clone(),
                },
            ));
        }
        timers
    }
}

/// Matches `*` (any run) and `?` (one character) against a whole name.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Splits reason words into the reason text and its #tags, checking the tags
/// against the configured categories.
fn reason_and_tags(words: &[String], ctx: &Context) -> Result<(String, Vec<String>), Error> {
    let (words, tags) = words_and_tags(words, ctx)?;
    Ok((words.join(" "), tags))
}

/// Separates #tags (wherever they stand) from the other words, checking the
/// tags against the configured categories.
fn words_and_tags(words: &[String], ctx: &Context) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut reason = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for word in words {
        match word.strip_prefix('#') {
            Some(tag) if !tag.is_empty() => {
                if !ctx.settings.tree_tags.iter().any(|t| t == tag) {
                    return Err(Error::invalid(format!(
                        "tag \"#{tag}\" is unknown; tags are: {}",
                        tag_list(ctx)
                    )));
                }
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
            _ => reason.push(word.clone()),
        }
    }
    Ok((reason, tags))
}

fn tag_list(ctx: &Context) -> String {
    ctx.settings
        .tree_tags
        .iter()
        .map(|t| format!("#{t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn handle(cmd: &Tree, ctx: &Context, trees: &Trees) -> Result<Outcome, Error> {
    match cmd {
        Tree::Status { trees: specs } => Ok(Outcome::reply(status(ctx, trees, specs)?)),
        Tree::Close {
            trees: spec,
            reason,
        } => {
            // Tags first, so `… for 2h #infra` is as timed as `… #infra for 2h`.
            let (words, tags) = words_and_tags(reason, ctx)?;
            let (words, until) = split_deadline(&words, ctx.now, ctx.settings.timezone)?;
            let reason = words.join(" ");
            if reason.is_empty() {
                return Err(Error::invalid(format!(
                    "tree close needs a reason as well as a tag, e.g. \"{}tree close {spec} builds failing #infra\"",
                    ctx.settings.prefix
                )));
            }
            if tags.is_empty() {
                return Err(Error::invalid(format!(
                    "tree close needs a reason category tag, one of: {}",
                    tag_list(ctx)
                )));
            }
            set(
                ctx,
                trees,
                spec,
                Condition {
                    status: Status::Closed,
                    reason,
                    tags,
                    until,
                },
            )
        }
        Tree::Open {
            trees: spec,
            reason,
        } => {
            let (reason, tags) = reason_and_tags(reason, ctx)?;
            set(
                ctx,
                trees,
                spec,
                Condition {
                    status: Status::Open,
                    reason,
                    tags,
                    until: None,
                },
            )
        }
        Tree::Approval {
            trees: spec,
            reason,
        } => {
            let (reason, tags) = reason_and_tags(reason, ctx)?;
            if reason.is_empty() {
                return Err(Error::invalid("tree approval needs a reason".to_string()));
            }
            set(
                ctx,
                trees,
                spec,
                Condition {
                    status: Status::ApprovalRequired,
                    reason,
                    tags,
                    until: None,
                },
            )
        }
        Tree::Motd { tree, text } => {
            let name = single(trees, tree)?;
            let text = text.join(" ");
            let reply = if text.is_empty() {
                format!("cleared the message of the day of {name}")
            } else {
                format!("message of the day of {name}: {text}")
            };
            Ok(
                Outcome::reply(reply)
                    .change(crate::Change::Tree(Change::Motd { tree: name, text })),
            )
        }
        Tree::Undo { id } => undo(ctx, trees, *id),
        Tree::Log { tree, count } => {
            let name = single(trees, tree)?;
            let entries = log(ctx.history, Some(&name), usize::from(*count));
            if entries.is_empty() {
                return Ok(Outcome::reply(format!("{name} has no history yet")));
            }
            let lines: Vec<String> = entries
                .iter()
                .map(|e| {
                    let mut line = format!(
                        "#{} {} {} {}",
                        e.id,
                        format_instant(e.when, ctx.settings.timezone),
                        e.who,
                        e.status.as_str()
                    );
                    if !e.reason.is_empty() {
                        line.push_str(&format!(": {}", e.reason));
                    }
                    if !e.tags.is_empty() {
                        line.push_str(&format!(" [{}]", e.tags.join(", ")));
                    }
                    line
                })
                .collect();
            Ok(Outcome::reply(format!(
                "history of {name}, newest first:\n{}",
                lines.join("\n")
            )))
        }
    }
}

fn single(trees: &Trees, name: &str) -> Result<TreeName, Error> {
    let name = TreeName::new(name);
    if trees.trees.contains_key(&name) {
        Ok(name)
    } else {
        Err(Error::not_found(format!(
            "tree \"{name}\" is unknown; trees are: {}",
            trees.names()
        )))
    }
}

fn status(ctx: &Context, trees: &Trees, specs: &[String]) -> Result<String, Error> {
    let names = if specs.is_empty() {
        trees.select("all")?
    } else {
        // `!tree clsoe autoland` reads as the status of a tree "clsoe": say
        // what the verbs are too, since that is the likelier mistake.
        trees.select(&specs.join(",")).map_err(|e| match e {
            Error::NotFound(msg) if trees.select(&specs[0]).is_err() => Error::NotFound(format!(
                "{msg}; tree verbs are: {}",
                crate::help::verbs("tree").join(", ")
            )),
            e => e,
        })?
    };
    if names.is_empty() {
        return Ok("no trees are configured".to_string());
    }
    let tz = ctx.settings.timezone;
    let lines: Vec<String> = names
        .iter()
        .filter_map(|n| trees.trees.get(n))
        .map(|t| {
            let c = &t.condition;
            let mut line = format!("{}: {}", t.name, c.status.as_str());
            if !c.reason.is_empty() {
                line.push_str(&format!(" — {}", c.reason));
            }
            if !c.tags.is_empty() {
                line.push_str(&format!(" [{}]", c.tags.join(", ")));
            }
            if let (Some(by), Some(since)) = (&t.by, t.since) {
                line.push_str(&format!(
                    " (by {by} {} ago)",
                    format_duration(ctx.now - since)
                ));
            }
            if let Some(until) = c.until {
                line.push_str(&format!(", reopens {}", format_instant(until, tz)));
            }
            if !t.motd.is_empty() {
                line.push_str(&format!(" | motd: {}", t.motd));
            }
            line
        })
        .collect();
    Ok(lines.join("\n"))
}

fn set(ctx: &Context, trees: &Trees, spec: &str, after: Condition) -> Result<Outcome, Error> {
    let names = trees.select(spec)?;
    if names.is_empty() {
        // Only `all` with no trees: an empty undo entry would help nobody.
        return Err(Error::not_found(format!(
            "\"{spec}\" selects no tree: no trees are configured"
        )));
    }
    let edits: Vec<Edit> = names
        .iter()
        .filter_map(|n| trees.trees.get(n))
        .map(|t| Edit {
            tree: t.name.clone(),
            before: t.condition.clone(),
            after: after.clone(),
        })
        .collect();
    let list = names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut what = format!("{} {list}", after.status.verb());
    if !after.reason.is_empty() {
        what.push_str(&format!(": {}", after.reason));
    }
    if !after.tags.is_empty() {
        what.push_str(&format!(" [{}]", after.tags.join(", ")));
    }
    if let Some(until) = after.until {
        what.push_str(&format!(
            " until {}",
            format_instant(until, ctx.settings.timezone)
        ));
    }
    let reply = format!(
        "{what} (undo with {}tree undo {})",
        ctx.settings.prefix, ctx.event_id
    );
    let announce = format!("{} {what}", ctx.caller.name());
    Ok(Outcome::reply(reply)
        .change(crate::Change::Tree(Change::Set {
            edits,
            undoable: true,
            cause: Cause::Command,
        }))
        .announce(Announcement::to(AnnounceKind::Trees, announce)))
}

fn undo(ctx: &Context, trees: &Trees, id: Option<u64>) -> Result<Outcome, Error> {
    let entry = match id {
        None => trees
            .stack
            .last()
            .ok_or_else(|| Error::not_found("nothing to undo: the undo stack is empty"))?,
        Some(id) => trees
            .stack
            .iter()
            .find(|e| e.id == EventId(id))
            .ok_or_else(|| {
                let ids: Vec<String> = trees
                    .stack
                    .iter()
                    .rev()
                    .take(10)
                    .map(|e| e.id.to_string())
                    .collect();
                let held = if ids.is_empty() {
                    "it is empty".to_string()
                } else {
                    format!("it holds {}", ids.join(", "))
                };
                Error::not_found(format!(
                    "undo entry \"{id}\" is not on the undo stack; {held}"
                ))
            })?,
    };
    let mut changed = Vec::new();
    for edit in &entry.edits {
        match trees.trees.get(&edit.tree) {
            Some(now) if now.condition == edit.after => {}
            Some(now) => changed.push(format!(
                "{} is now {}{}",
                edit.tree,
                now.condition.describe(),
                now.by
                    .as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            )),
            None => changed.push(format!("{} no longer exists", edit.tree)),
        }
    }
    if !changed.is_empty() {
        return Err(Error::conflict(format!(
            "cannot undo {}: {}, not as entry {} left it; nothing changed",
            entry.id,
            changed.join("; "),
            entry.id
        )));
    }
    let edits: Vec<Edit> = entry
        .edits
        .iter()
        .map(|e| Edit {
            tree: e.tree.clone(),
            before: e.after.clone(),
            after: e.before.clone(),
        })
        .collect();
    let restored: Vec<String> = edits
        .iter()
        .map(|e| format!("{} to {}", e.tree, e.after.describe()))
        .collect();
    let text = format!(
        "undid {} by {}: restored {}",
        entry.id,
        entry.who,
        restored.join(", ")
    );
    Ok(Outcome::reply(text.clone())
        .change(crate::Change::Tree(Change::Set {
            edits,
            undoable: false,
            cause: Cause::Undo { entry: entry.id },
        }))
        .announce(Announcement::to(
            AnnounceKind::Trees,
            format!("{} {text}", ctx.caller.name()),
        )))
}

/// Runs a timed closure's warning or reopening, if it is still due.
pub fn run_job(job: &crate::Job, ctx: &Context, trees: &Trees) -> Outcome {
    let tz = ctx.settings.timezone;
    match job {
        crate::Job::TreeWarn { tree } => match trees.trees.get(tree) {
            // Not once the reopening itself is due (a start-up after downtime):
            // "reopens in 0s" would only precede the reopening.
            Some(t)
                if !t.warned
                    && t.condition
                        .until
                        .is_some_and(|u| u - WARN_BEFORE <= ctx.now && ctx.now < u) =>
            {
                let until = t.condition.until.expect("checked above");
                let text = format!(
                    "{tree} reopens at {} (in {}); closed by {}: {}. to extend: {}tree close {tree} {} #{} for 1h",
                    format_instant(until, tz),
                    format_duration(until - ctx.now),
                    t.by.as_deref().unwrap_or("unknown"),
                    t.condition.reason,
                    ctx.settings.prefix,
                    t.condition.reason,
                    t.condition.tags.first().map_or("other", String::as_str),
                );
                Outcome::reply(String::new())
                    .change(crate::Change::Tree(Change::Warned { tree: tree.clone() }))
                    .announce(Announcement::to(AnnounceKind::Trees, text))
            }
            _ => Outcome::default(),
        },
        crate::Job::TreeReopen { tree } => match trees.trees.get(tree) {
            Some(t) if t.condition.until.is_some_and(|u| u <= ctx.now) => {
                let after = Condition {
                    reason: "timed closure ended".to_string(),
                    ..Condition::open()
                };
                let text = format!(
                    "reopened {tree}: timed closure ended (closed by {}: {})",
                    t.by.as_deref().unwrap_or("unknown"),
                    t.condition.reason
                );
                let edit = Edit {
                    tree: tree.clone(),
                    before: t.condition.clone(),
                    after,
                };
                Outcome::reply(String::new())
                    .change(crate::Change::Tree(Change::Set {
                        edits: vec![edit],
                        undoable: false,
                        cause: Cause::Timer,
                    }))
                    .announce(Announcement::to(AnnounceKind::Trees, text))
            }
            _ => Outcome::default(),
        },
    }
}

/// History of one tree (or of all), newest first, at most `limit` entries.
pub fn log(history: &dyn History, tree: Option<&TreeName>, limit: usize) -> Vec<LogEntry> {
    let mut out = Vec::new();
    history.newest_first(&mut |event| {
        for change in &event.changes {
            if let crate::Change::Tree(Change::Set { edits, .. }) = change {
                for edit in edits.iter().filter(|e| tree.is_none_or(|t| *t == e.tree)) {
                    if out.len() < limit {
                        out.push(LogEntry {
                            id: event.id,
                            tree: edit.tree.clone(),
                            when: event.at,
                            who: event.actor.name().to_string(),
                            status: edit.after.status,
                            reason: edit.after.reason.clone(),
                            tags: edit.after.tags.clone(),
                        });
                    }
                }
            }
        }
        out.len() < limit
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_names() {
        assert!(glob("mozilla-*", "mozilla-central"));
        assert!(glob("*land", "autoland"));
        assert!(glob("tr?", "try"));
        assert!(glob("*", "x"));
        assert!(!glob("mozilla-*", "autoland"));
        assert!(!glob("tr?", "trys"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }
}
