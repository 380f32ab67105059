//! Every configuration key the legacy installers knew: the historical spellings
//! that map onto one name, the keys we recognise, and the defaults a missing
//! key takes. Facts from the legacy reference (§2.1–2.7).

/// (legacy spelling, current name). Values of `disableMultiLogin` are inverted
/// into `enable_multi_login`; see `INVERTED`.
pub const ALIASES: &[(&str, &str)] = &[
    // 1.0.x → 2.1 local volume
    ("local_volume_provisioner_enabled", "local_volume_enabled"),
    (
        "local_volume_provisioner_storage_class",
        "local_volume_storage_class",
    ),
    // in-cluster NFS server: 1.0.0 and 1.0.1 names
    ("nfs_server_enable", "nfs_server_enabled"),
    ("nfs_in_k8s_enable", "nfs_server_enabled"),
    ("nfs_in_k8s_is_default_class", "nfs_server_is_default_class"),
    // NFS client
    ("nfs_client_enable", "nfs_client_enabled"),
    // QingCloud CSI, 1.0.0 `qy_*`
    ("qy_csi_enabled", "qingcloud_csi_enabled"),
    ("qy_csi_is_default_class", "qingcloud_csi_is_default_class"),
    ("qy_access_key_id", "qingcloud_access_key_id"),
    ("qy_secret_access_key", "qingcloud_secret_access_key"),
    ("qy_zone", "qingcloud_zone"),
    ("qy_host", "qingcloud_host"),
    ("qy_port", "qingcloud_port"),
    ("qy_protocol", "qingcloud_protocol"),
    ("qy_uri", "qingcloud_uri"),
    ("qy_connection_retries", "qingcloud_connection_retries"),
    ("qy_connection_timeout", "qingcloud_connection_timeout"),
    ("qy_type", "qingcloud_type"),
    ("qy_maxSize", "qingcloud_maxSize"),
    ("qy_minSize", "qingcloud_minSize"),
    ("qy_stepSize", "qingcloud_stepSize"),
    ("qy_fsType", "qingcloud_fsType"),
    // GlusterFS default flag
    (
        "glusterfs_is_default_class",
        "glusterfs_provisioner_is_default_class",
    ),
    // components
    ("qingcloud_lb_enable", "qingcloud_lb_enabled"),
    ("harbor_enable", "harbor_enabled"),
    ("gitlab_enable", "gitlab_enabled"),
    ("sonarqube_enable", "sonarqube_enabled"),
    ("kibana_enable", "kibana_enabled"),
    ("logging_enable", "logging_enabled"),
    ("metrics_server_enable", "metrics_server_enabled"),
    ("istio_enable", "servicemesh_enabled"),
    ("disableMultiLogin", "enable_multi_login"),
    ("prometheus_replica", "prometheus_replicas"),
    ("prometheus_memory_size", "prometheus_memory_request"),
    (
        "elasticsearch_master_replica",
        "elasticsearch_master_replicas",
    ),
    ("elasticsearch_data_replica", "elasticsearch_data_replicas"),
    (
        "elasticsearch_volume_size",
        "elasticsearch_data_volume_size",
    ),
    ("keep_log_days", "log_max_age"),
];

/// Aliases whose boolean meaning is the opposite of the current key.
pub const INVERTED: &[&str] = &["disableMultiLogin"];

/// Keys that hold booleans (YAML 1.1 `yes/no/on/off` accepted).
pub const BOOLEAN_KEYS: &[&str] = &[
    "kubelet_fail_cgroup_v1",
    "local_registry_insecure",
    "local_volume_enabled",
    "local_volume_is_default_class",
    "nfs_server_enabled",
    "nfs_server_is_default_class",
    "nfs_client_enabled",
    "nfs_client_is_default_class",
    "nfs_vers3_enabled",
    "nfs_archiveOnDelete",
    "qingcloud_csi_enabled",
    "qingcloud_csi_is_default_class",
    "qingcloud_allowVolumeExpansion",
    "qingcloud_lb_enabled",
    "neonsan_csi_enabled",
    "neonsan_csi_is_default_class",
    "ceph_rbd_enabled",
    "ceph_rbd_is_default_class",
    "glusterfs_provisioner_enabled",
    "glusterfs_provisioner_is_default_class",
    "glusterfs_provisioner_restauthenabled",
    "openebs_hostpath_enabled",
    "openebs_hostpath_is_default_class",
    "alicloud_disk_csi_enabled",
    "alicloud_disk_csi_is_default_class",
    "tencentcloud_cbs_csi_enabled",
    "tencentcloud_cbs_csi_is_default_class",
    "enable_nodelocaldns",
    "enable_multi_login",
    "monitoring_enabled",
    "grafana_enabled",
    "logging_enabled",
    "kibana_enabled",
    "devops_enabled",
    "sonarqube_enabled",
    "openpitrix_enabled",
    "metrics_server_enabled",
    "servicemesh_enabled",
    "notification_enabled",
    "alerting_enabled",
    "harbor_enabled",
    "gitlab_enabled",
    "nvidia_accelerator_enabled",
    "ipip",
    "nat_outgoing",
    "kubeadm_enabled",
    "ignore_assert_errors",
    "populate_inventory_to_hosts_file",
    "override_system_hostname",
    "docker_iptables_enabled",
];

