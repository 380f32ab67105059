//! `bundle verify`: every file against `manifest.json`, the apt index
//! against the packages, and (given a cluster) the plan against the bundle.
//! Everything wrong is reported at once, kubeadm style.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use rayon::prelude::*;

use super::aptrepo;
use super::hash;
use super::manifest::Manifest;
use super::needs::{self, Family, Kind, PlanOptions};
use crate::diag::{Diagnostic, Report};
use crate::model::Cluster;

#[derive(Debug, Default)]
pub struct Verified {
    pub report: Report,
    pub files: usize,
    pub bytes: u64,
    pub packages: usize,
    /// Needs checked against the cluster (0 without one).
    pub needs: usize,
}

/// A relative path with no `..`, `.` or root: stays inside the bundle.
pub fn safe_rel(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `dir/rel` when, with every symlink resolved, it is still inside `dir`:
/// a bundle's `bin/kubeadm -> /etc/passwd` (or a linked directory) would
/// otherwise push a file of the build machine to every host.
pub fn inside(dir: &Path, rel: &str) -> Result<std::path::PathBuf, String> {
    let path = dir.join(rel);
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let root = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(format!(
            "{rel} leads out of the bundle (to {}): bundles hold files, not links out",
            real.display()
        ))
    }
}

pub fn verify(dir: &Path, cluster: Option<&Cluster>) -> Verified {
    let mut v = Verified::default();
    let m = match Manifest::read(dir) {
        Ok(m) => m,
        Err(e) => {
            v.report.push(Diagnostic::error("BundleManifest", e));
            return v;
        }
    };
    report_build_notes(&m, &mut v.report);
    // Files: present, same size, same digest. Hashing runs in parallel.
    let listed = listed_files(&m);
    let results: Vec<Option<Diagnostic>> = listed
        .par_iter()
        .map(|(rel, sha, size)| check_file(dir, rel, sha, *size))
        .collect();
    for d in results.into_iter().flatten() {
        v.report.push(d);
    }
    v.files = listed.len();
    v.bytes = listed.iter().map(|l| l.2).sum();
    report_unlisted(dir, &listed, &mut v.report);
    v.packages = check_apt_index(dir, &m, &mut v.report);
    if let Some(c) = cluster {
        v.needs = check_plan(dir, &m, c, &mut v.report);
    }
    v
}

