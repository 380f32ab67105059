//! The phases of an install, one small type each; `ALL` is the install.
//! A phase names its hosts and computes its operations for one host from
//! facts, config and the rendered files (see `ops`).

use std::collections::BTreeMap;

use super::facts::Facts;
use super::ops::Op;
use crate::bundle::needs::Kind;
use crate::bundle::select::{self, LocalApt};
use crate::exec::shell::sh_quote;
use crate::exec::Blob;
use crate::model::node::{etcd_url, ETCD_CLIENT};
use crate::model::{versions, Cluster, Node, Role};
use crate::render::{Component, LbService, JOIN_HOSTS};

/// A file rendered for a host (path on the host, content, mode).
#[derive(Debug, Clone, PartialEq)]
pub struct HostFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
    /// Marker lines when the content is a block inside a shared file.
    pub block: Option<(String, String)>,
    /// The host's own file with ours merged in (`reset` leaves it).
    pub merged: bool,
    /// What it belongs to (decided by the renderer): phases select by it.
    pub component: Component,
}

/// Packages and images the bundle holds for each host, and where the
/// host's local repository lives.
#[derive(Debug, Clone, Default)]
pub struct Offline {
    /// Directory on the host holding the pushed `.deb`s and their index.
    pub repo_dir: String,
    /// (host, files to push into repo_dir: name, content)
    pub repo_files: BTreeMap<String, Vec<(String, Blob)>>,
    /// OS packages each host needs.
    pub packages: BTreeMap<String, Vec<String>>,
    /// Image tarballs each host imports: (name, content).
    pub images: BTreeMap<String, Vec<(String, Blob)>>,
    /// Binaries (kubeadm, kubelet, ...) each host gets in /usr/local/bin.
    pub binaries: BTreeMap<String, Vec<(String, Blob)>>,
    /// With a local registry: the image tarballs pushed into it from this
    /// machine (no host imports any).
    pub registry_images: Vec<(String, Blob)>,
    /// No bundle: `packages` come from each host's own apt repositories.
    pub online: bool,
    /// No bundle: the binaries each host downloads itself, each checked
    /// against the checksum published beside it.
    pub downloads: BTreeMap<String, Vec<Download>>,
}

/// A binary a host downloads (no bundle): its file name as the bundle
/// would hold it, where from, and its published checksum.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub file: String,
    pub url: String,
    pub sha256_url: String,
}

/// Everything a phase computes from.
pub struct Inputs<'a> {
    pub cluster: &'a Cluster,
    pub facts: &'a BTreeMap<String, Facts>,
    pub files: &'a BTreeMap<String, Vec<HostFile>>,
    pub offline: &'a Offline,
}

impl Inputs<'_> {
    /// Every rendered file of `host`.
    pub fn host_files(&self, host: &str) -> &[HostFile] {
        self.files.get(host).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The rendered files of `host` that belong to any of `components`.
    pub fn files_of(&self, host: &str, components: &[Component]) -> Vec<&HostFile> {
        (self.host_files(host).iter())
            .filter(|f| components.contains(&f.component))
            .collect()
    }

    /// Those files as operations (a block or a whole file each).
    pub fn file_ops(&self, host: &str, components: &[Component]) -> Vec<Op> {
        self.files_of(host, components)
            .into_iter()
            .map(|f| match &f.block {
                None => Op::File {
                    path: f.path.clone(),
                    content: f.content.clone().into(),
                    mode: f.mode,
                },
                Some((begin, end)) => Op::Block {
                    path: f.path.clone(),
                    begin: begin.clone(),
                    end: end.clone(),
                    body: String::from_utf8_lossy(&f.content).into_owned(),
                },
            })
            .collect()
    }
}

/// The legacy installer's three banners, under which the phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    InitiatingEnvironment,
    InstallingKubernetes,
    InstallingKubeSphere,
}

impl Stage {
    pub fn banner(self) -> &'static str {
        match self {
            Stage::InitiatingEnvironment => "1. Initiating Environment",
            Stage::InstallingKubernetes => "2. Installing Kubernetes",
            Stage::InstallingKubeSphere => "3. Installing KubeSphere",
        }
    }
}

pub trait Phase: Sync {
    fn name(&self) -> &'static str;
    fn title(&self) -> &'static str;
    fn stage(&self) -> Stage;
    /// Indices into `cluster.nodes` this phase runs on.
    fn hosts(&self, c: &Cluster) -> Vec<usize>;
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op>;
    /// Commands of Kubernetes' own this phase runs on each of its hosts:
    /// preflight checks that they will be there (host or bundle) before
    /// anything changes, instead of a phase failing with `exit 127` halfway.
    fn tools(&self) -> &'static [&'static str] {
        &[]
    }
    /// What the phase does from this machine once its hosts finished it
    /// (the local registry's push); an error stops the install there.
    fn after(&self, _engine: &crate::exec::Engine, _inp: &Inputs) -> anyhow::Result<()> {
        Ok(())
    }
}

fn indices(c: &Cluster, pred: impl Fn(&Node) -> bool) -> Vec<usize> {
    c.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| pred(n))
        .map(|(i, _)| i)
        .collect()
}

/// A host the install gives a role (not a bastion, not a bare [all] entry).
pub fn in_cluster(n: &Node) -> bool {
    n.has(Role::Master) || n.has(Role::Worker) || n.has(Role::Etcd)
}

/// The indices of the hosts `in_cluster`.
pub fn cluster_hosts(c: &Cluster) -> Vec<usize> {
    indices(c, in_cluster)
}

const POLICY_RC: &str = "/usr/sbin/policy-rc.d";

/// Runs `body` with services kept from starting on package installs:
/// the phase that owns a service configures it first, then starts it.
/// An operator's own `policy-rc.d` is put aside and back (one put aside
/// by a run that died is kept, not overwritten by ours).
fn without_autostart(policy: &str, body: &str) -> String {
    let p = sh_quote(policy);
    let kept = sh_quote(&format!("{policy}.ksinstall-kept"));
    format!(
        "{{ test -e {kept} || ! test -e {p} || mv {p} {kept}; }} && printf '#!/bin/sh\\nexit 101\\n' > {p} && chmod 755 {p} && ( {body} ); rc=$?; \
         rm -f {p}; if test -e {kept}; then mv {kept} {p}; fi; exit $rc"
    )
}

