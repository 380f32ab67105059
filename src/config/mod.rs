//! `conf/vars.yml` (1.0, 2.0) or `conf/common.yaml` + `conf/plugin-*.yaml`
//! (2.1), read into one typed configuration.
//!
//! Every `*.yaml`/`*.yml` in the conf directory is merged in name order, a
//! later file winning (what the 2.1 precheck did); historical key spellings
//! map onto one name (`keys::ALIASES`); boolean keys accept YAML 1.1's
//! `yes/no/on/off`; `{{ ... }}` in values is resolved against the other keys
//! where it can be, and left for install time where it names a host fact.

pub mod keys;
pub mod kubekey;
pub mod limits;
pub mod mistakes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_yaml::Value as Yaml;

use crate::diag::{Diagnostic, Report};

/// One effective setting and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: Yaml,
    /// `None` for a built-in default.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// The spelling the user wrote (may be a legacy alias).
    pub spelled: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl KubeVersion {
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let s = s.trim().trim_start_matches('v');
        let mut it = s.splitn(3, '.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch_text = it.next().unwrap_or("0");
        let digits: String = patch_text
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let patch = digits.parse().ok()?;
        Some(KubeVersion {
            major,
            minor,
            patch,
        })
    }

    pub fn minor_at_least(&self, minor: u32) -> bool {
        self.major > 1 || (self.major == 1 && self.minor >= minor)
    }
}

/// The container runtime (`container_manager`), decided once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The legacy default; through cri-dockerd from Kubernetes 1.24.
    Docker,
    Containerd,
}

impl Runtime {
    /// Its systemd service, and the value of `container_manager`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkPlugin {
    Calico,
    Flannel,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub plugin: NetworkPlugin,
    pub service_cidr: IpNet,
    pub pod_cidr: IpNet,
    pub node_prefix: u8,
    pub proxy_mode: String,
    pub max_pods: u32,
    pub dns_domain: String,
}

/// `loadbalancer_apiserver`: an external load balancer in front of the masters.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancer {
    pub address: String,
    pub port: u16,
    pub domain: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    LocalVolume,
    QingcloudCsi,
    CephRbd,
    NfsClient,
    NeonsanCsi,
    GlusterFs,
    AlicloudDiskCsi,
    TencentCbsCsi,
    NfsServer,
    OpenEbsHostpath,
}

impl StorageKind {
    /// In the order the legacy ks-installer picked KubeSphere's own class.
    pub const ALL: [StorageKind; 10] = [
        StorageKind::LocalVolume,
        StorageKind::QingcloudCsi,
        StorageKind::CephRbd,
        StorageKind::NfsClient,
        StorageKind::NeonsanCsi,
        StorageKind::GlusterFs,
        StorageKind::AlicloudDiskCsi,
        StorageKind::TencentCbsCsi,
        StorageKind::NfsServer,
        StorageKind::OpenEbsHostpath,
    ];

