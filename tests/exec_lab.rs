//! The engine on the lab's real hosts (network namespaces of scripts/lab.sh).
//! Runs as root with scripts/lab.sh (or the script KSINSTALL_LAB_SH names): it
//! starts a fresh lab of 3 hosts (scripts/test.sh takes it down). The
//! test process enters the lab's netns, so it reaches only lab hosts.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ksinstall::exec::engine::redactor_for;
use ksinstall::exec::*;
use ksinstall::model::{Become, Connection, Node, Secret, SshTarget};

/// The lab script and its directory, with a fresh lab of 3 hosts.
fn lab() -> Option<(PathBuf, PathBuf)> {
    let sh = std::env::var_os("KSINSTALL_LAB_SH")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lab.sh").into());
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return None;
    }
    let dir =
        PathBuf::from(std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/ksinstall-lab".into()));
    // Through `timeout`, as tests/e2e_lab.rs does: the hosts must not share
    // the test's process group.
    assert!(Command::new("timeout")
        .args(["-k", "10", "300", "bash"])
        .arg(&sh)
        .args(["up", "3", "--force"])
        .status()
        .unwrap()
        .success());
    Some((PathBuf::from(sh), dir))
}

fn enter_netns() {
    let f = std::fs::File::open("/run/netns/lab").expect("lab netns");
    use std::os::fd::AsRawFd;
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
}

fn ubuntu(name: &str, ip: &str, pw: &str) -> Node {
    Node {
        name: name.into(),
        connection: Connection::Ssh(SshTarget {
            address: ip.into(),
            port: 22,
            user: "ubuntu".into(),
            password: Some(Secret::new(pw)),
            key_file: None,
            bastion: None,
        }),
        become_: Some(Become {
            user: "root".into(),
            password: Some(Secret::new(pw)),
        }),
        ip: None,
        access_ip: None,
        roles: vec![],
        line: None,
    }
}

#[test]
fn lab_hosts_down_and_cut_mid_run() {
    let Some((sh, dir)) = lab() else {
        eprintln!("skipped: the lab needs root");
        return;
    };
    let pw = std::fs::read_to_string(dir.join("secrets/ubuntu.password"))
        .unwrap()
        .trim()
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let nodes = vec![
        ubuntu("node1", "10.77.0.11", &pw),
        ubuntu("node2", "10.77.0.12", &pw),
        ubuntu("node3", "10.77.0.13", &pw),
    ];
    let kh =
        Arc::new(KnownHosts::load(&tmp.path().join("kh"), HostKeyPolicy::TrustOnFirstUse).unwrap());
    let mut opts = EngineOptions::new(ConnectOptions::new(kh));
    opts.connect.use_agent = false;
    opts.connect.default_keys = false;
    opts.connect.keepalive = Duration::from_secs(2);
    opts.io_timeout = Duration::from_secs(5);
    let r = redactor_for(&nodes, &opts.connect);
    // Threads of this test only: setns affects the calling thread, and the
    // pool's threads are created after it, inheriting nothing; so enter the
    // netns before building the engine (threads spawned later inherit it).
    enter_netns();
    let e = Engine::new(
        nodes,
        opts,
        RunLog::create(tmp.path(), "Lab", r.clone()).unwrap(),
        Progress::new(r, true, false),
    )
    .unwrap();
    let all = [0, 1, 2];
    let rep = e.step("one", &all, |h| {
        let o = h.exec("id -u; hostname", None)?.unwrap();
        assert!(o.stdout.starts_with(b"0\n"), "{o:?}");
        Ok(())
    });
    assert!(rep.all_ok(), "{rep:#?}");
    let run = |args: &[&str]| {
        assert!(Command::new("bash")
            .arg(&sh)
            .args(args)
            .status()
            .unwrap()
            .success())
    };
    run(&["kill", "node2"]);
    run(&["cut", "node3"]);
    let t0 = Instant::now();
    let rep = e.step("two", &all, |h| {
        h.exec("echo two", Some(Duration::from_secs(3)))?;
        Ok(())
    });
    let elapsed = t0.elapsed();
    run(&["revive", "node2"]);
    run(&["revive", "node3"]);
    // The lab stays up: this thread lives in its netns. scripts/test.sh
    // takes it down after the tests.
    let st: Vec<_> = rep
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.status))
        .collect();
    assert_eq!(
        st,
        vec![
            ("node1", Status::Changed),
            ("node2", Status::Unreachable),
            ("node3", Status::Unreachable)
        ],
        "{rep:#?}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let log = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("Lab["))
        .unwrap();
    assert!(!std::fs::read_to_string(log.path()).unwrap().contains(&pw));
}