pub struct OsPrep;
impl Phase for OsPrep {
    fn name(&self) -> &'static str {
        "os"
    }
    fn title(&self) -> &'static str {
        "OS preparation: hostname, swap, kernel modules, sysctl, /etc/hosts"
    }
    fn stage(&self) -> Stage {
        Stage::InitiatingEnvironment
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        indices(c, in_cluster)
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        let name = &node.name;
        let q = sh_quote(name);
        let mut ops = vec![Op::run_unless(
            &format!("set the hostname to {name}"),
            &format!("hostnamectl set-hostname {q} 2>/dev/null || {{ echo {q} > /etc/hostname && hostname {q}; }}"),
            &format!("test \"$(hostname)\" = {q}"),
        )];
        if inp.facts.get(name).is_some_and(|f| f.swap_mb > 0) {
            ops.push(Op::run(
                "turn swap off",
                "swapoff -a && sed -i '/^[^#].*[[:space:]]swap[[:space:]]/s/^/#/' /etc/fstab",
            ));
        }
        ops.extend(inp.file_ops(name, &[Component::Kernel]));
        ops.push(Op::on_change_unless(
            "load kernel modules and apply sysctl",
            "for m in $(cat /etc/modules-load.d/kubernetes.conf 2>/dev/null | grep -v '^#'); do modprobe \"$m\" 2>/dev/null || echo \"module $m not loaded\" >&2; done; \
             sysctl -e -p /etc/sysctl.d/99-kubernetes.conf >/dev/null || echo 'some settings could not be applied here (a container shares its host kernel)' >&2; \
             if [ -w /proc/sys/net/ipv4/ip_forward ]; then test \"$(sysctl -n net.ipv4.ip_forward)\" = 1; \
             else echo 'kernel settings are read-only here (a container): they must be set on its host' >&2; fi",
            "test \"$(sysctl -n net.ipv4.ip_forward)\" = 1 || test ! -w /proc/sys/net/ipv4/ip_forward",
        ));
        ops.extend(inp.file_ops(name, &[Component::Hosts]));
        ops
    }
}

/// `pkgs` from the host's own apt repositories (no bundle), through the
/// conf's proxy; nothing when all are installed.
fn online_packages(c: &Cluster, pkgs: &[String]) -> Op {
    let proxy = super::online::apt_proxy(c).join(" ");
    let names = quoted(pkgs);
    Op::run_unless(
        &format!("install {names} from the host's repositories"),
        &without_autostart(
            POLICY_RC,
            &format!(
                "export DEBIAN_FRONTEND=noninteractive && apt-get {proxy} -qq update && \
                 apt-get {proxy} -qq install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {names}"
            ),
        ),
        &installed_check(&names),
    )
}

/// Succeeds when every one of `names` (quoted, blank-separated) is installed.
fn installed_check(names: &str) -> String {
    format!("for p in {names}; do dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null | grep -q 'install ok installed' || exit 1; done")
}

/// `words`, each quoted for the host's shell, blank-separated.
fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An RPM host's package manager: dnf, or yum where there is no dnf (EL7).
const DNF_OR_YUM: &str = "$(command -v dnf || echo yum)";

/// `pkgs` from an RPM host's own repositories (no bundle), through the
/// conf's proxy; nothing when all are installed. An RPM does not start its
/// service on install (systemd presets leave it disabled), so nothing is
/// held back as on Debian.
fn online_rpms(c: &Cluster, pkgs: &[String]) -> Op {
    let proxy = super::online::yum_proxy(c).map(|p| p + " ");
    let names = quoted(pkgs);
    Op::run_unless(
        &format!("install {names} from the host's repositories"),
        &format!(
            "{DNF_OR_YUM} -y -q {}install {names}",
            proxy.unwrap_or_default()
        ),
        &format!("rpm -q {names} >/dev/null 2>&1"),
    )
}

/// An RPM host installs from the bundle's `rpms/` (pushed under
/// `repo_dir`) alone: the repository file names it, and dnf is told to
/// read no other repository. Nothing runs when all are installed.
fn bundle_rpms(repo_dir: &str, pkgs: &[String]) -> Vec<Op> {
    let rpm_dir = format!("{repo_dir}/{}", Kind::Rpm.dir());
    let names = quoted(pkgs);
    let repo = sh_quote(select::YUM_REPO_ID);
    vec![
        Op::file(
            select::YUM_REPO_FILE,
            select::yum_repo_file(&rpm_dir),
            0o644,
        ),
        Op::run_unless(
            &format!("install {names} from the bundle"),
            &format!("{DNF_OR_YUM} -y -q --disablerepo='*' --enablerepo={repo} install {names}"),
            &format!("rpm -q {names} >/dev/null 2>&1"),
        ),
    ]
}

/// A Debian host installs from the bundle's flat repository (pushed into
/// `repo_dir`). apt reads only that repository, with lists and cache of
/// its own: the host's sources.list is never touched and no network is used.
fn bundle_debs(repo_dir: &str, pkgs: &[String]) -> Vec<Op> {
    let apt = LocalApt {
        repo_dir: repo_dir.to_string(),
        ..LocalApt::default()
    };
    let (list, line) = apt.sources_list();
    let opts = apt.options().join(" ");
    let names = quoted(pkgs);
    vec![
        Op::file(&list, line, 0o644),
        Op::run_unless(
            &format!("install {names} from the bundle"),
            &without_autostart(
                POLICY_RC,
                &format!(
                    "mkdir -p {dirs} && export DEBIAN_FRONTEND=noninteractive && \
                     apt-get {opts} -qq update && apt-get {opts} -qq install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {names}",
                    dirs = apt.dirs().join(" ")
                ),
            ),
            &installed_check(&names),
        ),
    ]
}

