//! Splitting chat text into words: spaces separate, double quotes group, a
//! backslash inside quotes escapes `"` or `\`. Phone keyboards turn `"` into
//! typographic quotes, so `“…”`, `„…“` and `‘…’` group too (a `’` closes
//! only at the end of a word, so `‘don’t panic’` stays one word). Control characters are refused
//! here, at the one place every network's text passes, so a CR/LF smuggled in
//! an argument can never reach a protocol line or a log.

use crate::Error;

/// The longest command text accepted, in bytes. Longer text is almost always
/// a paste gone wrong; refusing it keeps replies and the ledger small.
pub const MAX_TEXT: usize = 4096;

/// The most words one command may have.
pub const MAX_WORDS: usize = 256;

/// Splits `text` into words.
pub fn split(text: &str) -> Result<Vec<String>, Error> {
    check_text(text)?;
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else { break };
        let mut word = String::new();
        if let Some(quote) = Quote::opened_by(first) {
            loop {
                match chars.next() {
                    None => {
                        return Err(Error::Usage(format!(
                            "unterminated quote in \"{}\"; close it with {}",
                            shortened(text.trim(), 60),
                            quote.closer()
                        )));
                    }
                    Some(c)
                        if quote.closes(c)
                            && (!quote.at_word_end()
                                || chars.peek().is_none_or(|n| n.is_whitespace())) =>
                    {
                        break;
                    }
                    Some('\\') if chars.peek().is_some_and(|&n| n == '\\' || quote.closes(n)) => {
                        word.extend(chars.next());
                    }
                    Some(c) => word.push(c),
                }
            }
        } else {
            word.push(first);
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        if words.len() == MAX_WORDS {
            return Err(Error::Usage(format!(
                "too many words; at most {MAX_WORDS} are accepted"
            )));
        }
        words.push(word);
    }
    Ok(words)
}

/// The quotes that group words: the typewriter `"` and the typographic
/// ones a phone keyboard puts in its place.
#[derive(Debug, Clone, Copy)]
enum Quote {
    /// `"…"`
    Straight,
    /// `“…”` (English), `„…“` (German) or `”…”` (Swedish).
    Double,
    /// `‘…’`: the closing mark is also the apostrophe.
    Single,
}

impl Quote {
    fn opened_by(c: char) -> Option<Self> {
        match c {
            '"' => Some(Self::Straight),
            '“' | '„' | '”' => Some(Self::Double),
            '‘' => Some(Self::Single),
            _ => None,
        }
    }

    fn closes(self, c: char) -> bool {
        match self {
            Self::Straight => c == '"',
            Self::Double => matches!(c, '”' | '“'),
            Self::Single => matches!(c, '’' | '‘'),
        }
    }

    /// Whether the closing mark counts only at the end of a word, because
    /// inside one it is an apostrophe.
    fn at_word_end(self) -> bool {
        matches!(self, Self::Single)
    }

    /// How the closing mark is named in an error.
    fn closer(self) -> &'static str {
        match self {
            Self::Straight => "another \"",
            Self::Double => "”",
            Self::Single => "’",
        }
    }
}

/// One line from a message that may have several: chat clients send a
/// pasted or wrapped command as one message with line breaks. The first
/// line is the command; the others continue its free text (a reason, a log
/// entry), joined with ` / ` so no line break reaches a protocol line or a
/// log. Blank lines and trailing spaces go; a lone CR counts as a break.
pub fn fold_lines(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Refuses text that is too long or holds control characters (tab excepted).
pub fn check_text(text: &str) -> Result<(), Error> {
    if text.len() > MAX_TEXT {
        return Err(Error::invalid(format!(
            "message too long ({} bytes; the limit is {MAX_TEXT}): \"{}…\"",
            text.len(),
            prefix(text, 40)
        )));
    }
    if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\t') {
        let name = match c {
            '\r' => "CR".to_string(),
            '\n' => "LF".to_string(),
            '\0' => "NUL".to_string(),
            c => format!("U+{:04X}", c as u32),
        };
        return Err(Error::invalid(format!(
            "message contains a control character ({name}): \"{}\"",
            text.escape_default()
        )));
    }
    if let Some(c) = text.chars().find(|&c| crate::mention::is_reserved(c)) {
        return Err(Error::invalid(format!(
            "message contains a reserved character (U+{:04X}): \"{}\"",
            c as u32,
            text.escape_default()
        )));
    }
    // A network that delivers bytes which are not UTF-8 (IRC) has them
    // replaced by U+FFFD on the way in: the text is no longer what the
    // person sent, so nothing runs, as on the console.
    if text.contains(char::REPLACEMENT_CHARACTER) {
        return Err(Error::invalid(format!(
            "message is not valid UTF-8 (undecodable bytes became U+FFFD): \"{}\"",
            shortened(text, 60)
        )));
    }
    Ok(())
}

