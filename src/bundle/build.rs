//! `bundle build`: collect every artifact the plan needs from `--from`
//! directories (and, with `--download`, from the network), lay them out,
//! index the packages and write `manifest.json`.
//!
//! The bundle is assembled in `<out>.partial` and renamed to `<out>` only
//! when complete, so `<out>` is always either absent, the previous bundle,
//! or a whole new one. A failed build keeps `<out>.partial` (downloads
//! included) and the next build starts from it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::aptrepo;
use super::deb::{self, DebInfo};
use super::fetch::{self, Http};
use super::files;
use super::hash;
use super::manifest::{Entry, IndexFile, Manifest, FORMAT, MANIFEST};
use super::needs::{Family, Kind, Need, Plan};
use super::registry;
use crate::diag::{Diagnostic, Report};
use crate::model::Role;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub out: PathBuf,
    pub from: Vec<PathBuf>,
    pub download: bool,
    pub families: Vec<Family>,
    /// Write the bundle even when artifacts are missing; they are listed
    /// (warnings, and `missing` in the manifest) and `verify` still reports them.
    pub allow_missing: bool,
    /// Image tarballs to add beyond the plan, for the hosts that get images.
    pub extra_images: Vec<PathBuf>,
    /// Seconds since the epoch for the apt `Release` date
    /// (`SOURCE_DATE_EPOCH` when set, for reproducible bundles).
    pub date_epoch: u64,
}

pub fn default_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
}

#[derive(Debug)]
pub struct Built {
    pub manifest: Manifest,
    pub warnings: Vec<String>,
    /// Named warnings (`BundleMissing` under `--allow-missing`).
    pub report: Report,
}

/// Candidate source files, indexed.
#[derive(Default)]
struct Pool {
    debs: Vec<(PathBuf, DebInfo)>,
    rpms: Vec<(PathBuf, String)>,
    by_name: BTreeMap<String, Vec<PathBuf>>,
    skipped: Vec<String>,
}

impl Pool {
    fn add_dir(&mut self, dir: &Path) -> Result<(), String> {
        let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                self.add_dir(&p)?;
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".part") {
                continue;
            }
            if name.ends_with(".deb") {
                match deb::read_deb(&p) {
                    Ok(info) => self.debs.push((p, info)),
                    Err(err) => self.skipped.push(format!("skipped {err}")),
                }
            } else if name.ends_with(".rpm") {
                if let Some(n) = rpm_name(&name) {
                    self.rpms.push((p, n));
                }
            } else {
                self.by_name.entry(name).or_default().push(p);
            }
        }
        Ok(())
    }

    /// The newest package called (or providing) `name` for `arch`, that
    /// satisfies `dep` when given.
    fn best_deb(
        &self,
        name: &str,
        arch: &str,
        dep: Option<&deb::Dep>,
    ) -> Option<&(PathBuf, DebInfo)> {
        self.debs
            .iter()
            .filter(|(_, i)| i.arch() == arch || i.arch() == "all")
            .filter(|(_, i)| {
                (i.package() == name && dep.is_none_or(|d| d.satisfied_by(i.version())))
                    || (dep.is_none_or(|d| d.constraint.is_none())
                        && i.provides().iter().any(|p| p == name))
            })
            .max_by(|a, b| {
                // Prefer the real package over a provider, then the newest version.
                (a.1.package() == name)
                    .cmp(&(b.1.package() == name))
                    .then_with(|| deb::compare_versions(a.1.version(), b.1.version()))
            })
    }
}

/// `name` of `name-version-release.arch.rpm`.
pub fn rpm_name(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, _arch) = stem.rsplit_once('.')?;
    let (nv, _rel) = nvr.rsplit_once('-')?;
    let (n, _ver) = nv.rsplit_once('-')?;
    Some(n.to_string())
}

/// A file chosen for the bundle.
struct Chosen {
    kind: Kind,
    name: String,
    version: String,
    src: PathBuf,
    /// Path inside the bundle.
    path: String,
    source: String,
    roles: BTreeSet<Role>,
    hosts: BTreeSet<String>,
    depends: Vec<String>,
    dependency_of: BTreeSet<String>,
    extra: bool,
}

