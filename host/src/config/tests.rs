use std::collections::HashMap;

use super::*;

/// A fake environment plus a temp home that exists (the backup dir defaults to it).
struct Env {
    vars: HashMap<String, OsString>,
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let mut vars = HashMap::new();
        vars.insert(
            vars::DAEMON_HOME.to_owned(),
            home.path().as_os_str().to_owned(),
        );
        vars.insert(vars::DAEMON_NAME.to_owned(), OsString::from("gaiad"));
        Env { vars, home }
    }

    fn set(mut self, k: &str, v: &str) -> Env {
        self.vars.insert(k.to_owned(), OsString::from(v));
        self
    }

    fn unset(mut self, k: &str) -> Env {
        self.vars.remove(k);
        self
    }

    fn load(&self) -> Result<Config, ConfigError> {
        self.load_opts(&LoadOptions::default())
    }

    fn load_file(&self, toml_text: &str) -> Result<Config, ConfigError> {
        let path = self.home.path().join("config.toml");
        std::fs::write(&path, toml_text).unwrap();
        self.load_opts(&LoadOptions {
            file: Some(path),
            ..LoadOptions::default()
        })
    }

    fn load_opts(&self, opts: &LoadOptions) -> Result<Config, ConfigError> {
        load_with(|k| self.vars.get(k).cloned(), opts)
    }

    fn err(&self) -> ConfigError {
        self.load().expect_err("configuration should be refused")
    }
}

fn only_problem(err: &ConfigError) -> &Problem {
    assert_eq!(err.problems.len(), 1, "{err}");
    &err.problems[0]
}

#[test]
fn defaults_match_cosmovisor() {
    let env = Env::new();
    let c = env.load().unwrap();
    assert_eq!(c.home, env.home.path());
    assert_eq!(c.name, "gaiad");
    assert!(!c.allow_download_binaries);
    assert!(!c.download_must_have_checksum);
    assert!(c.restart_after_upgrade);
    assert_eq!(c.restart_delay, None);
    assert_eq!(c.shutdown_grace, None);
    assert_eq!(c.poll_interval, Duration::from_millis(300));
    assert_eq!(c.data_backup_dir, env.home.path());
    assert!(!c.unsafe_skip_backup);
    assert_eq!(c.preupgrade_max_retries, 0);
    assert_eq!(c.grpc_address, "localhost:9090");
    assert!(!c.disable_logs);
    assert!(c.color_logs);
    assert_eq!(c.time_format_logs.as_deref(), Some("kitchen"));
    assert_eq!(c.custom_preupgrade, None);
    assert!(!c.disable_recase);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.log_level, LogLevel::Info);
    assert!(!c.disable_inotify);
    assert!(c.plugins.is_empty());
    assert_eq!(c.config_file, None);
}

#[test]
fn booleans_take_any_case_and_empty_means_default() {
    let c = Env::new()
        .set(vars::DAEMON_ALLOW_DOWNLOAD_BINARIES, "TRUE")
        .set(vars::DAEMON_RESTART_AFTER_UPGRADE, "False")
        .set(vars::COSMOVISOR_COLOR_LOGS, "")
        .set(vars::UNSAFE_SKIP_BACKUP, "tRuE")
        .set(vars::WASMVISOR_DISABLE_INOTIFY, "true")
        .load()
        .unwrap();
    assert!(c.allow_download_binaries);
    assert!(!c.restart_after_upgrade);
    assert!(c.color_logs, "empty = default (true)");
    assert!(c.unsafe_skip_backup);
    assert!(c.disable_inotify);
}

#[test]
fn bad_boolean_names_the_variable_and_the_fix() {
    for bad in ["yes", "1", "on", " true"] {
        let err = Env::new().set(vars::COSMOVISOR_DISABLE_LOGS, bad).err();
        let p = only_problem(&err);
        assert_eq!(p.variable, vars::COSMOVISOR_DISABLE_LOGS);
        assert!(p.message.contains("write true or false"), "{p}");
        assert!(p.message.contains("in the environment"), "{p}");
    }
}

