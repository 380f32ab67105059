//! Facts about a host, gathered by one shell script in one round trip and
//! parsed here. Phases decide what to change from these facts, so that a
//! re-run on a finished host changes nothing.

use std::collections::BTreeMap;

use crate::bundle::needs::Family;
use crate::exec::shell::sh_quote;

/// Runs as root (or through sudo) with POSIX sh; every line is `key=value`,
/// multi-line sections are one line each with `|` separators.
pub const SCRIPT: &str = r#"
echo "os_id=$(. /etc/os-release 2>/dev/null; echo "$ID")"
echo "os_like=$(. /etc/os-release 2>/dev/null; echo "$ID_LIKE")"
echo "os_version=$(. /etc/os-release 2>/dev/null; echo "$VERSION_ID")"
echo "os_pretty=$(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME")"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "hostname=$(hostname)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
echo "mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "swap_kb=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)"
echo "disk_free_kb=$(df -Pk / 2>/dev/null | awk 'NR==2 {print $4}')"
echo "machine_id=$(cat /etc/machine-id 2>/dev/null)"
echo "time=$(date +%s)"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
# Whether root here may lower OOM scores (CAP_SYS_RESOURCE): containers
# and some sandboxes may not, and then containerd must not try to.
if sh -c 'echo -1 > /proc/self/oom_score_adj' 2>/dev/null; then echo "lower_oom=yes"; else echo "lower_oom=no"; fi
# Whether the connection-tracking table size is this host's to set (it is
# not from a network namespace other than the kernel's first, as in a container).
if [ -w /proc/sys/net/netfilter/nf_conntrack_max ]; then echo "conntrack_max=writable"; else echo "conntrack_max=fixed"; fi
echo "cgroup_fs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
# Whether this host holds an etcd member's data (it has been a member).
if [ -f /etc/etcd.env ] && (. /etc/etcd.env 2>/dev/null; [ -n "$ETCD_DATA_DIR" ] && [ -d "$ETCD_DATA_DIR/member" ]); then echo "etcd_data=yes"; else echo "etcd_data=no"; fi
echo "addresses=$(ip -o addr show 2>/dev/null | awk '{split($4,a,"/"); print a[1]}' | tr '\n' '|')"
# Routes, without those a CNI of this cluster made (flannel, calico, the
# bridge plugin): a re-run must not take the cluster's own pod routes for
# a network the pod range collides with.
echo "routes=$(ip -o route show 2>/dev/null | awk '$0 !~ / dev (cni0|flannel\.[0-9]+|tunl0|vxlan\.calico|cali[0-9a-f]+)( |$)/ {print $1}' | tr '\n' '|')"
echo "listening=$( (ss -Htln 2>/dev/null || netstat -tln 2>/dev/null) | awk '{print $4}' | sed 's/.*://' | sort -un | tr '\n' '|')"
echo "debs=$(dpkg-query -W -f='${Package}=${Version}|' 2>/dev/null)"
echo "rpms=$(rpm -qa --qf '%{NAME}=%{VERSION}-%{RELEASE}|' 2>/dev/null)"
# Images the runtime holds (containerd's Kubernetes namespace, or docker's),
# bounded: a runtime that hangs must not hold up fact gathering.
echo "images=$( { timeout 10 ctr -n k8s.io images ls -q 2>/dev/null; timeout 10 docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null; } | grep -v '^sha256:' | tr '\n' '|')"
"#;

/// Commands whose presence is a fact (`tool_NAME=yes|no`), beyond
/// preflight's REQUIRED_TOOLS (facts too).
pub const OTHER_TOOLS: &[&str] = &[
    "containerd",
    "etcd",
    "kubelet",
    "kubeadm",
    "kubectl",
    "haproxy",
    "chronyd",
    "systemctl",
];

/// Kubernetes' own commands, whose version is a fact too (`version_NAME=v1.28.2`):
/// preflight compares it with `kube_version` when no bundle replaces them.
pub const KUBE_TOOLS: &[(&str, &str)] = &[
    ("kubeadm", "version -o short"),
    ("kubelet", "--version"),
    ("kubectl", "version --client"),
];

