//! Where provhost's own log goes and in what shape: standard error, as JSON lines (one object per
//! line with the event's and invocation's ids from their spans) or as text for a person. The level
//! comes from `PROVHOST_LOG`, else `RUST_LOG` (tracing filter syntax: `info`,
//! `provhost=debug,warn`…), else the command's own default: `info` for provhost's own lines under
//! `serve`, `warn` otherwise.

use std::io::IsTerminal;

/// The shape of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// One JSON object per line, for Loki, Elastic, Datadog and the like.
    Json,
    /// Text for a person.
    Text,
}

/// Installs the log for this process, at `default` (a filter such as `warn`) unless
/// `PROVHOST_LOG` or `RUST_LOG` sets the level.
pub fn install(format: LogFormat, default: &str) {
    let filter = ["PROVHOST_LOG", "RUST_LOG"]
        .iter()
        .find_map(|name| tracing_subscriber::EnvFilter::try_from_env(name).ok())
        .unwrap_or_else(|| default.into());
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).with_span_list(true).flatten_event(true).init();
    } else {
        builder.init();
    }
}
