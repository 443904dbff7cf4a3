//! `[adapters.matrix]`: which homeserver, who the bot is there, how it logs
//! in, where its encryption keys live and which rooms it sits in. Secrets
//! (password, access token) may come from the file, a `*_file` key or
//! `SIGNALBOX__ADAPTERS__MATRIX__…` variables.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{Secret, secret_file};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client-server API base, `https://matrix.example.org`; no
    /// well-known lookup is made.
    pub homeserver: String,
    /// The bot's Matrix id, `@signalbox:example.org`.
    pub user: String,
    /// Password login; the session it opens (and its device id) is kept in
    /// the store and reused on every later start.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Or an access token of an existing session, with that session's
    /// device id (the device's encryption keys are in the store).
    pub access_token: Option<Secret>,
    pub access_token_file: Option<PathBuf>,
    pub device_id: Option<String>,
    /// The device's display name at password login.
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// The SQLite state and crypto store, relative to `bot.data_dir`.
    #[serde(default = "default_store_dir")]
    pub store_dir: PathBuf,
    /// Rooms to join and stay in, by alias (`#releng:example.org`) or id
    /// (`!abc:example.org`). Invites from people in `[people]` (by their
    /// `matrix` id) are accepted too.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Reconnect backoff after a failed sync: first delay and cap, in
    /// milliseconds.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
}

fn default_device_name() -> String {
    "signalbox".to_string()
}
fn default_store_dir() -> PathBuf {
    PathBuf::from("matrix")
}
fn default_reconnect_min_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}

/// How the bot logs in.
#[derive(Debug, Clone)]
pub enum Login<'a> {
    Password(&'a str),
    Token { token: &'a str, device_id: &'a str },
}

impl Config {
    pub fn login(&self) -> Option<Login<'_>> {
        match (&self.password, &self.access_token, &self.device_id) {
            (Some(p), None, _) => Some(Login::Password(p.expose())),
            (None, Some(t), Some(d)) => Some(Login::Token {
                token: t.expose(),
                device_id: d,
            }),
            _ => None,
        }
    }

    /// The store directory under `data_dir`.
    pub fn store_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.store_dir)
    }

    /// Reads `*_file` secrets (relative to `base`) and checks the values;
    /// each problem is (key under `adapters.matrix`, message).
    pub fn resolve(&mut self, base: Option<&Path>) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(file) = self.password_file.take() {
            self.password = secret_file(base, &file, "password_file", &mut problems);
        }
        if let Some(file) = self.access_token_file.take() {
            self.access_token = secret_file(base, &file, "access_token_file", &mut problems);
        }
        let url_ok = (self.homeserver.starts_with("https://")
            || self.homeserver.starts_with("http://"))
            && !self.homeserver.chars().any(char::is_whitespace);
        if !url_ok {
            problems.push((
                "homeserver".into(),
                format!(
                    "homeserver \"{}\" is not an http(s) url, e.g. https://matrix.example.org",
                    self.homeserver
                ),
            ));
        }
        if !is_matrix_id(&self.user, '@') {
            problems.push((
                "user".into(),
                format!(
                    "user \"{}\" is not a matrix id, e.g. @signalbox:example.org",
                    self.user
                ),
            ));
        }
        match (&self.password, &self.access_token, &self.device_id) {
            (Some(_), None, _) | (None, Some(_), Some(_)) => {}
            (Some(_), Some(_), _) => problems.push((
                "password".into(),
                "give either password or access_token, not both".into(),
            )),
            (None, Some(_), None) => problems.push((
                "device_id".into(),
                "access_token needs the device_id of its session".into(),
            )),
            (None, None, _) => problems.push((
                "password".into(),
                "needs password (or password_file) or access_token with device_id".into(),
            )),
        }
        for room in &self.rooms {
            if !(is_matrix_id(room, '#') || is_matrix_id(room, '!')) {
                problems.push((
                    "rooms".into(),
                    format!(
                        "room \"{room}\" is neither an alias (#name:server) nor a room id (!id:server)"
                    ),
                ));
            }
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            problems.push((
                "reconnect_min_ms".into(),
                "reconnect_min_ms must be above 0 and at most reconnect_max_ms".into(),
            ));
        }
        problems
    }
}

/// `SIGIL localpart:server`, no whitespace; a room id (`!`) may also be an
/// opaque `!hash`, as in room version 12.
pub fn is_matrix_id(s: &str, sigil: char) -> bool {
    let clean = !s.chars().any(|c| c.is_whitespace() || c.is_control());
    let Some(rest) = s.strip_prefix(sigil) else {
        return false;
    };
    let named = rest
        .split_once(':')
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty());
    clean && (named || (sigil == '!' && !rest.is_empty() && !rest.contains(':')))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Config as Full;

    const BASE: &str = "[adapters.matrix]\nhomeserver = \"https://matrix.example.org\"\nuser = \"@signalbox:example.org\"\n";

    #[test]
    fn parses_with_defaults_and_a_password_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw"), "mx-s3cret\n").expect("write");
        let text = format!("{BASE}password_file = \"pw\"\nrooms = [\"#releng:example.org\"]\n");
        let config = Full::from_text(&text, "t", &HashMap::new(), Some(dir.path())).expect("valid");
        let matrix = config.adapters.matrix.expect("matrix section");
        assert!(matches!(
            matrix.login(),
            Some(super::Login::Password("mx-s3cret"))
        ));
        assert_eq!(matrix.device_name, "signalbox");
        assert_eq!(
            matrix.store_path(std::path::Path::new("/data")),
            std::path::Path::new("/data/matrix")
        );
        let debug = format!("{matrix:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn problems_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                "adapters.matrix.password: needs password (or password_file) or access_token",
            ),
            (
                "access_token = \"t\"\n",
                "adapters.matrix.device_id: access_token needs the device_id",
            ),
            (
                "password = \"p\"\naccess_token = \"t\"\n",
                "give either password or access_token, not both",
            ),
            (
                "password = \"p\"\nrooms = [\"releng\"]\n",
                "room \"releng\" is neither an alias (#name:server) nor a room id",
            ),
            ("password = \"p\"\nsync = 1\n", "unknown field \"sync\""),
        ];
        for (extra, want) in cases {
            let text = format!("{BASE}{extra}");
            let err = Full::from_text(&text, "t", &HashMap::new(), None)
                .expect_err(extra)
                .to_string();
            assert!(err.contains(want), "{extra:?}: got {err:?}, want {want:?}");
        }
        let bad_user = "[adapters.matrix]\nhomeserver = \"matrix.example.org\"\nuser = \"signalbox\"\npassword = \"p\"\n";
        let err = Full::from_text(bad_user, "t", &HashMap::new(), None)
            .expect_err("bad user")
            .to_string();
        assert!(
            err.contains("user \"signalbox\" is not a matrix id")
                && err.contains("homeserver \"matrix.example.org\" is not an http(s) url"),
            "{err}"
        );
    }
}
