//! What an offline install needs, host by host: OS packages, binaries and
//! container images, from the cluster's roles and settings.
//!
//! All of it is data, in the tables below (`PACKAGES`, `BINARIES`,
//! `IMAGES`, `VERSIONS`): a row says what, for which hosts (`Who`), under
//! which setting (`When`), which version, and where it is downloaded from.
//! Nothing else in the bundle code names an artifact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::NetworkPlugin;
use crate::model::{Cluster, Node, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Debian package, in the bundle's apt repository `debs/`.
    Deb,
    /// An RPM package, in `rpms/`.
    Rpm,
    /// A binary or a release tarball of binaries, in `bin/`.
    Binary,
    /// A container image tarball (docker-archive or OCI layout), in `images/`.
    Image,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Rpm => "rpm",
            Kind::Binary => "binary",
            Kind::Image => "image",
        }
    }

    /// The bundle directory that holds this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Deb => "debs",
            Kind::Rpm => "rpms",
            Kind::Binary => "bin",
            Kind::Image => "images",
        }
    }
}

/// Which package format the hosts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Deb,
    Rpm,
}

/// Which hosts need a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Every host with a cluster role (master, worker, etcd, registry).
    AllNodes,
    /// Masters and workers: the hosts that run kubelet.
    K8sNodes,
    Masters,
    Etcd,
    Registry,
}

impl Who {
    fn roles(self) -> &'static [Role] {
        match self {
            Who::AllNodes => &[Role::Master, Role::Worker, Role::Etcd, Role::LocalRegistry],
            Who::K8sNodes => &[Role::Master, Role::Worker],
            Who::Masters => &[Role::Master],
            Who::Etcd => &[Role::Etcd],
            Who::Registry => &[Role::LocalRegistry],
        }
    }
}

/// Which setting makes a row needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// `container_manager: docker` (the legacy default).
    Docker,
    Calico,
    Flannel,
    /// `kube_proxy_mode: ipvs`.
    Ipvs,
    /// No `loadbalancer_apiserver`: haproxy proxies the API on the nodes.
    InternalLb,
    /// `enable_nodelocaldns`.
    NodeLocalDns,
    /// KubeSphere 2.x: Helm 2 with its in-cluster tiller.
    Helm2,
    /// The inventory has a `[local-registry]` host.
    LocalRegistry,
}

impl When {
    fn holds(self, c: &Cluster) -> bool {
        let cfg = &c.config;
        match self {
            When::Always => true,
            When::Docker => cfg.text("container_manager").trim() != "containerd",
            When::Calico => cfg.network.plugin == NetworkPlugin::Calico,
            When::Flannel => cfg.network.plugin == NetworkPlugin::Flannel,
            When::Ipvs => cfg.network.proxy_mode == "ipvs",
            When::InternalLb => !c.masters().is_empty() && cfg.load_balancer.is_none(),
            When::NodeLocalDns => cfg.flag("enable_nodelocaldns"),
            When::Helm2 => ks_major(&cfg.ks_version) < 3,
            When::LocalRegistry => c.with_role(Role::LocalRegistry).next().is_some(),
        }
    }
}

/// Which version variable a row uses (see `Versions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ver {
    /// OS packages: whatever the repository has.
    Repo,
    Kube,
    Pause,
    Coredns,
    Crictl,
    Cni,
    Calico,
    Flannel,
    NodeLocalDns,
    Helm,
    Ks,
    Fixed(&'static str),
}

pub struct PackageRow {
    pub deb: &'static str,
    /// The RPM name, `""` when the RPM world has no such package.
    pub rpm: &'static str,
    pub who: Who,
    pub when: When,
}

pub struct BinaryRow {
    pub name: &'static str,
    pub who: Who,
    pub when: When,
    pub ver: Ver,
    /// File name in `bin/` and in `--from` directories.
    pub file: &'static str,
    /// Download address; `{k8s}`, `{github}`, `{helm}` are mirror bases.
    pub url: &'static str,
    /// Published checksum file, `""` when there is none.
    pub sha256_url: &'static str,
}

pub struct ImageRow {
    pub who: Who,
    pub when: When,
    pub ver: Ver,
    pub reference: &'static str,
}

