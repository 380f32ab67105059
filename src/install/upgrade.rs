//! `ksinstall upgrade`: the cluster to the conf's `kube_version`, one node
//! at a time, as kubeadm's own procedure goes.
//!
//! What the cluster runs is read from it (each kubelet's version, each
//! master's API server image), never from a local file, so a re-run after
//! an interruption picks up at the first node not done and a finished
//! upgrade changes nothing. kubeadm moves one minor at a time and never
//! back; the service and pod CIDRs cannot change (the legacy `nonsupport`).
//! The new version's bundle is checked before any host changes.
//!
//! Then: the new images imported on every node (nothing restarts); etcd,
//! when `etcd_version` moved, one member at a time; and for each node —
//! the first master, the other masters, then the workers — `kubeadm
//! upgrade apply` (first master) or `upgrade node`, a drain, the new
//! kubelet, kubectl and unit files, the kubelet restarted, and the node
//! back Ready at the new version before it is uncordoned and the next
//! begins. Last, CoreDNS at the versions table's image for the target
//! (kubeadm's own CoreDNS upgrade is skipped: the release is the table's).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;

use super::ops::Op;
use super::phases::{self, Inputs, Offline};
use super::run::{begin, facts_of_all, DayTwo, RunOptions};
use crate::diag::{Diagnostic, Invalid, Report};
use crate::exec::shell::sh_quote;
use crate::exec::{Engine, HostFail};
use crate::model::{versions, Cluster, Role};

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";
const APISERVER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";

/// What the cluster runs, as read from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Running {
    /// Node name → its kubelet's version (from the API server).
    pub kubelets: BTreeMap<String, String>,
    /// Master name → the tag of its kube-apiserver static pod image.
    pub apiservers: BTreeMap<String, String>,
    /// etcd member name → the version its etcd binary says (`v3.6.8`).
    pub etcd: BTreeMap<String, String>,
    pub service_subnet: Option<String>,
    pub pod_subnet: Option<String>,
}

/// The first master's part of the reading: `node NAME VERSION`,
/// `serviceSubnet CIDR`, `podSubnet CIDR` lines.
pub const CLUSTER_QUERY: &str = "test -f /etc/kubernetes/admin.conf || { echo 'no /etc/kubernetes/admin.conf: is this cluster installed?' >&2; exit 3; }; \
     kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o jsonpath='{range .items[*]}node {.metadata.name} {.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}' || exit 1; \
     kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' \
       | sed -n 's/^ *\\(serviceSubnet\\|podSubnet\\): *\"\\{0,1\\}\\([^\" ]*\\)\"\\{0,1\\} *$/\\1 \\2/p'";

/// Each etcd member's part: its etcd's version.
pub const ETCD_QUERY: &str =
    "etcd --version 2>/dev/null | sed -n 's/^etcd Version: *\\(.*\\)/v\\1/p' | head -1";

/// Each master's part: the tag of its API server image.
pub const MASTER_QUERY: &str =
    "sed -n 's/^ *image: .*kube-apiserver:\\(v[^ \"]*\\).*/\\1/p' /etc/kubernetes/manifests/kube-apiserver.yaml 2>/dev/null | head -1";

impl Running {
    /// Reads the lines of `CLUSTER_QUERY`.
    pub fn parse_cluster(&mut self, text: &str) {
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[..] {
                ["node", name, version] => {
                    self.kubelets.insert(name.into(), version.into());
                }
                ["serviceSubnet", cidr] => self.service_subnet = Some(cidr.into()),
                ["podSubnet", cidr] => self.pod_subnet = Some(cidr.into()),
                _ => {}
            }
        }
    }
}

/// The nodes to upgrade, in order, and the version table shown before.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Inventory indices: the first master, the other masters, the workers.
    pub nodes: Vec<usize>,
    /// `k8s_version: v1.34.4 to v1.35.4` and the like (the legacy table).
    pub table: Vec<String>,
    /// etcd members whose etcd is not the conf's `etcd_version`, in order.
    pub etcd: Vec<usize>,
}

fn older(a: &str, b: &str) -> bool {
    versions::triple(a) < versions::triple(b)
}

