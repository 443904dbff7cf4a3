//! Trains: the weekly deployment train. The conductor starts a version at the
//! first configured group and promotes it group by group (`group0 → group1 →
//! all`); anyone may report a blocker task, and the conductor or a deployer
//! may hold the train on one. Promotion is refused while the train is held or
//! a blocker is open, and the refusal says which, because "why can't we roll"
//! is the question the channel asks most.
//!
//! The state keeps the running train (with its own timeline) and the trains
//! before it, so `GET /api/v1/train` can answer in the `current`/`history`
//! shape that train-blockers tools expect.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::role::{Permit, Role};
use crate::task::TaskRef;
use crate::when::{format_duration, format_instant};
use crate::{AnnounceKind, Announcement, Context, Error, Outcome};

/// How many finished trains are kept in the state.
pub const HISTORY_LIMIT: usize = 52;

/// Groups used when `[train] groups` is not configured.
pub const DEFAULT_GROUPS: &[&str] = &["group0", "group1", "all"];

/// Start, promote, hold and inspect the deployment train.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !train\n  !train start 1.44.0-wmf.3\n  !train hold T123 login broken on group1\n  !train blocker add T124 search results empty\n  !train promote"
)]
pub enum Train {
    /// Show the train: version, group reached, state, conductor, open blockers.
    Status,
    /// Start a new train at the first group (the previous one goes to history).
    #[command(after_help = "example:\n  !train start 1.44.0-wmf.3")]
    Start {
        /// The version, e.g. `1.44.0-wmf.3`.
        version: String,
    },
    /// Promote the train to the next group, or to GROUP; refused while held or blocked.
    #[command(after_help = "examples:\n  !train promote\n  !train promote all")]
    Promote {
        /// A later group than the one reached (default: the next one).
        group: Option<String>,
    },
    /// Hold the train on a blocker task (added as a blocker if it is not one yet).
    #[command(after_help = "example:\n  !train hold T123 login broken on group1")]
    Hold {
        /// The blocker task(s): `T123`, `T1,T2`, or a quoted `"bug 456"`.
        task: String,
        /// Why.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Lift the hold (blockers stay open until removed, or `--clear` the hold's own).
    #[command(
        after_help = "examples:\n  !train resume fix deployed\n  !train resume --clear fix deployed"
    )]
    Resume {
        /// Also remove the blockers the hold added (after a resume: those still open).
        #[arg(long)]
        clear: bool,
        #[arg(trailing_var_arg = true)]
        reason: Vec<String>,
    },
    /// Add or remove a blocker task of the running train.
    #[command(
        after_help = "examples:\n  !train blocker add T124 search results empty\n  !train blocker remove T124 fixed"
    )]
    Blocker {
        action: BlockerAction,
        /// The task: `T123`, or a quoted `"bug 456"`.
        task: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlockerAction {
    Add,
    Remove,
}

/// Who may hold and resume.
const HOLDERS: &[Role] = &[Role::Conductor, Role::Deployer];

impl Train {
    pub fn permit(&self) -> Permit {
        match self {
            Train::Status => Permit::Anyone,
            Train::Start { .. } | Train::Promote { .. } => Permit::Role(Role::Conductor),
            Train::Hold { .. } | Train::Resume { .. } => Permit::AnyRole(HOLDERS),
            Train::Blocker {
                action: BlockerAction::Add,
                ..
            } => Permit::Identified,
            Train::Blocker {
                action: BlockerAction::Remove,
                ..
            } => Permit::Role(Role::Conductor),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Train::Status => "status",
            Train::Start { .. } => "start",
            Train::Promote { .. } => "promote",
            Train::Hold { .. } => "hold",
            Train::Resume { .. } => "resume",
            Train::Blocker {
                action: BlockerAction::Add,
                ..
            } => "blocker add",
            Train::Blocker {
                action: BlockerAction::Remove,
                ..
            } => "blocker remove",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainState {
    Rolling,
    Held,
    Done,
    /// Replaced by a newer train before reaching the last group.
    Superseded,
}

impl TrainState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrainState::Rolling => "rolling",
            TrainState::Held => "held",
            TrainState::Done => "done",
            TrainState::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub tasks: Vec<TaskRef>,
    pub reason: String,
    pub by: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub task: TaskRef,
    pub reason: String,
    pub by: String,
    pub since: DateTime<Utc>,
}

/// One step of a train's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub by: String,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainRun {
    pub version: String,
    /// The group reached.
    pub group: String,
    pub state: TrainState,
    pub conductor: String,
    pub started: DateTime<Utc>,
    pub hold: Option<Hold>,
    /// The task ids of the latest hold, kept after it is lifted, for
    /// `train resume --clear`.
    #[serde(default)]
    pub last_hold: Vec<String>,
    /// Open blockers by task id.
    pub blockers: BTreeMap<String, Blocker>,
    pub timeline: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Start { version: String, group: String },
    Promote { group: String, done: bool },
    Hold { tasks: Vec<TaskRef>, reason: String },
    Resume { reason: String },
    BlockerAdd { task: TaskRef, reason: String },
    BlockerRemove { task: String, reason: String },
}

/// The train family's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trains {
    pub current: Option<TrainRun>,
    /// Earlier trains, oldest first.
    pub history: Vec<TrainRun>,
}

impl Trains {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        let by = event.actor.name().to_string();
        let at = event.at;
        if let Change::Start { version, group } = change {
            if let Some(mut old) = self.current.take() {
                if old.state != TrainState::Done {
                    old.state = TrainState::Superseded;
                }
                self.history.push(old);
                let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
                self.history.drain(..excess);
            }
            self.current = Some(TrainRun {
                version: version.clone(),
                group: group.clone(),
                state: TrainState::Rolling,
                conductor: by.clone(),
                started: at,
                hold: None,
                last_hold: Vec::new(),
                blockers: BTreeMap::new(),
                timeline: vec![Step {
                    at,
                    by,
                    what: format!("started {version} at {group}"),
                }],
            });
            return;
        }
        let Some(train) = self.current.as_mut() else {
            return;
        };
        let what = match change {
            Change::Start { .. } => return,
            Change::Promote { group, done } => {
                train.group = group.clone();
                if *done {
                    train.state = TrainState::Done;
                }
                format!("promoted to {group}")
            }
            Change::Hold { tasks, reason } => {
                for task in tasks {
                    train
                        .blockers
                        .entry(task.id.clone())
                        .or_insert_with(|| Blocker {
                            task: task.clone(),
                            reason: reason.clone(),
                            by: by.clone(),
                            since: at,
                        });
                }
                train.state = TrainState::Held;
                train.last_hold = tasks.iter().map(|t| t.id.clone()).collect();
                train.hold = Some(Hold {
                    tasks: tasks.clone(),
                    reason: reason.clone(),
                    by: by.clone(),
                    since: at,
                });
                format!("held on {}: {reason}", ids(tasks))
            }
            Change::Resume { reason } => {
                train.hold = None;
                train.state = TrainState::Rolling;
                with_reason("resumed", reason)
            }
            Change::BlockerAdd { task, reason } => {
                train.blockers.insert(
                    task.id.clone(),
                    Blocker {
                        task: task.clone(),
                        reason: reason.clone(),
                        by: by.clone(),
                        since: at,
                    },
                );
                with_reason(&format!("blocker {} added", task.id), reason)
            }
            Change::BlockerRemove { task, reason } => {
                train.blockers.remove(task);
                with_reason(&format!("blocker {task} removed"), reason)
            }
        };
        train.timeline.push(Step { at, by, what });
    }
}