#[test]
fn durations_follow_go_syntax() {
    let c = Env::new()
        .set(vars::DAEMON_POLL_INTERVAL, "1.5s")
        .set(vars::DAEMON_RESTART_DELAY, "1h30m")
        .set(vars::DAEMON_SHUTDOWN_GRACE, "300ms")
        .load()
        .unwrap();
    assert_eq!(c.poll_interval, Duration::from_millis(1500));
    assert_eq!(c.restart_delay, Some(Duration::from_secs(5400)));
    assert_eq!(c.shutdown_grace, Some(Duration::from_millis(300)));

    let c = Env::new()
        .set(vars::DAEMON_POLL_INTERVAL, "")
        .set(vars::DAEMON_SHUTDOWN_GRACE, "")
        .load()
        .unwrap();
    assert_eq!(c.poll_interval, DEFAULT_POLL_INTERVAL, "empty = default");
    assert_eq!(c.shutdown_grace, None);
}

#[test]
fn bad_durations_are_refused() {
    for var in [
        vars::DAEMON_POLL_INTERVAL,
        vars::DAEMON_RESTART_DELAY,
        vars::DAEMON_SHUTDOWN_GRACE,
    ] {
        for bad in ["0", "600", "-3m", "bad", "0s", "5d"] {
            let err = Env::new().set(var, bad).err();
            let p = only_problem(&err);
            assert_eq!(p.variable, var, "{bad}");
            assert!(p.message.contains(&format!("{bad:?}")), "{p}");
        }
    }
    let err = Env::new().set(vars::DAEMON_POLL_INTERVAL, "600").err();
    assert!(err.to_string().contains("600ms"), "suggests a unit: {err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Env::new()
        .unset(vars::DAEMON_NAME)
        .set(vars::DAEMON_POLL_INTERVAL, "600")
        .set(vars::COSMOVISOR_COLOR_LOGS, "maybe")
        .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, "iso")
        .set(vars::DAEMON_PREUPGRADE_MAX_RETRIES, "-1")
        .set(vars::WASMVISOR_LOG_FORMAT, "xml")
        .err();
    for var in [
        vars::DAEMON_NAME,
        vars::DAEMON_POLL_INTERVAL,
        vars::COSMOVISOR_COLOR_LOGS,
        vars::COSMOVISOR_TIMEFORMAT_LOGS,
        vars::DAEMON_PREUPGRADE_MAX_RETRIES,
        vars::WASMVISOR_LOG_FORMAT,
    ] {
        assert!(err.mentions(var), "{var} missing from {err}");
    }
    assert_eq!(err.problems.len(), 6, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("invalid configuration (6 problems):"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 7, "{text}");
}

#[test]
fn home_is_required_and_absolute() {
    let err = Env::new().unset(vars::DAEMON_HOME).err();
    assert!(only_problem(&err).message.contains("is not set"), "{err}");
    let err = Env::new().set(vars::DAEMON_HOME, "").err();
    assert!(err.mentions(vars::DAEMON_HOME), "empty is unset: {err}");
    let err = Env::new().set(vars::DAEMON_HOME, "relative/home").err();
    assert!(only_problem(&err).message.contains("absolute"), "{err}");
}

#[test]
fn name_is_required_and_a_file_name() {
    let err = Env::new().unset(vars::DAEMON_NAME).err();
    assert!(
        only_problem(&err).message.contains("DAEMON_NAME=gaiad"),
        "{err}"
    );
    for bad in ["bin/gaiad", "..", "."] {
        let err = Env::new().set(vars::DAEMON_NAME, bad).err();
        assert!(
            only_problem(&err).message.contains("not a file name"),
            "{err}"
        );
    }
}

#[test]
fn backup_dir_must_exist_unless_backups_are_skipped() {
    let env = Env::new();
    let missing = env.home.path().join("no-such-dir");
    let env = env.set(vars::DAEMON_DATA_BACKUP_DIR, missing.to_str().unwrap());
    let err = env.err();
    let p = only_problem(&err);
    assert_eq!(p.variable, vars::DAEMON_DATA_BACKUP_DIR);
    assert!(
        p.message.contains("mkdir -p") && p.message.contains("UNSAFE_SKIP_BACKUP"),
        "{p}"
    );

    let c = env
        .load_opts(&LoadOptions {
            skip_dir_checks: true,
            ..LoadOptions::default()
        })
        .unwrap();
    assert_eq!(c.data_backup_dir, missing);

    let env = env.set(vars::UNSAFE_SKIP_BACKUP, "true");
    assert_eq!(env.load().unwrap().data_backup_dir, missing);

    let err = Env::new()
        .set(vars::DAEMON_DATA_BACKUP_DIR, "rel/dir")
        .err();
    assert!(only_problem(&err).message.contains("absolute"), "{err}");

    let env = Env::new();
    let file = env.home.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = env
        .set(vars::DAEMON_DATA_BACKUP_DIR, file.to_str().unwrap())
        .err();
    assert!(
        only_problem(&err).message.contains("not a directory"),
        "{err}"
    );
}

#[test]
fn backup_dir_defaults_to_a_home_that_must_exist() {
    let err = Env::new()
        .set(vars::DAEMON_HOME, "/definitely/not/here")
        .err();
    assert!(err.mentions(vars::DAEMON_DATA_BACKUP_DIR), "{err}");
}

#[test]
fn time_format_names_and_empty() {
    for name in TIME_FORMATS {
        let c = Env::new()
            .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, name)
            .load()
            .unwrap();
        assert_eq!(c.time_format_logs.as_deref(), Some(name));
    }
    let c = Env::new()
        .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, "")
        .load()
        .unwrap();
    assert_eq!(c.time_format_logs, None, "set-but-empty = no timestamp");
    let err = Env::new()
        .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, "Kitchen")
        .err();
    assert!(only_problem(&err).message.contains("rfc3339nano"), "{err}");
}

