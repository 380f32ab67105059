//! The variables every template sees: all settings of the config under
//! their (current) key names, as Ansible templates saw them, plus the values
//! computed from the model (node lists, endpoints, versions, images). Per
//! host, `node` / `inventory_hostname` / `ip` are added.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{bail, Result};
use minijinja::Value;
use serde::Serialize;

use super::{versions, Facts, NodeFacts};
use crate::config::{Config, Runtime, StorageKind};
use crate::model::lb::{self, LbMode, Proxy};
use crate::model::node::{etcd_url, ETCD_CLIENT, ETCD_PEER};
use crate::model::registry::{External, LocalRegistry};
use crate::model::{Cluster, Connection, Mode, Node, Role};

/// RFC 5737 documentation address: the `ip` of a node that has none in the
/// inventory and no facts (all-in-one rendered without its host). `render`
/// says so in its notes.
pub const PLACEHOLDER_IP: &str = "192.0.2.1";

/// One node as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCtx {
    pub name: String,
    /// The address Kubernetes and etcd bind to (`ip`).
    pub ip: String,
    /// The address other nodes use (`access_ip`, else `ip`).
    pub address: String,
    pub is_master: bool,
    pub is_worker: bool,
    pub is_etcd: bool,
    pub is_first_master: bool,
    /// `etcd1`, `etcd2`, … by position in `[etcd]`.
    pub etcd_name: Option<String>,
    pub roles: Vec<&'static str>,
    /// The host cannot lower OOM scores (see `NodeFacts::restrict_oom`).
    pub restrict_oom: bool,
}

impl NodeCtx {
    pub fn is_k8s(&self) -> bool {
        self.is_master || self.is_worker
    }
}