fn role_labels(roles: &BTreeSet<Role>) -> Vec<String> {
    roles.iter().map(|r| r.label().to_string()).collect()
}

fn missing(need: &Need, why: &str) -> Diagnostic {
    Diagnostic::error("BundleMissing", format!("{}: {why}", need.describe()))
}

/// Past this many artifacts left out, one warning names them all.
const LEFT_OUT_ONE_BY_ONE: usize = 3;

/// What `--allow-missing` leaves out, as warnings: each with its own hint
/// when there are few; else one naming them all with one hint (the
/// manifest's `missing` list keeps every detail).
fn left_out(mut missing: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if missing.len() <= LEFT_OUT_ONE_BY_ONE {
        for d in &mut missing {
            d.severity = crate::diag::Severity::Warning;
        }
        return missing;
    }
    // "kubeadm v1.28.2 (binary; needed by …): why" -> "kubeadm v1.28.2"
    let names: Vec<&str> = missing
        .iter()
        .map(|d| {
            let what = d.message.split(": ").next().unwrap_or(&d.message);
            what.split(" (").next().unwrap_or(what)
        })
        .collect();
    vec![Diagnostic::warning(
        "BundleMissing",
        format!(
            "{} artifacts are not in --from and are left out (--allow-missing): {}. Put them in a --from directory (images as `docker save IMAGE -o FILE.tar`) or add --download; the bundle's manifest lists each under `missing`",
            names.len(),
            names.join(", ")
        ),
    )]
}

/// Refuses an output that is neither absent, empty, nor a previous bundle.
fn check_out(out: &Path) -> Result<(), String> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(format!("{} exists and is not a directory", out.display()));
    }
    let empty = std::fs::read_dir(out)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if empty || out.join(MANIFEST).is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} exists and is not a bundle (no {MANIFEST}): choose another -o, or empty it",
            out.display()
        ))
    }
}

