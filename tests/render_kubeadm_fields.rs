//! The kubeadm configs hold only fields of their API version.
//!
//! The field tables are derived from the upstream kubeadm API references:
//! `cmd/kubeadm/app/apis/kubeadm/v1alpha3/types.go` and
//! `.../v1beta1/types.go` (kubernetes/kubernetes), and the generated pages
//! `kubeadm-config.v1beta2.md`, `kubeadm-config.v1beta3.md`,
//! `kubeadm-config.v1beta4.md` (kubernetes/website). A path is
//! `a.b.c`; `a[]` is a list of objects; `a.*` is a free-form map
//! (extraArgs before v1beta4, featureGates). A rendered field that is not
//! in its version's table fails, so a field in the wrong version fails.

mod render_support;

use std::collections::BTreeSet;

use render_support::*;
use serde_yaml::Value;

const TOKEN: &[&str] = &[
    "bootstrapTokens",
    "bootstrapTokens[].token",
    "bootstrapTokens[].description",
    "bootstrapTokens[].ttl",
    "bootstrapTokens[].expires",
    "bootstrapTokens[].usages",
    "bootstrapTokens[].groups",
];

const NODE_REGISTRATION: &[&str] = &[
    "nodeRegistration",
    "nodeRegistration.name",
    "nodeRegistration.criSocket",
    "nodeRegistration.taints",
    "nodeRegistration.taints[].key",
    "nodeRegistration.taints[].value",
    "nodeRegistration.taints[].effect",
    "nodeRegistration.taints[].timeAdded",
    "nodeRegistration.kubeletExtraArgs",
    "nodeRegistration.kubeletExtraArgs.*",
];

const EXTERNAL_ETCD: &[&str] = &[
    "etcd",
    "etcd.external",
    "etcd.external.endpoints",
    "etcd.external.caFile",
    "etcd.external.certFile",
    "etcd.external.keyFile",
    "etcd.local",
    "etcd.local.dataDir",
    "etcd.local.extraArgs",
    "etcd.local.extraArgs.*",
    "etcd.local.serverCertSANs",
    "etcd.local.peerCertSANs",
];

const NETWORKING: &[&str] = &[
    "networking",
    "networking.serviceSubnet",
    "networking.podSubnet",
    "networking.dnsDomain",
];

