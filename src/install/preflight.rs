//! Preflight: every host checked at once from its facts, one kubeadm-style
//! report, before anything changes. Checks are named so an operator can
//! skip one with `--ignore-errors`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::facts::Facts;
use super::phases::Phase;
use crate::config::KubeVersion;
use crate::diag::{Diagnostic, Report};
use crate::model::{Cluster, Mode, Node, Role};

/// Minimums per machine: KubeSphere's minimal install (2 CPU, 4 GB, 40 GB);
/// below the full install's 4 CPU / 8 GB only a warning.
pub const MIN_CPUS: u32 = 2;
pub const MIN_MEM_MB: u64 = 3800;
pub const MIN_DISK_GB: u64 = 40;
pub const FULL_CPUS: u32 = 4;
pub const FULL_MEM_MB: u64 = 7600;
/// Hosts whose clocks differ by more than this break etcd and certificates.
pub const MAX_CLOCK_SKEW_S: i64 = 30;
/// Tools the install runs on every node (installed from the bundle if
/// missing). Not curl or openssl, which the legacy installer ran on the
/// hosts: ksinstall fetches and makes certificates itself, and a minimal
/// Debian host has neither.
pub const REQUIRED_TOOLS: &[&str] = &["sudo", "tar", "socat", "conntrack", "ebtables", "ipset"];

const SUPPORTED_OS: &[(&str, &[&str])] = &[
    ("debian", &["9", "10", "11", "12"]),
    ("ubuntu", &["16.04", "18.04", "20.04", "22.04", "24.04"]),
    ("centos", &["7", "8"]),
    ("rhel", &["7", "8", "9"]),
    ("rocky", &["8", "9"]),
    ("almalinux", &["8", "9"]),
    ("sles", &["15"]),
    ("opensuse-leap", &["15"]),
];

pub struct Input<'a> {
    pub cluster: &'a Cluster,
    /// Facts per node name; a node missing here could not be reached.
    pub facts: &'a BTreeMap<String, Facts>,
    /// Packages the install will put on the hosts itself (from the bundle).
    pub provided_tools: &'a [String],
    /// Per node: Kubernetes commands the chosen phases run there, each with
    /// the phases that run it (`kube_tools_needed`).
    pub kube_tools: &'a KubeTools,
    /// Per node: binaries the bundle puts in /usr/local/bin (`kubeadm`...).
    pub provided_binaries: &'a BTreeMap<String, Vec<String>>,
    /// The bundle given, if any (for the hint).
    pub bundle: Option<&'a Path>,
    /// Per node: the images the chosen phases run there (the bundle plan's),
    /// checked against the host's runtime when no bundle brings them.
    pub images: &'a BTreeMap<String, Vec<String>>,
}

/// node name -> command -> phases that run it there.
pub type KubeTools = BTreeMap<String, BTreeMap<&'static str, Vec<&'static str>>>;

/// Which Kubernetes commands each node needs for these phases: masters
/// kubeadm, kubelet and kubectl; workers kubeadm and kubelet.
pub fn kube_tools_needed(c: &Cluster, phases: &[&dyn Phase]) -> KubeTools {
    let mut out = KubeTools::new();
    for p in phases {
        for h in p.hosts(c) {
            let per_node = out.entry(c.nodes[h].name.clone()).or_default();
            for t in p.tools() {
                per_node.entry(t).or_default().push(p.name());
            }
        }
    }
    out
}

pub fn check(input: &Input) -> Report {
    let mut r = Report::default();
    let c = input.cluster;
    for node in &c.nodes {
        let Some(f) = input.facts.get(&node.name) else {
            continue;
        };
        let at = |d: Diagnostic| c.at_node(d, node);
        os(node, f, &mut r, &at);
        resources(c.mode, node, f, &mut r, &at);
        ports(node, f, &mut r, &at);
        tools(node, f, input.provided_tools, &mut r, &at);
        kube_tools(input, node, f, &mut r, &at);
        images(input, node, f, &mut r, &at);
        addresses(c, node, f, &mut r, &at);
        if let Some(d) = cgroup_v1(c, node, f) {
            r.push(at(d));
        }
        if f.swap_mb > 0 {
            r.push(at(Diagnostic::warning(
                "Swap",
                format!("'{}' has {} MB of swap: it will be turned off (kubelet refuses to run with swap)", node.name, f.swap_mb),
            )));
        }
    }
    cluster_wide(input, &mut r);
    r
}

