//! An upgrade on a real cluster on the lab: v1.34 installed from its Go
//! modules' build, then `scripts/upgrade.sh` to v1.35 (built the same way)
//! with a web service asked every second from the taskbox all along; the
//! failed requests are counted. Then a second upgrade changes nothing, an
//! install with the new conf and bundle changes nothing either, and an
//! upgrade that skips a minor is refused before any host changes.
//!
//! Needs root and both builds: KUBE_OUT (v1.34) and KUBE_OUT_NEXT (v1.35,
//! `scripts/kube/build.sh v1.35.4 DIR`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod lab_support;

use lab_support::cluster::{can_run, prepare, taskbox, Cluster, Layout, BIN, BUSYBOX};
use lab_support::{lab, lab_dir, run, text};

/// The target: scripts/kube/versions.sh's UPGRADE_VERSION.
fn next_version() -> String {
    let pins = std::fs::read_to_string(lab_support::ROOT.to_string() + "/scripts/kube/versions.sh")
        .unwrap();
    pins.lines()
        .find_map(|l| l.strip_prefix("UPGRADE_VERSION="))
        .expect("UPGRADE_VERSION= in scripts/kube/versions.sh")
        .trim()
        .to_string()
}

/// node1 master + etcd, node2 and node3 workers.
const LAYOUT: Layout = Layout {
    hosts: 3,
    masters: 1,
    dir: "/var/tmp/ksinstall-e2e-upgrade",
};

fn next_out(next: &str) -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var("KUBE_OUT_NEXT")
            .unwrap_or_else(|_| format!("/var/cache/ksinstall/kube-out/{next}")),
    );
    if p.join("bin/kubelet").exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the upgrade e2e with the {next} build at {} (scripts/kube/build.sh {next} DIR)",
        p.display()
    );
    eprintln!("skipped: needs the {next} build at {}", p.display());
    None
}

