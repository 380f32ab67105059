//! Helpers shared by the lab end-to-end tests: bounded commands, `lab.sh`,
//! commands inside a lab host.
#![allow(dead_code)]

pub mod cluster;

use std::path::PathBuf;
use std::process::{Command, Output};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub fn lab_dir() -> PathBuf {
    PathBuf::from(std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/ksinstall-lab".into()))
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command with a time limit (via coreutils `timeout`), returning its output.
pub fn run(limit_s: u64, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("-k")
        .arg("10")
        .arg(limit_s.to_string())
        .arg(program)
        .args(args)
        .current_dir(ROOT);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

pub fn lab(args: &[&str]) -> Output {
    let o = run(600, &format!("{ROOT}/scripts/lab.sh"), args, &[]);
    assert!(o.status.success(), "lab.sh {args:?} failed:\n{}", text(&o));
    o
}

/// A shell command inside a lab host, as root.
pub fn on(host: &str, script: &str) -> Output {
    run(
        120,
        &format!("{ROOT}/scripts/lab.sh"),
        &["exec", host, "--", "sh", "-c", script],
        &[],
    )
}