pub struct Packages;
impl Phase for Packages {
    fn name(&self) -> &'static str {
        "packages"
    }
    fn title(&self) -> &'static str {
        "OS packages, from the bundle's local repository or the hosts' own"
    }
    fn stage(&self) -> Stage {
        Stage::InitiatingEnvironment
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        indices(c, in_cluster)
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        let off = inp.offline;
        let mut ops: Vec<Op> = off
            .binaries
            .get(&node.name)
            .into_iter()
            .flatten()
            .flat_map(|(file, content)| binary_ops(&off.repo_dir, file, content))
            .collect();
        let Some(pkgs) = off.packages.get(&node.name).filter(|p| !p.is_empty()) else {
            return ops;
        };
        let rpm = inp.facts.get(&node.name).is_some_and(Facts::rpm);
        if off.online {
            ops.push(match rpm {
                true => online_rpms(inp.cluster, pkgs),
                false => online_packages(inp.cluster, pkgs),
            });
            let downloads = off.downloads.get(&node.name).into_iter().flatten();
            ops.extend(downloads.flat_map(|d| download_ops(inp.cluster, &off.repo_dir, d)));
            return ops;
        }
        let dir = &off.repo_dir;
        ops.extend(
            off.repo_files
                .get(&node.name)
                .into_iter()
                .flatten()
                .map(|(file, content)| Op::file(&format!("{dir}/{file}"), content.clone(), 0o644)),
        );
        ops.extend(match rpm {
            true => bundle_rpms(dir, pkgs),
            false => bundle_debs(dir, pkgs),
        });
        ops
    }
}

/// A binary goes to /usr/local/bin; a release tarball (crictl, the CNI
/// plugins, helm) is kept in the repository directory and unpacked where it
/// belongs, again whenever the tarball changes.
pub fn binary_ops(repo_dir: &str, file: &str, content: &Blob) -> Vec<Op> {
    let dest = binary_dest(repo_dir, file);
    let mode = if dest.starts_with("/usr/local/bin/") {
        0o755
    } else {
        0o644
    };
    let mut ops = vec![Op::file(&dest, content.clone(), mode)];
    ops.extend(unpack_op(repo_dir, file));
    ops
}

/// Where a binary of the bundle's lands: /usr/local/bin, or a tarball in
/// the repository directory.
fn binary_dest(repo_dir: &str, file: &str) -> String {
    match crate::bundle::needs::unpack_of(file) {
        None => format!("/usr/local/bin/{file}"),
        Some(_) => format!("{repo_dir}/bin/{file}"),
    }
}

/// A tarball unpacked where it belongs, again whenever it changes.
fn unpack_op(repo_dir: &str, file: &str) -> Option<Op> {
    let u = crate::bundle::needs::unpack_of(file)?;
    let tarball = format!("{repo_dir}/bin/{file}");
    let (t, dir) = (sh_quote(&tarball), sh_quote(u.dir));
    let stamp = sh_quote(&format!("{tarball}.unpacked"));
    Some(Op::run_unless(
        &format!("unpack {file} into {}", u.dir),
        &format!(
            "mkdir -p {dir} && tar -xzf {t} -C {dir} --no-same-owner --strip-components={}{} && touch {stamp}",
            u.strip,
            u.only.map(|m| format!(" --wildcards {}", sh_quote(m))).unwrap_or_default()
        ),
        &format!("test {stamp} -nt {t}"),
    ))
}

/// No bundle: the host downloads `d` itself (through the conf's proxy),
/// checks it against the checksum published beside it, and keeps what it
/// checked in a stamp named after the URL, so a re-run downloads nothing
/// and a new version downloads again.
fn download_ops(c: &Cluster, repo_dir: &str, d: &Download) -> Vec<Op> {
    let dest = binary_dest(repo_dir, &d.file);
    let mode = if dest.starts_with("/usr/local/bin/") {
        "755"
    } else {
        "644"
    };
    let tag = &crate::bundle::hash::sha256_bytes(d.url.as_bytes())[..12];
    let stamp = format!("{repo_dir}/dl/{}.{tag}.sha256", d.file);
    let (q_dest, q_stamp, q_url, q_sum) = (
        sh_quote(&dest),
        sh_quote(&stamp),
        sh_quote(&d.url),
        sh_quote(&d.sha256_url),
    );
    let q_file = sh_quote(&d.file);
    let no_sum = sh_quote(&format!("no sha256 for {} at {}", d.file, d.sha256_url));
    let bad = sh_quote(&format!(
        "{} from {} does not match the sha256 published at {}",
        d.file, d.url, d.sha256_url
    ));
    let proxy = super::online::curl_proxy(c);
    let mut ops = vec![Op::run_unless(
        &format!("download {} from {} (sha256 checked)", d.file, d.url),
        &format!(
            "set -e; mkdir -p \"$(dirname {q_dest})\" \"$(dirname {q_stamp})\"; t={q_dest}.part; \
             curl -fsSL --retry 3 {proxy} -o \"$t\" {q_url}; \
             want=$(curl -fsSL --retry 3 {proxy} {q_sum} | awk -v f={q_file} 'NF == 1 || $2 == f || $2 == \"*\" f {{print $1; exit}}'); \
             if [ ${{#want}} != 64 ]; then rm -f \"$t\"; echo {no_sum} >&2; exit 1; fi; \
             if ! echo \"$want  $t\" | sha256sum -c --quiet - >/dev/null 2>&1; then rm -f \"$t\"; echo {bad} >&2; exit 1; fi; \
             chmod {mode} \"$t\"; mv \"$t\" {q_dest}; printf '%s  %s\\n' \"$want\" {q_dest} > {q_stamp}",
        ),
        &format!("test -s {q_stamp} && sha256sum -c --status {q_stamp}"),
    )];
    ops.extend(unpack_op(repo_dir, &d.file));
    ops
}

/// Waits (30 s at most) until something listens on the registry's port.
pub(super) fn registry_listening() -> String {
    let port = crate::model::registry::PORT;
    format!(
        "for i in $(seq 1 30); do timeout 2 bash -c ': </dev/tcp/127.0.0.1/{port}' 2>/dev/null && exit 0; sleep 1; done; \
         echo 'nothing listens on :{port}; the registry says:' >&2; journalctl -u docker-registry -u ksinstall-registry-push -n 20 --no-pager >&2; exit 1"
    )
}

