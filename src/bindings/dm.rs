//! `dm::` — device-mapper state: `list()`, `exists(name)`, `targets()`, `status(name)`,
//! `table(name)` and `info(name)`, each also taking `#{ dmsetup: "/path/to/dmsetup", timeout: seconds }`.
//! The dmsetup program defaults to `$HOSTSCRIPT_DMSETUP`, else `dmsetup` on PATH.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "dm";

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{HostError, Options, error_at, map, opt};
use crate::budget;
use crate::host::dm::{self, Parsed, PoolHealth, Segment, Verb};
use crate::probe::{self, How, Question};

type Runtime = tokio::runtime::Handle;

/// How a script asked: which dmsetup (only when it named one), how long, and whether afresh.
struct Asking {
    dmsetup: Option<String>,
    how: How,
}

impl Asking {
    /// dmsetup's output for `verb` on `name`, through the seam.
    fn output(&self, rt: &Runtime, verb: Verb, name: &str) -> Result<String, HostError> {
        let (dmsetup, name) = (self.dmsetup.clone(), name.to_string());
        let question = match verb {
            Verb::Ls => Question::DmLs { dmsetup },
            Verb::Targets => Question::DmTargets { dmsetup },
            Verb::Status => Question::DmStatus { name, dmsetup },
            Verb::Table => Question::DmTable { name, dmsetup },
            Verb::Info => Question::DmInfo { name, dmsetup },
        };
        probe::ask(rt, question, self.how).map_err(|e| HostError::of(&e))
    }
}

fn host(e: dm::DmError) -> HostError {
    HostError::of(&e)
}

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    register(&mut m, &runtime, "list", |rt, asking, _| {
        let devices = dm::list_from(&asking.output(rt, Verb::Ls, "")?).map_err(host)?;
        Ok(devices
            .into_iter()
            .map(|d| {
                Dynamic::from_map(map([
                    ("name", d.name.into()),
                    ("major", int(d.major)),
                    ("minor", int(d.minor)),
                ]))
            })
            .collect::<Array>()
            .into())
    });
    register(&mut m, &runtime, "targets", |rt, asking, _| {
        let targets = dm::targets_from(&asking.output(rt, Verb::Targets, "")?).map_err(host)?;
        Ok(targets
            .into_iter()
            .map(|t| {
                Dynamic::from_map(map([
                    ("name", t.name.into()),
                    ("version", t.version.into()),
                ]))
            })
            .collect::<Array>()
            .into())
    });
    register_named(&mut m, &runtime, "exists", |rt, asking, name| {
        let devices = dm::list_from(&asking.output(rt, Verb::Ls, "")?).map_err(host)?;
        Ok(devices.iter().any(|d| d.name == name).into())
    });
    register_named(&mut m, &runtime, "status", |rt, asking, name| {
        let text = asking.output(rt, Verb::Status, name)?;
        let segments = dm::segments_from(Verb::Status, name, &text).map_err(host)?;
        Ok(device_map(name, segments).into())
    });
    register_named(&mut m, &runtime, "info", |rt, asking, name| {
        let i = dm::info_from(name, &asking.output(rt, Verb::Info, name)?).map_err(host)?;
        Ok(map([
            ("name", i.name.into()),
            ("live_table", i.live_table.into()),
            ("inactive_table", i.inactive_table.into()),
            ("suspended", i.suspended.into()),
            ("read_only", i.read_only.into()),
            ("open", int(i.open)),
            ("segments", int(i.segments)),
            ("events", int(i.events)),
        ])
        .into())
    });
    register_named(&mut m, &runtime, "table", |rt, asking, name| {
        let text = asking.output(rt, Verb::Table, name)?;
        let segments = dm::segments_from(Verb::Table, name, &text).map_err(host)?;
        Ok(device_map(name, segments).into())
    });
    m
}

type Call = fn(&Runtime, &Asking, &str) -> Result<Dynamic, HostError>;

/// Registers `name()` and `name(#{..})`.
fn register(m: &mut Module, runtime: &Runtime, name: &'static str, call: Call) {
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, name, move |ctx: NativeCallContext| {
        invoke(&ctx, &rt, call, Map::new(), "")
    });
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, name, move |ctx: NativeCallContext, options: Map| {
        invoke(&ctx, &rt, call, options, "")
    });
}

