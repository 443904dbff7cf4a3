//! Escalation: when something breaks, the person on shift pulls in whoever
//! covers the area, and nobody has to remember to chase them. The chain is
//! fixed when the escalation is raised (so a later edit of the rotation
//! cannot reorder it): an area of people is pinged all at once and reminded
//! once; an area that points at a rotation pings whoever is on shift, then
//! each next member in rotation order. Each step waits the configured
//! acknowledgement time; `ack ID` stops the chain.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::{ChannelAddr, PersonId};
use crate::liaison::{Cover, covering};
use crate::role::{Permit, Role};
use crate::when::format_duration;
use crate::{Announcement, Audience, Context, Error, Job, Outcome, State};

/// Ping whoever covers AREA, in the channel and by DM, until someone acks.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(after_help = "example:\n  !escalate security token leaked in build logs")]
pub struct Escalate {
    /// The area, as in `who AREA`.
    pub area: String,
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub text: Vec<String>,
}

/// Acknowledge an escalation: the pinging stops.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(after_help = "example:\n  !ack 3")]
pub struct Ack {
    pub id: String,
}

impl Escalate {
    pub fn permit(&self) -> Permit {
        Permit::Identified
    }
}

impl Ack {
    pub fn permit(&self) -> Permit {
        // Someone pinged, or an admin: checked in the handler.
        Permit::Identified
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub id: u64,
    pub area: String,
    pub text: String,
    pub by: String,
    pub channel: Option<ChannelAddr>,
    pub at: DateTime<Utc>,
    /// Who is pinged at each step, in order.
    pub steps: Vec<Vec<PersonId>>,
    /// The last step pinged.
    pub step: usize,
    /// When the next step (or the final "nobody answered") is due.
    pub next_at: Option<DateTime<Utc>>,
    pub acked: Option<(String, DateTime<Utc>)>,
}

impl Escalation {
    /// Everyone pinged so far, each once, first pinged first.
    pub fn pinged(&self) -> Vec<PersonId> {
        let mut people: Vec<PersonId> = Vec::new();
        for p in self.steps.iter().take(self.step + 1).flatten() {
            if !people.contains(p) {
                people.push(p.clone());
            }
        }
        people
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Raised {
        id: u64,
        area: String,
        text: String,
        steps: Vec<Vec<PersonId>>,
        next_at: DateTime<Utc>,
    },
    /// Nobody acknowledged in time: `step` was pinged (or, past the last
    /// step, the chain gave up).
    Repeated {
        id: u64,
        step: usize,
        next_at: Option<DateTime<Utc>>,
    },
    Acked {
        id: u64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalations {
    pub all: BTreeMap<u64, Escalation>,
    pub next_id: u64,
}

impl Escalations {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Raised {
                id,
                area,
                text,
                steps,
                next_at,
            } => {
                self.next_id = self.next_id.max(*id);
                self.all.insert(
                    *id,
                    Escalation {
                        id: *id,
                        area: area.clone(),
                        text: text.clone(),
                        by: event.actor.name().to_string(),
                        channel: event.actor.channel.clone(),
                        at: event.at,
                        steps: steps.clone(),
                        step: 0,
                        next_at: Some(*next_at),
                        acked: None,
                    },
                );
            }
            Change::Repeated { id, step, next_at } => {
                if let Some(e) = self.all.get_mut(id) {
                    e.step = *step;
                    e.next_at = *next_at;
                }
            }
            Change::Acked { id } => {
                if let Some(e) = self.all.get_mut(id) {
                    e.acked = Some((event.actor.name().to_string(), event.at));
                    e.next_at = None;
                }
            }
        }
    }

    /// The instants at which unacknowledged escalations move on.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, Job)> {
        self.all
            .values()
            .filter(|e| e.acked.is_none())
            .filter_map(|e| e.next_at.map(|t| (t, Job::EscalationStep { id: e.id })))
            .collect()
    }
}

/// The chain of people to ping for `area`, first step first.
fn chain(ctx: &Context, state: &State, area: &str) -> Result<Vec<Vec<PersonId>>, Error> {
    let now = covering(ctx, state, area)?;
    let rotation = match ctx.settings.liaisons.get(area) {
        Some(Cover::Rotation(name)) if !state.liaisons.areas.contains_key(area) => {
            ctx.settings.rotations.iter().find(|r| r.name == *name)
        }
        _ => None,
    };
    let Some(rotation) = rotation else {
        return Ok(if now.is_empty() {
            Vec::new()
        } else {
            vec![now.clone(), now]
        });
    };
    let mut steps = vec![now.clone()];
    let start = now
        .first()
        .and_then(|p| rotation.members.iter().position(|m| m == p))
        .unwrap_or(rotation.members.len().saturating_sub(1));
    let n = rotation.members.len();
    for k in 1..n {
        let next = &rotation.members[(start + k) % n];
        if !steps.iter().flatten().any(|p| p == next) {
            steps.push(vec![next.clone()]);
        }
    }
    steps.retain(|s| !s.is_empty());
    Ok(steps)
}

fn names(people: &[PersonId]) -> String {
    people
        .iter()
        .map(PersonId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pings of one step: in the channel (mentioning everyone) and by DM.
fn ping(
    mut outcome: Outcome,
    channel: Option<&ChannelAddr>,
    people: &[PersonId],
    text: &str,
) -> Outcome {
    if let Some(channel) = channel {
        outcome = outcome.announce(Announcement {
            to: Audience::Channel(channel.clone()),
            text: format!("{}: {text}", crate::mention::ping_all(people)),
        });
    }
    for person in people {
        outcome = outcome.announce(Announcement {
            to: Audience::Person(person.clone()),
            text: text.to_string(),
        });
    }
    outcome
}

fn call(e_id: u64, area: &str, by: &str, text: &str, prefix: &str) -> String {
    format!("escalation #{e_id} ({area}) from {by}: {text} — acknowledge with {prefix}ack {e_id}")
}

pub fn escalate(cmd: &Escalate, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    let text = cmd.text.join(" ");
    crate::words::check_text(&text)?;
    let steps = chain(ctx, state, &cmd.area)?;
    let Some(first) = steps.first() else {
        return Err(Error::conflict(format!(
            "nobody covers area \"{}\" right now; nothing was sent",
            cmd.area
        )));
    };
    let id = state.escalations.next_id + 1;
    let timeout = ctx.settings.escalation_timeout;
    let message = call(
        id,
        &cmd.area,
        ctx.caller.name(),
        &text,
        &ctx.settings.prefix,
    );
    let outcome = Outcome::reply(format!(
        "escalation #{id} sent to {}; if nobody acks within {}, the next in line is pinged",
        names(first),
        format_duration(timeout)
    ));
    // The reply is said in the channel; the mention goes out as its own
    // message so it highlights there too.
    Ok(
        ping(outcome, ctx.channel, first, &message).change(crate::Change::Escalation(
            Change::Raised {
                id,
                area: cmd.area.clone(),
                text,
                steps,
                next_at: ctx.now + timeout,
            },
        )),
    )
}

fn escalation_id(text: &str) -> Result<u64, Error> {
    text.trim_start_matches('#')
        .parse()
        .map_err(|_| Error::invalid(format!("escalation id \"{text}\" is malformed")))
}

pub fn ack(cmd: &Ack, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    let id = escalation_id(&cmd.id)?;
    let e = state
        .escalations
        .all
        .get(&id)
        .ok_or_else(|| Error::not_found(format!("escalation \"{}\" is unknown", cmd.id)))?;
    if let Some((by, at)) = &e.acked {
        return Err(Error::conflict(format!(
            "escalation #{id} was acknowledged by {by} {} ago; nothing changed",
            format_duration(ctx.now - *at)
        )));
    }
    let pinged = ctx
        .caller
        .person
        .as_ref()
        .is_some_and(|p| e.pinged().contains(p));
    if !(pinged || ctx.caller.has(Role::Admin)) {
        return Err(ctx.caller.refuse(
            "ack",
            Role::Admin,
            &format!(
                "was not pinged for escalation #{id} ({} were)",
                names(&e.pinged())
            ),
        ));
    }
    let said = format!(
        "escalation #{id} ({}) acknowledged by {} after {}",
        e.area,
        ctx.caller.name(),
        format_duration(ctx.now - e.at)
    );
    let mut outcome = Outcome::reply(said.clone());
    if let Some(channel) = &e.channel
        && ctx.channel != Some(channel)
    {
        outcome = outcome.announce(Announcement {
            to: Audience::Channel(channel.clone()),
            text: said,
        });
    }
    Ok(outcome.change(crate::Change::Escalation(Change::Acked { id })))
}

/// The next step of an unacknowledged escalation, when its time has come.
pub fn run_step(ctx: &Context, state: &Escalations, id: u64) -> Outcome {
    let Some(e) = state.all.get(&id) else {
        return Outcome::default();
    };
    let due = e.acked.is_none() && e.next_at.is_some_and(|t| t <= ctx.now);
    if !due {
        return Outcome::default();
    }
    let next = e.step + 1;
    let change = |step, next_at| crate::Change::Escalation(Change::Repeated { id, step, next_at });
    match e.steps.get(next) {
        Some(people) => {
            let message = call(id, &e.area, &e.by, &e.text, &ctx.settings.prefix);
            let message = format!(
                "{message} (nobody acknowledged within {})",
                format_duration(ctx.settings.escalation_timeout)
            );
            ping(Outcome::default(), e.channel.as_ref(), people, &message).change(change(
                next,
                Some(ctx.now + ctx.settings.escalation_timeout),
            ))
        }
        None => {
            let all = e.pinged();
            let text = format!(
                "escalation #{id} ({}) was not acknowledged; pinged {}. it stays open: {}ack {id}",
                e.area,
                names(&all),
                ctx.settings.prefix
            );
            let mut outcome = Outcome::default();
            if let Some(channel) = &e.channel {
                outcome = outcome.announce(Announcement {
                    to: Audience::Channel(channel.clone()),
                    text: text.clone(),
                });
            }
            outcome
                .announce(Announcement {
                    to: Audience::Person(PersonId::new(e.by.as_str())),
                    text,
                })
                .change(change(e.step, None))
        }
    }
}

/// Unacknowledged escalations for the handoff digest.
pub fn digest_items(state: &Escalations) -> Vec<String> {
    state
        .all
        .values()
        .filter(|e| e.acked.is_none())
        .map(|e| {
            format!(
                "escalation #{} ({}) not acknowledged: {}",
                e.id, e.area, e.text
            )
        })
        .collect()
}
