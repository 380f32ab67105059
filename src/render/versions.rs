//! What the renderer derives from the Kubernetes version besides the
//! artifact versions (those are `model::versions`, the one table): the CRI
//! socket, the API versions of objects that moved between groups, taints.

use crate::config::{KubeVersion, Runtime};

pub use crate::model::versions::{kubeadm_api, minor};

/// The CRI socket for kubeadm's `nodeRegistration.criSocket`: dockershim
/// before 1.24, cri-dockerd for docker from 1.24 on, containerd's socket
/// otherwise. From 1.24 kubeadm expects a URL (`unix://`).
pub fn cri_socket(v: &KubeVersion, runtime: Runtime) -> String {
    let url = minor(v) >= 24;
    let path = match runtime {
        Runtime::Containerd => "/run/containerd/containerd.sock",
        _ if !url => "/var/run/dockershim.sock",
        _ => "/run/cri-dockerd.sock",
    };
    if url {
        format!("unix://{path}")
    } else {
        path.to_string()
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
    fn cri_sockets() {
        assert_eq!(
            cri_socket(&v("1.16.7"), Runtime::Docker),
            "/var/run/dockershim.sock"
        );
        assert_eq!(
            cri_socket(&v("1.16.7"), Runtime::Containerd),
            "/run/containerd/containerd.sock"
        );
        assert_eq!(
            cri_socket(&v("1.28.0"), Runtime::Docker),
            "unix:///run/cri-dockerd.sock"
        );
        assert_eq!(
            cri_socket(&v("1.28.0"), Runtime::Containerd),
            "unix:///run/containerd/containerd.sock"
        );
    }
}
