//! A real cluster on the lab, shared by the cluster end-to-end tests: the
//! offline bundle of Kubernetes built from its Go modules, the installer
//! directory for a layout of lab hosts, `ksinstall install` from the
//! taskbox side, and kubectl with the fetched admin kubeconfig.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use super::{is_root, lab, lab_dir, run, text, ROOT};

pub const BIN: &str = env!("CARGO_BIN_EXE_ksinstall");
pub const KUBE_VERSION: &str = "v1.34.4";

/// The version the cluster e2e installs: KUBE_VERSION, or the environment's
/// `E2E_KUBE_VERSION` (with KUBE_OUT a build of it) to run them at another.
pub fn kube_version() -> String {
    std::env::var("E2E_KUBE_VERSION").unwrap_or_else(|_| KUBE_VERSION.to_string())
}
/// A busybox image the bundle carries (scripts/lab/busybox-image.sh).
pub const BUSYBOX: &str = "docker.io/ksinstall/busybox:1.0";

pub fn kube_out() -> PathBuf {
    PathBuf::from(
        std::env::var("KUBE_OUT")
            .unwrap_or_else(|_| format!("/var/cache/ksinstall/kube-out/{}", kube_version())),
    )
}

/// Root and the Kubernetes build, or (outside CI) a note and `false`.
pub fn can_run() -> bool {
    if is_root() && kube_out().join("bin/kubeadm").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the cluster e2e as root with the Kubernetes build at {} (scripts/kube/build.sh)",
        kube_out().display()
    );
    eprintln!(
        "skipped: needs root and {} (scripts/kube/build.sh {} DIR)",
        kube_out().display(),
        kube_version()
    );
    false
}

/// The taskbox side: a command in the lab's network namespace.
pub fn taskbox(limit_s: u64, args: &[&str]) -> Output {
    let mut a = vec!["netns", "exec", "lab"];
    a.extend_from_slice(args);
    run(limit_s, "ip", &a, &[])
}

pub struct Cluster {
    pub dir: PathBuf,
    pub installer: PathBuf,
    pub bundle: PathBuf,
    pub kubectl: String,
    pub kubeconfig: String,
}

/// Which lab hosts do what: `masters` are also the etcd members, the
/// others workers.
pub struct Layout {
    pub hosts: usize,
    pub masters: usize,
    /// Where the installer and bundle go (`E2E_CLUSTER_DIR` overrides).
    pub dir: &'static str,
}

impl Layout {
    fn inventory_groups(&self) -> String {
        let names =
            |r: std::ops::Range<usize>| -> String { r.map(|k| format!("node{k}\n")).collect() };
        let masters = names(1..self.masters + 1);
        let workers = names(self.masters + 1..self.hosts + 1);
        format!("[kube-master]\n{masters}\n[kube-node]\n{workers}\n[etcd]\n{masters}\n")
    }
}