/// Whether `node` runs `target` in full: its kubelet and, on a master, its
/// API server.
fn done(c: &Cluster, i: usize, run: &Running, target: &str) -> bool {
    let n = &c.nodes[i];
    run.kubelets.get(&n.name).map(String::as_str) == Some(target)
        && (!n.has(Role::Master) || run.apiservers.get(&n.name).map(String::as_str) == Some(target))
}

/// Works out what to upgrade from what runs, pushing an error for what
/// kubeadm cannot do (nothing has changed on any host then).
pub fn decide(c: &Cluster, run: &Running, report: &mut Report) -> Decision {
    let target = c.config.kube_version.to_string();
    let mut order: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master))
        .collect();
    order.extend((0..c.nodes.len()).filter(|&i| {
        let n = &c.nodes[i];
        n.has(Role::Worker) && !n.has(Role::Master)
    }));
    for &i in &order {
        let n = &c.nodes[i];
        if !run.kubelets.contains_key(&n.name) {
            report.push(c.at_node(
                Diagnostic::error(
                    "NotInCluster",
                    format!("'{}' is in the inventory but not in the cluster: add it with add-nodes after the upgrade, or take it out of hosts.ini for now", n.name),
                ),
                n,
            ));
        }
    }
    let running: Vec<&String> = run
        .kubelets
        .values()
        .chain(run.apiservers.values())
        .collect();
    let lowest = running.iter().copied().min_by_key(|v| versions::triple(v));
    let newest = running.iter().copied().max_by_key(|v| versions::triple(v));
    if let Some(v) = newest.filter(|v| older(&target, v)) {
        report.push(Diagnostic::error(
            "Downgrade",
            format!("the cluster runs {v}, newer than kube_version {target}: kubeadm does not downgrade. Set kube_version in the conf to what the cluster runs or newer"),
        ));
    }
    let (t_minor, low_minor) = (
        versions::triple(&target).map(|t| t.1),
        lowest.and_then(|v| versions::triple(v)).map(|t| t.1),
    );
    if let (Some(t), Some(l), Some(low)) = (t_minor, low_minor, lowest) {
        if t > l + 1 {
            report.push(Diagnostic::error(
                "SkipMinor",
                format!("the cluster runs {low} and kube_version is {target}: kubeadm upgrades one minor at a time. Set kube_version to v1.{}.x, upgrade, then go on to {target}", l + 1),
            ));
        }
    }
    let mut table = vec![format!(
        "k8s_version: {} to {target}",
        lowest.map(String::as_str).unwrap_or("unknown")
    )];
    for (key, now, label) in [
        (
            "kube_service_addresses",
            &run.service_subnet,
            "serviceSubnet",
        ),
        ("kube_pods_subnet", &run.pod_subnet, "podSubnet"),
    ] {
        let want = c.config.text(key);
        match now {
            Some(now) if *now != want => {
                table.push(format!("{key}: {now} to {want}    nonsupport"));
                report.push(Diagnostic::error(
                    "Nonsupport",
                    format!("{key} is {want} in the conf but the cluster's {label} is {now}: it cannot change on an installed cluster. Warnning: Parameters containing the word 'nonsupport' can't change. Please change the relevant parameters in conf/vars.yml !"),
                ));
            }
            _ => {}
        }
    }
    let etcd = decide_etcd(c, run, &mut table, report);
    let nodes = order
        .into_iter()
        .filter(|&i| run.kubelets.contains_key(&c.nodes[i].name) && !done(c, i, run, &target))
        .collect();
    Decision { nodes, table, etcd }
}

