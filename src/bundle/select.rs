//! One host's part of the bundle: what an offline install pushes to it, and
//! how apt (or yum) on the host is pointed at that local copy without
//! touching the host's own package sources.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use super::aptrepo;
use super::manifest::{Entry, IndexFile, Manifest};
use super::needs::{Kind, Need, Plan};
use crate::exec::Blob;

/// Where the installer puts the host's part of the bundle.
pub const HOST_DIR: &str = "/opt/ksinstall";
/// The flat apt repository (or RPM directory) on the host.
pub const HOST_REPO_DIR: &str = "/opt/ksinstall/repo";
/// apt's lists and cache for that repository, apart from the system's.
pub const HOST_APT_STATE_DIR: &str = "/opt/ksinstall/apt";
/// An RPM host's yum/dnf repository file for the bundle's `rpms/`, and
/// the id dnf knows it by.
pub const YUM_REPO_FILE: &str = "/etc/yum.repos.d/ksinstall.repo";
pub const YUM_REPO_ID: &str = "ksinstall";

#[derive(Debug, Clone, PartialEq)]
pub struct HostSelection {
    pub host: String,
    /// Every artifact the host gets: its packages with their dependencies,
    /// binaries, and image tarballs.
    pub entries: Vec<Entry>,
    /// The package names to install (the plan's; dependencies follow).
    pub packages: Vec<String>,
    /// What the plan wants for this host that the bundle lacks.
    pub missing: Vec<Need>,
    /// Repository indexes the host gets as the bundle has them (an RPM
    /// host's `rpms/repodata/*`; a Debian host's is written for it).
    pub index: Vec<IndexFile>,
}

impl HostSelection {
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.kind == kind)
    }

    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// The subset of the bundle `host` needs under `plan`.
pub fn for_host(m: &Manifest, plan: &Plan, host: &str) -> HostSelection {
    let mut entries: Vec<Entry> = Vec::new();
    let mut packages = Vec::new();
    let mut missing = Vec::new();
    let mut queue = VecDeque::new();
    for need in plan.for_host(host) {
        let version = match need.kind {
            Kind::Deb | Kind::Rpm => "",
            _ => need.version.as_str(),
        };
        match m.find(need.kind, &need.name, version) {
            Some(e) => {
                if matches!(need.kind, Kind::Deb | Kind::Rpm) {
                    packages.push(need.name.clone());
                }
                match e.kind {
                    Kind::Deb => queue.push_back(e.clone()),
                    // Added below, with every other RPM.
                    Kind::Rpm => {}
                    _ => entries.push(e.clone()),
                }
            }
            None => missing.push(need.clone()),
        }
    }
    // Extra images go where they were meant to when built.
    entries.extend(
        m.artifacts
            .iter()
            .filter(|e| e.extra && e.hosts.iter().any(|h| h == host))
            .cloned(),
    );
    // Packages bring the bundle packages they depend on.
    let mut seen = BTreeSet::new();
    while let Some(e) = queue.pop_front() {
        if !seen.insert(e.path.clone()) {
            continue;
        }
        for dep in &e.depends {
            if let Some(d) = m.find(Kind::Deb, dep, "") {
                queue.push_back(d.clone());
            }
        }
        entries.push(e);
    }
    let index = rpm_repository(m, plan, host, &mut entries);
    entries.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.path.cmp(&b.path)));
    HostSelection {
        host: host.to_string(),
        entries,
        packages,
        missing,
        index,
    }
}

/// RPM dependencies are not tracked here: a host the plan gives RPMs gets
/// every RPM of the bundle and the repodata that lists them, and dnf (or
/// yum) picks what it needs. Returns those index files.
fn rpm_repository(
    m: &Manifest,
    plan: &Plan,
    host: &str,
    entries: &mut Vec<Entry>,
) -> Vec<IndexFile> {
    if !plan.for_host(host).any(|n| n.kind == Kind::Rpm) {
        return Vec::new();
    }
    entries.extend(m.artifacts.iter().filter(|e| e.kind == Kind::Rpm).cloned());
    let dir = format!("{}/", Kind::Rpm.dir());
    (m.index.iter())
        .filter(|i| i.path.starts_with(&dir))
        .cloned()
        .collect()
}

fn link_or_copy(src: &Path, dest: &Path) -> Result<(), String> {
    if let Some(p) = dest.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let _ = std::fs::remove_file(dest);
    if std::fs::hard_link(src, dest).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dest)
        .map(|_| ())
        .map_err(|e| format!("{} -> {}: {e}", src.display(), dest.display()))
}

