//! `bundle build`, `verify` and the per-host selection, end to end through
//! the binary, with stand-in artifacts (no network).

mod bundle_support;

use std::collections::BTreeSet;
use std::path::Path;

use bundle_support::*;
use ksinstall::bundle::{aptrepo, build, manifest::Manifest, select, verify, Kind};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A full bundle for a fixture, built through the CLI from stand-ins.
fn built(conf: &str, tmp: &Path) -> (std::path::PathBuf, Manifest) {
    let from = tmp.join("from");
    populate(
        &from,
        &plan_of(&fixture(conf)),
        &[Kind::Deb, Kind::Binary, Kind::Image],
    );
    let out = tmp.join("bundle");
    let conf_dir = fixture(conf);
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf_dir),
        "-o",
        s(&out),
        "--from",
        s(&from),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "build failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("bundle written to"), "{stdout}");
    (out.clone(), Manifest::read(&out).unwrap())
}

#[test]
fn build_lays_out_indexes_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, m) = built("seed-ha", tmp.path());
    let plan = plan_of(&fixture("seed-ha"));
    assert_eq!(m.kube_version, "v1.16.7");
    assert_eq!(
        m.artifacts.len(),
        plan.needs.len(),
        "one file per need (stand-ins have no dependencies)"
    );
    for a in &m.artifacts {
        let p = out.join(&a.path);
        assert!(p.is_file(), "{} missing", a.path);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), a.size);
        assert_eq!(a.sha256, sha256_hex(&std::fs::read(&p).unwrap()));
        assert!(!a.roles.is_empty() && !a.hosts.is_empty(), "{a:?}");
    }
    for dir in ["debs", "bin", "images"] {
        assert!(out.join(dir).is_dir());
    }
    assert!(!out.join("rpms").exists(), "no empty rpms/");
    assert!(!tmp.path().join("bundle.partial").exists());
    let kubeadm = m.find(Kind::Binary, "kubeadm", "v1.16.7").unwrap();
    assert_eq!(kubeadm.path, "bin/kubeadm");
    assert_eq!(kubeadm.roles, ["master", "worker"]);
    let apiserver = m
        .find(Kind::Image, "k8s.gcr.io/kube-apiserver:v1.16.7", "")
        .unwrap();
    assert_eq!(apiserver.hosts, ["master1", "master2", "master3"]);
    let etcd = m.find(Kind::Deb, "etcd-server", "").unwrap();
    assert_eq!(etcd.roles, ["etcd"]);
    // The apt index lists every package with the right digests.
    assert!(aptrepo::check_index(&out.join("debs")).is_empty());
    let stanzas = aptrepo::read_packages(&out.join("debs")).unwrap();
    let names: BTreeSet<&str> = stanzas.iter().filter_map(|p| p.get("Package")).collect();
    for n in [
        "containerd",
        "socat",
        "conntrack",
        "ipset",
        "etcd-server",
        "chrony",
        "ipvsadm",
        // seed-ha's Ceph RBD class: its volumes mount with the host's client.
        "ceph-common",
    ] {
        assert!(names.contains(n), "{n} not indexed: {names:?}");
    }
    // External load balancer: no haproxy.
    assert!(!names.contains("haproxy"));

    let o = ksinstall(&[
        "bundle",
        "verify",
        s(&out),
        "--conf",
        s(&fixture("seed-ha")),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("all 31 artifacts the cluster's 6 hosts need are present"),
        "{stdout}"
    );

    // Rebuilding into the same directory replaces the bundle.
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-ha")),
        "-o",
        s(&out),
        "--from",
        s(&tmp.path().join("from")),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn build_lists_everything_missing_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    std::fs::create_dir_all(&from).unwrap();
    // Only the packages are there.
    let plan = plan_of(&fixture("seed-root"));
    populate(&from, &plan, &[Kind::Deb]);
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(&out),
        "--from",
        s(&from),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let missing = errors(&stderr, "BundleMissing");
    let want = plan.needs.iter().filter(|n| n.kind != Kind::Deb).count();
    assert_eq!(missing.len(), want, "{stderr}");
    assert!(stderr.contains("[ERROR BundleMissing]: kubeadm v1.12.3 (binary; needed by master, node1, node2): no kubeadm in --from (add --download to fetch it)"), "{stderr}");
    assert!(
        stderr.contains("docker save k8s.gcr.io/pause:3.1 -o pause_3.1.tar"),
        "{stderr}"
    );
    assert!(!out.exists(), "no bundle on failure");
    assert!(stderr.contains("kept in"), "{stderr}");
}

