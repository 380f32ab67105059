//! The local registry's push, from this machine, after its host runs the
//! registry (and the check that the company's registry holds what the
//! nodes will pull from it): each bundle image the registry lacks (asked anonymously, so a
//! re-run that finds them all changes nothing) is pushed under its local
//! name (`model::registry::local_ref`). Only for the push does the registry
//! run writable, behind a password made for it and gone after it; the
//! rest of the time it serves read-only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};

use super::ops::{self, Op};
use super::phases::Inputs;
use crate::bundle::needs::Kind;
use crate::bundle::push::{self, Image};
use crate::diag::{Diagnostic, Report};
use crate::exec::shell::sh_quote;
use crate::exec::Engine;
use crate::model::registry::{local_ref, LocalRegistry};
use crate::model::Cluster;
use crate::render::{REGISTRY_CA, REGISTRY_DIR, REGISTRY_PUSH_CONFIG};

const USER: &str = "ksinstall";
const PUSH_UNIT: &str = "ksinstall-registry-push";

fn htpasswd() -> String {
    format!("{REGISTRY_DIR}/htpasswd")
}

/// Fills the registry with the bundle's images it lacks.
pub fn fill(engine: &Engine, inp: &Inputs) -> anyhow::Result<()> {
    let Some(r) = inp.cluster.local_registry() else {
        return Ok(());
    };
    if inp.offline.registry_images.is_empty() {
        log::warn!(
            "no bundle images to push into the registry at {}: the nodes pull only what it holds already",
            r.endpoint
        );
        return Ok(());
    }
    let images = read_images(inp)?;
    let ca = (inp.host_files(&r.host).iter())
        .find(|f| f.path == REGISTRY_CA)
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .ok_or_else(|| anyhow!("no CA was rendered for the registry on {}", r.host))?;
    let reader = push::Registry::new(&r.endpoint, &ca).map_err(|e| anyhow!(e))?;
    let mut missing = Vec::new();
    for (path, image) in images {
        let local = local_ref(&r.endpoint, &image.reference);
        let held = match reader.has(&local, &image) {
            Ok(held) => held,
            // A plan runs before the registry does: it would push them all.
            Err(_) if engine.dry_run() => false,
            Err(e) => anyhow::bail!(
                "the registry at {} (on {}): {e}; check that this machine reaches it",
                r.endpoint,
                r.host
            ),
        };
        if !held {
            missing.push((path, image, local));
        }
    }
    if missing.is_empty() {
        log::info!("registry {}: holds every image of the bundle", r.endpoint);
        return Ok(());
    }
    if engine.dry_run() {
        for (_, _, local) in &missing {
            println!("  would push {local}");
        }
        return Ok(());
    }
    push_all(engine, inp, &r, &ca, &missing)
}

/// The bundle's images for the registry, each read (index and manifest).
fn read_images(inp: &Inputs) -> anyhow::Result<Vec<(PathBuf, Image)>> {
    let mut out = Vec::new();
    for (name, blob) in &inp.offline.registry_images {
        let path = blob
            .path()
            .ok_or_else(|| anyhow!("image {name}: not a file of the bundle"))?
            .to_path_buf();
        let image = push::read_image(&path).map_err(|e| anyhow!(e))?;
        out.push((path, image));
    }
    Ok(out)
}

/// Opens the registry for writes, pushes, and closes it again whatever
/// the push gave.
fn push_all(
    engine: &Engine,
    inp: &Inputs,
    r: &LocalRegistry,
    ca: &str,
    missing: &[(PathBuf, Image, String)],
) -> anyhow::Result<()> {
    let password = new_password()?;
    engine.redactor().add_str(&password);
    let hash = bcrypt::hash(&password, 10).context("the push password's hash")?;
    let host = (inp.cluster.nodes.iter())
        .position(|n| n.name == r.host)
        .expect("the registry's host is a node");
    stage(engine, host, "open for the push", &open_ops(&hash))?;
    let writer = push::Registry::new(&r.endpoint, ca)
        .map_err(|e| anyhow!(e))?
        .with_login(USER, &password);
    let mut pushed: anyhow::Result<u64> = Ok(0);
    for (path, image, local) in missing {
        pushed = pushed.and_then(|sum| {
            let n = writer
                .push(path, image, local)
                .map_err(|e| anyhow!("pushing {local}: {e}"))?;
            log::debug!("registry: pushed {local} ({n} bytes)");
            Ok(sum + n)
        });
    }
    let closed = stage(engine, host, "read-only again", &close_ops());
    let bytes = pushed?;
    closed?;
    println!(
        "registry {}: pushed {} image(s), {} MB",
        r.endpoint,
        missing.len(),
        bytes / 1_000_000
    );
    Ok(())
}

