//! What the bot writes on the wire. Every line it sends is built here, so
//! the rules hold everywhere: no CR, LF or NUL from any text ever reaches
//! the socket (a `\r\nQUIT` in a reason stays text inside one PRIVMSG); no
//! line, after the server has put the bot's `nick!user@host` in front of
//! it, exceeds the 512-byte limit (long lines are split on UTF-8 character
//! boundaries, at a space where one is near); and output longer than a few
//! lines is folded into its first lines plus a pointer to the dashboard.

/// The protocol's limit for one line, CRLF included.
pub const MAX_LINE: usize = 512;

/// The least text room per line: a target that leaves less is refused
/// (`is_target`).
const MIN_ROOM: usize = 64;

/// IRC formatting codes (bold, colour, reset, monospace, reverse, italics,
/// strikethrough, underline) pass; every other control character does not.
fn is_formatting(c: char) -> bool {
    matches!(
        c,
        '\x02' | '\x03' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f'
    )
}

/// The lines of `text` as a person should see them. A bare `\n` separates
/// lines (the bot's own multi-line replies use it); `\r\n`, `\r`, NUL and
/// any other control character become a space, so nothing in the text can
/// end the PRIVMSG early. Empty lines are dropped (IRC cannot send them).
pub fn clean_lines(text: &str) -> Vec<String> {
    text.replace("\r\n", " ")
        .split('\n')
        .map(|line| {
            line.chars()
                .map(|c| {
                    if c.is_control() && !is_formatting(c) {
                        ' '
                    } else {
                        c
                    }
                })
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Bytes of text one `COMMAND target :text` line may carry once the server
/// has prefixed it with `:{source} ` (`source` = nick!user@host, at most
/// `source_len` bytes).
pub fn text_room(command: &str, target: &str, source_len: usize) -> usize {
    MAX_LINE
        .saturating_sub(fixed_len(command, target, source_len))
        .max(MIN_ROOM)
}

/// Bytes of a `COMMAND target :text` line, as the server relays it, that are
/// not text: `:` source ` ` command ` ` target ` :` … `\r\n`.
fn fixed_len(command: &str, target: &str, source_len: usize) -> usize {
    1 + source_len + 1 + command.len() + 1 + target.len() + 2 + 2
}

/// Whether the bot can write `COMMAND target :text` lines: `target` is a
/// word, and short enough that a line keeps `MIN_ROOM` bytes for text behind
/// the longest prefix. Servers cap names (CHANNELLEN, NICKLEN) far below
/// that; a longer target came from a broken or hostile server, and no line
/// to it could stay within 512 bytes.
pub fn is_target(command: &str, target: &str, source_len: usize) -> bool {
    is_word(target) && fixed_len(command, target, source_len) + MIN_ROOM <= MAX_LINE
}

/// Splits one clean line into pieces of at most `room` bytes, on character
/// boundaries, preferring the last space in the second half of a piece.
pub fn split(line: &str, room: usize) -> Vec<String> {
    let room = room.max(4);
    let mut out = Vec::new();
    let mut rest = line;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, next) = match rest[..cut].rfind(' ') {
            Some(space) if space >= room / 2 => (&rest[..space], &rest[space + 1..]),
            _ => (&rest[..cut], &rest[cut..]),
        };
        out.push(piece.to_string());
        rest = next;
    }
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// At most `max_lines` lines: when there are more, the first `max_lines - 1`
/// and then a line saying how many were left out and where to read them.
pub fn fold(lines: Vec<String>, max_lines: usize, more_at: &str) -> Vec<String> {
    if max_lines == 0 || lines.len() <= max_lines {
        return lines;
    }
    let keep = max_lines - 1;
    let left = lines.len() - keep;
    let mut out: Vec<String> = lines.into_iter().take(keep).collect();
    out.push(format!("… {left} more lines: {more_at}"));
    out
}

/// Complete wire lines (CRLF-terminated) that say `text` to `target`.
/// `target` must be a channel or nick as the server gave it (no spaces or
/// control characters); the caller checks that.
pub fn messages(
    command: &str,
    target: &str,
    text: &str,
    source_len: usize,
    max_lines: usize,
    more_at: &str,
) -> Vec<String> {
    let room = text_room(command, target, source_len);
    let pieces: Vec<String> = clean_lines(text)
        .iter()
        .flat_map(|l| split(l, room))
        .collect();
    // The fold line itself may be long (a URL): it is split too, so the
    // fold keeps one line less to make room.
    let folded = fold(pieces, max_lines, more_at);
    folded
        .iter()
        .flat_map(|l| split(l, room))
        .map(|l| format!("{command} {target} :{l}\r\n"))
        .collect()
}

/// Whether `s` can stand as one middle parameter (a target, a key, a nick).
pub fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(':')
        && !s.chars().any(|c| c == ' ' || c == ',' || c.is_control())
}

/// A line with one command and middle parameters plus an optional trailing
/// one, CRLF-terminated, with control characters removed from the trailing.
pub fn command(name: &str, middle: &[&str], trailing: Option<&str>) -> String {
    let mut line = String::from(name);
    for m in middle {
        line.push(' ');
        line.push_str(m);
    }
    if let Some(t) = trailing {
        line.push_str(" :");
        line.extend(t.chars().map(|c| if c.is_control() { ' ' } else { c }));
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: usize = "signalbox!signalbox@some.very.long.cloaked.host.example.org".len();

    #[test]
    fn injected_line_breaks_stay_inside_one_message() {
        let lines = messages(
            "PRIVMSG",
            "#releng",
            "closed autoland: evil\r\nQUIT :bye\rJOIN #x\0!",
            SOURCE,
            5,
            "http://x",
        );
        assert_eq!(
            lines,
            ["PRIVMSG #releng :closed autoland: evil QUIT :bye JOIN #x !\r\n"]
        );
    }

    #[test]
    fn bare_newlines_are_separate_lines_and_controls_go() {
        assert_eq!(
            clean_lines("a\nb\x01ACTION x\x01\n\n\x02bold\x02  \n"),
            ["a", "b ACTION x", "\x02bold\x02"]
        );
    }

    #[test]
    fn no_line_exceeds_512_bytes_with_the_prefix_and_splits_keep_utf8() {
        let word = "zażółć gęślą jaźń ✓ 🚦 ";
        let text: String = word.repeat(5 * 1024 / word.len() + 1);
        assert!(text.len() > 5 * 1024);
        let lines = messages("PRIVMSG", "#releng", &text, SOURCE, 0, "http://x");
        assert!(lines.len() > 10, "{}", lines.len());
        let mut joined = String::new();
        for line in &lines {
            let relayed = format!(":{} {line}", "x".repeat(SOURCE));
            assert!(relayed.len() <= MAX_LINE, "{} bytes", relayed.len());
            assert!(line.ends_with("\r\n") && line.matches('\r').count() == 1);
            let text = line
                .strip_prefix("PRIVMSG #releng :")
                .and_then(|l| l.strip_suffix("\r\n"))
                .expect("shape");
            joined.push_str(text);
            joined.push(' ');
        }
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squash(&joined), squash(&text), "nothing lost or garbled");
    }

    #[test]
    fn long_output_is_folded_with_a_link() {
        let text: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let lines = messages(
            "PRIVMSG",
            "#releng",
            &text,
            SOURCE,
            4,
            "http://127.0.0.1:8080/",
        );
        assert_eq!(
            lines,
            [
                "PRIVMSG #releng :line 1\r\n",
                "PRIVMSG #releng :line 2\r\n",
                "PRIVMSG #releng :line 3\r\n",
                "PRIVMSG #releng :… 37 more lines: http://127.0.0.1:8080/\r\n",
            ]
        );
    }

    #[test]
    fn split_prefers_spaces_and_never_cuts_a_character() {
        assert_eq!(split("aaaa bbbb cccc", 10), ["aaaa bbbb", "cccc"]);
        assert_eq!(split("ééééé", 5), ["éé", "éé", "é"]);
        assert_eq!(split("short", 10), ["short"]);
    }

    /// Found by the irc_line fuzz target (seed
    /// `regression-overlong-channel-target`): a PRIVMSG to a 400-byte
    /// channel name from the server, answered there, overran 512 bytes.
    #[test]
    fn an_overlong_target_is_refused_and_every_accepted_one_fits() {
        let overlong = format!("#c$:{}ION", "\u{fffd}".repeat(130));
        assert!(is_word(&overlong));
        assert!(!is_target("PRIVMSG", &overlong, SOURCE));
        let longest = "#".repeat(MAX_LINE - MIN_ROOM - fixed_len("PRIVMSG", "", SOURCE));
        assert!(is_target("PRIVMSG", &longest, SOURCE));
        assert!(!is_target("PRIVMSG", &format!("{longest}x"), SOURCE));
        let text = "waves ".repeat(100);
        for l in messages("PRIVMSG", &longest, &text, SOURCE, 0, "http://x") {
            assert!(1 + SOURCE + 1 + l.len() <= MAX_LINE, "{l:?}");
        }
    }

    #[test]
    fn words_and_commands() {
        assert!(is_word("#releng") && is_word("alice"));
        for bad in ["", "a b", ":x", "#a,#b", "a\r\nQUIT"] {
            assert!(!is_word(bad), "{bad:?}");
        }
        assert_eq!(
            command("TOPIC", &["#r"], Some("a\r\nb")),
            "TOPIC #r :a  b\r\n"
        );
        assert_eq!(command("JOIN", &["#r", "key"], None), "JOIN #r key\r\n");
    }
}
