//! The Ansible oracle: every inventory in `tests/inventories/` is read by the
//! real `ansible-inventory` (ansible-core 2.19) and by `ksinstall inventory`,
//! and the outputs must be byte-identical; every file in
//! `tests/inventories/bad/` must be rejected by both.
//!
//! `--list` is compared after the normalisation the CLI promises: Ansible's
//! JSON without `_meta.profile`, re-dumped by Python's
//! `json.dumps(sort_keys=True, indent=4)` (so `ensure_ascii` escapes). The
//! re-dump runs in the venv's own Python, because serde_json would lose big
//! ints and float text. `--graph` is compared as printed.
//!
//! ansible-inventory comes from `$ANSIBLE_INVENTORY_BIN`, else
//! `.venv/bin/ansible-inventory` at the crate root. Without it the test is
//! skipped, except under CI (`$CI` set), where that is a failure.
//! `$ORACLE_FILTER=text` limits the run to files whose path contains `text`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const NORMALISE: &str = r#"
import json, sys
doc = json.loads(sys.stdin.buffer.read().decode("utf-8", "surrogateescape"))
doc.get("_meta", {}).pop("profile", None)
sys.stdout.write(json.dumps(doc, sort_keys=True, indent=4) + "\n")
"#;

/// Two workers: each ansible-inventory call costs about half a second of CPU.
const WORKERS: usize = 2;

struct Oracle {
    ansible: PathBuf,
    python: PathBuf,
    /// An empty ansible.cfg, so no user or system configuration leaks in.
    config: PathBuf,
}

impl Oracle {
    fn find() -> Option<Oracle> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ansible = match std::env::var_os("ANSIBLE_INVENTORY_BIN") {
            Some(p) => PathBuf::from(p),
            None => root.join(".venv/bin/ansible-inventory"),
        };
        if !ansible.is_file() {
            return None;
        }
        let python = python_of(&ansible);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inventory-oracle");
        std::fs::create_dir_all(&dir).expect("create the oracle's temp dir");
        let config = dir.join("ansible.cfg");
        std::fs::write(&config, "").expect("write an empty ansible.cfg");
        Some(Oracle {
            ansible,
            python,
            config,
        })
    }

    fn ansible(&self, file: &Path, action: &str) -> Output {
        let mut cmd = Command::new(&self.ansible);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ANSIBLE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ANSIBLE_CONFIG", &self.config)
            // Only the INI plugin, and a file it cannot parse is an error
            // rather than an empty inventory.
            .env("ANSIBLE_INVENTORY_ENABLED", "ini")
            .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("LC_ALL", "C.UTF-8")
            .arg("-i")
            .arg(file)
            .arg(action)
            .stdin(Stdio::null());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.ansible.display()))
    }

    fn normalise(&self, json: &[u8]) -> Result<String, String> {
        let mut child = Command::new(&self.python)
            .arg("-c")
            .arg(NORMALISE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(json)
            .expect("feed the normaliser");
        let out = child.wait_with_output().expect("wait for the normaliser");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8(out.stdout).expect("ensure_ascii output is ASCII"))
    }
}

