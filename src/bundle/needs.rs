//! What an offline install needs, host by host: OS packages, binaries and
//! container images, from the cluster's roles and settings.
//!
//! All of it is data, in the tables below (`PACKAGES`, `BINARIES`,
//! `IMAGES`, `VERSIONS`): a row says what, for which hosts (`Who`), under
//! which setting (`When`), which version, and where it is downloaded from.
//! Nothing else in the bundle code names an artifact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{NetworkPlugin, StorageKind};
use crate::model::lb::{self, LbMode, Proxy};
use crate::model::{versions, Cluster, Node, Role};

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
    /// etcd older than 3.5: the distribution's package (Debian 12 has 3.4).
    EtcdPackage,
    /// etcd 3.5 and later: upstream's release tarball (or one built from source).
    EtcdRelease,
    /// Flannel from the releases whose CNI plugin is an image of its own.
    FlannelCni,
    /// `kube_proxy_mode: ipvs`.
    Ipvs,
    /// The API proxy on the nodes (`model::lb`): haproxy...
    InternalHaproxy,
    /// ... or nginx.
    InternalNginx,
    /// `keepalived_vip`: keepalived and haproxy on the masters.
    Keepalived,
    /// `enable_nodelocaldns`.
    NodeLocalDns,
    /// KubeSphere 2.x: Helm 2 with its in-cluster tiller.
    Helm2,
    /// The inventory has a `[local-registry]` host.
    LocalRegistry,
    /// A storage class of this kind: its volumes are mounted by the
    /// kubelet on the node, with the host's client.
    Storage(StorageKind),
    /// NFS volumes: the NFS client class or the in-cluster NFS server.
    NfsMounts,
}

