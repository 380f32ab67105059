//! The Ansible/Jinja filters the templates use, on top of minijinja's
//! built-ins (`default`, `join`, `lower`, `indent`, `tojson`, ...):
//! `bool`, `to_yaml`, `to_json`, `b64encode`, `b64decode`, `regex_replace`
//! and the `ipaddr` family for CIDR arithmetic.
//!
//! They follow Ansible's behaviour where the templates could tell the
//! difference: `bool` uses Ansible truthiness, `ipaddr` returns `false` for a
//! value that is not an address or network (as `ansible.utils.ipaddr` does).

use std::net::IpAddr;

use ipnet::IpNet;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

pub fn register(env: &mut Environment<'_>) {
    // minijinja's strict mode lets an undefined value through some built-in
    // filters (`join` of a misspelt name renders ""). These replacements
    // refuse it, so a typo is always an error naming the variable.
    env.add_filter("join", join);
    env.add_filter("tojson", to_json);
    env.add_filter("lower", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(text_of(&v).to_lowercase())
    });
    env.add_filter("upper", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(text_of(&v).to_uppercase())
    });
    env.add_filter("trim", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(text_of(&v).trim().to_string())
    });
    env.add_filter("items", items);
    env.add_filter("bool", to_bool);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_json", to_json);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("ipaddr", ipaddr);
    env.add_filter("ipv4", ipaddr);
}

/// An undefined value is an error (`UndefinedError`, so the message names
/// the variable).
fn defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(Error::from(ErrorKind::UndefinedError))
    } else {
        Ok(())
    }
}

fn join(v: Value, sep: Option<String>) -> Result<String, Error> {
    defined(&v)?;
    if let Some(s) = v.as_str() {
        // Jinja joins the characters of a string.
        return Ok(s
            .chars()
            .map(String::from)
            .collect::<Vec<_>>()
            .join(sep.as_deref().unwrap_or("")));
    }
    let parts: Vec<String> = v.try_iter()?.map(|i| text_of(&i)).collect();
    Ok(parts.join(sep.as_deref().unwrap_or("")))
}

/// `[key, value]` pairs of a map, in its order.
fn items(v: Value) -> Result<Value, Error> {
    defined(&v)?;
    if v.kind() != ValueKind::Map {
        return Err(Error::new(ErrorKind::InvalidOperation, "items: not a map"));
    }
    let mut out = Vec::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        out.push(Value::from(vec![k, val]));
    }
    Ok(Value::from(out))
}

/// Ansible's `bool`: `true`, `yes`, `on`, `1` (any case) and non-zero
/// numbers are true; everything else, `none` included, is false.
pub fn to_bool(v: Value) -> Result<bool, Error> {
    defined(&v)?;
    Ok(match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => v.as_i64().map(|n| n == 1).unwrap_or(false),
        ValueKind::String => matches!(
            v.as_str()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "yes" | "on" | "1" | "true"
        ),
        _ => false,
    })
}

fn serde_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what}: {e}"))
}

/// YAML text of a value, without the document marker or the final newline
/// (so it can be piped into `indent`).
pub fn to_yaml(v: Value) -> Result<String, Error> {
    defined(&v)?;
    let text = serde_yaml::to_string(&v).map_err(|e| serde_err("to_yaml", e))?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// Compact JSON text of a value (also `tojson`: no HTML escaping, the
/// output is YAML/JSON/TOML, never HTML).
pub fn to_json(v: Value) -> Result<String, Error> {
    defined(&v)?;
    serde_json::to_string(&v).map_err(|e| serde_err("to_json", e))
}

pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64encode(v: Value) -> Result<String, Error> {
    defined(&v)?;
    Ok(base64(text_of(&v).as_bytes()))
}

fn b64decode(v: Value) -> Result<String, Error> {
    use base64::Engine;
    defined(&v)?;
    // Ansible's b64decode takes text with line breaks and no padding too.
    let text: String = text_of(&v)
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .collect();
    let out = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| serde_err("b64decode", e))?;
    String::from_utf8(out).map_err(|e| serde_err("b64decode", e))
}

