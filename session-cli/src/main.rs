//! `sessions`: the operator's command line. Counts, lists, shows, revokes and sweeps sessions,
//! migrates them between stores without logging anyone out, and makes cookie keys.
//!
//! It reads the same settings as applications (`SESSION_*` variables and the TOML file
//! `SESSION_CONFIG` or `--config` names), or a store URL given with `--store`. Run
//! `sessions --help` for every command with an example.
//!
//! Exit codes: 0 success, 1 not found (`show`, `revoke TOKEN`), 2 bad usage or settings (a bad
//! URL, a missing setting), 3 the store failed (unreachable, timed out, or lacking what the
//! command needs).
#![forbid(unsafe_code)]

mod commands;
mod migrate;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What went wrong, and the exit code it gets.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The session or owner asked for is not there (exit 1).
    NotFound(String),
    /// The command line or the settings are wrong (exit 2).
    Usage(String),
    /// The store failed (exit 3).
    Store(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::NotFound(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Store(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::NotFound(m) | Failure::Usage(m) | Failure::Store(m) => m,
        }
    }
}

/// A store error as a failure: configuration errors are usage, the rest the store's.
impl From<sessions::Error> for Failure {
    fn from(err: sessions::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Backends often repeat their cause in their own message.
            if !message.contains(&cause_text) {
                message.push_str(&format!(": {cause_text}"));
            }
            source = cause.source();
        }
        match err.kind() {
            sessions::ErrorKind::Config | sessions::ErrorKind::Invalid => Failure::Usage(message),
            _ => Failure::Store(message),
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

#[derive(Parser)]
#[command(
    name = "sessions",
    version,
    about = "Count, inspect, revoke, sweep and migrate web sessions",
    long_about = "Count, inspect, revoke, sweep and migrate web sessions, on the store an \
                  application uses.\n\nThe store comes from --store URL, or else from the \
                  application's settings: SESSION_* environment variables and the TOML file \
                  --config (or SESSION_CONFIG) names.\n\nStore URLs: redis://host:6379/, \
                  redis-cluster://host1:6379,host2:6379, \
                  postgres://user:pass@host/db, mysql://user:pass@host/db, sqlite://path.db, \
                  file:///var/lib/sessions (or file:relative/dir), \
                  dynamodb://TABLE?endpoint=http://127.0.0.1:8000.\n\nExit codes: 0 success, \
                  1 not found, 2 bad usage or settings, 3 the store failed.",
    after_help = "Examples:\n  sessions --store redis://127.0.0.1/ count\n  sessions count --owner ada\n  \
                  sessions list --owner ada --json\n  sessions show 'TOKEN-FROM-A-COOKIE'\n  \
                  sessions revoke --owner ada\n  sessions --store sqlite://sessions.db sweep\n  \
                  sessions migrate --from file:///var/lib/sessions --to redis://127.0.0.1/ --resume migrate.json\n  \
                  sessions keygen"
)]
struct Cli {
    /// The store, as a URL (redis://, postgres://, mysql://, sqlite://, file:, dynamodb://);
    /// without it, the application's settings name it.
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// A TOML settings file, as applications read it (else SESSION_CONFIG, if set).
    #[arg(long, global = true, value_name = "FILE", env = "SESSION_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable output: one JSON document on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// How many live sessions the store holds (of one owner with --owner).
    ///
    /// Example: sessions --store redis://127.0.0.1/ count --owner ada
    Count {
        /// Count only this owner's sessions (the user id the application set as owner).
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
    },
    /// One owner's sessions: created, last active, expiry. Never their tokens.
    ///
    /// Example: sessions list --owner ada
    List {
        /// Whose sessions to list.
        #[arg(long, value_name = "USER")]
        owner: String,
    },
    /// The decoded record of the session a token (the cookie's value) names, for debugging.
    ///
    /// Example: sessions show 'TOKEN-FROM-A-COOKIE'
    Show {
        /// The session's token, as the cookie carries it.
        token: String,
    },
    /// End one session (by its token) or every session of an owner ("log out everywhere").
    ///
    /// Examples: sessions revoke --owner ada; sessions revoke 'TOKEN-FROM-A-COOKIE'
    Revoke {
        /// The token of the session to end.
        #[arg(conflicts_with = "owner", required_unless_present = "owner")]
        token: Option<String>,
        /// End every session of this owner.
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
    },
    /// Delete expired sessions, for stores without native expiry (file, SQL).
    ///
    /// Example: sessions --store sqlite://sessions.db sweep
    Sweep,
    /// Copy every live session, with its version and expiry, from one store to another, so
    /// nobody is logged out when the application moves. Expired sessions are skipped; sessions
    /// already in the target are left as they are, so running it twice copies nothing twice.
    ///
    /// Example: sessions migrate --from file:///var/lib/sessions --to redis://127.0.0.1/ --resume migrate.json
    Migrate {
        /// The store to copy from.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The store to copy to.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Count what would be copied and what is already there; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep the walk's position in FILE after every page, and go on from it when FILE
        /// exists (after an interruption); the file is removed when the copy is complete.
        #[arg(long, value_name = "FILE")]
        resume: Option<PathBuf>,
        /// Sessions read per page.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch: u32,
    },
    /// A fresh key for the cookie driver, printed as its setting reads it.
    ///
    /// Example: sessions keygen >> .env
    Keygen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sessions: cannot start: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("sessions: {}", failure.message());
            ExitCode::from(failure.code())
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let out = commands::Output { json: cli.json };
    let open = || target::open(cli.store.as_deref(), cli.config.as_deref());
    match cli.command {
        Command::Count { owner } => commands::count(&*open().await?, owner.as_deref(), &out).await,
        Command::List { owner } => {
            let settings = target::settings(cli.store.as_deref(), cli.config.as_deref())?;
            commands::list(&*open().await?, &owner, &settings, &out).await
        }
        Command::Show { token } => commands::show(&*open().await?, &token, &out).await,
        Command::Revoke { token, owner } => {
            commands::revoke(&*open().await?, token.as_deref(), owner.as_deref(), &out).await
        }
        Command::Sweep => commands::sweep(&*open().await?, &out).await,
        Command::Migrate {
            from,
            to,
            dry_run,
            resume,
            batch,
        } => {
            let plan = migrate::Plan {
                from,
                to,
                dry_run,
                resume,
                batch: batch as usize,
            };
            migrate::run(&plan, &out).await
        }
        Command::Keygen => commands::keygen(&out),
    }
}
