//! etcd certificates in the legacy layout (`/etc/ssl/etcd/ssl`): a CA
//! (`ca.pem`, CN `etcd-ca`), per etcd member `member-<host>.pem` and
//! `admin-<host>.pem`, per Kubernetes node `node-<host>.pem`, each with its
//! `-key.pem`. RSA 2048, SHA-256, 100 years (kubespray's
//! `certificates_duration: 36500`), usage digitalSignature + keyEncipherment,
//! extended usage serverAuth + clientAuth, and the legacy SAN list on every
//! leaf. The CA is reused when one is given (an existing cluster's).

use std::net::IpAddr;

use anyhow::{Context, Result};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// A certificate and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertPair { cert_pem, key_pem: *** }")
    }
}

/// The whole etcd PKI: the CA and every leaf by file stem (`member-master1`).
#[derive(Debug, Clone)]
pub struct EtcdCerts {
    pub ca: CertPair,
    /// `(stem, pair)`: files `<stem>.pem` and `<stem>-key.pem`.
    pub leaves: Vec<(String, CertPair)>,
}

impl EtcdCerts {
    pub fn get(&self, stem: &str) -> Option<&CertPair> {
        self.leaves.iter().find(|(s, _)| s == stem).map(|(_, p)| p)
    }
}

/// The legacy SAN list shared by every etcd leaf certificate.
#[derive(Debug, Clone, Default)]
pub struct Sans {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

const DAYS: u32 = 36500;
const BITS: u32 = 2048;

fn key() -> Result<PKey<Private>> {
    Ok(PKey::from_rsa(Rsa::generate(BITS)?)?)
}

fn serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn builder(cn: &str, key: &PKey<Private>) -> Result<X509Builder> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(DAYS)?);
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

fn pair(cert: &X509, key: &PKey<Private>) -> Result<CertPair> {
    Ok(CertPair {
        cert_pem: String::from_utf8(cert.to_pem()?)?,
        key_pem: String::from_utf8(key.private_key_to_pem_pkcs8()?)?,
    })
}

/// The etcd CA (legacy name `etcd-ca`).
pub fn new_ca() -> Result<CertPair> {
    new_ca_named("etcd-ca", DAYS)
}

/// The Kubernetes cluster CA, as kubeadm would make it (CN `kubernetes`,
/// ten years): made by ksinstall so that every join can pin it
/// (`caCertHashes`) from the very first install.
pub fn new_kube_ca() -> Result<CertPair> {
    new_ca_named("kubernetes", 3650)
}

/// The local registry's CA (its own: it signs nothing of Kubernetes') and
/// the registry's server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPki {
    pub ca: CertPair,
    pub server: CertPair,
}

/// The CN of the registry's server certificate.
pub const REGISTRY_CN: &str = "ksinstall-registry";

/// The registry's PKI: the CA of `given` kept (a new one without it), its
/// server certificate kept while it fits `sans` (`leaf_fits`), else issued
/// again from that CA, so a re-run changes nothing on any host.
pub fn registry_pki(given: Option<&RegistryPki>, sans: &Sans) -> Result<RegistryPki> {
    let ca = match given {
        Some(p) => {
            check_ca(&p.ca).context("the local registry's CA")?;
            p.ca.clone()
        }
        None => new_ca_named("ksinstall-registry-ca", DAYS)?,
    };
    let server = match given {
        Some(p) if leaf_fits(&ca, &p.server, REGISTRY_CN, sans) => p.server.clone(),
        _ => leaf_once(&ca, REGISTRY_CN, sans)?,
    };
    Ok(RegistryPki { ca, server })
}

/// `sha256:<hex>` of the certificate's SubjectPublicKeyInfo, the form of
/// kubeadm's `--discovery-token-ca-cert-hash`.
pub fn spki_sha256(cert_pem: &str) -> Result<String> {
    let cert = X509::from_pem(cert_pem.as_bytes()).context("the CA certificate")?;
    let der = cert.public_key()?.public_key_to_der()?;
    let digest = openssl::sha::sha256(&der);
    Ok(format!("sha256:{}", hex::encode(digest)))
}

fn new_ca_named(cn: &str, days: u32) -> Result<CertPair> {
    let key = key()?;
    let mut b = builder(cn, &key)?;
    b.set_not_after(&*Asn1Time::days_from_now(days)?)?;
    let name = {
        let mut n = X509NameBuilder::new()?;
        n.append_entry_by_text("CN", cn)?;
        n.build()
    };
    b.set_issuer_name(&name)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .digital_signature()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    pair(&b.build(), &key)
}

