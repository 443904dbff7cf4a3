//! Config files: any text must either load or come back as problems with a
//! message each (never a panic), and a config that loads must yield the
//! core's settings and the identity directory, as start-up does. An input
//! whose first line is `SIGNALBOX__KEY=VALUE` also sets that environment
//! override, which takes the table-merging path.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use signalbox::config::Config;
use signalbox::identity::Directory;

fuzz_target!(|data: &[u8]| {
    // Config files are read with `read_to_string`: never invalid UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env = HashMap::new();
    let mut toml = text;
    if let Some((first, rest)) = text.split_once('\n')
        && let Some((key, value)) = first.split_once('=')
        && key.starts_with("SIGNALBOX__")
    {
        env.insert(key.to_string(), value.to_string());
        toml = rest;
    }
    // No base dir: a relative `*_file` path resolves against the working
    // directory, where the fuzzer is unlikely to name an existing file.
    match Config::from_text(toml, "fuzz.toml", &env, None) {
        Ok(config) => {
            let _ = config.settings();
            let _ = Directory::from_config(&config);
        }
        Err(problems) => {
            assert!(!problems.problems.is_empty(), "a failure without a problem");
            for p in &problems.problems {
                assert!(!p.message.is_empty(), "a problem without a message: {p:?}");
            }
            let _ = problems.to_string();
        }
    }
});