/// OS packages. Debian names the etcd daemon and client `etcd-server` and
/// `etcd-client`; `docker.io` brings containerd and runc as dependencies.
#[rustfmt::skip]
pub const PACKAGES: &[PackageRow] = &[
    PackageRow { deb: "containerd", rpm: "containerd.io", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "runc", rpm: "runc", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "docker.io", rpm: "docker-ce", who: Who::K8sNodes, when: When::Docker },
    PackageRow { deb: "socat", rpm: "socat", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "conntrack", rpm: "conntrack-tools", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "ipset", rpm: "ipset", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "ebtables", rpm: "ebtables", who: Who::K8sNodes, when: When::Always },
    PackageRow { deb: "ipvsadm", rpm: "ipvsadm", who: Who::K8sNodes, when: When::Ipvs },
    PackageRow { deb: "chrony", rpm: "chrony", who: Who::AllNodes, when: When::Always },
    PackageRow { deb: "etcd-server", rpm: "etcd", who: Who::Etcd, when: When::Always },
    PackageRow { deb: "etcd-client", rpm: "", who: Who::Etcd, when: When::Always },
    PackageRow { deb: "haproxy", rpm: "haproxy", who: Who::K8sNodes, when: When::InternalLb },
];

pub const BINARIES: &[BinaryRow] = &[
    BinaryRow {
        name: "kubeadm",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubeadm",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubeadm",
        sha256_url: "{url}.sha256",
    },
    BinaryRow {
        name: "kubelet",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubelet",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubelet",
        sha256_url: "{url}.sha256",
    },
    BinaryRow {
        name: "kubectl",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubectl",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubectl",
        sha256_url: "{url}.sha256",
    },
    BinaryRow {
        name: "crictl",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Crictl,
        file: "crictl-{v}-linux-{arch}.tar.gz",
        url: "{github}/kubernetes-sigs/cri-tools/releases/download/{v}/crictl-{v}-linux-{arch}.tar.gz",
        sha256_url: "{url}.sha256",
    },
    BinaryRow {
        name: "cni-plugins",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Cni,
        file: "cni-plugins-linux-{arch}-{v}.tgz",
        url: "{github}/containernetworking/plugins/releases/download/{v}/cni-plugins-linux-{arch}-{v}.tgz",
        sha256_url: "{url}.sha256",
    },
    BinaryRow {
        name: "calicoctl",
        who: Who::Masters,
        when: When::Calico,
        ver: Ver::Calico,
        file: "calicoctl-linux-{arch}",
        url: "{github}/projectcalico/{calicoctl_repo}/releases/download/{v}/calicoctl-linux-{arch}",
        sha256_url: "",
    },
    BinaryRow {
        name: "helm",
        who: Who::Masters,
        when: When::Always,
        ver: Ver::Helm,
        file: "helm-{v}-linux-{arch}.tar.gz",
        url: "{helm}/helm-{v}-linux-{arch}.tar.gz",
        sha256_url: "{url}.sha256",
    },
];

