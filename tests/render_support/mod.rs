//! Shared helpers of the render tests: conf directories built from the seed
//! fixtures with extra keys, deterministic facts, and external tools that
//! fail the test under CI and skip it elsewhere.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ksinstall::diag::Report;
use ksinstall::model::{self, Cluster, Mode, Sources};
use ksinstall::render::{self, Facts, Rendered};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(seed: &str) -> PathBuf {
    repo().join("tests/fixtures").join(seed)
}

/// A fresh scratch directory under the target dir (no tempfile crate).
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = repo().join("target/render-tests").join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of a seed's conf directory with `extra` YAML added as the last
/// file of the merge (so its keys win).
pub fn conf_with(seed: &str, extra: &str) -> PathBuf {
    let dir = scratch(seed);
    for e in std::fs::read_dir(fixture(seed)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    if !extra.is_empty() {
        std::fs::write(dir.join("zz-test.yaml"), extra).unwrap();
    }
    dir
}

pub fn load_mode(conf: &Path, mode: Mode) -> Cluster {
    let mut report = Report::default();
    let c = model::load(
        &Sources {
            conf_dir: conf.to_path_buf(),
            inventory: None,
            mode,
        },
        &mut report,
    )
    .unwrap_or_else(|| panic!("cannot load {}: {}", conf.display(), report.render()));
    let checked = ksinstall::validate::check(&c);
    assert!(
        !report.has_errors() && !checked.has_errors(),
        "{}: {}{}",
        conf.display(),
        report.render(),
        checked.render()
    );
    c
}

pub fn load(conf: &Path) -> Cluster {
    load_mode(conf, Mode::MultiNode)
}

/// What `check` says of the seed plus `extra` (which it may refuse).
pub fn check_text(seed: &str, extra: &str) -> String {
    let mut report = Report::default();
    let src = Sources {
        conf_dir: conf_with(seed, extra),
        inventory: None,
        mode: Mode::MultiNode,
    };
    let c = model::load(&src, &mut report).expect("loads");
    report.extend(ksinstall::validate::check(&c).items);
    report.render()
}

/// One etcd PKI with a leaf for every host name of the fixtures, made once
/// per test binary: RSA key generation is the slow part of rendering.
pub fn shared_certs() -> &'static ksinstall::render::EtcdCerts {
    static CERTS: std::sync::OnceLock<ksinstall::render::EtcdCerts> = std::sync::OnceLock::new();
    CERTS.get_or_init(|| {
        let names: Vec<String> = [
            "master",
            "master1",
            "master2",
            "master3",
            "node1",
            "node2",
            "node3",
            "ks-allinone",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sans = ksinstall::render::certs::Sans {
            dns: vec!["localhost".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
        };
        ksinstall::render::certs::generate(None, &names, &names, &sans, &|_| Vec::new()).unwrap()
    })
}

/// Facts that make the output deterministic: fixed token and key, and the
/// shared certificates.
pub fn fixed_facts() -> Facts {
    Facts {
        etcd_certs: Some(shared_certs().clone()),
        bootstrap_token: Some("abcdef.0123456789abcdef".into()),
        certificate_key: Some(
            "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204".into(),
        ),
        ..Facts::default()
    }
}

pub fn render_seed(seed: &str, extra: &str) -> Rendered {
    let c = load(&conf_with(seed, extra));
    render::render_all(&c, &fixed_facts()).unwrap_or_else(|e| panic!("{seed} {extra}: {e:#}"))
}

/// Is `tool` on PATH? Missing: a failure under CI (`CI` set), a skip with
/// a message otherwise.
pub fn tool(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is not installed; .ci/run installs it");
        }
        eprintln!("SKIP: {tool} is not installed (run .ci/run, or apt-get install it)");
    }
    found
}

/// A path in the repo that must exist under CI, skipped otherwise.
pub fn required_path(p: &Path, what: &str) -> bool {
    if p.exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} missing at {}; .ci/run creates it", p.display());
    }
    eprintln!("SKIP: {what} missing at {} (run .ci/run)", p.display());
    false
}

