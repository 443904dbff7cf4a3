//! Help text, rendered from the same clap definitions that parse commands, so
//! the help can never disagree with the grammar.

use clap::CommandFactory;

use crate::{Error, Line, Outcome};

/// Every family (top-level command) with its one-line description.
pub fn families() -> Vec<(String, String)> {
    Line::command()
        .get_subcommands()
        .map(|c| (c.get_name().to_string(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect()
}

/// The verbs of a family (and their aliases).
pub fn verbs(family: &str) -> Vec<String> {
    Line::command()
        .find_subcommand(family)
        .map(|f| {
            f.get_subcommands()
                .flat_map(|v| std::iter::once(v.get_name().to_string()).chain(v.get_all_aliases().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

pub fn help(family: Option<&str>, verb: Option<&str>, prefix: &str) -> Result<Outcome, Error> {
    let mut root = Line::command();
    let Some(family) = family else {
        let lines: Vec<String> =
            families().into_iter().map(|(name, about)| format!("{prefix}{name} — {}", about.trim_end_matches('.'))).collect();
        return Ok(Outcome::reply(format!(
            "commands:\n{}\nmore: {prefix}help FAMILY, or {prefix}FAMILY VERB --help",
            lines.join("\n")
        )));
    };
    let unknown = |what: &str, name: &str, known: Vec<String>| {
        Error::not_found(format!("no help for {what} \"{name}\"; known: {}", known.join(", ")))
    };
    let names: Vec<String> = families().into_iter().map(|(n, _)| n).collect();
    let fam = root
        .find_subcommand_mut(family)
        .ok_or_else(|| unknown("command", family, names))?;
    let (cmd, path) = match verb {
        None => (fam, vec![family.to_string()]),
        Some(verb) => {
            let known = verbs(family);
            let v = fam.find_subcommand_mut(verb).ok_or_else(|| unknown(&format!("{family} verb"), verb, known))?;
            (v, vec![family.to_string(), verb.to_string()])
        }
    };
    let text = cmd.render_long_help().to_string();
    Ok(Outcome::reply(tidy(&text, prefix, &path)))
}

/// Reshapes clap's text for chat: lowercase lead, the bot's prefix in usage
/// lines, and a `--help` hint that names the command.
pub fn tidy(text: &str, prefix: &str, words: &[String]) -> String {
    let path: Vec<&str> = words.iter().take(2).map(String::as_str).collect();
    let verb_path = path.iter().take_while(|w| !w.starts_with('-')).copied().collect::<Vec<_>>().join(" ");
    text.trim_end()
        .replace("error: ", "")
        .replace("Usage: ", &format!("usage: {prefix}"))
        .replace("Commands:", "commands:")
        .replace("Arguments:", "arguments:")
        .replace("Options:", "options:")
        .replace("Print help", "print help")
        .replace("For more information, try '--help'.", &format!("for more, try {prefix}{verb_path} --help"))
        .replace("  tip:", "  hint:")
}
