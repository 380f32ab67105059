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
use super::deb::{self, DebInfo, Paragraph};
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
    check_out(&opts.out).map_err(output_failure)?;
    let mut b = Builder::start(plan, opts)?;
    let mut pool = b.gather()?;
    b.apt_fill(&mut pool)?;
    let http = Http::new();
    for need in &plan.needs {
        b.choose(need, &pool, &http);
    }
    b.add_extra_images();
    let unresolved = b.resolve_depends(&pool);
    b.spread_roles();
    b.note_unresolved(&unresolved);
    let missing_list = b.set_missing_aside();
    if b.report.has_errors() {
        return Err(b.report);
    }
    let (mut artifacts, deb_stanzas) = b.lay_out();
    prune_stage(&b.stage, &artifacts);
    let index = b.write_indexes(&artifacts, &deb_stanzas);
    for k in KINDS {
        // Leave no empty kind directory behind.
        let _ = std::fs::remove_dir(b.stage.join(k.dir()));
    }
    artifacts.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.path.cmp(&b.path)));
    let manifest = b.manifest(artifacts, index, missing_list);
    if let Err(e) = manifest.write(&b.stage) {
        b.report.push(Diagnostic::error(
            "BundleOutput",
            format!("{}: {e}", b.stage.display()),
        ));
    }
    if b.report.has_errors() {
        return Err(b.report);
    }
    swap_in(&b.stage, &opts.out)?;
    Ok(Built {
        manifest,
        warnings: b.warnings,
        report: b.report,
    })
}

/// The kind directories, in the order they are made, pruned and removed.
const KINDS: [Kind; 4] = [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image];

/// A stage or output that cannot be written ends the build at once, with this error alone.
fn output_failure(msg: String) -> Report {
    let mut r = Report::default();
    r.push(Diagnostic::error("BundleOutput", msg));
    r
}

/// What the steps of one build share, so each step can add to the same findings.
struct Builder<'a> {
    plan: &'a Plan,
    opts: &'a BuildOptions,
    stage: PathBuf,
    report: Report,
    warnings: Vec<String>,
    notes: Vec<String>,
    chosen: Vec<Chosen>,
}

impl<'a> Builder<'a> {
    /// Every artifact is first placed in `<out>.partial`, so it must exist before anything is chosen.
    fn start(plan: &'a Plan, opts: &'a BuildOptions) -> Result<Self, Report> {
        let stage = partial_dir(&opts.out);
        for k in KINDS {
            std::fs::create_dir_all(stage.join(k.dir()))
                .map_err(|e| output_failure(format!("{}: {e}", stage.display())))?;
        }
        Ok(Builder {
            plan,
            opts,
            stage,
            report: Report::default(),
            warnings: Vec::new(),
            notes: Vec::new(),
            chosen: Vec::new(),
        })
    }

    /// An earlier failed build's downloads are reused, so the stage is read before `--from`.
    fn gather(&mut self) -> Result<Pool, Report> {
        let mut pool = Pool::default();
        pool.add_dir(&self.stage).map_err(output_failure)?;
        for dir in &self.opts.from {
            if let Err(e) = pool.add_dir(dir) {
                self.report
                    .push(Diagnostic::error("BundleSource", format!("--from {e}")));
            }
        }
        self.warnings.append(&mut pool.skipped);
        Ok(pool)
    }

    /// With `--download`, apt on this machine fills in the packages `--from` lacks.
    fn apt_fill(&mut self, pool: &mut Pool) -> Result<(), Report> {
        if !self.opts.download {
            return Ok(());
        }
        let arch = self.plan.arch.as_str();
        let want: Vec<String> = (self.plan.needs.iter())
            .filter(|n| n.kind == Kind::Deb && pool.best_deb(&n.name, arch, None).is_none())
            .map(|n| n.name.clone())
            .collect();
        if want.is_empty() {
            return Ok(());
        }
        let dl = self.stage.join("debs").join(".download");
        eprintln!(
            "downloading {} Debian package(s) and their dependencies with apt-get: {}",
            want.len(),
            want.join(" ")
        );
        match fetch::apt_download(&want, true, &dl) {
            Ok(skipped) => {
                if !skipped.is_empty() {
                    self.warnings.push(format!(
                        "apt has no candidate for {} (virtual packages or unused alternatives): left out",
                        skipped.join(", ")
                    ));
                }
            }
            Err(e) => self.report.push(Diagnostic::error("BundleDownload", e)),
        }
        pool.add_dir(&dl).map_err(output_failure)
    }