/// A cgroup v1 kubelet host where the Kubernetes version refuses one:
/// let through with a warning, or refused when the conf asks for it
/// (`versions::cgroup_v1` decides). The upgrade asks the same.
pub fn cgroup_v1(c: &Cluster, node: &Node, f: &Facts) -> Option<Diagnostic> {
    use crate::model::versions::{self, CgroupV1, FAIL_CGROUP_V1};
    let kv = &c.config.kube_version;
    let kubelet = node.has(Role::Master) || node.has(Role::Worker);
    let strict = c.config.flag(FAIL_CGROUP_V1);
    let d = match versions::cgroup_v1(kv, strict, kubelet && f.cgroup_v1) {
        CgroupV1::Moot => return None,
        CgroupV1::Allowed => Diagnostic::warning(
            "CgroupV1",
            format!("'{}' runs cgroup v1: Kubernetes {kv} kubelets refuse it unless told; ksinstall sets failCgroupV1: false in the kubelet configuration (cgroup v1 is in maintenance mode upstream: plan the move to cgroup v2, or set {FAIL_CGROUP_V1}: true to refuse such hosts)", node.name),
        ),
        CgroupV1::Refused => Diagnostic::error(
            "CgroupV1",
            format!("'{}' runs cgroup v1, which Kubernetes {kv} kubelets refuse, and {FAIL_CGROUP_V1} is true: boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line), or set {FAIL_CGROUP_V1}: false to run it with failCgroupV1: false", node.name),
        ),
    };
    Some(c.config.diag_at(d, FAIL_CGROUP_V1))
}

fn os(node: &Node, f: &Facts, r: &mut Report, at: &dyn Fn(Diagnostic) -> Diagnostic) {
    let supported = SUPPORTED_OS.iter().any(|(id, versions)| {
        *id == f.os_id
            && versions
                .iter()
                .any(|v| f.os_version == *v || f.os_version.starts_with(&format!("{v}.")))
    });
    if !supported {
        r.push(at(Diagnostic::error(
            "OperatingSystem",
            format!(
                "'{}' runs {} ({} {}), which this installer does not support (Debian 9-12, Ubuntu 16.04-24.04, CentOS/RHEL 7-9)",
                node.name, f.os_pretty, f.os_id, f.os_version
            ),
        )));
    }
    if !matches!(f.arch.as_str(), "x86_64" | "aarch64") {
        r.push(at(Diagnostic::error(
            "Architecture",
            format!(
                "'{}' is {}: only x86_64 and aarch64 machines are supported",
                node.name, f.arch
            ),
        )));
    }
    if !f.systemd() {
        r.push(at(Diagnostic::error(
            "InitSystem",
            format!("'{}' does not run systemd (PID 1 is {:?}): kubelet, etcd and containerd are systemd services", node.name, f.init),
        )));
    }
}