/// The etcd members to move to the conf's `etcd_version`, one at a time
/// (etcd upgrades one minor at a time and never down).
fn decide_etcd(
    c: &Cluster,
    run: &Running,
    table: &mut Vec<String>,
    report: &mut Report,
) -> Vec<usize> {
    let want = format!("v{}", c.config.etcd_version.trim().trim_start_matches('v'));
    let members: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Etcd))
        .collect();
    let mut todo = Vec::new();
    for &i in &members {
        let Some(have) = run.etcd.get(&c.nodes[i].name) else {
            continue;
        };
        if *have == want {
            continue;
        }
        let (h, w) = (versions::triple(have), versions::triple(&want));
        if w < h {
            report.push(Diagnostic::error(
                "EtcdDowngrade",
                format!("'{}' runs etcd {have}, newer than etcd_version {want}: etcd does not go back. Set etcd_version to {have} or newer", c.nodes[i].name),
            ));
        } else if let (Some(h), Some(w)) = (h, w) {
            if (w.0, w.1) > (h.0, h.1 + 1) {
                report.push(Diagnostic::error(
                    "EtcdSkipMinor",
                    format!("'{}' runs etcd {have} and etcd_version is {want}: etcd upgrades one minor at a time. Set etcd_version to v{}.{}.x first", c.nodes[i].name, h.0, h.1 + 1),
                ));
            }
        }
        if !table.iter().any(|l| l.starts_with("etcd_version:")) {
            table.push(format!("etcd_version: {have} to {want}"));
        }
        todo.push(i);
    }
    todo
}

/// An etcd member's upgrade: the new release unpacked over the old binary,
/// then the etcd phase's own operations, whose restart (on that change)
/// awaits the new process and whose health check follows.
pub fn etcd_ops(node: &crate::model::Node, inp: &Inputs) -> Vec<Op> {
    let etcd = phases::ALL[phases::by_name("etcd").expect("a phase")];
    let mut ops: Vec<Op> = phases::binaries(node, inp)
        .into_iter()
        .filter(|(file, _)| file.starts_with("etcd-"))
        .flat_map(|(file, content)| phases::binary_ops(&inp.offline.repo_dir, &file, &content))
        .collect();
    ops.extend(etcd.ops(node, inp));
    ops
}

/// The preflight errors `kubeadm upgrade` must pass over, and why:
/// CoreDNS is the versions table's (its Corefile migration library knows
/// only kubeadm's own release), and from 1.35 on a cgroup v1 host the
/// system check refuses what `failCgroupV1: false` allows.
fn ignored(cgroup_v1: bool) -> String {
    let mut v = vec!["CoreDNSUnsupportedPlugins", "CoreDNSMigration"];
    if cgroup_v1 {
        v.push("SystemVerification");
    }
    format!("--ignore-preflight-errors={}", v.join(","))
}

/// `kubeadm upgrade apply` on the first master: the control plane, the
/// cluster's kubeadm and kubelet configs, kube-proxy. Not CoreDNS: the
/// versions table's release stays, and its image is set apart
/// (`coredns_image`). Skipped where the API server already runs the target.
pub fn applied(target: &str, cgroup_v1: bool) -> Op {
    Op::run_unless(
        &format!("kubeadm upgrade apply {target}"),
        &format!(
            "timeout -k 900s 900s kubeadm upgrade apply {} --yes --skip-phases=addon/coredns {}",
            sh_quote(target),
            ignored(cgroup_v1)
        ),
        &at_target(target),
    )
}

/// `kubeadm upgrade node` on the other nodes: a master's control plane, and
/// on every node the kubelet configuration from the cluster's.
pub fn node_upgraded(master: bool, target: &str, cgroup_v1: bool) -> Op {
    let run = format!(
        "timeout -k 900s 900s kubeadm upgrade node {}",
        ignored(cgroup_v1)
    );
    match master {
        true => Op::run_unless("kubeadm upgrade node", &run, &at_target(target)),
        false => Op::run("kubeadm upgrade node (the kubelet configuration)", &run),
    }
}

/// CoreDNS at the target's image of the versions table (kubeadm's upgrade
/// leaves it alone); skipped when it runs that already.
pub fn coredns_image(image: &str) -> Op {
    let img = sh_quote(image);
    Op::run_unless(
        &format!("CoreDNS at {image}"),
        &format!(
            "{KUBECTL} -n kube-system set image deployment/coredns coredns={img} >/dev/null && \
             {KUBECTL} -n kube-system rollout status deployment coredns --timeout=180s"
        ),
        &format!(
            "[ \"$({KUBECTL} -n kube-system get deployment coredns -o jsonpath='{{.spec.template.spec.containers[0].image}}')\" = {img} ]"
        ),
    )
}

