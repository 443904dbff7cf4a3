//! Configuration: TOML, layered defaults → file → environment. Values are
//! validated while they are read, so a problem is reported with the key and
//! line it sits on; cross-key checks (a console person who is not in
//! `[people]`, one handle given to two people) come after, with the line of
//! the key too. Secrets come from the file, a `*_file` key, or
//! `SIGNALBOX__SECTION__KEY` variables, and never appear in `Debug` output.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;
use signalbox_commands::task::TaskPattern;
use signalbox_commands::{ChannelAddr, Role, Settings, TaskPatterns};
use toml::Spanned;

/// A configuration problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {p}", self.file))
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

/// A secret value; `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A cron expression (6 or 7 fields, seconds first; day names recommended).
#[derive(Clone)]
pub struct Cron {
    pub text: String,
    pub schedule: cron::Schedule,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let schedule = cron::Schedule::from_str(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "cron expression \"{text}\" is invalid ({e}); use 6 fields, seconds first, with day names: \"0 0 15 * * Tue\""
            ))
        })?;
        Ok(Cron { text, schedule })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub bot: Bot,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub trees: Trees,
    #[serde(default)]
    pub announce: Announce,
    #[serde(default)]
    pub people: BTreeMap<String, Person>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub reminders: Vec<Reminder>,
    #[serde(default)]
    pub adapters: Adapters,
}

/// Chat networks to join; each is a table of its own (`[adapters.irc]` …),
/// defined beside its adapter, present only when the network is configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adapters {
    #[cfg(feature = "irc")]
    pub irc: Option<crate::adapter::irc::Config>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bot {
    /// The bot's name, also what a mention starts with (`signalbox: tree`).
    pub name: String,
    pub prefix: String,
    pub timezone: Tz,
    pub data_dir: PathBuf,
    /// The person the console speaks as.
    pub console_as: Option<Spanned<String>>,
}

