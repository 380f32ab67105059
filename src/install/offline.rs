//! The offline bundle, per host: what the install pushes to each host (only
//! what it needs and does not already have) and the artifacts the bundle
//! lacks, reported by preflight before anything changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::facts::Facts;
use super::phases::Offline;
use crate::bundle::manifest::Manifest;
use crate::bundle::needs::{self, Family, Kind, Need, Plan, PlanOptions};
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

/// `[rpms/]name-version-release.arch.rpm` as rpm names it installed:
/// (name, `version-release`).
fn rpm_name_version(file: &str) -> Option<(String, String)> {
    let file = file.rsplit('/').next()?;
    let (nvr, _arch) = file.strip_suffix(".rpm")?.rsplit_once('.')?;
    let mut parts = nvr.rsplitn(3, '-');
    let (release, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((name.to_string(), format!("{version}-{release}")))
}

/// A package file the host has installed at that very version is not sent again.
fn installed_already(file: &str, installed: Option<&BTreeMap<String, String>>) -> bool {
    let Some(installed) = installed else {
        return false;
    };
    deb_name_version(file)
        .or_else(|| rpm_name_version(file))
        .is_some_and(|(name, version)| installed.get(&name) == Some(&version))
}

/// The plan for each package family: an RPM host (by its facts) installs
/// the RPM names of the table's rows, any other host the Debian ones.
struct Plans {
    deb: Plan,
    rpm: Plan,
}

impl Plans {
    fn of(c: &Cluster) -> anyhow::Result<Plans> {
        let plan = |family| {
            let opts = PlanOptions {
                families: vec![family],
                ..PlanOptions::default()
            };
            needs::plan(c, &opts).map_err(|e| anyhow::anyhow!("bundle plan: {e}"))
        };
        Ok(Plans {
            deb: plan(Family::Deb)?,
            rpm: plan(Family::Rpm)?,
        })
    }

    fn for_facts(&self, f: Option<&Facts>) -> &Plan {
        match f.is_some_and(Facts::rpm) {
            true => &self.rpm,
            false => &self.deb,
        }
    }
}

/// `BundleMissing`: what `host` needs that the bundle lacks, and how to
/// build one that has it (a bundle built for the other package family
/// has none of the host's packages).
fn bundle_missing(
    m: &Manifest,
    bundle: &Path,
    host: &str,
    rpm: bool,
    missing: &[&Need],
) -> Diagnostic {
    let names: Vec<String> = (missing.iter())
        .map(|n| format!("{} {}", n.name, n.version).trim().to_string())
        .collect();
    let family = if rpm { "rpm" } else { "deb" };
    let how = match m.families.iter().any(|f| f == family) {
        true => "add them (`ksinstall bundle build --from DIR`)".to_string(),
        false => format!("the host installs {family} packages and the bundle has none: build it with --os-family {family} or both"),
    };
    Diagnostic::error(
        "BundleMissing",
        format!(
            "'{host}' needs {} which the bundle {} lacks: {how}",
            names.join(", "),
            bundle.display()
        ),
    )
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
    let plans = Plans::of(c)?;
    let mut off = Offline {
        repo_dir: HOST_REPO_DIR.into(),
        ..Offline::default()
    };
    let mut cache = select::FileCache::new();
    let storage = crate::model::storage::images_of(&c.config);
    let registry_host = c.local_registry().map(|r| r.host);
    let chosen = c
        .nodes
        .iter()
        .filter(|n| only.is_none_or(|o| o.contains(&n.name)));
    for node in chosen {
        let host_facts = facts.get(&node.name);
        let sel = select::for_host(&manifest, plans.for_facts(host_facts), &node.name);
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
            let rpm = host_facts.is_some_and(Facts::rpm);
            let d = bundle_missing(&manifest, bundle, &node.name, rpm, &missing);
            report.push(c.at_node(d, node));
        }
        let payload = select::host_payload(bundle, &sel, 0, &mut cache)
            .map_err(|e| anyhow::anyhow!("bundle: {e}"))?;
        let installed = host_facts.map(|f| &f.installed);
        let repo: Vec<_> = (payload.repo_files.into_iter())
            .filter(|(file, _)| !installed_already(file, installed))
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

    #[test]
    fn rpm_file_names() {
        assert_eq!(
            rpm_name_version("rpms/conntrack-tools-1.4.7-2.el9.x86_64.rpm"),
            Some(("conntrack-tools".into(), "1.4.7-2.el9".into()))
        );
        assert_eq!(rpm_name_version("rpms/repodata/repomd.xml"), None);
        let installed = BTreeMap::from([("socat".to_string(), "1.7.4.1-5.el9".to_string())]);
        assert!(installed_already(
            "rpms/socat-1.7.4.1-5.el9.x86_64.rpm",
            Some(&installed)
        ));
        assert!(!installed_already(
            "rpms/socat-1.7.4.1-6.el9.x86_64.rpm",
            Some(&installed)
        ));
        assert!(!installed_already(
            "rpms/socat-1.7.4.1-5.el9.x86_64.rpm",
            None
        ));
    }
}