    /// Each kind of artifact is found (or fetched) its own way.
    fn choose(&mut self, need: &Need, pool: &Pool, http: &Http) {
        match need.kind {
            Kind::Deb => self.choose_deb(need, pool),
            Kind::Rpm => self.choose_rpm(need, pool),
            Kind::Binary | Kind::Image => match self.find_file(need, pool) {
                Some(p) => self.take_file(need, p),
                None if self.opts.download && need.kind == Kind::Image => {
                    self.pull_image(need, http)
                }
                None if self.opts.download && need.kind == Kind::Binary => {
                    self.download_binary(need, http)
                }
                None => self.no_file(need),
            },
        }
    }

    /// A planned package is taken at the newest version the pool has.
    fn choose_deb(&mut self, need: &Need, pool: &Pool) {
        let arch = self.plan.arch.as_str();
        match pool.best_deb(&need.name, arch, None) {
            Some((p, info)) => self.chosen.push(Chosen::of_need(
                need,
                p.clone(),
                format!("debs/{}", info.file_name()),
                info.version().to_string(),
                source_of(p, &self.stage),
            )),
            None => self.report.push(missing(
                need,
                &format!(
                    "no {}_*_{{{arch},all}}.deb in --from{}",
                    need.name,
                    if self.opts.download {
                        " and apt could not download it"
                    } else {
                        " (add --download to fetch it with apt)"
                    }
                ),
            )),
        }
    }

    /// RPMs are never downloaded: `--from` is their only source.
    fn choose_rpm(&mut self, need: &Need, pool: &Pool) {
        match pool.rpms.iter().find(|(_, n)| *n == need.name) {
            Some((p, _)) => {
                let file = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let version = file
                    .strip_prefix(&format!("{}-", need.name))
                    .and_then(|v| v.strip_suffix(".rpm"))
                    .unwrap_or("")
                    .to_string();
                let c = Chosen::of_need(need, p.clone(), format!("rpms/{file}"), version, source_of(p, &self.stage));
                self.chosen.push(c)
            }
            None => self.report.push(missing(
                need,
                &format!("no {}-*.rpm in --from (RPMs are not downloaded; fetch them with yumdownloader --resolve)", need.name),
            )),
        }
    }

