//! Scheduled jobs' bookkeeping: the instant each recurring job last fired.
//! It lives in the ledger so that a job's firing and its effect commit
//! together: after a crash a job has either fired with its effect or not at
//! all, and so runs once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A recurring job was first seen (armed) or fired at `at`.
    Fired { job: String, at: DateTime<Utc> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jobs {
    pub last_fired: BTreeMap<String, DateTime<Utc>>,
}

impl Jobs {
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Fired { job, at } => {
                self.last_fired.insert(job.clone(), *at);
            }
        }
    }

    pub fn last_fired(&self, job: &str) -> Option<DateTime<Utc>> {
        self.last_fired.get(job).copied()
    }
}
