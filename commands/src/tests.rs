//! Tests across modules: the parse tables, help, the role of every command
//! variant and the commands that are not a family of their own (`ping`,
//! `whoami`). [`World`] is the shared fixture: the state in memory, the event
//! log as a `Vec<Event>`, a fixed clock, and a `commit` that does what the
//! ledger does (append the event, apply it to the state). The tree handlers'
//! own tests live beside them in `tree.rs` and use it too.

use chrono::{DateTime, Duration, Utc};

use crate::error::Need;
use crate::oncall::{Oncall, OverrideCmd, Swap};
use crate::status::Status as StatusCmd;
use crate::tree::{Status, Tree};
use crate::{
    Actor, Caller, Change, Command, Context, Error, Event, EventId, Job, Network, Outcome, Parsed,
    Permit, PersonId, Role, SCHEMA, Settings, State, TreeName, handle, parse, run_job, words,
};

/// The instant every test starts at: Sunday 2026-11-22 12:00 UTC.
pub(crate) fn noon() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z"
        .parse()
        .expect("a valid RFC 3339 instant")
}

/// A sheriff.
pub(crate) fn alice() -> Caller {
    Caller::person(PersonId::new("alice"), [Role::Sheriff])
}

/// Another sheriff, to change trees behind alice's back.
pub(crate) fn carol() -> Caller {
    Caller::person(PersonId::new("carol"), [Role::Sheriff])
}

/// A known person without roles.
pub(crate) fn bob() -> Caller {
    Caller::person(PersonId::new("bob"), [])
}

/// An admin, who passes every role check.
pub(crate) fn root() -> Caller {
    Caller::person(PersonId::new("root"), [Role::Admin])
}

/// An unidentified user.
pub(crate) fn guest() -> Caller {
    Caller::guest("mallory")
}

/// The trees most tests use, in the order `all` lists them.
pub(crate) const TREES: &[&str] = &["autoland", "mozilla-beta", "mozilla-central", "try"];

/// The core with an in-memory store and a clock that moves only when told.
pub(crate) struct World {
    pub state: State,
    pub history: Vec<Event>,
    pub settings: Settings,
    pub network: Network,
    pub now: DateTime<Utc>,
}

impl World {
    /// A world whose trees were added (open) by event 1.
    pub fn with_trees(names: &[&str]) -> Self {
        let mut world = Self::empty();
        let changes = names
            .iter()
            .map(|n| {
                Change::Tree(crate::tree::Change::Add {
                    tree: TreeName::new(*n),
                })
            })
            .collect();
        let config = Actor {
            person: None,
            handle: "config".to_string(),
            network: Network::Console,
            channel: None,
        };
        world.commit(config, changes);
        world
    }

    pub fn empty() -> Self {
        Self {
            state: State::default(),
            history: Vec::new(),
            settings: Settings::default(),
            network: Network::Console,
            now: noon(),
        }
    }

    /// The id the next event gets.
    pub fn next_id(&self) -> EventId {
        EventId(u64::try_from(self.history.len()).expect("a test log is small") + 1)
    }

    pub fn ctx<'a>(&'a self, caller: &'a Caller) -> Context<'a> {
        Context {
            caller,
            network: self.network,
            channel: None,
            now: self.now,
            zone: self.settings.timezone,
            settings: &self.settings,
            history: &self.history,
            event_id: self.next_id(),
            aliases: crate::mention::Aliases::none(),
        }
    }

    /// Parses `line` as the shell would; help requests are not commands here.
    pub fn command(&self, line: &str) -> Command {
        let words = words::split(line).expect("test lines split");
        match parse(&words, &self.settings.prefix) {
            Ok(Parsed::Run(command)) => command,
            other => panic!("{line:?} should parse to a command, got {other:?}"),
        }
    }

    /// What `caller` typing `line` would do, without recording it.
    pub fn try_line(&self, caller: &Caller, line: &str) -> Result<Outcome, Error> {
        handle(&self.command(line), &self.ctx(caller), &self.state)
    }

    /// Runs `line` and records its changes, as the router and ledger do.
    pub fn run(&mut self, caller: &Caller, line: &str) -> Result<Outcome, Error> {
        let outcome = self.try_line(caller, line)?;
        let actor = Actor {
            person: caller.person.clone(),
            handle: caller.handle.clone(),
            network: self.network,
            channel: Some("console:#ops".parse().expect("a valid channel address")),
        };
        self.commit(actor, outcome.changes.clone());
        Ok(outcome)
    }