/// What the build already knew was wrong or left out is repeated, so a later reader of the bundle sees it too.
fn report_build_notes(m: &Manifest, report: &mut Report) {
    if !m.missing.is_empty() {
        report.push(Diagnostic::warning(
            "BundleIncomplete",
            format!(
                "built with --allow-missing; it lacks {} artifact(s): {}",
                m.missing.len(),
                m.missing
                    .iter()
                    .map(|s| s.split(" (").next().unwrap_or(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for n in &m.notes {
        report.push(Diagnostic::warning("BundleNote", n.clone()));
    }
}

/// Artifacts and index files are checked alike, so both become one list of (path, sha256, size).
fn listed_files(m: &Manifest) -> Vec<(String, String, u64)> {
    let mut listed: Vec<(String, String, u64)> = m
        .artifacts
        .iter()
        .map(|a| (a.path.clone(), a.sha256.clone(), a.size))
        .collect();
    listed.extend(
        m.index
            .iter()
            .map(|i| (i.path.clone(), i.sha256.clone(), i.size)),
    );
    listed
}

/// One file's check touches nothing else, so all of them can be hashed in parallel.
fn check_file(dir: &Path, rel: &str, sha: &str, size: u64) -> Option<Diagnostic> {
    if !safe_rel(rel) {
        return Some(Diagnostic::error(
            "BundleManifest",
            format!("{rel:?}: not a path inside the bundle"),
        ));
    }
    let path = match inside(dir, rel) {
        Ok(p) => p,
        Err(e) if e.contains("leads out") => {
            return Some(Diagnostic::error("BundleLink", e));
        }
        Err(_) => dir.join(rel),
    };
    match hash::file_sha256(&path) {
        Err(e) => Some(Diagnostic::error(
            "BundleFile",
            format!("{rel} is in manifest.json but cannot be read: {e}"),
        )),
        Ok((have, n)) if have != sha || n != size => Some(Diagnostic::error(
            "BundleChecksum",
            format!("{rel}: sha256 {have} ({n} bytes), manifest.json says {sha} ({size} bytes): the file was changed or damaged"),
        )),
        Ok(_) => None,
    }
}

/// A file the manifest does not list is never installed, which its owner may not expect.
fn report_unlisted(dir: &Path, listed: &[(String, String, u64)], report: &mut Report) {
    let known: BTreeSet<&str> = listed.iter().map(|l| l.0.as_str()).collect();
    for k in [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image] {
        let mut extra = Vec::new();
        walk(&dir.join(k.dir()), k.dir(), &mut |rel| {
            if !known.contains(rel) {
                extra.push(rel.to_string());
            }
        });
        for rel in extra {
            report.push(Diagnostic::warning(
                "BundleExtra",
                format!("{rel} is not in manifest.json: it is not installed from this bundle"),
            ));
        }
    }
}

/// Hosts install the packages through apt, which sees only what the index lists; returns the package count.
fn check_apt_index(dir: &Path, m: &Manifest, report: &mut Report) -> usize {
    let debs: Vec<_> = m.artifacts.iter().filter(|a| a.kind == Kind::Deb).collect();
    if !debs.is_empty() {
        let ddir = dir.join(Kind::Deb.dir());
        for e in aptrepo::check_index(&ddir) {
            report.push(Diagnostic::error("AptIndex", format!("debs/{e}")));
        }
        if let Ok(stanzas) = aptrepo::read_packages(&ddir) {
            let indexed: BTreeSet<String> = stanzas
                .iter()
                .filter_map(|p| p.get("Filename"))
                .map(|f| format!("debs/{}", f.trim_start_matches("./")))
                .collect();
            for d in &debs {
                if !indexed.contains(&d.path) {
                    report.push(Diagnostic::error(
                        "AptIndex",
                        format!(
                            "{} ({}) is in manifest.json but not in debs/Packages",
                            d.path, d.name
                        ),
                    ));
                }
            }
        }
    }
    debs.len()
}

/// A sound bundle is still useless to a cluster it lacks artifacts for; returns the needs checked.
fn check_plan(dir: &Path, m: &Manifest, c: &Cluster, report: &mut Report) -> usize {
    let plan = match needs::plan(c, &plan_options(m)) {
        Ok(plan) => plan,
        Err(e) => {
            report.push(Diagnostic::error("BundlePlan", e));
            return 0;
        }
    };
    if plan.versions.kube != m.kube_version {
        report.push(Diagnostic::warning(
            "BundleVersion",
            format!(
                "the bundle was built for Kubernetes {}, the cluster asks for {}",
                m.kube_version, plan.versions.kube
            ),
        ));
    }
    for need in &plan.needs {
        let version = match need.kind {
            Kind::Deb | Kind::Rpm => "",
            _ => need.version.as_str(),
        };
        if m.find(need.kind, &need.name, version).is_none() {
            report.push(Diagnostic::error(
                "BundleMissing",
                format!("{}: not in {}", need.describe(), dir.display()),
            ));
        }
    }
    plan.needs.len()
}

/// The cluster is planned for the bundle's own families and architecture, not the defaults.
fn plan_options(m: &Manifest) -> PlanOptions {
    let families = m
        .families
        .iter()
        .filter_map(|f| match f.as_str() {
            "deb" => Some(Family::Deb),
            "rpm" => Some(Family::Rpm),
            _ => None,
        })
        .collect();
    PlanOptions {
        families,
        arch: m.arch.clone(),
        ..PlanOptions::default()
    }
}

fn walk(dir: &Path, rel: &str, f: &mut dyn FnMut(&str)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = format!("{rel}/{name}");
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&e.path(), &r, f);
        } else {
            f(&r);
        }
    }
}
