//! Building an image with xorriso, with every reproducibility option it has, then normalizing
//! it (what xorriso cannot fix: the FAT image's serial and times come from whoever made it, and
//! dates later than the epoch in the tree are kept by xorriso).
//!
//! The options, and why (see also `docs/iso.md`):
//! - `SOURCE_DATE_EPOCH` in xorriso's environment (xorriso ≥ 1.4.6 reads it): the volume UUID,
//!   GPT disk GUID, `-iso_nowtime` and `all_file_dates=set_to_mtime` follow from it;
//! - `-volume_date c|m|f =EPOCH`, `-volume_date x default`, `-volume_date uuid`: the volume
//!   descriptor dates and the "volume UUID" (the modification date GRUB searches by);
//! - `-volume_date all_file_dates set_to_mtime`: access and attribute-change times of every
//!   file equal to its modification time, not the host's atime/ctime;
//! - `-iso_nowtime =EPOCH`: the time of nodes made by xorriso (the boot catalog);
//! - `-boot_image any gpt_disk_guid=volume_date_uuid`: the GPT disk GUID (and the partition
//!   GUIDs xorriso derives from it) from the volume UUID instead of random;
//! - `-xattr off -acl off -md5 off`: nothing from the build host's attributes, no checksum
//!   tags (tamis rewrites fields they would cover);
//! - `-preparer_id`/`-application_id` fixed: the default names the xorriso version;
//! - `-r` (Rock Ridge with owners 0 and sane modes, like Debian's images), `-J -joliet-long`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tamis_core::temp::{ChildGuard, OutputFile};
use tamis_core::{Epoch, Mode};

use crate::error::{Error, Result};
use crate::normalize::{Options, Plan, normalize_file};

/// What to build.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Every date of the image is this or earlier.
    pub epoch: Epoch,
    /// The volume label (ISO 9660 volume ID, at most 32 characters).
    pub label: String,
    /// An EFI FAT image inside the tree (`boot/grub/efi.img`): an El Torito EFI entry and a
    /// GPT EFI System partition point at it.
    pub efi: Option<PathBuf>,
    /// A BIOS El Torito image inside the tree (`isolinux/isolinux.bin`), booted with no
    /// emulation, with a boot info table.
    pub bios: Option<PathBuf>,
    /// The boot catalog's path inside the tree (default: next to the BIOS image, or
    /// `boot.catalog` at the root).
    pub catalog: Option<PathBuf>,
    /// An isohybrid MBR (`isohdpfx.bin`) to put in the system area.
    pub mbr: Option<PathBuf>,
    /// The xorriso to run.
    pub xorriso: PathBuf,
}