/// Defaults for keys a config may omit: the last legacy release's values
/// (2.1.1 `common.yaml` + kubespray defaults it relied on).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("ks_version", "v2.1.1"),
    ("kube_version", "v1.16.7"),
    ("etcd_version", "v3.2.18"),
    ("kube_network_plugin", "calico"),
    ("kube_service_addresses", "10.233.0.0/18"),
    ("kube_pods_subnet", "10.233.64.0/18"),
    ("kube_network_node_prefix", "24"),
    ("kube_proxy_mode", "ipvs"),
    ("kubelet_max_pods", "110"),
    ("kube_apiserver_port", "6443"),
    ("cluster_name", "cluster.local"),
    ("dns_domain", "cluster.local"),
    ("dns_mode", "coredns"),
    ("apiserver_loadbalancer_domain_name", "lb.kubesphere.local"),
    ("container_manager", "docker"),
    ("docker_data_root", "/var/lib/docker"),
    (
        "docker_log_opts",
        "--log-opt max-size=50m --log-opt max-file=5",
    ),
    ("kube_image_repo", "k8s.gcr.io"),
    ("ipip", "true"),
    ("ipip_mode", "Always"),
    ("nat_outgoing", "true"),
    ("calico_pool_name", "default-pool"),
    ("global_as_num", "64512"),
    ("etcd_data_dir", "/var/lib/etcd"),
    ("etcd_backup_period", "30"),
    ("keep_backup_number", "5"),
    ("etcd_backup_dir", "/var/backups/kube_etcd"),
    ("local_release_dir", "/tmp/releases"),
    ("enable_nodelocaldns", "true"),
    ("nodelocaldns_ip", "169.254.25.10"),
    ("console_port", "30880"),
    ("enable_multi_login", "false"),
    ("local_volume_enabled", "true"),
    ("local_volume_is_default_class", "true"),
    ("local_volume_storage_class", "local"),
    ("local_volume_provisioner_base_dir", "/mnt/disks"),
    ("nfs_server_enabled", "false"),
    ("nfs_server_is_default_class", "false"),
    ("nfs_client_enabled", "false"),
    ("nfs_client_is_default_class", "false"),
    ("nfs_vers3_enabled", "false"),
    ("nfs_archiveOnDelete", "false"),
    ("ceph_rbd_enabled", "false"),
    ("ceph_rbd_is_default_class", "false"),
    ("ceph_rbd_storage_class", "rbd"),
    ("ceph_rbd_admin_id", "admin"),
    ("ceph_rbd_pool", "rbd"),
    ("ceph_rbd_user_id", "admin"),
    ("ceph_rbd_fsType", "ext4"),
    ("ceph_rbd_imageFormat", "1"),
    ("glusterfs_provisioner_enabled", "false"),
    ("glusterfs_provisioner_is_default_class", "false"),
    ("glusterfs_provisioner_storage_class", "glusterfs"),
    ("glusterfs_provisioner_restauthenabled", "true"),
    ("glusterfs_provisioner_restuser", "admin"),
    ("glusterfs_provisioner_secretName", "heketi-secret"),
    ("glusterfs_provisioner_gidMin", "40000"),
    ("glusterfs_provisioner_gidMax", "50000"),
    ("glusterfs_provisioner_volumetype", "replicate:2"),
    ("qingcloud_csi_enabled", "false"),
    ("qingcloud_csi_is_default_class", "false"),
    ("qingcloud_host", "api.qingcloud.com"),
    ("qingcloud_port", "443"),
    ("qingcloud_protocol", "https"),
    ("qingcloud_uri", "/iaas"),
    ("qingcloud_connection_retries", "3"),
    ("qingcloud_connection_timeout", "30"),
    ("qingcloud_type", "2"),
    ("qingcloud_maxSize", "5000"),
    ("qingcloud_minSize", "100"),
    ("qingcloud_stepSize", "50"),
    ("qingcloud_fsType", "ext4"),
    ("qingcloud_disk_replica", "2"),
    ("qingcloud_allowVolumeExpansion", "true"),
    ("qingcloud_volumeBindingMode", "Immediate"),
    ("qingcloud_lb_enabled", "false"),
    ("neonsan_csi_enabled", "false"),
    ("neonsan_csi_is_default_class", "false"),
    ("neonsan_csi_protocol", "TCP"),
    ("neonsan_server_pool", "kube"),
    ("neonsan_server_replicas", "1"),
    ("neonsan_server_stepSize", "10"),
    ("neonsan_server_fsType", "ext4"),
    ("openebs_hostpath_enabled", "false"),
    ("openebs_hostpath_is_default_class", "false"),
    ("openebs_hostpath_storage_class", "openebs-hostpath"),
    ("openebs_hostpath_base_dir", "/var/openebs/local"),
    ("alicloud_disk_csi_enabled", "false"),
    ("alicloud_disk_csi_is_default_class", "false"),
    ("tencentcloud_cbs_csi_enabled", "false"),
    ("tencentcloud_cbs_csi_is_default_class", "false"),
    ("mysql_volume_size", "20Gi"),
    ("minio_volume_size", "20Gi"),
    ("etcd_volume_size", "20Gi"),
    ("openldap_volume_size", "2Gi"),
    ("redis_volume_size", "2Gi"),
    ("monitoring_enabled", "true"),
    ("prometheus_replicas", "2"),
    ("prometheus_memory_request", "400Mi"),
    ("prometheus_volume_size", "20Gi"),
    ("grafana_enabled", "false"),
    ("logging_enabled", "false"),
    ("elasticsearch_master_replicas", "1"),
    ("elasticsearch_data_replicas", "2"),
    ("logsidecar_replicas", "2"),
    ("elasticsearch_master_volume_size", "4Gi"),
    ("elasticsearch_data_volume_size", "20Gi"),
    ("log_max_age", "7"),
    ("elk_prefix", "logstash"),
    ("kibana_enabled", "false"),
    ("devops_enabled", "false"),
    ("jenkins_memory_lim", "8Gi"),
    ("jenkins_memory_req", "4Gi"),
    ("jenkins_volume_size", "8Gi"),
    ("jenkinsJavaOpts_Xms", "3g"),
    ("jenkinsJavaOpts_Xmx", "6g"),
    ("jenkinsJavaOpts_MaxRAM", "8g"),
    ("sonarqube_enabled", "false"),
    ("openpitrix_enabled", "false"),
    ("metrics_server_enabled", "false"),
    ("servicemesh_enabled", "false"),
    ("notification_enabled", "false"),
    ("alerting_enabled", "false"),
    ("harbor_enabled", "false"),
    ("harbor_domain", "harbor.devops.kubesphere.local"),
    ("gitlab_enabled", "false"),
    ("gitlab_hosts_domain", "devops.kubesphere.local"),
    ("periodic_cleaning_time", "weekly"),
    ("ks_image_pull_policy", "IfNotPresent"),
];

