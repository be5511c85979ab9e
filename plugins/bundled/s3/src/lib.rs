//! Bundled resolver `s3`: chains and operators keep node binaries in an S3 bucket
//! (AWS or any S3-compatible store: MinIO, Ceph, R2, a local mirror), one object per
//! plan and platform, named by a key template. This plugin names the object, checks
//! that it exists, finds its sha256 (object metadata or a `<key>.sha256` sidecar) and
//! hands the host the object's URL. The host downloads and verifies it; for a private
//! bucket the host signs both the plugin's requests and the download with the
//! operator's SigV4 keys, which never enter the plugin (see README.md).

mod checksum;
mod object;
mod s3;
mod settings;

use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::resolver::Resolver;
use wasmvisor_plugin_sdk::types::*;

use object::Object;
use settings::{ChecksumSource, Settings};
use wasmvisor_plugin_sdk::template::{self, Vars};

pub const SIDECAR_SUFFIX: &str = ".sha256";

struct S3;

impl Resolver for S3 {
    fn describe() -> Manifest {
        Manifest::new("s3", env!("CARGO_PKG_VERSION"), PluginKind::Resolver)
            .description(
                "the plan's binary from an S3 or S3-compatible bucket (key from a template; public, or signed by the host)",
            )
            // AWS endpoints, and whatever S3-compatible endpoint the operator lists
            // (used only when the operator grants it, like every host).
            .http_hosts(&["*.amazonaws.com", "{operator-hosts}"])
            .config_keys(settings::KEYS)
    }

    fn resolve(plan: Plan, platform: Platform) -> Result<Vec<Artifact>, Error> {
        let settings = Settings::read()?;
        let vars = Vars::new("s3", &plan.name, &platform);
        // Every template is checked before the first request.
        let key = template::render(&settings.key_template, &vars, settings::KEY_TEMPLATE)?;
        let path_in_archive = settings
            .path_in_archive
            .as_deref()
            .map(|t| template::render(t, &vars, settings::PATH_IN_ARCHIVE))
            .transpose()?;
        let object = Object::locate(&settings, &key)?;
        let head = s3::head(&object, &settings.region)?;
        let found = find_checksum(&settings, &object, &head.headers)?;
        let mut artifact = Artifact::new(object.url.clone()).archive(settings.archive);
        if let Some(path) = path_in_archive {
            artifact = artifact.path_in_archive(path);
        }
        match found {
            Found::Sum(sum, from) => {
                host::info(&format!(
                    "{}: s3://{}/{} (sha256 from {from})",
                    plan.name, object.bucket, object.key
                ));
                artifact.checksum = Some(sum);
            }
            Found::Missing(looked) => {
                missing_checksum(&settings, &object, &looked)?;
                host::warn(&format!(
                    "{}: s3://{}/{} has no checksum ({looked}); allowed by allow_missing_checksum, it will be installed unverified",
                    plan.name, object.bucket, object.key
                ));
            }
        }
        Ok(vec![artifact])
    }
}

/// A checksum and where it came from, or what was looked at in vain.
enum Found {
    Sum(Checksum, String),
    Missing(String),
}

fn find_checksum(
    settings: &Settings,
    object: &Object,
    head_headers: &[(String, String)],
) -> Result<Found, Error> {
    let metadata = matches!(
        settings.checksum,
        ChecksumSource::Auto | ChecksumSource::Metadata
    );
    if metadata && let Some(sum) = checksum::from_headers(head_headers, &object.key)? {
        return Ok(Found::Sum(sum, "the object's metadata".to_string()));
    }
    let mut looked = Vec::new();
    if metadata {
        looked.push(format!(
            "no {} or {} metadata",
            checksum::META_HEADER,
            checksum::S3_HEADER
        ));
    }
    if settings.checksum != ChecksumSource::Metadata {
        let sidecar = object.sibling(SIDECAR_SUFFIX);
        match s3::get_sidecar(&sidecar, &settings.region)? {
            s3::Sidecar::Found(text) => {
                let sum = checksum::from_sidecar(&text, &object.key, &sidecar.key)?;
                return Ok(Found::Sum(sum, sidecar.key));
            }
            s3::Sidecar::Absent => looked.push(format!("no object {}", sidecar.key)),
            s3::Sidecar::Forbidden => looked.push(format!(
                "{} answered 403 (absent, or not readable with this access)",
                sidecar.key
            )),
        }
    }
    Ok(Found::Missing(looked.join(", ")))
}

