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
    let doc: Yaml = serde_yaml::from_str(source).map_err(|e| {
        mistakes::tab_error("KubeKeyConfig", path, source).unwrap_or_else(|| {
            Diagnostic::error("KubeKeyConfig", format!("not valid YAML: {e}"))
                .at(path, e.location().map(|l| l.line()))
        })
    })?;
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
    for h in get(spec, "hosts")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(m) = h.as_mapping() else {
            return Err(bad(
                "each entry of spec.hosts must be a mapping like {name: ..., address: ...}",
                None,
            ));
        };
        let name = text(m, "name").ok_or_else(|| bad("a host in spec.hosts has no name", None))?;
        let line = host_line(&name);
        let address = text(m, "address")
            .ok_or_else(|| bad(&format!("host '{name}' has no address"), line))?;
        let port = match text(m, "port") {
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
            internal_address: text(m, "internalAddress"),
            port,
            user: text(m, "user"),
            password: text(m, "password"),
            private_key_path: text(m, "privateKeyPath"),
            line,
        });
    }
    if let Some(groups) = get(spec, "roleGroups").and_then(Yaml::as_mapping) {
        for (k, v) in groups {
            let mut names = Vec::new();
            for pattern in strings(Some(v)) {
                let expanded = hostpattern::expand(&pattern)
                    .map_err(|e| bad(&format!("roleGroups: {e}"), None))?;
                names.extend(expanded.names);
            }
            out.role_groups.push((yaml_text(k), names));
        }
    }
    if let Some(ep) = get(spec, "controlPlaneEndpoint").and_then(Yaml::as_mapping) {
        out.lb_domain = text(ep, "domain");
        out.lb_address = text(ep, "address");
        out.lb_port = text(ep, "port").and_then(|p| p.parse().ok());
    }
    if let Some(k) = get(spec, "kubernetes").and_then(Yaml::as_mapping) {
        out.kube_version = text(k, "version");
    }
    if let Some(n) = get(spec, "network").and_then(Yaml::as_mapping) {
        out.pod_cidr = text(n, "kubePodsCIDR");
        out.service_cidr = text(n, "kubeServiceCIDR");
        out.network_plugin = text(n, "plugin");
    }
    if let Some(r) = get(spec, "registry").and_then(Yaml::as_mapping) {
        out.registry_mirrors = strings(get(r, "registryMirrors"));
        out.insecure_registries = strings(get(r, "insecureRegistries"));
    }
    Ok(out)
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
