//! Who is logged in as whom. IRC nicks are free for anyone to take, so the
//! bot trusts only services accounts: the `account` tag on each message when
//! the server sends it, and otherwise this map, fed by the server's own
//! reports — `extended-join` (the account on every JOIN), `account-notify`
//! (ACCOUNT on login and logout) and WHOX replies (`WHO #chan %tna,42`) for
//! the people already in a channel when the bot joins. A nick not known to
//! be logged in is a guest.

use std::collections::HashMap;

use signalbox_commands::PlatformUserId;
use signalbox_commands::mention;

/// rfc1459 case folding, as the server compares nicks.
pub fn fold(nick: &str) -> String {
    nick.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The account behind an account field as servers send it: `*` (JOIN,
/// ACCOUNT) or `0` (WHOX) mean "not logged in".
pub fn account_field(field: &str) -> Option<String> {
    (!field.is_empty() && field != "*" && field != "0").then(|| field.to_string())
}

#[derive(Debug, Default, Clone)]
pub struct Accounts {
    /// Folded nick → (nick as seen, account if logged in).
    by_nick: HashMap<String, (String, Option<String>)>,
}

impl Accounts {
    pub fn clear(&mut self) {
        self.by_nick.clear();
    }

    pub fn set(&mut self, nick: &str, account: Option<String>) {
        self.by_nick.insert(fold(nick), (nick.to_string(), account));
    }

    pub fn rename(&mut self, old: &str, new: &str) {
        if let Some((_, account)) = self.by_nick.remove(&fold(old)) {
            self.set(new, account);
        }
    }

    pub fn remove(&mut self, nick: &str) {
        self.by_nick.remove(&fold(nick));
    }

    /// The account a nick is logged in to, if known.
    pub fn account(&self, nick: &str) -> Option<&str> {
        self.by_nick
            .get(&fold(nick))
            .and_then(|(_, a)| a.as_deref())
    }

    /// A nick currently logged in to `account` (for direct messages).
    pub fn nick_of(&self, account: &str) -> Option<&str> {
        let want = fold(account);
        let mut nicks: Vec<&str> = self
            .by_nick
            .values()
            .filter(|(_, a)| a.as_deref().map(fold).as_deref() == Some(want.as_str()))
            .map(|(n, _)| n.as_str())
            .collect();
        // Prefer the nick equal to the account, then a stable choice.
        nicks.sort_by_key(|n| (fold(n) != want, n.to_string()));
        nicks.first().copied()
    }

    /// `text` with each mention as the nick its account is using now, so
    /// the person's client highlights it; their name when nobody is logged
    /// in to the account (a guest on that nick is never pinged for them).
    pub fn render(&self, text: &str) -> String {
        mention::render(text, |name, account| {
            account
                .and_then(|a| self.nick_of(a))
                .unwrap_or(name)
                .to_string()
        })
    }

    /// The words of `text` that are nicks logged in to an account now, with
    /// the account: a command may name a person by their live nick.
    pub fn aliases(&self, text: &str) -> Vec<(String, PlatformUserId)> {
        let mut out: Vec<(String, PlatformUserId)> = Vec::new();
        for word in text.split_whitespace() {
            if let Some(account) = self.account(word)
                && !out.iter().any(|(w, _)| w == word)
            {
                out.push((word.to_string(), PlatformUserId::new(account)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_logins_renames_and_quits() {
        let mut a = Accounts::default();
        a.set("Ally", account_field("alice"));
        a.set("alice", account_field("*"));
        assert_eq!(a.account("ally"), Some("alice"));
        assert_eq!(
            a.account("ALICE"),
            None,
            "the nick alice is not the account"
        );
        assert_eq!(a.nick_of("Alice"), Some("Ally"));
        a.rename("ally", "ally[away]");
        assert_eq!(a.account("ALLY{AWAY}"), Some("alice"));
        a.set("bob", account_field("*"));
        let ping = mention::ping_handle("alice", "alice");
        assert_eq!(a.render(&format!("{ping}: up")), "ally[away]: up");
        assert_eq!(
            a.render(&mention::ping_handle("bob", "bob")),
            "bob",
            "bob is not logged in: his name, not a ping of a nick"
        );
        assert_eq!(
            a.aliases("oncall override ciduty ally[away] bob alice"),
            [("ally[away]".to_string(), PlatformUserId::new("alice"))]
        );
        a.set("alice", account_field("alice"));
        assert_eq!(
            a.nick_of("alice"),
            Some("alice"),
            "prefers the nick equal to the account"
        );
        a.remove("alice");
        a.remove("ally[away]");
        assert_eq!(a.nick_of("alice"), None);
        assert_eq!(account_field("0"), None);
    }
}
