//! KubeKey v3 `config-sample.yaml` (the successor installer's format): read
//! its hosts, roleGroups and controlPlaneEndpoint onto our model, and write
//! one from a legacy hosts.ini + vars (`ksinstall convert`).

use std::path::Path;

use serde_yaml::{Mapping, Value as Yaml};

use super::mistakes::{self, Misplaced};
use super::yaml_text;
use crate::diag::Diagnostic;
use crate::inventory::hostpattern;

/// A file is a KubeKey cluster file when it declares roleGroups.
pub fn looks_like_kubekey(path: &Path) -> bool {
    super::limits::read(path)
        .map(|t| t.lines().any(|l| l.trim_start().starts_with("roleGroups:")))
        .unwrap_or(false)
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KkHost {
    pub name: String,
    pub address: String,
    pub internal_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub private_key_path: Option<String>,
    pub line: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KkFile {
    pub hosts: Vec<KkHost>,
    /// (role group name as written, expanded host names)
    pub role_groups: Vec<(String, Vec<String>)>,
    pub lb_domain: Option<String>,
    pub lb_address: Option<String>,
    pub lb_port: Option<u16>,
    pub kube_version: Option<String>,
    pub pod_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub network_plugin: Option<String>,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    /// More KubeKey fields, as the legacy keys they mean (`containerManager`
    /// is `container_manager`, a ClusterConfiguration's `devops.enabled` is
    /// `devops_enabled`...), in the order read.
    pub settings: Vec<(&'static str, Yaml)>,
    /// Problems that do not stop the reading (misplaced keys, keys with a
    /// colon inside): errors and warnings for the report.
    pub notes: Vec<Diagnostic>,
}

/// The keys of `spec:`; those this installer reads first.
const SPEC_READ: &[&str] = &[
    "hosts",
    "roleGroups",
    "controlPlaneEndpoint",
    "kubernetes",
    "network",
    "registry",
];
const SPEC_OTHER: &[&str] = &["etcd", "system", "storage", "addons"];
const TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

fn spec_keys() -> Vec<&'static str> {
    SPEC_READ.iter().chain(SPEC_OTHER).copied().collect()
}

/// `spec:` indented under `metadata:` (or missing, with its keys at the top
/// level): the error says which, instead of "not a KubeKey file".
fn no_spec(path: &Path, source: &str, doc: &Mapping) -> Diagnostic {
    let bad = |msg: String, line| Diagnostic::error("KubeKeyConfig", msg).at(path, line);
    let deep = mistakes::too_deep(doc, TOP);
    if let Some(Misplaced {
        under: Some(under), ..
    }) = deep.iter().find(|m| m.key == "spec")
    {
        let line = mistakes::line_of(
            source,
            "spec:",
            mistakes::line_of(source, &format!("{under}:"), 1).unwrap_or(1),
        );
        return bad(
            format!(
                "`spec:` is indented under `{under}:`: it must start at column 0, like `{under}:`"
            ),
            line,
        );
    }
    let spec_keys = spec_keys();
    if let Some(k) = doc
        .keys()
        .filter_map(Yaml::as_str)
        .find(|k| spec_keys.contains(k))
    {
        let line = mistakes::line_of(source, &format!("{k}:"), 1);
        return bad(format!("`{k}:` is at the top level and there is no `spec:`: write `spec:` above it and indent `{k}:` and its siblings under it"), line);
    }
    bad(
        "no `spec:` mapping: not a KubeKey cluster file".into(),
        Some(1),
    )
}

/// Keys of `spec:` one level too deep (`etcd:` under `kubernetes:`) or too
/// shallow (`kubernetes:` beside `spec:`). Errors for what this installer
/// reads (it would be silently lost), warnings for the rest.
fn misplaced(path: &Path, source: &str, doc: &Mapping, spec: &Mapping) -> Vec<Diagnostic> {
    let diag = |key: &str, msg: String, line| {
        let d = if SPEC_READ.contains(&key) {
            Diagnostic::error("KubeKeyNesting", msg)
        } else {
            Diagnostic::warning("KubeKeyNesting", msg)
        };
        d.at(path, line)
    };
    let mut out = Vec::new();
    // roleGroups' keys are group names, and `etcd` is one of them.
    let deep = mistakes::too_deep(spec, &spec_keys());
    for m in deep
        .into_iter()
        .filter(|m| m.under.as_deref() != Some("roleGroups"))
    {
        let under = m.under.unwrap_or_default();
        let from = mistakes::line_of(source, &format!("{under}:"), 1).unwrap_or(1);
        let line = mistakes::line_of(source, &format!("{}:", m.key), from);
        out.push(diag(&m.key, format!("`{}:` is indented under `{under}:`: it belongs directly under `spec:`, at the same indentation as `{under}:`", m.key), line));
    }
    for k in doc
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|k| spec_keys().contains(k))
    {
        let line = mistakes::line_of(source, &format!("{k}:"), 1);
        out.push(diag(
            k,
            format!(
                "`{k}:` is at the top level: it belongs under `spec:`; indent it like `hosts:`"
            ),
            line,
        ));
    }
    out
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Yaml> {
    m.get(Yaml::String(key.to_string()))
}

fn text(m: &Mapping, key: &str) -> Option<String> {
    get(m, key).map(yaml_text).filter(|s| !s.trim().is_empty())
}

fn strings(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(items)) => items.iter().map(yaml_text).collect(),
        _ => Vec::new(),
    }
}