fn ids(tasks: &[TaskRef]) -> String {
    tasks
        .iter()
        .map(|t| t.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn with_reason(what: &str, reason: &str) -> String {
    if reason.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {reason}")
    }
}

/// The tasks named by a TASK argument: every part must be a task reference.
fn tasks_of(text: &str, ctx: &Context, verb: &str) -> Result<Vec<TaskRef>, Error> {
    let mut tasks: Vec<TaskRef> = Vec::new();
    for part in text.split(',').map(str::trim) {
        let found = ctx.settings.tasks.find(part);
        let whole = found.first().filter(|t| t.id.len() == part.len());
        let Some(task) = whole else {
            return Err(Error::invalid(format!(
                "train {verb} needs a task first, e.g. \"{}train {verb} T123 …\"; \"{part}\" is not a task reference",
                ctx.settings.prefix
            )));
        };
        if !tasks.iter().any(|t| t.id.eq_ignore_ascii_case(&task.id)) {
            tasks.push(task.clone());
        }
    }
    Ok(tasks)
}

fn running<'a>(trains: &'a Trains, ctx: &Context) -> Result<&'a TrainRun, Error> {
    match &trains.current {
        Some(t) if t.state != TrainState::Done => Ok(t),
        Some(t) => Err(Error::conflict(format!(
            "train {} is done (reached {}); start the next with {}train start VERSION",
            t.version, t.group, ctx.settings.prefix
        ))),
        None => Err(Error::not_found(format!(
            "no train is running; start one with {}train start VERSION",
            ctx.settings.prefix
        ))),
    }
}

