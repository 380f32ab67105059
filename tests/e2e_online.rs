//! An install without a bundle on the lab: the three hosts' apt sources
//! name a company mirror (here an HTTP server on the lab's own network
//! serving the Debian packages this test fetched), and `ksinstall install
//! --until loadbalancer` (the phases these packages allow) installs each
//! host's packages from it through the host's own apt; nothing of a bundle
//! is pushed. First the mirror's address is wrong: preflight names every
//! host and the source it cannot reach, exit 2, no host changed. Then the
//! install succeeds (etcd, containerd, haproxy running, the mirror's log
//! showing each host's downloads), and a second run changes nothing.
//!
//! Needs root (the lab); without root it says so and passes.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

mod lab_support;

use lab_support::{is_root, lab, lab_dir, on, run, text, ROOT};
const BIN: &str = env!("CARGO_BIN_EXE_ksinstall");
const HOSTS: [&str; 3] = ["node1", "node2", "node3"];

fn dir() -> PathBuf {
    PathBuf::from("/var/tmp/ksinstall-e2e-online")
}

/// The company mirror: an HTTP server in the lab's network namespace.
struct Mirror(Child);

impl Mirror {
    fn serve(root: &std::path::Path, log: &std::path::Path) -> Mirror {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                "lab",
                "python3",
                "-m",
                "http.server",
                "8000",
            ])
            .args(["--bind", "10.77.0.1", "--directory"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3's http.server");
        Mirror(child)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every host's apt reads only `line` (the operator's own sources).
fn sources(line: &str) {
    for h in HOSTS {
        let o = on(
            h,
            &format!("rm -f /etc/apt/sources.list.d/* && echo '{line}' > /etc/apt/sources.list"),
        );
        assert!(o.status.success(), "{h}: {}", text(&o));
    }
}

fn install(conf: &std::path::Path) -> Output {
    let known = lab_dir().join("known_hosts");
    run(
        900,
        "ip",
        &[
            "netns",
            "exec",
            "lab",
            BIN,
            "install",
            "--yes",
            "--until",
            "loadbalancer",
            "--conf",
            conf.to_str().unwrap(),
            "--known-hosts",
            known.to_str().unwrap(),
            "--ignore-errors",
            "KubeSphereImage,StorageImage,Disk",
        ],
        &[],
    )
}

#[test]
fn packages_from_the_hosts_own_repositories() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the lab tests as root"
        );
        eprintln!("not root: the lab cannot start; skipped");
        return;
    }
    let t0 = Instant::now();
    lab(&["up", "3", "--systemd", "--force"]);
    let d = dir();
    let o = run(
        900,
        &format!("{ROOT}/scripts/lab/prepare-offline.sh"),
        &[d.to_str().unwrap(), BIN],
        &[],
    );
    assert!(o.status.success(), "prepare-offline failed:\n{}", text(&o));
    let conf = d.join("installer/conf");
    let log = d.join("mirror.log");
    let _mirror = Mirror::serve(&d.join("bundle/debs"), &log);

    // The mirror's address wrong: every host named, nothing changed.
    sources("deb [trusted=yes] http://10.77.0.1:8001 ./");
    let o = install(&conf);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    // The same finding on every host is one line naming them all.
    let line = (out.lines())
        .find(|l| l.starts_with("[ERROR PackageSource]"))
        .unwrap_or_else(|| panic!("no PackageSource error:\n{out}"));
    assert!(
        line.contains("on 3 hosts (node1, node2, node3)")
            && line.contains("cannot reach http://10.77.0.1:8001 within 5 s"),
        "{line}"
    );
    for h in HOSTS {
        let o = on(
            h,
            "test ! -e /etc/sysctl.d/99-kubernetes.conf && ! dpkg -s containerd >/dev/null 2>&1",
        );
        assert!(
            o.status.success(),
            "{h} changed before the error: {}",
            text(&o)
        );
    }

    // The right address: each host's apt installs from the mirror.
    sources("deb [trusted=yes] http://10.77.0.1:8000 ./");
    let o = install(&conf);
    let out = text(&o);
    assert!(o.status.success(), "install failed:\n{out}");
    let served = std::fs::read_to_string(&log).unwrap();
    for h in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        assert!(
            served
                .lines()
                .any(|l| l.starts_with(h) && l.contains("GET /./containerd_")),
            "{h} did not fetch containerd from the mirror:\n{served}"
        );
    }
    let o = on(
        "node1",
        "systemctl is-active etcd containerd && ! test -e /opt/ksinstall/repo",
    );
    assert!(o.status.success(), "node1: {}", text(&o));
    let o = on(
        "node2",
        "systemctl is-active containerd haproxy && dpkg -s nfs-common >/dev/null",
    );
    assert!(o.status.success(), "node2: {}", text(&o));

    // A second run installs nothing and changes nothing.
    let o = install(&conf);
    let out = text(&o);
    assert!(o.status.success(), "second install failed:\n{out}");
    assert!(
        out.contains(" changed=0 "),
        "a second run must change nothing:\n{out}"
    );

    lab(&["down"]);
    eprintln!("online e2e: total {:?}", t0.elapsed());
}
