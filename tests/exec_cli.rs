//! `ksinstall run` and `ksinstall copy` end to end against a real sshd on
//! 127.0.0.1, including that no password shows in `ps` or the run log.

mod exec_support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use exec_support::*;

/// Runs a verb in `dir`, an installer directory (`dir/conf/`): its run log
/// goes to `dir/logs/`.
fn ksinstall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .current_dir(dir)
        .args(&args[..1])
        .args(["--conf", "conf"])
        .args(&args[1..])
        .output()
        .unwrap()
}

fn inventory(dir: &Path, s: &Sshd, extra: &str) -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "[all]\n\
         n1 ansible_host=127.0.0.1 ansible_port={p} ansible_user={SUDO_USER} ansible_ssh_pass={pw} ansible_become_pass={pw}\n\
         n2 ansible_host=127.0.0.1 ansible_port={p} ansible_user=root ansible_ssh_private_key_file={key}\n\
         down ansible_host=127.0.0.1 ansible_port={dead} ansible_ssh_pass={pw}\n\
         {extra}\n\
         [workers]\nn1\nn2\n",
        p = s.port,
        pw = s.password,
        key = s.key_plain.display()
    );
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    let path = dir.join("conf").join("hosts.ini");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_verb_reports_every_host_and_hides_secrets() {
    let Some(s) = sshd() else { return };
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path(), s, "");
    let kh = d.path().join("kh").display().to_string();

    // Watch every process's command line while the run is going on: the
    // hosts are this machine, so this covers the taskbox and the host side.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, seen, pw) = (stop.clone(), seen.clone(), s.password.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::SeqCst) && samples < 2000 {
                let out = Command::new("ps")
                    .args(["-eww", "-o", "args"])
                    .output()
                    .unwrap();
                for l in text(&out.stdout).lines() {
                    if l.contains(&pw) {
                        seen.lock().unwrap().push(l.to_string());
                    }
                }
                // Also each process's environment.
                for p in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(env) = std::fs::read(p.path().join("environ")) {
                        if text(&env).contains(&pw) {
                            seen.lock()
                                .unwrap()
                                .push(format!("environ of {}", p.path().display()));
                        }
                    }
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };
    // The command prints the password (read from a file, so that it is on
    // no command line of ours): the output must come back redacted.
    let pwfile = d.path().join("pw");
    std::fs::write(&pwfile, &s.password).unwrap();
    let cmd = format!(
        "sleep 1; id -u; echo the password is $(cat {})",
        pwfile.display()
    );
    let out = ksinstall(
        d.path(),
        &[
            "run",
            "-i",
            &inv,
            "-b",
            "--known-hosts",
            &kh,
            "--connect-timeout",
            "2",
            "--",
            &cmd,
        ],
    );
    stop.store(true, Ordering::SeqCst);
    let samples = watcher.join().unwrap();
    assert!(samples > 5, "{samples}");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(4),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "password visible: {:?}",
        seen.lock().unwrap()
    );
    assert!(
        stdout.contains("n1 | CHANGED | rc=0 >>\n0\nthe password is ***"),
        "{stdout}"
    );
    assert!(stdout.contains("n2 | CHANGED | rc=0 >>\n0\n"), "{stdout}");
    assert!(
        stdout.contains("down  unreachable  ConnectionRefused"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok=0 changed=2 failed=0 unreachable=1 skipped=0"),
        "{stdout}"
    );
    assert!(!stdout.contains(&s.password) && !stderr.contains(&s.password));
    // The run log: legacy name, every host's output, no secret.
    let logs: Vec<_> = std::fs::read_dir(d.path().join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(logs.len(), 1);
    let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
    let b = name.as_bytes();
    assert!(
        name.starts_with("Run[")
            && name.ends_with("].log")
            && name.len() == "Run[2026-11-23~14:05:00].log".len(),
        "{name}"
    );
    assert_eq!(
        (b[8], b[11], b[14], b[17], b[20]),
        (b'-', b'-', b'~', b':', b':'),
        "{name}"
    );
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(!log.contains(&s.password), "{log}");
    assert!(log.contains("the password is ***"), "{log}");
    assert!(
        log.contains("[n1]") && log.contains("[n2]") && log.contains("[down]"),
        "{log}"
    );
    assert!(log.contains("shell as root via sudo"), "{log}");
}

#[test]
fn run_verb_limit_group_and_failures() {
    let Some(s) = sshd() else { return };
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path(), s, "");
    let kh = d.path().join("kh").display().to_string();
    let out = ksinstall(
        d.path(),
        &[
            "run",
            "-i",
            &inv,
            "-g",
            "workers",
            "--known-hosts",
            &kh,
            "-q",
            "--",
            "id -un; exit 3",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("n1 | FAILED | rc=3 >>\n{SUDO_USER}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("n2 | FAILED | rc=3 >>\nroot\n"), "{stdout}");
    assert!(!stdout.contains("down"), "{stdout}");
    let out = ksinstall(
        d.path(),
        &[
            "run",
            "-i",
            &inv,
            "-l",
            "n2",
            "--known-hosts",
            &kh,
            "-q",
            "--",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("ok=0 changed=1 failed=0"));
    // Dry run: nothing runs, the plan is printed.
    let out = ksinstall(
        d.path(),
        &[
            "run",
            "-i",
            &inv,
            "-l",
            "n2",
            "--known-hosts",
            &kh,
            "-q",
            "--dry-run",
            "--",
            "touch /tmp/ksi-nope",
        ],
    );
    assert!(
        text(&out.stdout).contains("n2: would run: touch /tmp/ksi-nope"),
        "{}",
        text(&out.stdout)
    );
    assert!(!Path::new("/tmp/ksi-nope").exists());
}

#[test]
fn copy_verb_is_idempotent() {
    let Some(s) = sshd() else { return };
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path(), s, "");
    let kh = d.path().join("kh").display().to_string();
    let src = d.path().join("payload.txt");
    std::fs::write(&src, "hello\n").unwrap();
    let destdir = d.path().join("dest");
    std::fs::create_dir(&destdir).unwrap();
    let dest = format!("{}/", destdir.display());
    let args = |extra: &[&str]| {
        let mut v = vec![
            "copy",
            "-i",
            &inv,
            "-l",
            "n1",
            "-b",
            "--known-hosts",
            &kh,
            "-q",
        ];
        v.extend_from_slice(extra);
        v.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ksinstall(d.path(), &a)
    };
    let src_s = src.display().to_string();
    let out = run(&["--dry-run", &src_s, &dest]);
    assert!(
        text(&out.stdout).contains("would upload 6 bytes"),
        "{}",
        text(&out.stdout)
    );
    assert!(!destdir.join("payload.txt").exists());
    let out = run(&[&src_s, &dest, "--mode", "0600", "--owner", "root"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("changed      written"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(destdir.join("payload.txt")).unwrap(),
        "hello\n"
    );
    let out = run(&[&src_s, &dest, "--mode", "0600", "--owner", "root"]);
    assert!(
        text(&out.stdout).contains("ok           unchanged"),
        "{}",
        text(&out.stdout)
    );
}

/// Two hosts on this machine (`ansible_connection=local`), in `dir/conf/`.
fn local_inventory(dir: &Path) {
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(
        dir.join("conf/hosts.ini"),
        "[all]\nh1 ansible_connection=local\nh2 ansible_connection=local\n",
    )
    .unwrap();
}

#[test]
fn without_a_terminal_progress_is_plain_lines_one_per_host() {
    let d = tempfile::tempdir().unwrap();
    local_inventory(d.path());
    let o = ksinstall(d.path(), &["run", "--", "true"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        !err.contains('\x1b') && !text(&o.stdout).contains('\x1b'),
        "control codes:\n{err:?}"
    );
    for h in ["h1", "h2"] {
        assert!(err.contains(&format!("] {h}: changed")), "{err}");
    }
}

#[test]
fn on_a_terminal_a_step_leaves_one_summary_line() {
    // util-linux's `script` gives the run a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    local_inventory(d.path());
    let cmd = format!(
        "{} run --conf conf -- 'sleep 0.3'",
        env!("CARGO_BIN_EXE_ksinstall")
    );
    let o = Command::new("script")
        .current_dir(d.path())
        .args(["-qfec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("2 hosts: "), "no summary line:\n{out:?}");
    assert!(out.contains("changed 2"), "{out:?}");
    assert!(
        !out.contains("] h1: changed"),
        "per-host lines on a terminal:\n{out:?}"
    );
}
