//! The `log` crate's sink: notes and warnings from every stage (config,
//! render, install) reach the screen (stderr) and the verb's run log;
//! debug lines reach the run log only. Installed once by `cli::main`; the
//! run log is attached when a verb creates it (lines before that reach the
//! screen alone).

use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::RunLog;

struct Logger {
    sink: Mutex<Option<RunLog>>,
}

static LOGGER: Logger = Logger {
    sink: Mutex::new(None),
};

/// Installs the logger (a second call changes nothing).
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// From now on lines also go to `log` (the verb's run log).
pub fn attach(log: &RunLog) {
    if let Ok(mut sink) = LOGGER.sink.lock() {
        *sink = Some(log.clone());
    }
}

/// How a line reads on the screen; `None`: the run log only.
fn screen_line(level: Level, text: &str) -> Option<String> {
    match level {
        Level::Error => Some(format!("error: {text}")),
        Level::Warn => Some(format!("warning: {text}")),
        Level::Info => Some(format!("note: {text}")),
        Level::Debug | Level::Trace => None,
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        // Our own lines, not those of the libraries we use.
        metadata.target().starts_with("ksinstall")
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let sink = self.sink.lock().ok().and_then(|s| s.clone());
        let redacted = match &sink {
            Some(l) => l.redactor().redact(&text),
            None => text.clone(),
        };
        if let Some(line) = screen_line(record.level(), &redacted) {
            eprintln!("{line}");
        }
        if let Some(l) = sink {
            l.record("local", &record.level().as_str().to_lowercase(), &text);
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_warnings_reach_the_run_log_and_debug_lines_the_log_alone() {
        let dir = tempfile::tempdir().unwrap();
        let redactor = crate::exec::Redactor::default();
        redactor.add_str("s3cret-token");
        let run = RunLog::create(dir.path(), "install", redactor).unwrap();
        install();
        attach(&run);
        log::info!("render: a note with s3cret-token");
        log::debug!("a debug line");
        let text = std::fs::read_to_string(run.path().unwrap()).unwrap();
        assert!(
            text.contains("[local] info\nrender: a note with ***"),
            "{text}"
        );
        assert!(text.contains("a debug line"), "{text}");
        assert!(!text.contains("s3cret-token"), "{text}");
        assert_eq!(screen_line(Level::Debug, "x"), None);
        assert_eq!(screen_line(Level::Warn, "x").as_deref(), Some("warning: x"));
    }
}
