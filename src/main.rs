//! The `signalbox` command line.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use signalbox::config::Config;
use signalbox::ledger::{Export, Ledger};
use tokio_util::sync::CancellationToken;

/// A chat-ops bot for release-engineering and CI-duty teams.
#[derive(Debug, Parser)]
#[command(name = "signalbox", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the bot: every configured adapter, the HTTP server, the scheduler.
    Run {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Type commands as a person; with piped input, run every line and exit.
    Console {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// The person to speak as (default: the config's bot.console_as).
        #[arg(long = "as")]
        person: Option<String>,
    },
    /// Check a config file; prints every problem with its key and line.
    CheckConfig { path: PathBuf },
    /// Print a platform's app manifest, generated from the command definitions.
    Manifest {
        platform: Platform,
        /// Take command names, mode and public URL from this config
        /// (default: the built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write the whole state as JSON to stdout: from the data directory of
    /// a stopped bot, or with --url from a running one (an admin's token).
    Export {
        #[arg(long, default_value = "config.toml", conflicts_with = "url")]
        config: PathBuf,
        /// A running bot's HTTP address, e.g. http://127.0.0.1:8080
        /// (or SIGNALBOX_URL).
        #[arg(long, env = "SIGNALBOX_URL")]
        url: Option<String>,
        /// A file holding an admin's API token (or SIGNALBOX_TOKEN).
        #[arg(long, requires = "url")]
        token_file: Option<PathBuf>,
    },
    /// Restore an export (from FILE or stdin) into an empty data directory.
    Import {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// The export file; `-` or nothing for stdin.
        file: Option<PathBuf>,
    },
}

/// A platform with native commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Platform {
    /// The Slack app manifest (JSON): slash commands, scopes, events.
    #[cfg(feature = "slack")]
    Slack,
    /// Discord's application-command JSON for a bulk overwrite
    /// (`PUT /applications/{id}/commands`).
    #[cfg(feature = "discord")]
    Discord,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // rustls has both crypto providers linked (the adapters' dependencies
    // differ), so it cannot pick one: choose before any TLS connection.
    #[cfg(any(feature = "irc", feature = "slack"))]
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let quiet = matches!(
        cli.command,
        Cmd::Console { .. } | Cmd::Export { .. } | Cmd::Import { .. } | Cmd::Manifest { .. }
    );
    // matrix-sdk narrates every sync at info and logs expected 404s (no key
    // backup configured) as errors; the adapter reports what matters itself.
    let level = if quiet { "warn" } else { "info" };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SIGNALBOX_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "{level},matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk::http_client=off,\
                 matrix_sdk_crypto=error,matrix_sdk::encryption=error"
            ))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signalbox: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("signalbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|problems| anyhow::anyhow!("{problems}"))
}

async fn execute(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Run { config } => {
            let config = load(&config)?;
            let shutdown = CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                stop.cancel();
            });
            signalbox::run(config, std::io::stdin().is_terminal(), shutdown).await?;
        }
        Cmd::Console { config, person } => {
            let config = load(&config)?;
            let person = person
                .or_else(|| config.bot.console_as.as_ref().map(|p| p.get_ref().clone()))
                .context("no person to speak as: pass --as PERSON or set bot.console_as")?;
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "signalbox console: speaking as {person} in console:#ops; try !help; Ctrl-D quits"
                );
            }
            signalbox::console(config, person).await?;
        }
        Cmd::CheckConfig { path } => match Config::load(&path) {
            Ok(_) => println!("{}: ok", path.display()),
            Err(problems) => {
                eprintln!("{problems}");
                return Ok(ExitCode::FAILURE);
            }
        },
        // Without any platform feature there is no platform to match.
        #[allow(unreachable_code, unused_variables)]
        Cmd::Manifest { platform, config } => {
            let config = config.as_deref().map(load).transpose()?;
            let manifest: serde_json::Value = match platform {
                #[cfg(feature = "slack")]
                Platform::Slack => signalbox::adapter::slack::app_manifest(config.as_ref()),
                #[cfg(feature = "discord")]
                Platform::Discord => signalbox_commands::manifest::discord::application_commands(),
            };
            print_json(&manifest)?;
        }
        Cmd::Export {
            url: Some(url),
            token_file,
            ..
        } => export_from(&url, token_file.as_deref()).await?,
        Cmd::Export { config, .. } => {
            let config = load(&config)?;
            let ledger = Ledger::open(&config.bot.data_dir)?;
            let snapshot = ledger.snapshot().await?;
            let written = tokio::task::spawn_blocking(move || {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                signalbox::backup::write(&snapshot, &mut out)
            })
            .await?;
            match written {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
        Cmd::Import { config, file } => {
            let config = load(&config)?;
            let mut text = String::new();
            match file.filter(|f| f.as_os_str() != "-") {
                Some(path) => {
                    text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("cannot read stdin")?;
                }
            }
            let export: Export =
                serde_json::from_str(&text).context("the input is not a signalbox export")?;
            if export.format != "signalbox-export" {
                anyhow::bail!(
                    "the input is not a signalbox export (format \"{}\")",
                    export.format
                );
            }
            std::fs::create_dir_all(&config.bot.data_dir)?;
            let ledger = Ledger::open(&config.bot.data_dir)?;
            ledger.import(&export)?;
            eprintln!(
                "imported {} events into {}",
                export.events.len(),
                config.bot.data_dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `export --url`: streams `GET /api/v1/export` of a running bot to stdout.
async fn export_from(url: &str, token_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        None => std::env::var("SIGNALBOX_TOKEN")
            .context("no token: pass --token-file FILE or set SIGNALBOX_TOKEN")?,
    };
    let endpoint = format!("{}/api/v1/export", url.trim_end_matches('/'));
    let mut response = reqwest::Client::new()
        .get(&endpoint)
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or(body);
        anyhow::bail!("{endpoint} answered {status}: {detail}");
    }
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("the export from {endpoint} broke off"))?
    {
        match out.write_all(&chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Writes `value` to stdout as pretty JSON. A reader that stops early
/// (`signalbox export | head`) is not an error, where `println!` would panic.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