impl When {
    fn holds(self, c: &Cluster) -> bool {
        let cfg = &c.config;
        match self {
            When::Always => true,
            When::Docker => cfg.runtime == crate::config::Runtime::Docker,
            When::Calico => cfg.network.plugin == NetworkPlugin::Calico,
            When::Flannel => cfg.network.plugin == NetworkPlugin::Flannel,
            When::EtcdPackage => !versions::etcd_from_release(&cfg.etcd_version),
            When::EtcdRelease => versions::etcd_from_release(&cfg.etcd_version),
            When::FlannelCni => {
                cfg.network.plugin == NetworkPlugin::Flannel
                    && versions::row(&cfg.kube_version).flannel_cni.is_some()
            }
            When::Ipvs => cfg.network.proxy_mode == "ipvs",
            When::InternalHaproxy | When::InternalNginx | When::Keepalived => {
                let want = match self {
                    When::InternalHaproxy => (LbMode::Internal, Proxy::Haproxy),
                    When::InternalNginx => (LbMode::Internal, Proxy::Nginx),
                    _ => (LbMode::Keepalived, Proxy::Haproxy),
                };
                // A refused config plans nothing for it (validation says why).
                lb::decide(c).is_ok_and(|d| (d.mode, d.proxy) == want)
            }
            When::NodeLocalDns => cfg.flag("enable_nodelocaldns"),
            When::Helm2 => ks_major(&cfg.ks_version) < 3,
            When::LocalRegistry => c.with_role(Role::LocalRegistry).next().is_some(),
            When::Storage(kind) => cfg.storage.iter().any(|s| s.kind == kind),
            When::NfsMounts => (cfg.storage.iter())
                .any(|s| matches!(s.kind, StorageKind::NfsClient | StorageKind::NfsServer)),
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
    Etcd,
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
    /// Where it goes on the host: a binary is installed as
    /// `/usr/local/bin/<name>`; a tarball is unpacked into `Unpack::dir`.
    pub unpack: Option<Unpack>,
}

/// A release tarball unpacked on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpack {
    pub dir: &'static str,
    /// Leading path components dropped (`linux-amd64/helm` → `helm`).
    pub strip: u32,
    /// Only this member (a tar wildcard), not the whole archive.
    pub only: Option<&'static str>,
}

/// How the binary file `file` (a name in the bundle's `bin/`) is installed:
/// `None` for a plain executable, else the tarball's destination.
pub fn unpack_of(file: &str) -> Option<Unpack> {
    BINARIES.iter().find_map(|b| {
        let stem = b.file.split('{').next().unwrap_or(b.file);
        (b.unpack.is_some() && !stem.is_empty() && file.starts_with(stem)).then_some(b.unpack)?
    })
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
    PackageRow { deb: "etcd-server", rpm: "etcd", who: Who::Etcd, when: When::EtcdPackage },
    PackageRow { deb: "etcd-client", rpm: "", who: Who::Etcd, when: When::EtcdPackage },
    PackageRow { deb: "haproxy", rpm: "haproxy", who: Who::K8sNodes, when: When::InternalHaproxy },
    PackageRow { deb: "nginx-light", rpm: "nginx", who: Who::K8sNodes, when: When::InternalNginx },
    PackageRow { deb: "libnginx-mod-stream", rpm: "nginx-mod-stream", who: Who::K8sNodes, when: When::InternalNginx },
    PackageRow { deb: "haproxy", rpm: "haproxy", who: Who::Masters, when: When::Keepalived },
    PackageRow { deb: "keepalived", rpm: "keepalived", who: Who::Masters, when: When::Keepalived },
    PackageRow { deb: "nfs-common", rpm: "nfs-utils", who: Who::K8sNodes, when: When::NfsMounts },
    PackageRow { deb: "ceph-common", rpm: "ceph-common", who: Who::K8sNodes, when: When::Storage(StorageKind::CephRbd) },
    PackageRow { deb: "glusterfs-client", rpm: "glusterfs-fuse", who: Who::K8sNodes, when: When::Storage(StorageKind::GlusterFs) },
    PackageRow { deb: "docker-registry", rpm: "docker-distribution", who: Who::Registry, when: When::LocalRegistry },
];

pub const BINARIES: &[BinaryRow] = &[
    BinaryRow {
        name: "etcd",
        who: Who::Etcd,
        when: When::EtcdRelease,
        ver: Ver::Etcd,
        file: "etcd-{v}-linux-{arch}.tar.gz",
        url: "{github}/etcd-io/etcd/releases/download/{v}/etcd-{v}-linux-{arch}.tar.gz",
        // One file of every platform's sums (since 3.4.0); the download
        // takes the line naming its file.
        sha256_url: "{github}/etcd-io/etcd/releases/download/{v}/SHA256SUMS",
        unpack: Some(Unpack { dir: "/usr/local/bin", strip: 1, only: Some("*/etcd*") }),
    },
    BinaryRow {
        name: "kubeadm",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubeadm",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubeadm",
        sha256_url: "{url}.sha256",
        unpack: None,
    },
    BinaryRow {
        name: "kubelet",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubelet",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubelet",
        sha256_url: "{url}.sha256",
        unpack: None,
    },
    BinaryRow {
        name: "kubectl",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Kube,
        file: "kubectl",
        url: "{k8s}/release/{v}/bin/linux/{arch}/kubectl",
        sha256_url: "{url}.sha256",
        unpack: None,
    },
    BinaryRow {
        name: "crictl",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Crictl,
        file: "crictl-{v}-linux-{arch}.tar.gz",
        url: "{github}/kubernetes-sigs/cri-tools/releases/download/{v}/crictl-{v}-linux-{arch}.tar.gz",
        sha256_url: "{url}.sha256",
        unpack: Some(Unpack { dir: "/usr/local/bin", strip: 0, only: None }),
    },
    BinaryRow {
        name: "cni-plugins",
        who: Who::K8sNodes,
        when: When::Always,
        ver: Ver::Cni,
        file: "cni-plugins-linux-{arch}-{v}.tgz",
        url: "{github}/containernetworking/plugins/releases/download/{v}/cni-plugins-linux-{arch}-{v}.tgz",
        sha256_url: "{url}.sha256",
        unpack: Some(Unpack { dir: "/opt/cni/bin", strip: 0, only: None }),
    },
    BinaryRow {
        name: "calicoctl",
        who: Who::Masters,
        when: When::Calico,
        ver: Ver::Calico,
        file: "calicoctl-linux-{arch}",
        url: "{github}/projectcalico/{calicoctl_repo}/releases/download/{v}/calicoctl-linux-{arch}",
        sha256_url: "",
        unpack: None,
    },
    BinaryRow {
        name: "helm",
        who: Who::Masters,
        when: When::Helm2,
        ver: Ver::Helm,
        file: "helm-{v}-linux-{arch}.tar.gz",
        url: "{helm}/helm-{v}-linux-{arch}.tar.gz",
        sha256_url: "{url}.sha256",
        unpack: Some(Unpack { dir: "/usr/local/bin", strip: 1, only: Some("*/helm") }),
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
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Pause, reference: "{pause_image}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Coredns, reference: "{coredns_image}" },
    ImageRow { who: Who::K8sNodes, when: When::NodeLocalDns, ver: Ver::NodeLocalDns, reference: "{nodelocaldns_image}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/node:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/cni:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Calico, ver: Ver::Calico, reference: "docker.io/calico/kube-controllers:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Flannel, ver: Ver::Flannel, reference: "{flannel_image}" },
    ImageRow { who: Who::K8sNodes, when: When::FlannelCni, ver: Ver::Flannel, reference: "{flannel_cni_image}" },
    ImageRow { who: Who::K8sNodes, when: When::Helm2, ver: Ver::Helm, reference: "gcr.io/kubernetes-helm/tiller:{v}" },
    ImageRow { who: Who::K8sNodes, when: When::Always, ver: Ver::Ks, reference: "docker.io/kubesphere/ks-installer:{v}" },
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
    pub etcd: String,
    /// Full references, exactly as the renderer writes them.
    pub images: versions::Images,
}

/// KubeSphere's major version (the one parser, `model::versions`).
fn ks_major(ks: &str) -> u32 {
    crate::model::versions::ks_version(ks).0
}

impl Versions {
    /// The cluster's versions, from the one table (`model::versions`).
    pub fn for_cluster(c: &Cluster) -> Result<Versions, String> {
        let cfg = &c.config;
        let kv = &cfg.kube_version;
        if !versions::supported(kv) {
            let (lo, hi) = versions::minor_range();
            return Err(format!(
                "kube_version {kv}: no artifact versions are known for it (known: v1.{lo} to v1.{hi})"
            ));
        }
        let row = versions::row(kv);
        let images = versions::Images::of(kv, &cfg.kube_image_repo(), &cfg.text("calico_version"));
        let ks = match cfg.ks_version.trim() {
            v if v.starts_with('v') => v.to_string(),
            v => format!("v{v}"),
        };
        Ok(Versions {
            kube: kv.to_string(),
            minor: kv.minor,
            pause: row.pause.into(),
            coredns: row.coredns.into(),
            crictl: row.crictl.into(),
            cni: row.cni.into(),
            calico: images.calico_version.clone(),
            flannel: row.flannel.into(),
            nodelocaldns: row.nodelocaldns.into(),
            helm: versions::helm(ks_major(&ks)).into(),
            ks,
            etcd: format!("v{}", cfg.etcd_version.trim().trim_start_matches('v')),
            images,
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
            Ver::Etcd => self.etcd.clone(),
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
    /// inventory has one, none when the nodes pull from the company's
    /// registry, else every master and worker.
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
    let vars = template_vars(c, opts, &v);
    let mut p = Planner {
        c,
        opts,
        has_registry: c.with_role(Role::LocalRegistry).next().is_some(),
        external_registry: c.external_registry().is_some(),
        needs: Vec::new(),
    };
    let (image_roles, image_hosts) = p.hosts_for(Who::K8sNodes, Kind::Image);
    p.add_packages();
    p.add_binaries(&vars, &v);
    p.add_images(&vars, &v);
    p.add_storage_images();
    Ok(Plan {
        arch: opts.arch.clone(),
        versions: v,
        needs: p.needs,
        image_roles,
        image_hosts,
    })
}

/// The rows are templates: these are the values their `{names}` take for this cluster and these options.
fn template_vars(c: &Cluster, opts: &PlanOptions, v: &Versions) -> BTreeMap<&'static str, String> {
    let mut vars: BTreeMap<&'static str, String> = BTreeMap::new();
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
    let img = &v.images;
    vars.insert("pause_image", img.pause.clone());
    vars.insert("coredns_image", img.coredns.clone());
    vars.insert("nodelocaldns_image", img.nodelocaldns.clone());
    vars.insert("flannel_image", img.flannel.clone());
    vars.insert(
        "flannel_cni_image",
        img.flannel_cni.clone().unwrap_or_default(),
    );
    vars.insert("calicoctl_repo", calicoctl_repo(&v.calico).into());
    vars
}

/// calicoctl moved from its own repository into `projectcalico/calico` with Calico 3.19.
fn calicoctl_repo(calico: &str) -> &'static str {
    let calico_minor: u32 = calico
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if calico_minor < 19 {
        "calicoctl"
    } else {
        "calico"
    }
}

/// The needs collected so far, with what decides which hosts get each one.
struct Planner<'a> {
    c: &'a Cluster,
    opts: &'a PlanOptions,
    has_registry: bool,
    /// The nodes pull every image from the company's registry: no host
    /// gets an image tarball (`ksinstall bundle push` fills it).
    external_registry: bool,
    needs: Vec<Need>,
}

impl Planner<'_> {
    /// With a local registry the nodes pull their images from it, so only the registry hosts get the tarballs.
    fn hosts_for(&self, who: Who, kind: Kind) -> (Vec<Role>, Vec<String>) {
        if kind == Kind::Image && self.external_registry {
            return (Vec::new(), Vec::new());
        }
        let who = if kind == Kind::Image && self.has_registry {
            Who::Registry
        } else {
            who
        };
        let hosts = (self.c.nodes.iter())
            .filter(|n| node_wants(n, who))
            .map(|n| n.name.clone())
            .collect();
        (who.roles().to_vec(), hosts)
    }

    /// Images are pulled from their own registry unless a mirror is given for it (or for all).
    fn image_url(&self, reference: &str) -> String {
        let (registry, repo, tag) = super::registry::split_ref(reference);
        let base = (self.opts.mirrors.get(&registry))
            .or(self.opts.mirrors.get("all"))
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| super::registry::default_base(&registry));
        format!("{base}/v2/{repo}/manifests/{tag}")
    }

