//! The local registry on the lab, end to end: the inventory puts node1
//! (master + etcd) in `[local-registry]`, and `ksinstall install` runs
//! Debian's docker-registry there over TLS (a CA the install made), pushes
//! the bundle's images into it from the taskbox, and every node pulls its
//! images from it: no image tarball reaches any host. Then: every node
//! Ready, kube-system Running, the images each runtime holds named after
//! the registry, a pod pulling the bundle's busybox from it, the registry
//! refusing a write without the push's password (read-only), no push
//! password file left, and a second run that pushes nothing and changes
//! nothing.
//!
//! Needs root and the Kubernetes build (`KUBE_OUT`), as `e2e_cluster`.

use std::time::{Duration, Instant};

mod lab_support;

use lab_support::cluster::{can_run, prepare, taskbox, Layout, BIN, BUSYBOX};
use lab_support::{lab, on, run, text};

const LAYOUT: Layout = Layout {
    hosts: 3,
    masters: 1,
    dir: "/var/tmp/ksinstall-e2e-registry",
};

const ENDPOINT: &str = "10.77.0.11:5000";

#[test]
fn a_cluster_pulling_from_its_local_registry() {
    if !can_run() {
        return;
    }
    let t0 = Instant::now();
    let c = prepare(&LAYOUT);
    // node1 holds the registry; the bundle is made again for that layout.
    let conf = c.installer.join("conf");
    let hosts = conf.join("hosts.ini");
    let inv = std::fs::read_to_string(&hosts).unwrap();
    std::fs::write(&hosts, format!("{inv}\n[local-registry]\nnode1\n")).unwrap();
    let debs = c.dir.join("debs");
    let busybox = c.dir.join("images/busybox.tar");
    let kube = lab_support::cluster::kube_out();
    let _ = std::fs::remove_dir_all(&c.bundle);
    let o = run(
        900,
        BIN,
        &[
            "bundle",
            "build",
            "--conf",
            conf.to_str().unwrap(),
            "--from",
            debs.to_str().unwrap(),
            "--from",
            kube.to_str().unwrap(),
            "--allow-missing",
            "--extra-image",
            busybox.to_str().unwrap(),
            "-o",
            c.bundle.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "bundle build:\n{}", text(&o));

    // A plan before anything runs: the registry is not up yet, so it
    // would push every image.
    let bundle = c.bundle.to_str().unwrap().to_string();
    let o = c.ks(
        600,
        &[
            "plan",
            "--bundle",
            &bundle,
            "--ignore-errors",
            "KubeSphereImage,StorageImage,Disk",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "plan failed:\n{out}");
    assert!(
        out.contains(&format!("would push {ENDPOINT}/kube-proxy:")),
        "the plan must say what it would push:\n{out}"
    );

    let first = c.install();
    let out = text(&first);
    assert!(first.status.success(), "install failed:\n{out}");
    eprintln!("{out}");
    assert!(
        out.contains(&format!("registry {ENDPOINT}: pushed")),
        "the install must say what it pushed:\n{out}"
    );
    assert!(
        !out.contains("import image"),
        "no host imports a tarball:\n{out}"
    );
    for host in ["node1", "node2", "node3"] {
        let o = on(
            host,
            "! ls /opt/ksinstall/repo/images/ 2>/dev/null | grep -q .",
        );
        assert!(
            o.status.success(),
            "{host} holds image tarballs: {}",
            text(&o)
        );
    }

    c.wait("all nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    c.wait("kube-system pods Running", Duration::from_secs(300), |c| {
        c.kube_system_running(9)
    });
    c.show();

    // What the runtimes hold came from the registry.
    let o = on(
        "node3",
        "crictl images -o json | grep -o '\"[^\"]*:5000/[^\"]*\"' | sort -u",
    );
    let held = text(&o);
    for name in ["kube-proxy", "pause", "flannel"] {
        assert!(
            held.contains(&format!("{ENDPOINT}/")) && held.contains(name),
            "node3's images are not from the registry: {held}"
        );
    }

    // A pod pulls the bundle's busybox from the registry.
    let path = BUSYBOX.split_once('/').unwrap().1;
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pulled\nspec:\n  restartPolicy: Never\n  nodeName: node3\n  containers:\n  - name: p\n    image: {ENDPOINT}/{path}\n    imagePullPolicy: Always\n    command: [\"sh\", \"-c\", \"echo pulled\"]\n"
    ));
    c.wait(
        "a pod pulls from the registry",
        Duration::from_secs(120),
        |c| c.pod_phase("pulled", "Succeeded"),
    );

    // Served read-only: a write without the push's password is refused,
    // over TLS checked against the install's CA.
    let ca = c.dir.join("registry-ca.crt");
    let o = on("node1", "cat /etc/docker/registry/ksinstall/ca.crt");
    std::fs::write(&ca, &o.stdout).unwrap();
    let o = taskbox(
        30,
        &[
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            ca.to_str().unwrap(),
            "-X",
            "POST",
            &format!("https://{ENDPOINT}/v2/evil/blobs/uploads/"),
        ],
    );
    let code = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && !code.starts_with('2'),
        "an anonymous write must be refused: {code} {}",
        text(&o)
    );
    let o = on(
        "node1",
        "test ! -e /etc/docker/registry/ksinstall/htpasswd && ! systemctl is-active --quiet ksinstall-registry-push && systemctl is-active docker-registry",
    );
    assert!(o.status.success(), "after the push: {}", text(&o));

    // A second run finds every image there: nothing pushed, nothing changed.
    let second = c.install();
    let out = text(&second);
    assert!(second.status.success(), "second install failed:\n{out}");
    assert!(
        out.contains(" changed=0 "),
        "a second run must change nothing:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "registry {ENDPOINT}: holds every image of the bundle"
        )) && !out.contains(&format!("registry {ENDPOINT}: pushed")),
        "a second run pushes nothing:\n{out}"
    );

    lab(&["down"]);
    eprintln!("registry e2e: total {:?}", t0.elapsed());
}