/// Signs a leaf (`member-`, `admin-` or `node-` certificate) with the CA.
pub fn leaf(ca: &CertPair, cn: &str, sans: &Sans) -> Result<CertPair> {
    let ca_cert = X509::from_pem(ca.cert_pem.as_bytes()).context("the etcd CA certificate")?;
    let ca_key = PKey::private_key_from_pem(ca.key_pem.as_bytes()).context("the etcd CA key")?;
    let key = key()?;
    let mut b = builder(cn, &key)?;
    b.set_issuer_name(ca_cert.subject_name())?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .non_repudiation()
            .build()?,
    )?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .client_auth()
            .server_auth()
            .build()?,
    )?;
    let mut san = SubjectAlternativeName::new();
    for d in &sans.dns {
        san.dns(d);
    }
    for ip in &sans.ips {
        san.ip(&ip.to_string());
    }
    let san = san.build(&b.x509v3_context(Some(&ca_cert), None))?;
    b.append_extension(san)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(&ca_cert), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca_cert), None))?;
    b.append_extension(aki)?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    pair(&b.build(), &key)
}

/// Checks that a CA given from outside is a usable pair.
pub fn check_ca(ca: &CertPair) -> Result<()> {
    let cert = X509::from_pem(ca.cert_pem.as_bytes()).context("the CA certificate")?;
    let key = PKey::private_key_from_pem(ca.key_pem.as_bytes()).context("the CA key")?;
    anyhow::ensure!(
        cert.public_key()?.public_eq(&key),
        "the CA key does not match its certificate"
    );
    Ok(())
}

/// `leaf`, made once per CA, name and SANs in this process: an install
/// renders once, but the tests render the same layouts hundreds of times,
/// and RSA key generation is most of a render's time.
fn leaf_once(ca: &CertPair, cn: &str, sans: &Sans) -> Result<CertPair> {
    type Made = std::collections::HashMap<(String, String, String), CertPair>;
    static MADE: std::sync::OnceLock<std::sync::Mutex<Made>> = std::sync::OnceLock::new();
    let id = (
        ca.cert_pem.clone(),
        cn.to_string(),
        format!("{:?} {:?}", sans.dns, sans.ips),
    );
    let made = MADE.get_or_init(Default::default);
    if let Some(p) = made.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Ok(p.clone());
    }
    let p = leaf(ca, cn, sans)?;
    made.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, p.clone());
    Ok(p)
}

/// An existing leaf is kept only when it is what `leaf` would make now:
/// signed by this CA, with its own key, the expected CN, every wanted SAN,
/// and more than 30 days to live. Anything else (a leftover from another
/// cluster, an address added since) is issued again.
pub fn leaf_fits(ca: &CertPair, pair: &CertPair, cn: &str, sans: &Sans) -> bool {
    let fits = || -> Result<bool> {
        let ca_cert = X509::from_pem(ca.cert_pem.as_bytes())?;
        let cert = X509::from_pem(pair.cert_pem.as_bytes())?;
        let key = PKey::private_key_from_pem(pair.key_pem.as_bytes())?;
        if !cert.verify(&*ca_cert.public_key()?)? || !cert.public_key()?.public_eq(&key) {
            return Ok(false);
        }
        let names: Vec<String> = cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
            .collect();
        if names != [cn] {
            return Ok(false);
        }
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        for n in cert.subject_alt_names().iter().flatten() {
            if let Some(d) = n.dnsname() {
                dns.push(d.to_string());
            }
            if let Some(ip) = n.ipaddress() {
                ips.push(ip.to_vec());
            }
        }
        let ip_bytes = |ip: &std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v) => v.octets().to_vec(),
            std::net::IpAddr::V6(v) => v.octets().to_vec(),
        };
        let all_sans = sans.dns.iter().all(|d| dns.contains(d))
            && sans.ips.iter().all(|ip| ips.contains(&ip_bytes(ip)));
        Ok(all_sans && *cert.not_after() > *Asn1Time::days_from_now(30)?)
    };
    fits().unwrap_or(false)
}

