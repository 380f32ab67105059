//! Day two on a real cluster on the lab: a worker added after the
//! install's join token is gone, through `scripts/add-nodes.sh`, touching
//! only the new host (and the others' /etc/hosts); then `scripts/uninstall.sh`
//! takes the cluster off every host, and the same hosts install again.
//!
//! Needs root and the Kubernetes build, like tests/e2e_cluster.rs.

use std::time::{Duration, Instant};

mod lab_support;

use lab_support::cluster::{can_run, prepare, Cluster, Layout, BUSYBOX};
use lab_support::{lab_dir, on, run, text};

/// node1 master + etcd, node2 a worker; node3 joins later.
const LAYOUT: Layout = Layout {
    hosts: 3,
    masters: 1,
    dir: "/var/tmp/ksinstall-e2e-day-two",
};

/// Runs one of the installer's scripts from the taskbox side with `stdin`
/// (`KSINSTALL_ARGS`: the lab's known_hosts; the bundle for add-nodes).
fn script(c: &Cluster, name: &str, stdin: &str) -> std::process::Output {
    let mut args = format!("--known-hosts {}", lab_dir().join("known_hosts").display());
    if name == "add-nodes.sh" {
        args.push_str(&format!(
            " --bundle {} --ignore-errors KubeSphereImage,StorageImage,Disk",
            c.bundle.display()
        ));
    }
    let cmd = format!(
        "printf '{stdin}' | {}",
        c.installer.join("scripts").join(name).display()
    );
    run(
        1800,
        "ip",
        &["netns", "exec", "lab", "sh", "-c", &cmd],
        &[("KSINSTALL_ARGS", &args)],
    )
}

fn set_workers(c: &Cluster, workers: &str) {
    let path = c.installer.join("conf/hosts.ini");
    let inv = std::fs::read_to_string(&path).unwrap();
    let start = inv.find("[kube-node]\n").unwrap() + "[kube-node]\n".len();
    let end = start + inv[start..].find("\n[").unwrap();
    let inv = format!("{}{workers}\n{}", &inv[..start], &inv[end..]);
    std::fs::write(&path, inv).unwrap();
}