#[test]
fn output_that_is_not_a_bundle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "x").unwrap();
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(tmp.path()),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr.contains("[ERROR BundleOutput]") && stderr.contains("is not a bundle"),
        "{stderr}"
    );
    assert!(tmp.path().join("precious.txt").exists());
}

#[test]
fn bad_files_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let plan = plan_of(&fixture("seed-root"));
    populate(&from, &plan, &[Kind::Deb, Kind::Binary, Kind::Image]);
    std::fs::write(
        from.join("kubelet"),
        "<html><body>404 Not Found</body></html>",
    )
    .unwrap();
    std::fs::write(
        from.join("pause_3.1.tar"),
        image_bytes("k8s.gcr.io/pause:3.2"),
    )
    .unwrap();
    std::fs::write(from.join("kubectl.sha256"), "0".repeat(64)).unwrap();
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(&out),
        "--from",
        s(&from),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let bad = errors(&stderr, "BundleBadFile");
    assert_eq!(bad.len(), 3, "{stderr}");
    assert!(
        stderr.contains("is not an ELF executable (it starts with \"<html><body>404 Not Foun\")"),
        "{stderr}"
    );
    assert!(
        stderr.contains("holds k8s.gcr.io/pause:3.2 instead of k8s.gcr.io/pause:3.1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sha256 mismatch") && stderr.contains("kubectl.sha256 says 0000"),
        "{stderr}"
    );
}

#[test]
fn verify_reports_every_problem_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, mut m) = built("seed-root", tmp.path());
    // A changed binary, a deleted image, a package dropped from the manifest.
    let mut kubeadm = std::fs::read(out.join("bin/kubeadm")).unwrap();
    kubeadm.push(b'!');
    std::fs::write(out.join("bin/kubeadm"), kubeadm).unwrap();
    std::fs::remove_file(out.join("images/pause_3.1.tar")).unwrap();
    let socat = m.artifacts.iter().position(|a| a.name == "socat").unwrap();
    let socat = m.artifacts.remove(socat);
    m.write(&out).unwrap();
    std::fs::write(out.join("bin/stray"), "x").unwrap();

    let o = ksinstall(&[
        "bundle",
        "verify",
        s(&out),
        "--conf",
        s(&fixture("seed-root")),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let checksum = errors(&stderr, "BundleChecksum");
    assert_eq!(checksum.len(), 1, "{stderr}");
    assert!(
        checksum[0].contains("bin/kubeadm")
            && checksum[0].contains("the file was changed or damaged")
    );
    let file = errors(&stderr, "BundleFile");
    assert!(
        file.iter().any(|l| l.contains("images/pause_3.1.tar")),
        "{stderr}"
    );
    let missing = errors(&stderr, "BundleMissing");
    assert_eq!(missing.len(), 1, "{stderr}");
    assert!(
        missing[0].starts_with(
            "[ERROR BundleMissing]: socat (Debian package; needed by master, node1, node2): not in"
        ),
        "{}",
        missing[0]
    );
    assert!(
        stderr.contains(&format!(
            "[WARNING BundleExtra]: {} is not in manifest.json",
            socat.path
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("[WARNING BundleExtra]: bin/stray"),
        "{stderr}"
    );

    // Without a cluster only the files are checked.
    let o = ksinstall(&["bundle", "verify", s(&out)]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(errors(&stderr, "BundleMissing").is_empty(), "{stderr}");
    assert_eq!(errors(&stderr, "BundleChecksum").len(), 1);
}

#[test]
fn a_link_out_of_the_bundle_is_refused_even_with_a_matching_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, mut m) = built("seed-root", tmp.path());
    // bin/kubeadm -> a file of the build machine, its digest in the manifest.
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "root:x:0:0\n").unwrap();
    std::fs::remove_file(out.join("bin/kubeadm")).unwrap();
    std::os::unix::fs::symlink(&secret, out.join("bin/kubeadm")).unwrap();
    let a = m
        .artifacts
        .iter_mut()
        .find(|a| a.path == "bin/kubeadm")
        .unwrap();
    a.sha256 = ksinstall::bundle::hash::sha256_bytes(b"root:x:0:0\n");
    a.size = 11;
    m.write(&out).unwrap();
    let o = ksinstall(&["bundle", "verify", s(&out)]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let link = errors(&stderr, "BundleLink");
    assert!(
        link.len() == 1 && link[0].contains("bin/kubeadm leads out of the bundle"),
        "{stderr}"
    );
}

#[test]
fn verify_checks_the_apt_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = built("seed-root", tmp.path());
    // Swap a package for another build of it: manifest and index both disagree.
    let socat = std::fs::read_dir(out.join("debs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("socat_")
        })
        .unwrap();
    let other = tempfile::tempdir().unwrap();
    let rebuilt = fake_deb(
        other.path(),
        "socat",
        "1.0-1",
        "amd64",
        &[("Depends", "libc6")],
    );
    std::fs::copy(rebuilt, &socat).unwrap();
    let v = verify::verify(&out, None);
    let names: Vec<&str> = v.report.errors().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"BundleChecksum"), "{}", v.report.render());
    let apt: Vec<String> = v
        .report
        .errors()
        .filter(|d| d.name == "AptIndex")
        .map(|d| d.message.clone())
        .collect();
    assert!(apt.iter().any(|m| m.contains("SHA256")), "{apt:?}");
    assert!(apt.iter().any(|m| m.contains("Size")), "{apt:?}");
}

