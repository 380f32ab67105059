//! The legacy install.sh's own rewrite of hosts.ini, reproduced because users'
//! files depend on it: on a non-root line whose fifth field is
//! `ansible_become_pass=...`, the sudo password is appended as the SSH password.
//! It is a text rule (the original used grep/awk/sed), so it is applied to the
//! text before the inventory is parsed, with the original's exact conditions.

/// Returns the rewritten text and the 1-based numbers of the lines changed.
pub fn copy_become_password(text: &str) -> (String, Vec<usize>) {
    let mut changed = Vec::new();
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, ending) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        let applies =
            body.contains("ansible_user") && !body.contains('#') && !body.contains("root");
        let value = body
            .split_whitespace()
            .nth(4)
            .and_then(|f| f.strip_prefix("ansible_become_pass="));
        match value {
            Some(v) if applies => {
                out.push_str(body);
                out.push_str("  ansible_ssh_pass=");
                out.push_str(v);
                out.push_str(ending);
                changed.push(i + 1);
            }
            _ => out.push_str(line),
        }
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_only_on_the_documented_layout() {
        let text = "[all]\n\
            node1  ansible_host=192.168.0.2  ip=192.168.0.2  ansible_user=ubuntu  ansible_become_pass=Qcloud@123\n\
            node2  ansible_host=192.168.0.3  ansible_user=ubuntu  ip=192.168.0.3  x=1  ansible_become_pass=x\n\
            node3  ansible_host=192.168.0.4  ip=192.168.0.4  ansible_user=root  ansible_become_pass=y\n\
            # node4  ansible_host=192.168.0.5  ip=192.168.0.5  ansible_user=ubuntu  ansible_become_pass=z\n";
        let (out, changed) = copy_become_password(text);
        assert_eq!(changed, [2]);
        assert!(out
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("ansible_become_pass=Qcloud@123  ansible_ssh_pass=Qcloud@123"));
        assert_eq!(out.lines().nth(2), text.lines().nth(2));
    }
}