/// Recognised keys that have no default (present only when the user sets them).
pub const OPTIONAL_KEYS: &[&str] = &[
    "loadbalancer_apiserver",
    "loadbalancer_apiserver_localhost",
    "loadbalancer_apiserver_type",
    "keepalived_vip",
    "keepalived_interface",
    "keepalived_router_id",
    "docker_registry_mirrors",
    "docker_insecure_registries",
    "containerd_registry_mirrors",
    "sandbox_image",
    "calico_mtu",
    "calico_ip_auto_method",
    "calico_version",
    "flannel_interface",
    "supplementary_addresses_in_ssl_keys",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "additional_no_proxy",
    "local_volume_is_default_class",
    "local_volume_provisioner_mount_dir",
    "nfs_server",
    "nfs_path",
    "ceph_rbd_monitors",
    "ceph_rbd_admin_secret",
    "ceph_rbd_user_secret",
    "ceph_rbd_imageFeatures",
    "glusterfs_provisioner_resturl",
    "glusterfs_provisioner_clusterid",
    "jwt_admin_key",
    "qingcloud_access_key_id",
    "qingcloud_secret_access_key",
    "qingcloud_zone",
    "qingcloud_storageclass_tags",
    "qingcloud_vxnet_id",
    "neonsan_server_address",
    "neonsan_cluster_name",
    "client_tcp_no_delay",
    "client_io_depth",
    "client_io_timeout",
    "conn_timeout",
    "open_volume_timeout",
    "ali_access_key_id",
    "ali_access_key_secret",
    "ali_disk_zoneId",
    "ali_disk_regionId",
    "ali_disk_fsType",
    "ali_disk_type",
    "tecentcloud_cbs_api_secret_id",
    "tecentcloud_cbs_api_secret_key",
    "tencentcloud_disk_type",
    "external_es_url",
    "external_es_port",
    "sonar_server_url",
    "sonar_server_token",
    "nvidia_accelerator_enabled",
    "nvidia_gpu_nodes",
    "openpitrix_version",
    "etcd_memory_limit",
    "etcd_deployment_type",
    "kube_apiserver_insecure_port",
    "kubeadm_enabled",
    "ignore_assert_errors",
    "populate_inventory_to_hosts_file",
    "preinstall_selinux_state",
    "override_system_hostname",
    "docker_version",
    "docker_iptables_enabled",
    "docker_daemon_graph",
    "dashboard_enabled",
    "helm_enabled",
    "kube_override_hostname",
    "resolvconf_mode",
    "peer_with_router",
    "local_registry",
    // ksinstall's own: the CA of a `local_registry` the install does not
    // run, and plain HTTP to it.
    "local_registry_ca",
    "local_registry_insecure",
    "ks_installer_repo",
    "ks_installer_tag",
    "ks_console_replicas",
    // ksinstall's own: refuse cgroup v1 hosts where the kubelet would
    // (Kubernetes 1.35+) instead of running them with failCgroupV1: false.
    "kubelet_fail_cgroup_v1",
];

