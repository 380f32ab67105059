//! `ksinstall check` and `convert` on the seed layouts and on broken input:
//! the tables name every host correctly, every mistake is reported at once
//! with its file and line, secrets never print, and bad input exits 2.

use std::process::{Command, Output};

fn ksinstall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs the binary")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn row<'a>(stdout: &'a str, host: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no row for {host} in:\n{stdout}"))
}

#[test]
fn root_layout_table() {
    let o = ksinstall(&["check", "--conf", "tests/fixtures/seed-root"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(row(&out, "master").contains("local (this machine)"));
    assert!(row(&out, "master").ends_with("master, etcd"));
    assert!(row(&out, "node2").contains("root@192.168.0.3:22"));
    assert!(row(&out, "node2").contains("password"));
    assert!(out.contains("v1.12.3"), "{out}");
    assert!(
        out.contains("nfs [NFS server in Kubernetes] (default)"),
        "1.0 spelling nfs_server_enable: {out}"
    );
    assert!(
        !out.contains("PASSWORD") && !out.contains("123456"),
        "secrets printed:\n{out}"
    );
}

#[test]
fn nonroot_layout_copies_the_sudo_password_and_says_so() {
    let o = ksinstall(&["check", "--conf", "tests/fixtures/seed-nonroot"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(row(&out, "node1").contains("ubuntu@192.168.0.2:22"));
    assert!(
        row(&out, "node1").contains("password"),
        "SSH password copied from become pass"
    );
    assert!(row(&out, "node1").contains("sudo to root (password set)"));
    assert_eq!(
        err.matches("[WARNING LegacyPasswordCopy]").count(),
        2,
        "{err}"
    );
    assert!(err.contains("hosts.ini:4"), "{err}");
    assert!(!out.contains("Qcloud@123") && !err.contains("Qcloud@123"));
    assert!(out.contains("common.yaml, tests/fixtures/seed-nonroot/plugin-qingcloud.yaml"));
}

#[test]
fn ha_layout_uses_the_load_balancer() {
    let o = ksinstall(&["check", "--conf", "tests/fixtures/seed-ha"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for m in ["master1", "master2", "master3"] {
        assert!(row(&out, m).ends_with("master, etcd"), "{m}");
    }
    assert!(
        out.contains("lb.kubesphere.local:6443 -> load balancer 192.168.0.10"),
        "{out}"
    );
    assert!(!err.contains("MultiMasterNoLB"));
}

#[test]
fn kubekey_file_reads_onto_the_same_model() {
    let o = ksinstall(&[
        "check",
        "--conf",
        "tests/fixtures/seed-kubekey",
        "-i",
        "tests/fixtures/seed-kubekey/config-sample.yaml",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(row(&out, "node2").contains("ubuntu@192.168.0.4:8022"));
    assert!(row(&out, "master").ends_with("master, etcd"));
}

#[test]
fn convert_round_trips_through_kubekey() {
    let dir = std::env::temp_dir().join(format!("ksinstall-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("config-sample.yaml");
    let o = ksinstall(&[
        "convert",
        "--conf",
        "tests/fixtures/seed-ha",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let back = ksinstall(&[
        "check",
        "--conf",
        "tests/fixtures/seed-ha",
        "-i",
        out.to_str().unwrap(),
    ]);
    let (stdout, err) = text(&back);
    assert!(back.status.success(), "{err}");
    assert!(
        row(&stdout, "master3").ends_with("master, etcd"),
        "{stdout}"
    );
    assert!(stdout.contains("load balancer 192.168.0.10"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_mistake_is_reported_at_once_with_exit_2() {
    let o = ksinstall(&["check", "--conf", "tests/fixtures/bad-mix"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.is_empty(), "no table on failure: {out}");
    for (name, place) in [
        ("HostPort", "hosts.ini:4"),
        ("Hostname", "hosts.ini:3"),
        ("KubeVersion", "vars.yml:1"),
        ("ConsolePort", "vars.yml:4"),
        ("StorageConfig", "vars.yml:7"),
        ("EtcdOddCount", "hosts.ini"),
        ("DuplicateAddress", ""),
        ("CidrOverlap", "vars.yml:2"),
        ("DefaultStorageClass", ""),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("[ERROR {name}]")) && l.contains(place)),
            "no {name} error at {place} in:\n{err}"
        );
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("[WARNING LocalVolumeMultiNode]") && l.contains("vars.yml:5")),
        "a local volume on several nodes is a warning, not an error: {err}"
    );
    assert!(err.contains("Did you mean 'kube_proxy_mode'?"), "{err}");
    assert!(
        err.contains("[WARNING UnquotedHash]") && !err.contains("a#b"),
        "{err}"
    );
    assert!(
        err.ends_with("11 errors found; nothing was changed on any host\n"),
        "{err}"
    );
}

#[test]
fn ignore_errors_downgrades_named_checks() {
    let o = ksinstall(&[
        "check",
        "--conf",
        "tests/fixtures/bad-mix",
        "--ignore-errors",
        "HostPort,Hostname,KubeVersion,ConsolePort,LocalVolumeMultiNode,StorageConfig,EtcdOddCount,DuplicateAddress,CidrOverlap",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.ends_with("1 error found; nothing was changed on any host\n"),
        "{err}"
    );
    assert!(err.contains("[ERROR DefaultStorageClass]"));
}

#[test]
fn unreadable_and_malformed_files_exit_2_with_the_place() {
    let dir = std::env::temp_dir().join(format!("ksinstall-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vars.yml"), "kube_version: [v1\n").unwrap();
    std::fs::write(dir.join("hosts.ini"), "[all]\nnode1 ansible_host\n").unwrap();
    let o = ksinstall(&["check", "--conf", dir.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[ERROR ConfigSyntax]") && err.contains("vars.yml:"),
        "{err}"
    );
    assert!(
        err.contains("[ERROR InventorySyntax]") && err.contains("hosts.ini:2"),
        "{err}"
    );
    let missing = ksinstall(&["check", "--conf", "/nonexistent-conf"]);
    assert_eq!(missing.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}
