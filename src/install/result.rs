//! The end of an install: the admin kubeconfig fetched to `kubesphere/config`
//! and the "Welcome to KubeSphere!" banner, printed and kept in
//! `kubesphere/kubesphere_running` as the legacy installer did.

use std::path::Path;
use std::sync::Mutex;

use crate::exec::{Engine, HostFail};
use crate::model::Cluster;

/// The banner for a cluster whose console is at `ip:port`.
pub fn welcome(c: &Cluster, ip: &str) -> String {
    // KubeSphere 1.x shipped `passw0rd`, 2.x `P@88w0rd` as the admin password.
    let password = if c
        .config
        .ks_version
        .trim_start_matches('v')
        .starts_with("1.")
    {
        "passw0rd"
    } else {
        "P@88w0rd"
    };
    format!(
        "#####################################################\n\
         ###              Welcome to KubeSphere!           ###\n\
         #####################################################\n\
         \n\
         Console: http://{ip}:{port}\n\
         Account: admin\n\
         Password: {password}\n\
         \n\
         NOTE: Please modify the default password after login.\n\
         #####################################################\n",
        port = c.config.console_port
    )
}

pub fn finish(c: &Cluster, engine: &Engine, installer_dir: &Path) -> anyhow::Result<()> {
    let Some(master) = c.first_master() else {
        return Ok(());
    };
    let index = c
        .nodes
        .iter()
        .position(|n| n.name == master.name)
        .expect("a node of the cluster");
    let kubeconfig = Mutex::new(None);
    let step = engine.step("result", &[index], |ctx| {
        let conf = ctx.fetch("/etc/kubernetes/admin.conf")?;
        *kubeconfig
            .lock()
            .map_err(|_| HostFail::Failed("lock".into()))? = Some(conf);
        Ok(())
    });
    let dir = installer_dir.join("kubesphere");
    std::fs::create_dir_all(&dir)?;
    if let Some(conf) = kubeconfig.into_inner().ok().flatten() {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("config");
        std::fs::write(&path, conf)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    } else if let Some(h) = step.failures().next() {
        eprintln!(
            "[WARNING Result]: could not fetch the admin kubeconfig from {}: {}",
            h.host, h.message
        );
    }
    let ip = master.reach_address().unwrap_or("127.0.0.1");
    let text = welcome(c, ip);
    std::fs::write(dir.join("kubesphere_running"), &text)?;
    print!("{text}");
    Ok(())
}
