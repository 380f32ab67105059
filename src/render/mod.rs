//! Every file a cluster needs, rendered from the validated model.
//!
//! `render_all(&Cluster, &Facts)` returns, per host, the files to write
//! (absolute path, content, mode, and whether the content replaces the file
//! or is a marked block inside it), the cluster-wide manifests to apply on
//! the first master, and the etcd certificates. Templates live in
//! `templates/` (embedded in the binary, see `engine`); `<conf>/templates/`
//! overrides any of them by relative name.

pub mod certs;
pub mod component;
pub mod context;
pub mod engine;
pub mod filters;
pub mod merge;
pub mod text;
pub mod versions;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::Value;

pub use certs::{CertPair, EtcdCerts, RegistryPki};
pub use component::{Component, LbService};
use context::{Ctx, NodeCtx};

use crate::config::{NetworkPlugin, Runtime, StorageKind};
use crate::model::lb::{LbMode, Proxy};
use crate::model::storage::Manifest as StorageManifest;
use crate::model::Cluster;

/// Extra `/etc/hosts` lines for `kubeadm join` of a master in internal-LB
/// mode (read by the control-plane phase).
pub const JOIN_HOSTS: &str = "/etc/kubernetes/join-hosts";

/// Legacy markers of the `/etc/hosts` block (kubespray's blockinfile).
pub const HOSTS_BEGIN: &str = "# Ansible inventory hosts BEGIN";
pub const HOSTS_END: &str = "# Ansible inventory hosts END";

/// Kubernetes' certificate directory on the masters (kubeadm's
/// `certificatesDir`, the legacy layout; kubeadm's own default is
/// /etc/kubernetes/pki, so every kubeadm command that takes it is told).
#[macro_export]
macro_rules! kube_cert_dir {
    () => {
        "/etc/kubernetes/ssl"
    };
}
pub const KUBE_CERT_DIR: &str = kube_cert_dir!();

/// Where the etcd certificates live on every host (legacy layout).
pub const ETCD_CERT_DIR: &str = "/etc/ssl/etcd/ssl";

/// The local registry's own files on its host (Debian's `docker-registry`
/// reads `/etc/docker/registry/config.yml`).
pub const REGISTRY_DIR: &str = "/etc/docker/registry/ksinstall";
pub const REGISTRY_CONFIG: &str = "/etc/docker/registry/config.yml";
/// The configuration the install's push runs the registry with: writable,
/// behind a password made for that push.
pub const REGISTRY_PUSH_CONFIG: &str = "/etc/docker/registry/ksinstall/push.yml";
pub const REGISTRY_KEY: &str = "/etc/docker/registry/ksinstall/registry.key";
/// The registry's CA on its host, for the push and for anyone who pulls.
pub const REGISTRY_CA: &str = "/etc/docker/registry/ksinstall/ca.crt";
/// The legacy installer's etcd backup script (its path kept).
pub const ETCD_BACKUP_SCRIPT: &str = "/opt/etcd_back/etcd_backup.sh";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EtcdClusterState {
    /// A new cluster: every member starts together.
    #[default]
    New,
    /// A member joining a running cluster.
    Existing,
}

impl EtcdClusterState {
    pub fn as_str(self) -> &'static str {
        match self {
            EtcdClusterState::New => "new",
            EtcdClusterState::Existing => "existing",
        }
    }
}

/// What the host tells us, per node.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// The node's address when the inventory gives no `ip` (all-in-one):
    /// its default IPv4 from the facts. The inventory's `ip` wins when set.
    pub ip: Option<String>,
    /// Current content of files we merge into (`/etc/docker/daemon.json`,
    /// `/etc/containerd/config.toml`), by absolute path.
    pub existing: BTreeMap<String, String>,
    /// Root on the host cannot lower OOM scores (no CAP_SYS_RESOURCE, as in
    /// some containers): the runtime is told to keep scores at its own.
    pub restrict_oom: bool,
    /// `nf_conntrack_max` is not the host's to set: kube-proxy must leave it.
    pub conntrack_fixed: bool,
    /// The host runs cgroup v1 (kubelets from 1.35 refuse it unless told).
    pub cgroup_v1: bool,
}

/// Everything beyond the model that rendering needs. `Facts::default()`
/// renders without any host: fresh secrets, placeholders where unavoidable
/// (listed in `Rendered::notes`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub nodes: BTreeMap<String, NodeFacts>,
    /// kubeadm bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`); random when `None`.
    pub bootstrap_token: Option<String>,
    /// kubeadm `--upload-certs` key (64 hex); random when `None`.
    pub certificate_key: Option<String>,
    /// `sha256:<hex>` of the cluster CA's public key, for join discovery;
    /// without it joins skip CA pinning, as the legacy installer did.
    pub ca_cert_hash: Option<String>,
    /// The cluster CA, rendered onto every master; its public key's hash
    /// becomes `ca_cert_hash` when that is not given.
    pub kube_ca: Option<CertPair>,
    /// The etcd PKI of an existing cluster: its CA signs any certificate
    /// missing here, and the leaves present are kept as they are (a
    /// re-render does not re-issue them). `None`: a new CA and new leaves.
    pub etcd_certs: Option<EtcdCerts>,
    /// The local registry's CA and server certificate (kept while they fit);
    /// new ones when `None` and the cluster has a `[local-registry]` host.
    pub registry_pki: Option<RegistryPki>,
    pub etcd_cluster_state: EtcdClusterState,
    /// `<conf>/templates`: overrides of built-in templates by relative name.
    pub templates_dir: Option<PathBuf>,
    /// Their texts by relative name (read by `complete`).
    pub template_overrides: BTreeMap<String, String>,
}

