//! Text in and out of Matrix messages: the command text of a body (without
//! a rich-reply fallback) with the pills a client put in its HTML turned
//! into user ids, and the HTML form of a reply next to its plain body, so
//! clients that render HTML keep the line breaks and show mentions as pills.

use signalbox_commands::mention;

/// Where a pill's link points for a user.
const PILL_PREFIX: &str = "https://matrix.to/#/";

/// The command text of an HTML body that holds user pills, with each pill
/// as the user id it links to (the router resolves ids to people); `None`
/// when the HTML names no user, so the plain body is used as it is.
pub fn pills_to_ids(html: &str) -> Option<String> {
    let html = match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}", &html[..a], &html[b + "</mx-reply>".len()..])
        }
        _ => html.to_string(),
    };
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    let mut pills = 0;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + len];
        rest = &rest[start + len + 1..];
        let user = tag
            .strip_prefix("a ")
            .and_then(|attrs| attrs.split("href=\"").nth(1))
            .and_then(|v| v.split('"').next())
            .and_then(|href| href.strip_prefix(PILL_PREFIX))
            .map(|id| {
                id.split('?')
                    .next()
                    .unwrap_or(id)
                    .replace("%40", "@")
                    .replace("%3A", ":")
            })
            .filter(|id| id.starts_with('@'));
        match user {
            Some(id) => {
                // The label (a display name) is replaced by the id.
                let end = rest.find("</a>").map_or(rest.len(), |e| e + "</a>".len());
                rest = &rest[end..];
                out.push_str(&id);
                pills += 1;
            }
            None if tag.starts_with("br") => out.push('\n'),
            None => {}
        }
    }
    out.push_str(rest);
    let text = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (pills > 0).then_some(text)
}

/// The plain body of a bot message: mentions as names.
pub fn body(text: &str) -> String {
    mention::plain(text)
}

/// The user ids a bot message mentions.
pub fn mentioned(text: &str) -> Vec<String> {
    mention::handles(text)
}

/// The HTML form of a bot message: escaped, line breaks kept, and each
/// mention a pill (a link to the user that clients show as a mention).
pub fn html_with_pills(text: &str) -> String {
    mention::render_with(text, html, |name, handle| match handle {
        Some(user) => format!("<a href=\"{PILL_PREFIX}{}\">{}</a>", html(user), html(name)),
        None => html(name),
    })
}

/// The body with a leading rich-reply fallback (`> <@who:server> …` lines
/// and the blank line after them) removed; older clients still send one.
pub fn command_text(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    match body.find("\n\n") {
        Some(at) if body[..at].lines().all(|l| l.starts_with("> ")) => &body[at + 2..],
        _ => body,
    }
}

/// The `org.matrix.custom.html` form of a plain reply: escaped, with line
/// breaks kept.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br/>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_fallback_is_not_part_of_the_command() {
        assert_eq!(
            command_text("> <@signalbox:example.org> tree central is open\n\n!close central"),
            "!close central"
        );
        assert_eq!(command_text("!tree"), "!tree");
        // A quote the user typed is kept when no blank line ends it.
        assert_eq!(command_text("> quoted\nstill"), "> quoted\nstill");
        assert_eq!(command_text("> a\nb\n\n!x"), "> a\nb\n\n!x");
    }

    #[test]
    fn pills_become_user_ids_and_mentions_become_pills() {
        let sent = "!oncall override ciduty <a href=\"https://matrix.to/#/@alice:localhost\">Alice W</a> now 2h";
        assert_eq!(
            pills_to_ids(sent).as_deref(),
            Some("!oncall override ciduty @alice:localhost now 2h")
        );
        assert_eq!(
            pills_to_ids("<mx-reply><a href=\"https://matrix.to/#/@bot:x\">bot</a></mx-reply>!x <b>A&amp;B</b> <a href=\"https://matrix.to/#/%40bob%3Ax\">bob</a>").as_deref(),
            Some("!x A&B @bob:x")
        );
        assert_eq!(
            pills_to_ids("<b>no pill</b> <a href=\"https://example.org\">x</a>"),
            None
        );
        let text = format!("{}: a<b", mention::ping_handle("alice", "@alice:localhost"));
        assert_eq!(body(&text), "alice: a<b");
        assert_eq!(mentioned(&text), ["@alice:localhost"]);
        assert_eq!(
            html_with_pills(&text),
            "<a href=\"https://matrix.to/#/@alice:localhost\">alice</a>: a&lt;b"
        );
    }

    #[test]
    fn html_escapes_markup_and_keeps_lines() {
        assert_eq!(
            html("tree <central> & \"x\"\nclosed 'now'"),
            "tree &lt;central&gt; &amp; &quot;x&quot;<br/>closed &#39;now&#39;"
        );
    }
}
