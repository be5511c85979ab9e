//! Supervisor log lines: cosmovisor's console style on stderr, or JSON.
//!
//! Stdout belongs to the node: `wasmvisor run version -o json` must print exactly the
//! app's JSON (cosmovisor #11555), so every supervisor line goes to stderr. Lines look
//! like cosmovisor's zerolog console output — `3:04PM INF switched binary name=v2
//! module=wasmvisor` — so operators' grep patterns and eyes keep working, and
//! `module=wasmvisor` tells a supervisor line from the node's own. Each line is built
//! in memory and written with one `write(2)`, so it never interleaves mid-line with
//! the child's output on the same descriptor.
//!
//! The subscriber is installed once, before the configuration is known (a config
//! error must still be reported); [`init`] may be called again to apply the loaded
//! settings, which the installed layer reads on every event.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::{DateTime, FixedOffset, Local, SecondsFormat, Timelike as _};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Config, LogFormat, LogLevel, TIME_FORMATS, vars};

/// The marker every supervisor line carries.
pub const MODULE: &str = "wasmvisor";

/// How supervisor lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// COSMOVISOR_DISABLE_LOGS: write nothing.
    pub disabled: bool,
    pub format: LogFormat,
    /// ANSI colours (COSMOVISOR_COLOR_LOGS and stderr is a terminal).
    pub color: bool,
    /// A name from [`TIME_FORMATS`]; `None` = no timestamp.
    pub time_format: Option<String>,
    /// Lines from wasmvisor at this level or more severe are written. Other crates'
    /// lines are written from `warn` up only, whatever this says.
    pub level: LogLevel,
}

impl Default for LogSettings {
    /// cosmovisor's defaults: colour (on a terminal), kitchen time, info.
    fn default() -> Self {
        LogSettings {
            disabled: false,
            format: LogFormat::Text,
            color: std::io::stderr().is_terminal(),
            time_format: Some(crate::config::DEFAULT_TIME_FORMAT.to_owned()),
            level: LogLevel::Info,
        }
    }
}

impl LogSettings {
    /// The settings the loaded configuration asks for.
    pub fn from_config(config: &Config) -> Self {
        LogSettings {
            disabled: config.disable_logs,
            format: config.log_format,
            color: config.color_logs && std::io::stderr().is_terminal(),
            time_format: config.time_format_logs.clone(),
            level: config.log_level,
        }
    }

    /// Best effort before the configuration is loaded: the logging variables that
    /// parse are honoured, the others are left at their defaults (the configuration
    /// loader reports them properly).
    pub fn from_env_lenient(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut s = LogSettings::default();
        let lower = |var: &str| lookup(var).map(|v| v.to_ascii_lowercase());
        if lower(vars::COSMOVISOR_DISABLE_LOGS).as_deref() == Some("true") {
            s.disabled = true;
        }
        if lower(vars::COSMOVISOR_COLOR_LOGS).as_deref() == Some("false") {
            s.color = false;
        }
        if lower(vars::WASMVISOR_LOG_FORMAT).as_deref() == Some("json") {
            s.format = LogFormat::Json;
        }
        match lookup(vars::COSMOVISOR_TIMEFORMAT_LOGS) {
            Some(v) if v.is_empty() => s.time_format = None,
            Some(v) if TIME_FORMATS.contains(&v.as_str()) => s.time_format = Some(v),
            _ => {}
        }
        s.level = match lower(vars::WASMVISOR_LOG_LEVEL).as_deref() {
            Some("debug") => LogLevel::Debug,
            Some("warn") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            _ => LogLevel::Info,
        };
        s
    }
}

/// Where lines go: stderr, or (in tests) a shared buffer.
#[derive(Clone)]
pub enum Sink {
    Stderr,
    Buffer(Arc<Mutex<Vec<u8>>>),
    /// Formats every line and drops it (to measure the formatting alone).
    Discard,
}

