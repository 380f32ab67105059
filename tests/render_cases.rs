//! What the rendered files say, case by case: defaults, placeholders,
//! merging with the host's files, the API endpoint in each load-balancer
//! mode, taints, CRI sockets, template overrides and template errors, and
//! the `render` verb.

mod render_support;

use std::process::Command;

use ksinstall::model::Mode;
use ksinstall::render::{self, Merge, NodeFacts, Rendered};
use render_support::*;

fn file<'a>(r: &'a Rendered, host: &str, path: &str) -> &'a str {
    &r.file(host, path)
        .unwrap_or_else(|| panic!("{host}:{path} not rendered"))
        .content
}

fn variant(name: &str) -> &'static Variant {
    VARIANTS.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn exactly_one_default_storage_class() {
    for v in VARIANTS {
        let r = render_variant(v, None, None);
        let mut defaults = Vec::new();
        let mut classes = 0;
        for m in &r.manifests {
            for d in docs(&m.content)
                .iter()
                .filter(|d| d["kind"] == "StorageClass")
            {
                classes += 1;
                let a = &d["metadata"]["annotations"];
                let ga = a["storageclass.kubernetes.io/is-default-class"]
                    .as_str()
                    .unwrap();
                assert_eq!(
                    ga,
                    a["storageclass.beta.kubernetes.io/is-default-class"]
                        .as_str()
                        .unwrap()
                );
                if ga == "true" {
                    defaults.push(d["metadata"]["name"].as_str().unwrap().to_string());
                }
            }
        }
        assert!(classes >= 1, "{}: no StorageClass", v.name);
        assert_eq!(
            defaults.len(),
            1,
            "{}: default classes {defaults:?}",
            v.name
        );
    }
    // The storage variant renders a class per enabled kind; GlusterFS is the default.
    let r = render_variant(variant("storage"), None, None);
    let names: Vec<&str> = r.manifests.iter().map(|m| m.name.as_str()).collect();
    for kind in [
        "ceph-rbd",
        "glusterfs",
        "qingcloud-csi",
        "neonsan-csi",
        "openebs-hostpath",
        "nfs-client",
        "nfs-server",
    ] {
        assert!(
            names.contains(&format!("20-storage-{kind}.yaml").as_str()),
            "{kind}: {names:?}"
        );
    }
    let ks = r.manifest("31-ks-config.yaml").unwrap();
    assert!(
        ks.content.contains("storageClass: \"glusterfs\""),
        "{}",
        ks.content
    );
}

#[test]
fn all_in_one_without_facts_uses_a_documented_placeholder() {
    let v = variant("aio-local-2.1");
    let conf = conf_with(v.seed, v.extra);
    let c = load_mode(&conf, Mode::AllInOne);
    let r = render::render_all(&c, &fixed_facts()).unwrap();
    assert!(file(&r, "ks-allinone", "/etc/etcd.env").contains("https://192.0.2.1:2379"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("ks-allinone") && n.contains("192.0.2.1")),
        "{:?}",
        r.notes
    );
    // With the host's facts, its address is used and nothing is noted.
    let mut facts = fixed_facts();
    facts.nodes.insert(
        "ks-allinone".into(),
        NodeFacts {
            ip: Some("10.0.0.7".into()),
            ..Default::default()
        },
    );
    let r = render::render_all(&c, &facts).unwrap();
    let init = file(
        &r,
        "ks-allinone",
        "/etc/kubernetes/kubeadm-config.v1alpha3.yaml",
    );
    assert!(init.contains("advertiseAddress: 10.0.0.7"), "{init}");
    assert!(
        !r.notes.iter().any(|n| n.contains("192.0.2.1")),
        "{:?}",
        r.notes
    );
    // All-in-one: the one master is also a worker, so it keeps no taint.
    assert!(init.contains("  taints: []\n"), "{init}");
    // KubeSphere 2.1's local volume is OpenEBS hostpath, class `local`.
    let sc = r.manifest("20-storage-local-volume.yaml").unwrap();
    assert!(
        sc.content.contains("provisioner: openebs.io/local")
            && sc.content.contains("name: local\n")
    );
}