    /// The key prefix: `<prefix>_enabled`, `<prefix>_is_default_class`.
    pub fn prefix(self) -> &'static str {
        match self {
            StorageKind::LocalVolume => "local_volume",
            StorageKind::QingcloudCsi => "qingcloud_csi",
            StorageKind::CephRbd => "ceph_rbd",
            StorageKind::NfsClient => "nfs_client",
            StorageKind::NeonsanCsi => "neonsan_csi",
            StorageKind::GlusterFs => "glusterfs_provisioner",
            StorageKind::AlicloudDiskCsi => "alicloud_disk_csi",
            StorageKind::TencentCbsCsi => "tencentcloud_cbs_csi",
            StorageKind::NfsServer => "nfs_server",
            StorageKind::OpenEbsHostpath => "openebs_hostpath",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StorageKind::LocalVolume => "local volume",
            StorageKind::QingcloudCsi => "QingCloud CSI",
            StorageKind::CephRbd => "Ceph RBD",
            StorageKind::NfsClient => "NFS client",
            StorageKind::NeonsanCsi => "NeonSAN CSI",
            StorageKind::GlusterFs => "GlusterFS",
            StorageKind::AlicloudDiskCsi => "Alibaba Cloud disk CSI",
            StorageKind::TencentCbsCsi => "Tencent Cloud CBS CSI",
            StorageKind::NfsServer => "NFS server in Kubernetes",
            StorageKind::OpenEbsHostpath => "OpenEBS hostpath",
        }
    }

    /// The key that names the class, or the fixed name the legacy charts used.
    fn class_name(self, cfg: &Config) -> String {
        match self {
            StorageKind::LocalVolume => cfg.text("local_volume_storage_class"),
            StorageKind::CephRbd => cfg.text("ceph_rbd_storage_class"),
            StorageKind::GlusterFs => cfg.text("glusterfs_provisioner_storage_class"),
            StorageKind::OpenEbsHostpath => cfg.text("openebs_hostpath_storage_class"),
            StorageKind::QingcloudCsi => "csi-qingcloud".into(),
            StorageKind::NfsClient => "nfs-client".into(),
            StorageKind::NeonsanCsi => "csi-neonsan".into(),
            StorageKind::AlicloudDiskCsi => "csi-alibabacloud-disk".into(),
            StorageKind::TencentCbsCsi => "csi-tencentcloud-cbs".into(),
            StorageKind::NfsServer => "nfs".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageClass {
    pub kind: StorageKind,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The files read, in merge order.
    pub files: Vec<PathBuf>,
    /// Every effective setting by its current key name (user-set or default).
    pub settings: BTreeMap<String, Setting>,
    pub ks_version: String,
    pub kube_version: KubeVersion,
    pub etcd_version: String,
    pub network: Network,
    pub runtime: Runtime,
    pub load_balancer: Option<LoadBalancer>,
    /// Enabled storage classes, in the legacy order.
    pub storage: Vec<StorageClass>,
    pub console_port: u16,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.settings.get(key).map(|s| &s.value)
    }

    /// A setting given as a YAML list or a comma-separated string, its
    /// blank items left out.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Yaml::Sequence(items)) => items
                .iter()
                .map(yaml_text)
                .filter(|s| !s.trim().is_empty())
                .collect(),
            Some(Yaml::String(s)) => s
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A setting as text ("" when absent).
    pub fn text(&self, key: &str) -> String {
        self.get(key).map(yaml_text).unwrap_or_default()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(yaml_bool).unwrap_or(false)
    }

    /// Is the setting a placeholder the sample files ship (`SHOULD_BE_REPLACED`, ...)?
    pub fn is_unset(&self, key: &str) -> bool {
        match self.get(key) {
            None | Some(Yaml::Null) => true,
            Some(Yaml::Sequence(items)) => {
                items.is_empty() || items.iter().all(|v| is_placeholder(&yaml_text(v)))
            }
            Some(v) => is_placeholder(&yaml_text(v)),
        }
    }

    pub fn location(&self, key: &str) -> Option<(PathBuf, Option<usize>)> {
        let s = self.settings.get(key)?;
        Some((s.file.clone()?, s.line))
    }

    /// A diagnostic pinned to where `key` was set (or to no file for defaults).
    pub fn diag_at(&self, d: Diagnostic, key: &str) -> Diagnostic {
        match self.location(key) {
            Some((file, line)) => d.at(&file, line),
            None => d,
        }
    }

    /// Where Kubernetes' images come from: `kube_image_repo` when the user set
    /// it, else the upstream registry of that release (k8s.gcr.io moved to
    /// registry.k8s.io with 1.25). The renderer and the bundle both use this.
    pub fn kube_image_repo(&self) -> String {
        match self.settings.get("kube_image_repo") {
            Some(s) if s.file.is_some() => yaml_text(&s.value),
            _ if self.kube_version.minor_at_least(25) => "registry.k8s.io".into(),
            _ => "k8s.gcr.io".into(),
        }
    }

    pub fn default_storage(&self) -> Vec<&StorageClass> {
        self.storage.iter().filter(|s| s.is_default).collect()
    }

    /// The whole configuration as template variables.
    pub fn vars(&self) -> BTreeMap<String, Yaml> {
        self.settings
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }
}

/// Values the sample files ship where a password or secret goes, spelled
/// as the samples spell them.
pub const PLACEHOLDER_SECRETS: &[&str] = &["SHOULD_BE_REPLACED", "CHANGE_ME", "PASSWORD"];

fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || PLACEHOLDER_SECRETS.contains(&t)
        || t.starts_with("TYPE_")
        || matches!(
            t,
            "ACCESS_KEY_ID" | "ACCESS_KEY_SECRET" | "ZONE" | "IP:PORT" | "CLUSTER_NAME"
        )
}

