//! How log lines are written: JSON lines for machines (containers, the
//! chart, log shippers), readable lines for a person at a terminal. The
//! fields are the same either way.

use std::io::IsTerminal as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (`logging::JsonLines`).
    Json,
    /// tracing-subscriber's readable lines: time, level, spans, module, fields.
    Pretty,
}

impl LogFormat {
    /// `LOG_FORMAT=json|pretty`; unset or empty: pretty when stdout is a
    /// terminal, JSON lines otherwise.
    pub fn from_env() -> LogFormat {
        let value = std::env::var("LOG_FORMAT").ok();
        let (format, unknown) = LogFormat::choose(value.as_deref(), std::io::stdout().is_terminal());
        if unknown {
            // Logging is not set up yet: this one line goes to stderr as it is.
            eprintln!("LOG_FORMAT={:?} is neither json nor pretty; writing JSON lines", value.unwrap_or_default());
        }
        format
    }

    /// The format, and whether the value was unknown (then JSON lines).
    fn choose(value: Option<&str>, terminal: bool) -> (LogFormat, bool) {
        match value.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => (if terminal { LogFormat::Pretty } else { LogFormat::Json }, false),
            Some("json") => (LogFormat::Json, false),
            Some("pretty") => (LogFormat::Pretty, false),
            Some(_) => (LogFormat::Json, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_machines_pretty_at_a_terminal_or_when_asked() {
        assert_eq!(LogFormat::choose(None, false), (LogFormat::Json, false));
        assert_eq!(LogFormat::choose(None, true), (LogFormat::Pretty, false));
        assert_eq!(LogFormat::choose(Some(""), true), (LogFormat::Pretty, false));
        assert_eq!(LogFormat::choose(Some("json"), true), (LogFormat::Json, false));
        assert_eq!(LogFormat::choose(Some("Pretty"), false), (LogFormat::Pretty, false));
        assert_eq!(LogFormat::choose(Some("xml"), true), (LogFormat::Json, true));
    }
}