    /// A need that no host of this cluster has is left out of the plan.
    fn push(&mut self, who: Who, need: Need) {
        let (roles, hosts) = self.hosts_for(who, need.kind);
        // The company registry's images stay in the plan, with no host:
        // the bundle carries them for `bundle push`, the preflight asks
        // the registry for them.
        let pulled = need.kind == Kind::Image && self.external_registry;
        if hosts.is_empty() && !pulled {
            return;
        }
        self.needs.push(Need {
            roles,
            hosts,
            ..need
        });
    }

    /// A package row names one package per family, or none where a family has no such package.
    fn add_packages(&mut self) {
        for row in PACKAGES.iter().filter(|r| r.when.holds(self.c)) {
            for fam in &self.opts.families {
                let (kind, name) = match fam {
                    Family::Deb => (Kind::Deb, row.deb),
                    Family::Rpm => (Kind::Rpm, row.rpm),
                };
                if !name.is_empty() {
                    let need = unplaced(kind, name.to_string(), String::new(), String::new());
                    self.push(row.who, need);
                }
            }
        }
    }

    /// A binary's file name, URL and checksum URL all depend on its version, so each is expanded per row.
    fn add_binaries(&mut self, vars: &BTreeMap<&str, String>, v: &Versions) {
        for row in BINARIES.iter().filter(|r| r.when.holds(self.c)) {
            let mut vars = vars.clone();
            vars.insert("v", v.get(row.ver));
            let url = expand(row.url, &vars);
            vars.insert("url", url.clone());
            let sha = (!row.sha256_url.is_empty()).then(|| expand(row.sha256_url, &vars));
            let file = expand(row.file, &vars);
            let need = unplaced(
                Kind::Binary,
                row.name.to_string(),
                v.get(row.ver),
                format!("bin/{file}"),
            );
            self.push(
                row.who,
                Need {
                    url: Some(url),
                    sha256_url: sha,
                    ..need
                },
            );
        }
    }

