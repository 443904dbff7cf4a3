//! Help text, rendered from the same clap definitions that parse commands, so
//! the help can never disagree with the grammar.

use clap::{CommandFactory, Parser};

use crate::{Error, Line, Outcome};

/// Every family (top-level command) with its one-line description.
pub fn families() -> Vec<(String, String)> {
    Line::command()
        .get_subcommands()
        .map(|c| {
            (
                c.get_name().to_string(),
                c.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The verbs of a family (and their aliases).
pub fn verbs(family: &str) -> Vec<String> {
    Line::command()
        .find_subcommand(family)
        .map(|f| {
            f.get_subcommands()
                .flat_map(|v| {
                    std::iter::once(v.get_name().to_string())
                        .chain(v.get_all_aliases().map(str::to_string))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The verbs of a family's verb that has verbs of its own (`oncall swap`).
pub fn subverbs(family: &str, verb: &str) -> Vec<String> {
    Line::command()
        .find_subcommand(family)
        .and_then(|f| f.find_subcommand(verb))
        .map(|v| {
            v.get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn help(family: Option<&str>, verb: Option<&str>, prefix: &str) -> Result<Outcome, Error> {
    let family = family.map(str::to_lowercase);
    let verb = verb.map(str::to_lowercase);
    let Some(family) = family.as_deref() else {
        let lines: Vec<String> = families()
            .into_iter()
            .map(|(name, about)| format!("{prefix}{name} — {}", about.trim_end_matches('.')))
            .collect();
        return Ok(Outcome::reply(format!(
            "commands:\n{}\nmore: {prefix}help FAMILY, or {prefix}FAMILY VERB --help",
            lines.join("\n")
        )));
    };
    let unknown = |what: &str, name: &str, known: Vec<String>| {
        Error::not_found(format!(
            "no help for {what} \"{name}\"; known: {}",
            known.join(", ")
        ))
    };
    let root = Line::command();
    let names: Vec<String> = families().into_iter().map(|(n, _)| n).collect();
    let fam = root
        .find_subcommand(family)
        .ok_or_else(|| unknown("command", family, names))?;
    let mut path = vec![family.to_string()];
    if let Some(verb) = verb.as_deref() {
        if fam.find_subcommand(verb).is_none() {
            return Err(unknown(&format!("{family} verb"), verb, verbs(family)));
        }
        path.push(verb.to_string());
    }
    // Render through the parser, exactly as `!FAMILY VERB --help` does, so both
    // show the same text: a verb rendered on its own would lose its family in
    // the usage line (`close <TREES>`) and list clap's disabled `help` verb.
    let argv = path.iter().map(String::as_str).chain(["--help"]);
    let text = match Line::try_parse_from(argv) {
        Err(e) => e.render().to_string(),
        Ok(_) => fam.clone().render_long_help().to_string(),
    };
    Ok(Outcome::reply(tidy(&text, prefix, &path)))
}

/// Reshapes clap's text for chat: lowercase lead, the bot's prefix in usage
/// lines, and a `--help` hint that names the command.
pub fn tidy(text: &str, prefix: &str, words: &[String]) -> String {
    // The command the hint names: the family, and the verb if the second word
    // is one (`!whoami x` gets `!whoami --help`, not `!whoami x --help`).
    let mut path: Vec<&str> = words.first().map(String::as_str).into_iter().collect();
    if let (Some(family), Some(verb)) = (words.first(), words.get(1))
        && verbs(family).iter().any(|v| v == verb)
    {
        path.push(verb);
    }
    let verb_path = path.join(" ");
    text.trim_end()
        .replace("error: ", "")
        .replace("Usage: ", &format!("usage: {prefix}"))
        .replace("Commands:", "commands:")
        .replace("Arguments:", "arguments:")
        .replace("Options:", "options:")
        .replace("Print help", "print help")
        .replace(
            "For more information, try '--help'.",
            &format!("for more, try {prefix}{verb_path} --help"),
        )
        .replace("  tip:", "  hint:")
        .replace("\n  !", &format!("\n  {prefix}"))
}
