//! Resolver for Example Chain. Releases are published as
//! `<base-url>/<plan>/<daemon>-<os>-<arch>.tar.gz` (the binary at `bin/<daemon>`
//! inside), with a `SHA256SUMS` file beside them. wasmvisor downloads, verifies and
//! installs; this plugin only says where and which checksum.

use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::resolver::Resolver;
use wasmvisor_plugin_sdk::types::*;

struct ExampleChain;

impl Resolver for ExampleChain {
    fn describe() -> Manifest {
        Manifest::new(
            "example-chain-resolver",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Resolver,
        )
        .description("Example Chain release binaries, verified against SHA256SUMS")
        .http_hosts(&["releases.example-chain.io"])
        .config_keys(&["daemon"])
    }

    fn resolve(plan: Plan, platform: Platform) -> Result<Vec<Artifact>, Error> {
        let daemon = host::config_get("daemon").unwrap_or_else(|| "exampled".into());
        let dir = format!("https://releases.example-chain.io/{}", plan.name);
        let file = archive_name(&daemon, &platform.os, &platform.arch);
        let sums = host::http_get(&format!("{dir}/SHA256SUMS"))?;
        let sha256 = find_checksum(&String::from_utf8_lossy(&sums), &file)
            .ok_or_else(|| Error::NotApplicable(format!("{file} is not in {dir}/SHA256SUMS")))?;
        Ok(vec![
            Artifact::new(format!("{dir}/{file}"))
                .sha256(sha256)
                .archive(ArchiveKind::TarGz)
                .path_in_archive(format!("bin/{daemon}")),
        ])
    }
}

/// `exampled-linux-amd64.tar.gz`
pub fn archive_name(daemon: &str, os: &str, arch: &str) -> String {
    format!("{daemon}-{os}-{arch}.tar.gz")
}

/// The digest of `file` in a `sha256sum` listing (`<hex>  <file>` per line).
pub fn find_checksum(sums: &str, file: &str) -> Option<String> {
    sums.lines().find_map(|line| {
        let (hex, name) = line.split_once(char::is_whitespace)?;
        let name = name.trim().trim_start_matches('*');
        (name == file && hex.len() == 64).then(|| hex.to_string())
    })
}

wasmvisor_plugin_sdk::export_resolver!(ExampleChain);

#[cfg(test)]
mod tests {
    use super::*;

    const SUMS: &str = "\
1111111111111111111111111111111111111111111111111111111111111111  exampled-darwin-arm64.tar.gz
2222222222222222222222222222222222222222222222222222222222222222 *exampled-linux-amd64.tar.gz
";

    #[test]
    fn archive_names_follow_the_release_layout() {
        assert_eq!(
            archive_name("exampled", "linux", "arm64"),
            "exampled-linux-arm64.tar.gz"
        );
    }

    #[test]
    fn checksum_is_found_for_the_right_file_only() {
        assert_eq!(
            find_checksum(SUMS, "exampled-linux-amd64.tar.gz").unwrap(),
            "2".repeat(64)
        );
        assert_eq!(find_checksum(SUMS, "exampled-linux-arm64.tar.gz"), None);
        assert_eq!(
            find_checksum("garbage", "exampled-linux-amd64.tar.gz"),
            None
        );
    }
}