/// Fresh lab hosts, the offline bundle and an installer directory whose
/// hosts.ini has the layout's groups.
pub fn prepare(layout: &Layout) -> Cluster {
    disk_room();
    lab(&["up", &layout.hosts.to_string(), "--systemd", "--force"]);
    let dir = PathBuf::from(std::env::var("E2E_CLUSTER_DIR").unwrap_or_else(|_| layout.dir.into()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = kube_out();
    let o = run(
        1200,
        &format!("{ROOT}/scripts/lab/prepare-offline.sh"),
        &[dir.to_str().unwrap(), BIN, out.to_str().unwrap()],
        &[("KUBE_VERSION", &kube_version())],
    );
    assert!(o.status.success(), "prepare-offline failed:\n{}", text(&o));
    let hosts = dir.join("installer/conf/hosts.ini");
    let inv = std::fs::read_to_string(&hosts).unwrap();
    // Keep the [all] section (addresses, logins); replace the groups.
    let all_end = inv
        .find("\n[kube-master]")
        .expect("hosts.ini has [kube-master]");
    let tail = &inv[all_end..];
    let after = tail
        .find("\n[k8s-cluster:children]")
        .expect("hosts.ini has [k8s-cluster:children]");
    let inv = format!(
        "{}\n{}{}",
        &inv[..all_end],
        layout.inventory_groups(),
        &tail[after + 1..]
    );
    std::fs::write(&hosts, inv).unwrap();
    let installer = dir.join("installer");
    Cluster {
        kubeconfig: installer.join("kubesphere/config").display().to_string(),
        installer,
        bundle: dir.join("bundle"),
        kubectl: out.join("bin/kubectl").display().to_string(),
        dir,
    }
}

/// The lab's kubelets keep their images and pods on this machine's disk and
/// evict pods when under 15 % of it is free (imagefs.available): a clear
/// stop here rather than pods evicted at random later.
fn disk_room() {
    let dir = lab_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let o = run(
        30,
        "df",
        &["-B1", "--output=size,avail", dir.to_str().unwrap()],
        &[],
    );
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    let n: Vec<f64> = t
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if let [size, avail] = n[..] {
        assert!(
            avail / size > 0.17,
            "{}: {:.0} GB free of {:.0} GB; the lab's kubelets evict pods under 15 %: free some space first",
            dir.display(),
            avail / 1e9,
            size / 1e9
        );
    }
}

impl Cluster {
    /// `ksinstall install` from the taskbox. The ks-installer image cannot
    /// be built here, and the lab hosts see this machine's disk (whose free
    /// space the cluster's own images lower): those two named preflight
    /// errors are ignored.
    pub fn install(&self) -> Output {
        let conf = self.installer.join("conf");
        let known = lab_dir().join("known_hosts");
        taskbox(
            1800,
            &[
                BIN,
                "install",
                "--mode",
                "multi-node",
                "--yes",
                "--conf",
                conf.to_str().unwrap(),
                "--bundle",
                self.bundle.to_str().unwrap(),
                "--known-hosts",
                known.to_str().unwrap(),
                "--ignore-errors",
                "KubeSphereImage,StorageImage,Disk",
            ],
        )
    }

    /// `ksinstall ARGS --conf … --known-hosts …` from the taskbox side,
    /// bounded by `limit_s`.
    pub fn ks(&self, limit_s: u64, args: &[&str]) -> Output {
        let conf = self.installer.join("conf");
        let known = lab_dir().join("known_hosts");
        let mut a = vec![BIN];
        a.extend_from_slice(args);
        a.extend([
            "--conf",
            conf.to_str().unwrap(),
            "--known-hosts",
            known.to_str().unwrap(),
        ]);
        taskbox(limit_s, &a)
    }

    /// A second `install` succeeds and changes nothing.
    pub fn rerun_changes_nothing(&self) {
        let second = self.install();
        let out = text(&second);
        assert!(second.status.success(), "second install failed:\n{out}");
        assert!(
            out.contains(" changed=0 "),
            "a second run must change nothing:\n{out}"
        );
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        let mut a = vec![self.kubectl.as_str(), "--kubeconfig", &self.kubeconfig];
        a.extend_from_slice(args);
        taskbox(120, &a)
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(o.status.success(), "kubectl {args:?}:\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `kubectl apply` of `yaml`, or its error (the cluster's words).
    pub fn try_apply(&self, yaml: &str) -> Result<(), String> {
        let f = self.dir.join(format!("apply-{}.yaml", yaml.len()));
        std::fs::write(&f, yaml).unwrap();
        let o = self.kubectl(&["apply", "-f", f.to_str().unwrap()]);
        o.status.success().then_some(()).ok_or_else(|| text(&o))
    }

    pub fn apply(&self, yaml: &str) {
        let f = self.dir.join(format!("apply-{}.yaml", yaml.len()));
        std::fs::write(&f, yaml).unwrap();
        self.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    }

    /// Polls `check` every 2 s until it returns Ok or `limit` passes.
    pub fn wait(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&Cluster) -> Result<(), String>,
    ) {
        let t0 = Instant::now();
        loop {
            match check(self) {
                Ok(()) => {
                    eprintln!("{what}: after {:?}", t0.elapsed());
                    return;
                }
                Err(e) if t0.elapsed() > limit => panic!("{what}: not after {limit:?}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }

    pub fn jsonpath(&self, args: &[&str]) -> Result<String, String> {
        let o = self.kubectl(args);
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(text(&o))
        }
    }

    /// `name=True|False|Unknown` of every node's Ready condition.
    pub fn node_ready(&self) -> Result<Vec<String>, String> {
        let s = self.jsonpath(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}",
        ])?;
        Ok(s.split_whitespace().map(str::to_string).collect())
    }

    /// Ok when exactly `n` nodes are Ready.
    pub fn nodes_ready(&self, n: usize) -> Result<(), String> {
        let all = self.node_ready()?;
        let ready = all.iter().filter(|w| w.ends_with("=True")).count();
        (ready == n).then_some(()).ok_or(all.join(" "))
    }

    /// Ok when at least `min` kube-system pods exist and all are Running
    /// (the storage provisioner's image, openebs for KubeSphere 3.x local
    /// volumes, is not built here: that pod alone may wait for its image).
    pub fn kube_system_running(&self, min: usize) -> Result<(), String> {
        let s = self.jsonpath(&[
            "-n",
            "kube-system",
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}",
        ])?;
        let all: Vec<&str> = s
            .split_whitespace()
            .filter(|p| !p.starts_with("openebs-localpv-provisioner-"))
            .collect();
        (all.len() >= min && all.iter().all(|p| p.ends_with("=Running")))
            .then_some(())
            .ok_or(s)
    }

    /// Ok when the Running CoreDNS replicas are on two nodes or more.
    pub fn coredns_spread(&self) -> Result<(), String> {
        let s = self.jsonpath(&[
            "-n",
            "kube-system",
            "get",
            "pods",
            "-l",
            "k8s-app=kube-dns",
            "--field-selector=status.phase=Running",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName} {end}",
        ])?;
        let nodes: std::collections::BTreeSet<&str> = s.split_whitespace().collect();
        (nodes.len() >= 2).then_some(()).ok_or(s.clone())
    }

    pub fn pod_phase(&self, name: &str, want: &str) -> Result<(), String> {
        let s = self.jsonpath(&["get", "pod", name, "-o", "jsonpath={.status.phase}"])?;
        (s == want).then_some(()).ok_or(s)
    }

    /// `kubectl get nodes -o wide` and `get pods -A -o wide`, for the log.
    pub fn show(&self) {
        eprintln!(
            "{}\n{}",
            self.kubectl_ok(&["get", "nodes", "-o", "wide"]),
            self.kubectl_ok(&["get", "pods", "-A", "-o", "wide"])
        );
    }
}

/// A pod on `node` serving `hello-from-NODE` on port 8080.
pub fn web_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: web\n    image: {BUSYBOX}\n    imagePullPolicy: Never\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo hello-from-{node} > /www/index.html && exec busybox httpd -f -p 8080 -h /www\"]\n"
    )
}
