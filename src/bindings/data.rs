//! `toml::parse(text)`, `json::parse(text)` and `yaml::parse(text)`: config text to Rhai maps
//! and arrays. A parse error names the line and column inside the text. `base64::encode(text)`:
//! what basic-auth headers carry (flintlock compares the base64 of its token).

use crate::bindings::Documented;
use rhai::{Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::{error_at, toml_to_dynamic};

pub fn toml_module() -> Module {
    let mut m = Module::new();
    m.set_documented_fn(
        "toml",
        "parse",
        |ctx: NativeCallContext, text: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let table: toml::Table = toml::from_str(text).map_err(|e| {
                let (line, column) = e
                    .span()
                    .map(|s| crate::vars::line_and_column(text, s.start))
                    .unwrap_or((1, 1));
                error_at(
                    &ctx,
                    format!(
                        "invalid TOML at line {line}, column {column}: {}",
                        e.message().trim()
                    ),
                )
            })?;
            Ok(toml_to_dynamic(&toml::Value::Table(table)))
        },
    );
    m
}

pub fn json_module() -> Module {
    let mut m = Module::new();
    m.set_documented_fn(
        "json",
        "parse",
        |ctx: NativeCallContext, text: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                error_at(
                    &ctx,
                    format!(
                        "invalid JSON at line {}, column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            Ok(json_to_dynamic(&value))
        },
    );
    m
}

pub fn yaml_module() -> Module {
    let mut m = Module::new();
    m.set_documented_fn(
        "yaml",
        "parse",
        |ctx: NativeCallContext, text: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            // Through serde_json's value model: YAML's extra types (tags, non-string keys)
            // are not what config files like flintlockd's use.
            let value: serde_json::Value = serde_yaml_ng::from_str(text).map_err(|e| {
                let place = e
                    .location()
                    .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                    .unwrap_or_default();
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                error_at(&ctx, format!("invalid YAML{place}: {message}"))
            })?;
            Ok(json_to_dynamic(&value))
        },
    );
    m
}

pub(crate) fn json_to_dynamic(value: &serde_json::Value) -> Dynamic {
    match value {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().map_or(Dynamic::UNIT, Into::into),
        },
        serde_json::Value::String(s) => s.clone().into(),
        serde_json::Value::Array(items) => {
            Dynamic::from_array(items.iter().map(json_to_dynamic).collect())
        }
        serde_json::Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect(),
        ),
    }
}

pub fn base64_module() -> Module {
    let mut m = Module::new();
    m.set_documented_fn("base64", "encode", |text: &str| Ok(base64(text.as_bytes())));
    m
}

/// Standard base64 with padding (RFC 4648, Go's base64.StdEncoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_is_rfc_4648_with_padding() {
        // RFC 4648 section 10 test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded, "{plain}");
        }
    }
}
