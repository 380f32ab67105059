//! An install without a bundle: each host's OS packages come from its own
//! configured apt repositories, or dnf/yum ones on an RPM host (through the
//! conf's proxy, when it names one), and Kubernetes' binaries are downloaded by the host itself from
//! their upstreams or the `--mirror`s given, each checked against the
//! checksum published beside it. Before anything changes, every host at
//! once is asked which of its package sources, download sites (or its
//! proxy) it cannot reach, and all of them are reported together
//! (`PackageSource`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::facts::Facts;
use super::phases::{Download, Offline};
use crate::bundle::needs::{self, Family, Kind, PlanOptions};
use crate::diag::{Diagnostic, Report};
use crate::exec::shell::sh_quote;
use crate::exec::{Action, Engine, HostFail};
use crate::model::{Cluster, Node, Role};

/// Each host's OS packages and binaries by the bundle plan's one table:
/// packages from its own repositories (the rows' RPM names on a host whose
/// facts say RPM), binaries downloaded from their upstreams (or `mirrors`).
/// A binary with no published checksum is not downloaded blind:
/// `DownloadChecksum` names it.
pub fn load(
    c: &Cluster,
    facts: &BTreeMap<String, Facts>,
    mirrors: &BTreeMap<String, String>,
    only: Option<&std::collections::BTreeSet<String>>,
    report: &mut Report,
) -> anyhow::Result<Offline> {
    let opts = PlanOptions {
        families: vec![Family::Deb, Family::Rpm],
        mirrors: mirrors.clone(),
        ..PlanOptions::default()
    };
    let plan = needs::plan(c, &opts).map_err(|e| anyhow::anyhow!("package plan: {e}"))?;
    let mut off = Offline {
        online: true,
        repo_dir: crate::bundle::select::HOST_REPO_DIR.into(),
        ..Offline::default()
    };
    let chosen = (c.nodes.iter()).filter(|n| only.is_none_or(|o| o.contains(&n.name)));
    for n in chosen {
        let kind = match facts.get(&n.name).is_some_and(Facts::rpm) {
            true => Kind::Rpm,
            false => Kind::Deb,
        };
        let mut pkgs: Vec<String> = (plan.for_host(&n.name))
            .filter(|need| need.kind == kind)
            .map(|need| need.name.clone())
            .collect();
        let binaries = plan.for_host(&n.name).filter(|x| x.kind == Kind::Binary);
        let downloads: Vec<Download> = binaries
            .filter_map(|need| download(c, n, need, report))
            .collect();
        if !downloads.is_empty() {
            // What the downloads themselves need (named alike in both families).
            pkgs.extend(["curl".to_string(), "ca-certificates".to_string()]);
            off.downloads.insert(n.name.clone(), downloads);
        }
        off.packages.insert(n.name.clone(), pkgs);
    }
    Ok(off)
}

/// One binary the host downloads, or `DownloadChecksum` when its upstream
/// publishes nothing to check it against.
fn download(c: &Cluster, n: &Node, need: &needs::Need, report: &mut Report) -> Option<Download> {
    let file = need
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&need.name)
        .to_string();
    match (&need.url, &need.sha256_url) {
        (Some(url), Some(sum)) if !sum.is_empty() => Some(Download {
            file,
            url: url.clone(),
            sha256_url: sum.clone(),
        }),
        _ => {
            report.push(c.at_node(
                Diagnostic::error(
                    "DownloadChecksum",
                    format!("'{}' needs {} {}, whose upstream publishes no checksum to check a download against: install with a bundle (--bundle DIR), or put it on the host yourself and pass --ignore-errors DownloadChecksum", n.name, need.name, need.version),
                ),
                n,
            ));
            None
        }
    }
}

/// The conf's proxy (`https_proxy`, else `http_proxy`; the validation has
/// made them plain URLs).
fn proxy(c: &Cluster) -> Option<String> {
    let cfg = &c.config;
    [cfg.text("https_proxy"), cfg.text("http_proxy")]
        .into_iter()
        .map(|p| p.trim().to_string())
        .find(|p| !p.is_empty())
}

