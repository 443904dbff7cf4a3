//! The operations behind treestatus's write API (`PATCH /trees`,
//! `PATCH /log/{id}`, `DELETE /stack/{id}`, `PUT`/`DELETE /trees/{tree}`).
//! They are the same changes chat commands make — recorded in the same log,
//! announced to the same channels — expressed in treestatus's terms: exact
//! tree names, a status, tags as a list, and `remember` for the undo stack.

use serde::Deserialize;

use crate::event::{EventId, History};
use crate::id::TreeName;
use crate::role::{Permit, Role};
use crate::tree::{Change, Condition, Status, Trees, reason_and_tags, set_named, undo};
use crate::{AnnounceKind, Announcement, Context, Error, Outcome};

/// A `PATCH /trees` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub trees: Vec<String>,
    pub status: Option<Status>,
    pub reason: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub message_of_the_day: Option<String>,
    /// Whether the change goes on the undo stack (treestatus's default: yes).
    #[serde(default = "yes")]
    pub remember: bool,
}

fn yes() -> bool {
    true
}

/// A `PATCH /log/{id}` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amendment {
    pub reason: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A `PUT /trees/{tree}` body (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTree {
    pub tree: Option<String>,
    pub status: Option<Status>,
    pub reason: Option<String>,
    pub message_of_the_day: Option<String>,
}

/// Checks API tags against the configured categories (a leading `#` is fine).
fn tags(ctx: &Context, tags: &[String]) -> Result<Vec<String>, Error> {
    let words: Vec<String> = tags
        .iter()
        .map(|t| format!("#{}", t.trim_start_matches('#')))
        .collect();
    Ok(reason_and_tags(&words, ctx)?.1)
}

fn named(trees: &Trees, names: &[String]) -> Result<Vec<TreeName>, Error> {
    if names.is_empty() {
        return Err(Error::invalid("\"trees\" must name at least one tree"));
    }
    names
        .iter()
        .map(|n| {
            trees.get(n).map(|t| t.name.clone()).ok_or_else(|| {
                Error::not_found(format!(
                    "tree \"{n}\" is unknown; trees are: {}",
                    trees.names()
                ))
            })
        })
        .collect()
}

/// `PATCH /trees`: set status (and reason, tags) and/or the message of the day.
pub fn patch(ctx: &Context, trees: &Trees, patch: &Patch) -> Result<Outcome, Error> {
    ctx.caller
        .check(Permit::Role(Role::Sheriff), "changing trees (PATCH /trees)")?;
    let names = named(trees, &patch.trees)?;
    if patch.status.is_none() && patch.message_of_the_day.is_none() {
        return Err(Error::invalid(
            "nothing to change: give \"status\" or \"message_of_the_day\"",
        ));
    }
    let mut outcome = Outcome::default();
    if let Some(status) = patch.status {
        let tags = tags(ctx, &patch.tags)?;
        if status == Status::Closed && tags.is_empty() {
            return Err(Error::invalid(format!(
                "closing needs at least one tag in \"tags\", one of: {}",
                ctx.settings.tree_tags.join(", ")
            )));
        }
        let reason = patch.reason.clone().unwrap_or_default();
        let after = Condition {
            status,
            reason,
            tags,
            until: None,
        };
        let spec = patch.trees.join(",");
        outcome = set_named(ctx, trees, &spec, &names, after, patch.remember)?;
    }
    if let Some(text) = &patch.message_of_the_day {
        if text.contains(['\r', '\n', '\0']) {
            return Err(Error::invalid("\"message_of_the_day\" must be one line"));
        }
        for name in &names {
            outcome = outcome.change(crate::Change::Tree(Change::Motd {
                tree: name.clone(),
                text: text.clone(),
            }));
        }
        if outcome.reply.is_empty() {
            outcome.reply = format!("message of the day set on {}", patch.trees.join(", "));
        }
    }
    Ok(outcome)
}

/// `PATCH /log/{id}`: correct the reason or tags of a log entry.
pub fn amend(
    ctx: &Context,
    history: &dyn History,
    log: u64,
    amendment: &Amendment,
) -> Result<Outcome, Error> {
    ctx.caller
        .check(Permit::Role(Role::Sheriff), "amending the log (PATCH /log)")?;
    let mut found = false;
    history.newest_first(&mut |event| {
        found = event.id == EventId(log)
            && event
                .changes
                .iter()
                .any(|c| matches!(c, crate::Change::Tree(Change::Set { .. })));
        !found && event.id.0 > log
    });
    if !found {
        return Err(Error::not_found(format!("log entry \"{log}\" is unknown")));
    }
    if amendment.reason.is_none() && amendment.tags.is_none() {
        return Err(Error::invalid(
            "nothing to change: give \"reason\" or \"tags\"",
        ));
    }
    let tags = amendment
        .tags
        .as_deref()
        .map(|t| tags(ctx, t))
        .transpose()?;
    Ok(
        Outcome::reply(format!("amended log entry {log}")).change(crate::Change::Tree(
            Change::Amend {
                log: EventId(log),
                reason: amendment.reason.clone(),
                tags,
            },
        )),
    )
}

/// `DELETE /stack/{id}`: revert the entry (as undo does) or just drop it.
pub fn discard(ctx: &Context, trees: &Trees, entry: u64, revert: bool) -> Result<Outcome, Error> {
    ctx.caller.check(
        Permit::Role(Role::Sheriff),
        "changing the undo stack (DELETE /stack)",
    )?;
    if revert {
        return undo(ctx, trees, Some(entry));
    }
    if !trees.stack.iter().any(|e| e.id == EventId(entry)) {
        return Err(Error::not_found(format!(
            "undo entry \"{entry}\" is not on the undo stack"
        )));
    }
    Ok(
        Outcome::reply(format!("dropped undo entry {entry}")).change(crate::Change::Tree(
            Change::Discard {
                entry: EventId(entry),
            },
        )),
    )
}

/// `PUT /trees/{tree}`: create a tree.
pub fn create(ctx: &Context, trees: &Trees, name: &str, body: &NewTree) -> Result<Outcome, Error> {
    ctx.caller
        .check(Permit::Role(Role::Admin), "creating a tree (PUT /trees)")?;
    if let Some(other) = body.tree.as_deref().filter(|t| *t != name) {
        return Err(Error::invalid(format!(
            "body names tree \"{other}\" but the path names \"{name}\""
        )));
    }
    let valid = !name.is_empty()
        && name != "all"
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(Error::invalid(format!(
            "tree name \"{name}\" is invalid (letters, digits, - _ . only; not \"all\")"
        )));
    }
    if trees.get(name).is_some() {
        return Err(Error::conflict(format!("tree \"{name}\" already exists")));
    }
    if body.status.is_some_and(|s| s != Status::Open) {
        return Err(Error::invalid(
            "a new tree starts open; close it with PATCH /trees",
        ));
    }
    let tree = TreeName::new(name);
    let mut outcome = Outcome::reply(format!("created tree {name}"))
        .change(crate::Change::Tree(Change::Add { tree: tree.clone() }))
        .announce(Announcement::to(
            AnnounceKind::Trees,
            format!("{} created tree {name}", ctx.caller.name()),
        ));
    if let Some(text) = body.message_of_the_day.clone().filter(|t| !t.is_empty()) {
        outcome = outcome.change(crate::Change::Tree(Change::Motd { tree, text }));
    }
    Ok(outcome)
}

/// `DELETE /trees/{tree}`: delete a tree.
pub fn remove(ctx: &Context, trees: &Trees, name: &str) -> Result<Outcome, Error> {
    ctx.caller
        .check(Permit::Role(Role::Admin), "deleting a tree (DELETE /trees)")?;
    let tree = trees.get(name).map(|t| t.name.clone()).ok_or_else(|| {
        Error::not_found(format!(
            "tree \"{name}\" is unknown; trees are: {}",
            trees.names()
        ))
    })?;
    Ok(Outcome::reply(format!("deleted tree {name}"))
        .change(crate::Change::Tree(Change::Remove { tree }))
        .announce(Announcement::to(
            AnnounceKind::Trees,
            format!("{} deleted tree {name}", ctx.caller.name()),
        )))
}
