//! Meetings and their minutes, in the MeetBot tradition: whoever is on shift
//! sits in the other teams' meetings and reports back what was decided and
//! who owes what. A meeting runs in one channel; `info`, `agreed` and
//! `action` said there while it runs become its minutes, which are stored
//! in the ledger and served at `/meetings/{id}`. Action items outlive the
//! meeting: they are listed until done and appear in every handoff digest.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::{ChannelAddr, PersonId};
use crate::role::{Permit, Role};
use crate::when::{format_duration, format_instant};
use crate::{Context, Error, Outcome};

/// Start, retitle and end a meeting in this channel.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !meeting start release sync\n  !meeting topic train status\n  !info group1 is clean\n  !agreed promote on Thursday\n  !action bob file the blocker\n  !meeting end"
)]
pub enum Meeting {
    /// Start a meeting here; you chair it.
    Start {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        name: Vec<String>,
    },
    /// Begin a new topic (the chair or an admin).
    Topic {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// End the meeting and post its summary (the chair or an admin).
    End,
}

/// Action items: give one, list the open ones, mark one done.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !action bob file the blocker\n  !action list mine\n  !action done 3"
)]
pub enum Action {
    /// Give PERSON an action item (in a running meeting).
    Add {
        /// A person: config name or a mention (<@id>, @user:server, a logged-in IRC nick).
        person: String,
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Open action items: everyone's, one person's, or `mine`.
    List { person: Option<String> },
    /// Mark an action item done (its owner, whoever gave it, or an admin).
    Done { id: String },
}

/// One line of minutes: `info TEXT…` or `agreed TEXT…`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Note {
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub text: Vec<String>,
}

impl Meeting {
    pub fn permit(&self) -> Permit {
        match self {
            // The chair check is the handler's: it needs the meeting.
            Meeting::Start { .. } | Meeting::Topic { .. } | Meeting::End => Permit::Identified,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Meeting::Start { .. } => "start",
            Meeting::Topic { .. } => "topic",
            Meeting::End => "end",
        }
    }
}

impl Action {
    pub fn permit(&self) -> Permit {
        match self {
            Action::Add { .. } | Action::Done { .. } => Permit::Identified,
            Action::List { .. } => Permit::Anyone,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::Add { .. } => "add",
            Action::List { .. } => "list",
            Action::Done { .. } => "done",
        }
    }
}

/// What a line of the minutes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Topic,
    Info,
    Agreed,
    Action,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Topic => "topic",
            ItemKind::Info => "info",
            ItemKind::Agreed => "agreed",
            ItemKind::Action => "action",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: ItemKind,
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
    /// For an action: its id and owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<PersonId>,
}

/// A meeting's minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minutes {
    pub id: u64,
    pub name: String,
    pub channel: ChannelAddr,
    pub chair: String,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub items: Vec<Item>,
    /// Everyone who added to the minutes or was given an action.
    pub attendees: BTreeSet<String>,
}

impl Minutes {
    fn count(&self, kind: ItemKind) -> usize {
        self.items.iter().filter(|i| i.kind == kind).count()
    }
}

/// An action item, open until someone marks it done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionItem {
    pub id: u64,
    pub meeting: u64,
    pub owner: PersonId,
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub done: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Started {
        id: u64,
        name: String,
        channel: ChannelAddr,
    },
    /// A topic, info or agreed line.
    Noted {
        meeting: u64,
        item: ItemKind,
        text: String,
    },
    ActionGiven {
        id: u64,
        meeting: u64,
        owner: PersonId,
        text: String,
    },
    ActionDone {
        id: u64,
    },
    Ended {
        id: u64,
    },
}

/// The meetings family's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meetings {
    pub minutes: BTreeMap<u64, Minutes>,
    /// The meeting running in each channel.
    pub running: BTreeMap<ChannelAddr, u64>,
    pub actions: BTreeMap<u64, ActionItem>,
    pub next_meeting: u64,
    pub next_action: u64,
}