/// How clients reach the API servers.
#[derive(Debug, Clone, Serialize)]
pub struct LbCtx {
    /// `model::lb`'s decision, which the renderer's code reads.
    #[serde(skip)]
    pub lb_mode: LbMode,
    #[serde(skip)]
    pub proxy: Proxy,
    /// The same for the templates: `external` (`loadbalancer_apiserver`),
    /// `internal` (no external LB: a proxy to the masters on every other
    /// node, Kubespray's `loadbalancer_apiserver_localhost`), `none` (no
    /// master to reach), `keepalived` (`keepalived_vip`: keepalived +
    /// haproxy on the masters).
    pub mode: &'static str,
    pub domain: String,
    /// The LB's or VIP's address (external, keepalived).
    pub address: Option<String>,
    /// The port of the control-plane endpoint.
    pub port: u16,
    /// The proxy program, `haproxy` or `nginx` (both OS services).
    pub kind: &'static str,
    pub interface: String,
    pub router_id: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageCtx {
    pub kind: &'static str,
    pub name: String,
    pub is_default: bool,
}

pub struct Ctx {
    pub globals: BTreeMap<String, Value>,
    /// `globals` as one value, shared by every render (no copy per file).
    pub globals_value: Value,
    pub nodes: Vec<NodeCtx>,
    pub lb: LbCtx,
    /// The local registry (its host and `address:port`): every image is
    /// pulled from it.
    pub registry: Option<LocalRegistry>,
    /// The company's registry (`local_registry`), which the install does
    /// not run: every image is pulled from it.
    pub external: Option<External>,
    /// Its CA (PEM), read once, when `local_registry_ca` names one.
    pub external_ca: Option<String>,
    /// `host:port` every image is pulled from: the local registry's, else
    /// the company's, else none (their upstreams).
    pub pull_from: Option<String>,
    pub notes: Vec<String>,
}

impl Ctx {
    /// `reference` as the nodes pull it: from the local registry when the
    /// cluster has one (`model::registry::local_ref`), else unchanged.
    pub fn image(&self, reference: &str) -> String {
        crate::model::registry::pulled(self.pull_from.as_deref(), reference)
    }
}

/// The local registry's endpoint, at its host's address as the nodes
/// reach it (the same address `Cluster::local_registry` takes).
pub fn registry(c: &Cluster, nodes: &[NodeCtx]) -> Option<LocalRegistry> {
    let host = c.with_role(crate::model::Role::LocalRegistry).next()?;
    let n = nodes.iter().find(|n| n.name == host.name)?;
    Some(LocalRegistry {
        host: n.name.clone(),
        endpoint: crate::model::registry::endpoint_at(&n.address),
    })
}

fn resolve_ip(n: &Node, facts: &Facts, notes: &mut Vec<String>) -> String {
    if let Some(ip) = &n.ip {
        return ip.clone();
    }
    if let Some(ip) = facts.nodes.get(&n.name).and_then(|f| f.ip.clone()) {
        return ip;
    }
    if let Connection::Ssh(t) = &n.connection {
        if t.address.parse::<IpAddr>().is_ok() {
            notes.push(format!(
                "{}: no `ip` in the inventory and no facts; using its SSH address {} (kubespray used the host's default IPv4)",
                n.name, t.address
            ));
            return t.address.clone();
        }
    }
    notes.push(format!(
        "{}: no `ip` in the inventory and no facts from the host: the files use the placeholder {PLACEHOLDER_IP} (RFC 5737) for its address; \
         use the files only after rendering with the host's facts",
        n.name
    ));
    PLACEHOLDER_IP.to_string()
}

pub fn nodes(c: &Cluster, facts: &Facts, notes: &mut Vec<String>) -> Vec<NodeCtx> {
    let first_master = c.first_master().map(|n| n.name.clone());
    let etcd: Vec<&str> = c.etcd().iter().map(|n| n.name.as_str()).collect();
    c.nodes
        .iter()
        .filter(|n| n.has(Role::Master) || n.has(Role::Worker) || n.has(Role::Etcd))
        .map(|n| {
            let ip = resolve_ip(n, facts, notes);
            NodeCtx {
                name: n.name.clone(),
                address: n.access_ip.clone().unwrap_or_else(|| ip.clone()),
                ip,
                is_master: n.has(Role::Master),
                is_worker: n.has(Role::Worker),
                is_etcd: n.has(Role::Etcd),
                is_first_master: Some(&n.name) == first_master.as_ref(),
                etcd_name: etcd
                    .iter()
                    .position(|e| *e == n.name)
                    .map(|i| format!("etcd{}", i + 1)),
                roles: n.roles.iter().map(|r| r.label()).collect(),
                restrict_oom: facts.nodes.get(&n.name).is_some_and(|f| f.restrict_oom),
            }
        })
        .collect()
}

/// The proxy the container runtime pulls through (`http_proxy`,
/// `https_proxy`), and what it reaches directly: `no_proxy` as given, else
/// every node by name and address, the API domain, the cluster's networks
/// and domain (as Kubespray lists them); `additional_no_proxy` added.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RuntimeProxy {
    pub http: String,
    pub https: String,
    pub no: String,
}

pub fn runtime_proxy(cfg: &Config, nodes: &[NodeCtx]) -> Option<RuntimeProxy> {
    let (http, https) = (cfg.text("http_proxy"), cfg.text("https_proxy"));
    if http.trim().is_empty() && https.trim().is_empty() {
        return None;
    }
    let mut no: Vec<String> = cfg.list("no_proxy");
    if no.is_empty() {
        no = vec!["localhost".into(), "127.0.0.1".into()];
        for n in nodes {
            no.extend([n.name.clone(), n.ip.clone(), n.address.clone()]);
        }
        no.push(cfg.text("apiserver_loadbalancer_domain_name"));
        no.push(cfg.network.service_cidr.to_string());
        no.push(cfg.network.pod_cidr.to_string());
        no.extend([".svc".into(), format!(".{}", cfg.network.dns_domain)]);
    }
    no.extend(cfg.list("additional_no_proxy"));
    no.retain(|x| !x.trim().is_empty());
    let mut seen = std::collections::BTreeSet::new();
    no.retain(|x| seen.insert(x.clone()));
    Some(RuntimeProxy {
        http: http.trim().to_string(),
        https: https.trim().to_string(),
        no: no.join(","),
    })
}