#[test]
fn dependencies_come_along_and_unresolved_ones_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let plan = plan_of(&fixture("seed-root"));
    populate(&from, &plan, &[Kind::Deb, Kind::Binary, Kind::Image]);
    // socat needs libwrap0 (in --from, two versions) and libc6 (not there).
    std::fs::remove_file(from.join("socat_1.0-1_amd64.deb")).unwrap();
    fake_deb(
        &from,
        "socat",
        "1.7.4.4-2",
        "amd64",
        &[("Depends", "libc6 (>= 2.34), libwrap0 (>= 7.6-4~)")],
    );
    fake_deb(&from, "libwrap0", "7.6.q-32", "amd64", &[]);
    fake_deb(&from, "libwrap0", "7.6.q-31", "amd64", &[]);
    fake_deb(&from, "unrelated", "1", "amd64", &[]);
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(&out),
        "--from",
        s(&from),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("(1 of them dependencies)"), "{stdout}");
    assert!(
        stderr.contains("[WARNING Bundle]: libc6 (>= 2.34) (needed by socat) is not in the bundle"),
        "{stderr}"
    );
    let m = Manifest::read(&out).unwrap();
    let wrap = m.find(Kind::Deb, "libwrap0", "").unwrap();
    assert_eq!(wrap.version, "7.6.q-32", "newest version chosen");
    assert_eq!(wrap.dependency_of, ["socat"]);
    assert_eq!(wrap.roles, ["master", "worker"], "roles flow from socat");
    assert!(m.find(Kind::Deb, "unrelated", "").is_none());
    assert_eq!(
        m.find(Kind::Deb, "socat", "").unwrap().depends,
        ["libwrap0"]
    );
    assert!(m.notes.iter().any(|n| n.contains("libc6")));

    // A worker gets socat and libwrap0, not etcd; the staged repo is consistent.
    let sel = select::for_host(&m, &plan, "node1");
    assert!(sel.missing.is_empty());
    let debs: Vec<&str> = sel.of_kind(Kind::Deb).map(|e| e.name.as_str()).collect();
    assert!(
        debs.contains(&"libwrap0") && debs.contains(&"socat"),
        "{debs:?}"
    );
    assert!(!debs.contains(&"etcd-server"));
    assert!(
        !sel.packages.contains(&"libwrap0".to_string()),
        "dependencies are not asked for by name"
    );
    let staged = tmp.path().join("node1");
    select::stage(&out, &sel, &staged, 0).unwrap();
    assert!(aptrepo::check_index(&staged.join("repo")).is_empty());
    let listed = aptrepo::read_packages(&staged.join("repo")).unwrap();
    assert_eq!(listed.len(), debs.len());
    assert!(staged.join("bin/kubelet").is_file());
    assert!(
        !staged.join("images/kube-apiserver_v1.12.3.tar").exists(),
        "a worker runs no apiserver"
    );
    assert!(staged.join("images/kube-proxy_v1.12.3.tar").is_file());
}