fn host_path_mounts(prefix: &str, writable: &str) -> Vec<String> {
    ["", "[].name", "[].hostPath", "[].mountPath", "[].pathType"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .chain([format!("{prefix}[].{writable}")])
        .collect()
}

/// (kind, allowed paths) for one API version.
fn table(api: &str) -> Vec<(&'static str, BTreeSet<String>)> {
    let set =
        |parts: Vec<Vec<String>>| -> BTreeSet<String> { parts.into_iter().flatten().collect() };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    if api == "v1alpha3" {
        // types.go v1alpha3: flat ClusterConfiguration, apiEndpoint, controlPlane bool.
        let init = set(vec![
            s(TOKEN),
            s(NODE_REGISTRATION),
            s(&[
                "apiEndpoint",
                "apiEndpoint.advertiseAddress",
                "apiEndpoint.bindPort",
            ]),
        ]);
        let cluster = set(vec![
            s(EXTERNAL_ETCD),
            s(&["etcd.local.image"]),
            s(NETWORKING),
            s(&[
                "kubernetesVersion",
                "controlPlaneEndpoint",
                "apiServerExtraArgs",
                "apiServerExtraArgs.*",
                "controllerManagerExtraArgs",
                "controllerManagerExtraArgs.*",
                "schedulerExtraArgs",
                "schedulerExtraArgs.*",
                "apiServerCertSANs",
                "certificatesDir",
                "imageRepository",
                "unifiedControlPlaneImage",
                "auditPolicy",
                "auditPolicy.*",
                "featureGates",
                "featureGates.*",
                "clusterName",
            ]),
            host_path_mounts("apiServerExtraVolumes", "writable"),
            host_path_mounts("controllerManagerExtraVolumes", "writable"),
            host_path_mounts("schedulerExtraVolumes", "writable"),
        ]);
        let join = set(vec![
            s(NODE_REGISTRATION),
            s(&[
                "caCertPath",
                "discoveryFile",
                "discoveryToken",
                "discoveryTokenAPIServers",
                "discoveryTimeout",
                "tlsBootstrapToken",
                "token",
                "clusterName",
                "discoveryTokenCACertHashes",
                "discoveryTokenUnsafeSkipCAVerification",
                "controlPlane",
                "apiEndpoint",
                "apiEndpoint.advertiseAddress",
                "apiEndpoint.bindPort",
                "featureGates",
                "featureGates.*",
            ]),
        ]);
        return vec![
            ("InitConfiguration", init),
            ("ClusterConfiguration", cluster),
            ("JoinConfiguration", join),
        ];
    }
    // v1beta1 (types.go): nested apiServer/controllerManager/scheduler, dns, discovery.
    let v4 = api == "v1beta4";
    let args = |c: &str| -> Vec<String> {
        if v4 {
            // v1beta4: "structured extra arguments that support duplicates".
            vec![
                format!("{c}.extraArgs"),
                format!("{c}.extraArgs[].name"),
                format!("{c}.extraArgs[].value"),
            ]
        } else {
            vec![format!("{c}.extraArgs"), format!("{c}.extraArgs.*")]
        }
    };
    let component = |c: &str| -> Vec<String> {
        let mut v = vec![c.to_string()];
        v.extend(args(c));
        v.extend(host_path_mounts(&format!("{c}.extraVolumes"), "readOnly"));
        if v4 {
            v.push(format!("{c}.extraEnvs"));
            v.push(format!("{c}.extraEnvs[].name"));
            v.push(format!("{c}.extraEnvs[].value"));
            v.push(format!("{c}.extraEnvs[].valueFrom"));
        }
        v
    };
    let mut node_reg: Vec<String> = s(NODE_REGISTRATION);
    if v4 {
        node_reg.retain(|p| p != "nodeRegistration.kubeletExtraArgs.*");
        node_reg.extend(s(&[
            "nodeRegistration.kubeletExtraArgs[].name",
            "nodeRegistration.kubeletExtraArgs[].value",
        ]));
    }
    if api != "v1beta1" {
        node_reg.push("nodeRegistration.ignorePreflightErrors".into()); // v1beta2
    }
    if matches!(api, "v1beta3" | "v1beta4") {
        node_reg.push("nodeRegistration.imagePullPolicy".into()); // v1beta3
    }
    if v4 {
        node_reg.push("nodeRegistration.imagePullSerial".into());
    }
    let endpoint = |p: &str| {
        s(&[
            p,
            &format!("{p}.advertiseAddress"),
            &format!("{p}.bindPort"),
        ])
    };
    let mut init = set(vec![
        s(TOKEN),
        node_reg.clone(),
        endpoint("localAPIEndpoint"),
    ]);
    let mut join = set(vec![
        node_reg,
        s(&[
            "caCertPath",
            "discovery",
            "discovery.bootstrapToken",
            "discovery.bootstrapToken.token",
            "discovery.bootstrapToken.apiServerEndpoint",
            "discovery.bootstrapToken.caCertHashes",
            "discovery.bootstrapToken.unsafeSkipCAVerification",
            "discovery.file",
            "discovery.file.kubeConfigPath",
            "discovery.tlsBootstrapToken",
            "controlPlane",
        ]),
        endpoint("controlPlane.localAPIEndpoint"),
    ]);
    let mut cluster = set(vec![
        s(EXTERNAL_ETCD),
        s(&["etcd.local.imageRepository", "etcd.local.imageTag"]),
        s(NETWORKING),
        s(&[
            "kubernetesVersion",
            "controlPlaneEndpoint",
            "apiServer.certSANs",
            "dns",
            "dns.imageRepository",
            "dns.imageTag",
            "certificatesDir",
            "imageRepository",
            "featureGates",
            "featureGates.*",
            "clusterName",
        ]),
        component("apiServer"),
        component("controllerManager"),
        component("scheduler"),
    ]);
    if v4 {
        cluster.retain(|p| p != "etcd.local.extraArgs.*");
        cluster.extend(s(&[
            "etcd.local.extraArgs[].name",
            "etcd.local.extraArgs[].value",
            "etcd.local.extraEnvs",
            "dns.disabled",
            "proxy",
            "proxy.disabled",
            "encryptionAlgorithm",
            "certificateValidityPeriod",
            "caCertificateValidityPeriod",
        ]));
        let timeouts = [
            "timeouts",
            "timeouts.controlPlaneComponentHealthCheck",
            "timeouts.kubeletHealthCheck",
            "timeouts.kubernetesAPICall",
            "timeouts.etcdAPICall",
            "timeouts.tlsBootstrap",
            "timeouts.discovery",
            "timeouts.upgradeManifests",
        ];
        init.extend(s(&timeouts));
        join.extend(s(&timeouts));
        init.insert("dryRun".into());
        join.insert("dryRun".into());
    } else {
        // Until v1beta3; v1beta4 moved both into `timeouts`.
        cluster.insert("apiServer.timeoutForControlPlane".into());
        join.insert("discovery.timeout".into());
    }
    if matches!(api, "v1beta1" | "v1beta2") {
        // Removed in v1beta3.
        cluster.insert("dns.type".into());
        cluster.insert("useHyperKubeImage".into());
    }
    if api != "v1beta1" {
        // v1beta2: upload-certs.
        init.insert("certificateKey".into());
        join.insert("controlPlane.certificateKey".into());
    }
    if matches!(api, "v1beta3" | "v1beta4") {
        for t in [&mut init, &mut join] {
            t.extend(s(&["skipPhases", "patches", "patches.directory"]));
        }
    }
    vec![
        ("InitConfiguration", init),
        ("ClusterConfiguration", cluster),
        ("JoinConfiguration", join),
    ]
}

/// KubeletConfiguration (kubelet.config.k8s.io/v1beta1) and
/// KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) fields we may
/// write: all present since Kubernetes 1.10.
const COMPONENT_FIELDS: &[&str] = &[
    "cgroupDriver",
    "clusterDomain",
    "clusterDNS",
    "maxPods",
    "rotateCertificates",
    "mode",
    "clusterCIDR",
];

/// Paths of a document that its table does not allow.
fn unknown_paths(doc: &Value, allowed: &BTreeSet<String>) -> Vec<String> {
    fn walk(v: &Value, path: &str, allowed: &BTreeSet<String>, out: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                if allowed.contains(&format!("{path}.*")) {
                    return;
                }
                for (k, child) in m {
                    let k = k.as_str().unwrap_or("?");
                    let p = if path.is_empty() {
                        k.to_string()
                    } else {
                        format!("{path}.{k}")
                    };
                    if path.is_empty() && (k == "apiVersion" || k == "kind") {
                        continue;
                    }
                    if !allowed.contains(&p) {
                        out.push(p);
                        continue;
                    }
                    walk(child, &p, allowed, out);
                }
            }
            Value::Sequence(items) => {
                for i in items {
                    walk(i, &format!("{path}[]"), allowed, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, "", allowed, &mut out);
    out
}

fn check_doc(doc: &Value, expected_api: &str) -> Vec<String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or("");
    let kind = doc["kind"].as_str().unwrap_or("");
    match api_version {
        "kubelet.config.k8s.io/v1beta1" | "kubeproxy.config.k8s.io/v1alpha1" => {
            let allowed = COMPONENT_FIELDS.iter().map(|s| s.to_string()).collect();
            unknown_paths(doc, &allowed)
                .into_iter()
                .map(|p| format!("{kind}: {p}"))
                .collect()
        }
        _ => {
            let want = format!("kubeadm.k8s.io/{expected_api}");
            if api_version != want {
                return vec![format!("{kind}: apiVersion {api_version}, expected {want}")];
            }
            match table(expected_api).into_iter().find(|(k, _)| *k == kind) {
                Some((_, allowed)) => unknown_paths(doc, &allowed)
                    .into_iter()
                    .map(|p| format!("{api_version} {kind}: {p}"))
                    .collect(),
                None => vec![format!("unexpected kind {kind} in a kubeadm config")],
            }
        }
    }
}

fn expected_api(kube_minor: u32) -> &'static str {
    match kube_minor {
        ..=12 => "v1alpha3",
        13..=14 => "v1beta1",
        15..=21 => "v1beta2",
        22..=30 => "v1beta3",
        _ => "v1beta4",
    }
}

#[test]
fn kubeadm_configs_use_only_fields_of_their_api_version() {
    let mut problems = Vec::new();
    let mut docs_checked = 0;
    for version in VERSIONS {
        let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
        for v in VARIANTS {
            let r = render_variant(v, Some(version), None);
            let mut kinds = BTreeSet::new();
            for h in &r.hosts {
                for f in h
                    .files
                    .iter()
                    .filter(|f| f.path.starts_with("/etc/kubernetes/kubeadm-"))
                {
                    for d in docs(&f.content) {
                        kinds.insert(d["kind"].as_str().unwrap_or("").to_string());
                        for p in check_doc(&d, expected_api(minor)) {
                            problems
                                .push(format!("{} {version} {}:{}: {p}", v.name, h.host, f.path));
                        }
                        docs_checked += 1;
                    }
                }
            }
            for k in [
                "InitConfiguration",
                "ClusterConfiguration",
                "JoinConfiguration",
                "KubeletConfiguration",
                "KubeProxyConfiguration",
            ] {
                if !(k == "JoinConfiguration" && v.mode == ksinstall::model::Mode::AllInOne) {
                    assert!(kinds.contains(k), "{} {version}: no {k} rendered", v.name);
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(docs_checked > 300, "{docs_checked}");
}

#[test]
fn a_field_of_another_version_is_caught() {
    let doc = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
    // certificateKey arrived in v1beta2.
    let init =
        doc("apiVersion: kubeadm.k8s.io/v1beta1\nkind: InitConfiguration\ncertificateKey: abc\n");
    assert_eq!(
        check_doc(&init, "v1beta1"),
        ["kubeadm.k8s.io/v1beta1 InitConfiguration: certificateKey"]
    );
    // v1alpha3 had apiEndpoint, not localAPIEndpoint.
    let init = doc("apiVersion: kubeadm.k8s.io/v1alpha3\nkind: InitConfiguration\nlocalAPIEndpoint: {bindPort: 6443}\n");
    assert_eq!(check_doc(&init, "v1alpha3").len(), 1);
    // v1beta4: extraArgs is a list; a map is a field error; timeoutForControlPlane is gone.
    let cluster = doc(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n    bind-address: 0.0.0.0\n  timeoutForControlPlane: 4m0s\n",
    );
    assert_eq!(
        check_doc(&cluster, "v1beta4"),
        [
            "kubeadm.k8s.io/v1beta4 ClusterConfiguration: apiServer.extraArgs.bind-address",
            "kubeadm.k8s.io/v1beta4 ClusterConfiguration: apiServer.timeoutForControlPlane"
        ]
    );
    // dns.type was removed in v1beta3.
    let cluster = doc(
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ndns:\n  type: CoreDNS\n",
    );
    assert_eq!(check_doc(&cluster, "v1beta3").len(), 1);
    // The wrong API version for the Kubernetes version.
    assert_eq!(check_doc(&cluster, "v1beta2").len(), 1);
}