/// How a rendered file lands on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The content is the whole file.
    Replace,
    /// The content goes between these marker lines, the rest of the file kept.
    Block { begin: String, end: String },
    /// The content is the host's own file with these settings merged in
    /// (written whole); `reset` leaves it, as it was the host's.
    Into,
}

#[derive(Clone)]
pub struct RenderedFile {
    /// Absolute path on the host.
    pub path: String,
    pub content: String,
    pub mode: u32,
    pub merge: Merge,
    /// The template it came from (`None` for certificates).
    pub template: Option<String>,
    /// What it belongs to: the phase that owns that pushes it.
    pub component: Component,
}

/// Content is not printed: files hold keys and tokens.
impl std::fmt::Debug for RenderedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedFile")
            .field("path", &self.path)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("merge", &self.merge)
            .field("template", &self.template)
            .field("component", &self.component)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct HostFiles {
    pub host: String,
    pub files: Vec<RenderedFile>,
}

/// A cluster-wide manifest, applied on the first master in name order.
#[derive(Clone)]
pub struct Manifest {
    pub name: String,
    pub content: String,
    pub template: String,
    /// Network, Storage or KubeSphere: the phase that applies it.
    pub component: Component,
}

/// Content is not printed: manifests hold storage secrets.
impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("name", &self.name)
            .field("template", &self.template)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub hosts: Vec<HostFiles>,
    pub manifests: Vec<Manifest>,
    pub etcd_certs: EtcdCerts,
    /// Placeholders used, things the files assume, keys replaced in merged files.
    pub notes: Vec<String>,
    /// Override files from `<conf>/templates` that were used.
    pub overrides: Vec<PathBuf>,
}

impl Rendered {
    pub fn host(&self, name: &str) -> Option<&HostFiles> {
        self.hosts.iter().find(|h| h.host == name)
    }

    pub fn file(&self, host: &str, path: &str) -> Option<&RenderedFile> {
        self.host(host)?.files.iter().find(|f| f.path == path)
    }

    pub fn manifest(&self, name: &str) -> Option<&Manifest> {
        self.manifests.iter().find(|m| m.name == name)
    }

    /// Writes `dir/<host>/<absolute path>` for every host file (block files
    /// as the block alone) and `dir/cluster/<name>` for the manifests.
    pub fn write_to(&self, dir: &Path) -> Result<usize> {
        use std::os::unix::fs::PermissionsExt;
        let mut n = 0;
        let write = |path: &Path, content: &str, mode: u32| -> Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(path, content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            Ok(())
        };
        for h in &self.hosts {
            // Validation refuses such names; this holds whatever it let by.
            if !crate::bundle::verify::safe_rel(&h.host) || h.host.contains('/') {
                anyhow::bail!(
                    "host name {:?} cannot name a directory under {}",
                    h.host,
                    dir.display()
                );
            }
            for f in &h.files {
                let rel = f.path.trim_start_matches('/');
                if !crate::bundle::verify::safe_rel(rel) {
                    anyhow::bail!(
                        "{}: {:?} cannot be written under {}",
                        h.host,
                        f.path,
                        dir.display()
                    );
                }
                let content = match &f.merge {
                    Merge::Replace | Merge::Into => f.content.clone(),
                    Merge::Block { begin, end } => format!("{begin}\n{}{end}\n", f.content),
                };
                write(&dir.join(&h.host).join(rel), &content, f.mode)?;
                n += 1;
            }
        }
        for m in &self.manifests {
            write(&dir.join("cluster").join(&m.name), &m.content, 0o644)?;
            n += 1;
        }
        Ok(n)
    }
}

/// A new kubeadm bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`) and
/// `--upload-certs` key (32 random bytes as hex): the one place they are
/// made (the install keeps them in its state).
pub fn new_kubeadm_secrets() -> Result<(String, String)> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // Bytes of 252 (7 × 36) and above are dropped, so that every
    // character is equally likely.
    let mut chars = String::with_capacity(22);
    while chars.len() < 22 {
        let mut buf = [0u8; 32];
        openssl::rand::rand_bytes(&mut buf)?;
        chars.extend(
            (buf.iter().filter(|b| **b < 252))
                .map(|b| ALPHABET[usize::from(*b % 36)] as char)
                .take(22 - chars.len()),
        );
    }
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key)?;
    Ok((format!("{}.{}", &chars[..6], &chars[6..]), hex::encode(key)))
}

fn valid_token(t: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(t.split_once('.'), Some((a, b)) if ok(a, 6) && ok(b, 16))
}