/// Every YAML document of a text.
pub fn docs(text: &str) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// A cluster layout to render: a seed plus extra keys.
pub struct Variant {
    pub name: &'static str,
    pub seed: &'static str,
    pub extra: &'static str,
    pub mode: Mode,
}

const ALL_STORAGE: &str = "
ceph_rbd_is_default_class: false
glusterfs_provisioner_enabled: true
glusterfs_provisioner_is_default_class: true
glusterfs_provisioner_resturl: http://192.168.0.30:8080
glusterfs_provisioner_clusterid: 6a6792ed25405eaa6302da99f2f5e24b
jwt_admin_key: '123456'
qingcloud_csi_enabled: true
qingcloud_access_key_id: AKIDEXAMPLE
qingcloud_secret_access_key: SECRETEXAMPLE
qingcloud_zone: pek3
qingcloud_storageclass_tags: tag-1,tag-2
neonsan_csi_enabled: true
neonsan_server_address: 192.168.0.40:2181
neonsan_cluster_name: neonsan1
openebs_hostpath_enabled: true
nfs_client_enabled: true
nfs_server: 192.168.0.200
nfs_path: /exports
nfs_vers3_enabled: true
nfs_server_enabled: true
ceph_rbd_imageFormat: 2
";

/// Every template is exercised by at least one of these.
pub const VARIANTS: &[Variant] = &[
    Variant { name: "root", seed: "seed-root", extra: "", mode: Mode::MultiNode },
    Variant { name: "nonroot", seed: "seed-nonroot", extra: "", mode: Mode::MultiNode },
    Variant { name: "ha", seed: "seed-ha", extra: "", mode: Mode::MultiNode },
    Variant { name: "storage", seed: "seed-ha", extra: ALL_STORAGE, mode: Mode::MultiNode },
    Variant {
        name: "internal-haproxy-flannel-containerd",
        seed: "seed-ha",
        extra: "loadbalancer_apiserver: null\nkube_network_plugin: flannel\ncontainer_manager: containerd\n\
                docker_registry_mirrors: [https://mirror.example.org]\ndocker_insecure_registries: ['192.168.0.5:5000']\n\
                enable_nodelocaldns: false\nhttp_proxy: http://proxy.example:3128\nadditional_no_proxy: .corp.example\n",
        mode: Mode::MultiNode,
    },
    Variant {
        name: "internal-nginx",
        seed: "seed-ha",
        extra: "loadbalancer_apiserver: null\nloadbalancer_apiserver_type: nginx\ncalico_mtu: 1400\n\
                calico_ip_auto_method: interface=eth.*\nipip_mode: CrossSubnet\n",
        mode: Mode::MultiNode,
    },
    Variant {
        name: "keepalived",
        seed: "seed-ha",
        extra: "keepalived_vip: 192.168.0.10\nkeepalived_interface: eth1\n\
                loadbalancer_apiserver: {address: 192.168.0.10, port: 8443}\n",
        mode: Mode::MultiNode,
    },
    Variant {
        name: "internal-haproxy-pod",
        seed: "seed-nonroot",
        extra: "loadbalancer_apiserver_type: haproxy-pod\n",
        mode: Mode::MultiNode,
    },
    Variant { name: "ks3", seed: "seed-nonroot", extra: "ks_version: v3.1.1\n", mode: Mode::MultiNode },
    Variant {
        name: "aio-local-2.0",
        seed: "seed-root",
        extra: "ks_version: 2.0.2\nlocal_volume_enabled: true\nlocal_volume_is_default_class: true\nnfs_server_enabled: false\n",
        mode: Mode::AllInOne,
    },
    Variant {
        name: "aio-local-2.1",
        seed: "seed-root",
        extra: "local_volume_enabled: true\nlocal_volume_is_default_class: true\nnfs_server_enabled: false\n",
        mode: Mode::AllInOne,
    },
];

