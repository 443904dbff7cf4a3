//! Discord application (slash) commands, generated from the clap definitions:
//! one command per family, a subcommand per verb, one typed option per
//! argument (integer for counts and ids, boolean for flags, string otherwise).
//!
//! The way back is here too: [`text`] turns the options of an invocation into
//! the words the text grammar parses, so `/tree close trees:autoland
//! reason:builds failing #infra` runs exactly what `!tree close autoland
//! builds failing #infra` runs — parsing, help and permissions stay in one
//! place.

use std::any::TypeId;

use clap::{Arg, ArgAction, Command as ClapCommand, CommandFactory};
use serde_json::{Value as Json, json};

use crate::{Error, Line};

/// Discord's limit on command and option names.
pub const NAME_MAX: usize = 32;
/// Discord's limit on command and option descriptions.
pub const DESCRIPTION_MAX: usize = 100;

/// Application command option types (Discord's numbering).
const SUB_COMMAND: u8 = 1;
const SUB_COMMAND_GROUP: u8 = 2;
const STRING: u8 = 3;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 5;
/// Where a command may be used: guild channels and the bot's DMs.
const CONTEXTS: [u8; 2] = [0, 1];

/// The application commands for a bulk overwrite
/// (`PUT /applications/{id}/commands`), in the order of the families.
pub fn application_commands() -> Json {
    let root = Line::command();
    let commands: Vec<Json> = root
        .get_subcommands()
        .filter(|f| !f.is_hide_set())
        .map(|family| {
            let mut command = json!({
                "type": 1,
                "name": name(family.get_name()),
                "description": description(family.get_about().map(|a| a.to_string()), family.get_name()),
                "contexts": CONTEXTS,
            });
            let verbs: Vec<&ClapCommand> =
                family.get_subcommands().filter(|v| !v.is_hide_set()).collect();
            let options: Vec<Json> = if verbs.is_empty() {
                options(family)
            } else {
                verbs
                    .into_iter()
                    .map(|verb| {
                        let subverbs: Vec<&ClapCommand> =
                            verb.get_subcommands().filter(|v| !v.is_hide_set()).collect();
                        if subverbs.is_empty() {
                            return sub_command(verb);
                        }
                        // A verb with verbs of its own (`oncall swap take`)
                        // is a group of sub-commands.
                        json!({
                            "type": SUB_COMMAND_GROUP,
                            "name": name(verb.get_name()),
                            "description": description(verb.get_about().map(|a| a.to_string()), verb.get_name()),
                            "options": subverbs.into_iter().map(sub_command).collect::<Vec<_>>(),
                        })
                    })
                    .collect()
            };
            if !options.is_empty() {
                command["options"] = Json::Array(options);
            }
            command
        })
        .collect();
    Json::Array(commands)
}

/// One verb as a Discord sub-command with its options.
fn sub_command(verb: &ClapCommand) -> Json {
    let mut sub = json!({
        "type": SUB_COMMAND,
        "name": name(verb.get_name()),
        "description": description(verb.get_about().map(|a| a.to_string()), verb.get_name()),
    });
    let opts = options(verb);
    if !opts.is_empty() {
        sub["options"] = Json::Array(opts);
    }
    sub
}

/// The arguments of one command as Discord options, required ones first
/// (Discord refuses an optional option before a required one).
fn options(command: &ClapCommand) -> Vec<Json> {
    let mut out: Vec<(bool, Json)> = arguments(command)
        .into_iter()
        .map(|arg| {
            let required = arg.is_required_set();
            let mut option = json!({
                "type": kind(arg),
                "name": name(arg.get_id().as_str()),
                "description": description(arg.get_help().map(|h| h.to_string()), arg.get_id().as_str()),
            });
            if required {
                option["required"] = json!(true);
            }
            if kind(arg) == INTEGER && unsigned(arg) {
                option["min_value"] = json!(0);
            }
            (required, option)
        })
        .collect();
    out.sort_by_key(|(required, _)| !*required);
    out.into_iter().map(|(_, o)| o).collect()
}

/// The user-facing arguments of a command: positionals in order, then options.
fn arguments(command: &ClapCommand) -> Vec<&Arg> {
    let mut args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| {
            !a.is_hide_set()
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                )
        })
        .collect();
    args.sort_by_key(|a| (!a.is_positional(), a.get_index().unwrap_or(usize::MAX)));
    args
}

fn kind(arg: &Arg) -> u8 {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return BOOLEAN;
    }
    let id = arg.get_value_parser().type_id();
    let integers = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ];
    if integers.iter().any(|t| id == *t) {
        INTEGER
    } else {
        STRING
    }
}

fn unsigned(arg: &Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
    ]
    .iter()
    .any(|t| id == *t)
}