fn at_target(target: &str) -> String {
    format!(
        "grep -q {} {APISERVER_MANIFEST}",
        sh_quote(&format!("kube-apiserver:{target}"))
    )
}

/// From 1.35 the kubelet refuses cgroup v1 unless its configuration says
/// `failCgroupV1: false`, and `kubeadm upgrade` writes each node's from the
/// cluster's kubelet-config ConfigMap: the line goes in there first (the
/// render's decision, `kubelet_allow_cgroup_v1`).
pub fn cgroup_v1_allowed() -> Op {
    let get =
        format!("{KUBECTL} -n kube-system get cm kubelet-config -o jsonpath='{{.data.kubelet}}'");
    Op::run_unless(
        "let the kubelets run on cgroup v1 (failCgroupV1: false in kubelet-config)",
        &format!(
            "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; {get} | grep -v '^failCgroupV1:' >\"$d/kubelet\"; \
             echo 'failCgroupV1: false' >>\"$d/kubelet\"; \
             {KUBECTL} -n kube-system create cm kubelet-config --from-file=kubelet=\"$d/kubelet\" --dry-run=client -o yaml | {KUBECTL} replace -f - >/dev/null"
        ),
        &format!("{get} | grep -qx 'failCgroupV1: false'"),
    )
}

/// Drains `node` (run on the first master): pods a controller manages
/// start elsewhere; `--force` also deletes the others (they are lost).
pub fn drained(node: &str, force: bool) -> Op {
    Op::run(
        &format!("drain {node}"),
        &format!(
            "{KUBECTL} drain {} --ignore-daemonsets --delete-emptydir-data --timeout=300s{} \
             || {{ echo 'pods no controller manages stop a drain: upgrade --force deletes them (they are lost)' >&2; exit 1; }}",
            sh_quote(node),
            if force { " --force" } else { "" }
        ),
    )
}

/// The kubelet restarted on its new binary and files; skipped when the
/// running one is the target's already.
pub fn kubelet_restarted(target: &str) -> Op {
    Op::on_change_unless(
        "restart the kubelet on the new version",
        "systemctl daemon-reload && systemctl restart kubelet",
        &format!(
            "[ \"$(/proc/$(systemctl show -p MainPID --value kubelet)/exe --version 2>/dev/null)\" = {} ]",
            sh_quote(&format!("Kubernetes {target}"))
        ),
    )
}

/// On a master, after its kubelet restarted: the new kubelet starts the
/// control-plane containers again (their spec is its version's), and until
/// the new API server has synced its caches it refuses what it would allow
/// (a worker's `kubeadm upgrade node` got a Forbidden there). So, bounded:
/// the API server running since after the kubelet's start (or 30 s of the
/// kubelet with the same container: nothing to restart), 10 s up, ready.
pub fn apiserver_settled() -> Op {
    Op::check(
        "the API server settled on the new kubelet",
        &format!(
            "k=$(date -d \"$(systemctl show -p ActiveEnterTimestamp --value kubelet)\" +%s); end=$((k + 300)); \
             while :; do now=$(date +%s); s=0; \
             id=$(crictl ps -q --state running --name '^kube-apiserver$' 2>/dev/null | head -1); \
             if [ -n \"$id\" ]; then s=$(date -d \"$(crictl inspect \"$id\" | sed -n 's/.*\"startedAt\": \"\\([^\"]*\\)\".*/\\1/p' | head -1)\" +%s 2>/dev/null || echo 0); fi; \
             if [ \"$s\" -gt 0 ] && {{ [ \"$s\" -gt \"$k\" ] || [ \"$now\" -ge $((k + 30)) ]; }} && [ $((now - s)) -ge 10 ] \
                && {KUBECTL} get --raw=/readyz >/dev/null 2>&1; then exit 0; fi; \
             if [ \"$now\" -ge \"$end\" ]; then echo 'the API server did not settle within 300 s of the kubelet restart' >&2; \
               crictl ps -a --name kube-apiserver >&2; exit 1; fi; sleep 2; done"
        ),
    )
}