/// Writes the host's part of `bundle` into `dest`, as it is to be copied to
/// `HOST_DIR` on the host: `repo/` (its Debian packages and an index of
/// just those, or all RPMs with their repodata), `bin/`, `images/`.
pub fn stage(
    bundle: &Path,
    sel: &HostSelection,
    dest: &Path,
    date_epoch: u64,
) -> Result<(), String> {
    let repo = dest.join("repo");
    std::fs::create_dir_all(&repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    let mut debs = BTreeSet::new();
    for e in &sel.entries {
        if !super::verify::safe_rel(&e.path) {
            return Err(format!("{:?}: not a path inside the bundle", e.path));
        }
        let file = e.path.rsplit('/').next().unwrap_or(&e.path);
        let to = match e.kind {
            Kind::Deb | Kind::Rpm => repo.join(file),
            Kind::Binary => dest.join("bin").join(file),
            Kind::Image => dest.join("images").join(file),
        };
        link_or_copy(&bundle.join(&e.path), &to)?;
        if e.kind == Kind::Deb {
            debs.insert(file.to_string());
        }
    }
    if !debs.is_empty() {
        aptrepo::write_subset_index(&bundle.join(Kind::Deb.dir()), &debs, &repo, date_epoch)?;
    }
    // RPM dependencies are not tracked here: an RPM host gets the whole
    // rpms/ directory with its repodata, and yum picks what it needs.
    if sel.entries.iter().any(|e| e.kind == Kind::Rpm) {
        copy_tree(&bundle.join(Kind::Rpm.dir()), &repo)?;
    }
    Ok(())
}

fn copy_tree(src: &Path, dest: &Path) -> Result<(), String> {
    let rd = std::fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
    for e in rd.flatten() {
        let to = dest.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&e.path(), &to)?;
        } else {
            link_or_copy(&e.path(), &to)?;
        }
    }
    Ok(())
}

/// A host's part of the bundle in memory, in the shape the install phases
/// push: the repository's files (packages and an index of just those),
/// the package names to install, binaries and image tarballs by file name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostPayload {
    pub repo_files: Vec<(String, Blob)>,
    pub packages: Vec<String>,
    pub binaries: Vec<(String, Blob)>,
    pub images: Vec<(String, Blob)>,
}

/// Bundle files read so far, by path inside the bundle: each is read and
/// checked once, and held once, however many hosts get it.
pub type FileCache = BTreeMap<String, Blob>;

/// The host's part of `bundle` (see `for_host`), through `cache`. Every
/// file is checked against its manifest SHA-256 on the way, and left on
/// disk for the uploads to stream.
pub fn host_payload(
    bundle: &Path,
    sel: &HostSelection,
    date_epoch: u64,
    cache: &mut FileCache,
) -> Result<HostPayload, String> {
    let mut p = HostPayload {
        packages: sel.packages.clone(),
        ..HostPayload::default()
    };
    let mut debs = Vec::new();
    for e in &sel.entries {
        let data = cached(bundle, &e.path, &e.sha256, cache)?;
        let file = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
        match e.kind {
            Kind::Deb => {
                debs.push(file.clone());
                p.repo_files.push((file, data));
            }
            // Kept in rpms/ on the host, beside the repodata that lists it.
            Kind::Rpm => p.repo_files.push((e.path.clone(), data)),
            Kind::Binary => p.binaries.push((file, data)),
            Kind::Image => p.images.push((file, data)),
        }
    }
    for i in &sel.index {
        let data = cached(bundle, &i.path, &i.sha256, cache)?;
        p.repo_files.push((i.path.clone(), data));
    }
    if !debs.is_empty() {
        let keep: BTreeSet<String> = debs.into_iter().collect();
        let stanzas: Vec<_> = aptrepo::read_packages(&bundle.join(Kind::Deb.dir()))?
            .into_iter()
            .filter(|s| {
                s.get("Filename")
                    .is_some_and(|f| keep.contains(f.trim_start_matches("./")))
            })
            .collect();
        p.repo_files.extend(
            aptrepo::index_files(&stanzas, date_epoch)
                .into_iter()
                .map(|(name, data)| (name, Blob::from(data))),
        );
    }
    Ok(p)
}

/// The bundle file `rel` through `cache`: read and checked once.
fn cached(bundle: &Path, rel: &str, sha256: &str, cache: &mut FileCache) -> Result<Blob, String> {
    if !super::verify::safe_rel(rel) {
        return Err(format!("{rel:?}: not a path inside the bundle"));
    }
    if let Some(b) = cache.get(rel).filter(|b| b.sha256() == sha256) {
        return Ok(b.clone());
    }
    let b = read_checked(bundle, rel, sha256)?;
    cache.insert(rel.to_string(), b.clone());
    Ok(b)
}

