//! Time, injectable. The bot reads wall-clock time (deadlines are wall-clock
//! instants in a time zone), so tests replace the clock rather than pausing
//! tokio's: a [`ManualClock`] moves only when the test advances it, and every
//! sleeper wakes when its instant is reached.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock, moved by `SIGNALBOX_CLOCK_SKEW` when a test sets it.
pub struct SystemClock;

/// The environment variable only tests set; see the module docs.
pub const SKEW_VAR: &str = "SIGNALBOX_CLOCK_SKEW";

/// The skew from [`SKEW_VAR`], read once. A value that does not parse stops
/// the process: a test run that meant to move the clock and silently did not
/// would prove nothing.
fn skew() -> chrono::Duration {
    static SKEW: OnceLock<chrono::Duration> = OnceLock::new();
    *SKEW.get_or_init(|| match std::env::var(SKEW_VAR) {
        Ok(text) if !text.is_empty() => signalbox_commands::when::parse_duration(&text)
            .unwrap_or_else(|e| panic!("{SKEW_VAR}={text:?}: {e}")),
        _ => chrono::Duration::zero(),
    })
}

impl SystemClock {
    /// Wall-clock time plus the test skew (zero outside tests).
    pub fn current() -> DateTime<Utc> {
        Utc::now() + skew()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock::current()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Re-check: wall time can jump (NTP, suspend), so sleep in slices.
            loop {
                let left = at - SystemClock::current();
                let Ok(left) = left.to_std() else { return };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(std::time::Duration::from_secs(60))).await;
            }
        })
    }
}

/// A clock that moves only when told to.
pub struct ManualClock(watch::Sender<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(watch::Sender::new(start))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.0.send_replace(t);
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.0.send_modify(|t| *t += d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut rx = self.0.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|now| *now >= at).await;
        })
    }
}