/// Waits (bounded, on the first master) for `node` to be Ready at the
/// target, then lets pods back onto it.
pub fn back_in(node: &str, target: &str) -> Vec<Op> {
    let n = sh_quote(node);
    vec![
        Op::check(
            &format!("{node} Ready at {target}"),
            &format!(
                "node={n}; end=$(($(date +%s) + 300)); while :; do \
                 s=$({KUBECTL} get node {n} -o jsonpath='{{.status.nodeInfo.kubeletVersion}} {{.status.conditions[?(@.type==\"Ready\")].status}}' 2>/dev/null); \
                 [ \"$s\" = {} ] && exit 0; \
                 if [ $(date +%s) -ge $end ]; then echo \"$node is not Ready at {target} after 300 s: $s\" >&2; exit 1; fi; sleep 2; done",
                sh_quote(&format!("{target} True"))
            ),
        ),
        Op::run_unless(
            &format!("uncordon {node}"),
            &format!("{KUBECTL} uncordon {n}"),
            &format!("[ -z \"$({KUBECTL} get node {n} -o jsonpath='{{.spec.unschedulable}}')\" ]"),
        ),
    ]
}

/// One node's upgrade as (host, what, operations) steps, in order:
/// kubeadm on the node, the drain from the first master, the kubelet's new
/// binaries and files on the node, its return and uncordon from the first
/// master.
pub fn node_steps(
    c: &Cluster,
    i: usize,
    first: usize,
    inp: &Inputs,
    force: bool,
) -> Vec<(usize, &'static str, Vec<Op>)> {
    let node = &c.nodes[i];
    let target = c.config.kube_version.to_string();
    let (kubeadm, rest): (Vec<_>, Vec<_>) = phases::binaries(node, inp)
        .into_iter()
        .partition(|(file, _)| file == "kubeadm");
    let push = |bins: Vec<(String, crate::exec::Blob)>| -> Vec<Op> {
        bins.into_iter()
            .flat_map(|(file, content)| phases::binary_ops(&inp.offline.repo_dir, &file, &content))
            .collect()
    };
    let mut on_node = push(kubeadm);
    let v1 = allows_cgroup_v1(inp);
    if i == first {
        if v1 {
            on_node.push(cgroup_v1_allowed());
        }
        on_node.push(applied(&target, v1));
    } else {
        on_node.push(node_upgraded(node.has(Role::Master), &target, v1));
    }
    let mut kubelet = push(rest);
    kubelet.extend(inp.file_ops(&node.name, phases::KUBELET_FILES));
    kubelet.push(kubelet_restarted(&target));
    if node.has(Role::Master) {
        kubelet.push(apiserver_settled());
    }
    let kubeadm_step = match i == first {
        true => "kubeadm upgrade apply",
        false => "kubeadm upgrade node",
    };
    vec![
        (i, kubeadm_step, on_node),
        (first, "drain", vec![drained(&node.name, force)]),
        (i, "the new kubelet", kubelet),
        (first, "Ready, uncordon", back_in(&node.name, &target)),
    ]
}

/// The kubelets need `failCgroupV1: false` where the target's refuses
/// cgroup v1 and a node runs it: the decision the render's
/// KubeletConfiguration reads too (`versions::cgroup_v1`).
fn allows_cgroup_v1(inp: &Inputs) -> bool {
    let c = inp.cluster;
    let any_v1 = c
        .nodes
        .iter()
        .filter(|n| n.has(Role::Master) || n.has(Role::Worker))
        .any(|n| inp.facts.get(&n.name).is_some_and(|f| f.cgroup_v1));
    let strict = c.config.flag(versions::FAIL_CGROUP_V1);
    versions::cgroup_v1(&c.config.kube_version, strict, any_v1) == versions::CgroupV1::Allowed
}