fn link_or_copy(src: &Path, dest: &Path) -> std::io::Result<()> {
    if src == dest {
        return Ok(());
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(dest);
    if std::fs::hard_link(src, dest).is_err() {
        std::fs::copy(src, dest)?;
    }
    Ok(())
}

pub fn partial_dir(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

pub fn build(plan: &Plan, opts: &BuildOptions) -> Result<Built, Report> {
    let mut report = Report::default();
    let fail = |msg: String| {
        let mut r = Report::default();
        r.push(Diagnostic::error("BundleOutput", msg));
        r
    };
    check_out(&opts.out).map_err(fail)?;
    let stage = partial_dir(&opts.out);
    for k in [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image] {
        std::fs::create_dir_all(stage.join(k.dir()))
            .map_err(|e| fail(format!("{}: {e}", stage.display())))?;
    }
    let mut warnings = Vec::new();
    let mut notes = Vec::new();

    let mut pool = Pool::default();
    // The staging directory first: what an earlier failed build downloaded.
    pool.add_dir(&stage).map_err(fail)?;
    for dir in &opts.from {
        if let Err(e) = pool.add_dir(dir) {
            report.push(Diagnostic::error("BundleSource", format!("--from {e}")));
        }
    }
    warnings.append(&mut pool.skipped);

    // Packages missing from --from: apt on this machine, when allowed.
    let arch = plan.arch.as_str();
    if opts.download {
        let want: Vec<String> = plan
            .needs
            .iter()
            .filter(|n| n.kind == Kind::Deb && pool.best_deb(&n.name, arch, None).is_none())
            .map(|n| n.name.clone())
            .collect();
        if !want.is_empty() {
            let dl = stage.join("debs").join(".download");
            eprintln!(
                "downloading {} Debian package(s) and their dependencies with apt-get: {}",
                want.len(),
                want.join(" ")
            );
            match fetch::apt_download(&want, true, &dl) {
                Ok(skipped) => {
                    if !skipped.is_empty() {
                        warnings.push(format!(
                            "apt has no candidate for {} (virtual packages or unused alternatives): left out",
                            skipped.join(", ")
                        ));
                    }
                }
                Err(e) => report.push(Diagnostic::error("BundleDownload", e)),
            }
            pool.add_dir(&dl).map_err(fail)?;
        }
    }

    let http = Http::new();
    let mut chosen: Vec<Chosen> = Vec::new();
    for need in &plan.needs {
        let base = |src: PathBuf, path: String, version: String, source: String| Chosen {
            kind: need.kind,
            name: need.name.clone(),
            version,
            src,
            path,
            source,
            roles: need.roles.iter().copied().collect(),
            hosts: need.hosts.iter().cloned().collect(),
            depends: Vec::new(),
            dependency_of: BTreeSet::new(),
            extra: false,
        };
        match need.kind {
            Kind::Deb => match pool.best_deb(&need.name, arch, None) {
                Some((p, info)) => chosen.push(base(
                    p.clone(),
                    format!("debs/{}", info.file_name()),
                    info.version().to_string(),
                    source_of(p, &stage),
                )),
                None => report.push(missing(
                    need,
                    &format!(
                        "no {}_*_{{{arch},all}}.deb in --from{}",
                        need.name,
                        if opts.download { " and apt could not download it" } else { " (add --download to fetch it with apt)" }
                    ),
                )),
            },
            Kind::Rpm => match pool.rpms.iter().find(|(_, n)| *n == need.name) {
                Some((p, _)) => {
                    let file = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    let version = file
                        .strip_prefix(&format!("{}-", need.name))
                        .and_then(|v| v.strip_suffix(".rpm"))
                        .unwrap_or("")
                        .to_string();
                    chosen.push(base(p.clone(), format!("rpms/{file}"), version, source_of(p, &stage)))
                }
                None => report.push(missing(
                    need,
                    &format!("no {}-*.rpm in --from (RPMs are not downloaded; fetch them with yumdownloader --resolve)", need.name),
                )),
            },
            Kind::Binary | Kind::Image => {
                let mut names = vec![need.file_name().to_string()];
                if need.kind == Kind::Image {
                    names.push(format!("{}.gz", need.file_name()));
                }
                let candidates: Vec<&PathBuf> = names
                    .iter()
                    .filter_map(|n| pool.by_name.get(n))
                    .flatten()
                    .filter(|p| !p.starts_with(&stage) || p.parent() == Some(&stage.join(need.kind.dir())))
                    .collect();
                // Several files of that name (a tree of releases): the one
                // under a directory named for the version wins.
                let versioned = |p: &&PathBuf| {
                    !need.version.is_empty()
                        && p.components().any(|c| c.as_os_str().to_string_lossy() == need.version)
                };
                let found = candidates.iter().copied().find(versioned).or(candidates.first().copied());
                if candidates.len() > 1 && !candidates.iter().any(versioned) {
                    warnings.push(format!(
                        "several {} in --from, none under a {} directory; took {}",
                        need.file_name(),
                        need.version,
                        found.map(|p| p.display().to_string()).unwrap_or_default()
                    ));
                }
                let check = |p: &Path| match need.kind {
                    Kind::Image => files::check_image(p, &need.name),
                    _ => files::check_binary(p, need.file_name()).and_then(|()| sidecar_sha256(p)),
                };
                let dest_path = match found {
                    Some(p) if p.extension().is_some_and(|e| e == "gz") && need.kind == Kind::Image => {
                        format!("{}.gz", need.path)
                    }
                    _ => need.path.clone(),
                };
                match found {
                    Some(p) => match check(p) {
                        Ok(()) => chosen.push(base(p.clone(), dest_path, need.version.clone(), source_of(p, &stage))),
                        Err(e) => report.push(Diagnostic::error("BundleBadFile", format!("{}: {e}", need.title()))),
                    },
                    None if opts.download && need.kind == Kind::Image => {
                        let url = need.url.clone().unwrap_or_default();
                        let dest = stage.join(&need.path);
                        eprintln!("pulling {} ({url})", need.name);
                        match registry::pull(&http, &url, &need.name, arch, &dest)
                            .and_then(|_| files::check_image(&dest, &need.name))
                        {
                            Ok(()) => chosen.push(base(dest, need.path.clone(), need.version.clone(), url)),
                            Err(e) => report.push(Diagnostic::error("BundleDownload", format!("{}: {e}", need.title()))),
                        }
                    }
                    None if opts.download && need.kind == Kind::Binary => {
                        let url = need.url.clone().unwrap_or_default();
                        let dest = stage.join(&need.path);
                        eprintln!("downloading {url}");
                        match http
                            .download(&url, need.sha256_url.as_deref(), &dest)
                            .and_then(|f| files::check_binary(&dest, need.file_name()).map(|()| f).inspect_err(|_| {
                                let _ = std::fs::remove_file(&dest);
                            })) {
                            Ok(f) => {
                                if let Some(w) = f.unverified {
                                    notes.push(w.clone());
                                    warnings.push(w);
                                }
                                chosen.push(base(dest, need.path.clone(), need.version.clone(), url));
                            }
                            Err(e) => report.push(Diagnostic::error("BundleDownload", format!("{}: {e}", need.title()))),
                        }
                    }
                    None => {
                        let why = match need.kind {
                            Kind::Image => format!(
                                "no {} in --from: save it with `docker save {} -o {}` (or `skopeo copy docker://{} docker-archive:{}:{}`) into a --from directory, or add --download to pull it",
                                need.file_name(), need.name, need.file_name(), need.name, need.file_name(), need.name
                            ),
                            _ => format!(
                                "no {} in --from{}",
                                need.file_name(),
                                if opts.download { "" } else { " (add --download to fetch it)" }
                            ),
                        };
                        report.push(missing(need, &why));
                    }
                }
            }
        }
    }

    // Images beyond the plan.
    for p in &opts.extra_images {
        match files::image_refs(p) {
            Ok(refs) => {
                let name = refs.first().cloned().unwrap_or_else(|| {
                    p.file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                });
                let version = name
                    .rsplit_once(':')
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default();
                let mut path = format!("images/{}", super::needs::image_file_name(&name));
                if p.extension().is_some_and(|e| e == "gz") {
                    path.push_str(".gz");
                }
                if chosen.iter().any(|c| c.path == path) {
                    warnings.push(format!(
                        "--extra-image {}: {name} is already in the bundle",
                        p.display()
                    ));
                    continue;
                }
                chosen.push(Chosen {
                    kind: Kind::Image,
                    name,
                    version,
                    src: p.clone(),
                    path,
                    source: format!("extra {}", p.display()),
                    roles: plan.image_roles.iter().copied().collect(),
                    hosts: plan.image_hosts.iter().cloned().collect(),
                    depends: Vec::new(),
                    dependency_of: BTreeSet::new(),
                    extra: true,
                });
            }
            Err(e) => report.push(Diagnostic::error(
                "BundleBadFile",
                format!("--extra-image {e}"),
            )),
        }
    }

    // Dependencies of the chosen packages, from the same pool.
    let mut unresolved: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut queue: VecDeque<usize> = (0..chosen.len())
        .filter(|&i| chosen[i].kind == Kind::Deb)
        .collect();
    while let Some(i) = queue.pop_front() {
        let info = match deb::read_deb(&chosen[i].src) {
            Ok(info) => info,
            Err(e) => {
                report.push(Diagnostic::error("BundleBadFile", e));
                continue;
            }
        };
        let mut depends = Vec::new();
        for group in info.depends() {
            // Already chosen?
            let have = group.iter().find_map(|d| {
                chosen.iter().position(|c| {
                    c.kind == Kind::Deb && (c.name == d.name && d.satisfied_by(&c.version))
                })
            });
            let j = match have {
                Some(j) => Some(j),
                None => group
                    .iter()
                    .find_map(|d| pool.best_deb(&d.name, arch, Some(d)))
                    .map(|(p, dinfo)| {
                        if let Some(j) = chosen.iter().position(|c| {
                            c.kind == Kind::Deb
                                && c.name == dinfo.package()
                                && c.version == dinfo.version()
                        }) {
                            return j;
                        }
                        chosen.push(Chosen {
                            kind: Kind::Deb,
                            name: dinfo.package().to_string(),
                            version: dinfo.version().to_string(),
                            src: p.clone(),
                            path: format!("debs/{}", dinfo.file_name()),
                            source: source_of(p, &stage),
                            roles: BTreeSet::new(),
                            hosts: BTreeSet::new(),
                            depends: Vec::new(),
                            dependency_of: BTreeSet::new(),
                            extra: false,
                        });
                        queue.push_back(chosen.len() - 1);
                        chosen.len() - 1
                    }),
            };
            match j {
                Some(j) => {
                    if j != i {
                        depends.push(chosen[j].name.clone());
                    }
                }
                None => {
                    let alts: Vec<String> = group.iter().map(|d| d.to_string()).collect();
                    unresolved
                        .entry(alts.join(" | "))
                        .or_default()
                        .insert(chosen[i].name.clone());
                }
            }
        }
        depends.sort();
        depends.dedup();
        chosen[i].depends = depends;
    }
    // Roles and hosts flow from a package to what it depends on.
    let planned: BTreeSet<String> = plan
        .needs
        .iter()
        .filter(|n| n.kind == Kind::Deb)
        .map(|n| n.name.clone())
        .collect();
    loop {
        let mut changed = false;
        for i in 0..chosen.len() {
            if chosen[i].kind != Kind::Deb {
                continue;
            }
            for dep in chosen[i].depends.clone() {
                let (roles, hosts, name) = (
                    chosen[i].roles.clone(),
                    chosen[i].hosts.clone(),
                    chosen[i].name.clone(),
                );
                if let Some(j) = chosen
                    .iter()
                    .position(|c| c.kind == Kind::Deb && c.name == dep)
                {
                    let c = &mut chosen[j];
                    let before = (c.roles.len(), c.hosts.len(), c.dependency_of.len());
                    c.roles.extend(roles);
                    c.hosts.extend(hosts);
                    if !planned.contains(&c.name) {
                        c.dependency_of.insert(name);
                    }
                    changed |= before != (c.roles.len(), c.hosts.len(), c.dependency_of.len());
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (dep, by) in &unresolved {
        let w = format!(
            "{dep} (needed by {}) is not in the bundle: the hosts must already have it",
            by.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        notes.push(w.clone());
        warnings.push(w);
    }

    let mut missing_list = Vec::new();
    if opts.allow_missing {
        let (missing, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut report.items)
            .into_iter()
            .partition(|d| d.is_error() && d.name == "BundleMissing");
        report.items = rest;
        missing_list = missing.iter().map(|d| d.message.clone()).collect();
        report.items.extend(left_out(missing));
    }
    if report.has_errors() {
        return Err(report);
    }

    // Lay out, digest, index.
    let mut artifacts = Vec::new();
    let mut deb_stanzas = Vec::new();
    for c in &chosen {
        let dest = stage.join(&c.path);
        let placed = link_or_copy(&c.src, &dest).and_then(|()| hash::file_sums(&dest));
        let sums = match placed {
            Ok(s) => s,
            Err(e) => {
                report.push(Diagnostic::error(
                    "BundleOutput",
                    format!("{}: {e}", dest.display()),
                ));
                continue;
            }
        };
        if c.kind == Kind::Deb {
            match deb::read_deb(&dest) {
                Ok(info) => deb_stanzas.push(aptrepo::stanza(&info, &info.file_name(), &sums)),
                Err(e) => report.push(Diagnostic::error("BundleBadFile", e)),
            }
        }
        artifacts.push(Entry {
            kind: c.kind,
            name: c.name.clone(),
            version: c.version.clone(),
            path: c.path.clone(),
            sha256: sums.sha256,
            size: sums.size,
            roles: role_labels(&c.roles),
            hosts: c.hosts.iter().cloned().collect(),
            depends: c.depends.clone(),
            dependency_of: c.dependency_of.iter().cloned().collect(),
            source: c.source.clone(),
            extra: c.extra,
        });
    }
    let _ = std::fs::remove_dir_all(stage.join("debs").join(".download"));
    // Anything in the kind directories that is not an artifact is left over
    // from an earlier build: remove it so the bundle holds exactly the manifest.
    let keep: BTreeSet<PathBuf> = artifacts.iter().map(|a| stage.join(&a.path)).collect();
    for k in [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image] {
        if let Ok(rd) = std::fs::read_dir(stage.join(k.dir())) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    // Scratch space of downloads (`.download`, `*.blobs`).
                    let _ = std::fs::remove_dir_all(&p);
                } else if !keep.contains(&p) {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    let mut index = Vec::new();
    let debs_dir = stage.join("debs");
    if !deb_stanzas.is_empty() {
        if let Err(e) = aptrepo::write_index(&debs_dir, &deb_stanzas, opts.date_epoch) {
            report.push(Diagnostic::error(
                "BundleOutput",
                format!("{}: {e}", debs_dir.display()),
            ));
        }
        for f in aptrepo::INDEX_FILES {
            index_entry(&stage, &format!("debs/{f}"), &mut index, &mut report);
        }
    }
    if artifacts.iter().any(|a| a.kind == Kind::Rpm) {
        match createrepo(&stage.join("rpms")) {
            Ok(files) => {
                for f in files {
                    index_entry(&stage, &f, &mut index, &mut report);
                }
            }
            Err(note) => {
                warnings.push(note.clone());
                notes.push(note);
            }
        }
    }
    for k in [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image] {
        // Leave no empty kind directory behind.
        let _ = std::fs::remove_dir(stage.join(k.dir()));
    }
    artifacts.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.path.cmp(&b.path)));
    let manifest = Manifest {
        format: FORMAT,
        generator: concat!("ksinstall ", env!("CARGO_PKG_VERSION")).to_string(),
        arch: plan.arch.clone(),
        kube_version: plan.versions.kube.clone(),
        families: opts
            .families
            .iter()
            .map(|f| match f {
                Family::Deb => "deb".to_string(),
                Family::Rpm => "rpm".to_string(),
            })
            .collect(),
        artifacts,
        index,
        notes,
        missing: missing_list,
    };
    if let Err(e) = manifest.write(&stage) {
        report.push(Diagnostic::error(
            "BundleOutput",
            format!("{}: {e}", stage.display()),
        ));
    }
    if report.has_errors() {
        return Err(report);
    }
    // Swap in.
    if opts.out.exists() {
        std::fs::remove_dir_all(&opts.out)
            .map_err(|e| fail(format!("{}: {e}", opts.out.display())))?;
    }
    std::fs::rename(&stage, &opts.out).map_err(|e| {
        fail(format!(
            "{} -> {}: {e}",
            stage.display(),
            opts.out.display()
        ))
    })?;
    Ok(Built {
        manifest,
        warnings,
        report,
    })
}

fn source_of(p: &Path, stage: &Path) -> String {
    if p.starts_with(stage) {
        "download (earlier build)".into()
    } else {
        format!("from {}", p.display())
    }
}

/// `FILE.sha256` beside a `--from` file, when there is one, must match.
fn sidecar_sha256(p: &Path) -> Result<(), String> {
    let mut side = p.as_os_str().to_owned();
    side.push(".sha256");
    let side = PathBuf::from(side);
    let Ok(text) = std::fs::read_to_string(&side) else {
        return Ok(());
    };
    let want = hash::parse_sha256_text(&text)
        .ok_or_else(|| format!("{}: no SHA-256 in it", side.display()))?;
    let (have, _) = hash::file_sha256(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if have == want {
        Ok(())
    } else {
        Err(format!(
            "sha256 mismatch: {} is {have}, {} says {want}",
            p.display(),
            side.display()
        ))
    }
}

fn index_entry(stage: &Path, rel: &str, index: &mut Vec<IndexFile>, report: &mut Report) {
    match hash::file_sha256(&stage.join(rel)) {
        Ok((sha256, size)) => index.push(IndexFile {
            path: rel.to_string(),
            sha256,
            size,
        }),
        Err(e) => report.push(Diagnostic::error("BundleOutput", format!("{rel}: {e}"))),
    }
}

/// `createrepo_c rpms/` when the tool is there; the repodata files written,
/// or a note saying why there is no RPM index.
fn createrepo(dir: &Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new("createrepo_c")
        .arg("--quiet")
        .arg(dir)
        .output();
    match out {
        Err(_) => Err("rpms/ has no repodata: createrepo_c is not installed on the build machine (install it and rebuild, or run `createrepo_c rpms/` before installing)".into()),
        Ok(o) if !o.status.success() => Err(format!(
            "rpms/ has no repodata: createrepo_c failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => {
            let mut files = Vec::new();
            if let Ok(rd) = std::fs::read_dir(dir.join("repodata")) {
                for e in rd.flatten() {
                    files.push(format!("rpms/repodata/{}", e.file_name().to_string_lossy()));
                }
            }
            files.sort();
            Ok(files)
        }
    }
}
