//! A real Kubernetes cluster on the lab, end to end: Kubernetes, etcd,
//! CoreDNS, flannel and the CNI plugins built from their Go modules
//! (`scripts/kube/build.sh`), an offline bundle of those plus Debian's
//! packages, and `ksinstall install` through every phase on three systemd
//! lab hosts (node1 master + etcd, node2/node3 workers). Then, from the
//! taskbox side with the fetched admin kubeconfig: every node Ready,
//! kube-system pods Running, CoreDNS answering from a pod, pods on the two
//! workers reaching each other (flannel VXLAN), a NodePort answering from
//! the taskbox, the default storage class binding a local volume mounted by
//! a pod, the KubeSphere objects accepted by the API server, and a second
//! run changing nothing.
//!
//! Needs root and the Kubernetes build (`KUBE_OUT`, default
//! `/var/cache/ksinstall/kube-out/v1.34.4`, made by `.ci/run`); without
//! either it says so and passes, under `CI` it fails.

use std::time::{Duration, Instant};

mod lab_support;

use lab_support::cluster::{can_run, prepare, taskbox, web_pod, Layout, BUSYBOX};
use lab_support::{lab, on, text};

/// node1 master + etcd, node2 and node3 workers.
const LAYOUT: Layout = Layout {
    hosts: 3,
    masters: 1,
    dir: "/var/tmp/ksinstall-e2e-cluster",
};

