//! The live screen of a step when stderr is a terminal: a bar for the step
//! and one line per host at work, redrawn in place (`indicatif`), which
//! leaves one summary line per step behind. Hosts that did not end `ok` or
//! `changed` keep their own line. Without a terminal none of this is used:
//! plain lines, no control codes (see `runlog::Progress`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Hosts shown at work at once; the others are counted in the step's bar
/// (a step on 300 hosts stays a dozen lines).
const LIVE_HOSTS: usize = 10;

/// One step's live lines.
pub struct Live {
    multi: MultiProgress,
    step: ProgressBar,
    hosts: Mutex<BTreeMap<String, ProgressBar>>,
    counts: Mutex<BTreeMap<String, usize>>,
    started: Instant,
}

impl Live {
    /// The live lines of a step on `hosts` hosts.
    pub fn begin(hosts: usize) -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let step = multi.add(ProgressBar::new(hosts as u64));
        step.set_style(
            ProgressStyle::with_template("  [{pos}/{len}] {wide_bar} {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        step.enable_steady_tick(Duration::from_millis(250));
        Live {
            multi,
            step,
            hosts: Mutex::new(BTreeMap::new()),
            counts: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }

    /// `host` is doing `what` (its line appears while under LIVE_HOSTS are shown).
    pub fn working(&self, host: &str, what: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = hosts.get(host) {
            bar.set_message(what.to_string());
            return;
        }
        if hosts.len() >= LIVE_HOSTS {
            return;
        }
        let bar = self
            .multi
            .insert_before(&self.step, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix}: {wide_msg}")
                .expect("a valid template"),
        );
        bar.set_prefix(host.to_string());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        hosts.insert(host.to_string(), bar);
    }

    /// `host` ended the step; `line` is printed above the bars unless the
    /// host ended `ok` or `changed` (the step's summary counts those).
    pub fn finished(&self, host: &str, status: &str, line: &str) {
        if let Some(bar) = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(host)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status.to_string())
            .or_default() += 1;
        if !matches!(status, "ok" | "changed") {
            let _ = self.multi.println(line);
        }
        self.step.inc(1);
    }

    /// Something to print above the live lines.
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    /// Clears the live lines and returns the step's summary line:
    /// `  3 hosts: changed 2, ok 1 (4.2 s)`.
    pub fn end(self) -> String {
        for (_, bar) in std::mem::take(&mut *self.hosts.lock().unwrap_or_else(|p| p.into_inner())) {
            bar.finish_and_clear();
        }
        self.step.finish_and_clear();
        let _ = self.multi.clear();
        let counts = self.counts.into_inner().unwrap_or_else(|p| p.into_inner());
        summary(&counts, self.started.elapsed())
    }
}

/// `  3 hosts: changed 2, ok 1 (4.2 s)`, the statuses in a fixed order and
/// coloured as the per-host lines are.
pub fn summary(counts: &BTreeMap<String, usize>, took: Duration) -> String {
    let total: usize = counts.values().sum();
    let order = ["failed", "unreachable", "skipped", "changed", "ok"];
    let mut parts: Vec<String> = Vec::new();
    for st in order {
        if let Some(n) = counts.get(st) {
            let word = format!("{st} {n}");
            parts.push(match st {
                "ok" => style(word).green().to_string(),
                "changed" => style(word).yellow().to_string(),
                "skipped" => style(word).cyan().to_string(),
                _ => style(word).red().bold().to_string(),
            });
        }
    }
    format!(
        "  {total} host{}: {} ({:.1} s)",
        if total == 1 { "" } else { "s" },
        parts.join(", "),
        took.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_ends_in_one_line_counting_every_status_in_a_fixed_order() {
        console::set_colors_enabled(false);
        // No terminal under test: indicatif draws nothing, the counting is the same.
        let live = Live::begin(4);
        for h in ["a", "b", "c", "d"] {
            live.working(h, "connecting");
        }
        live.finished("b", "changed", "[1/4] b: changed");
        live.finished("a", "failed", "[2/4] a: failed: rc=1");
        live.finished("c", "changed", "[3/4] c: changed");
        live.finished("d", "ok", "[4/4] d: ok");
        assert!(
            live.hosts.lock().unwrap().is_empty(),
            "every host's line is gone"
        );
        let line = live.end();
        let (head, took) = line.split_once(" (").expect("a time");
        assert_eq!(head, "  4 hosts: failed 1, changed 2, ok 1");
        assert!(took.ends_with(" s)"), "{line}");
    }

    #[test]
    fn at_most_live_hosts_lines_are_shown() {
        let live = Live::begin(30);
        for i in 0..30 {
            live.working(&format!("node{i}"), "connecting");
        }
        assert_eq!(live.hosts.lock().unwrap().len(), LIVE_HOSTS);
        let _ = live.end();
    }
}