/// `--log-opt max-size=50m --log-opt max-file=5` → {max-size: 50m, max-file: 5}.
pub fn docker_log_opts(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let opt = if let Some(v) = w.strip_prefix("--log-opt=") {
            Some(v.to_string())
        } else if w == "--log-opt" {
            words.next().map(str::to_string)
        } else {
            None
        };
        if let Some((k, v)) = opt.as_deref().and_then(|o| o.split_once('=')) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

pub use crate::model::versions::ks_version;

fn storage_kind_name(k: StorageKind) -> &'static str {
    match k {
        StorageKind::LocalVolume => "local-volume",
        StorageKind::QingcloudCsi => "qingcloud-csi",
        StorageKind::CephRbd => "ceph-rbd",
        StorageKind::NfsClient => "nfs-client",
        StorageKind::NeonsanCsi => "neonsan-csi",
        StorageKind::GlusterFs => "glusterfs",
        StorageKind::AlicloudDiskCsi => "alicloud-disk-csi",
        StorageKind::TencentCbsCsi => "tencentcloud-cbs-csi",
        StorageKind::NfsServer => "nfs-server",
        StorageKind::OpenEbsHostpath => "openebs-hostpath",
    }
}

pub fn kind_name(k: StorageKind) -> &'static str {
    storage_kind_name(k)
}

/// The template view of `model::lb`'s decision.
fn lb(c: &Cluster) -> Result<LbCtx> {
    let d = lb::decide(c).map_err(anyhow::Error::msg)?;
    let cfg = &c.config;
    let interface = cfg.text("keepalived_interface");
    Ok(LbCtx {
        lb_mode: d.mode,
        proxy: d.proxy,
        mode: match d.mode {
            LbMode::None => "none",
            LbMode::Internal => "internal",
            LbMode::External => "external",
            LbMode::Keepalived => "keepalived",
        },
        domain: cfg.text("apiserver_loadbalancer_domain_name"),
        address: d.address,
        port: d.port,
        kind: match d.proxy {
            Proxy::Haproxy => "haproxy",
            Proxy::Nginx => "nginx",
        },
        interface: if interface.is_empty() {
            "eth0".into()
        } else {
            interface
        },
        router_id: d.router_id,
    })
}

pub fn apiserver_port(cfg: &Config) -> u16 {
    lb::apiserver_port(cfg)
}

fn v<T: Serialize>(x: T) -> Value {
    Value::from_serialize(&x)
}

/// The template globals: every setting under its current name, then what
/// is computed from them, one concern a step.
pub fn build(c: &Cluster, facts: &Facts) -> Result<Ctx> {
    let cfg = &c.config;
    let mut notes = Vec::new();
    let nodes = nodes(c, facts, &mut notes);
    let lb = lb(c)?;
    let registry = registry(c, &nodes);
    let external = c.external_registry();
    let external_ca = match &external {
        Some(r) => r
            .ca_pem()
            .map_err(|e| anyhow::anyhow!("local_registry_ca: {e}"))?,
        None => None,
    };
    let pull_from = (registry.as_ref().map(|r| r.endpoint.clone()))
        .or_else(|| external.as_ref().map(|r| r.endpoint.clone()));
    let mut g: Globals = cfg.vars().into_iter().map(|(k, y)| (k, v(y))).collect();
    roles(&mut g, &nodes, &lb, cfg)?;
    runtime(&mut g, cfg, &nodes, external.as_ref(), &mut notes);
    images(&mut g, cfg, pull_from.as_deref());
    let endpoint = registry.as_ref().map(|r| r.endpoint.as_str());
    put(&mut g, "registry_endpoint", endpoint);
    etcd(&mut g, cfg, facts, &nodes);
    kubesphere(&mut g, cfg, pull_from.as_deref());
    put(&mut g, "bootstrap_token", &facts.bootstrap_token);
    put(&mut g, "certificate_key", &facts.certificate_key);
    put(&mut g, "ca_cert_hash", &facts.ca_cert_hash);
    put(&mut g, "all_in_one", c.mode == Mode::AllInOne);
    host_quirks(&mut g, cfg, facts, &nodes, &mut notes);
    Ok(Ctx {
        globals_value: Value::from_serialize(&g),
        globals: g,
        nodes,
        lb,
        registry,
        external,
        external_ca,
        pull_from,
        notes,
    })
}

type Globals = BTreeMap<String, Value>;

fn put<T: Serialize>(g: &mut Globals, key: &str, value: T) {
    g.insert(key.to_string(), v(value));
}