#[test]
fn a_real_cluster_on_the_lab() {
    if !can_run() {
        return;
    }
    let t0 = Instant::now();
    let started = std::time::SystemTime::now();
    let c = prepare(&LAYOUT);
    let t_install = Instant::now();
    // The ks-installer image cannot be built here: say so, install the rest.
    let first = c.install();
    let out = text(&first);
    assert!(first.status.success(), "install failed:\n{out}");
    assert!(
        out.contains("KubeSphere is NOT running") && !out.contains("Welcome to KubeSphere"),
        "the end of the run must not claim a console that is not up:\n{out}"
    );
    assert!(!c.installer.join("kubesphere/kubesphere_running").exists());
    let install_s = t_install.elapsed();

    c.wait("all nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    let ready_s = t_install.elapsed();
    c.wait("kube-system pods Running", Duration::from_secs(300), |c| {
        c.kube_system_running(9)
    });
    c.show();
    // CoreDNS does not stay on the first master alone.
    c.wait("CoreDNS on two nodes", Duration::from_secs(60), |c| {
        c.coredns_spread()
    });

    // DNS from a pod.
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dns-probe\nspec:\n  restartPolicy: Never\n  nodeName: node2\n  containers:\n  - name: probe\n    image: {BUSYBOX}\n    imagePullPolicy: Never\n    command: [\"sh\", \"-c\", \"for i in $(seq 1 30); do nslookup kubernetes.default.svc.cluster.local && exit 0; sleep 2; done; exit 1\"]\n"
    ));
    c.wait("CoreDNS answers a pod", Duration::from_secs(120), |c| {
        c.pod_phase("dns-probe", "Succeeded")
    });

    // A pod on each worker; each reaches the other across hosts.
    c.apply(&web_pod("web2", "node2"));
    c.apply(&web_pod("web3", "node3"));
    for p in ["web2", "web3"] {
        c.wait(&format!("{p} Running"), Duration::from_secs(120), |c| {
            c.pod_phase(p, "Running")
        });
    }
    let ip3 = c.kubectl_ok(&["get", "pod", "web3", "-o", "jsonpath={.status.podIP}"]);
    let ip2 = c.kubectl_ok(&["get", "pod", "web2", "-o", "jsonpath={.status.podIP}"]);
    let from2 = c.kubectl_ok(&[
        "exec",
        "web2",
        "--",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip3}:8080/"),
    ]);
    assert_eq!(from2.trim(), "hello-from-node3");
    let from3 = c.kubectl_ok(&[
        "exec",
        "web3",
        "--",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip2}:8080/"),
    ]);
    assert_eq!(from3.trim(), "hello-from-node2");

    // A NodePort answers from the taskbox, on every node.
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: web3\nspec:\n  type: NodePort\n  selector: {app: web3}\n  ports:\n  - port: 80\n    targetPort: 8080\n    nodePort: 30080\n");
    for ip in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        c.wait(
            &format!("NodePort on {ip}"),
            Duration::from_secs(60),
            |_| {
                let o = taskbox(
                    15,
                    &[
                        "curl",
                        "-sS",
                        "--max-time",
                        "5",
                        &format!("http://{ip}:30080/"),
                    ],
                );
                let body = String::from_utf8_lossy(&o.stdout).into_owned();
                (body.trim() == "hello-from-node3")
                    .then_some(())
                    .ok_or(text(&o))
            },
        );
    }

    // The default storage class binds a local volume that a pod mounts.
    let sc = c.kubectl_ok(&["get", "storageclass", "-o", "jsonpath={range .items[*]}{.metadata.name}:{.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class} {end}"]);
    let default_sc = sc
        .split_whitespace()
        .find_map(|e| e.strip_suffix(":true"))
        .unwrap_or_else(|| panic!("no default storage class: {sc}"))
        .to_string();
    let o = on(
        "node2",
        "mkdir -p /mnt/disks/vol1 && echo on-node2 > /mnt/disks/vol1/marker",
    );
    assert!(o.status.success(), "{}", text(&o));
    c.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: e2e-local\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: {default_sc}\n  local: {{path: /mnt/disks/vol1}}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: kubernetes.io/hostname, operator: In, values: [node2]}}\n"
    ));
    // The volume first, and the pod pinned to its node: the class has a
    // provisioner (openebs, whose image is not built here), so a pod the
    // scheduler places elsewhere would wait for it instead of binding.
    c.wait("the local volume Available", Duration::from_secs(30), |c| {
        let s = c.jsonpath(&["get", "pv", "e2e-local", "-o", "jsonpath={.status.phase}"])?;
        (s == "Available").then_some(()).ok_or(s)
    });
    std::thread::sleep(Duration::from_secs(2));
    c.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: e2e-claim\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: volume-user\nspec:\n  restartPolicy: Never\n  nodeSelector: {{kubernetes.io/hostname: node2}}\n  containers:\n  - name: u\n    image: {BUSYBOX}\n    imagePullPolicy: Never\n    command: [\"sh\", \"-c\", \"cat /data/marker && echo from-pod > /data/written\"]\n    volumeMounts:\n    - {{name: d, mountPath: /data}}\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: e2e-claim}}\n"
    ));
    c.wait(
        "the claim bound and the pod done",
        Duration::from_secs(120),
        |c| c.pod_phase("volume-user", "Succeeded"),
    );
    let phase = c.kubectl_ok(&["get", "pvc", "e2e-claim", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Bound");
    let o = on("node2", "cat /mnt/disks/vol1/written");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "from-pod",
        "{}",
        text(&o)
    );

    // A second run changes nothing.
    c.rerun_changes_nothing();

    // Workers joined pinning the cluster CA, never skipping its check.
    let o = on(
        "node2",
        "grep -A1 caCertHashes /etc/kubernetes/kubeadm-client.conf && ! grep -q 'unsafeSkipCAVerification: true' /etc/kubernetes/kubeadm-client.conf",
    );
    assert!(
        o.status.success() && text(&o).contains("sha256:"),
        "node2's join config: {}",
        text(&o)
    );

    // kubeadm printed the join token and the certificate key (the join
    // command after init): no log of this test's runs holds them (the
    // installer directory, and so its logs/, outlives a test).
    let secrets = std::fs::read_to_string(c.installer.join("state/kubeadm.json")).unwrap();
    let secrets: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&secrets).unwrap();
    let mut logs = 0;
    for e in std::fs::read_dir(c.installer.join("logs")).unwrap() {
        let e = e.unwrap();
        if e.metadata().unwrap().modified().unwrap() < started {
            continue;
        }
        let log = std::fs::read_to_string(e.path()).unwrap();
        logs += 1;
        for (name, value) in &secrets {
            assert!(!log.contains(value.as_str()), "the {name} is in a log");
        }
    }
    assert!(
        logs > 0 && secrets.len() == 2,
        "{logs} logs, {:?}",
        secrets.keys()
    );

    lab(&["down"]);
    eprintln!(
        "cluster e2e: install {:?}, all nodes Ready {:?} after install start, total {:?}",
        install_s,
        ready_s,
        t0.elapsed()
    );
}