/// Images. With a `[local-registry]` host every image goes to the registry
/// host(s) only and the nodes pull from there; without one each host gets
/// the image tarballs its roles run (pods that may land anywhere: every node).
#[rustfmt::skip]
pub const IMAGES: &[ImageRow] = &[
    ImageRow { who: Who::Masters, when: When::Always, ver: Ver::Kube, reference: "{kube_repo}/kube-apiserver:{v}" },
    ImageRow { who: Who::Masters, when: When::Always, ver: Ver::Kube, reference: "{kube_repo}/kube-controller-manager:{v}" },
    ImageRow { who: Who::Masters, when: When::Always, ver: Ver::Kube, reference: "{kube_repo}/kube-scheduler:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Kube, reference: "{kube_repo}/kube-proxy:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Pause, reference: "{kube_repo}/pause:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Coredns, reference: "{kube_repo}/{coredns_path}:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::NodeLocalDns, ver: Ver::NodeLocalDns, reference: "{kube_repo}/{nodelocaldns_path}:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/node:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/cni:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/kube-controllers:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Flannel, ver: Ver::Flannel, reference: "{flannel_image}:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Helm2, ver: Ver::Helm, reference: "gcr.io/kubernetes-helm/tiller:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Ks, reference: "docker.io/kubesphere/ks-installer:{v}" },
    ImageRow { who: Who::Registry, when: When::LocalRegistry, ver: Ver::Fixed("2"), reference: "docker.io/library/registry:{v}" },
];

/// Versions that follow the Kubernetes minor, as kubeadm and Kubespray of
/// that time pinned them: (minor, pause, coredns, crictl, cni plugins, calico).
#[rustfmt::skip]
pub const VERSIONS: &[(u32, &str, &str, &str, &str, &str)] = &[
    (12, "3.1", "1.2.2", "v1.12.0", "v0.8.3", "v3.8.4"),
    (13, "3.1", "1.2.6", "v1.13.0", "v0.8.3", "v3.8.4"),
    (14, "3.1", "1.3.1", "v1.14.0", "v0.8.3", "v3.8.4"),
    (15, "3.1", "1.3.1", "v1.15.0", "v0.8.3", "v3.8.4"),
    (16, "3.1", "1.6.2", "v1.16.1", "v0.8.3", "v3.8.4"),
    (17, "3.1", "1.6.5", "v1.17.0", "v0.8.3", "v3.8.4"),
    (18, "3.2", "1.6.7", "v1.18.0", "v0.8.7", "v3.15.5"),
    (19, "3.2", "1.7.0", "v1.19.0", "v0.8.7", "v3.15.5"),
    (20, "3.2", "1.7.0", "v1.20.0", "v0.8.7", "v3.15.5"),
    (21, "3.4.1", "v1.8.0", "v1.21.0", "v0.9.1", "v3.23.5"),
    (22, "3.5", "v1.8.4", "v1.22.0", "v1.1.1", "v3.23.5"),
    (23, "3.6", "v1.8.6", "v1.23.0", "v1.1.1", "v3.23.5"),
    (24, "3.7", "v1.8.6", "v1.24.2", "v1.1.1", "v3.23.5"),
    (25, "3.8", "v1.9.3", "v1.25.0", "v1.3.0", "v3.26.4"),
    (26, "3.9", "v1.9.3", "v1.26.1", "v1.3.0", "v3.26.4"),
    (27, "3.9", "v1.10.1", "v1.27.1", "v1.3.0", "v3.26.4"),
    (28, "3.9", "v1.10.1", "v1.28.0", "v1.3.0", "v3.26.4"),
    (29, "3.9", "v1.11.1", "v1.29.0", "v1.4.0", "v3.27.3"),
    (30, "3.9", "v1.11.1", "v1.30.1", "v1.4.0", "v3.27.3"),
    (31, "3.10", "v1.11.3", "v1.31.1", "v1.5.1", "v3.28.2"),
    (32, "3.10", "v1.11.3", "v1.32.0", "v1.6.2", "v3.29.3"),
    (33, "3.10", "v1.12.0", "v1.33.0", "v1.6.2", "v3.29.3"),
];

/// Default download bases; `--mirror NAME=URL` replaces one. Images come
/// from their registry (`https://<host>`, Docker Hub's API host for
/// `docker.io`); `--mirror <registry host>=URL` replaces that.
pub const MIRRORS: &[(&str, &str)] = &[
    ("k8s", "https://dl.k8s.io"),
    ("github", "https://github.com"),
    ("helm", "https://get.helm.sh"),
];

/// The versions for one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Versions {
    pub kube: String,
    pub minor: u32,
    pub pause: String,
    pub coredns: String,
    pub crictl: String,
    pub cni: String,
    pub calico: String,
    pub flannel: String,
    pub nodelocaldns: String,
    pub helm: String,
    pub ks: String,
}

fn ks_major(ks: &str) -> u32 {
    ks.trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(2)
}

impl Versions {
    pub fn for_cluster(c: &Cluster) -> Result<Versions, String> {
        let cfg = &c.config;
        let kv = &cfg.kube_version;
        let row = VERSIONS
            .iter()
            .find(|r| kv.major == 1 && r.0 == kv.minor)
            .ok_or_else(|| {
                format!(
                    "kube_version {kv}: no artifact versions are known for it (known: v1.{} to v1.{})",
                    VERSIONS[0].0,
                    VERSIONS[VERSIONS.len() - 1].0
                )
            })?;
        let calico = match cfg.text("calico_version").trim() {
            "" => row.5.to_string(),
            v if v.starts_with('v') => v.to_string(),
            v => format!("v{v}"),
        };
        let ks = match cfg.ks_version.trim() {
            v if v.starts_with('v') => v.to_string(),
            v => format!("v{v}"),
        };
        Ok(Versions {
            kube: kv.to_string(),
            minor: kv.minor,
            pause: row.1.into(),
            coredns: row.2.into(),
            crictl: row.3.into(),
            cni: row.4.into(),
            calico,
            flannel: if kv.minor <= 20 { "v0.12.0" } else { "v0.22.0" }.into(),
            nodelocaldns: if kv.minor <= 20 { "1.15.13" } else { "1.22.20" }.into(),
            helm: if ks_major(&ks) < 3 {
                "v2.16.3"
            } else {
                "v3.12.3"
            }
            .into(),
            ks,
        })
    }

