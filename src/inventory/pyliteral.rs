//! Python's `ast.literal_eval`, as Ansible's INI plugin applies it to every
//! variable value: `22` is an int, `True` a bool, `[1, 'a']` a list, `0644`
//! (a syntax error in Python 3) stays the string `"0644"`.
//!
//! The contract is three-way, like Ansible's `try/except`: a literal gives a
//! value; anything Python would reject with `ValueError`/`SyntaxError` is "not
//! a literal" and the caller keeps the raw text; the rare errors Ansible does
//! *not* catch (an unhashable dict key) fail the inventory.

use super::value::{py_complex_part, py_float_repr, Value};

/// Outcome of evaluating one value.
pub enum Eval {
    Literal(Value),
    NotLiteral,
}

/// Python refuses decimal literals longer than this (`sys.int_info.default_max_str_digits`).
const MAX_STR_DIGITS: usize = 4300;

pub fn literal_eval(src: &str) -> Result<Eval, String> {
    let src = src.trim_start_matches([' ', '\t']);
    let tokens = match tokenize(src) {
        Some(t) => t,
        None => return Ok(Eval::NotLiteral),
    };
    let mut p = Parser { tokens, pos: 0 };
    let node = match p.parse_top() {
        Some(n) if p.pos == p.tokens.len() => n,
        _ => return Ok(Eval::NotLiteral),
    };
    match convert(&node)? {
        Some(v) => Ok(Eval::Literal(v.into_value())),
        None => Ok(Eval::NotLiteral),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(String),
    Float(f64),
    Imag(f64),
    Str(String),
    Bytes(Vec<u8>),
    Name(String),
    Ellipsis,
    Op(char),
}

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if "([{".contains(c) {
            // Python's tokenizer refuses more than 200 nested brackets (a SyntaxError).
            depth += 1;
            if depth > 200 {
                return None;
            }
        } else if ")]}".contains(c) {
            depth = depth.saturating_sub(1);
        }
        if c == ' ' || c == '\t' || c == '\u{c}' {
            i += 1;
        } else if c == '#' {
            break;
        } else if c == '\\' && chars.get(i + 1) == Some(&'\n') {
            i += 2;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (tok, next) = number(&chars, i)?;
            out.push(tok);
            i = next;
        } else if c == '.' {
            if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                out.push(Tok::Ellipsis);
                i += 3;
            } else {
                return None;
            }
        } else if c == '\'' || c == '"' {
            let (tok, next) = string(&chars, i, "")?;
            out.push(tok);
            i = next;
        } else if c == '_' || c.is_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_alphanumeric()) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') && is_string_prefix(&word) {
                let (tok, next) = string(&chars, i, &word.to_ascii_lowercase())?;
                out.push(tok);
                i = next;
            } else {
                out.push(Tok::Name(word));
            }
        } else if "()[]{},:+-".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            // Any other operator or character: never part of a literal.
            return None;
        }
    }
    Some(out)
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf"
    )
}

fn digits_with_underscores(chars: &[char], mut i: usize, radix: u32) -> Option<(String, usize)> {
    let mut out = String::new();
    if i >= chars.len() || !chars[i].is_digit(radix) {
        return None;
    }
    while i < chars.len() {
        if chars[i].is_digit(radix) {
            out.push(chars[i]);
            i += 1;
        } else if chars[i] == '_' && chars.get(i + 1).is_some_and(|d| d.is_digit(radix)) {
            i += 1;
        } else {
            break;
        }
    }
    Some((out, i))
}

