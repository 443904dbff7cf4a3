//! `[adapters.irc]`: where to connect, who the bot is, which channels it
//! sits in, how it logs in to services and how fast it may talk. Secrets
//! (server password, SASL password, channel keys) may come from the file,
//! a `*_file` key or `SIGNALBOX__ADAPTERS__IRC__…` variables.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::line::is_word;
use crate::adapter::budget::BudgetConfig;
use crate::config::{Secret, secret_file};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name (also the TLS server name) or address.
    pub server: String,
    /// Defaults to 6697 with TLS, 6667 without.
    pub port: Option<u16>,
    #[serde(default = "yes")]
    pub tls: bool,
    /// Extra CA certificates (PEM) to trust besides the system store.
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), for SASL EXTERNAL / CertFP.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Server password (PASS).
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub nick: String,
    /// Tried in order when `nick` is taken; then `nick_`, `nick__`, ….
    #[serde(default)]
    pub alt_nicks: Vec<String>,
    pub username: Option<String>,
    pub realname: Option<String>,
    pub sasl: Option<Sasl>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Lines of one reply or announcement before the rest is folded into a
    /// link to a page with the whole text (0: never fold).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Reconnect backoff: first delay and cap, in milliseconds (with jitter).
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Silence after which the bot pings the server; twice that and the
    /// connection is considered dead.
    #[serde(default = "default_ping_secs")]
    pub ping_secs: u64,
    #[serde(default)]
    pub budget: BudgetConfig,
}

fn yes() -> bool {
    true
}
fn default_max_lines() -> usize {
    5
}
fn default_reconnect_min_ms() -> u64 {
    100
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_ping_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    Plain,
    External,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    #[serde(default = "plain")]
    pub mechanism: Mechanism,
    /// The services account (PLAIN).
    pub account: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
}

fn plain() -> Mechanism {
    Mechanism::Plain
}

/// `"#releng"` or `{ name = "#secret", key = "…" }` (or `key_file`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Channel {
    Name(String),
    Keyed(KeyedChannel),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyedChannel {
    pub name: String,
    pub key: Option<Secret>,
    pub key_file: Option<PathBuf>,
}

impl Channel {
    pub fn name(&self) -> &str {
        match self {
            Channel::Name(n) => n,
            Channel::Keyed(k) => &k.name,
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            Channel::Name(_) => None,
            Channel::Keyed(k) => k.key.as_ref().map(Secret::expose),
        }
    }
}