    fn get(&self, v: Ver) -> String {
        match v {
            Ver::Repo => String::new(),
            Ver::Kube => self.kube.clone(),
            Ver::Pause => self.pause.clone(),
            Ver::Coredns => self.coredns.clone(),
            Ver::Crictl => self.crictl.clone(),
            Ver::Cni => self.cni.clone(),
            Ver::Calico => self.calico.clone(),
            Ver::Flannel => self.flannel.clone(),
            Ver::NodeLocalDns => self.nodelocaldns.clone(),
            Ver::Helm => self.helm.clone(),
            Ver::Ks => self.ks.clone(),
            Ver::Fixed(s) => s.to_string(),
        }
    }
}

/// One artifact the plan needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub kind: Kind,
    /// Package name, binary name, or the full image reference.
    pub name: String,
    /// `""` for OS packages (the repository's version is taken).
    pub version: String,
    /// Path inside the bundle for binaries and images (`bin/kubeadm`);
    /// `""` for packages, whose file name comes from the package itself.
    pub path: String,
    pub url: Option<String>,
    pub sha256_url: Option<String>,
    pub roles: Vec<Role>,
    /// Inventory names of the hosts that need it.
    pub hosts: Vec<String>,
}

impl Need {
    /// `kubeadm v1.16.7`, `socat`, `k8s.gcr.io/pause:3.1`.
    pub fn title(&self) -> String {
        match self.kind {
            Kind::Image => self.name.clone(),
            _ if self.version.is_empty() => self.name.clone(),
            _ => format!("{} {}", self.name, self.version),
        }
    }

    pub fn describe(&self) -> String {
        let what = match self.kind {
            Kind::Deb => "Debian package",
            Kind::Rpm => "RPM package",
            Kind::Binary => "binary",
            Kind::Image => "image",
        };
        format!(
            "{} ({what}; needed by {})",
            self.title(),
            self.hosts.join(", ")
        )
    }

    /// File name of the path (`kubeadm`, `pause_3.1.tar`).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub families: Vec<Family>,
    /// Debian/Go architecture name: amd64, arm64.
    pub arch: String,
    /// Overrides of `MIRRORS` bases.
    pub mirrors: BTreeMap<String, String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            families: vec![Family::Deb],
            arch: "amd64".into(),
            mirrors: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub arch: String,
    pub versions: Versions,
    pub needs: Vec<Need>,
    /// Where images go (`--extra-image` too): the registry host(s) when the
    /// inventory has one, else every master and worker.
    pub image_roles: Vec<Role>,
    pub image_hosts: Vec<String>,
}

impl Plan {
    pub fn for_host<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Need> + 'a {
        self.needs
            .iter()
            .filter(move |n| n.hosts.iter().any(|h| h == host))
    }
}

/// `images/<path-without-registry>_<tag>.tar`, path `/` → `-`:
/// `k8s.gcr.io/kube-proxy:v1.16.7` → `kube-proxy_v1.16.7.tar`,
/// `docker.io/calico/node:v3.8.4` → `calico-node_v3.8.4.tar`.
pub fn image_file_name(reference: &str) -> String {
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    };
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        parts.remove(0);
    }
    if parts.len() > 1 && parts[0] == "library" {
        parts.remove(0);
    }
    format!("{}_{tag}.tar", parts.join("-"))
}