fn resources(
    mode: Mode,
    node: &Node,
    f: &Facts,
    r: &mut Report,
    at: &dyn Fn(Diagnostic) -> Diagnostic,
) {
    let what = if mode == Mode::AllInOne {
        "an all-in-one install"
    } else {
        "a node"
    };
    if f.cpus < MIN_CPUS {
        r.push(at(Diagnostic::error(
            "CPU",
            format!(
                "'{}' has {} CPU; {what} needs at least {MIN_CPUS}",
                node.name, f.cpus
            ),
        )));
    } else if f.cpus < FULL_CPUS {
        r.push(at(Diagnostic::warning(
            "CPU",
            format!("'{}' has {} CPUs: enough for a minimal install; {FULL_CPUS} or more are recommended", node.name, f.cpus),
        )));
    }
    if f.mem_mb < MIN_MEM_MB {
        r.push(at(Diagnostic::error(
            "Memory",
            format!(
                "'{}' has {} MB of memory; {what} needs at least 4 GB",
                node.name, f.mem_mb
            ),
        )));
    } else if f.mem_mb < FULL_MEM_MB {
        r.push(at(Diagnostic::warning(
            "Memory",
            format!(
                "'{}' has {} MB of memory: enough for a minimal install; 8 GB are recommended",
                node.name, f.mem_mb
            ),
        )));
    }
    if f.disk_free_gb < MIN_DISK_GB {
        r.push(at(Diagnostic::error(
            "Disk",
            format!(
                "'{}' has {} GB free on /; {what} needs at least {MIN_DISK_GB} GB",
                node.name, f.disk_free_gb
            ),
        )));
    }
}

/// Ports a role needs free, unless the component owning them is already ours
/// (a re-run over a finished phase).
fn needed_ports(node: &Node, f: &Facts) -> Vec<(u16, &'static str)> {
    let mut p = Vec::new();
    if node.has(Role::Master) && !f.has_tool("kubelet") {
        p.push((6443, "kube-apiserver"));
        p.extend([
            (10257, "kube-controller-manager"),
            (10259, "kube-scheduler"),
        ]);
    }
    if node.has(Role::Etcd) && !f.has_tool("etcd") {
        p.extend([(2379, "etcd clients"), (2380, "etcd peers")]);
    }
    if (node.has(Role::Master) || node.has(Role::Worker)) && !f.has_tool("kubelet") {
        p.extend([(10250, "kubelet"), (10256, "kube-proxy health")]);
    }
    p
}

fn ports(node: &Node, f: &Facts, r: &mut Report, at: &dyn Fn(Diagnostic) -> Diagnostic) {
    for (port, what) in needed_ports(node, f) {
        if f.listening_ports.contains(&port) {
            r.push(at(Diagnostic::error(
                "PortInUse",
                format!("'{}': port {port} ({what}) is already in use; stop what listens there (`ss -tlnp 'sport = :{port}'`)", node.name),
            )));
        }
    }
}

fn tools(
    node: &Node,
    f: &Facts,
    provided: &[String],
    r: &mut Report,
    at: &dyn Fn(Diagnostic) -> Diagnostic,
) {
    let missing: Vec<&str> = REQUIRED_TOOLS
        .iter()
        .copied()
        .filter(|t| !f.has_tool(t))
        .filter(|t| !(*t == "sudo" && node.become_.is_none()))
        .filter(|t| !provided.iter().any(|p| brings(p, t)))
        .collect();
    if !missing.is_empty() {
        r.push(at(Diagnostic::error(
            "MissingTool",
            format!(
                "'{}' lacks {} and the bundle does not provide {}: install {} or add {} to the bundle",
                node.name,
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
            ),
        )));
    }
}

/// Whether the package `p` brings the command `tool`: Debian names these
/// packages after their commands; an RPM may be named otherwise
/// (`conntrack-tools`), as the bundle's table says.
fn brings(p: &str, tool: &str) -> bool {
    p == tool || (crate::bundle::needs::PACKAGES.iter()).any(|r| r.deb == tool && r.rpm == p)
}

