//! The rendered daemon configs pass the daemons' own checkers, from
//! Debian 12's packages (.ci/run installs them): `haproxy -c`,
//! `keepalived --config-test`, `nginx -t`, `containerd config dump`,
//! `systemd-analyze verify`. A missing tool fails under CI, skips elsewhere.

mod render_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ksinstall::render::Rendered;
use render_support::*;

fn variant(name: &str) -> &'static Variant {
    VARIANTS.iter().find(|v| v.name == name).unwrap()
}

/// Every host file at `path`, written under `dir` as `<host>-<file name>`.
fn write_files(r: &Rendered, path: &str, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for h in &r.hosts {
        if let Some(f) = h.files.iter().find(|f| f.path == path) {
            let p = dir.join(format!("{}-{}", h.host, path.rsplit('/').next().unwrap()));
            std::fs::write(&p, &f.content).unwrap();
            out.push((h.host.clone(), p));
        }
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn haproxy_configs_pass_haproxy_check() {
    let Some(haproxy) = tool("haproxy") else {
        return;
    };
    let dir = scratch("haproxy");
    let mut n = 0;
    for v in [
        "internal-haproxy-flannel-containerd",
        "keepalived",
        "internal-haproxy-pod",
    ] {
        let r = render_variant(variant(v), None, None);
        for (host, p) in write_files(&r, "/etc/haproxy/haproxy.cfg", &dir) {
            let o = Command::new(&haproxy)
                .arg("-c")
                .arg("-f")
                .arg(&p)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{v} {host}: haproxy -c failed:\n{}",
                text(&o)
            );
            n += 1;
        }
    }
    assert_eq!(
        n, 8,
        "3 workers (internal service) + 3 masters (keepalived) + 2 workers (static pod)"
    );
    // The checker does catch a broken file.
    let bad = dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "frontend x\n    bind 127.0.0.1:1\n    no_such_keyword 1\n",
    )
    .unwrap();
    assert!(!Command::new(&haproxy)
        .arg("-c")
        .arg("-f")
        .arg(&bad)
        .status()
        .unwrap()
        .success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn keepalived_configs_pass_config_test() {
    let Some(keepalived) = tool("keepalived") else {
        return;
    };
    let dir = scratch("keepalived");
    let r = render_variant(variant("keepalived"), None, None);
    let files = write_files(&r, "/etc/keepalived/keepalived.conf", &dir);
    assert_eq!(files.len(), 3);
    // keepalived checks that the interface exists: use one of this machine's.
    let iface = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n != "lo")
        .min()
        .unwrap_or_else(|| "lo".into());
    for (host, p) in files {
        let content = std::fs::read_to_string(&p).unwrap();
        assert!(
            content.contains("interface eth1\n"),
            "{host}: keepalived_interface not used:\n{content}"
        );
        std::fs::write(
            &p,
            content.replace("interface eth1\n", &format!("interface {iface}\n")),
        )
        .unwrap();
        // Debian 12's keepalived 2.2: `-t, --config-test[=LOG_FILE]`, with `-f FILE`.
        let o = Command::new(&keepalived)
            .arg("--config-test")
            .arg("-f")
            .arg(&p)
            .output()
            .unwrap();
        let out = text(&o);
        // It exits 0 on warnings (even on a missing file): read its output too.
        assert!(
            o.status.success() && !out.contains("WARNING") && !out.to_lowercase().contains("error"),
            "{host}: keepalived --config-test failed:\n{out}"
        );
        assert!(
            content.contains("192.168.0.10"),
            "{host}: no VIP in\n{content}"
        );
    }
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "vrrp_instance x {\n  state MASTER\n  interface eth0\n  virtual_router_id 999\n  priority 100\n}\n").unwrap();
    assert!(!Command::new(&keepalived)
        .arg("--config-test")
        .arg("-f")
        .arg(&bad)
        .status()
        .unwrap()
        .success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nginx_configs_pass_nginx_test() {
    let Some(nginx) = tool("nginx") else { return };
    let dir = scratch("nginx");
    let r = render_variant(variant("internal-nginx"), None, None);
    let files = write_files(&r, "/etc/nginx/nginx.conf", &dir);
    assert_eq!(files.len(), 3);
    for (host, p) in files {
        // As the host's nginx service reads it: the stream module from the
        // package's own directory (libnginx-mod-stream, which CI installs).
        let o = Command::new(&nginx)
            .arg("-t")
            .arg("-q")
            .arg("-c")
            .arg(&p)
            .arg("-g")
            .arg(format!("pid {}/nginx.pid;", dir.display()))
            .arg("-e")
            .arg("stderr")
            .output()
            .unwrap();
        assert!(o.status.success(), "{host}: nginx -t failed:\n{}", text(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn containerd_config_loads_in_containerd() {
    let Some(containerd) = tool("containerd") else {
        return;
    };
    let dir = scratch("containerd");
    let r = render_variant(
        variant("internal-haproxy-flannel-containerd"),
        Some("v1.28.15"),
        None,
    );
    let files = write_files(&r, "/etc/containerd/config.toml", &dir);
    assert_eq!(files.len(), 6);
    let (host, p) = &files[0];
    let o = Command::new(&containerd)
        .arg("--config")
        .arg(p)
        .arg("config")
        .arg("dump")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        o.status.success(),
        "{host}: containerd config dump failed:\n{out}"
    );
    // The settings took effect in containerd's view of the file.
    for want in [
        "SystemdCgroup = true",
        "sandbox_image = \"registry.k8s.io/pause:3.9\"",
        "config_path = \"/etc/containerd/certs.d\"",
    ] {
        assert!(
            out.contains(want),
            "{host}: `{want}` not in the dump:\n{out}"
        );
    }
    // The registry host files are TOML with the mirrors.
    let mirror = r
        .file(host, "/etc/containerd/certs.d/docker.io/hosts.toml")
        .unwrap();
    let t: toml::Table = toml::from_str(&mirror.content).unwrap();
    assert_eq!(t["server"].as_str(), Some("https://registry-1.docker.io"));
    assert!(
        t["host"].get("https://mirror.example.org").is_some(),
        "{}",
        mirror.content
    );
    let insecure = r
        .file(host, "/etc/containerd/certs.d/192.168.0.5:5000/hosts.toml")
        .unwrap();
    assert!(
        insecure.content.contains("skip_verify = true"),
        "{}",
        insecure.content
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A root for `systemd-analyze verify --root`: the system's unit directory
/// (for targets such as sysinit.target) and stub executables.
fn systemd_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let units = root.join("usr/lib/systemd");
    std::fs::create_dir_all(&units).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system")
        .arg(&units)
        .status()
        .unwrap();
    assert!(st.success());
    let bin = root.join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    for b in [
        "usr/local/bin/kubelet",
        "usr/local/bin/etcd",
        "usr/local/bin/cri-dockerd",
        "bin/kill",
    ] {
        let p = root.join(b);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let dir = scratch("systemd");
    let root = systemd_root(&dir);
    let mut units = std::collections::BTreeSet::new();
    // Docker before and after dockershim (cri-dockerd units from 1.24), etcd everywhere.
    for (v, version) in [
        ("ha", None),
        ("ha", Some("v1.28.15")),
        ("internal-haproxy-flannel-containerd", None),
    ] {
        let r = render_variant(variant(v), version, None);
        for h in &r.hosts {
            // The rendered programs the units run (the etcd backup script).
            for f in h.files.iter().filter(|f| f.mode & 0o111 != 0) {
                use std::os::unix::fs::PermissionsExt;
                let p = root.join(f.path.trim_start_matches('/'));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &f.content).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode)).unwrap();
            }
            for f in h
                .files
                .iter()
                .filter(|f| f.path.starts_with("/etc/systemd/system/"))
            {
                let p = root.join(f.path.trim_start_matches('/'));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &f.content).unwrap();
                if !f.path.contains(".d/") {
                    units.insert(f.path.rsplit('/').next().unwrap().to_string());
                }
            }
            let o = Command::new(&analyze)
                .args(["verify", "--man=no", "--generators=no"])
                .arg(format!("--root={}", root.display()))
                .args(&units)
                .output()
                .unwrap();
            let out = text(&o);
            assert!(
                o.status.success() && out.trim().is_empty(),
                "{v} {version:?} {}: systemd-analyze verify {units:?}:\n{out}",
                h.host
            );
        }
    }
    for u in [
        "kubelet.service",
        "etcd.service",
        "cri-docker.service",
        "cri-docker.socket",
    ] {
        assert!(units.contains(u), "{u} not verified: {units:?}");
    }
    // An unknown key is reported (and would fail the test above).
    std::fs::write(
        root.join("etc/systemd/system/bad.service"),
        "[Service]\nBogus=1\nExecStart=/usr/local/bin/etcd\n",
    )
    .unwrap();
    let o = Command::new(&analyze)
        .args(["verify", "--man=no", "--generators=no"])
        .arg(format!("--root={}", root.display()))
        .arg("bad.service")
        .output()
        .unwrap();
    assert!(text(&o).contains("Unknown key"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}