/// The push's password: 32 random hex digits, in no file and no argv
/// (only its bcrypt hash reaches the host).
fn new_password() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b)?;
    Ok(hex::encode(b))
}

fn open_ops(hash: &str) -> Vec<Op> {
    let file = htpasswd();
    let f = sh_quote(&file);
    vec![
        Op::file(&file, format!("{USER}:{hash}\n"), 0o640),
        Op::run("give the password file to the registry", &format!("chgrp docker-registry {f}")),
        Op::run(
            "run the registry writable",
            &format!(
                "systemctl stop docker-registry && {{ systemctl stop {PUSH_UNIT} 2>/dev/null; systemctl reset-failed {PUSH_UNIT} 2>/dev/null; true; }} && \
                 systemd-run --quiet --unit={PUSH_UNIT} --property=User=docker-registry /usr/bin/docker-registry serve {c} && {wait}",
                c = sh_quote(REGISTRY_PUSH_CONFIG),
                wait = super::phases::registry_listening(),
            ),
        ),
    ]
}

fn close_ops() -> Vec<Op> {
    vec![Op::run(
        "serve read-only again",
        &format!(
            "systemctl stop {PUSH_UNIT} 2>/dev/null; rm -f {f}; systemctl start docker-registry && {wait}",
            f = sh_quote(&htpasswd()),
            wait = super::phases::registry_listening(),
        ),
    )]
}

fn stage(engine: &Engine, host: usize, what: &str, ops: &[Op]) -> anyhow::Result<()> {
    let heading = format!("== registry: {what}");
    let step = engine.step_headed(&heading, "registry", &[host], |ctx| ops::apply(ctx, ops));
    if let Some(h) = step.failures().next() {
        bail!("registry, host {}: {what}: {}", h.host, h.message);
    }
    Ok(())
}

/// The company's registry (`local_registry`) must hold every image the
/// nodes will pull, under its pulled name: asked from this machine, reads
/// only, before any host changes. One error per kind of image missing
/// (KubeSphere's installer and the storage provisioners keep their own
/// names, as with a bundle); a registry this machine cannot reach is a
/// warning, as the nodes may reach what it does not.
pub fn check_external(c: &Cluster, report: &mut Report) {
    let Some(ext) = c.external_registry() else {
        return;
    };
    let Ok(plan) = crate::bundle::needs::plan(c, &Default::default()) else {
        return;
    };
    let ca = ext.ca_pem().ok().flatten();
    let storage = crate::model::storage::images_of(&c.config);
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let trust = push::Trust::of(ca.as_deref(), ext.insecure);
    let reg = push::Registry::connect(&ext.endpoint, trust);
    let images = plan.needs.iter().filter(|n| n.kind == Kind::Image);
    for need in images {
        let local = local_ref(&ext.endpoint, &need.name);
        match reg
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|r| r.has_tag(&local))
        {
            Ok(true) => {}
            Ok(false) => {
                let name = match need.name.as_str() {
                    n if n.contains("/ks-installer:") => "KubeSphereImage",
                    n if storage.iter().any(|s| s == n) => "StorageImage",
                    _ => "RegistryImages",
                };
                missing.entry(name).or_default().push(local);
            }
            Err(e) => {
                report.push(Diagnostic::warning(
                    "RegistryImages",
                    format!("cannot ask the registry at {} whether it holds the cluster's images ({e}); the nodes pull them from there, so make sure it does (`ksinstall bundle push --registry {}`)", ext.endpoint, ext.endpoint),
                ));
                return;
            }
        }
    }
    for (name, list) in missing {
        report.push(c.config.diag_at(
            Diagnostic::error(
                name,
                format!("the registry at {} lacks {} image(s) the nodes pull from it: {}. Push them: `ksinstall bundle push BUNDLE --registry {}` (or pass --ignore-errors {name})", ext.endpoint, list.len(), list.join(", "), ext.endpoint),
            ),
            "local_registry",
        ));
    }
}
