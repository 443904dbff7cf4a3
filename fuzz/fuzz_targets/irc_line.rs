//! Bytes from an IRC server, and the bot's answers to them. Inbound: the
//! adapter's own line reader (length cap, lossy UTF-8), the protocol parser
//! it uses, and its reading of a PRIVMSG (sender, account, channel or DM,
//! message id). Outbound: the reply to that text — and the whole input as
//! text — built into wire lines, which must each be one CRLF-terminated line
//! that fits 512 bytes behind the longest prefix, parse back as a PRIVMSG to
//! the same target, and together carry every visible character.

#![no_main]

use std::sync::OnceLock;

use irc_proto::{Command, Message};
use libfuzzer_sys::fuzz_target;
use signalbox::adapter::irc::accounts::Accounts;
use signalbox::adapter::irc::connection::read_lines;
use signalbox::adapter::irc::{line, read_privmsg};
use tokio::sync::mpsc;

/// A long `nick!~user@host` as the server would put in front of our lines.
const SOURCE_LEN: usize = 9 + 2 + 11 + 1 + 64;
const MORE_AT: &str = "http://127.0.0.1:8080/";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime starts")
    })
}

/// The lines the adapter's reader hands the session for these bytes.
fn frame(data: &[u8]) -> Vec<String> {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let (tx, mut rx) = mpsc::channel(data.len() + 1);
    runtime().block_on(read_lines(reader, tx));
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line.expect("a cursor never fails to read"));
    }
    lines
}

/// What `say` sends for `text` to `target`, checked line by line.
fn check_outbound(target: &str, text: &str, max_lines: usize) {
    if !line::is_target("PRIVMSG", target, SOURCE_LEN) {
        // `say` refuses such targets before building any line.
        return;
    }
    let wire = line::messages("PRIVMSG", target, text, SOURCE_LEN, max_lines, MORE_AT);
    let mut carried = String::new();
    for l in &wire {
        assert!(l.ends_with("\r\n"), "{l:?}");
        let body = &l[..l.len() - 2];
        assert!(
            !body.contains(['\r', '\n', '\0']),
            "a line break or NUL inside a line: {l:?}"
        );
        assert!(
            1 + SOURCE_LEN + 1 + l.len() <= line::MAX_LINE,
            "{} bytes behind the prefix: {l:?}",
            l.len()
        );
        let msg: Message = l
            .parse()
            .unwrap_or_else(|e| panic!("{l:?} does not parse: {e}"));
        match &msg.command {
            Command::PRIVMSG(to, said) => {
                assert_eq!(to, target, "{l:?}");
                carried.push_str(said);
                carried.push(' ');
            }
            other => panic!("{l:?} is not a PRIVMSG: {other:?}"),
        }
    }
    if max_lines == 0 {
        // Unfolded, nothing visible may go missing (spacing may change).
        let visible = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect()
        };
        assert_eq!(visible(&carried), visible(text), "text lost on the way out");
    }
}

fuzz_target!(|data: &[u8]| {
    let accounts = Accounts::default();
    for text in frame(data) {
        assert!(!text.contains('\n') && !text.ends_with('\r'), "{text:?}");
        let Ok(msg) = text.parse::<Message>() else {
            continue;
        };
        let _ = msg.source_nickname();
        for account_tag in [false, true] {
            if let Some((inbound, reply_to)) =
                read_privmsg(&msg, "signalbox", account_tag, &accounts)
            {
                assert!(!inbound.user.as_str().is_empty(), "{text:?}");
                check_outbound(&reply_to, &inbound.text, 5);
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    check_outbound("#releng", &text, 0);
    check_outbound("#releng", &text, 4);
});