impl Meetings {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        let by = event.actor.name().to_string();
        match change {
            Change::Started { id, name, channel } => {
                self.next_meeting = self.next_meeting.max(*id);
                self.running.insert(channel.clone(), *id);
                self.minutes.insert(
                    *id,
                    Minutes {
                        id: *id,
                        name: name.clone(),
                        channel: channel.clone(),
                        chair: by.clone(),
                        started: event.at,
                        ended: None,
                        items: Vec::new(),
                        attendees: BTreeSet::from([by]),
                    },
                );
            }
            Change::Noted {
                meeting,
                item: kind,
                text,
            } => {
                if let Some(m) = self.minutes.get_mut(meeting) {
                    m.attendees.insert(by.clone());
                    m.items.push(Item {
                        kind: *kind,
                        text: text.clone(),
                        by,
                        at: event.at,
                        action: None,
                        owner: None,
                    });
                }
            }
            Change::ActionGiven {
                id,
                meeting,
                owner,
                text,
            } => {
                self.next_action = self.next_action.max(*id);
                if let Some(m) = self.minutes.get_mut(meeting) {
                    m.attendees.insert(by.clone());
                    m.attendees.insert(owner.to_string());
                    m.items.push(Item {
                        kind: ItemKind::Action,
                        text: text.clone(),
                        by: by.clone(),
                        at: event.at,
                        action: Some(*id),
                        owner: Some(owner.clone()),
                    });
                }
                self.actions.insert(
                    *id,
                    ActionItem {
                        id: *id,
                        meeting: *meeting,
                        owner: owner.clone(),
                        text: text.clone(),
                        by,
                        at: event.at,
                        done: None,
                    },
                );
            }
            Change::ActionDone { id } => {
                if let Some(a) = self.actions.get_mut(id) {
                    a.done = Some(event.at);
                }
            }
            Change::Ended { id } => {
                if let Some(m) = self.minutes.get_mut(id) {
                    m.ended = Some(event.at);
                    self.running.remove(&m.channel);
                }
            }
        }
    }

    /// Open action items, oldest first.
    pub fn open_actions(&self) -> impl Iterator<Item = &ActionItem> {
        self.actions.values().filter(|a| a.done.is_none())
    }
}

/// Where the full minutes of meeting `id` are served.
pub fn minutes_link(ctx: &Context, id: u64) -> String {
    let base = ctx
        .settings
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    format!("{base}/meetings/{id}")
}

fn here<'a>(ctx: &'a Context) -> Result<&'a ChannelAddr, Error> {
    ctx.channel.ok_or_else(|| {
        Error::invalid("meetings run in a channel, not in a direct message or the api")
    })
}

fn running<'a>(ctx: &Context, state: &'a Meetings) -> Result<&'a Minutes, Error> {
    let channel = here(ctx)?;
    state
        .running
        .get(channel)
        .and_then(|id| state.minutes.get(id))
        .ok_or_else(|| {
            Error::conflict(format!(
                "no meeting is running in {channel}; start one with {}meeting start NAME",
                ctx.settings.prefix
            ))
        })
}

fn chair_or_admin(ctx: &Context, minutes: &Minutes, action: &str) -> Result<(), Error> {
    if ctx.caller.name() == minutes.chair || ctx.caller.has(Role::Admin) {
        return Ok(());
    }
    Err(ctx.caller.refuse(
        action,
        Role::Admin,
        &format!(
            "does not chair meeting {} ({} does)",
            minutes.id, minutes.chair
        ),
    ))
}

fn text(words: &[String]) -> Result<String, Error> {
    let text = words.join(" ");
    crate::words::check_text(&text)?;
    Ok(text)
}

pub fn handle(cmd: &Meeting, ctx: &Context, state: &Meetings) -> Result<Outcome, Error> {
    match cmd {
        Meeting::Start { name } => {
            let channel = here(ctx)?;
            let name = text(name)?;
            if let Some(m) = state
                .running
                .get(channel)
                .and_then(|id| state.minutes.get(id))
            {
                return Err(Error::conflict(format!(
                    "meeting {} \"{}\" is already running in {channel}; end it first",
                    m.id, m.name
                )));
            }
            let id = state.next_meeting + 1;
            Ok(Outcome::reply(format!(
                "meeting {id} \"{name}\" started, chaired by {}; use {p}meeting topic, {p}info, {p}agreed, {p}action PERSON TEXT, {p}meeting end",
                ctx.caller.name(),
                p = ctx.settings.prefix
            ))
            .change(crate::Change::Meeting(Change::Started {
                id,
                name,
                channel: channel.clone(),
            })))
        }
        Meeting::Topic { text: words } => {
            let m = running(ctx, state)?;
            chair_or_admin(ctx, m, "meeting topic")?;
            let text = text(words)?;
            Ok(
                Outcome::reply(format!("topic: {text}")).change(crate::Change::Meeting(
                    Change::Noted {
                        meeting: m.id,
                        item: ItemKind::Topic,
                        text,
                    },
                )),
            )
        }
        Meeting::End => {
            let m = running(ctx, state)?;
            chair_or_admin(ctx, m, "meeting end")?;
            let actions: Vec<String> = m
                .items
                .iter()
                .filter_map(|i| i.owner.as_ref().map(|o| format!("{o}: {}", i.text)))
                .collect();
            let mut reply = format!(
                "meeting {} \"{}\" ended after {}: {} topic(s), {} info, {} agreed, {} action(s). minutes: {}",
                m.id,
                m.name,
                format_duration(ctx.now - m.started),
                m.count(ItemKind::Topic),
                m.count(ItemKind::Info),
                m.count(ItemKind::Agreed),
                actions.len(),
                minutes_link(ctx, m.id)
            );
            if !actions.is_empty() {
                reply.push_str("\nactions:\n- ");
                reply.push_str(&actions.join("\n- "));
            }
            Ok(Outcome::reply(reply).change(crate::Change::Meeting(Change::Ended { id: m.id })))
        }
    }
}

