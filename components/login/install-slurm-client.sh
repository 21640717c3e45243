#!/usr/bin/env bash
# Runs once on the login node (AlmaLinux 8 or another EL8), as root, from cloud-init's runcmd; safe to run
# again. Changes: /etc/yum.repos.d (adds slurm-cluster.repo, disables any other repo that serves Slurm,
# such as the AlmaLinux HPC image's own [slurm] repo on slurm-el8-insiders; writes microsoft-prod.repo only
# when the image has none), enables EPEL/PowerTools, installs munge, nfs-utils and the Slurm client pinned
# to the cluster's version, mounts /shared (retried: the share's private DNS record may still be coming),
# puts new users' homes under /shared/home, allows NFS homes in SELinux, and enables munge and the timer
# that configures munge and Slurm from the files seeded into /shared.
# Exit status: 0 done; 1 Slurm could not be installed at the pinned version (nothing enabled), or /shared
# did not mount within the bound (munge and the timer are enabled all the same; the fstab entry mounts it
# at the next boot, or run: mount /shared).
set -euo pipefail

slurm_version="${1:?usage: install-slurm-client SLURM_VERSION}"
# Overridable only so the contract tests can run this script unmodified against a stand-in image tree.
shared="${SLURM_CLIENT_SHARED_DIR:-/shared}"
repos="${SLURM_CLIENT_REPOS_DIR:-/etc/yum.repos.d}"
mount_attempts="${SLURM_CLIENT_MOUNT_ATTEMPTS:-30}"
mount_interval="${SLURM_CLIENT_MOUNT_INTERVAL:-10}"
# Our repository: its own ID and file, so nothing the image ships under [slurm] or slurm.repo can shadow it.
repo_id=slurm-cluster

log() { echo "install-slurm-client: $*"; }

# IDs of the repositories in a .repo file whose baseurl, mirrorlist or metalink names Slurm.
slurm_repo_ids() {
    awk '
        /^[[:space:]]*\[.*\][[:space:]]*$/ { id = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", id); next }
        id != "" && tolower($0) ~ /^[[:space:]]*(baseurl|mirrorlist|metalink)[[:space:]]*=.*slurm/ { print id; id = "" }
    ' "$1"
}

mkdir -p "$repos"
# The cluster's Slurm builds for EL8 (what cyclecloud-slurm 4.x installs on the nodes). exclude=slurm*
# keeps a routine `dnf update` from moving the login node away from the cluster's version; only the
# pinned install below lifts it.
cat >"$repos/$repo_id.repo.tmp" <<REPO
# Written by install-slurm-client (cyclecloud-slurm-entra): the cluster's Slurm, pinned.
[$repo_id]
name=Slurm for the CycleCloud cluster (packages.microsoft.com slurm-el8)
baseurl=https://packages.microsoft.com/yumrepos/slurm-el8
enabled=1
gpgcheck=1
gpgkey=https://packages.microsoft.com/keys/microsoft.asc
priority=10
exclude=slurm*
REPO
chmod 0644 "$repos/$repo_id.repo.tmp"
mv -f "$repos/$repo_id.repo.tmp" "$repos/$repo_id.repo"

# Any other repository that serves Slurm (the HPC image's slurm.repo points at slurm-el8-insiders, with no
# exclude) is disabled, so neither the install nor a later update can take Slurm from it.
for file in "$repos"/*.repo; do
    [[ -e $file && $file != "$repos/$repo_id.repo" ]] || continue
    while read -r id; do
        [[ -n $id ]] || continue
        log "disabling repository [$id] in $file: it serves Slurm outside the pin"
        dnf config-manager --set-disabled "$id"
    done < <(slurm_repo_ids "$file")
done

# The Microsoft repository (the Entra sign-in packages come from it): only when the image has none, since
# newer images put settings there (module_hotfixes) that an overwrite would drop.
if [[ ! -e $repos/microsoft-prod.repo ]]; then
    cat >"$repos/microsoft-prod.repo" <<'REPO'
[packages-microsoft-com-prod]
name=packages-microsoft-com-prod
baseurl=https://packages.microsoft.com/rhel/8/prod/
enabled=1
gpgcheck=1
gpgkey=https://packages.microsoft.com/keys/microsoft.asc
REPO
    chmod 0644 "$repos/microsoft-prod.repo"
fi

# Slurm's packages on packages.microsoft.com need libraries from EPEL and PowerTools (as on CycleCloud nodes).
if ! rpm -q epel-release >/dev/null 2>&1; then
    dnf -y install epel-release
fi
dnf config-manager --set-enabled powertools

dnf -y install munge nfs-utils
dnf -y install --disableexcludes="$repo_id" \
    "slurm-${slurm_version}*" "slurm-libpmi-${slurm_version}*" "slurm-perlapi-${slurm_version}*"

installed=$(rpm -q --qf '%{VERSION}' slurm)
if [ "$installed" != "$slurm_version" ]; then
    echo "install-slurm-client: installed slurm $installed, expected $slurm_version" >&2
    exit 1
fi

# /shared: the share's name resolves to its private endpoint only once the private DNS record exists;
# until then the mount fails. Retried within a bound, then the rest still runs.
mkdir -p "$shared"
mounted=false
for ((attempt = 1; attempt <= mount_attempts; attempt++)); do
    if mountpoint -q "$shared" || mount "$shared"; then
        mounted=true
        break
    fi
    log "mounting $shared failed (attempt $attempt of $mount_attempts); retrying in ${mount_interval}s"
    sleep "$mount_interval"
done
if $mounted; then
    mkdir -p "$shared/home"
    chmod 0755 "$shared/home"
fi
# Homes of users created on this node (Entra ID sign-ins included) go to the NFS share.
useradd -D -b "$shared/home"

if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" != "Disabled" ]; then
    setsebool -P use_nfs_home_dirs on
fi

systemctl enable munge
systemctl daemon-reload
systemctl enable --now slurm-sync.timer
if ! $mounted; then
    echo "install-slurm-client: ERROR: $shared did not mount after $mount_attempts attempts; munge and the sync" \
        "timer are enabled, the fstab entry mounts it at the next boot (or run: mount $shared)" >&2
    exit 1
fi
# Configure now if the cluster has already seeded /shared.
systemctl start slurm-sync.service || true
echo "install-slurm-client: slurm ${slurm_version} client installed"