/// Whether an object without a checksum may be installed; the error says how to fix it.
fn missing_checksum(settings: &Settings, object: &Object, looked: &str) -> Result<(), Error> {
    let what = format!("s3://{}/{}", object.bucket, object.key);
    if !settings.allow_missing_checksum {
        return Err(Error::InvalidInput(format!(
            "s3: {what} has no checksum ({looked}); refusing an unverified binary. Publish its sha256 as \
             {what}{SIDECAR_SUFFIX} or as metadata sha256=<hex>, or set allow_missing_checksum = true in [plugins.s3.config]"
        )));
    }
    if settings.must_have_checksum {
        return Err(Error::InvalidInput(format!(
            "s3: {what} has no checksum ({looked}), and the supervisor requires one \
             (DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM), whatever allow_missing_checksum says"
        )));
    }
    Ok(())
}

wasmvisor_plugin_sdk::export_resolver!(S3);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut all = vec![
            (settings::BUCKET, "bins"),
            (settings::ENDPOINT, "http://127.0.0.1:9000"),
        ];
        all.extend_from_slice(pairs);
        Settings::parse(|key| {
            all.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn the_manifest_asks_for_aws_and_operator_hosts_and_its_config_keys() {
        let m = S3::describe();
        assert_eq!(m.name, "s3");
        assert_eq!(m.kind, PluginKind::Resolver);
        assert_eq!(m.http_hosts, vec!["*.amazonaws.com", "{operator-hosts}"]);
        assert!(
            m.config_keys
                .iter()
                .any(|k| k == settings::MUST_HAVE_CHECKSUM)
        );
        assert!(m.files.is_empty());
    }

    #[test]
    fn metadata_checksum_needs_no_sidecar_request() {
        // Natively a host call would abort: returning here proves none was made.
        let s = settings(&[]);
        let o = Object::locate(&s, "v2/appd").unwrap();
        let h = vec![(checksum::META_HEADER.to_string(), "a".repeat(64))];
        match find_checksum(&s, &o, &h).unwrap() {
            Found::Sum(sum, from) => {
                assert_eq!(sum.hex, "a".repeat(64));
                assert!(from.contains("metadata"));
            }
            Found::Missing(m) => panic!("{m}"),
        }
    }

    #[test]
    fn metadata_only_without_metadata_is_missing_without_a_request() {
        let s = settings(&[(settings::CHECKSUM, "metadata")]);
        let o = Object::locate(&s, "v2/appd").unwrap();
        match find_checksum(&s, &o, &[]).unwrap() {
            Found::Missing(m) => assert!(m.contains("x-amz-meta-sha256"), "{m}"),
            Found::Sum(..) => panic!("no checksum was offered"),
        }
    }

    #[test]
    fn a_missing_checksum_is_refused_unless_allowed_and_not_required() {
        let o = Object::locate(&settings(&[]), "v2/appd").unwrap();
        let refused = missing_checksum(&settings(&[]), &o, "nothing");
        assert!(
            matches!(&refused, Err(Error::InvalidInput(m)) if m.contains("allow_missing_checksum = true") && m.contains("s3://bins/v2/appd.sha256")),
            "{refused:?}"
        );
        let allowed = settings(&[(settings::ALLOW_MISSING_CHECKSUM, "true")]);
        assert!(missing_checksum(&allowed, &o, "nothing").is_ok());
        let required = settings(&[
            (settings::ALLOW_MISSING_CHECKSUM, "true"),
            (settings::MUST_HAVE_CHECKSUM, "true"),
        ]);
        assert!(matches!(
            missing_checksum(&required, &o, "nothing"),
            Err(Error::InvalidInput(m)) if m.contains("DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM")
        ));
    }
}
