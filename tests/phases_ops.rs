//! The phases as fixtures: given a cluster (the seed layouts), facts and
//! rendered files, the exact operations — files and commands — each host
//! gets. This covers the phases that need Kubernetes binaries, which cannot
//! run on the lab (no package registry here carries kubeadm or kubelet).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ksinstall::bundle::needs::{self, Family, Kind, PlanOptions};
use ksinstall::config::Runtime;
use ksinstall::diag::Report;
use ksinstall::install::facts::Facts;
use ksinstall::install::ops::Op;
use ksinstall::install::phases::{self, HostFile, Inputs, Offline, Phase};
use ksinstall::model::{self, Cluster, Mode, Role, Sources};
use ksinstall::render::Component;

fn cluster(fixture: &str) -> Cluster {
    let src = Sources {
        conf_dir: PathBuf::from("tests/fixtures").join(fixture),
        inventory: None,
        mode: Mode::MultiNode,
    };
    let mut r = Report::default();
    let c = model::load(&src, &mut r).expect("fixture loads");
    assert!(!r.has_errors(), "{}", r.render());
    c
}

fn facts(c: &Cluster, swap_on: &str) -> BTreeMap<String, Facts> {
    c.nodes
        .iter()
        .map(|n| {
            let swap = if n.name == swap_on { 2048 * 1024 } else { 0 };
            let ip = n.ip.clone().unwrap_or_default();
            (
                n.name.clone(),
                Facts::parse(&format!(
                    "hostname=old\nswap_kb={swap}\naddresses=127.0.0.1|{ip}|\ninit=systemd\n"
                )),
            )
        })
        .collect()
}

fn file(component: Component, path: &str, body: &str) -> HostFile {
    HostFile {
        path: path.into(),
        content: body.as_bytes().to_vec(),
        mode: 0o644,
        block: None,
        merged: false,
        component,
    }
}

fn ops_of(phase: &dyn Phase, c: &Cluster, inp: &Inputs, host: &str) -> Vec<String> {
    let node = c.node(host).expect("node");
    phase.ops(node, inp).iter().map(Op::summary).collect()
}

