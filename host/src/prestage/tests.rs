use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A binary source that takes `delay`, counts its calls, and installs a script
/// (or fails while `fail` is set).
struct FakeSource {
    calls: Arc<AtomicU32>,
    delay: Duration,
    fail: Arc<std::sync::atomic::AtomicBool>,
}

impl BinarySource for FakeSource {
    fn fetch<'a>(&'a self, plan: &'a Plan, layout: &'a Layout) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.fail.load(Ordering::SeqCst) {
                anyhow::bail!("the mirror is down");
            }
            let bin = layout.upgrade_bin(&plan.name);
            std::fs::create_dir_all(bin.parent().unwrap())?;
            std::fs::write(&bin, "#!/bin/sh\n")?;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
            Ok(())
        })
    }
}

struct Setup {
    _home: tempfile::TempDir,
    config: Config,
    calls: Arc<AtomicU32>,
    fail: Arc<std::sync::atomic::AtomicBool>,
    ext: Extensions,
    prestage: Prestage,
}

fn setup(allow_download: bool, delay: Duration) -> Setup {
    let home = tempfile::tempdir().unwrap();
    let mut config = Config::new(home.path(), "appd");
    config.allow_download_binaries = allow_download;
    let calls = Arc::new(AtomicU32::new(0));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ext = Extensions {
        binary_source: Some(Box::new(FakeSource {
            calls: calls.clone(),
            delay,
            fail: fail.clone(),
        })),
        hooks: None,
    };
    let prestage = Prestage::attach(&config, &mut ext);
    Setup {
        _home: home,
        config,
        calls,
        fail,
        ext,
        prestage,
    }
}

fn plan(name: &str) -> Plan {
    Plan {
        name: name.into(),
        height: 100,
        info: String::new(),
    }
}

async fn settle(s: &Setup, name: &str) {
    for _ in 0..200 {
        let idle = s
            .prestage
            .inner
            .as_ref()
            .and_then(|i| {
                let jobs = i.jobs.lock().unwrap();
                let folder = i.layout.folder_name(name);
                jobs.get(&folder).map(|j| j.state != JobState::Running)
            })
            .unwrap_or(true);
        if idle {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the pre-stage of {name} never finished");
}

#[tokio::test(flavor = "current_thread")]
async fn an_offered_plan_is_installed_once_in_the_background() {
    let s = setup(true, Duration::from_millis(50));
    let v2 = plan("v2");
    s.prestage.offer(&v2);
    s.prestage.offer(&v2);
    assert!(
        !s.config.layout().upgrade_bin("v2").exists(),
        "offer must not block"
    );
    settle(&s, "v2").await;
    assert!(s.config.layout().upgrade_bin("v2").exists());
    s.prestage.offer(&v2);
    settle(&s, "v2").await;
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_upgrade_waits_for_a_running_prestage_instead_of_fetching_again() {
    let s = setup(true, Duration::from_millis(100));
    let v2 = plan("v2");
    s.prestage.offer(&v2);
    // Let the pre-stage take its lock before the upgrade's binary step asks.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let source = s.ext.binary_source.as_ref().unwrap();
    source.fetch(&v2, &s.config.layout()).await.unwrap();
    assert!(s.config.layout().upgrade_bin("v2").exists());
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_prestage_is_not_retried_at_once_and_the_upgrade_still_fetches() {
    let s = setup(true, Duration::ZERO);
    s.fail.store(true, Ordering::SeqCst);
    let v2 = plan("v2");
    s.prestage.offer(&v2);
    settle(&s, "v2").await;
    s.prestage.offer(&v2);
    settle(&s, "v2").await;
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        1,
        "retried before its delay"
    );
    // A different plan for the same folder (new info) is tried at once.
    s.prestage.offer(&Plan {
        info: "https://mirror.example/v2".into(),
        ..v2.clone()
    });
    settle(&s, "v2").await;
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    // At the height, the upgrade's own step fetches again.
    s.fail.store(false, Ordering::SeqCst);
    let source = s.ext.binary_source.as_ref().unwrap();
    source.fetch(&v2, &s.config.layout()).await.unwrap();
    assert_eq!(s.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn inert_without_downloads() {
    let s = setup(false, Duration::ZERO);
    assert!(!s.prestage.is_active());
    s.prestage.offer(&plan("v2"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    // The upgrade's source is left as it was.
    assert!(s.ext.binary_source.is_some());
}

#[test]
fn retry_delays_grow_and_are_capped() {
    assert_eq!(retry_delay(1), Duration::from_secs(30));
    assert_eq!(retry_delay(2), Duration::from_secs(60));
    assert_eq!(retry_delay(3), Duration::from_secs(120));
    assert_eq!(retry_delay(50), MAX_RETRY);
}
