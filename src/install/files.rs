//! From the hosts' current state to the files the phases push: what the
//! hosts already have that rendering must keep (their runtime config to merge
//! into, the etcd PKI, the kubeadm token) is read first, so a re-run renders
//! the very same files and changes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::facts::Facts;
use super::phases::HostFile;
use crate::exec::{Action, Engine, HostFail};
use crate::model::{Cluster, Role};
use crate::render::{self, CertPair, EtcdCerts, Merge};

/// Files rendering merges into, read back from every host.
pub const MERGED: &[&str] = &["/etc/docker/daemon.json", "/etc/containerd/config.toml"];
const ETCD_SSL: &str = "/etc/ssl/etcd/ssl";
/// The cluster CA in the legacy certificate directory (kubeadm's
/// `certificatesDir`), read back from the first master.
const KUBE_CA_CRT: &str = concat!(crate::kube_cert_dir!(), "/ca.crt");
const KUBE_CA_KEY: &str = concat!(crate::kube_cert_dir!(), "/ca.key");

/// Prints each file as `==> PATH SIZE` then its bytes.
fn read_script() -> String {
    let mut paths: Vec<String> = MERGED.iter().map(|p| p.to_string()).collect();
    paths.push(format!("{ETCD_SSL}/*.pem"));
    paths.push(KUBE_CA_CRT.into());
    paths.push(KUBE_CA_KEY.into());
    format!(
        "for f in {}; do [ -f \"$f\" ] || continue; printf '==> %s %s\\n' \"$f\" \"$(wc -c < \"$f\")\"; cat \"$f\"; done",
        paths.join(" ")
    )
}

fn parse_files(out: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut rest = out;
    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        let Some(h) = header.strip_prefix("==> ") else {
            break;
        };
        let Some((path, size)) = h.rsplit_once(' ') else {
            break;
        };
        let Ok(size) = size.trim().parse::<usize>() else {
            break;
        };
        let size = size.min(rest.len());
        files.insert(path.to_string(), rest[..size].to_vec());
        rest = &rest[size..];
    }
    files
}

/// The kubeadm token and certificate key of this cluster, kept with the
/// install state so that re-renders do not change the kubeadm configs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KubeadmSecrets {
    bootstrap_token: String,
    certificate_key: String,
}