impl Sink {
    fn write_line(&self, line: &str) {
        match self {
            // One write_all on a locked, unbuffered stderr is one write(2) for a line
            // of ordinary length. A failed write has nowhere to be reported.
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Buffer(buf) => {
                if let Ok(mut b) = buf.lock() {
                    b.extend_from_slice(line.as_bytes());
                }
            }
            Sink::Discard => {
                std::hint::black_box(line);
            }
        }
    }
}

/// Shared, replaceable settings. Readers take an `Arc` (no allocation per event);
/// a writer swaps the whole value.
#[derive(Clone, Default)]
pub struct SettingsHandle(Arc<RwLock<Arc<LogSettings>>>);

impl SettingsHandle {
    fn new(settings: LogSettings) -> Self {
        SettingsHandle(Arc::new(RwLock::new(Arc::new(settings))))
    }

    pub fn get(&self) -> Arc<LogSettings> {
        match self.0.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set(&self, settings: LogSettings) {
        match self.0.write() {
            Ok(mut s) => *s = Arc::new(settings),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(settings),
        }
        // Callsites cache whether they are wanted (so a filtered-out `debug!` costs
        // nothing); new settings must be asked again.
        tracing::callsite::rebuild_interest_cache();
    }
}

/// The `tracing` layer that writes supervisor lines.
pub struct SupervisorLayer {
    settings: SettingsHandle,
    sink: Sink,
}

impl SupervisorLayer {
    pub fn new(settings: LogSettings, sink: Sink) -> Self {
        SupervisorLayer {
            settings: SettingsHandle::new(settings),
            sink,
        }
    }

    /// A handle to change the settings after the layer is installed.
    pub fn handle(&self) -> SettingsHandle {
        self.settings.clone()
    }
}

static INSTALLED: OnceLock<SettingsHandle> = OnceLock::new();

/// Installs the supervisor subscriber (first call) or replaces its settings (later
/// calls). Safe to call before and after the configuration is loaded.
pub fn init(settings: LogSettings) {
    let mut pending = Some(settings.clone());
    let handle = INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let layer = SupervisorLayer::new(pending.take().unwrap_or_default(), Sink::Stderr);
        let handle = layer.handle();
        let subscriber = tracing_subscriber::registry().with(layer);
        // Fails only when another global subscriber exists (e.g. a test harness);
        // then our lines go wherever that one sends them.
        let _ = tracing::subscriber::set_global_default(subscriber);
        handle
    });
    if pending.is_some() {
        handle.set(settings);
    }
}

/// Applies the configuration's logging settings.
pub fn init_from_config(config: &Config) {
    init(LogSettings::from_config(config));
}

/// The settings in force (defaults when nothing was installed).
pub fn current_settings() -> Arc<LogSettings> {
    INSTALLED.get().map(SettingsHandle::get).unwrap_or_default()
}

/// Writes a fatal error the operator must see, even when supervisor logs are
/// disabled (then as a plain `Error: …` line).
pub fn report_error(message: &str) {
    let settings = current_settings();
    if settings.disabled {
        Sink::Stderr.write_line(&format!("Error: {message}\n"));
        return;
    }
    let record = LogRecord {
        level: Level::ERROR,
        target: MODULE,
        message: message.to_owned(),
        fields: Vec::new(),
    };
    Sink::Stderr.write_line(&render(&record, &settings, now()));
}

fn now() -> DateTime<FixedOffset> {
    Local::now().fixed_offset()
}

/// A field value as the event gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    /// A `?debug`, `%display` or error value, already formatted.
    Formatted(String),
}

/// One event, with its span fields appended, ready to render.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: Level,
    pub target: &'static str,
    pub message: String,
    pub fields: Vec<(String, FieldValue)>,
}

/// Renders one line (with its newline) in the configured format.
pub fn render(record: &LogRecord, settings: &LogSettings, time: DateTime<FixedOffset>) -> String {
    match settings.format {
        LogFormat::Text => render_text(record, settings, time),
        LogFormat::Json => render_json(record, settings, time),
    }
}

