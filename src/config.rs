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
use signalbox_commands::liaison::Cover;
use signalbox_commands::oncall::{Rotation, ShiftPattern};
use signalbox_commands::task::TaskPattern;
use signalbox_commands::{ChannelAddr, PersonId, Role, Settings, TaskPatterns};
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

/// Reads a `*_file` secret (relative to `base`, without its trailing
/// newline); on failure, records (key, message) in `problems`.
pub fn secret_file(
    base: Option<&Path>,
    file: &Path,
    key: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<Secret> {
    let path = base.map_or(file.to_path_buf(), |b| b.join(file));
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(Secret::new(s.trim_end_matches(['\r', '\n']))),
        Err(e) => {
            problems.push((
                key.to_string(),
                format!("cannot read \"{}\": {e}", path.display()),
            ));
            None
        }
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
    #[serde(default)]
    pub rotations: Vec<RotationConfig>,
    /// Area → a list of people, or `"rotation:NAME"`.
    #[serde(default)]
    pub liaisons: BTreeMap<String, LiaisonConfig>,
    /// Channel → its standing topic, which `status ok` restores after an alert.
    #[serde(default)]
    pub topics: BTreeMap<ChannelAddr, String>,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    #[serde(default)]
    pub pools: Vec<PoolConfig>,
    #[serde(default)]
    pub escalation: EscalationConfig,
    /// `[backup]`: scheduled exports while the bot runs.
    pub backup: Option<crate::backup::BackupConfig>,
}

/// `[escalation]`: how long `escalate` waits for an `ack` per step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    pub ack_timeout: Spanned<String>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Spanned::new(0..0, "15m".to_string()),
        }
    }
}

