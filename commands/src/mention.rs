//! People in text, in and out. The core knows no network, so a message that
//! calls someone to act carries a neutral mention token ([`ping`]) where the
//! person's name goes; the shell swaps in the person's handle for the network
//! a message goes to ([`ping_handle`]) and each adapter renders the token
//! natively when it sends (Slack `<@U…>`, Discord `<@id>`, a Matrix pill, the
//! IRC nick of the account). Text that only describes someone uses the plain
//! name and pings nobody.
//!
//! The tokens are made of Unicode private-use characters, which
//! [`crate::words::check_text`] refuses in anything a user types, so a
//! message cannot forge a ping.
//!
//! On the way in, a command argument that names a person goes through
//! [`person`]: a `[people]` key (an `@` before it is allowed), or a name the
//! shell recognised in this message for one network ([`Aliases`]: a live IRC
//! nick logged into a known account). Native mentions of known handles (Slack
//! `<@U…>`, Discord `<@id>`, Matrix ids and pills) are turned into `[people]`
//! keys by the shell before the words reach the grammar.

use std::collections::BTreeMap;

use crate::id::PersonId;
use crate::{Context, Error};

/// Starts a mention token.
pub const OPEN: char = '\u{E000}';
/// Ends a mention token.
pub const CLOSE: char = '\u{E001}';
/// Separates the name from the network handle inside a localised token.
pub const HANDLE: char = '\u{E002}';

/// Whether `c` is reserved for mention tokens (refused in typed text).
pub fn is_reserved(c: char) -> bool {
    matches!(c, OPEN | CLOSE | HANDLE)
}

/// Text that pings `person` wherever it is delivered.
pub fn ping(person: &PersonId) -> String {
    format!("{OPEN}{person}{CLOSE}")
}

/// Pings for several people, joined with ", ", or `none`.
pub fn ping_all<'a>(people: impl IntoIterator<Item = &'a PersonId>) -> String {
    let pings: Vec<String> = people.into_iter().map(ping).collect();
    if pings.is_empty() {
        "none".to_string()
    } else {
        pings.join(", ")
    }
}

/// A mention already bound to one network: `name` is shown where the
/// network has no native form, `handle` is the person's id there.
pub fn ping_handle(name: &str, handle: &str) -> String {
    format!("{OPEN}{name}{HANDLE}{handle}{CLOSE}")
}

/// A piece of text with mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Mention {
        name: &'a str,
        handle: Option<&'a str>,
    },
}

/// Splits `text` into plain text and mentions. A stray marker without its
/// partner is dropped, never shown.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + OPEN.len_utf8()..];
        let Some(end) = after.find(CLOSE) else {
            rest = after;
            break;
        };
        let inner = &after[..end];
        let (name, handle) = match inner.split_once(HANDLE) {
            Some((name, handle)) => (name, Some(handle)),
            None => (inner, None),
        };
        out.push(Piece::Mention { name, handle });
        rest = &after[end + CLOSE.len_utf8()..];
    }
    let tail: &str = rest;
    if !tail.is_empty() {
        out.push(Piece::Text(tail));
    }
    out
}

/// `text` with every mention replaced by what `render` makes of it and every
/// plain piece by what `text_of` makes of it (a network's escaping).
pub fn render_with(
    text: &str,
    mut text_of: impl FnMut(&str) -> String,
    mut render: impl FnMut(&str, Option<&str>) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => {
                out.push_str(&text_of(&t.replace(is_reserved, "")));
            }
            Piece::Mention { name, handle } => out.push_str(&render(name, handle)),
        }
    }
    out
}

/// `text` with every mention replaced by what `render` makes of it.
pub fn render(text: &str, render: impl FnMut(&str, Option<&str>) -> String) -> String {
    render_with(text, str::to_string, render)
}

/// `text` with mentions as plain names: for places that cannot ping (HTTP
/// answers, logs, the console).
pub fn plain(text: &str) -> String {
    render(text, |name, _| name.to_string())
}

/// The handles mentioned in a localised `text`, each once, in order.
pub fn handles(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in pieces(text) {
        if let Piece::Mention {
            handle: Some(h), ..
        } = piece
            && !out.iter().any(|o| o == h)
        {
            out.push(h.to_string());
        }
    }
    out
}

/// The people (`[people]` keys) mentioned in a core `text`, each once.
pub fn people(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in pieces(text) {
        if let Piece::Mention { name, handle: None } = piece
            && !out.iter().any(|o| o == name)
        {
            out.push(name.to_string());
        }
    }
    out
}

/// Names one message used for people beyond `[people]` keys, each meaning
/// one person: live IRC nicks logged into a known account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases(BTreeMap<String, PersonId>);

static NO_ALIASES: Aliases = Aliases(BTreeMap::new());

