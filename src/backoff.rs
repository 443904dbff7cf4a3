//! Waiting after a failure. Everything that talks to something that can be
//! down (the adapters' connections, the outbox's deliveries) waits the same
//! way: a short first delay, doubled after each further failure up to a cap,
//! and back to the short delay once things work again, so a flapping server
//! is not hammered and a recovered one is not waited on for minutes.

use std::time::Duration;

/// Exponential backoff between a first delay and a cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// A cap below `first` is taken as `first`: the delay never shrinks.
    pub fn new(first: Duration, cap: Duration) -> Self {
        let cap = cap.max(first);
        Self {
            first,
            cap,
            next: first,
        }
    }

    /// The delay to wait after this failure; the next one will be twice as
    /// long, up to the cap.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }

    /// Things work again: the next failure waits the first delay.
    pub fn succeeded(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_up_to_the_cap_and_start_over_after_a_success() {
        let mut backoff = Backoff::new(ms(250), ms(1500));
        let first: Vec<_> = (0..5).map(|_| backoff.failed()).collect();
        assert_eq!(first, [ms(250), ms(500), ms(1000), ms(1500), ms(1500)]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), ms(250));
        assert_eq!(backoff.failed(), ms(500));
    }

    #[test]
    fn a_cap_below_the_first_delay_keeps_the_first_delay() {
        let mut backoff = Backoff::new(ms(800), ms(100));
        assert_eq!(backoff.failed(), ms(800));
        assert_eq!(backoff.failed(), ms(800));
    }
}
