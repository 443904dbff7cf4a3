//! Text in and out of Matrix messages: the command text of a body (without
//! a rich-reply fallback), and the HTML form of a reply next to its plain
//! body, so clients that render HTML keep the line breaks.

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
    fn html_escapes_markup_and_keeps_lines() {
        assert_eq!(
            html("tree <central> & \"x\"\nclosed 'now'"),
            "tree &lt;central&gt; &amp; &quot;x&quot;<br/>closed &#39;now&#39;"
        );
    }
}