pub struct Registry;
impl Phase for Registry {
    fn name(&self) -> &'static str {
        "registry"
    }
    fn title(&self) -> &'static str {
        "local registry: docker-registry over TLS, the bundle's images pushed into it"
    }
    fn stage(&self) -> Stage {
        Stage::InitiatingEnvironment
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        let host = c.local_registry().map(|r| r.host);
        indices(c, |n| Some(&n.name) == host.as_ref())
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        let mut ops = inp.file_ops(&node.name, &[Component::Registry]);
        // The service reads its key as its own user; a rewritten key file
        // comes back owned by root's group.
        let key = sh_quote(crate::render::REGISTRY_KEY);
        ops.push(Op::run_unless(
            "give the registry's key to its service",
            &format!("chgrp docker-registry {key}"),
            &format!("test \"$(stat -c %G {key})\" = docker-registry"),
        ));
        ops.push(Op::on_change(
            "restart docker-registry",
            "systemctl restart docker-registry",
        ));
        ops.push(Op::run_unless(
            "start docker-registry",
            "systemctl enable --now docker-registry",
            "systemctl is-active --quiet docker-registry && systemctl is-enabled --quiet docker-registry",
        ));
        ops.push(Op::Check {
            describe: "the registry listens".into(),
            run: registry_listening(),
        });
        ops
    }
    fn after(&self, engine: &crate::exec::Engine, inp: &Inputs) -> anyhow::Result<()> {
        super::registry::fill(engine, inp)
    }
}

pub struct Runtime;
impl Phase for Runtime {
    fn name(&self) -> &'static str {
        "runtime"
    }
    fn title(&self) -> &'static str {
        "container runtime: containerd configured and running, the bundle's images imported"
    }
    fn stage(&self) -> Stage {
        Stage::InitiatingEnvironment
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        indices(c, |n| n.has(Role::Master) || n.has(Role::Worker))
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        let service = inp.cluster.config.runtime.name();
        let mut ops = inp.file_ops(&node.name, &[Component::Runtime]);
        ops.push(Op::on_change(
            &format!("restart {service}"),
            &format!("systemctl daemon-reload && systemctl restart {service}"),
        ));
        ops.push(Op::run_unless(
            &format!("start {service}"),
            &format!("systemctl enable --now {service}"),
            &format!(
                "systemctl is-active --quiet {service} && systemctl is-enabled --quiet {service}"
            ),
        ));
        ops.extend(image_ops(node, inp));
        ops
    }
}

/// The bundle's images for `node`: each pushed and imported into the
/// runtime that runs them (docker keeps its own image store, which the
/// kubelet uses through cri-dockerd), again whenever the tarball changes.
pub fn image_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    // With a local registry no host has any here: they pull from it.
    let import = match inp.cluster.config.runtime {
        crate::config::Runtime::Docker => "docker load -q -i",
        crate::config::Runtime::Containerd => "ctr -n k8s.io images import",
    };
    let mut ops = Vec::new();
    for (name, content) in inp.offline.images.get(&node.name).into_iter().flatten() {
        let path = format!("{}/images/{name}", inp.offline.repo_dir);
        ops.push(Op::file(&path, content.clone(), 0o644));
        let (p, stamp) = (sh_quote(&path), sh_quote(&format!("{path}.imported")));
        ops.push(Op::run_unless(
            &format!("import image {name}"),
            &format!("{import} {p} >/dev/null && touch {stamp}"),
            &format!("test {stamp} -nt {p}"),
        ));
    }
    ops
}

/// The bundle's binaries for `node` (file name, content).
pub fn binaries(node: &Node, inp: &Inputs) -> Vec<(String, Blob)> {
    inp.offline
        .binaries
        .get(&node.name)
        .cloned()
        .unwrap_or_default()
}

pub struct Etcd;
impl Phase for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn title(&self) -> &'static str {
        "etcd: certificates, members, health"
    }
    fn stage(&self) -> Stage {
        Stage::InstallingKubernetes
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        indices(c, |n| n.has(Role::Etcd))
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        let mut ops = inp.file_ops(
            &node.name,
            &[Component::EtcdPki, Component::EtcdEnv, Component::EtcdUnit],
        );
        ops.extend(etcd_join(node, inp));
        // Debian's etcd-server installs /usr/bin/etcd; the unit (legacy layout) runs /usr/local/bin/etcd.
        ops.push(Op::run_unless(
            "link the packaged etcd binary",
            "ln -sf /usr/bin/etcd /usr/local/bin/etcd",
            "test -x /usr/local/bin/etcd || ! test -x /usr/bin/etcd",
        ));
        // Not blocking (members of a new cluster wait for each other), but
        // awaited: a new process before the health check below, which
        // would otherwise pass against the old one, and `certs renew`
        // would restart the next member while this one is still down.
        ops.push(Op::on_change(
            "restart etcd",
            "old=$(systemctl show -p MainPID --value etcd); \
             systemctl daemon-reload && systemctl enable etcd && systemctl restart --no-block etcd || exit 1; \
             end=$(($(date +%s) + 60)); \
             while p=$(systemctl show -p MainPID --value etcd); [ \"$p\" = 0 ] || [ \"$p\" = \"$old\" ]; do \
             if [ $(date +%s) -ge $end ]; then echo 'etcd did not restart within 60 s' >&2; exit 1; fi; sleep 1; done",
        ));
        ops.push(Op::run_unless(
            "start etcd",
            "systemctl enable --now --no-block etcd",
            "systemctl is-active --quiet etcd",
        ));
        let ip = node.ip.clone().or_else(|| {
            inp.facts
                .get(&node.name)
                .and_then(|f| f.default_ipv4().map(str::to_string))
        });
        let endpoint = sh_quote(&etcd_url(ip.as_deref().unwrap_or("127.0.0.1"), ETCD_CLIENT));
        let certs = format!(
            "--cacert=/etc/ssl/etcd/ssl/ca.pem --cert={} --key={}",
            sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{}.pem", node.name)),
            sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{}-key.pem", node.name))
        );
        // Members start together; each waits (bounded) for a quorum to answer.
        let etcdctl = format!("ETCDCTL_API=3 etcdctl --endpoints={endpoint} {certs} --dial-timeout=2s --command-timeout=3s");
        ops.push(Op::check(
            ETCD_HEALTHY,
            &format!(
                "end=$(($(date +%s) + 90)); while [ $(date +%s) -lt $end ]; do {etcdctl} endpoint health >/dev/null 2>&1 && exit 0; sleep 2; done; \
                 {etcdctl} endpoint health; systemctl status etcd --no-pager 2>&1 | tail -5; journalctl -u etcd -n 15 --no-pager 2>/dev/null; exit 1"
            ),
        ));
        ops.push(etcd_join_settings_dropped());
        // Backups start once the member is healthy; a new script or unit
        // never restarts etcd.
        ops.extend(inp.file_ops(&node.name, &[Component::EtcdBackup]));
        ops.push(Op::run_unless(
            "start the etcd backup timer",
            "systemctl daemon-reload && systemctl enable --now etcd-backup.timer",
            "systemctl is-active --quiet etcd-backup.timer && systemctl is-enabled --quiet etcd-backup.timer \
             && ! systemctl show etcd-backup.timer etcd-backup.service -p NeedDaemonReload | grep -q yes",
        ));
        ops
    }
}

