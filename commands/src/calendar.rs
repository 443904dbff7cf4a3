//! Links to the bot's calendar feeds, as chat replies give them. The feeds
//! themselves are served over HTTP (the main crate's `http::calendar`); the
//! core only needs to know where they live (`public_url`) and, when they are
//! guarded, the token calendar clients pass as `?token=` (they cannot send
//! headers). The token is a secret: its `Debug` is redacted so it never
//! reaches a log through `Settings`, and `oncall ics` gives it only where
//! nobody else reads (a direct message or the API).

use std::fmt;

/// The `[http] calendar_token`.
#[derive(Clone, PartialEq, Eq)]
pub struct CalendarToken(String);

impl CalendarToken {
    pub fn new(value: impl Into<String>) -> Self {
        CalendarToken(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `?token=…`, encoded for a URL's query.
    pub fn query(&self) -> String {
        format!("?token={}", encode(&self.0))
    }
}

impl fmt::Debug for CalendarToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The feed at `path` (e.g. `/calendar/windows.ics`) under `public_url`.
pub fn link(public_url: &str, path: &str) -> String {
    format!("{}{path}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_encoded_and_never_shown_by_debug() {
        let token = CalendarToken::new("a b&c=d/é");
        assert_eq!(token.query(), "?token=a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(format!("{token:?}"), "<redacted>");
        assert_eq!(
            link("https://bot.example.org/", "/calendar/windows.ics"),
            "https://bot.example.org/calendar/windows.ics"
        );
    }
}