/// The Python that runs ansible-inventory: `python3` beside it (a venv), else
/// the script's `#!` line, else `python3` on PATH.
fn python_of(ansible: &Path) -> PathBuf {
    if let Some(dir) = ansible.parent() {
        for name in ["python3", "python"] {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(ansible) {
        if let Some(line) = text.lines().next().and_then(|l| l.strip_prefix("#!")) {
            if let Some(first) = line.split_whitespace().next() {
                if !first.ends_with("/env") {
                    return PathBuf::from(first);
                }
            }
        }
    }
    PathBuf::from("python3")
}

fn ksinstall(file: &Path, action: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(["inventory", "-i"])
        .arg(file)
        .arg(action)
        .stdin(Stdio::null())
        .output()
        .expect("run ksinstall")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The last lines of a tool's stderr (a Python traceback can run long).
fn tail(bytes: &[u8]) -> String {
    let all = text(bytes);
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The first difference between two texts, with a few lines of context.
fn diff_snippet(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let Some(at) = (0..w.len().max(g.len())).find(|&i| w.get(i) != g.get(i)) else {
        return "  (texts differ only in line endings or a final newline)".into();
    };
    let from = at.saturating_sub(3);
    let mut out = format!("  first difference at line {}:\n", at + 1);
    for (label, lines) in [("ansible", &w), ("ksinstall", &g)] {
        out.push_str(&format!("  --- {label}\n"));
        for (i, line) in lines.iter().enumerate().skip(from).take(at - from + 4) {
            out.push_str(&format!(
                "  {}{:4} {line}\n",
                if i == at { '>' } else { ' ' },
                i + 1
            ));
        }
    }
    out
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ini"))
        .collect();
    files.sort();
    files
}

/// Every corpus file says in a `#` line what it exercises.
fn has_comment(file: &Path) -> bool {
    let bytes = std::fs::read(file).expect("read corpus file");
    text(&bytes)
        .lines()
        .any(|l| l.trim_start_matches('\u{feff}').starts_with("# "))
}

fn check_good(oracle: &Oracle, file: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for action in ["--list", "--graph"] {
        let theirs = oracle.ansible(file, action);
        if !theirs.status.success() {
            problems.push(format!(
                "{action}: ansible-inventory failed ({}):\n{}",
                theirs.status,
                tail(&theirs.stderr)
            ));
            continue;
        }
        let want = if action == "--list" {
            match oracle.normalise(&theirs.stdout) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("--list: cannot normalise ansible's JSON: {e}"));
                    continue;
                }
            }
        } else {
            text(&theirs.stdout)
        };
        let ours = ksinstall(file, action);
        if !ours.status.success() {
            problems.push(format!(
                "{action}: ksinstall failed ({}):\n{}",
                ours.status,
                tail(&ours.stderr)
            ));
            continue;
        }
        let got = text(&ours.stdout);
        if got != want {
            problems.push(format!("{action} differs:\n{}", diff_snippet(&want, &got)));
        }
    }
    problems
}

fn check_bad(oracle: &Oracle, file: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let theirs = oracle.ansible(file, "--list");
    if theirs.status.success() {
        problems.push(format!(
            "ansible-inventory accepted it:\n{}",
            text(&theirs.stdout)
                .lines()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    let ours = ksinstall(file, "--list");
    let stderr = text(&ours.stderr);
    if ours.status.code() != Some(2) {
        problems.push(format!(
            "ksinstall exited {} instead of 2; stderr:\n{stderr}",
            ours.status
        ));
    }
    let prefix = format!("[ERROR InventorySyntax]: {}:", file.display());
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    match line {
        None => problems.push(format!(
            "no `{prefix}LINE:` error from ksinstall; stderr:\n{stderr}"
        )),
        Some(n) => {
            // The file's comment may say where the error is: "(error at line N)".
            let source = text(&std::fs::read(file).expect("read corpus file"));
            let want = source
                .split("(error at line ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(want) = want.filter(|w| *w != n) {
                problems.push(format!(
                    "ksinstall blamed line {n}, the file says line {want}; stderr:\n{stderr}"
                ));
            }
        }
    }
    problems
}

#[test]
fn inventories_read_exactly_as_ansible_reads_them() {
    let Some(oracle) = Oracle::find() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "ansible-inventory not found (set ANSIBLE_INVENTORY_BIN or create .venv with ansible-core 2.19): \
                 the Ansible oracle must run in CI"
            );
        }
        println!("skipped: ansible-inventory not found (run .ci/run or create .venv)");
        return;
    };

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventories");
    let good = corpus(&root);
    let bad = corpus(&root.join("bad"));
    assert!(
        good.len() >= 40,
        "the corpus shrank to {} good files",
        good.len()
    );
    assert!(
        bad.len() >= 12,
        "the corpus shrank to {} bad files",
        bad.len()
    );

    let filter = std::env::var("ORACLE_FILTER").unwrap_or_default();
    let jobs: Vec<(&PathBuf, bool)> = good
        .iter()
        .map(|f| (f, true))
        .chain(bad.iter().map(|f| (f, false)))
        .filter(|(f, _)| f.to_string_lossy().contains(&filter))
        .collect();

    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(String, Vec<String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(file, is_good)) = jobs.get(i) else {
                    break;
                };
                let mut problems = if is_good {
                    check_good(&oracle, file)
                } else {
                    check_bad(&oracle, file)
                };
                if !has_comment(file) {
                    problems.push("no `# ...` line saying what the file exercises".into());
                }
                if !problems.is_empty() {
                    let name = file
                        .strip_prefix(&root)
                        .unwrap_or(file)
                        .display()
                        .to_string();
                    failures
                        .lock()
                        .expect("no worker panicked")
                        .push((name, problems));
                }
            });
        }
    });

    let mut failures = failures.into_inner().expect("no worker panicked");
    failures.sort();
    for (name, problems) in &failures {
        eprintln!("=== {name}");
        for p in problems {
            eprintln!("{p}");
        }
    }
    println!(
        "ansible oracle: {} files checked ({} good, {} bad in the corpus), {} mismatched",
        jobs.len(),
        good.len(),
        bad.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} inventories do not match Ansible: {}",
        failures.len(),
        jobs.len(),
        failures
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
