# Component versions built from their Go modules, by Kubernetes minor.
# Sourced by build.sh. They must equal the row of ksinstall's one versions
# table (src/model/versions.rs) for that minor: a unit test checks 1.34.
# FLANNEL_CNI_FROM: the flannel CNI plugin is built from
# containernetworking/plugins (it lived there until v0.9.1; flannel-io's own
# module is not served here) and tagged as the table's flannel-cni-plugin.
# The newest patch of each served minor after the one built whole
# (scripts/test.sh's KUBE_VERSION): the test oracles (kubeadm config
# validate, a real kube-apiserver) run at each (build.sh VERSION OUT oracle).
ORACLE_VERSIONS="v1.35.4 v1.36.3 v1.37.2"
# The upgrade e2e goes from KUBE_VERSION to this one, built whole.
UPGRADE_VERSION=v1.35.4

pins_for_minor() {
  case "$1" in
    34|35)
      CRICTL=v1.34.0 CNI_PLUGINS=v1.9.0 FLANNEL=v0.28.4 FLANNEL_CNI=v1.5.1-flannel2
      FLANNEL_CNI_FROM=v0.9.1 COREDNS=v1.14.3 PAUSE=3.10.1 ETCD=v3.6.8 ;;
    36)
      CRICTL=v1.34.0 CNI_PLUGINS=v1.9.0 FLANNEL=v0.28.4 FLANNEL_CNI=v1.5.1-flannel2
      FLANNEL_CNI_FROM=v0.9.1 COREDNS=v1.14.3 PAUSE=3.10.2 ETCD=v3.6.8 ;;
    37)
      CRICTL=v1.37.0 CNI_PLUGINS=v1.9.0 FLANNEL=v0.28.4 FLANNEL_CNI=v1.5.1-flannel2
      FLANNEL_CNI_FROM=v0.9.1 COREDNS=v1.14.3 PAUSE=3.10.2 ETCD=v3.6.8 ;;
    *) return 1 ;;
  esac
}
