//! The local registry (`[local-registry]`), decided once: which host runs
//! it, the address every runtime pulls from, and how an image's reference
//! is rewritten to it. The renderer (every image of every manifest and
//! config), the bundle plan and the install's push all read this.

use super::{Cluster, Node, Role};

/// The legacy installer's registry port.
pub const PORT: u16 = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRegistry {
    /// The `[local-registry]` host.
    pub host: String,
    /// `address:5000`, as the runtimes and the push reach it.
    pub endpoint: String,
}

/// `address:5000` (an IPv6 address in brackets).
pub fn endpoint_at(address: &str) -> String {
    match address.contains(':') {
        true => format!("[{address}]:{PORT}"),
        false => format!("{address}:{PORT}"),
    }
}

/// The address other nodes reach `node` at (`access_ip`, else `ip`),
/// as the renderer's node context takes it.
fn address(node: &Node) -> Option<&str> {
    node.access_ip.as_deref().or(node.ip.as_deref())
}

impl Cluster {
    /// The registry when the inventory has a `[local-registry]` host (the
    /// first; `check` refuses more than one) with a known address.
    pub fn local_registry(&self) -> Option<LocalRegistry> {
        let node = self.with_role(Role::LocalRegistry).next()?;
        Some(LocalRegistry {
            host: node.name.clone(),
            endpoint: endpoint_at(address(node)?),
        })
    }
}

impl Cluster {
    /// `reference` as the nodes pull it: from the local registry when
    /// there is one, else unchanged (the renderer does the same, at each
    /// node's address as it renders it).
    pub fn pulled(&self, reference: &str) -> String {
        pulled(
            self.local_registry().map(|r| r.endpoint).as_deref(),
            reference,
        )
    }
}

/// `reference` from `registry` when there is one, else unchanged.
pub fn pulled(registry: Option<&str>, reference: &str) -> String {
    match registry {
        Some(e) => local_ref(e, reference),
        None => reference.to_string(),
    }
}

/// `reference` as pulled from the local registry: its registry host taken
/// off (`registry.k8s.io/pause:3.10` → `<endpoint>/pause:3.10`,
/// `docker.io/calico/node:v3` → `<endpoint>/calico/node:v3`), the path and
/// tag kept. A repository prefix (`registry.k8s.io`, kubeadm's
/// `imageRepository`) is rewritten the same way, so kubeadm's names and the
/// pushed names agree.
pub fn local_ref(endpoint: &str, reference: &str) -> String {
    let path = match reference.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => rest,
        None if is_registry_host(reference) => "",
        _ => reference,
    };
    match path {
        "" => endpoint.to_string(),
        p => format!("{endpoint}/{p}"),
    }
}

/// The first part of a reference names a registry when it has a dot or a
/// port, or is `localhost` (Docker's rule).
fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_move_to_the_registry() {
        let e = "10.0.0.5:5000";
        assert_eq!(
            local_ref(e, "registry.k8s.io/pause:3.10"),
            "10.0.0.5:5000/pause:3.10"
        );
        assert_eq!(
            local_ref(e, "registry.k8s.io/coredns/coredns:v1.12.1"),
            "10.0.0.5:5000/coredns/coredns:v1.12.1"
        );
        assert_eq!(
            local_ref(e, "docker.io/calico/node:v3.30"),
            "10.0.0.5:5000/calico/node:v3.30"
        );
        assert_eq!(
            local_ref(e, "kubesphere/ks-installer:v3.4.1"),
            "10.0.0.5:5000/kubesphere/ks-installer:v3.4.1"
        );
        assert_eq!(local_ref(e, "registry.k8s.io"), "10.0.0.5:5000");
        assert_eq!(local_ref(e, "mirror.example/k8s"), "10.0.0.5:5000/k8s");
        assert_eq!(local_ref(e, "localhost:5001/x:1"), "10.0.0.5:5000/x:1");
        assert_eq!(endpoint_at("fd00::5"), "[fd00::5]:5000");
    }
}