#[test]
fn selection_follows_roles_and_the_local_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, m) = built("seed-ha", tmp.path());
    let plan = plan_of(&fixture("seed-ha"));
    let master = select::for_host(&m, &plan, "master1");
    let worker = select::for_host(&m, &plan, "node1");
    let has = |sel: &select::HostSelection, name: &str| sel.entries.iter().any(|e| e.name == name);
    assert!(has(&master, "etcd-server") && !has(&worker, "etcd-server"));
    assert!(has(&master, "k8s.gcr.io/kube-apiserver:v1.16.7"));
    assert!(!has(&worker, "k8s.gcr.io/kube-apiserver:v1.16.7"));
    assert!(has(&worker, "kubelet") && has(&worker, "k8s.gcr.io/pause:3.1"));
    assert!(has(&master, "calicoctl") && !has(&worker, "calicoctl"));
    assert!(worker.bytes() < master.bytes());

    // With a [local-registry] host, only it gets the images.
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::copy(fixture("seed-ha/vars.yml"), conf.join("vars.yml")).unwrap();
    let inv = std::fs::read_to_string(fixture("seed-ha/hosts.ini")).unwrap()
        + "\n[local-registry]\nnode3\n";
    std::fs::write(conf.join("hosts.ini"), inv).unwrap();
    let plan = plan_of(&conf);
    let images: Vec<_> = plan
        .needs
        .iter()
        .filter(|n| n.kind == Kind::Image)
        .collect();
    assert!(images.iter().all(|n| n.hosts == ["node3"]), "{images:?}");
    // The registry is Debian's docker-registry, on its host only.
    let registry = (plan.needs.iter())
        .find(|n| n.kind == Kind::Deb && n.name == "docker-registry")
        .expect("docker-registry is planned");
    assert_eq!(registry.hosts, ["node3"]);
    let sel = select::for_host(&m, &plan, "master1");
    assert_eq!(sel.of_kind(Kind::Image).count(), 0);
    let sel = select::for_host(&m, &plan, "node3");
    assert!(sel.of_kind(Kind::Image).count() > 5);
    assert_eq!(
        (sel.missing.iter().map(|n| n.name.as_str())).collect::<Vec<_>>(),
        ["docker-registry"],
        "docker-registry is not in this bundle"
    );

    // plan --bundle shows each host's share.
    let o = ksinstall(&[
        "bundle",
        "plan",
        "--conf",
        s(&fixture("seed-ha")),
        "--bundle",
        s(&out),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("node1 (24 artifacts)"), "{stdout}");
}

#[test]
fn internal_load_balancer_and_flannel_and_containerd_change_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::copy(fixture("seed-ha/hosts.ini"), conf.join("hosts.ini")).unwrap();
    std::fs::write(
        conf.join("vars.yml"),
        "kube_version: v1.17.3\nkube_network_plugin: flannel\ncontainer_manager: containerd\nkube_proxy_mode: iptables\nlocal_volume_enabled: false\nnfs_client_enabled: true\nnfs_client_is_default_class: true\nnfs_server: 192.168.0.30\nnfs_path: /exports\n",
    )
    .unwrap();
    let c = cluster(&conf);
    let plan = ksinstall::bundle::plan(&c, &Default::default()).unwrap();
    let names: BTreeSet<&str> = plan.needs.iter().map(|n| n.name.as_str()).collect();
    assert!(
        names.contains("haproxy"),
        "3 masters, no loadbalancer_apiserver"
    );
    assert!(!names.contains("docker.io") && names.contains("containerd"));
    assert!(!names.contains("ipvsadm"), "iptables mode");
    assert!(!names.contains("calicoctl"));
    // The flannel the rendered manifests run (the one versions table; the
    // bundle's own table used to say v0.12.0).
    assert!(
        names.contains("quay.io/coreos/flannel:v0.14.0"),
        "{names:?}"
    );
    assert!(names.contains("k8s.gcr.io/coredns:1.6.5"));
    let kubeadm = plan.needs.iter().find(|n| n.name == "kubeadm").unwrap();
    assert_eq!(
        kubeadm.url.as_deref(),
        Some("https://dl.k8s.io/release/v1.17.3/bin/linux/amd64/kubeadm")
    );
    assert_eq!(
        kubeadm.sha256_url.as_deref(),
        Some("https://dl.k8s.io/release/v1.17.3/bin/linux/amd64/kubeadm.sha256")
    );
}