pub fn handle(cmd: &Train, ctx: &Context, trains: &Trains) -> Result<Outcome, Error> {
    let groups = &ctx.settings.train_groups;
    let me = ctx.caller.name();
    match cmd {
        Train::Status => Ok(Outcome::reply(status(ctx, trains))),
        Train::Start { version } => {
            let valid = !version.is_empty()
                && version.len() <= 64
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
            if !valid {
                return Err(Error::invalid(format!(
                    "version \"{version}\" is malformed; use letters, digits and - _ . + (e.g. 1.44.0-wmf.3)"
                )));
            }
            if let Some(t) = &trains.current
                && t.version == *version
                && t.state != TrainState::Done
            {
                return Err(Error::conflict(format!(
                    "train {version} is already running (at {})",
                    t.group
                )));
            }
            let first = groups
                .first()
                .cloned()
                .ok_or_else(|| Error::invalid("no train groups are configured"))?;
            let text = format!("started train {version} at {first}");
            Ok(Outcome::reply(text.clone())
                .change(crate::Change::Train(Change::Start {
                    version: version.clone(),
                    group: first,
                }))
                .announce(Announcement::to(
                    AnnounceKind::Train,
                    format!("{me} {text}"),
                )))
        }
        Train::Promote { group } => {
            let train = running(trains, ctx)?;
            let mut why = Vec::new();
            if let Some(hold) = &train.hold {
                why.push(format!(
                    "it is held on {} by {}: {}",
                    ids(&hold.tasks),
                    hold.by,
                    hold.reason
                ));
            }
            if !train.blockers.is_empty() {
                let list: Vec<&str> = train.blockers.keys().map(String::as_str).collect();
                why.push(format!("blockers are open: {}", list.join(", ")));
            }
            if !why.is_empty() {
                return Err(Error::conflict(format!(
                    "cannot promote train {}: {}",
                    train.version,
                    why.join("; ")
                )));
            }
            let at = groups.iter().position(|g| *g == train.group).unwrap_or(0);
            let target = match group {
                None => groups.get(at + 1).cloned().ok_or_else(|| {
                    Error::conflict(format!(
                        "train {} already reached the last group, {}",
                        train.version, train.group
                    ))
                })?,
                Some(g) => {
                    let Some(i) = groups.iter().position(|x| x.eq_ignore_ascii_case(g)) else {
                        return Err(Error::not_found(format!(
                            "group \"{g}\" is unknown; groups are: {}",
                            groups.join(", ")
                        )));
                    };
                    if i <= at {
                        return Err(Error::conflict(format!(
                            "train {} is already at {}; promote to a later group ({})",
                            train.version,
                            train.group,
                            groups[at + 1..].join(", ")
                        )));
                    }
                    groups[i].clone()
                }
            };
            let done = groups.last() == Some(&target);
            let text = format!("promoted train {} to {target}", train.version);
            Ok(Outcome::reply(text.clone())
                .change(crate::Change::Train(Change::Promote {
                    group: target,
                    done,
                }))
                .announce(Announcement::to(
                    AnnounceKind::Train,
                    format!("{me} {text}"),
                )))
        }
        Train::Hold { task, reason } => {
            let tasks = tasks_of(task, ctx, "hold")?;
            let train = running(trains, ctx)?;
            if let Some(hold) = &train.hold {
                return Err(Error::conflict(format!(
                    "train {} is already held on {} by {}; resume it first",
                    train.version,
                    ids(&hold.tasks),
                    hold.by
                )));
            }
            let reason = reason.join(" ");
            let text = format!(
                "held train {} at {} on {}: {reason}",
                train.version,
                train.group,
                ids(&tasks)
            );
            Ok(Outcome::reply(text.clone())
                .change(crate::Change::Train(Change::Hold { tasks, reason }))
                .announce(Announcement::to(
                    AnnounceKind::Train,
                    format!("{me} {text}"),
                )))
        }
        Train::Resume { clear, reason } => {
            let train = running(trains, ctx)?;
            let held = train.hold.is_some();
            // The hold's own tasks still open as blockers.
            let own: Vec<String> = train
                .blockers
                .keys()
                .filter(|k| train.last_hold.contains(k))
                .cloned()
                .collect();
            let clearable = *clear && !own.is_empty();
            if !held && !clearable {
                return Err(Error::conflict(format!(
                    "train {} is not held{}",
                    train.version,
                    if *clear {
                        " and no blocker of its last hold is open"
                    } else {
                        ""
                    }
                )));
            }
            let reason = reason.join(" ");
            let mut changes = Vec::new();
            let mut text = if held {
                changes.push(Change::Resume {
                    reason: reason.clone(),
                });
                with_reason(&format!("resumed train {}", train.version), &reason)
            } else {
                with_reason(&format!("cleared train {}", train.version), &reason)
            };
            if *clear {
                for task in &own {
                    changes.push(Change::BlockerRemove {
                        task: task.clone(),
                        reason: reason.clone(),
                    });
                }
                if !own.is_empty() {
                    text.push_str(&format!(" and removed blockers {}", own.join(", ")));
                }
            }
            let open: Vec<&str> = train
                .blockers
                .keys()
                .filter(|k| !(*clear && own.contains(k)))
                .map(String::as_str)
                .collect();
            if !open.is_empty() && !*clear && open.iter().all(|k| own.iter().any(|o| o == k)) {
                text.push_str(&format!(
                    " (blockers still open: {}, the hold's own; close them in one go with {}train resume --clear)",
                    open.join(", "),
                    ctx.settings.prefix
                ));
            } else if !open.is_empty() {
                text.push_str(&format!(
                    " (blockers still open: {}; remove them with {}train blocker remove TASK)",
                    open.join(", "),
                    ctx.settings.prefix
                ));
            }
            let outcome = changes
                .into_iter()
                .fold(Outcome::reply(text.clone()), |o, c| {
                    o.change(crate::Change::Train(c))
                });
            Ok(outcome.announce(Announcement::to(
                AnnounceKind::Train,
                format!("{me} {text}"),
            )))
        }
        Train::Blocker {
            action,
            task,
            reason,
        } => {
            let verb = match action {
                BlockerAction::Add => "blocker add",
                BlockerAction::Remove => "blocker remove",
            };
            let mut tasks = tasks_of(task, ctx, verb)?;
            if tasks.len() != 1 {
                return Err(Error::invalid(format!(
                    "train {verb} takes one task; \"{task}\" names {}",
                    tasks.len()
                )));
            }
            let task = tasks.remove(0);
            let train = running(trains, ctx)?;
            let reason = reason.join(" ");
            let known = train
                .blockers
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&task.id))
                .cloned();
            let (change, text) = match (action, known) {
                (BlockerAction::Add, Some(k)) => {
                    return Err(Error::conflict(format!(
                        "{k} is already a blocker of train {}",
                        train.version
                    )));
                }
                (BlockerAction::Add, None) => (
                    Change::BlockerAdd {
                        task: task.clone(),
                        reason: reason.clone(),
                    },
                    with_reason(
                        &format!("added blocker {} to train {}", task.id, train.version),
                        &reason,
                    ),
                ),
                (BlockerAction::Remove, None) => {
                    let open: Vec<&str> = train.blockers.keys().map(String::as_str).collect();
                    return Err(Error::not_found(format!(
                        "\"{}\" is not a blocker of train {}; open blockers: {}",
                        task.id,
                        train.version,
                        if open.is_empty() {
                            "none".to_string()
                        } else {
                            open.join(", ")
                        }
                    )));
                }
                (BlockerAction::Remove, Some(k)) => (
                    Change::BlockerRemove {
                        task: k.clone(),
                        reason: reason.clone(),
                    },
                    with_reason(
                        &format!("removed blocker {k} from train {}", train.version),
                        &reason,
                    ),
                ),
            };
            Ok(Outcome::reply(text.clone())
                .change(crate::Change::Train(change))
                .announce(Announcement::to(
                    AnnounceKind::Train,
                    format!("{me} {text}"),
                )))
        }
    }
}

