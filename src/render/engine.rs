//! The template engine: minijinja with every file under `templates/`
//! compiled into the binary, a file of the same relative name under
//! `<conf>/templates/` taking its place, strict undefined (a missing
//! variable is an error, never an empty string) and the Ansible filters.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::filters;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        /// Every template, by its path under `templates/`.
        pub const TEMPLATES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)))),*
        ];
    };
}

templates![
    "hosts/hosts.j2",
    "node/sysctl.conf.j2",
    "node/modules.conf.j2",
    "kubeadm/_macros.j2",
    "kubeadm/init.yaml.j2",
    "kubeadm/join.yaml.j2",
    "kubeadm/join-hosts.j2",
    "kubeadm/v1alpha3-init.yaml.j2",
    "kubeadm/v1alpha3-join.yaml.j2",
    "kubeadm/kubelet-config.yaml.j2",
    "kubeadm/kube-proxy-config.yaml.j2",
    "kubelet/kubelet.service.j2",
    "kubelet/10-kubeadm.conf.j2",
    "etcd/etcd.env.j2",
    "etcd/etcd.service.j2",
    "etcd/etcdctl.env.j2",
    "etcd/etcd-backup.sh.j2",
    "etcd/etcd-backup.service.j2",
    "etcd/etcd-backup.timer.j2",
    "node/crictl.yaml.j2",
    "node/runtime-proxy.conf.j2",
    "containerd/config.toml.j2",
    "containerd/hosts.toml.j2",
    "docker/daemon.json.j2",
    "docker/cri-docker.service.j2",
    "docker/cri-docker.socket.j2",
    "calico/calico.yaml.j2",
    "calico/calicoctl.cfg.j2",
    "calico/ippool.yaml.j2",
    "flannel/flannel.yaml.j2",
    "dns/nodelocaldns.yaml.j2",
    "lb/haproxy.cfg.j2",
    "lb/nginx.conf.j2",
    "lb/keepalived.conf.j2",
    "registry/config.yml.j2",
    "storage/_macros.j2",
    "storage/local-volume/local-volume.yaml.j2",
    "storage/openebs-hostpath/openebs-hostpath.yaml.j2",
    "storage/nfs-server/nfs-server.yaml.j2",
    "storage/nfs-client/nfs-client.yaml.j2",
    "storage/ceph-rbd/ceph-rbd.yaml.j2",
    "storage/glusterfs/glusterfs.yaml.j2",
    "storage/qingcloud-csi/qingcloud-csi.yaml.j2",
    "storage/neonsan-csi/neonsan-csi.yaml.j2",
    "kubesphere/ks-installer.yaml.j2",
    "kubesphere/ks-config.yaml.j2",
    "kubesphere/cluster-configuration.yaml.j2",
];

pub fn builtin(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

pub struct Engine {
    env: Environment<'static>,
    overrides: BTreeMap<String, String>,
    override_dir: Option<PathBuf>,
    used_overrides: Arc<Mutex<BTreeSet<String>>>,
}

/// Files under `<conf>/templates` and fewer than this many: a bound on
/// what is read, far above the built-in templates' count.
const MAX_OVERRIDES: usize = 500;

/// The texts of `dir`'s files by relative name (`kubeadm/init.yaml.j2`):
/// overrides of the built-in templates, and what they include.
pub fn read_overrides(dir: Option<&Path>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        return Ok(out);
    };
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            anyhow::anyhow!("cannot read template overrides in {}: {e}", d.display())
        })?;
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let name = rel.to_string_lossy().into_owned();
            let text = crate::config::limits::read(&path).map_err(|e| {
                anyhow::anyhow!("cannot read template override {}: {e}", path.display())
            })?;
            out.insert(name, text);
            anyhow::ensure!(
                out.len() <= MAX_OVERRIDES,
                "{} holds more than {MAX_OVERRIDES} files: it is meant for a few template overrides",
                dir.display()
            );
        }
    }
    Ok(out)
}

impl Engine {
    /// `overrides`: texts by relative name (`read_overrides` of
    /// `override_dir`, `<conf>/templates`); one with the name of a built-in
    /// template replaces it (includes and imports too).
    pub fn new(overrides: BTreeMap<String, String>, override_dir: Option<PathBuf>) -> Engine {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Output is YAML, TOML, JSON, INI...: values are quoted explicitly
        // (`tojson`) where needed, never escaped by file name.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        filters::register(&mut env);
        let used = Arc::new(Mutex::new(BTreeSet::new()));
        let (texts, used_in_loader) = (overrides.clone(), used.clone());
        env.set_loader(move |name: &str| {
            if name.split('/').any(|part| part == ".." || part.is_empty()) {
                return Ok(None);
            }
            if let Some(text) = texts.get(name) {
                used_in_loader
                    .lock()
                    .expect("not poisoned")
                    .insert(name.to_string());
                return Ok(Some(text.clone()));
            }
            Ok(builtin(name).map(str::to_string))
        });
        Engine {
            env,
            overrides,
            override_dir,
            used_overrides: used,
        }
    }

