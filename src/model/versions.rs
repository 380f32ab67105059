//! Everything that follows the Kubernetes minor, in one table: the kubeadm
//! config API, the sandbox (pause) image, CoreDNS, crictl, the CNI plugins,
//! Calico, Flannel and NodeLocal DNS. The renderer, `bundle build`, `bundle
//! plan` and `bundle verify` read only this (through `Versions::of`), so an
//! offline bundle carries exactly the images the manifests run.
//!
//! Rows up to 1.33 are what kubeadm and Kubespray of that time pinned; from
//! 1.34 they are what `scripts/kube/build.sh` builds from the Go modules
//! (`scripts/kube/versions.sh`; a test keeps the two equal).

use crate::config::KubeVersion;

/// One Kubernetes minor's pins. Tags, not full references (see `Images`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub minor: u32,
    pub pause: &'static str,
    pub coredns: &'static str,
    pub crictl: &'static str,
    pub cni: &'static str,
    pub calico: &'static str,
    pub flannel: &'static str,
    /// The flannel CNI plugin image tag, from the releases that split it out.
    pub flannel_cni: Option<&'static str>,
    pub nodelocaldns: &'static str,
    /// The etcd release used when `etcd_version` is not set, and the oldest
    /// external etcd kubeadm of that minor accepts (its preflight refuses
    /// older ones). `None`: the legacy default stands and nothing is checked.
    pub etcd: Option<(&'static str, &'static str)>,
}

macro_rules! rows {
    ($(($m:expr, $p:expr, $d:expr, $cr:expr, $cni:expr, $ca:expr, $f:expr, $fc:expr, $n:expr)),* $(,)?) => {
        &[$(Row { minor: $m, pause: $p, coredns: $d, crictl: $cr, cni: $cni, calico: $ca, flannel: $f, flannel_cni: $fc, nodelocaldns: $n, etcd: None }),*]
    };
}