/// Where a joining member's start settings live: under /run, so they are
/// gone at the next boot whatever happens, and removed once it is healthy.
const ETCD_JOIN_ENV: &str = "/run/ksinstall-etcd-join.env";
const ETCD_JOIN_DROPIN: &str = "/run/systemd/system/etcd.service.d/ksinstall-join.conf";

/// A member that joins a running cluster (a host `add-nodes` adds, or the
/// rest of a first start cut short): when this host holds no etcd data and
/// another member does (facts), it is added with `member add` unless the
/// cluster lists it already, before etcd first starts here; it then starts
/// with the cluster's real membership and `existing` state, given by a
/// runtime drop-in. etcd.env stays as rendered (every member, `new`), so a
/// re-run changes nothing: etcd reads those settings only without data.
/// Members join one at a time (`add-nodes` runs them so): a member added
/// but not started yet counts against quorum.
fn etcd_join(node: &Node, inp: &Inputs) -> Vec<Op> {
    let has_data = |n: &Node| inp.facts.get(&n.name).is_some_and(|f| f.etcd_data);
    if !node.has(Role::Etcd) || has_data(node) {
        return Vec::new();
    }
    let peers: Vec<String> = (inp.cluster.nodes.iter())
        .filter(|n| n.has(Role::Etcd) && n.name != node.name && has_data(n))
        .filter_map(|n| n.etcd_url(ETCD_CLIENT))
        .collect();
    if peers.is_empty() {
        return Vec::new();
    }
    let ctl = format!(
        "ETCDCTL_API=3 etcdctl --endpoints={} --cacert=/etc/ssl/etcd/ssl/ca.pem --cert={} --key={} --dial-timeout=5s --command-timeout=30s",
        sh_quote(&peers.join(",")),
        sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{}.pem", node.name)),
        sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{}-key.pem", node.name)),
    );
    let dropin_dir = ETCD_JOIN_DROPIN.rsplit_once('/').expect("a path").0;
    // The list is read serializable where etcdctl can: once a member is
    // added and not yet started, a small cluster has no quorum to spare.
    // etcd refuses an add ("unhealthy cluster") until the member that joined
    // just before has been connected a few seconds: tried again, bounded.
    let script = [
        "set -e; set -a; . /etc/etcd.env; set +a; peer=$ETCD_INITIAL_ADVERTISE_PEER_URLS".to_string(),
        format!("members() {{ {ctl} member list -w simple --consistency=s 2>/dev/null || {ctl} member list -w simple; }}"),
        format!(
            "peers={}; list=$(members) || {{ echo \"no etcd member answers at $peers: cannot add $ETCD_NAME\" >&2; exit 1; }}",
            sh_quote(&peers.join(","))
        ),
        format!(
            "i=0; until printf '%s\\n' \"$list\" | grep -q \", $peer,\"; do i=$((i + 1)); \
             if [ $i -gt 30 ]; then echo \"etcd did not take $ETCD_NAME as a member within 60 s: $out\" >&2; exit 1; fi; \
             out=$({ctl} member add \"$ETCD_NAME\" --peer-urls=\"$peer\" 2>&1) || sleep 2; list=$(members); done"
        ),
        "cluster=$(printf '%s\\n' \"$list\" | awk -F', ' -v me=\"$ETCD_NAME\" -v peer=\"$peer\" '{n = $3; if ($4 == peer) n = me; printf \"%s%s=%s\", sep, n, $4; sep = \",\"}')".to_string(),
        format!("umask 077; mkdir -p {}", sh_quote(dropin_dir)),
        format!("printf 'ETCD_INITIAL_CLUSTER=%s\\nETCD_INITIAL_CLUSTER_STATE=existing\\n' \"$cluster\" >{ETCD_JOIN_ENV}"),
        format!("printf '[Service]\\nEnvironmentFile={ETCD_JOIN_ENV}\\n' >{ETCD_JOIN_DROPIN}; chmod 644 {ETCD_JOIN_DROPIN}"),
        "systemctl daemon-reload".to_string(),
    ]
    .join("; ");
    vec![Op::run_unless(
        "join the running etcd cluster (member add)",
        &script,
        &format!("set -a; . /etc/etcd.env; test -d \"$ETCD_DATA_DIR/member\" || test -f {ETCD_JOIN_DROPIN}"),
    )]
}

/// Once the member is healthy its data holds the membership: the join's
/// drop-in goes (a no-op where there was none).
fn etcd_join_settings_dropped() -> Op {
    Op::run_unless(
        "forget the etcd join settings",
        &format!("rm -f {ETCD_JOIN_DROPIN} {ETCD_JOIN_ENV} && systemctl daemon-reload"),
        &format!("test ! -e {ETCD_JOIN_DROPIN} && test ! -e {ETCD_JOIN_ENV}"),
    )
}

/// The etcd phase's health wait (`etcd restore` runs it after its start).
pub const ETCD_HEALTHY: &str = "etcd is healthy";

pub struct LoadBalancer;
impl Phase for LoadBalancer {
    fn name(&self) -> &'static str {
        "loadbalancer"
    }
    fn title(&self) -> &'static str {
        "API load balancer: a local proxy to the masters, or keepalived on them"
    }
    fn stage(&self) -> Stage {
        Stage::InstallingKubernetes
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        // The rendered files decide (from `model::lb`): a local haproxy or
        // nginx on nodes that are not masters, keepalived + haproxy on
        // masters for a VIP, or nothing.
        indices(c, in_cluster)
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        // The proxy runs as the OS's service: it must work before kubelet
        // does, since workers join through it.
        let mut ops = Vec::new();
        for lb in LbService::ALL {
            let service = lb.service();
            let files = inp.file_ops(&node.name, &[Component::Lb(lb)]);
            if files.is_empty() {
                continue;
            }
            ops.extend(files);
            ops.push(Op::on_change(
                &format!("restart {service}"),
                &format!("systemctl restart {service}"),
            ));
            ops.push(Op::run_unless(
                &format!("start {service}"),
                &format!("systemctl enable --now {service}"),
                &format!("systemctl is-active --quiet {service}"),
            ));
        }
        ops
    }
}