/// Reads what the cluster runs: the nodes and CIDRs on the first master,
/// each master's API server image, each etcd member's etcd.
fn read_running(engine: &Engine, c: &Cluster, report: &mut Report) -> Option<Running> {
    let first = c.first_master()?;
    let hosts: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master) || c.nodes[i].has(Role::Etcd))
        .collect();
    let running = Mutex::new(Running::default());
    let step = engine.step("cluster versions", &hosts, |ctx| {
        let name = ctx.node().name.clone();
        let t = Some(std::time::Duration::from_secs(60));
        let node = c.nodes.iter().find(|n| n.name == name).expect("a node");
        if node.has(Role::Etcd) {
            let out = ctx.query(ETCD_QUERY, t)?;
            let v = out.stdout_text().trim().to_string();
            if !v.is_empty() {
                running
                    .lock()
                    .expect("no panics hold this lock")
                    .etcd
                    .insert(name.clone(), v);
            }
        }
        if !node.has(Role::Master) {
            return Ok(());
        }
        if name == first.name {
            let out = ctx.query(CLUSTER_QUERY, t)?;
            if out.rc != 0 {
                return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
            }
            running
                .lock()
                .expect("no panics hold this lock")
                .parse_cluster(&out.stdout_text());
        }
        let out = ctx.query(MASTER_QUERY, t)?;
        let tag = out.stdout_text().trim().to_string();
        if !tag.is_empty() {
            running
                .lock()
                .expect("no panics hold this lock")
                .apiservers
                .insert(name, tag);
        }
        Ok(())
    });
    for h in step.failures() {
        let node = c.nodes.iter().find(|n| n.name == h.host).unwrap_or(first);
        report.push(c.at_node(
            Diagnostic::error(
                "NoCluster",
                format!("cannot read the cluster's versions on '{}': {}. upgrade needs an installed cluster whose masters answer", h.host, h.message),
            ),
            node,
        ));
    }
    Some(running.into_inner().expect("no panics hold this lock"))
}

/// Options of the verb besides the run's.
pub struct Upgrade {
    /// Delete pods no controller manages when draining.
    pub force: bool,
    /// Do not ask.
    pub yes: bool,
}