/// Whether an argument takes many words (the rest of the line).
fn many(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// A Discord name: lowercase, `-` for anything else, at most 32 characters.
fn name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(NAME_MAX)
        .collect()
}

/// A Discord description: the doc comment's first line, shortened on a word
/// boundary to at most 100 characters; the name when there is no doc.
fn description(doc: Option<String>, fallback: &str) -> String {
    let text = doc
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or(fallback)
        .to_string();
    if text.chars().count() <= DESCRIPTION_MAX {
        return text;
    }
    let cut: String = text.chars().take(DESCRIPTION_MAX - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > DESCRIPTION_MAX / 2 => cut[..i].trim_end().to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

/// One option value as Discord sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

/// A slash-command invocation: `/tree close trees:autoland reason:…` is
/// command `tree`, verb `close`, and its options by name; a verb in a
/// group is `group verb` (`/oncall swap take id:7` has verb `swap take`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invocation {
    pub command: String,
    pub verb: Option<String>,
    pub options: Vec<(String, Value)>,
}

/// The chat text an invocation stands for (without a prefix), in the
/// grammar's word order: positionals by their index, then `--flag value`.
/// A single-word argument whose value has spaces or quotes is quoted; a
/// many-word argument (a reason, a text) is passed as typed, so its quotes
/// group words exactly as they would in a channel.
pub fn text(invocation: &Invocation) -> Result<String, Error> {
    let root = Line::command();
    let unknown = |what: &str, name: &str| {
        Error::Usage(format!(
            "unknown {what} \"{name}\"; the registered commands may be out of date"
        ))
    };
    let family = root
        .get_subcommands()
        .find(|f| f.get_name() == invocation.command)
        .ok_or_else(|| unknown("command", &invocation.command))?;
    let mut words = vec![family.get_name().to_string()];
    // A verb of a group is `group verb` (`swap take`).
    let mut target = family;
    for verb in invocation.verb.iter().flat_map(|v| v.split(' ')) {
        let v = target
            .get_subcommands()
            .find(|v| name(v.get_name()) == verb)
            .ok_or_else(|| unknown(&format!("{} verb", words.join(" ")), verb))?;
        words.push(v.get_name().to_string());
        target = v;
    }
    let args = arguments(target);
    for (option, _) in &invocation.options {
        if !args.iter().any(|a| name(a.get_id().as_str()) == *option) {
            return Err(unknown("option", option));
        }
    }
    for arg in args {
        let Some((_, value)) = invocation
            .options
            .iter()
            .find(|(n, _)| *n == name(arg.get_id().as_str()))
        else {
            continue;
        };
        let rendered = match value {
            Value::Boolean(false) => continue,
            Value::Boolean(true) => None,
            Value::Integer(i) => Some(i.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if many(arg) => Some(s.clone()),
            Value::String(s) => Some(quote(s)),
        };
        if let Some(long) = arg.get_long() {
            words.push(format!("--{long}"));
        }
        words.extend(rendered);
    }
    Ok(words.join(" "))
}

/// One word as the splitter reads it back: quoted when it is empty or holds
/// spaces or quotes.
fn quote(s: &str) -> String {
    if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '"') {
        return s.to_string();
    }
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words;

    fn string(s: &str) -> Value {
        Value::String(s.to_string())
    }

    fn invocation(command: &str, verb: Option<&str>, options: &[(&str, Value)]) -> Invocation {
        Invocation {
            command: command.to_string(),
            verb: verb.map(str::to_string),
            options: options
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn checked_in_json_matches_the_definitions() {
        let generated = serde_json::to_string_pretty(&application_commands())
            .expect("commands serialize")
            + "\n";
        let checked_in = include_str!("../../../manifests/discord.json");
        assert!(
            generated == checked_in,
            "manifests/discord.json is out of date; regenerate it with \
             `cargo run -- manifest discord > manifests/discord.json`"
        );
    }

    #[test]
    fn commands_fit_discord_limits() {
        let commands = application_commands();
        let commands = commands.as_array().expect("an array");
        assert!(commands.len() <= 100, "at most 100 global commands");
        fn walk(o: &Json, depth: usize) {
            let n = o["name"].as_str().expect("name");
            assert!(
                !n.is_empty()
                    && n.len() <= NAME_MAX
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c)),
                "bad name {n:?}"
            );
            let d = o["description"].as_str().expect("description");
            assert!(
                !d.is_empty() && d.chars().count() <= DESCRIPTION_MAX,
                "bad description {d:?}"
            );
            if let Some(options) = o["options"].as_array() {
                assert!(options.len() <= 25, "at most 25 options under {n}");
                let required: Vec<bool> = options
                    .iter()
                    .map(|x| x["required"].as_bool().unwrap_or(false))
                    .collect();
                assert!(
                    required.windows(2).all(|w| w[0] || !w[1]),
                    "required options come first in {n}"
                );
                for option in options {
                    walk(option, depth + 1);
                }
            }
            // Discord's nesting: command → [group →] sub-command → options.
            match o["type"].as_u64() {
                Some(2) => assert_eq!(depth, 1, "a group sits right under its command: {n}"),
                Some(1) => assert!(depth <= 2, "{n} nested too deep"),
                _ => assert!((1..=3).contains(&depth), "{n} nested too deep"),
            }
        }
        for c in commands {
            walk(c, 0);
        }
    }

    #[test]
    fn tree_is_one_command_with_typed_verbs() {
        let commands = application_commands();
        let tree = commands
            .as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == "tree")
            .expect("tree command");
        let close = tree["options"]
            .as_array()
            .expect("verbs")
            .iter()
            .find(|v| v["name"] == "close")
            .expect("close verb");
        assert_eq!(close["type"], SUB_COMMAND);
        assert_eq!(close["options"][0]["name"], "trees");
        assert_eq!(close["options"][0]["type"], STRING);
        assert_eq!(close["options"][0]["required"], true);
        assert_eq!(close["options"][1]["name"], "reason");
        let log = tree["options"]
            .as_array()
            .expect("verbs")
            .iter()
            .find(|v| v["name"] == "log")
            .expect("log verb");
        assert_eq!(log["options"][1]["name"], "count");
        assert_eq!(log["options"][1]["type"], INTEGER);
        let undo = tree["options"]
            .as_array()
            .expect("verbs")
            .iter()
            .find(|v| v["name"] == "undo")
            .expect("undo verb");
        // An entry id or `list`.
        assert_eq!(undo["options"][0]["type"], STRING);
        let ping = commands
            .as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == "ping")
            .expect("ping");
        assert!(ping.get("options").is_none());
        // Verbs with verbs of their own are groups of sub-commands.
        let oncall = commands
            .as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == "oncall")
            .expect("oncall");
        let swap = oncall["options"]
            .as_array()
            .expect("verbs")
            .iter()
            .find(|v| v["name"] == "swap")
            .expect("swap");
        assert_eq!(swap["type"], SUB_COMMAND_GROUP);
        let take = swap["options"]
            .as_array()
            .expect("swap verbs")
            .iter()
            .find(|v| v["name"] == "take")
            .expect("take");
        assert_eq!(take["type"], SUB_COMMAND);
        assert_eq!(take["options"][0]["name"], "id");
    }

    #[test]
    fn options_become_the_words_the_grammar_parses() {
        let cases: Vec<(Invocation, &str)> = vec![
            (
                invocation(
                    "tree",
                    Some("close"),
                    &[
                        ("reason", string("builds failing #infra")),
                        ("trees", string("autoland")),
                    ],
                ),
                "tree close autoland builds failing #infra",
            ),
            (
                invocation(
                    "tree",
                    Some("log"),
                    &[("tree", string("try")), ("count", Value::Integer(5))],
                ),
                "tree log try 5",
            ),
            (
                invocation(
                    "tree",
                    Some("motd"),
                    &[("tree", string("try")), ("text", string("\"\""))],
                ),
                "tree motd try \"\"",
            ),
            (invocation("tree", Some("status"), &[]), "tree status"),
            (
                invocation(
                    "tree",
                    Some("open"),
                    &[("trees", string("mozilla central"))],
                ),
                "tree open \"mozilla central\"",
            ),
            (invocation("ping", None, &[]), "ping"),
            (
                invocation("oncall", Some("swap take"), &[("id", Value::Integer(7))]),
                "oncall swap take 7",
            ),
            (
                invocation(
                    "oncall",
                    Some("override set"),
                    &[
                        ("rotation", string("ci")),
                        ("person", string("bob")),
                        ("from", string("10:00")),
                        ("until", string("12:00")),
                    ],
                ),
                "oncall override set ci bob 10:00 12:00",
            ),
            (
                invocation(
                    "help",
                    None,
                    &[("family", string("tree")), ("verb", string("close"))],
                ),
                "help tree close",
            ),
        ];
        for (inv, want) in cases {
            assert_eq!(text(&inv).expect("text"), want);
        }
        let parsed = words::split(
            &text(&invocation(
                "tree",
                Some("open"),
                &[("trees", string("a \"b\\"))],
            ))
            .expect("text"),
        )
        .expect("split");
        assert_eq!(parsed, ["tree", "open", "a \"b\\"]);
    }

    #[test]
    fn unknown_names_are_usage_errors() {
        for inv in [
            invocation("treez", None, &[]),
            invocation("tree", Some("shut"), &[]),
            invocation("tree", Some("close"), &[("when", string("now"))]),
        ] {
            let err = text(&inv).expect_err("unknown");
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
            assert!(err.to_string().contains('"'), "{err}");
        }
    }
}
