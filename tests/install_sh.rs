//! `scripts/install.sh` around failures that change no host: it names the
//! argument it refuses, and after a failed run names that run's log (never
//! an older one) with one hint. No hosts: validation fails first.

use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_bad_option_is_named_before_the_usage() {
    let o = Command::new("scripts/install.sh")
        .arg("--bogus")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown option '--bogus'"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage:"));
}

/// An installer directory: scripts/install.sh, bin/ksinstall, conf/, and
/// the log of an older run.
fn installer(dir: &Path, vars: &str) {
    for d in ["scripts", "bin", "conf", "logs"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for s in ["install.sh", "common.sh"] {
        std::fs::copy(root.join("scripts").join(s), dir.join("scripts").join(s)).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ksinstall"), dir.join("bin/ksinstall")).unwrap();
    std::fs::write(dir.join("conf/vars.yml"), vars).unwrap();
    std::fs::write(dir.join("logs/Install[2020-01-01~00:00:00].log"), "old\n").unwrap();
}

#[test]
fn a_validation_failure_names_no_older_log_and_says_failed_once() {
    // install.sh refuses to run as anyone but root, as the legacy one did.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    installer(d.path(), "kube_version: v0.1\n");
    let o = Command::new(d.path().join("scripts/install.sh"))
        .arg("all-in-one")
        .env_remove("KSINSTALL_ARGS")
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(all.contains("[ERROR KubeVersion]"), "{all}");
    assert_eq!(all.matches("failed!").count(), 1, "{all}");
    assert!(!all.contains("2020-01-01"), "an older log named: {all}");
    assert!(all.contains("then run ./install.sh again"), "{all}");
}

#[test]
fn the_day_two_scripts_name_what_they_refuse() {
    for (script, arg) in [("add-nodes.sh", "node4"), ("uninstall.sh", "--force")] {
        let o = Command::new(Path::new("scripts").join(script))
            .arg(arg)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{script}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("unknown argument '{arg}'")),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn uninstall_asks_first_and_anything_but_yes_changes_nothing() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    installer(d.path(), "");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/uninstall.sh"),
        d.path().join("scripts/uninstall.sh"),
    )
    .unwrap();
    // A valid conf whose hosts do not exist: the answer is read first.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-root");
    for f in ["hosts.ini", "vars.yml"] {
        std::fs::copy(seed.join(f), d.path().join("conf").join(f)).unwrap();
    }
    let mut child = Command::new(d.path().join("scripts/uninstall.sh"))
        .env_remove("KSINSTALL_ARGS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        all.contains("Type 'yes' to reset your cluster. [No]:"),
        "{all}"
    );
    assert!(all.contains("Reset confirmation failed"), "{all}");
    assert!(all.contains("Nothing was changed on any host"), "{all}");
}

/// Every shell script of the repository parses (`bash -n`): CI's own
/// scripts/test.sh once failed to, and only a cold CI run found out.
#[test]
fn every_shell_script_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = vec![root.join(".ci/run")];
    for dir in ["scripts", "scripts/kube", "scripts/lab", "tests"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sh") {
                scripts.push(p);
            }
        }
    }
    assert!(scripts.len() >= 15, "{scripts:?}");
    for s in &scripts {
        let o = std::process::Command::new("bash")
            .arg("-n")
            .arg(s)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {}", s.display(), text(&o));
    }
}