impl BuildOptions {
    /// A build dated `epoch`, labelled `TAMIS`, with no boot images, by the `xorriso` of `PATH`.
    pub fn new(epoch: Epoch) -> Self {
        Self {
            epoch,
            label: "TAMIS".into(),
            efi: None,
            bios: None,
            catalog: None,
            mbr: None,
            xorriso: PathBuf::from("xorriso"),
        }
    }
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct Built {
    /// The xorriso command line.
    pub command: Vec<String>,
    /// The normalization applied after it.
    pub plan: Plan,
}

/// The xorriso arguments for building `tree` into `out`. Paths are passed as they are, bytes
/// that are not UTF-8 included (as text they would name another file).
pub fn xorriso_args(tree: &Path, out: &Path, options: &BuildOptions) -> Vec<OsString> {
    let t = options.epoch.timestamp().to_string();
    // xorriso's time strings: "=SECONDS" is seconds since 1970; the uuid wants YYYYMMDDhhmmsscc.
    let uuid: String = t.chars().filter(char::is_ascii_digit).chain("00".chars()).collect();
    let at = format!("={}", options.epoch.secs());
    let mut a: Vec<OsString> = [
        "-no_rc",
        "-report_about",
        "SORRY",
        "-volume_date",
        "c",
        &at,
        "-volume_date",
        "m",
        &at,
        "-volume_date",
        "x",
        "default",
        "-volume_date",
        "f",
        &at,
        "-volume_date",
        "uuid",
        &uuid,
        "-volume_date",
        "all_file_dates",
        "set_to_mtime",
        "-iso_nowtime",
        &at,
        "-boot_image",
        "any",
        "gpt_disk_guid=volume_date_uuid",
        "-xattr",
        "off",
        "-acl",
        "off",
        "-md5",
        "off",
        "-as",
        "mkisofs",
        "-r",
        "-J",
        "-joliet-long",
        "-V",
        &options.label,
        "-preparer",
        "tamis",
        "-A",
        "",
        "-o",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    a.push(out.into());
    if let Some(mbr) = &options.mbr {
        a.extend(["-isohybrid-mbr".into(), mbr.into()]);
    }
    let catalog = options.catalog.clone().unwrap_or_else(|| match &options.bios {
        Some(bios) => bios.parent().unwrap_or(Path::new("")).join("boot.cat"),
        None => PathBuf::from("boot.catalog"),
    });
    if options.bios.is_some() || options.efi.is_some() {
        a.extend(["-c".into(), catalog.into()]);
    }
    if let Some(bios) = &options.bios {
        a.extend(["-b".into(), bios.into()]);
        a.extend(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"].map(OsString::from));
    }
    if let Some(efi) = &options.efi {
        if options.bios.is_some() {
            a.push("-eltorito-alt-boot".into());
        }
        a.extend(["-e".into(), efi.into()]);
        a.extend(["-no-emul-boot", "-isohybrid-gpt-basdat"].map(OsString::from));
    }
    // mkisofs has no `--`: a tree named like an option (`-J`) would be taken for one, and the
    // image built from nothing.
    a.push(
        if tree.as_os_str().as_bytes().starts_with(b"-") { Path::new(".").join(tree) } else { tree.to_owned() }.into(),
    );
    a
}

/// Builds `tree` into the image `out` with xorriso, then normalizes it: both on a temporary
/// file beside `out` (`.tamis-iso-PID-N.tmp`, removed on failure or interruption), renamed onto
/// `out` once complete. `out` may not be inside `tree`, by any path
/// ([`tamis_core::ensure_output_outside`]).
pub fn build(tree: &Path, out: &Path, options: &BuildOptions) -> Result<Built> {
    let root = tamis_core::Root::open(tree)
        .map_err(|source| tamis_core::OutputPlaceError::Unknown { output: out.to_owned(), source })?;
    tamis_core::ensure_output_outside(&root, out)?;
    drop(root);
    let io = |op, source| Error::io(out, op, source);
    let temp = OutputFile::create(out, "iso").map_err(|e| io("create a temporary file beside", e))?;
    let temp_path = temp.path();
    let args = xorriso_args(tree, &temp_path, options);
    let child = Command::new(&options.xorriso)
        .args(&args)
        .env("SOURCE_DATE_EPOCH", options.epoch.secs().to_string())
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Tool {
            tool: "xorriso",
            reason: format!("cannot run {}: {e}", options.xorriso.display()),
        })?;
    // An interruption kills xorriso before removing the file it writes.
    let guard = ChildGuard::new(child.id());
    let output = child.wait_with_output().map_err(|e| Error::Tool {
        tool: "xorriso",
        reason: format!("cannot run {}: {e}", options.xorriso.display()),
    })?;
    drop(guard);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(Error::Tool {
            tool: "xorriso",
            reason: format!("failed ({}): {}", output.status, tail.into_iter().rev().collect::<Vec<_>>().join("\n")),
        });
    }
    let plan = normalize_file(&temp_path, &Options::new(options.epoch), Mode::Apply).map_err(|e| match e {
        // Name the image asked for, not the temporary file.
        Error::Image(tamis_disk::Error::Corrupt { reason, .. }) => Error::corrupt(out, reason),
        other => other,
    })?;
    temp.persist(0o644).map_err(|e| io("write", e))?;
    let mut command = vec![options.xorriso.display().to_string()];
    command.extend(xorriso_args(tree, out, options).iter().map(|a| a.to_string_lossy().into_owned()));
    Ok(Built { command, plan })
}
