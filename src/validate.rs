//! Checks on the model before any host is touched. Each check has a name
//! (kubeadm style) so an operator can downgrade it with `--ignore-errors`.
//! All checks run; every problem is reported at once.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{self, mistakes, NetworkPlugin, StorageKind};
use crate::diag::{Diagnostic, Report};
use crate::model::{Cluster, Connection, Mode, Node, Role};

pub fn check(c: &Cluster) -> Report {
    let mut r = Report::default();
    roles(c, &mut r);
    names(c, &mut r);
    addresses(c, &mut r);
    credentials(c, &mut r);
    networks(c, &mut r);
    versions(c, &mut r);
    storage(c, &mut r);
    kubesphere(c, &mut r);
    etcd_paths_and_backup(c, &mut r);
    load_balancer(c, &mut r);
    proxies(c, &mut r);
    local_registry(c, &mut r);
    external_registry(c, &mut r);
    r
}

/// `local_registry: HOST[:PORT]` (a registry the install does not run):
/// a plain endpoint, its CA a readable certificate, and not beside a
/// `[local-registry]` host (two registries to pull from is one too many).
fn external_registry(c: &Cluster, r: &mut Report) {
    let cfg = &c.config;
    let value = cfg.text("local_registry");
    let value = value.trim();
    if value.is_empty() || cfg.is_unset("local_registry") {
        return;
    }
    let err = |m: String| Diagnostic::error("LocalRegistry", m);
    if let Some(n) = c.with_role(Role::LocalRegistry).next() {
        let m = format!("local_registry {value:?} and [local-registry] ({}) both name the registry every node pulls from: keep one (the [local-registry] host is a registry the install runs; local_registry one it does not)", n.name);
        r.push(cfg.diag_at(err(m), "local_registry"));
        return;
    }
    let plain = value.split(':').next().is_some_and(|h| !h.is_empty())
        && !value.contains("://")
        && !value.contains('/')
        && value
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ".-:[]".contains(ch));
    if !plain {
        let m = format!("local_registry {value:?} is not a registry's HOST[:PORT] (like registry.example.com:5000): no scheme, path or blanks (plain HTTP is local_registry_insecure: true)");
        r.push(cfg.diag_at(err(m), "local_registry"));
    }
    if let Some(ext) = c.external_registry() {
        if let Err(e) = ext.ca_pem() {
            let m = format!("local_registry_ca: {e}: give the PEM file of the CA that signed the registry's certificate");
            r.push(cfg.diag_at(err(m), "local_registry_ca"));
        }
    }
}

/// One `[local-registry]` host, and one the install prepares (a master,
/// worker or etcd member, as the legacy default put it on the master).
fn local_registry(c: &Cluster, r: &mut Report) {
    let hosts: Vec<&Node> = c.with_role(Role::LocalRegistry).collect();
    if hosts.len() > 1 {
        let names: Vec<&str> = hosts.iter().map(|n| n.name.as_str()).collect();
        r.push(c.at_node(
            Diagnostic::error(
                "LocalRegistry",
                format!(
                    "[local-registry] lists {}: the install runs one registry; keep one host there",
                    names.join(", ")
                ),
            ),
            hosts[1],
        ));
    }
    for n in hosts.iter().take(1) {
        if !(n.has(Role::Master) || n.has(Role::Worker) || n.has(Role::Etcd)) {
            r.push(c.at_node(
                Diagnostic::error(
                    "LocalRegistry",
                    format!("'{}' is in [local-registry] only: the registry runs on a host the install prepares; put a master (as the legacy installer did), a worker or an etcd member there", n.name),
                ),
                n,
            ));
        }
    }
}

/// The proxy settings go into the runtime's systemd unit: a URL, and names
/// or networks, none holding a blank, a quote, a backslash or `%` (a
/// systemd specifier).
fn proxies(c: &Cluster, r: &mut Report) {
    let cfg = &c.config;
    let plain = |v: &str| {
        !v.chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || "\"'\\%".contains(ch))
    };
    for key in ["http_proxy", "https_proxy"] {
        let v = cfg.text(key);
        let v = v.trim();
        let url = ["http://", "https://", "socks5://"]
            .iter()
            .any(|s| v.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
        let fine = v.is_empty() || (url && plain(v));
        if !fine {
            r.push(cfg.diag_at(
                Diagnostic::error(
                    "ProxySetting",
                    format!("{key} {v:?} is not a proxy URL like http://proxy.example:3128 (no blanks, quotes, backslashes or %)"),
                ),
                key,
            ));
        }
    }
    for key in ["no_proxy", "additional_no_proxy"] {
        let bad: Vec<String> = cfg.list(key).into_iter().filter(|x| !plain(x)).collect();
        if !bad.is_empty() {
            r.push(cfg.diag_at(
                Diagnostic::error(
                    "ProxySetting",
                    format!("{key}: {bad:?} are not host names, addresses or networks (comma-separated, no blanks, quotes, backslashes or %)"),
                ),
                key,
            ));
        }
    }
}