/// The value as text the way Jinja prints it (`none` is empty).
fn text_of(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else if let Some(s) = v.as_str() {
        s.to_string()
    } else {
        v.to_string()
    }
}

/// Python `re.sub(pattern, replacement, value)`: `\1` and `\g<name>` in the
/// replacement refer to groups.
fn regex_replace(v: Value, pattern: String, replacement: Option<String>) -> Result<String, Error> {
    defined(&v)?;
    let re = fancy_regex::Regex::new(&pattern)
        .map_err(|e| serde_err(&format!("regex_replace: bad pattern {pattern:?}"), e))?;
    let repl = python_replacement(&replacement.unwrap_or_default());
    Ok(re.replace_all(&text_of(&v), repl.as_str()).into_owned())
}

/// `\1` → `${1}`, `\g<n>` → `${n}`, `$` → `$$`.
fn python_replacement(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        num.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// An address with its prefix, as `ipaddr` sees a value.
struct Addr {
    ip: IpAddr,
    prefix: u8,
    /// Written with a `/prefix`.
    has_prefix: bool,
}

fn parse_addr(s: &str) -> Option<Addr> {
    let s = s.trim();
    if let Some((ip, p)) = s.split_once('/') {
        let ip: IpAddr = ip.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p.parse().ok().filter(|p| *p <= max)?;
        Some(Addr {
            ip,
            prefix,
            has_prefix: true,
        })
    } else {
        let ip: IpAddr = s.parse().ok()?;
        Some(Addr {
            ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
            has_prefix: false,
        })
    }
}

impl Addr {
    fn net(&self) -> IpNet {
        IpNet::new(self.ip, self.prefix)
            .expect("prefix checked")
            .trunc()
    }
    fn is_network(&self) -> bool {
        self.net().network() == self.ip
    }
}

fn ip_add(base: IpAddr, offset: i128) -> Option<IpAddr> {
    match base {
        IpAddr::V4(v4) => {
            let n = i128::from(u32::from(v4)) + offset;
            u32::try_from(n).ok().map(|n| IpAddr::V4(n.into()))
        }
        IpAddr::V6(v6) => {
            let n = u128::from(v6).checked_add_signed(offset)?;
            Some(IpAddr::V6(n.into()))
        }
    }
}

/// `ansible.utils.ipaddr(query)`. Queries: none (the value if it is an
/// address or network), `net`, `address`, `network`, `netmask`, `prefix`,
/// `size`, `broadcast`, `host`, and an integer N (the Nth address of the
/// network, negative from the end, written `addr/prefix`). `false` when the
/// value does not fit the query, as in Ansible.
pub fn ipaddr(v: Value, query: Option<Value>) -> Result<Value, Error> {
    defined(&v)?;
    Ok(ipaddr_of(v, query))
}

fn ipaddr_of(v: Value, query: Option<Value>) -> Value {
    let Some(a) = v.as_str().and_then(parse_addr) else {
        return Value::from(false);
    };
    let Some(q) = query else {
        return v;
    };
    if let Some(n) = q.as_i64() {
        let net = a.net();
        let size: i128 =
            1i128 << (if a.ip.is_ipv4() { 32 } else { 128 } - u32::from(a.prefix)).min(126);
        let offset = if n < 0 {
            size + i128::from(n)
        } else {
            i128::from(n)
        };
        if offset < 0 || offset >= size {
            return Value::from(false);
        }
        return match ip_add(net.network(), offset) {
            Some(ip) => Value::from(format!("{ip}/{}", a.prefix)),
            None => Value::from(false),
        };
    }
    let q = q.as_str().unwrap_or("").to_string();
    match q.as_str() {
        "net" | "subnet" => {
            // `net` only for a value that is a network; `subnet` for any.
            if q == "subnet" || (a.has_prefix && a.is_network()) {
                Value::from(a.net().to_string())
            } else {
                Value::from(false)
            }
        }
        "address" => Value::from(a.ip.to_string()),
        "network" => Value::from(a.net().network().to_string()),
        "netmask" => Value::from(a.net().netmask().to_string()),
        "prefix" => Value::from(a.prefix),
        "size" => Value::from(
            1u64 << (if a.ip.is_ipv4() { 32 } else { 64 } - u32::from(a.prefix).min(64)),
        ),
        "broadcast" => Value::from(a.net().broadcast().to_string()),
        "host" => Value::from(format!(
            "{}/{}",
            a.ip,
            if a.ip.is_ipv4() { 32 } else { 128 }
        )),
        "public" => {
            if is_private(a.ip) {
                Value::from(false)
            } else {
                v
            }
        }
        "private" => {
            if is_private(a.ip) {
                v
            } else {
                Value::from(false)
            }
        }
        _ => Value::from(false),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        register(&mut env);
        env.render_str(
            src,
            minijinja::context! { svc => "10.233.0.0/18", m => vec!["a", "b"] },
        )
        .unwrap()
    }

    #[test]
    fn ipaddr_service_addresses() {
        assert_eq!(
            render("{{ svc | ipaddr('net') | ipaddr(1) | ipaddr('address') }}"),
            "10.233.0.1"
        );
        assert_eq!(
            render("{{ svc | ipaddr('net') | ipaddr(3) | ipaddr('address') }}"),
            "10.233.0.3"
        );
        assert_eq!(render("{{ svc | ipaddr('prefix') }}"), "18");
        assert_eq!(render("{{ svc | ipaddr('netmask') }}"), "255.255.192.0");
        assert_eq!(render("{{ svc | ipaddr(-2) }}"), "10.233.63.254/18");
        assert_eq!(render("{{ '10.233.0.5/18' | ipaddr('net') }}"), "False");
        assert_eq!(render("{{ 'nonsense' | ipaddr }}"), "False");
        assert_eq!(render("{{ '10.1.2.3' | ipaddr('address') }}"), "10.1.2.3");
        assert_eq!(render("{{ 'fd00::/64' | ipaddr(1) }}"), "fd00::1/64");
    }

    #[test]
    fn ansible_filters() {
        // Booleans print the Jinja (Python) way; templates write `| string | lower`.
        assert_eq!(
            render("{{ 'yes' | bool }} {{ 'off' | bool }} {{ 1 | bool }}"),
            "True False True"
        );
        assert_eq!(render("{{ 'on' | bool | string | lower }}"), "true");
        assert_eq!(render("{{ 'AQAn' | b64encode }}"), "QVFBbg==");
        assert_eq!(render("{{ 'QVFBbg==' | b64decode }}"), "AQAn");
        assert_eq!(
            render("{{ 'a-b-c' | regex_replace('-(\\\\w)', '_\\\\1') }}"),
            "a_b_c"
        );
        assert_eq!(render("{{ m | to_json }}"), "[\"a\",\"b\"]");
        assert_eq!(render("{{ m | to_yaml }}"), "- a\n- b");
        assert_eq!(render("{{ missing | default('x') }}"), "x");
        assert_eq!(render("{{ m | join(',') }}"), "a,b");
        assert_eq!(
            render("{{ {'b': 1, 'a': 2} | items | tojson }}"),
            "[[\"a\",2],[\"b\",1]]"
        );
    }

    #[test]
    fn undefined_values_do_not_pass_through_filters() {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        register(&mut env);
        for src in [
            "{{ nope | join(',') }}",
            "{{ nope | tojson }}",
            "{{ nope | lower }}",
            "{{ nope | bool }}",
            "{{ nope | ipaddr('net') }}",
            "{{ nope | b64encode }}",
            "{{ nope | items }}",
        ] {
            let err = env.render_str(src, minijinja::context! {}).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UndefinedError, "{src}");
        }
    }

    #[test]
    fn base64_matches_known_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
