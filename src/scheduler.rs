//! The scheduler: recurring jobs from cron expressions in a time zone, and
//! one-shot timers that the state asks for (a timed tree closure's warning and
//! reopening). Firing a job is a ledger transaction that re-checks the job is
//! still due against the latest state and records the firing with its effect,
//! so a job runs once: a restart never repeats it, and one missed while the
//! bot was down runs once at start-up (several missed firings of a recurring
//! job collapse into one).
//!
//! cron's traps are handled here: a local time that a fall-back hour repeats
//! fires once, not twice; a time inside a spring-forward gap is skipped, as
//! the cron crate does.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use signalbox_commands::job::Change as JobChange;
use signalbox_commands::{
    Actor, Announcement, Audience, Caller, Change, Context, Job, Network, Outcome,
};
use tokio_util::sync::CancellationToken;

use signalbox_commands::window::WindowDef;

use crate::config::Reminder;
use crate::router::{Router, draft};

/// Most cron firings walked to find the latest missed one.
const MAX_CATCH_UP: usize = 100_000;

pub struct Scheduler {
    router: Arc<Router>,
    reminders: Vec<Reminder>,
    default_tz: Tz,
}

impl Scheduler {
    pub fn new(router: Arc<Router>, reminders: Vec<Reminder>, default_tz: Tz) -> Self {
        Self {
            router,
            reminders,
            default_tz,
        }
    }

    /// Fires everything due now; returns how many jobs took effect.
    pub async fn tick(&self) -> usize {
        let now = self.router.clock().now();
        let state = self.router.ledger().state();
        let mut fired = 0;
        for (at, job) in state.timers() {
            if at <= now && self.fire_timer(job).await {
                crate::metrics::job_fired("timer");
                fired += 1;
            }
        }
        for rotation in signalbox_commands::oncall::due(self.router.settings(), &state, now) {
            if self.fire_timer(Job::Handoff { rotation }).await {
                crate::metrics::job_fired("handoff");
                fired += 1;
            }
        }
        for reminder in &self.reminders {
            if self.fire_reminder(reminder).await {
                crate::metrics::job_fired("reminder");
                fired += 1;
            }
        }
        let windows = self.router.settings().windows.clone();
        for window in &windows {
            if self.fire_window(window).await {
                fired += 1;
            }
        }
        fired
    }

