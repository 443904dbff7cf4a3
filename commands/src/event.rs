//! Events: every change to the state is one, appended to the ledger's log
//! and applied to the views. The log is the audit trail, each family's
//! history and the source of undo, so an event records who did what, where
//! and when, and carries the schema version it was written with.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{ChannelAddr, Network, PersonId};
use crate::{
    escalation, job, liaison, loaner, log, meeting, oncall, profile, status, train, tree, window,
};

/// The version of the event and view encoding written by this build.
pub const SCHEMA: u32 = 1;

/// A position in the event log; ids start at 1 and grow by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who caused an event and through which door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub person: Option<PersonId>,
    /// The network's name for them (account, user id); the scheduler's job.
    pub handle: String,
    pub network: Network,
    pub channel: Option<ChannelAddr>,
}

impl Actor {
    pub fn scheduler(job: &str) -> Self {
        Self {
            person: None,
            handle: job.to_string(),
            network: Network::Scheduler,
            channel: None,
        }
    }

    pub fn name(&self) -> &str {
        self.person.as_ref().map_or(&self.handle, |p| p.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub changes: Vec<Change>,
}

/// A change to one family's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Change {
    Tree(tree::Change),
    Job(job::Change),
    Duty(oncall::Change),
    Status(status::Change),
    Liaison(liaison::Change),
    Train(train::Change),
    Window(window::Change),
    Log(log::Change),
    Loaner(loaner::Change),
    Meeting(meeting::Change),
    Escalation(escalation::Change),
    Profile(profile::Change),
}

impl Change {
    pub fn family(&self) -> Family {
        match self {
            Change::Tree(_) => Family::Trees,
            Change::Job(_) => Family::Jobs,
            Change::Duty(_) => Family::Duty,
            Change::Status(_) => Family::Status,
            Change::Liaison(_) => Family::Liaisons,
            Change::Train(_) => Family::Trains,
            Change::Window(_) => Family::Windows,
            Change::Log(_) => Family::Log,
            Change::Loaner(_) => Family::Loaners,
            Change::Meeting(_) => Family::Meetings,
            Change::Escalation(_) => Family::Escalations,
            Change::Profile(_) => Family::Profiles,
        }
    }
}

/// The families of state, each stored as one view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Trees,
    Jobs,
    Duty,
    Status,
    Liaisons,
    Trains,
    Windows,
    Log,
    Loaners,
    Meetings,
    Escalations,
    Profiles,
}

impl Family {
    pub const ALL: [Family; 12] = [
        Family::Trees,
        Family::Jobs,
        Family::Duty,
        Family::Status,
        Family::Liaisons,
        Family::Trains,
        Family::Windows,
        Family::Log,
        Family::Loaners,
        Family::Meetings,
        Family::Escalations,
        Family::Profiles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Trees => "trees",
            Family::Jobs => "jobs",
            Family::Duty => "duty",
            Family::Status => "status",
            Family::Liaisons => "liaisons",
            Family::Trains => "trains",
            Family::Windows => "windows",
            Family::Log => "log",
            Family::Loaners => "loaners",
            Family::Meetings => "meetings",
            Family::Escalations => "escalations",
            Family::Profiles => "profiles",
        }
    }
}

/// Read access to the event log, newest first. The core reads history through
/// this trait so it never learns how the log is stored.
pub trait History {
    /// Calls `visit` on events from the newest back until it returns `false`.
    fn newest_first(&self, visit: &mut dyn FnMut(&Event) -> bool);
}

impl History for [Event] {
    fn newest_first(&self, visit: &mut dyn FnMut(&Event) -> bool) {
        for event in self.iter().rev() {
            if !visit(event) {
                break;
            }
        }
    }
}

impl History for Vec<Event> {
    fn newest_first(&self, visit: &mut dyn FnMut(&Event) -> bool) {
        self.as_slice().newest_first(visit)
    }
}