pub fn yaml_text(v: &Yaml) -> String {
    match v {
        Yaml::Null => String::new(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

/// YAML 1.1 booleans as PyYAML (and so the legacy installer) read them.
pub fn yaml_bool(v: &Yaml) -> Option<bool> {
    match v {
        Yaml::Bool(b) => Some(*b),
        Yaml::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
            "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The conf files to merge: every `*.yaml`/`*.yml` but a KubeKey cluster file.
pub fn conf_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml") | Some("yml")
                )
        })
        .filter(|p| !kubekey::looks_like_kubekey(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and merges the files of a conf directory. Errors and warnings go to
/// `report`; a config is returned whenever the files could be read at all.
pub fn load_dir(dir: &Path, report: &mut Report) -> Option<Config> {
    let files = match conf_files(dir) {
        Ok(f) => f,
        Err(e) => {
            report.push(
                Diagnostic::error("ConfigFile", format!("cannot read the conf directory: {e}"))
                    .at(dir, None),
            );
            return None;
        }
    };
    if files.is_empty() {
        report.push(
            Diagnostic::warning(
                "ConfigFile",
                "no vars.yml or common.yaml found: using the built-in defaults (see conf/vars.yml in the installer)",
            )
            .at(dir, None),
        );
    }
    let mut raw: Vec<(PathBuf, String)> = Vec::new();
    for f in &files {
        match limits::read(f) {
            Ok(text) => raw.push((f.clone(), text)),
            Err(e) => report
                .push(Diagnostic::error("ConfigFile", format!("cannot read: {e}")).at(f, None)),
        }
    }
    from_texts(&raw, report)
}

/// Merges already-read files (path, text) in the order given.
pub fn from_texts(files: &[(PathBuf, String)], report: &mut Report) -> Option<Config> {
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    for (path, text) in files {
        let map = match parse_mapping(path, text) {
            Ok(m) => m,
            Err(d) => {
                report.push(d);
                continue;
            }
        };
        report.extend(nested_known_keys(path, text, &map));
        let lines = key_lines(text);
        for (key, value) in map {
            let line = lines.get(&key).copied();
            let canon = keys::canonical(&key).to_string();
            if !keys::is_known(&key) {
                let hint = keys::suggest(&key)
                    .map(|s| format!(" Did you mean '{s}'?"))
                    .unwrap_or_default();
                report.push(
                    Diagnostic::warning(
                        "UnknownKey",
                        format!("'{key}' is not a key this installer knows; it is kept and passed to the templates as is.{hint}"),
                    )
                    .at(path, line),
                );
            } else if canon != key {
                log::debug!("{}: legacy key {key} read as {canon}", path.display());
            }
            let mut value = value;
            if keys::BOOLEAN_KEYS.contains(&canon.as_str()) {
                match yaml_bool(&value) {
                    Some(b) => value = Yaml::Bool(if keys::INVERTED.contains(&key.as_str()) { !b } else { b }),
                    None if value.is_null() => {}
                    None => report.push(
                        Diagnostic::error(
                            "ConfigValue",
                            format!("'{key}' must be true or false (yes/no/on/off are accepted), not {:?}", yaml_text(&value)),
                        )
                        .at(path, line),
                    ),
                }
            }
            if let Some(prev) = settings.get(&canon) {
                if prev.spelled != key && prev.file.as_ref() == Some(path) {
                    report.push(
                        Diagnostic::warning(
                            "DuplicateKey",
                            format!(
                                "'{key}' and '{}' set the same thing; the later one wins",
                                prev.spelled
                            ),
                        )
                        .at(path, line),
                    );
                }
            }
            settings.insert(
                canon,
                Setting {
                    value,
                    file: Some(path.clone()),
                    line,
                    spelled: key,
                },
            );
        }
    }
    for (key, default) in keys::DEFAULTS {
        settings.entry(key.to_string()).or_insert_with(|| Setting {
            value: serde_yaml::from_str(default)
                .unwrap_or_else(|_| Yaml::String(default.to_string())),
            file: None,
            line: None,
            spelled: key.to_string(),
        });
    }
    resolve_templates(&mut settings, report);
    Some(typed(
        files.iter().map(|(p, _)| p.clone()).collect(),
        settings,
        report,
    ))
}

/// Every key of these files is top-level: a known key found indented under
/// another known key would be silently lost (and the outer key would get a
/// mapping for a value). A key with a colon inside is named too.
fn nested_known_keys(path: &Path, text: &str, map: &[(String, Yaml)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (outer, value) in map {
        out.extend(mistakes::colon_keys("ConfigSyntax", path, text, value));
        let Some(inner) = value.as_mapping().filter(|_| keys::is_known(outer)) else {
            continue;
        };
        let from = mistakes::line_of(text, &format!("{outer}:"), 1).unwrap_or(1);
        for key in inner
            .keys()
            .filter_map(Yaml::as_str)
            .filter(|k| keys::is_known(k))
        {
            out.push(
                Diagnostic::error(
                    "NestedKey",
                    format!("`{key}:` is indented under `{outer}:`, so neither is set: every key of this file is top-level; start `{key}:` at column 0"),
                )
                .at(path, mistakes::line_of(text, &format!("{key}:"), from)),
            );
        }
    }
    out
}

fn parse_mapping(path: &Path, text: &str) -> Result<Vec<(String, Yaml)>, Diagnostic> {
    if let Some(d) = brackets_too_deep("ConfigSyntax", path, text) {
        return Err(d);
    }
    let doc: Yaml = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        mistakes::tab_error("ConfigSyntax", path, text).unwrap_or_else(|| {
            Diagnostic::error("ConfigSyntax", format!("not valid YAML: {e}")).at(path, line)
        })
    })?;
    match doc {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Mapping(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s,
                    other => yaml_text(&other),
                };
                out.push((key, v));
            }
            Ok(out)
        }
        _ => Err(Diagnostic::error(
            "ConfigSyntax",
            "the file must be a mapping of `key: value` lines",
        )
        .at(path, Some(1))),
    }
}

/// Line of each top-level key (keys start at column 0 in these files).
/// The error for brackets nested past [`limits::MAX_FLOW_DEPTH`], found
/// before the YAML parser would spend minutes on them.
pub fn brackets_too_deep(name: &str, path: &Path, text: &str) -> Option<Diagnostic> {
    let line = limits::too_deep(text)?;
    Some(
        Diagnostic::error(
            name,
            format!(
                "`[` and `{{` nested more than {} deep: not a configuration value; write the setting as the sample shows",
                limits::MAX_FLOW_DEPTH
            ),
        )
        .at(path, Some(line)),
    )
}

fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        if let Some((key, _)) = line.split_once(':') {
            let key = key.trim().trim_matches(['"', '\'']);
            if !key.is_empty() {
                out.insert(key.to_string(), i + 1);
            }
        }
    }
    out
}

