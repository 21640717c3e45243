#!/usr/bin/env bash
# Runs once on the login node (AlmaLinux 8), as root, from cloud-init's runcmd; safe to run again.
# Changes: enables EPEL/PowerTools, installs munge, nfs-utils and the Slurm client pinned to the cluster's
# version, mounts /shared, puts new users' homes under /shared/home, allows NFS homes in SELinux and
# starts the timer that configures munge and Slurm from the files seeded into /shared.
set -euo pipefail

slurm_version="${1:?usage: install-slurm-client SLURM_VERSION}"
# The NFS mount point; overridable only so the contract tests can run this script unmodified.
shared="${SLURM_CLIENT_SHARED_DIR:-/shared}"

# Slurm's packages on packages.microsoft.com need libraries from EPEL and PowerTools (as on CycleCloud nodes).
if ! rpm -q epel-release >/dev/null 2>&1; then
    dnf -y install epel-release
fi
dnf config-manager --set-enabled powertools

dnf -y install munge nfs-utils
# The slurm repo excludes slurm* so that a routine `dnf update` never moves the login node away from the
# cluster's Slurm version; only this pinned install lifts the exclude.
dnf -y install --disableexcludes=slurm \
    "slurm-${slurm_version}*" "slurm-libpmi-${slurm_version}*" "slurm-perlapi-${slurm_version}*"

installed=$(rpm -q --qf '%{VERSION}' slurm)
if [ "$installed" != "$slurm_version" ]; then
    echo "install-slurm-client: installed slurm $installed, expected $slurm_version" >&2
    exit 1
fi

mkdir -p "$shared"
if ! mountpoint -q "$shared"; then
    mount "$shared"
fi
mkdir -p "$shared/home"
chmod 0755 "$shared/home"
# Homes of users created on this node (Entra ID sign-ins included) go to the NFS share.
useradd -D -b "$shared/home"

if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" != "Disabled" ]; then
    setsebool -P use_nfs_home_dirs on
fi

systemctl enable munge
systemctl daemon-reload
systemctl enable --now slurm-sync.timer
# Configure now if the cluster has already seeded /shared.
systemctl start slurm-sync.service || true
echo "install-slurm-client: slurm ${slurm_version} client installed"