fn number(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let c = chars[start];
    let next = chars.get(start + 1).map(|c| c.to_ascii_lowercase());
    if c == '0' && matches!(next, Some('x') | Some('o') | Some('b')) {
        let radix = match next {
            Some('x') => 16,
            Some('o') => 8,
            _ => 2,
        };
        let mut i = start + 2;
        if chars.get(i) == Some(&'_') {
            i += 1;
        }
        let (digits, end) = digits_with_underscores(chars, i, radix)?;
        if ends_in_word(chars, end) {
            return None;
        }
        return Some((Tok::Int(to_decimal(&digits, radix)), end));
    }
    let mut i = start;
    let mut int_part = String::new();
    if c != '.' {
        let (d, end) = digits_with_underscores(chars, i, 10)?;
        int_part = d;
        i = end;
    }
    let mut is_float = false;
    let mut text = int_part.clone();
    if chars.get(i) == Some(&'.') {
        is_float = true;
        text.push('.');
        i += 1;
        if chars.get(i).is_some_and(|d| d.is_ascii_digit()) {
            let (d, end) = digits_with_underscores(chars, i, 10)?;
            text.push_str(&d);
            i = end;
        }
    }
    if matches!(chars.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        let mut exp = String::from("e");
        if matches!(chars.get(j), Some('+') | Some('-')) {
            exp.push(chars[j]);
            j += 1;
        }
        let (d, end) = digits_with_underscores(chars, j, 10)?;
        exp.push_str(&d);
        text.push_str(&exp);
        i = end;
        is_float = true;
    }
    if matches!(chars.get(i), Some('j') | Some('J')) {
        if ends_in_word(chars, i + 1) {
            return None;
        }
        let f: f64 = text.parse().ok()?;
        return Some((Tok::Imag(f), i + 1));
    }
    if ends_in_word(chars, i) {
        return None;
    }
    if is_float {
        let f: f64 = text.parse().ok()?;
        return Some((Tok::Float(f), i));
    }
    // Decimal ints: no leading zeros except for zero itself.
    let trimmed = int_part.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some((Tok::Int("0".into()), i));
    }
    if int_part.starts_with('0') || trimmed.len() > MAX_STR_DIGITS {
        return None;
    }
    Some((Tok::Int(trimmed.to_string()), i))
}

