//! Checks of the plain-text files the render writes, as YAML and TOML are
//! parsed back: a value that carries a newline or a shell character must
//! not add a line to a unit, a variable to `/etc/etcd.env` (which scripts
//! source with `.`) or a name to `/etc/hosts`. Validation refuses such
//! values first; this holds whatever reaches a template.

use std::net::IpAddr;

/// What is wrong with `text`, to be written at `path`, if anything.
pub fn check(path: &str, text: &str) -> Result<(), String> {
    if let Some((i, c)) = text.lines().enumerate().find_map(|(i, l)| {
        l.chars()
            .find(|c| c.is_control() && *c != '\t')
            .map(|c| (i, c))
    }) {
        return Err(format!("line {}: control character {c:?}", i + 1));
    }
    let rule: fn(&str) -> bool = if path.ends_with(".env") {
        env_line
    } else if path.starts_with("/etc/systemd/") {
        unit_line
    } else if path == "/etc/hosts" || path.ends_with("join-hosts") {
        hosts_line
    } else if path.starts_with("/etc/sysctl.d/") {
        |l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            plain(k.trim(), "._-/") && plain(v.trim(), " ._-")
        }
    } else if path.starts_with("/etc/modules-load.d/") {
        |l| plain(l, "_-")
    } else {
        return Ok(());
    };
    let mut continued = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if !(continued || l.is_empty() || l.starts_with('#') || l.starts_with(';') || rule(l)) {
            return Err(format!("line {}: unexpected {line:?}", i + 1));
        }
        // A unit's line may go on past a final `\`.
        continued = path.starts_with("/etc/systemd/") && l.ends_with('\\');
    }
    Ok(())
}

fn plain(s: &str, also: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || also.contains(c))
}

/// `NAME=value`, the value free of anything a shell would read as more
/// than one word (the file is sourced by scripts).
fn env_line(l: &str) -> bool {
    l.split_once('=')
        .is_some_and(|(k, v)| plain(k, "_") && (v.is_empty() || plain(v, "/:.,=_-@+%")))
}

/// `[Section]` or `Key=value`.
fn unit_line(l: &str) -> bool {
    (l.starts_with('[') && l.ends_with(']')) || l.split_once('=').is_some_and(|(k, _)| plain(k, ""))
}

/// `ADDRESS name...`.
fn hosts_line(l: &str) -> bool {
    let mut words = l.split_whitespace();
    words.next().is_some_and(|a| a.parse::<IpAddr>().is_ok()) && words.all(|w| plain(w, ".-_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_add_a_line_or_a_command() {
        assert!(check(
            "/etc/etcd.env",
            "# c\nETCD_NAME=etcd1\nETCD_INITIAL_CLUSTER=etcd1=https://10.0.0.1:2380\n"
        )
        .is_ok());
        for bad in [
            "ETCD_DATA_DIR=/var/lib/etcd touch /x\n",
            "ETCD_DATA_DIR=/var/lib/etcd;reboot\n",
            "ETCD_DATA_DIR=$(reboot)\n",
            "touch /x\n",
        ] {
            assert!(check("/etc/etcd.env", bad).is_err(), "{bad}");
        }
        assert!(check("/etc/hosts", "10.0.0.1 node1 node1.cluster.local\n").is_ok());
        assert!(check("/etc/hosts", "10.0.0.1 node1\n6.6.6.6 registry.corp\n").is_ok());
        assert!(check("/etc/hosts", "10.0.0.1; node1\n").is_err());
        assert!(check("/etc/hosts", "10.0.0.1 no$de1\n").is_err());
        let unit = "[Unit]\nDescription=etcd\n[Service]\nExecStart=/usr/local/bin/etcd \\\n  --a\nEnvironmentFile=-/etc/etcd.env\n";
        assert!(check("/etc/systemd/system/etcd.service", unit).is_ok());
        assert!(check(
            "/etc/systemd/system/etcd.service",
            "[Service]\nExecStartPre=/bin/true\nrm -rf /\n"
        )
        .is_err());
        assert!(check("/etc/haproxy/haproxy.cfg", "a\u{1b}[2J\n").is_err());
        assert!(check(
            "/etc/modules-load.d/kubernetes.conf",
            "br_netfilter\noverlay\n"
        )
        .is_ok());
        assert!(check(
            "/etc/sysctl.d/99-kubernetes.conf",
            "net.ipv4.ip_forward = 1\n"
        )
        .is_ok());
    }
}
