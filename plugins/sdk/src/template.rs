//! Templates for release file names: `{name}`, `{version}`, `{os}`, `{arch}` in a
//! tag, asset name, object key or path in an archive. Shared by the resolvers so
//! that every one of them reads a template the same way. An unknown or unclosed
//! placeholder is an error, never left in a URL or key as literal text.

use crate::types::{Error, Platform};

pub struct Vars<'a> {
    /// The plugin's name, which starts every error message.
    plugin: &'a str,
    /// The plan's name as the chain wrote it (`v2.0.1`).
    name: &'a str,
    /// The name without a leading `v` (`2.0.1`): how release files are usually named.
    version: &'a str,
    os: &'a str,
    arch: &'a str,
}

impl<'a> Vars<'a> {
    /// `plugin` (e.g. `"s3"`) starts the error messages; `name` is the plan's name.
    pub fn new(plugin: &'a str, name: &'a str, platform: &'a Platform) -> Self {
        Vars {
            plugin,
            name,
            version: name.strip_prefix('v').unwrap_or(name),
            os: &platform.os,
            arch: &platform.arch,
        }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        match key {
            "name" => Some(self.name),
            "version" => Some(self.version),
            "os" => Some(self.os),
            "arch" => Some(self.arch),
            _ => None,
        }
    }
}

/// Fills `template`; `key` names the setting in errors.
pub fn render(template: &str, vars: &Vars, key: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            Error::InvalidInput(format!(
                "{}: {key} {template:?} has an unclosed '{{'",
                vars.plugin
            ))
        })?;
        let value = vars.get(&after[..close]).ok_or_else(|| {
            Error::InvalidInput(format!(
                "{}: {key} {template:?}: unknown placeholder {{{}}} (use {{name}}, {{version}}, {{os}}, {{arch}})",
                vars.plugin,
                &after[..close]
            ))
        })?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.trim().is_empty() {
        return Err(Error::InvalidInput(format!(
            "{}: {key} {template:?} gives an empty name",
            vars.plugin
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        Platform {
            os: "linux".into(),
            arch: "arm64".into(),
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let p = platform();
        let vars = Vars::new("s3", "v2.0.1", &p);
        assert_eq!(
            render(
                "gaiad/{name}/gaiad-{version}-{os}-{arch}.tar.gz",
                &vars,
                "k"
            )
            .unwrap(),
            "gaiad/v2.0.1/gaiad-2.0.1-linux-arm64.tar.gz"
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_errors() {
        let p = platform();
        let vars = Vars::new("s3", "v2", &p);
        for bad in ["{daemon}/{name}", "{name", "{}"] {
            match render(bad, &vars, "key_template") {
                Err(Error::InvalidInput(m)) => {
                    assert!(m.starts_with("s3: key_template"), "{m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