#[test]
fn docker_and_containerd_configs_keep_what_the_host_has() {
    let c = load(&conf_with("seed-nonroot", ""));
    let mut facts = fixed_facts();
    let mut existing = std::collections::BTreeMap::new();
    existing.insert(
        "/etc/docker/daemon.json".to_string(),
        r#"{"debug": true, "registry-mirrors": ["https://mine.example"], "data-root": "/data/docker"}"#.to_string(),
    );
    facts.nodes.insert(
        "node1".into(),
        NodeFacts {
            ip: None,
            existing,
            ..Default::default()
        },
    );
    let r = render::render_all(&c, &facts).unwrap();
    let daemon: serde_json::Value =
        serde_json::from_str(file(&r, "node1", "/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["debug"], true);
    assert_eq!(
        daemon["registry-mirrors"],
        serde_json::json!(["https://mine.example", "https://mirror.example.org"])
    );
    assert_eq!(
        daemon["exec-opts"],
        serde_json::json!(["native.cgroupdriver=systemd"])
    );
    assert_eq!(daemon["log-opts"]["max-size"], "50m");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("node1") && n.contains("data-root")),
        "{:?}",
        r.notes
    );
    // node2 had no daemon.json: ours as rendered.
    let daemon: serde_json::Value =
        serde_json::from_str(file(&r, "node2", "/etc/docker/daemon.json")).unwrap();
    assert_eq!(
        daemon["registry-mirrors"],
        serde_json::json!(["https://mirror.example.org"])
    );

    let c = load(&conf_with(
        "seed-nonroot",
        "container_manager: containerd\n",
    ));
    let mut facts = fixed_facts();
    let mut existing = std::collections::BTreeMap::new();
    existing.insert(
        "/etc/containerd/config.toml".to_string(),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nenable_selinux = true\n".to_string(),
    );
    facts.nodes.insert(
        "node1".into(),
        NodeFacts {
            ip: None,
            existing,
            ..Default::default()
        },
    );
    let r = render::render_all(&c, &facts).unwrap();
    let t: toml::Table = toml::from_str(file(&r, "node1", "/etc/containerd/config.toml")).unwrap();
    let cri = &t["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["enable_selinux"].as_bool(), Some(true));
    assert_eq!(cri["sandbox_image"].as_str(), Some("k8s.gcr.io/pause:3.1"));
    assert!(r.file("node1", "/etc/docker/daemon.json").is_none());
}

#[test]
fn hosts_block_and_api_endpoint_per_load_balancer_mode() {
    // External LB: every node maps the domain to it; the endpoint is the domain.
    let r = render_variant(variant("ha"), None, None);
    for h in ["master1", "node3"] {
        let f = r.file(h, "/etc/hosts").unwrap();
        assert_eq!(
            f.merge,
            Merge::Block {
                begin: "# Ansible inventory hosts BEGIN".into(),
                end: "# Ansible inventory hosts END".into()
            }
        );
        assert!(
            f.content
                .contains("192.168.0.4 node1 node1.cluster.local\n"),
            "{}",
            f.content
        );
        assert!(
            f.content.ends_with("192.168.0.10 lb.kubesphere.local\n"),
            "{}",
            f.content
        );
    }
    let init = file(&r, "master1", "/etc/kubernetes/kubeadm-config.v1beta2.yaml");
    assert!(init.contains("controlPlaneEndpoint: lb.kubesphere.local:6443"));
    for san in [
        "\"10.233.0.1\"",
        "\"lb.kubesphere.local\"",
        "\"192.168.0.10\"",
        "\"master3\"",
    ] {
        assert!(init.contains(san), "{san} not in certSANs:\n{init}");
    }
    assert!(file(&r, "node1", "/etc/kubernetes/kubeadm-client.conf")
        .contains("apiServerEndpoint: lb.kubesphere.local:6443"));
    assert!(r
        .file("node1", "/etc/kubernetes/manifests/haproxy.yaml")
        .is_none());

    // Internal LB: workers reach the masters through their local haproxy.
    let r = render_variant(variant("internal-haproxy-flannel-containerd"), None, None);
    let r0 = r.clone();
    assert!(file(&r, "node1", "/etc/hosts").contains("127.0.0.1 lb.kubesphere.local"));
    assert!(file(&r, "master2", "/etc/hosts").contains("192.168.0.2 lb.kubesphere.local"));
    assert!(
        file(&r, "node1", "/etc/haproxy/haproxy.cfg").contains("server master3 192.168.0.3:6443")
    );
    // haproxy runs as the OS's service (up before the kubelet): no static pod.
    assert!(r
        .file("node1", "/etc/kubernetes/manifests/haproxy.yaml")
        .is_none());
    assert!(r.file("master1", "/etc/haproxy/haproxy.cfg").is_none());
    // The legacy static-pod type is the same haproxy, as the service: a
    // static pod would need the kubelet before the join it serves.
    let r = render_variant(variant("internal-haproxy-pod"), None, None);
    assert!(r.file("node1", "/etc/haproxy/haproxy.cfg").is_some());
    assert!(r
        .file("node1", "/etc/kubernetes/manifests/haproxy.yaml")
        .is_none());
    // nginx: its config, as the service reads it; no static pod either.
    let r = render_variant(variant("internal-nginx"), None, None);
    assert!(file(&r, "node1", "/etc/nginx/nginx.conf").contains("proxy_pass kube_apiserver"));
    assert!(r.file("node1", "/etc/haproxy/haproxy.cfg").is_none());
    assert!(r
        .file("node1", "/etc/kubernetes/manifests/nginx-proxy.yaml")
        .is_none());
    // A joining master reaches the first master: its own domain entry
    // points at itself, whose API server is not up before the join.
    assert_eq!(
        file(&r0, "master2", ksinstall::render::JOIN_HOSTS).trim_end(),
        "192.168.0.1 lb.kubesphere.local"
    );
    assert!(r0.file("master1", ksinstall::render::JOIN_HOSTS).is_none());
    assert!(r0.file("node1", ksinstall::render::JOIN_HOSTS).is_none());

    // No LB, one master: still a local proxy on the workers (Kubespray's
    // loadbalancer_apiserver_localhost), the master reaching itself.
    let r = render_variant(variant("root"), None, None);
    let init = file(&r, "master", "/etc/kubernetes/kubeadm-config.v1alpha3.yaml");
    assert!(
        init.contains("controlPlaneEndpoint: lb.kubesphere.local:6443"),
        "{init}"
    );
    assert!(file(&r, "node1", "/etc/hosts").contains("127.0.0.1 lb.kubesphere.local"));
    assert!(file(&r, "master", "/etc/hosts").contains("192.168.0.1 lb.kubesphere.local"));
    assert!(
        file(&r, "node1", "/etc/haproxy/haproxy.cfg").contains("server master 192.168.0.1:6443")
    );
}

/// `check` refuses what the render would, from the same decision
/// (`model::lb`), naming the key's file.
#[test]
fn load_balancer_choices_are_checked_before_any_render() {
    for (extra, want) in [
        ("keepalived_vip: 192.168.0.10\n", "8443"),
        ("keepalived_vip: 192.168.0.11\n", "differ"),
        ("loadbalancer_apiserver_type: envoy\n", "envoy"),
    ] {
        let text = check_text("seed-ha", extra);
        assert!(
            text.contains("[ERROR ApiLoadBalancer]")
                && text.contains("zz-test.yaml")
                && text.contains(want),
            "{extra}: {text}"
        );
    }
    let text = check_text("seed-ha", "loadbalancer_apiserver_type: haproxy-pod\n");
    assert!(text.contains("[WARNING LbStaticPod]"), "{text}");
    assert!(!text.contains("[ERROR"), "{text}");
}

/// The bundle plan carries the proxy each mode runs, for the hosts that
/// run it (the plan once missed keepalived, and haproxy with a VIP).
#[test]
fn the_bundle_plan_carries_each_load_balancer_modes_packages() {
    use ksinstall::bundle::needs::{self, Kind, PlanOptions};
    let debs = |extra: &str| -> Vec<(String, Vec<String>)> {
        let c = load(&conf_with("seed-ha", extra));
        let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
        plan.needs
            .into_iter()
            .filter(|n| {
                n.kind == Kind::Deb
                    && [
                        "haproxy",
                        "keepalived",
                        "nginx-light",
                        "libnginx-mod-stream",
                    ]
                    .contains(&n.name.as_str())
            })
            .map(|n| (n.name, n.hosts))
            .collect()
    };
    let internal = "loadbalancer_apiserver: null\n";
    let names = |d: &[(String, Vec<String>)]| d.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&debs(internal)), ["haproxy"]);
    let nginx = debs(&format!("{internal}loadbalancer_apiserver_type: nginx\n"));
    assert_eq!(names(&nginx), ["nginx-light", "libnginx-mod-stream"]);
    assert!(nginx[0].1.contains(&"node1".to_string()), "{nginx:?}");
    let vip = debs("keepalived_vip: 192.168.0.10\nloadbalancer_apiserver: {address: 192.168.0.10, port: 8443}\n");
    assert_eq!(names(&vip), ["haproxy", "keepalived"]);
    for (_, hosts) in &vip {
        assert!(hosts.iter().all(|h| h.starts_with("master")), "{vip:?}");
    }
    // An external load balancer: no proxy at all.
    assert!(debs("").is_empty());
}

