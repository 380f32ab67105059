//! The run log `logs/<Verb>[YYYY-MM-DD~HH:MM:SS].log` (the legacy
//! installer's naming) and per-host progress on stderr. Everything written
//! passes through the [`Redactor`] first.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use console::{style, Term};

use super::live::Live;
use super::redact::Redactor;

/// Local time as (year, month, day, hour, minute, second).
pub fn local_time() -> (i32, u32, u32, u32, u32, u32) {
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

fn stamp() -> String {
    let (y, mo, d, h, mi, s) = local_time();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `Run[2026-11-23~14:05:00].log`
pub fn log_file_name(verb: &str) -> String {
    let (y, mo, d, h, mi, s) = local_time();
    format!("{verb}[{y:04}-{mo:02}-{d:02}~{h:02}:{mi:02}:{s:02}].log")
}

/// Clones write to the same file (the logger holds one).
#[derive(Clone)]
pub struct RunLog {
    path: Option<PathBuf>,
    file: Option<Arc<Mutex<File>>>,
    redactor: Redactor,
}

impl RunLog {
    /// Creates `dir/<Verb>[...].log` (and `dir`). The log holds every
    /// command and its output (secrets redacted, but host facts, addresses
    /// and configurations remain): readable by its owner only, in a
    /// directory of mode 0700.
    pub fn create(dir: &Path, verb: &str, redactor: Redactor) -> std::io::Result<RunLog> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        // A directory that exists keeps its mode (`--log-dir /tmp` must not
        // close /tmp); one made here is 0700.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let path = dir.join(log_file_name(verb));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        Ok(RunLog {
            path: Some(path),
            file: Some(Arc::new(Mutex::new(file))),
            redactor,
        })
    }

    /// The secrets this log keeps out (shared with the engine's).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn disabled(redactor: Redactor) -> RunLog {
        RunLog {
            path: None,
            file: None,
            redactor,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one block for `host`; the block is redacted and written whole.
    pub fn record(&self, host: &str, title: &str, body: &str) {
        let Some(file) = &self.file else { return };
        let mut text = format!("{} [{host}] {title}\n", stamp());
        if !body.is_empty() {
            text.push_str(body);
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        let text = self.redactor.redact(&text);
        let mut f = file.lock().unwrap();
        let _ = f.write_all(text.as_bytes());
    }
}

/// Per-host progress on stderr. On a terminal: live lines redrawn in place
/// (`live::Live`), one summary line left per step, coloured; otherwise (CI
/// logs, pipes) and with `-v`: a plain line per host, no control codes.
pub struct Progress {
    term: Term,
    color: bool,
    quiet: bool,
    verbose: bool,
    total: AtomicUsize,
    done: AtomicUsize,
    redactor: Redactor,
    live: Mutex<Option<Live>>,
}

impl Progress {
    /// `quiet`: nothing on the screen; default: a line when a step begins
    /// and one per host when it ends; `verbose`: every operation as well
    /// (the log always has every operation).
    pub fn new(redactor: Redactor, quiet: bool, verbose: bool) -> Progress {
        let term = Term::stderr();
        let color = term.is_term();
        Progress {
            term,
            color,
            quiet,
            verbose,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            redactor,
            live: Mutex::new(None),
        }
    }

    /// Live lines only on a terminal, and not with `-v` (whose every
    /// operation is a line of its own).
    fn live_mode(&self) -> bool {
        self.color && !self.quiet && !self.verbose
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The step ended: its live lines give way to its summary line.
    pub fn end_step(&self) {
        if let Some(live) = self.live().take() {
            let _ = self.term.write_line(&live.end());
        }
    }

    /// A step begins on `hosts` hosts; `heading` is its line on the screen.
    pub fn begin_step(&self, heading: &str, hosts: usize) {
        self.end_step();
        self.total.store(hosts, Ordering::SeqCst);
        self.done.store(0, Ordering::SeqCst);
        if self.quiet {
            return;
        }
        let line = heading.to_string();
        let line = if self.color {
            style(line).bold().to_string()
        } else {
            line
        };
        let _ = self.term.write_line(&line);
        if self.live_mode() && hosts > 0 {
            *self.live() = Some(Live::begin(hosts));
        }
    }

    /// Something the operator must see whatever the verbosity (a host key
    /// trusted on first use); only `-q` hides it.
    pub fn notice(&self, host: &str, what: &str) {
        if self.quiet {
            return;
        }
        let line = format!("  {host}: {}", self.redactor.redact(what));
        match &*self.live() {
            Some(live) => live.println(&line),
            None => {
                let _ = self.term.write_line(&line);
            }
        }
    }

    /// A host is doing something (connecting, running, uploading).
    pub fn working(&self, host: &str, what: &str) {
        if self.quiet {
            return;
        }
        if !self.verbose {
            if let Some(live) = &*self.live() {
                live.working(host, &self.redactor.redact(what));
            }
            return;
        }
        let what = self.redactor.redact(what);
        let line = format!("  {host}: {what}");
        let line = if self.color {
            style(line).dim().to_string()
        } else {
            line
        };
        let _ = self.term.write_line(&line);
    }

    /// A host finished the step.
    pub fn finished(&self, host: &str, status: &str, detail: &str) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if self.quiet {
            return;
        }
        let total = self.total.load(Ordering::SeqCst);
        let detail = self.redactor.redact(detail);
        let head = format!("[{n}/{total}] {host}: ");
        let st = if self.color {
            match status {
                "ok" => style(status).green().to_string(),
                "changed" => style(status).yellow().to_string(),
                "skipped" => style(status).cyan().to_string(),
                _ => style(status).red().bold().to_string(),
            }
        } else {
            status.to_string()
        };
        let first = detail.lines().next().unwrap_or("");
        let line = if first.is_empty() {
            format!("{head}{st}")
        } else {
            format!("{head}{st}: {first}")
        };
        match &*self.live() {
            Some(live) => live.finished(host, status, &line),
            None => {
                let _ = self.term.write_line(&line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tmp.path().join("installer/logs");
        let log = RunLog::create(&dir, "install", Redactor::default()).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(log.path().unwrap()), 0o600);
        // A directory that is there already keeps its mode.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let log = RunLog::create(&shared, "install", Redactor::default()).unwrap();
        assert_eq!(mode(&shared), 0o777);
        assert_eq!(mode(log.path().unwrap()), 0o600);
    }
}