/// apt's options for the conf's proxy, each quoted for the host's shell.
pub fn apt_proxy(c: &Cluster) -> Vec<String> {
    let cfg = &c.config;
    [("http", "http_proxy"), ("https", "https_proxy")]
        .into_iter()
        .filter_map(|(scheme, key)| {
            let v = cfg.text(key);
            let v = v.trim();
            (!v.is_empty()).then(|| sh_quote(&format!("-oAcquire::{scheme}::Proxy={v}")))
        })
        .collect()
}

/// dnf's (and yum's) option for the conf's proxy, quoted.
pub fn yum_proxy(c: &Cluster) -> Option<String> {
    proxy(c).map(|p| sh_quote(&format!("--setopt=proxy={p}")))
}

/// curl's option for the conf's proxy, quoted.
pub fn curl_proxy(c: &Cluster) -> String {
    proxy(c)
        .map(|p| format!("-x {}", sh_quote(&p)))
        .unwrap_or_default()
}

/// `scheme://host[:port]` of `host`'s downloads: what it must reach.
pub fn download_sources(off: &Offline, host: &str) -> Vec<String> {
    let mut out: Vec<String> = (off.downloads.get(host).into_iter().flatten())
        .flat_map(|d| [&d.url, &d.sha256_url])
        .filter_map(|u| {
            let (scheme, rest) = u.split_once("://")?;
            Some(format!("{scheme}://{}", rest.split('/').next()?))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What `host` must reach besides its apt sources: its downloads, and the
/// company's registry its runtime pulls from.
fn sources(c: &Cluster, off: &Offline, host: &str) -> Vec<String> {
    let mut out = download_sources(off, host);
    let k8s = (c.node(host)).is_some_and(|n| n.has(Role::Master) || n.has(Role::Worker));
    out.extend(c.external_registry().filter(|_| k8s).map(|r| r.url()));
    out
}

/// scheme://host[:port] of apt's index URIs.
const APT_SOURCES: &str =
    r#"apt-get --print-uris update 2>/dev/null | sed -n "s|^'\([a-z+]*://[^/']*\).*|\1|p""#;

/// scheme://host[:port] of the first baseurl, mirrorlist or metalink of
/// each enabled repository in /etc/yum.repos.d (what dnf and yum read;
/// asking dnf itself would fetch the metadata we are probing for).
const YUM_SOURCES: &str = r#"awk 'function out() { if (on && u != "") print u } /^\[/ { out(); on = 1; u = "" } /^enabled *= *(0|false|no) *$/ { on = 0 } u == "" && /^(baseurl|mirrorlist|metalink) *=/ { u = $0; sub(/^[a-z]+ *= */, "", u) } END { out() }' /etc/yum.repos.d/*.repo 2>/dev/null | sed -n 's|^\([a-z+]*://[^/]\{1,\}\).*|\1|p'"#;

/// Prints `unreachable URL` for each source (scheme://host[:port] of apt's
/// index URIs, or of the yum repositories on an RPM host, and of `extra`;
/// or the proxy that stands in front of them) that a TCP connection cannot
/// reach in 5 s, and `none` when there is none.
fn probe_script(proxy: Option<&str>, extra: &[String], rpm: bool) -> String {
    let extra: Vec<String> = extra.iter().map(|u| sh_quote(u)).collect();
    let repos = if rpm { YUM_SOURCES } else { APT_SOURCES };
    let sources = match proxy {
        Some(p) => format!("echo {}", sh_quote(p)),
        None => format!("{{ {repos}; echo {}; }} | sort -u", extra.join(" ")),
    };
    format!(
        "found=0; for u in $({sources}); do found=1; \
         hp=${{u#*://}}; host=${{hp%:*}}; port=${{hp##*:}}; \
         if [ \"$host\" = \"$hp\" ]; then case $u in https:*) port=443;; *) port=80;; esac; fi; \
         timeout 5 bash -c \": </dev/tcp/$host/$port\" 2>/dev/null || echo \"unreachable $u\"; done; \
         [ $found = 1 ] || echo none"
    )
}

/// Asks every host at once (read-only) which sources it cannot reach; one
/// `PackageSource` error per host names them all.
pub fn probe(
    engine: &Engine,
    c: &Cluster,
    facts: &BTreeMap<String, Facts>,
    off: &Offline,
    hosts: &[usize],
    report: &mut Report,
) {
    let proxy = proxy(c);
    let rpm = |host: &str| facts.get(host).is_some_and(Facts::rpm);
    let found: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    engine.step("package sources", hosts, |ctx| {
        let name = ctx.node().name.clone();
        let out = ctx
            .perform(Action {
                describe: "can this host reach its package sources".into(),
                script: probe_script(proxy.as_deref(), &sources(c, off, &name), rpm(&name)),
                stdin: None,
                timeout: Some(std::time::Duration::from_secs(120)),
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        let mut found = found.lock().expect("no panic holds it");
        found.insert(name, out.stdout_text());
        Ok(())
    });
    for (host, text) in found.into_inner().expect("no panic holds it") {
        let Some(node) = c.node(&host) else { continue };
        let bad: Vec<&str> = (text.lines())
            .filter_map(|l| l.strip_prefix("unreachable "))
            .collect();
        let message = if text.lines().any(|l| l == "none") && rpm(&host) {
            format!("'{host}' has no enabled yum repository and no bundle is given: add its repositories (the company mirror) to /etc/yum.repos.d, or install with --bundle DIR")
        } else if text.lines().any(|l| l == "none") {
            format!("'{host}' has no apt source configured and no bundle is given: add its repositories (the company mirror) to /etc/apt/sources.list, or install with --bundle DIR")
        } else if bad.is_empty() {
            continue;
        } else {
            let via = match proxy.is_some() {
                true => " (the conf's proxy)",
                false => "",
            };
            format!("'{host}' cannot reach {}{via} within 5 s, and with no bundle its packages come from there: fix its package sources, network or proxy, or install with --bundle DIR", bad.join(", "))
        };
        report.push(c.at_node(Diagnostic::error("PackageSource", message), node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_names_what_it_cannot_reach() {
        let s = probe_script(None, &["https://dl.k8s.io".to_string()], false);
        assert!(s.contains("apt-get --print-uris update"), "{s}");
        assert!(s.contains("echo https://dl.k8s.io; }"), "{s}");
        assert!(s.contains("echo \"unreachable $u\""), "{s}");
        let s = probe_script(Some("http://proxy.example:3128"), &[], false);
        assert!(
            s.starts_with("found=0; for u in $(echo http://proxy.example:3128)"),
            "{s}"
        );
    }

    /// The RPM host's sources, read from repository files as dnf would:
    /// a disabled repository and a local one are not probed.
    #[test]
    fn an_rpm_hosts_sources_are_its_enabled_repositories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rocky.repo"),
            "[baseos]\nname=BaseOS\nmirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo=BaseOS-$releasever\nenabled=1\n\n\
             [devel]\nbaseurl=http://dl.rockylinux.org:8080/$contentdir/$releasever/devel/\nenabled=0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("site.repo"),
            "[site]\nbaseurl = http://mirror.example.com/el9/\n  http://other.example.com/el9/\n[local]\nbaseurl=file:///srv/repo\n",
        )
        .unwrap();
        let script = YUM_SOURCES.replace("/etc/yum.repos.d", dir.path().to_str().unwrap());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "https://mirrors.rockylinux.org\nhttp://mirror.example.com\n"
        );
        let s = probe_script(None, &[], true);
        assert!(
            s.contains("/etc/yum.repos.d/*.repo") && !s.contains("apt-get"),
            "{s}"
        );
    }
}