impl Default for Bot {
    fn default() -> Self {
        Self {
            name: "signalbox".to_string(),
            prefix: "!".to_string(),
            timezone: Tz::UTC,
            data_dir: PathBuf::from("./data"),
            console_as: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How the dashboard is reached from outside, for links in chat.
    pub public_url: Option<String>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trees {
    /// Trees that exist from the start (more can be added through the API).
    pub names: Vec<String>,
    /// Reason categories a closure may be tagged with.
    pub tags: Vec<String>,
}

impl Default for Trees {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            tags: signalbox_commands::DEFAULT_TREE_TAGS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Event kind → channels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Announce {
    pub trees: Vec<ChannelAddr>,
    pub train: Vec<ChannelAddr>,
    pub windows: Vec<ChannelAddr>,
    pub deploy_log: Vec<ChannelAddr>,
    pub loaners: Vec<ChannelAddr>,
    pub handoff: Vec<ChannelAddr>,
    pub status: Vec<ChannelAddr>,
}

impl Announce {
    pub fn channels(&self, kind: signalbox_commands::AnnounceKind) -> &[ChannelAddr] {
        use signalbox_commands::AnnounceKind as K;
        match kind {
            K::Trees => &self.trees,
            K::Train => &self.train,
            K::Windows => &self.windows,
            K::DeployLog => &self.deploy_log,
            K::Loaners => &self.loaners,
            K::Handoff => &self.handoff,
            K::Status => &self.status,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    #[serde(default)]
    pub roles: Vec<Role>,
    pub email: Option<String>,
    /// IRC services account (never a nick).
    pub irc: Option<Spanned<String>>,
    /// Matrix user id, `@alice:example.org`.
    pub matrix: Option<Spanned<String>>,
    /// Slack user id, `U…`.
    pub slack: Option<Spanned<String>>,
    /// Discord user id (snowflake).
    pub discord: Option<Spanned<String>>,
    /// Bearer token for HTTP writes.
    pub api_token: Option<Secret>,
    pub api_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: String,
    pub pattern: Spanned<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    pub name: String,
    pub cron: Cron,
    pub timezone: Option<Tz>,
    pub channels: Vec<ChannelAddr>,
    pub text: String,
}

impl Config {
    /// Reads and checks a config file, then applies the environment.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Problems {
            file: source.clone(),
            problems: vec![Problem {
                line: None,
                key: "(file)".to_string(),
                message: format!("cannot read: {e}"),
            }],
        })?;
        let env: HashMap<String, String> = std::env::vars().collect();
        Config::from_text(&text, &source, &env, path.parent())
    }

    /// Parses `text`; `env` supplies `SIGNALBOX__…` overrides; `*_file`
    /// paths are read relative to `base`.
    pub fn from_text(
        text: &str,
        source: &str,
        env: &HashMap<String, String>,
        base: Option<&Path>,
    ) -> Result<Config, Problems> {
        let fail = |problems: Vec<Problem>| Problems {
            file: source.to_string(),
            problems,
        };
        let mut config: Config =
            toml::from_str(text).map_err(|e| fail(vec![toml_problem(&e, text)]))?;
        let overrides: Vec<(&String, &String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("SIGNALBOX__"))
            .collect();
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| fail(vec![toml_problem(&e, text)]))?;
            let mut sorted = overrides;
            sorted.sort();
            for (key, value) in sorted {
                set_path(&mut table, key, value).map_err(|p| fail(vec![p]))?;
            }
            let merged = toml::to_string(&table).map_err(|e| {
                fail(vec![Problem {
                    line: None,
                    key: "(environment)".into(),
                    message: e.to_string(),
                }])
            })?;
            config = toml::from_str(&merged).map_err(|e| {
                let mut p = toml_problem(&e, &merged);
                p.line = None;
                p.message = format!("{} (from a SIGNALBOX__ environment variable)", p.message);
                fail(vec![p])
            })?;
        }
        let problems = config.check(text, base);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// Cross-key checks, and resolving `*_file` secrets.
    fn check(&mut self, text: &str, base: Option<&Path>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
        if let Some(person) = &self.bot.console_as
            && !self.people.contains_key(person.get_ref())
        {
            problems.push(Problem {
                line: at(person.span()),
                key: "bot.console_as".into(),
                message: format!(
                    "person \"{}\" is not in [people]; people are: {}",
                    person.get_ref(),
                    self.people_list()
                ),
            });
        }
        if self.bot.prefix.is_empty() || self.bot.prefix.chars().any(char::is_whitespace) {
            problems.push(Problem {
                line: find_key_line(text, "prefix"),
                key: "bot.prefix".into(),
                message: format!(
                    "prefix \"{}\" must be non-empty and without spaces",
                    self.bot.prefix
                ),
            });
        }
        let mut seen: HashMap<(String, String), String> = HashMap::new();
        for (name, person) in &mut self.people {
            for (network, handle) in [
                ("irc", &person.irc),
                ("matrix", &person.matrix),
                ("slack", &person.slack),
                ("discord", &person.discord),
            ] {
                let Some(handle) = handle else { continue };
                if let Some(other) = seen.insert(
                    (network.to_string(), handle.get_ref().clone()),
                    name.clone(),
                ) {
                    problems.push(Problem {
                        line: at(handle.span()),
                        key: format!("people.{name}.{network}"),
                        message: format!(
                            "handle \"{}\" is also given to {other}",
                            handle.get_ref()
                        ),
                    });
                }
            }
            if let Some(file) = person.api_token_file.take() {
                let path = base.map_or(file.clone(), |b| b.join(&file));
                match std::fs::read_to_string(&path) {
                    Ok(s) => {
                        person.api_token =
                            Some(Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                    }
                    Err(e) => problems.push(Problem {
                        line: find_key_line(text, "api_token_file"),
                        key: format!("people.{name}.api_token_file"),
                        message: format!("cannot read \"{}\": {e}", path.display()),
                    }),
                }
            }
        }
        #[cfg(feature = "irc")]
        if let Some(irc) = &mut self.adapters.irc {
            for (key, message) in irc.resolve(base) {
                let leaf = key.rsplit('.').next().unwrap_or(&key).to_string();
                problems.push(Problem {
                    line: find_key_line(text, &leaf),
                    key: format!("adapters.irc.{key}"),
                    message,
                });
            }
            // The bot only speaks where it sits: an irc: announce channel it
            // never joins would hold up every later IRC announcement.
            use signalbox_commands::AnnounceKind as K;
            let kinds = [
                K::Trees,
                K::Train,
                K::Windows,
                K::DeployLog,
                K::Loaners,
                K::Handoff,
                K::Status,
            ];
            let joined = |c: &str| {
                irc.channels.iter().any(|k| {
                    crate::adapter::irc::accounts::fold(k.name())
                        == crate::adapter::irc::accounts::fold(c)
                })
            };
            let announced = kinds.iter().flat_map(|k| self.announce.channels(*k));
            let reminded = self.reminders.iter().flat_map(|r| r.channels.iter());
            for channel in announced.chain(reminded) {
                if channel.network() == signalbox_commands::Network::Irc
                    && !joined(channel.channel())
                {
                    problems.push(Problem {
                        line: text
                            .find(&format!("\"{channel}\""))
                            .map(|at| line_of(text, at)),
                        key: "adapters.irc.channels".into(),
                        message: format!(
                            "\"{channel}\" receives messages but is not in adapters.irc.channels"
                        ),
                    });
                }
            }
        }
        let mut tree_names = std::collections::HashSet::new();
        for name in &self.trees.names {
            let valid = !name.is_empty()
                && name != "all"
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid || !tree_names.insert(name) {
                problems.push(Problem {
                    line: find_key_line(text, "names"),
                    key: "trees.names".into(),
                    message: format!("tree name \"{name}\" is invalid or repeated (letters, digits, - _ . only; not \"all\")"),
                });
            }
        }
        for task in &self.tasks {
            if let Err(e) =
                TaskPattern::new(&task.name, task.pattern.get_ref(), task.url.as_deref())
            {
                problems.push(Problem {
                    line: at(task.pattern.span()),
                    key: "tasks.pattern".into(),
                    message: e.to_string(),
                });
            }
        }
        let mut reminder_names = std::collections::HashSet::new();
        for r in &self.reminders {
            if !reminder_names.insert(&r.name) {
                problems.push(Problem {
                    line: find_key_line(text, "name"),
                    key: "reminders.name".into(),
                    message: format!("reminder name \"{}\" is used twice", r.name),
                });
            }
        }
        problems
    }

    fn people_list(&self) -> String {
        self.people.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// The core's view of the configuration.
    pub fn settings(&self) -> Settings {
        let tasks = if self.tasks.is_empty() {
            TaskPatterns::default()
        } else {
            TaskPatterns::new(
                self.tasks
                    .iter()
                    .filter_map(|t| {
                        TaskPattern::new(&t.name, t.pattern.get_ref(), t.url.as_deref()).ok()
                    })
                    .collect(),
            )
        };
        Settings {
            prefix: self.bot.prefix.clone(),
            timezone: self.bot.timezone,
            tasks,
            tree_tags: self.trees.tags.clone(),
        }
    }
}

fn toml_problem(e: &toml::de::Error, text: &str) -> Problem {
    let line = e.span().map(|s| line_of(text, s.start));
    let key = e
        .span()
        .and_then(|s| key_at(text, s.start))
        .unwrap_or_else(|| "(syntax)".to_string());
    Problem {
        line,
        key,
        message: e.message().trim_end().replace('`', "\""),
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The dotted key whose value sits at `offset`: the nearest `[table]` header
/// above it plus the key on its line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some(trimmed.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    let key = trimmed
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty())?;
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Sets `SIGNALBOX__A__B__C=value` as `a.b.c = "value"` in `table`.
fn set_path(table: &mut toml::Table, var: &str, value: &str) -> Result<(), Problem> {
    let path: Vec<String> = var["SIGNALBOX__".len()..]
        .split("__")
        .map(|s| s.to_lowercase())
        .collect();
    let bad = |message: String| Problem {
        line: None,
        key: var.to_string(),
        message,
    };
    if path.iter().any(String::is_empty) {
        return Err(bad(
            "malformed variable name; use SIGNALBOX__SECTION__KEY".to_string()
        ));
    }
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| bad("empty path".to_string()))?;
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| bad(format!("\"{part}\" is not a table in the config")))?;
    }
    current.insert(last.clone(), toml::Value::String(value.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Problems> {
        Config::from_text(text, "test.toml", &HashMap::new(), None)
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config.toml.example");
        let config = parse(text).expect("example config");
        assert_eq!(config.trees.names, ["autoland", "mozilla-central", "try"]);
        assert!(config.people["alice"].roles.contains(&Role::Sheriff));
        assert!(config.people["bob"].roles.is_empty());
    }

    #[test]
    fn problems_name_key_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[bot]\nprefx = \"!\"\n",
                "test.toml: line 2: bot.prefx: unknown field \"prefx\"",
            ),
            (
                "[bot]\ntimezone = \"Mars/Olympus\"\n",
                "test.toml: line 2: bot.timezone:",
            ),
            (
                "[[reminders]]\nname = \"x\"\ncron = \"0 15 * * Tue\"\nchannels = []\ntext = \"t\"\n",
                "line 3: reminders.cron: cron expression \"0 15 * * Tue\" is invalid",
            ),
            (
                "[announce]\ntrees = [\"irc:releng\"]\n",
                "line 2: announce.trees: channel address \"irc:releng\" is malformed",
            ),
            (
                "[people.bob]\nroles = [\"janitor\"]\n",
                "line 2: people.bob.roles: unknown variant \"janitor\"",
            ),
            (
                "[bot]\nconsole_as = \"carol\"\n",
                "line 2: bot.console_as: person \"carol\" is not in [people]",
            ),
            (
                "[people.a]\nirc = \"x\"\n[people.b]\nirc = \"x\"\n",
                "line 4: people.b.irc: handle \"x\" is also given to a",
            ),
            ("[bot\n", "line 1"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn secrets_come_from_env_and_files_and_are_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("token"), "s3cret-from-file\n").expect("write");
        let text = "[people.alice]\napi_token_file = \"token\"\n[people.bob]\n";
        let mut env = HashMap::new();
        env.insert(
            "SIGNALBOX__PEOPLE__BOB__API_TOKEN".to_string(),
            "s3cret-from-env".to_string(),
        );
        let config = Config::from_text(text, "t", &env, Some(dir.path())).expect("config");
        let alice = config.people["alice"]
            .api_token
            .as_ref()
            .expect("alice token");
        assert_eq!(alice.expose(), "s3cret-from-file");
        assert_eq!(
            config.people["bob"]
                .api_token
                .as_ref()
                .expect("bob token")
                .expose(),
            "s3cret-from-env"
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
