// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** mkfs, mount and umount in the guest, for the tests that run file systems on tracked devices. */
final class FileSystems {
    enum Type {
        EXT4, XFS;

        String fsName() {
            return name().toLowerCase();
        }
    }

    /**
     * xfsprogs refuses file systems under 300 MB except for fstests, which
     * it recognises by these variables; the scratch disks are smaller.
     */
    private static final Map<String, String> XFS_SMALL = Map.of("TEST_DIR", "/tmp", "TEST_DEV", "/dev/null",
            "QA_CHECK_FS", "1");

    private FileSystems() {
    }

    /** Loads the file systems' modules from the lane. */
    static void load() {
        Guest.modprobe("ext4");
        Guest.modprobe("xfs");
    }

    /**
     * A new file system on {@code dev}. ext4 initialises its inode tables
     * and journal now, not in a background thread that would write later.
     */
    static void mkfs(Type type, Path dev) {
        List<String> cmd = switch (type) {
            case EXT4 -> List.of("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                    dev.toString());
            case XFS -> List.of("mkfs.xfs", "-q", "-f", dev.toString());
        };
        Guest.Result r = Guest.run(cmd, type == Type.XFS ? XFS_SMALL : Map.of());
        if (r.exit() != 0) {
            throw new IllegalStateException("mkfs failed: " + r.describe(cmd));
        }
    }

    /** Mounts {@code dev} at a new directory under /tmp and returns it. */
    static Path mount(Type type, Path dev, String options) throws IOException {
        Path dir = Files.createTempDirectory("blksnap-mnt-");
        Guest.runOk("mount", "-t", type.fsName(), "-o", options.isEmpty() ? "defaults" : options, dev.toString(),
                dir.toString());
        return dir;
    }

    /** Unmounts (everything reaches the device) and removes the directory. */
    static void umount(Path dir) throws IOException {
        Guest.runOk("umount", dir.toString());
        Files.delete(dir);
    }

    /** What {@link #frozen} runs while the file systems are frozen. */
    @FunctionalInterface
    interface WhileFrozen<T> {
        T run() throws Exception;
    }

    /**
     * Freezes the mounted file systems (everything they hold reaches the
     * device, and they write nothing more), runs {@code action}, thaws them.
     */
    static <T> T frozen(List<Path> mounts, WhileFrozen<T> action) throws Exception {
        List<Path> done = new java.util.ArrayList<>();
        try {
            for (Path m : mounts) {
                Guest.runOk("fsfreeze", "--freeze", m.toString());
                done.add(m);
            }
            return action.run();
        } finally {
            for (Path m : done) {
                Guest.runOk("fsfreeze", "--unfreeze", m.toString());
            }
        }
    }

    /** Zeroes the first and last MiB of {@code dev}: no file system, LVM or md signature stays behind. */
    static void wipe(Path dev) throws IOException {
        long bytes = Guest.sizeSectors(dev) * 512;
        try (DiskIo io = new DiskIo(dev)) {
            byte[] zero = new byte[1 << 20];
            io.direct(0, zero);
            io.direct((bytes - zero.length) / DiskIo.PAGE * DiskIo.PAGE, zero);
        }
    }
}