#[test]
fn taints_and_cri_sockets_follow_roles_and_versions() {
    // seed-nonroot: the master is also in [kube-node].
    let r = render_variant(variant("nonroot"), None, None);
    let init = file(&r, "master", "/etc/kubernetes/kubeadm-config.v1beta2.yaml");
    assert!(init.contains("  taints: []\n"), "{init}");
    assert!(init.contains("criSocket: /var/run/dockershim.sock"));
    assert!(!file(&r, "node1", "/etc/kubernetes/kubeadm-client.conf").contains("taints"));
    // seed-ha at 1.28: control-plane taint, cri-dockerd.
    let r = render_variant(variant("ha"), Some("v1.28.15"), None);
    let join = file(&r, "master2", "/etc/kubernetes/kubeadm-client.conf");
    assert!(
        join.contains("key: node-role.kubernetes.io/control-plane"),
        "{join}"
    );
    assert!(!join.contains("node-role.kubernetes.io/master"), "{join}");
    assert!(
        join.contains("criSocket: unix:///run/cri-dockerd.sock"),
        "{join}"
    );
    assert!(r
        .file("node1", "/etc/systemd/system/cri-docker.service")
        .is_some());
    let init = file(&r, "master1", "/etc/kubernetes/kubeadm-config.v1beta3.yaml");
    assert!(init.contains("imageRepository: registry.k8s.io"), "{init}");
    assert!(!init.contains("pod-eviction-timeout"), "{init}");
    // containerd at 1.31: v1beta4 list-form arguments.
    let r = render_variant(
        variant("internal-haproxy-flannel-containerd"),
        Some("v1.31.4"),
        None,
    );
    let init = file(&r, "master1", "/etc/kubernetes/kubeadm-config.v1beta4.yaml");
    assert!(
        init.contains("criSocket: unix:///run/containerd/containerd.sock"),
        "{init}"
    );
    assert!(
        init.contains("    - name: node-ip\n      value: \"192.168.0.1\""),
        "{init}"
    );
    // Without nodelocaldns the kubelet asks CoreDNS, at the tenth service
    // address where kubeadm's addon serves it (it was the third: broken).
    assert!(init.contains("clusterDNS:\n- 10.233.0.10\n"), "{init}");
}