/// Phases that need Kubernetes binaries (kubeadm, kubelet, kubectl).
pub struct Kubeadm {
    pub name: &'static str,
    pub title: &'static str,
    pub stage: Stage,
    pub hosts: fn(&Cluster) -> Vec<usize>,
    pub ops: fn(&Node, &Inputs) -> Vec<Op>,
    pub tools: &'static [&'static str],
}

impl Phase for Kubeadm {
    fn name(&self) -> &'static str {
        self.name
    }
    fn title(&self) -> &'static str {
        self.title
    }
    fn stage(&self) -> Stage {
        self.stage
    }
    fn hosts(&self, c: &Cluster) -> Vec<usize> {
        (self.hosts)(c)
    }
    fn ops(&self, node: &Node, inp: &Inputs) -> Vec<Op> {
        (self.ops)(node, inp)
    }
    fn tools(&self) -> &'static [&'static str] {
        self.tools
    }
}

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

fn first_master(c: &Cluster) -> Vec<usize> {
    indices(c, |n| n.has(Role::Master))
        .into_iter()
        .take(1)
        .collect()
}

/// The kubeadm configuration rendered for the node (its name says the API version).
fn kubeadm_config(node: &Node, inp: &Inputs) -> String {
    inp.files_of(&node.name, &[Component::Kubeadm])
        .first()
        .map(|f| f.path.clone())
        .unwrap_or_else(|| "/etc/kubernetes/kubeadm-config.yaml".into())
}

/// The files a kubelet runs from (its unit, kubeadm's config).
/// What a Kubernetes node's kubelet runs from (control-plane, workers,
/// upgrade).
pub const KUBELET_FILES: &[Component] =
    &[Component::Kubeadm, Component::Kubelet, Component::Calico];

/// The etcd client certificate and CA a node that is not an etcd member
/// reads from its own disk (a master's API server; calico-node on every
/// node): the etcd phase puts the members' there.
pub fn etcd_client_files(node: &Node, inp: &Inputs) -> Vec<Op> {
    match node.has(Role::Etcd) {
        true => Vec::new(),
        false => inp.file_ops(&node.name, &[Component::EtcdClient]),
    }
}

/// The kubelet's unit files are in place: systemd learns them and starts
/// the kubelet at boot (kubeadm starts it the first time).
fn kubelet_enabled() -> Op {
    Op::run_unless(
        "enable the kubelet",
        "systemctl daemon-reload && systemctl enable kubelet",
        "systemctl is-enabled --quiet kubelet && ! systemctl show kubelet -p NeedDaemonReload | grep -q yes",
    )
}

fn control_plane_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    let mut ops = inp.file_ops(&node.name, &[Component::KubeCa]);
    ops.extend(etcd_client_files(node, inp));
    ops.extend(inp.file_ops(&node.name, KUBELET_FILES));
    ops.push(kubelet_enabled());
    let first = inp
        .cluster
        .first_master()
        .is_some_and(|m| m.name == node.name);
    let config = kubeadm_config(node, inp);
    if first {
        ops.push(Op::run_unless(
            "kubeadm init",
            &format!("timeout -k 600s 600s kubeadm init --config={} --upload-certs --ignore-preflight-errors=Swap", sh_quote(&config)),
            "test -f /etc/kubernetes/admin.conf",
        ));
        ops.extend(join_secrets_fresh(&config));
    } else {
        ops.extend(inp.file_ops(&node.name, &[Component::JoinHosts]));
        ops.push(Op::run_unless(
            "join as a control-plane node",
            &control_plane_join(
                &config,
                !inp.files_of(&node.name, &[Component::JoinHosts]).is_empty(),
            ),
            "test -f /etc/kubernetes/kubelet.conf",
        ));
    }
    ops.extend(etcd_servers_ops(inp, first, &config));
    if node.has(Role::Worker) {
        ops.push(Op::run_unless(
            "let the master run workloads",
            &format!("{KUBECTL} taint node {} node-role.kubernetes.io/master:NoSchedule- node-role.kubernetes.io/control-plane:NoSchedule- || true", sh_quote(&node.name)),
            &format!("! {KUBECTL} get node {} -o jsonpath='{{.spec.taints}}' | grep -q NoSchedule", sh_quote(&node.name)),
        ));
    }
    ops
}

/// The name of the operations that keep the API servers on every etcd
/// member (`add-nodes` gives them to masters that are not new).
pub const ETCD_SERVERS: &str = "the API server uses every etcd member";

/// An API server made while etcd had fewer members (a member added since)
/// names only those: once they are gone, it is too, whatever etcd's
/// quorum. Its manifest gets the whole list (the kubelet restarts it; the
/// wait is bounded), and, on the first master, kubeadm's stored
/// ClusterConfiguration too, which masters joining later and upgrades
/// read. Where kubeadm wrote the list already (a fresh install), nothing
/// changes.
fn etcd_servers_ops(inp: &Inputs, first: bool, config: &str) -> Vec<Op> {
    let list = inp.cluster.etcd_endpoints().join(",");
    if list.is_empty() {
        return Vec::new();
    }
    let manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml";
    let flag = sh_quote(&format!("--etcd-servers={list}"));
    let mut ops = Vec::new();
    if first {
        let each = inp
            .cluster
            .etcd_endpoints()
            .iter()
            .map(|e| format!("grep -qF -- {} \"$f\"", sh_quote(&format!("- {e}"))))
            .collect::<Vec<_>>()
            .join(" && ");
        ops.push(Op::run_unless(
            ETCD_SERVERS,
            &format!("kubeadm init phase upload-config kubeadm --config={} >/dev/null", sh_quote(config)),
            &format!(
                "f=$(mktemp); trap 'rm -f \"$f\"' EXIT; {KUBECTL} -n kube-system get configmap kubeadm-config -o jsonpath='{{.data.ClusterConfiguration}}' >\"$f\" && {each}"
            ),
        ));
    }
    // The kubelet gives the old API server 30 s to stop, and it takes them
    // all (seen on the lab: it stops listening at once, then hangs). Once
    // the kubelet has seen the new manifest (inotify; 2 s), the old one is
    // stopped with 3 s of grace: a restart takes about 18 s, not 42.
    ops.push(Op::run_unless(
        ETCD_SERVERS,
        &format!(
            "old=$(crictl ps -q --name '^kube-apiserver$'); sed -i \"s|--etcd-servers=.*|\"{flag}\"|\" {manifest} && \
             sleep 2 && for c in $old; do crictl stop --timeout 3 \"$c\" >/dev/null 2>&1 || true; done"
        ),
        &format!(
            "! test -f {manifest} || grep -q -- {}\"$\" {manifest}",
            flag
        ),
    ));
    ops.push(Op::on_change(
        ETCD_SERVERS,
        &format!(
            "end=$(($(date +%s) + 240)); until ps -eo args | grep -v grep | grep kube-apiserver | grep -qF -- {flag} && {KUBECTL} get --raw=/readyz >/dev/null 2>&1; do \
             if [ $(date +%s) -ge $end ]; then echo 'the API server did not come back on every etcd member within 240 s' >&2; exit 1; fi; sleep 2; done"
        ),
    ));
    ops
}

