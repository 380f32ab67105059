//! Day two as fixtures: which hosts `add-nodes` touches and with what, and
//! what `reset` takes back, computed from the real rendering of the seed
//! layouts (the lab e2e, tests/e2e_day_two.rs, runs them on hosts).

mod render_support;

use std::collections::{BTreeMap, BTreeSet};

use ksinstall::diag::Report;
use ksinstall::exec::shell::sh_quote;
use ksinstall::install::facts::Facts;
use ksinstall::install::files::host_files;
use ksinstall::install::ops::Op;
use ksinstall::install::phases::{HostFile, Phase};
use ksinstall::install::reset;
use ksinstall::install::scale::{Known, Scope};
use ksinstall::install::upgrade;
use ksinstall::model::{Cluster, Role};
use render_support::{conf_with, fixed_facts, load};

fn ha() -> (Cluster, std::collections::BTreeMap<String, Vec<HostFile>>) {
    let c = load(&conf_with("seed-ha", ""));
    let files = host_files(
        &c,
        &ksinstall::render::render_all(&c, &fixed_facts()).unwrap(),
    );
    (c, files)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Where the first operation that contains `needle` is.
fn position(ops: &[String], needle: &str) -> usize {
    ops.iter()
        .position(|o| o.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in {ops:#?}"))
}

/// `sh -n`: the script parses.
fn parses(script: &str) {
    let st = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

/// What the cluster knows: these nodes (masters by label), and etcd data
/// on these hosts.
fn cluster_knows(
    nodes: &[&str],
    masters: &[&str],
    etcd: &[&str],
) -> (Known, BTreeMap<String, Facts>) {
    let facts = etcd
        .iter()
        .map(|h| {
            let f = Facts {
                etcd_data: true,
                ..Default::default()
            };
            (h.to_string(), f)
        })
        .collect();
    let k = Known {
        nodes: names(nodes),
        masters: names(masters),
    };
    (k, facts)
}

const MASTERS: &[&str] = &["master1", "master2", "master3"];

#[test]
fn add_nodes_gives_new_workers_everything_and_the_others_their_hosts_block() {
    let (c, files) = ha();
    let mut r = Report::default();
    let (known, facts) = cluster_knows(
        &["master1", "master2", "master3", "node1", "node2"],
        MASTERS,
        MASTERS,
    );
    let s = Scope::from_known(&c, &known, &facts, true, &mut r);
    assert!(!r.has_errors(), "{}", r.render());
    assert_eq!(s.new, names(&["node3"]));
    for phase in ["os", "packages", "runtime", "loadbalancer", "workers"] {
        assert!(s.runs(phase, "node3"), "{phase}");
    }
    // Existing workers: /etc/hosts only; the first master renews the join
    // secrets; nothing re-applies the cluster's manifests.
    assert!(s.runs("os", "node1"));
    for phase in ["packages", "runtime", "loadbalancer", "workers", "network"] {
        assert!(!s.runs(phase, "node1"), "{phase}");
    }
    assert!(s.runs("control-plane", "master1"));
    assert!(!s.runs("control-plane", "master2"));
    assert!(!s.runs("network", "master1"));
    let os = ksinstall::install::phases::ALL[0];
    let inputs = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &Default::default(),
    };
    let node1 = c.node("node1").unwrap();
    let kept = s.ops(
        "os",
        "node1",
        inputs.host_files("node1"),
        os.ops(node1, &inputs),
    );
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(matches!(&kept[0], Op::Block { path, .. } if path == "/etc/hosts"));
    let node3 = c.node("node3").unwrap();
    assert_eq!(
        s.ops(
            "os",
            "node3",
            inputs.host_files("node3"),
            os.ops(node3, &inputs)
        ),
        os.ops(node3, &inputs)
    );
}

/// A master that is also an etcd member joins: the members it adds to
/// join one at a time after the others (whose etcd.env alone is rewritten,
/// with no restart), after `member add`; the new master joins after the
/// first master renewed the join secrets; every load balancer lists it.
#[test]
fn add_nodes_adds_masters_and_etcd_members_one_at_a_time() {
    let (c, files) = ha();
    let mut r = Report::default();
    let (known, facts) = cluster_knows(
        &["master1", "node1", "node2", "node3"],
        &["master1"],
        &["master1"],
    );
    let s = Scope::from_known(&c, &known, &facts, true, &mut r);
    assert!(!r.has_errors(), "{}", r.render());
    assert_eq!(s.new, names(&["master2", "master3"]));
    assert!(
        s.runs("loadbalancer", "node1"),
        "workers' haproxy lists the masters"
    );
    // What lists the members runs too: etcd's and calico's files.
    assert!(s.runs("etcd", "master1") && s.runs("workers", "node1"));
    assert!(s.runs("network", "master1") && !s.runs("storage", "master1"));
    let idx = |n: &str| c.nodes.iter().position(|x| x.name == n).unwrap();
    let (m1, m2, m3) = (idx("master1"), idx("master2"), idx("master3"));
    assert_eq!(
        s.batches("etcd", vec![m1, m2, m3], &c),
        [vec![m1], vec![m2], vec![m3]]
    );
    assert_eq!(
        s.batches("control-plane", vec![m1, m2, m3], &c),
        [vec![m1], vec![m2, m3]]
    );
    assert_eq!(s.batches("workers", vec![m2, m3], &c), [vec![m2, m3]]);
    let all_facts: BTreeMap<String, Facts> = c
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                facts.get(&n.name).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let inputs = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &all_facts,
        files: &files,
        offline: &Default::default(),
    };
    let etcd =
        ksinstall::install::phases::ALL[ksinstall::install::phases::by_name("etcd").unwrap()];
    // The existing member (the first master too): etcd.env and
    // etcdctl.env rewritten, nothing restarted.
    let kept = s.ops(
        "etcd",
        "master1",
        inputs.host_files("master1"),
        etcd.ops(c.node("master1").unwrap(), &inputs),
    );
    let paths: Vec<&str> = kept
        .iter()
        .map(|o| match o {
            Op::File { path, .. } => path.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(paths, ["/etc/etcd.env", "/etc/etcdctl.env"]);
    // An existing worker: calico's files alone (they name the members),
    // where it has any.
    let workers =
        ksinstall::install::phases::ALL[ksinstall::install::phases::by_name("workers").unwrap()];
    let kept = s.ops(
        "workers",
        "node1",
        inputs.host_files("node1"),
        workers.ops(c.node("node1").unwrap(), &inputs),
    );
    assert!(
        kept.iter()
            .all(|o| matches!(o, Op::File { path, .. } if path.starts_with("/etc/calico/"))),
        "{kept:?}"
    );
    // The joining member: added before etcd first starts there, from the
    // member that holds data; its start settings forgotten once healthy.
    let ops: Vec<String> = s
        .ops(
            "etcd",
            "master2",
            inputs.host_files("master2"),
            etcd.ops(c.node("master2").unwrap(), &inputs),
        )
        .iter()
        .map(Op::summary)
        .collect();
    let join = position(&ops, "member add");
    assert!(
        join < position(&ops, "systemctl restart --no-block etcd"),
        "{ops:#?}"
    );
    assert!(
        position(&ops, "endpoint health")
            < position(&ops, "rm -f /run/systemd/system/etcd.service.d/")
    );
    let script = &ops[join];
    assert!(
        script.contains("https://192.168.0.1:2379") && !script.contains("192.168.0.3:2379"),
        "{script}"
    );
    parses(
        script
            .trim_start_matches("run ")
            .split(" unless ")
            .next()
            .unwrap(),
    );
    // A fresh install (no member holds data): members start together.
    let fresh = ksinstall::install::phases::Inputs {
        facts: &Default::default(),
        ..inputs
    };
    let ops: Vec<String> = etcd
        .ops(c.node("master2").unwrap(), &fresh)
        .iter()
        .map(Op::summary)
        .collect();
    assert!(!ops.iter().any(|o| o.contains("member add")), "{ops:#?}");
}

/// A member added makes every API server name it too: a master that is
/// neither new nor first gets that alone (its manifest, then a bounded wait
/// for the API server on the new list); the first master also stores the
/// list in kubeadm's ClusterConfiguration for later joins and upgrades.
#[test]
fn a_new_etcd_member_reaches_every_api_server() {
    let (c, files) = ha();
    let mut r = Report::default();
    let (known, facts) = cluster_knows(
        &["master1", "master2", "master3", "node1", "node2", "node3"],
        MASTERS,
        &["master1", "master2"],
    );
    let s = Scope::from_known(&c, &known, &facts, true, &mut r);
    assert!(!r.has_errors(), "{}", r.render());
    assert_eq!(s.new, names(&["master3"]));
    assert!(s.runs("control-plane", "master2"));
    let inputs = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &Default::default(),
    };
    let cp = ksinstall::install::phases::ALL
        [ksinstall::install::phases::by_name("control-plane").unwrap()];
    let list =
        "--etcd-servers=https://192.168.0.1:2379,https://192.168.0.2:2379,https://192.168.0.3:2379";
    let kept = s.ops(
        "control-plane",
        "master2",
        inputs.host_files("master2"),
        cp.ops(c.node("master2").unwrap(), &inputs),
    );
    let kept: Vec<String> = kept
        .iter()
        .map(Op::summary)
        .filter(|o| !o.starts_with("file /etc/calico/"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert!(
        kept[0].contains("; sed -i") && kept[0].contains(list),
        "{kept:#?}"
    );
    // The old API server is stopped soon after the kubelet saw the change:
    // left to the kubelet, it took its 30 s of grace each time.
    assert!(kept[0].contains("crictl stop --timeout 3"), "{kept:#?}");
    assert!(
        kept[1].contains("/readyz") && kept[1].ends_with("(on change)"),
        "{kept:#?}"
    );
    let first: Vec<String> = s
        .ops(
            "control-plane",
            "master1",
            inputs.host_files("master1"),
            cp.ops(c.node("master1").unwrap(), &inputs),
        )
        .iter()
        .map(Op::summary)
        .collect();
    let upload = position(&first, "upload-config kubeadm");
    assert!(
        first[upload].contains("- https://192.168.0.3:2379"),
        "{}",
        first[upload]
    );
    assert!(position(&first, "kubeadm init --config") < upload);
    for o in first.iter().filter(|o| o.starts_with("run ")) {
        parses(
            o.trim_start_matches("run ")
                .split(" unless ")
                .next()
                .unwrap()
                .trim_end_matches(" (on change)"),
        );
    }
}

#[test]
fn add_nodes_refuses_renamed_hosts_and_changed_roles() {
    let (c, _) = ha();
    let mut r = Report::default();
    // "old-node" is in the cluster, not in hosts.ini; node1 is a master
    // there and a worker here.
    let (known, facts) = cluster_knows(
        &[
            "master1", "master2", "master3", "node1", "node2", "node3", "old-node",
        ],
        &["master1", "master2", "master3", "node1"],
        MASTERS,
    );
    let s = Scope::from_known(&c, &known, &facts, true, &mut r);
    let text = r.render();
    assert!(
        text.contains("Renamed") && text.contains("'old-node'"),
        "{text}"
    );
    assert!(
        text.contains("RoleChanged") && text.contains("'node1' is in the cluster as a master"),
        "{text}"
    );
    assert!(s.new.is_empty());
    // Without --control-plane, the legacy rule: workers only.
    let mut r = Report::default();
    let (known, facts) = cluster_knows(
        &["master1", "node1", "node2", "node3"],
        &["master1"],
        &["master1"],
    );
    let s = Scope::from_known(&c, &known, &facts, false, &mut r);
    let text = r.render();
    assert!(
        text.contains("OnlyWorkers")
            && text.contains("'master2'")
            && text.contains("--control-plane"),
        "{text}"
    );
    assert!(s.new.is_empty(), "{:?}", s.new);
}

fn reset_of(c: &Cluster, files: &[HostFile]) -> Vec<String> {
    reset::ops(c, files).iter().map(Op::summary).collect()
}

#[test]
fn reset_takes_back_every_file_the_install_renders() {
    let (c, files) = ha();
    for host in ["master1", "node1"] {
        let ops = reset_of(&c, &files[host]);
        let rm = ops
            .iter()
            .find(|o| o.starts_with("run for p in ") && o.contains("rm -rf"))
            .unwrap_or_else(|| panic!("{host}: no removal in {ops:#?}"));
        for f in files[host].iter().filter(|f| f.block.is_none()) {
            // The runtime config the install merged into was the operator's.
            let merged = ["/etc/containerd/config.toml", "/etc/docker/daemon.json"]
                .contains(&f.path.as_str());
            let listed = rm.contains(&format!(" {} ", sh_quote(&f.path)));
            assert_eq!(listed, !merged, "{host}: {}", f.path);
        }
        assert!(
            rm.contains("/var/lib/kubelet") && rm.contains("/usr/local/bin/kubeadm"),
            "{rm}"
        );
        // containerd keeps watching the CNI config directory: emptied, not
        // removed (removed, the next install's nodes stayed NotReady).
        assert!(rm.contains("case \" /etc/cni/net.d \" in"), "{rm}");
        assert!(
            ops.iter()
                .any(|o| o.contains("awk -v b='# Ansible inventory hosts BEGIN'")),
            "{host}: the /etc/hosts block stays: {ops:#?}"
        );
    }
    // etcd's data is moved aside on members, and only there.
    let aside = |host: &str| {
        reset_of(&c, &files[host])
            .iter()
            .any(|o| o.contains("mv /var/lib/etcd /var/lib/etcd.reset-"))
    };
    assert!(aside("master1"));
    assert!(!aside("node1"));
    // Before kubeadm reset, which empties /var/lib/etcd when it takes the
    // external etcd for a local one (seen on the lab).
    let ops = reset_of(&c, &files["master1"]);
    let at = |needle: &str| ops.iter().position(|o| o.contains(needle)).unwrap();
    assert!(at("mv /var/lib/etcd ") < at("kubeadm reset -f"), "{ops:#?}");
    // And kubeadm is kept from etcd, which is not its own: its member
    // removal waited 60 s for endpoints on every master (seen on the lab).
    assert!(
        ops[at("kubeadm reset -f")].contains("kubeadm reset -f --skip-phases remove-etcd-member "),
        "{ops:#?}"
    );
    assert!(
        at("disable --now etcd ") < at("mv /var/lib/etcd "),
        "{ops:#?}"
    );
}

#[test]
fn a_second_reset_changes_nothing() {
    // Every command of a reset is skipped once what it removes is gone.
    let (c, files) = ha();
    for op in reset::ops(&c, &files["master1"]) {
        match &op {
            Op::Command {
                unless, on_change, ..
            } => assert!(unless.is_some() || *on_change, "{}", op.summary()),
            other => panic!("reset only runs commands: {}", other.summary()),
        }
    }
}

#[test]
fn etcd_backups_follow_the_legacy_keys_on_every_member() {
    let c = load(&conf_with(
        "seed-ha",
        "etcd_backup_period: 15\nkeep_backup_number: 3\netcd_backup_dir: /data/etcd-bk\n",
    ));
    let files = host_files(
        &c,
        &ksinstall::render::render_all(&c, &fixed_facts()).unwrap(),
    );
    let get = |host: &str, path: &str| {
        files[host]
            .iter()
            .find(|f| f.path == path)
            .map(|f| String::from_utf8_lossy(&f.content).into_owned())
    };
    let script = get("master2", "/opt/etcd_back/etcd_backup.sh").expect("backup script");
    for want in [
        "dir=/data/etcd-bk\n",
        "keep=3\n",
        "--endpoints=https://192.168.0.2:2379",
        "--cert=/etc/ssl/etcd/ssl/admin-master2.pem",
    ] {
        assert!(script.contains(want), "{want:?} not in:\n{script}");
    }
    let sh = std::process::Command::new("sh")
        .args(["-n", "-c", &script])
        .status()
        .unwrap();
    assert!(sh.success(), "{script}");
    let timer = get("master2", "/etc/systemd/system/etcd-backup.timer").unwrap();
    assert!(timer.contains("OnUnitActiveSec=15min"), "{timer}");
    assert!(get("node1", "/opt/etcd_back/etcd_backup.sh").is_none());
    // The etcd phase starts the timer once the member is healthy.
    let inputs = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &Default::default(),
    };
    let ops: Vec<String> = ksinstall::install::phases::Etcd
        .ops(c.node("master2").unwrap(), &inputs)
        .iter()
        .map(Op::summary)
        .collect();
    let at = |needle: &str| position(&ops, needle);
    assert!(at("endpoint health") < at("file /opt/etcd_back/etcd_backup.sh"));
    assert!(
        at("file /etc/systemd/system/etcd-backup.timer") < at("enable --now etcd-backup.timer")
    );
    assert!(
        at("restart --no-block etcd") < at("file /opt/etcd_back/etcd_backup.sh"),
        "a new backup script must not restart etcd"
    );
}

#[test]
fn bad_etcd_paths_and_backup_keys_are_named() {
    for (extra, name) in [
        ("etcd_backup_period: often\n", "EtcdBackup"),
        ("keep_backup_number: 0\n", "EtcdBackup"),
        ("etcd_backup_dir: \"/var/backups/a b\"\n", "EtcdPath"),
        ("etcd_backup_dir: backups\n", "EtcdPath"),
        (
            "etcd_data_dir: \"/var/lib/etcd\\nETCD_EXTRA=1\"\n",
            "EtcdPath",
        ),
        ("etcd_data_dir: /var/lib/../etc\n", "EtcdPath"),
    ] {
        let dir = conf_with("seed-ha", extra);
        let mut r = Report::default();
        let c = ksinstall::model::load(
            &ksinstall::model::Sources {
                conf_dir: dir,
                inventory: None,
                mode: ksinstall::model::Mode::MultiNode,
            },
            &mut r,
        )
        .unwrap();
        let text = ksinstall::validate::check(&c).render();
        assert!(text.contains(&format!("[ERROR {name}]")), "{extra}: {text}");
        assert!(
            text.contains("zz-test.yaml"),
            "{extra}: names the file: {text}"
        );
    }
}

#[test]
fn remove_node_keeps_the_first_master_and_force_is_named() {
    let (c, _) = ha();
    let mut r = Report::default();
    let names: Vec<String> = ["node2", "master3", "ghost", "master1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let t = ksinstall::install::remove::targets(&c, &names, &mut r);
    let taken: Vec<&str> = t.iter().map(|&i| c.nodes[i].name.as_str()).collect();
    assert_eq!(taken, ["node2", "master3"]);
    let text = r.render();
    assert!(
        text.contains("[ERROR RemoveFirstMaster]") && text.contains("'master1'"),
        "{text}"
    );
    assert!(
        text.contains("[ERROR UnknownNode]") && text.contains("'ghost'"),
        "{text}"
    );
    let plain = ksinstall::install::remove::drained("node2", false).summary();
    let forced = ksinstall::install::remove::drained("node2", true).summary();
    assert!(
        plain.contains("drain node2 --ignore-daemonsets") && !plain.contains("180s --force"),
        "{plain}"
    );
    assert!(forced.contains("--timeout=180s --force"), "{forced}");
    assert!(
        plain.contains("unless ! kubectl --kubeconfig /etc/kubernetes/admin.conf get node node2"),
        "{plain}"
    );
}

/// A master and etcd member leaves: refused unless the members that stay
/// keep a quorum; the others first learn the layout without it (etcd.env
/// and etcdctl.env with no restart, every API server's etcd servers, the
/// load balancers' masters), then `member remove` by its peer URL.
#[test]
fn remove_node_of_a_member_keeps_quorum_and_rewrites_what_lists_it() {
    use ksinstall::install::remove;
    let (c, _) = ha();
    let quorum = remove::quorum_kept(&c, "master3", "master1").summary();
    assert!(
        quorum.contains("https://192.168.0.1:2379 https://192.168.0.2:2379;")
            && quorum.contains("-ge 2 ]")
            && !quorum.contains("192.168.0.3"),
        "{quorum}"
    );
    parses(quorum.trim_start_matches("check "));
    let gone = remove::member_removed("master3", "https://192.168.0.3:2380", "master1").summary();
    assert!(
        gone.contains("member remove \"$id\"") && gone.contains("admin-master1.pem"),
        "{gone}"
    );
    parses(
        gone.trim_start_matches("run ")
            .split(" unless ")
            .next()
            .unwrap(),
    );
    // The hosts that stay, with master3's roles taken away.
    let mut rest = c.clone();
    let t = rest.nodes.iter().position(|n| n.name == "master3").unwrap();
    rest.nodes[t].roles.clear();
    let s = Scope::leaving(&rest, true, true);
    assert!(s.new.is_empty());
    for (phase, host) in [
        ("etcd", "master1"),
        ("loadbalancer", "node1"),
        ("control-plane", "master2"),
        ("network", "master1"),
    ] {
        assert!(s.runs(phase, host), "{phase} on {host}");
    }
    assert!(!s.runs("packages", "node1") && !s.runs("storage", "master1"));
    let rest_files = host_files(
        &rest,
        &ksinstall::render::render_all(&rest, &fixed_facts()).unwrap(),
    );
    let inputs = ksinstall::install::phases::Inputs {
        cluster: &rest,
        facts: &Default::default(),
        files: &rest_files,
        offline: &Default::default(),
    };
    let cp = ksinstall::install::phases::ALL
        [ksinstall::install::phases::by_name("control-plane").unwrap()];
    let kept: Vec<String> = s
        .ops(
            "control-plane",
            "master2",
            inputs.host_files("master2"),
            cp.ops(rest.node("master2").unwrap(), &inputs),
        )
        .iter()
        .map(Op::summary)
        .filter(|o| o.contains("; sed -i"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert!(
        kept[0].contains("--etcd-servers=https://192.168.0.1:2379,https://192.168.0.2:2379\"|"),
        "{}",
        kept[0]
    );
}

/// One source of truth (#8): every file the renderer makes for a host is
/// put there by some phase that runs on that host, in every layout. A file
/// rendered and never pushed is a decision that nothing reads (the calico
/// layouts' workers once lacked the etcd client certificate calico-node
/// reads from the host).
#[test]
fn every_rendered_file_is_pushed_by_a_phase_of_its_host() {
    use ksinstall::install::phases::{Inputs, ALL};
    let mut missing = Vec::new();
    for v in render_support::VARIANTS {
        let c = render_support::load_mode(&conf_with(v.seed, v.extra), v.mode);
        let mut facts = fixed_facts();
        if v.mode == ksinstall::model::Mode::AllInOne {
            facts.nodes.insert(
                "ks-allinone".into(),
                ksinstall::render::NodeFacts {
                    ip: Some("192.168.0.99".into()),
                    ..Default::default()
                },
            );
        }
        let files = host_files(&c, &ksinstall::render::render_all(&c, &facts).unwrap());
        let inputs = Inputs {
            cluster: &c,
            facts: &Default::default(),
            files: &files,
            offline: &Default::default(),
        };
        for (i, node) in c.nodes.iter().enumerate() {
            let pushed: BTreeSet<String> = ALL
                .iter()
                .filter(|p| p.hosts(&c).contains(&i))
                .flat_map(|p| p.ops(node, &inputs))
                .filter_map(|o| match o {
                    Op::File { path, .. } | Op::Block { path, .. } => Some(path),
                    _ => None,
                })
                .collect();
            for f in files.get(&node.name).into_iter().flatten() {
                if !pushed.contains(&f.path) {
                    missing.push(format!("{}: {}: {}", v.name, node.name, f.path));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rendered, never pushed:\n{}",
        missing.join("\n")
    );
}

/// `certs renew`: each etcd member's restart is awaited (the phase's
/// restart does not block) before its health check, so the next member is
/// never restarted while this one is down; kubeadm's command by version.
#[test]
fn renew_awaits_each_etcd_restart_and_names_kubeadms_command_by_version() {
    use ksinstall::install::phases::{by_name, Inputs, ALL};
    use ksinstall::install::renew;
    let (mut c, files) = ha();
    let inputs = Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &Default::default(),
    };
    let etcd = ALL[by_name("etcd").unwrap()];
    let ops: Vec<String> = etcd
        .ops(c.node("master1").unwrap(), &inputs)
        .iter()
        .map(Op::summary)
        .collect();
    let at = |needle: &str| position(&ops, needle);
    // The phase's own restart notes the process and awaits a new one.
    let restart = at("restart --no-block etcd");
    assert!(
        ops[restart].contains("old=$(systemctl show -p MainPID --value etcd)"),
        "{}",
        ops[restart]
    );
    assert!(
        ops[restart].contains("etcd did not restart within 60 s"),
        "{}",
        ops[restart]
    );
    assert!(restart < at("endpoint health"));
    assert!(at("file /etc/ssl/etcd/ssl/member-master1.pem") < restart);
    // seed-ha is Kubernetes 1.16: kubeadm's `alpha` command.
    let old = renew::kubeadm_renew(&c).summary();
    assert!(old.contains("kubeadm alpha certs renew all"), "{old}");
    c.config.kube_version = ksinstall::config::KubeVersion::parse("v1.34.4").unwrap();
    let new = renew::kubeadm_renew(&c).summary();
    assert!(
        new.contains("kubeadm certs renew all") && !new.contains("alpha"),
        "{new}"
    );
    assert!(
        new.contains("crictl stop") && new.contains("/readyz"),
        "{new}"
    );
    let restart_script = ops[restart]["run ".len()..].trim_end_matches(" (on change)");
    for script in [&new["run ".len()..], restart_script] {
        let st = std::process::Command::new("sh")
            .args(["-n", "-c", script])
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
    }
}

/// Preflight of a run on an existing cluster warns, per host, of the
/// certificates that end within 30 days, and names the verb that renews.
#[test]
fn certificates_near_their_end_are_a_preflight_warning() {
    use ksinstall::install::certs::{expiring, Expiry};
    let (c, _) = ha();
    let e = |host: &str, path: &str, days_left: i32| Expiry {
        host: host.into(),
        path: path.into(),
        subject: "x".into(),
        not_after: "Dec 12 00:00:00 2026 GMT".into(),
        days_left,
    };
    let found = [
        e("master1", "/etc/kubernetes/ssl/apiserver.crt", 300),
        e("master1", "/etc/kubernetes/admin.conf", 12),
        e("master1", "/etc/ssl/etcd/ssl/member-master1.pem", 20),
        e(
            "node1",
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            200,
        ),
    ];
    let mut r = Report::default();
    r.extend(expiring(&c, &found));
    let text = r.render();
    assert_eq!(r.items.len(), 1, "{text}");
    assert!(!r.has_errors(), "{text}");
    assert!(
        text.contains("[WARNING CertExpiry]")
            && text.contains("'master1': 2 certificate(s)")
            && text.contains("/etc/kubernetes/admin.conf in 12 day(s)")
            && text.contains("ksinstall certs renew"),
        "{text}"
    );
    assert!(expiring(&c, &found[..1]).is_empty());
}

/// `etcd restore`: each member restores under its own name and the
/// cluster's member list from its rendered /etc/etcd.env, into a fresh
/// data directory, the old one moved aside; the tool by etcd version.
#[test]
fn restore_uses_each_members_env_and_moves_the_old_data_aside() {
    use ksinstall::install::restore;
    let (mut c, _) = ha();
    let old = restore::restored(&c).summary();
    assert!(
        old.contains("ETCDCTL_API=3 etcdctl snapshot restore"),
        "{old}"
    );
    c.config.kube_version = ksinstall::config::KubeVersion::parse("v1.34.4").unwrap();
    c.config.etcd_version = "v3.6.8".into();
    let new = restore::restored(&c).summary();
    for want in [
        ". /etc/etcd.env",
        "etcdutl snapshot restore /var/tmp/ksinstall-restore.db",
        "--name \"$ETCD_NAME\"",
        "--initial-cluster \"$ETCD_INITIAL_CLUSTER\"",
        "mv \"$ETCD_DATA_DIR\" \"$aside\"",
        "rm -f /var/tmp/ksinstall-restore.db",
        // Watchers (kubelets) must re-list: their revisions are ahead.
        "--bump-revision 1000000000 --mark-compacted",
    ] {
        assert!(new.contains(want), "{want:?} not in {new}");
    }
    assert!(
        !new.contains("rm -rf"),
        "the old data is never deleted: {new}"
    );
    let check = restore::snapshot_checked(&c).summary();
    assert!(check.contains("etcdutl snapshot status"), "{check}");
    parses(&new["run ".len()..]);
    parses(&check["check ".len()..]);
}

fn running_at(c: &Cluster, v: &str) -> upgrade::Running {
    let mut r = upgrade::Running::default();
    let mut text = String::new();
    for n in &c.nodes {
        text.push_str(&format!("node {} {v}\n", n.name));
    }
    text.push_str("serviceSubnet 10.233.0.0/18\npodSubnet 10.233.64.0/18\n");
    r.parse_cluster(&text);
    for n in c.nodes.iter().filter(|n| n.has(Role::Master)) {
        r.apiservers.insert(n.name.clone(), v.into());
    }
    r
}

fn decided(c: &Cluster, r: &upgrade::Running) -> (upgrade::Decision, Report) {
    let mut report = Report::default();
    let d = upgrade::decide(c, r, &mut report);
    (d, report)
}

fn named(c: &Cluster, d: &upgrade::Decision) -> Vec<String> {
    d.nodes.iter().map(|&i| c.nodes[i].name.clone()).collect()
}

#[test]
fn upgrade_goes_master_first_then_workers_and_skips_what_is_done() {
    let c = load(&conf_with("seed-ha", "kube_version: v1.35.4\n"));
    let mut r = running_at(&c, "v1.34.4");
    let (d, report) = decided(&c, &r);
    assert!(!report.has_errors(), "{}", report.render());
    assert_eq!(
        named(&c, &d),
        ["master1", "master2", "master3", "node1", "node2", "node3"]
    );
    assert_eq!(d.table, ["k8s_version: v1.34.4 to v1.35.4"]);
    // A resumed run: master1 wholly done, master2's kubelet done but not its
    // API server.
    r.kubelets.insert("master1".into(), "v1.35.4".into());
    r.apiservers.insert("master1".into(), "v1.35.4".into());
    r.kubelets.insert("master2".into(), "v1.35.4".into());
    let (d, _) = decided(&c, &r);
    assert_eq!(
        named(&c, &d),
        ["master2", "master3", "node1", "node2", "node3"]
    );
    // All done: nothing.
    let (d, report) = decided(&c, &running_at(&c, "v1.35.4"));
    assert!(d.nodes.is_empty() && !report.has_errors(), "{d:?}");
}

#[test]
fn upgrade_refuses_skipped_minors_downgrades_new_cidrs_and_unknown_nodes() {
    let c = load(&conf_with("seed-ha", "kube_version: v1.36.3\n"));
    let (_, report) = decided(&c, &running_at(&c, "v1.34.4"));
    let text = report.render();
    assert!(
        text.contains("SkipMinor") && text.contains("v1.35.x"),
        "{text}"
    );

    let c = load(&conf_with("seed-ha", "kube_version: v1.34.4\n"));
    let (_, report) = decided(&c, &running_at(&c, "v1.35.4"));
    assert!(report.render().contains("Downgrade"), "{}", report.render());

    let c = load(&conf_with(
        "seed-ha",
        "kube_version: v1.35.4\nkube_pods_subnet: 10.244.0.0/16\n",
    ));
    let (d, report) = decided(&c, &running_at(&c, "v1.34.4"));
    let text = report.render();
    assert!(
        text.contains("Nonsupport") && text.contains("kube_pods_subnet"),
        "{text}"
    );
    assert!(
        d.table
            .iter()
            .any(|l| l == "kube_pods_subnet: 10.233.64.0/18 to 10.244.0.0/16    nonsupport"),
        "{:?}",
        d.table
    );

    let c = load(&conf_with("seed-ha", "kube_version: v1.35.4\n"));
    let mut r = running_at(&c, "v1.34.4");
    r.kubelets.remove("node3");
    let (d, report) = decided(&c, &r);
    assert!(
        report.render().contains("NotInCluster"),
        "{}",
        report.render()
    );
    assert!(!named(&c, &d).contains(&"node3".to_string()));
}

#[test]
fn upgrade_reads_what_the_cluster_runs() {
    let mut r = upgrade::Running::default();
    r.parse_cluster("node node1 v1.34.4\nnode node2 v1.34.4\nserviceSubnet 10.233.0.0/18\npodSubnet 10.233.64.0/18\nnoise\n");
    assert_eq!(r.kubelets.len(), 2);
    assert_eq!(r.service_subnet.as_deref(), Some("10.233.0.0/18"));
    assert_eq!(r.pod_subnet.as_deref(), Some("10.233.64.0/18"));
    // The queries' own sed: a ClusterConfiguration and a manifest as
    // kubeadm writes them.
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "printf 'networking:\\n  dnsDomain: cluster.local\\n  podSubnet: 10.233.64.0/18\\n  serviceSubnet: \"10.233.0.0/18\"\\n' \
             | sed -n 's/^ *\\(serviceSubnet\\|podSubnet\\): *\"\\{0,1\\}\\([^\" ]*\\)\"\\{0,1\\} *$/\\1 \\2/p'",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "podSubnet 10.233.64.0/18\nserviceSubnet 10.233.0.0/18\n"
    );
    assert!(upgrade::CLUSTER_QUERY.contains(
        "sed -n 's/^ *\\(serviceSubnet\\|podSubnet\\): *\"\\{0,1\\}\\([^\" ]*\\)\"\\{0,1\\} *$/\\1 \\2/p'"
    ));
    let dir = std::env::temp_dir().join(format!("ksinstall-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("m.yaml"),
        "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.34.4\n",
    )
    .unwrap();
    let q = upgrade::MASTER_QUERY.replace(
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        dir.join("m.yaml").to_str().unwrap(),
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &q])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1.34.4\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upgrade_of_a_node_goes_kubeadm_drain_kubelet_uncordon() {
    let c = load(&conf_with("seed-ha", "kube_version: v1.35.4\n"));
    let mut facts = fixed_facts();
    for n in &c.nodes {
        facts.nodes.insert(
            n.name.clone(),
            ksinstall::render::NodeFacts {
                cgroup_v1: true,
                ..Default::default()
            },
        );
    }
    let files = host_files(&c, &ksinstall::render::render_all(&c, &facts).unwrap());
    let blob = |s: &str| ksinstall::exec::Blob::from(s.as_bytes().to_vec());
    let mut offline = ksinstall::install::phases::Offline {
        repo_dir: "/var/lib/ksinstall/repo".into(),
        ..Default::default()
    };
    for n in &c.nodes {
        offline.binaries.insert(
            n.name.clone(),
            vec![
                ("kubelet".into(), blob("new kubelet")),
                ("kubeadm".into(), blob("new kubeadm")),
            ],
        );
    }
    // The hosts say cgroup v1 (and the render, from the same rule, wrote
    // failCgroupV1 into the kubelet's config).
    let host_facts: std::collections::BTreeMap<String, ksinstall::install::facts::Facts> = c
        .nodes
        .iter()
        .map(|n| {
            let f = ksinstall::install::facts::Facts {
                cgroup_v1: true,
                ..Default::default()
            };
            (n.name.clone(), f)
        })
        .collect();
    let rendered: String = files
        .values()
        .flatten()
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .collect();
    assert!(rendered.contains("\nfailCgroupV1: false\n"));
    let inp = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &host_facts,
        files: &files,
        offline: &offline,
    };
    let at = |name: &str| c.nodes.iter().position(|n| n.name == name).unwrap();
    let first = at("master1");
    let steps = upgrade::node_steps(&c, first, first, &inp, false);
    let hosts: Vec<usize> = steps.iter().map(|(h, _, _)| *h).collect();
    assert_eq!(hosts, [first; 4]);
    let flat: Vec<String> = steps
        .iter()
        .flat_map(|(_, _, ops)| ops.iter().map(Op::summary))
        .collect();
    // The new kubeadm before it runs; cgroup v1 allowed in the cluster's
    // kubelet config before kubeadm writes each node's from it; the drain
    // before the kubelet's restart; uncordon last.
    let kubeadm = position(&flat, "file /usr/local/bin/kubeadm");
    let cgroup = position(&flat, "failCgroupV1: false");
    let apply = position(&flat, "kubeadm upgrade apply v1.35.4 --yes");
    let drain = position(&flat, "drain master1");
    let kubelet = position(&flat, "file /usr/local/bin/kubelet");
    let restart = position(&flat, "systemctl restart kubelet");
    let uncordon = position(&flat, "uncordon master1");
    let settled = position(&flat, "get --raw=/readyz");
    assert!(restart < settled && settled < uncordon, "{flat:#?}");
    assert!(
        kubeadm < cgroup && cgroup < apply && apply < drain,
        "{flat:#?}"
    );
    assert!(
        drain < kubelet && kubelet < restart && restart < uncordon,
        "{flat:#?}"
    );
    assert!(
        flat[apply].contains("unless grep -q kube-apiserver:v1.35.4"),
        "{}",
        flat[apply]
    );
    // CoreDNS is the versions table's, not kubeadm's; cgroup v1 passes the
    // system check as the kubelet's config allows it.
    assert!(
        flat[apply].contains("--skip-phases=addon/coredns")
            && flat[apply].contains("CoreDNSMigration")
            && flat[apply].contains("SystemVerification"),
        "{}",
        flat[apply]
    );
    // A worker: `upgrade node`, drained and uncordoned from the first master.
    let w = at("node2");
    let steps = upgrade::node_steps(&c, w, first, &inp, true);
    let hosts: Vec<usize> = steps.iter().map(|(h, _, _)| *h).collect();
    assert_eq!(hosts, [w, first, w, first]);
    let flat: Vec<String> = steps
        .iter()
        .flat_map(|(_, _, ops)| ops.iter().map(Op::summary))
        .collect();
    assert!(!flat.iter().any(|o| o.contains("/readyz")), "{flat:#?}");
    let node = position(&flat, "kubeadm upgrade node");
    assert!(flat[node].contains("SystemVerification"), "{}", flat[node]);
    assert!(
        !flat.iter().any(|o| o.contains("failCgroupV1")),
        "{flat:#?}"
    );
    assert!(flat[position(&flat, "drain node2")].contains("--force"));
    for (_, _, ops) in &steps {
        for o in ops {
            if let Op::Command { run, unless, .. } = o {
                parses(run);
                if let Some(u) = unless {
                    parses(u);
                }
            }
            if let Op::Check { run, .. } = o {
                parses(run);
            }
        }
    }
}

/// The ConfigMap edit, against a kubectl that holds it in a file.
#[test]
fn upgrade_adds_fail_cgroup_v1_to_the_clusters_kubelet_config_once() {
    let op = upgrade::cgroup_v1_allowed();
    let Op::Command {
        run,
        unless: Some(unless),
        ..
    } = op
    else {
        panic!("{op:?}")
    };
    let dir = std::env::temp_dir().join(format!("ksinstall-cgv1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cm = dir.join("kubelet");
    std::fs::write(&cm, "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n").unwrap();
    // get → the file; create --dry-run → the from-file's content; replace → the file.
    let stub = format!(
        "kubectl() {{ case \"$*\" in *'get cm kubelet-config'*) cat {cm};; \
         *'create cm'*) for a in \"$@\"; do case \"$a\" in --from-file=kubelet=*) cat \"${{a#--from-file=kubelet=}}\";; esac; done;; \
         *replace*) cat > {cm};; esac; }}\n",
        cm = cm.display()
    );
    let sh = |script: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("{stub}{script}")])
            .output()
            .unwrap()
    };
    assert!(!sh(&unless).status.success());
    let o = sh(&run);
    assert!(o.status.success(), "{o:?}");
    let text = std::fs::read_to_string(&cm).unwrap();
    assert!(
        text.contains("cgroupDriver: systemd\nfailCgroupV1: false\n"),
        "{text}"
    );
    assert!(sh(&unless).status.success());
    // Once only, and a `true` there is replaced.
    std::fs::write(&cm, "cgroupDriver: systemd\nfailCgroupV1: true\n").unwrap();
    assert!(sh(&run).status.success());
    let text = std::fs::read_to_string(&cm).unwrap();
    assert_eq!(text, "cgroupDriver: systemd\nfailCgroupV1: false\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// After a master's kubelet restart, the wait lasts until the API server
/// the new kubelet started has been up 10 s (or, when it kept the old one,
/// 30 s have passed) — against a clock of stubs.
#[test]
fn upgrade_waits_for_the_api_server_the_new_kubelet_starts() {
    let Op::Check { run, .. } = upgrade::apiserver_settled() else {
        panic!()
    };
    // kubelet started K s ago, the running API server S s ago; `sleep`
    // ends the script with 7: it would wait.
    let sh = |k: u64, s: u64| {
        let stub = format!(
            "systemctl() {{ date -u -d @$(( $(date +%s) - {k} )) '+%a %Y-%m-%d %H:%M:%S UTC'; }}; \
             crictl() {{ case \"$1\" in ps) echo abc;; inspect) printf '{{\\n  \"status\": {{\\n    \"startedAt\": \"%s\",\\n' \"$(date -u -d @$(( $(date +%s) - {s} )) +%Y-%m-%dT%H:%M:%S.000000000Z)\";; esac; }}; \
             kubectl() {{ :; }}; sleep() {{ exit 7; }}\n"
        );
        std::process::Command::new("bash")
            .args(["-c", &format!("{stub}{run}")])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(sh(20, 12), Some(0), "restarted by the new kubelet, up 12 s");
    assert_eq!(
        sh(5, 100),
        Some(7),
        "the old one, the kubelet just restarted"
    );
    assert_eq!(
        sh(40, 100),
        Some(0),
        "the old one kept for 30 s: nothing to restart"
    );
    assert_eq!(sh(20, 5), Some(7), "the new one up 5 s only");
}

/// The etcd phase's restart returns once a new etcd process runs, and
/// fails (bounded) when none comes: against a systemctl and a clock of stubs.
#[test]
fn the_etcd_restart_awaits_a_new_process() {
    use ksinstall::install::phases::{by_name, Inputs, ALL};
    let (c, files) = ha();
    let inputs = Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &Default::default(),
    };
    let ops = ALL[by_name("etcd").unwrap()].ops(c.node("master1").unwrap(), &inputs);
    let run = ops
        .iter()
        .find_map(|o| match o {
            Op::Command { describe, run, .. } if describe == "restart etcd" => Some(run.clone()),
            _ => None,
        })
        .expect("a restart");
    let dir = std::env::temp_dir().join(format!("ksinstall-etcd-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |restarts: bool| {
        std::fs::write(dir.join("pid"), "100\n").unwrap();
        std::fs::write(dir.join("clock"), "1000\n").unwrap();
        let new_pid = if restarts { "echo 200 > $T/pid" } else { ":" };
        let stub = format!(
            "T={}; systemctl() {{ case \"$1\" in show) cat $T/pid;; restart) {new_pid};; esac; }}; \
             date() {{ c=$(cat $T/clock); echo $((c + 31)) > $T/clock; echo $c; }}; sleep() {{ :; }}\n",
            dir.display()
        );
        std::process::Command::new("sh")
            .args(["-c", &format!("{stub}{run}")])
            .output()
            .unwrap()
    };
    assert!(sh(true).status.success());
    let o = sh(false);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("etcd did not restart within 60 s"),
        "{o:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// etcd moves with `etcd_version`: members that run another version are
/// upgraded one at a time (one minor at a time, never down), each by the
/// new release unpacked before the etcd phase's restart and health check.
#[test]
fn upgrade_moves_etcd_with_etcd_version() {
    let at = |extra: &str, running: &str| {
        let c = load(&conf_with(
            "seed-ha",
            &format!("kube_version: v1.34.4\n{extra}"),
        ));
        let mut r = running_at(&c, "v1.34.4");
        for n in c.nodes.iter().filter(|n| n.has(Role::Etcd)) {
            r.etcd.insert(n.name.clone(), running.into());
        }
        let (d, report) = decided(&c, &r);
        let etcd: Vec<String> = d.etcd.iter().map(|&i| c.nodes[i].name.clone()).collect();
        (etcd, d.table, report.render())
    };
    let (etcd, table, report) = at("etcd_version: v3.6.8\n", "v3.6.8");
    assert!(
        etcd.is_empty() && table.len() == 1,
        "{etcd:?} {table:?} {report}"
    );
    let (etcd, table, report) = at("etcd_version: v3.6.9\n", "v3.6.8");
    assert_eq!(etcd, ["master1", "master2", "master3"], "{report}");
    assert!(
        table.contains(&"etcd_version: v3.6.8 to v3.6.9".to_string()),
        "{table:?}"
    );
    assert!(!report.contains("ERROR"), "{report}");
    assert!(at("etcd_version: v3.5.24\n", "v3.6.8")
        .2
        .contains("EtcdDowngrade"));
    let skip = at("etcd_version: v3.6.8\n", "v3.4.23").2;
    assert!(
        skip.contains("EtcdSkipMinor") && skip.contains("v3.5.x"),
        "{skip}"
    );

    // The member's operations: the release unpacked, then the phase's
    // restart (which that change sets off) and health check.
    let c = load(&conf_with(
        "seed-ha",
        "kube_version: v1.34.4\netcd_version: v3.6.9\n",
    ));
    let files = host_files(
        &c,
        &ksinstall::render::render_all(&c, &fixed_facts()).unwrap(),
    );
    let mut offline = ksinstall::install::phases::Offline {
        repo_dir: "/var/lib/ksinstall/repo".into(),
        ..Default::default()
    };
    offline.binaries.insert(
        "master1".into(),
        vec![
            (
                "etcd-v3.6.9-linux-amd64.tar.gz".into(),
                ksinstall::exec::Blob::from(b"tgz".to_vec()),
            ),
            ("kubelet".into(), ksinstall::exec::Blob::from(b"k".to_vec())),
        ],
    );
    let inp = ksinstall::install::phases::Inputs {
        cluster: &c,
        facts: &Default::default(),
        files: &files,
        offline: &offline,
    };
    let ops: Vec<String> = upgrade::etcd_ops(c.node("master1").unwrap(), &inp)
        .iter()
        .map(Op::summary)
        .collect();
    let unpack = position(&ops, "tar -xzf");
    let restart = position(&ops, "restart --no-block etcd");
    let health = position(&ops, "endpoint health");
    assert!(unpack < restart && restart < health, "{ops:#?}");
    assert!(!ops.iter().any(|o| o.contains("kubelet")), "{ops:#?}");
    // The query reads what etcd says of itself.
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "etcd() {{ printf 'etcd Version: 3.6.8\\nGit SHA: abc\\nGo Version: go1.24\\n'; }}; {}",
                upgrade::ETCD_QUERY
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v3.6.8\n");
}
