//! Channel topics as a mark of what is wrong now. A status alert marks the
//! `[announce] status` channels, a held train the `[announce] train`
//! channels; a channel in both shows both marks in one topic. The first mark
//! saves the channel's standing topic and the last one to go restores it, so
//! the two families never restore each other's mark away.
//!
//! The marks are a function of the state, so the core works out the topic
//! steps once for any decision that touches the status or the train
//! ([`follow`]), instead of each family writing topics of its own. The steps
//! are recorded as a status change, so a restart knows what to restore.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::{Actor, Event};
use crate::id::ChannelAddr;
use crate::status::StatusState;
use crate::train::Trains;
use crate::{Announcement, Audience, Change, Context, Outcome, SCHEMA, Settings, State};

/// What one decision does to one channel's topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The first mark went on; `saved` is the standing topic it replaced
    /// (empty when the bot never knew one).
    Marked { topic: String, saved: String },
    /// The marks changed while some stayed on.
    Remarked { topic: String },
    /// The last mark came off; `topic` is the standing one put back (empty:
    /// unknown, so the channel's topic is left as it is).
    Restored { topic: String },
}

/// The separator between marks in one topic.
const BETWEEN: &str = " | ";

/// A channel's marks, in a fixed order: the alert first, then the train.
fn marks(
    settings: &Settings,
    status: &StatusState,
    trains: &Trains,
    channel: &ChannelAddr,
) -> Vec<String> {
    let mut marks = Vec::new();
    if let Some(alert) = &status.alert
        && settings.status_channels.contains(channel)
    {
        marks.push(format!("ALERT: {}", alert.text));
    }
    if let Some(train) = &trains.current
        && let Some(hold) = &train.hold
        && settings.train_channels.contains(channel)
    {
        let tasks: Vec<&str> = hold.tasks.iter().map(|t| t.id.as_str()).collect();
        marks.push(format!(
            "train {} held on {}",
            train.version,
            tasks.join(", ")
        ));
    }
    marks
}

/// The topic steps from one state of the marks to the next, per channel.
fn steps(
    settings: &Settings,
    status: &StatusState,
    before: &Trains,
    after: (&StatusState, &Trains),
) -> BTreeMap<ChannelAddr, Step> {
    let channels: BTreeSet<&ChannelAddr> = settings
        .status_channels
        .iter()
        .chain(&settings.train_channels)
        .collect();
    let mut steps = BTreeMap::new();
    for channel in channels {
        let was = marks(settings, status, before, channel);
        let now = marks(settings, after.0, after.1, channel);
        if was == now {
            continue;
        }
        let step = match (was.is_empty(), now.is_empty()) {
            (true, _) => Step::Marked {
                topic: now.join(BETWEEN),
                saved: status
                    .topics
                    .get(channel)
                    .or_else(|| settings.topics.get(channel))
                    .cloned()
                    .unwrap_or_default(),
            },
            (false, false) => Step::Remarked {
                topic: now.join(BETWEEN),
            },
            (false, true) => Step::Restored {
                topic: status.saved.get(channel).cloned().unwrap_or_default(),
            },
        };
        steps.insert(channel.clone(), step);
    }
    steps
}

/// Adds the topic steps a decision causes: the new topics go out first
/// (they are the decision's lasting mark) and the steps are recorded with
/// the decision's own changes, in the same event.
pub fn follow(ctx: &Context, state: &State, mut outcome: Outcome) -> Outcome {
    let marking = |c: &Change| matches!(c, Change::Status(_) | Change::Train(_));
    if !outcome.changes.iter().any(marking) {
        return outcome;
    }
    let event = Event {
        v: SCHEMA,
        id: ctx.event_id,
        at: ctx.now,
        actor: Actor {
            person: ctx.caller.person.clone(),
            handle: ctx.caller.handle.clone(),
            network: ctx.network,
            channel: ctx.channel.cloned(),
        },
        changes: Vec::new(),
    };
    let mut status = state.status.clone();
    // The history of earlier trains does not mark anything: leave it out.
    let mut trains = Trains {
        current: state.trains.current.clone(),
        history: Vec::new(),
    };
    for change in &outcome.changes {
        match change {
            Change::Status(c) => status.apply(&event, c),
            Change::Train(c) => trains.apply(&event, c),
            _ => {}
        }
    }
    let steps = steps(
        ctx.settings,
        &state.status,
        &state.trains,
        (&status, &trains),
    );
    if steps.is_empty() {
        return outcome;
    }
    let topics = steps.iter().filter_map(|(channel, step)| {
        let text = match step {
            Step::Marked { topic, .. } | Step::Remarked { topic } => topic,
            // Unknown before the first mark: leave the topic as it is.
            Step::Restored { topic } if topic.is_empty() => return None,
            Step::Restored { topic } => topic,
        };
        Some(Announcement {
            to: Audience::Topic(channel.clone()),
            text: text.clone(),
        })
    });
    outcome.announce = topics.chain(outcome.announce).collect();
    outcome
        .changes
        .push(Change::Status(crate::status::Change::Topics { steps }));
    outcome
}

