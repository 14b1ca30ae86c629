//! gRPC questions answered live: `grpc.invoke` (find the method by reflection or descriptor
//! sets, check the request against its type, call, and give the response in the protobuf JSON
//! mapping with proto field names, default values and enum names), `grpc.list`,
//! `grpc.describe` and `grpc.health`. Requests and responses are JSON values, so a recording
//! holds them as they are.

use std::path::PathBuf;
use std::time::Duration;

use prost_reflect::{DynamicMessage, MethodDescriptor, SerializeOptions};
use serde_json::Value;

use super::{Answer, Failure, GrpcOptions};
use crate::host::grpc::{self, CallOptions, GrpcError, Reply, Target};

type Runtime = tokio::runtime::Handle;

fn failure(e: GrpcError) -> Failure {
    use crate::host::Kinded;
    Failure {
        code: e.code().map(str::to_string),
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Where to call and how: the target parsed, the options the host's client takes.
fn prepare(
    target: &str,
    options: &GrpcOptions,
    timeout: Duration,
) -> Result<(Target, CallOptions), Failure> {
    let target = Target::parse(target).map_err(Failure::invalid)?;
    Ok((target, call_options(options, timeout)))
}

/// The host's call options: the question's, the timeout, and descriptor sets from
/// `$HOSTSCRIPT_DESCRIPTOR_SETS`.
fn call_options(options: &GrpcOptions, timeout: Duration) -> CallOptions {
    let mut call = CallOptions::new(timeout);
    call.metadata = options
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    call.tls = options.tls.clone();
    call.reflection = options.reflection;
    call.descriptor_sets = options.descriptor_set.iter().map(PathBuf::from).collect();
    if let Ok(env) = std::env::var("HOSTSCRIPT_DESCRIPTOR_SETS") {
        call.descriptor_sets
            .extend(env.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    call
}

pub fn invoke(
    runtime: &Runtime,
    target_text: &str,
    method: &str,
    request: &Value,
    options: &GrpcOptions,
    timeout: Duration,
) -> Answer {
    let started = std::time::Instant::now();
    let (target, options) = prepare(target_text, options, timeout)?;
    let client = grpc::client();
    let _log = CallLog {
        target: target_text.to_string(),
        method: method.to_string(),
        started,
    };
    runtime.block_on(async {
        let method = client
            .method(&target, method, &options)
            .await
            .map_err(failure)?;
        let request = to_message(&method, request)?;
        let reply = client
            .call(&target, &method, request, &options)
            .await
            .map_err(failure)?;
        Ok(match reply {
            Reply::Unary(message) => to_json(&message)?,
            Reply::Stream(messages) => Value::Array(
                messages
                    .iter()
                    .map(to_json)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        })
    })
}

pub fn list(
    runtime: &Runtime,
    target_text: &str,
    options: &GrpcOptions,
    timeout: Duration,
) -> Answer {
    let (target, options) = prepare(target_text, options, timeout)?;
    let services = runtime
        .block_on(grpc::client().list(&target, &options))
        .map_err(failure)?;
    Ok(Value::from(services))
}

pub fn describe(
    runtime: &Runtime,
    target_text: &str,
    service: &str,
    options: &GrpcOptions,
    timeout: Duration,
) -> Answer {
    let (target, options) = prepare(target_text, options, timeout)?;
    let descriptor = runtime
        .block_on(grpc::client().describe(&target, service, &options))
        .map_err(failure)?;
    let methods: Vec<Value> = descriptor
        .methods()
        .map(|m| {
            serde_json::json!({
                "name": m.name(),
                "input": m.input().full_name(),
                "output": m.output().full_name(),
                "client_streaming": m.is_client_streaming(),
                "server_streaming": m.is_server_streaming(),
            })
        })
        .collect();
    Ok(serde_json::json!({ "name": descriptor.full_name(), "methods": methods }))
}

/// The serving status name (`SERVING`, ..) from grpc.health.v1.Health/Check.
pub fn health(
    runtime: &Runtime,
    target_text: &str,
    service: &str,
    options: &GrpcOptions,
    timeout: Duration,
) -> Answer {
    // Health is a standard service: its compiled-in descriptor is always right.
    let (target, mut options) = prepare(target_text, options, timeout)?;
    options.reflection = false;
    let request = serde_json::json!({ "service": service });
    let client = grpc::client();
    let status = runtime.block_on(async {
        let method = client
            .method(&target, "grpc.health.v1.Health/Check", &options)
            .await
            .map_err(failure)?;
        let request = to_message(&method, &request)?;
        match client
            .call(&target, &method, request, &options)
            .await
            .map_err(failure)?
        {
            Reply::Unary(message) => Ok::<_, Failure>(message),
            Reply::Stream(_) => Err(Failure::invalid("Health/Check answered with a stream")),
        }
    })?;
    let value = status
        .get_field_by_name("status")
        .map(|v| v.as_enum_number().unwrap_or(0))
        .unwrap_or(0);
    let name = prost_reflect::ReflectMessage::descriptor(&status)
        .get_field_by_name("status")
        .and_then(|f| {
            f.kind()
                .as_enum()
                .and_then(|e| e.get_value(value))
                .map(|v| v.name().to_string())
        })
        .unwrap_or_else(|| value.to_string());
    Ok(Value::String(name))
}

fn to_message(method: &MethodDescriptor, request: &Value) -> Result<DynamicMessage, Failure> {
    let input = method.input();
    let empty = Value::Object(serde_json::Map::new());
    let request = if request.is_null() { &empty } else { request };
    let place = format!(
        "request for `{}/{}`",
        method.parent_service().full_name(),
        method.name()
    );
    check_message(&input, request, "").map_err(|e| Failure::invalid(format!("{place}: {e}")))?;
    DynamicMessage::deserialize(input.clone(), request).map_err(|e| {
        Failure::invalid(format!(
            "{place} does not fit `{}`: {}",
            input.full_name(),
            e.to_string().replace(" (line 0, position 0)", "")
        ))
    })
}

fn to_json(message: &DynamicMessage) -> Result<Value, Failure> {
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .skip_default_fields(false)
        .use_proto_field_name(true);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| Failure::invalid(format!("converting the response: {e}")))
}

/// A JSON value's type as a script author knows it (the Rhai names).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "()",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "f64",
        Value::Number(_) => "i64",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map",
    }
}

/// Checks a request value against a message type before conversion, so that a wrong field
/// name or type is reported with its path (`spec.kernel.image`), which the generic
/// deserializer cannot do.
fn check_message(
    desc: &prost_reflect::MessageDescriptor,
    value: &Value,
    path: &str,
) -> Result<(), String> {
    // Well-known types have JSON forms that are not maps (a Timestamp is a string).
    if desc.full_name().starts_with("google.protobuf.") {
        return Ok(());
    }
    let Some(map) = value.as_object() else {
        return Err(format!(
            "{} must be a map for `{}`, not {}",
            name_or(path, "the request"),
            desc.full_name(),
            type_name(value)
        ));
    };
    for (key, item) in map.iter() {
        let field = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key))
            .ok_or_else(|| {
                let known: Vec<String> = desc.fields().map(|f| f.name().to_string()).collect();
                format!(
                    "unknown field `{}` in `{}` (fields: {})",
                    join(path, key),
                    desc.full_name(),
                    known.join(", ")
                )
            })?;
        if item.is_null() {
            continue;
        }
        let here = join(path, field.name());
        if field.is_map() {
            let Some(entries) = item.as_object() else {
                return Err(format!(
                    "field `{here}` must be a map, not {}",
                    type_name(item)
                ));
            };
            if let prost_reflect::Kind::Message(entry) = field.kind()
                && let Some(value_field) =
                    entry.map_entry_value_field().kind().as_message().cloned()
            {
                for (k, v) in entries.iter() {
                    check_message(&value_field, v, &format!("{here}.{k}"))?;
                }
            }
        } else if field.is_list() {
            let Some(items) = item.as_array() else {
                return Err(format!(
                    "field `{here}` must be an array, not {}",
                    type_name(item)
                ));
            };
            for (i, element) in items.iter().enumerate() {
                check_scalar(&field.kind(), element, &format!("{here}[{i}]"))?;
            }
        } else {
            check_scalar(&field.kind(), item, &here)?;
        }
    }
    Ok(())
}

