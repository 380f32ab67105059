//! `ksinstall certs check`: every certificate of Kubernetes and etcd on
//! every host, with the days it has left, as one table. Only certificates
//! leave the hosts (a kubeconfig's embedded client certificate is cut out
//! there; its key never travels); they are parsed here, so the hosts need
//! no openssl.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;

use openssl::asn1::Asn1Time;
use openssl::x509::X509;

use super::run::RunOptions;
use crate::diag::Diagnostic;
use crate::exec::engine::HostReport;
use crate::exec::verbs::engine_for;
use crate::exec::{Engine, HostFail};
use crate::model::Cluster;

/// A certificate expiring sooner than this is a warning.
pub const WARN_DAYS: i32 = 30;

/// Prints `==> PATH` then the PEM certificate(s) of each file that has one.
const LIST_SCRIPT: &str = r#"
for f in /etc/kubernetes/ssl/*.crt /etc/kubernetes/pki/*.crt /etc/ssl/etcd/ssl/*.pem /var/lib/kubelet/pki/*.crt /var/lib/kubelet/pki/kubelet-client-current.pem; do
  [ -f "$f" ] || continue
  case "$f" in *-key.pem) continue ;; esac
  printf '==> %s\n' "$f"; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$f"
done
for f in /etc/kubernetes/*.conf; do
  [ -f "$f" ] || continue
  d=$(sed -n 's/^ *client-certificate-data: *//p' "$f" | head -1)
  [ -n "$d" ] || continue
  printf '==> %s\n' "$f"; printf '%s' "$d" | base64 -d
done
"#;

/// One certificate: where it is, whom it names, and when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiry {
    pub host: String,
    pub path: String,
    pub subject: String,
    pub not_after: String,
    pub days_left: i32,
}

/// The certificates in the output of LIST_SCRIPT (the first of each file).
pub fn parse(host: &str, out: &str) -> Vec<Expiry> {
    let now = Asn1Time::days_from_now(0).expect("the current time");
    let mut found = Vec::new();
    for part in out.split("==> ").filter(|p| !p.trim().is_empty()) {
        let (path, pem) = part.split_once('\n').unwrap_or((part, ""));
        let Ok(cert) = X509::from_pem(pem.as_bytes()) else {
            continue;
        };
        let subject = cert
            .subject_name()
            .entries()
            .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let days_left = now.diff(cert.not_after()).map(|d| d.days).unwrap_or(0);
        found.push(Expiry {
            host: host.to_string(),
            path: path.trim().to_string(),
            subject,
            not_after: cert.not_after().to_string(),
            days_left,
        });
    }
    found
}

/// The table, soonest first, and a line for what ends within WARN_DAYS.
pub fn table(all: &[Expiry]) -> String {
    let mut rows: Vec<&Expiry> = all.iter().collect();
    rows.sort_by(|a, b| (a.days_left, &a.host, &a.path).cmp(&(b.days_left, &b.host, &b.path)));
    let w_host = rows.iter().map(|e| e.host.len()).max().unwrap_or(4).max(4);
    let w_path = rows
        .iter()
        .map(|e| e.path.len())
        .max()
        .unwrap_or(11)
        .max(11);
    let mut s = format!(
        "{:w_host$}  {:w_path$}  {:>9}  EXPIRES\n",
        "HOST", "CERTIFICATE", "DAYS LEFT"
    );
    for e in &rows {
        s.push_str(&format!(
            "{:w_host$}  {:w_path$}  {:>9}  {}\n",
            e.host, e.path, e.days_left, e.not_after
        ));
    }
    let soon = rows.iter().filter(|e| e.days_left < WARN_DAYS).count();
    if soon > 0 {
        s.push_str(&format!(
            "[WARNING CertExpiry]: {soon} certificate(s) end within {WARN_DAYS} days: renew them (kubeadm certs renew all on the masters)\n"
        ));
    }
    s
}

/// Every certificate `hosts` hold, and the hosts that could not be read.
pub fn read(engine: &Engine, hosts: &[usize]) -> (Vec<Expiry>, Vec<HostReport>) {
    let found: Mutex<BTreeMap<String, Vec<Expiry>>> = Mutex::new(BTreeMap::new());
    let step = engine.step("certificates", hosts, |ctx| {
        let out = ctx.query(LIST_SCRIPT, Some(std::time::Duration::from_secs(60)))?;
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        let name = ctx.node().name.clone();
        let certs = parse(&name, &out.stdout_text());
        found
            .lock()
            .expect("no panics hold this lock")
            .insert(name, certs);
        Ok(())
    });
    let all = found
        .into_inner()
        .expect("no panics hold this lock")
        .into_values()
        .flatten()
        .collect();
    (all, step.failures().cloned().collect())
}

/// Preflight of a run on a cluster that exists: a warning per host for its
/// certificates that end within WARN_DAYS (a fresh host has none).
pub fn expiring(c: &Cluster, all: &[Expiry]) -> Vec<Diagnostic> {
    let mut by_host: BTreeMap<&str, Vec<&Expiry>> = BTreeMap::new();
    for e in all.iter().filter(|e| e.days_left < WARN_DAYS) {
        by_host.entry(&e.host).or_default().push(e);
    }
    by_host
        .into_iter()
        .map(|(host, list)| {
            let first = list.iter().min_by_key(|e| e.days_left).expect("one at least");
            let d = Diagnostic::warning(
                "CertExpiry",
                format!(
                    "'{host}': {} certificate(s) end within {WARN_DAYS} days, the first {} in {} day(s): `ksinstall certs renew`",
                    list.len(),
                    first.path,
                    first.days_left
                ),
            );
            match c.node(host) {
                Some(n) => c.at_node(d, n),
                None => d,
            }
        })
        .collect()
}

/// Reads every cluster host's certificates and prints the table; exit 1
/// when a host could not be read.
pub fn check(cluster: Cluster, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let hosts = super::phases::cluster_hosts(&cluster);
    let engine = engine_for(cluster.nodes.clone(), &opts.conn, "Certs", None)?;
    let (all, failed) = read(&engine, &hosts);
    print!("{}", table(&all));
    engine.close_all();
    for h in &failed {
        eprintln!(
            "[ERROR {}] certificates of {}: {}",
            h.kind.unwrap_or("Failed"),
            h.host,
            h.message
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate named `cn` that ends in `days` days.
    fn cert(cn: &str, days: u32) -> String {
        use openssl::{hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::X509NameBuilder};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(days).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        String::from_utf8(b.build().to_pem().unwrap()).unwrap()
    }

    #[test]
    fn every_certificate_with_its_days_left_soonest_first() {
        let out = format!(
            "==> /etc/kubernetes/ssl/apiserver.crt\n{}==> /etc/kubernetes/admin.conf\n{}==> /etc/ssl/etcd/ssl/broken.pem\nnot a certificate\n",
            cert("kube-apiserver", 365),
            cert("kubernetes-admin", 12)
        );
        let found = parse("node1", &out);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].path, "/etc/kubernetes/ssl/apiserver.crt");
        assert_eq!(found[0].subject, "kube-apiserver");
        assert!((364..=365).contains(&found[0].days_left), "{found:?}");
        let t = table(&found);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("HOST") && lines[0].contains("DAYS LEFT"),
            "{t}"
        );
        assert!(
            lines[1].contains("/etc/kubernetes/admin.conf"),
            "soonest first: {t}"
        );
        assert!(
            t.contains("[WARNING CertExpiry]: 1 certificate(s) end within 30 days"),
            "{t}"
        );
        assert!(!table(&found[..1]).contains("WARNING"));
    }
}