fn on_ok(host: &str, script: &str) -> String {
    let o = on(host, script);
    assert!(o.status.success(), "{host}: {script}:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn add_a_worker_then_reset_and_install_again() {
    if !can_run() {
        return;
    }
    let c = prepare(&LAYOUT);
    set_workers(&c, "node2");
    let vars = c.installer.join("conf/vars.yml");
    let mut v = std::fs::read_to_string(&vars).unwrap();
    v.push_str("keep_backup_number: 2\n");
    std::fs::write(&vars, v).unwrap();
    let first = c.install();
    assert!(first.status.success(), "install failed:\n{}", text(&first));
    c.wait("2 nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(2)
    });

    // As 24 hours would: the install's bootstrap token is gone.
    on_ok(
        "node1",
        "for t in $(kubeadm token list -o jsonpath='{.token}{\" \"}'); do kubeadm token delete \"$t\" || exit 1; done; test -z \"$(kubeadm token list -o jsonpath='{.token}')\"",
    );
    set_workers(&c, "node2\nnode3");
    let t0 = Instant::now();
    let add = script(&c, "add-nodes.sh", "");
    let out = text(&add);
    assert!(add.status.success(), "add-nodes failed:\n{out}");
    eprintln!("add-nodes: {:?}", t0.elapsed());
    assert!(out.contains("New nodes to add: node3"), "{out}");
    // The new host alone gets the install; the others their /etc/hosts.
    for line in [
        "== os: OS preparation: hostname, swap, kernel modules, sysctl, /etc/hosts (3 hosts)",
        "== packages: OS packages, from the bundle's local repository or the hosts' own (1 host)",
        "== control-plane: control plane: kubeadm init on the first master, join the others (1 host)",
        "== workers: workers join (1 host)",
        "== network: ",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    assert!(
        out.contains("== network: ") && out.contains("(0 hosts)"),
        "{out}"
    );
    assert!(out.contains("Added 1 node(s): node3"), "{out}");
    // One line heads each phase (not also `os: 3 host(s)`).
    assert!(
        !out.lines()
            .any(|l| l.starts_with("os: ") || l.starts_with("workers: ")),
        "{out}"
    );
    let logs: Vec<String> = std::fs::read_dir(c.installer.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(logs.iter().any(|l| l.starts_with("Scale[")), "{logs:?}");
    c.wait("3 nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    let again = script(&c, "add-nodes.sh", "");
    assert!(
        again.status.success() && text(&again).contains("No new nodes"),
        "{}",
        text(&again)
    );

    // etcd backups: the members' timer is on; `etcd backup` takes one now
    // and copies it here; the member keeps the newest keep_backup_number.
    on_ok("node1", "systemctl is-active --quiet etcd-backup.timer && systemctl is-enabled --quiet etcd-backup.timer");
    let mut copies = Vec::new();
    for _ in 0..3 {
        let b = c.ks(600, &["etcd", "backup"]);
        let out = text(&b);
        assert!(b.status.success(), "etcd backup:\n{out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("copied to "))
            .expect(&out);
        let local = line["copied to ".len()..]
            .trim_end_matches(" (mode 0600)")
            .to_string();
        let sum = out
            .lines()
            .find_map(|l| l.strip_prefix("sha256 "))
            .expect(&out)
            .to_string();
        let data = std::fs::read(&local).unwrap();
        assert!(data.len() > 4096, "{local}: {} bytes", data.len());
        let meta = std::fs::metadata(&local).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        copies.push((local, sum));
    }
    eprintln!("etcd backups: {copies:?}");
    let kept = on_ok(
        "node1",
        "ls -1d /var/backups/kube_etcd/etcd-* | wc -l; for f in /var/backups/kube_etcd/etcd-*/snapshot.db; do ETCDCTL_API=3 etcdctl snapshot status \"$f\" >/dev/null || exit 1; done",
    );
    assert_eq!(kept.trim(), "2", "keep_backup_number: 2");

    // Certificates: every host's, from the hosts themselves.
    let certs = c.ks(600, &["certs", "check"]);
    let table = text(&certs);
    assert!(certs.status.success(), "certs check:\n{table}");
    eprintln!("{table}");
    for want in [
        "/etc/kubernetes/ssl/apiserver.crt",
        "/etc/kubernetes/admin.conf",
        "/etc/ssl/etcd/ssl/member-node1.pem",
        "/var/lib/kubelet/pki/kubelet-client-current.pem",
    ] {
        assert!(table.contains(want), "{want} not in:\n{table}");
    }
    assert!(
        table.lines().filter(|l| l.starts_with("node3 ")).count() >= 2,
        "{table}"
    );
    assert!(!table.contains("CertExpiry"), "{table}");

    // Renewal: new dates on kubeadm's and etcd's certificates (a worker's
    // etcd client certificate too), the cluster serving on them.
    let t0 = Instant::now();
    let renew = c.ks(600, &["certs", "renew"]);
    let out = text(&renew);
    assert!(renew.status.success(), "certs renew:\n{out}");
    eprintln!("certs renew: {:?}", t0.elapsed());
    let after = text(&c.ks(600, &["certs", "check"]));
    let expiry = |t: &str, host: &str, path: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("{host} ")) && l.contains(path))
            .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
    };
    for (host, path) in [
        ("node1", "/etc/kubernetes/ssl/apiserver.crt"),
        ("node1", "/etc/kubernetes/admin.conf"),
        ("node1", "/etc/ssl/etcd/ssl/member-node1.pem"),
        ("node2", "/etc/ssl/etcd/ssl/node-node2.pem"),
    ] {
        let (b, a) = (expiry(&table, host, path), expiry(&after, host, path));
        eprintln!("{host} {path}: {b:?} -> {a:?}");
        assert!(
            b.is_some() && a.is_some() && b != a,
            "{host} {path}: {b:?} -> {a:?}\n{after}"
        );
    }
    c.wait(
        "3 nodes Ready after the renewal",
        Duration::from_secs(120),
        |c| c.nodes_ready(3),
    );

    // Restore: a namespace made, a backup taken, the namespace deleted; the
    // restore brings it back, the nodes stay Ready, the data the member
    // held is beside its data directory.
    c.kubectl_ok(&["create", "namespace", "restore-probe"]);
    let backup = c.ks(600, &["etcd", "backup"]);
    let out = text(&backup);
    assert!(backup.status.success(), "etcd backup:\n{out}");
    let copy = out
        .lines()
        .find_map(|l| l.strip_prefix("copied to "))
        .and_then(|l| l.strip_suffix(" (mode 0600)"))
        .unwrap_or_else(|| panic!("no copy named in:\n{out}"))
        .to_string();
    c.kubectl_ok(&["delete", "namespace", "restore-probe", "--wait=true"]);
    // A damaged copy is refused before etcd stops, and leaves no copy of
    // the cluster's Secrets on the members.
    let bad = format!("{copy}.damaged");
    let bytes = std::fs::read(&copy).expect("the backup copy");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("a damaged copy");
    let refused = c.ks(600, &["etcd", "restore", &bad, "--yes"]);
    let out = text(&refused);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "etcd restore of a damaged copy:\n{out}"
    );
    assert!(out.contains("the snapshot is whole"), "{out}");
    on_ok(
        "node1",
        "systemctl is-active --quiet etcd && test ! -e /var/tmp/ksinstall-restore.db",
    );
    let t0 = Instant::now();
    let restored = c.ks(600, &["etcd", "restore", &copy, "--yes"]);
    let out = text(&restored);
    assert!(restored.status.success(), "etcd restore:\n{out}");
    eprintln!("etcd restore: {:?}", t0.elapsed());
    c.wait(
        "the deleted namespace back",
        Duration::from_secs(120),
        |c| {
            c.jsonpath(&["get", "namespace", "restore-probe", "-o", "name"])
                .map(|_| ())
        },
    );
    c.wait(
        "3 nodes Ready after the restore",
        Duration::from_secs(120),
        |c| c.nodes_ready(3),
    );
    on_ok(
        "node1",
        "ls -d /var/lib/etcd.restore-* && test ! -e /var/tmp/ksinstall-restore.db",
    );

    // remove-node: a pod no controller manages stops the drain; --force
    // deletes it; a Deployment's pod starts elsewhere; node3 is left clean.
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\nspec:\n  nodeName: node3\n  containers:\n  - name: s\n    image: {BUSYBOX}\n    imagePullPolicy: Never\n    command: [\"sleep\", \"3600\"]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: moved\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: moved}}}}\n  template:\n    metadata: {{labels: {{app: moved}}}}\n    spec:\n      affinity: {{nodeAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{{weight: 100, preference: {{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [node3]}}]}}}}]}}}}\n      containers:\n      - name: s\n        image: {BUSYBOX}\n        imagePullPolicy: Never\n        command: [\"sleep\", \"3600\"]\n"
    ));
    c.wait("pods on node3 Running", Duration::from_secs(120), |c| {
        c.pod_phase("bare", "Running")?;
        let s = c.jsonpath(&[
            "get",
            "pods",
            "-l",
            "app=moved",
            "-o",
            "jsonpath={.items[*].spec.nodeName}={.items[*].status.phase}",
        ])?;
        (s == "node3=Running").then_some(()).ok_or(s)
    });
    let refused = c.ks(600, &["remove-node", "node3", "--yes"]);
    let out = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(
        out.contains("default/bare") && out.contains("remove-node --force"),
        "{out}"
    );
    let t0 = Instant::now();
    let removed = c.ks(600, &["remove-node", "node3", "--yes", "--force"]);
    let out = text(&removed);
    assert!(removed.status.success(), "remove-node --force:\n{out}");
    eprintln!("remove-node: {:?}", t0.elapsed());
    let nodes = c.kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert!(!nodes.contains("node3"), "{nodes}");
    on_ok("node3", "! systemctl is-active --quiet kubelet && test ! -e /etc/kubernetes && ! systemctl is-active --quiet haproxy && test -z \"$(ls -A /var/lib/kubelet 2>/dev/null)\"");
    c.wait(
        "the moved pod Running elsewhere",
        Duration::from_secs(120),
        |c| {
            let s = c.jsonpath(&[
                "get",
                "pods",
                "-l",
                "app=moved",
                "-o",
                "jsonpath={.items[*].spec.nodeName}={.items[*].status.phase}",
            ])?;
            (s.ends_with("=Running") && !s.starts_with("node3"))
                .then_some(())
                .ok_or(s)
        },
    );
    c.wait("2 nodes Ready", Duration::from_secs(60), |c| {
        c.nodes_ready(2)
    });

    // Reset: anything but `yes` changes nothing.
    let no = script(&c, "uninstall.sh", "no\\n");
    assert!(!no.status.success(), "{}", text(&no));
    assert!(
        text(&no).contains("Reset confirmation failed"),
        "{}",
        text(&no)
    );
    on_ok("node1", "test -f /etc/kubernetes/admin.conf");
    let t0 = Instant::now();
    let reset = script(&c, "uninstall.sh", "yes\\n");
    let out = text(&reset);
    assert!(reset.status.success(), "reset failed:\n{out}");
    eprintln!("reset: {:?}", t0.elapsed());
    for host in ["node1", "node2", "node3"] {
        on_ok(
            host,
            "! systemctl is-active --quiet kubelet && test ! -e /etc/kubernetes && test -z \"$(ls -A /var/lib/kubelet 2>/dev/null)\" \
             && test ! -e /usr/local/bin/kubeadm && ! grep -q 'Ansible inventory hosts BEGIN' /etc/hosts \
             && ! ip link show flannel.1 2>/dev/null && ! iptables-save | grep -q KUBE- \
             && test -z \"$(ctr -n k8s.io tasks ls -q)\"",
        );
    }
    on_ok("node1", "! systemctl is-active --quiet etcd && ls -d /var/lib/etcd.reset-* && test ! -e /var/lib/etcd");
    let kept = std::fs::read_dir(&c.installer)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("reset-"));
    let kept = kept.expect("state/ moved aside");
    assert!(c.installer.join(&kept).join("state").is_dir());
    assert!(!c.installer.join("state").exists());
    let second = script(&c, "uninstall.sh", "yes\\n");
    assert!(
        second.status.success() && text(&second).contains(" changed=0 "),
        "a second reset must change nothing:\n{}",
        text(&second)
    );

    // The same hosts install again.
    let t0 = Instant::now();
    let again = c.install();
    assert!(
        again.status.success(),
        "install after reset failed:\n{}",
        text(&again)
    );
    c.wait("3 nodes Ready again", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    eprintln!("install after reset, all Ready: {:?}", t0.elapsed());
    c.show();
}