/// `1abc` and `0x1g` are syntax errors in Python.
fn ends_in_word(chars: &[char], i: usize) -> bool {
    chars
        .get(i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
}

/// Arbitrary-precision conversion of digits in `radix` to decimal text.
fn to_decimal(digits: &str, radix: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0]; // little-endian, base 1e9
    for c in digits.chars() {
        let mut carry = c.to_digit(radix).unwrap_or(0) as u64;
        for limb in limbs.iter_mut() {
            let v = *limb * radix as u64 + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = limbs.last().map(|l| l.to_string()).unwrap_or_default();
    for limb in limbs.iter().rev().skip(1) {
        out.push_str(&format!("{:09}", limb));
    }
    out
}

fn string(chars: &[char], start: usize, prefix: &str) -> Option<(Tok, usize)> {
    if prefix.contains('f') {
        return None; // f-strings are JoinedStr, never a literal
    }
    let raw = prefix.contains('r');
    let bytes = prefix.contains('b');
    let q = chars[start];
    let triple = chars.get(start + 1) == Some(&q) && chars.get(start + 2) == Some(&q);
    let mut i = start + if triple { 3 } else { 1 };
    let mut body = String::new();
    loop {
        let c = *chars.get(i)?;
        if triple {
            if c == q && chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q) {
                i += 3;
                break;
            }
        } else if c == q {
            i += 1;
            break;
        } else if c == '\n' {
            return None;
        }
        if c == '\\' {
            let n = *chars.get(i + 1)?;
            body.push('\\');
            body.push(n);
            i += 2;
            continue;
        }
        body.push(c);
        i += 1;
    }
    if bytes && !body.is_ascii() {
        return None;
    }
    if raw {
        return Some((
            if bytes {
                Tok::Bytes(body.into_bytes())
            } else {
                Tok::Str(body)
            },
            i,
        ));
    }
    let decoded = unescape(&body, bytes)?;
    Some((
        if bytes {
            Tok::Bytes(decoded.into_iter().map(|c| c as u8).collect())
        } else {
            Tok::Str(decoded.into_iter().collect())
        },
        i,
    ))
}

/// Python escape sequences. Returns chars (for bytes, each is one byte value).
fn unescape(body: &str, bytes: bool) -> Option<Vec<char>> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        i += 2;
        match n {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(n),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut v = n.to_digit(8)?;
                let mut k = 0;
                while k < 2 && i < chars.len() && chars[i].is_digit(8) {
                    v = v * 8 + chars[i].to_digit(8)?;
                    i += 1;
                    k += 1;
                }
                if bytes && v > 0xff {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            'x' => {
                let v = hex_escape(&chars, &mut i, 2)?;
                out.push(char::from_u32(v)?);
            }
            'u' if !bytes => {
                let v = hex_escape(&chars, &mut i, 4)?;
                out.push(char::from_u32(v)?); // lone surrogates cannot be held: not a literal
            }
            'U' if !bytes => {
                let v = hex_escape(&chars, &mut i, 8)?;
                out.push(char::from_u32(v)?);
            }
            'N' if !bytes => return None, // \N{NAME} needs the Unicode name table
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

fn hex_escape(chars: &[char], i: &mut usize, len: usize) -> Option<u32> {
    let s: String = chars.get(*i..*i + len)?.iter().collect();
    if !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    *i += len;
    u32::from_str_radix(&s, 16).ok()
}

#[derive(Debug, Clone)]
enum Node {
    Const(Tok),
    SetCall,
    Unary(bool, Box<Node>),
    Bin(bool, Box<Node>, Box<Node>),
    List(Vec<Node>),
    Tuple(Vec<Node>),
    Set(Vec<Node>),
    Dict(Vec<(Node, Node)>),
    Other,
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Op(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// eval-mode input: an expression, or a bare tuple `1, 2`.
    fn parse_top(&mut self) -> Option<Node> {
        let first = self.parse_expr()?;
        if !self.eat(',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.pos < self.tokens.len() {
            items.push(self.parse_expr()?);
            if !self.eat(',') {
                break;
            }
        }
        Some(Node::Tuple(items))
    }

    fn parse_expr(&mut self) -> Option<Node> {
        let mut left = self.parse_unary()?;
        loop {
            let sub = if self.eat('+') {
                false
            } else if self.eat('-') {
                true
            } else {
                return Some(left);
            };
            let right = self.parse_unary()?;
            left = Node::Bin(sub, Box::new(left), Box::new(right));
        }
    }

    fn parse_unary(&mut self) -> Option<Node> {
        if self.eat('-') {
            return Some(Node::Unary(true, Box::new(self.parse_unary()?)));
        }
        if self.eat('+') {
            return Some(Node::Unary(false, Box::new(self.parse_unary()?)));
        }
        self.parse_atom()
    }

    fn parse_atom(&mut self) -> Option<Node> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        match tok {
            Tok::Str(s) => self.concat_strings(Tok::Str(s)),
            Tok::Bytes(b) => self.concat_strings(Tok::Bytes(b)),
            Tok::Int(_) | Tok::Float(_) | Tok::Imag(_) | Tok::Ellipsis => Some(Node::Const(tok)),
            Tok::Name(n) if n == "set" && self.eat('(') => {
                if self.eat(')') {
                    Some(Node::SetCall)
                } else {
                    Some(Node::Other)
                }
            }
            Tok::Name(n) => match n.as_str() {
                "True" | "False" | "None" => Some(Node::Const(Tok::Name(n))),
                _ => Some(Node::Other),
            },
            Tok::Op('(') => {
                if self.eat(')') {
                    return Some(Node::Tuple(vec![]));
                }
                let first = self.parse_expr()?;
                if self.eat(')') {
                    return Some(first); // parentheses only group
                }
                let items = self.sequence_rest(first, ')')?;
                Some(Node::Tuple(items))
            }
            Tok::Op('[') => {
                if self.eat(']') {
                    return Some(Node::List(vec![]));
                }
                let first = self.parse_expr()?;
                Some(Node::List(self.sequence_rest(first, ']')?))
            }
            Tok::Op('{') => {
                if self.eat('}') {
                    return Some(Node::Dict(vec![]));
                }
                let first = self.parse_expr()?;
                if self.eat(':') {
                    let value = self.parse_expr()?;
                    let mut pairs = vec![(first, value)];
                    while self.eat(',') {
                        if self.eat('}') {
                            return Some(Node::Dict(pairs));
                        }
                        let k = self.parse_expr()?;
                        if !self.eat(':') {
                            return None;
                        }
                        pairs.push((k, self.parse_expr()?));
                    }
                    if self.eat('}') {
                        Some(Node::Dict(pairs))
                    } else {
                        None
                    }
                } else {
                    Some(Node::Set(self.sequence_rest(first, '}')?))
                }
            }
            _ => None,
        }
    }

    /// After the first element of a bracketed display: `, x, y,] `.
    fn sequence_rest(&mut self, first: Node, close: char) -> Option<Vec<Node>> {
        let mut items = vec![first];
        loop {
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(',') {
                return None;
            }
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.parse_expr()?);
        }
    }

    /// Adjacent string literals concatenate; mixing bytes and str is a syntax error.
    fn concat_strings(&mut self, first: Tok) -> Option<Node> {
        let mut acc = first;
        loop {
            match (&mut acc, self.peek().cloned()) {
                (Tok::Str(a), Some(Tok::Str(b))) => a.push_str(&b),
                (Tok::Bytes(a), Some(Tok::Bytes(b))) => a.extend(b),
                (_, Some(Tok::Str(_))) | (_, Some(Tok::Bytes(_))) => return None,
                _ => return Some(Node::Const(acc)),
            }
            self.pos += 1;
        }
    }
}

/// Intermediate numbers keep their Python type for literal_eval's rules.
#[derive(Debug, Clone)]
enum Lit {
    Value(Value),
    Complex(f64, f64),
}

impl Lit {
    fn into_value(self) -> Value {
        match self {
            Lit::Value(v) => v,
            Lit::Complex(re, im) => Value::Str(complex_repr(re, im)),
        }
    }
}

fn complex_repr(re: f64, im: f64) -> String {
    if re == 0.0 && !re.is_sign_negative() {
        format!("{}j", py_complex_part(im))
    } else {
        let im_text = py_complex_part(im);
        let sign = if im_text.starts_with('-') { "" } else { "+" };
        format!("({}{}{}j)", py_complex_part(re), sign, im_text)
    }
}

fn const_value(tok: &Tok) -> Lit {
    Lit::Value(match tok {
        Tok::Int(i) => Value::Int(i.clone()),
        Tok::Float(f) => Value::Float(*f),
        Tok::Imag(f) => return Lit::Complex(0.0, *f),
        Tok::Str(s) => Value::Str(s.clone()),
        Tok::Bytes(b) => Value::Unsafe(String::from_utf8_lossy(b).into_owned()),
        Tok::Name(n) if n == "True" => Value::Bool(true),
        Tok::Name(n) if n == "False" => Value::Bool(false),
        Tok::Ellipsis => Value::Str("...".into()),
        _ => Value::None,
    })
}

fn is_number(tok: &Tok) -> bool {
    matches!(tok, Tok::Int(_) | Tok::Float(_) | Tok::Imag(_))
}

/// `ast.literal_eval._convert`. `Ok(None)` is a ValueError (not a literal).
fn convert(node: &Node) -> Result<Option<Lit>, String> {
    Ok(match node {
        Node::Const(tok) => Some(const_value(tok)),
        Node::List(items) | Node::Tuple(items) => {
            convert_all(items)?.map(|v| Lit::Value(Value::List(v)))
        }
        // Python builds sets and dicts one member at a time, so an unhashable
        // member fails (TypeError, which Ansible does not catch) before a later
        // malformed one would make the whole value plain text.
        Node::Set(items) => {
            let mut members = Vec::new();
            for item in items {
                let Some(lit) = convert(item)? else {
                    return Ok(None);
                };
                hashable(item)?;
                members.push(lit);
            }
            Some(Lit::Value(Value::List(py_set(members))))
        }
        Node::SetCall => Some(Lit::Value(Value::List(vec![]))),
        Node::Dict(pairs) => {
            let mut out: Vec<(Lit, Value)> = Vec::new();
            for (k, v) in pairs {
                let Some(key) = convert(k)? else {
                    return Ok(None);
                };
                let Some(value) = convert(v)? else {
                    return Ok(None);
                };
                hashable(k)?;
                // `{1: 'a', 1.0: 'b', True: 'c'}` is `{1: 'c'}`: equal keys keep
                // the first key and the last value.
                match out.iter_mut().find(|(seen, _)| py_eq(seen, &key)) {
                    Some(slot) => slot.1 = value.into_value(),
                    None => out.push((key, value.into_value())),
                }
            }
            Some(Lit::Value(Value::Dict(
                out.into_iter().map(|(k, v)| (k.into_value(), v)).collect(),
            )))
        }
        Node::Bin(sub, left, right) => {
            let Some(l) = signed_num(left) else {
                return Ok(None);
            };
            let Some(Lit::Complex(_, im)) = num(right) else {
                return Ok(None);
            };
            let re = match l {
                Lit::Value(Value::Int(i)) => i.parse::<f64>().unwrap_or(f64::INFINITY),
                Lit::Value(Value::Float(f)) => f,
                _ => return Ok(None),
            };
            let (re, im) = if *sub {
                (re - 0.0, 0.0 - im)
            } else {
                (re + 0.0, 0.0 + im)
            };
            Some(Lit::Complex(re, im))
        }
        other => signed_num(other),
    })
}

fn convert_all(items: &[Node]) -> Result<Option<Vec<Value>>, String> {
    let mut out = Vec::new();
    for item in items {
        match convert(item)? {
            Some(v) => out.push(v.into_value()),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Python's `hash()` refuses lists, dicts and sets, and tuples holding one.
fn hashable(node: &Node) -> Result<(), String> {
    match node {
        Node::List(_) => Err("unhashable type: 'list'".into()),
        Node::Dict(_) => Err("unhashable type: 'dict'".into()),
        Node::Set(_) | Node::SetCall => Err("unhashable type: 'set'".into()),
        Node::Tuple(items) => items.iter().try_for_each(hashable),
        _ => Ok(()),
    }
}

/// A number as Python compares and hashes it: bools are the ints 0 and 1.
enum PyNum {
    Int(String),
    Float(f64),
    Complex(f64, f64),
}

impl PyNum {
    fn of(lit: &Lit) -> Option<PyNum> {
        Some(match lit {
            Lit::Value(Value::Int(i)) => PyNum::Int(i.clone()),
            Lit::Value(Value::Bool(b)) => PyNum::Int(if *b { "1" } else { "0" }.into()),
            Lit::Value(Value::Float(f)) => PyNum::Float(*f),
            Lit::Complex(re, im) => PyNum::Complex(*re, *im),
            Lit::Value(_) => return None,
        })
    }

    /// Real and imaginary parts, the real part exact when it is an int.
    fn parts(&self) -> (Result<&str, f64>, f64) {
        match self {
            PyNum::Int(i) => (Ok(i), 0.0),
            PyNum::Float(f) => (Err(*f), 0.0),
            PyNum::Complex(re, im) => (Err(*re), *im),
        }
    }

    fn eq(&self, other: &PyNum) -> bool {
        let ((a, ai), (b, bi)) = (self.parts(), other.parts());
        ai == bi
            && match (a, b) {
                (Ok(x), Ok(y)) => x == y,
                (Err(x), Err(y)) => x == y,
                (Ok(i), Err(f)) | (Err(f), Ok(i)) => float_is_int(f, i),
            }
    }

    /// CPython's `hash()` for numbers (deterministic, unlike str hashes).
    fn hash(&self) -> i64 {
        let h = match self {
            PyNum::Int(i) => hash_int(i),
            PyNum::Float(f) => hash_float(*f),
            PyNum::Complex(re, im) => (hash_float(*re) as u64)
                .wrapping_add(1_000_003u64.wrapping_mul(hash_float(*im) as u64))
                as i64,
        };
        if h == -1 {
            -2
        } else {
            h
        }
    }
}

/// `float == int` in Python compares exactly, not through a rounded float.
fn float_is_int(f: f64, int: &str) -> bool {
    f.is_finite()
        && f.fract() == 0.0
        && if f == 0.0 {
            int == "0"
        } else {
            format!("{f:.0}") == int
        }
}

/// Python's `==` for two literal values (used where Python dedups: dict keys, set members).
fn py_eq(a: &Lit, b: &Lit) -> bool {
    match (PyNum::of(a), PyNum::of(b)) {
        (Some(x), Some(y)) => x.eq(&y),
        (None, None) => a.clone().into_value() == b.clone().into_value(),
        _ => false,
    }
}

/// `sys.hash_info.modulus`.
const HASH_MODULUS: u64 = (1 << 61) - 1;

fn hash_int(text: &str) -> i64 {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let mut r: u128 = 0;
    for d in digits.bytes() {
        r = (r * 10 + u128::from(d - b'0')) % u128::from(HASH_MODULUS);
    }
    let r = r as i64;
    let h = if neg { -r } else { r };
    if h == -1 {
        -2
    } else {
        h
    }
}

/// CPython's `_Py_HashDouble`.
fn hash_float(v: f64) -> i64 {
    if v.is_infinite() {
        return if v > 0.0 { 314_159 } else { -314_159 };
    }
    if v.is_nan() {
        return 0; // never produced by a literal
    }
    let (mut m, mut e) = frexp(v);
    let mut sign: i64 = 1;
    if m < 0.0 {
        sign = -1;
        m = -m;
    }
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & HASH_MODULUS) | (x >> (61 - 28));
        m *= 268_435_456.0;
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= HASH_MODULUS {
            x -= HASH_MODULUS;
        }
    }
    let e = if e >= 0 {
        e % 61
    } else {
        61 - 1 - ((-1 - e) % 61)
    } as u32;
    x = ((x << e) & HASH_MODULUS) | (x >> (61 - e));
    let h = x.wrapping_mul(sign as u64) as i64;
    if h == -1 {
        -2
    } else {
        h
    }
}

/// C's `frexp`: `v = m * 2^e` with `0.5 <= |m| < 1`.
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        let (m, e) = frexp(v * 2f64.powi(54)); // subnormal: scale into the normal range
        return (m, e - 54);
    }
    (
        f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52)),
        exp - 1022,
    )
}