fn expand(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    // `{url}` may itself hold other names: expand until nothing changes.
    for _ in 0..3 {
        let before = out.clone();
        for (k, v) in vars {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        if out == before {
            break;
        }
    }
    out
}

fn node_wants(n: &Node, who: Who) -> bool {
    who.roles().iter().any(|r| n.has(*r))
}

/// Everything the cluster needs, each with the hosts that need it.
pub fn plan(c: &Cluster, opts: &PlanOptions) -> Result<Plan, String> {
    let v = Versions::for_cluster(c)?;
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    for (k, base) in MIRRORS {
        let base = opts
            .mirrors
            .get(*k)
            .or(opts.mirrors.get("all"))
            .map(String::as_str)
            .unwrap_or(base);
        vars.insert(k, base.trim_end_matches('/').to_string());
    }
    vars.insert("arch", opts.arch.clone());
    let repo = c.config.kube_image_repo();
    let repo = repo.trim().trim_end_matches('/');
    vars.insert(
        "kube_repo",
        if repo.is_empty() {
            "k8s.gcr.io".into()
        } else {
            repo.to_string()
        },
    );
    vars.insert(
        "coredns_path",
        if v.minor >= 21 {
            "coredns/coredns"
        } else {
            "coredns"
        }
        .into(),
    );
    vars.insert(
        "nodelocaldns_path",
        if v.minor >= 21 {
            "dns/k8s-dns-node-cache"
        } else {
            "k8s-dns-node-cache"
        }
        .into(),
    );
    vars.insert(
        "flannel_image",
        if v.minor <= 20 {
            "quay.io/coreos/flannel"
        } else {
            "docker.io/flannel/flannel"
        }
        .into(),
    );
    let calico_minor: u32 = v
        .calico
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    vars.insert(
        "calicoctl_repo",
        if calico_minor < 19 {
            "calicoctl"
        } else {
            "calico"
        }
        .into(),
    );

    let has_registry = c.with_role(Role::LocalRegistry).next().is_some();
    let hosts_for = |who: Who, kind: Kind| -> (Vec<Role>, Vec<String>) {
        let who = if kind == Kind::Image && has_registry {
            Who::Registry
        } else {
            who
        };
        let hosts = c
            .nodes
            .iter()
            .filter(|n| node_wants(n, who))
            .map(|n| n.name.clone())
            .collect();
        (who.roles().to_vec(), hosts)
    };

    let (image_roles, image_hosts) = hosts_for(Who::K8sNodes, Kind::Image);
    let mut needs = Vec::new();
    let mut push = |kind: Kind,
                    name: String,
                    version: String,
                    path: String,
                    url: Option<String>,
                    sha: Option<String>,
                    who: Who| {
        let (roles, hosts) = hosts_for(who, kind);
        if hosts.is_empty() {
            return;
        }
        needs.push(Need {
            kind,
            name,
            version,
            path,
            url,
            sha256_url: sha,
            roles,
            hosts,
        });
    };
    for row in PACKAGES.iter().filter(|r| r.when.holds(c)) {
        for fam in &opts.families {
            let (kind, name) = match fam {
                Family::Deb => (Kind::Deb, row.deb),
                Family::Rpm => (Kind::Rpm, row.rpm),
            };
            if !name.is_empty() {
                push(
                    kind,
                    name.to_string(),
                    String::new(),
                    String::new(),
                    None,
                    None,
                    row.who,
                );
            }
        }
    }
    for row in BINARIES.iter().filter(|r| r.when.holds(c)) {
        let mut vars = vars.clone();
        vars.insert("v", v.get(row.ver));
        let url = expand(row.url, &vars);
        vars.insert("url", url.clone());
        let sha = (!row.sha256_url.is_empty()).then(|| expand(row.sha256_url, &vars));
        let file = expand(row.file, &vars);
        push(
            Kind::Binary,
            row.name.to_string(),
            v.get(row.ver),
            format!("bin/{file}"),
            Some(url),
            sha,
            row.who,
        );
    }
    for row in IMAGES.iter().filter(|r| r.when.holds(c)) {
        let mut vars = vars.clone();
        vars.insert("v", v.get(row.ver));
        let reference = expand(row.reference, &vars);
        let path = format!("images/{}", image_file_name(&reference));
        let (registry, repo, tag) = super::registry::split_ref(&reference);
        let base = opts
            .mirrors
            .get(&registry)
            .or(opts.mirrors.get("all"))
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| super::registry::default_base(&registry));
        let url = format!("{base}/v2/{repo}/manifests/{tag}");
        push(
            Kind::Image,
            reference,
            v.get(row.ver),
            path,
            Some(url),
            None,
            row.who,
        );
    }
    Ok(Plan {
        arch: opts.arch.clone(),
        versions: v,
        needs,
        image_roles,
        image_hosts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(
            image_file_name("k8s.gcr.io/kube-proxy:v1.16.7"),
            "kube-proxy_v1.16.7.tar"
        );
        assert_eq!(
            image_file_name("docker.io/calico/node:v3.8.4"),
            "calico-node_v3.8.4.tar"
        );
        assert_eq!(
            image_file_name("registry.k8s.io/coredns/coredns:v1.8.0"),
            "coredns-coredns_v1.8.0.tar"
        );
        assert_eq!(
            image_file_name("docker.io/library/registry:2"),
            "registry_2.tar"
        );
        assert_eq!(image_file_name("localhost:5000/pause:3.1"), "pause_3.1.tar");
    }

    #[test]
    fn every_minor_the_validator_accepts_has_versions() {
        let (lo, hi) = crate::validate::KUBE_MINOR_RANGE;
        for m in lo..=hi {
            assert!(
                VERSIONS.iter().any(|r| r.0 == m),
                "no VERSIONS row for v1.{m}"
            );
        }
    }
}