#[test]
fn retries_grpc_preupgrade_recase() {
    let c = Env::new()
        .set(vars::DAEMON_PREUPGRADE_MAX_RETRIES, "3")
        .set(vars::DAEMON_GRPC_ADDRESS, "10.0.0.1:9090")
        .set(vars::COSMOVISOR_CUSTOM_PREUPGRADE, "pre.sh")
        .set(vars::COSMOVISOR_DISABLE_RECASE, "true")
        .load()
        .unwrap();
    assert_eq!(c.preupgrade_max_retries, 3);
    assert_eq!(c.grpc_address, "10.0.0.1:9090");
    assert_eq!(c.custom_preupgrade.as_deref(), Some("pre.sh"));
    assert!(c.layout().folder_name("V2") == "V2");
    for bad in ["x", "1.5", "-1"] {
        let err = Env::new()
            .set(vars::DAEMON_PREUPGRADE_MAX_RETRIES, bad)
            .err();
        assert!(err.mentions(vars::DAEMON_PREUPGRADE_MAX_RETRIES), "{bad}");
    }
}

#[test]
fn log_format_and_level() {
    let c = Env::new()
        .set(vars::WASMVISOR_LOG_FORMAT, "JSON")
        .set(vars::WASMVISOR_LOG_LEVEL, "debug")
        .load()
        .unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.log_level, LogLevel::Debug);
    let err = Env::new().set(vars::WASMVISOR_LOG_LEVEL, "loud").err();
    assert!(
        only_problem(&err)
            .message
            .contains("debug or info or warn or error"),
        "{err}"
    );
}

#[test]
fn file_values_apply_and_env_overrides_them() {
    let env = Env::new()
        .unset(vars::DAEMON_NAME)
        .set(vars::DAEMON_POLL_INTERVAL, "2s");
    let c = env
        .load_file(
            r#"
daemon_name = "simd"
daemon_poll_interval = "1s"
daemon_restart_after_upgrade = false
daemon_allow_download_binaries = "TRUE"
daemon_preupgrade_max_retries = 2
cosmovisor_timeformat_logs = "rfc3339"
"#,
        )
        .unwrap();
    assert_eq!(c.name, "simd");
    assert_eq!(c.poll_interval, Duration::from_secs(2), "env wins");
    assert!(!c.restart_after_upgrade);
    assert!(c.allow_download_binaries);
    assert_eq!(c.preupgrade_max_retries, 2);
    assert_eq!(c.time_format_logs.as_deref(), Some("rfc3339"));
    assert!(c.color_logs, "keys left out take their defaults");
    assert_eq!(c.config_file, Some(env.home.path().join("config.toml")));
}