const RESET: &str = "\x1b[0m";
const DARK_GRAY: &str = "\x1b[90m";
const CYAN: &str = "\x1b[36m";
const RED: &str = "\x1b[31m";

fn level_tag(level: Level) -> (&'static str, &'static str) {
    // zerolog's console colours, which cosmovisor operators know.
    match level {
        Level::TRACE | Level::DEBUG => ("DBG", "\x1b[33m"),
        Level::INFO => ("INF", "\x1b[32m"),
        Level::WARN => ("WRN", RED),
        Level::ERROR => ("ERR", "\x1b[1m\x1b[31m"),
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::TRACE | Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `3:04PM INF message key=value … module=wasmvisor`
pub fn render_text(
    record: &LogRecord,
    settings: &LogSettings,
    time: DateTime<FixedOffset>,
) -> String {
    // Written straight into one buffer: a line costs one allocation.
    let colour = |out: &mut String, code: &str| {
        if settings.color {
            out.push_str(code);
        }
    };
    let reset = |out: &mut String| colour(out, RESET);
    let mut out = String::with_capacity(160);
    if let Some(layout) = &settings.time_format {
        colour(&mut out, DARK_GRAY);
        write_time(&mut out, layout, time);
        reset(&mut out);
        out.push(' ');
    }
    let (tag, tag_colour) = level_tag(record.level);
    colour(&mut out, tag_colour);
    out.push_str(tag);
    reset(&mut out);
    out.push(' ');
    push_single_line(&mut out, &record.message);
    let foreign = (!record.target.starts_with(MODULE)).then_some(record.target);
    let extra = foreign
        .map(|t| ("target", t))
        .into_iter()
        .chain(std::iter::once(("module", MODULE)));
    let fields = record
        .fields
        .iter()
        .map(|(n, v)| (n.as_str(), Some(v), ""))
        .chain(extra.map(|(n, t)| (n, None, t)));
    for (name, value, text) in fields {
        out.push(' ');
        colour(&mut out, CYAN);
        out.push_str(name);
        out.push('=');
        reset(&mut out);
        let is_error = name == "error" || name == "err";
        if is_error {
            colour(&mut out, RED);
        }
        match value {
            Some(v) => write_value(&mut out, v),
            None => write_text_value(&mut out, text),
        }
        if is_error {
            reset(&mut out);
        }
    }
    out.push('\n');
    out
}

/// `{"level":"info","time":…,"module":"wasmvisor","message":…, fields…}`
pub fn render_json(
    record: &LogRecord,
    settings: &LogSettings,
    time: DateTime<FixedOffset>,
) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(out, "{{\"level\":\"{}\"", level_word(record.level));
    if settings.time_format.is_some() {
        let _ = write!(
            out,
            ",\"time\":{}",
            json_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
        );
    }
    let _ = write!(
        out,
        ",\"module\":\"{MODULE}\",\"message\":{}",
        json_str(&record.message)
    );
    if !record.target.starts_with(MODULE) {
        let _ = write!(out, ",\"target\":{}", json_str(record.target));
    }
    for (name, value) in &record.fields {
        let key = match name.as_str() {
            "level" | "time" | "module" | "message" | "target" => format!("field.{name}"),
            _ => name.clone(),
        };
        let value = match value {
            FieldValue::Str(s) | FieldValue::Formatted(s) => json_str(s),
            FieldValue::I64(n) => n.to_string(),
            FieldValue::U64(n) => n.to_string(),
            FieldValue::F64(f) if f.is_finite() => f.to_string(),
            FieldValue::F64(f) => json_str(&f.to_string()),
            FieldValue::Bool(b) => b.to_string(),
        };
        let _ = write!(out, ",{}:{value}", json_str(&key));
    }
    out.push_str("}\n");
    out
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A value as it appears after `key=`: quoted (Go-style) when it would otherwise be
/// ambiguous — empty, or with spaces, quotes, `=` or control characters.
fn text_value(value: &FieldValue) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &FieldValue) {
    match value {
        FieldValue::Str(s) | FieldValue::Formatted(s) => write_text_value(out, s),
        FieldValue::I64(n) => {
            let _ = write!(out, "{n}");
        }
        FieldValue::U64(n) => {
            let _ = write!(out, "{n}");
        }
        FieldValue::F64(f) => {
            let _ = write!(out, "{f}");
        }
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn write_text_value(out: &mut String, s: &str) {
    let needs_quotes = s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if needs_quotes {
        out.push_str(&json_str(s));
    } else {
        out.push_str(s);
    }
}

/// Keeps a message on one line: a newline inside would make the next line look like
/// the node's output.
fn push_single_line(out: &mut String, message: &str) {
    if message.contains(['\n', '\r']) {
        out.push_str(&message.replace("\r\n", " | ").replace(['\n', '\r'], " | "));
    } else {
        out.push_str(message);
    }
}

fn write_time(out: &mut String, layout: &str, time: DateTime<FixedOffset>) {
    if layout == "kitchen" {
        // The default, on every line: written without chrono's format parser.
        let (pm, hour) = time.hour12();
        let _ = write!(
            out,
            "{hour}:{:02}{}",
            time.minute(),
            if pm { "PM" } else { "AM" }
        );
    } else {
        out.push_str(&format_time(layout, time));
    }
}

/// Formats `time` the way Go formats with the named layout (cosmovisor's
/// COSMOVISOR_TIMEFORMAT_LOGS). Unknown names fall back to kitchen.
pub fn format_time(layout: &str, time: DateTime<FixedOffset>) -> String {
    let zone = zone_name(time);
    match layout {
        "layout" => time.format("%m/%d %I:%M:%S%p '%y %z").to_string(),
        "ansic" => time.format("%a %b %e %H:%M:%S %Y").to_string(),
        "unixdate" => format!(
            "{} {zone} {}",
            time.format("%a %b %e %H:%M:%S"),
            time.format("%Y")
        ),
        "rubydate" => time.format("%a %b %d %H:%M:%S %z %Y").to_string(),
        "rfc822" => format!("{} {zone}", time.format("%d %b %y %H:%M")),
        "rfc822z" => time.format("%d %b %y %H:%M %z").to_string(),
        "rfc850" => format!("{} {zone}", time.format("%A, %d-%b-%y %H:%M:%S")),
        "rfc1123" => format!("{} {zone}", time.format("%a, %d %b %Y %H:%M:%S")),
        "rfc1123z" => time.format("%a, %d %b %Y %H:%M:%S %z").to_string(),
        "rfc3339" => time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "rfc3339nano" => rfc3339_nano(time),
        _ => time.format("%-I:%M%p").to_string(),
    }
}

/// Go's `MST` for zones without a known abbreviation: `UTC` at offset zero, else the
/// numeric offset (what Go prints for a fixed zone without a name).
fn zone_name(time: DateTime<FixedOffset>) -> String {
    if time.offset().local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        time.format("%z").to_string()
    }
}

/// RFC 3339 with the nanoseconds' trailing zeros trimmed, as Go's RFC3339Nano does.
fn rfc3339_nano(time: DateTime<FixedOffset>) -> String {
    let base = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos() % 1_000_000_000;
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    let zone = if time.offset().local_minus_utc() == 0 {
        "Z".to_owned()
    } else {
        time.format("%:z").to_string()
    };
    format!("{base}{frac}{zone}")
}

/// Collects an event's or span's fields.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(String, FieldValue)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: FieldValue) {
        if field.name() == "message" {
            self.message = Some(match value {
                FieldValue::Str(s) | FieldValue::Formatted(s) => s,
                other => text_value(&other),
            });
        } else {
            self.fields.push((field.name().to_owned(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain on one line, as anyhow's `{:#}` would print it.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(text, ": {s}");
            source = s.source();
        }
        self.push(field, FieldValue::Formatted(text));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, FieldValue::Formatted(format!("{value:?}")));
    }
}

/// The fields a span was created with, kept so events inside it carry them.
struct SpanFields(Vec<(String, FieldValue)>);

/// Whether a callsite (event or span) is kept under `settings`. Our spans are kept
/// at any level: their fields decorate the events inside them.
fn wanted(settings: &LogSettings, metadata: &Metadata<'_>) -> bool {
    if metadata.is_span() && metadata.target().starts_with(MODULE) {
        return !settings.disabled;
    }
    enabled_for(settings, metadata)
}

fn enabled_for(settings: &LogSettings, metadata: &Metadata<'_>) -> bool {
    if settings.disabled {
        return false;
    }
    let min = if metadata.target().starts_with(MODULE) {
        settings.level
    } else {
        LogLevel::Warn
    };
    let level = match *metadata.level() {
        Level::TRACE | Level::DEBUG => LogLevel::Debug,
        Level::INFO => LogLevel::Info,
        Level::WARN => LogLevel::Warn,
        Level::ERROR => LogLevel::Error,
    };
    level >= min
}

impl<S> Layer<S> for SupervisorLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Cached by tracing until `SettingsHandle::set` rebuilds the cache.
        if wanted(&self.settings.get(), metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let settings = self.settings.get();
        if settings.disabled {
            return Some(LevelFilter::OFF);
        }
        let ours = match settings.level {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        };
        // Info spans stay alive whatever the level: their fields decorate events.
        Some(ours.max(LevelFilter::INFO))
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(&self.settings.get(), metadata)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            match ext.get_mut::<SpanFields>() {
                Some(existing) => existing.0.extend(fields.fields),
                None => ext.insert(SpanFields(fields.fields)),
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let settings = self.settings.get();
        if !enabled_for(&settings, event.metadata()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut all = fields.fields;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    all.extend(span_fields.iter().cloned());
                }
            }
        }
        let record = LogRecord {
            level: *event.metadata().level(),
            target: event.metadata().target(),
            message: fields.message.unwrap_or_default(),
            fields: all,
        };
        self.sink.write_line(&render(&record, &settings, now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn at(offset_secs: i32, nanos: u32) -> DateTime<FixedOffset> {
        FixedOffset::east_opt(offset_secs)
            .unwrap()
            .with_ymd_and_hms(2025, 3, 7, 15, 4, 5)
            .unwrap()
            .with_nanosecond(nanos)
            .unwrap()
    }

    fn plain() -> LogSettings {
        LogSettings {
            color: false,
            ..LogSettings::default()
        }
    }

    fn record(level: Level, message: &str, fields: Vec<(&str, FieldValue)>) -> LogRecord {
        LogRecord {
            level,
            target: "wasmvisor::supervisor",
            message: message.to_owned(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    #[test]
    fn go_layouts_map_to_the_same_text() {
        let utc = at(0, 123_456_000);
        let cases = [
            ("kitchen", "3:04PM"),
            ("rfc3339", "2025-03-07T15:04:05Z"),
            ("rfc3339nano", "2025-03-07T15:04:05.123456Z"),
            ("ansic", "Fri Mar  7 15:04:05 2025"),
            ("unixdate", "Fri Mar  7 15:04:05 UTC 2025"),
            ("rubydate", "Fri Mar 07 15:04:05 +0000 2025"),
            ("rfc822", "07 Mar 25 15:04 UTC"),
            ("rfc822z", "07 Mar 25 15:04 +0000"),
            ("rfc850", "Friday, 07-Mar-25 15:04:05 UTC"),
            ("rfc1123", "Fri, 07 Mar 2025 15:04:05 UTC"),
            ("rfc1123z", "Fri, 07 Mar 2025 15:04:05 +0000"),
            ("layout", "03/07 03:04:05PM '25 +0000"),
        ];
        assert_eq!(cases.len(), TIME_FORMATS.len());
        for (name, expected) in cases {
            assert_eq!(format_time(name, utc), expected, "{name}");
        }
        let east = at(2 * 3600, 0);
        assert_eq!(format_time("rfc3339", east), "2025-03-07T15:04:05+02:00");
        assert_eq!(
            format_time("rfc3339nano", east),
            "2025-03-07T15:04:05+02:00"
        );
        assert_eq!(
            format_time("rfc1123", east),
            "Fri, 07 Mar 2025 15:04:05 +0200"
        );
        let morning = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2025, 3, 7, 9, 5, 0)
            .unwrap();
        assert_eq!(format_time("kitchen", morning), "9:05AM");
        // The fast path for kitchen writes what the general one does, at any hour.
        for hour in 0..24 {
            let t = FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(2025, 3, 7, hour, 7, 0)
                .unwrap();
            let mut fast = String::new();
            write_time(&mut fast, "kitchen", t);
            assert_eq!(fast, format_time("kitchen", t), "hour {hour}");
        }
    }

    #[test]
    fn text_line_looks_like_cosmovisor() {
        let r = record(
            Level::INFO,
            "upgrade detected",
            vec![
                ("name", FieldValue::Str("v2".into())),
                ("height", FieldValue::U64(120)),
            ],
        );
        let line = render_text(&r, &plain(), at(0, 0));
        assert_eq!(
            line,
            "3:04PM INF upgrade detected name=v2 height=120 module=wasmvisor\n"
        );
        let no_time = LogSettings {
            time_format: None,
            ..plain()
        };
        assert_eq!(
            render_text(&r, &no_time, at(0, 0)),
            "INF upgrade detected name=v2 height=120 module=wasmvisor\n"
        );
    }

    #[test]
    fn levels_values_and_foreign_targets() {
        for (level, tag) in [
            (Level::DEBUG, "DBG"),
            (Level::INFO, "INF"),
            (Level::WARN, "WRN"),
            (Level::ERROR, "ERR"),
        ] {
            let line = render_text(&record(level, "m", vec![]), &plain(), at(0, 0));
            assert!(line.starts_with(&format!("3:04PM {tag} m")), "{line}");
        }
        let r = record(
            Level::WARN,
            "two\nlines",
            vec![
                ("path", FieldValue::Str("/a b/c".into())),
                ("empty", FieldValue::Str(String::new())),
                ("ok", FieldValue::Bool(true)),
            ],
        );
        let line = render_text(&r, &plain(), at(0, 0));
        assert_eq!(
            line,
            "3:04PM WRN two | lines path=\"/a b/c\" empty=\"\" ok=true module=wasmvisor\n"
        );
        let foreign = LogRecord {
            target: "hyper::proto",
            ..record(Level::WARN, "x", vec![])
        };
        assert!(
            render_text(&foreign, &plain(), at(0, 0))
                .contains(" target=hyper::proto module=wasmvisor")
        );
    }

    #[test]
    fn colours_only_when_asked() {
        let r = record(
            Level::ERROR,
            "failed",
            vec![("error", FieldValue::Formatted("boom".into()))],
        );
        let coloured = render_text(
            &r,
            &LogSettings {
                color: true,
                ..plain()
            },
            at(0, 0),
        );
        assert!(coloured.contains("\x1b[90m3:04PM\x1b[0m"), "{coloured:?}");
        assert!(
            coloured.contains("\x1b[1m\x1b[31mERR\x1b[0m"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[36merror=\x1b[0m\x1b[31mboom\x1b[0m"),
            "{coloured:?}"
        );
        assert!(!render_text(&r, &plain(), at(0, 0)).contains('\x1b'));
    }

    #[test]
    fn json_line_has_the_documented_keys() {
        let r = record(
            Level::INFO,
            "switched \"current\"",
            vec![
                ("name", FieldValue::Str("v2".into())),
                ("height", FieldValue::U64(7)),
                ("level", FieldValue::Str("clash".into())),
            ],
        );
        let json = LogSettings {
            format: LogFormat::Json,
            ..plain()
        };
        let line = render(&r, &json, at(0, 5_000_000));
        assert!(line.ends_with("}\n") && line.lines().count() == 1, "{line}");
        assert!(line.starts_with(
            "{\"level\":\"info\",\"time\":\"2025-03-07T15:04:05.005Z\",\"module\":\"wasmvisor\""
        ));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], "switched \"current\"");
        assert_eq!(v["height"], 7);
        assert_eq!(v["name"], "v2");
        assert_eq!(v["level"], "info");
        assert_eq!(v["field.level"], "clash");
        let untimed = LogSettings {
            time_format: None,
            ..json
        };
        let v: serde_json::Value = serde_json::from_str(&render(&r, &untimed, at(0, 0))).unwrap();
        assert!(v.get("time").is_none());
    }

    fn capture(settings: LogSettings, f: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let layer = SupervisorLayer::new(settings, Sink::Buffer(Arc::clone(&buf)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn events_through_the_layer_carry_span_fields_and_respect_levels() {
        let settings = LogSettings {
            time_format: None,
            ..plain()
        };
        let out = capture(settings, || {
            let span = tracing::info_span!(target: "wasmvisor::upgrade", "upgrade", plan = "v2");
            let _g = span.enter();
            tracing::info!(target: "wasmvisor::backup", dir = %"/h/data-backup", "backup done");
            tracing::debug!(target: "wasmvisor::backup", "hidden at info");
            tracing::info!(target: "hyper::client", "foreign info is hidden");
            tracing::warn!(target: "hyper::client", "foreign warning is shown");
            let err = std::io::Error::other("disk full");
            tracing::error!(target: "wasmvisor::backup", error = &err as &dyn std::error::Error, "backup failed");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "INF backup done dir=/h/data-backup plan=v2 module=wasmvisor",
                "WRN foreign warning is shown plan=v2 target=hyper::client module=wasmvisor",
                "ERR backup failed error=\"disk full\" plan=v2 module=wasmvisor",
            ]
        );
    }

    #[test]
    fn debug_level_and_disabled_logs() {
        let debug = LogSettings {
            level: LogLevel::Debug,
            time_format: None,
            ..plain()
        };
        let out = capture(debug, || tracing::debug!(target: "wasmvisor::x", "seen"));
        assert_eq!(out, "DBG seen module=wasmvisor\n");
        let off = LogSettings {
            disabled: true,
            ..plain()
        };
        let out = capture(off, || tracing::error!(target: "wasmvisor::x", "not seen"));
        assert_eq!(out, "");
    }

    #[test]
    fn settings_change_after_install() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let layer = SupervisorLayer::new(
            LogSettings {
                time_format: None,
                ..plain()
            },
            Sink::Buffer(Arc::clone(&buf)),
        );
        let handle = layer.handle();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "wasmvisor", "one");
            handle.set(LogSettings {
                format: LogFormat::Json,
                time_format: None,
                ..plain()
            });
            tracing::info!(target: "wasmvisor", "two");
            handle.set(LogSettings {
                disabled: true,
                ..plain()
            });
            tracing::info!(target: "wasmvisor", "three");
        });
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "INF one module=wasmvisor\n{\"level\":\"info\",\"module\":\"wasmvisor\",\"message\":\"two\"}\n"
        );
    }

    #[test]
    fn lenient_env_settings() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let s = LogSettings::from_env_lenient(env(&[
            ("WASMVISOR_LOG_FORMAT", "JSON"),
            ("COSMOVISOR_TIMEFORMAT_LOGS", ""),
            ("COSMOVISOR_COLOR_LOGS", "false"),
            ("WASMVISOR_LOG_LEVEL", "debug"),
        ]));
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.time_format, None);
        assert!(!s.color);
        assert_eq!(s.level, LogLevel::Debug);
        let s = LogSettings::from_env_lenient(env(&[
            ("COSMOVISOR_TIMEFORMAT_LOGS", "bogus"),
            ("COSMOVISOR_DISABLE_LOGS", "TRUE"),
        ]));
        assert_eq!(s.time_format.as_deref(), Some("kitchen"));
        assert!(s.disabled);
    }
}