#[test]
fn build_library_refuses_partial_output_quietly() {
    // The library entry point reports problems as diagnostics, never panics.
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_of(&fixture("seed-root"));
    let opts = build::BuildOptions {
        out: tmp.path().join("b"),
        from: vec![tmp.path().join("does-not-exist")],
        download: false,
        families: vec![ksinstall::bundle::needs::Family::Deb],
        allow_missing: false,
        extra_images: vec![],
        date_epoch: 0,
    };
    let r = build::build(&plan, &opts).unwrap_err();
    assert!(
        r.errors().any(|d| d.name == "BundleSource"),
        "{}",
        r.render()
    );
    assert!(r.errors().filter(|d| d.name == "BundleMissing").count() == plan.needs.len());
}

#[test]
fn rpm_family_collects_rpms_and_says_when_there_is_no_index() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let conf = fixture("seed-root");
    let c = cluster(&conf);
    let opts = ksinstall::bundle::PlanOptions {
        families: vec![ksinstall::bundle::needs::Family::Rpm],
        ..Default::default()
    };
    let plan = ksinstall::bundle::plan(&c, &opts).unwrap();
    assert!(plan
        .needs
        .iter()
        .any(|n| n.kind == Kind::Rpm && n.name == "conntrack-tools"));
    assert!(
        !plan.needs.iter().any(|n| n.name == "etcd-client"),
        "no such RPM"
    );
    populate(&from, &plan, &[Kind::Binary, Kind::Image]);
    for n in plan.needs.iter().filter(|n| n.kind == Kind::Rpm) {
        std::fs::write(from.join(format!("{}-1.0-1.el7.x86_64.rpm", n.name)), "rpm").unwrap();
    }
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf),
        "-o",
        s(&out),
        "--from",
        s(&from),
        "--os-family",
        "rpm",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.families, ["rpm"]);
    let ct = m.find(Kind::Rpm, "conntrack-tools", "").unwrap();
    assert_eq!(ct.path, "rpms/conntrack-tools-1.0-1.el7.x86_64.rpm");
    assert_eq!(ct.version, "1.0-1.el7.x86_64");
    let has_createrepo = std::process::Command::new("createrepo_c")
        .arg("--version")
        .output()
        .is_ok();
    if !has_createrepo {
        assert!(
            stderr.contains("rpms/ has no repodata: createrepo_c is not installed"),
            "{stderr}"
        );
        assert!(m.notes.iter().any(|n| n.contains("createrepo_c")));
    }
    let o = ksinstall(&["bundle", "verify", s(&out), "--conf", s(&conf)]);
    assert!(o.status.success(), "{}", text(&o).1);
    let sel = select::for_host(&m, &plan, "node1");
    let staged = tmp.path().join("node1");
    select::stage(&out, &sel, &staged, 0).unwrap();
    assert!(staged.join("repo/socat-1.0-1.el7.x86_64.rpm").is_file());
    assert!(
        staged.join("repo/etcd-1.0-1.el7.x86_64.rpm").is_file(),
        "RPM hosts get the whole directory"
    );
}

#[test]
fn a_tree_of_releases_picks_the_right_version() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let plan = plan_of(&fixture("seed-root"));
    populate(&from, &plan, &[Kind::Deb, Kind::Image, Kind::Binary]);
    for v in ["v1.12.2", "v1.12.3", "v1.13.0"] {
        std::fs::create_dir_all(from.join(v)).unwrap();
        std::fs::write(from.join(v).join("kubeadm"), elf_bytes(v)).unwrap();
    }
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(&out),
        "--from",
        s(&from),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let m = Manifest::read(&out).unwrap();
    assert_eq!(
        m.find(Kind::Binary, "kubeadm", "v1.12.3").unwrap().sha256,
        sha256_hex(&elf_bytes("v1.12.3"))
    );
}