/// `kubeadm join` of a master. With `join_hosts` (internal-LB mode) it runs
/// in a mount namespace of its own whose /etc/hosts starts with the lines
/// of JOIN_HOSTS, so the API domain (the master itself, on the host) leads
/// kubeadm to the first master; the host's /etc/hosts is left as it is.
fn control_plane_join(config: &str, join_hosts: bool) -> String {
    let join = format!("kubeadm join --config={}", sh_quote(config));
    if !join_hosts {
        return format!("timeout -k 600s 600s {join}");
    }
    let inner = format!(
        "cat {jh} /etc/hosts >/run/ksinstall-join-hosts && mount --bind /run/ksinstall-join-hosts /etc/hosts && exec {join}",
        jh = sh_quote(JOIN_HOSTS)
    );
    format!(
        "timeout -k 600s 600s unshare --mount --propagation private sh -c {}; rc=$?; rm -f /run/ksinstall-join-hosts; exit $rc",
        sh_quote(&inner)
    )
}

/// The join token lives 24 hours and the uploaded certificates two: on a
/// later run (a resume, new nodes) they are made again from the same
/// InitConfiguration, so the rendered join configs stay valid. Nothing
/// secret reaches a command line: kubeadm reads them from the config file.
fn join_secrets_fresh(config: &str) -> Vec<Op> {
    let c = sh_quote(config);
    vec![
        Op::run_unless(
            "renew the join token",
            &format!("kubeadm token create --config={c} >/dev/null"),
            &format!(
                "id=$(sed -n 's/^- token: \"\\([a-z0-9]*\\)\\..*/\\1/p' {c} | head -1); \
                 test -n \"$id\" && kubeadm token list 2>/dev/null | awk '{{print $1}}' | grep -q \"^$id\\.\""
            ),
        ),
        Op::run_unless(
            "upload the control-plane certificates again",
            &format!("kubeadm init phase upload-certs --upload-certs --config={c} >/dev/null"),
            &format!("{KUBECTL} -n kube-system get secret kubeadm-certs >/dev/null 2>&1 || ! grep -q '^certificateKey:' {c}"),
        ),
    ]
}

fn worker_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    let mut ops = etcd_client_files(node, inp);
    ops.extend(inp.file_ops(&node.name, KUBELET_FILES));
    ops.push(kubelet_enabled());
    ops.push(Op::run_unless(
        "kubeadm join",
        &format!(
            "timeout -k 600s 600s kubeadm join --config={}",
            sh_quote(&kubeadm_config(node, inp))
        ),
        "test -f /etc/kubernetes/kubelet.conf",
    ));
    ops
}

/// Cluster-wide manifests applied from the first master.
fn apply_manifests(node: &Node, inp: &Inputs, component: Component, what: &str) -> Vec<Op> {
    let dir = component.manifest_dir().unwrap_or_default();
    let mut ops = inp.file_ops(&node.name, &[component]);
    // One file at a time in name order, each one's CRDs established before
    // the next file uses their kinds (ks-installer's CRD, then its object).
    ops.push(Op::on_change(
        &format!("apply the {what} manifests"),
        &format!(
            "for f in $(ls {d}/*.yaml | sort); do {KUBECTL} apply -f \"$f\" || exit 1; \
             {KUBECTL} wait --for=condition=established --timeout=60s crd --all >/dev/null 2>&1 || true; done",
            d = sh_quote(dir)
        ),
    ));
    ops
}

fn network_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    let mut ops = apply_manifests(node, inp, Component::Network, "network plugin");
    // How many nodes there are is the inventory's to say: just after the
    // workers phase their Node objects may not be registered yet.
    let nodes = (inp.cluster.nodes.iter())
        .filter(|n| n.has(Role::Master) || n.has(Role::Worker))
        .count();
    if nodes >= 2 {
        ops.push(coredns_spread(inp, nodes));
    }
    ops
}

/// kubeadm starts CoreDNS before any other node has joined, so both
/// replicas sit on the first master and cluster DNS dies with it. Once every
/// node is Ready (bounded wait; a NotReady node would take no replica), a
/// new rollout places them again: under the spread constraint where the
/// minor has one (`versions::coredns_spread`), else under kubeadm's
/// anti-affinity preference. The op waits for the rollout, so the install
/// ends with DNS spread; skipped when it is (and not made for one node).
pub fn coredns_spread(inp: &Inputs, expected: usize) -> Op {
    let nodes = format!("{KUBECTL} get nodes --no-headers");
    let dns_nodes = format!(
        "{KUBECTL} -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{{range .items[*]}}{{.spec.nodeName}}{{\"\\n\"}}{{end}}' | sort -u | grep -c ."
    );
    let spread = versions::coredns_spread(&inp.cluster.config.kube_version);
    // Spread, and (where the minor has the constraint) under it: a
    // Deployment written afresh (by hand, or by a kubeadm CoreDNS upgrade,
    // which `upgrade` skips) lacks it.
    let placed = match spread {
        Some(_) => format!(
            "[ \"$({dns_nodes})\" -ge 2 ] && {KUBECTL} -n kube-system get deployment coredns -o jsonpath='{{.spec.template.spec.topologySpreadConstraints}}' | grep -q pod-template-hash"
        ),
        None => format!("[ \"$({dns_nodes})\" -ge 2 ]"),
    };
    let rollout = match spread {
        // The annotation makes a new rollout even when the constraint is
        // already there (a re-run after a node was NotReady).
        Some(c) => format!(
            "{KUBECTL} -n kube-system patch deployment coredns --type=strategic -p {}\"$(date +%s)\"{}",
            sh_quote(r#"{"spec":{"template":{"metadata":{"annotations":{"ksinstall/spread-at":""#),
            sh_quote(&format!(
                r#""}}}},"spec":{{"topologySpreadConstraints":[{c}]}}}}}}}}"#
            )),
        ),
        None => format!("{KUBECTL} -n kube-system rollout restart deployment coredns"),
    };
    Op::run_unless(
        "spread CoreDNS over the nodes",
        &format!(
            "for i in $(seq 1 90); do [ \"$({nodes} 2>/dev/null | grep -cw Ready)\" -ge {expected} ] && break; sleep 2; done; \
             {rollout} && {KUBECTL} -n kube-system rollout status deployment coredns --timeout=180s"
        ),
        &placed,
    )
}

fn storage_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    apply_manifests(node, inp, Component::Storage, "storage")
}