/// `model::lb`'s decision, so `check` refuses what the render would.
fn load_balancer(c: &Cluster, r: &mut Report) {
    let cfg = &c.config;
    match crate::model::lb::decide(c) {
        Err(e) => {
            // The error begins with the key to fix.
            let key = e.split([' ', ':']).next().unwrap_or_default().to_string();
            r.push(cfg.diag_at(Diagnostic::error("ApiLoadBalancer", e), &key));
        }
        Ok(_) if cfg.text("loadbalancer_apiserver_type") == "haproxy-pod" => r.push(cfg.diag_at(
            Diagnostic::warning(
                "LbStaticPod",
                "loadbalancer_apiserver_type haproxy-pod: haproxy runs as the OS's service instead of a static pod, since workers join through it before their kubelet runs",
            ),
            "loadbalancer_apiserver_type",
        )),
        Ok(_) => {}
    }
}

/// etcd's data and backup directories go into a unit's environment file
/// and a script: absolute paths of plain characters. The backup period and
/// count are whole numbers (minutes, snapshots kept).
fn etcd_paths_and_backup(c: &Cluster, r: &mut Report) {
    let cfg = &c.config;
    for key in ["etcd_data_dir", "etcd_backup_dir"] {
        let v = cfg.text(key);
        let plain = v.starts_with('/')
            && v.len() > 1
            && !v.split('/').any(|p| p == "..")
            && v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "/._-".contains(ch));
        if !plain {
            r.push(cfg.diag_at(
                Diagnostic::error(
                    "EtcdPath",
                    format!("{key} {v:?} must be an absolute path of letters, digits and / . _ - (no spaces, no ..)"),
                ),
                key,
            ));
        }
    }
    for (key, max) in [
        ("etcd_backup_period", 7 * 24 * 60),
        ("keep_backup_number", 10_000),
    ] {
        let v = cfg.text(key);
        if !matches!(v.trim().parse::<u32>(), Ok(n) if (1..=max).contains(&n)) {
            r.push(cfg.diag_at(
                Diagnostic::error(
                    "EtcdBackup",
                    format!("{key} {v:?} must be a whole number from 1 to {max}"),
                ),
                key,
            ));
        }
    }
}

fn roles(c: &Cluster, r: &mut Report) {
    if c.mode == Mode::AllInOne {
        return;
    }
    let file = c
        .inventory_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for (role, group) in [
        (Role::Master, "kube-master"),
        (Role::Worker, "kube-node"),
        (Role::Etcd, "etcd"),
    ] {
        if c.with_role(role).next().is_none() {
            r.push(Diagnostic::error(
                "RequiredGroups",
                format!(
                    "{file}: group [{group}] has no hosts; list at least one host name under it"
                ),
            ));
        }
    }
    let etcd = c.etcd().len();
    if etcd > 0 && etcd.is_multiple_of(2) {
        r.push(Diagnostic::error(
            "EtcdOddCount",
            format!("{file}: [etcd] has {etcd} members; etcd needs an odd number (1, 3, 5) to keep a quorum through failures"),
        ));
    }
    if c.masters().len() > 1 && c.config.load_balancer.is_none() {
        r.push(Diagnostic::warning(
            "MultiMasterNoLB",
            format!(
                "{} masters and no loadbalancer_apiserver: every node gets an internal load balancer to all masters (haproxy on 127.0.0.1:{})",
                c.masters().len(),
                c.config.text("kube_apiserver_port")
            ),
        ));
    }
    for n in &c.nodes {
        if n.roles.is_empty() {
            r.push(c.at_node(
                Diagnostic::warning(
                    "NoRole",
                    format!("'{}' is in none of [kube-master], [kube-node], [etcd]: it will be checked but not installed", n.name),
                ),
                n,
            ));
        }
    }
    let locals: Vec<&str> = c
        .nodes
        .iter()
        .filter(|n| n.is_local())
        .map(|n| n.name.as_str())
        .collect();
    if locals.len() > 1 {
        r.push(Diagnostic::error(
            "DuplicateLocal",
            format!(
                "{file}: {} all use ansible_connection=local, i.e. this same machine; only one host can be the taskbox",
                locals.join(", ")
            ),
        ));
    }
}