/// `set(members)` in CPython 3.11's iteration order, for sets of numbers
/// (whose hashes, unlike those of strings, are the same in every run): the
/// open-addressing table is replayed, first equal member kept. Other sets keep
/// the members' order, which Python's own output does not fix anyway.
fn py_set(members: Vec<Lit>) -> Vec<Value> {
    const LINEAR_PROBES: u64 = 9;
    const PERTURB_SHIFT: u32 = 5;
    let nums: Option<Vec<PyNum>> = members.iter().map(PyNum::of).collect();
    let Some(nums) = nums else {
        let mut uniq: Vec<Lit> = Vec::new();
        for m in members {
            if !uniq.iter().any(|u| py_eq(u, &m)) {
                uniq.push(m);
            }
        }
        return uniq.into_iter().map(Lit::into_value).collect();
    };
    // Slots hold (hash, index into members).
    let mut table: Vec<Option<(i64, usize)>> = vec![None; 8];
    let mut used = 0usize;
    fn insert_clean(table: &mut [Option<(i64, usize)>], hash: i64, idx: usize) {
        let mask = table.len() as u64 - 1;
        let mut perturb = hash as u64;
        let mut i = perturb & mask;
        loop {
            if i + LINEAR_PROBES <= mask {
                for j in i..=i + LINEAR_PROBES {
                    if table[j as usize].is_none() {
                        table[j as usize] = Some((hash, idx));
                        return;
                    }
                }
            } else if table[i as usize].is_none() {
                table[i as usize] = Some((hash, idx));
                return;
            }
            perturb >>= PERTURB_SHIFT;
            i = (i * 5 + 1 + perturb) & mask;
        }
    }
    'members: for (idx, num) in nums.iter().enumerate() {
        let hash = num.hash();
        let mask = table.len() as u64 - 1;
        let mut perturb = hash as u64;
        let mut i = perturb & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in i..=i + probes {
                match table[j as usize] {
                    Some((h, other)) => {
                        if h == hash && nums[other].eq(num) {
                            continue 'members;
                        }
                    }
                    None => {
                        table[j as usize] = Some((hash, idx));
                        used += 1; // no deletions, so fill == used
                        if used as u64 * 5 >= mask * 3 {
                            let minused = if used > 50_000 { used * 2 } else { used * 4 };
                            let mut size = 8;
                            while size <= minused {
                                size <<= 1;
                            }
                            let old = std::mem::replace(&mut table, vec![None; size]);
                            for (h, k) in old.into_iter().flatten() {
                                insert_clean(&mut table, h, k);
                            }
                        }
                        continue 'members;
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i * 5 + 1 + perturb) & mask;
        }
    }
    let mut members: Vec<Option<Lit>> = members.into_iter().map(Some).collect();
    table
        .into_iter()
        .flatten()
        .filter_map(|(_, idx)| members[idx].take())
        .map(Lit::into_value)
        .collect()
}

