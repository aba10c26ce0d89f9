# Sourced by the bench scripts: where restores are written.
#
# The root file system of these machines is ext4 without a journal, where creating files right
# after deleting many is slow for minutes: the inode allocator skips every inode freed in the
# last 60 s (6 min while its inode-table block is not yet written back), looking each one up
# again for every new file (`recently_deleted` in fs/ext4/ialloc.c; `perf` showed 60% of a
# restore's time there, and restores of 100,000 files taking 7 s or 45 s by what was deleted
# before). A machine with the default ext4 (with a journal) never does that, so restores go to
# a fresh ext4 made with mkfs.ext4's defaults in a loop-mounted image ($work/restore-fs.img,
# sparse, direct I/O to its file so its pages are not cached twice), mounted with `discard` so
# deleted restores give their space back. Needs root, losetup and mkfs.ext4; without them (or
# with RESTORE_FS=plain) restores go to the work folder, as before.
#
# Sets restore_root; restore_fs_cleanup unmounts it (the scripts trap EXIT).

restore_fs_setup() { # work_dir size
    local work=$1 size=${2:-32G}
    restore_root=$work
    [[ ${RESTORE_FS:-loop} == loop && $(id -u) == 0 ]] && command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null || {
        echo "restores go to $work (RESTORE_FS=plain, or no root, losetup or mkfs.ext4)"
        return 0
    }
    local image=$work/restore-fs.img mount=$work/restore-fs device
    # What a bench killed before its cleanup left.
    if mountpoint -q "$mount"; then umount "$mount"; fi
    if [[ -f $image ]]; then
        for device in $(losetup -j "$image" | cut -d: -f1); do losetup -d "$device"; done
    fi
    rm -f "$image"
    truncate -s "$size" "$image"
    # One inode for every 8 KiB: room for a million files restored twice.
    mkfs.ext4 -q -F -i 8192 -E lazy_itable_init=0,lazy_journal_init=0 "$image"
    restore_device=$(losetup --find --show --direct-io=on "$image")
    mkdir -p "$mount"
    mount -o discard "$restore_device" "$mount"
    restore_root=$mount
    echo "restores go to $mount: a fresh ext4 (with a journal) in a loop-mounted image"
}

restore_fs_cleanup() {
    local mount=${restore_root:-}
    if [[ -n ${restore_device:-} ]]; then
        umount "$mount" 2>/dev/null || true
        losetup -d "$restore_device" 2>/dev/null || true
        rm -f "${mount%/restore-fs}/restore-fs.img"
        restore_device=
    fi
}