/// Kubernetes versions the variants are rendered at (every kubeadm API,
/// both kubernetes-validate releases, the API removals of 1.16/1.22/1.25).
pub const VERSIONS: &[&str] = &[
    "v1.12.3", "v1.13.5", "v1.15.5", "v1.16.7", "v1.18.20", "v1.20.15", "v1.22.17", "v1.24.17",
    "v1.25.16", "v1.28.15", "v1.31.4", "v1.33.1",
];

pub fn render_variant(
    v: &Variant,
    kube_version: Option<&str>,
    certs: Option<&ksinstall::render::EtcdCerts>,
) -> Rendered {
    let mut extra = v.extra.to_string();
    if let Some(k) = kube_version {
        extra.push_str(&format!("\nkube_version: {k}\n"));
    }
    let conf = conf_with(v.seed, &extra);
    let c = load_mode(&conf, v.mode);
    let mut facts = fixed_facts();
    if let Some(c) = certs {
        facts.etcd_certs = Some(c.clone());
    }
    // The all-in-one host is also a cgroup v1 host (as a CentOS 7 machine
    // is): from 1.35 its configs carry failCgroupV1 and the skipped system
    // check, which the oracles then see.
    if v.mode == Mode::AllInOne {
        facts.nodes.insert(
            "ks-allinone".into(),
            render::NodeFacts {
                ip: Some("192.168.0.99".into()),
                cgroup_v1: true,
                ..Default::default()
            },
        );
    }
    let r = render::render_all(&c, &facts)
        .unwrap_or_else(|e| panic!("{} at {kube_version:?}: {e:#}", v.name));
    std::fs::remove_dir_all(&conf).ok();
    r
}

/// The Kubernetes version `scripts/kube/build.sh` builds whole (the
/// cluster e2e's); the oracles run at it and at `ORACLE_VERSIONS`.
pub const KUBE_VERSION: &str = "v1.34.4";

/// Every Kubernetes version the oracles run at: KUBE_VERSION and the
/// `ORACLE_VERSIONS` of scripts/kube/versions.sh (one patch of each newer
/// served minor), which scripts/test.sh builds.
pub fn oracle_versions() -> Vec<String> {
    let pins = std::fs::read_to_string(repo().join("scripts/kube/versions.sh")).unwrap();
    let line = pins
        .lines()
        .find_map(|l| l.strip_prefix("ORACLE_VERSIONS="))
        .expect("ORACLE_VERSIONS= in scripts/kube/versions.sh");
    let mut all = vec![KUBE_VERSION.to_string()];
    all.extend(
        line.trim_matches('"')
            .split_whitespace()
            .map(str::to_string),
    );
    all
}

/// The build of Kubernetes `version` (`/var/cache/ksinstall/kube-out/V`;
/// `KUBE_OUT` overrides it for KUBE_VERSION) when every one of `rels` is
/// there; without them a skip with a message, a failure under `CI`.
pub fn kube_build_at(version: &str, rels: &[&str]) -> Option<PathBuf> {
    let default = PathBuf::from(format!("/var/cache/ksinstall/kube-out/{version}"));
    let out = match std::env::var_os("KUBE_OUT") {
        Some(o) if version == KUBE_VERSION => PathBuf::from(o),
        _ => default,
    };
    if let Some(missing) = rels.iter().map(|r| out.join(r)).find(|p| !p.exists()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must build Kubernetes first ({} missing: scripts/kube/build.sh {version} DIR oracle)",
            missing.display()
        );
        eprintln!(
            "skipped {version}: no {} (scripts/kube/build.sh {version} DIR oracle)",
            missing.display()
        );
        return None;
    }
    Some(out)
}

/// The build of KUBE_VERSION (see `kube_build_at`).
pub fn kube_build(rels: &[&str]) -> Option<PathBuf> {
    kube_build_at(KUBE_VERSION, rels)
}
