//! `ksinstall bundle build|verify|push|plan`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::build::{self, BuildOptions};
use super::manifest::Manifest;
use super::needs::{self, Family, Kind, PlanOptions};
use super::{select, verify};
use crate::args::{ModeArg, SourceArgs};
use crate::diag::{Diagnostic, Invalid, Report};

#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub action: BundleAction,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyArg {
    Deb,
    Rpm,
    Both,
}

impl FamilyArg {
    fn families(self) -> Vec<Family> {
        match self {
            FamilyArg::Deb => vec![Family::Deb],
            FamilyArg::Rpm => vec![Family::Rpm],
            FamilyArg::Both => vec![Family::Deb, Family::Rpm],
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum BundleAction {
    /// Assemble the offline bundle the cluster needs: debs/ (apt repository),
    /// rpms/, bin/, images/ and manifest.json. Touches no host.
    Build {
        #[command(flatten)]
        src: SourceArgs,
        /// Output directory (replaced only by a complete new bundle).
        #[arg(
            short = 'o',
            long = "output",
            value_name = "DIR",
            default_value = "bundle"
        )]
        out: PathBuf,
        /// Take artifacts from this directory (searched recursively, matched
        /// by package name or file name). Repeatable.
        #[arg(long, value_name = "DIR")]
        from: Vec<PathBuf>,
        /// Download what --from lacks: binaries over HTTPS, images from their
        /// registries, Debian packages with this machine's apt (with their
        /// dependencies).
        #[arg(long)]
        download: bool,
        /// Replace a download base: k8s, github, helm, a registry host
        /// (docker.io=https://mirror.example), or all. Repeatable.
        #[arg(long = "mirror", value_name = "NAME=URL")]
        mirrors: Vec<String>,
        /// Accept a plain http:// mirror (anyone on the path could then
        /// change what the bundle holds, checksums included).
        #[arg(long)]
        insecure_mirror: bool,
        /// Host architecture (Debian/Go name).
        #[arg(long, default_value = "amd64")]
        arch: String,
        /// Package format of the hosts.
        #[arg(long, value_enum, default_value = "deb")]
        os_family: FamilyArg,
        /// Write the bundle even if artifacts are missing (listed as warnings
        /// and in manifest.json; `verify` still reports them).
        #[arg(long)]
        allow_missing: bool,
        /// Add an image tarball (docker-archive or OCI layout) beyond the
        /// plan, for every host that gets images. Repeatable.
        #[arg(long, value_name = "FILE")]
        extra_image: Vec<PathBuf>,
    },
    /// Check a bundle: every file against manifest.json, the apt index
    /// against the packages and, given a cluster (--conf / -i), that every
    /// artifact it needs is there.
    Verify {
        /// The bundle directory.
        #[arg(value_name = "DIR", default_value = "bundle")]
        dir: PathBuf,
        #[command(flatten)]
        src: SourceArgs,
    },
    /// Push the bundle's images into a registry the install does not run
    /// (the company's), under the same paths, for an install whose nodes
    /// pull from it (`--registry`, or the conf's `local_registry`). Only
    /// what the registry lacks goes over.
    Push {
        /// The bundle directory.
        #[arg(value_name = "DIR", default_value = "bundle")]
        dir: PathBuf,
        /// The registry: HOST[:PORT].
        #[arg(long, value_name = "HOST:PORT")]
        registry: String,
        /// The CA its certificate chains to. Default: this machine's CAs.
        #[arg(long, value_name = "FILE")]
        registry_ca: Option<PathBuf>,
        /// The registry speaks plain HTTP.
        #[arg(long, conflicts_with = "registry_ca")]
        insecure_registry: bool,
        /// The user to push as (HTTP basic), with --password-file.
        #[arg(long, value_name = "NAME", requires = "password_file")]
        user: Option<String>,
        /// The file holding that user's password (its first line; keep it
        /// 0600). Never on the command line.
        #[arg(long, value_name = "FILE", requires = "user")]
        password_file: Option<PathBuf>,
    },
    /// List what each host needs; with --bundle, what it gets from that bundle.
    Plan {
        #[command(flatten)]
        src: SourceArgs,
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        #[arg(long, default_value = "amd64")]
        arch: String,
        #[arg(long, value_enum, default_value = "deb")]
        os_family: FamilyArg,
    },
}

fn invalid(name: &str, msg: impl Into<String>) -> anyhow::Error {
    let mut r = Report::default();
    r.push(Diagnostic::error(name, msg));
    Invalid(r).into()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

pub fn parse_mirrors(items: &[String], insecure: bool) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for m in items {
        let Some((k, v)) = m.split_once('=') else {
            return Err(invalid(
                "BundleMirror",
                format!("--mirror {m:?}: expected NAME=URL"),
            ));
        };
        let known = needs::MIRRORS.iter().any(|(n, _)| *n == k)
            || k == "all"
            || k.contains('.')
            || k.contains(':');
        if !known {
            let names: Vec<&str> = needs::MIRRORS.iter().map(|(n, _)| *n).collect();
            return Err(invalid(
                "BundleMirror",
                format!(
                    "--mirror {k}: unknown; use one of {}, all, or a registry host (docker.io, k8s.gcr.io, ...)",
                    names.join(", ")
                ),
            ));
        }
        let refused = match v.split_once("://").map(|(scheme, _)| scheme) {
            Some("https") => None,
            Some("http") if insecure => None,
            Some("http") => Some("plain HTTP lets anyone on the path change what the bundle holds (the checksums come over the same link): use https://, or pass --insecure-mirror to accept it"),
            _ => Some("expected an https:// URL"),
        };
        if let Some(why) = refused {
            return Err(invalid("BundleMirror", format!("--mirror {m}: {why}")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn plan_for(
    src: &SourceArgs,
    arch: &str,
    families: Vec<Family>,
    mirrors: BTreeMap<String, String>,
) -> anyhow::Result<(crate::model::Cluster, needs::Plan)> {
    let c = src.load_valid()?;
    let opts = PlanOptions {
        families,
        arch: arch.to_string(),
        mirrors,
    };
    let plan = needs::plan(&c, &opts).map_err(|e| invalid("BundlePlan", e))?;
    Ok((c, plan))
}

pub fn run(args: BundleArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        BundleAction::Build {
            src,
            out,
            from,
            download,
            mirrors,
            insecure_mirror,
            arch,
            os_family,
            allow_missing,
            extra_image,
        } => {
            let mirrors = parse_mirrors(&mirrors, insecure_mirror)?;
            let (_, plan) = plan_for(&src, &arch, os_family.families(), mirrors)?;
            let opts = BuildOptions {
                out: out.clone(),
                from,
                download,
                families: os_family.families(),
                allow_missing,
                extra_images: extra_image,
                date_epoch: build::default_date_epoch(),
            };
            match build::build(&plan, &opts) {
                Ok(built) => {
                    eprint!("{}", built.report.render());
                    for w in &built.warnings {
                        eprintln!("[WARNING Bundle]: {w}");
                    }
                    let m = &built.manifest;
                    let count = |k: Kind| m.artifacts.iter().filter(|a| a.kind == k).count();
                    let deps = m
                        .artifacts
                        .iter()
                        .filter(|a| !a.dependency_of.is_empty())
                        .count();
                    println!(
                        "bundle written to {}: {} debs ({} of them dependencies), {} rpms, {} binaries, {} images; {} in all",
                        out.display(),
                        count(Kind::Deb),
                        deps,
                        count(Kind::Rpm),
                        count(Kind::Binary),
                        count(Kind::Image),
                        mib(m.total_size())
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(report) => {
                    let partial = build::partial_dir(&out);
                    let mut r = report;
                    if partial.exists() {
                        r.push(Diagnostic::warning(
                            "BundlePartial",
                            format!(
                                "what was collected is kept in {}; the next build starts from it",
                                partial.display()
                            ),
                        ));
                    }
                    Err(Invalid(r).into())
                }
            }
        }
        BundleAction::Push {
            dir,
            registry,
            registry_ca,
            insecure_registry,
            user,
            password_file,
        } => {
            let target = super::push::Target {
                endpoint: registry,
                ca_file: registry_ca,
                insecure: insecure_registry,
                login: user.zip(password_file),
            };
            super::push::push_bundle(&dir, &target).map_err(|e| invalid("BundlePush", e))?;
            Ok(ExitCode::SUCCESS)
        }
        BundleAction::Verify { dir, src } => {
            let given =
                src.conf.is_some() || src.inventory.is_some() || src.mode == ModeArg::AllInOne;
            let cluster = if given { Some(src.load_valid()?) } else { None };
            let v = verify::verify(&dir, cluster.as_ref());
            if v.report.has_errors() {
                return Err(Invalid(v.report).into());
            }
            eprint!("{}", v.report.render());
            println!(
                "ok: {} files ({}) match manifest.json; apt index consistent ({} packages){}",
                v.files,
                mib(v.bytes),
                v.packages,
                match &cluster {
                    Some(c) => format!(
                        "; all {} artifacts the cluster's {} hosts need are present",
                        v.needs,
                        c.nodes.len()
                    ),
                    None => String::new(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        BundleAction::Plan {
            src,
            bundle,
            arch,
            os_family,
        } => {
            let (c, plan) = plan_for(&src, &arch, os_family.families(), BTreeMap::new())?;
            let manifest = match &bundle {
                Some(d) => Some(Manifest::read(d).map_err(|e| invalid("BundleManifest", e))?),
                None => None,
            };
            for n in &c.nodes {
                let needs: Vec<_> = plan.for_host(&n.name).collect();
                println!("{} ({} artifacts)", n.name, needs.len());
                for need in needs {
                    println!("  {:<7} {}", need.kind.label(), need.title());
                }
                if let Some(m) = &manifest {
                    let sel = select::for_host(m, &plan, &n.name);
                    println!(
                        "  from the bundle: {} files, {}{}",
                        sel.entries.len(),
                        mib(sel.bytes()),
                        if sel.missing.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; missing: {}",
                                sel.missing
                                    .iter()
                                    .map(|m| m.title())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
