//! Mentions between the core's neutral tokens and each network's native
//! form. On the way in, a native mention of a configured handle (Slack
//! `<@U…>` or `<@U…|name>`, Discord `<@id>` or `<@!id>`, a Matrix user id)
//! becomes the person's `[people]` key before the grammar sees the words, so
//! every command that takes a person accepts it. On the way out, a mention
//! token is bound to the person's handle on the network the message goes to
//! (or becomes their name where they have none there); the adapter renders
//! the bound token natively at send time.

use signalbox_commands::mention;
use signalbox_commands::{Network, PersonId, PlatformUserId};

use crate::identity::Directory;

/// `word` with every native mention of a known handle on `network` replaced
/// by the person's `[people]` key. Unknown mentions stay as typed, so the
/// command that takes a person refuses them, quoting them.
pub fn resolve_word(directory: &Directory, network: Network, word: &str) -> String {
    match network {
        Network::Slack | Network::Discord => replace_angled(word, |inner| {
            let id = match network {
                // `<@U0BOB>` or `<@U0BOB|bob>` (older clients add the name).
                Network::Slack => inner.split('|').next().unwrap_or(inner),
                // `<@123>` or the nickname form `<@!123>`.
                _ => inner.strip_prefix('!').unwrap_or(inner),
            };
            directory
                .person(network, &PlatformUserId::new(id))
                .map(|p| p.to_string())
        }),
        Network::Matrix if word.starts_with('@') && word.contains(':') => directory
            .person(network, &PlatformUserId::new(word))
            .map_or_else(|| word.to_string(), |p| p.to_string()),
        _ => word.to_string(),
    }
}

/// Replaces each `<@…>` in `word` for which `known` answers.
fn replace_angled(word: &str, known: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(start) = rest.find("<@") {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match known(inner) {
            Some(name) => out.push_str(&name),
            None => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// `text` with its mention tokens bound to `network`: the person's handle
/// there, or their name where they have none (and on networks that cannot
/// ping: the console, HTTP).
pub fn localize(directory: &Directory, network: Network, text: &str) -> String {
    if !text.contains(mention::OPEN) {
        return text.to_string();
    }
    mention::render(text, |name, handle| {
        if let Some(h) = handle {
            return mention::ping_handle(name, h);
        }
        let person = PersonId::new(name);
        let shown = directory.display(&person);
        match directory.handle(&person, network) {
            Some(h) if pings(network) => mention::ping_handle(&shown, h.as_str()),
            _ => shown,
        }
    })
}

/// Networks with a native mention.
fn pings(network: Network) -> bool {
    matches!(
        network,
        Network::Irc | Network::Matrix | Network::Slack | Network::Discord
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Config;

    fn directory() -> Directory {
        let text = "[people.alice]\nslack = \"U0ALICE\"\ndiscord = \"42\"\nmatrix = \"@alice:localhost\"\nirc = \"alice\"\n[people.bob]\n";
        let config = Config::from_text(text, "t", &HashMap::new(), None).expect("config");
        Directory::from_config(&config)
    }

    #[test]
    fn native_mentions_of_known_handles_become_people() {
        let dir = directory();
        let cases = [
            (Network::Slack, "<@U0ALICE>", "alice"),
            (Network::Slack, "<@U0ALICE|alice>,", "alice,"),
            (Network::Slack, "<@U0NOBODY>", "<@U0NOBODY>"),
            (Network::Discord, "<@42>", "alice"),
            (Network::Discord, "<@!42>", "alice"),
            (Network::Discord, "<@43>", "<@43>"),
            (Network::Discord, "<@U0ALICE>", "<@U0ALICE>"),
            (Network::Matrix, "@alice:localhost", "alice"),
            (Network::Matrix, "@eve:localhost", "@eve:localhost"),
            (Network::Irc, "<@42>", "<@42>"),
            (Network::Slack, "<@unterminated", "<@unterminated"),
        ];
        for (network, word, want) in cases {
            assert_eq!(resolve_word(&dir, network, word), want, "{network} {word}");
        }
    }

    #[test]
    fn tokens_bind_to_the_network_or_fall_back_to_names() {
        let dir = directory();
        let text = format!(
            "{}: {}",
            mention::ping(&PersonId::new("alice")),
            mention::ping(&PersonId::new("bob"))
        );
        let slack = localize(&dir, Network::Slack, &text);
        assert_eq!(mention::handles(&slack), ["U0ALICE"]);
        assert_eq!(mention::plain(&slack), "alice: bob");
        assert_eq!(localize(&dir, Network::Console, &text), "alice: bob");
        assert_eq!(
            mention::handles(&localize(&dir, Network::Matrix, &text)),
            ["@alice:localhost"]
        );
    }

    #[test]
    fn display_names_are_shown_never_used_as_identity() {
        let text = "[people.alice]\nslack = \"U0ALICE\"\ndisplay = \"Alice W.\"\n[people.bob]\n";
        let config = Config::from_text(text, "t", &HashMap::new(), None).expect("config");
        let dir = Directory::from_config(&config);
        let ping = mention::ping(&PersonId::new("alice"));
        assert_eq!(localize(&dir, Network::Console, &ping), "Alice W.");
        let slack = localize(&dir, Network::Slack, &ping);
        assert_eq!(mention::handles(&slack), ["U0ALICE"]);
        assert_eq!(mention::plain(&slack), "Alice W.");
        assert_eq!(
            localize(&dir, Network::Slack, &mention::ping(&PersonId::new("bob"))),
            "bob"
        );
        assert_eq!(resolve_word(&dir, Network::Slack, "Alice W."), "Alice W.");
        assert_eq!(
            dir.person(Network::Console, &PlatformUserId::new("Alice W.")),
            None,
            "a display name identifies nobody"
        );
    }
}