#[test]
fn allow_missing_and_extra_images_for_a_partial_lab_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let conf = fixture("seed-root");
    let plan = plan_of(&conf);
    populate(&from, &plan, &[Kind::Deb]);
    let extra = tmp.path().join("busybox.tar");
    std::fs::write(&extra, image_bytes("docker.io/ksinstall/busybox:1.0")).unwrap();
    let out = tmp.path().join("b");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf),
        "-o",
        s(&out),
        "--from",
        s(&from),
        "--allow-missing",
        "--extra-image",
        s(&extra),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let want_missing = plan.needs.iter().filter(|n| n.kind != Kind::Deb).count();
    // Many left out: one warning naming them all, not a screen of them.
    assert_eq!(
        stderr.matches("[WARNING BundleMissing]").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "[WARNING BundleMissing]: {want_missing} artifacts are not in --from"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("kubeadm v1.12.3, "), "{stderr}");
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.missing.len(), want_missing);
    let bb = m
        .find(Kind::Image, "docker.io/ksinstall/busybox:1.0", "")
        .unwrap();
    assert!(bb.extra);
    assert_eq!(bb.path, "images/ksinstall-busybox_1.0.tar");
    assert_eq!(bb.hosts, ["master", "node1", "node2"]);

    // The files are sound; the cluster still lacks what was missing.
    let o = ksinstall(&["bundle", "verify", s(&out)]);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("[WARNING BundleIncomplete]: built with --allow-missing; it lacks"),
        "{stderr}"
    );
    assert!(stderr.contains("kubeadm v1.12.3, "), "{stderr}");
    let o = ksinstall(&["bundle", "verify", s(&out), "--conf", s(&conf)]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        errors(&stderr, "BundleMissing").len(),
        want_missing,
        "{stderr}"
    );

    // A host's payload, in memory, as the install phases push it.
    let sel = select::for_host(&m, &plan, "node1");
    assert!(sel.entries.iter().any(|e| e.extra));
    let mut cache = select::FileCache::new();
    let p = select::host_payload(&out, &sel, 0, &mut cache).unwrap();
    assert_eq!(p.images.len(), 1);
    assert_eq!(p.images[0].0, "ksinstall-busybox_1.0.tar");
    // The image stays on disk (uploads stream it), and another host's
    // payload shares the files already checked: each bundle file is hashed
    // once, not once per host.
    assert!(p.images[0].1.held().is_none(), "a bundle file is not held");
    let sel2 = select::for_host(&m, &plan, "node2");
    let p2 = select::host_payload(&out, &sel2, 0, &mut cache).unwrap();
    assert!(
        p.images[0].1.same(&p2.images[0].1),
        "one checked file for an image every host gets"
    );
    assert!(
        p.packages.contains(&"socat".to_string())
            && !p.packages.contains(&"etcd-server".to_string())
    );
    let repo = tmp.path().join("node1-repo");
    std::fs::create_dir_all(&repo).unwrap();
    for (name, data) in &p.repo_files {
        std::fs::write(repo.join(name), data.read_all().unwrap()).unwrap();
    }
    assert!(
        aptrepo::check_index(&repo).is_empty(),
        "{:?}",
        aptrepo::check_index(&repo)
    );
    assert_eq!(
        aptrepo::read_packages(&repo).unwrap().len(),
        sel.of_kind(Kind::Deb).count()
    );
    // The install's check of that bundle: the storage provisioner's image
    // (seed-root has an NFS server class) is an error of its own, which an
    // operator can pass over knowingly; the rest stays BundleMissing.
    let c = cluster(&conf);
    let mut r = ksinstall::diag::Report::default();
    ksinstall::install::offline::load(&out, &c, &Default::default(), true, None, &mut r).unwrap();
    let storage: Vec<_> = r.errors().filter(|d| d.name == "StorageImage").collect();
    assert_eq!(storage.len(), 3, "{}", r.render());
    assert!(
        storage[0]
            .message
            .contains("quay.io/kubernetes_incubator/nfs-provisioner:v2.3.0"),
        "{}",
        r.render()
    );
    assert!(
        r.errors()
            .filter(|d| d.name == "BundleMissing")
            .all(|d| !d.message.contains("nfs-provisioner")),
        "{}",
        r.render()
    );
    // A changed file is refused rather than pushed.
    let socat = m.find(Kind::Deb, "socat", "").unwrap();
    std::fs::write(out.join(&socat.path), "changed").unwrap();
    let e = select::host_payload(&out, &sel, 0, &mut Default::default()).unwrap_err();
    assert!(e.contains("run `ksinstall bundle verify`"), "{e}");
}