/// The whole fact script: the fixed part, then one line per command. Names
/// and arguments go through `sh_quote` like every value in a host command.
pub fn script() -> String {
    let mut s = SCRIPT.to_string();
    for t in super::preflight::REQUIRED_TOOLS.iter().chain(OTHER_TOOLS) {
        let q = sh_quote(t);
        s.push_str(&format!(
            "if command -v {q} >/dev/null 2>&1; then echo tool_{t}=yes; else echo tool_{t}=no; fi\n"
        ));
    }
    for (t, args) in KUBE_TOOLS {
        let q = sh_quote(t);
        let argv: Vec<String> = args.split(' ').map(sh_quote).collect();
        // Bounded: a broken binary must not hold up fact gathering.
        s.push_str(&format!(
            "if command -v {q} >/dev/null 2>&1; then echo \"version_{t}=$(timeout 10 {q} {} 2>/dev/null | grep -o 'v[0-9][0-9.]*' | head -n 1)\"; fi\n",
            argv.join(" ")
        ));
    }
    s
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub os_id: String,
    /// The host's package family, from /etc/os-release's `ID` and
    /// `ID_LIKE` (`None`: neither names one this installer knows).
    pub os_family: Option<Family>,
    pub os_version: String,
    pub os_pretty: String,
    pub arch: String,
    pub kernel: String,
    pub hostname: String,
    pub cpus: u32,
    pub mem_mb: u64,
    pub swap_mb: u64,
    pub disk_free_gb: u64,
    pub machine_id: String,
    /// Seconds since the epoch when the facts were read.
    pub time: i64,
    /// This machine's clock when they arrived (0 in fixtures): the host's
    /// clock is compared through `time - seen`, so hosts read a minute
    /// apart (a thousand of them) are not taken for skewed clocks.
    pub seen: i64,
    /// Name of PID 1 (`systemd`, `init`, `sh`...).
    pub init: String,
    /// Root may lower a process's OOM score (false: no CAP_SYS_RESOURCE).
    pub lower_oom: bool,
    /// `nf_conntrack_max` cannot be set here (a container's network namespace).
    pub conntrack_fixed: bool,
    /// The host runs cgroup v1 (or hybrid): `/sys/fs/cgroup` is not cgroup2.
    pub cgroup_v1: bool,
    /// The host holds an etcd member's data (`$ETCD_DATA_DIR/member` of
    /// its /etc/etcd.env): a new member joins a cluster that has one.
    pub etcd_data: bool,
    pub addresses: Vec<String>,
    pub routes: Vec<String>,
    pub listening_ports: Vec<u16>,
    pub tools: BTreeMap<String, bool>,
    /// Version of each of `KUBE_TOOLS` present (`v1.28.2`; empty when it
    /// would not say).
    pub versions: BTreeMap<String, String>,
    /// OS packages installed, as the host's family counts them (dpkg's on
    /// Debian, rpm's `VERSION-RELEASE` on RPM hosts): name -> version.
    pub installed: BTreeMap<String, String>,
    /// Images the runtime holds, as full references (`docker.io/...`).
    pub images: Vec<String>,
}

impl Facts {
    pub fn parse(text: &str) -> Facts {
        let mut f = Facts::default();
        let mut os_like = String::new();
        let (mut debs, mut rpms) = (BTreeMap::new(), BTreeMap::new());
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim();
            let list = || -> Vec<String> {
                v.split('|')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            match k {
                "os_id" => f.os_id = v.to_string(),
                "os_version" => f.os_version = v.to_string(),
                "os_pretty" => f.os_pretty = v.to_string(),
                "arch" => f.arch = v.to_string(),
                "kernel" => f.kernel = v.to_string(),
                "hostname" => f.hostname = v.to_string(),
                "cpus" => f.cpus = v.parse().unwrap_or(0),
                "mem_kb" => f.mem_mb = v.parse::<u64>().unwrap_or(0) / 1024,
                "swap_kb" => f.swap_mb = v.parse::<u64>().unwrap_or(0) / 1024,
                "disk_free_kb" => f.disk_free_gb = v.parse::<u64>().unwrap_or(0) / (1024 * 1024),
                "machine_id" => f.machine_id = v.to_string(),
                "time" => f.time = v.parse().unwrap_or(0),
                "init" => f.init = v.to_string(),
                "lower_oom" => f.lower_oom = v == "yes",
                "conntrack_max" => f.conntrack_fixed = v == "fixed",
                "cgroup_fs" => f.cgroup_v1 = !v.is_empty() && v != "cgroup2fs",
                "etcd_data" => f.etcd_data = v == "yes",
                "addresses" => f.addresses = list(),
                "images" => {
                    f.images = list()
                        .iter()
                        .map(|i| crate::model::versions::qualified(i))
                        .collect()
                }
                "routes" => f.routes = list(),
                "listening" => {
                    f.listening_ports = list().iter().filter_map(|p| p.parse().ok()).collect()
                }
                "os_like" => os_like = v.to_string(),
                "debs" => debs = name_versions(&list()),
                "rpms" => rpms = name_versions(&list()),
                k if k.starts_with("version_") => {
                    f.versions
                        .insert(k["version_".len()..].to_string(), v.to_string());
                }
                k if k.starts_with("tool_") => {
                    f.tools.insert(k["tool_".len()..].to_string(), v == "yes");
                }
                _ => {}
            }
        }
        // Either database may be there on the other family's host (rpm is
        // a Debian package): the family says which one installs packages.
        f.os_family = family(&f.os_id, &os_like);
        f.installed = match f.os_family {
            Some(Family::Rpm) => rpms,
            _ => debs,
        };
        f
    }

    /// The host installs RPMs (dnf or yum), not Debian packages.
    pub fn rpm(&self) -> bool {
        self.os_family == Some(Family::Rpm)
    }