/// All certificates: the CA (given or new), `member-`/`admin-` for each etcd
/// member, `node-` for each Kubernetes node. New leaves carry the legacy
/// SANs (`sans`: every member and node). Leaves of `existing` are kept
/// when they fit (`leaf_fits`) what their own host needs: a member's,
/// `localhost`, 127.0.0.1 and the host's addresses (`own_ips`); a client
/// certificate's, nothing. That is all TLS checks of them. So a member or node added later, which widens `sans`, leaves
/// every existing certificate (and so every etcd) untouched.
pub fn generate(
    existing: Option<&EtcdCerts>,
    etcd_members: &[String],
    k8s_nodes: &[String],
    sans: &Sans,
    own_ips: &(dyn Fn(&str) -> Vec<std::net::IpAddr> + Sync),
) -> Result<EtcdCerts> {
    let ca = match existing {
        Some(e) => {
            check_ca(&e.ca)?;
            e.ca.clone()
        }
        None => new_ca()?,
    };
    let wanted: Vec<(&str, &String)> = etcd_members
        .iter()
        .flat_map(|h| [("member", h), ("admin", h)])
        .chain(k8s_nodes.iter().map(|h| ("node", h)))
        .collect();
    // RSA key generation is nearly all of a render's time (a third of a
    // second a key on a slow core, one key a node): made on every core.
    use rayon::prelude::*;
    let leaves = wanted
        .par_iter()
        .map(|&(kind, h)| -> Result<(String, CertPair)> {
            let stem = format!("{kind}-{h}");
            let cn = format!("etcd-{kind}-{h}");
            // A member's certificate serves its clients and peers: its own
            // addresses. The others are client certificates, which no TLS
            // check matches against names.
            let own = match kind {
                "member" => {
                    let mut ips = own_ips(h);
                    ips.push(std::net::Ipv4Addr::LOCALHOST.into());
                    Sans {
                        dns: vec!["localhost".to_string()],
                        ips,
                    }
                }
                _ => Sans::default(),
            };
            let pair = match existing.and_then(|e| e.get(&stem)) {
                Some(p) if leaf_fits(&ca, p, &cn, &own) => p.clone(),
                _ => leaf_once(&ca, &cn, sans)?,
            };
            Ok((stem, pair))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EtcdCerts { ca, leaves })
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    fn sans(ips: &[&str]) -> Sans {
        Sans {
            dns: vec!["localhost".into()],
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn a_leaf_is_kept_only_when_it_is_what_would_be_made_now() {
        let ca = new_ca().unwrap();
        let s = sans(&["10.0.0.1", "127.0.0.1"]);
        let good = leaf(&ca, "etcd-member-n1", &s).unwrap();
        assert!(leaf_fits(&ca, &good, "etcd-member-n1", &s));
        // Another cluster's CA, another name, an address added since, a
        // key that is not its own: issued again.
        let other = leaf(&new_ca().unwrap(), "etcd-member-n1", &s).unwrap();
        assert!(!leaf_fits(&ca, &other, "etcd-member-n1", &s));
        assert!(!leaf_fits(&ca, &good, "etcd-member-n2", &s));
        assert!(!leaf_fits(
            &ca,
            &good,
            "etcd-member-n1",
            &sans(&["10.0.0.1", "10.0.0.9"])
        ));
        let swapped = CertPair {
            cert_pem: good.cert_pem.clone(),
            key_pem: other.key_pem.clone(),
        };
        assert!(!leaf_fits(&ca, &swapped, "etcd-member-n1", &s));
    }

    /// A member added later widens the legacy SANs of new leaves; the
    /// leaves already issued still fit their own hosts and are kept, so
    /// no existing etcd or API server gets a new certificate (and no
    /// restart) for it.
    #[test]
    fn a_new_member_leaves_the_existing_certificates_as_they_are() {
        let ips = |h: &str| -> Vec<std::net::IpAddr> {
            match h {
                "a" => vec!["10.0.0.1".parse().unwrap()],
                "b" => vec!["10.0.0.2".parse().unwrap()],
                _ => vec!["10.0.0.3".parse().unwrap()],
            }
        };
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let two = sans(&["10.0.0.1", "10.0.0.2", "127.0.0.1"]);
        let before = generate(None, &names(&["a", "b"]), &names(&["a", "b"]), &two, &ips).unwrap();
        let three = sans(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1"]);
        let all = names(&["a", "b", "c"]);
        let after = generate(Some(&before), &all, &all, &three, &ips).unwrap();
        for stem in ["member-a", "admin-a", "node-a", "member-b", "node-b"] {
            assert_eq!(before.get(stem), after.get(stem), "{stem} issued again");
        }
        let c = after.get("member-c").expect("a leaf for the new member");
        assert!(leaf_fits(&after.ca, c, "etcd-member-c", &three));
        // A host whose own address changed gets a new leaf.
        let moved = |h: &str| match h {
            "a" => vec!["10.0.0.9".parse().unwrap()],
            _ => ips(h),
        };
        let again = generate(Some(&after), &all, &all, &three, &moved).unwrap();
        assert_ne!(after.get("member-a"), again.get("member-a"));
        assert_eq!(
            after.get("node-a"),
            again.get("node-a"),
            "a client's SANs matter to no one"
        );
        assert_eq!(after.get("member-b"), again.get("member-b"));
    }
}