/// `phase`'s operations on `host`, with facts but no rendered files.
fn bare_ops(c: &Cluster, phase: &str, host: &str) -> Vec<Op> {
    let f = facts(c, "");
    let files = BTreeMap::new();
    let off = Offline::default();
    let inp = Inputs {
        cluster: c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let p = phases::ALL[phases::by_name(phase).unwrap()];
    p.ops(c.node(host).expect("node"), &inp)
}

fn hosts_of(phase: &dyn Phase, c: &Cluster) -> Vec<String> {
    phase
        .hosts(c)
        .into_iter()
        .map(|i| c.nodes[i].name.clone())
        .collect()
}

#[test]
fn phase_order_is_the_install() {
    assert_eq!(
        phases::names(),
        "os, packages, registry, runtime, etcd, loadbalancer, control-plane, workers, network, storage, kubesphere"
    );
}

#[test]
fn ha_cluster_hosts_per_phase() {
    let c = cluster("seed-ha");
    let by = |name: &str| hosts_of(phases::ALL[phases::by_name(name).unwrap()], &c);
    assert_eq!(by("etcd"), ["master1", "master2", "master3"]);
    assert_eq!(by("control-plane"), ["master1", "master2", "master3"]);
    assert_eq!(by("workers"), ["node1", "node2", "node3"]);
    assert_eq!(by("network"), ["master1"]);
    assert_eq!(by("kubesphere"), ["master1"]);
    assert_eq!(by("os").len(), 6);
}

#[test]
fn os_phase_sets_hostname_swap_sysctl_and_hosts_block() {
    let c = cluster("seed-ha");
    let f = facts(&c, "node2");
    let mut files = BTreeMap::new();
    for n in &c.nodes {
        files.insert(
            n.name.clone(),
            vec![
                file(
                    Component::Kernel,
                    "/etc/sysctl.d/99-kubernetes.conf",
                    "net.ipv4.ip_forward = 1\n",
                ),
                HostFile {
                    block: Some((
                        "# Ansible inventory hosts BEGIN".into(),
                        "# Ansible inventory hosts END".into(),
                    )),
                    ..file(Component::Hosts, "/etc/hosts", "192.168.0.1 master1\n")
                },
            ],
        );
    }
    let off = Offline::default();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let node2 = ops_of(&phases::OsPrep, &c, &inp, "node2");
    assert_eq!(node2[0], "run hostnamectl set-hostname node2 2>/dev/null || { echo node2 > /etc/hostname && hostname node2; } unless test \"$(hostname)\" = node2");
    assert!(node2[1].starts_with("run swapoff -a"), "{node2:?}");
    assert_eq!(
        node2[2],
        "file /etc/sysctl.d/99-kubernetes.conf (24 bytes, mode 644)"
    );
    assert!(node2[3].ends_with("(on change)"));
    assert_eq!(
        node2[4],
        "block \"# Ansible inventory hosts BEGIN\" in /etc/hosts"
    );
    let node1 = ops_of(&phases::OsPrep, &c, &inp, "node1");
    assert!(
        !node1.iter().any(|o| o.contains("swapoff")),
        "no swap there: {node1:?}"
    );
}

#[test]
fn packages_come_only_from_the_local_repository() {
    let c = cluster("seed-root");
    let f = facts(&c, "");
    let files = BTreeMap::new();
    let mut off = Offline {
        repo_dir: "/opt/ksinstall/repo".into(),
        ..Default::default()
    };
    off.packages
        .insert("node1".into(), vec!["containerd".into(), "socat".into()]);
    off.repo_files.insert(
        "node1".into(),
        vec![("Packages".into(), b"Package: socat\n".to_vec().into())],
    );
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let ops = ops_of(&phases::Packages, &c, &inp, "node1");
    assert_eq!(
        ops[0],
        "file /opt/ksinstall/repo/Packages (15 bytes, mode 644)"
    );
    assert_eq!(
        ops[1],
        "file /opt/ksinstall/apt/sources.list (46 bytes, mode 644)"
    );
    assert!(
        ops[2].contains("-o Dir::Etc::SourceParts=/opt/ksinstall/apt/sources.list.d"),
        "only our list is read: {}",
        ops[2]
    );
    assert!(
        ops[2].contains("install -y --no-install-recommends")
            && ops[2].contains("--force-confold containerd socat"),
        "{}",
        ops[2]
    );
    assert!(
        ops[2].contains("policy-rc.d"),
        "services do not start with default config"
    );
    assert!(
        ops_of(&phases::Packages, &c, &inp, "node2").is_empty(),
        "nothing for a host without packages"
    );
}

#[test]
fn kubeadm_phases_init_the_first_master_and_join_the_rest() {
    let c = cluster("seed-ha");
    let f = facts(&c, "");
    let mut files = BTreeMap::new();
    for n in &c.nodes {
        files.insert(
            n.name.clone(),
            vec![file(
                Component::Kubeadm,
                "/etc/kubernetes/kubeadm-config.yaml",
                "kind: InitConfiguration\n",
            )],
        );
    }
    let off = Offline::default();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let cp = &phases::CONTROL_PLANE;
    let m1 = ops_of(cp, &c, &inp, "master1");
    assert_eq!(
        m1[0],
        "file /etc/kubernetes/kubeadm-config.yaml (24 bytes, mode 644)"
    );
    assert!(m1[1].contains("systemctl enable kubelet"), "{m1:?}");
    assert_eq!(
        m1[2],
        "run timeout -k 600s 600s kubeadm init --config=/etc/kubernetes/kubeadm-config.yaml --upload-certs --ignore-preflight-errors=Swap unless test -f /etc/kubernetes/admin.conf"
    );
    // The join token and uploaded certificates are made again when gone,
    // from the config file: no secret on a command line.
    assert!(
        m1[3].starts_with("run kubeadm token create --config=/etc/kubernetes/kubeadm-config.yaml"),
        "{m1:?}"
    );
    assert!(
        m1[4].starts_with("run kubeadm init phase upload-certs --upload-certs --config="),
        "{m1:?}"
    );
    let m2 = ops_of(cp, &c, &inp, "master2");
    assert!(
        m2[2].contains("kubeadm join --config=/etc/kubernetes/kubeadm-config.yaml"),
        "{m2:?}"
    );
    assert!(
        !m2.iter().any(|o| o.contains("taint")),
        "masters not in kube-node keep their taint"
    );
    assert!(!m2[2].contains("unshare"), "{m2:?}");
    let w = ops_of(&phases::WORKERS, &c, &inp, "node3");
    assert!(
        w[2].ends_with("unless test -f /etc/kubernetes/kubelet.conf"),
        "{w:?}"
    );

    // Internal LB: master2's API domain is itself, not up before its join;
    // kubeadm join reads the rendered lines that lead to the first master,
    // in a mount namespace of its own (the host's /etc/hosts stays).
    files.get_mut("master2").unwrap().push(file(
        Component::JoinHosts,
        ksinstall::render::JOIN_HOSTS,
        "192.168.0.1 lb.kubesphere.local\n",
    ));
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let m2 = ops_of(cp, &c, &inp, "master2");
    assert!(
        m2.iter()
            .any(|o| o.starts_with("file /etc/kubernetes/join-hosts ")),
        "{m2:?}"
    );
    let join = m2.iter().find(|o| o.contains("kubeadm join")).unwrap();
    assert!(
        join.contains("unshare --mount --propagation private sh -c")
            && join
                .contains("cat /etc/kubernetes/join-hosts /etc/hosts >/run/ksinstall-join-hosts")
            && join.contains("mount --bind /run/ksinstall-join-hosts /etc/hosts"),
        "{join}"
    );
}

#[test]
fn a_master_that_is_also_a_worker_loses_its_taint() {
    let c = cluster("seed-nonroot");
    let f = facts(&c, "");
    let files = BTreeMap::new();
    let off = Offline::default();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let ops = ops_of(&phases::CONTROL_PLANE, &c, &inp, "master");
    assert!(
        ops.iter()
            .any(|o| o.contains("taint node master node-role.kubernetes.io/master:NoSchedule-")),
        "{ops:?}"
    );
    assert!(hosts_of(&phases::WORKERS, &c) == ["node1", "node2"]);
}

#[test]
fn etcd_health_uses_the_member_address_and_admin_cert() {
    let c = cluster("seed-ha");
    let f = facts(&c, "");
    let files = BTreeMap::new();
    let off = Offline::default();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let ops = ops_of(&phases::Etcd, &c, &inp, "master2");
    let health = ops.iter().find(|o| o.contains("endpoint health")).unwrap();
    assert!(
        health.contains("--endpoints=https://192.168.0.2:2379"),
        "{health}"
    );
    assert!(
        health.contains("--cert=/etc/ssl/etcd/ssl/admin-master2.pem"),
        "{health}"
    );
}

/// Images go into the store of the runtime that runs them: docker's own
/// with docker (cri-dockerd reads it), containerd's `k8s.io` namespace
/// otherwise. Every image was imported with `ctr` before, which a docker
/// node's kubelet never sees.
#[test]
fn images_are_imported_into_the_runtime_that_runs_them() {
    for (runtime, want) in [
        (Runtime::Docker, "docker load -q -i /images/pause.tar "),
        (
            Runtime::Containerd,
            "ctr -n k8s.io images import /images/pause.tar ",
        ),
    ] {
        let mut c = cluster("seed-root");
        c.config.runtime = runtime;
        let f = facts(&c, "");
        let files = BTreeMap::new();
        let mut off = Offline::default();
        off.images.insert(
            "node1".into(),
            vec![("pause.tar".into(), b"tar".to_vec().into())],
        );
        let inp = Inputs {
            cluster: &c,
            facts: &f,
            files: &files,
            offline: &off,
        };
        let rt = ops_of(
            phases::ALL[phases::by_name("runtime").unwrap()],
            &c,
            &inp,
            "node1",
        );
        assert!(rt.iter().any(|o| o.contains(want)), "{runtime:?}: {rt:?}");
    }
}

#[test]
fn host_values_reach_commands_quoted() {
    // A name the shell would split or run is passed as one word.
    let mut c = cluster("seed-root");
    let evil = "node1;touch /tmp/pwned";
    let i = c.nodes.iter().position(|n| n.name == "node1").unwrap();
    c.nodes[i].name = evil.into();
    let f = facts(&c, "");
    let files = BTreeMap::new();
    let mut off = Offline::default();
    off.images.insert(
        evil.into(),
        vec![("x $(reboot).tar".into(), b"tar".to_vec().into())],
    );
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let os = ops_of(phases::ALL[phases::by_name("os").unwrap()], &c, &inp, evil);
    assert!(
        os[0].contains("hostnamectl set-hostname 'node1;touch /tmp/pwned'"),
        "{os:?}"
    );
    let rt = ops_of(
        phases::ALL[phases::by_name("runtime").unwrap()],
        &c,
        &inp,
        evil,
    );
    // seed-root runs docker (the legacy default): its own image store.
    let import = rt.iter().find(|o| o.contains("docker load")).unwrap();
    assert!(
        import.contains("docker load -q -i '/images/x $(reboot).tar'"),
        "{import}"
    );
    assert!(!rt.iter().any(|o| o.contains("ctr ")), "{rt:?}");
    // The worker's kubeadm config path, as any path, is one quoted word.
    let mut files = BTreeMap::new();
    files.insert(
        evil.to_string(),
        vec![file(
            Component::Kubeadm,
            "/etc/kubernetes/kubeadm-config $(id).yaml",
            "x",
        )],
    );
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let join = ops_of(
        phases::ALL[phases::by_name("workers").unwrap()],
        &c,
        &inp,
        evil,
    );
    assert!(
        join.iter().any(
            |o| o.contains("kubeadm join --config='/etc/kubernetes/kubeadm-config $(id).yaml'")
        ),
        "{join:?}"
    );
}

/// The network phase's last op, for `c`'s Kubernetes version.
fn coredns_op(c: &Cluster) -> (String, String) {
    match bare_ops(c, "network", "master1").last() {
        Some(Op::Command {
            run,
            unless: Some(u),
            ..
        }) => (run.clone(), u.clone()),
        other => panic!("{other:?}"),
    }
}

/// Runs `script` with `kubectl` answering from a fixture: three nodes
/// (`ready` of them Ready), the CoreDNS pods on the nodes `dns_on` names, and every other
/// call's arguments written to stdout one per line.
fn with_kubectl(script: &str, ready: usize, dns_on: &str) -> (bool, String) {
    let nodes: String = (1..=3)
        .map(|i| {
            let st = if i <= ready { "Ready" } else { "NotReady" };
            format!("node{i} {st} <none> 1m v1.34.4\\n")
        })
        .collect();
    let stub = format!(
        "kubectl() {{ case \"$*\" in *'get nodes'*) printf '{nodes}';; \
         *'get pods'*) printf '%s\\n' {dns_on};; \
         *'get deployment coredns'*) printf '%s' \"${{SPREAD:-}}\";; \
         *) for a in \"$@\"; do printf '%s\\n' \"$a\"; done;; esac; }}; \
         seq() {{ echo 1; }}; sleep() {{ :; }}\n"
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &format!("{stub}{script}")])
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
    )
}