fn kubeadm_secrets(installer_dir: &Path) -> anyhow::Result<Option<KubeadmSecrets>> {
    let path = installer_dir.join("state").join("kubeadm.json");
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(serde_json::from_str(&t)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The local registry's CA and server certificate, kept with the install
/// state (0600): the CA's key never goes to a host.
#[derive(Serialize, Deserialize)]
struct RegistryState {
    ca_cert: String,
    ca_key: String,
    cert: String,
    key: String,
}

const REGISTRY_STATE: &str = "registry-pki.json";

fn registry_pki(installer_dir: &Path) -> anyhow::Result<Option<render::RegistryPki>> {
    let path = installer_dir.join("state").join(REGISTRY_STATE);
    let s: RegistryState = match std::fs::read_to_string(&path) {
        Ok(t) => {
            serde_json::from_str(&t).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let pair = |cert_pem, key_pem| CertPair { cert_pem, key_pem };
    Ok(Some(render::RegistryPki {
        ca: pair(s.ca_cert, s.ca_key),
        server: pair(s.cert, s.key),
    }))
}

fn save_registry_pki(installer_dir: &Path, p: &render::RegistryPki) -> anyhow::Result<()> {
    let s = RegistryState {
        ca_cert: p.ca.cert_pem.clone(),
        ca_key: p.ca.key_pem.clone(),
        cert: p.server.cert_pem.clone(),
        key: p.server.key_pem.clone(),
    };
    let path = installer_dir.join("state").join(REGISTRY_STATE);
    super::state::write_private(&path, serde_json::to_string_pretty(&s)?.as_bytes())
}

fn save_kubeadm_secrets(installer_dir: &Path, s: &KubeadmSecrets) -> anyhow::Result<()> {
    let path = installer_dir.join("state").join("kubeadm.json");
    super::state::write_private(&path, serde_json::to_string_pretty(s)?.as_bytes())
}

/// The etcd PKI as the etcd members hold it: other hosts (a leftover
/// worker) cannot supply it, and members holding different CAs are an
/// error naming them. A node that is not a member adds only its own
/// client leaf (`node-<name>`, which only it holds). Every leaf is checked
/// against the CA when rendering.
fn members_pki(
    c: &Cluster,
    found: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let ca_path = format!("{ETCD_SSL}/ca.pem");
    let mut pki: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut cas: BTreeMap<&[u8], Vec<&str>> = BTreeMap::new();
    for m in c.etcd() {
        let Some(files) = found.get(&m.name) else {
            continue;
        };
        if let Some(ca) = files.get(&ca_path) {
            cas.entry(ca.as_slice()).or_default().push(&m.name);
        }
        for (p, b) in files.iter().filter(|(p, _)| p.starts_with(ETCD_SSL)) {
            pki.entry(p.clone()).or_insert_with(|| b.clone());
        }
    }
    for n in c.nodes.iter().filter(|n| !n.has(Role::Etcd)) {
        let Some(files) = found.get(&n.name) else {
            continue;
        };
        for own in [
            format!("{ETCD_SSL}/node-{}.pem", n.name),
            format!("{ETCD_SSL}/node-{}-key.pem", n.name),
        ] {
            if let Some(b) = files.get(&own) {
                pki.entry(own).or_insert_with(|| b.clone());
            }
        }
    }
    if cas.len() > 1 {
        let groups: Vec<String> = cas.values().map(|hosts| hosts.join(", ")).collect();
        anyhow::bail!(
            "the etcd members hold different CAs in {ca_path} ({}): one cluster has one etcd CA. Keep the right one on every member (or move {ETCD_SSL} aside on the wrong ones), then run again",
            groups.join(" / ")
        );
    }
    Ok(pki)
}

/// The etcd PKI found on the hosts: the CA (with its key) and every leaf
/// whose certificate and key are both somewhere.
fn etcd_pki(found: &BTreeMap<String, Vec<u8>>) -> Option<EtcdCerts> {
    let text = |name: &str| {
        found
            .get(&format!("{ETCD_SSL}/{name}"))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let ca = CertPair {
        cert_pem: text("ca.pem")?,
        key_pem: text("ca-key.pem")?,
    };
    let mut leaves = Vec::new();
    for path in found.keys() {
        let Some(name) = path.strip_prefix(&format!("{ETCD_SSL}/")) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".pem") else {
            continue;
        };
        if stem == "ca" || stem.ends_with("-key") {
            continue;
        }
        if let (Some(cert), Some(key)) = (text(name), text(&format!("{stem}-key.pem"))) {
            leaves.push((
                stem.to_string(),
                CertPair {
                    cert_pem: cert,
                    key_pem: key,
                },
            ));
        }
    }
    Some(EtcdCerts { ca, leaves })
}

pub struct Prepared {
    pub files: BTreeMap<String, Vec<HostFile>>,
    pub notes: Vec<String>,
}

/// Reads what the hosts hold, renders every file, and lays the cluster-wide
/// manifests on the first master where the phases apply them.
pub fn prepare(
    engine: &Engine,
    c: &Cluster,
    facts: &BTreeMap<String, Facts>,
    installer_dir: &Path,
    conf_dir: &Path,
) -> anyhow::Result<Prepared> {
    prepare_with(
        engine,
        c,
        facts,
        installer_dir,
        conf_dir,
        Leaves::KeepFitting,
    )
}

/// What becomes of the etcd leaf certificates the hosts hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaves {
    /// Kept where they fit (`leaf_fits`), else issued again.
    KeepFitting,
    /// All issued again from the existing CA (`certs renew`).
    Renew,
}

/// `prepare`, with the etcd leaves kept or renewed.
pub fn prepare_with(
    engine: &Engine,
    c: &Cluster,
    facts: &BTreeMap<String, Facts>,
    installer_dir: &Path,
    conf_dir: &Path,
    leaves: Leaves,
) -> anyhow::Result<Prepared> {
    let found: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>> = Mutex::new(BTreeMap::new());
    // Hosts whose facts could not be gathered are not read (a host being
    // removed while it is down); the install stops before this for them.
    let all: Vec<usize> = (0..engine.nodes().len())
        .filter(|&i| facts.contains_key(&engine.nodes()[i].name))
        .collect();
    let script = read_script();
    let step = engine.step("read", &all, |ctx| {
        let out = ctx
            .perform(Action {
                describe: "read current configuration and certificates".into(),
                script: script.clone(),
                stdin: None,
                timeout: Some(std::time::Duration::from_secs(60)),
                mutates: false,
                sensitive: true,
            })?
            .expect("read-only actions always run");
        let files = parse_files(&out.stdout);
        found
            .lock()
            .map_err(|_| HostFail::Failed("poisoned".into()))?
            .insert(ctx.node().name.clone(), files);
        Ok(())
    });
    if let Some(h) = step.failures().next() {
        anyhow::bail!(
            "cannot read the current configuration of {}: {}",
            h.host,
            h.message
        );
    }
    let found = found.into_inner().expect("no panic holds it");
    let every_pem = members_pki(c, &found)?;
    let mut rfacts = render_facts(facts);
    for (host, files) in &found {
        let nf = rfacts.nodes.entry(host.clone()).or_default();
        for p in MERGED {
            if let Some(b) = files.get(*p) {
                nf.existing
                    .insert(p.to_string(), String::from_utf8_lossy(b).into_owned());
            }
        }
    }
    rfacts.etcd_certs = etcd_pki(&every_pem);
    if leaves == Leaves::Renew {
        if let Some(pki) = &mut rfacts.etcd_certs {
            pki.leaves.clear();
        }
    }
    let templates = conf_dir.join("templates");
    rfacts.templates_dir = templates.is_dir().then_some(templates);
    let secrets = match kubeadm_secrets(installer_dir)? {
        Some(s) => s,
        None => {
            let s = new_kubeadm_secrets()?;
            if !engine.dry_run() {
                save_kubeadm_secrets(installer_dir, &s)?;
            }
            s
        }
    };
    // kubeadm prints both (the join command after init): never in the log.
    engine.redactor().add_str(&secrets.bootstrap_token);
    engine.redactor().add_str(&secrets.certificate_key);
    rfacts.kube_ca = Some(kube_ca(c, &found)?);
    rfacts.bootstrap_token = Some(secrets.bootstrap_token);
    rfacts.certificate_key = Some(secrets.certificate_key);
    let kept = registry_pki(installer_dir)?;
    rfacts.registry_pki = kept.clone();
    let completed = render::complete(c, &rfacts)?;
    let made = &completed.facts().registry_pki;
    if let Some(p) = made.as_ref().filter(|p| kept.as_ref() != Some(*p)) {
        if !engine.dry_run() {
            save_registry_pki(installer_dir, p)?;
        }
    }
    let rendered = render::render(c, &completed)?;
    let files = host_files(c, &rendered);
    Ok(Prepared {
        files,
        notes: rendered.notes,
    })
}

/// What the renderer needs of the facts gathered on each host: the
/// default IPv4 stands in for a missing `ip`.
pub fn render_facts(hosts: &BTreeMap<String, Facts>) -> render::Facts {
    let node = |f: &Facts| render::NodeFacts {
        ip: f.default_ipv4().map(str::to_string),
        existing: BTreeMap::new(),
        restrict_oom: !f.lower_oom,
        conntrack_fixed: f.conntrack_fixed,
        cgroup_v1: f.cgroup_v1,
    };
    render::Facts {
        nodes: (hosts.iter())
            .map(|(name, f)| (name.clone(), node(f)))
            .collect(),
        ..render::Facts::default()
    }
}

/// Each host's rendered files as the phases push them, and the manifests
/// on the first master (each in its component's directory).
pub fn host_files(c: &Cluster, rendered: &render::Rendered) -> BTreeMap<String, Vec<HostFile>> {
    let mut files: BTreeMap<String, Vec<HostFile>> = BTreeMap::new();
    for h in &rendered.hosts {
        let list = h
            .files
            .iter()
            .map(|f| HostFile {
                path: f.path.clone(),
                content: f.content.clone().into_bytes(),
                mode: f.mode,
                block: match &f.merge {
                    Merge::Replace | Merge::Into => None,
                    Merge::Block { begin, end } => Some((begin.clone(), end.clone())),
                },
                merged: f.merge == Merge::Into,
                component: f.component,
            })
            .collect();
        files.insert(h.host.clone(), list);
    }
    if let Some(first) = c.first_master() {
        let entry = files.entry(first.name.clone()).or_default();
        for m in &rendered.manifests {
            let dir = m
                .component
                .manifest_dir()
                .expect("a manifest's component has a directory");
            entry.push(HostFile {
                path: format!("{dir}/{}", m.name),
                content: m.content.clone().into_bytes(),
                mode: 0o644,
                block: None,
                merged: false,
                component: m.component,
            });
        }
    }
    files
}

/// The cluster CA: the first master's when it has one (kubeadm made or kept
/// it), else a new one that kubeadm init will use as it finds it.
fn kube_ca(
    c: &Cluster,
    found: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> anyhow::Result<CertPair> {
    let on_first = c
        .first_master()
        .and_then(|m| found.get(&m.name))
        .and_then(|f| Some((f.get(KUBE_CA_CRT)?, f.get(KUBE_CA_KEY)?)));
    match on_first {
        Some((crt, key)) => {
            let pair = CertPair {
                cert_pem: String::from_utf8_lossy(crt).into_owned(),
                key_pem: String::from_utf8_lossy(key).into_owned(),
            };
            render::certs::check_ca(&pair).map_err(|e| {
                anyhow::anyhow!("the cluster CA on the first master ({KUBE_CA_CRT}): {e}")
            })?;
            Ok(pair)
        }
        None => render::certs::new_kube_ca(),
    }
}

fn new_kubeadm_secrets() -> anyhow::Result<KubeadmSecrets> {
    let (bootstrap_token, certificate_key) = render::new_kubeadm_secrets()?;
    Ok(KubeadmSecrets {
        bootstrap_token,
        certificate_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_files_parse_back() {
        let out = b"==> /etc/docker/daemon.json 3\n{}\n==> /etc/ssl/etcd/ssl/ca.pem 5\nA\nB\n\n";
        let f = parse_files(out);
        assert_eq!(f["/etc/docker/daemon.json"], b"{}\n");
        assert_eq!(f["/etc/ssl/etcd/ssl/ca.pem"], b"A\nB\n\n");
    }

    fn seed_ha() -> Cluster {
        let src = crate::model::Sources {
            conf_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-ha"),
            inventory: None,
            mode: crate::model::Mode::MultiNode,
        };
        crate::model::load(&src, &mut crate::diag::Report::default()).expect("the seed loads")
    }

    fn holding(pairs: &[(&str, &str)]) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
        pairs
            .iter()
            .map(|(host, ca)| {
                let files =
                    BTreeMap::from([(format!("{ETCD_SSL}/ca.pem"), ca.as_bytes().to_vec())]);
                (host.to_string(), files)
            })
            .collect()
    }

    #[test]
    fn the_etcd_pki_comes_from_the_members_only() {
        // node1 (a worker, read first) holds a forged CA: it is not taken.
        let c = seed_ha();
        let found = holding(&[
            ("node1", "FORGED"),
            ("master1", "REAL"),
            ("master2", "REAL"),
        ]);
        let pki = members_pki(&c, &found).unwrap();
        assert_eq!(pki[&format!("{ETCD_SSL}/ca.pem")], b"REAL");
    }

    #[test]
    fn a_node_that_is_no_member_gives_its_own_leaf_only() {
        let c = seed_ha();
        let mut found = holding(&[("master1", "REAL")]);
        let worker = found.entry("node1".into()).or_default();
        for f in [
            "node-node1.pem",
            "node-node1-key.pem",
            "node-node2.pem",
            "admin-master1.pem",
        ] {
            worker.insert(format!("{ETCD_SSL}/{f}"), b"FROM-NODE1".to_vec());
        }
        let pki = members_pki(&c, &found).unwrap();
        assert!(pki.contains_key(&format!("{ETCD_SSL}/node-node1.pem")));
        assert!(pki.contains_key(&format!("{ETCD_SSL}/node-node1-key.pem")));
        assert!(!pki.contains_key(&format!("{ETCD_SSL}/node-node2.pem")));
        assert!(!pki.contains_key(&format!("{ETCD_SSL}/admin-master1.pem")));
    }

    #[test]
    fn members_with_different_cas_are_named() {
        let c = seed_ha();
        let found = holding(&[("master1", "ONE"), ("master2", "ONE"), ("master3", "TWO")]);
        let e = members_pki(&c, &found).unwrap_err().to_string();
        assert!(
            e.contains("master1, master2 / master3") || e.contains("master3 / master1, master2"),
            "{e}"
        );
    }
}