impl Aliases {
    /// No aliases: the context for the API, the scheduler and tests.
    pub fn none() -> &'static Aliases {
        &NO_ALIASES
    }

    pub fn insert(&mut self, word: impl Into<String>, person: PersonId) {
        self.0.insert(word.into(), person);
    }

    pub fn get(&self, word: &str) -> Option<&PersonId> {
        self.0.get(word)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `word` looks like a network's native mention (Slack `<@U…>`,
/// Discord `<@id>`, a Matrix id), so a refusal can say what it is.
fn looks_native(word: &str) -> bool {
    (word.starts_with("<@") && word.ends_with('>')) || (word.starts_with('@') && word.contains(':'))
}

/// The person a command argument names: a `[people]` key (with or without a
/// leading `@`), or a name this message's network resolved (see
/// [`Aliases`]). Anything else is refused, quoting the word.
pub fn person(ctx: &Context, word: &str) -> Result<PersonId, Error> {
    let key = PersonId::new(word.strip_prefix('@').unwrap_or(word));
    if ctx.settings.people.contains(&key) {
        return Ok(key);
    }
    if let Some(p) = ctx.aliases.get(word) {
        return Ok(p.clone());
    }
    if looks_native(word) {
        return Err(Error::not_found(format!(
            "mention \"{word}\" is not anyone in [people]; name a person by their config name or a mention of a configured handle"
        )));
    }
    let known: Vec<&str> = ctx.settings.people.iter().map(PersonId::as_str).collect();
    Err(Error::not_found(format!(
        "person \"{word}\" is unknown; people are: {}",
        known.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_render() {
        let alice = PersonId::new("alice");
        let text = format!("{}: look, {}", ping(&alice), ping_handle("bob", "U0BOB"));
        assert_eq!(plain(&text), "alice: look, bob");
        assert_eq!(handles(&text), ["U0BOB"]);
        let slack = render(&text, |name, handle| {
            handle.map_or_else(|| name.to_string(), |h| format!("<@{h}>"))
        });
        assert_eq!(slack, "alice: look, <@U0BOB>");
        assert_eq!(ping_all([] as [&PersonId; 0]), "none");
    }

    #[test]
    fn stray_markers_are_dropped() {
        let text = format!("a{OPEN}b");
        assert_eq!(plain(&text), "ab");
        let text = format!("a{CLOSE}b{HANDLE}c");
        assert_eq!(plain(&text), "abc");
    }

    #[test]
    fn person_arguments_take_keys_and_this_messages_aliases_only() {
        let mut w = crate::tests::World::empty();
        w.settings.people = vec![PersonId::new("alice"), PersonId::new("bob")];
        let caller = crate::tests::root();
        let mut aliases = Aliases::default();
        aliases.insert("alice_w", PersonId::new("alice"));
        let ctx = Context {
            aliases: &aliases,
            ..w.ctx(&caller)
        };
        for word in ["alice", "@alice", "alice_w"] {
            assert_eq!(person(&ctx, word).expect(word), PersonId::new("alice"));
        }
        let unknown = person(&ctx, "carol").expect_err("unknown").to_string();
        assert_eq!(
            unknown,
            "person \"carol\" is unknown; people are: alice, bob"
        );
        for mention in ["<@U0NOBODY>", "@eve:example.org"] {
            let err = person(&ctx, mention).expect_err(mention).to_string();
            assert!(err.starts_with(&format!("mention \"{mention}\"")), "{err}");
        }
        let without = w.ctx(&caller);
        assert!(
            person(&without, "alice_w").is_err(),
            "an alias is per message"
        );
    }

    #[test]
    fn an_escalation_pings_in_the_channel_and_describes_elsewhere() {
        let mut w = crate::tests::World::empty();
        w.settings.people = vec![PersonId::new("alice"), PersonId::new("bob")];
        w.settings.liaisons.insert(
            "security".into(),
            crate::liaison::Cover::People(vec![PersonId::new("alice")]),
        );
        let bob = crate::Caller::person(PersonId::new("bob"), []);
        let channel = crate::ChannelAddr::new(crate::Network::Irc, "#releng");
        let ctx = Context {
            channel: Some(&channel),
            ..w.ctx(&bob)
        };
        let cmd = w.command("escalate security disk full");
        let o = crate::handle(&cmd, &ctx, &w.state).expect("escalates");
        assert!(
            people(&o.reply).is_empty(),
            "the reply describes: {}",
            o.reply
        );
        let pinged: Vec<(crate::Audience, Vec<String>)> = o
            .announce
            .iter()
            .map(|a| (a.to.clone(), people(&a.text)))
            .collect();
        assert_eq!(
            pinged,
            [
                (
                    crate::Audience::Channel(channel.clone()),
                    vec!["alice".to_string()]
                ),
                (crate::Audience::Person(PersonId::new("alice")), vec![]),
            ]
        );
    }
}
