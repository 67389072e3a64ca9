//! The bundle CodeDeploy deploys to EC2: the application directory as a deterministic zip
//! (entries sorted by path, fixed timestamps, deflated, Unix modes kept so hook scripts
//! stay executable), refused without an `appspec.yml` at its top. The same directory
//! gives the same bytes, so its sha256 tells whether the bundle stored for a commit is
//! this one.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::DeflateEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A built bundle.
pub struct Bundle {
    pub bytes: Vec<u8>,
    /// sha256 of `bytes`, hex.
    pub sha256: String,
    /// Files in it.
    pub files: usize,
}

/// The S3 key of a commit's bundle: `{prefix}/{app}/{commit}.zip`.
pub fn key(prefix: &str, app: &str, commit: &str) -> String {
    format!("{prefix}/{app}/{commit}.zip")
}

/// Zips `dir` (skipping `.git`). Bad input when it is not a directory or has no appspec.yml.
pub fn build(dir: &Path) -> Result<Bundle> {
    if !dir.is_dir() {
        return Err(Error::input(
            format!("codedeploy.bundle {} is not a directory", dir.display()),
            "name the application directory (relative to slipway.yml) that holds appspec.yml",
        ));
    }
    if !dir.join("appspec.yml").is_file() {
        return Err(Error::input(
            format!("codedeploy.bundle {} has no appspec.yml", dir.display()),
            "add appspec.yml at the top of the directory (CodeDeploy reads its files and hooks from it), or point codedeploy.bundle at the directory that has it",
        ));
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut zip = Zip::default();
    for (name, path) in &files {
        let data = std::fs::read(path).map_err(|e| read_error(path, &e))?;
        let mode = mode(path);
        zip.add(name, &data, mode)?;
    }
    let bytes = zip.finish()?;
    let sha256 = hex(&Sha256::digest(&bytes));
    Ok(Bundle {
        bytes,
        sha256,
        files: files.len(),
    })
}

fn read_error(path: &Path, e: &std::io::Error) -> Error {
    Error::input(
        format!("cannot read {} for the bundle: {e}", path.display()),
        "make every file under codedeploy.bundle readable",
    )
}

/// Every file under `dir`, as (name in the zip with `/` separators, path).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| read_error(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| read_error(dir, &e))?;
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        // Symbolic links are followed: the bundle holds what they point to.
        let meta = std::fs::metadata(&path).map_err(|e| read_error(&path, &e))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let perm = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0o644);
    // Only whether it is executable matters; the rest is normalised.
    if perm & 0o111 != 0 {
        0o100755
    } else {
        0o100644
    }
}

#[cfg(not(unix))]
fn mode(_: &Path) -> u32 {
    0o100644
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 1980-01-01 00:00 in DOS date format: the same for every build.
const DOS_DATE: u16 = (1 << 5) | 1;

/// A minimal zip writer (no zip64: a bundle is refused above 4 GiB or 65535 files).
#[derive(Default)]
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

fn too_big() -> Error {
    Error::input(
        "the bundle is over 4 GiB or 65535 files",
        "keep build caches and large data out of codedeploy.bundle",
    )
}

impl Zip {
    fn add(&mut self, name: &str, data: &[u8], mode: u32) -> Result<()> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(data)
            .and_then(|()| encoder.try_finish())
            .map_err(|e| Error::failed(format!("compressing {name}: {e}")))?;
        let compressed = encoder.get_ref();
        let crc = crc32fast::hash(data);
        let fit = |n: usize| u32::try_from(n).map_err(|_| too_big());
        let (size, csize, offset) = (fit(data.len())?, fit(compressed.len())?, fit(self.out.len())?);
        let name_len = u16::try_from(name.len()).map_err(|_| too_big())?;
        self.entries = self.entries.checked_add(1).ok_or_else(too_big)?;
        // Local file header: UTF-8 names (flag bit 11), deflate (8).
        let mut local = Vec::new();
        local.extend(0x0403_4b50u32.to_le_bytes());
        local.extend(20u16.to_le_bytes());
        local.extend(0x0800u16.to_le_bytes());
        local.extend(8u16.to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(DOS_DATE.to_le_bytes());
        local.extend(crc.to_le_bytes());
        local.extend(csize.to_le_bytes());
        local.extend(size.to_le_bytes());
        local.extend(name_len.to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(name.as_bytes());
        self.out.extend(&local);
        self.out.extend(compressed);
        // Central directory entry: made by Unix (3), the mode in the external attributes.
        let c = &mut self.central;
        c.extend(0x0201_4b50u32.to_le_bytes());
        c.extend(((3u16 << 8) | 20).to_le_bytes());
        c.extend(20u16.to_le_bytes());
        c.extend(0x0800u16.to_le_bytes());
        c.extend(8u16.to_le_bytes());
        c.extend(0u16.to_le_bytes());
        c.extend(DOS_DATE.to_le_bytes());
        c.extend(crc.to_le_bytes());
        c.extend(csize.to_le_bytes());
        c.extend(size.to_le_bytes());
        c.extend(name_len.to_le_bytes());
        c.extend([0u8; 8]); // extra, comment, disk number, internal attributes
        c.extend((mode << 16).to_le_bytes());
        c.extend(offset.to_le_bytes());
        c.extend(name.as_bytes());
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        let fit = |n: usize| u32::try_from(n).map_err(|_| too_big());
        let (offset, size) = (fit(self.out.len())?, fit(self.central.len())?);
        self.out.extend(&self.central);
        self.out.extend(0x0605_4b50u32.to_le_bytes());
        self.out.extend([0u8; 4]);
        self.out.extend(self.entries.to_le_bytes());
        self.out.extend(self.entries.to_le_bytes());
        self.out.extend(size.to_le_bytes());
        self.out.extend(offset.to_le_bytes());
        self.out.extend(0u16.to_le_bytes());
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(dir: &Path) {
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
        std::fs::write(dir.join("scripts/start.sh"), "#!/bin/sh\necho start\n").unwrap();
        std::fs::write(dir.join("index.html"), "hello ".repeat(100)).unwrap();
    }

    #[test]
    fn the_same_directory_gives_the_same_bytes_and_a_change_changes_them() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        app(a.path());
        app(b.path());
        // Created in another order and at another time: still the same bundle.
        std::fs::write(b.path().join("index.html"), "hello ".repeat(100)).unwrap();
        let (x, y) = (build(a.path()).unwrap(), build(b.path()).unwrap());
        assert_eq!(x.bytes, y.bytes);
        assert_eq!(x.sha256, y.sha256);
        assert_eq!(x.files, 3);
        std::fs::write(b.path().join("index.html"), "changed").unwrap();
        assert_ne!(build(b.path()).unwrap().sha256, x.sha256);
    }

    #[test]
    fn a_directory_without_appspec_is_bad_input_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        let e = build(dir.path()).err().unwrap();
        assert_eq!(crate::roll::Stop::of(&e), crate::roll::Stop::BadInput);
        assert!(e.to_string().contains("has no appspec.yml"), "{e}");
        assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}");
        let e = build(&dir.path().join("missing")).err().unwrap();
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }

    #[test]
    fn keys_are_by_commit() {
        assert_eq!(key("slipway", "web", "abc123"), "slipway/web/abc123.zip");
    }
}