impl EscalationConfig {
    fn timeout(&self) -> Result<chrono::Duration, String> {
        let text = self.ack_timeout.get_ref();
        match signalbox_commands::when::parse_duration(text) {
            Ok(d) if d >= chrono::Duration::minutes(1) => Ok(d),
            Ok(_) => Err(format!("ack timeout \"{text}\" must be at least 1m")),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    pub name: String,
    /// People from `[people]`, in shift order.
    pub members: Vec<Spanned<String>>,
    /// Shift length: `12h`, `1d`, `1w`, `2w`.
    pub shift: Option<Spanned<String>>,
    /// Or a cron expression: a shift starts at every firing.
    pub handoff: Option<Cron>,
    /// Local start of the first shift (held by the first member): `2026-11-02 09:00`.
    pub start: Spanned<String>,
    pub timezone: Option<Tz>,
    #[serde(default)]
    pub channels: Vec<ChannelAddr>,
    /// Roles whoever is on shift holds.
    #[serde(default)]
    pub grants: Vec<Role>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LiaisonConfig {
    People(Vec<String>),
    Rotation(String),
}

/// `[[pools]]`: loaner machines and the rules for borrowing them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub machines: Spanned<Vec<String>>,
    pub default_loan: Spanned<String>,
    pub max_loan: Spanned<String>,
    #[serde(default)]
    pub max_extensions: u32,
    /// Open requests per person.
    pub quota: u32,
    /// Response SLA in working hours.
    pub sla_hours: u32,
    /// Working days (`Mon`…`Sun`); Mon–Fri by default.
    #[serde(default)]
    pub working_days: Vec<Spanned<String>>,
    /// `09:00-17:00` by default.
    pub working_hours: Option<Spanned<String>>,
    /// The calendar's time zone; the bot's by default.
    pub timezone: Option<Tz>,
}

/// A pool problem: the key, where its value is, and what is wrong.
type PoolProblem = (String, std::ops::Range<usize>, String);

impl PoolConfig {
    /// The core's pool, or the first problem with this entry.
    pub fn pool(&self, default_tz: Tz) -> Result<signalbox_commands::loaner::Pool, PoolProblem> {
        use signalbox_commands::when::parse_duration;
        let dur = |key: &str, v: &Spanned<String>| {
            parse_duration(v.get_ref())
                .map_err(|e| (format!("pools.{key}"), v.span(), e.to_string()))
        };
        let default_loan = dur("default_loan", &self.default_loan)?;
        let max_loan = dur("max_loan", &self.max_loan)?;
        if default_loan > max_loan {
            return Err((
                "pools.default_loan".into(),
                self.default_loan.span(),
                format!(
                    "default loan \"{}\" is longer than max_loan",
                    self.default_loan.get_ref()
                ),
            ));
        }
        let mut days = Vec::new();
        for d in &self.working_days {
            let day: chrono::Weekday = d.get_ref().parse().map_err(|_| {
                (
                    "pools.working_days".to_string(),
                    d.span(),
                    format!("day \"{}\" is unknown; use Mon, Tue, … Sun", d.get_ref()),
                )
            })?;
            days.push(day);
        }
        if days.is_empty() {
            use chrono::Weekday::*;
            days = vec![Mon, Tue, Wed, Thu, Fri];
        }
        let span = self
            .working_hours
            .as_ref()
            .map_or(self.name.span(), |h| h.span());
        let hours = self
            .working_hours
            .as_ref()
            .map_or("09:00-17:00", |h| h.get_ref().as_str());
        let malformed = || {
            (
                "pools.working_hours".to_string(),
                span.clone(),
                format!("working hours \"{hours}\" are malformed; use 09:00-17:00"),
            )
        };
        let (a, b) = hours.split_once('-').ok_or_else(malformed)?;
        let time = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M");
        let (Ok(start), Ok(end)) = (time(a), time(b)) else {
            return Err(malformed());
        };
        if start >= end {
            return Err((
                "pools.working_hours".into(),
                span,
                format!("working hours \"{hours}\" end before they start"),
            ));
        }
        if self.machines.get_ref().is_empty() {
            return Err((
                "pools.machines".into(),
                self.machines.span(),
                "a pool needs at least one machine".into(),
            ));
        }
        if self.sla_hours == 0 || self.quota == 0 {
            return Err((
                "pools".into(),
                self.name.span(),
                "sla_hours and quota must be at least 1".into(),
            ));
        }
        Ok(signalbox_commands::loaner::Pool {
            name: self.name.get_ref().clone(),
            description: self.description.clone(),
            machines: self.machines.get_ref().clone(),
            default_loan,
            max_loan,
            max_extensions: self.max_extensions,
            quota: self.quota,
            sla: chrono::Duration::hours(i64::from(self.sla_hours)),
            calendar: signalbox_commands::loaner::Calendar {
                days,
                start,
                end,
                timezone: self.timezone.unwrap_or(default_tz),
            },
        })
    }
}

/// `[train]`: the groups a train is promoted through, in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub groups: Vec<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            groups: signalbox_commands::train::DEFAULT_GROUPS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// `[[windows]]`: a recurring deploy window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub name: Spanned<String>,
    /// When it starts (6 fields, seconds first, day names).
    pub cron: Cron,
    /// How long it lasts: `1h`, `90m`.
    pub duration: Spanned<String>,
    /// The cron's time zone; the bot's by default.
    pub timezone: Option<Tz>,
    #[serde(default)]
    pub deployers: Vec<Spanned<String>>,
    /// Where its announcements go; `[announce] windows` when empty.
    #[serde(default)]
    pub channels: Vec<ChannelAddr>,
}

/// Chat networks to join; each is a table of its own (`[adapters.irc]` …),
/// defined beside its adapter, present only when the network is configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adapters {
    #[cfg(feature = "slack")]
    pub slack: Option<crate::adapter::slack::Config>,
    #[cfg(feature = "discord")]
    pub discord: Option<crate::adapter::discord::Config>,
    #[cfg(feature = "irc")]
    pub irc: Option<crate::adapter::irc::Config>,
    #[cfg(feature = "matrix")]
    pub matrix: Option<crate::adapter::matrix::Config>,
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
    /// Commands one person may send at once before being told to slow
    /// down (0 turns the limit off; the console is never limited).
    pub rate_limit_burst: u32,
    /// Commands per minute a person's allowance refills by.
    pub rate_limit_per_minute: u32,
    /// On SIGTERM, how long to keep delivering queued announcements before
    /// exiting (what is left stays queued for the next start).
    pub drain_seconds: u64,
}

