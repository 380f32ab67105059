//! Property tests: the inventory and config readers never panic, whatever
//! bytes they are given; they either read the input or return a diagnostic.
//! `PROPTEST_CASES=200000 cargo test --release --test parsers_never_panic`
//! runs a long session.

use std::path::{Path, PathBuf};

use ksinstall::config;
use ksinstall::config::kubekey;
use ksinstall::diag::Report;
use ksinstall::inventory::{ini, output, pyliteral};
use proptest::prelude::*;

/// Fragments that steer random input into the parser's interesting corners.
const INI_PIECES: &[&str] = &[
    "[all]",
    "[all:vars]",
    "[g:children]",
    "[g]",
    "[g:vars]",
    "[kube-master]",
    "[x:bad]",
    "[a b]",
    "g",
    "h",
    "node[1:3]",
    "n[01:10:2]",
    "n[a:c]",
    "n[:",
    "h:22",
    "[::1]:22",
    "10.0.0.[1:2]",
    "x=1",
    "x='a b'",
    "x=\"q",
    "y=a#b",
    "z=[1, {'a': (2,)}]",
    "p=0x1F",
    "q=1e400",
    "r=-3j",
    "s=\\",
    "#c",
    ";c",
    " ",
    "\t",
    "=",
    "---",
    "ansible_connection=local",
    "ansible_host=1.2.3.4",
    "ansible_port=70000",
    "ip=1.2.3.4",
    "ansible_user=ubuntu",
    "ansible_become_pass=x",
    "\r\n",
    "\n",
    "\u{feff}",
    "é",
    "\u{2028}",
];

fn ini_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(INI_PIECES), 0..5).prop_map(|p| p.join(" ")),
        0..12,
    )
    .prop_map(|lines| lines.join("\n"))
}

const YAML_PIECES: &[&str] = &[
    "kube_version: v1.16.7",
    "kube_version: x",
    "kube_pods_subnet: 10.233.64.0/18",
    "kube_pods_subnet: 1.2.3.4/40",
    "local_volume_enabled: yes",
    "local_volume_enabled: maybe",
    "nfs_client_enable: on",
    "loadbalancer_apiserver:",
    "  address: 192.168.0.10",
    "  port: 99999",
    "console_port: 30880",
    "dns_domain: \"{{ cluster_name }}\"",
    "x: \"{{ y }}\"",
    "y: \"{{ x }}\"",
    "bad: \"{{\"",
    "- item",
    "key: [1, 2",
    "spec:",
    "  hosts:",
    "  roleGroups:",
    "  - {name: a, address: 1.2.3.4}",
    "    etcd: [a]",
    "ceph_rbd_monitors: []",
    "? complex",
    "&a b: *a",
    "",
];

fn yaml_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(YAML_PIECES), 0..12).prop_map(|l| l.join("\n"))
}

fn read_inventory(bytes: &[u8]) {
    if let Ok(inv) = ini::parse(Path::new("fuzz.ini"), bytes) {
        let _ = output::list_json(&inv);
        let _ = output::graph(&inv, "all");
    }
}

fn read_config(text: &str) {
    let mut report = Report::default();
    let _ = config::from_texts(
        &[(PathBuf::from("fuzz.yml"), text.to_string())],
        &mut report,
    );
    let _ = kubekey::parse(Path::new("fuzz.yaml"), text);
}

proptest! {
    #[test]
    fn inventory_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        read_inventory(&bytes);
    }

    #[test]
    fn inventory_structured(text in ini_text()) {
        read_inventory(text.as_bytes());
    }

    #[test]
    fn literal_eval_arbitrary(s in ".{0,64}") {
        let _ = pyliteral::literal_eval(&s);
    }

    #[test]
    fn config_arbitrary(s in ".{0,256}") {
        read_config(&s);
    }

    #[test]
    fn config_structured(text in yaml_text()) {
        read_config(&text);
    }
}
