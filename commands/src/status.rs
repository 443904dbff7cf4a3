//! Incident status, in the manner of OpenStack's statusbot: an alert is
//! posted to the status channels and set as their topic; `ok` restores the
//! topics the alert replaced. The replaced topics are part of the state, so
//! a restart between alert and ok still restores them. Which topic a
//! channel shows is worked out in [`crate::topic`], where the alert meets
//! the train's hold; this family keeps the record of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::ChannelAddr;
use crate::role::{Permit, Role};
use crate::topic::Step;
use crate::when::format_instant;
use crate::{AnnounceKind, Announcement, Context, Error, Outcome};

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
    /// An alert began. `saved` (only in events written before topics had
    /// steps of their own) are the topics it replaced.
    Alert {
        text: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        saved: BTreeMap<ChannelAddr, String>,
    },
    Notice {
        text: String,
    },
    Log {
        text: String,
    },
    /// The alert ended.
    Ok {
        text: String,
        /// True in events written since topics have steps of their own
        /// ([`Change::Topics`]); older events restore the saved topics here.
        #[serde(default)]
        steps: bool,
    },
    /// Topics marked, re-marked or restored (see [`crate::topic`]).
    Topics {
        steps: BTreeMap<ChannelAddr, Step>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusState {
    pub alert: Option<Alert>,
    /// Standing topics of the channels marked now (by an alert or a held
    /// train), to restore when the last mark goes.
    pub saved: BTreeMap<ChannelAddr, String>,
    /// The topic the bot last set (or was configured) per channel.
    pub topics: BTreeMap<ChannelAddr, String>,
}

impl StatusState {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::Alert { text, saved } => {
                // Older events: a second alert keeps the topics saved by
                // the first.
                for (channel, topic) in saved {
                    self.saved
                        .entry(channel.clone())
                        .or_insert_with(|| topic.clone());
                    self.topics
                        .insert(channel.clone(), format!("ALERT: {text}"));
                }
                self.alert = Some(Alert {
                    text: text.clone(),
                    by: event.actor.name().to_string(),
                    since: event.at,
                });
            }
            Change::Ok { steps, .. } => {
                self.alert = None;
                if !steps {
                    for (channel, topic) in std::mem::take(&mut self.saved) {
                        self.restore(channel, topic);
                    }
                }
            }
            Change::Topics { steps } => {
                for (channel, step) in steps {
                    match step {
                        Step::Marked { topic, saved } => {
                            self.saved.insert(channel.clone(), saved.clone());
                            self.topics.insert(channel.clone(), topic.clone());
                        }
                        Step::Remarked { topic } => {
                            self.topics.insert(channel.clone(), topic.clone());
                        }
                        Step::Restored { topic } => {
                            self.saved.remove(channel);
                            self.restore(channel.clone(), topic.clone());
                        }
                    }
                }
            }
            Change::Notice { .. } | Change::Log { .. } => {}
        }
    }

    /// Puts a standing topic back; an unknown one stays unknown (the
    /// channel keeps the topic it shows).
    fn restore(&mut self, channel: ChannelAddr, topic: String) {
        if topic.is_empty() {
            self.topics.remove(&channel);
        } else {
            self.topics.insert(channel, topic);
        }
    }
}

pub fn handle(cmd: &Status, ctx: &Context, state: &StatusState) -> Result<Outcome, Error> {
    let join = |words: &[String]| words.join(" ");
    match cmd {
        Status::Show => Ok(Outcome::reply(match &state.alert {
            Some(alert) => format!(
                "alert from {} since {}: {}",
                alert.by,
                format_instant(alert.since, ctx.zone),
                alert.text
            ),
            None => "no alert".to_string(),
        })),
        Status::Alert { text } => {
            let text = join(text);
            // The topics follow from the new state (`topic::follow`).
            Ok(Outcome::reply(format!(
                "alert posted to {} channel(s): {text}",
                ctx.settings.status_channels.len()
            ))
            .announce(Announcement::to(
                AnnounceKind::Status,
                format!("ALERT from {}: {text}", ctx.caller.name()),
            ))
            .change(crate::Change::Status(Change::Alert {
                text,
                saved: BTreeMap::new(),
            })))
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
            let unknown: Vec<_> = state
                .saved
                .iter()
                .filter(|(c, original)| {
                    original.is_empty() && ctx.settings.status_channels.contains(c)
                })
                .collect();
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
            Ok(Outcome::reply(format!(
                "alert from {} (since {}) is over; topics restored{left}",
                alert.by,
                format_instant(alert.since, ctx.zone)
            ))
            .announce(Announcement::to(
                AnnounceKind::Status,
                format!("OK from {}{said} (was: {})", ctx.caller.name(), alert.text),
            ))
            .change(crate::Change::Status(Change::Ok { text, steps: true })))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{World, guest, root};
    use crate::{Audience, ChannelAddr};

    /// Events written before topics had steps of their own carry the saved
    /// topics in `alert` and restore them at `ok`: a ledger from then replays
    /// to the same state.
    #[test]
    fn older_alert_and_ok_events_replay_as_they_did() {
        let mut world = World::empty();
        let actor = crate::Actor::scheduler("test");
        let alert: crate::Change = serde_json::from_str(
            r#"{"family":"status","kind":"alert","text":"CI is down","saved":{"console:#ops":"ops topic","console:#dev":""}}"#,
        )
        .expect("an old alert event");
        world.commit(actor.clone(), vec![alert]);
        let ops: ChannelAddr = "console:#ops".parse().expect("channel");
        let dev: ChannelAddr = "console:#dev".parse().expect("channel");
        assert_eq!(world.state.status.topics[&ops], "ALERT: CI is down");
        assert_eq!(world.state.status.saved[&ops], "ops topic");
        let ok: crate::Change =
            serde_json::from_str(r#"{"family":"status","kind":"ok","text":""}"#)
                .expect("an old ok event");
        world.commit(actor, vec![ok]);
        assert!(world.state.status.alert.is_none());
        assert!(world.state.status.saved.is_empty());
        assert_eq!(world.state.status.topics[&ops], "ops topic");
        assert!(!world.state.status.topics.contains_key(&dev));
    }

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
