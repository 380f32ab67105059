//! The offline bundle, per host: what the install pushes to each host (only
//! what it needs and does not already have) and the artifacts the bundle
//! lacks, reported by preflight before anything changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::facts::Facts;
use super::phases::Offline;
use crate::bundle::manifest::Manifest;
use crate::bundle::needs::{self, Kind, PlanOptions};
use crate::bundle::select::{self, HOST_REPO_DIR};
use crate::diag::{Diagnostic, Report};
use crate::model::Cluster;

/// `name_version_arch.deb` with the version's `:` written `%3a`.
fn deb_name_version(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".deb")?;
    let mut parts = stem.splitn(3, '_');
    let name = parts.next()?.to_string();
    let version = parts.next()?.replace("%3a", ":");
    Some((name, version))
}

/// `kubernetes`: whether the run includes the phases that need Kubernetes'
/// own binaries and images (control-plane onwards); without them only
/// missing OS packages matter. `only`: the hosts that install from the
/// bundle (add-nodes: the new ones); the others get nothing from it, and
/// nothing of it is read or checked for them.
pub fn load(
    bundle: &Path,
    c: &Cluster,
    facts: &BTreeMap<String, Facts>,
    kubernetes: bool,
    only: Option<&BTreeSet<String>>,
    report: &mut Report,
) -> anyhow::Result<Offline> {
    let manifest =
        Manifest::read(bundle).map_err(|e| anyhow::anyhow!("bundle {}: {e}", bundle.display()))?;
    let plan =
        needs::plan(c, &PlanOptions::default()).map_err(|e| anyhow::anyhow!("bundle plan: {e}"))?;
    let mut off = Offline {
        repo_dir: HOST_REPO_DIR.into(),
        ..Offline::default()
    };
    let mut cache = select::FileCache::new();
    let storage: Vec<String> = c
        .config
        .storage
        .iter()
        .filter_map(|sc| crate::model::storage::Manifest::of(&c.config, sc.kind))
        .flat_map(|m| m.images(&c.config).into_values())
        .collect();
    let registry_host = c.local_registry().map(|r| r.host);
    let chosen = c
        .nodes
        .iter()
        .filter(|n| only.is_none_or(|o| o.contains(&n.name)));
    for node in chosen {
        let sel = select::for_host(&manifest, &plan, &node.name);
        let missing: Vec<_> = sel
            .missing
            .iter()
            .filter(|n| kubernetes || matches!(n.kind, Kind::Deb | Kind::Rpm))
            .collect();
        // KubeSphere's installer image cannot be built from source: its lack
        // has a name of its own, so an operator can install Kubernetes with
        // `--ignore-errors KubeSphereImage` and nothing else is let through.
        let (ks, missing): (Vec<_>, Vec<_>) = missing
            .into_iter()
            .partition(|n| n.kind == Kind::Image && n.name.contains("/ks-installer:"));
        // So do the storage provisioners' (not built from source either):
        // without them the classes are there but nothing provisions.
        let (st, missing): (Vec<_>, Vec<_>) = missing
            .into_iter()
            .partition(|n| n.kind == Kind::Image && storage.contains(&n.name));
        if !st.is_empty() {
            let names: Vec<&str> = st.iter().map(|n| n.name.as_str()).collect();
            report.push(c.at_node(
                Diagnostic::error(
                    "StorageImage",
                    format!("'{}' needs the storage provisioners' {} which the bundle {} lacks: add them, or pass --ignore-errors StorageImage to install without them (the storage classes are created, but no volume is provisioned until the images are there)", node.name, names.join(", "), bundle.display()),
                ),
                node,
            ));
        }
        if let Some(n) = ks.first() {
            report.push(c.at_node(
                Diagnostic::error(
                    "KubeSphereImage",
                    format!("'{}' needs {} which the bundle {} lacks: add it, or pass --ignore-errors KubeSphereImage to install Kubernetes and apply KubeSphere's objects without its console", node.name, n.name, bundle.display()),
                ),
                node,
            ));
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|n| format!("{} {}", n.name, n.version).trim().to_string())
                .collect();
            report.push(c.at_node(
                Diagnostic::error(
                    "BundleMissing",
                    format!("'{}' needs {} which the bundle {} lacks: add them (`ksinstall bundle build --from DIR`)", node.name, names.join(", "), bundle.display()),
                ),
                node,
            ));
        }
        let payload = select::host_payload(bundle, &sel, 0, &mut cache)
            .map_err(|e| anyhow::anyhow!("bundle: {e}"))?;
        let installed = facts.get(&node.name).map(|f| &f.debs);
        // A package already installed at the bundle's version is not sent again.
        let repo: Vec<_> = payload
            .repo_files
            .into_iter()
            .filter(|(file, _)| match (deb_name_version(file), installed) {
                (Some((name, version)), Some(debs)) => debs.get(&name) != Some(&version),
                _ => true,
            })
            .collect();
        off.repo_files.insert(node.name.clone(), repo);
        off.packages.insert(node.name.clone(), payload.packages);
        // The plan gives a local registry's host every image: pushed into
        // the registry from here, imported by no host.
        match &registry_host {
            Some(h) if *h == node.name => off.registry_images = payload.images,
            _ => {
                off.images.insert(node.name.clone(), payload.images);
            }
        }
        off.binaries.insert(node.name.clone(), payload.binaries);
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_file_names() {
        assert_eq!(
            deb_name_version("containerd_1.6.20~ds1-1+b1_amd64.deb"),
            Some(("containerd".into(), "1.6.20~ds1-1+b1".into()))
        );
        assert_eq!(
            deb_name_version("busybox-static_1%3a1.35.0-4_amd64.deb")
                .unwrap()
                .1,
            "1:1.35.0-4"
        );
        assert_eq!(deb_name_version("Packages"), None);
    }
}
