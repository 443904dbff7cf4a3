//! Liaisons: who covers an area (security, bugs, release, gate, docs, …).
//! An area lists people, or points at a rotation and is answered with
//! whoever is on shift there. Config gives the defaults; `role set` by an
//! admin replaces an area's people, recorded in the ledger.

use std::collections::BTreeMap;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::PersonId;
use crate::role::{Permit, Role};
use crate::{Context, Error, Outcome, State};

/// Who covers an area.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(after_help = "examples:\n  !who security\n  !who")]
pub struct Who {
    /// The area, e.g. security, bugs, release (default: every area).
    pub area: Option<String>,
}

/// Set the people who cover an area (admin).
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
#[command(after_help = "example:\n  !role set security alice bob")]
pub enum RoleCmd {
    /// Replace the people who cover AREA.
    Set {
        area: String,
        /// People: config names or mentions (<@id>, @user:server, a logged-in IRC nick).
        #[arg(required = true, num_args = 1..)]
        people: Vec<String>,
    },
}

impl RoleCmd {
    pub fn permit(&self) -> Permit {
        match self {
            RoleCmd::Set { .. } => Permit::Role(Role::Admin),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            RoleCmd::Set { .. } => "set",
        }
    }
}

/// How an area is covered in config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    People(Vec<PersonId>),
    Rotation(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Set { area: String, people: Vec<PersonId> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liaisons {
    pub areas: BTreeMap<String, Vec<PersonId>>,
}

impl Liaisons {
    pub fn apply(&mut self, _event: &Event, change: &Change) {
        match change {
            Change::Set { area, people } => {
                self.areas.insert(area.clone(), people.clone());
            }
        }
    }
}

/// The people covering `area` now.
pub fn covering(ctx: &Context, state: &State, area: &str) -> Result<Vec<PersonId>, Error> {
    if let Some(people) = state.liaisons.areas.get(area) {
        return Ok(people.clone());
    }
    match ctx.settings.liaisons.get(area) {
        Some(Cover::People(people)) => Ok(people.clone()),
        Some(Cover::Rotation(name)) => {
            let rotation = ctx
                .settings
                .rotations
                .iter()
                .find(|r| r.name == *name)
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "area \"{area}\" points at rotation \"{name}\", which is unknown"
                    ))
                })?;
            Ok(crate::oncall::on_shift(rotation, &state.duty, ctx.now)
                .into_iter()
                .collect())
        }
        None => {
            let known = areas(ctx, state)
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Err(Error::not_found(format!(
                "area \"{area}\" is unknown; areas are: {known}"
            )))
        }
    }
}

pub fn who(cmd: &Who, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    match &cmd.area {
        Some(area) => Ok(Outcome::reply(coverage(ctx, state, area)?)),
        None => {
            let areas = areas(ctx, state);
            if areas.is_empty() {
                return Ok(Outcome::reply(
                    "no areas are configured ([liaisons] in the config, or role set)",
                ));
            }
            let lines = areas
                .iter()
                .map(|area| coverage(ctx, state, area).unwrap_or_else(|e| format!("{area}: {e}")))
                .collect::<Vec<_>>();
            Ok(Outcome::reply(lines.join("\n")))
        }
    }
}

/// Every area, from config and from `role set`, sorted.
fn areas<'a>(ctx: &'a Context, state: &'a State) -> Vec<&'a String> {
    let mut areas: Vec<&String> = ctx
        .settings
        .liaisons
        .keys()
        .chain(state.liaisons.areas.keys())
        .collect();
    areas.sort();
    areas.dedup();
    areas
}

/// `area: alice, bob`, or whoever is on shift in the rotation it points at.
fn coverage(ctx: &Context, state: &State, area: &str) -> Result<String, Error> {
    let people = covering(ctx, state, area)?;
    let names = if people.is_empty() {
        "nobody right now".to_string()
    } else {
        people
            .iter()
            .map(PersonId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let via = match ctx.settings.liaisons.get(area) {
        Some(Cover::Rotation(r)) if !state.liaisons.areas.contains_key(area) => {
            format!(" (on shift in {r})")
        }
        _ => String::new(),
    };
    Ok(format!("{area}: {names}{via}"))
}

pub fn handle(cmd: &RoleCmd, ctx: &Context) -> Result<Outcome, Error> {
    match cmd {
        RoleCmd::Set { area, people } => {
            if !area
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Error::invalid(format!(
                    "area \"{area}\" may hold letters, digits, - and _ only"
                )));
            }
            let mut ids = Vec::new();
            for p in people {
                ids.push(crate::mention::person(ctx, p)?);
            }
            let names = ids
                .iter()
                .map(PersonId::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            Ok(
                Outcome::reply(format!("{area} is covered by {names}")).change(
                    crate::Change::Liaison(Change::Set {
                        area: area.clone(),
                        people: ids,
                    }),
                ),
            )
        }
    }
}
