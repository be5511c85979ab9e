//! A plugin's small persistent key-value state (e.g. "last plan I reported"), in
//! `$DAEMON_HOME/cosmovisor/.plugin-state/<name>.json`, private to that plugin.
//!
//! Loaded on first use, written atomically (temporary file + rename) on every change
//! so a crash never leaves a torn file; bounded in keys and bytes so a plugin cannot
//! fill the disk. Without a home (offline CLI calls) the state lives in memory only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

pub struct KvState {
    file: Option<PathBuf>,
    map: Option<BTreeMap<String, Vec<u8>>>,
    max_keys: usize,
    max_bytes: usize,
}

impl KvState {
    pub fn new(file: Option<PathBuf>, max_keys: usize, max_bytes: usize) -> Self {
        KvState {
            file,
            map: None,
            max_keys,
            max_bytes,
        }
    }

    fn map(&mut self) -> &mut BTreeMap<String, Vec<u8>> {
        let file = self.file.clone();
        self.map
            .get_or_insert_with(|| file.map(|f| load(&f)).unwrap_or_default())
    }

    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.map().get(key).cloned()
    }

    pub fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let (max_keys, max_bytes) = (self.max_keys, self.max_bytes);
        let map = self.map();
        let is_new = !map.contains_key(&key);
        if is_new && map.len() >= max_keys {
            return Err(format!(
                "state-set {key:?}: the state already holds the maximum of {max_keys} keys"
            ));
        }
        let used: usize = map
            .iter()
            .filter(|(k, _)| **k != key)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if used + key.len() + value.len() > max_bytes {
            return Err(format!(
                "state-set {key:?}: the state would exceed its quota of {max_bytes} bytes"
            ));
        }
        map.insert(key, value);
        self.save()
    }

    pub fn delete(&mut self, key: &str) -> Result<(), String> {
        if self.map().remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&mut self) -> Result<(), String> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        let encoded: BTreeMap<&String, String> = self
            .map()
            .iter()
            .map(|(k, v)| (k, hex::encode(v)))
            .collect();
        let json = serde_json::to_vec_pretty(&encoded).map_err(|e| e.to_string())?;
        let write = || -> std::io::Result<()> {
            let dir = file
                .parent()
                .ok_or_else(|| std::io::Error::other("state file without a directory"))?;
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&json)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&file).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| format!("saving the plugin state to {}: {e}", file.display()))
    }
}

fn load(file: &PathBuf) -> BTreeMap<String, Vec<u8>> {
    let Ok(text) = std::fs::read(file) else {
        return BTreeMap::new();
    };
    match serde_json::from_slice::<BTreeMap<String, String>>(&text) {
        Ok(m) => m
            .into_iter()
            .filter_map(|(k, v)| Some((k, hex::decode(v).ok()?)))
            .collect(),
        Err(e) => {
            tracing::warn!(
                "ignoring the unreadable plugin state {}: {e}",
                file.display()
            );
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s/p.json");
        let mut s = KvState::new(Some(file.clone()), 4, 100);
        s.set("k".into(), b"v".to_vec()).unwrap();
        let mut again = KvState::new(Some(file), 4, 100);
        assert_eq!(again.get("k"), Some(b"v".to_vec()));
    }

    #[test]
    fn quotas_are_enforced() {
        let mut s = KvState::new(None, 2, 10);
        s.set("a".into(), vec![0; 3]).unwrap();
        s.set("b".into(), vec![0; 3]).unwrap();
        assert!(
            s.set("c".into(), vec![])
                .unwrap_err()
                .contains("maximum of 2 keys")
        );
        assert!(s.set("a".into(), vec![0; 9]).unwrap_err().contains("quota"));
        s.set("a".into(), vec![0; 5]).unwrap();
    }
}
