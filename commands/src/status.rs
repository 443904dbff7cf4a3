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
    after_help = "examples:\n  !status alert CI is down, do not land\n  !status ok CI is back"
)]
pub enum Status {
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
            // Admins and whoever is on shift in any rotation.
            Status::Alert { .. }
            | Status::Notice { .. }
            | Status::Log { .. }
            | Status::Ok { .. } => Permit::Role(Role::Duty),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
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
                    self.topics.insert(channel, topic);
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
            let mut outcome = Outcome::reply(format!(
                "alert posted to {} channel(s): {text}",
                channels.len()
            ))
            .announce(Announcement::to(
                AnnounceKind::Status,
                format!("ALERT from {}: {text}", ctx.caller.name()),
            ));
            for channel in channels {
                outcome = outcome.announce(topic(channel, alert_topic(&text)));
            }
            Ok(outcome.change(crate::Change::Status(Change::Alert { text, saved })))
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
            let mut outcome = Outcome::reply(format!(
                "alert from {} (since {}) is over; topics restored",
                alert.by,
                format_instant(alert.since, ctx.settings.timezone)
            ))
            .announce(Announcement::to(
                AnnounceKind::Status,
                format!("OK from {}{said} (was: {})", ctx.caller.name(), alert.text),
            ));
            for (channel, original) in &state.saved {
                outcome = outcome.announce(topic(channel, original.clone()));
            }
            Ok(outcome.change(crate::Change::Status(Change::Ok { text })))
        }
    }
}
