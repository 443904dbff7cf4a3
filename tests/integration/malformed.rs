//! Bad input of every kind gets a clear, lowercase message naming the
//! problem, and changes nothing.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

use signalbox::adapter::console::Console;
use signalbox::clock::ManualClock;
use signalbox_commands::PlatformUserId;
use tokio_util::sync::CancellationToken;

use crate::common::{at, bin, bot, event_count, say};

/// (input, a part of the expected reply)
const CASES: &[(&str, &str)] = &[
    (
        "!frobnicate",
        "unknown command \"frobnicate\"; commands are: help, ping, whoami, tree, train, window, log, loaner, oncall, who, role, status, stats, meeting, info, agreed, action, escalate, ack",
    ),
    ("!", "empty command"),
    (
        "!tree frobnicate",
        "tree \"frobnicate\" is unknown; trees are: autoland, mozilla-central, try",
    ),
    (
        "!tree close",
        "the following required arguments were not provided",
    ),
    ("!tree close autoland", "<REASON>"),
    ("!tree close all", "<REASON>"),
    (
        "!tree close autoland broken",
        "needs a reason category tag, one of: #backlog",
    ),
    (
        "!tree close autoland #infra",
        "needs a reason as well as a tag",
    ),
    (
        "!tree close autolnad broken #infra",
        "tree \"autolnad\" is unknown; trees are: autoland, mozilla-central, try",
    ),
    ("!tree close foo* x #infra", "no tree matches \"foo*\""),
    ("!tree close ,  x #infra", "tree \"\" is unknown"),
    (
        "!tree close autoland x #infar",
        "tag \"#infar\" is unknown; tags are:",
    ),
    (
        "!tree close autoland x #infra for 2y",
        "duration \"2y\" is malformed",
    ),
    (
        "!tree close autoland x #infra for 0h",
        "duration \"0h\" is malformed",
    ),
    (
        "!tree close autoland x #infra for 2h30",
        "duration \"2h30\" is malformed",
    ),
    (
        "!tree close autoland x #infra for 999d",
        "duration \"999d\" is longer than 366 days",
    ),
    (
        "!tree close autoland x #infra until 25:00",
        "time \"25:00\" is malformed",
    ),
    (
        "!tree close autoland x #infra until 2026-13-01 10:00",
        "time \"2026-13-01 10:00\" is malformed",
    ),
    (
        "!tree close autoland x #infra until 2020-01-01 10:00",
        "time \"2020-01-01 10:00\" is in the past",
    ),
    (
        "!tree close --bogus x #infra",
        "unexpected argument '--bogus'",
    ),
    ("!tree open", "<TREES>"),
    ("!tree open nosuch", "tree \"nosuch\" is unknown"),
    (
        "!tree open autoland x #nosuch",
        "tag \"#nosuch\" is unknown",
    ),
    ("!tree approval autoland", "<REASON>"),
    (
        "!tree approval autoland #planned",
        "tree approval needs a reason",
    ),
    ("!tree motd", "<TREE>"),
    ("!tree motd autoland", "<TEXT>"),
    ("!tree motd nosuch hi", "tree \"nosuch\" is unknown"),
    (
        "!tree motd autoland,try hi",
        "tree \"autoland,try\" is unknown",
    ),
    ("!tree undo abc", "invalid value 'abc'"),
    (
        "!tree undo 99999",
        "undo entry \"99999\" is not on the undo stack",
    ),
    ("!tree undo 1 2", "unexpected argument '2'"),
    ("!tree undo -1", "unexpected argument '-1'"),
    ("!tree log", "<TREE>"),
    ("!tree log nosuch", "tree \"nosuch\" is unknown"),
    ("!tree log autoland 0", "0 is not in 1..=200"),
    ("!tree log autoland 201", "201 is not in 1..=200"),
    ("!tree log autoland many", "invalid value 'many'"),
    (
        "!tree log autoland 99999999999",
        "invalid value '99999999999'",
    ),
    ("!tree log autoland 5 6", "unexpected argument '6'"),
    ("!tree status nosuch", "tree \"nosuch\" is unknown"),
    ("!tree --bogus", "unexpected argument '--bogus'"),
    ("!whoami me", "unrecognized subcommand 'me'"),
    (
        "!help nosuch",
        "no help for command \"nosuch\"; known: help, ping, whoami, tree, train, window, log, loaner, oncall, who, role, status, stats, meeting, info, agreed, action, escalate, ack",
    ),
    (
        "!help tree nosuch",
        "no help for tree verb \"nosuch\"; known: status",
    ),
    ("!help tree close extra", "unexpected argument 'extra'"),
    ("!tree motd try \"hello", "unterminated quote in"),
    (
        "!tree close autoland a\0b #infra",
        "control character (NUL)",
    ),
    (
        "!tree close autoland a\u{85}QUIT #infra",
        "control character (U+0085)",
    ),
    // A second line continues the first (folded with ` / `), so it can
    // never be a second command or a raw line break.
    ("!whoami\nQUIT", "unrecognized subcommand '/'"),
    (
        "!tree close autoland \u{1b}[31mred #infra",
        "control character (U+001B)",
    ),
];