pub fn valid_hostname(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.len() <= 253 && name.split('.').all(label_ok)
}

fn names(c: &Cluster, r: &mut Report) {
    for n in &c.nodes {
        if !valid_hostname(&n.name) {
            let hint = if n.name.to_ascii_lowercase() != n.name
                && valid_hostname(&n.name.to_ascii_lowercase())
            {
                format!(" (write it as '{}')", n.name.to_ascii_lowercase())
            } else {
                String::new()
            };
            r.push(c.at_node(
                Diagnostic::error(
                    "Hostname",
                    format!(
                        "'{}' cannot be a node name: it becomes the hostname and Kubernetes node name, which must be lower-case letters, digits, '-' and '.' (RFC 1123){hint}",
                        n.name
                    ),
                ),
                n,
            ));
        }
    }
}

/// An address exactly as written: one with blanks around it would be
/// written so into etcd.env and /etc/hosts.
fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn addresses(c: &Cluster, r: &mut Report) {
    let mut by_ip: BTreeMap<IpAddr, Vec<&str>> = BTreeMap::new();
    let mut by_target: BTreeMap<(String, u16), Vec<&str>> = BTreeMap::new();
    for n in &c.nodes {
        let masked = masked_addresses(c, n);
        if !masked.is_empty() {
            r.extend(masked);
            continue;
        }
        for (key, value) in [("ip", &n.ip), ("access_ip", &n.access_ip)] {
            if let Some(v) = value {
                match parse_ip(v) {
                    Some(ip) if key == "ip" => by_ip.entry(ip).or_default().push(&n.name),
                    Some(_) => {}
                    None => r.push(c.at_node(
                        Diagnostic::error(
                            "Address",
                            format!("'{}': {key}={v:?} is not an IP address", n.name),
                        ),
                        n,
                    )),
                }
            }
        }
        if let Connection::Ssh(t) = &n.connection {
            if parse_ip(&t.address).is_none() && !valid_dns_name(&t.address) {
                r.push(c.at_node(
                    Diagnostic::error(
                        "Address",
                        format!(
                            "'{}': ansible_host={:?} is neither an IP address nor a host name",
                            n.name, t.address
                        ),
                    ),
                    n,
                ));
            }
            by_target
                .entry((t.address.clone(), t.port))
                .or_default()
                .push(&n.name);
        }
    }
    for (ip, names) in by_ip {
        if names.len() > 1 {
            r.push(Diagnostic::error(
                "DuplicateAddress",
                format!(
                    "{} all have ip={ip}; each node needs its own address",
                    names.join(", ")
                ),
            ));
        }
    }
    for ((addr, port), names) in by_target {
        if names.len() > 1 {
            r.push(Diagnostic::error(
                "DuplicateAddress",
                format!(
                    "{} all connect to {addr}:{port}: two inventory names for one machine",
                    names.join(", ")
                ),
            ));
        }
    }
    if let Some(lb) = &c.config.load_balancer {
        if mistakes::looks_masked(&lb.address) {
            r.push(c.config.diag_at(
                Diagnostic::error(
                    "MaskedAddress",
                    format!("loadbalancer_apiserver.address {} looks like a placeholder (a masked address): write the load balancer's real address", lb.address),
                ),
                "loadbalancer_apiserver",
            ));
        } else if parse_ip(&lb.address).is_none() {
            r.push(c.config.diag_at(
                Diagnostic::error(
                    "LoadBalancer",
                    format!("loadbalancer_apiserver.address {:?} must be an IP address (it is written to /etc/hosts as {})", lb.address, lb.domain),
                ),
                "loadbalancer_apiserver",
            ));
        }
    }
}

fn valid_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        })
}

