//! Durations (`90m`, `2h`, `1h30m`, `3d`, `1w`) and instants (`14:00`,
//! `2026-11-23 14:00`) as people type them in chat. Clock times are read in the
//! zone of whoever typed them (theirs, or the team's configured one), because
//! "until 14:00" means the sheriff's afternoon, not UTC's.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::Error;

/// The longest duration accepted anywhere (a year): beyond that it is a typo.
const MAX_DAYS: i64 = 366;

/// Parses `90m`, `2h`, `1h30m`, `3d`, `1w`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::invalid(format!(
            "duration \"{text}\" is malformed; use a number with a unit: 30m, 2h, 1h30m, 3d, 1w"
        ))
    };
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&unit).ok_or_else(bad)?;
    }
    if !digits.is_empty() || total <= Duration::zero() {
        return Err(bad());
    }
    if total > Duration::days(MAX_DAYS) {
        return Err(Error::invalid(format!(
            "duration \"{text}\" is longer than {MAX_DAYS} days"
        )));
    }
    Ok(total)
}

/// Parses an instant after `now`: `14:00` (the next such time in `tz`),
/// `2026-11-23 14:00` or `2026-11-23T14:00` (in `tz`).
pub fn parse_until(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, Error> {
    let bad = || {
        Error::invalid(format!(
            "time \"{text}\" is malformed; use HH:MM or YYYY-MM-DD HH:MM (time zone {tz})"
        ))
    };
    let local = if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
        let today = now.with_timezone(&tz).date_naive();
        let candidate = resolve(today.and_time(time), tz).ok_or_else(bad)?;
        if candidate > now {
            candidate
        } else {
            let tomorrow = today.succ_opt().ok_or_else(bad)?;
            resolve(tomorrow.and_time(time), tz).ok_or_else(bad)?
        }
    } else {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
            })
            .map_err(|_| bad())?;
        resolve(naive, tz).ok_or_else(bad)?
    };
    if local <= now {
        return Err(Error::invalid(format!("time \"{text}\" is in the past")));
    }
    if local - now > Duration::days(MAX_DAYS) {
        return Err(Error::invalid(format!(
            "time \"{text}\" is more than {MAX_DAYS} days away"
        )));
    }
    Ok(local)
}

/// A local time in `tz` as UTC; in a fall-back hour the earlier instant, in a
/// spring-forward gap none.
fn resolve(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A trailing `for DURATION` or `until TIME` split off free-text words.
///
/// Only a value that looks like a duration or time (starts with a digit) is
/// taken, so a reason such as "waiting for coverage" stays a reason; a value
/// that starts with a digit but does not parse is an error, not a reason.
pub fn split_deadline(
    words: &[String],
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<(Vec<String>, Option<DateTime<Utc>>), Error> {
    if let [rest @ .., keyword, value] = words
        && value.starts_with(|c: char| c.is_ascii_digit())
    {
        let deadline = match keyword.as_str() {
            "for" => Some(now + parse_duration(value)?),
            "until" => Some(parse_until(value, now, tz)?),
            _ => None,
        };
        if deadline.is_some() {
            return Ok((rest.to_vec(), deadline));
        }
    }
    if let [rest @ .., keyword, date, time] = words
        && keyword == "until"
        && date.starts_with(|c: char| c.is_ascii_digit())
    {
        let deadline = parse_until(&format!("{date} {time}"), now, tz)?;
        return Ok((rest.to_vec(), Some(deadline)));
    }
    Ok((words.to_vec(), None))
}

/// A short human form: `2h 5m`, `3d 4h`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// An instant as the team reads it: `2026-11-22 14:00 CET`.
pub fn format_instant(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn durations() {
        for (text, mins) in [
            ("90m", 90),
            ("2h", 120),
            ("1h30m", 90),
            ("3d", 4320),
            ("1w", 10080),
        ] {
            assert_eq!(
                parse_duration(text).expect(text),
                Duration::minutes(mins),
                "{text}"
            );
        }
        for bad in [
            "",
            "2",
            "h",
            "2x",
            "0h",
            "-2h",
            "2h3",
            "9999999999999999999d",
            "400d",
        ] {
            let err = parse_duration(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
    }

    #[test]
    fn until_clock_time_is_next_occurrence_in_zone() {
        let tz: Tz = "Europe/Berlin".parse().expect("tz");
        let now = at("2026-11-22T12:00:00Z"); // 13:00 in Berlin
        assert_eq!(
            parse_until("14:00", now, tz).expect("later today"),
            at("2026-11-22T13:00:00Z")
        );
        assert_eq!(
            parse_until("12:00", now, tz).expect("tomorrow"),
            at("2026-11-23T11:00:00Z")
        );
        assert_eq!(
            parse_until("2026-11-24 08:30", now, tz).expect("date"),
            at("2026-11-24T07:30:00Z")
        );
        assert!(
            parse_until("2026-11-01 08:30", now, tz)
                .expect_err("past")
                .to_string()
                .contains("in the past")
        );
        assert!(
            parse_until("25:00", now, tz)
                .expect_err("bad")
                .to_string()
                .contains("\"25:00\"")
        );
    }

    #[test]
    fn deadline_split_keeps_plain_reasons() {
        let tz = Tz::UTC;
        let now = at("2026-11-22T12:00:00Z");
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let (rest, d) = split_deadline(&words("waiting for coverage"), now, tz).expect("reason");
        assert_eq!((rest.len(), d), (3, None));
        let (rest, d) = split_deadline(&words("builds failing for 2h"), now, tz).expect("for");
        assert_eq!(rest, words("builds failing"));
        assert_eq!(d, Some(at("2026-11-22T14:00:00Z")));
        let (_, d) =
            split_deadline(&words("x until 2026-11-23 10:00"), now, tz).expect("until date");
        assert_eq!(d, Some(at("2026-11-23T10:00:00Z")));
        assert!(split_deadline(&words("x for 2y"), now, tz).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::minutes(125)), "2h 5m");
        assert_eq!(format_duration(Duration::hours(76)), "3d 4h");
        assert_eq!(format_duration(Duration::seconds(45)), "45s");
    }
}
