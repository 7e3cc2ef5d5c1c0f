// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.it.FileSystems.Type;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the content-oracle tests share: file systems mounted for one test
 * (unmounted after it whatever happened) and the two-phase check of a
 * file-system workload. The trackers are attached under mounted file
 * systems (xfs covers its log, md writes its superblock, whenever they
 * like), so the tests check a new tracker's info with {@link #checkInfo}:
 * its map need not be empty, the oracle judges every mark.
 */
abstract class OracleTestBase extends ItBase {
    /** Operations of a workload, per file system. */
    static final int OPERATIONS = 45;
    /** Files a workload makes before the trackers are attached, for it to append to, rename and delete. */
    static final int POPULATE = 12;
    /** A workload must change at least this many sectors of every view (256 KiB), or it proves too little. */
    static final int ENOUGH_SECTORS = 512;

    private final List<Path> mounted = new ArrayList<>();

    @BeforeAll
    static void fileSystems() {
        FileSystems.load();
    }

    Path mount(Type type, Path dev, String options) throws Exception {
        Path m = FileSystems.mount(type, dev, options);
        mounted.add(m);
        return m;
    }

    /** Unmounts what the test left mounted (thawed first: a failure may have left it frozen). */
    @AfterEach
    void unmountLeftovers() {
        for (Path m : mounted) {
            if (Files.isDirectory(m)) {
                Guest.run("fsfreeze", "--unfreeze", m.toString());
                Guest.run("umount", m.toString());
                Guest.run("rmdir", m.toString());
            }
        }
        mounted.clear();
    }

    /**
     * The file systems of {@code mounts} are mounted on (or under) the
     * tracked devices of {@code views}, which have just been attached.
     * Two phases, each checked on its own so that the discards of the
     * second (fstrim marks most of the free space) cannot hide a write the
     * first missed: the workloads and the deletion of half their files,
     * checked with the file systems frozen, then a checkpoint; fstrim,
     * checked after umount against the blocks changed since the
     * checkpoint, then another checkpoint.
     *
     * @return the run, for more phases on the unmounted devices
     */
    OracleRun workloadThenTrim(List<Path> mounts, List<FsWorkload> loads, List<OracleRun.View> views) throws Exception {
        OracleRun run = new OracleRun(ctl, views);
        for (int round = 0; round < 3; round++) {
            for (FsWorkload w : loads) {
                w.run(OPERATIONS / 3);
            }
        }
        for (FsWorkload w : loads) {
            w.deleteHalf();
        }
        ContentOracle.Changes[] changes = FileSystems.frozen(mounts, () -> run.check("the workload", true));
        for (int i = 0; i < views.size(); i++) {
            assertTrue(changes[i].sectors() >= ENOUGH_SECTORS, views.get(i).what() + ": the workload changed only "
                    + changes[i] + ", too few to prove anything");
        }
        for (FsWorkload w : loads) {
            w.trim();
        }
        for (Path m : mounts) {
            FileSystems.umount(m);
        }
        run.check("fstrim", true);
        for (FsWorkload w : loads) {
            System.out.println("[workload] " + w.summary());
        }
        return run;
    }
}
