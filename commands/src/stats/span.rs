//! The time span a statistic covers, its weekly buckets (for charts) and the
//! order statistics the summaries quote. A span always ends at or before
//! "now": the future holds no history, and clamping here keeps every family
//! from having to ask whether an interval that is still running ends at the
//! span's end or at the present.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::Error;
use crate::when::parse_duration;

/// The span when none is given: the last 30 days.
pub const DEFAULT_DAYS: i64 = 30;

/// The longest span accepted: a year (and a day, for leap years).
pub const MAX_DAYS: i64 = 366;

/// A half-open interval `[since, until)` of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Span {
    /// `[since, min(until, now))`; refused when empty or longer than a year.
    pub fn new(
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Span, Error> {
        let until = until.min(now);
        if since >= until {
            return Err(Error::invalid(format!(
                "the span is empty: since {} is not before until {} (spans end at the latest now)",
                since.to_rfc3339(),
                until.to_rfc3339()
            )));
        }
        if until - since > Duration::days(MAX_DAYS) {
            return Err(Error::invalid(format!(
                "the span from {} to {} is longer than {MAX_DAYS} days",
                since.to_rfc3339(),
                until.to_rfc3339()
            )));
        }
        Ok(Span { since, until })
    }

    /// The `length` before `now`.
    pub fn last(length: Duration, now: DateTime<Utc>) -> Span {
        Span {
            since: now - length,
            until: now,
        }
    }

    /// The default span: the last [`DEFAULT_DAYS`] days.
    pub fn default_at(now: DateTime<Utc>) -> Span {
        Span::last(Duration::days(DEFAULT_DAYS), now)
    }

    /// A chat RANGE such as `30d` or `12w`: that long back from `now`.
    pub fn parse_range(text: &str, now: DateTime<Utc>) -> Result<Span, Error> {
        let length = parse_duration(text).map_err(|_| {
            Error::invalid(format!(
                "range \"{text}\" is malformed; use a length back from now, up to {MAX_DAYS} days: 7d, 30d, 12w"
            ))
        })?;
        Ok(Span::last(length, now))
    }

    pub fn length(&self) -> Duration {
        self.until - self.since
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since <= t && t < self.until
    }

    /// Hours of `[from, to)` that fall inside the span.
    pub fn overlap_hours(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let start = from.max(self.since);
        let end = to.min(self.until);
        if end <= start {
            return 0.0;
        }
        hours(end - start)
    }

    /// The span cut at each Monday 00:00 in `tz`: the first and last bucket
    /// may be partial. At most [`MAX_DAYS`] / 7 + 2 buckets.
    pub fn weeks(&self, tz: Tz) -> Vec<Span> {
        let local = self.since.with_timezone(&tz).date_naive();
        let mut monday = local - Duration::days(i64::from(local.weekday().num_days_from_monday()));
        let mut out = Vec::new();
        let mut start = self.since;
        for _ in 0..(MAX_DAYS / 7 + 3) {
            monday += Duration::days(7);
            // Midnight can fall in a DST gap in a few zones: take the first
            // instant of that local day that exists.
            let next = tz
                .from_local_datetime(&monday.and_time(NaiveTime::MIN))
                .earliest()
                .or_else(|| {
                    tz.from_local_datetime(&monday.and_hms_opt(1, 0, 0)?)
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(start + Duration::days(7));
            let end = next.min(self.until);
            if end > start {
                out.push(Span {
                    since: start,
                    until: end,
                });
            }
            if end >= self.until {
                break;
            }
            start = end;
        }
        out
    }

    /// The index of the weekly bucket holding `t`, if any.
    pub fn week_of(weeks: &[Span], t: DateTime<Utc>) -> Option<usize> {
        weeks.iter().position(|w| w.contains(t))
    }
}

pub fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `p`th percentile by the nearest-rank method: the smallest value with
/// at least `p`% of the values at or below it.
pub fn percentile(values: &[f64], p: u32) -> Option<f64> {
    let sorted = sorted(values);
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (n * p.min(100) as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn spans_end_now_and_refuse_empty_or_huge_ones() {
        let now = at("2026-11-22T12:00:00Z");
        let s = Span::new(at("2026-11-01T00:00:00Z"), at("2027-01-01T00:00:00Z"), now)
            .expect("clamped to now");
        assert_eq!(s.until, now);
        let err = Span::new(at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"), now)
            .expect_err("future");
        assert!(err.to_string().starts_with("the span is empty"), "{err}");
        let err = Span::new(at("2020-01-01T00:00:00Z"), now, now).expect_err("long");
        assert!(err.to_string().contains("longer than 366 days"), "{err}");
        assert_eq!(
            Span::parse_range("12w", now).expect("weeks").since,
            now - Duration::weeks(12)
        );
        for bad in ["3x", "0d", "400d", "d"] {
            let err = Span::parse_range(bad, now).expect_err(bad);
            assert!(
                err.to_string()
                    .starts_with(&format!("range \"{bad}\" is malformed")),
                "{err}"
            );
        }
    }

    #[test]
    fn weeks_cut_at_local_mondays() {
        // Sunday noon to the Wednesday ten days later.
        let s = Span {
            since: at("2026-11-22T12:00:00Z"),
            until: at("2026-12-02T12:00:00Z"),
        };
        let weeks = s.weeks(Tz::UTC);
        let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            weeks.iter().map(|w| (w.since, w.until)).collect();
        assert_eq!(
            bounds,
            [
                (at("2026-11-22T12:00:00Z"), at("2026-11-23T00:00:00Z")),
                (at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")),
                (at("2026-11-30T00:00:00Z"), at("2026-12-02T12:00:00Z")),
            ]
        );
        let berlin = s.weeks(chrono_tz::Europe::Berlin);
        assert_eq!(berlin[1].since, at("2026-11-22T23:00:00Z"));
        // A year is at most 54 buckets, contiguous.
        let year = Span::last(Duration::days(MAX_DAYS), at("2026-11-22T12:00:00Z"));
        let weeks = year.weeks(Tz::UTC);
        assert!(weeks.len() <= 54, "{}", weeks.len());
        assert!(weeks.windows(2).all(|w| w[0].until == w[1].since));
        assert_eq!(weeks.last().map(|w| w.until), Some(year.until));
    }

    #[test]
    fn order_statistics() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 90), Some(9.0));
        assert_eq!(percentile(&ten[..9], 90), Some(9.0));
        assert_eq!(percentile(&[5.0], 90), Some(5.0));
        assert_eq!(percentile(&[], 90), None);
    }
}