/// Keys whose values are secrets: never printed.
pub const SECRET_KEYS: &[&str] = &[
    "ceph_rbd_admin_secret",
    "ceph_rbd_user_secret",
    "jwt_admin_key",
    "qingcloud_secret_access_key",
    "ali_access_key_secret",
    "tecentcloud_cbs_api_secret_key",
    "sonar_server_token",
];

pub fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(old, _)| *old == key)
        .map(|(_, new)| *new)
        .unwrap_or(key)
}

pub fn is_known(key: &str) -> bool {
    let key = canonical(key);
    DEFAULTS.iter().any(|(k, _)| *k == key)
        || OPTIONAL_KEYS.contains(&key)
        || BOOLEAN_KEYS.contains(&key)
        || NO_EFFECT.iter().any(|(k, _, _)| *k == key)
}

/// Keys only KubeSphere 2.x's `ks-config.yaml` reads: with KubeSphere 3.x
/// (whose ClusterConfiguration has no such settings here) they have no
/// effect, which `NoEffect` says when a conf file sets one.
pub const KS2_ONLY: &[&str] = &[
    "mysql_volume_size",
    "etcd_volume_size",
    "prometheus_replicas",
    "grafana_enabled",
    "elasticsearch_master_replicas",
    "elasticsearch_data_replicas",
    "elasticsearch_master_volume_size",
    "elasticsearch_data_volume_size",
    "kibana_enabled",
    "jenkinsJavaOpts_Xms",
    "jenkinsJavaOpts_Xmx",
    "jenkinsJavaOpts_MaxRAM",
    "sonarqube_enabled",
    "sonar_server_url",
    "sonar_server_token",
];