impl Default for Bot {
    fn default() -> Self {
        Self {
            name: "signalbox".to_string(),
            prefix: "!".to_string(),
            timezone: Tz::UTC,
            data_dir: PathBuf::from("./data"),
            console_as: None,
            rate_limit_burst: 20,
            rate_limit_per_minute: 60,
            drain_seconds: 10,
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
    /// When set, the calendar feeds and page want `?token=` with it.
    pub calendar_token: Option<Secret>,
    pub calendar_token_file: Option<PathBuf>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            calendar_token: None,
            calendar_token_file: None,
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
    /// The name replies show for this person (never their identity); the
    /// `[people]` key when unset.
    pub display: Option<String>,
    /// The zone times are shown and read in for this person (`[bot]
    /// timezone` when unset); `!whoami tz` overrides it.
    pub timezone: Option<Tz>,
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

    /// Cross-key checks, and resolving `*_file` secrets and `data_dir`.
    fn check(&mut self, text: &str, base: Option<&Path>) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(backup) = &mut self.backup {
            if let Some(base) = base {
                backup.dir = base.join(&backup.dir);
            }
            if backup.keep == 0 {
                problems.push(Problem {
                    line: find_key_line(text, "keep"),
                    key: "backup.keep".into(),
                    message: "keep must be at least 1".into(),
                });
            }
        }
        // Like every other path in the file, the data dir is relative to it,
        // so the bot finds its data whatever directory it is started from.
        if let Some(base) = base
            && self.bot.data_dir.is_relative()
        {
            self.bot.data_dir = base.join(&self.bot.data_dir);
        }
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
        if let Some(file) = self.http.calendar_token_file.take() {
            let mut found = Vec::new();
            self.http.calendar_token =
                secret_file(base, &file, "http.calendar_token_file", &mut found);
            problems.extend(found.into_iter().map(|(key, message)| Problem {
                line: find_key_line(text, "calendar_token_file"),
                key,
                message,
            }));
        }
        if self
            .http
            .calendar_token
            .as_ref()
            .is_some_and(|t| t.expose().is_empty())
        {
            problems.push(Problem {
                line: find_key_line(text, "calendar_token"),
                key: "http.calendar_token".into(),
                message: "the calendar token is empty; leave it out for public calendars".into(),
            });
        }
        #[cfg(feature = "slack")]
        if let Some(slack) = &mut self.adapters.slack {
            problems.extend(slack.check(text, base));
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
        let mut rotation_names = std::collections::HashSet::new();
        for r in &self.rotations {
            if !rotation_names.insert(r.name.clone()) {
                problems.push(Problem {
                    line: find_key_line(text, "name"),
                    key: "rotations.name".into(),
                    message: format!("rotation name \"{}\" is used twice", r.name),
                });
            }
            for member in &r.members {
                if !self.people.contains_key(member.get_ref()) {
                    problems.push(Problem {
                        line: at(member.span()),
                        key: "rotations.members".into(),
                        message: format!(
                            "person \"{}\" is not in [people]; people are: {}",
                            member.get_ref(),
                            self.people_list()
                        ),
                    });
                }
            }
            match (&r.shift, &r.handoff) {
                (Some(shift), None) => {
                    if let Err(e) = shift_length(shift.get_ref()) {
                        problems.push(Problem {
                            line: at(shift.span()),
                            key: "rotations.shift".into(),
                            message: e,
                        });
                    }
                }
                (None, Some(_)) => {}
                (shift, _) => problems.push(Problem {
                    line: shift.as_ref().map_or_else(|| at(r.start.span()), |s| at(s.span())),
                    key: "rotations.shift".into(),
                    message: format!(
                        "rotation \"{}\" needs exactly one of shift = \"1w\" or handoff = \"0 0 9 * * Mon,Thu\"; it has {}",
                        r.name,
                        if shift.is_some() { "both" } else { "neither" }
                    ),
                }),
            }
            if let Err(e) = rotation_start(r.start.get_ref()) {
                problems.push(Problem {
                    line: at(r.start.span()),
                    key: "rotations.start".into(),
                    message: e,
                });
            }
        }
        for (area, cover) in &self.liaisons {
            let bad = match cover {
                LiaisonConfig::People(people) => people
                    .iter()
                    .find(|p| !self.people.contains_key(*p))
                    .map(|p| format!("person \"{p}\" is not in [people]")),
                LiaisonConfig::Rotation(r) => match r.strip_prefix("rotation:") {
                    Some(name) if self.rotations.iter().any(|x| x.name == name) => None,
                    _ => Some(format!(
                        "\"{r}\" must be a list of people or \"rotation:NAME\" of a configured rotation"
                    )),
                },
            };
            if let Some(message) = bad {
                problems.push(Problem {
                    line: find_key_line(text, area),
                    key: format!("liaisons.{area}"),
                    message,
                });
            }
        }
        #[cfg(feature = "matrix")]
        if let Some(matrix) = &mut self.adapters.matrix {
            for (key, message) in matrix.resolve(base) {
                let leaf = key.rsplit('.').next().unwrap_or(&key).to_string();
                problems.push(Problem {
                    line: find_key_line(text, &leaf),
                    key: format!("adapters.matrix.{key}"),
                    message,
                });
            }
        }
        #[cfg(feature = "discord")]
        if let Some(discord) = &mut self.adapters.discord {
            for (key, message) in discord.check(base) {
                problems.push(Problem {
                    line: find_key_line(text, key),
                    key: format!("adapters.discord.{key}"),
                    message,
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
        self.check_families(text, &mut problems);
        problems
    }

    /// `[train]`, `[[windows]]` and `[[pools]]`.
    fn check_families(&self, text: &str, problems: &mut Vec<Problem>) {
        let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
        let mut pools = std::collections::HashSet::new();
        let mut machines: HashMap<&String, &String> = HashMap::new();
        for p in &self.pools {
            if !pools.insert(p.name.get_ref()) {
                problems.push(Problem {
                    line: at(p.name.span()),
                    key: "pools.name".into(),
                    message: format!("pool name \"{}\" is used twice", p.name.get_ref()),
                });
            }
            for m in p.machines.get_ref() {
                if let Some(other) = machines.insert(m, p.name.get_ref()) {
                    problems.push(Problem {
                        line: at(p.machines.span()),
                        key: "pools.machines".into(),
                        message: format!("machine \"{m}\" is also in pool {other}"),
                    });
                }
            }
            if let Err((key, span, message)) = p.pool(self.bot.timezone) {
                problems.push(Problem {
                    line: at(span),
                    key,
                    message,
                });
            }
        }
        if let Err(message) = self.escalation.timeout() {
            problems.push(Problem {
                line: at(self.escalation.ack_timeout.span()),
                key: "escalation.ack_timeout".into(),
                message,
            });
        }
        let mut groups = std::collections::HashSet::new();
        if self.train.groups.is_empty() {
            problems.push(Problem {
                line: find_key_line(text, "groups"),
                key: "train.groups".into(),
                message: "at least one group is needed, e.g. [\"group0\", \"group1\", \"all\"]"
                    .into(),
            });
        }
        for g in &self.train.groups {
            if g.is_empty() || g.contains(char::is_whitespace) || !groups.insert(g) {
                problems.push(Problem {
                    line: find_key_line(text, "groups"),
                    key: "train.groups".into(),
                    message: format!("group \"{g}\" is empty, has spaces or is repeated"),
                });
            }
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.windows {
            let name = w.name.get_ref();
            let valid = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid || !names.insert(name) {
                problems.push(Problem {
                    line: at(w.name.span()),
                    key: "windows.name".into(),
                    message: format!(
                        "window name \"{name}\" is invalid or repeated (letters, digits, - _ . only)"
                    ),
                });
            }
            if let Err(e) = signalbox_commands::when::parse_duration(w.duration.get_ref()) {
                problems.push(Problem {
                    line: at(w.duration.span()),
                    key: "windows.duration".into(),
                    message: e.to_string(),
                });
            }
            for d in &w.deployers {
                if !self.people.contains_key(d.get_ref()) {
                    problems.push(Problem {
                        line: at(d.span()),
                        key: "windows.deployers".into(),
                        message: format!(
                            "person \"{}\" is not in [people]; people are: {}",
                            d.get_ref(),
                            self.people_list()
                        ),
                    });
                }
            }
        }
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
        let emails: BTreeMap<PersonId, String> = self
            .people
            .iter()
            .filter_map(|(name, p)| p.email.clone().map(|e| (PersonId::new(name), e)))
            .collect();
        let rotations = self
            .rotations
            .iter()
            .filter_map(|r| {
                Some(Rotation {
                    name: r.name.clone(),
                    members: r
                        .members
                        .iter()
                        .map(|m| PersonId::new(m.get_ref()))
                        .collect(),
                    pattern: match (&r.shift, &r.handoff) {
                        (Some(shift), None) => shift_length(shift.get_ref()).ok()?,
                        (None, Some(cron)) => ShiftPattern::Cron(Box::new(cron.schedule.clone())),
                        _ => return None,
                    },
                    anchor: rotation_start(r.start.get_ref()).ok()?,
                    timezone: r.timezone.unwrap_or(self.bot.timezone),
                    channels: r.channels.clone(),
                    grants: r.grants.clone(),
                    emails: emails.clone(),
                })
            })
            .collect();
        let liaisons = self
            .liaisons
            .iter()
            .map(|(area, cover)| {
                let cover = match cover {
                    LiaisonConfig::People(p) => {
                        Cover::People(p.iter().map(PersonId::new).collect())
                    }
                    LiaisonConfig::Rotation(r) => {
                        Cover::Rotation(r.trim_start_matches("rotation:").to_string())
                    }
                };
                (area.clone(), cover)
            })
            .collect();
        Settings {
            prefix: self.bot.prefix.clone(),
            timezone: self.bot.timezone,
            tasks,
            tree_tags: self.trees.tags.clone(),
            people: self.people.keys().map(PersonId::new).collect(),
            rotations,
            liaisons,
            status_channels: self.announce.status.clone(),
            train_channels: self.announce.train.clone(),
            zones: self
                .people
                .iter()
                .filter_map(|(name, p)| Some((PersonId::new(name), p.timezone?)))
                .collect(),
            topics: self.topics.clone(),
            train_groups: self.train.groups.clone(),
            windows: self
                .windows
                .iter()
                .filter_map(|w| {
                    Some(signalbox_commands::window::WindowDef {
                        name: w.name.get_ref().clone(),
                        schedule: w.cron.schedule.clone(),
                        cron: w.cron.text.clone(),
                        duration: signalbox_commands::when::parse_duration(w.duration.get_ref())
                            .ok()?,
                        timezone: w.timezone.unwrap_or(self.bot.timezone),
                        deployers: w
                            .deployers
                            .iter()
                            .map(|d| signalbox_commands::PersonId::new(d.get_ref()))
                            .collect(),
                        channels: w.channels.clone(),
                    })
                })
                .collect(),
            pools: self
                .pools
                .iter()
                .filter_map(|p| p.pool(self.bot.timezone).ok())
                .collect(),
            public_url: self.http.public_url.clone(),
            calendar_token: self
                .http
                .calendar_token
                .as_ref()
                .map(|t| signalbox_commands::calendar::CalendarToken::new(t.expose())),
            escalation_timeout: self
                .escalation
                .timeout()
                .unwrap_or(chrono::Duration::minutes(15)),
        }
    }
}

/// `12h` → hours; whole days (`1d`, `1w`, `2w`) → days, which keep the
/// local start time across DST changes.
fn shift_length(text: &str) -> Result<ShiftPattern, String> {
    let d = signalbox_commands::when::parse_duration(text).map_err(|e| e.to_string())?;
    let hours = d.num_hours();
    if d != chrono::Duration::hours(hours) || hours == 0 {
        return Err(format!(
            "shift \"{text}\" must be whole hours, e.g. 12h, 1d, 1w"
        ));
    }
    let hours = u32::try_from(hours).map_err(|_| format!("shift \"{text}\" is too long"))?;
    Ok(if hours % 24 == 0 {
        ShiftPattern::Days(hours / 24)
    } else {
        ShiftPattern::Hours(hours)
    })
}

fn rotation_start(text: &str) -> Result<chrono::NaiveDateTime, String> {
    chrono::NaiveDateTime::parse_from_str(&text.replace('T', " "), "%Y-%m-%d %H:%M")
        .map_err(|_| format!("start \"{text}\" is malformed; use YYYY-MM-DD HH:MM (local time)"))
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

pub(crate) fn find_key_line(text: &str, key: &str) -> Option<usize> {
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
    fn data_dir_is_relative_to_the_config_file() {
        let text = "[bot]\ndata_dir = \"./data\"\n";
        let config = Config::from_text(
            text,
            "x.toml",
            &HashMap::new(),
            Some(Path::new("/etc/signalbox")),
        )
        .expect("config");
        assert_eq!(config.bot.data_dir, Path::new("/etc/signalbox/./data"));
        let absolute = "[bot]\ndata_dir = \"/var/lib/signalbox\"\n";
        let config = Config::from_text(
            absolute,
            "x.toml",
            &HashMap::new(),
            Some(Path::new("/etc/signalbox")),
        )
        .expect("config");
        assert_eq!(config.bot.data_dir, Path::new("/var/lib/signalbox"));
        // The default too.
        let config = Config::from_text("", "x.toml", &HashMap::new(), Some(Path::new("/srv")))
            .expect("config");
        assert_eq!(config.bot.data_dir, Path::new("/srv/./data"));
    }

    #[test]
    fn example_tasks_keep_the_default_patterns() {
        let config = parse(include_str!("../config.toml.example")).expect("example config");
        let tasks = config.settings().tasks;
        for text in [
            "T123",
            "bug 456",
            "https://gerrit.wikimedia.org/r/c/mediawiki/core/+/1234",
            "https://github.com/o/r/pull/7",
            "https://gitlab.com/o/r/merge_requests/8",
        ] {
            let found = tasks.find(text);
            assert_eq!(found.len(), 1, "{text:?}: {found:?}");
            let defaults = signalbox_commands::TaskPatterns::default().find(text);
            assert_eq!(found, defaults, "{text:?}");
        }
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
            (
                "[[windows]]\nname = \"swat\"\ncron = \"0 0 13 * * Mon\"\nduration = \"1x\"\n",
                "line 4: windows.duration: duration \"1x\" is malformed",
            ),
            (
                "[[windows]]\nname = \"swat\"\ncron = \"0 13 * * Mon\"\nduration = \"1h\"\n",
                "line 3: windows.cron: cron expression \"0 13 * * Mon\" is invalid",
            ),
            (
                "[[windows]]\nname = \"swat\"\ncron = \"0 0 13 * * Mon\"\nduration = \"1h\"\ndeployers = [\"zed\"]\n",
                "line 5: windows.deployers: person \"zed\" is not in [people]",
            ),
            (
                "[train]\ngroups = []\n",
                "line 2: train.groups: at least one group",
            ),
            (
                "[[pools]]\nname = \"p\"\nmachines = [\"m\"]\ndefault_loan = \"3d\"\nmax_loan = \"2d\"\nquota = 1\nsla_hours = 8\n",
                "line 4: pools.default_loan: default loan \"3d\" is longer than max_loan",
            ),
            (
                "[[pools]]\nname = \"p\"\nmachines = [\"m\"]\ndefault_loan = \"3d\"\nmax_loan = \"5d\"\nquota = 1\nsla_hours = 8\nworking_hours = \"9-5\"\n",
                "line 8: pools.working_hours: working hours \"9-5\" are malformed",
            ),
            (
                "[[pools]]\nname = \"p\"\nmachines = [\"m\"]\ndefault_loan = \"3q\"\nmax_loan = \"5d\"\nquota = 1\nsla_hours = 8\n",
                "line 4: pools.default_loan: duration \"3q\" is malformed",
            ),
            (
                "[people.a]\n[[rotations]]\nname = \"r\"\nmembers = [\"a\"]\nshift = \"1w\"\nhandoff = \"0 0 9 * * Mon\"\nstart = \"2026-01-05 09:00\"\n",
                "line 5: rotations.shift: rotation \"r\" needs exactly one of shift = \"1w\" or handoff = \"0 0 9 * * Mon,Thu\"; it has both",
            ),
            (
                "[people.a]\n[[rotations]]\nname = \"r\"\nmembers = [\"a\"]\nstart = \"2026-01-05 09:00\"\n",
                "line 5: rotations.shift: rotation \"r\" needs exactly one of shift = \"1w\" or handoff = \"0 0 9 * * Mon,Thu\"; it has neither",
            ),
            (
                "[escalation]\nack_timeout = \"10s\"\n",
                "line 2: escalation.ack_timeout: ack timeout \"10s\" must be at least 1m",
            ),
            (
                "[people.a]\n[[rotations]]\nname = \"r\"\nmembers = [\"a\"]\nhandoff = \"0 9 * * Mon\"\nstart = \"2026-01-05 09:00\"\n",
                "line 5: rotations.handoff: cron expression \"0 9 * * Mon\" is invalid",
            ),
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
