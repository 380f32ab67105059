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
    std::fs::copy(
        root.join("scripts/install.sh"),
        dir.join("scripts/install.sh"),
    )
    .unwrap();
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
