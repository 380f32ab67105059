//! Operations: what a phase wants on a host, as data. A phase computes its
//! operations from facts, config and rendered files (a pure function, so the
//! exact files and commands each host gets can be tested without a host);
//! `apply` carries them out through the engine's mutation gate, skipping
//! what is already in place so a re-run changes nothing.

use crate::exec::{Action, Blob, Change, HostCtx, HostFail};

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A whole file: uploaded atomically, skipped when already identical.
    /// The content is shared, not copied, between the hosts that get it.
    File {
        path: String,
        content: Blob,
        mode: u32,
    },
    /// A block between two marker lines inside a file that others also edit
    /// (`/etc/hosts`): replaced in place, or appended when absent.
    Block {
        path: String,
        begin: String,
        end: String,
        body: String,
    },
    /// A read-only check that must succeed (skipped in a dry run, where
    /// what it checks was not made).
    Check { describe: String, run: String },
    /// A command, skipped when `unless` succeeds on the host, or — with
    /// `on_change` — when no earlier operation of the phase changed anything.
    Command {
        describe: String,
        run: String,
        unless: Option<String>,
        on_change: bool,
    },
}

impl Op {
    pub fn file(path: &str, content: impl Into<Blob>, mode: u32) -> Op {
        Op::File {
            path: path.to_string(),
            content: content.into(),
            mode,
        }
    }

    pub fn run(describe: &str, run: &str) -> Op {
        Op::Command {
            describe: describe.to_string(),
            run: run.to_string(),
            unless: None,
            on_change: false,
        }
    }

    pub fn run_unless(describe: &str, run: &str, unless: &str) -> Op {
        Op::Command {
            describe: describe.to_string(),
            run: run.to_string(),
            unless: Some(unless.to_string()),
            on_change: false,
        }
    }

    /// Runs when something before it in the phase changed, or when `unless`
    /// fails: a handler that also repairs what an interrupted run left undone.
    pub fn on_change_unless(describe: &str, run: &str, unless: &str) -> Op {
        Op::Command {
            describe: describe.to_string(),
            run: run.to_string(),
            unless: Some(unless.to_string()),
            on_change: true,
        }
    }

    /// Runs only when something before it in the phase changed (a handler).
    pub fn on_change(describe: &str, run: &str) -> Op {
        Op::Command {
            describe: describe.to_string(),
            run: run.to_string(),
            unless: None,
            on_change: true,
        }
    }

    pub fn check(describe: &str, run: &str) -> Op {
        Op::Check {
            describe: describe.to_string(),
            run: run.to_string(),
        }
    }

    /// One line for plans and tests.
    pub fn summary(&self) -> String {
        match self {
            Op::File {
                path,
                content,
                mode,
            } => format!("file {path} ({} bytes, mode {mode:o})", content.len()),
            Op::Block { path, begin, .. } => format!("block {begin:?} in {path}"),
            Op::Check { run, .. } => format!("check {run}"),
            Op::Command {
                run,
                unless,
                on_change,
                ..
            } => {
                let mut s = format!("run {run}");
                if let Some(u) = unless {
                    s.push_str(&format!(" unless {u}"));
                }
                if *on_change {
                    s.push_str(" (on change)");
                }
                s
            }
        }
    }
}

/// Replaces the block between `begin` and `end` in `text`, or appends it.
pub fn merge_block(text: &str, begin: &str, end: &str, body: &str) -> String {
    let mut block = format!("{begin}\n{body}");
    if !block.ends_with('\n') {
        block.push('\n');
    }
    block.push_str(end);
    block.push('\n');
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == begin);
    let stop = start.and_then(|s| {
        lines[s..]
            .iter()
            .position(|l| l.trim_end() == end)
            .map(|e| s + e)
    });
    match (start, stop) {
        (Some(s), Some(e)) => {
            let mut out: String = lines[..s].iter().map(|l| format!("{l}\n")).collect();
            out.push_str(&block);
            out.extend(lines[e + 1..].iter().map(|l| format!("{l}\n")));
            out
        }
        _ => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&block);
            out
        }
    }
}

/// Carries out the operations on one host; the first failure stops this host.
pub fn apply(ctx: &mut HostCtx, ops: &[Op]) -> Result<(), HostFail> {
    let mut changed = false;
    for op in ops {
        match op {
            Op::File {
                path,
                content,
                mode,
            } => {
                if ctx.upload_blob(content, path, Some(*mode), None)? != Change::Unchanged {
                    changed = true;
                }
            }
            Op::Block {
                path,
                begin,
                end,
                body,
            } => {
                let current = String::from_utf8_lossy(&ctx.fetch(path)?).into_owned();
                let wanted = merge_block(&current, begin, end, body);
                if wanted != current
                    && ctx.upload(wanted.as_bytes(), path, None, None)? != Change::Unchanged
                {
                    changed = true;
                }
            }
            Op::Check { describe, run } => {
                if ctx.dry_run() {
                    continue;
                }
                let out = ctx
                    .perform(Action {
                        describe: describe.clone(),
                        script: run.clone(),
                        stdin: None,
                        timeout: None,
                        mutates: false,
                        sensitive: false,
                    })?
                    .expect("read-only actions always run");
                if out.rc != 0 {
                    let detail = format!("{}{}", out.stdout_text(), out.stderr_text());
                    return Err(HostFail::Failed(format!(
                        "{describe}: no ({}): {}",
                        ended(&out),
                        last_lines(&detail, 8)
                    )));
                }
            }
            Op::Command {
                describe,
                run,
                unless,
                on_change,
            } => {
                // A handler runs on change; its `unless` (if any) can also
                // trigger it. A plain command runs unless `unless` succeeds.
                let triggered = *on_change && changed;
                if !triggered {
                    match unless {
                        None if *on_change => continue,
                        Some(check) if ctx.query(check, None)?.rc == 0 => continue,
                        _ => {}
                    }
                }
                let action = Action {
                    describe: describe.clone(),
                    script: run.clone(),
                    stdin: None,
                    timeout: None,
                    mutates: true,
                    sensitive: false,
                };
                if let Some(out) = ctx.perform(action)? {
                    changed = true;
                    if out.rc != 0 {
                        let err = out.stderr_text();
                        let detail = if err.trim().is_empty() {
                            out.stdout_text()
                        } else {
                            err
                        };
                        return Err(HostFail::Failed(format!(
                            "{describe} failed ({}): {}",
                            ended(&out),
                            last_lines(&detail, 6)
                        )));
                    }
                }
            }
        }
    }
    if changed {
        ctx.set_changed();
    }
    Ok(())
}

/// How a command ended, for an error: its exit code, or that it was killed
/// at its time limit (its own, or --command-timeout).
fn ended(out: &crate::exec::CmdOutput) -> String {
    match out.timed_out {
        true => "killed at its time limit; --command-timeout sets the default".to_string(),
        false => format!("exit {}", out.rc),
    }
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_replace_in_place_or_append() {
        let b = "# BEGIN";
        let e = "# END";
        let fresh = merge_block("127.0.0.1 localhost\n", b, e, "10.0.0.1 n1");
        assert_eq!(fresh, "127.0.0.1 localhost\n# BEGIN\n10.0.0.1 n1\n# END\n");
        let again = merge_block(&fresh, b, e, "10.0.0.1 n1");
        assert_eq!(again, fresh, "idempotent");
        let updated = merge_block(&format!("{fresh}::1 x\n"), b, e, "10.0.0.2 n2\n");
        assert_eq!(
            updated,
            "127.0.0.1 localhost\n# BEGIN\n10.0.0.2 n2\n# END\n::1 x\n"
        );
    }
}
