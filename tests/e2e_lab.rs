//! End to end on the lab: three real Debian hosts (systemd + sshd in
//! namespaces, `scripts/lab.sh`), an offline bundle built from real Debian
//! packages fetched at test time, and a multi-node install through every
//! phase those packages allow (`--until loadbalancer`). Then: a second run
//! changes nothing; a worker whose link is cut mid-run fails alone with a
//! clear error and `--resume` finishes after it is revived; scripts/install.sh
//! is driven through its menu on a pty; and a variant with three etcd members
//! whose first run is stopped by SIGINT mid-phase, then resumed.
//!
//! Needs root (network namespaces, mounts); without root it says so and
//! passes, under `CI` it fails. One test function: the lab is one per machine.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod lab_support;

use lab_support::{is_root, lab, lab_dir, on, run, text, ROOT};
const BIN: &str = env!("CARGO_BIN_EXE_ksinstall");

fn work_dir() -> PathBuf {
    PathBuf::from(std::env::var("E2E_DIR").unwrap_or_else(|_| "/var/tmp/ksinstall-e2e".into()))
}

fn on_ok(host: &str, script: &str) -> String {
    let o = on(host, script);
    assert!(
        o.status.success(),
        "{host}: `{script}` failed:\n{}",
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Setup {
    conf: PathBuf,
    bundle: PathBuf,
    known_hosts: PathBuf,
    installer: PathBuf,
}

fn install_args<'a>(s: &'a Setup, extra: &[&'a str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        "lab".into(),
        BIN.into(),
        "install".into(),
        "--mode".into(),
        "multi-node".into(),
        "--yes".into(),
        "--conf".into(),
        s.conf.display().to_string(),
        "--bundle".into(),
        s.bundle.display().to_string(),
        "--known-hosts".into(),
        s.known_hosts.display().to_string(),
        "--ignore-errors".into(),
        // This bundle has no Kubernetes (tests/e2e_cluster.rs installs one
        // built from source); the lab's disk may be small.
        "BundleMissing,KubeSphereImage,StorageImage,Disk".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn install(s: &Setup, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let args = install_args(s, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(900, "ip", &refs, envs)
}

fn prepare(three_etcd: bool) -> Setup {
    lab(&["up", "3", "--systemd", "--force"]);
    let dir = work_dir();
    let o = run(
        900,
        &format!("{ROOT}/scripts/lab/prepare-offline.sh"),
        &[dir.to_str().unwrap(), BIN],
        &[],
    );
    assert!(o.status.success(), "prepare-offline failed:\n{}", text(&o));
    let conf = dir.join("installer/conf");
    if three_etcd {
        let hosts = std::fs::read_to_string(conf.join("hosts.ini")).unwrap();
        let mut out = String::new();
        let mut in_etcd = false;
        for line in hosts.lines() {
            if line.trim() == "[etcd]" {
                out.push_str("[etcd]\nnode1\nnode2\nnode3\n");
                in_etcd = true;
                continue;
            }
            if in_etcd && !line.starts_with('[') {
                continue;
            }
            in_etcd = false;
            out.push_str(line);
            out.push('\n');
        }
        std::fs::write(conf.join("hosts.ini"), out).unwrap();
    }
    Setup {
        conf,
        bundle: dir.join("bundle"),
        known_hosts: lab_dir().join("known_hosts"),
        installer: dir.join("installer"),
    }
}

const ETCD_TLS: &str = "--cacert=/etc/ssl/etcd/ssl/ca.pem --cert=/etc/ssl/etcd/ssl/admin-node1.pem --key=/etc/ssl/etcd/ssl/admin-node1-key.pem";

fn check_hosts_are_prepared() {
    for (k, host) in ["node1", "node2", "node3"].iter().enumerate() {
        assert_eq!(on_ok(host, "hostname").trim(), *host);
        on_ok(host, "test -s /etc/sysctl.d/99-kubernetes.conf && test -s /etc/modules-load.d/kubernetes.conf");
        let hosts = on_ok(host, "cat /etc/hosts");
        assert!(
            hosts.contains("# Ansible inventory hosts BEGIN"),
            "{host} /etc/hosts:\n{hosts}"
        );
        assert!(
            hosts.contains(&format!("10.77.0.{} ", 11 + k))
                || hosts.contains(&format!("10.77.0.{}\t", 11 + k)),
            "{hosts}"
        );
        assert_eq!(
            on_ok(host, "systemctl is-active containerd").trim(),
            "active"
        );
        let images = on_ok(host, "ctr -n k8s.io images ls -q");
        assert!(
            images.contains("docker.io/ksinstall/busybox:1.0"),
            "{host} images: {images}"
        );
        // The NFS class's client, from the bundle (the hosts are minimal).
        let nfs = on_ok(host, "dpkg-query -W -f='${Status}' nfs-common");
        assert_eq!(nfs.trim(), "install ok installed", "{host}");
        // The host's own apt sources were not touched.
        on_ok(
            host,
            "! grep -rqs ksinstall /etc/apt/sources.list /etc/apt/sources.list.d",
        );
    }
}

fn check_etcd(members: usize) {
    let health = on_ok("node1", &format!("ETCDCTL_API=3 etcdctl --endpoints=https://10.77.0.11:2379 {ETCD_TLS} endpoint health --cluster 2>&1"));
    assert_eq!(health.matches("is healthy").count(), members, "{health}");
    let list = on_ok(
        "node1",
        &format!(
            "ETCDCTL_API=3 etcdctl --endpoints=https://10.77.0.11:2379 {ETCD_TLS} member list"
        ),
    );
    assert_eq!(
        list.lines().filter(|l| l.contains("started")).count(),
        members,
        "{list}"
    );
    // Without a client certificate the server refuses us: TLS is enforced.
    let anon = on("node1", "ETCDCTL_API=3 etcdctl --endpoints=https://10.77.0.11:2379 --cacert=/etc/ssl/etcd/ssl/ca.pem --command-timeout=3s endpoint health");
    assert!(
        !anon.status.success(),
        "etcd answered without a client certificate"
    );
}

fn check_load_balancer() {
    for host in ["node2", "node3"] {
        assert_eq!(
            on_ok(host, "systemctl is-active haproxy").trim(),
            "active",
            "{host}"
        );
        let listening = on_ok(host, "ss -Htln");
        assert!(
            listening.contains(":6443"),
            "{host} does not listen on 6443:\n{listening}"
        );
    }
}

/// `--serve-bundle`: every host got its part over HTTP, this machine sent
/// each file at most twice, every bundle file the phases put on a host was
/// copied from the host's cache (none uploaded), and no relay is left.
fn served_not_pushed(s: &Setup, out: &str) {
    let line = (out.lines())
        .find(|l| l.starts_with("bundle served to 3 hosts"))
        .unwrap_or_else(|| panic!("no distribution figures:\n{out}"));
    let ratio: f64 = (line.rsplit_once(" MB from this machine (").map(|(_, r)| r))
        .and_then(|r| r.split_once('x'))
        .and_then(|(x, _)| x.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        ratio <= 2.0,
        "this machine sent more than twice the bundle: {line}"
    );
    let logs = s.installer.join("logs");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("Install["))
        .max()
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    let copied = log.matches("copy from the host's cache").count();
    // Each host's apt index is made for it here (small, not a bundle file).
    let index = ["/Packages ", "/Packages.gz ", "/Release "];
    let pushed: Vec<&str> = (log.lines())
        .filter(|l| l.contains("] upload ") && l.contains("/opt/ksinstall/repo/"))
        .filter(|l| !index.iter().any(|i| l.contains(i)))
        .collect();
    assert!(
        copied > 0,
        "nothing was taken from the hosts' caches:\n{line}"
    );
    assert!(
        pushed.is_empty(),
        "bundle files pushed over SSH: {pushed:?}"
    );
    for h in ["node1", "node2", "node3"] {
        on_ok(
            h,
            "! pgrep -f '[k]sinstall-relay serve' && test -n \"$(ls /var/lib/ksinstall/cas)\"",
        );
    }
}

/// Runs an install in the background, cuts `victim`'s link once the run
/// pauses after phase `after`, and returns the run's output.
fn install_with_cut(s: &Setup, after: &str, victim: &str) -> (Option<i32>, String) {
    let pause = work_dir().join("pause");
    std::fs::write(&pause, "").unwrap();
    let spec = format!("{after}:{}", pause.display());
    // Up to loadbalancer: this bundle has no Kubernetes, and preflight
    // refuses a run that would need kubeadm (KubeBinaries).
    let args = install_args(s, &["--until", "loadbalancer"]);
    let mut child = Command::new("timeout")
        .args(["-k", "10", "600", "ip"])
        .args(&args)
        .env("KSINSTALL_PAUSE_AFTER", &spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(ROOT)
        .spawn()
        .expect("spawn install");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("paused after phase") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let paused = rx.recv_timeout(Duration::from_secs(300)).is_ok();
    if paused {
        lab(&["cut", victim]);
    }
    std::fs::remove_file(&pause).ok();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        e.read_to_string(&mut stderr).ok();
    }
    let status = child.wait().expect("install ends");
    let out = reader.join().unwrap();
    assert!(paused, "the run never paused after {after}:\n{out}{stderr}");
    (status.code(), format!("{out}{stderr}"))
}

/// Runs an install and sends it SIGINT as soon as phase `phase` begins
/// (its heading is on the screen, its first commands in flight); returns
/// the run's exit code and output.
fn install_with_sigint(s: &Setup, phase: &str, until: &str) -> (Option<i32>, String) {
    let args = install_args(s, &["--until", until]);
    // Not under `timeout`, which would pass a SIGINT on twice (to the child
    // and to its group): `ip netns exec` execs ksinstall, so the child's pid
    // is ksinstall's; the wait below is bounded instead.
    let mut child = Command::new("ip")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(ROOT)
        .spawn()
        .expect("spawn install");
    let (tx, rx) = mpsc::channel();
    let heading = format!("== {phase}:");
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|stream| {
        let (tx, heading) = (tx.clone(), heading.clone());
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if line.starts_with(&heading) {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    })
    .collect();
    let began = rx.recv_timeout(Duration::from_secs(300)).is_ok();
    if began {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on the pid of our own child, which we have not
        // waited for yet (so the pid is still its).
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            break child.wait().expect("killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out: String = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(began, "phase {phase} never began:\n{out}");
    (status.code(), out)
}

fn drive_install_sh(s: &Setup) {
    // The legacy entry point, on a pty (util-linux `script`), answering the
    // menu with 2 (Multi-node) and the storage question with yes.
    let cmd = format!(
        "ip netns exec lab {}/scripts/install.sh",
        s.installer.display()
    );
    let mut child = Command::new("timeout")
        .args(["-k", "10", "600", "script", "-qefc", &cmd, "/dev/null"])
        .env("TERM", "dumb")
        .env(
            "KSINSTALL_ARGS",
            format!(
                "--bundle {} --known-hosts {} --ignore-errors BundleMissing,KubeSphereImage,StorageImage,Disk --until loadbalancer",
                s.bundle.display(),
                s.known_hosts.display()
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().unwrap();
    // Typed answers wait in the pty until the script reads them.
    stdin.write_all(b"2\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"yes\n").unwrap();
    drop(stdin);
    let start = Instant::now();
    let out = child.wait_with_output().expect("install.sh ends");
    let all = text(&out);
    assert!(
        all.contains("KubeSphere Installer Menu") && all.contains("*   2) Multi-node"),
        "{all}"
    );
    assert!(
        all.contains("Have you configured storage parameters in conf/vars.yml yet?"),
        "{all}"
    );
    assert!(
        all.contains("1. Initiating Environment") && all.contains("successsful!"),
        "{all}"
    );
    assert!(
        out.status.success(),
        "install.sh exit {:?} after {:?}:\n{all}",
        out.status.code(),
        start.elapsed()
    );
    let logs: Vec<_> = std::fs::read_dir(s.installer.join("logs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(
        logs.iter()
            .any(|e| e.file_name().to_string_lossy().starts_with("Install[")),
        "no logs/Install[...].log"
    );
}

#[test]
fn offline_multi_node_install_on_the_lab() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the lab e2e as root"
        );
        eprintln!("skipped: the lab needs root");
        return;
    }
    let t0 = Instant::now();
    let s = prepare(false);
    let t_prepared = t0.elapsed();

    // The bundle served, not pushed: the hosts fetch it over HTTP from
    // here and from each other, and the phases copy it from their caches.
    let first = install(&s, &["--until", "loadbalancer", "--serve-bundle"], &[]);
    let out = text(&first);
    assert!(first.status.success(), "first install failed:\n{out}");
    assert!(out.contains("Stopped after phase 'loadbalancer'"), "{out}");
    served_not_pushed(&s, &out);
    check_hosts_are_prepared();
    check_etcd(1);
    check_load_balancer();
    let t_first = t0.elapsed();

    let second = install(&s, &["--until", "loadbalancer"], &[]);
    let out2 = text(&second);
    assert!(second.status.success(), "second install failed:\n{out2}");
    assert!(
        out2.contains(" changed=0 "),
        "a second run must change nothing:\n{out2}"
    );

    // A worker's link cut between two phases: it alone fails, clearly.
    std::fs::remove_file(s.installer.join("state/install.json")).ok();
    let (code, out3) = install_with_cut(&s, "os", "node3");
    assert_eq!(code, Some(1), "{out3}");
    assert!(out3.contains("host node3"), "{out3}");
    assert!(
        !out3.contains("host node2") && !out3.contains("host node1"),
        "only node3 fails:\n{out3}"
    );
    lab(&["revive", "node3"]);
    let resumed = install(&s, &["--resume", "--until", "loadbalancer"], &[]);
    let out4 = text(&resumed);
    assert!(resumed.status.success(), "resume failed:\n{out4}");
    let state = std::fs::read_to_string(s.installer.join("state/install.json")).unwrap();
    assert!(state.contains("node3"), "{state}");
    check_hosts_are_prepared();

    drive_install_sh(&s);
    let t_runs = t0.elapsed();

    // Three etcd members on fresh hosts, the first run stopped by Ctrl-C
    // while it installs packages: the commands in flight finish, nothing
    // new starts, what finished is saved, exit 130; --resume completes it
    // and a run after that changes nothing.
    let s3 = prepare(true);
    let (code, out5) = install_with_sigint(&s3, "packages", "etcd");
    assert_eq!(code, Some(130), "{out5}");
    assert!(out5.contains("Interrupted in phase packages"), "{out5}");
    assert!(!out5.contains("[ERROR"), "a stop is not an error:\n{out5}");
    let state = std::fs::read_to_string(s3.installer.join("state/install.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["done"]["os"].as_array().map(Vec::len),
        Some(3),
        "{state}"
    );
    assert!(state["done"].get("etcd").is_none(), "{state}");
    let three = install(&s3, &["--resume", "--until", "etcd"], &[]);
    assert!(
        three.status.success(),
        "three-member install failed:\n{}",
        text(&three)
    );
    check_etcd(3);
    let again = install(&s3, &["--until", "etcd"], &[]);
    let out6 = text(&again);
    assert!(
        again.status.success() && out6.contains(" changed=0 "),
        "after the resume a run must change nothing:\n{out6}"
    );

    lab(&["down"]);
    eprintln!(
        "e2e timings: prepared {:?}, first install done {:?}, all runs {:?}, total {:?}",
        t_prepared,
        t_first,
        t_runs,
        t0.elapsed()
    );
}