/// A scalar KubeKey writes quoted or not (`port: "6443"`, `maxPods: 110`):
/// its text, `None` when absent or blank.
#[derive(Debug, Default, Clone, PartialEq)]
struct Text(Option<String>);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Yaml::deserialize(d)?;
        Ok(Text(Some(yaml_text(&v)).filter(|s| !s.trim().is_empty())))
    }
}

/// `spec:` of a KubeKey Cluster: what this installer reads of it. Hosts
/// stay raw here, so that a host that is not a mapping gets its own error.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Spec {
    hosts: Vec<Yaml>,
    /// In the order written (a mapping, not a struct).
    role_groups: Mapping,
    control_plane_endpoint: Endpoint,
    kubernetes: Kubernetes,
    network: Network,
    registry: Registry,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct HostDoc {
    name: Text,
    address: Text,
    internal_address: Text,
    port: Text,
    user: Text,
    password: Text,
    private_key_path: Text,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Endpoint {
    domain: Text,
    address: Text,
    port: Text,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Kubernetes {
    version: Text,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Network {
    plugin: Text,
    #[serde(rename = "kubePodsCIDR")]
    kube_pods_cidr: Text,
    #[serde(rename = "kubeServiceCIDR")]
    kube_service_cidr: Text,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Registry {
    registry_mirrors: Vec<Yaml>,
    insecure_registries: Vec<Yaml>,
}

pub fn read(path: &Path) -> Result<KkFile, Diagnostic> {
    let text_all = super::limits::read(path).map_err(|e| {
        Diagnostic::error("InventoryFile", format!("cannot read: {e}")).at(path, None)
    })?;
    parse(path, &text_all)
}

pub fn parse(path: &Path, source: &str) -> Result<KkFile, Diagnostic> {
    let bad = |msg: &str, line: Option<usize>| {
        Diagnostic::error("KubeKeyConfig", msg.to_string()).at(path, line)
    };
    if let Some(d) = super::brackets_too_deep("KubeKeyConfig", path, source) {
        return Err(d);
    }
    let docs = documents(source).map_err(|e| {
        mistakes::tab_error("KubeKeyConfig", path, source).unwrap_or_else(|| {
            Diagnostic::error("KubeKeyConfig", format!("not valid YAML: {e}"))
                .at(path, e.location().map(|l| l.line()))
        })
    })?;
    // `kk create config --with-kubesphere` writes the Cluster, then
    // KubeSphere's ClusterConfiguration.
    let kind = |d: &Yaml| d.get("kind").map(yaml_text).unwrap_or_default();
    let doc = docs
        .iter()
        .find(|d| kind(d) == "Cluster")
        .or_else(|| docs.iter().find(|d| kind(d) != "ClusterConfiguration"))
        .cloned()
        .unwrap_or(Yaml::Null);
    let ks = docs.iter().find(|d| kind(d) == "ClusterConfiguration");
    let Some(top) = doc.as_mapping() else {
        return Err(bad(
            "the file must be a mapping with `spec:`: not a KubeKey cluster file",
            Some(1),
        ));
    };
    let spec = get(top, "spec")
        .and_then(Yaml::as_mapping)
        .ok_or_else(|| no_spec(path, source, top))?;
    let host_line = |name: &str| {
        source
            .lines()
            .position(|l| l.contains("name:") && l.contains(name))
            .map(|i| i + 1)
    };
    let mut notes = mistakes::colon_keys("KubeKeyConfig", path, source, &doc);
    notes.extend(misplaced(path, source, top, spec));
    let mut out = KkFile {
        notes,
        ..KkFile::default()
    };
    let typed: Spec = serde_yaml::from_value(Yaml::Mapping(spec.clone()))
        .map_err(|e| bad(&format!("spec: {e}"), None))?;
    for h in &typed.hosts {
        let h: HostDoc = serde_yaml::from_value(h.clone()).map_err(|_| {
            bad(
                "each entry of spec.hosts must be a mapping like {name: ..., address: ...}",
                None,
            )
        })?;
        let name = h
            .name
            .0
            .ok_or_else(|| bad("a host in spec.hosts has no name", None))?;
        let line = host_line(&name);
        let address =
            (h.address.0).ok_or_else(|| bad(&format!("host '{name}' has no address"), line))?;
        let port = match h.port.0 {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                bad(
                    &format!("host '{name}': port {p:?} is not a port number"),
                    line,
                )
            })?),
        };
        out.hosts.push(KkHost {
            name,
            address,
            internal_address: h.internal_address.0,
            port,
            user: h.user.0,
            password: h.password.0,
            private_key_path: h.private_key_path.0,
            line,
        });
    }
    for (k, v) in &typed.role_groups {
        let mut names = Vec::new();
        for pattern in strings(Some(v)) {
            let expanded = hostpattern::expand(&pattern)
                .map_err(|e| bad(&format!("roleGroups: {e}"), None))?;
            names.extend(expanded.names);
        }
        out.role_groups.push((yaml_text(k), names));
    }
    let ep = &typed.control_plane_endpoint;
    out.lb_domain = ep.domain.0.clone();
    out.lb_address = ep.address.0.clone();
    out.lb_port = ep.port.0.as_deref().and_then(|p| p.parse().ok());
    out.kube_version = typed.kubernetes.version.0.clone();
    out.pod_cidr = typed.network.kube_pods_cidr.0.clone();
    out.service_cidr = typed.network.kube_service_cidr.0.clone();
    out.network_plugin = typed.network.plugin.0.clone();
    out.registry_mirrors = typed
        .registry
        .registry_mirrors
        .iter()
        .map(yaml_text)
        .collect();
    out.insecure_registries = typed
        .registry
        .insecure_registries
        .iter()
        .map(yaml_text)
        .collect();
    let mut fields = Fields {
        path,
        source,
        out: &mut out,
    };
    fields.cluster(spec);
    if let Some(ks) = ks {
        fields.kubesphere(ks);
    }
    Ok(out)
}

/// Every document of the file (empty ones left out).
fn documents(source: &str) -> Result<Vec<Yaml>, serde_yaml::Error> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(source) {
        let v = Yaml::deserialize(d)?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// The KubeKey fields beyond hosts, groups and the endpoint: each either
/// becomes the legacy key it means or draws the warning `KubeKeyField`
/// saying why it has no effect.
struct Fields<'a> {
    path: &'a Path,
    source: &'a str,
    out: &'a mut KkFile,
}

impl Fields<'_> {
    fn set(&mut self, key: &'static str, v: Option<&Yaml>) {
        if let Some(v) = v.filter(|v| !yaml_text(v).trim().is_empty()) {
            self.out.settings.push((key, v.clone()));
        }
    }

    /// `field`: its path, then what it holds where that matters.
    fn warn(&mut self, field: &str, why: &str) {
        let path = field.split(' ').next().unwrap_or(field);
        let last = path.rsplit('.').next().unwrap_or(path);
        let line = mistakes::line_of(self.source, &format!("{last}:"), 1);
        self.out.notes.push(
            Diagnostic::warning("KubeKeyField", format!("{field}: {why}")).at(self.path, line),
        );
    }

    fn cluster(&mut self, spec: &Mapping) {
        let map = |v: Option<&Yaml>| v.and_then(Yaml::as_mapping).cloned().unwrap_or_default();
        let k = map(get(spec, "kubernetes"));
        self.set("container_manager", get(&k, "containerManager"));
        self.set("kubelet_max_pods", get(&k, "maxPods"));
        self.set("kube_proxy_mode", get(&k, "proxyMode"));
        // KubeKey's clusterName is the cluster's DNS domain (cluster.local).
        self.set(
            "dns_domain",
            get(&k, "dnsDomain").or(get(&k, "clusterName")),
        );
        match text(&map(get(spec, "etcd")), "type").as_deref() {
            None | Some("kubekey") => {}
            Some(t) => self.warn(
                &format!("etcd.type {t}"),
                "etcd is installed as a host service on roleGroups.etcd, as with type kubekey",
            ),
        }
        let ep = map(get(spec, "controlPlaneEndpoint"));
        match text(&ep, "internalLoadbalancer").as_deref() {
            None => {}
            Some("haproxy") => self.set("loadbalancer_apiserver_type", get(&ep, "internalLoadbalancer")),
            Some(other) => self.warn(&format!("controlPlaneEndpoint.internalLoadbalancer {other}"), "not offered: set keepalived_vip (keepalived and haproxy on the masters) in a vars file, or leave it for a local haproxy on each node"),
        }
        if text(&map(get(spec, "registry")), "privateRegistry").is_some() {
            self.warn("registry.privateRegistry", "images come from the offline bundle; set kube_image_repo in a vars file for Kubernetes' own images");
        }
        if get(spec, "addons")
            .and_then(Yaml::as_sequence)
            .is_some_and(|a| !a.is_empty())
        {
            self.warn("addons", "not installed: apply them once the cluster is up");
        }
        if get(spec, "system")
            .and_then(Yaml::as_mapping)
            .is_some_and(|m| !m.is_empty())
        {
            self.warn(
                "system",
                "not applied (NTP servers, time zone, extra packages): set them on the hosts",
            );
        }
        let hosts = get(spec, "hosts")
            .and_then(Yaml::as_sequence)
            .cloned()
            .unwrap_or_default();
        let with = |key: &str| {
            hosts
                .iter()
                .filter_map(Yaml::as_mapping)
                .any(|h| text(h, key).is_some())
        };
        if with("privateKey") {
            self.warn("hosts.privateKey", "an inline key is not read: save it to a file only you can read and name that file in privateKeyPath");
        }
        let foreign = hosts
            .iter()
            .filter_map(Yaml::as_mapping)
            .filter_map(|h| text(h, "arch"))
            .find(|a| a != "amd64");
        if let Some(a) = foreign {
            self.warn(&format!("hosts.arch {a}"), "each host's architecture is read from the host (preflight Architecture); the bundle carries one architecture");
        }
    }

    /// KubeSphere's own document: its version and which components are on.
    fn kubesphere(&mut self, ks: &Yaml) {
        let labels = ks.get("metadata").and_then(|m| m.get("labels"));
        self.set("ks_version", labels.and_then(|l| l.get("version")));
        let Some(spec) = ks.get("spec") else { return };
        for (component, key) in [
            ("alerting", "alerting_enabled"),
            ("devops", "devops_enabled"),
            ("logging", "logging_enabled"),
            ("metrics_server", "metrics_server_enabled"),
            ("notification", "notification_enabled"),
            ("servicemesh", "servicemesh_enabled"),
        ] {
            self.set(key, spec.get(component).and_then(|c| c.get("enabled")));
        }
        self.set(
            "openpitrix_enabled",
            spec.get("openpitrix")
                .and_then(|o| o.get("store"))
                .and_then(|s| s.get("enabled")),
        );
    }
}

