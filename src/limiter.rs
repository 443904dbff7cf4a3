//! Per-person command rate limiting: a token bucket per sender, so one
//! person flooding commands is told to slow down while everyone else is
//! served as usual. The first refusal is said once; further commands inside
//! the same empty stretch are dropped silently, so a flood cannot make the
//! bot flood the channel in turn. The console (the operator, or a script)
//! is not limited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use signalbox_commands::{Network, PlatformUserId};

/// Most senders tracked before idle buckets are forgotten.
const MAX_SENDERS: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    warned: bool,
}

/// What the limiter says about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse and say so; retry after this long.
    Refuse(Duration),
    /// Refuse silently (already told).
    Drop,
}

#[derive(Debug)]
pub struct Limiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<(Network, String), Bucket>>,
}

impl Limiter {
    /// `burst` commands at once, refilled at `per_minute`; a burst of 0
    /// turns limiting off.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::default(),
        }
    }

    pub fn check(&self, network: Network, user: &PlatformUserId, now: Instant) -> Verdict {
        if network == Network::Console || self.burst < 1.0 {
            return Verdict::Allow;
        }
        let mut buckets = self
            .buckets
            .lock()
            .expect("limiter lock is never poisoned: no panics while held");
        if buckets.len() >= MAX_SENDERS {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets
            .entry((network, user.to_string()))
            .or_insert(Bucket {
                tokens: self.burst,
                at: now,
                warned: false,
            });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.warned = false;
            return Verdict::Allow;
        }
        if bucket.warned {
            return Verdict::Drop;
        }
        bucket.warned = true;
        Verdict::Refuse(Duration::from_secs_f64(
            (1.0 - bucket.tokens) / self.per_second,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_refused_once_then_dropped_and_others_are_unaffected() {
        let limiter = Limiter::new(3, 60);
        let (mallory, alice) = (PlatformUserId::new("mallory"), PlatformUserId::new("alice"));
        let t0 = Instant::now();
        let verdicts: Vec<Verdict> = (0..6)
            .map(|_| limiter.check(Network::Irc, &mallory, t0))
            .collect();
        assert_eq!(&verdicts[..3], &[Verdict::Allow; 3]);
        assert!(matches!(verdicts[3], Verdict::Refuse(d) if d <= Duration::from_secs(1)));
        assert_eq!(&verdicts[4..], &[Verdict::Drop, Verdict::Drop]);
        assert_eq!(
            limiter.check(Network::Irc, &alice, t0),
            Verdict::Allow,
            "others are served"
        );
        assert_eq!(
            limiter.check(Network::Slack, &mallory, t0),
            Verdict::Allow,
            "per network identity"
        );
        assert_eq!(
            limiter.check(Network::Irc, &mallory, t0 + Duration::from_secs(1)),
            Verdict::Allow,
            "refilled"
        );
        for _ in 0..100 {
            assert_eq!(
                limiter.check(Network::Console, &mallory, t0),
                Verdict::Allow,
                "the console is not limited"
            );
        }
        let off = Limiter::new(0, 60);
        assert!(
            (0..100).all(|_| off.check(Network::Irc, &mallory, t0) == Verdict::Allow),
            "0 turns it off"
        );
    }
}