/// `10.xxx.xx.x`, `192.168.0.x`: an address masked before a file was
/// posted, copied back as is. Named as such rather than "not an IP address"
/// (or, for `ansible_host`, accepted as a host name).
fn masked_addresses(c: &Cluster, n: &Node) -> Vec<Diagnostic> {
    let (ip_key, host_key) = if is_kubekey(c) {
        ("internalAddress", "address")
    } else {
        ("ip", "ansible_host")
    };
    let ssh = match &n.connection {
        Connection::Ssh(t) => Some(&t.address),
        Connection::Local => None,
    };
    [
        (ip_key, n.ip.as_ref()),
        ("access_ip", n.access_ip.as_ref()),
        (host_key, ssh),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .filter(|(_, v)| mistakes::looks_masked(v))
    .map(|(k, v)| {
        let msg = format!(
            "'{}': {k} {v} looks like a placeholder (a masked address): write the machine's real address",
            n.name
        );
        c.at_node(Diagnostic::error("MaskedAddress", msg), n)
    })
    .collect()
}

/// Whether the hosts come from a KubeKey file (messages then use its key names).
fn is_kubekey(c: &Cluster) -> bool {
    c.inventory_path
        .as_ref()
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "yaml" || e == "yml")
}

/// A password still holding a sample file's placeholder would fail at the
/// first SSH login, after other hosts may have been changed.
fn placeholder_passwords(c: &Cluster, n: &Node) -> Option<Diagnostic> {
    let kubekey = is_kubekey(c);
    let ssh = match &n.connection {
        Connection::Ssh(t) => t.password.as_ref(),
        Connection::Local => None,
    };
    let sudo = n.become_.as_ref().and_then(|b| b.password.as_ref());
    let (ssh_key, key_file) = if kubekey {
        ("password", "privateKeyPath")
    } else {
        ("ansible_ssh_pass", "ansible_ssh_private_key_file")
    };
    let found: Vec<(&str, &str)> = [(ssh_key, ssh), ("ansible_become_pass", sudo)]
        .into_iter()
        .filter_map(|(k, s)| Some((k, s?.expose().trim())))
        .filter(|(_, v)| config::PLACEHOLDER_SECRETS.contains(v))
        .collect();
    let (_, value) = *found.first()?;
    let keys: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
    Some(c.at_node(
        Diagnostic::error(
            "PlaceholderPassword",
            format!(
                "'{}': {} {} still the sample's placeholder {value}: write the real password of that machine (or log in with a key: {key_file})",
                n.name,
                keys.join(" and "),
                if keys.len() == 1 { "is" } else { "are" },
            ),
        ),
        n,
    ))
}

fn credentials(c: &Cluster, r: &mut Report) {
    for n in &c.nodes {
        if let Some(d) = placeholder_passwords(c, n) {
            r.push(d);
        }
        if let Connection::Ssh(t) = &n.connection {
            if t.password.is_none() && t.key_file.is_none() {
                r.push(c.at_node(
                    Diagnostic::warning(
                        "NoCredentials",
                        format!(
                            "'{}': no ansible_ssh_pass and no ansible_ssh_private_key_file: ssh-agent and ~/.ssh keys will be tried for {}@{}",
                            n.name, t.user, t.address
                        ),
                    ),
                    n,
                ));
            }
        }
        if let Some(b) = &n.become_ {
            if b.password.is_none() {
                r.push(c.at_node(
                    Diagnostic::warning(
                        "NoBecomePassword",
                        format!(
                            "'{}': the login user is not root and no ansible_become_pass is set: sudo must work without a password there",
                            n.name
                        ),
                    ),
                    n,
                ));
            }
        }
    }
}

