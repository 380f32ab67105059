//! What each storage class runs: the manifest it gets (for "local volume"
//! that depends on the KubeSphere version) and that manifest's images by
//! Kubernetes minor. The renderer writes these images and the bundle plan
//! carries them, so an offline install has what its storage phase runs.

use std::collections::BTreeMap;

use crate::config::{Config, StorageKind};

use super::versions;

/// A storage manifest (a template of `templates/storage/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifest {
    LocalVolume,
    OpenEbsHostpath,
    NfsServer,
    NfsClient,
    CephRbd,
    GlusterFs,
    QingcloudCsi,
    NeonsanCsi,
}

impl Manifest {
    /// The manifest a class of `kind` gets; `None` where its CSI driver is
    /// not bundled (the class is then the operator's to provide).
    pub fn of(cfg: &Config, kind: StorageKind) -> Option<Manifest> {
        Some(match kind {
            // KubeSphere 2.1 made "local volume" an OpenEBS hostpath class;
            // 1.0/2.0 used the static local-volume provisioner on /mnt/disks.
            StorageKind::LocalVolume => match versions::ks_version(&cfg.ks_version) >= (2, 1) {
                true => Manifest::OpenEbsHostpath,
                false => Manifest::LocalVolume,
            },
            StorageKind::OpenEbsHostpath => Manifest::OpenEbsHostpath,
            StorageKind::NfsServer => Manifest::NfsServer,
            StorageKind::NfsClient => Manifest::NfsClient,
            StorageKind::CephRbd => Manifest::CephRbd,
            StorageKind::GlusterFs => Manifest::GlusterFs,
            StorageKind::QingcloudCsi => Manifest::QingcloudCsi,
            StorageKind::NeonsanCsi => Manifest::NeonsanCsi,
            StorageKind::AlicloudDiskCsi | StorageKind::TencentCbsCsi => return None,
        })
    }

    pub fn template(self) -> &'static str {
        match self {
            Manifest::LocalVolume => "storage/local-volume/local-volume.yaml.j2",
            Manifest::OpenEbsHostpath => "storage/openebs-hostpath/openebs-hostpath.yaml.j2",
            Manifest::NfsServer => "storage/nfs-server/nfs-server.yaml.j2",
            Manifest::NfsClient => "storage/nfs-client/nfs-client.yaml.j2",
            Manifest::CephRbd => "storage/ceph-rbd/ceph-rbd.yaml.j2",
            Manifest::GlusterFs => "storage/glusterfs/glusterfs.yaml.j2",
            Manifest::QingcloudCsi => "storage/qingcloud-csi/qingcloud-csi.yaml.j2",
            Manifest::NeonsanCsi => "storage/neonsan-csi/neonsan-csi.yaml.j2",
        }
    }

    /// The images the manifest runs, by their role in it (the template's
    /// `img.<role>`), each a full reference. RBD and GlusterFS are in-tree
    /// provisioners: no image.
    pub fn images(self, cfg: &Config) -> BTreeMap<&'static str, String> {
        let m = versions::minor(&cfg.kube_version);
        let mut out = BTreeMap::new();
        match self {
            Manifest::LocalVolume => {
                out.insert(
                    "provisioner",
                    match m >= 20 {
                        true => "registry.k8s.io/sig-storage/local-volume-provisioner:v2.5.0",
                        false => "quay.io/external_storage/local-volume-provisioner:v2.3.4",
                    },
                );
            }
            Manifest::OpenEbsHostpath => {
                // The helper runs on the node of a volume to make and remove
                // its directory.
                let (p, h) = match m >= 18 {
                    true => (
                        "docker.io/openebs/provisioner-localpv:3.5.0",
                        "docker.io/openebs/linux-utils:3.5.0",
                    ),
                    false => (
                        "docker.io/openebs/provisioner-localpv:2.12.0",
                        "docker.io/openebs/linux-utils:2.12.0",
                    ),
                };
                out.insert("provisioner", p);
                out.insert("helper", h);
            }
            Manifest::NfsServer => {
                out.insert(
                    "provisioner",
                    "quay.io/kubernetes_incubator/nfs-provisioner:v2.3.0",
                );
            }
            Manifest::NfsClient => {
                out.insert(
                    "provisioner",
                    match m >= 20 {
                        true => {
                            "registry.k8s.io/sig-storage/nfs-subdir-external-provisioner:v4.0.2"
                        }
                        false => "quay.io/external_storage/nfs-client-provisioner:v3.1.0-k8s1.11",
                    },
                );
            }
            Manifest::CephRbd | Manifest::GlusterFs => {}
            Manifest::QingcloudCsi | Manifest::NeonsanCsi => {
                out.extend(csi_sidecars(m));
                if self == Manifest::NeonsanCsi {
                    out.remove("resizer");
                }
            }
        }
        let mut out: BTreeMap<&'static str, String> =
            out.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        let plugin = match self {
            Manifest::QingcloudCsi => {
                Some(("qingcloud_csi_image", "csiplugin/csi-qingcloud:v1.2.0"))
            }
            Manifest::NeonsanCsi => Some(("neonsan_csi_image", "csiplugin/csi-neonsan:v1.2.1")),
            _ => None,
        };
        if let Some((key, default)) = plugin {
            let set = cfg.text(key);
            let image = if set.trim().is_empty() {
                default
            } else {
                set.trim()
            };
            out.insert("plugin", versions::qualified(image));
        }
        out
    }
}

/// The CSI sidecars by Kubernetes minor: the quay.io/k8scsi releases for
/// old clusters, registry.k8s.io/sig-storage from 1.20 (no resizer before
/// 1.14).
fn csi_sidecars(minor: u32) -> Vec<(&'static str, &'static str)> {
    match minor {
        20.. => vec![
            (
                "provisioner",
                "registry.k8s.io/sig-storage/csi-provisioner:v3.6.4",
            ),
            (
                "attacher",
                "registry.k8s.io/sig-storage/csi-attacher:v4.4.4",
            ),
            ("resizer", "registry.k8s.io/sig-storage/csi-resizer:v1.9.4"),
            (
                "registrar",
                "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.9.4",
            ),
        ],
        14..=19 => vec![
            ("provisioner", "quay.io/k8scsi/csi-provisioner:v1.6.0"),
            ("attacher", "quay.io/k8scsi/csi-attacher:v2.2.0"),
            ("resizer", "quay.io/k8scsi/csi-resizer:v0.5.0"),
            (
                "registrar",
                "quay.io/k8scsi/csi-node-driver-registrar:v1.3.0",
            ),
        ],
        _ => vec![
            ("provisioner", "quay.io/k8scsi/csi-provisioner:v1.0.1"),
            ("attacher", "quay.io/k8scsi/csi-attacher:v1.0.1"),
            (
                "registrar",
                "quay.io/k8scsi/csi-node-driver-registrar:v1.0.2",
            ),
        ],
    }
}

/// Every image the conf's storage classes' provisioners run (KubeSphere's
/// storage images keep a name of their own when they are missing).
pub fn images_of(cfg: &Config) -> Vec<String> {
    (cfg.storage.iter())
        .filter_map(|sc| Manifest::of(cfg, sc.kind))
        .flat_map(|m| m.images(cfg).into_values())
        .collect()
}