/// Extra variables for one template.
type Extra = Vec<(&'static str, Value)>;

/// One file to render for a host.
struct Out {
    component: Component,
    template: String,
    path: String,
    mode: u32,
    kind: Kind,
    extra: Vec<(&'static str, Value)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Yaml,
    /// JSON merged into the host's existing file.
    Json,
    /// TOML merged into the host's existing file.
    Toml,
    TomlPlain,
    HostsBlock,
}

fn out(component: Component, template: &str, path: &str, mode: u32, kind: Kind) -> Out {
    Out {
        component,
        template: template.into(),
        path: path.into(),
        mode,
        kind,
        extra: Vec::new(),
    }
}

/// Facts with everything rendering takes beyond the model: the kubeadm
/// secrets and the etcd PKI where the facts lack them (made here, the one
/// place with randomness), the CA's hash, and the template overrides of
/// `templates_dir` (read here, the one place that reads files).
pub struct Completed(Facts);

impl Completed {
    pub fn facts(&self) -> &Facts {
        &self.0
    }
}

pub fn complete(cluster: &Cluster, facts: &Facts) -> Result<Completed> {
    let mut facts = facts.clone();
    if let Some(t) = facts.bootstrap_token.as_ref().filter(|t| !valid_token(t)) {
        anyhow::bail!(
            "bootstrap token {t:?} does not have kubeadm's form [a-z0-9]{{6}}.[a-z0-9]{{16}}"
        );
    }
    if facts.bootstrap_token.is_none() || facts.certificate_key.is_none() {
        let (token, key) = new_kubeadm_secrets()?;
        facts.bootstrap_token.get_or_insert(token);
        facts.certificate_key.get_or_insert(key);
    }
    if let (None, Some(ca)) = (&facts.ca_cert_hash, &facts.kube_ca) {
        facts.ca_cert_hash = Some(certs::spki_sha256(&ca.cert_pem)?);
    }
    let nodes = context::nodes(cluster, &facts, &mut Vec::new());
    facts.etcd_certs = Some(etcd_certs(cluster, &nodes, &facts)?);
    facts.registry_pki = match context::registry(cluster, &nodes) {
        Some(r) => {
            let sans = certs::Sans {
                dns: vec![r.host.clone()],
                ips: (nodes.iter())
                    .filter(|n| n.name == r.host)
                    .filter_map(|n| n.address.parse().ok())
                    .collect(),
            };
            Some(certs::registry_pki(facts.registry_pki.as_ref(), &sans)?)
        }
        None => None,
    };
    facts.template_overrides = engine::read_overrides(facts.templates_dir.as_deref())?;
    Ok(Completed(facts))
}

/// Every file of the cluster from completed facts: no randomness, no
/// environment, no file read or written.
pub fn render(cluster: &Cluster, completed: &Completed) -> Result<Rendered> {
    let facts = &completed.0;
    let ctx = context::build(cluster, facts)?;
    let engine = engine::Engine::new(
        facts.template_overrides.clone(),
        facts.templates_dir.clone(),
    );
    let mut notes = ctx.notes.clone();
    let Some(certs) = facts.etcd_certs.clone() else {
        anyhow::bail!("the etcd PKI is missing from the completed facts");
    };
    let mut hosts = Vec::new();
    for n in &ctx.nodes {
        hosts.push(HostFiles {
            host: n.name.clone(),
            files: host_files(cluster, &ctx, &engine, n, facts, &certs, &mut notes)?,
        });
    }
    let manifests = manifests(cluster, &ctx, &engine, &mut notes)?;
    Ok(Rendered {
        hosts,
        manifests,
        etcd_certs: certs,
        notes,
        overrides: engine.overrides_used(),
    })
}

/// `complete`, then `render`.
pub fn render_all(cluster: &Cluster, facts: &Facts) -> Result<Rendered> {
    render(cluster, &complete(cluster, facts)?)
}

fn etcd_certs(cluster: &Cluster, nodes: &[NodeCtx], facts: &Facts) -> Result<EtcdCerts> {
    let cfg = &cluster.config;
    let mut sans = certs::Sans::default();
    let mut dns: Vec<String> = vec!["localhost".into()];
    for n in nodes.iter().filter(|n| n.is_etcd) {
        dns.push(n.name.clone());
    }
    dns.push(cfg.text("apiserver_loadbalancer_domain_name"));
    let domain = &cfg.network.dns_domain;
    dns.extend([
        format!("etcd.kube-system.svc.{domain}"),
        "etcd.kube-system.svc".into(),
        "etcd.kube-system".into(),
        "etcd".into(),
    ]);
    dns.retain(|d| !d.is_empty());
    dns.dedup();
    sans.dns = dns;
    let mut ips = Vec::new();
    for n in nodes.iter().filter(|n| n.is_etcd) {
        for a in [&n.address, &n.ip] {
            if let Ok(ip) = a.parse() {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
    }
    ips.push("127.0.0.1".parse().expect("literal"));
    sans.ips = ips;
    let members: Vec<String> = nodes
        .iter()
        .filter(|n| n.is_etcd)
        .map(|n| n.name.clone())
        .collect();
    let k8s: Vec<String> = nodes
        .iter()
        .filter(|n| n.is_k8s())
        .map(|n| n.name.clone())
        .collect();
    let own_ips = |host: &str| -> Vec<std::net::IpAddr> {
        nodes
            .iter()
            .filter(|n| n.name == host)
            .flat_map(|n| [&n.address, &n.ip])
            .filter_map(|a| a.parse().ok())
            .collect()
    };
    certs::generate(facts.etcd_certs.as_ref(), &members, &k8s, &sans, &own_ips)
}

fn cert_files(certs: &EtcdCerts, stem: &str, component: Component) -> Vec<RenderedFile> {
    let Some(p) = certs.get(stem) else {
        return Vec::new();
    };
    vec![
        RenderedFile {
            path: format!("{ETCD_CERT_DIR}/{stem}.pem"),
            content: p.cert_pem.clone(),
            mode: 0o644,
            merge: Merge::Replace,
            template: None,
            component,
        },
        RenderedFile {
            path: format!("{ETCD_CERT_DIR}/{stem}-key.pem"),
            content: p.key_pem.clone(),
            mode: 0o600,
            merge: Merge::Replace,
            template: None,
            component,
        },
    ]
}

/// The files `n` gets, one concern after another (the order phases push a
/// component's files in).
fn plan(cluster: &Cluster, ctx: &Ctx, n: &NodeCtx) -> Vec<Out> {
    let mut v = vec![hosts_block(ctx, n)];
    if n.is_k8s() {
        v.extend(kernel_files());
        v.extend(runtime_files(cluster, ctx));
        v.extend(kubelet_files(cluster, ctx, n));
    }
    v.extend(lb_files(ctx, n));
    if n.is_etcd {
        v.extend(etcd_files());
    }
    if ctx.registry.as_ref().is_some_and(|r| r.host == n.name) {
        v.extend(registry_configs());
    }
    v
}

/// The registry's two configurations: read-only as it serves the nodes,
/// and writable behind a password for the install's push.
fn registry_configs() -> Vec<Out> {
    [(REGISTRY_CONFIG, false), (REGISTRY_PUSH_CONFIG, true)]
        .into_iter()
        .map(|(path, push)| {
            let mut o = out(
                Component::Registry,
                "registry/config.yml.j2",
                path,
                0o644,
                Kind::Yaml,
            );
            o.extra.push(("push", Value::from(push)));
            o
        })
        .collect()
}

/// The /etc/hosts block, with the address this node uses for the API domain.
fn hosts_block(ctx: &Ctx, n: &NodeCtx) -> Out {
    let lb_ip = match ctx.lb.lb_mode {
        LbMode::External | LbMode::Keepalived => ctx.lb.address.clone(),
        LbMode::Internal if n.is_master => Some(n.ip.clone()),
        LbMode::Internal => Some("127.0.0.1".to_string()),
        _ => None,
    };
    let mut hosts = out(
        Component::Hosts,
        "hosts/hosts.j2",
        "/etc/hosts",
        0o644,
        Kind::HostsBlock,
    );
    hosts
        .extra
        .push(("lb_hosts_ip", Value::from_serialize(&lb_ip)));
    hosts
}

fn kernel_files() -> Vec<Out> {
    vec![
        out(
            Component::Kernel,
            "node/sysctl.conf.j2",
            "/etc/sysctl.d/99-kubernetes.conf",
            0o644,
            Kind::Text,
        ),
        out(
            Component::Kernel,
            "node/modules.conf.j2",
            "/etc/modules-load.d/kubernetes.conf",
            0o644,
            Kind::Text,
        ),
    ]
}

/// crictl's, the runtime's (containerd, or docker through cri-dockerd from
/// 1.24), and its proxy drop-in when the conf names a proxy.
fn runtime_files(cluster: &Cluster, ctx: &Ctx) -> Vec<Out> {
    let cfg = &cluster.config;
    let rt =
        |template: &str, path: &str, kind| out(Component::Runtime, template, path, 0o644, kind);
    let mut v = vec![rt("node/crictl.yaml.j2", "/etc/crictl.yaml", Kind::Text)];
    match cfg.runtime {
        Runtime::Containerd => {
            v.push(rt(
                "containerd/config.toml.j2",
                "/etc/containerd/config.toml",
                Kind::Toml,
            ));
            for (registry, server, mirrors, insecure) in registries(cluster, ctx) {
                let path = format!("/etc/containerd/certs.d/{registry}/hosts.toml");
                let ca = (ctx.registry.as_ref().map(|r| &r.endpoint))
                    .or(ctx
                        .external
                        .as_ref()
                        .filter(|r| r.ca_file.is_some())
                        .map(|r| &r.endpoint))
                    .filter(|e| **e == registry)
                    .map(|e| registry_ca_path(cluster, e));
                let mut o = rt("containerd/hosts.toml.j2", &path, Kind::TomlPlain);
                o.extra.push(("registry", Value::from(registry)));
                o.extra.push(("registry_server", Value::from(server)));
                o.extra
                    .push(("registry_hosts", Value::from_serialize(&mirrors)));
                o.extra.push(("registry_insecure", Value::from(insecure)));
                o.extra.push(("registry_ca", Value::from_serialize(&ca)));
                v.push(o);
            }
        }
        Runtime::Docker => {
            v.push(rt(
                "docker/daemon.json.j2",
                "/etc/docker/daemon.json",
                Kind::Json,
            ));
            if versions::minor(&cfg.kube_version) >= 24 {
                v.push(rt(
                    "docker/cri-docker.service.j2",
                    "/etc/systemd/system/cri-docker.service",
                    Kind::Text,
                ));
                v.push(rt(
                    "docker/cri-docker.socket.j2",
                    "/etc/systemd/system/cri-docker.socket",
                    Kind::Text,
                ));
            }
        }
    }
    if context::runtime_proxy(cfg, &ctx.nodes).is_some() {
        let path = format!(
            "/etc/systemd/system/{}.service.d/http-proxy.conf",
            cfg.runtime.name()
        );
        v.push(rt("node/runtime-proxy.conf.j2", &path, Kind::Text));
    }
    v
}

/// The kubelet's unit, kubeadm's init (first master) or join configuration,
/// a joining master's extra hosts lines, and calicoctl's files on masters.
fn kubelet_files(cluster: &Cluster, ctx: &Ctx, n: &NodeCtx) -> Vec<Out> {
    let cfg = &cluster.config;
    let api = versions::kubeadm_api(&cfg.kube_version);
    let mut v = vec![
        out(
            Component::Kubelet,
            "kubelet/kubelet.service.j2",
            "/etc/systemd/system/kubelet.service",
            0o644,
            Kind::Text,
        ),
        out(
            Component::Kubelet,
            "kubelet/10-kubeadm.conf.j2",
            "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            0o644,
            Kind::Text,
        ),
    ];
    let family = if api == "v1alpha3" {
        "kubeadm/v1alpha3-"
    } else {
        "kubeadm/"
    };
    if n.is_first_master {
        let path = format!("/etc/kubernetes/kubeadm-config.{api}.yaml");
        v.push(out(
            Component::Kubeadm,
            &format!("{family}init.yaml.j2"),
            &path,
            0o600,
            Kind::Yaml,
        ));
    } else {
        v.push(out(
            Component::Kubeadm,
            &format!("{family}join.yaml.j2"),
            "/etc/kubernetes/kubeadm-client.conf",
            0o600,
            Kind::Yaml,
        ));
        // A master's API domain is itself, not up until it has joined.
        if n.is_master && ctx.lb.lb_mode == LbMode::Internal {
            v.push(out(
                Component::JoinHosts,
                "kubeadm/join-hosts.j2",
                JOIN_HOSTS,
                0o644,
                Kind::Text,
            ));
        }
    }
    if n.is_master && cfg.network.plugin == NetworkPlugin::Calico {
        v.push(out(
            Component::Calico,
            "calico/calicoctl.cfg.j2",
            "/etc/calico/calicoctl.cfg",
            0o644,
            Kind::Yaml,
        ));
        if n.is_first_master {
            v.push(out(
                Component::Calico,
                "calico/ippool.yaml.j2",
                "/etc/calico/ippool.yaml",
                0o644,
                Kind::Yaml,
            ));
        }
    }
    v
}

/// The API proxy on this node (model::lb decides which, and where).
fn lb_files(ctx: &Ctx, n: &NodeCtx) -> Vec<Out> {
    let lb = |s: LbService, template: &str, path: &str| {
        out(Component::Lb(s), template, path, 0o644, Kind::Text)
    };
    let haproxy = || {
        lb(
            LbService::Haproxy,
            "lb/haproxy.cfg.j2",
            "/etc/haproxy/haproxy.cfg",
        )
    };
    let node = n.is_k8s() && !n.is_master;
    match (ctx.lb.lb_mode, ctx.lb.proxy) {
        (LbMode::Internal, Proxy::Nginx) if node => vec![lb(
            LbService::Nginx,
            "lb/nginx.conf.j2",
            "/etc/nginx/nginx.conf",
        )],
        (LbMode::Internal, _) if node => vec![haproxy()],
        (LbMode::Keepalived, _) if n.is_master => vec![
            lb(
                LbService::Keepalived,
                "lb/keepalived.conf.j2",
                "/etc/keepalived/keepalived.conf",
            ),
            haproxy(),
        ],
        _ => Vec::new(),
    }
}

/// An etcd member's settings and unit, and the legacy etcd_backup_* keys'
/// snapshot script and timer.
fn etcd_files() -> Vec<Out> {
    let mut v = vec![
        out(
            Component::EtcdEnv,
            "etcd/etcd.env.j2",
            "/etc/etcd.env",
            0o640,
            Kind::Text,
        ),
        out(
            Component::EtcdUnit,
            "etcd/etcd.service.j2",
            "/etc/systemd/system/etcd.service",
            0o644,
            Kind::Text,
        ),
        out(
            Component::EtcdEnv,
            "etcd/etcdctl.env.j2",
            "/etc/etcdctl.env",
            0o644,
            Kind::Text,
        ),
        out(
            Component::EtcdBackup,
            "etcd/etcd-backup.sh.j2",
            ETCD_BACKUP_SCRIPT,
            0o755,
            Kind::Text,
        ),
    ];
    for unit in ["service", "timer"] {
        let (template, path) = (
            format!("etcd/etcd-backup.{unit}.j2"),
            format!("/etc/systemd/system/etcd-backup.{unit}"),
        );
        v.push(out(
            Component::EtcdBackup,
            &template,
            &path,
            0o644,
            Kind::Text,
        ));
    }
    v
}

/// `(registry dir name, server URL, mirror hosts, insecure)` for containerd's
/// `certs.d`: `docker_registry_mirrors` are docker.io mirrors;
/// `docker_insecure_registries` are plain-HTTP / unverified registries.
fn registries(cluster: &Cluster, ctx: &Ctx) -> Vec<(String, String, Vec<String>, bool)> {
    let cfg = &cluster.config;
    let list = |k: &str| cfg.list(k);
    let mut out = Vec::new();
    if let Some(r) = &ctx.registry {
        let server = format!("https://{}", r.endpoint);
        out.push((r.endpoint.clone(), server.clone(), vec![server], false));
    }
    if let Some(r) = &ctx.external {
        // Plain HTTP is in the server's scheme; nothing is left unverified.
        out.push((r.endpoint.clone(), r.url(), vec![r.url()], false));
    }
    let mirrors = list("docker_registry_mirrors");
    if !mirrors.is_empty() {
        out.push((
            "docker.io".to_string(),
            "https://registry-1.docker.io".to_string(),
            mirrors,
            false,
        ));
    }
    for r in list("docker_insecure_registries") {
        let host = r
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        let server = if r.starts_with("https://") {
            format!("https://{host}")
        } else {
            format!("http://{host}")
        };
        out.push((host, server.clone(), vec![server], true));
    }
    out
}

fn host_files(
    cluster: &Cluster,
    ctx: &Ctx,
    engine: &engine::Engine,
    n: &NodeCtx,
    facts: &Facts,
    certs: &EtcdCerts,
    notes: &mut Vec<String>,
) -> Result<Vec<RenderedFile>> {
    let mut files = Vec::new();
    let existing = facts.nodes.get(&n.name).map(|f| &f.existing);
    for o in plan(cluster, ctx, n) {
        let text = engine.render(&o.template, &ctx.for_node(n, &o.extra))?;
        let (content, merge) = match o.kind {
            Kind::HostsBlock => (
                {
                    text::check("/etc/hosts", &text).map_err(|e| {
                        anyhow::anyhow!("templates/{} rendered /etc/hosts for {} that cannot be written as it is: {e}", o.template, n.name)
                    })?;
                    text
                },
                Merge::Block {
                    begin: HOSTS_BEGIN.into(),
                    end: HOSTS_END.into(),
                },
            ),
            Kind::Json | Kind::Toml => {
                let old = existing.and_then(|e| e.get(&o.path)).map(String::as_str);
                let (merged, replaced) = match (o.kind, old) {
                    (Kind::Json, Some(old)) => merge::merge_json(old, &text),
                    (Kind::Json, None) => merge::merge_json("", &text),
                    (_, Some(old)) => merge::merge_toml(old, &text),
                    (_, None) => merge::merge_toml("", &text),
                }
                .with_context(|| format!("{}: {}", n.name, o.path))?;
                if !replaced.is_empty() {
                    notes.push(format!(
                        "{}: {}: replaced the host's own {}",
                        n.name,
                        o.path,
                        replaced.join(", ")
                    ));
                }
                (merged, Merge::Into)
            }
            Kind::TomlPlain => {
                toml::from_str::<toml::Table>(&text).with_context(|| {
                    format!(
                        "templates/{} rendered invalid TOML for {}",
                        o.template, n.name
                    )
                })?;
                (text, Merge::Replace)
            }
            Kind::Yaml => {
                check_yaml(&text).with_context(|| {
                    format!(
                        "templates/{} rendered invalid YAML for {}",
                        o.template, n.name
                    )
                })?;
                (text, Merge::Replace)
            }
            Kind::Text => {
                text::check(&o.path, &text).map_err(|e| {
                    anyhow::anyhow!(
                        "templates/{} rendered {} for {} that cannot be written as it is: {e}",
                        o.template,
                        o.path,
                        n.name
                    )
                })?;
                (text, Merge::Replace)
            }
        };
        files.push(RenderedFile {
            path: o.path,
            content,
            mode: o.mode,
            merge,
            template: Some(o.template),
            component: o.component,
        });
    }
    files.extend(etcd_cert_files(ctx, n, certs));
    files.extend(kube_ca_files(n, facts));
    files.extend(registry_cert_files(cluster, ctx, n, facts));
    Ok(files)
}

/// Where a runtime finds the local registry's CA: containerd beside the
/// registry's hosts.toml, docker in its own certs.d.
fn registry_ca_path(cluster: &Cluster, endpoint: &str) -> String {
    match cluster.config.runtime {
        Runtime::Containerd => format!("/etc/containerd/certs.d/{endpoint}/ca.crt"),
        Runtime::Docker => format!("/etc/docker/certs.d/{endpoint}/ca.crt"),
    }
}

/// The registry's certificate and key on its host (the key 0640: the
/// registry phase gives it to the service's group), and its CA on every
/// Kubernetes node, where the runtime pulls from it; the company
/// registry's CA likewise.
fn registry_cert_files(
    cluster: &Cluster,
    ctx: &Ctx,
    n: &NodeCtx,
    facts: &Facts,
) -> Vec<RenderedFile> {
    let file = |path: String, content: &str, mode, component| RenderedFile {
        path,
        content: content.to_string(),
        mode,
        merge: Merge::Replace,
        template: None,
        component,
    };
    let mut files = Vec::new();
    if let (Some(r), Some(ca), true) = (&ctx.external, &ctx.external_ca, n.is_k8s()) {
        let path = registry_ca_path(cluster, &r.endpoint);
        files.push(file(path, ca, 0o644, Component::Runtime));
    }
    let (Some(r), Some(pki)) = (&ctx.registry, &facts.registry_pki) else {
        return files;
    };
    if r.host == n.name {
        let crt = format!("{REGISTRY_DIR}/registry.crt");
        files.push(file(crt, &pki.server.cert_pem, 0o644, Component::Registry));
        let key = REGISTRY_KEY.to_string();
        files.push(file(key, &pki.server.key_pem, 0o640, Component::Registry));
        let ca = REGISTRY_CA.to_string();
        files.push(file(ca, &pki.ca.cert_pem, 0o644, Component::Registry));
    }
    if n.is_k8s() {
        let ca = registry_ca_path(cluster, &r.endpoint);
        files.push(file(ca, &pki.ca.cert_pem, 0o644, Component::Runtime));
    }
    files
}

/// The etcd certificates in the legacy layout: a member's are pushed by the
/// etcd phase, a Kubernetes node's that is not a member by its kubeadm phase.
fn etcd_cert_files(ctx: &Ctx, n: &NodeCtx, certs: &EtcdCerts) -> Vec<RenderedFile> {
    let component = match n.is_etcd {
        true => Component::EtcdPki,
        false => Component::EtcdClient,
    };
    let mut files = Vec::new();
    if n.is_etcd || n.is_k8s() {
        files.push(RenderedFile {
            path: format!("{ETCD_CERT_DIR}/ca.pem"),
            content: certs.ca.cert_pem.clone(),
            mode: 0o644,
            merge: Merge::Replace,
            template: None,
            component,
        });
    }
    if n.is_etcd {
        let first_etcd = ctx.nodes.iter().find(|m| m.is_etcd).map(|m| &m.name) == Some(&n.name);
        if first_etcd {
            files.push(RenderedFile {
                path: format!("{ETCD_CERT_DIR}/ca-key.pem"),
                content: certs.ca.key_pem.clone(),
                mode: 0o600,
                merge: Merge::Replace,
                template: None,
                component,
            });
        }
        files.extend(cert_files(certs, &format!("member-{}", n.name), component));
        files.extend(cert_files(certs, &format!("admin-{}", n.name), component));
    }
    if n.is_k8s() {
        files.extend(cert_files(certs, &format!("node-{}", n.name), component));
    }
    if n.is_master && !n.is_first_master {
        // The API servers' etcd client certificate named in the shared
        // ClusterConfiguration: the first master's.
        if let Some(first) = ctx.nodes.iter().find(|m| m.is_first_master) {
            files.extend(cert_files(
                certs,
                &format!("node-{}", first.name),
                component,
            ));
        }
    }
    files
}

/// The cluster CA on every master (kubeadm's `certificatesDir`), when the
/// install supplies it (read back from the first master, or new).
fn kube_ca_files(n: &NodeCtx, facts: &Facts) -> Vec<RenderedFile> {
    let Some(ca) = facts.kube_ca.as_ref().filter(|_| n.is_master) else {
        return Vec::new();
    };
    [
        ("ca.crt", &ca.cert_pem, 0o644),
        ("ca.key", &ca.key_pem, 0o600),
    ]
    .into_iter()
    .map(|(name, pem, mode)| RenderedFile {
        path: format!("{KUBE_CERT_DIR}/{name}"),
        content: pem.clone(),
        mode,
        merge: Merge::Replace,
        template: None,
        component: Component::KubeCa,
    })
    .collect()
}

/// Every document parses as YAML; on error, the offending lines are shown.
fn check_yaml(text: &str) -> Result<()> {
    use serde::Deserialize;
    for doc in serde_yaml::Deserializer::from_str(text) {
        if let Err(e) = serde_yaml::Value::deserialize(doc) {
            let context = e
                .location()
                .map(|l| {
                    let line = l.line();
                    text.lines()
                        .enumerate()
                        .skip(line.saturating_sub(3))
                        .take(5)
                        .map(|(i, t)| format!("\n  {:>4} | {t}", i + 1))
                        .collect::<String>()
                })
                .unwrap_or_default();
            anyhow::bail!("{e}{context}");
        }
    }
    Ok(())
}

fn storage_template(cluster: &Cluster, kind: StorageKind) -> Option<&'static str> {
    StorageManifest::of(&cluster.config, kind).map(StorageManifest::template)
}

fn manifests(
    cluster: &Cluster,
    ctx: &Ctx,
    engine: &engine::Engine,
    notes: &mut Vec<String>,
) -> Result<Vec<Manifest>> {
    let cfg = &cluster.config;
    let mut list: Vec<(Component, String, String, Extra)> = Vec::new();
    match cfg.network.plugin {
        NetworkPlugin::Calico => list.push((
            Component::Network,
            "10-calico.yaml".into(),
            "calico/calico.yaml.j2".into(),
            vec![],
        )),
        NetworkPlugin::Flannel => list.push((
            Component::Network,
            "10-flannel.yaml".into(),
            "flannel/flannel.yaml.j2".into(),
            vec![],
        )),
    }
    if cfg.flag("enable_nodelocaldns") {
        list.push((
            Component::Network,
            "15-nodelocaldns.yaml".into(),
            "dns/nodelocaldns.yaml.j2".into(),
            vec![],
        ));
    }
    for sc in &cfg.storage {
        let kind = context::kind_name(sc.kind);
        match storage_template(cluster, sc.kind) {
            Some(t) => list.push((
                Component::Storage,
                format!("20-storage-{kind}.yaml"),
                t.into(),
                vec![
                    ("sc_name", Value::from(sc.name.clone())),
                    ("sc_default", Value::from(sc.is_default)),
                    ("sc_kind", Value::from(kind)),
                    (
                        "img",
                        Value::from_serialize(
                            (StorageManifest::of(cfg, sc.kind))
                                .map(|m| m.images(cfg))
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, r)| (k, ctx.image(&r)))
                                .collect::<BTreeMap<_, _>>(),
                        ),
                    ),
                ],
            )),
            None => notes.push(format!(
                "{}: no manifest is rendered for this storage class (its CSI driver is not bundled); install the driver, then the class '{}'",
                sc.kind.label(),
                sc.name
            )),
        }
    }
    if sc_kind_of(cluster, StorageKind::LocalVolume).is_some()
        && storage_template(cluster, StorageKind::LocalVolume)
            == Some("storage/local-volume/local-volume.yaml.j2")
    {
        notes.push(format!(
            "local volume (KubeSphere {}): the static provisioner only offers directories of {} that are mount points; create them (e.g. bind mounts) on the node",
            cfg.ks_version,
            cfg.text("local_volume_provisioner_base_dir")
        ));
    }
    let minor = versions::minor(&cfg.kube_version);
    let removed = |kind: StorageKind, since: u32, what: &str| {
        (sc_kind_of(cluster, kind).is_some() && minor >= since).then(|| {
            format!(
                "{}: Kubernetes 1.{since}+ has no in-tree {what} provisioner; the class is rendered but nothing will provision it (use the {what} CSI driver)",
                kind.label()
            )
        })
    };
    notes.extend(removed(StorageKind::CephRbd, 31, "RBD"));
    notes.extend(removed(StorageKind::GlusterFs, 26, "GlusterFS"));
    let (ks_major, ks_minor) = context::ks_version(&cfg.ks_version);
    if (ks_major, ks_minor) < (2, 1) && cfg.text("ks_installer_tag").is_empty() {
        notes.push(format!(
            "KubeSphere {} predates the in-cluster ks-installer (2.1): the image kubesphere/ks-installer:v{} may not exist; set ks_installer_tag",
            cfg.ks_version,
            cfg.ks_version.trim_start_matches('v')
        ));
    }
    list.push((
        Component::KubeSphere,
        "30-ks-installer.yaml".into(),
        "kubesphere/ks-installer.yaml.j2".into(),
        vec![],
    ));
    if ks_major >= 3 {
        list.push((
            Component::KubeSphere,
            "31-ks-cluster-configuration.yaml".into(),
            "kubesphere/cluster-configuration.yaml.j2".into(),
            vec![],
        ));
    } else {
        list.push((
            Component::KubeSphere,
            "31-ks-config.yaml".into(),
            "kubesphere/ks-config.yaml.j2".into(),
            vec![],
        ));
    }
    let mut out = Vec::new();
    for (component, name, template, extra) in list {
        let content = engine.render(&template, &ctx.cluster(&extra))?;
        check_yaml(&content)
            .with_context(|| format!("templates/{template} rendered invalid YAML ({name})"))?;
        out.push(Manifest {
            name,
            content,
            template,
            component,
        });
    }
    Ok(out)
}

fn sc_kind_of(cluster: &Cluster, kind: StorageKind) -> Option<&crate::config::StorageClass> {
    cluster.config.storage.iter().find(|s| s.kind == kind)
}

/// The `render` verb: renders without facts (placeholders reported), with
/// `<conf>/templates` as the override directory, and writes `out`.
/// Returns the summary to print.
pub fn cli(cluster: &Cluster, conf_dir: &Path, out: &Path) -> Result<String> {
    // A cluster CA made for the preview, so that its join configurations
    // pin the CA as the install's do (`caCertHashes`).
    let facts = Facts {
        templates_dir: Some(conf_dir.join("templates")),
        kube_ca: Some(certs::new_kube_ca()?),
        ..Facts::default()
    };
    let r = render_all(cluster, &facts)?;
    const MARKER: &str = ".ksinstall-render";
    if out.exists() {
        // Clear an earlier render (nothing stale from another layout), but
        // never a directory this command did not write.
        let empty = std::fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_none();
        if !empty {
            anyhow::ensure!(
                out.join(MARKER).is_file(),
                "{} exists and is not an earlier `ksinstall render` output; choose another -o DIR",
                out.display()
            );
            std::fs::remove_dir_all(out)
                .with_context(|| format!("cannot clear {}", out.display()))?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "written by `ksinstall render`; the directory is replaced on the next render\n",
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))?;
    }
    let n = r.write_to(out)?;
    let mut s = String::new();
    for h in &r.hosts {
        s.push_str(&format!("{:<12} {} files\n", h.host, h.files.len()));
    }
    s.push_str(&format!(
        "{:<12} {} manifests\n",
        "cluster",
        r.manifests.len()
    ));
    for o in &r.overrides {
        s.push_str(&format!("override: {}\n", o.display()));
    }
    for note in &r.notes {
        s.push_str(&format!("note: {note}\n"));
    }
    s.push_str(&format!(
        "wrote {n} files under {} (Kubernetes {}, kubeadm {}); nothing was changed on any host\n",
        out.display(),
        cluster.config.kube_version,
        versions::kubeadm_api(&cluster.config.kube_version)
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_kubeadm_secrets_have_kubeadms_forms_and_differ() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (token, key) = new_kubeadm_secrets().unwrap();
            assert!(valid_token(&token), "{token}");
            assert_eq!(key.len(), 64);
            assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
            assert!(seen.insert(token));
        }
    }
}