/// kubeadm, kubelet and kubectl come from the bundle or are on the host
/// already; when neither, the phase that runs them would fail with
/// `exit 127` after earlier phases changed the hosts, so it is named here.
fn kube_tools(
    input: &Input,
    node: &Node,
    f: &Facts,
    r: &mut Report,
    at: &dyn Fn(Diagnostic) -> Diagnostic,
) {
    let Some(needed) = input.kube_tools.get(&node.name) else {
        return;
    };
    let provided = input.provided_binaries.get(&node.name);
    let from_bundle = |t: &str| provided.is_some_and(|p| p.iter().any(|b| b == t));
    let want = &input.cluster.config.kube_version;
    let mut missing = Vec::new();
    for (tool, phases) in needed {
        if from_bundle(tool) {
            continue;
        }
        if !f.has_tool(tool) {
            let s = if phases.len() == 1 { "" } else { "s" };
            missing.push(format!("{tool} (phase{s} {})", phases.join(", ")));
            continue;
        }
        if let Some(d) = version_skew(node, tool, f, want) {
            r.push(at(d));
        }
    }
    if missing.is_empty() {
        return;
    }
    let roles: Vec<&str> = node.roles.iter().map(|r| r.label()).collect();
    let source = match input.bundle {
        Some(b) => format!("the bundle {} lacks it", b.display()),
        None => "no --bundle was given".to_string(),
    };
    let names: Vec<&str> = missing
        .iter()
        .map(|m| m.split(' ').next().unwrap_or(""))
        .collect();
    r.push(at(Diagnostic::error(
        "KubeBinaries",
        format!(
            "'{}' ({}) lacks {}; {source}: pass --bundle DIR holding them (`ksinstall bundle build`), or install {} {want} on {}",
            node.name,
            roles.join(", "),
            missing.join(", "),
            names.join(", "),
            node.name
        ),
    )));
}

/// Without a bundle, the images the cluster runs must be in the host's
/// runtime already: kubeadm and the kubelet would pull the missing ones,
/// which offline hosts cannot (`--ignore-errors ImagesMissing` where they can).
fn images(
    input: &Input,
    node: &Node,
    f: &Facts,
    r: &mut Report,
    at: &dyn Fn(Diagnostic) -> Diagnostic,
) {
    if input.bundle.is_some() {
        return;
    }
    let Some(needed) = input.images.get(&node.name) else {
        return;
    };
    let missing: Vec<&str> = needed
        .iter()
        .filter(|i| !f.images.contains(i))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return;
    }
    r.push(at(Diagnostic::error(
        "ImagesMissing",
        format!(
            "'{}' lacks {} image(s) the cluster runs there, and no --bundle was given: {}. Pass --bundle DIR holding them (`ksinstall bundle build`), import them into its runtime, or pass --ignore-errors ImagesMissing if the host can pull them itself",
            node.name,
            missing.len(),
            missing.join(", ")
        ),
    )));
}

/// The host's own kubeadm/kubelet/kubectl of another minor than
/// `kube_version`: kubeadm refuses to install a newer control plane, and
/// kubelets must not be newer than the API server.
fn version_skew(node: &Node, tool: &str, f: &Facts, want: &KubeVersion) -> Option<Diagnostic> {
    let have = f.versions.get(tool).filter(|v| !v.is_empty())?;
    let same_minor =
        KubeVersion::parse(have).is_some_and(|v| v.major == want.major && v.minor == want.minor);
    (!same_minor).then(|| Diagnostic::warning(
        "KubeBinaryVersion",
        format!("'{}' has {tool} {have} but kube_version is {want}: the install would use the host's {tool}; install {tool} {want} there, or pass --bundle DIR holding it", node.name),
    ))
}

fn addresses(
    c: &Cluster,
    node: &Node,
    f: &Facts,
    r: &mut Report,
    at: &dyn Fn(Diagnostic) -> Diagnostic,
) {
    if let Some(ip) = &node.ip {
        if !f.addresses.iter().any(|a| a == ip) {
            r.push(at(Diagnostic::error(
                "IpNotLocal",
                format!(
                    "'{}': ip={ip} is not an address of that machine (it has {}); `ip` must be one of its own addresses, `access_ip` is for NAT",
                    node.name,
                    f.addresses.join(", ")
                ),
            )));
        }
    }
    let net = &c.config.network;
    for route in &f.routes {
        let Ok(route_net) = route
            .parse::<IpNet>()
            .or_else(|_| route.parse::<IpAddr>().map(IpNet::from))
        else {
            continue;
        };
        for (key, cidr) in [
            ("kube_service_addresses", net.service_cidr),
            ("kube_pods_subnet", net.pod_cidr),
        ] {
            if cidr.contains(&route_net.network()) || route_net.contains(&cidr.network()) {
                r.push(at(Diagnostic::error(
                    "CidrRoute",
                    format!("'{}': {key} {cidr} overlaps the host route {route}; choose another range for {key}", node.name),
                )));
            }
        }
    }
}

