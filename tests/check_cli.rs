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
        row(&out, "Runtime").ends_with("docker"),
        "the legacy default: {out}"
    );
    assert!(
        out.contains("nfs [NFS server in Kubernetes] (default)"),
        "1.0 spelling nfs_server_enable: {out}"
    );
    assert!(
        !out.contains("Sphere@2020") && !out.contains("123456"),
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
    // Over a file others may read: the passwords must not stay readable.
    std::fs::write(&out, "old").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
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
    // A host name reaches commands and files: it stays an error.
    assert!(
        err.ends_with("2 errors found; nothing was changed on any host\n"),
        "{err}"
    );
    assert!(err.contains("[ERROR DefaultStorageClass]"));
    assert!(
        err.lines().any(|l| l.starts_with("[ERROR Hostname]")
            && l.contains("--ignore-errors cannot ignore this")),
        "{err}"
    );
    let all = ksinstall(&[
        "check",
        "--conf",
        "tests/fixtures/bad-mix",
        "--ignore-errors",
        "all",
    ]);
    let (_, err) = text(&all);
    assert_eq!(all.status.code(), Some(2), "{err}");
    assert!(err.contains("[ERROR Hostname]"), "{err}");
}

#[test]
fn hostile_host_names_are_refused_even_under_ignore_errors_all() {
    let dir = std::env::temp_dir().join(format!("ksinstall-hostile-{}", std::process::id()));
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("hosts.ini"),
        "[all]\n../../escaped ansible_host=127.0.0.1 ansible_user=root\nn1$(touch${IFS}pwned) ansible_host=127.0.0.2 ansible_user=root\n[kube-master]\n../../escaped\n[kube-node]\nn1$(touch${IFS}pwned)\n[etcd]\n../../escaped\n[k8s-cluster:children]\nkube-master\nkube-node\n",
    )
    .unwrap();
    let out = dir.join("out");
    let render = ksinstall(&[
        "render",
        "--conf",
        conf.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--ignore-errors",
        "all",
    ]);
    let (_, err) = text(&render);
    assert_eq!(render.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[ERROR Hostname]") && err.contains("cannot ignore this"),
        "{err}"
    );
    let install = ksinstall(&[
        "install",
        "--conf",
        conf.to_str().unwrap(),
        "--yes",
        "--ignore-errors",
        "all",
    ]);
    let (_, err) = text(&install);
    assert_eq!(install.status.code(), Some(2), "{err}");
    assert!(err.contains("[ERROR Hostname]"), "{err}");
    assert!(
        !dir.join("escaped").exists()
            && !std::env::temp_dir().join("escaped").exists()
            && !out.exists()
    );
    assert!(!std::path::Path::new("pwned").exists());
    std::fs::remove_dir_all(&dir).ok();
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

/// A scratch installer directory: `<dir>/conf/` with these files.
fn installer(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ksinstall-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join("conf").join(name), text).unwrap();
    }
    dir
}