#[test]
fn the_network_phase_spreads_coredns_with_a_hard_constraint_from_1_27() {
    let mut c = cluster("seed-ha");
    c.config.kube_version = ksinstall::config::KubeVersion::parse("v1.34.4").unwrap();
    let (run, unless) = coredns_op(&c);
    // The inventory says how many nodes to wait for (their Node objects
    // may not be registered yet when the phase begins).
    let k8s = c
        .nodes
        .iter()
        .filter(|n| n.has(Role::Master) || n.has(Role::Worker))
        .count();
    assert!(
        run.contains(&format!("grep -cw Ready)\" -ge {k8s} ]")),
        "{run}"
    );
    assert!(!unless.contains("wc -l"), "{unless}");
    // Spread already, under the constraint: skipped. Spread without it
    // (kubeadm's upgrade wrote the Deployment afresh) or both on one
    // node: run.
    let constrained =
        format!("SPREAD='[{{\"matchLabelKeys\":[\"pod-template-hash\"]}}]'; {unless}");
    assert!(with_kubectl(&constrained, 3, "node1 node2").0, "{unless}");
    assert!(!with_kubectl(&unless, 3, "node1 node2").0, "{unless}");
    assert!(!with_kubectl(&unless, 3, "node1").0, "{unless}");
    let (ok, out) = with_kubectl(&run, 3, "node1");
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let p = lines.iter().position(|l| *l == "-p").expect("a patch") + 1;
    let patch: serde_yaml::Value = serde_yaml::from_str(lines[p]).expect("the patch is JSON");
    let tpl = &patch["spec"]["template"];
    let c0 = &tpl["spec"]["topologySpreadConstraints"][0];
    assert_eq!(c0["whenUnsatisfiable"].as_str(), Some("DoNotSchedule"));
    assert_eq!(c0["nodeTaintsPolicy"].as_str(), Some("Honor"));
    assert_eq!(c0["matchLabelKeys"][0].as_str(), Some("pod-template-hash"));
    // A fresh stamp each run, so a re-run rolls out again.
    let stamp = tpl["metadata"]["annotations"]["ksinstall/spread-at"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", lines[p]));
    assert!(stamp.parse::<u64>().is_ok(), "{stamp}");
    // The op ends when the rollout does.
    assert!(out.contains("rollout\nstatus"), "{out}");
}

#[test]
fn a_one_node_cluster_gets_no_coredns_spread() {
    let mut c = cluster("seed-root");
    c.nodes.retain(|n| n.name == "master");
    let ops = bare_ops(&c, "network", "master");
    assert!(
        !ops.iter().any(|o| o.summary().contains("coredns")),
        "{ops:?}"
    );
}

#[test]
fn the_network_phase_spreads_coredns_by_a_restart_before_1_27() {
    let c = cluster("seed-ha"); // v1.16.7
    let (run, unless) = coredns_op(&c);
    assert!(run.contains("rollout restart deployment coredns"), "{run}");
    assert!(!run.contains("topologySpreadConstraints"), "{run}");
    let (ok, out) = with_kubectl(&run, 3, "node1");
    assert!(ok && out.contains("rollout\nstatus"), "{out}");
    assert!(unless.contains("k8s-app=kube-dns"), "{unless}");
}

/// The ks-installer wait ends within a minute when no node is Ready (it
/// used to wait its whole 15 minutes), and says why.
#[test]
fn the_kubesphere_wait_stops_when_no_node_is_ready() {
    let c = cluster("seed-ha");
    let ops = bare_ops(&c, "kubesphere", "master1");
    let Some(Op::Check { run, .. }) = ops.last() else {
        panic!("{ops:?}")
    };
    let run_with = |nodes: &str| {
        // kubectl answers from a fixture; the pod stays Pending; no sleeping.
        let stub = format!(
            "kubectl() {{ case \"$*\" in *'get nodes'*) printf '{nodes}';; *) echo Pending;; esac; }}; \
             sleep() {{ :; }}\n"
        );
        std::process::Command::new("sh")
            .args(["-c", &format!("{stub}{run}")])
            .output()
            .unwrap()
    };
    let o = run_with("node1 NotReady <none> 1m v1.34.4\\n");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no node is Ready"), "{err}");
    // With a Ready node it waits on, to the end of its bound.
    let o = run_with("node1 Ready <none> 1m v1.34.4\\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("no node is Ready"),
        "{o:?}"
    );
}

/// The registry phase runs on the `[local-registry]` host alone: its
/// files, the key given to the service's group, a restart on change, the
/// service started and listening. Without one it runs nowhere, and with
/// one the runtime phase imports nothing (the nodes pull).
#[test]
fn the_registry_phase_runs_the_registry_on_its_host() {
    let phase = phases::ALL[phases::by_name("registry").unwrap()];
    assert!(hosts_of(phase, &cluster("seed-ha")).is_empty());
    let dir = std::env::temp_dir().join(format!("ksinstall-reg-phase-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["hosts.ini", "vars.yml"] {
        std::fs::copy(PathBuf::from("tests/fixtures/seed-ha").join(f), dir.join(f)).unwrap();
    }
    let hosts = std::fs::read_to_string(dir.join("hosts.ini")).unwrap();
    std::fs::write(
        dir.join("hosts.ini"),
        hosts + "\n[local-registry]\nmaster2\n",
    )
    .unwrap();
    let mut r = Report::default();
    let src = Sources {
        conf_dir: dir.clone(),
        inventory: None,
        mode: Mode::MultiNode,
    };
    let c = model::load(&src, &mut r).expect("loads");
    assert_eq!(hosts_of(phase, &c), ["master2"]);
    let f = facts(&c, "");
    let files = BTreeMap::from([(
        "master2".to_string(),
        vec![file(
            Component::Registry,
            "/etc/docker/registry/config.yml",
            "version: 0.1\n",
        )],
    )]);
    let mut off = Offline::default();
    let tarball = ksinstall::exec::Blob::new(b"not pushed to hosts".to_vec());
    off.registry_images = vec![("pause.tar".into(), tarball)];
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let ops = ops_of(phase, &c, &inp, "master2");
    assert_eq!(
        ops[0],
        "file /etc/docker/registry/config.yml (13 bytes, mode 644)"
    );
    assert!(ops[1].starts_with("run chgrp docker-registry /etc/docker/registry/ksinstall/registry.key unless test \"$(stat -c %G"), "{ops:?}");
    assert_eq!(ops[2], "run systemctl restart docker-registry (on change)");
    assert!(
        ops[3].starts_with("run systemctl enable --now docker-registry unless systemctl is-active")
    );
    assert!(ops[4].starts_with(
        "check for i in $(seq 1 30); do timeout 2 bash -c ': </dev/tcp/127.0.0.1/5000'"
    ));
    let runtime = phases::ALL[phases::by_name("runtime").unwrap()];
    for host in ["master1", "master2", "node1"] {
        let ops = ops_of(runtime, &c, &inp, host);
        assert!(!ops.iter().any(|o| o.contains("import")), "{host}: {ops:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Without a bundle the packages come from the host's own apt sources
/// (no list of ours), through the conf's proxy, skipped once installed.
#[test]
fn without_a_bundle_packages_come_from_the_hosts_repositories() {
    let dir = std::env::temp_dir().join(format!("ksinstall-online-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["hosts.ini", "vars.yml"] {
        std::fs::copy(PathBuf::from("tests/fixtures/seed-ha").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("zz.yaml"),
        "http_proxy: http://proxy.example:3128\n",
    )
    .unwrap();
    let mut r = Report::default();
    let src = Sources {
        conf_dir: dir.clone(),
        inventory: None,
        mode: Mode::MultiNode,
    };
    let c = model::load(&src, &mut r).expect("loads");
    let mirrors = BTreeMap::from([("k8s".to_string(), "https://mirror.example/k8s".to_string())]);
    let mut report = Report::default();
    let mut f = facts(&c, "");
    f.insert("node2".into(), Facts::parse(ROCKY));
    let off = ksinstall::install::online::load(&c, &f, &mirrors, None, &mut report).unwrap();
    assert!(off.online);
    // calicoctl's upstream publishes no checksum: named, not downloaded.
    let text = report.render();
    assert!(
        text.contains("[ERROR DownloadChecksum]") && text.contains("calicoctl"),
        "{text}"
    );
    let dl = &off.downloads["node1"];
    let kubeadm = dl
        .iter()
        .find(|d| d.file == "kubeadm")
        .expect("kubeadm downloaded");
    assert_eq!(
        kubeadm.url,
        "https://mirror.example/k8s/release/v1.16.7/bin/linux/amd64/kubeadm"
    );
    assert_eq!(kubeadm.sha256_url, format!("{}.sha256", kubeadm.url));
    assert!(off.packages["node1"].contains(&"curl".to_string()));
    assert!(off.packages["node1"].contains(&"containerd".to_string()));
    assert!(!off.packages["node1"].contains(&"etcd-server".to_string()));
    let files = BTreeMap::new();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let phase = phases::ALL[phases::by_name("packages").unwrap()];
    let ops = ops_of(phase, &c, &inp, "node1");
    let op = &ops[0];
    assert!(
        op.contains("apt-get -oAcquire::http::Proxy=http://proxy.example:3128 -qq update"),
        "{op}"
    );
    assert!(
        op.contains("install -y --no-install-recommends") && op.contains(" containerd "),
        "{op}"
    );
    assert!(
        !op.contains("sourcelist") && !op.contains("/opt/ksinstall/repo"),
        "{op}"
    );
    assert!(
        op.contains("unless for p in ") && op.contains("install ok installed"),
        "{op}"
    );
    // Each binary: downloaded through the proxy, checked against its
    // published sha256, kept with a stamp that the re-run checks.
    let get = (ops.iter())
        .find(|o| o.contains("mirror.example/k8s/release/v1.16.7/bin/linux/amd64/kubeadm"))
        .unwrap_or_else(|| panic!("no kubeadm download: {ops:?}"));
    assert!(
        get.contains("curl -fsSL --retry 3 -x http://proxy.example:3128 -o \"$t\""),
        "{get}"
    );
    assert!(
        get.contains("sha256sum -c --quiet -") && get.contains("mv \"$t\" /usr/local/bin/kubeadm"),
        "{get}"
    );
    assert!(
        get.contains(" unless test -s /opt/ksinstall/repo/dl/kubeadm.") && get.ends_with(".sha256"),
        "{get}"
    );
    assert!(ops.iter().any(|o| o.starts_with("run mkdir -p /opt/cni/bin && tar -xzf /opt/ksinstall/repo/bin/cni-plugins-linux-amd64-")), "{ops:?}");
    // node2 says it is Rocky Linux: the plan's RPM names, from its own
    // dnf repositories through the same proxy.
    let mut rpms = plan_packages(&c, Family::Rpm, "node2");
    rpms.extend(["curl".to_string(), "ca-certificates".to_string()]);
    assert_eq!(off.packages["node2"], rpms);
    let names = rpms.join(" ");
    let ops = ops_of(phase, &c, &inp, "node2");
    assert_eq!(
        ops[0],
        format!("run $(command -v dnf || echo yum) -y -q --setopt=proxy=http://proxy.example:3128 install {names} unless rpm -q {names} >/dev/null 2>&1")
    );
    assert!(!ops.iter().any(|o| o.contains("apt-get")), "{ops:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The options that point apt at the bundle's repository alone.
const APT_OPTS: &str = "-o Dir::Etc::SourceList=/opt/ksinstall/apt/sources.list -o Dir::Etc::SourceParts=/opt/ksinstall/apt/sources.list.d \
                        -o Dir::State::Lists=/opt/ksinstall/apt/lists -o Dir::Cache=/opt/ksinstall/apt/cache";

/// What the fact script prints on a Rocky Linux 9 host.
const ROCKY: &str = "os_id=rocky\nos_like=rhel centos fedora\nos_version=9.3\ninit=systemd\n\
                     rpms=bash=5.1.8-6.el9|\n";

/// The OS package names the bundle plan of `family` gives `host`.
fn plan_packages(c: &Cluster, family: Family, host: &str) -> Vec<String> {
    let opts = PlanOptions {
        families: vec![family],
        ..PlanOptions::default()
    };
    let plan = needs::plan(c, &opts).expect("plan");
    (plan.for_host(host))
        .filter(|n| matches!(n.kind, Kind::Deb | Kind::Rpm))
        .map(|n| n.name.clone())
        .collect()
}

/// A host whose facts say RPM gets the bundle's rpms/ under the host's
/// repository directory, a yum repository file naming it, and dnf (or
/// yum) installing exactly the plan's RPM names from it alone, skipped
/// once rpm has them all. A Debian host of the same cluster keeps apt.
#[test]
fn an_rpm_host_installs_the_plans_rpms_with_dnf_and_a_debian_host_keeps_apt() {
    let c = cluster("seed-root");
    let mut f = facts(&c, "");
    f.insert("node1".into(), Facts::parse(ROCKY));
    let (rpms, debs) = (
        plan_packages(&c, Family::Rpm, "node1"),
        plan_packages(&c, Family::Deb, "node2"),
    );
    assert!(rpms.contains(&"conntrack-tools".to_string()), "{rpms:?}");
    let mut off = Offline {
        repo_dir: "/opt/ksinstall/repo".into(),
        ..Default::default()
    };
    off.packages.insert("node1".into(), rpms.clone());
    off.packages.insert("node2".into(), debs.clone());
    off.repo_files.insert(
        "node1".into(),
        vec![
            (
                "rpms/socat-1.7.4.1-1.noarch.rpm".into(),
                b"rpm".to_vec().into(),
            ),
            (
                "rpms/repodata/repomd.xml".into(),
                b"<repomd/>".to_vec().into(),
            ),
        ],
    );
    let files = BTreeMap::new();
    let inp = Inputs {
        cluster: &c,
        facts: &f,
        files: &files,
        offline: &off,
    };
    let ops = phases::Packages.ops(c.node("node1").unwrap(), &inp);
    let summary: Vec<String> = ops.iter().map(Op::summary).collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    assert_eq!(
        summary[..2],
        [
            "file /opt/ksinstall/repo/rpms/socat-1.7.4.1-1.noarch.rpm (3 bytes, mode 644)",
            "file /opt/ksinstall/repo/rpms/repodata/repomd.xml (9 bytes, mode 644)",
        ]
    );
    let Op::File { path, content, .. } = &ops[2] else {
        panic!("{summary:?}")
    };
    assert_eq!(path, "/etc/yum.repos.d/ksinstall.repo");
    let repo = String::from_utf8_lossy(&content.read_all().unwrap()).into_owned();
    for line in [
        "[ksinstall]",
        "baseurl=file:///opt/ksinstall/repo/rpms",
        "enabled=1",
        "gpgcheck=0",
        "module_hotfixes=1",
    ] {
        assert!(repo.lines().any(|l| l == line), "{line} not in:\n{repo}");
    }
    let names = rpms.join(" ");
    assert_eq!(
        summary[3],
        format!("run $(command -v dnf || echo yum) -y -q --disablerepo='*' --enablerepo=ksinstall install {names} unless rpm -q {names} >/dev/null 2>&1")
    );
    // reset takes the file away with the repository it names.
    let reset: Vec<String> = (ksinstall::install::reset::ops(&c, &[]).iter())
        .map(Op::summary)
        .collect();
    assert!(
        reset
            .iter()
            .any(|o| o.contains(" /etc/yum.repos.d/ksinstall.repo ")
                && o.contains(" /opt/ksinstall/repo ")),
        "{reset:?}"
    );
    let debian = ops_of(&phases::Packages, &c, &inp, "node2");
    assert_eq!(
        debian[0],
        "file /opt/ksinstall/apt/sources.list (46 bytes, mode 644)"
    );
    let debs = debs.join(" ");
    assert!(
        debian[1].contains(&format!("apt-get {APT_OPTS} -qq install"))
            && debian[1].contains(&format!("--force-confold {debs} );"))
            && debian[1].contains(&format!(" unless for p in {debs}; do dpkg-query")),
        "{}",
        debian[1]
    );
    assert!(
        !debian
            .iter()
            .any(|o| o.contains("dnf") || o.contains("yum")),
        "{debian:?}"
    );
}