fn networks(c: &Cluster, r: &mut Report) {
    let net = &c.config.network;
    if net.service_cidr.contains(&net.pod_cidr.network())
        || net.pod_cidr.contains(&net.service_cidr.network())
    {
        r.push(c.config.diag_at(
            Diagnostic::error(
                "CidrOverlap",
                format!(
                    "kube_service_addresses {} and kube_pods_subnet {} overlap; they must be disjoint",
                    net.service_cidr, net.pod_cidr
                ),
            ),
            // Where the operator set one (the other may be a default).
            ["kube_pods_subnet", "kube_service_addresses"]
                .into_iter()
                .find(|k| c.config.settings.get(*k).is_some_and(|s| s.file.is_some()))
                .unwrap_or("kube_pods_subnet"),
        ));
    }
    let mut node_addrs: Vec<(String, &str, IpAddr)> = Vec::new();
    for n in &c.nodes {
        let ssh = match &n.connection {
            Connection::Ssh(t) => Some(t.address.as_str()),
            Connection::Local => None,
        };
        // Each address of a node once (ip and ansible_host are often equal).
        let mut mine: Vec<IpAddr> = Vec::new();
        for (key, v) in [
            ("ip", n.ip.as_deref()),
            ("access_ip", n.access_ip.as_deref()),
            ("ansible_host", ssh),
        ] {
            if let Some(ip) = v.and_then(parse_ip) {
                if !mine.contains(&ip) {
                    mine.push(ip);
                    node_addrs.push((n.name.clone(), key, ip));
                }
            }
        }
    }
    if let Some(lb) = &c.config.load_balancer {
        if let Some(ip) = parse_ip(&lb.address) {
            node_addrs.push(("the load balancer".into(), "address", ip));
        }
    }
    for (key, cidr) in [
        ("kube_service_addresses", net.service_cidr),
        ("kube_pods_subnet", net.pod_cidr),
    ] {
        let clashes: Vec<String> = node_addrs
            .iter()
            .filter(|(_, _, ip)| cidr.contains(ip))
            .map(|(name, k, ip)| format!("{name} ({k}={ip})"))
            .collect();
        if !clashes.is_empty() {
            r.push(c.config.diag_at(
                Diagnostic::error(
                    "CidrOverlap",
                    format!(
                        "{key} {cidr} contains node addresses: {}. Pick a range no machine uses (set {key} in the conf file)",
                        clashes.join(", ")
                    ),
                ),
                key,
            ));
        }
    }
    if let IpNet::V4(pods) = net.pod_cidr {
        if net.node_prefix < pods.prefix_len() || net.node_prefix > 32 {
            r.push(c.config.diag_at(
                Diagnostic::error(
                    "NodePrefix",
                    format!(
                        "kube_network_node_prefix /{} must be between the pod subnet's /{} and /32",
                        net.node_prefix,
                        pods.prefix_len()
                    ),
                ),
                "kube_network_node_prefix",
            ));
        } else {
            let per_node = (1u64 << (32 - net.node_prefix as u32)).saturating_sub(2);
            if net.max_pods as u64 > per_node {
                r.push(c.config.diag_at(
                    Diagnostic::error(
                        "MaxPods",
                        format!(
                            "kubelet_max_pods {} does not fit a /{} pod range per node ({per_node} addresses)",
                            net.max_pods, net.node_prefix
                        ),
                    ),
                    "kubelet_max_pods",
                ));
            }
        }
    }
    if net.plugin == NetworkPlugin::Flannel && c.nodes.iter().any(|n| n.has(Role::CalicoRr)) {
        r.push(Diagnostic::warning(
            "NetworkPlugin",
            "[calico-rr] hosts are ignored with kube_network_plugin: flannel",
        ));
    }
}

fn versions(c: &Cluster, r: &mut Report) {
    let v = &c.config.kube_version;
    let etcd = &c.config.etcd_version;
    if let Some((recommended, min)) = crate::model::versions::row(v).etcd {
        use crate::model::versions::triple;
        if triple(etcd).is_none_or(|t| Some(t) < triple(min)) {
            r.push(c.config.diag_at(
                Diagnostic::error(
                    "EtcdVersion",
                    format!("etcd_version {etcd}: kubeadm {v} refuses an external etcd older than {min}: set etcd_version: {recommended} (the default for this Kubernetes version when etcd_version is not set)"),
                ),
                "etcd_version",
            ));
        }
    }
    let (lo, hi) = crate::model::versions::minor_range();
    if v.major != 1 || v.minor < lo || v.minor > hi {
        r.push(c.config.diag_at(
            Diagnostic::error(
                "KubeVersion",
                format!("kube_version {v} is not supported: this installer renders Kubernetes v1.{lo} to v1.{hi}"),
            ),
            "kube_version",
        ));
    }
}

/// Keys each storage backend cannot work without.
fn required_keys(kind: StorageKind, c: &Cluster) -> Vec<&'static str> {
    match kind {
        StorageKind::CephRbd => vec![
            "ceph_rbd_monitors",
            "ceph_rbd_admin_secret",
            "ceph_rbd_user_secret",
        ],
        StorageKind::GlusterFs => {
            let mut k = vec![
                "glusterfs_provisioner_resturl",
                "glusterfs_provisioner_clusterid",
            ];
            if c.config.flag("glusterfs_provisioner_restauthenabled") {
                k.push("jwt_admin_key");
            }
            k
        }
        StorageKind::NfsClient => vec!["nfs_server", "nfs_path"],
        StorageKind::QingcloudCsi => vec![
            "qingcloud_access_key_id",
            "qingcloud_secret_access_key",
            "qingcloud_zone",
        ],
        StorageKind::NeonsanCsi => vec!["neonsan_server_address", "neonsan_cluster_name"],
        StorageKind::AlicloudDiskCsi => vec!["ali_access_key_id", "ali_access_key_secret"],
        StorageKind::TencentCbsCsi => vec![
            "tecentcloud_cbs_api_secret_id",
            "tecentcloud_cbs_api_secret_key",
        ],
        _ => vec![],
    }
}