impl Config {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 6697 } else { 6667 })
    }

    pub fn username(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.nick)
    }

    /// Reads `*_file` secrets (relative to `base`) and checks the values;
    /// each problem is (key under `adapters.irc`, message).
    pub fn resolve(&mut self, base: Option<&Path>) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(file) = self.password_file.take() {
            self.password = secret_file(base, &file, "password_file", &mut problems);
        }
        if let Some(sasl) = &mut self.sasl {
            if let Some(file) = sasl.password_file.take() {
                sasl.password = secret_file(base, &file, "sasl.password_file", &mut problems);
            }
            match sasl.mechanism {
                Mechanism::Plain if sasl.account.is_none() || sasl.password.is_none() => problems
                    .push((
                        "sasl".into(),
                        "mechanism \"plain\" needs account and password (or password_file)".into(),
                    )),
                Mechanism::External
                    if !self.tls || self.tls_cert_file.is_none() || self.tls_key_file.is_none() =>
                {
                    problems.push((
                        "sasl".into(),
                        "mechanism \"external\" needs tls = true, tls_cert_file and tls_key_file"
                            .into(),
                    ))
                }
                _ => {}
            }
        }
        for channel in &mut self.channels {
            if let Channel::Keyed(k) = channel
                && let Some(file) = k.key_file.take()
            {
                k.key = secret_file(base, &file, "channels.key_file", &mut problems);
            }
            let name = channel.name();
            if !is_word(name) || !(name.starts_with('#') || name.starts_with('&')) {
                problems.push((
                    "channels".into(),
                    format!(
                        "channel \"{name}\" is not a channel name (#name, no spaces or commas)"
                    ),
                ));
            }
            if channel.key().is_some_and(|k| !is_word(k)) {
                problems.push((
                    "channels".into(),
                    format!("the key of \"{name}\" has spaces, commas or control characters"),
                ));
            }
        }
        for nick in std::iter::once(&self.nick).chain(&self.alt_nicks) {
            if !is_word(nick) || nick.starts_with(['#', '&']) {
                problems.push((
                    "nick".into(),
                    format!("nick \"{nick}\" is not a valid nick"),
                ));
            }
        }
        if !is_word(self.username()) {
            problems.push((
                "username".into(),
                format!("username \"{}\" is not a valid user name", self.username()),
            ));
        }
        if self.server.is_empty() || self.server.chars().any(char::is_whitespace) {
            problems.push((
                "server".into(),
                format!("server \"{}\" is not a host name", self.server),
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            problems.push((
                "reconnect_min_ms".into(),
                "reconnect_min_ms must be above 0 and at most reconnect_max_ms".into(),
            ));
        }
        if self.ping_secs == 0 {
            problems.push(("ping_secs".into(), "ping_secs must be above 0".into()));
        }
        if let Some(p) = self.budget.problem() {
            problems.push(("budget".into(), p));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Config as Full;

    const BASE: &str = "[adapters.irc]\nserver = \"irc.example.org\"\nnick = \"signalbox\"\n";

    #[test]
    fn parses_with_defaults_and_secrets_from_files_and_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sasl"), "sasl-s3cret\n").expect("write");
        std::fs::write(dir.path().join("key"), "chan-s3cret\n").expect("write");
        let text = format!(
            "{BASE}channels = [\"#releng\", {{ name = \"#ops\", key_file = \"key\" }}]\n\
             [adapters.irc.sasl]\naccount = \"signalbox\"\npassword_file = \"sasl\"\n"
        );
        let mut env = HashMap::new();
        env.insert(
            "SIGNALBOX__ADAPTERS__IRC__PASSWORD".to_string(),
            "pass-s3cret".to_string(),
        );
        let config = Full::from_text(&text, "t", &env, Some(dir.path())).expect("valid");
        let irc = config.adapters.irc.expect("irc section");
        assert!(irc.tls);
        assert_eq!(irc.port(), 6697);
        assert_eq!(irc.max_lines, 5);
        assert!(irc.budget.enabled && irc.budget.burst == 5);
        let sasl = irc.sasl.as_ref().expect("sasl");
        assert_eq!(
            sasl.password.as_ref().map(|p| p.expose()),
            Some("sasl-s3cret")
        );
        assert_eq!(irc.channels[1].key(), Some("chan-s3cret"));
        assert_eq!(
            irc.password.as_ref().map(|p| p.expose()),
            Some("pass-s3cret")
        );
        let debug = format!("{irc:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn problems_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "channels = [\"releng\"]\n",
                "adapters.irc.channels: channel \"releng\" is not a channel name",
            ),
            (
                "[adapters.irc.sasl]\naccount = \"x\"\n",
                "adapters.irc.sasl: mechanism \"plain\" needs account and password",
            ),
            (
                "tls = false\n[adapters.irc.sasl]\nmechanism = \"external\"\n",
                "mechanism \"external\" needs tls = true",
            ),
            (
                "[adapters.irc.budget]\nburst = 0\n",
                "adapters.irc.budget: burst (0)",
            ),
            (
                "alt_nicks = [\"a b\"]\n",
                "adapters.irc.nick: nick \"a b\" is not a valid nick",
            ),
            ("flood = 1\n", "unknown field \"flood\""),
            (
                "[announce]\ntrees = [\"irc:#elsewhere\"]\n",
                "\"irc:#elsewhere\" receives messages but is not in adapters.irc.channels",
            ),
        ];
        for (extra, want) in cases {
            let text = format!("{BASE}{extra}");
            let err = Full::from_text(&text, "t", &HashMap::new(), None)
                .expect_err(extra)
                .to_string();
            assert!(err.contains(want), "{extra:?}: got {err:?}, want {want:?}");
        }
    }
}
