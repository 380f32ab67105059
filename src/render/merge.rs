//! Merging a rendered config into the file a host already has, so that
//! settings the user made by hand survive (legacy FAQ 4.20: dockerd refused
//! to start when daemon.json and the command line both set a key). The rule
//! is the same for JSON (`/etc/docker/daemon.json`) and TOML
//! (`/etc/containerd/config.toml`):
//!
//! - tables/objects merge key by key, recursively;
//! - lists are the union: the user's entries first, then ours not already there;
//! - for any other value ours wins, and the key is reported as replaced.

use anyhow::{Context, Result};

/// Keys whose user value was replaced, as dotted paths.
pub type Replaced = Vec<String>;

pub fn merge_json(existing: &str, ours: &str) -> Result<(String, Replaced)> {
    let mut base: serde_json::Value = if existing.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(existing).context("the existing file is not valid JSON")?
    };
    let ours: serde_json::Value =
        serde_json::from_str(ours).context("the rendered file is not valid JSON")?;
    let mut replaced = Vec::new();
    json(&mut base, ours, "", &mut replaced);
    let mut text = serde_json::to_string_pretty(&base)?;
    text.push('\n');
    Ok((text, replaced))
}

fn json(base: &mut serde_json::Value, ours: serde_json::Value, path: &str, out: &mut Replaced) {
    use serde_json::Value as J;
    match (base, ours) {
        (J::Object(b), J::Object(o)) => {
            for (k, v) in o {
                let p = join(path, &k);
                match b.get_mut(&k) {
                    Some(slot) => json(slot, v, &p, out),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (J::Array(b), J::Array(o)) => {
            for v in o {
                if !b.contains(&v) {
                    b.push(v);
                }
            }
        }
        (slot, v) => {
            if *slot != v {
                out.push(path.to_string());
                *slot = v;
            }
        }
    }
}

pub fn merge_toml(existing: &str, ours: &str) -> Result<(String, Replaced)> {
    let mut base: toml::Table =
        toml::from_str(existing).context("the existing file is not valid TOML")?;
    let ours: toml::Table = toml::from_str(ours).context("the rendered file is not valid TOML")?;
    let mut replaced = Vec::new();
    toml_tables(&mut base, ours, "", &mut replaced);
    Ok((toml::to_string(&base)?, replaced))
}

fn toml_tables(base: &mut toml::Table, ours: toml::Table, path: &str, out: &mut Replaced) {
    for (k, v) in ours {
        let p = join(path, &k);
        match base.get_mut(&k) {
            Some(slot) => toml_value(slot, v, &p, out),
            None => {
                base.insert(k, v);
            }
        }
    }
}

fn toml_value(base: &mut toml::Value, ours: toml::Value, path: &str, out: &mut Replaced) {
    use toml::Value as T;
    match (base, ours) {
        (T::Table(b), T::Table(o)) => toml_tables(b, o, path, out),
        (T::Array(b), T::Array(o)) => {
            for v in o {
                if !b.contains(&v) {
                    b.push(v);
                }
            }
        }
        (slot, v) => {
            if *slot != v {
                out.push(path.to_string());
                *slot = v;
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_user_keys_and_entries() {
        let existing = r#"{"registry-mirrors": ["https://mine.example"], "debug": true, "data-root": "/data/docker"}"#;
        let ours = r#"{"registry-mirrors": ["https://ours.example", "https://mine.example"], "data-root": "/var/lib/docker", "log-opts": {"max-size": "50m"}}"#;
        let (text, replaced) = merge_json(existing, ours).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["debug"], true);
        assert_eq!(
            v["registry-mirrors"],
            serde_json::json!(["https://mine.example", "https://ours.example"])
        );
        assert_eq!(v["log-opts"]["max-size"], "50m");
        assert_eq!(replaced, ["data-root"]);
    }

    #[test]
    fn toml_merges_tables() {
        let existing = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nenable_selinux = true\nsandbox_image = \"old\"\n";
        let ours =
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"new\"\n";
        let (text, replaced) = merge_toml(existing, ours).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        let cri = &t["plugins"]["io.containerd.grpc.v1.cri"];
        assert_eq!(cri["enable_selinux"].as_bool(), Some(true));
        assert_eq!(cri["sandbox_image"].as_str(), Some("new"));
        assert_eq!(
            replaced,
            ["plugins.io.containerd.grpc.v1.cri.sandbox_image"]
        );
    }
}