#[test]
fn empty_env_does_not_override_the_file_but_empty_timeformat_does() {
    let env = Env::new()
        .set(vars::DAEMON_RESTART_AFTER_UPGRADE, "")
        .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, "");
    let c = env
        .load_file(
            "daemon_restart_after_upgrade = false\ncosmovisor_timeformat_logs = \"rfc3339\"\n",
        )
        .unwrap();
    assert!(!c.restart_after_upgrade);
    assert_eq!(c.time_format_logs, None);
}

#[test]
fn file_written_by_cosmovisor_loads() {
    // What `cosmovisor init` writes (go-toml encodes durations as nanoseconds).
    let env = Env::new().unset(vars::DAEMON_HOME).unset(vars::DAEMON_NAME);
    let home = env.home.path().display().to_string();
    let c = env
        .load_file(&format!(
            r#"daemon_home = '{home}'
daemon_name = 'gaiad'
daemon_allow_download_binaries = false
daemon_download_must_have_checksum = false
daemon_restart_after_upgrade = true
daemon_restart_delay = 0
daemon_shutdown_grace = 0
daemon_poll_interval = 300000000
unsafe_skip_backup = false
daemon_data_backup_dir = '{home}'
daemon_preupgrade_max_retries = 0
daemon_grpc_address = 'localhost:9090'
cosmovisor_disable_logs = false
cosmovisor_color_logs = true
cosmovisor_timeformat_logs = 'kitchen'
cosmovisor_custom_preupgrade = ''
cosmovisor_disable_recase = false
"#
        ))
        .unwrap();
    assert_eq!(c.home, env.home.path());
    assert_eq!(c.poll_interval, Duration::from_millis(300));
    assert_eq!(c.restart_delay, None);
    assert_eq!(c.shutdown_grace, None);
    assert_eq!(c.custom_preupgrade, None);
}