    /// Like [`World::run`] for lines that must succeed.
    pub fn ok(&mut self, caller: &Caller, line: &str) -> Outcome {
        self.run(caller, line)
            .unwrap_or_else(|e| panic!("{line:?} should succeed, got {e:?}"))
    }

    /// Runs a scheduled job now and records its changes, as the scheduler does.
    pub fn job(&mut self, job: &Job) -> Outcome {
        let outcome = run_job(job, &self.ctx(&Caller::guest(job.name())), &self.state);
        self.commit(Actor::scheduler(&job.name()), outcome.changes.clone());
        outcome
    }

    /// Appends an event holding `changes` (if any) and applies it.
    pub fn commit(&mut self, actor: Actor, changes: Vec<Change>) -> Option<EventId> {
        if changes.is_empty() {
            return None;
        }
        let id = self.next_id();
        let event = Event {
            v: SCHEMA,
            id,
            at: self.now,
            actor,
            changes,
        };
        self.state.apply(&event);
        self.history.push(event);
        Some(id)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub fn status_of(&self, tree: &str) -> Status {
        self.state
            .trees
            .get(tree)
            .expect("a tree of the fixture")
            .condition
            .status
    }
}

/// The words of a test line.
fn split(line: &str) -> Vec<String> {
    words::split(line).expect("test lines split")
}

fn tree(t: Tree) -> Parsed {
    Parsed::Run(Command::Tree(t))
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn every_verb_parses_to_its_command() {
    let help = |family: Option<&str>, verb: Option<&str>| {
        Parsed::Run(Command::Help {
            family: family.map(String::from),
            verb: verb.map(String::from),
        })
    };
    let cases: Vec<(&str, Parsed)> = vec![
        ("tree", tree(Tree::Status { trees: vec![] })),
        ("tree status", tree(Tree::Status { trees: vec![] })),
        (
            "tree status autoland try",
            tree(Tree::Status {
                trees: strings(&["autoland", "try"]),
            }),
        ),
        (
            "tree show autoland",
            tree(Tree::Status {
                trees: strings(&["autoland"]),
            }),
        ),
        // The default verb: a family followed by something that is not a verb.
        (
            "tree autoland",
            tree(Tree::Status {
                trees: strings(&["autoland"]),
            }),
        ),
        (
            "tree mozilla-* try",
            tree(Tree::Status {
                trees: strings(&["mozilla-*", "try"]),
            }),
        ),
        (
            "tree close autoland,try builds failing #checkin-compilation for 2h",
            tree(Tree::Close {
                trees: "autoland,try".into(),
                reason: strings(&["builds", "failing", "#checkin-compilation", "for", "2h"]),
            }),
        ),
        // Family and verb are case-insensitive; tree names and reasons are kept.
        (
            "TREE Close Autoland Broken #infra",
            tree(Tree::Close {
                trees: "Autoland".into(),
                reason: strings(&["Broken", "#infra"]),
            }),
        ),
        (
            r#"tree close "mozilla-*" merge day #merges until 18:00"#,
            tree(Tree::Close {
                trees: "mozilla-*".into(),
                reason: strings(&["merge", "day", "#merges", "until", "18:00"]),
            }),
        ),
        // Hyphenated words in a reason are reason, not options.
        (
            "tree close try builds -j8 --fast fail #infra",
            tree(Tree::Close {
                trees: "try".into(),
                reason: strings(&["builds", "-j8", "--fast", "fail", "#infra"]),
            }),
        ),
        (
            "tree open autoland",
            tree(Tree::Open {
                trees: "autoland".into(),
                reason: vec![],
            }),
        ),
        (
            "tree open all fixed by backout",
            tree(Tree::Open {
                trees: "all".into(),
                reason: strings(&["fixed", "by", "backout"]),
            }),
        ),
        (
            "tree approval mozilla-beta release candidate #planned",
            tree(Tree::Approval {
                trees: "mozilla-beta".into(),
                reason: strings(&["release", "candidate", "#planned"]),
            }),
        ),
        (
            r#"tree motd try "please use --rebuild sparingly""#,
            tree(Tree::Motd {
                tree: "try".into(),
                text: strings(&["please use --rebuild sparingly"]),
            }),
        ),
        (
            r#"tree motd try """#,
            tree(Tree::Motd {
                tree: "try".into(),
                text: strings(&[""]),
            }),
        ),
        ("tree undo", tree(Tree::Undo { id: None })),
        (
            "tree undo 42",
            tree(Tree::Undo {
                id: Some(crate::tree::UndoTarget::Entry(42)),
            }),
        ),
        (
            "tree undo list",
            tree(Tree::Undo {
                id: Some(crate::tree::UndoTarget::List),
            }),
        ),
        (
            "tree log autoland",
            tree(Tree::Log {
                tree: "autoland".into(),
                count: 10,
            }),
        ),
        (
            "tree log autoland 5",
            tree(Tree::Log {
                tree: "autoland".into(),
                count: 5,
            }),
        ),
        (
            "tree log autoland 200",
            tree(Tree::Log {
                tree: "autoland".into(),
                count: 200,
            }),
        ),
        ("ping", Parsed::Run(Command::Ping { words: vec![] })),
        ("PING", Parsed::Run(Command::Ping { words: vec![] })),
        // Whatever follows `ping` is ignored: `!ping anyone?` is a ping.
        (
            "ping anyone there? --now",
            Parsed::Run(Command::Ping {
                words: vec!["anyone".into(), "there?".into(), "--now".into()],
            }),
        ),
        (
            "whoami",
            Parsed::Run(Command::Whoami(crate::profile::Whoami::Show)),
        ),
        ("help", help(None, None)),
        ("help tree", help(Some("tree"), None)),
        ("help tree close", help(Some("tree"), Some("close"))),
        // `FAMILY help [VERB]` is `help FAMILY [VERB]`, not a tree named "help".
        ("tree help", help(Some("tree"), None)),
        ("tree HELP close", help(Some("tree"), Some("close"))),
    ];
    for (line, want) in cases {
        assert_eq!(parse(&split(line), "!"), Ok(want), "{line:?}");
    }
}

/// The text a help request renders, whichever way it was asked for.
fn help_text(line: &str, prefix: &str) -> String {
    let mut world = World::with_trees(TREES);
    world.settings.prefix = prefix.to_string();
    match parse(&split(line), prefix) {
        Ok(Parsed::Help(text)) => text,
        Ok(Parsed::Run(command @ Command::Help { .. })) => {
            let outcome = handle(&command, &world.ctx(&guest()), &world.state)
                .unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
            assert!(
                outcome.changes.is_empty() && outcome.announce.is_empty(),
                "{line:?} changes nothing"
            );
            outcome.reply
        }
        other => panic!("{line:?} should ask for help, got {other:?}"),
    }
}

#[test]
fn help_renders_for_the_root_a_family_and_a_verb() {
    for line in ["help", "-h", "--help", "HELP"] {
        let text = help_text(line, "!");
        for family in ["!help", "!ping", "!whoami", "!tree"] {
            assert!(text.contains(family), "{line:?} lists {family}:\n{text}");
        }
        assert!(
            text.contains("!help FAMILY"),
            "{line:?} says how to get more:\n{text}"
        );
    }
    for line in [
        "help tree",
        "tree -h",
        "tree --help",
        "tree help",
        "help TREE",
    ] {
        let text = help_text(line, "!");
        assert!(text.contains("usage: !tree <COMMAND>"), "{line:?}:\n{text}");
        for verb in ["status", "close", "open", "approval", "motd", "undo", "log"] {
            assert!(
                text.contains(&format!("\n  {verb} ")),
                "{line:?} lists {verb}:\n{text}"
            );
        }
        assert!(
            !text.contains("\n  help "),
            "{line:?} lists no `help` verb (it is disabled):\n{text}"
        );
        assert!(
            text.contains("!tree close autoland,try"),
            "{line:?} has examples:\n{text}"
        );
    }
    for line in [
        "help tree close",
        "tree close -h",
        "tree close --help",
        "tree help close",
        "tree close autoland -h",
    ] {
        let text = help_text(line, "!");
        assert!(
            text.contains("usage: !tree close <TREES> <REASON>..."),
            "{line:?}:\n{text}"
        );
        assert!(text.contains("#tag"), "{line:?} explains tags:\n{text}");
        assert!(
            text.contains("for 2h"),
            "{line:?} explains timed closures:\n{text}"
        );
    }
}

#[test]
fn help_by_command_and_by_flag_agree() {
    for (asked, flagged) in [
        ("help tree", "tree --help"),
        ("help tree close", "tree close --help"),
        ("help tree show", "tree show --help"),
        ("help ping", "ping --help"),
    ] {
        assert_eq!(
            help_text(asked, "!"),
            help_text(flagged, "!"),
            "{asked:?} and {flagged:?}"
        );
    }
}

#[test]
fn help_renders_for_every_family_and_verb() {
    for (family, about) in crate::help::families() {
        assert!(!about.is_empty(), "{family} has a description");
        let text = help_text(&format!("help {family}"), "!");
        assert!(
            text.contains(&format!("usage: !{family}")),
            "help {family}:\n{text}"
        );
        for verb in crate::help::verbs(&family) {
            let text = help_text(&format!("help {family} {verb}"), "!");
            assert!(
                text.contains(&format!("usage: !{family} ")),
                "help {family} {verb}:\n{text}"
            );
            assert!(
                text.lines().count() > 3,
                "help {family} {verb} is more than a usage line:\n{text}"
            );
        }
    }
}

#[test]
fn help_uses_the_configured_prefix() {
    for line in ["tree close -h", "help tree close"] {
        let text = help_text(line, ".");
        assert!(text.contains("usage: .tree close"), "{line:?}:\n{text}");
        assert!(
            text.contains("\n  .tree close autoland builds failing"),
            "examples use the prefix:\n{text}"
        );
        assert!(
            !text.contains("!tree"),
            "{line:?} never shows the default prefix:\n{text}"
        );
    }
    let root = help_text("help", ".");
    assert!(
        root.contains(".tree — ") && root.contains(".help FAMILY"),
        "{root}"
    );
    let err = parse(&split("tree log"), ".").expect_err("usage error");
    assert!(
        err.to_string().contains("for more, try .tree log --help"),
        "{err}"
    );
}

#[test]
fn help_for_unknown_names_lists_the_known_ones() {
    let world = World::with_trees(TREES);
    let cases = [
        (
            "help frob",
            r#"no help for command "frob"; known: help, ping, whoami, tree, train, window, log, loaner, oncall, who, role, status, stats, meeting, info, agreed, action, escalate, ack"#,
        ),
        (
            "help tree frob",
            r#"no help for tree verb "frob"; known: status, show, close, open, approval, motd, undo, log"#,
        ),
    ];
    for (line, want) in cases {
        let err = world.try_line(&bob(), line).expect_err(line);
        assert_eq!(err, Error::NotFound(want.to_string()), "{line:?}");
    }
}

#[test]
fn usage_errors_name_the_problem() {
    // (line, what the message must say)
    let cases: &[(&str, &[&str])] = &[
        ("", &["empty command; try !help"]),
        (
            "frob",
            &[
                r#"unknown command "frob""#,
                "commands are: help, ping, whoami, tree",
                "try !help",
            ],
        ),
        ("-x", &[r#"unknown command "-x""#]),
        (
            "tree close",
            &[
                "required arguments were not provided",
                "<TREES>",
                "<REASON>...",
                "usage: !tree close",
            ],
        ),
        (
            "tree close autoland",
            &[
                "required arguments were not provided",
                "<REASON>...",
                "usage: !tree close",
            ],
        ),
        (
            "tree close help",
            &["<REASON>...", "for more, try !tree close --help"],
        ),
        (
            "tree open",
            &["<TREES>", "usage: !tree open <TREES> [REASON]..."],
        ),
        (
            "tree approval try",
            &["<REASON>...", "usage: !tree approval"],
        ),
        (
            "tree motd try",
            &["<TEXT>...", "usage: !tree motd <TREE> <TEXT>..."],
        ),
        ("tree log", &["<TREE>", "usage: !tree log <TREE> [COUNT]"]),
        (
            "tree log autoland 0",
            &[
                "invalid value '0'",
                "1..=200",
                "for more, try !tree log --help",
            ],
        ),
        ("tree log autoland 201", &["invalid value '201'", "1..=200"]),
        (
            "tree log autoland many",
            &["invalid value 'many'", "[COUNT]"],
        ),
        (
            "tree undo x",
            &[
                "invalid value 'x'",
                "[ID]",
                "for more, try !tree undo --help",
            ],
        ),
        ("tree undo -3", &["'-3'"]),
        ("tree undo 1 2", &["unexpected argument '2'"]),
        (
            "tree status --all",
            &["unexpected argument '--all'", "usage: !tree status"],
        ),
        ("tree --bogus", &["unexpected argument '--bogus'"]),
        (
            "whoami x",
            &[
                "unrecognized subcommand 'x'",
                "usage: !whoami",
                "for more, try !whoami --help",
            ],
        ),
        (
            "whoami now",
            &[
                "unrecognized subcommand 'now'",
                "for more, try !whoami --help",
            ],
        ),
        (
            "help tree close now",
            &["unexpected argument 'now'", "usage: !help [FAMILY] [VERB]"],
        ),
    ];
    for (line, needles) in cases {
        let err = parse(&split(line), "!").expect_err(line);
        let Error::Usage(text) = &err else {
            panic!("{line:?} is a usage error, got {err:?}")
        };
        assert!(
            text.starts_with(|c: char| c.is_lowercase()),
            "{line:?} starts lowercase: {text}"
        );
        assert!(
            !text.contains("error:") && !text.contains("Usage:"),
            "{line:?} is tidied for chat: {text}"
        );
        for needle in *needles {
            assert!(
                text.contains(needle),
                "{line:?} should mention {needle:?}:\n{text}"
            );
        }
    }
}

#[test]
fn unknown_tree_verb_reads_as_a_tree_and_the_reply_lists_verbs_too() {
    // `tree [status] [TREE…]`: a word that is not a verb is a tree name, so a
    // mistyped verb cannot be refused by the grammar; the handler names both.
    let world = World::with_trees(TREES);
    assert_eq!(
        world.command("tree clsoe autoland"),
        Command::Tree(Tree::Status {
            trees: strings(&["clsoe", "autoland"])
        })
    );
    let err = world
        .try_line(&bob(), "tree clsoe autoland")
        .expect_err("no such tree");
    assert_eq!(
        err,
        Error::NotFound(
            r#"tree "clsoe" is unknown; trees are: autoland, mozilla-beta, mozilla-central, try; tree verbs are: status, show, close, open, approval, motd, undo, log"#
                .to_string()
        )
    );
    // A later unknown name is a tree, plainly.
    let err = world
        .try_line(&bob(), "tree status autoland autolnad")
        .expect_err("no such tree");
    assert_eq!(
        err.to_string(),
        r#"tree "autolnad" is unknown; trees are: autoland, mozilla-beta, mozilla-central, try"#
    );
}

/// One command of every variant, with the permit SPEC §2 gives it.
fn every_variant() -> Vec<(Command, Permit)> {
    let sheriff = Permit::Role(Role::Sheriff);
    let t = |t: Tree| Command::Tree(t);
    vec![
        (
            Command::Help {
                family: None,
                verb: None,
            },
            Permit::Anyone,
        ),
        (Command::Ping { words: vec![] }, Permit::Anyone),
        (
            Command::Whoami(crate::profile::Whoami::Show),
            Permit::Anyone,
        ),
        (
            Command::Whoami(crate::profile::Whoami::Tz { zone: None }),
            Permit::Anyone,
        ),
        (
            Command::Whoami(crate::profile::Whoami::Tz {
                zone: Some("Europe/Berlin".into()),
            }),
            Permit::Identified,
        ),
        (
            Command::Oncall(Oncall::Who { rotation: None }),
            Permit::Anyone,
        ),
        (
            Command::Oncall(Oncall::Next {
                rotation: None,
                count: 3,
            }),
            Permit::Anyone,
        ),
        (
            Command::Oncall(Oncall::Handoff { rotation: None }),
            Permit::Anyone,
        ),
        (Command::Oncall(Oncall::Ics), Permit::Identified),
        (
            Command::Oncall(Oncall::Override(OverrideCmd::Set {
                rotation: "ci".into(),
                person: "bob".into(),
                from: "10:00".into(),
                until: "11:00".into(),
            })),
            Permit::Identified,
        ),
        (
            Command::Oncall(Oncall::Override(OverrideCmd::List { rotation: None })),
            Permit::Anyone,
        ),
        (
            Command::Oncall(Oncall::Override(OverrideCmd::Cancel { id: 1 })),
            Permit::Identified,
        ),
        (
            Command::Oncall(Oncall::Swap(Swap::List { rotation: None })),
            Permit::Anyone,
        ),
        (
            Command::Oncall(Oncall::Swap(Swap::Cancel { id: 1 })),
            Permit::Identified,
        ),
        (
            Command::Oncall(Oncall::Swap(Swap::Request {
                rotation: "ci".into(),
                date: "2026-11-23".into(),
                reason: vec![],
            })),
            Permit::Identified,
        ),
        (
            Command::Oncall(Oncall::Swap(Swap::Take { id: 1 })),
            Permit::Identified,
        ),
        (
            Command::Who(crate::liaison::Who {
                area: Some("security".into()),
            }),
            Permit::Anyone,
        ),
        (Command::Status(StatusCmd::Show), Permit::Anyone),
        (
            Command::Meeting(crate::meeting::Meeting::Start {
                name: vec!["sync".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Meeting(crate::meeting::Meeting::Topic {
                text: vec!["train".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Meeting(crate::meeting::Meeting::End),
            Permit::Identified,
        ),
        (
            Command::Info(crate::meeting::Note {
                text: vec!["x".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Agreed(crate::meeting::Note {
                text: vec!["x".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Action(crate::meeting::Action::Add {
                person: "bob".into(),
                text: vec!["x".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Action(crate::meeting::Action::List { person: None }),
            Permit::Anyone,
        ),
        (
            Command::Action(crate::meeting::Action::Done { id: "1".into() }),
            Permit::Identified,
        ),
        (
            Command::Escalate(crate::escalation::Escalate {
                area: "security".into(),
                text: vec!["x".into()],
            }),
            Permit::Identified,
        ),
        (
            Command::Ack(crate::escalation::Ack { id: "1".into() }),
            Permit::Identified,
        ),
        (
            Command::Role(crate::liaison::RoleCmd::Set {
                area: "security".into(),
                people: vec!["bob".into()],
            }),
            Permit::Role(Role::Admin),
        ),
        (
            Command::Status(StatusCmd::Alert {
                text: vec!["x".into()],
            }),
            Permit::Role(Role::Duty),
        ),
        (
            Command::Status(StatusCmd::Notice {
                text: vec!["x".into()],
            }),
            Permit::Role(Role::Duty),
        ),
        (
            Command::Status(StatusCmd::Log {
                text: vec!["x".into()],
            }),
            Permit::Role(Role::Duty),
        ),
        (
            Command::Status(StatusCmd::Ok { text: vec![] }),
            Permit::Role(Role::Duty),
        ),
        (t(Tree::Status { trees: vec![] }), Permit::Anyone),
        (
            t(Tree::Log {
                tree: "autoland".into(),
                count: 10,
            }),
            Permit::Anyone,
        ),
        (
            t(Tree::Close {
                trees: "autoland".into(),
                reason: strings(&["x", "#infra"]),
            }),
            sheriff,
        ),
        (
            t(Tree::Open {
                trees: "autoland".into(),
                reason: vec![],
            }),
            sheriff,
        ),
        (
            t(Tree::Approval {
                trees: "autoland".into(),
                reason: strings(&["rc"]),
            }),
            sheriff,
        ),
        (
            t(Tree::Motd {
                tree: "autoland".into(),
                text: strings(&["hi"]),
            }),
            sheriff,
        ),
        (t(Tree::Undo { id: None }), sheriff),
        (
            t(Tree::Undo {
                id: Some(crate::tree::UndoTarget::List),
            }),
            Permit::Anyone,
        ),
    ]
}

#[test]
fn every_variant_has_the_permit_the_spec_gives() {
    let mut table = every_variant();
    table.extend(crate::train::tests::variants());
    table.extend(crate::window::tests::variants());
    table.extend(crate::log::tests::variants());
    table.extend(crate::loaner::tests::variants());
    table.extend(crate::stats::tests::variants());
    for (command, permit) in &table {
        assert_eq!(command.permit(), *permit, "{}", command.name());
        if let Command::Tree(t) = command {
            assert_eq!(t.permit(), *permit, "tree {}", t.verb());
            assert_eq!(command.family(), "tree");
        }
    }
    // The table covers every command the grammar has, so a new verb cannot
    // slip in without its permit being checked here.
    // `train blocker add|remove` is one verb of the grammar, and so is
    // `tree undo [ID|list]`.
    let mut names: Vec<String> = table
        .iter()
        .map(|(c, _)| c.name().replace("blocker add", "blocker"))
        .filter(|n| n != "train blocker remove" && n != "tree undo list")
        .collect();
    let mut grammar: Vec<String> = Vec::new();
    for (family, _) in crate::help::families() {
        let verbs = crate::help::verbs(&family);
        if verbs.is_empty() {
            grammar.push(family);
        } else {
            // Aliases: `tree show` of `tree status`, `window unjoin` of
            // `window leave`.
            grammar.extend(
                verbs
                    .iter()
                    .filter(|v| {
                        !matches!(
                            (family.as_str(), v.as_str()),
                            ("tree", "show") | ("window", "unjoin")
                        )
                    })
                    .map(|v| format!("{family} {v}")),
            );
        }
    }
    // Nested verbs (`oncall swap request|take|…`) are listed by their full name.
    grammar.retain(|g| g != "oncall swap" && g != "oncall override");
    for verb in ["request", "take", "list", "cancel"] {
        grammar.push(format!("oncall swap {verb}"));
    }
    for verb in ["set", "list", "cancel"] {
        grammar.push(format!("oncall override {verb}"));
    }
    names.sort();
    // `whoami tz` is in the table twice, to show and to set.
    names.dedup();
    grammar.sort();
    assert_eq!(names, grammar);
}

/// A world in which every sheriff command of [`every_variant`] can succeed:
/// autoland is closed by alice (so `tree undo` has an entry).
fn world_with_an_undo_entry() -> World {
    let mut world = World::with_trees(TREES);
    world.ok(&alice(), "tree close autoland builds failing #infra");
    world
}

#[test]
fn callers_without_the_role_are_refused_and_nothing_changes() {
    for (command, permit) in every_variant() {
        let Permit::Role(role) = permit else { continue };
        for (caller, who) in [
            (bob(), "bob holds no role"),
            (
                guest(),
                r#""mallory" is not an identified person; an identified account is needed"#,
            ),
        ] {
            let world = world_with_an_undo_entry();
            let before = (world.state.clone(), world.history.len());
            let err = handle(&command, &world.ctx(&caller), &world.state).expect_err("refused");
            assert_eq!(
                err,
                Error::Permission {
                    action: command.name(),
                    need: Need::Role(vec![role]),
                    who: who.to_string()
                },
                "{} by {}",
                command.name(),
                caller.handle
            );
            let text = err.to_string();
            assert!(text.contains(&format!(r#"needs role "{role}""#)), "{text}");
            assert!(text.starts_with(&command.name()), "{text}");
            assert_eq!(err.stage(), "permission");
            assert_eq!(
                (world.state.clone(), world.history.len()),
                before,
                "a refusal changes nothing"
            );
        }
        // A duty or static role other than the one needed does not help either.
        let conductor = Caller::person(PersonId::new("dave"), [Role::Conductor, Role::Deployer]);
        let world = world_with_an_undo_entry();
        let err = handle(&command, &world.ctx(&conductor), &world.state).expect_err("wrong role");
        assert!(
            err.to_string().ends_with("dave holds conductor, deployer"),
            "{err}"
        );
    }
}

#[test]
fn sheriffs_and_admins_pass_every_tree_variant() {
    // Other families need their own worlds (rotations, areas); their
    // handlers are tested beside them and in the integration tests.
    let trees = every_variant().into_iter().filter(|(c, _)| {
        !matches!(
            c,
            Command::Oncall(_)
                | Command::Whoami(_)
                | Command::Who(_)
                | Command::Role(_)
                | Command::Status(_)
                | Command::Meeting(_)
                | Command::Info(_)
                | Command::Agreed(_)
                | Command::Action(_)
                | Command::Escalate(_)
                | Command::Ack(_)
        )
    });
    for (command, permit) in trees {
        for caller in [alice(), root()] {
            let world = world_with_an_undo_entry();
            let outcome = handle(&command, &world.ctx(&caller), &world.state)
                .unwrap_or_else(|e| panic!("{} by {}: {e:?}", command.name(), caller.handle));
            assert!(!outcome.reply.is_empty(), "{} replies", command.name());
            let changes = matches!(permit, Permit::Role(_));
            assert_eq!(
                !outcome.changes.is_empty(),
                changes,
                "{} changes state iff it needs a role",
                command.name()
            );
        }
    }
}

#[test]
fn anyone_may_read() {
    let world = world_with_an_undo_entry();
    for line in [
        "tree",
        "tree status autoland",
        "tree log autoland",
        "help",
        "help tree",
        "ping",
        "whoami",
    ] {
        for caller in [bob(), guest()] {
            let outcome = world
                .try_line(&caller, line)
                .unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
            assert!(!outcome.reply.is_empty(), "{line:?} replies");
            assert!(
                outcome.changes.is_empty() && outcome.announce.is_empty(),
                "{line:?} only reads"
            );
        }
    }
}

#[test]
fn ping_replies_pong() {
    let world = World::empty();
    assert_eq!(world.try_line(&guest(), "ping"), Ok(Outcome::reply("pong")));
    for line in ["ping anything", "ping are you there?", "ping -v"] {
        assert_eq!(
            world.try_line(&guest(), line),
            Ok(Outcome::reply("pong")),
            "{line:?}"
        );
    }
}

#[test]
fn whoami_shows_person_network_and_roles() {
    let mut world = World::empty();
    let slack_alice = Caller {
        handle: "U024BE7LH".to_string(),
        ..alice()
    };
    let busy = Caller::person(PersonId::new("erin"), [Role::Ciduty, Role::Admin]);
    let cases = [
        (
            Network::Slack,
            slack_alice,
            r#"you are alice (slack user "U024BE7LH"); roles: sheriff"#,
        ),
        (
            Network::Console,
            busy,
            r#"you are erin (console user "erin"); roles: admin, ciduty"#,
        ),
        (
            Network::Matrix,
            bob(),
            r#"you are bob (matrix user "bob"); no roles"#,
        ),
        (
            Network::Irc,
            guest(),
            r#"you are a guest (irc user "mallory" is not mapped to a person); read-only commands only"#,
        ),
    ];
    for (network, caller, want) in cases {
        world.network = network;
        let outcome = world.try_line(&caller, "whoami").expect("anyone may ask");
        assert_eq!(outcome, Outcome::reply(want));
    }
}

#[test]
fn views_and_events_round_trip_through_json() {
    let mut world = World::with_trees(TREES);
    world.ok(
        &alice(),
        "tree close autoland,try builds failing #infra for 2h",
    );
    world.ok(
        &alice(),
        "tree approval mozilla-beta release candidate #planned",
    );
    world.ok(&alice(), "tree undo");
    world.ok(&alice(), r#"tree motd try "be nice""#);
    world.commit(
        Actor::scheduler("handoff"),
        vec![Change::Job(crate::job::Change::Fired {
            job: "handoff".into(),
            at: noon(),
        })],
    );
    world.advance(Duration::minutes(110));
    world.job(&Job::TreeWarn {
        tree: TreeName::new("try"),
    });
    world.advance(Duration::minutes(10));
    world.job(&Job::TreeReopen {
        tree: TreeName::new("autoland"),
    });
    assert_eq!(world.history.len(), 8, "every step above is one event");

    let mut restored = State::default();
    for family in crate::Family::ALL {
        restored
            .load_view(family, world.state.view(family))
            .expect("a view loads back");
    }
    assert_eq!(restored, world.state);
    for event in &world.history {
        let json = serde_json::to_string(event).expect("events serialize");
        let back: Event = serde_json::from_str(&json).expect("events deserialize");
        assert_eq!(&back, event, "{json}");
    }
    // The treestatus spelling of a status is part of the stored form.
    let view = world.state.view(crate::Family::Trees);
    assert_eq!(view["trees"]["autoland"]["status"], "open");
    assert_eq!(view["trees"]["mozilla-beta"]["status"], "open");
    assert_eq!(view["trees"]["try"]["status"], "closed");
    assert_eq!(view["trees"]["try"]["warned"], true);
    let err = State::default().load_view(crate::Family::Trees, serde_json::json!({"trees": 3}));
    assert!(err.is_err(), "a malformed view is refused, not half-loaded");
}
