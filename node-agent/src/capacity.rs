//! What this machine has to offer: processors, memory, disk, and its host name.
//!
//! The `/proc` directory is a parameter ([`Host`]), so tests can point it at files of their own.

use std::path::{Path, PathBuf};

use protocol::node::Capacity;

/// Where the kernel tells about the machine.
#[derive(Debug, Clone)]
pub struct Host {
    proc_dir: PathBuf,
}

/// Something about the machine could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no MemTotal line in kB", path.display())]
    NoMemTotal { path: PathBuf },
    #[error("cannot tell the size of the file system holding {}", path.display())]
    Disk {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the host name in {} is empty", path.display())]
    EmptyHostName { path: PathBuf },
}

impl Default for Host {
    fn default() -> Host {
        Host::new("/proc")
    }
}

impl Host {
    /// The machine as described by the `proc` file system mounted at `proc_dir`.
    pub fn new(proc_dir: impl Into<PathBuf>) -> Host {
        Host {
            proc_dir: proc_dir.into(),
        }
    }

    /// Processors available to this process, total memory, and the size of the file system
    /// holding `disk_path` (the state directory: where the node keeps its data).
    pub fn capacity(&self, disk_path: &Path) -> Result<Capacity, CapacityError> {
        Ok(Capacity {
            cpus: cpus(),
            memory_bytes: self.memory_bytes()?,
            disk_bytes: disk_bytes(disk_path)?,
        })
    }

    /// `MemTotal` of `meminfo`, in bytes.
    pub fn memory_bytes(&self) -> Result<u64, CapacityError> {
        let path = self.proc_dir.join("meminfo");
        let text = read(&path)?;
        parse_mem_total(&text).ok_or(CapacityError::NoMemTotal { path })
    }

    /// The kernel's host name (`sys/kernel/hostname`), trimmed.
    pub fn host_name(&self) -> Result<String, CapacityError> {
        let path = self.proc_dir.join("sys/kernel/hostname");
        let name = read(&path)?.trim().to_owned();
        if name.is_empty() {
            return Err(CapacityError::EmptyHostName { path });
        }
        Ok(name)
    }
}

fn read(path: &Path) -> Result<String, CapacityError> {
    std::fs::read_to_string(path).map_err(|source| CapacityError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The processors this process may run on (its affinity mask and cgroup quota considered); 1 when
/// the system cannot tell.
pub fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// The total size in bytes of the file system holding `path`.
pub fn disk_bytes(path: &Path) -> Result<u64, CapacityError> {
    let stat = rustix::fs::statvfs(path).map_err(|errno| CapacityError::Disk {
        path: path.to_owned(),
        source: errno.into(),
    })?;
    Ok(stat.f_blocks.saturating_mul(stat.f_frsize))
}

/// The `MemTotal:  N kB` line of `/proc/meminfo`, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let mut words = rest.split_whitespace();
        let kib: u64 = words.next()?.parse().ok()?;
        match (words.next(), words.next()) {
            (Some("kB"), None) => kib.checked_mul(1024),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mem_total() {
        let meminfo = "MemTotal:        8048448 kB\nMemFree:         1234567 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(8_048_448 * 1024));
        let later = "MemFree:  1 kB\nMemTotal:   2 kB\n";
        assert_eq!(parse_mem_total(later), Some(2048));
        for bad in [
            "",
            "MemFree: 1 kB\n",
            "MemTotal: lots kB\n",
            "MemTotal: 12\n",
            "MemTotal: 12 MB\n",
            "MemTotal: 18446744073709551615 kB\n",
        ] {
            assert_eq!(parse_mem_total(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_a_proc_directory_of_its_own() {
        let proc_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc_dir.path().join("sys/kernel")).unwrap();
        std::fs::write(proc_dir.path().join("meminfo"), "MemTotal: 4 kB\n").unwrap();
        std::fs::write(proc_dir.path().join("sys/kernel/hostname"), "  node-a\n").unwrap();
        let host = Host::new(proc_dir.path());
        assert_eq!(host.memory_bytes().unwrap(), 4096);
        assert_eq!(host.host_name().unwrap(), "node-a");

        std::fs::write(proc_dir.path().join("sys/kernel/hostname"), "\n").unwrap();
        assert!(matches!(
            host.host_name(),
            Err(CapacityError::EmptyHostName { .. })
        ));
        std::fs::write(proc_dir.path().join("meminfo"), "MemFree: 4 kB\n").unwrap();
        assert!(matches!(
            host.memory_bytes(),
            Err(CapacityError::NoMemTotal { .. })
        ));
        let missing = Host::new(proc_dir.path().join("missing"));
        assert!(matches!(
            missing.memory_bytes(),
            Err(CapacityError::Read { .. })
        ));
    }

    #[test]
    fn this_machine_has_sensible_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let capacity = Host::default().capacity(dir.path()).unwrap();
        assert!(capacity.cpus >= 1, "{capacity:?}");
        assert!(capacity.memory_bytes >= 64 << 20, "{capacity:?}");
        assert!(capacity.memory_bytes < 1 << 50, "{capacity:?}");
        assert!(capacity.disk_bytes >= 1 << 20, "{capacity:?}");
        assert!(!Host::default().host_name().unwrap().is_empty());
    }

    #[test]
    fn disk_of_a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = disk_bytes(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