#[test]
fn etcd_cluster_state_is_a_parameter() {
    let c = load(&conf_with("seed-ha", ""));
    let mut facts = fixed_facts();
    facts.etcd_cluster_state = render::EtcdClusterState::Existing;
    let r = render::render_all(&c, &facts).unwrap();
    let env = file(&r, "master3", "/etc/etcd.env");
    assert!(env.contains("ETCD_INITIAL_CLUSTER_STATE=existing"));
    assert!(env.contains("ETCD_NAME=etcd3"));
    assert!(env.contains(
        "ETCD_INITIAL_CLUSTER=etcd1=https://192.168.0.1:2380,etcd2=https://192.168.0.2:2380,etcd3=https://192.168.0.3:2380"
    ));
    assert!(env.contains("ETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-master3.pem"));
}

#[test]
fn kubesphere_config_follows_the_version_and_switches() {
    let r = render_seed(
        "seed-nonroot",
        "devops_enabled: true\nconsole_port: 30881\n",
    );
    let cm = &r.manifest("31-ks-config.yaml").unwrap().content;
    let d = docs(cm);
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(d[0]["data"]["ks-config.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(cfg["devops"]["enabled"], true);
    assert_eq!(cfg["console"]["port"], 30881);
    assert_eq!(cfg["persistence"]["storageClass"], "nfs-client");
    assert_eq!(cfg["etcd"]["endpointIps"], "192.168.0.1");
    let installer = &r.manifest("30-ks-installer.yaml").unwrap().content;
    assert!(installer.contains("image: kubesphere/ks-installer:v2.1.1"));

    let r = render_variant(variant("ks3"), None, None);
    assert!(r.manifest("31-ks-config.yaml").is_none());
    let cc = docs(
        &r.manifest("31-ks-cluster-configuration.yaml")
            .unwrap()
            .content,
    );
    assert_eq!(cc[0]["kind"], "ClusterConfiguration");
    assert_eq!(cc[0]["spec"]["console"]["port"], 30880);
    assert!(r
        .manifest("30-ks-installer.yaml")
        .unwrap()
        .content
        .contains("kind: CustomResourceDefinition"));
}

#[test]
fn conf_templates_override_and_errors_name_the_place() {
    let conf = conf_with("seed-root", "");
    std::fs::create_dir_all(conf.join("templates/etcd")).unwrap();
    std::fs::write(
        conf.join("templates/etcd/etcdctl.env.j2"),
        "# mine for {{ inventory_hostname }}\n",
    )
    .unwrap();
    let c = load(&conf);
    let mut facts = fixed_facts();
    facts.templates_dir = Some(conf.join("templates"));
    let r = render::render_all(&c, &facts).unwrap();
    assert_eq!(
        file(&r, "master", "/etc/etcdctl.env"),
        "# mine for master\n"
    );
    assert_eq!(r.overrides, [conf.join("templates/etcd/etcdctl.env.j2")]);

    std::fs::write(
        conf.join("templates/etcd/etcdctl.env.j2"),
        "# line 1\nETCDCTL_ENDPOINTS={{ etcd_endpionts | join(',') }}\n",
    )
    .unwrap();
    let err = format!("{:#}", render::render_all(&c, &facts).unwrap_err());
    assert!(err.contains("templates/etcd/etcdctl.env.j2:2"), "{err}");
    assert!(err.contains("undefined variable `etcd_endpionts`"), "{err}");
}

#[test]
fn render_verb_writes_every_host_and_the_cluster() {
    let out = scratch("render-verb").join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(["render", "--conf"])
        .arg(fixture("seed-ha"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("nothing was changed on any host"), "{text}");
    assert!(out
        .join("master1/etc/kubernetes/kubeadm-config.v1beta2.yaml")
        .is_file());
    assert!(out
        .join("node3/etc/ssl/etcd/ssl/node-node3-key.pem")
        .is_file());
    assert!(out.join("cluster/10-calico.yaml").is_file());
    let hosts = std::fs::read_to_string(out.join("node1/etc/hosts")).unwrap();
    assert!(
        hosts.starts_with("# Ansible inventory hosts BEGIN\n")
            && hosts.ends_with("# Ansible inventory hosts END\n")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("node3/etc/ssl/etcd/ssl/node-node3-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Rendering again replaces the earlier output...
    let again = Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(["render", "--conf"])
        .arg(fixture("seed-root"))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(again.success());
    assert!(!out.join("master1").exists() && out.join("master").is_dir());
    // ...but never a directory it did not write.
    let other = scratch("render-verb-other");
    std::fs::write(other.join("precious"), "x").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(["render", "--conf"])
        .arg(fixture("seed-root"))
        .arg("-o")
        .arg(&other)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(other.join("precious").is_file());
}

#[test]
fn bad_bootstrap_token_is_refused() {
    let c = load(&conf_with("seed-root", ""));
    let mut facts = fixed_facts();
    facts.bootstrap_token = Some("not-a-token".into());
    assert!(render::render_all(&c, &facts).is_err());
}

#[test]
fn no_python_style_values_leak_into_files() {
    // minijinja prints booleans and none the Jinja way (True/False/None);
    // the templates must convert them (`| string | lower`, `tojson`).
    let re = fancy_regex::Regex::new(r"\b(True|False|None)\b").unwrap();
    for v in VARIANTS {
        for version in [None, Some("v1.31.4")] {
            let r = render_variant(v, version, None);
            let texts = r
                .hosts
                .iter()
                .flat_map(|h| {
                    h.files
                        .iter()
                        .filter(|f| f.template.is_some())
                        .map(move |f| (format!("{}:{}", h.host, f.path), &f.content))
                })
                .chain(r.manifests.iter().map(|m| (m.name.clone(), &m.content)));
            for (name, text) in texts {
                if let Some(m) = re.find(text).unwrap() {
                    let line = text[..m.start()].lines().count();
                    panic!("{} {version:?} {name}:{line}: {:?}", v.name, m.as_str());
                }
            }
        }
    }
}

#[test]
fn host_facts_fill_a_missing_ip_and_notes_name_removed_provisioners() {
    let mut hosts = std::collections::BTreeMap::new();
    hosts.insert(
        "ks-allinone".to_string(),
        ksinstall::install::facts::Facts::parse("addresses=127.0.0.1|10.9.8.7|::1|\n"),
    );
    let facts = ksinstall::install::files::render_facts(&hosts);
    assert_eq!(facts.nodes["ks-allinone"].ip.as_deref(), Some("10.9.8.7"));

    let r = render_variant(variant("storage"), Some("v1.31.4"), None);
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("Ceph RBD") && n.contains("1.31")),
        "{:?}",
        r.notes
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("GlusterFS") && n.contains("1.26")),
        "{:?}",
        r.notes
    );
    let r = render_variant(variant("aio-local-2.0"), None, None);
    assert!(
        r.notes.iter().any(|n| n.contains("ks_installer_tag")),
        "{:?}",
        r.notes
    );
    assert!(
        r.notes.iter().any(|n| n.contains("/mnt/disks")),
        "{:?}",
        r.notes
    );
    assert!(r
        .manifest("20-storage-local-volume.yaml")
        .unwrap()
        .content
        .contains("kubernetes.io/no-provisioner"));
}

/// The tenth address of the service range in the rendered kubeadm config,
/// and that config's text.
fn tenth_service_ip(r: &Rendered) -> (String, String) {
    let kubeadm = r
        .hosts
        .iter()
        .flat_map(|h| h.files.iter())
        .find(|f| f.path.contains("kubeadm-config"))
        .expect("a kubeadm config");
    let svc = kubeadm
        .content
        .lines()
        .find_map(|l| l.trim().strip_prefix("serviceSubnet: "))
        .expect("serviceSubnet");
    let net: ipnet::IpNet = svc.parse().unwrap();
    (
        net.hosts().nth(9).unwrap().to_string(),
        kubeadm.content.clone(),
    )
}

/// kubeadm's CoreDNS addon serves at the tenth service address; the kubelets
/// and NodeLocal DNS must ask there (they asked the third, where nothing
/// answers: the lab's first real cluster resolved no name).
#[test]
fn pods_ask_dns_where_kubeadm_puts_coredns() {
    let flannel = variant("internal-haproxy-flannel-containerd");
    let r = render_variant(flannel, Some("v1.34.4\netcd_version: v3.6.8"), None);
    let (tenth, kubeadm) = tenth_service_ip(&r);
    assert!(
        kubeadm.contains(&format!("clusterDNS:\n- {tenth}\n")),
        "kubelet clusterDNS is not {tenth}:\n{kubeadm}"
    );
    let r = render_variant(variant("root"), None, None);
    let (tenth, _) = tenth_service_ip(&r);
    let m = r
        .manifests
        .iter()
        .find(|m| m.name.contains("nodelocaldns"))
        .expect("nodelocaldns manifest");
    assert!(
        m.content.contains(&format!("forward . {tenth}")),
        "{}",
        m.content
    );
}

/// Hosts that cannot do what a kubelet host usually can (a container's
/// network namespace, no CAP_SYS_RESOURCE, cgroup v1 from 1.35) get settings
/// that work there; ordinary hosts get none of them.
#[test]
fn container_host_facts_shape_the_configs() {
    let v = variant("internal-haproxy-flannel-containerd");
    let conf = conf_with(
        v.seed,
        &format!("{}\nkube_version: v1.35.4\netcd_version: v3.6.8\n", v.extra),
    );
    let c = load_mode(&conf, v.mode);
    let plain = render::render_all(&c, &fixed_facts()).unwrap();
    let mut facts = fixed_facts();
    for n in &c.nodes {
        facts.nodes.insert(
            n.name.clone(),
            NodeFacts {
                restrict_oom: true,
                conntrack_fixed: true,
                cgroup_v1: true,
                ..Default::default()
            },
        );
    }
    let boxed = render::render_all(&c, &facts).unwrap();
    let all = |r: &Rendered| -> String {
        r.hosts
            .iter()
            .flat_map(|h| h.files.iter())
            .map(|f| f.content.clone())
            .collect()
    };
    for (text, want) in [
        ("restrict_oom_score_adj = true", true),
        ("maxPerCore: 0", true),
        ("failCgroupV1: false", true),
        ("ignorePreflightErrors:\n  - SystemVerification", true),
    ] {
        assert_eq!(
            all(&boxed).contains(text),
            want,
            "{text} on container hosts"
        );
        assert!(!all(&plain).contains(text), "{text} on ordinary hosts");
    }
    std::fs::remove_dir_all(&conf).ok();
}

/// `kubelet_fail_cgroup_v1: true` (preflight's `CgroupV1` error, when
/// ignored) leaves the kubelet its own default: it refuses cgroup v1.
#[test]
fn a_strict_conf_leaves_cgroup_v1_refused() {
    let v = variant("internal-haproxy-flannel-containerd");
    let conf = conf_with(
        v.seed,
        &format!(
            "{}\nkube_version: v1.35.4\netcd_version: v3.6.8\nkubelet_fail_cgroup_v1: true\n",
            v.extra
        ),
    );
    let c = load_mode(&conf, v.mode);
    let mut facts = fixed_facts();
    for n in &c.nodes {
        facts.nodes.insert(
            n.name.clone(),
            NodeFacts {
                cgroup_v1: true,
                ..Default::default()
            },
        );
    }
    let r = render::render_all(&c, &facts).unwrap();
    for f in r.hosts.iter().flat_map(|h| h.files.iter()) {
        assert!(!f.content.contains("failCgroupV1"), "{}", f.path);
    }
    std::fs::remove_dir_all(&conf).ok();
}

/// Volumes of a storage kind are mounted by the kubelet with the host's
/// client: the bundle plan carries it, for the Kubernetes nodes, exactly
/// when a class of that kind is enabled (the plan carried none of them).
#[test]
fn the_bundle_plan_carries_each_storage_kinds_client() {
    use ksinstall::bundle::needs::{self, Kind, PlanOptions};
    let clients = ["nfs-common", "ceph-common", "glusterfs-client"];
    let debs = |extra: &str| -> Vec<(String, Vec<String>)> {
        let c = load(&conf_with("seed-ha", extra));
        let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
        (plan.needs.into_iter())
            .filter(|n| n.kind == Kind::Deb && clients.contains(&n.name.as_str()))
            .map(|n| (n.name, n.hosts))
            .collect()
    };
    // seed-ha: Ceph RBD alone.
    let ceph = debs("");
    assert_eq!(ceph.len(), 1, "{ceph:?}");
    assert_eq!(ceph[0].0, "ceph-common");
    assert_eq!(ceph[0].1.len(), 6, "every Kubernetes node: {ceph:?}");
    let nfs = debs("ceph_rbd_enabled: false\nceph_rbd_is_default_class: false\nnfs_client_enabled: true\nnfs_server: 192.168.0.200\nnfs_path: /exports\nnfs_client_is_default_class: true\n");
    assert_eq!(nfs.len(), 1, "{nfs:?}");
    assert_eq!(nfs[0].0, "nfs-common");
    let gluster = debs("glusterfs_provisioner_enabled: true\nglusterfs_provisioner_resturl: http://192.168.0.30:8080\nglusterfs_provisioner_clusterid: 6a6792ed25405eaa6302da99f2f5e24b\njwt_admin_key: '123456'\n");
    assert!(
        gluster.iter().any(|d| d.0 == "glusterfs-client"),
        "{gluster:?}"
    );
    let all: Vec<String> = debs(render_support_all_storage())
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    for c in clients {
        assert!(all.contains(&c.to_string()), "{c} missing from {all:?}");
    }
}

fn render_support_all_storage() -> &'static str {
    VARIANTS.iter().find(|v| v.name == "storage").unwrap().extra
}

/// `http_proxy`/`https_proxy` reach the container runtime (a systemd
/// drop-in the runtime phase pushes and restarts on), with `no_proxy`
/// computed from the cluster unless given; they were accepted and ignored.
#[test]
fn the_proxy_settings_reach_the_container_runtime() {
    let r = render_seed("seed-ha", "container_manager: containerd\nhttp_proxy: http://proxy.example:3128\nhttps_proxy: http://proxy.example:3128\nadditional_no_proxy: .corp.example\n");
    let path = "/etc/systemd/system/containerd.service.d/http-proxy.conf";
    for host in ["master1", "node3"] {
        let f = r
            .file(host, path)
            .unwrap_or_else(|| panic!("{host}: no {path}"));
        assert_eq!(f.component, ksinstall::render::Component::Runtime);
        let t = &f.content;
        assert!(
            t.contains("Environment=\"HTTP_PROXY=http://proxy.example:3128\""),
            "{t}"
        );
        assert!(
            t.contains("Environment=\"HTTPS_PROXY=http://proxy.example:3128\""),
            "{t}"
        );
        let no = t.lines().find(|l| l.contains("NO_PROXY=")).unwrap();
        for want in [
            "localhost",
            "192.168.0.1",
            "node3",
            "10.233.0.0/18",
            "10.233.64.0/18",
            ".cluster.local",
            ".corp.example",
        ] {
            assert!(no.contains(want), "{want} not in {no}");
        }
    }
    // Docker: its own unit; given no_proxy is taken as is.
    let r = render_seed(
        "seed-ha",
        "http_proxy: http://proxy.example:3128\nno_proxy: 10.0.0.0/8,.local\n",
    );
    let t = &r
        .file(
            "node1",
            "/etc/systemd/system/docker.service.d/http-proxy.conf",
        )
        .unwrap()
        .content;
    assert!(t.contains("\"NO_PROXY=10.0.0.0/8,.local\""), "{t}");
    assert!(!t.contains("HTTPS_PROXY"), "{t}");
    // No proxy, no drop-in.
    let r = render_seed("seed-ha", "");
    assert!(r
        .hosts
        .iter()
        .flat_map(|h| &h.files)
        .all(|f| !f.path.contains("http-proxy")));
}

/// A KubeKey file's `containerManager: containerd` rendered docker and
/// cri-dockerd (the field was not read); now it decides the runtime, as
/// `maxPods` and `proxyMode` decide theirs.
#[test]
fn kubekey_fields_decide_the_runtime_and_the_kubelet() {
    let conf = conf_with("seed-kubekey", "");
    let sample = conf.join("config-sample.yaml");
    let mut text = std::fs::read_to_string(&sample).unwrap();
    text.push_str("  kubernetes:\n    version: v1.28.2\n    containerManager: containerd\n    maxPods: 150\n    proxyMode: iptables\n");
    std::fs::write(&sample, text).unwrap();
    let mut report = ksinstall::diag::Report::default();
    let src = ksinstall::model::Sources {
        conf_dir: conf.clone(),
        inventory: Some(sample),
        mode: ksinstall::model::Mode::MultiNode,
    };
    let c = ksinstall::model::load(&src, &mut report).expect("loads");
    assert!(!report.has_errors(), "{}", report.render());
    assert_eq!(c.config.runtime, ksinstall::config::Runtime::Containerd);
    assert_eq!(c.config.network.max_pods, 150);
    assert_eq!(c.config.network.proxy_mode, "iptables");
    let r = ksinstall::render::render_all(&c, &fixed_facts()).unwrap();
    assert!(r.file("master", "/etc/containerd/config.toml").is_some());
    assert!(r.file("master", "/etc/docker/daemon.json").is_none());
    assert!(r
        .file("node1", "/etc/systemd/system/cri-docker.service")
        .is_none());
}

/// Rendering is pure once the facts are completed: `complete` makes the
/// secrets and the PKI and reads the overrides; `render` then gives the
/// same files every time, with the override directory gone.
#[test]
fn render_from_completed_facts_reads_nothing_and_draws_nothing() {
    let conf = conf_with("seed-root", "");
    std::fs::create_dir_all(conf.join("templates/etcd")).unwrap();
    std::fs::write(conf.join("templates/etcd/etcdctl.env.j2"), "# mine\n").unwrap();
    let c = load(&conf);
    let facts = render::Facts {
        templates_dir: Some(conf.join("templates")),
        ..render::Facts::default()
    };
    let completed = render::complete(&c, &facts).unwrap();
    std::fs::remove_dir_all(conf.join("templates")).unwrap();
    let texts = |r: &render::Rendered| -> Vec<(String, String)> {
        (r.hosts.iter())
            .flat_map(|h| h.files.iter().map(|f| (f.path.clone(), f.content.clone())))
            .chain(
                r.manifests
                    .iter()
                    .map(|m| (m.name.clone(), m.content.clone())),
            )
            .collect()
    };
    let (a, b) = (
        render::render(&c, &completed).unwrap(),
        render::render(&c, &completed).unwrap(),
    );
    assert_eq!(texts(&a), texts(&b));
    assert_eq!(file(&a, "master", "/etc/etcdctl.env"), "# mine\n");
    // Without completing, two renders differ (new secrets and PKI).
    let (x, y) = (
        render::render_all(&c, &facts).unwrap(),
        render::render_all(&c, &facts).unwrap(),
    );
    assert_ne!(texts(&x), texts(&y));
}
