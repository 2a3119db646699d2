//! The `machine-id` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// What to do with D-Bus' copy of the machine id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DbusPolicy {
    /// `/var/lib/dbus/machine-id` becomes a link to `/etc/machine-id`, as Debian sets it up on
    /// systems installed since D-Bus 1.12.
    #[default]
    Symlink,
    /// `/var/lib/dbus/machine-id` is removed (D-Bus then reads `/etc/machine-id`).
    Remove,
}

/// Options of the `machine-id` stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MachineIdOptions {
    /// D-Bus' copy.
    #[serde(default)]
    pub dbus: DbusPolicy,
}

impl MachineIdOptions {
    /// What to do with D-Bus' copy of the machine id.
    #[must_use]
    pub fn with_dbus(mut self, dbus: DbusPolicy) -> Self {
        self.dbus = dbus;
        self
    }
}

/// The `machine-id` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineId {
    options: MachineIdOptions,
}

/// Random seeds saved at build time for "the next boot": every machine would start with the
/// same entropy.
pub const SEEDS: &[&str] = &["var/lib/systemd/random-seed", "var/lib/urandom/random-seed"];

impl MachineId {
    /// The stage's name.
    pub const NAME: &'static str = "machine-id";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "empty /etc/machine-id, link D-Bus' copy to it, remove saved random seeds";

    /// A stage with these options.
    pub fn new(options: MachineIdOptions) -> Self {
        Self { options }
    }
}

impl Normalizer for MachineId {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let machine_id = Path::new("etc/machine-id");
        edits.examined(1);
        match root.try_lstat(machine_id) {
            Ok(Some(meta)) if meta.kind == FileKind::File => {
                edits.truncate(machine_id, "generated at build time; systemd sets a new one at first boot");
            }
            Ok(Some(meta)) => {
                edits.problem(
                    machine_id,
                    format!("/etc/machine-id: is a {}, not a file; left as it is", meta.kind.noun()),
                );
            }
            Ok(None) => {}
            Err(e) => edits.error(machine_id, &e),
        }

        let dbus = Path::new("var/lib/dbus/machine-id");
        edits.examined(1);
        let dbus_dir = root.try_lstat(Path::new("var/lib/dbus"));
        if matches!(dbus_dir, Ok(Some(ref meta)) if meta.kind == FileKind::Dir) {
            match self.options.dbus {
                DbusPolicy::Symlink => {
                    edits.symlink(dbus, Path::new("/etc/machine-id"), "a copy of the build's machine id");
                }
                DbusPolicy::Remove => {
                    edits.remove(dbus, "a copy of the build's machine id");
                }
            }
        }

        for seed in SEEDS {
            edits.examined(1);
            edits.remove(
                Path::new(seed),
                "random seed saved at build time, shared by every machine booted from the image",
            );
        }
        Ok(edits.finish())
    }
}
