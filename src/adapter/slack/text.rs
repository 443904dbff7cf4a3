//! Slack's message formatting, both ways. Slack delivers text escaped
//! (`&amp; &lt; &gt;`) with links, channels and mentions in angle brackets
//! (`<https://…|label>`, `<#C0123|infra>`, `<@U0BOB>`, `<!here>`), and reads
//! text the bot posts the same way. [`unescape`] gives the router the text as
//! the user typed it; [`escape`] makes the bot's text show as written, with
//! mention tokens as `<@U…>` and nothing else able to ping.

use signalbox_commands::mention;

/// The text as the user typed it. User mentions stay `<@U…>`, for the router
/// to resolve to people; special mentions (`<!here>`, `<!subteam^…|@team>`)
/// become inert text.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        out.push_str(&entities(&rest[..start]));
        let inner = &rest[start + 1..start + len];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        match target.chars().next() {
            Some('@') => out.push_str(&format!("<{target}>")),
            Some('#') => match label {
                Some(name) => {
                    out.push('#');
                    out.push_str(&entities(name));
                }
                None => out.push_str(target),
            },
            Some('!') => match label {
                Some(l) => out.push_str(&entities(l)),
                None => {
                    let name = target[1..].split('^').next().unwrap_or_default();
                    out.push('@');
                    out.push_str(name);
                }
            },
            _ => out.push_str(&entities(label.unwrap_or(target))),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(&entities(rest));
    out
}

/// Slack's three entities decoded; `&amp;` last, so `&amp;lt;` stays `&lt;`.
fn entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The bot's text for Slack: `&`, `<` and `>` escaped so they show as
/// written (and an echoed `<!here>` cannot ping), mentions as `<@U…>`.
pub fn escape(text: &str) -> String {
    mention::render_with(
        text,
        |t| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        },
        |name, handle| match handle {
            Some(user) => format!("<@{user}>"),
            None => escape_plain(name),
        },
    )
}

fn escape_plain(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_what_slack_sends() {
        let cases = [
            ("fix A&amp;B &lt;now&gt;", "fix A&B <now>"),
            (
                "see <https://example.org/a?b=1&amp;c=2>",
                "see https://example.org/a?b=1&c=2",
            ),
            ("see <http://example.org|example.org>", "see example.org"),
            ("tag <#C0123|infra> and <#C9>", "tag #infra and #C9"),
            (
                "ping <@U0BOB> and <@U0BOB|bob>",
                "ping <@U0BOB> and <@U0BOB>",
            ),
            (
                "<!here> <!channel> <!subteam^S1|@ops>",
                "@here @channel @ops",
            ),
            ("a &amp;lt; b", "a &lt; b"),
            ("unclosed <https://x", "unclosed <https://x"),
        ];
        for (sent, typed) in cases {
            assert_eq!(unescape(sent), typed, "{sent}");
        }
    }

    #[test]
    fn escapes_and_renders_mentions() {
        let text = format!(
            "{}: fix A&B <now> <!here>",
            mention::ping_handle("alice", "U0ALICE")
        );
        assert_eq!(
            escape(&text),
            "<@U0ALICE>: fix A&amp;B &lt;now&gt; &lt;!here&gt;"
        );
        for typed in ["fix A&B <now>", "a &lt; b", "<@U0BOB>"] {
            assert_eq!(unescape(&escape(typed)), typed, "round trip of {typed}");
        }
    }
}