/// A Deployment of two busybox web servers (kept apart where they can be)
/// behind NodePort 30090, with a disruption budget of one.
const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 100\n            podAffinityTerm:\n              topologyKey: kubernetes.io/hostname\n              labelSelector: {matchLabels: {app: web}}\n      containers:\n      - name: web\n        image: BUSYBOX\n        imagePullPolicy: Never\n        command: [\"sh\", \"-c\", \"mkdir -p /www && echo hello > /www/index.html && exec busybox httpd -f -p 8080 -h /www\"]\n        readinessProbe:\n          httpGet: {path: /, port: 8080}\n          periodSeconds: 1\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n    nodePort: 30090\n";

fn asked(url: &str) -> bool {
    let o = taskbox(10, &["curl", "-sS", "--max-time", "2", url]);
    String::from_utf8_lossy(&o.stdout).trim() == "hello"
}

/// Asks the service once a second until stopped: (asked, failed).
struct Prober {
    stop: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    handle: std::thread::JoinHandle<()>,
}

fn probe(url: &'static str) -> Prober {
    let stop = Arc::new(AtomicBool::new(false));
    let asked_n = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let (s, a, f) = (stop.clone(), asked_n.clone(), failed.clone());
    let handle = std::thread::spawn(move || {
        // Bounded: an upgrade that hangs is ended by its own time limit.
        for _ in 0..3600 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            let t = Instant::now();
            a.fetch_add(1, Ordering::Relaxed);
            if !asked(url) {
                f.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
        }
    });
    Prober {
        stop,
        asked: asked_n,
        failed,
        handle,
    }
}

fn set_version(c: &Cluster, v: &str) {
    let path = c.installer.join("conf/vars.yml");
    let vars = std::fs::read_to_string(&path).unwrap();
    let vars: String = vars
        .lines()
        .map(|l| match l.starts_with("kube_version:") {
            true => format!("kube_version: {v}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&path, vars).unwrap();
}

#[test]
fn upgrade_one_minor_with_the_service_up() {
    if !can_run() {
        return;
    }
    let next_v = next_version();
    let next_v = next_v.as_str();
    let Some(next) = next_out(next_v) else {
        return;
    };
    let c = prepare(&LAYOUT);
    let first = c.install();
    assert!(first.status.success(), "install failed:\n{}", text(&first));
    c.wait("all nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    c.apply(&WEB.replace("BUSYBOX", BUSYBOX));
    c.wait("the web service answers", Duration::from_secs(120), |_| {
        asked("http://10.77.0.11:30090/")
            .then_some(())
            .ok_or(String::new())
    });

    // The new version's bundle, from the same packages and the v1.35 build.
    set_version(&c, next_v);
    let bundle = c.dir.join("bundle-next");
    let _ = std::fs::remove_dir_all(&bundle);
    let o = run(
        900,
        BIN,
        &[
            "bundle",
            "build",
            "--conf",
            c.installer.join("conf").to_str().unwrap(),
            "--from",
            c.dir.join("debs").to_str().unwrap(),
            "--from",
            next.to_str().unwrap(),
            "--allow-missing",
            "--extra-image",
            c.dir.join("images/busybox.tar").to_str().unwrap(),
            "-o",
            bundle.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "bundle build failed:\n{}", text(&o));

    // Two minors at once are refused before any host changes.
    set_version(&c, "v1.36.3");
    let skip = c.ks(
        1800,
        &["upgrade", "--yes", "--bundle", bundle.to_str().unwrap()],
    );
    let out = text(&skip);
    assert!(
        !skip.status.success(),
        "a skipped minor must be refused:\n{out}"
    );
    assert!(
        out.contains("SkipMinor") && out.contains("v1.35.x"),
        "the refusal names the minor to go through:\n{out}"
    );
    set_version(&c, next_v);

    let prober = probe("http://10.77.0.11:30090/");
    let t = Instant::now();
    let args = format!(
        "--known-hosts {} --bundle {}",
        lab_dir().join("known_hosts").display(),
        bundle.display()
    );
    let cmd = format!(
        "printf 'maybe\\nyes\\n' | {}",
        c.installer.join("scripts/upgrade.sh").display()
    );
    let up = run(
        2400,
        "ip",
        &["netns", "exec", "lab", "sh", "-c", &cmd],
        &[("KSINSTALL_ARGS", &args)],
    );
    let upgrade_s = t.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    prober.stop.store(true, Ordering::Relaxed);
    prober.handle.join().unwrap();
    let (n, failed) = (
        prober.asked.load(Ordering::Relaxed),
        prober.failed.load(Ordering::Relaxed),
    );
    let out = text(&up);
    assert!(up.status.success(), "upgrade failed:\n{out}");
    assert!(
        out.contains(&format!("k8s_version: v1.34.4 to {next_v}"))
            && out.contains("Please confirm:  (yes/no)"),
        "the legacy table and prompt:\n{out}"
    );
    assert!(
        std::fs::read_dir(c.installer.join("logs"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("Upgrade[")),
        "the legacy log name"
    );
    c.wait(
        "all nodes Ready at the new version",
        Duration::from_secs(120),
        |c| {
            let s = c.jsonpath(&[
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.status.nodeInfo.kubeletVersion} {end}",
            ])?;
            let all = s.split_whitespace().filter(|v| *v == next_v).count() == 3;
            c.nodes_ready(3)?;
            all.then_some(()).ok_or(s)
        },
    );
    let version = c.kubectl_ok(&["get", "--raw", "/version"]);
    assert!(
        version.contains(&format!("\"gitVersion\": \"{next_v}\"")),
        "{version}"
    );
    c.wait("kube-system pods Running", Duration::from_secs(300), |c| {
        c.kube_system_running(9)
    });
    c.wait("CoreDNS on two nodes", Duration::from_secs(60), |c| {
        c.coredns_spread()
    });
    c.show();
    eprintln!(
        "upgrade e2e: v1.34.4 -> {next_v} in {upgrade_s:?}; {failed} of {n} requests (one a second) failed"
    );
    assert!(n > 30, "the prober ran: {n}");
    assert!(
        failed * 100 <= n * 2,
        "the service must stay up through the upgrade: {failed} of {n} requests failed"
    );

    // A second upgrade changes nothing; nor does an install of the new conf.
    let again = c.ks(
        1800,
        &["upgrade", "--yes", "--bundle", bundle.to_str().unwrap()],
    );
    let out = text(&again);
    assert!(again.status.success(), "second upgrade failed:\n{out}");
    assert!(out.contains("nothing to upgrade"), "{out}");
    let install = c.ks(
        1800,
        &[
            "install",
            "--mode",
            "multi-node",
            "--yes",
            "--bundle",
            bundle.to_str().unwrap(),
            "--ignore-errors",
            "KubeSphereImage,StorageImage,Disk",
        ],
    );
    let out = text(&install);
    assert!(
        install.status.success(),
        "install after the upgrade failed:\n{out}"
    );
    assert!(
        out.contains(" changed=0 "),
        "an install of the upgraded conf must change nothing:\n{out}"
    );
    lab(&["down"]);
}