    pub fn has_tool(&self, t: &str) -> bool {
        self.tools.get(t).copied().unwrap_or(false)
    }

    pub fn systemd(&self) -> bool {
        self.init == "systemd"
    }

    /// The address to use as `ip` when the inventory gives none: the first
    /// non-loopback IPv4 address.
    pub fn default_ipv4(&self) -> Option<&str> {
        self.addresses.iter().map(String::as_str).find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
    }
}

/// `name=version` items as a map.
fn name_versions(items: &[String]) -> BTreeMap<String, String> {
    (items.iter())
        .filter_map(|d| d.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The package family of `/etc/os-release`'s `ID`, else of the first word
/// of its `ID_LIKE` that names one (Rocky: `ID_LIKE="rhel centos fedora"`).
fn family(id: &str, like: &str) -> Option<Family> {
    std::iter::once(id)
        .chain(like.split_whitespace())
        .find_map(|w| match w {
            "debian" | "ubuntu" => Some(Family::Deb),
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" => Some(Family::Rpm),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_output() {
        let f = Facts::parse(
            "os_id=debian\nos_version=12\narch=x86_64\ncpus=2\nmem_kb=4046848\nswap_kb=0\ndisk_free_kb=41943040\n\
             init=systemd\naddresses=127.0.0.1|10.77.0.11|::1|\nlistening=22|6443|\ntool_socat=yes\ntool_ipset=no\n",
        );
        assert_eq!(f.mem_mb, 3952);
        assert_eq!(f.disk_free_gb, 40);
        assert_eq!(f.default_ipv4(), Some("10.77.0.11"));
        assert_eq!(f.listening_ports, [22, 6443]);
        assert!(f.has_tool("socat") && !f.has_tool("ipset") && !f.has_tool("curl"));
        assert!(f.systemd());
    }

    /// What the script prints on Rocky Linux 9 (with a stray dpkg
    /// database, as a host that once had Debian's dpkg installed).
    #[test]
    fn an_rpm_host_counts_its_rpms() {
        let f = Facts::parse(
            "os_id=rocky\nos_like=rhel centos fedora\nos_version=9.3\ndebs=dpkg=1.21.22|\n\
             rpms=socat=1.7.4.1-5.el9|conntrack-tools=1.4.7-2.el9|gpg-pubkey=fd431d51-4ae0493b|\n",
        );
        assert_eq!(f.os_family, Some(Family::Rpm));
        assert!(f.rpm());
        assert_eq!(f.installed["socat"], "1.7.4.1-5.el9");
        assert_eq!(f.installed["conntrack-tools"], "1.4.7-2.el9");
        assert!(!f.installed.contains_key("dpkg"), "{:?}", f.installed);
        let s = script();
        assert!(
            s.contains("rpm -qa --qf '%{NAME}=%{VERSION}-%{RELEASE}|'"),
            "{s}"
        );
    }

    #[test]
    fn the_family_comes_from_id_then_id_like() {
        let fam = |id, like| Facts::parse(&format!("os_id={id}\nos_like={like}\n")).os_family;
        assert_eq!(fam("debian", ""), Some(Family::Deb));
        assert_eq!(fam("linuxmint", "ubuntu debian"), Some(Family::Deb));
        assert_eq!(fam("centos", "rhel fedora"), Some(Family::Rpm));
        assert_eq!(fam("almalinux", "rhel centos fedora"), Some(Family::Rpm));
        assert_eq!(fam("ol", "fedora"), Some(Family::Rpm));
        assert_eq!(fam("sles", "suse"), None);
        let deb = Facts::parse("os_id=debian\ndebs=socat=1.7.4.4-2|\nrpms=\n");
        assert!(!deb.rpm());
        assert_eq!(deb.installed["socat"], "1.7.4.4-2");
    }

    #[test]
    fn kube_tools_and_their_versions() {
        let f = Facts::parse("tool_kubeadm=yes\ntool_kubectl=no\nversion_kubeadm=v1.28.2\n");
        assert!(f.has_tool("kubeadm") && !f.has_tool("kubectl"));
        assert_eq!(f.versions["kubeadm"], "v1.28.2");
        let s = script();
        assert!(s.contains("command -v kubectl >/dev/null"), "{s}");
        assert!(s.contains("timeout 10 kubeadm version -o short"), "{s}");
        assert!(s.contains("echo tool_systemctl=yes"), "{s}");
    }

    #[test]
    fn the_script_is_valid_sh() {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &script()])
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn container_host_facts() {
        let f = Facts::parse("lower_oom=no\nconntrack_max=fixed\ncgroup_fs=tmpfs\netcd_data=yes\n");
        assert!(!f.lower_oom && f.conntrack_fixed && f.cgroup_v1 && f.etcd_data);
        let f = Facts::parse("lower_oom=yes\nconntrack_max=writable\ncgroup_fs=cgroup2fs\n");
        assert!(f.lower_oom && !f.conntrack_fixed && !f.cgroup_v1);
    }
}