/// `s`, or its first `n` characters and an ellipsis: for quoting user
/// input in a reply without echoing a flood back.
pub fn shortened(s: &str, n: usize) -> String {
    let cut = prefix(s, n);
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

/// At most `n` characters of `s`, cut on a character boundary.
pub fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_groups() {
        let cases: &[(&str, &[&str])] = &[
            ("tree close autoland", &["tree", "close", "autoland"]),
            ("  tree   status  ", &["tree", "status"]),
            (
                r#"tree motd try "hello world""#,
                &["tree", "motd", "try", "hello world"],
            ),
            (r#"say "a \"quoted\" word""#, &["say", r#"a "quoted" word"#]),
            (r#"x "" y"#, &["x", "", "y"]),
            ("a\tb", &["a", "b"]),
            ("", &[]),
            // Phone keyboards' typographic quotes group like `"`.
            (
                "tree motd try “hello world”",
                &["tree", "motd", "try", "hello world"],
            ),
            ("motd „guten Tag“ x", &["motd", "guten Tag", "x"]),
            ("motd ”svensk text” x", &["motd", "svensk text", "x"]),
            ("motd ‘one two’ x", &["motd", "one two", "x"]),
            // Inside a single-quoted group `’` is an apostrophe until a word ends.
            ("motd ‘don’t panic’ x", &["motd", "don’t panic", "x"]),
            // Apostrophes and closing quotes inside a word are just letters.
            ("log don’t it’s", &["log", "don’t", "it’s"]),
            (r#"say “a \” b”"#, &["say", "a ” b"]),
        ];
        for (text, want) in cases {
            assert_eq!(split(text).expect(text), *want, "{text}");
        }
    }

    #[test]
    fn refuses_text_whose_bytes_were_not_utf8() {
        let decoded = String::from_utf8_lossy(b"tree close autoland \xff\xfe #infra");
        let err = split(&decoded).expect_err("replaced bytes").to_string();
        assert!(err.contains("not valid UTF-8"), "{err}");
        assert!(
            err.contains("tree close autoland"),
            "quotes the input: {err}"
        );
    }

    #[test]
    fn refuses_bad_text_quoting_it() {
        let err = split(r#"tree motd "open"#).expect_err("unterminated");
        assert!(err.to_string().contains("unterminated quote"), "{err}");
        let err = split("tree motd “open").expect_err("unterminated typographic");
        assert!(err.to_string().contains("close it with ”"), "{err}");
        for (text, name) in [
            ("a\rQUIT", "CR"),
            ("a\nb", "LF"),
            ("a\0b", "NUL"),
            ("a\u{7}b", "U+0007"),
            ("a\u{E000}alice\u{E001}", "U+E000"),
        ] {
            let err = split(text).expect_err(text).to_string();
            assert!(err.contains(name), "{err}");
        }
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(
            split(&long)
                .expect_err("long")
                .to_string()
                .starts_with("message too long (4097 bytes")
        );
        let many = "w ".repeat(MAX_WORDS + 1);
        assert!(
            split(&many)
                .expect_err("many")
                .to_string()
                .contains("too many words")
        );
    }

    #[test]
    fn line_breaks_fold_into_one_line() {
        let cases = [
            ("log deployed T1\nand T2", "log deployed T1 / and T2"),
            ("log a\r\nb\r\n\r\n  c  \n", "log a / b /   c"),
            (
                "tree close autoland a\rQUIT #infra",
                "tree close autoland a / QUIT #infra",
            ),
            ("one line", "one line"),
            ("\n\n", ""),
        ];
        for (text, want) in cases {
            assert_eq!(fold_lines(text), want, "{text:?}");
            assert!(
                split(&fold_lines(text)).is_ok(),
                "{text:?} splits once folded"
            );
        }
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(prefix("hi", 5), "hi");
    }
}