fn cluster_wide(input: &Input, r: &mut Report) {
    let facts: Vec<(&String, &Facts)> = input.facts.iter().collect();
    // Each clock against this machine's when its facts arrived: hosts are
    // read over a minute or more at a thousand of them.
    let offset = |f: &Facts| f.time - f.seen;
    if let (Some(min), Some(max)) = (
        facts.iter().map(|(_, f)| offset(f)).min(),
        facts.iter().map(|(_, f)| offset(f)).max(),
    ) {
        if max - min > MAX_CLOCK_SKEW_S {
            let slow = facts
                .iter()
                .find(|(_, f)| offset(f) == min)
                .map(|(n, _)| n.as_str())
                .unwrap_or("?");
            let fast = facts
                .iter()
                .find(|(_, f)| offset(f) == max)
                .map(|(n, _)| n.as_str())
                .unwrap_or("?");
            r.push(Diagnostic::error(
                "ClockSkew",
                format!("clocks differ by {} s between '{slow}' and '{fast}': synchronise time (chrony/NTP) on every machine", max - min),
            ));
        }
    }
    let mut ids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, f) in &facts {
        if !f.machine_id.is_empty() {
            ids.entry(f.machine_id.as_str()).or_default().push(name);
        }
    }
    for (_, names) in ids {
        if names.len() > 1 {
            r.push(Diagnostic::error(
                "DuplicateMachineId",
                format!(
                    "{} share one /etc/machine-id (cloned machines?): regenerate it on each (`rm /etc/machine-id && systemd-machine-id-setup`)",
                    names.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::model::{Connection, Node, Role};

    fn cluster(nodes: Vec<Node>) -> Cluster {
        let mut rep = Report::default();
        let cfg = config::from_texts(&[], &mut rep).unwrap();
        let mut c = Cluster::all_in_one(cfg);
        c.mode = Mode::MultiNode;
        c.nodes = nodes;
        c
    }

    fn node(name: &str, ip: &str, roles: Vec<Role>) -> Node {
        Node {
            name: name.into(),
            connection: Connection::Local,
            become_: None,
            ip: Some(ip.into()),
            access_ip: None,
            roles,
            line: None,
        }
    }

    fn good(ip: &str, id: &str) -> Facts {
        let mut f = Facts::parse(&format!(
            "os_id=debian\nos_version=12\narch=x86_64\ncpus=4\nmem_kb=16000000\ndisk_free_kb=100000000\ninit=systemd\ntime=1000\nmachine_id={id}\naddresses=127.0.0.1|{ip}|\nroutes=default|10.77.0.0/16|\n"
        ));
        for t in REQUIRED_TOOLS
            .iter()
            .chain(&["kubeadm", "kubelet", "kubectl"])
        {
            f.tools.insert(t.to_string(), true);
        }
        f
    }

    /// Preflight for every phase, no bundle, nothing provided.
    fn check_all_phases(c: &Cluster, facts: &BTreeMap<String, Facts>) -> Report {
        check(&Input {
            cluster: c,
            facts,
            provided_tools: &[],
            kube_tools: &kube_tools_needed(c, crate::install::phases::ALL),
            provided_binaries: &BTreeMap::new(),
            bundle: None,
            images: &BTreeMap::new(),
        })
    }

    /// From 1.35 a cgroup v1 kubelet host passes with a warning, or is the
    /// `CgroupV1` error at the conf's line when the operator asks for it;
    /// an etcd-only host runs no kubelet, and 1.34 kubelets take v1 as is.
    #[test]
    fn cgroup_v1_hosts_are_let_through_or_refused_as_the_conf_says() {
        let found = |vars: &str| -> Vec<(String, bool)> {
            let mut rep = Report::default();
            let files = [(std::path::PathBuf::from("conf/vars.yml"), vars.to_string())];
            let cfg = config::from_texts(&files, &mut rep).unwrap();
            assert!(!rep.has_errors(), "{}", rep.render());
            let mut c = cluster(vec![
                node("n1", "10.77.0.11", vec![Role::Master]),
                node("e1", "10.77.0.12", vec![Role::Etcd]),
            ]);
            c.config = cfg;
            let mut facts = BTreeMap::new();
            for (n, ip) in [("n1", "10.77.0.11"), ("e1", "10.77.0.12")] {
                let mut f = good(ip, n);
                f.cgroup_v1 = true;
                facts.insert(n.to_string(), f);
            }
            check_all_phases(&c, &facts)
                .items
                .iter()
                .filter(|d| d.name == "CgroupV1")
                .map(|d| (d.host.clone().unwrap_or_default(), d.is_error()))
                .collect()
        };
        let v135 = "kube_version: v1.35.4\netcd_version: v3.6.8\n";
        assert_eq!(found(v135), [("n1".to_string(), false)]);
        assert_eq!(
            found(&format!("{v135}kubelet_fail_cgroup_v1: false\n")),
            [("n1".to_string(), false)]
        );
        assert_eq!(
            found(&format!("{v135}kubelet_fail_cgroup_v1: true\n")),
            [("n1".to_string(), true)]
        );
        let v134 = "kube_version: v1.34.4\netcd_version: v3.6.8\nkubelet_fail_cgroup_v1: true\n";
        assert_eq!(found(v134), []);
    }

    #[test]
    fn a_good_cluster_passes() {
        let c = cluster(vec![
            node("n1", "10.77.0.11", vec![Role::Master, Role::Etcd]),
            node("n2", "10.77.0.12", vec![Role::Worker]),
        ]);
        let facts = BTreeMap::from([
            ("n1".to_string(), good("10.77.0.11", "a")),
            ("n2".to_string(), good("10.77.0.12", "b")),
        ]);
        let r = check_all_phases(&c, &facts);
        assert!(!r.has_errors(), "{}", r.render());
    }

    #[test]
    fn every_problem_is_named() {
        let c = cluster(vec![
            node("n1", "10.0.0.99", vec![Role::Master, Role::Etcd]),
            node("n2", "10.77.0.12", vec![Role::Worker]),
        ]);
        let mut f1 = good("10.77.0.11", "same");
        f1.listening_ports = vec![2379];
        f1.cpus = 1;
        f1.routes.push("10.233.0.0/24".into());
        f1.tools.insert("socat".into(), false);
        let mut f2 = good("10.77.0.12", "same");
        f2.time = 1100;
        f2.os_id = "gentoo".into();
        f2.tools.insert("ipset".into(), false);
        let facts = BTreeMap::from([("n1".to_string(), f1), ("n2".to_string(), f2)]);
        let provided = vec!["ipset".to_string()];
        let r = check(&Input {
            cluster: &c,
            facts: &facts,
            provided_tools: &provided,
            kube_tools: &KubeTools::new(),
            provided_binaries: &BTreeMap::new(),
            bundle: None,
            images: &BTreeMap::new(),
        });
        let names: Vec<&str> = r.errors().map(|d| d.name.as_str()).collect();
        for n in [
            "PortInUse",
            "CPU",
            "CidrRoute",
            "MissingTool",
            "IpNotLocal",
            "OperatingSystem",
            "ClockSkew",
            "DuplicateMachineId",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert_eq!(
            names.iter().filter(|n| **n == "MissingTool").count(),
            1,
            "ipset comes from the bundle"
        );
    }

    /// A thousand hosts are read over a minute: clocks read 51 s apart but
    /// each when its facts arrived are in step (the 1,000-host plan was
    /// refused with ClockSkew); one 40 s ahead of this machine is not.
    #[test]
    fn clocks_are_compared_when_each_was_read() {
        let c = two_nodes();
        let (mut f1, mut f2) = (good("10.77.0.11", "a"), good("10.77.0.12", "b"));
        (f1.time, f1.seen) = (1_000, 1_000);
        (f2.time, f2.seen) = (1_051, 1_051);
        let run = |f1: &Facts, f2: &Facts| {
            let facts = BTreeMap::from([
                ("n1".to_string(), f1.clone()),
                ("n2".to_string(), f2.clone()),
            ]);
            let r = check(&Input {
                cluster: &c,
                facts: &facts,
                provided_tools: &[],
                kube_tools: &KubeTools::new(),
                provided_binaries: &BTreeMap::new(),
                bundle: None,
                images: &BTreeMap::new(),
            });
            let skewed = r.errors().any(|d| d.name == "ClockSkew");
            skewed
        };
        assert!(!run(&f1, &f2));
        f2.time = 1_091;
        assert!(run(&f1, &f2));
    }

    /// A minimal Debian 12 host (debootstrap minbase, openssh-server, sudo)
    /// has no curl or openssl; the bundle brings the rest. Preflight
    /// asked for both, which the bundle never carried.
    #[test]
    fn a_minimal_debian_host_with_the_bundle_lacks_no_tool() {
        let c = two_nodes();
        let mut facts = BTreeMap::new();
        for (n, ip) in [("n1", "10.77.0.11"), ("n2", "10.77.0.12")] {
            let mut f = good(ip, n);
            f.tools.clear();
            for t in ["sudo", "tar"] {
                f.tools.insert(t.into(), true);
            }
            for t in ["curl", "openssl", "socat", "conntrack", "ebtables", "ipset"] {
                f.tools.insert(t.into(), false);
            }
            facts.insert(n.to_string(), f);
        }
        // So does a minimal RPM host, whose conntrack is `conntrack-tools`.
        for rpm in [false, true] {
            let provided: Vec<String> = (crate::bundle::needs::PACKAGES.iter())
                .map(|p| if rpm { p.rpm } else { p.deb }.to_string())
                .collect();
            let r = check(&Input {
                cluster: &c,
                facts: &facts,
                provided_tools: &provided,
                kube_tools: &KubeTools::new(),
                provided_binaries: &BTreeMap::new(),
                bundle: None,
                images: &BTreeMap::new(),
            });
            assert!(!r.render().contains("MissingTool"), "{}", r.render());
        }
    }

    fn two_nodes() -> Cluster {
        cluster(vec![
            node("n1", "10.77.0.11", vec![Role::Master, Role::Etcd]),
            node("n2", "10.77.0.12", vec![Role::Worker]),
        ])
    }

    /// Facts of hosts with none of Kubernetes' commands.
    fn bare() -> BTreeMap<String, Facts> {
        let mut facts = BTreeMap::new();
        for (n, ip) in [("n1", "10.77.0.11"), ("n2", "10.77.0.12")] {
            let mut f = good(ip, n);
            for t in ["kubeadm", "kubelet", "kubectl"] {
                f.tools.insert(t.into(), false);
            }
            facts.insert(n.to_string(), f);
        }
        facts
    }

    fn kube_errors(
        facts: &BTreeMap<String, Facts>,
        binaries: &BTreeMap<String, Vec<String>>,
        phases: &[&dyn Phase],
    ) -> Vec<String> {
        let c = two_nodes();
        let r = check(&Input {
            cluster: &c,
            facts,
            provided_tools: &[],
            kube_tools: &kube_tools_needed(&c, phases),
            provided_binaries: binaries,
            bundle: None,
            images: &BTreeMap::new(),
        });
        r.errors()
            .filter(|d| d.name == "KubeBinaries")
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn missing_kube_binaries_without_a_bundle_are_named_per_host() {
        let errors = kube_errors(&bare(), &BTreeMap::new(), crate::install::phases::ALL);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let n1 = &errors[0];
        assert!(
            n1.starts_with("'n1' (master, etcd) lacks kubeadm (phase control-plane)"),
            "{n1}"
        );
        assert!(
            n1.contains("kubectl (phases control-plane, network, storage, kubesphere)"),
            "{n1}"
        );
        assert!(n1.contains("no --bundle was given"), "{n1}");
        assert!(
            n1.contains("install kubeadm, kubectl, kubelet v1.16.7 on n1"),
            "{n1}"
        );
        let n2 = &errors[1];
        assert!(
            n2.contains("'n2' (worker) lacks kubeadm (phase workers), kubelet (phase workers);"),
            "{n2}"
        );
        assert!(!n2.contains("kubectl"), "workers do not run kubectl: {n2}");
    }

    /// Without a bundle, an image the cluster runs that the host's runtime
    /// lacks is named before anything changes; a short docker name counts
    /// as its full reference; with a bundle there is nothing to check.
    #[test]
    fn images_the_host_lacks_without_a_bundle_are_named() {
        let c = two_nodes();
        let mut facts = bare();
        facts.get_mut("n2").unwrap().images = crate::install::facts::Facts::parse(
            "images=registry.k8s.io/pause:3.10.1|calico/node:v3.29.3|sha256:abc|\n",
        )
        .images;
        let wanted = [
            "registry.k8s.io/pause:3.10.1",
            "docker.io/calico/node:v3.29.3",
        ]
        .map(String::from)
        .to_vec();
        let images = BTreeMap::from([
            ("n1".to_string(), wanted.clone()),
            ("n2".to_string(), wanted),
        ]);
        let run = |bundle: Option<&Path>| {
            check(&Input {
                cluster: &c,
                facts: &facts,
                provided_tools: &[],
                kube_tools: &KubeTools::new(),
                provided_binaries: &BTreeMap::new(),
                bundle,
                images: &images,
            })
        };
        let r = run(None);
        let missing: Vec<&Diagnostic> = r.errors().filter(|d| d.name == "ImagesMissing").collect();
        assert_eq!(missing.len(), 1, "{}", r.render());
        assert_eq!(missing[0].host.as_deref(), Some("n1"));
        assert!(
            missing[0].message.contains("lacks 2 image(s)")
                && missing[0].message.contains("docker.io/calico/node:v3.29.3"),
            "{}",
            missing[0].message
        );
        let r = run(Some(Path::new("/b")));
        assert!(
            !r.errors().any(|d| d.name == "ImagesMissing"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn the_bundle_or_the_host_provides_them() {
        let all = ["kubeadm", "kubelet", "kubectl"].map(String::from).to_vec();
        let binaries = BTreeMap::from([("n1".to_string(), all.clone()), ("n2".to_string(), all)]);
        assert!(kube_errors(&bare(), &binaries, crate::install::phases::ALL).is_empty());
        let mut facts = bare();
        for f in facts.values_mut() {
            f.tools.insert("kubeadm".into(), true);
            f.tools.insert("kubelet".into(), true);
        }
        let errors = kube_errors(&facts, &BTreeMap::new(), crate::install::phases::ALL);
        assert_eq!(errors.len(), 1, "only the master lacks kubectl: {errors:?}");
        assert!(
            errors[0].contains("'n1' (master, etcd) lacks kubectl"),
            "{errors:?}"
        );
    }

    #[test]
    fn phases_before_the_control_plane_need_no_kube_binaries() {
        let until_lb = &crate::install::phases::ALL[..5];
        assert!(kube_errors(&bare(), &BTreeMap::new(), until_lb).is_empty());
    }

    #[test]
    fn a_host_binary_of_another_minor_is_a_warning() {
        let c = two_nodes();
        let mut facts = bare();
        for f in facts.values_mut() {
            for t in ["kubeadm", "kubelet", "kubectl"] {
                f.tools.insert(t.into(), true);
            }
            f.versions.insert("kubeadm".into(), "v1.15.3".into());
        }
        let r = check_all_phases(&c, &facts);
        assert!(!r.has_errors(), "{}", r.render());
        let w: Vec<_> = r
            .items
            .iter()
            .filter(|d| d.name == "KubeBinaryVersion")
            .collect();
        assert_eq!(w.len(), 2, "{}", r.render());
        assert!(w[0]
            .message
            .contains("'n1' has kubeadm v1.15.3 but kube_version is v1.16.7"));
    }
}
