//! `check` says what `install` will say: over a corpus of bad confs, `check`
//! refuses exactly the confs the renderer cannot render (which `install`
//! would otherwise find out only after connecting to every host), and
//! passes the good ones the renderer renders.

mod render_support;

use ksinstall::diag::Report;
use ksinstall::model::{self, Mode, Sources};
use ksinstall::render;
use render_support::*;

/// (seed, extra YAML, what `check` must name). Each is a mistake an
/// operator makes in vars.yml.
const BAD: &[(&str, &str, &str)] = &[
    ("seed-ha", "container_manager: podman\n", "ContainerManager"),
    ("seed-ha", "kube_network_plugin: weave\n", "NetworkPlugin"),
    ("seed-ha", "kube_version: banana\n", "kube_version"),
    ("seed-ha", "keepalived_vip: 192.168.0.10\n", "ApiLoadBalancer"),
    ("seed-ha", "keepalived_vip: 192.168.0.11\n", "ApiLoadBalancer"),
    ("seed-ha", "keepalived_vip: vip.example\n", "ApiLoadBalancer"),
    ("seed-ha", "keepalived_vip: 192.168.0.10\nloadbalancer_apiserver: {address: 192.168.0.10, port: 8443}\nkeepalived_router_id: 300\n", "keepalived_router_id"),
    ("seed-ha", "keepalived_vip: 192.168.0.10\nloadbalancer_apiserver: {address: 192.168.0.10, port: 8443}\nkeepalived_router_id: 0\n", "keepalived_router_id"),
    ("seed-ha", "loadbalancer_apiserver_type: envoy\n", "ApiLoadBalancer"),
    ("seed-ha", "kube_pods_subnet: 10.233.64.1/18\n", "kube_pods_subnet"),
    ("seed-ha", "kube_service_addresses: 10.233.64.0/18\n", "overlap"),
    ("seed-ha", "etcd_data_dir: \"/var/lib/etcd\\nExecStartPre=/bin/sh\"\n", "EtcdPath"),
    ("seed-ha", "etcd_data_dir: relative/etcd\n", "EtcdPath"),
    ("seed-root", "ks_version: banana\n", "ks_version"),
    ("seed-root", "kube_version: v1.99.0\n", "kube_version"),
    ("seed-ha", "http_proxy: proxy.example:3128\n", "ProxySetting"),
    ("seed-ha", "https_proxy: \"http://proxy.example:3128\\\" x\"\n", "ProxySetting"),
    ("seed-ha", "no_proxy: \"a.example,b c\"\n", "ProxySetting"),
];

/// Layouts both must accept.
const GOOD: &[(&str, &str)] = &[
    ("seed-ha", ""),
    ("seed-root", ""),
    ("seed-nonroot", ""),
    ("seed-ha", "container_manager: containerd\n"),
    ("seed-ha", "keepalived_vip: 192.168.0.10\nloadbalancer_apiserver: {address: 192.168.0.10, port: 8443}\nkeepalived_router_id: 200\n"),
    ("seed-nonroot", "loadbalancer_apiserver_type: nginx\n"),
    ("seed-ha", "http_proxy: http://user:pw@proxy.example:3128\nno_proxy: [10.0.0.0/8, .local]\n"),
];

/// (check's report, whether it refuses, whether the renderer fails).
fn both(seed: &str, extra: &str, mode: Mode) -> (String, bool, bool) {
    let src = Sources {
        conf_dir: conf_with(seed, extra),
        inventory: None,
        mode,
    };
    let mut report = Report::default();
    let Some(c) = model::load(&src, &mut report) else {
        // Not even a model: nothing can be rendered either.
        return (report.render(), true, true);
    };
    report.extend(ksinstall::validate::check(&c).items);
    let rendered = render::render_all(&c, &fixed_facts());
    let render_err = rendered.as_ref().err().map(|e| format!("{e:#}"));
    let text = format!("{}\nrender: {render_err:?}", report.render());
    (text, report.has_errors(), rendered.is_err())
}

#[test]
fn check_refuses_every_bad_conf_and_each_one_the_renderer_cannot_render() {
    for (seed, extra, named) in BAD {
        let (text, refused, failed) = both(seed, extra, Mode::MultiNode);
        assert!(refused, "{seed} + {extra:?}: check passed\n{text}");
        assert!(
            text.contains(named),
            "{seed} + {extra:?}: {named} not named\n{text}"
        );
        assert!(
            text.contains("zz-test.yaml:") || text.contains("vars.yml:"),
            "{seed} + {extra:?}: the file is not named\n{text}"
        );
        // Some confs check refuses would render (overlapping networks
        // render fine and break the cluster); a conf that does not render
        // and passes check is the fault this test exists for.
        eprintln!(
            "{seed} + {extra:?}: check refuses; render {}",
            if failed { "fails" } else { "passes" }
        );
    }
    for (seed, extra) in GOOD {
        let (text, refused, failed) = both(seed, extra, Mode::MultiNode);
        assert!(!refused && !failed, "{seed} + {extra:?}\n{text}");
    }
}

/// The other direction over every layout the render tests use: whatever
/// `check` passes renders.
#[test]
fn every_layout_check_passes_renders() {
    for v in VARIANTS {
        let (text, refused, failed) = both(v.seed, v.extra, v.mode);
        assert_eq!(
            refused, failed,
            "{}: check and render disagree\n{text}",
            v.name
        );
    }
}