/// Legacy keys ksinstall accepts and does not act on: `(key, the value
/// that matches what ksinstall does anyway, why)`. Set in a conf file to
/// anything else (any value, where the middle is `None`), each draws the
/// warning `NoEffect`, so no key is silently ignored.
#[rustfmt::skip]
pub const NO_EFFECT: &[(&str, Option<&str>, &str)] = &[
    ("dns_mode", Some("coredns"), "the cluster's DNS is always CoreDNS"),
    ("global_as_num", None, "calico is not peered over BGP here, so its AS number is its default"),
    ("peer_with_router", Some("false"), "calico is not peered with routers"),
    ("local_release_dir", None, "downloads go into the bundle, never onto the hosts"),
    ("qingcloud_lb_enabled", Some("false"), "the QingCloud cloud controller manager (LoadBalancer services) is not installed"),
    ("qingcloud_vxnet_id", Some("SHOULD_BE_REPLACED"), "the QingCloud cloud controller manager is not installed"),
    ("monitoring_enabled", Some("true"), "KubeSphere always installs its monitoring"),
    ("harbor_enabled", Some("false"), "Harbor is not installed (KubeSphere 2.1.1 dropped it too)"),
    ("harbor_domain", Some("harbor.devops.kubesphere.local"), "Harbor is not installed"),
    ("gitlab_enabled", Some("false"), "GitLab is not installed (KubeSphere 2.1.1 dropped it too)"),
    ("gitlab_hosts_domain", Some("devops.kubesphere.local"), "GitLab is not installed"),
    ("periodic_cleaning_time", None, "images are not pruned on a schedule: an offline cluster would lose imported images not in use yet"),
    ("loadbalancer_apiserver_localhost", None, "the nodes' API proxy follows from the load balancer settings (a local proxy where there is no loadbalancer_apiserver)"),
    ("containerd_registry_mirrors", None, "docker_registry_mirrors set the mirrors of containerd and docker alike"),
    ("ali_disk_zoneId", None, "the Alicloud disk CSI driver is not rendered: install it, then its class"),
    ("ali_disk_regionId", None, "the Alicloud disk CSI driver is not rendered: install it, then its class"),
    ("ali_disk_fsType", None, "the Alicloud disk CSI driver is not rendered: install it, then its class"),
    ("ali_disk_type", None, "the Alicloud disk CSI driver is not rendered: install it, then its class"),
    ("tencentcloud_disk_type", None, "the Tencent CBS CSI driver is not rendered: install it, then its class"),
    ("nvidia_accelerator_enabled", Some("false"), "no GPU runtime (nvidia-docker) is installed"),
    ("nvidia_gpu_nodes", None, "no GPU runtime (nvidia-docker) is installed"),
    ("openpitrix_version", None, "KubeSphere's ks-installer picks the OpenPitrix version"),
    ("etcd_memory_limit", None, "etcd runs as a host service without a memory limit"),
    ("etcd_deployment_type", Some("host"), "etcd runs as a host service (etcd.service), never in docker"),
    ("kube_apiserver_insecure_port", Some("0"), "the API server never has an insecure port"),
    ("kubeadm_enabled", Some("true"), "Kubernetes is always installed with kubeadm"),
    ("ignore_assert_errors", Some("false"), "checks are let through by name with --ignore-errors NAME"),
    ("populate_inventory_to_hosts_file", Some("true"), "the cluster's /etc/hosts block is always written"),
    ("preinstall_selinux_state", None, "SELinux is left as the host has it"),
    ("override_system_hostname", Some("true"), "every host is always given its inventory name"),
    ("docker_version", None, "docker is the version of the bundle's package"),
    ("dashboard_enabled", Some("false"), "the Kubernetes dashboard is not installed (KubeSphere's console replaces it)"),
    ("helm_enabled", None, "Helm comes with KubeSphere 2.x from the bundle, and not otherwise"),
    ("kube_override_hostname", None, "nodes register under their inventory names"),
    ("resolvconf_mode", None, "the hosts' resolv.conf is left as it is; pods use the cluster's DNS"),
    ("ks_console_replicas", None, "KubeSphere's ks-installer decides the console's replicas"),
    ("local_volume_provisioner_namespace", Some("kube-system"), "the local volume provisioner runs in kube-system"),
];

/// The closest known key, for "did you mean" hints.
pub fn suggest(key: &str) -> Option<&'static str> {
    let candidates = DEFAULTS
        .iter()
        .map(|(k, _)| *k)
        .chain(OPTIONAL_KEYS.iter().copied())
        .chain(ALIASES.iter().map(|(k, _)| *k));
    let lower = key.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_spellings_map_to_one_key() {
        assert_eq!(
            canonical("local_volume_provisioner_enabled"),
            "local_volume_enabled"
        );
        assert_eq!(canonical("qy_csi_enabled"), "qingcloud_csi_enabled");
        assert_eq!(canonical("kube_version"), "kube_version");
        assert!(is_known("nfs_in_k8s_enable"));
        assert!(!is_known("kube_verison"));
    }

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(suggest("kube_verison"), Some("kube_version"));
        assert_eq!(suggest("kube_pod_subnet"), Some("kube_pods_subnet"));
        assert_eq!(suggest("totally_unrelated_setting_name"), None);
    }
}