#[cfg(test)]
mod tests {
    use crate::tests::{World, root};
    use crate::{Audience, ChannelAddr};

    fn topics(world: &mut World, line: &str) -> Vec<(String, String)> {
        world
            .ok(&root(), line)
            .announce
            .into_iter()
            .filter_map(|a| match a.to {
                Audience::Topic(c) => Some((c.to_string(), a.text)),
                _ => None,
            })
            .collect()
    }

    fn pair(channel: &str, text: &str) -> (String, String) {
        (channel.to_string(), text.to_string())
    }

    /// `#ops` gets alerts, `#train` the train, `#both` both; `#both`'s
    /// standing topic is configured.
    fn world() -> World {
        let mut world = World::empty();
        let [ops, train, both]: [ChannelAddr; 3] =
            ["console:#ops", "console:#train", "console:#both"]
                .map(|c| c.parse().expect("channel"));
        world.settings.status_channels = vec![ops, both.clone()];
        world.settings.train_channels = vec![train, both.clone()];
        world
            .settings
            .topics
            .insert(both, "release talk".to_string());
        world
    }

    #[test]
    fn a_hold_marks_the_train_channels_and_resume_restores_them() {
        let mut world = world();
        world.ok(&root(), "train start 1.0.0-wmf.1");
        assert_eq!(
            topics(&mut world, "train hold T123 db migration stuck"),
            [
                pair("console:#both", "train 1.0.0-wmf.1 held on T123"),
                pair("console:#train", "train 1.0.0-wmf.1 held on T123"),
            ]
        );
        // The restart replays the recorded steps: the state knows the mark.
        let state = world.state.clone();
        assert_eq!(
            state
                .status
                .saved
                .get(&"console:#both".parse::<ChannelAddr>().expect("channel")),
            Some(&"release talk".to_string())
        );
        // `#train` had no known topic: it is left as it is on resume.
        assert_eq!(
            topics(&mut world, "train resume fixed"),
            [pair("console:#both", "release talk")]
        );
        assert!(world.state.status.saved.is_empty());
    }

    #[test]
    fn an_alert_and_a_hold_share_a_topic_and_each_leaves_the_other() {
        let mut world = world();
        world.ok(&root(), "train start 1.0.0-wmf.1");
        topics(&mut world, "status alert CI is down");
        assert_eq!(
            topics(&mut world, "train hold T123 stuck"),
            [
                pair(
                    "console:#both",
                    "ALERT: CI is down | train 1.0.0-wmf.1 held on T123"
                ),
                pair("console:#train", "train 1.0.0-wmf.1 held on T123"),
            ]
        );
        // The alert ends: `#both` keeps the train's mark, `#ops` goes back.
        assert_eq!(
            topics(&mut world, "status ok"),
            [pair("console:#both", "train 1.0.0-wmf.1 held on T123")]
        );
        // `#ops` had no known topic: left as it is, nothing sent for it.
        assert_eq!(
            topics(&mut world, "train resume"),
            [pair("console:#both", "release talk")]
        );
    }

    #[test]
    fn a_new_train_takes_the_old_ones_mark_away() {
        let mut world = world();
        world.ok(&root(), "train start 1.0.0-wmf.1");
        topics(&mut world, "train hold T1 stuck");
        assert_eq!(
            topics(&mut world, "train start 1.0.0-wmf.2"),
            [pair("console:#both", "release talk")]
        );
    }

    #[test]
    fn reads_and_other_families_set_no_topic() {
        let mut world = world();
        world.ok(&root(), "train start 1.0.0-wmf.1");
        topics(&mut world, "train hold T1 stuck");
        for line in ["train", "status", "train blocker add T2 also", "ping"] {
            assert_eq!(topics(&mut world, line), [], "{line}");
        }
    }
}
