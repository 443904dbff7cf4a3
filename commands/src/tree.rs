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
    /// Restore an undo entry's trees (the latest by default) if unchanged since; `list` shows the stack.
    #[command(after_help = "examples:\n  !tree undo\n  !tree undo 42\n  !tree undo list")]
    Undo {
        /// The undo entry's id, as given when the change was made, or `list`.
        id: Option<UndoTarget>,
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

/// What `tree undo` was given: an entry to undo, or `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoTarget {
    /// Show the undo stack, newest first (what `GET /stack` serves).
    List,
    Entry(u64),
}

impl std::str::FromStr for UndoTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("list") {
            return Ok(Self::List);
        }
        s.parse::<u64>()
            .map(Self::Entry)
            .map_err(|_| "an undo entry's id (a number) or `list`".to_string())
    }
}

impl Tree {
    pub fn permit(&self) -> Permit {
        match self {
            Tree::Status { .. }
            | Tree::Log { .. }
            | Tree::Undo {
                id: Some(UndoTarget::List),
            } => Permit::Anyone,
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
            Tree::Undo {
                id: Some(UndoTarget::List),
            } => "undo list",
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
    /// A tree was deleted (through the API).
    Remove {
        tree: TreeName,
    },
    /// An undo entry was dropped from the stack without reverting it.
    Discard {
        entry: EventId,
    },
    /// The reason or tags of a log entry were corrected after the fact.
    Amend {
        log: EventId,
        reason: Option<String>,
        tags: Option<Vec<String>>,
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
            Change::Remove { tree } => {
                self.trees.remove(tree);
            }
            Change::Discard { entry } => self.stack.retain(|e| e.id != *entry),
            // Amendments change history, which is read from the log.
            Change::Amend { .. } => {}
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
pub(crate) fn reason_and_tags(
    words: &[String],
    ctx: &Context,
) -> Result<(String, Vec<String>), Error> {
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
            let (words, until) = split_deadline(&words, ctx.now, ctx.zone)?;
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
        Tree::Undo {
            id: Some(UndoTarget::List),
        } => Ok(Outcome::reply(undo_stack(ctx, trees))),
        Tree::Undo { id } => undo(
            ctx,
            trees,
            id.map(|t| match t {
                UndoTarget::Entry(id) => id,
                UndoTarget::List => unreachable!("listing is matched above"),
            }),
        ),
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
                        format_instant(e.when, ctx.zone),
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
    let tz = ctx.zone;
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
    set_named(ctx, trees, spec, &names, after, true)
}

/// Sets the condition of `names` (already resolved from `spec`) as one undo entry.
pub(crate) fn set_named(
    ctx: &Context,
    trees: &Trees,
    spec: &str,
    names: &[TreeName],
    after: Condition,
    undoable: bool,
) -> Result<Outcome, Error> {
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
        what.push_str(&format!(" until {}", format_instant(until, ctx.zone)));
    }
    let reply = if undoable {
        format!(
            "{what} (undo with {}tree undo {})",
            ctx.settings.prefix, ctx.event_id
        )
    } else {
        what.clone()
    };
    let announce = format!("{} {what}", ctx.caller.name());
    Ok(Outcome::reply(reply)
        .change(crate::Change::Tree(Change::Set {
            edits,
            undoable,
            cause: Cause::Command,
        }))
        .announce(Announcement::to(AnnounceKind::Trees, announce)))
}

/// The undo stack, newest first, one entry a line.
fn undo_stack(ctx: &Context, trees: &Trees) -> String {
    if trees.stack.is_empty() {
        return "the undo stack is empty".to_string();
    }
    let lines: Vec<String> = trees
        .stack
        .iter()
        .rev()
        .map(|e| {
            let names: Vec<&str> = e.edits.iter().map(|x| x.tree.as_str()).collect();
            let after = e
                .edits
                .first()
                .map(|x| format!(" → {}", x.after.describe()))
                .unwrap_or_default();
            format!(
                "#{} {} {}: {}{after}",
                e.id,
                format_instant(e.when, ctx.zone),
                e.who,
                names.join(", ")
            )
        })
        .collect();
    format!(
        "undo stack, newest first ({}tree undo ID restores one):\n{}",
        ctx.settings.prefix,
        lines.join("\n")
    )
}

pub(crate) fn undo(ctx: &Context, trees: &Trees, id: Option<u64>) -> Result<Outcome, Error> {
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
    let tz = ctx.zone;
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
        _ => Outcome::default(),
    }
}

/// History of one tree (or of all), newest first, at most `limit` entries,
/// with later amendments of reason and tags applied.
pub fn log(history: &dyn History, tree: Option<&TreeName>, limit: usize) -> Vec<LogEntry> {
    let mut out = Vec::new();
    // Seen newest first, so the first amendment of an entry is its latest.
    let mut amended: BTreeMap<EventId, (Option<String>, Option<Vec<String>>)> = BTreeMap::new();
    history.newest_first(&mut |event| {
        for change in &event.changes {
            match change {
                crate::Change::Tree(Change::Amend { log, reason, tags }) => {
                    amended
                        .entry(*log)
                        .or_insert_with(|| (reason.clone(), tags.clone()));
                }
                crate::Change::Tree(Change::Set { edits, .. }) => {
                    for edit in edits.iter().filter(|e| tree.is_none_or(|t| *t == e.tree)) {
                        if out.len() < limit {
                            let (reason, tags) =
                                amended.get(&event.id).cloned().unwrap_or_default();
                            out.push(LogEntry {
                                id: event.id,
                                tree: edit.tree.clone(),
                                when: event.at,
                                who: event.actor.name().to_string(),
                                status: edit.after.status,
                                reason: reason.unwrap_or_else(|| edit.after.reason.clone()),
                                tags: tags.unwrap_or_else(|| edit.after.tags.clone()),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        out.len() < limit
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{TREES, World, alice, bob, carol, guest, noon};
    use crate::{Audience, Job};

    fn at(hhmm: &str) -> DateTime<Utc> {
        format!("2026-11-22T{hhmm}:00Z")
            .parse()
            .expect("a valid test instant")
    }

    fn names(names: &[&str]) -> Vec<TreeName> {
        names.iter().map(|n| TreeName::new(*n)).collect()
    }

    fn closed(world: &World) -> Vec<&str> {
        let trees = world.state.trees.trees.values();
        trees
            .filter(|t| t.condition.status == Status::Closed)
            .map(|t| t.name.as_str())
            .collect()
    }

    fn warn(tree: &str) -> Job {
        Job::TreeWarn {
            tree: TreeName::new(tree),
        }
    }

    fn reopen(tree: &str) -> Job {
        Job::TreeReopen {
            tree: TreeName::new(tree),
        }
    }

    /// The one tree change of an outcome.
    fn tree_change(outcome: &Outcome) -> &Change {
        match outcome.changes.as_slice() {
            [crate::Change::Tree(c)] => c,
            other => panic!("expected one tree change, got {other:?}"),
        }
    }

    const KNOWN: &str = "trees are: autoland, mozilla-beta, mozilla-central, try";

    #[test]
    fn select_resolves_lists_all_and_globs_in_the_order_given() {
        let world = World::with_trees(TREES);
        let cases: &[(&str, &[&str])] = &[
            ("autoland", &["autoland"]),
            ("try,autoland", &["try", "autoland"]),
            (" try , autoland ", &["try", "autoland"]),
            ("all", TREES),
            ("mozilla-*", &["mozilla-beta", "mozilla-central"]),
            ("*land", &["autoland"]),
            ("tr?", &["try"]),
            (
                "try,all",
                &["try", "autoland", "mozilla-beta", "mozilla-central"],
            ),
            (
                "mozilla-*,mozilla-central,try",
                &["mozilla-beta", "mozilla-central", "try"],
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(world.state.trees.select(spec), Ok(names(want)), "{spec:?}");
        }
        let errors = [
            (
                "autolnad",
                format!(r#"tree "autolnad" is unknown; {KNOWN}"#),
            ),
            (
                "autoland,nope",
                format!(r#"tree "nope" is unknown; {KNOWN}"#),
            ),
            (
                "Autoland",
                format!(r#"tree "Autoland" is unknown; {KNOWN}"#),
            ),
            ("comm-*", format!(r#"no tree matches "comm-*"; {KNOWN}"#)),
            ("autoland,", format!(r#"tree "" is unknown; {KNOWN}"#)),
        ];
        for (spec, want) in errors {
            assert_eq!(
                world.state.trees.select(spec),
                Err(Error::NotFound(want)),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn closing_several_trees_is_one_event_and_one_undo_entry() {
        let mut world = World::with_trees(TREES);
        let id = world.next_id();
        let outcome = world.ok(
            &alice(),
            "tree close autoland,try builds failing #checkin-compilation",
        );
        assert_eq!(
            outcome.reply,
            format!(
                "closed autoland, try: builds failing [checkin-compilation] (undo with !tree undo {id})"
            )
        );
        assert_eq!(
            outcome.announce,
            [Announcement::to(
                AnnounceKind::Trees,
                "alice closed autoland, try: builds failing [checkin-compilation]"
            )]
        );
        let Change::Set {
            edits,
            undoable,
            cause,
        } = tree_change(&outcome)
        else {
            panic!("a status change")
        };
        assert!(*undoable);
        assert_eq!(*cause, Cause::Command);
        assert_eq!(
            edits.iter().map(|e| e.tree.as_str()).collect::<Vec<_>>(),
            ["autoland", "try"]
        );
        assert!(
            edits.iter().all(|e| e.before == Condition::open()),
            "both were open"
        );

        assert_eq!(closed(&world), ["autoland", "try"]);
        for name in ["autoland", "try"] {
            let tree = world.state.trees.get(name).expect("a fixture tree");
            let want = Condition {
                status: Status::Closed,
                reason: "builds failing".into(),
                tags: vec!["checkin-compilation".into()],
                until: None,
            };
            assert_eq!(tree.condition, want, "{name}");
            assert_eq!(
                (tree.log_id, tree.since, tree.by.as_deref()),
                (Some(id), Some(noon()), Some("alice"))
            );
        }
        let untouched = world
            .state
            .trees
            .get("mozilla-central")
            .expect("a fixture tree");
        assert_eq!(
            (&untouched.condition, untouched.log_id),
            (&Condition::open(), None)
        );
        assert_eq!(world.state.trees.stack.len(), 1);
        let entry = &world.state.trees.stack[0];
        assert_eq!(
            (entry.id, entry.who.as_str(), entry.when, entry.edits.len()),
            (id, "alice", noon(), 2)
        );
    }

    #[test]
    fn close_accepts_all_and_globs() {
        let cases: &[(&str, &[&str])] = &[
            ("tree close all merge day #merges", TREES),
            (
                r#"tree close "mozilla-*" merge day #merges"#,
                &["mozilla-beta", "mozilla-central"],
            ),
            (
                "tree close mozilla-*,try merge day #merges",
                &["mozilla-beta", "mozilla-central", "try"],
            ),
        ];
        for (line, want) in cases {
            let mut world = World::with_trees(TREES);
            world.ok(&alice(), line);
            assert_eq!(closed(&world), *want, "{line:?}");
            assert_eq!(
                world.state.trees.stack.len(),
                1,
                "{line:?} is one undo entry"
            );
            assert_eq!(
                world.state.trees.stack[0].edits.len(),
                want.len(),
                "{line:?}"
            );
        }
    }

    #[test]
    fn close_needs_a_reason_and_a_known_tag() {
        let tags = "#backlog, #checkin-compilation, #checkin-test, #infra, #merges, #other, #planned, #waiting-for-coverage";
        let cases = [
            (
                "tree close autoland builds failing",
                Error::Invalid(format!("tree close needs a reason category tag, one of: {tags}")),
            ),
            (
                "tree close autoland #infra",
                Error::Invalid(
                    r#"tree close needs a reason as well as a tag, e.g. "!tree close autoland builds failing #infra""#.into(),
                ),
            ),
            (
                "tree close autoland #infra for 2h",
                Error::Invalid(
                    r#"tree close needs a reason as well as a tag, e.g. "!tree close autoland builds failing #infra""#.into(),
                ),
            ),
            ("tree close autoland broken #bogus", Error::Invalid(format!(r##"tag "#bogus" is unknown; tags are: {tags}"##))),
            ("tree close autoland broken #Infra", Error::Invalid(format!(r##"tag "#Infra" is unknown; tags are: {tags}"##))),
            ("tree open autoland fixed #nope", Error::Invalid(format!(r##"tag "#nope" is unknown; tags are: {tags}"##))),
            ("tree approval try #planned", Error::Invalid("tree approval needs a reason".into())),
        ];
        for (line, want) in cases {
            let world = World::with_trees(TREES);
            let err = world.try_line(&alice(), line).expect_err(line);
            assert!(
                err.to_string().starts_with(|c: char| c.is_lowercase()),
                "{err}"
            );
            assert_eq!(err, want, "{line:?}");
        }
        // A lone `#` is a word of the reason, not an empty tag.
        let mut world = World::with_trees(TREES);
        world.ok(
            &alice(),
            "tree close autoland # of failures too high #infra",
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(tree.condition.reason, "# of failures too high");
        assert_eq!(tree.condition.tags, ["infra"]);
    }

    #[test]
    fn tags_are_taken_wherever_they_stand_and_once() {
        let mut world = World::with_trees(TREES);
        world.ok(
            &alice(),
            "tree close autoland #infra builds #infra failing #checkin-test",
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(tree.condition.reason, "builds failing");
        assert_eq!(tree.condition.tags, ["infra", "checkin-test"]);
    }

    #[test]
    fn unknown_trees_are_quoted_and_the_known_ones_listed() {
        let world = World::with_trees(TREES);
        let cases = [
            (
                "tree close autolnad broken #infra",
                format!(r#"tree "autolnad" is unknown; {KNOWN}"#),
            ),
            (
                "tree close autoland,tyr broken #infra",
                format!(r#"tree "tyr" is unknown; {KNOWN}"#),
            ),
            (
                r#"tree close "comm-*" broken #infra"#,
                format!(r#"no tree matches "comm-*"; {KNOWN}"#),
            ),
            (
                "tree open tyr",
                format!(r#"tree "tyr" is unknown; {KNOWN}"#),
            ),
            (
                "tree approval tyr rc",
                format!(r#"tree "tyr" is unknown; {KNOWN}"#),
            ),
            (
                "tree motd tyr hello",
                format!(r#"tree "tyr" is unknown; {KNOWN}"#),
            ),
            (
                "tree motd mozilla-* hello",
                format!(r#"tree "mozilla-*" is unknown; {KNOWN}"#),
            ),
            ("tree log tyr", format!(r#"tree "tyr" is unknown; {KNOWN}"#)),
            (
                "tree status autoland tyr",
                format!(r#"tree "tyr" is unknown; {KNOWN}"#),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                world.try_line(&alice(), line),
                Err(Error::NotFound(want)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn no_trees_configured() {
        let world = World::empty();
        assert_eq!(
            world.try_line(&bob(), "tree").map(|o| o.reply),
            Ok("no trees are configured".into())
        );
        // `all` selecting nothing must not leave an empty undo entry behind.
        let err = world
            .try_line(&alice(), "tree close all broken #infra")
            .expect_err("nothing to close");
        assert_eq!(
            err,
            Error::NotFound(r#""all" selects no tree: no trees are configured"#.into())
        );
        assert_eq!(
            world.try_line(&alice(), "tree undo"),
            Err(Error::NotFound(
                "nothing to undo: the undo stack is empty".into()
            ))
        );
    }

    #[test]
    fn timed_closure_for_a_duration() {
        let mut world = World::with_trees(TREES);
        let outcome = world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        assert!(
            outcome
                .reply
                .starts_with("closed autoland: builds failing [infra] until 2026-11-22 14:00 UTC")
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(
            tree.condition.reason, "builds failing",
            "the deadline is not part of the reason"
        );
        assert_eq!(tree.condition.until, Some(at("14:00")));
        assert_eq!(
            world.state.timers(),
            [
                (at("13:50"), warn("autoland")),
                (at("14:00"), reopen("autoland"))
            ]
        );
    }

    #[test]
    fn timed_closure_until_a_clock_time_in_the_team_zone() {
        let mut world = World::with_trees(TREES);
        world.settings.timezone = "Europe/Berlin".parse().expect("a known zone"); // noon UTC is 13:00 there
        let outcome = world.ok(
            &alice(),
            "tree close try,autoland merge day #merges until 14:00",
        );
        assert!(
            outcome.reply.contains("until 2026-11-22 14:00 CET"),
            "{}",
            outcome.reply
        );
        for name in ["try", "autoland"] {
            assert_eq!(
                world
                    .state
                    .trees
                    .get(name)
                    .expect("a fixture tree")
                    .condition
                    .until,
                Some(at("13:00"))
            );
        }
        let timers = world.state.timers();
        assert_eq!(timers.len(), 4);
        assert!(
            timers.contains(&(at("12:50"), warn("try")))
                && timers.contains(&(at("13:00"), reopen("try")))
        );
        let status = world
            .try_line(&bob(), "tree status try")
            .expect("anyone")
            .reply;
        assert!(
            status.ends_with(", reopens 2026-11-22 14:00 CET"),
            "{status}"
        );
    }

    #[test]
    fn deadline_may_stand_before_or_after_the_tags() {
        for line in [
            "tree close autoland builds failing #infra for 2h",
            "tree close autoland builds failing for 2h #infra",
            "tree close autoland #infra builds failing for 2h",
        ] {
            let mut world = World::with_trees(TREES);
            world.ok(&alice(), line);
            let tree = world.state.trees.get("autoland").expect("a fixture tree");
            assert_eq!(tree.condition.reason, "builds failing", "{line:?}");
            assert_eq!(tree.condition.until, Some(at("14:00")), "{line:?}");
        }
        // A reason that merely contains "for" is not a deadline.
        let mut world = World::with_trees(TREES);
        world.ok(
            &alice(),
            "tree close autoland waiting for coverage #waiting-for-coverage",
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(
            (tree.condition.reason.as_str(), tree.condition.until),
            ("waiting for coverage", None)
        );
    }

    #[test]
    fn bad_deadlines_are_refused_quoting_them() {
        let world = World::with_trees(TREES);
        for (line, needle) in [
            (
                "tree close autoland x #infra for 2x",
                r#"duration "2x" is malformed"#,
            ),
            (
                "tree close autoland x #infra for 400d",
                r#"duration "400d" is longer than 366 days"#,
            ),
            (
                "tree close autoland x #infra until 25:00",
                r#"time "25:00" is malformed"#,
            ),
            (
                "tree close autoland x #infra until 2026-11-01 10:00",
                r#"time "2026-11-01 10:00" is in the past"#,
            ),
        ] {
            let err = world.try_line(&alice(), line).expect_err(line);
            assert!(
                matches!(&err, Error::Invalid(m) if m.starts_with(needle)),
                "{line:?}: {err:?}"
            );
        }
    }

    #[test]
    fn warning_and_reopening_run_when_due_and_once() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        let closing = world.state.trees.stack.clone();

        // Not due yet: nothing happens.
        world.now = at("13:49");
        assert_eq!(world.job(&warn("autoland")), Outcome::default());
        assert_eq!(world.job(&reopen("autoland")), Outcome::default());

        world.now = at("13:50");
        let outcome = world.job(&warn("autoland"));
        assert_eq!(
            tree_change(&outcome),
            &Change::Warned {
                tree: TreeName::new("autoland")
            }
        );
        assert_eq!(
            outcome.announce,
            [Announcement::to(
                AnnounceKind::Trees,
                "autoland reopens at 2026-11-22 14:00 UTC (in 10m); closed by alice: builds failing. \
                 to extend: !tree close autoland builds failing #infra for 1h"
            )]
        );
        assert!(
            world
                .state
                .trees
                .get("autoland")
                .expect("a fixture tree")
                .warned
        );
        assert_eq!(
            world.job(&warn("autoland")),
            Outcome::default(),
            "warned once"
        );
        assert_eq!(world.state.timers(), [(at("14:00"), reopen("autoland"))]);

        world.now = at("13:59");
        assert_eq!(world.job(&reopen("autoland")), Outcome::default());
        world.now = at("14:00");
        let outcome = world.job(&reopen("autoland"));
        let after = Condition {
            reason: "timed closure ended".into(),
            ..Condition::open()
        };
        let Change::Set {
            edits,
            undoable,
            cause,
        } = tree_change(&outcome)
        else {
            panic!("a status change")
        };
        assert_eq!((*undoable, cause), (false, &Cause::Timer));
        assert_eq!(edits.len(), 1);
        assert_eq!(
            (edits[0].before.until, &edits[0].after),
            (Some(at("14:00")), &after)
        );
        assert_eq!(
            outcome.announce,
            [Announcement::to(
                AnnounceKind::Trees,
                "reopened autoland: timed closure ended (closed by alice: builds failing)"
            )]
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(
            (&tree.condition, tree.by.as_deref()),
            (&after, Some("tree-reopen:autoland"))
        );
        assert_eq!(
            world.job(&reopen("autoland")),
            Outcome::default(),
            "reopened once"
        );
        assert_eq!(world.job(&warn("autoland")), Outcome::default());
        assert!(world.state.timers().is_empty());
        assert_eq!(
            world.state.trees.stack, closing,
            "a timer's change is not an undo entry"
        );
    }

    #[test]
    fn a_short_closure_gets_no_warning() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close try quick fix #infra for 5m");
        assert_eq!(world.state.timers(), [(at("12:05"), reopen("try"))]);
    }

    #[test]
    fn no_late_warning_after_downtime() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        world.now = at("15:30"); // the bot was down across both instants
        assert_eq!(
            world.job(&warn("autoland")),
            Outcome::default(),
            "reopens in 0s would help nobody"
        );
        assert!(!world.job(&reopen("autoland")).changes.is_empty());
        assert_eq!(world.status_of("autoland"), Status::Open);
    }

    #[test]
    fn a_new_closure_replaces_the_timer_and_rearms_the_warning() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        world.now = at("13:50");
        world.job(&warn("autoland"));
        world.ok(&alice(), "tree close autoland still failing #infra for 1h");
        assert_eq!(
            world.state.timers(),
            [
                (at("14:40"), warn("autoland")),
                (at("14:50"), reopen("autoland"))
            ]
        );
        world.now = at("14:00");
        assert_eq!(
            world.job(&reopen("autoland")),
            Outcome::default(),
            "the old deadline no longer reopens"
        );
        assert_eq!(world.status_of("autoland"), Status::Closed);
    }

    #[test]
    fn opening_ends_a_timed_closure() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        let outcome = world.ok(&alice(), "tree open autoland");
        assert!(
            outcome
                .reply
                .starts_with("opened autoland (undo with !tree undo 3)"),
            "{}",
            outcome.reply
        );
        assert!(world.state.timers().is_empty());
        world.now = at("14:00");
        assert_eq!(world.job(&reopen("autoland")), Outcome::default());
        assert_eq!(world.job(&reopen("no-such-tree")), Outcome::default());
    }

    #[test]
    fn approval_and_open_set_their_status() {
        let mut world = World::with_trees(TREES);
        let outcome = world.ok(
            &alice(),
            "tree approval mozilla-beta release candidate #planned",
        );
        assert!(
            outcome
                .reply
                .starts_with("set approval required on mozilla-beta: release candidate [planned]")
        );
        assert_eq!(world.status_of("mozilla-beta"), Status::ApprovalRequired);
        let outcome = world.ok(&alice(), "tree open mozilla-beta,try fixed by backout");
        assert!(
            outcome
                .reply
                .starts_with("opened mozilla-beta, try: fixed by backout")
        );
        let tree = world
            .state
            .trees
            .get("mozilla-beta")
            .expect("a fixture tree");
        assert_eq!(
            (tree.condition.status, tree.condition.reason.as_str()),
            (Status::Open, "fixed by backout")
        );
        assert_eq!(world.state.trees.stack.len(), 2);
    }

    #[test]
    fn undo_list_shows_the_stack_newest_first_to_anyone() {
        let mut world = World::with_trees(TREES);
        assert_eq!(
            world.ok(&guest(), "tree undo list").reply,
            "the undo stack is empty"
        );
        let first = world.next_id();
        world.ok(&alice(), "tree close autoland,try builds failing #infra");
        world.advance(Duration::minutes(5));
        let second = world.next_id();
        world.ok(&carol(), "tree open try");
        let outcome = world.ok(&guest(), "tree undo LIST");
        assert!(outcome.changes.is_empty() && outcome.announce.is_empty());
        assert_eq!(
            outcome.reply,
            format!(
                "undo stack, newest first (!tree undo ID restores one):\n\
                 #{second} 2026-11-22 12:05 UTC carol: try → open\n\
                 #{first} 2026-11-22 12:00 UTC alice: autoland, try → closed (\"builds failing\") [infra]"
            )
        );
        let words = crate::words::split("tree undo last").expect("words");
        let err = crate::parse(&words, "!").expect_err("neither an id nor list");
        assert!(err.to_string().contains("invalid value 'last'"), "{err}");
    }

    #[test]
    fn undo_restores_every_tree_of_the_entry_and_drops_it() {
        let mut world = World::with_trees(TREES);
        let first = world.next_id();
        world.ok(&alice(), "tree close autoland,try builds failing #infra");
        let second = world.next_id();
        world.ok(
            &carol(),
            "tree approval mozilla-beta release candidate #planned",
        );

        let outcome = world.ok(&alice(), &format!("tree undo {first}"));
        assert_eq!(
            outcome.reply,
            format!("undid {first} by alice: restored autoland to open, try to open")
        );
        assert_eq!(
            outcome.announce,
            [Announcement::to(
                AnnounceKind::Trees,
                format!("alice {}", outcome.reply)
            )]
        );
        let Change::Set {
            edits,
            undoable,
            cause,
        } = tree_change(&outcome)
        else {
            panic!("a status change")
        };
        assert_eq!((*undoable, cause), (false, &Cause::Undo { entry: first }));
        assert_eq!(edits.len(), 2);
        assert!(closed(&world).is_empty());
        assert_eq!(
            world.status_of("mozilla-beta"),
            Status::ApprovalRequired,
            "another entry's tree is untouched"
        );
        let ids: Vec<EventId> = world.state.trees.stack.iter().map(|e| e.id).collect();
        assert_eq!(ids, [second]);

        // Without an id, the latest entry.
        let outcome = world.ok(&alice(), "tree undo");
        assert!(
            outcome
                .reply
                .starts_with(&format!("undid {second} by carol")),
            "{}",
            outcome.reply
        );
        assert_eq!(world.status_of("mozilla-beta"), Status::Open);
        assert!(world.state.trees.stack.is_empty());
        assert_eq!(
            world.try_line(&alice(), "tree undo"),
            Err(Error::NotFound(
                "nothing to undo: the undo stack is empty".into()
            ))
        );
        assert_eq!(
            world.try_line(&alice(), &format!("tree undo {first}")),
            Err(Error::NotFound(format!(
                r#"undo entry "{first}" is not on the undo stack; it is empty"#
            )))
        );
    }

    #[test]
    fn undo_restores_the_condition_before_not_just_open() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 2h");
        let before = world
            .state
            .trees
            .get("autoland")
            .expect("a fixture tree")
            .condition
            .clone();
        world.advance(Duration::minutes(5));
        world.ok(
            &alice(),
            "tree close autoland tests failing too #checkin-test",
        );
        let outcome = world.ok(&alice(), "tree undo");
        assert!(
            outcome
                .reply
                .ends_with(r#"restored autoland to closed ("builds failing") [infra]"#),
            "{}",
            outcome.reply
        );
        let tree = world.state.trees.get("autoland").expect("a fixture tree");
        assert_eq!(
            tree.condition, before,
            "reason, tags and deadline come back"
        );
        assert_eq!(
            world.state.timers().last(),
            Some(&(at("14:00"), reopen("autoland")))
        );
    }

    #[test]
    fn undo_after_a_later_change_is_a_conflict_and_changes_nothing() {
        let mut world = World::with_trees(TREES);
        let entry = world.next_id();
        world.ok(&alice(), "tree close autoland,try builds failing #infra");
        world.ok(&carol(), "tree open try fixed");
        let before = (world.state.clone(), world.history.len());
        let err = world
            .run(&alice(), &format!("tree undo {entry}"))
            .expect_err("try changed since");
        assert_eq!(
            err,
            Error::Conflict(format!(
                r#"cannot undo {entry}: try is now open ("fixed") by carol, not as entry {entry} left it; nothing changed"#
            ))
        );
        assert_eq!(
            (world.state.clone(), world.history.len()),
            before,
            "no change, no event"
        );

        // A timer's reopening is a later change too.
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland builds failing #infra for 1h");
        world.now = at("13:00");
        world.job(&reopen("autoland"));
        let err = world
            .try_line(&alice(), "tree undo")
            .expect_err("reopened since");
        assert!(
            matches!(&err, Error::Conflict(m) if m.contains(r#"autoland is now open ("timed closure ended") by tree-reopen:autoland"#)),
            "{err:?}"
        );
    }

    #[test]
    fn undo_of_an_unknown_entry_lists_the_stack() {
        let mut world = World::with_trees(TREES);
        world.ok(&alice(), "tree close autoland x #infra");
        world.ok(&alice(), "tree close try y #infra");
        assert_eq!(
            world.try_line(&alice(), "tree undo 99"),
            Err(Error::NotFound(
                r#"undo entry "99" is not on the undo stack; it holds 3, 2"#.into()
            ))
        );
    }

    #[test]
    fn log_lists_history_newest_first() {
        let mut world = World::with_trees(TREES);
        world.ok(
            &alice(),
            "tree close autoland,try builds failing #checkin-compilation",
        );
        world.advance(Duration::minutes(30));
        world.ok(&carol(), "tree approval autoland landing with care");
        world.advance(Duration::minutes(30));
        world.ok(&alice(), r#"tree motd autoland "not a status change""#);
        world.ok(&alice(), "tree open autoland");
        world.advance(Duration::minutes(1));
        world.ok(&alice(), "tree undo");

        let reply = world
            .try_line(&bob(), "tree log autoland")
            .expect("anyone")
            .reply;
        assert_eq!(
            reply,
            "history of autoland, newest first:\n\
             #6 2026-11-22 13:01 UTC alice approval required: landing with care\n\
             #5 2026-11-22 13:00 UTC alice open\n\
             #3 2026-11-22 12:30 UTC carol approval required: landing with care\n\
             #2 2026-11-22 12:00 UTC alice closed: builds failing [checkin-compilation]"
        );
        let reply = world
            .try_line(&bob(), "tree log autoland 2")
            .expect("anyone")
            .reply;
        assert_eq!(
            reply.lines().skip(1).map(|l| &l[..2]).collect::<Vec<_>>(),
            ["#6", "#5"]
        );
        let reply = world
            .try_line(&bob(), "tree log try")
            .expect("anyone")
            .reply;
        assert_eq!(reply.lines().count(), 2, "only try's own entry:\n{reply}");
        assert_eq!(
            world
                .try_line(&bob(), "tree log mozilla-beta")
                .expect("anyone")
                .reply,
            "mozilla-beta has no history yet"
        );

        // Every tree's entries, for `/logs_all`.
        let all = log(&world.history, None, 100);
        let ids: Vec<(u64, &str)> = all.iter().map(|e| (e.id.0, e.tree.as_str())).collect();
        assert_eq!(
            ids,
            [
                (6, "autoland"),
                (5, "autoland"),
                (3, "autoland"),
                (2, "autoland"),
                (2, "try")
            ]
        );
    }

    #[test]
    fn log_in_the_team_zone() {
        let mut world = World::with_trees(TREES);
        world.settings.timezone = "America/New_York".parse().expect("a known zone");
        world.ok(&alice(), "tree close try x #infra");
        let reply = world
            .try_line(&bob(), "tree log try")
            .expect("anyone")
            .reply;
        assert!(
            reply.ends_with("#2 2026-11-22 07:00 EST alice closed: x [infra]"),
            "{reply}"
        );
    }

    #[test]
    fn motd_is_set_and_cleared_without_an_undo_entry() {
        let mut world = World::with_trees(TREES);
        let outcome = world.ok(
            &alice(),
            r#"tree motd try "please use --rebuild sparingly""#,
        );
        assert_eq!(
            outcome.reply,
            "message of the day of try: please use --rebuild sparingly"
        );
        assert_eq!(
            tree_change(&outcome),
            &Change::Motd {
                tree: TreeName::new("try"),
                text: "please use --rebuild sparingly".into()
            }
        );
        assert!(outcome.announce.is_empty());
        let tree = world.state.trees.get("try").expect("a fixture tree");
        assert_eq!(
            (tree.motd.as_str(), tree.log_id),
            ("please use --rebuild sparingly", None)
        );
        assert!(world.state.trees.stack.is_empty());
        let status = world
            .try_line(&bob(), "tree status try")
            .expect("anyone")
            .reply;
        assert_eq!(status, "try: open | motd: please use --rebuild sparingly");

        let outcome = world.ok(&alice(), "tree motd try several words here");
        assert_eq!(
            outcome.reply,
            "message of the day of try: several words here"
        );
        let outcome = world.ok(&alice(), r#"tree motd try """#);
        assert_eq!(outcome.reply, "cleared the message of the day of try");
        assert_eq!(
            world.state.trees.get("try").expect("a fixture tree").motd,
            ""
        );
        assert_eq!(
            world
                .try_line(&bob(), "tree status try")
                .expect("anyone")
                .reply,
            "try: open"
        );
    }

    #[test]
    fn status_shows_state_reason_tags_who_since_and_deadline() {
        let mut world = World::with_trees(TREES);
        world.ok(
            &alice(),
            "tree close autoland builds failing #checkin-compilation #infra for 3h",
        );
        world.advance(Duration::minutes(90));
        let all = world.try_line(&bob(), "tree").expect("anyone").reply;
        assert_eq!(
            all,
            "autoland: closed — builds failing [checkin-compilation, infra] (by alice 1h 30m ago), reopens 2026-11-22 15:00 UTC\n\
             mozilla-beta: open\n\
             mozilla-central: open\n\
             try: open"
        );
        let some = world
            .try_line(&bob(), "tree show try mozilla-*")
            .expect("anyone")
            .reply;
        assert_eq!(some, "try: open\nmozilla-beta: open\nmozilla-central: open");
    }

    #[test]
    fn replies_use_the_configured_prefix() {
        let mut world = World::with_trees(TREES);
        world.settings.prefix = ".".into();
        let outcome = world.ok(&alice(), "tree close autoland broken #infra for 1h");
        assert!(
            outcome.reply.ends_with("(undo with .tree undo 2)"),
            "{}",
            outcome.reply
        );
        world.now = at("12:50");
        let outcome = world.job(&warn("autoland"));
        let [
            Announcement {
                to: Audience::Kind(AnnounceKind::Trees),
                text,
            },
        ] = outcome.announce.as_slice()
        else {
            panic!("one announcement to the trees channels: {outcome:?}")
        };
        assert!(
            text.ends_with("to extend: .tree close autoland broken #infra for 1h"),
            "{text}"
        );
        let err = world
            .try_line(&alice(), "tree close try #infra")
            .expect_err("no reason");
        assert!(
            err.to_string()
                .contains(r#"".tree close try builds failing #infra""#),
            "{err}"
        );
    }

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
