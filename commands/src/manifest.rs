//! Platform manifests generated from the command definitions: the same clap
//! tree that parses chat text names the slash commands, their descriptions
//! and their usage hints, so a new family or verb reaches Slack by
//! regenerating the manifest, never by editing it by hand.
//!
//! Slack gets one slash command per family (`/tree`, `/train`, …) plus one
//! for everything (`/signalbox tree close …`). The commands that only exist
//! for chat (`help`, `ping`, `whoami`) are reached through the catch-all.
//! Discord's application commands are in [`discord`].

pub mod discord;

use std::collections::BTreeMap;

use clap::CommandFactory;
use serde_json::{Value, json};

use crate::Line;

/// Top-level commands that get no slash command of their own.
const META: &[&str] = &["help", "ping", "whoami"];

/// Slack's own slash commands: a custom command cannot take these names
/// (Slack would run its own), so a family that would collide gets another
/// default name and a configured name is refused.
pub const SLACK_BUILT_INS: &[&str] = &[
    "active",
    "apps",
    "archive",
    "away",
    "call",
    "collapse",
    "dm",
    "dnd",
    "expand",
    "feed",
    "feedback",
    "giphy",
    "invite",
    "invite_people",
    "join",
    "kick",
    "leave",
    "me",
    "msg",
    "mute",
    "open",
    "prefs",
    "remind",
    "remove",
    "rename",
    "search",
    "shortcuts",
    "shrug",
    "star",
    "status",
    "topic",
    "who",
];

/// The families that get a slash command, with their one-line description.
pub fn slash_families() -> Vec<(String, String)> {
    Line::command()
        .get_subcommands()
        .filter(|c| !META.contains(&c.get_name()))
        .map(|c| {
            (
                c.get_name().to_string(),
                c.get_about()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
                    .trim_end_matches('.')
                    .to_string(),
            )
        })
        .collect()
}

/// The default slash command for a family: `/FAMILY`, or `/sb-FAMILY` when
/// `/FAMILY` is one of Slack's built-ins.
pub fn default_slash_name(family: &str) -> String {
    if SLACK_BUILT_INS.contains(&family) {
        format!("/sb-{family}")
    } else {
        format!("/{family}")
    }
}

/// Why a slash command name cannot be used, or `None` when it can.
pub fn slash_name_problem(name: &str) -> Option<String> {
    let Some(bare) = name.strip_prefix('/') else {
        return Some(format!("slash command \"{name}\" must start with \"/\""));
    };
    let well_formed = !bare.is_empty()
        && name.len() <= 32
        && bare
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
    if !well_formed {
        return Some(format!(
            "slash command \"{name}\" must be \"/\" and 1 to 31 lowercase letters, digits, \"-\" or \"_\""
        ));
    }
    if SLACK_BUILT_INS.contains(&bare) {
        return Some(format!(
            "slash command \"{name}\" is built into Slack; pick another name"
        ));
    }
    None
}

/// What the Slack manifest is generated from besides the definitions.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    /// The app's and the bot user's name.
    pub bot_name: String,
    /// The catch-all command (`/signalbox`).
    pub catch_all: String,
    /// Family → slash command; families not listed get their default name.
    pub names: BTreeMap<String, String>,
    /// `None` for Socket Mode; for HTTP mode the public base URL the
    /// `/slack/commands`, `/slack/events` and `/slack/interactions` routes are
    /// reached under.
    pub request_url: Option<String>,
}

impl Default for SlackOptions {
    fn default() -> Self {
        Self {
            bot_name: "signalbox".to_string(),
            catch_all: "/signalbox".to_string(),
            names: BTreeMap::new(),
            request_url: None,
        }
    }
}

impl SlackOptions {
    /// The slash command for every family, in definition order.
    pub fn slash_commands(&self) -> Vec<(String, String)> {
        slash_families()
            .into_iter()
            .map(|(family, _)| {
                let name = self
                    .names
                    .get(&family)
                    .cloned()
                    .unwrap_or_else(|| default_slash_name(&family));
                (family, name)
            })
            .collect()
    }
}

/// The usage hint of a family: its verbs, then the first verb's arguments.
fn usage_hint(family: &clap::Command) -> String {
    let verbs: Vec<&str> = family.get_subcommands().map(|v| v.get_name()).collect();
    if verbs.is_empty() {
        let args: Vec<String> = family
            .get_positionals()
            .map(|a| a.get_id().as_str().to_uppercase())
            .collect();
        return args.join(" ");
    }
    format!("[{}] …", verbs.join("|"))
}