fn num(node: &Node) -> Option<Lit> {
    match node {
        Node::Const(tok) if is_number(tok) => Some(const_value(tok)),
        _ => None,
    }
}

fn signed_num(node: &Node) -> Option<Lit> {
    match node {
        Node::Unary(neg, operand) => {
            let v = num(operand)?;
            if !neg {
                return Some(v);
            }
            Some(match v {
                Lit::Value(Value::Int(i)) => Lit::Value(Value::Int(negate_int(&i))),
                Lit::Value(Value::Float(f)) => Lit::Value(Value::Float(-f)),
                Lit::Complex(re, im) => Lit::Complex(-re, -im),
                other => other,
            })
        }
        other => num(other),
    }
}

fn negate_int(i: &str) -> String {
    if i == "0" {
        i.to_string()
    } else if let Some(pos) = i.strip_prefix('-') {
        pos.to_string()
    } else {
        format!("-{}", i)
    }
}

/// For diagnostics: the Python repr of a float as it would print.
pub fn float_text(f: f64) -> String {
    py_float_repr(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> Option<Value> {
        match literal_eval(s).unwrap() {
            Eval::Literal(v) => Some(v),
            Eval::NotLiteral => None,
        }
    }

    fn json(s: &str) -> String {
        let mut out = String::new();
        eval(s).expect(s).write_json(&mut out, None, 0);
        out
    }

    #[test]
    fn ints_in_every_base_and_size() {
        assert_eq!(json("22"), "22");
        assert_eq!(json("0x1F"), "31");
        assert_eq!(json("0o17"), "15");
        assert_eq!(json("0b101"), "5");
        assert_eq!(json("1_000"), "1000");
        assert_eq!(json("-5"), "-5");
        assert_eq!(json("00"), "0");
        assert_eq!(
            json("0xFFFFFFFFFFFFFFFFFFFFFFFF"),
            "79228162514264337593543950335"
        );
        assert_eq!(
            json("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn not_literals_stay_text() {
        for s in [
            "0644",
            "yes",
            "true",
            "a#b",
            "1.2.3",
            "192.168.0.1",
            "--1",
            "-True",
            "1abc",
            "f'x'",
            "",
            "x=1",
            "{{ a }}",
            "1+2",
            "P@ss",
        ] {
            assert!(eval(s).is_none(), "{s:?} should not be a literal");
        }
    }

    #[test]
    fn floats_strings_and_containers() {
        assert_eq!(json("1.5"), "1.5");
        assert_eq!(json("1e3"), "1000.0");
        assert_eq!(json(".5"), "0.5");
        assert_eq!(json("'a b'"), "\"a b\"");
        assert_eq!(json("'a' \"b\""), "\"ab\"");
        assert_eq!(json(r#"'\x41\n'"#), "\"A\\n\"");
        assert_eq!(json(r#"r'\n'"#), "\"\\\\n\"");
        assert_eq!(json("b'abc'"), "{\"__ansible_unsafe\": \"abc\"}");
        assert_eq!(json("[1, 'a', None, True]"), "[1, \"a\", null, true]");
        assert_eq!(json("(1,)"), "[1]");
        assert_eq!(json("1, 2"), "[1, 2]");
        assert_eq!(json("{'b': 1, 'a': [2]}"), "{\"a\": [2], \"b\": 1}");
        assert_eq!(json("set()"), "[]");
        assert_eq!(json("..."), "\"...\"");
        assert_eq!(json("3j"), "\"3j\"");
        assert_eq!(json("1+2j"), "\"(1+2j)\"");
        assert_eq!(json("-3j"), "\"(-0-3j)\"");
        assert_eq!(json("  7  # comment"), "7");
    }

    #[test]
    fn unhashable_keys_fail_the_inventory() {
        assert!(literal_eval("{[1]: 2}").is_err());
        assert!(literal_eval("{1, [2]}").is_err());
        assert!(literal_eval("{(1, [2]): 3}").is_err());
        // Python meets the unhashable key before the malformed value after it.
        assert!(literal_eval("{[1]: 2, 3: x}").is_err());
        // Tuples of hashables are fine keys and members.
        assert!(eval("{(1, 2): 3}").is_some());
        assert!(eval("{(1, 2), (3, 4)}").is_some());
    }

    #[test]
    fn equal_keys_merge_as_in_python() {
        assert_eq!(
            json("{1: 'a', 1.0: 'b', True: 'c', 2: 'd'}"),
            "{\"1\": \"c\", \"2\": \"d\"}"
        );
        // Same JSON text, different Python keys: the later one wins.
        assert_eq!(json("{1: 'int', '1': 'str'}"), "{\"1\": \"str\"}");
        // Keys sort as their JSON text.
        assert_eq!(
            json("{10: 'a', 9: 'b', None: 'c'}"),
            "{\"10\": \"a\", \"9\": \"b\", \"null\": \"c\"}"
        );
        assert!(!float_is_int(9007199254740992.0, "9007199254740993"));
        assert!(float_is_int(-0.0, "0"));
    }

    #[test]
    fn sets_of_numbers_follow_cpython_order() {
        // Checked against CPython 3.11: list(ast.literal_eval("{...}")).
        assert_eq!(json("{3, 1, 2}"), "[1, 2, 3]");
        assert_eq!(json("{1, 1.0, True, 2}"), "[1, 2]");
        assert_eq!(json("{-1, -2, 5, -100}"), "[-100, 5, -1, -2]");
        assert_eq!(json("{8, 16, 0}"), "[8, 16, 0]");
        assert_eq!(json("{0.5, 1e400, 7}"), "[0.5, 7, Infinity]");
        let grow: Vec<String> = (0..=20).rev().map(|i| i.to_string()).collect();
        let want: Vec<String> = (0..=20).map(|i| i.to_string()).collect();
        assert_eq!(
            json(&format!("{{{}}}", grow.join(", "))),
            format!("[{}]", want.join(", "))
        );
    }

    #[test]
    fn number_hashes_match_cpython() {
        assert_eq!(PyNum::Int("-1".into()).hash(), -2);
        assert_eq!(PyNum::Int("2305843009213693951".into()).hash(), 0);
        assert_eq!(
            PyNum::Int("-123456789012345678901234567890".into()).hash(),
            -248789772095949448
        );
        assert_eq!(PyNum::Float(0.5).hash(), 1152921504606846976);
        assert_eq!(PyNum::Float(-2.25).hash(), -576460752303423490);
        assert_eq!(PyNum::Float(1e-300).hash(), 482449582752280463);
        assert_eq!(PyNum::Float(5e-324).hash(), 16777216);
        assert_eq!(PyNum::Float(3.0).hash(), 3);
        assert_eq!(PyNum::Complex(3.0, 4.0).hash(), 4000015);
        assert_eq!(PyNum::Complex(-0.0, -1.0).hash(), -2000006);
    }
}
