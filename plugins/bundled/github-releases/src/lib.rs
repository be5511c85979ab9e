//! Bundled resolver `github-releases`: many chains publish their node binaries as
//! GitHub release assets, with a tag derived from the upgrade's name. This plugin
//! finds the release of a plan, picks the asset for this machine and its checksum,
//! and hands the host an artifact to download. The host does the download and the
//! checksum check; a token, when the operator configures one, is added by the host
//! and never seen here (see README.md).

mod checksum;
mod github;
mod settings;

use wasmvisor_plugin_sdk::host;
use wasmvisor_plugin_sdk::resolver::Resolver;
use wasmvisor_plugin_sdk::types::*;

use settings::Settings;
use wasmvisor_plugin_sdk::template::{self, Vars};

struct GithubReleases;

impl Resolver for GithubReleases {
    fn describe() -> Manifest {
        Manifest::new(
            "github-releases",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Resolver,
        )
        .description(
            "the plan's binary from a GitHub release asset (tag and asset name from templates)",
        )
        // GitHub's API, its download host and the hosts downloads redirect to.
        // Loopback is declared for a local mirror, proxy or tunnel (and the tests):
        // like every host, it is used only when the operator grants it.
        .http_hosts(&[
            "api.github.com",
            "github.com",
            "*.githubusercontent.com",
            // GitHub Enterprise, a mirror or a local proxy: whatever the operator lists.
            "{operator-hosts}",
        ])
        .config_keys(settings::KEYS)
    }

    fn resolve(plan: Plan, platform: Platform) -> Result<Vec<Artifact>, Error> {
        let settings = Settings::read()?;
        let vars = Vars::new("github-releases", &plan.name, &platform);
        // Every template is checked before the first request.
        let tag = template::render(&settings.tag_template, &vars, settings::TAG_TEMPLATE)?;
        let wanted = settings
            .asset_template
            .as_deref()
            .map(|t| template::render(t, &vars, settings::ASSET_TEMPLATE))
            .transpose()?;
        let release = github::release_by_tag(&settings.api_base, &settings.repo, &tag)?;
        let asset = match &wanted {
            Some(name) => github::asset_named(&release, name, &settings.repo)?,
            None => github::asset_for_platform(&release, &platform, &settings.repo)?,
        };
        let found = checksum::for_asset(&release, asset)?;
        let mut artifact = if settings.private {
            github::private_download(asset, &settings.repo)?
        } else {
            Artifact::new(asset.browser_download_url.clone())
        };
        match found {
            Some(sum) => artifact.checksum = Some(sum),
            None if settings.allow_missing_checksum && settings.must_have_checksum => {
                return Err(Error::InvalidInput(format!(
                    "{} of release {tag} in {} has no checksum ({}), and the supervisor requires one \
                     (DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM), whatever allow_missing_checksum says",
                    asset.name,
                    settings.repo,
                    checksum::SEARCHED
                )));
            }
            None if settings.allow_missing_checksum => host::warn(&format!(
                "{} of release {tag} in {} has no checksum; allowed by allow_missing_checksum, it will be installed unverified",
                asset.name, settings.repo
            )),
            None => {
                return Err(Error::InvalidInput(format!(
                    "{} of release {tag} in {} has no checksum: no `digest` field and no checksums asset lists it ({}); \
                     refusing an unverified binary (set allow_missing_checksum = true in [plugins.github-releases.config] to accept it)",
                    asset.name,
                    settings.repo,
                    checksum::SEARCHED
                )));
            }
        }
        host::info(&format!(
            "{}: release {tag} of {}, asset {}",
            plan.name, settings.repo, asset.name
        ));
        Ok(vec![artifact])
    }
}

wasmvisor_plugin_sdk::export_resolver!(GithubReleases);