/// A KubeKey v1alpha2 cluster document.
pub fn write(file: &KkFile) -> String {
    let s = |v: &str| Yaml::String(v.to_string());
    let mut hosts = Vec::new();
    for h in &file.hosts {
        let mut m = Mapping::new();
        m.insert(s("name"), s(&h.name));
        m.insert(s("address"), s(&h.address));
        if let Some(ip) = &h.internal_address {
            m.insert(s("internalAddress"), s(ip));
        }
        if let Some(p) = h.port {
            m.insert(s("port"), Yaml::Number(p.into()));
        }
        if let Some(u) = &h.user {
            m.insert(s("user"), s(u));
        }
        if let Some(p) = &h.password {
            m.insert(s("password"), s(p));
        }
        if let Some(k) = &h.private_key_path {
            m.insert(s("privateKeyPath"), s(k));
        }
        hosts.push(Yaml::Mapping(m));
    }
    let mut groups = Mapping::new();
    for (g, names) in &file.role_groups {
        groups.insert(s(g), Yaml::Sequence(names.iter().map(|n| s(n)).collect()));
    }
    let mut endpoint = Mapping::new();
    endpoint.insert(
        s("domain"),
        s(file.lb_domain.as_deref().unwrap_or("lb.kubesphere.local")),
    );
    endpoint.insert(s("address"), s(file.lb_address.as_deref().unwrap_or("")));
    endpoint.insert(s("port"), Yaml::Number(file.lb_port.unwrap_or(6443).into()));
    let mut kubernetes = Mapping::new();
    kubernetes.insert(
        s("version"),
        s(file.kube_version.as_deref().unwrap_or("v1.16.7")),
    );
    kubernetes.insert(s("clusterName"), s("cluster.local"));
    for (key, value) in &file.settings {
        let field = match *key {
            "container_manager" => "containerManager",
            "kubelet_max_pods" => "maxPods",
            "kube_proxy_mode" => "proxyMode",
            "dns_domain" => "clusterName",
            _ => continue,
        };
        kubernetes.insert(s(field), value.clone());
    }
    let mut network = Mapping::new();
    network.insert(
        s("plugin"),
        s(file.network_plugin.as_deref().unwrap_or("calico")),
    );
    network.insert(
        s("kubePodsCIDR"),
        s(file.pod_cidr.as_deref().unwrap_or("10.233.64.0/18")),
    );
    network.insert(
        s("kubeServiceCIDR"),
        s(file.service_cidr.as_deref().unwrap_or("10.233.0.0/18")),
    );
    let mut registry = Mapping::new();
    registry.insert(
        s("registryMirrors"),
        Yaml::Sequence(file.registry_mirrors.iter().map(|m| s(m)).collect()),
    );
    registry.insert(
        s("insecureRegistries"),
        Yaml::Sequence(file.insecure_registries.iter().map(|m| s(m)).collect()),
    );
    let mut spec = Mapping::new();
    spec.insert(s("hosts"), Yaml::Sequence(hosts));
    spec.insert(s("roleGroups"), Yaml::Mapping(groups));
    spec.insert(s("controlPlaneEndpoint"), Yaml::Mapping(endpoint));
    spec.insert(s("kubernetes"), Yaml::Mapping(kubernetes));
    spec.insert(s("network"), Yaml::Mapping(network));
    spec.insert(s("registry"), Yaml::Mapping(registry));
    let mut meta = Mapping::new();
    meta.insert(s("name"), s("sample"));
    let mut doc = Mapping::new();
    doc.insert(s("apiVersion"), s("kubekey.kubesphere.io/v1alpha2"));
    doc.insert(s("kind"), s("Cluster"));
    doc.insert(s("metadata"), Yaml::Mapping(meta));
    doc.insert(s("spec"), Yaml::Mapping(spec));
    serde_yaml::to_string(&Yaml::Mapping(doc)).expect("a mapping of strings serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "spec:\n  hosts:\n  - {name: master, address: 192.168.0.2, internalAddress: 192.168.0.2, user: ubuntu, password: Testing123}\n  - {name: node1, address: 192.168.0.3, internalAddress: 192.168.0.3, port: 8022, privateKeyPath: \"~/.ssh/id_rsa\"}\n  roleGroups:\n    etcd:\n    - master\n    master:\n    - master\n    worker:\n    - node[1:1]\n  controlPlaneEndpoint:\n    domain: lb.kubesphere.local\n    address: \"\"\n    port: \"6443\"\n";

    #[test]
    fn reads_the_seed_sample() {
        let f = parse(Path::new("config-sample.yaml"), SAMPLE).unwrap();
        assert_eq!(f.hosts.len(), 2);
        assert_eq!(f.hosts[1].port, Some(8022));
        assert_eq!(
            f.role_groups[2],
            ("worker".to_string(), vec!["node1".to_string()])
        );
        assert_eq!(f.lb_address, None);
        assert_eq!(f.lb_port, Some(6443));
    }

    /// `kk create config --with-kubesphere v3.1.1`'s shape: the Cluster
    /// with the fields it fills, then KubeSphere's ClusterConfiguration. A
    /// second document was refused, and every field below was ignored.
    const WITH_KUBESPHERE: &str = "apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: sample\nspec:\n  hosts:\n  - {name: master, address: 192.168.0.2, internalAddress: 192.168.0.2, user: ubuntu, privateKey: \"-----BEGIN\", arch: arm64}\n  roleGroups:\n    etcd: [master]\n    control-plane: [master]\n    worker: [master]\n  controlPlaneEndpoint:\n    internalLoadbalancer: kube-vip\n    domain: lb.kubesphere.local\n    address: \"\"\n    port: 6443\n  kubernetes:\n    version: v1.28.2\n    clusterName: corp.local\n    containerManager: containerd\n    maxPods: 200\n    proxyMode: iptables\n  etcd:\n    type: external\n  network:\n    plugin: calico\n  registry:\n    privateRegistry: dockerhub.kubekey.local\n  addons:\n  - name: nfs-client\n---\napiVersion: installer.kubesphere.io/v1alpha1\nkind: ClusterConfiguration\nmetadata:\n  name: ks-installer\n  namespace: kubesphere-system\n  labels:\n    version: v3.1.1\nspec:\n  devops:\n    enabled: true\n  logging:\n    enabled: false\n  openpitrix:\n    store:\n      enabled: true\n";

    #[test]
    fn a_cluster_with_kubesphere_reads_both_documents_and_every_field() {
        let f = parse(Path::new("config-sample.yaml"), WITH_KUBESPHERE).unwrap();
        assert_eq!(f.hosts.len(), 1);
        assert_eq!(f.kube_version.as_deref(), Some("v1.28.2"));
        let set: Vec<(&str, String)> = f.settings.iter().map(|(k, v)| (*k, yaml_text(v))).collect();
        for want in [
            ("container_manager", "containerd"),
            ("kubelet_max_pods", "200"),
            ("kube_proxy_mode", "iptables"),
            ("dns_domain", "corp.local"),
            ("ks_version", "v3.1.1"),
            ("devops_enabled", "true"),
            ("logging_enabled", "false"),
            ("openpitrix_enabled", "true"),
        ] {
            assert!(
                set.contains(&(want.0, want.1.to_string())),
                "{want:?} not in {set:?}"
            );
        }
        let warned: Vec<&str> = f
            .notes
            .iter()
            .filter(|d| d.name == "KubeKeyField")
            .map(|d| d.message.as_str())
            .collect();
        for field in [
            "etcd.type external",
            "internalLoadbalancer kube-vip",
            "registry.privateRegistry",
            "addons",
            "hosts.privateKey",
            "hosts.arch arm64",
        ] {
            assert!(
                warned.iter().any(|w| w.contains(field)),
                "{field}: {warned:?}"
            );
        }
        assert!(
            f.notes
                .iter()
                .all(|d| d.location.as_ref().and_then(|l| l.line).is_some()),
            "{:?}",
            f.notes
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let f = parse(Path::new("c.yaml"), SAMPLE).unwrap();
        let again = parse(Path::new("c.yaml"), &write(&f)).unwrap();
        assert_eq!(
            again.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            ["master", "node1"]
        );
        assert_eq!(again.role_groups, f.role_groups);
    }
}