/// (minor, pause, coredns, crictl, cni plugins, calico, flannel, flannel cni, nodelocaldns)
#[rustfmt::skip]
pub const TABLE: &[Row] = rows![
    (12, "3.1", "1.2.2", "v1.12.0", "v0.8.3", "v3.3.7", "v0.11.0-amd64", None, "1.15.13"),
    (13, "3.1", "1.2.6", "v1.13.0", "v0.8.3", "v3.8.9", "v0.11.0-amd64", None, "1.15.13"),
    (14, "3.1", "1.3.1", "v1.14.0", "v0.8.3", "v3.8.9", "v0.11.0-amd64", None, "1.15.13"),
    (15, "3.1", "1.3.1", "v1.15.0", "v0.8.3", "v3.8.9", "v0.11.0-amd64", None, "1.15.13"),
    (16, "3.1", "1.6.2", "v1.16.1", "v0.8.3", "v3.16.10", "v0.14.0", None, "1.15.13"),
    (17, "3.1", "1.6.5", "v1.17.0", "v0.8.3", "v3.16.10", "v0.14.0", None, "1.15.13"),
    (18, "3.2", "1.6.7", "v1.18.0", "v0.8.7", "v3.16.10", "v0.14.0", None, "1.15.13"),
    (19, "3.2", "1.7.0", "v1.19.0", "v0.8.7", "v3.20.6", "v0.14.0", None, "1.15.13"),
    (20, "3.2", "1.7.0", "v1.20.0", "v0.8.7", "v3.20.6", "v0.14.0", None, "1.15.13"),
    (21, "3.4.1", "v1.8.0", "v1.21.0", "v0.9.1", "v3.20.6", "v0.14.0", None, "1.22.20"),
    (22, "3.5", "v1.8.4", "v1.22.0", "v1.1.1", "v3.23.5", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (23, "3.6", "v1.8.6", "v1.23.0", "v1.1.1", "v3.23.5", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (24, "3.7", "v1.8.6", "v1.24.2", "v1.1.1", "v3.26.4", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (25, "3.8", "v1.9.3", "v1.25.0", "v1.3.0", "v3.26.4", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (26, "3.9", "v1.9.3", "v1.26.1", "v1.3.0", "v3.26.4", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (27, "3.9", "v1.10.1", "v1.27.1", "v1.3.0", "v3.27.5", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (28, "3.9", "v1.10.1", "v1.28.0", "v1.3.0", "v3.27.5", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (29, "3.9", "v1.11.1", "v1.29.0", "v1.4.0", "v3.28.2", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (30, "3.9", "v1.11.1", "v1.30.1", "v1.4.0", "v3.28.2", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (31, "3.10", "v1.11.3", "v1.31.1", "v1.5.1", "v3.29.3", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (32, "3.10", "v1.11.3", "v1.32.0", "v1.6.2", "v3.29.3", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (33, "3.10", "v1.12.0", "v1.33.0", "v1.6.2", "v3.29.3", "v0.25.7", Some("v1.5.1-flannel2"), "1.22.20"),
    (34, "3.10.1", "v1.14.3", "v1.34.0", "v1.9.0", "v3.29.3", "v0.28.4", Some("v1.5.1-flannel2"), "1.22.20"),
    (35, "3.10.1", "v1.14.3", "v1.34.0", "v1.9.0", "v3.29.3", "v0.28.4", Some("v1.5.1-flannel2"), "1.22.20"),
    (36, "3.10.2", "v1.14.3", "v1.34.0", "v1.9.0", "v3.29.3", "v0.28.4", Some("v1.5.1-flannel2"), "1.22.20"),
    (37, "3.10.2", "v1.14.3", "v1.37.0", "v1.9.0", "v3.29.3", "v0.28.4", Some("v1.5.1-flannel2"), "1.22.20"),
];

/// Rows whose etcd is built from source (kubeadm 1.34 refuses external etcd
/// older than 3.5.24, which Debian 12's 3.4 is).
const ETCD_FROM: (u32, &str, &str) = (34, "v3.6.8", "3.5.24");

/// The supported Kubernetes minors (validation refuses the others).
pub fn minor_range() -> (u32, u32) {
    (TABLE[0].minor, TABLE[TABLE.len() - 1].minor)
}

/// The minor number, with 1.x as the only major ever released.
pub fn minor(v: &KubeVersion) -> u32 {
    if v.major > 1 {
        u32::MAX
    } else {
        v.minor
    }
}

/// The row for `v`: an unsupported minor takes the nearest row, since
/// validation has already refused it where it matters (render of a
/// refused conf is never reached).
pub fn row(v: &KubeVersion) -> Row {
    let m = minor(v);
    let mut r = *TABLE
        .iter()
        .find(|r| r.minor == m)
        .unwrap_or(if m < TABLE[0].minor {
            &TABLE[0]
        } else {
            &TABLE[TABLE.len() - 1]
        });
    if r.minor >= ETCD_FROM.0 {
        r.etcd = Some((ETCD_FROM.1, ETCD_FROM.2));
    }
    r
}

/// `(major, minor, patch)` of a version text such as `v3.4.23` or `3.5.24-0`.
pub fn triple(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.trim().trim_start_matches('v').split(['.', '-']);
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    let c = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    Some((a, b, c))
}

/// Whether etcd comes as upstream's release tarball (3.5+) rather than a
/// distribution package (Debian 12 packages 3.4).
pub fn etcd_from_release(etcd_version: &str) -> bool {
    triple(etcd_version).is_some_and(|t| t >= (3, 5, 0))
}

/// Whether `v` has a row.
pub fn supported(v: &KubeVersion) -> bool {
    TABLE.iter().any(|r| r.minor == minor(v))
}

/// kubeadm's config API by minor: v1alpha3 (1.12), v1beta1 (1.13–1.14),
/// v1beta2 (1.15–1.21), v1beta3 (1.22–1.30), v1beta4 (1.31+).
pub fn kubeadm_api(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=12 => "v1alpha3",
        13..=14 => "v1beta1",
        15..=21 => "v1beta2",
        22..=30 => "v1beta3",
        _ => "v1beta4",
    }
}

/// The full image references a cluster runs, from the row, the image
/// repository and the overrides the config allows (`calico_version`).
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub pause: String,
    pub coredns: String,
    pub coredns_tag: String,
    /// The repository `coredns` is under: kubeadm's `dns.imageRepository`,
    /// said outright since kubeadm derives it one way for its default
    /// registry and another for any other.
    pub coredns_repo: String,
    pub nodelocaldns: String,
    pub flannel: String,
    pub flannel_cni: Option<String>,
    pub calico_version: String,
    pub kube_proxy: String,
    pub control_plane: Vec<String>,
}

impl Images {
    pub fn of(v: &KubeVersion, kube_repo: &str, calico_override: &str) -> Images {
        let r = row(v);
        let m = minor(v);
        let repo = kube_repo.trim().trim_end_matches('/');
        // From 1.21 the official image is coredns/coredns.
        let coredns_repo = match m >= 21 {
            true => format!("{repo}/coredns"),
            false => repo.to_string(),
        };
        let nodelocal_path = if m >= 21 {
            "dns/k8s-dns-node-cache"
        } else {
            "k8s-dns-node-cache"
        };
        let flannel_repo = match m {
            ..=21 => "quay.io/coreos/flannel",
            _ => "docker.io/flannel/flannel",
        };
        let calico_version = match calico_override.trim() {
            "" => r.calico.to_string(),
            s => format!("v{}", s.trim_start_matches('v')),
        };
        Images {
            pause: format!("{repo}/pause:{}", r.pause),
            coredns: format!("{coredns_repo}/coredns:{}", r.coredns),
            coredns_repo,
            coredns_tag: r.coredns.to_string(),
            nodelocaldns: format!("{repo}/{nodelocal_path}:{}", r.nodelocaldns),
            flannel: format!("{flannel_repo}:{}", r.flannel),
            flannel_cni: r
                .flannel_cni
                .map(|t| format!("docker.io/flannel/flannel-cni-plugin:{t}")),
            calico_version,
            kube_proxy: format!("{repo}/kube-proxy:{v}"),
            control_plane: [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ]
            .iter()
            .map(|n| format!("{repo}/{n}:{v}"))
            .collect(),
        }
    }
}

/// How CoreDNS's replicas are kept on different nodes, as a pod-template
/// `topologySpreadConstraints` entry. From 1.27 the constraint is hard but
/// counts only the newest ReplicaSet (`matchLabelKeys`) and only nodes a
/// replica may use (`nodeTaintsPolicy: Honor`), so a rollout is never stuck
/// and a one-node cluster keeps both replicas. Before 1.27 those fields do
/// not exist and a hard constraint could leave a replica Pending, so the
/// preference kubeadm already sets (anti-affinity) is all there is.
pub fn coredns_spread(v: &KubeVersion) -> Option<&'static str> {
    (minor(v) >= 27).then_some(
        r#"{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"k8s-app":"kube-dns"}},"matchLabelKeys":["pod-template-hash"],"nodeTaintsPolicy":"Honor"}"#,
    )
}

/// The Helm release KubeSphere of this major installs with: 2.x runs
/// Helm 2 with its in-cluster tiller, 3.x Helm 3.
pub fn helm(ks_major: u32) -> &'static str {
    if ks_major < 3 {
        "v2.16.3"
    } else {
        "v3.12.3"
    }
}

/// `(major, minor)` of a KubeSphere version like `v2.1.1`, `3.4` (2.1, the
/// legacy default, for what does not parse).
pub fn ks_version(s: &str) -> (u32, u32) {
    let mut it = s.trim().trim_start_matches('v').split('.');
    let major = it.next().and_then(|p| p.parse().ok()).unwrap_or(2);
    let minor = it.next().and_then(|p| p.parse().ok()).unwrap_or(1);
    (major, minor)
}

/// The reference as containerd reads a short one: Docker Hub's registry
/// and, for a one-part name, its `library/`.
pub fn qualified(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, image.contains('/')) {
        (true, _) => image.to_string(),
        (false, true) => format!("docker.io/{image}"),
        (false, false) => format!("docker.io/library/{image}"),
    }
}

/// Whether the kubelet of `v` refuses a cgroup v1 host unless its
/// configuration says `failCgroupV1: false` (the default from 1.35).
pub fn kubelet_refuses_cgroup_v1(v: &KubeVersion) -> bool {
    minor(v) >= 35
}

/// The conf key by which an operator asks that cgroup v1 hosts be refused
/// where the kubelet would refuse them, rather than let through.
pub const FAIL_CGROUP_V1: &str = "kubelet_fail_cgroup_v1";

/// What is done about cgroup v1 hosts: decided here once for preflight,
/// the render's kubelet configuration and the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupV1 {
    /// No kubelet host runs cgroup v1, or the kubelet of this version
    /// accepts it as it is.
    Moot,
    /// `failCgroupV1: false` goes into the kubelet configuration, with the
    /// `CgroupV1` warning.
    Allowed,
    /// The operator set `kubelet_fail_cgroup_v1: true`: the `CgroupV1`
    /// error, before any host changes.
    Refused,
}

pub fn cgroup_v1(v: &KubeVersion, strict: bool, any_v1_host: bool) -> CgroupV1 {
    match (kubelet_refuses_cgroup_v1(v) && any_v1_host, strict) {
        (false, _) => CgroupV1::Moot,
        (true, false) => CgroupV1::Allowed,
        (true, true) => CgroupV1::Refused,
    }
}

/// kubeadm's command that renews every certificate it manages (and the
/// kubeconfigs' client certificates): out of `alpha` from 1.20.
pub fn kubeadm_certs_renew(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=19 => "kubeadm alpha certs renew all",
        _ => "kubeadm certs renew all",
    }
}

/// kubeadm's reset, leaving etcd to ksinstall. etcd is external here, yet
/// kubeadm's `remove-etcd-member` phase (a workflow phase from 1.15) takes
/// it for a stacked member: it waits a minute for endpoints it cannot
/// read, then empties `/var/lib/etcd` (kubernetes/kubeadm#3225).
/// `remove-node` removes the member itself, by its peer URL.
pub fn kubeadm_reset(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=14 => "kubeadm reset -f",
        _ => "kubeadm reset -f --skip-phases remove-etcd-member",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn short_names_are_docker_hubs() {
        assert_eq!(
            qualified("csiplugin/csi-qingcloud:v1.2.0"),
            "docker.io/csiplugin/csi-qingcloud:v1.2.0"
        );
        assert_eq!(qualified("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(
            qualified("registry.example.com:5000/a/b:1"),
            "registry.example.com:5000/a/b:1"
        );
        assert_eq!(qualified("localhost/x:1"), "localhost/x:1");
    }

    #[test]
    fn kubesphere_versions_parse_once() {
        assert_eq!(ks_version("v2.1.1"), (2, 1));
        assert_eq!(ks_version("3.4"), (3, 4));
        assert_eq!(ks_version("v2.0.2"), (2, 0));
        assert_eq!(ks_version("latest"), (2, 1));
    }

    #[test]
    fn one_row_per_minor_in_order() {
        for w in TABLE.windows(2) {
            assert_eq!(w[0].minor + 1, w[1].minor);
        }
    }

    #[test]
    fn api_by_version() {
        for (k, api) in [
            ("v1.12.3", "v1alpha3"),
            ("v1.13.5", "v1beta1"),
            ("v1.15.5", "v1beta2"),
            ("v1.21.9", "v1beta2"),
            ("v1.22.0", "v1beta3"),
            ("v1.30.1", "v1beta3"),
            ("v1.31.0", "v1beta4"),
            ("v1.34.4", "v1beta4"),
        ] {
            assert_eq!(kubeadm_api(&v(k)), api, "{k}");
        }
    }

    #[test]
    fn etcd_from_source_where_kubeadm_needs_it() {
        assert_eq!(row(&v("v1.33.0")).etcd, None);
        assert_eq!(row(&v("v1.34.4")).etcd, Some(("v3.6.8", "3.5.24")));
        assert!(etcd_from_release("v3.6.8") && !etcd_from_release("v3.4.23"));
        assert!(triple("3.5.24-0") > triple("v3.4.23"));
    }

    #[test]
    fn images_follow_the_row() {
        let i = Images::of(&v("v1.34.4"), "registry.k8s.io", "");
        assert_eq!(i.pause, "registry.k8s.io/pause:3.10.1");
        assert_eq!(i.coredns, "registry.k8s.io/coredns/coredns:v1.14.3");
        assert_eq!(i.flannel, "docker.io/flannel/flannel:v0.28.4");
        let old = Images::of(&v("v1.16.7"), "k8s.gcr.io", "3.8.4");
        assert_eq!(old.coredns, "k8s.gcr.io/coredns:1.6.2");
        assert_eq!(old.calico_version, "v3.8.4");
        assert_eq!(old.flannel, "quay.io/coreos/flannel:v0.14.0");
    }

    /// scripts/kube/build.sh builds what the table names for 1.34+.
    #[test]
    fn build_script_pins_match() {
        let sh = include_str!("../../scripts/kube/versions.sh");
        let pin = |k: &str| {
            sh.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{k} not in versions.sh"))
                .to_string()
        };
        let r = row(&v("v1.34.0"));
        assert_eq!(Some(pin("ETCD").as_str()), r.etcd.map(|e| e.0));
        assert_eq!(pin("CRICTL"), r.crictl);
        assert_eq!(pin("CNI_PLUGINS"), r.cni);
        assert_eq!(pin("FLANNEL"), r.flannel);
        assert_eq!(Some(pin("FLANNEL_CNI").as_str()), r.flannel_cni);
        assert_eq!(pin("COREDNS"), r.coredns);
        assert_eq!(pin("PAUSE"), r.pause);
    }
}