#[test]
fn file_problems_name_the_key_and_the_file() {
    let env = Env::new();
    let err = env
        .load_file("daemon_poll_interval = \"600\"\ncosmovisor_color_logs = 3\n")
        .unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("daemon_poll_interval in "), "{text}");
    assert!(text.contains("cosmovisor_color_logs = 3"), "{text}");
    assert!(text.contains("wrong type"), "{text}");

    let err = env.load_file("daemon_shutdown_grace = -5\n").unwrap_err();
    assert!(
        only_problem(&err).message.contains("greater than 0"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_errors_but_plugins_are_kept() {
    let env = Env::new();
    let err = env.load_file("daemon_nmae = \"x\"\nfoo = 1\n").unwrap_err();
    let p = only_problem(&err);
    assert_eq!(p.variable, "--cosmovisor-config");
    assert!(p.message.contains("unknown keys daemon_nmae, foo"), "{p}");

    let err = env.load_file("[other]\nx = 1\n").unwrap_err();
    assert!(
        only_problem(&err).message.contains("unknown key other"),
        "{err}"
    );

    let c = env
        .load_file("daemon_poll_interval = \"1s\"\n[plugins.log-scanner]\nenabled = true\n[plugins.s3]\nbucket = \"b\"\n")
        .unwrap();
    assert_eq!(c.plugins.len(), 2);
    assert_eq!(c.plugins["s3"]["bucket"].as_str(), Some("b"));

    let err = env.load_file("plugins = 3\n").unwrap_err();
    assert!(
        only_problem(&err).message.contains("must be a table"),
        "{err}"
    );
}

#[test]
fn unreadable_or_invalid_file_is_reported_with_the_other_problems() {
    let env = Env::new().set(vars::COSMOVISOR_COLOR_LOGS, "nope");
    let opts = LoadOptions {
        file: Some(env.home.path().join("missing.toml")),
        ..LoadOptions::default()
    };
    let err = env.load_opts(&opts).unwrap_err();
    assert!(
        err.mentions("--cosmovisor-config") && err.mentions(vars::COSMOVISOR_COLOR_LOGS),
        "{err}"
    );
    assert!(err.to_string().contains("cannot read"), "{err}");

    let err = env.load_file("a = = b\n").unwrap_err();
    assert!(
        err.to_string().contains("not valid TOML at line 1"),
        "{err}"
    );
}

#[test]
fn toml_output_loads_back_to_the_same_configuration() {
    let env = Env::new()
        .set(vars::DAEMON_RESTART_DELAY, "1m30s")
        .set(vars::DAEMON_POLL_INTERVAL, "1.5s")
        .set(vars::COSMOVISOR_TIMEFORMAT_LOGS, "")
        .set(vars::COSMOVISOR_CUSTOM_PREUPGRADE, "pre \"x\".sh")
        .set(vars::WASMVISOR_LOG_FORMAT, "json");
    let mut original = env.load().unwrap();
    original.plugins = toml::from_str("[s3]\nbucket = \"b\"\n").unwrap();
    let text = original.to_toml();
    let bare = Env::new().unset(vars::DAEMON_HOME).unset(vars::DAEMON_NAME);
    let back = bare.load_file(&text).unwrap();
    let without_source = |c: &Config| {
        let mut c = c.clone();
        c.config_file = None;
        c.to_json()
    };
    assert_eq!(without_source(&back), without_source(&original), "{text}");
    assert!(
        !text.contains("daemon_shutdown_grace"),
        "unset values are left out: {text}"
    );
}

#[test]
fn env_lines_and_json_list_every_variable() {
    let c = Env::new()
        .set(vars::DAEMON_SHUTDOWN_GRACE, "10s")
        .load()
        .unwrap();
    let lines = c.to_env_lines();
    assert_eq!(lines.lines().count(), vars::ALL.len());
    assert!(lines.contains("DAEMON_SHUTDOWN_GRACE=10s\n"), "{lines}");
    assert!(lines.contains("DAEMON_RESTART_DELAY=\n"), "{lines}");
    assert!(lines.contains("DAEMON_POLL_INTERVAL=300ms\n"), "{lines}");
    let json = c.to_json();
    assert_eq!(
        json["DAEMON_RESTART_AFTER_UPGRADE"],
        serde_json::json!(true)
    );
    assert_eq!(json["DAEMON_PREUPGRADE_MAX_RETRIES"], serde_json::json!(0));
    assert_eq!(json["DAEMON_NAME"], serde_json::json!("gaiad"));
}

#[test]
fn non_utf8_home_is_accepted_but_non_utf8_text_is_not() {
    use std::os::unix::ffi::OsStringExt;
    let env = Env::new().set(vars::UNSAFE_SKIP_BACKUP, "true");
    let mut vars = env.vars.clone();
    vars.insert(
        vars::DAEMON_HOME.into(),
        OsString::from_vec(b"/tmp/h\xff".to_vec()),
    );
    let c = load_with(|k| vars.get(k).cloned(), &LoadOptions::default()).unwrap();
    assert_eq!(c.home.as_os_str().len(), 7);
    vars.insert(
        vars::DAEMON_GRPC_ADDRESS.into(),
        OsString::from_vec(b"a\xff".to_vec()),
    );
    let err = load_with(|k| vars.get(k).cloned(), &LoadOptions::default()).unwrap_err();
    assert!(only_problem(&err).message.contains("UTF-8"), "{err}");
}

#[test]
fn file_keys_ignore_case_like_cosmovisor() {
    let env = Env::new().unset(vars::DAEMON_NAME);
    let c = env
        .load_file("DAEMON_NAME = \"simd\"\nDaemon_Poll_Interval = \"1s\"\n")
        .unwrap();
    assert_eq!(c.name, "simd");
    assert_eq!(c.poll_interval, Duration::from_secs(1));
    let err = env
        .load_file("daemon_name = \"a\"\nDAEMON_NAME = \"b\"\n")
        .unwrap_err();
    assert!(err.to_string().contains("sets daemon_name twice"), "{err}");
}