#[test]
fn inventory_takes_conf_like_every_verb() {
    let o = ksinstall(&["inventory", "--graph", "--conf", "tests/fixtures/seed-root"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("@kube-master:") && out.contains("node2"),
        "{out}"
    );
}

#[test]
fn run_logs_go_to_the_installer_directory_not_the_current_one() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = format!("[all]\nn1 ansible_host=127.0.0.1 ansible_port={closed}\n");
    let dir = installer("runlogs", &[("hosts.ini", &hosts)]);
    let cwd = dir.join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .current_dir(&cwd)
        .args(["run", "--conf", "../conf", "--known-hosts", "../kh", "--"])
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "unreachable: {}", text(&o).1);
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs")).unwrap().collect();
    assert_eq!(
        logs.len(),
        1,
        "one run log in the installer directory's logs/"
    );
    assert!(
        !cwd.join("logs").exists(),
        "no logs/ in the current directory"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn placeholder_passwords_in_hosts_ini_are_errors() {
    let vars = std::fs::read_to_string("tests/fixtures/seed-root/vars.yml").unwrap();
    let hosts = "[all]\n\
        master ansible_connection=local ip=192.168.0.1\n\
        node1 ansible_host=192.168.0.2 ip=192.168.0.2 ansible_ssh_pass=CHANGE_ME\n\
        node2 ansible_host=192.168.0.3 ip=192.168.0.3 ansible_user=ubuntu ansible_ssh_pass=s3cret ansible_become_pass=PASSWORD\n\
        [kube-master]\nmaster\n[kube-node]\nnode1\nnode2\n[etcd]\nmaster\n";
    let dir = installer("placeholder", &[("hosts.ini", hosts), ("vars.yml", &vars)]);
    let o = ksinstall(&["check", "--conf", dir.join("conf").to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[ERROR PlaceholderPassword]: ")
            && err.contains("hosts.ini:3: 'node1': ansible_ssh_pass is still the sample's placeholder CHANGE_ME"),
        "{err}"
    );
    assert!(
        err.contains(
            "hosts.ini:4: 'node2': ansible_become_pass is still the sample's placeholder PASSWORD"
        ),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kubekey_mistakes_are_named_with_their_line() {
    let kk = "apiVersion: kubekey.kubesphere.io/v1alpha2\n\
        kind: Cluster\n\
        spec:\n\
        \x20 hosts:\n\
        \x20 - {name: master1, address: 10.0.0.1, user: root, password:123456}\n\
        \x20 - {name: node1, address: 10.xxx.xx.x, user: root, password: abc}\n\
        \x20 roleGroups:\n\
        \x20   etcd: [master1]\n\
        \x20   master: [master1]\n\
        \x20   worker: [node1]\n\
        \x20 kubernetes:\n\
        \x20   version: v1.16.7\n\
        \x20   etcd:\n\
        \x20     type: kubekey\n";
    let dir = installer("kkmistakes", &[("config.yaml", kk), ("vars.yml", "")]);
    let err = check_refuses_kubekey(&dir);
    for want in [
        "config.yaml:5: `password:123456` is read as a key with no value: write `password: 123456`",
        "config.yaml:6: 'node1': address 10.xxx.xx.x looks like a placeholder",
        "[WARNING KubeKeyNesting]: ",
        "config.yaml:13: `etcd:` is indented under `kubernetes:`: it belongs directly under `spec:`",
    ] {
        assert!(err.contains(want), "no {want:?} in:\n{err}");
    }
    assert!(
        !err.contains("under `roleGroups:`"),
        "etcd is a role group: {err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `check` of DIR/conf/config.yaml as the inventory: exit 2, its stderr.
fn check_refuses_kubekey(dir: &std::path::Path) -> String {
    let conf = dir.join("conf");
    let file = conf.join("config.yaml");
    let o = ksinstall(&[
        "check",
        "--conf",
        conf.to_str().unwrap(),
        "-i",
        file.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    err
}

#[test]
fn kubekey_spec_under_metadata_says_so() {
    let kk =
        "kind: Cluster\nmetadata:\n  name: sample\n  spec:\n    hosts: []\n    roleGroups: {}\n";
    let dir = installer("kkspec", &[("config.yaml", kk), ("vars.yml", "")]);
    let err = check_refuses_kubekey(&dir);
    assert!(
        err.contains(
            "config.yaml:4: `spec:` is indented under `metadata:`: it must start at column 0"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn vars_tabs_and_nested_keys_are_named_with_their_line() {
    let hosts = std::fs::read_to_string("tests/fixtures/seed-root/hosts.ini").unwrap();
    let dir = installer(
        "varsmistakes",
        &[
            ("hosts.ini", &hosts),
            (
                "a.yml",
                "kube_network_plugin: calico\nkube_proxy_mode:\n  kube_version: v1.16.7\n",
            ),
            (
                "b.yml",
                "kube_version: v1.16.7\nlocal_volume_enabled:\n\tfalse\n",
            ),
        ],
    );
    let o = ksinstall(&["check", "--conf", dir.join("conf").to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[ERROR NestedKey]: ")
            && err.contains("a.yml:3: `kube_version:` is indented under `kube_proxy_mode:`"),
        "{err}"
    );
    assert!(
        err.contains(
            "b.yml:3: a tab in the indentation (line 3): tabs are not allowed in YAML indentation"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_run_on_one_installer_directory_is_refused_before_any_host() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-root");
    let read = |f: &str| std::fs::read_to_string(seed.join(f)).unwrap();
    let (hosts, vars) = (read("hosts.ini"), read("vars.yml"));
    let dir = installer("lock", &[("hosts.ini", &hosts), ("vars.yml", &vars)]);
    let held = ksinstall::install::state::Lock::take(&dir, "install").unwrap();
    let conf = dir.join("conf");
    for verb in [
        &["install", "--yes"][..],
        &["reset", "--yes"],
        &["remove-node", "node2", "--yes"],
    ] {
        let mut args = verb.to_vec();
        args.extend(["--conf", conf.to_str().unwrap()]);
        let o = ksinstall(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{verb:?}: {err}");
        assert!(
            err.contains(&format!(
                "another ksinstall (pid {}, install) is working on",
                std::process::id()
            )),
            "{verb:?}: {err}"
        );
        assert!(
            !dir.join("logs").exists(),
            "{verb:?}: no host was reached, no log written"
        );
    }
    drop(held);
    std::fs::remove_dir_all(&dir).ok();
}

/// `render -o` previews joins that pin the cluster CA, as the install's
/// do; the preview used to skip CA verification (it had no CA).
#[test]
fn the_render_preview_pins_the_cluster_ca_in_joins() {
    let out = std::env::temp_dir().join(format!("ksinstall-preview-{}", std::process::id()));
    let o = ksinstall(&[
        "render",
        "--conf",
        "tests/fixtures/seed-ha",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let join =
        std::fs::read_to_string(out.join("node1/etc/kubernetes/kubeadm-client.conf")).unwrap();
    assert!(
        join.contains("caCertHashes") && join.contains("sha256:"),
        "{join}"
    );
    assert!(!join.contains("unsafeSkipCAVerification: true"), "{join}");
    assert!(out.join("master1/etc/kubernetes/ssl/ca.crt").is_file());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn one_local_registry_on_a_host_the_install_prepares() {
    let vars = std::fs::read_to_string("tests/fixtures/seed-root/vars.yml").unwrap();
    let hosts = "[all]\n\
        master ansible_connection=local ip=192.168.0.1\n\
        node1 ansible_host=192.168.0.2 ip=192.168.0.2 ansible_ssh_pass=s3cret\n\
        store ansible_host=192.168.0.9 ip=192.168.0.9 ansible_ssh_pass=s3cret\n\
        [kube-master]\nmaster\n[kube-node]\nnode1\n[etcd]\nmaster\n";
    let two = format!("{hosts}[local-registry]\nmaster\nnode1\n");
    let dir = installer("registry-two", &[("hosts.ini", &two), ("vars.yml", &vars)]);
    let o = ksinstall(&["check", "--conf", dir.join("conf").to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[ERROR LocalRegistry]: ")
            && err.contains(
                "hosts.ini:3: [local-registry] lists master, node1: the install runs one registry"
            ),
        "{err}"
    );
    let apart = format!("{hosts}[local-registry]\nstore\n");
    let dir = installer(
        "registry-apart",
        &[("hosts.ini", &apart), ("vars.yml", &vars)],
    );
    let o = ksinstall(&["check", "--conf", dir.join("conf").to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("hosts.ini:4: 'store' is in [local-registry] only"),
        "{err}"
    );
    let one = format!("{hosts}[local-registry]\nmaster\n");
    let dir = installer("registry-one", &[("hosts.ini", &one), ("vars.yml", &vars)]);
    let o = ksinstall(&["check", "--conf", dir.join("conf").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    std::fs::remove_dir_all(&dir).ok();
}

/// The company's registry (`local_registry`, or `--registry`): a plain
/// HOST[:PORT], a CA file that holds a certificate, not beside a
/// `[local-registry]` host; each refusal names the conf's line.
#[test]
fn the_company_registry_is_checked_before_any_host() {
    let seed = std::fs::read_to_string("tests/fixtures/seed-root/vars.yml").unwrap();
    let hosts = std::fs::read_to_string("tests/fixtures/seed-root/hosts.ini").unwrap();
    let check = |tag: &str, vars: &str, hosts: &str, extra: &[&str]| {
        let vars = format!("{seed}\n{vars}");
        let dir = installer(tag, &[("hosts.ini", hosts), ("vars.yml", &vars)]);
        let conf = dir.join("conf");
        let mut args = vec!["check", "--conf", conf.to_str().unwrap()];
        args.extend(extra);
        let o = ksinstall(&args);
        let (out, err) = text(&o);
        std::fs::remove_dir_all(&dir).ok();
        (o.status.code(), out, err)
    };
    let line = seed.lines().count() + 2;
    let (code, _, err) = check(
        "ext-url",
        "local_registry: https://reg.example/x\n",
        &hosts,
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("vars.yml:{line}: local_registry \"https://reg.example/x\" is not a registry's HOST[:PORT]")), "{err}");
    let (code, _, err) = check(
        "ext-ca",
        "local_registry: reg.example:5000\nlocal_registry_ca: missing.pem\n",
        &hosts,
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "vars.yml:{}: local_registry_ca: cannot read ",
            line + 1
        )) && err.contains("missing.pem"),
        "{err}"
    );
    let both = format!("{hosts}\n[local-registry]\nmaster\n");
    let (code, _, err) = check("ext-both", "local_registry: reg.example:5000\n", &both, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("both name the registry every node pulls from: keep one"),
        "{err}"
    );
    let (code, out, err) = check(
        "ext-flag",
        "",
        &hosts,
        &["--registry", "reg.example:5000", "--insecure-registry"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("http://reg.example:5000: every image pulled from it (not run by the install"),
        "{out}"
    );
}
