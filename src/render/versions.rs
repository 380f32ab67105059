//! What depends on the Kubernetes version: the kubeadm config API, the
//! sandbox (pause) image, the CRI socket, the Calico and Flannel releases, and
//! the API versions of objects that moved between groups.

use crate::config::KubeVersion;

/// kubeadm's config API by Kubernetes minor: v1alpha3 (1.12), v1beta1
/// (1.13–1.14), v1beta2 (1.15–1.21), v1beta3 (1.22–1.30), v1beta4 (1.31+).
pub fn kubeadm_api(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=12 => "v1alpha3",
        13..=14 => "v1beta1",
        15..=21 => "v1beta2",
        22..=30 => "v1beta3",
        _ => "v1beta4",
    }
}

/// The minor number, with 1.x as the only major ever released.
pub fn minor(v: &KubeVersion) -> u32 {
    if v.major > 1 {
        u32::MAX
    } else {
        v.minor
    }
}

/// The pause image tag kubeadm of that minor pulls.
pub fn pause_tag(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=17 => "3.1",
        18..=20 => "3.2",
        21 => "3.4.1",
        22 => "3.5",
        23 => "3.6",
        24 => "3.7",
        25 => "3.8",
        26..=30 => "3.9",
        _ => "3.10",
    }
}

/// The CRI socket for kubeadm's `nodeRegistration.criSocket`: dockershim
/// before 1.24, cri-dockerd for docker from 1.24 on, containerd's socket
/// otherwise. From 1.24 kubeadm expects a URL (`unix://`).
pub fn cri_socket(v: &KubeVersion, runtime: &str) -> String {
    let url = minor(v) >= 24;
    let path = match runtime {
        "containerd" => "/run/containerd/containerd.sock",
        _ if !url => "/var/run/dockershim.sock",
        _ => "/run/cri-dockerd.sock",
    };
    if url {
        format!("unix://{path}")
    } else {
        path.to_string()
    }
}

/// Calico release tested with that Kubernetes minor (Calico's own support
/// matrix), overridable with `calico_version`.
pub fn calico_version(v: &KubeVersion) -> &'static str {
    match minor(v) {
        ..=12 => "v3.3.7",
        13..=15 => "v3.8.9",
        16..=18 => "v3.16.10",
        19..=21 => "v3.20.6",
        22..=23 => "v3.23.5",
        24..=26 => "v3.26.4",
        27..=28 => "v3.27.5",
        29..=30 => "v3.28.2",
        _ => "v3.29.3",
    }
}

/// Flannel image and, from the releases that split it out, the CNI plugin image.
pub fn flannel_images(v: &KubeVersion) -> (&'static str, Option<&'static str>) {
    match minor(v) {
        ..=15 => ("quay.io/coreos/flannel:v0.11.0-amd64", None),
        16..=21 => ("quay.io/coreos/flannel:v0.14.0", None),
        _ => (
            "docker.io/flannel/flannel:v0.25.7",
            Some("docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2"),
        ),
    }
}

/// `apiextensions.k8s.io` version for CustomResourceDefinitions.
pub fn crd_api(v: &KubeVersion) -> &'static str {
    if minor(v) >= 16 {
        "apiextensions.k8s.io/v1"
    } else {
        "apiextensions.k8s.io/v1beta1"
    }
}

/// `storage.k8s.io` version of CSIDriver objects, `None` before the kind existed.
pub fn csidriver_api(v: &KubeVersion) -> Option<&'static str> {
    match minor(v) {
        ..=13 => None,
        14..=17 => Some("storage.k8s.io/v1beta1"),
        _ => Some("storage.k8s.io/v1"),
    }
}

/// Taints kubeadm puts on a control-plane node that should not run workloads.
pub fn control_plane_taints(v: &KubeVersion) -> Vec<&'static str> {
    match minor(v) {
        ..=23 => vec!["node-role.kubernetes.io/master"],
        24 => vec![
            "node-role.kubernetes.io/master",
            "node-role.kubernetes.io/control-plane",
        ],
        _ => vec!["node-role.kubernetes.io/control-plane"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn api_by_version() {
        for (k, api) in [
            ("v1.12.3", "v1alpha3"),
            ("v1.13.5", "v1beta1"),
            ("v1.14.0", "v1beta1"),
            ("v1.15.5", "v1beta2"),
            ("v1.21.9", "v1beta2"),
            ("v1.22.0", "v1beta3"),
            ("v1.30.1", "v1beta3"),
            ("v1.31.0", "v1beta4"),
            ("v1.33.2", "v1beta4"),
        ] {
            assert_eq!(kubeadm_api(&v(k)), api, "{k}");
        }
    }

    #[test]
    fn cri_sockets() {
        assert_eq!(
            cri_socket(&v("1.16.7"), "docker"),
            "/var/run/dockershim.sock"
        );
        assert_eq!(
            cri_socket(&v("1.16.7"), "containerd"),
            "/run/containerd/containerd.sock"
        );
        assert_eq!(
            cri_socket(&v("1.28.0"), "docker"),
            "unix:///run/cri-dockerd.sock"
        );
        assert_eq!(
            cri_socket(&v("1.28.0"), "containerd"),
            "unix:///run/containerd/containerd.sock"
        );
    }
}