/// Resolves `{{ }}` in string values against the other settings, a few rounds
/// deep; what names something unknown here (a host fact) stays for later.
fn resolve_templates(settings: &mut BTreeMap<String, Setting>, report: &mut Report) {
    for _round in 0..5 {
        let ctx: BTreeMap<String, Yaml> = settings
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_fuel(Some(limits::TEMPLATE_FUEL));
        let mut changed = false;
        for (key, s) in settings.iter_mut() {
            let Yaml::String(text) = &s.value else {
                continue;
            };
            if !(text.contains("{{") || text.contains("{%")) {
                continue;
            }
            match env.render_str(text, &ctx) {
                Ok(out) if &out != text => {
                    s.value = serde_yaml::from_str::<Yaml>(&out)
                        .ok()
                        .filter(|v| !matches!(v, Yaml::Mapping(_) | Yaml::Sequence(_)))
                        .unwrap_or(Yaml::String(out));
                    changed = true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => {}
                Err(e) => {
                    let why = if e.kind() == minijinja::ErrorKind::OutOfFuel {
                        format!("it takes more than {} steps, so it was stopped: a setting's value is a plain value or a short `{{{{ other_setting }}}}` reference", limits::TEMPLATE_FUEL)
                    } else {
                        e.to_string()
                    };
                    let d = Diagnostic::error(
                        "ConfigTemplate",
                        format!("'{key}': cannot evaluate the expression: {why}"),
                    );
                    report.push(match &s.file {
                        Some(f) => d.at(f, s.line),
                        None => d,
                    });
                    s.value = Yaml::String(String::new());
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Settings from a KubeKey cluster file win over conf/ (they are the more
/// specific file): version, network, registry and control-plane endpoint.
pub fn apply_kubekey(
    cfg: Config,
    path: &Path,
    kk: &kubekey::KkFile,
    report: &mut Report,
) -> Config {
    let mut settings = cfg.settings;
    let mut set = |key: &str, value: Yaml| {
        settings.insert(
            key.to_string(),
            Setting {
                value,
                file: Some(path.to_path_buf()),
                line: None,
                spelled: key.to_string(),
            },
        );
    };
    let text = |s: &Option<String>| s.clone().map(Yaml::String);
    for (key, value) in [
        ("kube_version", text(&kk.kube_version)),
        ("kube_pods_subnet", text(&kk.pod_cidr)),
        ("kube_service_addresses", text(&kk.service_cidr)),
        ("kube_network_plugin", text(&kk.network_plugin)),
        ("apiserver_loadbalancer_domain_name", text(&kk.lb_domain)),
    ] {
        if let Some(v) = value {
            set(key, v);
        }
    }
    if let Some(address) = &kk.lb_address {
        let mut m = serde_yaml::Mapping::new();
        m.insert("address".into(), Yaml::String(address.clone()));
        m.insert(
            "port".into(),
            Yaml::Number(kk.lb_port.unwrap_or(6443).into()),
        );
        set("loadbalancer_apiserver", Yaml::Mapping(m));
    }
    let list = |items: &[String]| Yaml::Sequence(items.iter().cloned().map(Yaml::String).collect());
    if !kk.registry_mirrors.is_empty() {
        set("docker_registry_mirrors", list(&kk.registry_mirrors));
    }
    if !kk.insecure_registries.is_empty() {
        set("docker_insecure_registries", list(&kk.insecure_registries));
    }
    for (key, value) in &kk.settings {
        set(key, value.clone());
    }
    let mut files = cfg.files;
    files.push(path.to_path_buf());
    typed(files, settings, report)
}

/// A `NoEffect` warning for each legacy key of `keys::NO_EFFECT` the
/// operator set to something ksinstall does not do.
fn no_effect(cfg: &Config, report: &mut Report) {
    for (key, honoured, why) in keys::NO_EFFECT {
        let Some(s) = cfg.settings.get(*key).filter(|s| s.file.is_some()) else {
            continue;
        };
        let value = yaml_text(&s.value);
        if value.trim().is_empty() || Some(value.trim()) == *honoured {
            continue;
        }
        report.push(cfg.diag_at(
            Diagnostic::warning(
                "NoEffect",
                format!(
                    "'{}: {value}' is accepted, no effect in ksinstall: {why}",
                    s.spelled
                ),
            ),
            key,
        ));
    }
}

/// `NoEffect` for each KubeSphere 2.x setting a conf file sets when the
/// cluster gets KubeSphere 3.x.
fn ks2_only(cfg: &Config, report: &mut Report) {
    if crate::model::versions::ks_version(&cfg.ks_version).0 < 3 {
        return;
    }
    for key in keys::KS2_ONLY {
        let Some(s) = cfg.settings.get(*key).filter(|s| s.file.is_some()) else {
            continue;
        };
        report.push(cfg.diag_at(
            Diagnostic::warning(
                "NoEffect",
                format!(
                    "'{}: {}' is accepted, no effect in ksinstall with KubeSphere {}: only KubeSphere 2.x's ks-config.yaml has this setting",
                    s.spelled,
                    yaml_text(&s.value),
                    cfg.ks_version
                ),
            ),
            key,
        ));
    }
}

/// `[v]MAJOR.MINOR[.PATCH]`, digits only.
fn ks_version_like(v: &str) -> bool {
    let parts: Vec<&str> = v.trim().trim_start_matches('v').split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn typed(files: Vec<PathBuf>, settings: BTreeMap<String, Setting>, report: &mut Report) -> Config {
    let mut cfg = Config {
        files,
        settings,
        ks_version: String::new(),
        kube_version: KubeVersion {
            major: 1,
            minor: 16,
            patch: 7,
        },
        etcd_version: String::new(),
        network: Network {
            plugin: NetworkPlugin::Calico,
            service_cidr: "10.233.0.0/18".parse().expect("literal"),
            pod_cidr: "10.233.64.0/18".parse().expect("literal"),
            node_prefix: 24,
            proxy_mode: "ipvs".into(),
            max_pods: 110,
            dns_domain: "cluster.local".into(),
        },
        runtime: Runtime::Docker,
        load_balancer: None,
        storage: Vec::new(),
        console_port: 30880,
    };
    no_effect(&cfg, report);
    cfg.ks_version = cfg.text("ks_version");
    ks2_only(&cfg, report);
    // The ks-installer image's tag comes from it, unless given.
    if !ks_version_like(&cfg.ks_version) && cfg.text("ks_installer_tag").trim().is_empty() {
        report.push(cfg.diag_at(
            Diagnostic::error(
                "KsVersion",
                format!(
                    "ks_version {:?} is not a KubeSphere version like v2.1.1 or v3.1.1 (the ks-installer image's tag comes from it); set a version, or ks_installer_tag",
                    cfg.ks_version
                ),
            ),
            "ks_version",
        ));
    }
    cfg.etcd_version = cfg.text("etcd_version");
    match KubeVersion::parse(&cfg.text("kube_version")) {
        Some(v) => {
            // Unset etcd_version follows the Kubernetes version where the
            // legacy default is too old for kubeadm (the one versions table).
            let from_file = cfg
                .settings
                .get("etcd_version")
                .is_some_and(|s| s.file.is_some());
            if let (false, Some((etcd, _))) = (from_file, crate::model::versions::row(&v).etcd) {
                cfg.etcd_version = etcd.to_string();
            }
            cfg.kube_version = v
        }
        None => report.push(cfg.diag_at(
            Diagnostic::error(
                "KubeVersion",
                format!(
                    "kube_version {:?} is not a version like v1.16.7",
                    cfg.text("kube_version")
                ),
            ),
            "kube_version",
        )),
    }
    match cfg.text("kube_network_plugin").as_str() {
        "calico" => cfg.network.plugin = NetworkPlugin::Calico,
        "flannel" => cfg.network.plugin = NetworkPlugin::Flannel,
        other => report.push(cfg.diag_at(
            Diagnostic::error(
                "NetworkPlugin",
                format!("kube_network_plugin {other:?} is not supported: use calico or flannel"),
            ),
            "kube_network_plugin",
        )),
    }
    match cfg.text("container_manager").trim() {
        "" | "docker" => cfg.runtime = Runtime::Docker,
        "containerd" => cfg.runtime = Runtime::Containerd,
        other => report.push(cfg.diag_at(
            Diagnostic::error(
                "ContainerManager",
                format!("container_manager {other:?} is not supported: use docker or containerd"),
            ),
            "container_manager",
        )),
    }
    for (key, slot) in [("kube_service_addresses", 0), ("kube_pods_subnet", 1)] {
        let text = cfg.text(key);
        match text.parse::<IpNet>() {
            Ok(net) if net.trunc() == net => {
                if slot == 0 {
                    cfg.network.service_cidr = net
                } else {
                    cfg.network.pod_cidr = net
                }
            }
            Ok(net) => report.push(cfg.diag_at(
                Diagnostic::error(
                    "Cidr",
                    format!(
                        "{key} {text:?} has host bits set; did you mean {}?",
                        net.trunc()
                    ),
                ),
                key,
            )),
            Err(_) => report.push(cfg.diag_at(
                Diagnostic::error(
                    "Cidr",
                    format!("{key} {text:?} is not a CIDR such as 10.233.0.0/18"),
                ),
                key,
            )),
        }
    }
    cfg.network.node_prefix =
        number(&cfg, "kube_network_node_prefix", 1, 128, report).unwrap_or(24) as u8;
    cfg.network.max_pods =
        number(&cfg, "kubelet_max_pods", 1, 10_000, report).unwrap_or(110) as u32;
    cfg.network.proxy_mode = cfg.text("kube_proxy_mode");
    if !matches!(cfg.network.proxy_mode.as_str(), "ipvs" | "iptables") {
        report.push(cfg.diag_at(
            Diagnostic::error(
                "ProxyMode",
                format!(
                    "kube_proxy_mode {:?} is not supported: use ipvs or iptables",
                    cfg.network.proxy_mode
                ),
            ),
            "kube_proxy_mode",
        ));
    }
    cfg.network.dns_domain = cfg.text("dns_domain");
    cfg.console_port = number(&cfg, "console_port", 1, 65535, report).unwrap_or(30880) as u16;
    cfg.load_balancer = load_balancer(&cfg, report);
    cfg.storage = StorageKind::ALL
        .iter()
        .filter(|k| cfg.flag(&format!("{}_enabled", k.prefix())))
        .map(|k| StorageClass {
            kind: *k,
            name: k.class_name(&cfg),
            is_default: cfg.flag(&format!("{}_is_default_class", k.prefix())),
        })
        .collect();
    cfg
}

fn number(cfg: &Config, key: &str, min: u64, max: u64, report: &mut Report) -> Option<u64> {
    let text = cfg.text(key);
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            report.push(cfg.diag_at(
                Diagnostic::error(
                    "ConfigValue",
                    format!("{key} must be a number from {min} to {max}, not {text:?}"),
                ),
                key,
            ));
            None
        }
    }
}

fn load_balancer(cfg: &Config, report: &mut Report) -> Option<LoadBalancer> {
    let lb = cfg.get("loadbalancer_apiserver")?;
    let map = match lb {
        Yaml::Null => return None,
        Yaml::Mapping(m) => m,
        _ => {
            report.push(cfg.diag_at(
                Diagnostic::error(
                    "LoadBalancer",
                    "loadbalancer_apiserver must be a mapping with `address:` and `port:` indented under it",
                ),
                "loadbalancer_apiserver",
            ));
            return None;
        }
    };
    let field = |name: &str| map.get(Yaml::String(name.into())).map(yaml_text);
    let Some(address) = field("address").filter(|a| !a.trim().is_empty()) else {
        report.push(cfg.diag_at(
            Diagnostic::error(
                "LoadBalancer",
                "loadbalancer_apiserver has no address: set `address:` (the load balancer's IP) under it",
            ),
            "loadbalancer_apiserver",
        ));
        return None;
    };
    let port_text = field("port").unwrap_or_else(|| cfg.text("kube_apiserver_port"));
    let port = match port_text.trim().parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            report.push(cfg.diag_at(
                Diagnostic::error(
                    "LoadBalancer",
                    format!("loadbalancer_apiserver.port {port_text:?} is not a port number"),
                ),
                "loadbalancer_apiserver",
            ));
            6443
        }
    };
    Some(LoadBalancer {
        address: address.trim().to_string(),
        port,
        domain: cfg.text("apiserver_loadbalancer_domain_name"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Config, Report) {
        let mut r = Report::default();
        let c = from_texts(
            &[(PathBuf::from("conf/vars.yml"), text.to_string())],
            &mut r,
        )
        .unwrap();
        (c, r)
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let (c, r) = load("");
        assert!(!r.has_errors(), "{}", r.render());
        assert_eq!(c.network.service_cidr.to_string(), "10.233.0.0/18");
        assert_eq!(
            c.text("apiserver_loadbalancer_domain_name"),
            "lb.kubesphere.local"
        );
        assert_eq!(c.console_port, 30880);
        assert_eq!(c.storage.len(), 1);
    }

    #[test]
    fn legacy_spellings_and_yaml11_booleans() {
        let (c, r) = load(
            "local_volume_provisioner_enabled: no\nnfs_server_enable: yes\nnfs_server_is_default_class: on\ndisableMultiLogin: true\n",
        );
        assert!(!r.has_errors(), "{}", r.render());
        assert_eq!(c.storage.len(), 1);
        assert_eq!(c.storage[0].kind, StorageKind::NfsServer);
        assert!(c.storage[0].is_default);
        assert!(!c.flag("enable_multi_login"));
        assert_eq!(c.settings["local_volume_enabled"].line, Some(1));
    }

    /// Legacy keys ksinstall does not act on were accepted without a word.
    #[test]
    fn legacy_keys_with_no_effect_say_so_where_they_ask_for_something() {
        let (_, r) = load("harbor_enabled: true\nperiodic_cleaning_time: weekly\ndns_mode: coredns\nlocal_volume_provisioner_namespace: kube-system\ngitlab_enable: false\nnvidia_gpu_nodes: [node1]\n");
        let warned: Vec<(&str, Option<usize>)> = r
            .items
            .iter()
            .filter(|d| d.name == "NoEffect")
            .map(|d| (d.message.as_str(), d.location.as_ref().and_then(|l| l.line)))
            .collect();
        assert_eq!(warned.len(), 3, "{warned:?}");
        assert!(
            warned[0]
                .0
                .starts_with("'harbor_enabled: true' is accepted, no effect in ksinstall: Harbor"),
            "{warned:?}"
        );
        assert_eq!(warned[0].1, Some(1));
        assert!(
            warned[1].0.contains("periodic_cleaning_time") && warned[1].0.contains("pruned"),
            "{warned:?}"
        );
        assert!(warned[2].0.contains("nvidia_gpu_nodes"), "{warned:?}");
        assert!(
            !r.items.iter().any(|d| d.name == "UnknownKey"),
            "{}",
            r.render()
        );
    }

    /// KubeSphere 2.x's component settings say they do nothing with 3.x,
    /// and nothing with 2.x, where they take effect.
    #[test]
    fn kubesphere_2_settings_say_so_with_kubesphere_3() {
        let (_, r) = load("ks_version: v3.1.1\nsonarqube_enabled: true\nmysql_volume_size: 20Gi\n");
        let warned: Vec<&str> = (r.items.iter())
            .filter(|d| d.name == "NoEffect")
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(warned[0].starts_with("'mysql_volume_size: 20Gi' is accepted, no effect in ksinstall with KubeSphere v3.1.1"), "{warned:?}");
        let (_, r) = load("ks_version: v2.1.1\nsonarqube_enabled: true\n");
        assert!(
            !r.items.iter().any(|d| d.name == "NoEffect"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn unknown_keys_warn_with_a_suggestion() {
        let (_, r) = load("kube_verison: v1.15.5\n");
        let w = r
            .items
            .iter()
            .find(|d| d.name == "UnknownKey")
            .expect("a warning");
        assert!(w.message.contains("kube_version"), "{}", w.message);
        assert_eq!(w.location.as_ref().unwrap().line, Some(1));
    }

    #[test]
    fn templates_resolve_against_other_keys() {
        let (c, _) = load("cluster_name: corp.local\ndns_domain: \"{{ cluster_name }}\"\nlocal_release_dir: \"{{ ansible_env.HOME }}/r\"\n");
        assert_eq!(c.network.dns_domain, "corp.local");
        assert_eq!(c.text("local_release_dir"), "{{ ansible_env.HOME }}/r");
    }

    #[test]
    fn a_runaway_expression_is_stopped_with_a_named_error() {
        // Before the fuel limit this ran for minutes.
        let (_, r) = load("x: \"{% for a in range(100000) %}{% for b in range(100000) %}y{% endfor %}{% endfor %}\"\n");
        let e = r
            .errors()
            .find(|d| d.name == "ConfigTemplate")
            .expect("an error");
        assert!(
            e.message.contains("more than 100000 steps"),
            "{}",
            e.message
        );
    }

    #[test]
    fn brackets_nested_too_deep_are_refused_before_the_parser() {
        let (_, r) = load(&format!(
            "a: 1\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ));
        let e = r
            .errors()
            .find(|d| d.name == "ConfigSyntax")
            .expect("an error");
        assert!(
            e.message.contains("nested more than 64 deep"),
            "{}",
            e.message
        );
        assert_eq!(e.location.as_ref().unwrap().line, Some(2));
    }

    #[test]
    fn image_repository_follows_the_release_unless_set() {
        assert_eq!(
            load("kube_version: v1.16.7\n").0.kube_image_repo(),
            "k8s.gcr.io"
        );
        assert_eq!(
            load("kube_version: v1.28.2\n").0.kube_image_repo(),
            "registry.k8s.io"
        );
        let own = load("kube_version: v1.28.2\nkube_image_repo: mirror.example/k8s\n").0;
        assert_eq!(own.kube_image_repo(), "mirror.example/k8s");
    }

    #[test]
    fn load_balancer_and_bad_values() {
        let (c, r) = load("loadbalancer_apiserver:\n  address: 192.168.0.10\n  port: 6443\nkube_pods_subnet: 10.233.64.1/18\nconsole_port: x\n");
        assert_eq!(c.load_balancer.unwrap().domain, "lb.kubesphere.local");
        let names: Vec<&str> = r.errors().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["Cidr", "ConfigValue"]);
    }
}
