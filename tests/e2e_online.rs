//! An install without a bundle on the lab: the three hosts' apt sources
//! name a company mirror (an HTTP server on the lab's own network serving
//! the Debian packages this test fetched, and Kubernetes' binaries laid out
//! as dl.k8s.io and GitHub lay them out, each with its sha256 beside it),
//! and `ksinstall install --until loadbalancer --mirror k8s=… --mirror
//! github=…` (the phases these packages allow) installs each host's
//! packages through the host's own apt and has each host download and check
//! its binaries; nothing of a bundle is pushed. First the mirror's address
//! is wrong: preflight names every host and the source it cannot reach,
//! exit 2, no host changed. Then kubectl on the mirror does not match its
//! published sha256: every host refuses it, none keeps it. Then the install
//! succeeds (etcd, containerd, haproxy running, the mirror's log showing
//! each host's downloads, the binaries the mirror's), and a second run
//! changes nothing.
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
            "--mirror",
            "k8s=http://10.77.0.1:8000/k8s",
            "--mirror",
            "github=http://10.77.0.1:8000/github",
            "--insecure-mirror",
            "--ignore-errors",
            "KubeSphereImage,StorageImage,Disk",
        ],
        &[],
    )
}

/// The company's download mirror, as dl.k8s.io and GitHub lay it out, with
/// each file's sha256 beside it: kubeadm, kubelet and kubectl v1.28.2
/// (small stand-ins: these phases do not run them), crictl v1.28.0 and the
/// CNI plugins v1.3.0 as tarballs. Returns kubeadm's bytes.
fn download_mirror(root: &std::path::Path) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let put = |rel: &str, bytes: &[u8], sum_with_name: bool| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let hex = hex::encode(Sha256::digest(bytes));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let sum = match sum_with_name {
            true => format!("{hex}  {name}\n"),
            false => hex,
        };
        std::fs::write(root.join(format!("{rel}.sha256")), sum).unwrap();
    };
    let k8s = "k8s/release/v1.28.2/bin/linux/amd64";
    let mut kubeadm = Vec::new();
    for b in ["kubeadm", "kubelet", "kubectl"] {
        let body = format!("#!/bin/sh\necho {b} v1.28.2 from the mirror\n");
        put(&format!("{k8s}/{b}"), body.as_bytes(), false);
        if b == "kubeadm" {
            kubeadm = body.into_bytes();
        }
    }
    let tgz = |files: &[&str]| -> Vec<u8> {
        let src = root.join("tgz-src");
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(&src).unwrap();
        for f in files {
            std::fs::write(src.join(f), format!("#!/bin/sh\necho {f}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(src.join(f), mode).unwrap();
        }
        let out = root.join("out.tgz");
        let o = Command::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .args(files)
            .output()
            .unwrap();
        assert!(o.status.success(), "tar: {}", text(&o));
        std::fs::read(&out).unwrap()
    };
    put(
        "github/kubernetes-sigs/cri-tools/releases/download/v1.28.0/crictl-v1.28.0-linux-amd64.tar.gz",
        &tgz(&["crictl"]),
        true,
    );
    put(
        "github/containernetworking/plugins/releases/download/v1.3.0/cni-plugins-linux-amd64-v1.3.0.tgz",
        &tgz(&["bridge", "loopback", "host-local", "portmap"]),
        true,
    );
    kubeadm
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
    // flannel and KubeSphere 3.x: no calicoctl or Helm 2, whose upstreams
    // publish no checksum or are not mirrored here.
    let vars = std::fs::read_to_string(conf.join("vars.yml")).unwrap();
    let vars = format!("{vars}kube_network_plugin: flannel\nks_version: v3.4.1\n");
    std::fs::write(conf.join("vars.yml"), vars).unwrap();
    let root = d.join("mirror");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink(d.join("bundle/debs"), root.join("debs")).unwrap();
    let kubeadm = download_mirror(&root);
    let log = d.join("mirror.log");
    let _mirror = Mirror::serve(&root, &log);

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

    // The right address, but kubectl on the mirror is not what its
    // published sha256 says: no host installs it, each says why.
    sources("deb [trusted=yes] http://10.77.0.1:8000/debs ./");
    let kubectl_sum = root.join("k8s/release/v1.28.2/bin/linux/amd64/kubectl.sha256");
    let good_sum = std::fs::read_to_string(&kubectl_sum).unwrap();
    std::fs::write(&kubectl_sum, "0".repeat(64)).unwrap();
    let o = install(&conf);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("phase packages, host node2")
            && out.contains("kubectl from http://10.77.0.1:8000/k8s/release/v1.28.2/bin/linux/amd64/kubectl does not match the sha256 published at"),
        "{out}"
    );
    for h in HOSTS {
        let o = on(
            h,
            "test ! -e /usr/local/bin/kubectl && test ! -e /usr/local/bin/kubectl.part",
        );
        assert!(
            o.status.success(),
            "{h} kept a kubectl that does not match: {}",
            text(&o)
        );
    }

    // The checksum right: each host's apt installs from the mirror, and
    // each host downloads its binaries, checked.
    std::fs::write(&kubectl_sum, good_sum).unwrap();
    let o = install(&conf);
    let out = text(&o);
    assert!(o.status.success(), "install failed:\n{out}");
    let o = on(
        "node3",
        "cat /usr/local/bin/kubeadm && /usr/local/bin/crictl && test -x /opt/cni/bin/bridge",
    );
    assert!(o.status.success(), "node3: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(&*String::from_utf8_lossy(&kubeadm)),
        "node3's kubeadm is not the mirror's: {}",
        text(&o)
    );
    let served = std::fs::read_to_string(&log).unwrap();
    for h in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        assert!(
            served
                .lines()
                .any(|l| l.starts_with(h) && l.contains("GET /debs/./containerd_")),
            "{h} did not fetch containerd from the mirror:\n{served}"
        );
    }
    let o = on(
        "node1",
        "systemctl is-active etcd containerd && ! ls /opt/ksinstall/repo/*.deb 2>/dev/null | grep -q .",
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