    /// A tree of releases holds several files of one name: the one under the version's directory wins.
    fn find_file<'p>(&mut self, need: &Need, pool: &'p Pool) -> Option<&'p PathBuf> {
        let mut names = vec![need.file_name().to_string()];
        if need.kind == Kind::Image {
            names.push(format!("{}.gz", need.file_name()));
        }
        let own_dir = self.stage.join(need.kind.dir());
        let candidates: Vec<&PathBuf> = names
            .iter()
            .filter_map(|n| pool.by_name.get(n))
            .flatten()
            .filter(|p| !p.starts_with(&self.stage) || p.parent() == Some(&own_dir))
            .collect();
        let versioned = |p: &&PathBuf| {
            !need.version.is_empty()
                && p.components()
                    .any(|c| c.as_os_str().to_string_lossy() == need.version)
        };
        let found = candidates
            .iter()
            .copied()
            .find(versioned)
            .or(candidates.first().copied());
        if candidates.len() > 1 && !candidates.iter().any(versioned) {
            self.warnings.push(format!(
                "several {} in --from, none under a {} directory; took {}",
                need.file_name(),
                need.version,
                found.map(|p| p.display().to_string()).unwrap_or_default()
            ));
        }
        found
    }

    /// A file from `--from` is checked before it is trusted, so a wrong or damaged one stops the build.
    fn take_file(&mut self, need: &Need, p: &Path) {
        let checked = match need.kind {
            Kind::Image => files::check_image(p, &need.name),
            _ => files::check_binary(p, need.file_name()).and_then(|()| sidecar_sha256(p)),
        };
        let dest_path = if p.extension().is_some_and(|e| e == "gz") && need.kind == Kind::Image {
            format!("{}.gz", need.path)
        } else {
            need.path.clone()
        };
        let source = source_of(p, &self.stage);
        let chosen = checked.map(|()| {
            Chosen::of_need(
                need,
                p.to_path_buf(),
                dest_path,
                need.version.clone(),
                source,
            )
        });
        self.keep(need, chosen, "BundleBadFile");
    }

    /// The file chosen for `need`, or the error `name` saying why not.
    fn keep(&mut self, need: &Need, chosen: Result<Chosen, String>, name: &str) {
        match chosen {
            Ok(c) => self.chosen.push(c),
            Err(e) => self
                .report
                .push(Diagnostic::error(name, format!("{}: {e}", need.title()))),
        }
    }

    /// With `--download`, an image `--from` lacks is pulled from its registry.
    fn pull_image(&mut self, need: &Need, http: &Http) {
        let url = need.url.clone().unwrap_or_default();
        let dest = self.stage.join(&need.path);
        eprintln!("pulling {} ({url})", need.name);
        let chosen = registry::pull(http, &url, &need.name, &self.plan.arch, &dest)
            .and_then(|_| files::check_image(&dest, &need.name))
            .map(|()| Chosen::of_need(need, dest, need.path.clone(), need.version.clone(), url));
        self.keep(need, chosen, "BundleDownload");
    }

    /// With `--download`, a binary `--from` lacks is fetched, and a bad download is not kept for the next build.
    fn download_binary(&mut self, need: &Need, http: &Http) {
        let url = need.url.clone().unwrap_or_default();
        let dest = self.stage.join(&need.path);
        eprintln!("downloading {url}");
        match http
            .download(&url, need.sha256_url.as_deref(), &dest)
            .and_then(|f| {
                files::check_binary(&dest, need.file_name())
                    .map(|()| f)
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&dest);
                    })
            }) {
            Ok(f) => {
                if let Some(w) = f.unverified {
                    self.notes.push(w.clone());
                    self.warnings.push(w);
                }
                self.chosen.push(Chosen::of_need(
                    need,
                    dest,
                    need.path.clone(),
                    need.version.clone(),
                    url,
                ));
            }
            Err(e) => self.report.push(Diagnostic::error(
                "BundleDownload",
                format!("{}: {e}", need.title()),
            )),
        }
    }

    /// A missing file is reported with how to supply it, which differs for images.
    fn no_file(&mut self, need: &Need) {
        let why = match need.kind {
            Kind::Image => format!(
                "no {} in --from: save it with `docker save {} -o {}` (or `skopeo copy docker://{} docker-archive:{}:{}`) into a --from directory, or add --download to pull it",
                need.file_name(), need.name, need.file_name(), need.name, need.file_name(), need.name
            ),
            _ => format!(
                "no {} in --from{}",
                need.file_name(),
                if self.opts.download { "" } else { " (add --download to fetch it)" }
            ),
        };
        self.report.push(missing(need, &why));
    }

    /// `--extra-image` tarballs ride along to the hosts that get images, though no plan row names them.
    fn add_extra_images(&mut self) {
        for p in &self.opts.extra_images {
            match files::image_refs(p) {
                Ok(refs) => {
                    let c = Chosen::extra_image(p, refs, self.plan);
                    if self.chosen.iter().any(|have| have.path == c.path) {
                        let name = &c.name;
                        self.warnings.push(format!(
                            "--extra-image {}: {name} is already in the bundle",
                            p.display()
                        ));
                        continue;
                    }
                    self.chosen.push(c);
                }
                Err(e) => self.report.push(Diagnostic::error(
                    "BundleBadFile",
                    format!("--extra-image {e}"),
                )),
            }
        }
    }

    /// Hosts are offline, so chosen packages' dependencies come along; returns those the pool lacks.
    fn resolve_depends(&mut self, pool: &Pool) -> BTreeMap<String, BTreeSet<String>> {
        let mut unresolved: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut queue: VecDeque<usize> = (0..self.chosen.len())
            .filter(|&i| self.chosen[i].kind == Kind::Deb)
            .collect();
        while let Some(i) = queue.pop_front() {
            let info = match deb::read_deb(&self.chosen[i].src) {
                Ok(info) => info,
                Err(e) => {
                    self.report.push(Diagnostic::error("BundleBadFile", e));
                    continue;
                }
            };
            let mut depends = Vec::new();
            for group in info.depends() {
                match self.satisfy(&group, pool, &mut queue) {
                    Some(j) => {
                        if j != i {
                            depends.push(self.chosen[j].name.clone());
                        }
                    }
                    None => {
                        let alts: Vec<String> = group.iter().map(|d| d.to_string()).collect();
                        unresolved
                            .entry(alts.join(" | "))
                            .or_default()
                            .insert(self.chosen[i].name.clone());
                    }
                }
            }
            depends.sort();
            depends.dedup();
            self.chosen[i].depends = depends;
        }
        unresolved
    }

    /// Reusing a chosen package keeps one copy per package; a new one is queued for its own dependencies.
    fn satisfy(
        &mut self,
        group: &[deb::Dep],
        pool: &Pool,
        queue: &mut VecDeque<usize>,
    ) -> Option<usize> {
        let have = group.iter().find_map(|d| {
            self.chosen.iter().position(|c| {
                c.kind == Kind::Deb && (c.name == d.name && d.satisfied_by(&c.version))
            })
        });
        if have.is_some() {
            return have;
        }
        let arch = self.plan.arch.as_str();
        let (p, dinfo) = group
            .iter()
            .find_map(|d| pool.best_deb(&d.name, arch, Some(d)))?;
        if let Some(j) = self.chosen.iter().position(|c| {
            c.kind == Kind::Deb && c.name == dinfo.package() && c.version == dinfo.version()
        }) {
            return Some(j);
        }
        self.chosen.push(Chosen {
            kind: Kind::Deb,
            name: dinfo.package().to_string(),
            version: dinfo.version().to_string(),
            src: p.clone(),
            path: format!("debs/{}", dinfo.file_name()),
            source: source_of(p, &self.stage),
            roles: BTreeSet::new(),
            hosts: BTreeSet::new(),
            depends: Vec::new(),
            dependency_of: BTreeSet::new(),
            extra: false,
        });
        queue.push_back(self.chosen.len() - 1);
        Some(self.chosen.len() - 1)
    }

    /// A dependency goes to every host (and role) of what depends on it, however deep the chain.
    fn spread_roles(&mut self) {
        let planned: BTreeSet<String> = (self.plan.needs.iter())
            .filter(|n| n.kind == Kind::Deb)
            .map(|n| n.name.clone())
            .collect();
        let chosen = &mut self.chosen;
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
    }

    /// A dependency left out is not an error, but the hosts must have it: say so now and in the manifest.
    fn note_unresolved(&mut self, unresolved: &BTreeMap<String, BTreeSet<String>>) {
        for (dep, by) in unresolved {
            let w = format!(
                "{dep} (needed by {}) is not in the bundle: the hosts must already have it",
                by.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            self.notes.push(w.clone());
            self.warnings.push(w);
        }
    }

    /// Under `--allow-missing` missing artifacts are warnings, not errors; returns them for the manifest.
    fn set_missing_aside(&mut self) -> Vec<String> {
        if !self.opts.allow_missing {
            return Vec::new();
        }
        let (missing, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.report.items)
            .into_iter()
            .partition(|d| d.is_error() && d.name == "BundleMissing");
        self.report.items = rest;
        let missing_list = missing.iter().map(|d| d.message.clone()).collect();
        self.report.items.extend(left_out(missing));
        missing_list
    }

    /// The digests and the apt index must describe the files as placed in the stage, not their sources.
    fn lay_out(&mut self) -> (Vec<Entry>, Vec<Paragraph>) {
        let mut artifacts = Vec::new();
        let mut deb_stanzas = Vec::new();
        for c in &self.chosen {
            let dest = self.stage.join(&c.path);
            let placed = link_or_copy(&c.src, &dest).and_then(|()| hash::file_sums(&dest));
            let sums = match placed {
                Ok(s) => s,
                Err(e) => {
                    self.report.push(Diagnostic::error(
                        "BundleOutput",
                        format!("{}: {e}", dest.display()),
                    ));
                    continue;
                }
            };
            if c.kind == Kind::Deb {
                match deb::read_deb(&dest) {
                    Ok(info) => deb_stanzas.push(aptrepo::stanza(&info, &info.file_name(), &sums)),
                    Err(e) => self.report.push(Diagnostic::error("BundleBadFile", e)),
                }
            }
            artifacts.push(c.entry(sums));
        }
        (artifacts, deb_stanzas)
    }

    /// Hosts install packages through their own package manager, which needs a repository index.
    fn write_indexes(&mut self, artifacts: &[Entry], deb_stanzas: &[Paragraph]) -> Vec<IndexFile> {
        let mut index = Vec::new();
        let debs_dir = self.stage.join("debs");
        if !deb_stanzas.is_empty() {
            if let Err(e) = aptrepo::write_index(&debs_dir, deb_stanzas, self.opts.date_epoch) {
                self.report.push(Diagnostic::error(
                    "BundleOutput",
                    format!("{}: {e}", debs_dir.display()),
                ));
            }
            for f in aptrepo::INDEX_FILES {
                index_entry(
                    &self.stage,
                    &format!("debs/{f}"),
                    &mut index,
                    &mut self.report,
                );
            }
        }
        if artifacts.iter().any(|a| a.kind == Kind::Rpm) {
            match createrepo(&self.stage.join("rpms")) {
                Ok(files) => {
                    for f in files {
                        index_entry(&self.stage, &f, &mut index, &mut self.report);
                    }
                }
                Err(note) => {
                    self.warnings.push(note.clone());
                    self.notes.push(note);
                }
            }
        }
        index
    }

    /// The manifest is what `verify` and the installer trust, so it is assembled from the placed files only.
    fn manifest(
        &mut self,
        artifacts: Vec<Entry>,
        index: Vec<IndexFile>,
        missing: Vec<String>,
    ) -> Manifest {
        Manifest {
            format: FORMAT,
            generator: concat!("ksinstall ", env!("CARGO_PKG_VERSION")).to_string(),
            arch: self.plan.arch.clone(),
            kube_version: self.plan.versions.kube.clone(),
            families: (self.opts.families.iter())
                .map(|f| match f {
                    Family::Deb => "deb".to_string(),
                    Family::Rpm => "rpm".to_string(),
                })
                .collect(),
            artifacts,
            index,
            notes: std::mem::take(&mut self.notes),
            missing,
        }
    }
}

