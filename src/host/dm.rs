//! Device-mapper state through `dmsetup`: devices, registered targets, and the status and
//! table of one device, parsed by target type (thin-pool and thin fully; linear and others
//! kept raw). Formats follow the kernel's dm-thin documentation and lvm2's dmsetup.
//!
//! Failures are told apart because each calls for a different fix: dmsetup not installed,
//! not root, device-mapper missing from the kernel, or no such device.

use std::time::Duration;

use crate::host::cmd::{self, CmdError, CommandSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmError {
    #[error("`{program}` is not installed (not found on PATH; install the dmsetup package)")]
    NotInstalled { program: String },
    #[error("permission denied: dmsetup needs root to talk to device-mapper")]
    PermissionDenied,
    #[error("device-mapper is not available in this kernel (/dev/mapper/control: no such device)")]
    NotAvailable,
    #[error("no device-mapper device `{name}`")]
    NoSuchDevice { name: String },
    #[error("`dmsetup {args}` failed: {message}")]
    Failed { args: String, message: String },
    #[error("cannot parse `dmsetup {args}` output: {message}")]
    Parse { args: String, message: String },
}

/// How to reach dmsetup.
#[derive(Debug, Clone)]
pub struct Dmsetup {
    pub program: String,
    pub timeout: Duration,
}

/// What `dmsetup` is asked. Its raw output is the answer a recording keeps (so a replay, and
/// an answer written by hand, still goes through the parsers below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Ls,
    Targets,
    Status,
    Table,
    Info,
}

impl Verb {
    /// dmsetup's arguments for this verb on `name` (ignored by `ls` and `targets`).
    pub fn args(self, name: &str) -> Vec<String> {
        let words: &[&str] = match self {
            Verb::Ls => &["ls"],
            Verb::Targets => &["targets"],
            Verb::Status => &["status", name],
            Verb::Table => &["table", name],
            // containerd's pkg/dmsetup reads the same columns.
            Verb::Info => &[
                "info",
                "--columns",
                "--noheadings",
                "--separator",
                " ",
                "-o",
                "name,attr,open,segments,events",
                name,
            ],
        };
        words.iter().map(|w| w.to_string()).collect()
    }

    fn device(self, name: &str) -> Option<&str> {
        matches!(self, Verb::Status | Verb::Table | Verb::Info).then_some(name)
    }
}

impl Dmsetup {
    /// dmsetup's stdout for `verb` on `name`, or the failure an operator must fix.
    pub async fn output(&self, verb: Verb, name: &str) -> Result<String, DmError> {
        let args = verb.args(name);
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().cloned());
        let spec = CommandSpec::new(argv, self.timeout);
        let joined = args.join(" ");
        let out = cmd::run(&spec).await.map_err(|e| match e {
            CmdError::NotFound { program } | CmdError::NoSuchFile { program } => {
                DmError::NotInstalled { program }
            }
            other => DmError::Failed {
                args: joined.clone(),
                message: other.to_string(),
            },
        })?;
        if out.code == Some(0) {
            return Ok(out.stdout);
        }
        Err(classify_failure(&joined, &out.stderr, verb.device(name)))
    }
}

fn parse_error(args: String) -> impl FnOnce(String) -> DmError {
    move |message| DmError::Parse { args, message }
}

/// `dmsetup ls` output as devices.
pub fn list_from(text: &str) -> Result<Vec<Device>, DmError> {
    parse_ls(text).map_err(parse_error("ls".into()))
}

/// `dmsetup targets` output as targets.
pub fn targets_from(text: &str) -> Result<Vec<Target>, DmError> {
    parse_targets(text).map_err(parse_error("targets".into()))
}

/// `dmsetup status NAME` or `dmsetup table NAME` output as segments.
pub fn segments_from(verb: Verb, name: &str, text: &str) -> Result<Vec<Segment>, DmError> {
    let (word, kind) = if verb == Verb::Table {
        ("table", SegmentKind::Table)
    } else {
        ("status", SegmentKind::Status)
    };
    parse_segments(text, kind).map_err(parse_error(format!("{word} {name}")))
}

/// `dmsetup info` of one device: whether it is suspended, read-only, open, and the tables it
/// has.
pub fn info_from(name: &str, text: &str) -> Result<Info, DmError> {
    parse_info(text).map_err(parse_error(format!("info {name}")))
}