    /// Renders one template. Errors name the template, the line and the
    /// expression that failed (for a missing variable: the variable).
    pub fn render(&self, name: &str, ctx: &Value) -> anyhow::Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| anyhow::anyhow!(self.describe(&e)))?;
        tmpl.render(ctx)
            .map_err(|e| anyhow::anyhow!(self.describe(&e)))
    }

    /// The override files actually used so far.
    pub fn overrides_used(&self) -> Vec<PathBuf> {
        let dir = self.override_dir.clone().unwrap_or_default();
        self.used_overrides
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|n| dir.join(n))
            .collect()
    }

    fn source_of(&self, name: &str) -> Option<String> {
        (self.overrides.get(name).cloned()).or_else(|| builtin(name).map(str::to_string))
    }

    fn where_is(&self, name: &str) -> String {
        match &self.override_dir {
            Some(dir) if self.overrides.contains_key(name) => dir.join(name).display().to_string(),
            _ => format!("templates/{name}"),
        }
    }

    /// `templates/x.j2:12: undefined variable `node.ipp` (in `{{ node.ipp }}`)`,
    /// following the chain into included templates.
    fn describe(&self, e: &Error) -> String {
        let mut parts = Vec::new();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(me) = err.downcast_ref::<Error>() {
                parts.push(self.describe_one(me));
            }
            cur = err.source();
        }
        parts.dedup();
        parts.join("\n  caused by: ")
    }

    fn describe_one(&self, e: &Error) -> String {
        let loc = match (e.name(), e.line()) {
            (Some(n), Some(l)) => format!("{}:{l}", self.where_is(n)),
            (Some(n), None) => self.where_is(n),
            _ => "template".to_string(),
        };
        let source = e.name().and_then(|n| self.source_of(n));
        let snippet = source
            .as_deref()
            .zip(e.range())
            .and_then(|(src, r)| src.get(r).map(str::to_string));
        match (e.kind(), snippet) {
            (ErrorKind::UndefinedError, Some(_)) => {
                let range = e.range().unwrap_or_default();
                let (var, whole) = undefined_name(source.as_deref().unwrap_or(""), range);
                format!("{loc}: undefined variable `{var}` (in `{}`)", whole.trim())
            }
            (ErrorKind::UndefinedError, None) => format!("{loc}: undefined variable"),
            (_, Some(expr)) => format!(
                "{loc}: {} (in `{}`)",
                e.detail().unwrap_or(&e.kind().to_string()),
                expr.trim()
            ),
            (_, None) => format!("{loc}: {}", e.detail().unwrap_or(&e.kind().to_string())),
        }
    }
}

/// The variable an undefined-value error is about, and the expression it
/// sits in. The error's range is either the variable itself (`{{ a.b }}`)
/// or a filter applied to it (`{{ a | join(',') }}`): then the variable is
/// the start of the pipeline before it.
fn undefined_name(src: &str, range: std::ops::Range<usize>) -> (String, String) {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect()
    };
    let expr = src.get(range.clone()).unwrap_or("");
    let head = ident(expr);
    let is_call = expr.trim_start()[head.len()..]
        .trim_start()
        .starts_with('(')
        || src[..range.start.min(src.len())].trim_end().ends_with('|');
    if !is_call {
        return (
            if head.is_empty() {
                expr.trim().to_string()
            } else {
                head
            },
            expr.to_string(),
        );
    }
    // The pipeline: from the tag opening before the range to its end.
    let before = &src[..range.start.min(src.len())];
    let open = before
        .rfind("{{")
        .or_else(|| before.rfind("{%"))
        .map(|i| i + 2)
        .unwrap_or(0);
    let stmt = &src[open..range.end.min(src.len())];
    let first = stmt.split('|').next().unwrap_or("");
    // `if x`, `set y = x`, `for a in x`: the last word is the expression.
    let var = first
        .split(|c: char| c.is_whitespace() || c == '=' || c == '(')
        .rfind(|w| !w.is_empty())
        .map(ident)
        .unwrap_or_default();
    (var, stmt.trim().to_string())
}

/// The names of the built-in templates, for `render --list-templates` and tests.
pub fn names() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(n, _)| *n)
}

/// Where the override for `name` would live under `dir`.
pub fn override_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = names().map(str::to_string).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn errors_name_template_line_and_variable() {
        let dir = std::env::temp_dir().join(format!("ksinstall-tpl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("hosts")).unwrap();
        std::fs::write(
            dir.join("hosts/hosts.j2"),
            "line one\n{{ node.ipp | upper }}\n",
        )
        .unwrap();
        let engine = Engine::new(read_overrides(Some(&dir)).unwrap(), Some(dir.clone()));
        let err = engine
            .render(
                "hosts/hosts.j2",
                &minijinja::context! { node => minijinja::context!{ ip => "1" } },
            )
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).ok();
        assert!(err.contains("hosts/hosts.j2:2"), "{err}");
        assert!(err.contains("`node.ipp`"), "{err}");
        assert_eq!(engine.overrides_used().len(), 1);
    }
}
