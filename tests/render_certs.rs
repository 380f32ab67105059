//! The etcd certificates: every leaf verifies against the CA with
//! `openssl verify`, carries the legacy SANs, the key usages and the subject
//! names of the legacy layout, and each key matches its certificate.

mod render_support;

use std::process::Command;

use ksinstall::render::{self, ETCD_CERT_DIR};
use render_support::*;

fn openssl(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn etcd_certificates_verify_and_carry_the_legacy_sans() {
    if tool("openssl").is_none() {
        return;
    }
    // Fresh certificates (not the tests' shared set): seed-ha, 3 etcd members.
    let c = load(&conf_with("seed-ha", ""));
    let mut facts = fixed_facts();
    facts.etcd_certs = None;
    let r = render::render_all(&c, &facts).unwrap();
    let dir = scratch("certs");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &r.etcd_certs.ca.cert_pem).unwrap();

    let (_, ca_text) = openssl(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-text"]);
    assert!(ca_text.contains("Subject: CN = etcd-ca"), "{ca_text}");
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign"), "{ca_text}");

    let stems: Vec<&str> = r
        .etcd_certs
        .leaves
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    for h in ["master1", "master2", "master3"] {
        for k in ["member", "admin", "node"] {
            assert!(
                stems.contains(&format!("{k}-{h}").as_str()),
                "{k}-{h} missing: {stems:?}"
            );
        }
    }
    for h in ["node1", "node2", "node3"] {
        assert!(stems.contains(&format!("node-{h}").as_str()));
        assert!(
            !stems.contains(&format!("member-{h}").as_str()),
            "workers are not etcd members"
        );
    }

    for (stem, pair) in &r.etcd_certs.leaves {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}-key.pem"));
        std::fs::write(&cert, &pair.cert_pem).unwrap();
        std::fs::write(&key, &pair.key_pem).unwrap();
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            "-purpose",
            "sslserver",
            cert.to_str().unwrap(),
        ]);
        assert!(ok && out.contains(": OK"), "{stem}: {out}");
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            "-purpose",
            "sslclient",
            cert.to_str().unwrap(),
        ]);
        assert!(ok, "{stem} as a client: {out}");
        let (_, text) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"]);
        assert!(
            text.contains(&format!("Subject: CN = etcd-{stem}")),
            "{stem}: {text}"
        );
        assert!(text.contains("Issuer: CN = etcd-ca"), "{stem}: {text}");
        assert!(
            text.contains("Digital Signature") && text.contains("Key Encipherment"),
            "{stem}: {text}"
        );
        assert!(
            text.contains("TLS Web Client Authentication")
                && text.contains("TLS Web Server Authentication"),
            "{stem}: {text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{stem}: {text}");
        for san in [
            "DNS:localhost",
            "DNS:master1",
            "DNS:master2",
            "DNS:master3",
            "DNS:lb.kubesphere.local",
            "DNS:etcd.kube-system.svc.cluster.local",
            "DNS:etcd.kube-system.svc",
            "DNS:etcd.kube-system",
            "DNS:etcd",
            "IP Address:192.168.0.1",
            "IP Address:192.168.0.2",
            "IP Address:192.168.0.3",
            "IP Address:127.0.0.1",
        ] {
            assert!(text.contains(san), "{stem}: no {san} in\n{text}");
        }
        // The key belongs to the certificate.
        let (_, from_cert) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
        let (_, from_key) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        assert_eq!(from_cert, from_key, "{stem}: key and certificate differ");
    }

    // The files land where the legacy layout has them, keys private.
    let f = r
        .file(
            "master2",
            &format!("{ETCD_CERT_DIR}/member-master2-key.pem"),
        )
        .unwrap();
    assert_eq!(f.mode, 0o600);
    assert!(r
        .file("node1", &format!("{ETCD_CERT_DIR}/node-node1.pem"))
        .is_some());
    assert!(
        r.file("node1", &format!("{ETCD_CERT_DIR}/ca-key.pem"))
            .is_none(),
        "the CA key stays on the first etcd member"
    );
    assert!(r
        .file("master1", &format!("{ETCD_CERT_DIR}/ca-key.pem"))
        .is_some());
    // Other masters hold the first master's client certificate, named in the shared ClusterConfiguration.
    assert!(r
        .file("master3", &format!("{ETCD_CERT_DIR}/node-master1.pem"))
        .is_some());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn existing_certificates_are_kept_and_missing_ones_signed_by_their_ca() {
    let c = load(&conf_with("seed-root", ""));
    let first = render::render_all(&c, &fixed_facts()).unwrap();
    // Drop one leaf: it is issued again, by the same CA; the others are kept.
    let mut existing = first.etcd_certs.clone();
    existing.leaves.retain(|(s, _)| s != "node-node2");
    let mut facts = fixed_facts();
    facts.etcd_certs = Some(existing);
    let again = render::render_all(&c, &facts).unwrap();
    assert_eq!(again.etcd_certs.ca, first.etcd_certs.ca);
    assert_eq!(
        again.etcd_certs.get("node-node1"),
        first.etcd_certs.get("node-node1")
    );
    // The dropped leaf is issued again by the same CA. (Within one process
    // a leaf for the same CA, name and SANs is made once, so it may equal
    // the first render's: what matters is whose signature it carries.)
    let issued = again.etcd_certs.get("node-node2").expect("issued again");
    let ca = openssl::x509::X509::from_pem(again.etcd_certs.ca.cert_pem.as_bytes()).unwrap();
    let leaf = openssl::x509::X509::from_pem(issued.cert_pem.as_bytes()).unwrap();
    assert!(leaf.verify(&*ca.public_key().unwrap()).unwrap());
    if tool("openssl").is_some() {
        let dir = scratch("certs-again");
        std::fs::write(dir.join("ca.pem"), &again.etcd_certs.ca.cert_pem).unwrap();
        std::fs::write(
            dir.join("n.pem"),
            &again.etcd_certs.get("node-node2").unwrap().cert_pem,
        )
        .unwrap();
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            dir.join("ca.pem").to_str().unwrap(),
            dir.join("n.pem").to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        std::fs::remove_dir_all(&dir).ok();
    }
    // A CA whose key does not match is refused.
    let mut bad = first.etcd_certs.clone();
    bad.ca.key_pem = first.etcd_certs.get("node-node1").unwrap().key_pem.clone();
    let mut facts = fixed_facts();
    facts.etcd_certs = Some(bad);
    let err = render::render_all(&c, &facts).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
}