#[tokio::test]
async fn every_malformed_command_is_refused_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let long = format!("!tree close autoland {} #infra", "x".repeat(100 * 1024));
    let many = format!("!tree close autoland {}#infra", "w ".repeat(300));
    let mut cases: Vec<(String, &str)> = CASES.iter().map(|(i, w)| (i.to_string(), *w)).collect();
    cases.push((long, "message too long (102427 bytes; the limit is 4096)"));
    cases.push((many, "too many words; at most 256"));
    assert!(cases.len() >= 50);
    for (input, want) in cases {
        let state = bot.ledger.state();
        let events = event_count(&bot);
        let reply = say(&bot, "alice", &input).await;
        let shown = signalbox_commands::words::prefix(&input, 60);
        assert!(
            reply.contains(want),
            "{shown:?}: got {reply:?}, want {want:?}"
        );
        assert!(
            !reply.starts_with(char::is_uppercase),
            "{shown:?}: {reply:?} should start lowercase"
        );
        assert_eq!(*bot.ledger.state(), *state, "{shown:?} changed the state");
        assert_eq!(event_count(&bot), events, "{shown:?} wrote an event");
    }
}

/// Output that a test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn console_refuses_invalid_utf8_and_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let out = Captured::default();
    let console = Console::new(PlatformUserId::new("alice"), Box::new(out.clone()));
    let input: &[u8] = b"!tree close autoland \xff\xfe #infra\r\n\n!ping\r\n";
    let events = event_count(&bot);
    console
        .serve(&bot.router, input, &CancellationToken::new())
        .await;
    let printed = String::from_utf8(out.0.lock().expect("lock").clone()).expect("output is utf-8");
    assert_eq!(
        printed,
        "line 1 is not valid UTF-8; nothing was run\npong\n"
    );
    assert_eq!(event_count(&bot), events);
}

#[test]
fn broken_configs_name_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str)] = &[
        (
            "[bot]\nname = \"x\"\ncolour = \"red\"\n",
            "line 3: bot.colour: unknown field \"colour\"",
        ),
        (
            "[[reminders]]\nname = \"r\"\ncron = \"61 * * * * *\"\nchannels = []\ntext = \"t\"\n",
            "line 3: reminders.cron: cron expression \"61 * * * * *\" is invalid",
        ),
        (
            "[[reminders]]\nname = \"r\"\ncron = \"0 15 * * Tue\"\nchannels = []\ntext = \"t\"\n",
            "cron expression \"0 15 * * Tue\" is invalid",
        ),
        ("[bot]\ntimezone = \"Mars/Base\"\n", "line 2: bot.timezone"),
        (
            "[announce]\ntrees = [\"releng\"]\n",
            "line 2: announce.trees: channel address \"releng\" is malformed",
        ),
        (
            "[people.x]\nroles = [\"root\"]\n",
            "line 2: people.x.roles: unknown variant \"root\"",
        ),
        (
            "[bot]\nconsole_as = \"nobody\"\n",
            "line 2: bot.console_as: person \"nobody\" is not in [people]",
        ),
        (
            "[people.a]\nslack = \"U1\"\n[people.b]\nslack = \"U1\"\n",
            "line 4: people.b.slack: handle \"U1\" is also given to a",
        ),
        (
            "[trees]\nnames = [\"all\"]\n",
            "line 2: trees.names: tree name \"all\" is invalid",
        ),
        (
            "[[tasks]]\nname = \"t\"\npattern = \"(\"\n",
            "line 3: tasks.pattern: task pattern \"(\" is not a valid regex",
        ),
        ("[http]\nlisten = \"nowhere\"\n", "line 2: http.listen"),
        ("[bot\n", "line 1"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).expect("write");
        let out = Command::new(bin())
            .arg("check-config")
            .arg(&path)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text:?}: {stderr}");
        assert!(
            stderr.contains(want),
            "{text:?}: got {stderr:?}, want {want:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let good = Command::new(bin())
        .arg("check-config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example"))
        .output()
        .expect("run");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}