fn kubesphere_ops(node: &Node, inp: &Inputs) -> Vec<Op> {
    let mut ops = apply_manifests(node, inp, Component::KubeSphere, "ks-installer");
    // Bounded; an image that cannot be had ends the wait at once (the end
    // of the run then says the console is not up, and prints no banner),
    // and so does a cluster with no Ready node after 30 s, where the pod
    // can never start (the nodes, not the pod, are what to look at).
    ops.push(Op::check(
        "wait for the ks-installer pod",
        &format!(
            "for i in $(seq 1 90); do s=$({KUBECTL} -n kubesphere-system get pod -l app=ks-install -o jsonpath='{{.items[0].status.phase}} {{.items[0].status.containerStatuses[0].state.waiting.reason}}' 2>/dev/null); \
             case \"$s\" in Running*) exit 0;; *ErrImagePull*|*ImagePullBackOff*|*ErrImageNeverPull*|*InvalidImageName*) echo \"ks-installer: $s\" >&2; exit 0;; esac; \
             if [ \"$i\" -gt 3 ] && [ \"$({KUBECTL} get nodes --no-headers 2>/dev/null | grep -cw Ready)\" -eq 0 ]; then \
             echo 'no node is Ready, so the ks-installer pod cannot start:' >&2; {KUBECTL} get nodes >&2; exit 1; fi; sleep 10; done; \
             {KUBECTL} -n kubesphere-system describe pod -l app=ks-install | tail -20; exit 1"
        ),
    ));
    ops
}

pub static CONTROL_PLANE: Kubeadm = Kubeadm {
    name: "control-plane",
    title: "control plane: kubeadm init on the first master, join the others",
    stage: Stage::InstallingKubernetes,
    hosts: |c| indices(c, |n| n.has(Role::Master)),
    ops: control_plane_ops,
    tools: &["kubeadm", "kubelet", "kubectl"],
};

pub static WORKERS: Kubeadm = Kubeadm {
    name: "workers",
    title: "workers join",
    stage: Stage::InstallingKubernetes,
    hosts: |c| indices(c, |n| n.has(Role::Worker) && !n.has(Role::Master)),
    ops: worker_ops,
    tools: &["kubeadm", "kubelet"],
};

pub static NETWORK: Kubeadm = Kubeadm {
    name: "network",
    title: "network plugin",
    stage: Stage::InstallingKubernetes,
    hosts: first_master,
    ops: network_ops,
    tools: &["kubectl"],
};

pub static STORAGE: Kubeadm = Kubeadm {
    name: "storage",
    title: "storage classes",
    stage: Stage::InstallingKubeSphere,
    hosts: first_master,
    ops: storage_ops,
    tools: &["kubectl"],
};

pub static KUBESPHERE: Kubeadm = Kubeadm {
    name: "kubesphere",
    title: "KubeSphere: ks-installer and its configuration",
    stage: Stage::InstallingKubeSphere,
    hosts: first_master,
    ops: kubesphere_ops,
    tools: &["kubectl"],
};

/// The install, in order.
pub static ALL: &[&dyn Phase] = &[
    &OsPrep,
    &Packages,
    &Registry,
    &Runtime,
    &Etcd,
    &LoadBalancer,
    &CONTROL_PLANE,
    &WORKERS,
    &NETWORK,
    &STORAGE,
    &KUBESPHERE,
];

pub fn by_name(name: &str) -> Option<usize> {
    ALL.iter().position(|p| p.name() == name)
}

pub fn names() -> String {
    ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `without_autostart` on this machine against a policy file in a
    /// temp directory: `body` sees ours, the operator's comes back.
    fn autostart_run(dir: &std::path::Path, body: &str) -> (i32, String) {
        let policy = dir.join("policy-rc.d");
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(without_autostart(policy.to_str().unwrap(), body))
            .output()
            .unwrap();
        let now = std::fs::read_to_string(&policy).unwrap_or_default();
        (
            o.status.code().unwrap(),
            format!("{}|{now}", String::from_utf8_lossy(&o.stdout)),
        )
    }

    #[test]
    fn an_operators_policy_rc_is_put_back_after_the_packages() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy-rc.d");
        let body = format!("cat {}; exit 3", policy.display());
        std::fs::write(&policy, "#!/bin/sh\nexit 0 # the operator's\n").unwrap();
        let (rc, out) = autostart_run(dir.path(), &body);
        assert_eq!(rc, 3, "the body's status");
        assert_eq!(
            out,
            "#!/bin/sh\nexit 101\n|#!/bin/sh\nexit 0 # the operator's\n"
        );
        // A run that died left ours in place and the operator's aside.
        std::fs::rename(&policy, dir.path().join("policy-rc.d.ksinstall-kept")).unwrap();
        std::fs::write(&policy, "#!/bin/sh\nexit 101\n").unwrap();
        let (rc, out) = autostart_run(dir.path(), "true");
        assert_eq!(
            (rc, out.as_str()),
            (0, "|#!/bin/sh\nexit 0 # the operator's\n")
        );
        // No policy of the operator's: none is left.
        std::fs::remove_file(&policy).unwrap();
        let (rc, out) = autostart_run(dir.path(), "true");
        assert_eq!((rc, out.as_str()), (0, "|"));
    }
}
