//! Every rendered file reaches its host: for every layout (each LB mode,
//! runtime, network plugin, storage kind, all-in-one and multi-node, HA,
//! etcd apart from the masters), the install's phases push each file the
//! renderer made for a host exactly once, on that host, and push no file
//! the renderer did not make. A file rendered and never pushed (a config
//! no phase takes), or pushed by two phases, fails here.

mod render_support;

use std::collections::BTreeMap;

use ksinstall::install::facts::Facts;
use ksinstall::install::files::host_files;
use ksinstall::install::ops::Op;
use ksinstall::install::phases::{self, Inputs, Offline};
use ksinstall::model::{Cluster, Mode};
use ksinstall::render::{self, Component};
use render_support::*;

/// Layouts beyond the render tests' variants: docker through cri-dockerd,
/// and etcd members that are not the masters.
fn layouts() -> Vec<(String, Cluster)> {
    let mut out: Vec<(String, Cluster)> = VARIANTS
        .iter()
        .map(|v| {
            (
                v.name.to_string(),
                load_mode(&conf_with(v.seed, v.extra), v.mode),
            )
        })
        .collect();
    out.push((
        "docker-cri-dockerd".into(),
        load(&conf_with("seed-root", "kube_version: v1.28.2\n")),
    ));
    let apart = conf_with("seed-ha", "");
    let hosts = std::fs::read_to_string(apart.join("hosts.ini")).unwrap();
    let hosts = hosts.replace("[etcd]\nmaster[1:3]", "[etcd]\nmaster1\nnode1\nnode2");
    assert!(
        hosts.contains("[etcd]\nmaster1\nnode1"),
        "the fixture changed"
    );
    std::fs::write(apart.join("hosts.ini"), hosts).unwrap();
    out.push(("etcd-apart".into(), load(&apart)));
    // A local registry on the first master, with each runtime.
    for (tag, runtime) in [
        ("registry-containerd", "containerd"),
        ("registry-docker", "docker"),
    ] {
        let conf = conf_with("seed-ha", &format!("container_manager: {runtime}\n"));
        let hosts = std::fs::read_to_string(conf.join("hosts.ini")).unwrap();
        std::fs::write(
            conf.join("hosts.ini"),
            hosts + "\n[local-registry]\nmaster1\n",
        )
        .unwrap();
        out.push((tag.into(), load(&conf)));
    }
    out
}

fn host_facts(c: &Cluster) -> BTreeMap<String, Facts> {
    (c.nodes.iter())
        .map(|n| {
            let ip = n.ip.clone().unwrap_or_else(|| "192.168.0.99".into());
            let text = format!(
                "hostname={}\naddresses=127.0.0.1|{ip}|\ninit=systemd\n",
                n.name
            );
            (n.name.clone(), Facts::parse(&text))
        })
        .collect()
}

/// (host, path) → the phases that push it, from every phase's operations
/// on every host it runs on.
fn pushed(c: &Cluster, inp: &Inputs) -> BTreeMap<(String, String), Vec<&'static str>> {
    let mut out: BTreeMap<(String, String), Vec<&'static str>> = BTreeMap::new();
    for phase in phases::ALL {
        for i in phase.hosts(c) {
            let node = &c.nodes[i];
            for op in phase.ops(node, inp) {
                if let Op::File { path, .. } | Op::Block { path, .. } = op {
                    out.entry((node.name.clone(), path))
                        .or_default()
                        .push(phase.name());
                }
            }
        }
    }
    out
}

#[test]
fn every_rendered_file_is_pushed_once_by_the_phase_of_its_component() {
    let mut facts = fixed_facts();
    facts.kube_ca = Some(render::certs::new_kube_ca().unwrap());
    let mut checked = 0;
    for (name, c) in layouts() {
        let mut f = facts.clone();
        if c.nodes.iter().any(|n| n.name == "ks-allinone") {
            f.nodes.insert(
                "ks-allinone".into(),
                render::NodeFacts {
                    ip: Some("192.168.0.99".into()),
                    ..Default::default()
                },
            );
        }
        let r = render::render_all(&c, &f).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let files = host_files(&c, &r);
        let hf = host_facts(&c);
        let offline = Offline::default();
        let inp = Inputs {
            cluster: &c,
            facts: &hf,
            files: &files,
            offline: &offline,
        };
        let mut pushed = pushed(&c, &inp);
        let mut components = BTreeMap::<Component, usize>::new();
        for (host, list) in &files {
            for file in list {
                *components.entry(file.component).or_default() += 1;
                let by = pushed.remove(&(host.clone(), file.path.clone()));
                assert_eq!(
                    by.as_ref().map(Vec::len),
                    Some(1),
                    "{name}: {host}:{} ({:?}) is pushed by {by:?}",
                    file.path,
                    file.component
                );
                checked += 1;
            }
        }
        assert!(
            pushed.is_empty(),
            "{name}: pushed but never rendered: {pushed:?}"
        );
        // The layouts are what they claim: each owns files of its kind.
        let has = |c: Component| components.contains_key(&c);
        match name.as_str() {
            "internal-nginx" => assert!(has(Component::Lb(render::LbService::Nginx)), "{name}"),
            "keepalived" => assert!(has(Component::Lb(render::LbService::Keepalived)), "{name}"),
            "storage" => assert!(has(Component::Storage), "{name}"),
            "registry-containerd" | "registry-docker" => {
                assert!(has(Component::Registry), "{name}")
            }
            "etcd-apart" => assert!(
                has(Component::EtcdClient) && has(Component::EtcdPki),
                "{name}"
            ),
            _ => {}
        }
        assert!(
            has(Component::KubeCa) && has(Component::Network) && has(Component::KubeSphere),
            "{name}"
        );
    }
    assert!(checked > 500, "only {checked} files checked");
    eprintln!("{checked} rendered files, each pushed once by its phase");
}

#[test]
fn the_all_in_one_host_gets_every_component_it_runs() {
    let v = VARIANTS.iter().find(|v| v.mode == Mode::AllInOne).unwrap();
    let c = load_mode(&conf_with(v.seed, v.extra), v.mode);
    let mut f = fixed_facts();
    f.kube_ca = Some(render::certs::new_kube_ca().unwrap());
    let r = render::render_all(&c, &f).unwrap();
    let files = host_files(&c, &r);
    let mut got: Vec<Component> = files.values().flatten().map(|f| f.component).collect();
    got.sort();
    got.dedup();
    use Component::*;
    let want = [
        Hosts, Kernel, Runtime, EtcdEnv, EtcdUnit, EtcdPki, EtcdBackup, KubeCa, Kubelet, Kubeadm,
        Calico, Network, Storage, KubeSphere,
    ];
    assert_eq!(got, want);
}