/// The Slack app manifest (JSON), ready for "Create an app → From a manifest".
pub fn slack(options: &SlackOptions) -> Value {
    let root = Line::command();
    let url = |path: &str| {
        options
            .request_url
            .as_ref()
            .map(|base| format!("{}{path}", base.trim_end_matches('/')))
    };
    let mut commands = Vec::new();
    for (family, name) in options.slash_commands() {
        let Some(def) = root.find_subcommand(&family) else {
            continue;
        };
        let about = def
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_string();
        let mut command = json!({
            "command": name,
            "description": about,
            "usage_hint": usage_hint(def),
            "should_escape": false,
        });
        if let Some(url) = url("/slack/commands") {
            command["url"] = json!(url);
        }
        commands.push(command);
    }
    let families: Vec<String> = root
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut catch_all = json!({
        "command": options.catch_all,
        "description": format!("Any {} command: {}", options.bot_name, families.join(", ")),
        "usage_hint": "help | tree close autoland bustage #infra | …",
        "should_escape": false,
    });
    if let Some(url) = url("/slack/commands") {
        catch_all["url"] = json!(url);
    }
    commands.push(catch_all);

    let mut events = json!({
        "bot_events": ["app_mention", "message.channels", "message.groups", "message.im"],
    });
    let mut interactivity = json!({ "is_enabled": true });
    if let Some(url) = url("/slack/events") {
        events["request_url"] = json!(url);
    }
    if let Some(url) = url("/slack/interactions") {
        interactivity["request_url"] = json!(url);
    }
    json!({
        "_metadata": { "major_version": 1, "minor_version": 1 },
        "display_information": {
            "name": options.bot_name,
            "description": "Chat-ops for release engineering: trees, trains, deploy windows, loaners, shifts",
        },
        "features": {
            "bot_user": { "display_name": options.bot_name, "always_online": true },
            "slash_commands": commands,
        },
        "oauth_config": {
            "scopes": {
                "bot": [
                    "app_mentions:read",
                    "channels:history",
                    "channels:manage",
                    "chat:write",
                    "commands",
                    "groups:history",
                    "groups:write",
                    "im:history",
                    "im:write",
                ],
            },
        },
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": false,
            "socket_mode_enabled": options.request_url.is_none(),
            "token_rotation_enabled": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_gets_a_command_and_none_is_a_slack_built_in() {
        let manifest = slack(&SlackOptions::default());
        let commands = manifest["features"]["slash_commands"]
            .as_array()
            .expect("commands");
        let names: Vec<&str> = commands
            .iter()
            .map(|c| c["command"].as_str().expect("name"))
            .collect();
        assert!(names.contains(&"/tree"), "{names:?}");
        assert_eq!(names.last(), Some(&"/signalbox"));
        assert!(!names.contains(&"/ping") && !names.contains(&"/help"));
        for name in &names {
            assert_eq!(slash_name_problem(name), None, "{name}");
        }
        let tree = &commands[names.iter().position(|n| *n == "/tree").expect("tree")];
        assert_eq!(tree["description"], "Open, close and inspect code trees");
        let hint = tree["usage_hint"].as_str().expect("hint");
        assert!(hint.contains("close") && hint.contains("undo"), "{hint}");
        assert_eq!(manifest["settings"]["socket_mode_enabled"], true);
        assert!(tree.get("url").is_none(), "socket mode has no request urls");
    }

    #[test]
    fn http_mode_names_the_request_urls_and_names_are_configurable() {
        let options = SlackOptions {
            names: BTreeMap::from([("tree".to_string(), "/trees".to_string())]),
            request_url: Some("https://bot.example.org/".to_string()),
            ..SlackOptions::default()
        };
        let manifest = slack(&options);
        let settings = &manifest["settings"];
        assert_eq!(settings["socket_mode_enabled"], false);
        assert_eq!(
            settings["event_subscriptions"]["request_url"],
            "https://bot.example.org/slack/events"
        );
        assert_eq!(
            settings["interactivity"]["request_url"],
            "https://bot.example.org/slack/interactions"
        );
        let first = &manifest["features"]["slash_commands"][0];
        assert_eq!(first["command"], "/trees");
        assert_eq!(first["url"], "https://bot.example.org/slack/commands");
    }

    #[test]
    fn slash_names_are_checked() {
        assert_eq!(default_slash_name("status"), "/sb-status");
        assert_eq!(default_slash_name("who"), "/sb-who");
        assert_eq!(default_slash_name("tree"), "/tree");
        for (bad, why) in [
            ("/status", "built into Slack"),
            ("/who", "built into Slack"),
            ("tree", "must start with"),
            ("/Tree", "lowercase"),
            ("/", "lowercase"),
            ("/tree close", "lowercase"),
        ] {
            let problem = slash_name_problem(bad).expect(bad);
            assert!(problem.contains(why) && problem.contains(bad), "{problem}");
        }
    }
}
