//! The node's identity, `node.json` in the state directory: which control plane this node belongs
//! to, its id, and its credential (what `join` writes and every other command reads).
//!
//! `node.json` is created with mode `0600` (set when the file is created, never widened), written
//! atomically (a temporary file in the same directory, fsync, rename or link, fsync of the
//! directory), and refused on load when group or others may access it. The directory itself is
//! created with mode `0700`.

use std::fmt;
use std::fs::{DirBuilder, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::atomic;
use crate::secret::Secret;

/// Where the agent keeps its state unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ruche-agent";
/// The file holding the node's identity, in the state directory.
pub const NODE_FILE: &str = "node.json";
/// `node.json` is larger than any real one beyond this: refuse to read on.
const MAX_NODE_FILE_BYTES: u64 = 64 * 1024;

/// What a joined node knows about itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// The control plane's base URL, as given to `join` (without a trailing slash).
    pub control_plane_url: Url,
    pub node_id: String,
    /// Sent as `Authorization: Bearer …` with every request after the join.
    pub credential: Secret,
}

impl fmt::Debug for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeState")
            .field("control_plane_url", &self.control_plane_url.as_str())
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// What went wrong with the state directory or `node.json`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "{} already exists: this machine has joined a collective already (pass --force to \
         replace it)",
        path.display()
    )]
    AlreadyJoined { path: PathBuf },
    #[error(
        "{} does not exist: this node has not joined yet (run `node-agent join <control-plane-url> \
         <join-token> --address <ip>` first, with the same --state-dir)",
        path.display()
    )]
    NotJoined { path: PathBuf },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "{} has mode {mode:04o}: group or others may access the node's credential; run \
         `chmod 600 {}` if it was not read by anyone else, or join again",
        path.display(),
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{} is larger than {MAX_NODE_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not a node file", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The agent's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> StateDir {
        StateDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<state dir>/node.json`.
    pub fn node_file(&self) -> PathBuf {
        self.path.join(NODE_FILE)
    }

    /// Creates the directory (and its missing parents) with mode `0700` if it does not exist.
    /// An existing directory is left as it is.
    pub fn create(&self) -> Result<(), StateError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(io("create the directory", &self.path))?;
        let metadata =
            std::fs::metadata(&self.path).map_err(io("inspect the directory", &self.path))?;
        if !metadata.is_dir() {
            return Err(StateError::NotADirectory {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Fails with [`StateError::AlreadyJoined`] when `node.json` exists (as anything, even a
    /// dangling link).
    pub fn check_not_joined(&self) -> Result<(), StateError> {
        let path = self.node_file();
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Err(StateError::AlreadyJoined { path }),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                action: "inspect",
                path,
                source,
            }),
        }
    }

    /// Writes `node.json` atomically with mode `0600`. Without `replace`, an existing
    /// `node.json` is left alone and [`StateError::AlreadyJoined`] returned, even when it appears
    /// between the check and the write. On error no temporary file is left behind.
    pub fn save(&self, state: &NodeState, replace: bool) -> Result<(), StateError> {
        let mut json = serde_json::to_vec_pretty(state).map_err(|source| StateError::Invalid {
            path: self.node_file(),
            source,
        })?;
        json.push(b'\n');
        write_atomically(&self.path, NODE_FILE, &json, replace)
    }

    /// Reads `node.json`, refusing a file that group or others may access.
    pub fn load(&self) -> Result<NodeState, StateError> {
        let path = self.node_file();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return Err(StateError::NotJoined { path });
            }
            Err(source) => {
                return Err(StateError::Io {
                    action: "open",
                    path,
                    source,
                })
            }
        };
        // The metadata of the file opened, not of whatever the path names a moment later.
        let metadata = file.metadata().map_err(io("inspect", &path))?;
        if !metadata.is_file() {
            return Err(StateError::NotAFile { path });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(StateError::TooOpen { path, mode });
        }
        if metadata.len() > MAX_NODE_FILE_BYTES {
            return Err(StateError::TooLarge { path });
        }
        let mut text = String::new();
        file.take(MAX_NODE_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(io("read", &path))?;
        serde_json::from_str(&text).map_err(|source| StateError::Invalid { path, source })
    }
}

/// Writes `bytes` to `dir/name`: a new temporary file (mode `0600`) in `dir`, fsynced, then
/// renamed over `name` (`replace`) or hard-linked to it (which fails if `name` exists), then `dir`
/// fsynced so the new name survives a crash. A reader sees the old file or the new one, never a
/// part of one.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8], replace: bool) -> Result<(), StateError> {
    let target = dir.join(name);
    let temp = atomic::temporary_name(&target);
    let result = atomic::write_new_file(&temp, &[bytes], 0o600)
        .map_err(io("write", &temp))
        .and_then(|()| {
            if replace {
                std::fs::rename(&temp, &target).map_err(io("rename into place", &temp))
            } else {
                match std::fs::hard_link(&temp, &target) {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                        Err(StateError::AlreadyJoined {
                            path: target.clone(),
                        })
                    }
                    Err(source) => Err(StateError::Io {
                        action: "link into place",
                        path: temp.clone(),
                        source,
                    }),
                }
            }
        });
    // After a rename the temporary name is gone; after a link or a failure it must go.
    if let Err(err) = std::fs::remove_file(&temp) {
        if err.kind() != ErrorKind::NotFound {
            tracing::warn!(path = %temp.display(), error = %err, "cannot remove a temporary file");
        }
    }
    result?;
    atomic::sync_dir(dir).map_err(io("sync the directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    fn state(credential: &str) -> NodeState {
        NodeState {
            control_plane_url: Url::parse("https://cp.example.test").unwrap(),
            node_id: "0b8e6f0e-3c55-4d3b-9a39-2f7e0c7a1d42".to_owned(),
            credential: Secret::new(credential),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_the_directory_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path().join("var/lib/ruche-agent"));
        dir.create().unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        // Again: nothing to do.
        dir.create().unwrap();

        std::fs::write(root.path().join("file"), "").unwrap();
        let not_a_dir = StateDir::new(root.path().join("file"));
        assert!(not_a_dir.create().is_err());
    }

    #[test]
    fn saves_0600_and_loads_it_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path());
        dir.check_not_joined().unwrap();
        dir.save(&state("s3cret"), false).unwrap();
        assert_eq!(names(root.path()), ["node.json"]);
        assert_eq!(mode(&dir.node_file()), 0o600);
        assert_eq!(dir.load().unwrap(), state("s3cret"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.node_file()).unwrap()).unwrap();
        assert_eq!(json["control_plane_url"], "https://cp.example.test/");
        assert_eq!(json["node_id"], "0b8e6f0e-3c55-4d3b-9a39-2f7e0c7a1d42");
        assert_eq!(json["credential"], "s3cret");
        assert!(matches!(
            dir.check_not_joined(),
            Err(StateError::AlreadyJoined { .. })
        ));
    }

    #[test]
    fn refuses_to_replace_without_being_asked() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path());
        dir.save(&state("first"), false).unwrap();
        let err = dir.save(&state("second"), false).unwrap_err();
        assert!(matches!(err, StateError::AlreadyJoined { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(dir.load().unwrap(), state("first"));
        assert_eq!(names(root.path()), ["node.json"]);

        dir.save(&state("second"), true).unwrap();
        assert_eq!(dir.load().unwrap(), state("second"));
        assert_eq!(mode(&dir.node_file()), 0o600);
        assert_eq!(names(root.path()), ["node.json"]);
    }

    #[test]
    fn a_failed_save_leaves_no_partial_file() {
        // node.json is a non-empty directory: the temporary file is written, the rename fails.
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path());
        std::fs::create_dir(dir.node_file()).unwrap();
        std::fs::write(dir.node_file().join("keep"), "").unwrap();
        assert!(dir.save(&state("s"), true).is_err());
        assert_eq!(names(root.path()), ["node.json"]);
        assert_eq!(names(&dir.node_file()), ["keep"]);

        // A directory that does not exist: nothing is created.
        let missing = StateDir::new(root.path().join("missing"));
        assert!(missing.save(&state("s"), false).is_err());
        assert!(!missing.path().exists());
    }

    #[test]
    fn refuses_a_node_file_others_may_read() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path());
        dir.save(&state("s"), false).unwrap();
        for bad in [0o644, 0o640, 0o604, 0o660, 0o602, 0o620] {
            std::fs::set_permissions(dir.node_file(), Permissions::from_mode(bad)).unwrap();
            let err = dir.load().unwrap_err();
            assert!(
                matches!(err, StateError::TooOpen { mode, .. } if mode == bad),
                "{bad:o}: {err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert!(!err.to_string().contains("s3cret"));
        }
        for good in [0o600, 0o400] {
            std::fs::set_permissions(dir.node_file(), Permissions::from_mode(good)).unwrap();
            assert_eq!(dir.load().unwrap(), state("s"), "{good:o}");
        }
    }

    #[test]
    fn a_missing_or_broken_node_file_is_explained() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path());
        let err = dir.load().unwrap_err();
        assert!(matches!(err, StateError::NotJoined { .. }), "{err}");
        assert!(err.to_string().contains("node-agent join"), "{err}");

        atomic::write_new_file(&dir.node_file(), &[b"{\"node_id\": 1"], 0o600).unwrap();
        assert!(matches!(dir.load(), Err(StateError::Invalid { .. })));

        std::fs::remove_file(dir.node_file()).unwrap();
        std::fs::create_dir(dir.node_file()).unwrap();
        std::fs::set_permissions(dir.node_file(), Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(dir.load(), Err(StateError::NotAFile { .. })));
    }

    #[test]
    fn debug_shows_no_credential() {
        let text = format!("{:?}", state("hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("cp.example.test"), "{text}");
    }
}
