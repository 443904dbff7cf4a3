//! An outbound budget: a token bucket per network connection. Servers kill
//! a client that sends faster than its connect class allows ("Excess
//! Flood"), and the libraries' own throttle settings cannot be trusted to be
//! applied, so every adapter that writes lines asks its budget first. Waiters
//! are served in order (the lock is fair), so a burst of replies keeps its
//! order while it is paced.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How fast a connection may send: `burst` lines at once, then
/// `per_second` lines a second. On by default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    pub enabled: bool,
    pub burst: u32,
    pub per_second: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            burst: 5,
            per_second: 1.0,
        }
    }
}

impl BudgetConfig {
    /// A problem with the values, for the config check.
    pub fn problem(&self) -> Option<String> {
        (self.enabled
            && (self.burst == 0 || self.per_second.is_nan() || self.per_second <= 0.0))
            .then(|| format!("burst ({}) and per_second ({}) must be above 0; set enabled = false to send without a budget", self.burst, self.per_second))
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket; `take` waits for a token.
#[derive(Debug)]
pub struct Budget {
    config: BudgetConfig,
    bucket: Mutex<Bucket>,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Self {
        let tokens = f64::from(config.burst);
        Self {
            config,
            bucket: Mutex::new(Bucket {
                tokens,
                at: Instant::now(),
            }),
        }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Waits until one more line may be sent, then spends it.
    pub async fn take(&self) {
        if !self.config.enabled || self.config.per_second <= 0.0 {
            return;
        }
        let burst = f64::from(self.config.burst.max(1));
        let rate = self.config.per_second;
        // Held while sleeping: later callers queue behind this one.
        let mut bucket = self.bucket.lock().await;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
            tokio::time::sleep(wait).await;
            bucket.at = Instant::now();
            bucket.tokens = 1.0;
        }
        bucket.tokens -= 1.0;
    }

    /// Puts the bucket back to full, e.g. on a new connection.
    pub async fn refill(&self) {
        let mut bucket = self.bucket.lock().await;
        bucket.tokens = f64::from(self.config.burst);
        bucket.at = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let budget = Budget::new(BudgetConfig {
            enabled: true,
            burst: 3,
            per_second: 2.0,
        });
        let start = Instant::now();
        for _ in 0..3 {
            budget.take().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..4 {
            budget.take().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2), "then 2 lines/s");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = Instant::now();
        for _ in 0..3 {
            budget.take().await;
        }
        assert_eq!(idle.elapsed(), Duration::ZERO, "refills up to the burst");
        budget.take().await;
        assert_eq!(idle.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_never_waits() {
        let budget = Budget::new(BudgetConfig {
            enabled: false,
            burst: 1,
            per_second: 0.001,
        });
        let start = Instant::now();
        for _ in 0..1000 {
            budget.take().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn zero_values_are_a_problem_unless_disabled() {
        let mut c = BudgetConfig {
            burst: 0,
            ..BudgetConfig::default()
        };
        assert!(c.problem().is_some());
        c.enabled = false;
        assert!(c.problem().is_none());
        assert!(BudgetConfig::default().problem().is_none());
    }
}
