//! The variables every template sees: all settings of the config under
//! their (current) key names, as Ansible templates saw them, plus the values
//! computed from the model (node lists, endpoints, versions, images). Per
//! host, `node` / `inventory_hostname` / `ip` are added.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{bail, Result};
use minijinja::Value;
use serde::Serialize;

use super::{versions, Facts};
use crate::config::{Config, Runtime, StorageKind};
use crate::model::lb::{self, LbMode, Proxy};
use crate::model::node::{etcd_url, ETCD_CLIENT, ETCD_PEER};
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
    pub notes: Vec<String>,
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
    let mut no: Vec<String> = list(cfg, "no_proxy");
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
    no.extend(list(cfg, "additional_no_proxy"));
    no.retain(|x| !x.trim().is_empty());
    let mut seen = std::collections::BTreeSet::new();
    no.retain(|x| seen.insert(x.clone()));
    Some(RuntimeProxy {
        http: http.trim().to_string(),
        https: https.trim().to_string(),
        no: no.join(","),
    })
}

fn list(cfg: &Config, key: &str) -> Vec<String> {
    cfg.list(key)
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

pub fn build(c: &Cluster, facts: &Facts) -> Result<Ctx> {
    let cfg = &c.config;
    let kv = &cfg.kube_version;
    let mut notes = Vec::new();
    let nodes = nodes(c, facts, &mut notes);
    let masters: Vec<NodeCtx> = nodes.iter().filter(|n| n.is_master).cloned().collect();
    let Some(first) = masters.first().cloned() else {
        bail!("no master: [kube-master] is empty");
    };
    let workers: Vec<NodeCtx> = nodes.iter().filter(|n| n.is_worker).cloned().collect();
    let etcd: Vec<NodeCtx> = nodes.iter().filter(|n| n.is_etcd).cloned().collect();
    if etcd.is_empty() {
        bail!("no etcd member: [etcd] is empty");
    }
    let k8s: Vec<NodeCtx> = nodes.iter().filter(|n| n.is_k8s()).cloned().collect();
    let lb = lb(c)?;
    let port = apiserver_port(cfg);

    let runtime = cfg.runtime;
    let minor = versions::minor(kv);
    if runtime == Runtime::Docker && minor >= 24 {
        notes.push(format!(
            "Kubernetes {kv} has no dockershim: docker is used through cri-dockerd (unit files rendered; the binary comes from the bundle)"
        ));
    }

    let control_plane_endpoint = match lb.lb_mode {
        LbMode::None => format!("{}:{port}", first.address),
        _ => format!("{}:{}", lb.domain, lb.port),
    };

    let image_repo = cfg.kube_image_repo();
    let images = crate::model::versions::Images::of(kv, &image_repo, &cfg.text("calico_version"));
    let sandbox_image = match cfg.text("sandbox_image") {
        s if s.trim().is_empty() => images.pause.clone(),
        s => s,
    };

    // apiserver certificate SANs (legacy list + LB addresses).
    let svc_ip = first_service_ip(cfg);
    let mut sans: Vec<String> = vec![
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", cfg.network.dns_domain),
        svc_ip.clone(),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    for m in &masters {
        sans.push(m.name.clone());
        sans.push(format!("{}.{}", m.name, cfg.network.dns_domain));
        sans.push(m.ip.clone());
        sans.push(m.address.clone());
    }
    if lb.lb_mode != LbMode::None {
        sans.push(lb.domain.clone());
    }
    if let Some(a) = &lb.address {
        sans.push(a.clone());
    }
    sans.extend(list(cfg, "supplementary_addresses_in_ssl_keys"));
    dedup(&mut sans);

    let etcd_endpoints: Vec<String> = etcd
        .iter()
        .map(|n| etcd_url(&n.address, ETCD_CLIENT))
        .collect();
    let etcd_initial_cluster = etcd
        .iter()
        .map(|n| {
            format!(
                "{}={}",
                n.etcd_name.as_deref().unwrap_or(&n.name),
                etcd_url(&n.address, ETCD_PEER)
            )
        })
        .collect::<Vec<_>>()
        .join(",");

    let storage: Vec<StorageCtx> = cfg
        .storage
        .iter()
        .map(|s| StorageCtx {
            kind: storage_kind_name(s.kind),
            name: s.name.clone(),
            is_default: s.is_default,
        })
        .collect();
    let default_class = cfg
        .storage
        .iter()
        .find(|s| s.is_default)
        .map(|s| s.name.clone())
        .unwrap_or_default();

    let (ks_major, ks_minor) = ks_version(&cfg.ks_version);
    let ks_tag = {
        let t = cfg.text("ks_installer_tag");
        if t.is_empty() {
            format!("v{}", cfg.ks_version.trim().trim_start_matches('v'))
        } else {
            t
        }
    };
    let ks_repo = match cfg.text("ks_installer_repo") {
        s if s.is_empty() => "kubesphere/ks-installer".to_string(),
        s => s,
    };

    let calico_version = images.calico_version.clone();

    let mut g: BTreeMap<String, Value> = cfg.vars().into_iter().map(|(k, y)| (k, v(y))).collect();
    let mut set = |k: &str, val: Value| {
        g.insert(k.to_string(), val);
    };
    set("kube_version", v(kv.to_string()));
    set("kube_minor", v(minor));
    set("kubeadm_api_version", v(versions::kubeadm_api(kv)));
    set("kube_apiserver_port", v(port));
    set("container_manager", v(runtime.name()));
    set("runtime_proxy", v(runtime_proxy(cfg, &nodes)));
    set("cri_socket", v(versions::cri_socket(kv, runtime)));
    set("control_plane_endpoint", v(&control_plane_endpoint));
    set("lb", v(&lb));
    set("all_nodes", v(&nodes));
    set("masters", v(&masters));
    set("workers", v(&workers));
    set("etcd_members", v(&etcd));
    set("k8s_nodes", v(&k8s));
    set("first_master", v(&first));
    set("etcd_endpoints", v(&etcd_endpoints));
    set("etcd_initial_cluster", v(&etcd_initial_cluster));
    set(
        "etcd_initial_cluster_state",
        v(facts.etcd_cluster_state.as_str()),
    );
    set(
        "etcd_version",
        v(format!(
            "v{}",
            cfg.etcd_version.trim().trim_start_matches('v')
        )),
    );
    set("apiserver_cert_sans", v(&sans));
    set("kube_image_repo", v(&image_repo));
    set("sandbox_image", v(&sandbox_image));
    set("registry_mirrors", v(list(cfg, "docker_registry_mirrors")));
    set(
        "insecure_registries",
        v(list(cfg, "docker_insecure_registries")),
    );
    set(
        "docker_log_opts_map",
        v(docker_log_opts(&cfg.text("docker_log_opts"))),
    );
    set(
        "control_plane_taints",
        v(versions::control_plane_taints(kv)),
    );
    set("bootstrap_token", v(&facts.bootstrap_token));
    set("certificate_key", v(&facts.certificate_key));
    set("ca_cert_hash", v(&facts.ca_cert_hash));
    set("all_in_one", v(c.mode == Mode::AllInOne));
    set("storage_classes", v(&storage));
    set("default_storage_class", v(&default_class));
    set("ks_major", v(ks_major));
    set("ks_minor", v(ks_minor));
    set("ks_installer_image", v(format!("{ks_repo}:{ks_tag}")));
    set("calico_version", v(&calico_version));
    set("calico_minor", v(minor_of(&calico_version)));
    set(
        "calico_ipip_mode",
        v(if cfg.flag("ipip") {
            match cfg.text("ipip_mode").as_str() {
                "" => "Always".to_string(),
                m => m.to_string(),
            }
        } else {
            "Never".to_string()
        }),
    );
    set("etcd_minor", v(minor_of(&cfg.etcd_version)));
    set("ks_installer_tag", v(&ks_tag));
    set(
        "os_label",
        v(if minor >= 14 {
            "kubernetes.io/os"
        } else {
            "beta.kubernetes.io/os"
        }),
    );
    set("calico_mtu", v(cfg.text("calico_mtu").parse::<u32>().ok()));
    set("flannel_image", v(&images.flannel));
    set("flannel_cni_plugin_image", v(&images.flannel_cni));
    set("kube_cert_dir", v(super::KUBE_CERT_DIR));
    set("coredns_image_tag", v(&images.coredns_tag));
    set("coredns_image_repo", v(&images.coredns_repo));
    set("nodelocaldns_image", v(&images.nodelocaldns));
    set("crd_api_version", v(versions::crd_api(kv)));
    set("csidriver_api_version", v(versions::csidriver_api(kv)));
    set("kube_network_plugin", v(cfg.text("kube_network_plugin")));
    set("coredns_ip", v(cluster_dns_ip(cfg)));
    // kube-proxy's config is one for the cluster: if a node cannot size the
    // conntrack table (a container host), kube-proxy leaves it everywhere.
    let conntrack_fixed: Vec<&str> = k8s
        .iter()
        .filter(|n| facts.nodes.get(&n.name).is_some_and(|f| f.conntrack_fixed))
        .map(|n| n.name.as_str())
        .collect();
    if !conntrack_fixed.is_empty() {
        notes.push(format!(
            "{}: nf_conntrack_max cannot be set there (a container's network namespace): kube-proxy leaves the conntrack table size as it is (conntrack.maxPerCore: 0)",
            conntrack_fixed.join(", ")
        ));
    }
    set("kube_proxy_conntrack_fixed", v(!conntrack_fixed.is_empty()));
    // From 1.35 the kubelet refuses cgroup v1 hosts (failCgroupV1 defaults
    // to true) and kubeadm's preflight with it; CentOS 7 hosts are cgroup
    // v1. The KubeletConfiguration is one for the cluster.
    let v1_hosts: Vec<&str> = k8s
        .iter()
        .filter(|n| facts.nodes.get(&n.name).is_some_and(|f| f.cgroup_v1))
        .map(|n| n.name.as_str())
        .collect();
    use crate::model::versions::{cgroup_v1, CgroupV1, FAIL_CGROUP_V1};
    let allow_v1 =
        cgroup_v1(kv, cfg.flag(FAIL_CGROUP_V1), !v1_hosts.is_empty()) == CgroupV1::Allowed;
    if allow_v1 {
        notes.push(format!(
            "{}: cgroup v1, which Kubernetes {kv} supports only in maintenance mode: the kubelets run with failCgroupV1: false",
            v1_hosts.join(", ")
        ));
    }
    set("kubelet_allow_cgroup_v1", v(allow_v1));
    Ok(Ctx {
        globals_value: Value::from_serialize(&g),
        globals: g,
        nodes,
        lb,
        notes,
    })
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