/// `info TEXT…` and `agreed TEXT…`.
pub fn note(
    kind: ItemKind,
    note: &Note,
    ctx: &Context,
    state: &Meetings,
) -> Result<Outcome, Error> {
    let m = running(ctx, state)?;
    let text = text(&note.text)?;
    Ok(
        Outcome::reply(format!("{}: {text}", kind.as_str())).change(crate::Change::Meeting(
            Change::Noted {
                meeting: m.id,
                item: kind,
                text,
            },
        )),
    )
}

fn person(ctx: &Context, name: &str) -> Result<PersonId, Error> {
    crate::mention::person(ctx, name)
}

fn action_line(a: &ActionItem, tz: chrono_tz::Tz) -> String {
    format!(
        "#{} {}: {} (meeting {}, {})",
        a.id,
        a.owner,
        a.text,
        a.meeting,
        format_instant(a.at, tz)
    )
}

pub fn handle_action(cmd: &Action, ctx: &Context, state: &Meetings) -> Result<Outcome, Error> {
    match cmd {
        Action::Add {
            person: who,
            text: words,
        } => {
            let m = running(ctx, state)?;
            let owner = person(ctx, who)?;
            let text = text(words)?;
            let id = state.next_action + 1;
            Ok(Outcome::reply(format!(
                "action #{id} for {}: {text}",
                crate::mention::ping(&owner)
            ))
            .change(crate::Change::Meeting(Change::ActionGiven {
                id,
                meeting: m.id,
                owner,
                text,
            })))
        }
        Action::List { person: who } => {
            let owner = match who.as_deref() {
                None => None,
                Some(w) if w.eq_ignore_ascii_case("mine") => {
                    Some(ctx.caller.person.clone().ok_or_else(|| {
                        Error::invalid(format!(
                            "\"mine\" needs an identified account; {} is not one",
                            ctx.caller.name()
                        ))
                    })?)
                }
                Some(w) => Some(person(ctx, w)?),
            };
            let lines: Vec<String> = state
                .open_actions()
                .filter(|a| owner.as_ref().is_none_or(|o| a.owner == *o))
                .map(|a| action_line(a, ctx.zone))
                .collect();
            let whose = owner.map_or_else(String::new, |o| format!(" for {o}"));
            Ok(Outcome::reply(if lines.is_empty() {
                format!("no open action items{whose}")
            } else {
                format!("open action items{whose}:\n{}", lines.join("\n"))
            }))
        }
        Action::Done { id } => {
            let n: u64 = id
                .trim_start_matches('#')
                .parse()
                .map_err(|_| Error::invalid(format!("action id \"{id}\" is malformed")))?;
            let a = state
                .actions
                .get(&n)
                .ok_or_else(|| Error::not_found(format!("action \"{id}\" is unknown")))?;
            if a.done.is_some() {
                return Err(Error::conflict(format!(
                    "action #{n} is already done; nothing changed"
                )));
            }
            let mine = ctx.caller.person.as_ref() == Some(&a.owner);
            if !(mine || ctx.caller.name() == a.by || ctx.caller.has(Role::Admin)) {
                return Err(ctx.caller.refuse(
                    "action done",
                    Role::Admin,
                    &format!(
                        "neither owns nor gave action #{n} ({}'s, given by {})",
                        a.owner, a.by
                    ),
                ));
            }
            Ok(Outcome::reply(format!("action #{n} done: {}", a.text))
                .change(crate::Change::Meeting(Change::ActionDone { id: n })))
        }
    }
}

/// Open action items for the handoff digest.
pub fn digest_items(state: &Meetings) -> Vec<String> {
    state
        .open_actions()
        .map(|a| format!("action #{} for {}: {}", a.id, a.owner, a.text))
        .collect()
}
