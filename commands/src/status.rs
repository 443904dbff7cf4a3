//! Incident status, in the manner of OpenStack's statusbot: an alert is
//! posted to the status channels and set as their topic; `ok` restores the
//! topics the alert replaced. The replaced topics are part of the state, so
//! a restart between alert and ok still restores them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::ChannelAddr;
use crate::role::{Permit, Role};
use crate::when::format_instant;
use crate::{AnnounceKind, Announcement, Audience, Context, Error, Outcome};

/// Incident alerts, notices and the status log.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !status\n  !status alert CI is down, do not land\n  !status ok CI is back"
)]
pub enum Status {
    /// Show the current alert, if any (bare `status` does this too).
    Show,
    /// Announce an incident and set it as the status channels' topic.
    Alert {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Announce something people should know (no topic change).
    Notice {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Record a status log entry without announcing it.
    Log {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// End the alert: restore the topics and say so.
    Ok {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
}

impl Status {
    pub fn permit(&self) -> Permit {
        match self {
            Status::Show => Permit::Anyone,
            // Admins and whoever is on shift in any rotation.
            Status::Alert { .. }
            | Status::Notice { .. }
            | Status::Log { .. }
            | Status::Ok { .. } => Permit::Role(Role::Duty),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Status::Show => "show",
            Status::Alert { .. } => "alert",
            Status::Notice { .. } => "notice",
            Status::Log { .. } => "log",
            Status::Ok { .. } => "ok",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub text: String,
    pub by: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// An alert began; `saved` are the topics it replaced.
    Alert {
        text: String,
        saved: BTreeMap<ChannelAddr, String>,
    },
    Notice {
        text: String,
    },
    Log {
        text: String,
    },
    /// The alert ended and the saved topics were restored.
    Ok {
        text: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusState {
    pub alert: Option<Alert>,
    /// Topics replaced by the current alert, to restore at `ok`.
    pub saved: BTreeMap<ChannelAddr, String>,
    /// The topic the bot last set (or was configured) per channel.
    pub topics: BTreeMap<ChannelAddr, String>,
}

impl StatusState {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Alert { text, saved } => {
                // A second alert keeps the topics saved by the first.
                if self.alert.is_none() {
                    self.saved = saved.clone();
                }
                self.alert = Some(Alert {
                    text: text.clone(),
                    by: event.actor.name().to_string(),
                    since: event.at,
                });
                for channel in saved.keys() {
                    self.topics.insert(channel.clone(), alert_topic(text));
                }
            }
            Change::Ok { .. } => {
                self.alert = None;
                for (channel, topic) in std::mem::take(&mut self.saved) {
                    // An unknown topic stays unknown (the alert's is left).
                    if topic.is_empty() {
                        self.topics.remove(&channel);
                    } else {
                        self.topics.insert(channel, topic);
                    }
                }
            }
            Change::Notice { .. } | Change::Log { .. } => {}
        }
    }
}

fn alert_topic(text: &str) -> String {
    format!("ALERT: {text}")
}

/// A topic change for one channel, delivered through the outbox.
fn topic(channel: &ChannelAddr, text: String) -> Announcement {
    Announcement {
        to: Audience::Topic(channel.clone()),
        text,
    }
}

pub fn handle(cmd: &Status, ctx: &Context, state: &StatusState) -> Result<Outcome, Error> {
    let join = |words: &[String]| words.join(" ");
    match cmd {
        Status::Show => Ok(Outcome::reply(match &state.alert {
            Some(alert) => format!(
                "alert from {} since {}: {}",
                alert.by,
                format_instant(alert.since, ctx.settings.timezone),
                alert.text
            ),
            None => "no alert".to_string(),
        })),
        Status::Alert { text } => {
            let text = join(text);
            let channels = &ctx.settings.status_channels;
            let saved: BTreeMap<ChannelAddr, String> = channels
                .iter()
                .map(|c| {
                    let known = state.topics.get(c).or_else(|| ctx.settings.topics.get(c));
                    (c.clone(), known.cloned().unwrap_or_default())
                })
                .collect();
            // Topics first: they are the alert's lasting mark, and the
            // message after them is delivered either way.
            let mut outcome = Outcome::reply(format!(
                "alert posted to {} channel(s): {text}",
                channels.len()
            ));
            for channel in channels {
                outcome = outcome.announce(topic(channel, alert_topic(&text)));
            }
            Ok(outcome
                .announce(Announcement::to(
                    AnnounceKind::Status,
                    format!("ALERT from {}: {text}", ctx.caller.name()),
                ))
                .change(crate::Change::Status(Change::Alert { text, saved })))
        }
        Status::Notice { text } => {
            let text = join(text);
            Ok(Outcome::reply(format!("notice posted: {text}"))
                .announce(Announcement::to(
                    AnnounceKind::Status,
                    format!("NOTICE from {}: {text}", ctx.caller.name()),
                ))
                .change(crate::Change::Status(Change::Notice { text })))
        }
        Status::Log { text } => {
            let text = join(text);
            Ok(Outcome::reply(format!("logged: {text}"))
                .change(crate::Change::Status(Change::Log { text })))
        }
        Status::Ok { text } => {
            let Some(alert) = &state.alert else {
                return Err(Error::conflict("there is no active alert; nothing changed"));
            };
            let text = join(text);
            let said = if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            };
            // A channel whose topic before the alert is unknown keeps the
            // topic it has: clearing it could wipe a topic set by hand.
            let (known, unknown): (Vec<_>, Vec<_>) = state
                .saved
                .iter()
                .partition(|(_, original)| !original.is_empty());
            let left = if unknown.is_empty() {
                String::new()
            } else {
                format!(
                    "; the topic of {} was not known before the alert, so it was left as it is",
                    unknown
                        .iter()
                        .map(|(c, _)| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let mut outcome = Outcome::reply(format!(
                "alert from {} (since {}) is over; topics restored{left}",
                alert.by,
                format_instant(alert.since, ctx.settings.timezone)
            ));
            for (channel, original) in known {
                outcome = outcome.announce(topic(channel, original.clone()));
            }
            Ok(outcome
                .announce(Announcement::to(
                    AnnounceKind::Status,
                    format!("OK from {}{said} (was: {})", ctx.caller.name(), alert.text),
                ))
                .change(crate::Change::Status(Change::Ok { text })))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{World, guest, root};
    use crate::{Audience, ChannelAddr};

    #[test]
    fn bare_status_shows_the_alert_or_says_there_is_none() {
        let mut world = World::empty();
        for line in ["status", "status show", "STATUS"] {
            assert_eq!(world.ok(&guest(), line).reply, "no alert", "{line:?}");
        }
        world.ok(&root(), "status alert CI is down");
        assert_eq!(
            world.ok(&guest(), "status").reply,
            "alert from root since 2026-11-22 12:00 UTC: CI is down"
        );
        world.ok(&root(), "status ok");
        assert_eq!(world.ok(&guest(), "status").reply, "no alert");
    }

    #[test]
    fn ok_leaves_a_topic_it_never_knew_as_it_is() {
        let mut world = World::empty();
        let ops: ChannelAddr = "console:#ops".parse().expect("channel");
        let dev: ChannelAddr = "console:#dev".parse().expect("channel");
        world.settings.status_channels = vec![ops.clone(), dev.clone()];
        world
            .settings
            .topics
            .insert(ops.clone(), "ops topic".into());
        world.ok(&root(), "status alert CI is down");
        let out = world.ok(&root(), "status ok");
        let topics: Vec<(&Audience, &str)> = out
            .announce
            .iter()
            .filter(|a| matches!(a.to, Audience::Topic(_)))
            .map(|a| (&a.to, a.text.as_str()))
            .collect();
        assert_eq!(topics, [(&Audience::Topic(ops), "ops topic")]);
        assert!(
            out.reply.ends_with(
                "the topic of console:#dev was not known before the alert, so it was left as it is"
            ),
            "{}",
            out.reply
        );
        // The next alert still finds no topic to restore for #dev.
        assert!(!world.state.status.topics.contains_key(&dev));
    }
}