/// A bundle file, read through and checked against its manifest SHA-256.
/// It stays on disk: uploads stream it (see `Blob::file`).
fn read_checked(bundle: &Path, rel: &str, sha256: &str) -> Result<Blob, String> {
    let path = super::verify::inside(bundle, rel)?;
    let blob = Blob::file(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    if blob.sha256() != sha256 {
        return Err(format!(
            "{rel}: sha256 {}, manifest.json says {sha256}: run `ksinstall bundle verify`",
            blob.sha256(),
        ));
    }
    Ok(blob)
}

/// The sources.list line for a flat repository in `repo_dir` on the host.
/// `trusted=yes`: the index is not signed; it came with the checked bundle.
pub fn apt_source_line(repo_dir: &str) -> String {
    format!("deb [trusted=yes] file:{repo_dir} ./")
}

/// apt pointed at the bundle's repository only, with its own lists and
/// cache: the host's sources.list, lists and cache are left as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalApt {
    pub repo_dir: String,
    pub state_dir: String,
}

impl Default for LocalApt {
    fn default() -> Self {
        LocalApt {
            repo_dir: HOST_REPO_DIR.into(),
            state_dir: HOST_APT_STATE_DIR.into(),
        }
    }
}

impl LocalApt {
    /// Directories to create before the first apt call.
    pub fn dirs(&self) -> Vec<String> {
        let s = &self.state_dir;
        vec![
            format!("{s}/lists/partial"),
            format!("{s}/cache/archives/partial"),
            format!("{s}/sources.list.d"),
        ]
    }

    /// The sources file to write, and its content.
    pub fn sources_list(&self) -> (String, String) {
        (
            format!("{}/sources.list", self.state_dir),
            apt_source_line(&self.repo_dir) + "\n",
        )
    }

    /// `-o` options for every apt-get call.
    pub fn options(&self) -> Vec<String> {
        let s = &self.state_dir;
        [
            format!("Dir::Etc::SourceList={s}/sources.list"),
            format!("Dir::Etc::SourceParts={s}/sources.list.d"),
            format!("Dir::State::Lists={s}/lists"),
            format!("Dir::Cache={s}/cache"),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    pub fn update_args(&self) -> Vec<String> {
        let mut a = self.options();
        a.push("update".into());
        a
    }

    pub fn install_args(&self, packages: &[String]) -> Vec<String> {
        let mut a = self.options();
        a.extend(["install", "-y", "--no-install-recommends"].map(String::from));
        a.extend(packages.iter().cloned());
        a
    }
}

/// The yum/dnf repository file (`YUM_REPO_FILE`) for the RPM directory
/// `rpm_dir` on the host, which holds the bundle's `rpms/` with its repodata.
pub fn yum_repo_file(rpm_dir: &str) -> String {
    [
        "# The offline bundle's RPMs, pushed by ksinstall.".to_string(),
        format!("[{YUM_REPO_ID}]"),
        "name=ksinstall offline bundle".into(),
        format!("baseurl=file://{rpm_dir}"),
        "enabled=1".into(),
        "# No signature check: every file here was checked on arrival against".into(),
        "# the sha256 the bundle's manifest.json gives it.".into(),
        "gpgcheck=0".into(),
        "# EL8+ module streams would otherwise hide same-named packages here.".into(),
        "module_hotfixes=1".into(),
        "# Read afresh: a new bundle brings new repodata.".into(),
        "metadata_expire=0".into(),
    ]
    .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_line_and_options() {
        assert_eq!(
            apt_source_line("/opt/ksinstall/repo"),
            "deb [trusted=yes] file:/opt/ksinstall/repo ./"
        );
        let apt = LocalApt::default();
        let o = apt.options();
        assert!(o.contains(&"Dir::State::Lists=/opt/ksinstall/apt/lists".to_string()));
        assert_eq!(apt.update_args().last().unwrap(), "update");
        let yum = yum_repo_file("/opt/ksinstall/repo/rpms");
        assert!(yum.contains("\n[ksinstall]\n"), "{yum}");
        assert!(
            yum.contains("\nbaseurl=file:///opt/ksinstall/repo/rpms\n"),
            "{yum}"
        );
        assert!(yum.contains("\ngpgcheck=0\n") && yum.contains("\nmodule_hotfixes=1\n"));
    }
}
