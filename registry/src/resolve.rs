//! Choosing a version: the newest published, non-yanked version that
//! satisfies a requirement such as `^1.2`, `~1.4.0`, `=2.0.1` or `*`.
//!
//! Prereleases follow semver's rule: `1.3.0-beta.1` is chosen only by a
//! requirement that itself names a prerelease of 1.3.0 (`>=1.3.0-beta`),
//! never by `^1.2` or `*`.

use semver::{Version, VersionReq};

/// A published version and whether it was yanked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The version.
    pub version: Version,
    /// Yanked versions are never chosen (they keep running where pinned).
    pub yanked: bool,
}

/// The newest candidate that `requirement` accepts and that is not yanked.
pub fn resolve<'a>(requirement: &VersionReq, candidates: &'a [Candidate]) -> Option<&'a Version> {
    candidates
        .iter()
        .filter(|c| !c.yanked && requirement.matches(&c.version))
        .map(|c| &c.version)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(list: &[(&str, bool)]) -> Vec<Candidate> {
        list.iter()
            .map(|(version, yanked)| Candidate {
                version: Version::parse(version).expect("version"),
                yanked: *yanked,
            })
            .collect()
    }

    #[test]
    fn resolution_table() {
        let published = candidates(&[
            ("1.0.0", false),
            ("1.2.0", false),
            ("1.2.5", false),
            ("1.3.0", true),
            ("1.4.0", false),
            ("1.4.2", false),
            ("1.5.0-beta.1", false),
            ("2.0.0", false),
            ("2.0.1", false),
            ("3.0.0-rc.1", false),
        ]);
        let table: [(&str, Option<&str>); 12] = [
            ("^1.2", Some("1.4.2")),
            ("~1.2.0", Some("1.2.5")),
            ("~1.4.0", Some("1.4.2")),
            ("=1.3.0", None),
            ("=2.0.1", Some("2.0.1")),
            ("^2", Some("2.0.1")),
            ("*", Some("2.0.1")),
            (">=1.5.0-beta", Some("2.0.1")),
            ("~1.5.0-beta", Some("1.5.0-beta.1")),
            ("^3", None),
            ("^3.0.0-rc", Some("3.0.0-rc.1")),
            ("^4", None),
        ];
        for (requirement, expected) in table {
            let requirement_parsed = VersionReq::parse(requirement).expect("requirement");
            let chosen = resolve(&requirement_parsed, &published).map(ToString::to_string);
            assert_eq!(chosen.as_deref(), expected, "{requirement}");
        }
    }
}