/// The node lists, the API endpoint and the API server's certificate names.
fn roles(g: &mut Globals, nodes: &[NodeCtx], lb: &LbCtx, cfg: &Config) -> Result<()> {
    let of = |pick: fn(&NodeCtx) -> bool| -> Vec<NodeCtx> {
        nodes.iter().filter(|n| pick(n)).cloned().collect()
    };
    let masters = of(|n| n.is_master);
    let Some(first) = masters.first().cloned() else {
        bail!("no master: [kube-master] is empty");
    };
    if !nodes.iter().any(|n| n.is_etcd) {
        bail!("no etcd member: [etcd] is empty");
    }
    let port = apiserver_port(cfg);
    let endpoint = match lb.lb_mode {
        LbMode::None => format!("{}:{port}", first.address),
        _ => format!("{}:{}", lb.domain, lb.port),
    };
    let kv = &cfg.kube_version;
    put(g, "kube_version", kv.to_string());
    put(g, "kube_minor", versions::minor(kv));
    put(g, "kubeadm_api_version", versions::kubeadm_api(kv));
    put(g, "kube_apiserver_port", port);
    put(g, "control_plane_endpoint", &endpoint);
    put(g, "lb", lb);
    put(g, "all_nodes", nodes);
    put(g, "workers", of(|n| n.is_worker));
    put(g, "etcd_members", of(|n| n.is_etcd));
    put(g, "k8s_nodes", of(NodeCtx::is_k8s));
    put(g, "first_master", &first);
    put(g, "apiserver_cert_sans", apiserver_sans(cfg, &masters, lb));
    put(g, "masters", masters);
    put(
        g,
        "control_plane_taints",
        versions::control_plane_taints(kv),
    );
    put(
        g,
        "os_label",
        if versions::minor(kv) >= 14 {
            "kubernetes.io/os"
        } else {
            "beta.kubernetes.io/os"
        },
    );
    put(g, "kube_cert_dir", super::KUBE_CERT_DIR);
    put(g, "crd_api_version", versions::crd_api(kv));
    put(g, "csidriver_api_version", versions::csidriver_api(kv));
    put(g, "kube_network_plugin", cfg.text("kube_network_plugin"));
    put(g, "coredns_ip", cluster_dns_ip(cfg));
    Ok(())
}