/// Registers `name(device)` and `name(device, #{..})`.
fn register_named(m: &mut Module, runtime: &Runtime, name: &'static str, call: Call) {
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, name, move |ctx: NativeCallContext, device: &str| {
        invoke(&ctx, &rt, call, Map::new(), device)
    });
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        name,
        move |ctx: NativeCallContext, device: &str, options: Map| {
            invoke(&ctx, &rt, call, options, device)
        },
    );
}

fn invoke(
    ctx: &NativeCallContext,
    runtime: &Runtime,
    call: Call,
    options: Map,
    device: &str,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let asking = asking_from(options).map_err(|e| error_at(ctx, e))?;
    call(runtime, &asking, device).map_err(|e| error_at(ctx, e))
}

fn asking_from(options: Map) -> Result<Asking, String> {
    let mut opts = Options::new(options, "dm");
    let dmsetup = opts.string("dmsetup")?;
    let timeout = budget::cap(opts.seconds("timeout")?)?;
    let fresh = opts.fresh()?;
    opts.finish("dmsetup, timeout, fresh")?;
    Ok(Asking {
        dmsetup,
        how: How {
            timeout: Some(timeout),
            fresh,
        },
    })
}

fn int(n: u64) -> Dynamic {
    i64::try_from(n).unwrap_or(i64::MAX).into()
}

fn opt_int(n: Option<u64>) -> Dynamic {
    n.map_or(Dynamic::UNIT, int)
}

/// The device's first segment at the top level (devices usually have one), all in `segments`.
fn device_map(name: &str, segments: Vec<Segment>) -> Map {
    let maps: Vec<Map> = segments.into_iter().map(segment_map).collect();
    let mut top = maps.first().cloned().unwrap_or_default();
    top.insert("name".into(), name.into());
    top.insert(
        "segments".into(),
        maps.into_iter()
            .map(Dynamic::from_map)
            .collect::<Array>()
            .into(),
    );
    top
}

fn segment_map(segment: Segment) -> Map {
    let mut m = map([
        ("start", int(segment.start)),
        ("length", int(segment.length)),
        ("target", segment.target.into()),
        ("params", segment.params.into()),
    ]);
    let extra: Map = match segment.parsed {
        Parsed::ThinPoolStatus(s) => {
            let health = match s.health {
                Some(PoolHealth::Ok) => "ok",
                Some(PoolHealth::Fail) => "fail",
                Some(PoolHealth::Error) => "error",
                None => "unknown",
            };
            map([
                ("health", health.into()),
                ("transaction_id", opt_int(s.transaction_id)),
                ("metadata_used", opt_int(s.metadata_used)),
                ("metadata_total", opt_int(s.metadata_total)),
                ("data_used", opt_int(s.data_used)),
                ("data_total", opt_int(s.data_total)),
                ("data_percent", opt(s.data_percent())),
                ("metadata_percent", opt(s.metadata_percent())),
                ("held_metadata_root", opt_int(s.held_metadata_root)),
                ("mode", opt(s.mode)),
                ("discard", opt(s.discard)),
                ("no_space_policy", opt(s.no_space_policy)),
                ("needs_check", opt(s.needs_check)),
                ("metadata_low_watermark", opt_int(s.metadata_low_watermark)),
            ])
        }
        Parsed::ThinPoolTable(t) => map([
            ("metadata_dev", t.metadata_dev.into()),
            ("data_dev", t.data_dev.into()),
            ("block_size", int(t.block_size)),
            ("low_water_mark", int(t.low_water_mark)),
            (
                "features",
                t.features
                    .into_iter()
                    .map(Dynamic::from)
                    .collect::<Array>()
                    .into(),
            ),
        ]),
        Parsed::ThinStatus(t) => map([
            ("active", t.active.into()),
            ("mapped_sectors", opt_int(t.mapped_sectors)),
            ("highest_mapped_sector", opt_int(t.highest_mapped_sector)),
        ]),
        Parsed::ThinTable(t) => map([
            ("pool_dev", t.pool_dev.into()),
            ("dev_id", int(t.dev_id)),
            ("origin_dev", opt(t.origin_dev)),
        ]),
        Parsed::Raw => Map::new(),
    };
    m.extend(extra);
    m
}