fn storage(c: &Cluster, r: &mut Report) {
    let cfg = &c.config;
    for sc in &cfg.storage {
        let enabled_key = format!("{}_enabled", sc.kind.prefix());
        let missing: Vec<&str> = required_keys(sc.kind, c)
            .into_iter()
            .filter(|k| cfg.is_unset(k))
            .collect();
        if !missing.is_empty() {
            r.push(cfg.diag_at(
                Diagnostic::error(
                    "StorageConfig",
                    format!(
                        "{} is enabled but {} {} not set (still empty or SHOULD_BE_REPLACED)",
                        sc.kind.label(),
                        missing.join(", "),
                        if missing.len() == 1 { "is" } else { "are" }
                    ),
                ),
                &enabled_key,
            ));
        }
        if sc.kind == StorageKind::LocalVolume && c.mode == Mode::MultiNode {
            r.push(cfg.diag_at(
                Diagnostic::warning(
                    "LocalVolumeMultiNode",
                    "local volumes on a multi-node cluster: each volume lives on one node's disk, so a pod using it is \
                     bound to that node and its data goes with the node; for data that must survive a node, make a shared \
                     storage (nfs_client_enabled, ceph_rbd_enabled, glusterfs_provisioner_enabled, ...) the default class",
                ),
                &enabled_key,
            ));
        }
    }
    if sc_kind_enabled(c, StorageKind::GlusterFs) {
        let url = cfg.text("glusterfs_provisioner_resturl");
        if !cfg.is_unset("glusterfs_provisioner_resturl")
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            r.push(cfg.diag_at(
                Diagnostic::error("StorageConfig", format!("glusterfs_provisioner_resturl {url:?} must be an http:// or https:// URL of Heketi")),
                "glusterfs_provisioner_resturl",
            ));
        }
    }
    if sc_kind_enabled(c, StorageKind::NfsClient)
        && !cfg.is_unset("nfs_path")
        && !cfg.text("nfs_path").starts_with('/')
    {
        r.push(cfg.diag_at(
            Diagnostic::error(
                "StorageConfig",
                format!(
                    "nfs_path {:?} must be an absolute path on the NFS server",
                    cfg.text("nfs_path")
                ),
            ),
            "nfs_path",
        ));
    }
    let defaults = cfg.default_storage();
    if cfg.storage.is_empty() {
        r.push(Diagnostic::error(
            "DefaultStorageClass",
            "no storage class is enabled: KubeSphere needs one default class (e.g. nfs_client_enabled: true and nfs_client_is_default_class: true)",
        ));
    } else if defaults.is_empty() {
        let enabled: Vec<String> = cfg
            .storage
            .iter()
            .map(|s| format!("{}_is_default_class", s.kind.prefix()))
            .collect();
        r.push(Diagnostic::error(
            "DefaultStorageClass",
            format!(
                "no default storage class: set exactly one of {} to true",
                enabled.join(", ")
            ),
        ));
    } else if defaults.len() > 1 {
        let names: Vec<String> = defaults
            .iter()
            .map(|s| format!("{} ({}_is_default_class)", s.name, s.kind.prefix()))
            .collect();
        r.push(Diagnostic::error(
            "DefaultStorageClass",
            format!(
                "only one default storage class can be set, found {}: {}",
                defaults.len(),
                names.join(", ")
            ),
        ));
    }
}

fn sc_kind_enabled(c: &Cluster, kind: StorageKind) -> bool {
    c.config.storage.iter().any(|s| s.kind == kind)
}

fn kubesphere(c: &Cluster, r: &mut Report) {
    let p = c.config.console_port;
    if !(30000..=32767).contains(&p) || [30180, 30280, 30380].contains(&p) {
        r.push(c.config.diag_at(
            Diagnostic::error(
                "ConsolePort",
                format!("console_port {p} must be a NodePort in 30000-32767, other than 30180/30280/30380 (used by Jenkins, Harbor and GitLab)"),
            ),
            "console_port",
        ));
    }
}
