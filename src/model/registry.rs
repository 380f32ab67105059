//! The registry every node pulls its images from, decided once: the local
//! registry the install runs on the `[local-registry]` host, or a registry
//! the install does not run (the company's, `local_registry: HOST:PORT`,
//! the legacy offline prefix), and how an image's reference is rewritten to
//! it. The renderer (every image of every manifest and config), the bundle
//! plan, the preflight and the install's push all read this.

use std::path::PathBuf;

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

/// A registry the install does not run: the nodes pull every image from
/// it under the same paths; `ksinstall bundle push` fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// `host[:port]`, as the runtimes and the taskbox reach it.
    pub endpoint: String,
    /// The CA its certificate chains to (a PEM file on this machine), when
    /// the hosts' own trust store does not hold it.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP (`local_registry_insecure: true`): anyone on the path
    /// could change what the nodes run.
    pub insecure: bool,
}

impl External {
    /// `https://endpoint`, or `http://` when insecure.
    pub fn url(&self) -> String {
        match self.insecure {
            true => format!("http://{}", self.endpoint),
            false => format!("https://{}", self.endpoint),
        }
    }

    /// The CA's PEM text, checked to be a certificate.
    pub fn ca_pem(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.ca_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        openssl::x509::X509::from_pem(text.as_bytes())
            .map_err(|_| format!("{} holds no PEM certificate", path.display()))?;
        Ok(Some(text))
    }
}

impl Cluster {
    /// The company's registry, when the conf names one (`local_registry`)
    /// and the inventory has no `[local-registry]` host (`check` refuses
    /// both at once). A relative CA path is read from the conf file's
    /// directory.
    pub fn external_registry(&self) -> Option<External> {
        if self.with_role(Role::LocalRegistry).next().is_some() {
            return None;
        }
        let cfg = &self.config;
        let endpoint = cfg.text("local_registry").trim().to_string();
        if endpoint.is_empty() || cfg.is_unset("local_registry") {
            return None;
        }
        let ca = cfg.text("local_registry_ca").trim().to_string();
        let ca_file = (!ca.is_empty()).then(|| {
            let base = cfg.location("local_registry_ca").map(|(f, _)| f);
            let dir = base.as_deref().and_then(|f| f.parent());
            dir.map(|d| d.join(&ca))
                .unwrap_or_else(|| PathBuf::from(&ca))
        });
        Some(External {
            endpoint,
            ca_file,
            insecure: cfg.flag("local_registry_insecure"),
        })
    }

    /// The `host:port` every node pulls its images from, when not their
    /// upstreams: the local registry's, else the company's.
    pub fn pull_registry(&self) -> Option<String> {
        (self.local_registry().map(|r| r.endpoint))
            .or_else(|| self.external_registry().map(|r| r.endpoint))
    }

    /// `reference` as the nodes pull it: from the registry they pull from
    /// when there is one, else unchanged (the renderer does the same, at
    /// each node's address as it renders it).
    pub fn pulled(&self, reference: &str) -> String {
        pulled(self.pull_registry().as_deref(), reference)
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