fn status(ctx: &Context, trains: &Trains) -> String {
    let tz = ctx.zone;
    let Some(t) = &trains.current else {
        return format!(
            "no train is running; start one with {}train start VERSION",
            ctx.settings.prefix
        );
    };
    let mut s = format!(
        "train {}: {} at {} (groups: {}), conductor {}, started {}",
        t.version,
        t.state.as_str(),
        t.group,
        ctx.settings.train_groups.join(" → "),
        t.conductor,
        format_instant(t.started, tz)
    );
    if let Some(h) = &t.hold {
        s.push_str(&format!(
            "\nheld on {} by {} {} ago: {}",
            ids(&h.tasks),
            h.by,
            format_duration(ctx.now - h.since),
            h.reason
        ));
    }
    if t.blockers.is_empty() {
        s.push_str("\nno open blockers");
    } else {
        s.push_str("\nopen blockers:");
        for b in t.blockers.values() {
            s.push_str(&format!("\n  {} — ", b.task.id));
            if !b.reason.is_empty() {
                s.push_str(&format!("{} ", b.reason));
            }
            s.push_str(&format!("(by {})", b.by));
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tests::{World, bob, guest};
    use crate::{Caller, Command, PersonId};

    pub(crate) fn dave() -> Caller {
        Caller::person(PersonId::new("dave"), [Role::Conductor])
    }

    fn erin() -> Caller {
        Caller::person(PersonId::new("erin"), [Role::Deployer])
    }

    /// One command of every train variant, with its permit.
    pub(crate) fn variants() -> Vec<(Command, Permit)> {
        let t = Command::Train;
        let blocker = |action| Train::Blocker {
            action,
            task: "T1".into(),
            reason: vec![],
        };
        vec![
            (t(Train::Status), Permit::Anyone),
            (
                t(Train::Start {
                    version: "1.0".into(),
                }),
                Permit::Role(Role::Conductor),
            ),
            (
                t(Train::Promote { group: None }),
                Permit::Role(Role::Conductor),
            ),
            (
                t(Train::Hold {
                    task: "T1".into(),
                    reason: vec!["x".into()],
                }),
                Permit::AnyRole(HOLDERS),
            ),
            (
                t(Train::Resume {
                    clear: false,
                    reason: vec![],
                }),
                Permit::AnyRole(HOLDERS),
            ),
            (t(blocker(BlockerAction::Add)), Permit::Identified),
            (
                t(blocker(BlockerAction::Remove)),
                Permit::Role(Role::Conductor),
            ),
        ]
    }

    fn current(world: &World) -> &TrainRun {
        world.state.trains.current.as_ref().expect("a train")
    }

    #[test]
    fn start_promote_through_the_groups_to_done() {
        let mut w = World::empty();
        assert!(
            w.try_line(&bob(), "train")
                .expect("anyone")
                .reply
                .starts_with("no train is running")
        );
        let o = w.ok(&dave(), "train start 1.44.0-wmf.3");
        assert_eq!(o.reply, "started train 1.44.0-wmf.3 at group0");
        assert_eq!(
            o.announce,
            [Announcement::to(
                AnnounceKind::Train,
                "dave started train 1.44.0-wmf.3 at group0"
            )]
        );
        assert_eq!(
            w.ok(&dave(), "train promote").reply,
            "promoted train 1.44.0-wmf.3 to group1"
        );
        let err = w
            .try_line(&dave(), "train promote group0")
            .expect_err("back");
        assert!(err.to_string().contains("already at group1"), "{err}");
        let err = w
            .try_line(&dave(), "train promote nope")
            .expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "group \"nope\" is unknown; groups are: group0, group1, all"
        );
        w.ok(&dave(), "train promote all");
        assert_eq!(current(&w).state, TrainState::Done);
        let err = w.try_line(&dave(), "train promote").expect_err("done");
        assert!(err.to_string().contains("is done"), "{err}");
        // A new train moves the old one to history.
        w.ok(&dave(), "train start 1.44.0-wmf.4");
        assert_eq!(w.state.trains.history.len(), 1);
        assert_eq!(w.state.trains.history[0].timeline.len(), 3);
    }

    #[test]
    fn promote_is_refused_while_held_or_blocked_saying_which() {
        let mut w = World::empty();
        w.ok(&dave(), "train start 1.0");
        w.ok(&bob(), "train blocker add T9 search empty");
        let before = (w.state.clone(), w.history.len());
        let err = w.run(&dave(), "train promote").expect_err("blocked");
        assert_eq!(
            err,
            Error::Conflict("cannot promote train 1.0: blockers are open: T9".into())
        );
        assert_eq!((w.state.clone(), w.history.len()), before);
        let o = w.ok(&erin(), "train hold T123 login broken");
        assert_eq!(o.reply, "held train 1.0 at group0 on T123: login broken");
        let err = w.try_line(&dave(), "train promote").expect_err("held");
        assert_eq!(
            err.to_string(),
            "cannot promote train 1.0: it is held on T123 by erin: login broken; blockers are open: T123, T9"
        );
        let status = w.try_line(&guest(), "train status").expect("anyone").reply;
        assert!(status.contains("train 1.0: held at group0"), "{status}");
        assert!(status.contains("held on T123 by erin"), "{status}");
        assert!(status.contains("T9 — search empty (by bob)"), "{status}");
        let o = w.ok(&dave(), "train resume fixed");
        assert!(
            o.reply
                .starts_with("resumed train 1.0: fixed (blockers still open: T123, T9")
        );
        w.ok(&dave(), "train blocker remove T123");
        w.ok(&dave(), "train blocker remove T9");
        assert_eq!(
            w.ok(&dave(), "train promote").reply,
            "promoted train 1.0 to group1"
        );
    }

    #[test]
    fn resume_offers_and_clear_closes_the_holds_own_blockers() {
        let mut w = World::empty();
        w.ok(&dave(), "train start 1.0");
        w.ok(&erin(), "train hold T1,T2 login broken");
        let o = w.ok(&dave(), "train resume fixed");
        assert_eq!(
            o.reply,
            "resumed train 1.0: fixed (blockers still open: T1, T2, the hold's own; close them in one go with !train resume --clear)"
        );
        let o = w.ok(&dave(), "train resume --clear");
        assert_eq!(o.reply, "cleared train 1.0 and removed blockers T1, T2");
        assert!(current(&w).blockers.is_empty());
        assert_eq!(
            w.run(&dave(), "train resume --clear")
                .expect_err("nothing left")
                .to_string(),
            "train 1.0 is not held and no blocker of its last hold is open"
        );
        // Held again with another blocker open: --clear takes only the hold's own.
        w.ok(&bob(), "train blocker add T9 search empty");
        w.ok(&erin(), "train hold T3 again");
        let o = w.ok(&dave(), "train resume --clear fixed");
        assert_eq!(
            o.reply,
            "resumed train 1.0: fixed and removed blockers T3 (blockers still open: T9; remove them with !train blocker remove TASK)"
        );
        assert_eq!(o.changes.len(), 2, "one event");
        assert_eq!(current(&w).state, TrainState::Rolling);
        assert_eq!(current(&w).blockers.keys().collect::<Vec<_>>(), ["T9"]);
    }

    #[test]
    fn bad_input_changes_nothing() {
        let mut w = World::empty();
        w.ok(&dave(), "train start 1.0");
        let before = (w.state.clone(), w.history.len());
        let cases = [
            ("train hold login broken", "train hold needs a task first"),
            ("train resume", "train 1.0 is not held"),
            (
                "train blocker remove T5",
                "\"T5\" is not a blocker of train 1.0",
            ),
            (
                "train start bad/version",
                "version \"bad/version\" is malformed",
            ),
            ("train start 1.0", "train 1.0 is already running"),
        ];
        for (line, want) in cases {
            let err = w.run(&dave(), line).expect_err(line);
            assert!(err.to_string().contains(want), "{line}: {err}");
            assert_eq!((w.state.clone(), w.history.len()), before, "{line}");
        }
        let err = w.run(&bob(), "train hold T1 x").expect_err("role");
        assert_eq!(
            err.to_string(),
            "train hold needs role \"conductor\" or role \"deployer\"; bob holds no role"
        );
        let err = w
            .run(&guest(), "train blocker add T1 x")
            .expect_err("guest");
        assert!(err.to_string().contains("needs an identified account"));
    }

    #[test]
    fn quoted_bug_reference_is_a_task() {
        let mut w = World::empty();
        w.ok(&dave(), "train start 1.0");
        w.ok(&dave(), r#"train hold "bug 456,T1" crash"#);
        let hold = current(&w).hold.as_ref().expect("held");
        let tasks: Vec<&str> = hold.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(tasks, ["bug 456", "T1"]);
    }
}