fn check_scalar(kind: &prost_reflect::Kind, value: &Value, path: &str) -> Result<(), String> {
    use prost_reflect::Kind;
    let got = type_name(value);
    let is_int = value.is_i64() || value.is_u64();
    let ok = match kind {
        Kind::String => value.is_string(),
        Kind::Bool => value.is_boolean(),
        Kind::Bytes => value.is_string(),
        Kind::Double | Kind::Float => value.is_number(),
        Kind::Enum(e) => {
            if let Some(name) = value.as_str() {
                return e.get_value_by_name(name).map(|_| ()).ok_or_else(|| {
                    let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                    format!(
                        "field `{path}`: `{name}` is not a value of `{}` ({})",
                        e.full_name(),
                        names.join(", ")
                    )
                });
            }
            is_int
        }
        Kind::Message(m) => return check_message(m, value, path),
        // 64-bit integers may also come as decimal strings, as in proto JSON.
        _ => is_int || value.is_string(),
    };
    if ok {
        Ok(())
    } else {
        let expected = match kind {
            Kind::String => "a string".to_string(),
            Kind::Bool => "true or false".to_string(),
            Kind::Double | Kind::Float => "a number".to_string(),
            Kind::Enum(e) => format!("a `{}` name", e.full_name()),
            _ => "an integer".to_string(),
        };
        Err(format!("field `{path}` expects {expected}, not {got}"))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn name_or(path: &str, fallback: &str) -> String {
    if path.is_empty() {
        fallback.to_string()
    } else {
        format!("field `{path}`")
    }
}

/// Logs one gRPC call with its duration when it ends (`-vv`).
struct CallLog {
    target: String,
    method: String,
    started: std::time::Instant,
}

impl Drop for CallLog {
    fn drop(&mut self) {
        tracing::debug!(
            target = %self.target,
            method = %self.method,
            ms = self.started.elapsed().as_millis() as u64,
            "grpc::invoke"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> prost_reflect::MessageDescriptor {
        grpc::client()
            .embedded()
            .get_message_by_name("microvm.services.api.v1alpha1.CreateMicroVMRequest")
            .expect("compiled in")
    }

    /// A Rhai literal as the JSON a script's request becomes.
    fn value(script: &str) -> Value {
        let dynamic = rhai::Engine::new()
            .eval::<rhai::Dynamic>(script)
            .expect("literal");
        serde_json::to_value(&dynamic).expect("json")
    }

    #[test]
    fn nested_type_errors_name_the_field_path() {
        let err = check_message(
            &spec(),
            &value(r#"#{ microvm: #{ kernel: #{ image: 5 } } }"#),
            "",
        )
        .expect_err("type");
        assert_eq!(
            err,
            "field `microvm.kernel.image` expects a string, not i64"
        );
        let err = check_message(
            &spec(),
            &value(r#"#{ microvm: #{ interfaces: [#{ type: "MACVTAPP" }] } }"#),
            "",
        )
        .expect_err("enum");
        assert!(err.starts_with("field `microvm.interfaces[0].type`: `MACVTAPP` is not a value of `flintlock.types.NetworkInterface.IfaceType`"), "{err}");
        let err = check_message(&spec(), &value(r#"#{ microvm: #{ labels: "x" } }"#), "")
            .expect_err("map");
        assert_eq!(err, "field `microvm.labels` must be a map, not string");
        let ok = check_message(
            &spec(),
            &value(
                r#"#{ microvm: #{ id: "a", vcpu: 2, memoryInMb: 512, created_at: "2026-01-01T00:00:00Z" } }"#,
            ),
            "",
        );
        assert_eq!(ok, Ok(()));
    }
}