pub fn run(mut cluster: Cluster, opts: &RunOptions, up: &Upgrade) -> anyhow::Result<ExitCode> {
    let (_lock, engine) = begin(&cluster, opts, "Upgrade")?;
    let facts = facts_of_all(&engine, &mut cluster, opts)?;
    let c = &cluster;
    let mut report = Report::default();
    let Some(running) = read_running(&engine, c, &mut report) else {
        anyhow::bail!("no [kube-master] host in the inventory");
    };
    let decision = decide(c, &running, &mut report);
    for line in &decision.table {
        println!("{line}");
    }
    let target = c.config.kube_version.to_string();
    if report.has_errors() {
        return Err(Invalid(report).into());
    }
    if decision.nodes.is_empty() && decision.etcd.is_empty() {
        println!("Every node runs {target} already: nothing to upgrade.");
        engine.close_all();
        return Ok(ExitCode::SUCCESS);
    }
    // The bundle of the new version, checked for every node before any
    // host changes (KubeSphere's and the storage provisioners' images are
    // not the upgrade's business: it runs neither).
    // The target's kubelet on a cgroup v1 host, as preflight says it
    // (ignorable like the bundle's findings, unlike the version rules).
    for n in &c.nodes {
        if let Some(d) = facts
            .get(&n.name)
            .and_then(|f| super::preflight::cgroup_v1(c, n, f))
        {
            report.push(c.at_node(d, n));
        }
    }
    let offline = match &opts.bundle {
        Some(dir) => super::offline::load(dir, c, &facts, true, None, &mut report)?,
        None => Offline::default(),
    };
    // The nodes pull the new images from the company's registry: it must
    // hold them.
    super::registry::check_external(c, &mut report);
    report
        .items
        .retain(|d| d.name != "KubeSphereImage" && d.name != "StorageImage");
    report.ignore(&opts.ignore_errors);
    let (errors, warnings) = report.split();
    eprint!("{}", warnings.render());
    if errors.has_errors() {
        return Err(Invalid(errors).into());
    }
    if !up.yes && !opts.conn.dry_run && !confirm()? {
        println!("Upgrade not confirmed: nothing was changed on any host.");
        return Ok(ExitCode::from(1));
    }
    let prepared = super::files::prepare(&engine, c, &facts, &opts.installer_dir, &opts.conf_dir)?;
    let inp = Inputs {
        cluster: c,
        facts: &facts,
        files: &prepared.files,
        offline: &offline,
    };
    let first = c
        .first_master()
        .and_then(|m| c.nodes.iter().position(|n| n.name == m.name))
        .expect("decide found a master");
    const AFTER: &str = "Nodes finished so far run the new version; the rest the old (a skew kubeadm supports). Fix the above and run upgrade again: finished nodes are skipped.";
    let day_two = DayTwo::new(&engine, "upgrade", AFTER);
    type Ops<'a> = Box<dyn Fn(usize) -> Vec<Op> + Sync + 'a>;
    // The new images on every node first: nothing restarts for them, and no
    // node waits for an import while drained.
    let k8s: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master) || c.nodes[i].has(Role::Worker))
        .collect();
    // With a local registry they are pushed there instead; the nodes pull.
    if c.local_registry().is_some() {
        if let Err(e) = super::registry::fill(&engine, &inp) {
            eprintln!("[ERROR Failed] upgrade: the {target} images into the local registry: {e:#}");
            eprintln!("Nothing after this stage was started. {AFTER}");
            return Ok(ExitCode::from(1));
        }
    } else {
        let images: Ops = Box::new(|i| phases::image_ops(&c.nodes[i], &inp));
        let heading = format!("the {target} images on every node ({} hosts)", k8s.len());
        if !day_two.stage(&heading, &k8s, &images)? {
            return Ok(ExitCode::from(1));
        }
    }
    // etcd first, one member at a time (quorum kept): the API servers of
    // the new version may need the newer etcd.
    let etcd_v = format!("v{}", c.config.etcd_version.trim().trim_start_matches('v'));
    for &i in &decision.etcd {
        let heading = format!("etcd on {} to {etcd_v}", c.nodes[i].name);
        let ops_of: Ops = Box::new(|i| etcd_ops(&c.nodes[i], &inp));
        if !day_two.stage(&heading, &[i], &ops_of)? {
            return Ok(ExitCode::from(1));
        }
    }
    for &i in &decision.nodes {
        let name = &c.nodes[i].name;
        for (host, what, ops) in node_steps(c, i, first, &inp, up.force) {
            let heading = format!("{name} to {target}: {what} (on {})", c.nodes[host].name);
            let ops_of: Ops = Box::new(move |_| ops.clone());
            let ok = day_two.stage(&heading, &[host], &ops_of)?;
            if crate::exec::interrupt::requested() {
                crate::exec::interrupt::mark_reported();
                eprintln!("Interrupted while upgrading {name}: run upgrade again to go on (nodes done are skipped).");
                return Ok(ExitCode::from(crate::exec::interrupt::EXIT_CODE));
            }
            if !ok {
                return Ok(ExitCode::from(1));
            }
        }
    }
    // CoreDNS at the target's image, spread over the nodes as the install
    // leaves it.
    let nodes = k8s.len();
    let image = c.pulled(
        &versions::Images::of(
            &c.config.kube_version,
            &c.config.kube_image_repo(),
            &c.config.text("calico_version"),
        )
        .coredns,
    );
    let dns: Ops = Box::new(|_| {
        let mut ops = vec![coredns_image(&image)];
        if nodes >= 2 {
            ops.push(phases::coredns_spread(&inp, nodes));
        }
        ops
    });
    if !day_two.stage("CoreDNS", &[first], &dns)? {
        return Ok(ExitCode::from(1));
    }
    if opts.conn.dry_run {
        super::run::print_plan(&engine);
        engine.close_all();
        return Ok(ExitCode::SUCCESS);
    }
    println!("successsful!");
    // kubeadm renewed the admin client certificate.
    let line = format!(
        "upgraded {} node(s) to {target}, etcd on {} member(s)",
        decision.nodes.len(),
        decision.etcd.len()
    );
    super::result::end_with_kubeconfig(&engine, c, opts, &line)
}

/// The legacy prompt, asked until the answer is yes or no.
fn confirm() -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    for _ in 0..100 {
        print!("The relevant information is shown above, Please confirm:  (yes/no) ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(false);
        }
        match line.trim() {
            "yes" => return Ok(true),
            "no" => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}