/// The API server certificate's names: the legacy list and the load
/// balancer's addresses.
fn apiserver_sans(cfg: &Config, masters: &[NodeCtx], lb: &LbCtx) -> Vec<String> {
    let domain = &cfg.network.dns_domain;
    let mut sans: Vec<String> = vec![
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{domain}"),
        first_service_ip(cfg),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    for m in masters {
        sans.extend([
            m.name.clone(),
            format!("{}.{domain}", m.name),
            m.ip.clone(),
            m.address.clone(),
        ]);
    }
    if lb.lb_mode != LbMode::None {
        sans.push(lb.domain.clone());
    }
    sans.extend(lb.address.clone());
    sans.extend(cfg.list("supplementary_addresses_in_ssl_keys"));
    dedup(&mut sans);
    sans
}

/// The container runtime, its socket, proxy and registries (docker's
/// insecure ones with the company's, when it speaks plain HTTP).
fn runtime(
    g: &mut Globals,
    cfg: &Config,
    nodes: &[NodeCtx],
    external: Option<&External>,
    notes: &mut Vec<String>,
) {
    let kv = &cfg.kube_version;
    if cfg.runtime == Runtime::Docker && versions::minor(kv) >= 24 {
        notes.push(format!(
            "Kubernetes {kv} has no dockershim: docker is used through cri-dockerd (unit files rendered; the binary comes from the bundle)"
        ));
    }
    put(g, "container_manager", cfg.runtime.name());
    put(g, "runtime_proxy", runtime_proxy(cfg, nodes));
    put(g, "cri_socket", versions::cri_socket(kv, cfg.runtime));
    put(g, "registry_mirrors", cfg.list("docker_registry_mirrors"));
    let mut insecure = cfg.list("docker_insecure_registries");
    insecure.extend(external.filter(|r| r.insecure).map(|r| r.endpoint.clone()));
    put(g, "insecure_registries", insecure);
    put(
        g,
        "docker_log_opts_map",
        docker_log_opts(&cfg.text("docker_log_opts")),
    );
}

/// Images and versions from the one versions table, and calico's settings.
/// With a registry to pull from every reference is rewritten to it here,
/// the one place the templates take images from.
fn images(g: &mut Globals, cfg: &Config, registry: Option<&str>) {
    let local = |r: &str| crate::model::registry::pulled(registry, r);
    let repo = local(&cfg.kube_image_repo());
    let images =
        crate::model::versions::Images::of(&cfg.kube_version, &repo, &cfg.text("calico_version"));
    let sandbox = match cfg.text("sandbox_image") {
        s if s.trim().is_empty() => images.pause.clone(),
        s => local(&s),
    };
    if registry.is_some() {
        let calico = match cfg.text("calico_image_repo") {
            s if s.trim().is_empty() => "docker.io/calico".to_string(),
            s => s,
        };
        put(g, "calico_image_repo", local(&calico));
    }
    put(g, "kube_image_repo", &repo);
    put(g, "sandbox_image", &sandbox);
    put(g, "calico_version", &images.calico_version);
    put(g, "calico_minor", minor_of(&images.calico_version));
    let ipip = match (cfg.flag("ipip"), cfg.text("ipip_mode")) {
        (false, _) => "Never".to_string(),
        (true, m) if m.is_empty() => "Always".to_string(),
        (true, m) => m,
    };
    put(g, "calico_ipip_mode", ipip);
    put(g, "calico_mtu", cfg.text("calico_mtu").parse::<u32>().ok());
    put(g, "flannel_image", local(&images.flannel));
    put(
        g,
        "flannel_cni_plugin_image",
        images.flannel_cni.as_deref().map(local),
    );
    put(g, "coredns_image_tag", &images.coredns_tag);
    put(g, "coredns_image_repo", &images.coredns_repo);
    put(g, "nodelocaldns_image", &images.nodelocaldns);
}

/// The members' URLs and names, and the version etcd runs.
fn etcd(g: &mut Globals, cfg: &Config, facts: &Facts, nodes: &[NodeCtx]) {
    let members: Vec<&NodeCtx> = nodes.iter().filter(|n| n.is_etcd).collect();
    let endpoints: Vec<String> = (members.iter())
        .map(|n| etcd_url(&n.address, ETCD_CLIENT))
        .collect();
    let initial = (members.iter())
        .map(|n| {
            format!(
                "{}={}",
                n.etcd_name.as_deref().unwrap_or(&n.name),
                etcd_url(&n.address, ETCD_PEER)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    put(g, "etcd_endpoints", &endpoints);
    put(g, "etcd_initial_cluster", &initial);
    put(
        g,
        "etcd_initial_cluster_state",
        facts.etcd_cluster_state.as_str(),
    );
    put(
        g,
        "etcd_version",
        format!("v{}", cfg.etcd_version.trim().trim_start_matches('v')),
    );
    put(g, "etcd_minor", minor_of(&cfg.etcd_version));
}

/// The storage classes and KubeSphere's installer.
fn kubesphere(g: &mut Globals, cfg: &Config, registry: Option<&str>) {
    let storage: Vec<StorageCtx> = (cfg.storage.iter())
        .map(|s| StorageCtx {
            kind: storage_kind_name(s.kind),
            name: s.name.clone(),
            is_default: s.is_default,
        })
        .collect();
    let default_class = (cfg.storage.iter())
        .find(|s| s.is_default)
        .map(|s| s.name.clone());
    let (ks_major, ks_minor) = ks_version(&cfg.ks_version);
    let ks_tag = match cfg.text("ks_installer_tag") {
        t if t.is_empty() => format!("v{}", cfg.ks_version.trim().trim_start_matches('v')),
        t => t,
    };
    let ks_repo = match cfg.text("ks_installer_repo") {
        s if s.is_empty() => "kubesphere/ks-installer".to_string(),
        s => s,
    };
    put(g, "storage_classes", &storage);
    put(
        g,
        "default_storage_class",
        default_class.unwrap_or_default(),
    );
    put(g, "ks_major", ks_major);
    put(g, "ks_minor", ks_minor);
    put(
        g,
        "ks_installer_image",
        crate::model::registry::pulled(registry, &format!("{ks_repo}:{ks_tag}")),
    );
    put(g, "ks_installer_tag", &ks_tag);
}

/// What some hosts cannot do, decided for the whole cluster (kube-proxy's
/// and the kubelet's configurations are one for all nodes).
fn host_quirks(
    g: &mut Globals,
    cfg: &Config,
    facts: &Facts,
    nodes: &[NodeCtx],
    notes: &mut Vec<String>,
) {
    let kv = &cfg.kube_version;
    let having = |pick: fn(&NodeFacts) -> bool| -> Vec<&str> {
        (nodes.iter())
            .filter(|n| n.is_k8s() && facts.nodes.get(&n.name).is_some_and(pick))
            .map(|n| n.name.as_str())
            .collect()
    };
    // A node that cannot size the conntrack table (a container host):
    // kube-proxy leaves it everywhere.
    let conntrack_fixed = having(|f| f.conntrack_fixed);
    if !conntrack_fixed.is_empty() {
        notes.push(format!(
            "{}: nf_conntrack_max cannot be set there (a container's network namespace): kube-proxy leaves the conntrack table size as it is (conntrack.maxPerCore: 0)",
            conntrack_fixed.join(", ")
        ));
    }
    put(g, "kube_proxy_conntrack_fixed", !conntrack_fixed.is_empty());
    // From 1.35 the kubelet refuses cgroup v1 hosts (failCgroupV1 defaults
    // to true) and kubeadm's preflight with it; CentOS 7 hosts are cgroup v1.
    let v1_hosts = having(|f| f.cgroup_v1);
    use crate::model::versions::{cgroup_v1, CgroupV1, FAIL_CGROUP_V1};
    let allow_v1 =
        cgroup_v1(kv, cfg.flag(FAIL_CGROUP_V1), !v1_hosts.is_empty()) == CgroupV1::Allowed;
    if allow_v1 {
        notes.push(format!(
            "{}: cgroup v1, which Kubernetes {kv} supports only in maintenance mode: the kubelets run with failCgroupV1: false",
            v1_hosts.join(", ")
        ));
    }
    put(g, "kubelet_allow_cgroup_v1", allow_v1);
}

/// The minor of a `vX.Y.Z` version (`v3.16.10` → 16).
fn minor_of(s: &str) -> u32 {
    s.trim()
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

/// The first address of the service range: the `kubernetes` Service's
/// ClusterIP (10.233.0.1 by default), always in the apiserver certificate.
/// The cluster DNS address: kubeadm's CoreDNS addon puts its `kube-dns`
/// Service at the tenth address of the service range, so the kubelets
/// (`clusterDNS`) and NodeLocal DNS must send queries there. (Kubespray,
/// which deployed CoreDNS itself, used the third; with kubeadm's addon that
/// address answers nothing — found on the lab's first real cluster.)
pub fn cluster_dns_ip(cfg: &Config) -> String {
    let net = cfg.network.service_cidr;
    match net.hosts().nth(9) {
        Some(ip) => ip.to_string(),
        None => net.network().to_string(),
    }
}

pub fn first_service_ip(cfg: &Config) -> String {
    let net = cfg.network.service_cidr;
    match net.hosts().next() {
        Some(ip) => ip.to_string(),
        None => net.network().to_string(),
    }
}

impl Ctx {
    /// The variables for one host: the globals plus `node`,
    /// `inventory_hostname`, `ip` and `access_ip`.
    pub fn for_node(&self, node: &NodeCtx, extra: &[(&str, Value)]) -> Value {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        m.insert("node".into(), v(node));
        m.insert("inventory_hostname".into(), v(&node.name));
        m.insert("ip".into(), v(&node.ip));
        m.insert("access_ip".into(), v(&node.address));
        for (k, val) in extra {
            m.insert((*k).to_string(), val.clone());
        }
        minijinja::value::merge_maps([Value::from_serialize(&m), self.globals_value.clone()])
    }

    pub fn cluster(&self, extra: &[(&str, Value)]) -> Value {
        let m: BTreeMap<String, Value> = extra
            .iter()
            .map(|(k, val)| ((*k).to_string(), val.clone()))
            .collect();
        minijinja::value::merge_maps([Value::from_serialize(&m), self.globals_value.clone()])
    }
}
