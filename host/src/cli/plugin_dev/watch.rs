//! Watching a plugin crate's sources: `src/**`, `Cargo.toml`, `plugin.toml`
//! and `build.rs`, debounced, never `target/`. Only changes count: cargo
//! opens and reads `Cargo.toml` at every build, and an event for that
//! would start the next build, forever.

use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;

/// The files of the crate's root whose change means a rebuild.
const ROOT_FILES: [&str; 3] = ["Cargo.toml", "plugin.toml", "build.rs"];

/// Why the crate cannot be watched.
#[derive(Debug, Error)]
pub enum WatchError {
    /// The operating system's watcher refused.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// What was to be watched.
        path: String,
        /// The watcher's error.
        source: notify_debouncer_full::notify::Error,
    },
}

/// A running watch of one crate; it ends when dropped.
pub struct SourceWatch {
    root: PathBuf,
    changes: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    // Kept so that its thread keeps watching.
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl SourceWatch {
    /// Watch the crate in `root` (an absolute path), reporting changes once
    /// `quiet` has passed without another.
    pub fn start(root: &Path, quiet: Duration) -> Result<Self, WatchError> {
        let (send, changes) = mpsc::unbounded_channel();
        let filter_root = root.to_path_buf();
        let handler = move |result: DebounceEventResult| match result {
            Ok(events) => {
                let paths: Vec<PathBuf> = events
                    .into_iter()
                    .filter(|event| !matches!(event.kind, EventKind::Access(_)))
                    .flat_map(|event| event.event.paths)
                    .filter(|path| is_source(&filter_root, path))
                    .collect();
                if !paths.is_empty() {
                    // The receiver is gone only when the loop has ended.
                    let _ = send.send(paths);
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "the file watcher reported an error");
                }
            }
        };
        let watch_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| WatchError::Watch { path, source }
        };
        let mut debouncer = new_debouncer(quiet, None, handler).map_err(watch_error(root))?;
        // The root alone, not recursively: `target/` below it changes at every
        // build, and editors that save by renaming show up as events here.
        debouncer
            .watch(root, RecursiveMode::NonRecursive)
            .map_err(watch_error(root))?;
        let src = root.join("src");
        if src.is_dir() {
            debouncer
                .watch(&src, RecursiveMode::Recursive)
                .map_err(watch_error(&src))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            changes,
            _debouncer: debouncer,
        })
    }

    /// The next change, as paths relative to the crate; none if the watcher
    /// stopped.
    pub async fn next_change(&mut self) -> Option<Vec<PathBuf>> {
        let mut paths = self.changes.recv().await?;
        // Changes that queued up meanwhile (during a build) are one change.
        while let Ok(more) = self.changes.try_recv() {
            paths.extend(more);
        }
        let mut relative: Vec<PathBuf> = paths
            .iter()
            .map(|path| path.strip_prefix(&self.root).unwrap_or(path).to_path_buf())
            .collect();
        relative.sort();
        relative.dedup();
        Some(relative)
    }
}

/// Whether a change of `path` means a rebuild of the crate in `root`.
fn is_source(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let Some(name) = relative.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    // Editors' swap, backup and probe files.
    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") || name == "4913" {
        return false;
    }
    let mut parts = relative.components();
    match (parts.next(), parts.next()) {
        (Some(first), None) => ROOT_FILES.iter().any(|file| first.as_os_str() == *file),
        (Some(first), Some(_)) => first.as_os_str() == "src",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_count() {
        let root = Path::new("/work/crate");
        let table = [
            ("/work/crate/src/lib.rs", true),
            ("/work/crate/src/nested/mod.rs", true),
            ("/work/crate/Cargo.toml", true),
            ("/work/crate/plugin.toml", true),
            ("/work/crate/build.rs", true),
            ("/work/crate/README.md", false),
            ("/work/crate/Cargo.lock", false),
            ("/work/crate/target/wasm/x.wasm", false),
            ("/work/crate/src/.lib.rs.swp", false),
            ("/work/crate/src/lib.rs~", false),
            ("/work/other/src/lib.rs", false),
        ];
        for (path, expected) in table {
            assert_eq!(is_source(root, Path::new(path)), expected, "{path}");
        }
    }
}