/// Maps dmsetup's complaints to the cause an operator must fix.
pub fn classify_failure(args: &str, stderr: &str, device: Option<&str>) -> DmError {
    if stderr.contains("Permission denied") {
        DmError::PermissionDenied
    } else if stderr.contains("No such device")
        || stderr.contains("Failure to communicate with kernel device-mapper driver")
    {
        DmError::NotAvailable
    } else if let (true, Some(name)) = (stderr.contains("Device does not exist"), device) {
        DmError::NoSuchDevice {
            name: name.to_string(),
        }
    } else {
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output");
        DmError::Failed {
            args: args.to_string(),
            message: first.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub major: u64,
    pub minor: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub version: String,
}

/// One line of `dmsetup status` or `dmsetup table`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: u64,
    pub length: u64,
    pub target: String,
    pub params: String,
    pub parsed: Parsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    Status,
    Table,
}

/// Target-specific meaning of a segment's params.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    ThinPoolStatus(ThinPoolStatus),
    ThinPoolTable(ThinPoolTable),
    ThinStatus(ThinStatus),
    ThinTable(ThinTable),
    /// Linear and every other target: params kept as text.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolHealth {
    /// Counters were read.
    Ok,
    /// The pool is in fail mode (params = `Fail`).
    Fail,
    /// The kernel could not read the pool's metadata counters (params = `Error`).
    Error,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThinPoolStatus {
    pub health: Option<PoolHealth>,
    pub transaction_id: Option<u64>,
    pub metadata_used: Option<u64>,
    pub metadata_total: Option<u64>,
    pub data_used: Option<u64>,
    pub data_total: Option<u64>,
    pub held_metadata_root: Option<u64>,
    /// `rw`, `ro` or `out_of_data_space`.
    pub mode: Option<String>,
    /// `ignore_discard`, `discard_passdown` or `no_discard_passdown`.
    pub discard: Option<String>,
    /// `error_if_no_space` or `queue_if_no_space`.
    pub no_space_policy: Option<String>,
    /// `None` on kernels that print only seven fields.
    pub needs_check: Option<bool>,
    pub metadata_low_watermark: Option<u64>,
}

impl ThinPoolStatus {
    pub fn data_percent(&self) -> Option<f64> {
        percent(self.data_used?, self.data_total?)
    }

    pub fn metadata_percent(&self) -> Option<f64> {
        percent(self.metadata_used?, self.metadata_total?)
    }
}

fn percent(used: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| used as f64 * 100.0 / total as f64)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinPoolTable {
    pub metadata_dev: String,
    pub data_dev: String,
    /// In 512-byte sectors.
    pub block_size: u64,
    /// In pool blocks.
    pub low_water_mark: u64,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinStatus {
    /// `false` for `Fail` (pool failed) and `-` (no thin device handle).
    pub active: bool,
    pub mapped_sectors: Option<u64>,
    pub highest_mapped_sector: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinTable {
    pub pool_dev: String,
    pub dev_id: u64,
    pub origin_dev: Option<String>,
}

fn number(field: &str, what: &str) -> Result<u64, String> {
    // Rust's parser takes a leading `+`; dmsetup never prints one.
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{field}` is not a number"));
    }
    // Scripts hold integers as i64: a larger value is refused rather than clamped. No real
    // device-mapper counter comes near 2^63.
    field
        .parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| format!("{what} `{field}` is out of range"))
}

fn ratio(field: &str, what: &str) -> Result<(u64, u64), String> {
    let (used, total) = field
        .split_once('/')
        .ok_or_else(|| format!("{what} `{field}` is not <used>/<total>"))?;
    let (used, total) = (number(used, what)?, number(total, what)?);
    if used > total {
        return Err(format!("{what} `{field}` has more used than total blocks"));
    }
    Ok((used, total))
}

/// `dmsetup ls`: `<name>\t(<major>:<minor>)`, or `(<major>, <minor>)` from older lvm2.
pub fn parse_ls(text: &str) -> Result<Vec<Device>, String> {
    let mut devices = Vec::new();
    for line in text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
    {
        if line.trim() == "No devices found" {
            continue;
        }
        let open = line
            .rfind('(')
            .ok_or_else(|| format!("line `{line}` has no (major:minor)"))?;
        let name = line[..open].trim();
        let numbers = line[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("line `{line}` has no closing parenthesis"))?;
        let (major, minor) = numbers
            .split_once(':')
            .or_else(|| numbers.split_once(','))
            .ok_or_else(|| format!("line `{line}` has no major:minor"))?;
        if name.is_empty() {
            return Err(format!("line `{line}` has no device name"));
        }
        devices.push(Device {
            name: name.to_string(),
            major: number(major.trim(), "major")?,
            minor: number(minor.trim(), "minor")?,
        });
    }
    Ok(devices)
}

/// `dmsetup targets`: `<name> v<major>.<minor>.<patch>` per line.
pub fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(name), Some(version)) = (words.next(), words.next()) else {
                return Err(format!("line `{line}` is not `<target> v<version>`"));
            };
            let version = version.strip_prefix('v').unwrap_or(version);
            Ok(Target {
                name: name.to_string(),
                version: version.to_string(),
            })
        })
        .collect()
}

/// Every segment of `dmsetup status|table`. A device with no segments (empty output, or a
/// device without a live table) or a zero-length segment has no state to judge: an error,
/// never a healthy device.
pub fn parse_segments(text: &str, kind: SegmentKind) -> Result<Vec<Segment>, String> {
    let segments = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_segment(l, kind))
        .collect::<Result<Vec<_>, _>>()?;
    if segments.is_empty() {
        return Err("no segments (empty output: the device has no live table)".into());
    }
    if let Some(s) = segments.iter().find(|s| s.length == 0) {
        return Err(format!("segment at sector {} has length 0", s.start));
    }
    Ok(segments)
}

/// `dmsetup info` columns `name,attr,open,segments,events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub live_table: bool,
    pub inactive_table: bool,
    pub suspended: bool,
    pub read_only: bool,
    pub open: u64,
    pub segments: u64,
    pub events: u64,
}

/// Parses one `NAME ATTR OPEN SEGMENTS EVENTS` line. `attr` is dmsetup's
/// (`libdm/dm-tools/dmsetup.c` `_dm_info_attr_disp`): `L`ive or `-`, `I`nactive table or `-`,
/// `s`uspended or `-`, `r`ead-only or `w`ritable, then optional flags (`p` private, ...).
pub fn parse_info(text: &str) -> Result<Info, String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let [line] = lines.as_slice() else {
        return Err(format!("expected one line, got {}", lines.len()));
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let [name, attr, open, segments, events] = f.as_slice() else {
        return Err(format!(
            "line `{line}` is not `NAME ATTR OPEN SEGMENTS EVENTS`"
        ));
    };
    let a: Vec<char> = attr.chars().collect();
    if a.len() < 4 {
        return Err(format!("attr `{attr}` is shorter than 4 flags"));
    }
    let flag = |i: usize, on: char| -> Result<bool, String> {
        match a[i] {
            c if c == on => Ok(true),
            '-' => Ok(false),
            c => Err(format!(
                "attr `{attr}`: unexpected `{c}` at position {}",
                i + 1
            )),
        }
    };
    let read_only = match a[3] {
        'r' => true,
        'w' => false,
        c => return Err(format!("attr `{attr}`: `{c}` is neither r nor w")),
    };
    Ok(Info {
        name: name.to_string(),
        live_table: flag(0, 'L')?,
        inactive_table: flag(1, 'I')?,
        suspended: flag(2, 's')?,
        read_only,
        open: number(open, "open count")?,
        segments: number(segments, "segments")?,
        events: number(events, "events")?,
    })
}

/// One `<start> <length> <target> <params>` line.
pub fn parse_segment(line: &str, kind: SegmentKind) -> Result<Segment, String> {
    let mut words = line.split_whitespace();
    let (Some(start), Some(length), Some(target)) = (words.next(), words.next(), words.next())
    else {
        return Err(format!(
            "line `{line}` is not `<start> <length> <target> <params>`"
        ));
    };
    let params: Vec<&str> = words.collect();
    let parsed = match (target, kind) {
        ("thin-pool", SegmentKind::Status) => {
            Parsed::ThinPoolStatus(parse_thin_pool_status(&params)?)
        }
        ("thin-pool", SegmentKind::Table) => Parsed::ThinPoolTable(parse_thin_pool_table(&params)?),
        ("thin", SegmentKind::Status) => Parsed::ThinStatus(parse_thin_status(&params)?),
        ("thin", SegmentKind::Table) => Parsed::ThinTable(parse_thin_table(&params)?),
        _ => Parsed::Raw,
    };
    Ok(Segment {
        start: number(start, "start sector")?,
        length: number(length, "length")?,
        target: target.to_string(),
        params: params.join(" "),
        parsed,
    })
}

/// Thin-pool status: `Fail`, `Error`, or 7 to 9 fields (older kernels print 7).
pub fn parse_thin_pool_status(f: &[&str]) -> Result<ThinPoolStatus, String> {
    match f {
        ["Fail"] => {
            return Ok(ThinPoolStatus {
                health: Some(PoolHealth::Fail),
                ..Default::default()
            });
        }
        ["Error"] => {
            return Ok(ThinPoolStatus {
                health: Some(PoolHealth::Error),
                ..Default::default()
            });
        }
        _ => {}
    }
    // The kernel prints `Fail`/`Error` alone, or 7 to 9 fields (dm-thin.c pool_status).
    // Fields a newer kernel may append are tolerated, but a `Fail` or `Error` anywhere is never
    // read past as if the pool were healthy.
    if let Some(word) = f.iter().find(|w| matches!(**w, "Fail" | "Error")) {
        return Err(format!(
            "thin-pool status carries `{word}` among its fields, not alone: `{}`",
            f.join(" ")
        ));
    }
    if f.len() < 7 {
        return Err(format!(
            "thin-pool status has {} fields, expected 7 to 9: `{}`",
            f.len(),
            f.join(" ")
        ));
    }
    let (metadata_used, metadata_total) = ratio(f[1], "metadata blocks")?;
    let (data_used, data_total) = ratio(f[2], "data blocks")?;
    // An active pool always has metadata and data blocks: the kernel computes the data total
    // from the target's length and the metadata total from the metadata device
    // (drivers/md/dm-thin.c pool_status, maybe_resize_data_dev). A zero total is an answer we
    // do not understand, never an empty pool.
    if metadata_total == 0 {
        return Err(format!(
            "metadata blocks `{}`: an active thin-pool has metadata blocks",
            f[1]
        ));
    }
    if data_total == 0 {
        return Err(format!(
            "data blocks `{}`: an active thin-pool has data blocks",
            f[2]
        ));
    }
    let held_metadata_root = match f[3] {
        "-" => None,
        root => Some(number(root, "held metadata root")?),
    };
    let one_of = |value: &str, what: &str, allowed: &[&str]| -> Result<String, String> {
        if allowed.contains(&value) {
            Ok(value.to_string())
        } else {
            Err(format!(
                "{what} `{value}` is not one of {}",
                allowed.join(", ")
            ))
        }
    };
    let needs_check = match f.get(7) {
        None => None,
        Some(&"needs_check") => Some(true),
        Some(&"-") => Some(false),
        Some(other) => {
            return Err(format!(
                "needs_check field `{other}` is not `needs_check` or `-`"
            ));
        }
    };
    let metadata_low_watermark = f
        .get(8)
        .map(|w| number(w, "metadata low watermark"))
        .transpose()?;
    Ok(ThinPoolStatus {
        health: Some(PoolHealth::Ok),
        transaction_id: Some(number(f[0], "transaction id")?),
        metadata_used: Some(metadata_used),
        metadata_total: Some(metadata_total),
        data_used: Some(data_used),
        data_total: Some(data_total),
        held_metadata_root,
        mode: Some(one_of(f[4], "mode", &["rw", "ro", "out_of_data_space"])?),
        discard: Some(one_of(
            f[5],
            "discard mode",
            &["ignore_discard", "discard_passdown", "no_discard_passdown"],
        )?),
        no_space_policy: Some(one_of(
            f[6],
            "no-space policy",
            &["error_if_no_space", "queue_if_no_space"],
        )?),
        needs_check,
        metadata_low_watermark,
    })
}

/// Thin-pool table: `<meta dev> <data dev> <block size> <low water mark> <#features> [features]`.
pub fn parse_thin_pool_table(f: &[&str]) -> Result<ThinPoolTable, String> {
    if f.len() < 5 {
        return Err(format!(
            "thin-pool table has {} fields, expected at least 5: `{}`",
            f.len(),
            f.join(" ")
        ));
    }
    let count = number(f[4], "feature count")? as usize;
    let features: Vec<String> = f[5..].iter().map(|s| s.to_string()).collect();
    if features.len() != count {
        return Err(format!(
            "thin-pool table declares {count} features but lists {}",
            features.len()
        ));
    }
    Ok(ThinPoolTable {
        metadata_dev: f[0].to_string(),
        data_dev: f[1].to_string(),
        block_size: number(f[2], "block size")?,
        low_water_mark: number(f[3], "low water mark")?,
        features,
    })
}

/// Thin status: `<mapped sectors> <highest mapped sector or ->`, `Fail`, or `-`.
pub fn parse_thin_status(f: &[&str]) -> Result<ThinStatus, String> {
    match f {
        ["Fail"] | ["-"] => Ok(ThinStatus {
            active: false,
            mapped_sectors: None,
            highest_mapped_sector: None,
        }),
        [mapped, highest] => Ok(ThinStatus {
            active: true,
            mapped_sectors: Some(number(mapped, "mapped sectors")?),
            highest_mapped_sector: match *highest {
                "-" => None,
                h => Some(number(h, "highest mapped sector")?),
            },
        }),
        _ => Err(format!(
            "thin status `{}` is not `<mapped> <highest>`",
            f.join(" ")
        )),
    }
}

/// Thin table: `<pool dev> <dev id> [<external origin dev>]`.
pub fn parse_thin_table(f: &[&str]) -> Result<ThinTable, String> {
    match f {
        [pool, id] | [pool, id, _] => Ok(ThinTable {
            pool_dev: pool.to_string(),
            dev_id: number(id, "thin device id")?,
            origin_dev: f.get(2).map(|s| s.to_string()),
        }),
        _ => Err(format!(
            "thin table `{}` is not `<pool dev> <dev id> [<origin>]`",
            f.join(" ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_attr_flags_and_refusals() {
        let i = parse_info("flintlock-dev-thinpool L-sw 1 1 0\n").expect("info");
        assert!(i.suspended && i.live_table && !i.read_only && !i.inactive_table);
        assert_eq!(i.open, 1);
        let live = parse_info("pool L--w 0 1 3\n").expect("info");
        assert!(!live.suspended);
        assert!(parse_info("").is_err());
        assert!(parse_info("pool L-?w 0 1 0\n").is_err());
        assert!(parse_info("pool L--x 0 1 0\n").is_err());
        assert!(parse_info("pool L--w +1 1 0\n").is_err());
        assert!(parse_info("pool L--w 0 1\n").is_err());
    }

    #[test]
    fn trailing_fields_and_huge_counters_are_errors_not_guesses() {
        let trailing = "0 209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024 Fail\n";
        assert!(
            parse_segments(trailing, SegmentKind::Status)
                .expect_err("must fail")
                .contains("carries `Fail`")
        );
        let huge = "0 209715200 thin-pool 0 1245/2621440 10240/18446744073709551615 - rw discard_passdown queue_if_no_space - 1024\n";
        assert!(
            parse_segments(huge, SegmentKind::Status)
                .expect_err("must fail")
                .contains("out of range")
        );
        let beyond = "0 209715200 thin-pool 0 1245/2621440 10240/99999999999999999999 - rw discard_passdown queue_if_no_space - 1024\n";
        assert!(parse_segments(beyond, SegmentKind::Status).is_err());
    }

    #[test]
    fn empty_output_and_zero_length_pools_are_errors() {
        assert!(parse_segments("", SegmentKind::Status).is_err());
        assert!(parse_segments("\n", SegmentKind::Table).is_err());
        let zero = "0 0 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n";
        assert!(
            parse_segments(zero, SegmentKind::Status)
                .expect_err("must fail")
                .contains("length 0")
        );
        let ok = "0 209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n";
        assert_eq!(
            parse_segments(ok, SegmentKind::Status)
                .expect("parses")
                .len(),
            1
        );
        let plus = "0 +209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n";
        assert!(parse_segments(plus, SegmentKind::Status).is_err());
    }

    fn pool(line: &str) -> Result<ThinPoolStatus, String> {
        match parse_segment(line, SegmentKind::Status)?.parsed {
            Parsed::ThinPoolStatus(s) => Ok(s),
            other => panic!("not a thin-pool status: {other:?}"),
        }
    }

    #[test]
    fn healthy_pool_status_parses_every_field() {
        let s = pool("0 209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024")
            .expect("parses");
        assert_eq!(s.health, Some(PoolHealth::Ok));
        assert_eq!(s.transaction_id, Some(0));
        assert_eq!(
            (s.metadata_used, s.metadata_total),
            (Some(1245), Some(2621440))
        );
        assert_eq!((s.data_used, s.data_total), (Some(10240), Some(1638400)));
        assert_eq!(s.held_metadata_root, None);
        assert_eq!(s.mode.as_deref(), Some("rw"));
        assert_eq!(s.discard.as_deref(), Some("discard_passdown"));
        assert_eq!(s.no_space_policy.as_deref(), Some("queue_if_no_space"));
        assert_eq!(s.needs_check, Some(false));
        assert_eq!(s.metadata_low_watermark, Some(1024));
        assert!((s.data_percent().expect("pct") - 0.625).abs() < 1e-9);
        assert!((s.metadata_percent().expect("pct") - 0.047_492_980_957_031_25).abs() < 1e-9);
    }

    #[test]
    fn full_degraded_and_failed_pools_are_recognised() {
        let full = pool("0 209715200 thin-pool 7 3000/2621440 1638400/1638400 - out_of_data_space discard_passdown queue_if_no_space - 1024").expect("full");
        assert_eq!(full.mode.as_deref(), Some("out_of_data_space"));
        assert_eq!(full.data_percent(), Some(100.0));
        let degraded = pool("0 209715200 thin-pool 7 3000/2621440 900000/1638400 - ro discard_passdown queue_if_no_space needs_check 1024").expect("ro");
        assert_eq!(
            (degraded.mode.as_deref(), degraded.needs_check),
            (Some("ro"), Some(true))
        );
        assert_eq!(
            pool("0 209715200 thin-pool Fail").expect("fail").health,
            Some(PoolHealth::Fail)
        );
        assert_eq!(
            pool("0 209715200 thin-pool Error").expect("error").health,
            Some(PoolHealth::Error)
        );
    }

    #[test]
    fn older_kernels_print_seven_fields_and_held_roots_are_numbers() {
        let s = pool("0 2048 thin-pool 3 10/256 5/100 77 rw no_discard_passdown error_if_no_space")
            .expect("7 fields");
        assert_eq!((s.needs_check, s.metadata_low_watermark), (None, None));
        assert_eq!(s.held_metadata_root, Some(77));
        let eight = pool(
            "0 2048 thin-pool 3 10/256 5/100 - rw ignore_discard error_if_no_space needs_check",
        )
        .expect("8");
        assert_eq!(eight.needs_check, Some(true));
    }

    #[test]
    fn hostile_pool_lines_are_errors_that_name_the_field() {
        let cases = [
            (
                "0 2048 thin-pool 3 10/256 5/100 - rw",
                "has 5 fields, expected 7 to 9",
            ),
            (
                "0 2048 thin-pool x 10/256 5/100 - rw ignore_discard error_if_no_space",
                "transaction id `x` is not a number",
            ),
            (
                "0 2048 thin-pool 1 10-256 5/100 - rw ignore_discard error_if_no_space",
                "metadata blocks `10-256` is not <used>/<total>",
            ),
            (
                "0 2048 thin-pool 1 10/256 500/100 - rw ignore_discard error_if_no_space",
                "more used than total",
            ),
            (
                "0 2048 thin-pool 1 99999999999999999999999/1 5/100 - rw ignore_discard error_if_no_space",
                "out of range",
            ),
            (
                "0 2048 thin-pool 1 10/256 5/100 - sideways ignore_discard error_if_no_space",
                "mode `sideways`",
            ),
            (
                "0 2048 thin-pool 1 10/256 5/100 - rw ignore_discard error_if_no_space maybe 1",
                "needs_check field `maybe`",
            ),
            ("0 2048", "is not `<start> <length> <target> <params>`"),
            (
                "zero 2048 thin-pool Fail",
                "start sector `zero` is not a number",
            ),
        ];
        for (line, expected) in cases {
            let err = parse_segment(line, SegmentKind::Status).expect_err(line);
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn extra_trailing_fields_from_newer_kernels_are_tolerated() {
        let s = pool(
            "0 2048 thin-pool 1 10/256 5/100 - rw ignore_discard error_if_no_space - 64 future",
        )
        .expect("extra");
        assert_eq!(s.metadata_low_watermark, Some(64));
    }

    #[test]
    fn tables_parse_for_thin_pool_and_thin() {
        let seg = parse_segment(
            "0 209715200 thin-pool 7:1 7:0 128 32768 1 skip_block_zeroing",
            SegmentKind::Table,
        )
        .expect("table");
        assert_eq!(
            seg.parsed,
            Parsed::ThinPoolTable(ThinPoolTable {
                metadata_dev: "7:1".into(),
                data_dev: "7:0".into(),
                block_size: 128,
                low_water_mark: 32768,
                features: vec!["skip_block_zeroing".into()],
            })
        );
        let err = parse_segment(
            "0 1 thin-pool 7:1 7:0 128 32768 2 skip_block_zeroing",
            SegmentKind::Table,
        )
        .expect_err("count");
        assert!(err.contains("declares 2 features but lists 1"), "{err}");
        let thin =
            parse_segment("0 2097152 thin 253:2 5 7:3", SegmentKind::Table).expect("thin table");
        assert_eq!(
            thin.parsed,
            Parsed::ThinTable(ThinTable {
                pool_dev: "253:2".into(),
                dev_id: 5,
                origin_dev: Some("7:3".into())
            })
        );
    }

    #[test]
    fn thin_status_covers_mapped_unmapped_and_failed() {
        let st = |l: &str| parse_segment(l, SegmentKind::Status).expect(l).parsed;
        assert_eq!(
            st("0 2097152 thin 1024 2047"),
            Parsed::ThinStatus(ThinStatus {
                active: true,
                mapped_sectors: Some(1024),
                highest_mapped_sector: Some(2047)
            })
        );
        assert_eq!(
            st("0 2097152 thin 0 -"),
            Parsed::ThinStatus(ThinStatus {
                active: true,
                mapped_sectors: Some(0),
                highest_mapped_sector: None
            })
        );
        assert_eq!(
            st("0 2097152 thin Fail"),
            Parsed::ThinStatus(ThinStatus {
                active: false,
                mapped_sectors: None,
                highest_mapped_sector: None
            })
        );
    }

    #[test]
    fn linear_and_unknown_targets_stay_raw() {
        let seg = parse_segment("0 409600 linear 8:16 2048", SegmentKind::Table).expect("linear");
        assert_eq!(
            (seg.target.as_str(), seg.params.as_str(), &seg.parsed),
            ("linear", "8:16 2048", &Parsed::Raw)
        );
    }

    #[test]
    fn ls_accepts_both_number_styles_and_the_empty_message() {
        let devices =
            parse_ls("flintlock-dev-thinpool\t(253:0)\nold-style\t(253, 1)\n").expect("ls");
        assert_eq!(
            devices[0],
            Device {
                name: "flintlock-dev-thinpool".into(),
                major: 253,
                minor: 0
            }
        );
        assert_eq!(devices[1].minor, 1);
        assert!(parse_ls("No devices found\n").expect("empty").is_empty());
        assert!(parse_ls("broken line\n").is_err());
        assert!(
            parse_ls("x\t(253:abc)\n")
                .expect_err("minor")
                .contains("minor `abc` is not a number")
        );
    }

    #[test]
    fn targets_parse_versions() {
        let t = parse_targets(
            "thin-pool        v1.24.0\nthin             v1.24.0\nlinear           v1.4.0\n",
        )
        .expect("targets");
        assert_eq!(
            t[0],
            Target {
                name: "thin-pool".into(),
                version: "1.24.0".into()
            }
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn failures_are_classified_from_real_dmsetup_messages() {
        // Captured from dmsetup 1.02.185 on a kernel without device-mapper.
        let no_dm = "/dev/mapper/control: open failed: No such device\nFailure to communicate with kernel device-mapper driver.\nCheck that device-mapper is available in the kernel.\nIncompatible libdevmapper 1.02.185 (2022-05-18) and kernel driver (unknown version).\nCommand failed.\n";
        assert_eq!(classify_failure("ls", no_dm, None), DmError::NotAvailable);
        // The same, run as `nobody`.
        let not_root = "/dev/mapper/control: open failed: Permission denied\nFailure to communicate with kernel device-mapper driver.\nIncompatible libdevmapper 1.02.185 (2022-05-18) and kernel driver (unknown version).\nCommand failed.\n";
        assert_eq!(
            classify_failure("ls", not_root, None),
            DmError::PermissionDenied
        );
        assert_eq!(
            classify_failure(
                "status x",
                "Device does not exist.\nCommand failed.\n",
                Some("x")
            ),
            DmError::NoSuchDevice { name: "x".into() }
        );
        assert!(matches!(
            classify_failure("ls", "weird\n", None),
            DmError::Failed { .. }
        ));
    }
}