    /// An image row's reference depends on the version (and on the image repository), so each is expanded per row.
    fn add_images(&mut self, vars: &BTreeMap<&str, String>, v: &Versions) {
        for row in IMAGES.iter().filter(|r| r.when.holds(self.c)) {
            let mut vars = vars.clone();
            vars.insert("v", v.get(row.ver));
            let reference = expand(row.reference, &vars);
            self.push_image(row.who, reference, v.get(row.ver));
        }
    }

    /// The storage provisioners' images come from `model::storage`, which the renderer reads too, not from `IMAGES`.
    fn add_storage_images(&mut self) {
        for reference in storage_images(self.c) {
            let tag = super::registry::split_ref(&reference).2;
            self.push_image(Who::K8sNodes, reference, tag);
        }
    }

    /// Every image is laid out and fetched the same way, whichever list named it.
    fn push_image(&mut self, who: Who, reference: String, version: String) {
        let path = format!("images/{}", image_file_name(&reference));
        let url = self.image_url(&reference);
        let need = unplaced(Kind::Image, reference, version, path);
        self.push(
            who,
            Need {
                url: Some(url),
                ..need
            },
        );
    }
}

/// Hosts are decided by `Planner::push`, so a need is first built without them.
fn unplaced(kind: Kind, name: String, version: String, path: String) -> Need {
    Need {
        kind,
        name,
        version,
        path,
        url: None,
        sha256_url: None,
        roles: Vec::new(),
        hosts: Vec::new(),
    }
}

/// Several storage classes may share a provisioner: each image is listed once, in first-seen order.
fn storage_images(c: &Cluster) -> Vec<String> {
    let mut storage: Vec<String> = Vec::new();
    for sc in &c.config.storage {
        let Some(m) = crate::model::storage::Manifest::of(&c.config, sc.kind) else {
            continue;
        };
        for reference in m.images(&c.config).into_values() {
            if !storage.contains(&reference) {
                storage.push(reference);
            }
        }
    }
    storage
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
    fn tarballs_are_unpacked_where_they_belong() {
        assert_eq!(unpack_of("kubeadm"), None);
        assert_eq!(
            unpack_of("crictl-v1.34.0-linux-amd64.tar.gz").unwrap().dir,
            "/usr/local/bin"
        );
        assert_eq!(
            unpack_of("cni-plugins-linux-amd64-v1.9.0.tgz").unwrap().dir,
            "/opt/cni/bin"
        );
        assert_eq!(
            unpack_of("helm-v3.12.3-linux-amd64.tar.gz").unwrap().strip,
            1
        );
    }
}