impl Chosen {
    /// A planned artifact starts with the plan's hosts and roles; dependencies are filled in later.
    fn of_need(need: &Need, src: PathBuf, path: String, version: String, source: String) -> Chosen {
        Chosen {
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
        }
    }

    /// An extra image has no plan row, so its name, tag and path come from the tarball itself.
    fn extra_image(p: &Path, refs: Vec<String>, plan: &Plan) -> Chosen {
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
        Chosen {
            kind: Kind::Image,
            name,
            version,
            src: p.to_path_buf(),
            path,
            source: format!("extra {}", p.display()),
            roles: plan.image_roles.iter().copied().collect(),
            hosts: plan.image_hosts.iter().cloned().collect(),
            depends: Vec::new(),
            dependency_of: BTreeSet::new(),
            extra: true,
        }
    }

    /// The manifest records a placed file with the digests of the copy, not of its source.
    fn entry(&self, sums: hash::Sums) -> Entry {
        Entry {
            kind: self.kind,
            name: self.name.clone(),
            version: self.version.clone(),
            path: self.path.clone(),
            sha256: sums.sha256,
            size: sums.size,
            roles: role_labels(&self.roles),
            hosts: self.hosts.iter().cloned().collect(),
            depends: self.depends.clone(),
            dependency_of: self.dependency_of.iter().cloned().collect(),
            source: self.source.clone(),
            extra: self.extra,
        }
    }
}

/// A reused stage may hold files of an earlier build: the bundle must hold exactly the manifest.
fn prune_stage(stage: &Path, artifacts: &[Entry]) {
    let _ = std::fs::remove_dir_all(stage.join("debs").join(".download"));
    let keep: BTreeSet<PathBuf> = artifacts.iter().map(|a| stage.join(&a.path)).collect();
    for k in KINDS {
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
}

/// `<out>` must only ever be absent, the previous bundle or a whole new one: replace it last.
fn swap_in(stage: &Path, out: &Path) -> Result<(), Report> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .map_err(|e| output_failure(format!("{}: {e}", out.display())))?;
    }
    std::fs::rename(stage, out)
        .map_err(|e| output_failure(format!("{} -> {}: {e}", stage.display(), out.display())))
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
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    let want = hash::parse_sha256_text(&text, &name)
        .ok_or_else(|| format!("{}: no SHA-256 of {name} in it", side.display()))?;
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