    /// The next instant anything is due, if any.
    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let state = self.router.ledger().state();
        let now = self.router.clock().now();
        let timers = state.timers().into_iter().map(|(at, _)| at);
        let reminders = self.reminders.iter().filter_map(|r| {
            let last = state.jobs.last_fired(&job_name(r)).unwrap_or(now);
            next_fire(
                &r.cron.schedule,
                r.timezone.unwrap_or(self.default_tz),
                last,
            )
        });
        let handoffs = signalbox_commands::oncall::next_wake(self.router.settings(), &state, now);
        let settings = self.router.settings().clone();
        let windows = settings.windows.iter().filter_map(|w| {
            let last = state.jobs.last_fired(&window_job(&w.name)).unwrap_or(now);
            next_fire(&w.schedule, w.timezone, last)
        });
        timers.chain(reminders).chain(handoffs).chain(windows).min()
    }

    /// Runs until `shutdown`: fires what is due, sleeps until the next
    /// instant or until the state changes.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.router.ledger().watch();
        loop {
            self.tick().await;
            let wake = self.next_wake();
            let clock = self.router.clock().clone();
            let sleep = async {
                match wake {
                    Some(at) => clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sleep => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn fire_timer(&self, job: Job) -> bool {
        let router = &self.router;
        let settings = router.settings().clone();
        let resolver = router.resolver().clone();
        let clock = router.clock().clone();
        let result = router
            .ledger()
            .transact(move |state, history, event_id| {
                let now = clock.now();
                let caller = Caller::guest("scheduler");
                let ctx = Context {
                    caller: &caller,
                    network: Network::Scheduler,
                    channel: None,
                    now,
                    zone: settings.timezone,
                    settings: &settings,
                    history,
                    event_id,
                    aliases: signalbox_commands::mention::Aliases::none(),
                };
                let outcome = signalbox_commands::run_job(&job, &ctx, state);
                let took_effect = !outcome.changes.is_empty();
                (
                    draft(outcome, now, Actor::scheduler(&job.name()), &resolver),
                    took_effect,
                )
            })
            .await;
        match result {
            Ok(took_effect) => took_effect,
            Err(e) => {
                tracing::error!("scheduled job failed: {e}");
                false
            }
        }
    }

    async fn fire_reminder(&self, reminder: &Reminder) -> bool {
        let name = job_name(reminder);
        let schedule = reminder.cron.schedule.clone();
        let tz = reminder.timezone.unwrap_or(self.default_tz);
        let channels = reminder.channels.clone();
        let text = reminder.text.clone();
        let resolver = self.router.resolver().clone();
        let clock = self.router.clock().clone();
        let result = self
            .router
            .ledger()
            .transact(move |state, _, _| {
                let now = clock.now();
                let (at, announce) = match state.jobs.last_fired(&name) {
                    // First sight: arm from now, so a new reminder does not
                    // fire for every occurrence since the epoch.
                    None => (now, false),
                    Some(last) => match latest_due(&schedule, tz, last, now) {
                        Some(due) => (due, true),
                        None => return (None, false),
                    },
                };
                let mut outcome = Outcome::default().change(Change::Job(JobChange::Fired {
                    job: name.clone(),
                    at,
                }));
                if announce {
                    for channel in &channels {
                        outcome = outcome.announce(Announcement {
                            to: Audience::Channel(channel.clone()),
                            text: text.clone(),
                        });
                    }
                }
                (
                    draft(outcome, now, Actor::scheduler(&name), &resolver),
                    announce,
                )
            })
            .await;
        result.unwrap_or_else(|e| {
            tracing::error!("reminder failed: {e}");
            false
        })
    }
}

impl Scheduler {
    /// A recurring deploy window's start: announces it (re-reading the
    /// patch queue now) and opens it, recorded with the firing. A start
    /// missed while the bot was down is taken once at start-up, and
    /// announced only if the window is still running.
    async fn fire_window(&self, window: &WindowDef) -> bool {
        let name = window_job(&window.name);
        let window = window.clone();
        let settings = self.router.settings().clone();
        let resolver = self.router.resolver().clone();
        let clock = self.router.clock().clone();
        let result = self
            .router
            .ledger()
            .transact(move |state, history, event_id| {
                let now = clock.now();
                let due = match state.jobs.last_fired(&name) {
                    None => None,
                    Some(last) => match latest_due(&window.schedule, window.timezone, last, now) {
                        Some(due) => Some(due),
                        None => return (None, false),
                    },
                };
                let mut outcome = Outcome::default();
                if let Some(due) = due
                    && now < due + window.duration
                {
                    let caller = Caller::guest("scheduler");
                    let ctx = Context {
                        caller: &caller,
                        network: Network::Scheduler,
                        channel: None,
                        now,
                        zone: settings.timezone,
                        settings: &settings,
                        history,
                        event_id,
                        aliases: signalbox_commands::mention::Aliases::none(),
                    };
                    outcome =
                        signalbox_commands::window::begin(&ctx, &state.windows, &window.name, due);
                }
                let announced = !outcome.announce.is_empty();
                let outcome = outcome.change(Change::Job(JobChange::Fired {
                    job: name.clone(),
                    at: due.unwrap_or(now),
                }));
                (
                    draft(outcome, now, Actor::scheduler(&name), &resolver),
                    announced,
                )
            })
            .await;
        result.unwrap_or_else(|e| {
            tracing::error!("deploy window announcement failed: {e}");
            false
        })
    }
}

fn window_job(name: &str) -> String {
    format!("window:{name}")
}

fn job_name(reminder: &Reminder) -> String {
    format!("reminder:{}", reminder.name)
}

/// The first firing strictly after `after`, skipping the repeat of a local
/// time in a fall-back hour.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz);
    schedule
        .after(&local)
        .take(4)
        .find(|t| t.naive_local() != local.naive_local())
        .map(|t| t.with_timezone(&Utc))
}

/// The latest firing in `(last, now]`, if any.
pub fn latest_due(
    schedule: &cron::Schedule,
    tz: Tz,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut due = None;
    let mut cursor = last;
    for _ in 0..MAX_CATCH_UP {
        match next_fire(schedule, tz, cursor) {
            Some(t) if t <= now => {
                due = Some(t);
                cursor = t;
            }
            _ => return due,
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn fall_back_hour_fires_once_and_spring_gap_is_skipped() {
        let tz: Tz = "Europe/Berlin".parse().expect("tz");
        let daily_0130 = cron::Schedule::from_str("0 30 1 * * *").expect("cron");
        // 2026-10-25: clocks go back at 03:00 CEST to 02:00 CET; use 02:30.
        let daily_0230 = cron::Schedule::from_str("0 30 2 * * *").expect("cron");
        let first = next_fire(&daily_0230, tz, at("2026-10-24T12:00:00Z")).expect("fires");
        assert_eq!(first, at("2026-10-25T00:30:00Z"), "02:30 CEST");
        let second = next_fire(&daily_0230, tz, first).expect("fires");
        assert_eq!(
            second,
            at("2026-10-26T01:30:00Z"),
            "next day, not 02:30 CET the same night"
        );
        // 2026-03-29: 02:00 jumps to 03:00; 02:30 does not exist that day.
        let gap = next_fire(&daily_0230, tz, at("2026-03-28T12:00:00Z")).expect("fires");
        assert_eq!(gap, at("2026-03-30T00:30:00Z"));
        let normal = next_fire(&daily_0130, tz, at("2026-03-28T12:00:00Z")).expect("fires");
        assert_eq!(normal, at("2026-03-29T00:30:00Z"));
    }

    #[test]
    fn missed_firings_collapse_into_the_latest() {
        let hourly = cron::Schedule::from_str("0 0 * * * *").expect("cron");
        let due = latest_due(
            &hourly,
            Tz::UTC,
            at("2026-11-22T00:00:00Z"),
            at("2026-11-22T05:30:00Z"),
        );
        assert_eq!(due, Some(at("2026-11-22T05:00:00Z")));
        assert_eq!(
            latest_due(
                &hourly,
                Tz::UTC,
                at("2026-11-22T05:00:00Z"),
                at("2026-11-22T05:30:00Z")
            ),
            None
        );
    }
}
