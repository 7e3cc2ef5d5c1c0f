// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import dev.blksnap.it.ContentOracle.Sums;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The content oracle over several tracked devices at once: each is read
 * (through the device that holds it) when the run starts and at every
 * {@link #check}, and every block whose content changed in between must be
 * marked after the last checkpoint of the run.
 */
final class OracleRun {
    /**
     * A tracked device: sectors [start, start + sectors) of {@code read},
     * the device the oracle reads whole (the device itself, or the disk
     * that holds a partition: one read serves the disk and its partitions).
     */
    record View(DeviceId id, String what, Path read, long start, long sectors) {
        static View whole(DeviceId id, Path dev, String what) {
            return new View(id, what, dev, 0, Guest.sizeSectors(dev));
        }

        BitSet of(BitSet changedInRead) {
            return changedInRead.get((int) start, (int) (start + sectors));
        }
    }

    private final BlksnapControl ctl;
    private final List<View> views;
    private final int[] since;
    private Map<Path, Sums> last;

    /** Reads every device the views need: the content the run starts from. */
    OracleRun(BlksnapControl ctl, List<View> views) throws Exception {
        this.ctl = ctl;
        this.views = List.copyOf(views);
        this.since = new int[views.size()];
        this.last = readAll();
    }

    private Map<Path, Sums> readAll() throws Exception {
        Map<Path, Sums> sums = new LinkedHashMap<>();
        for (View v : views) {
            if (!sums.containsKey(v.read())) {
                sums.put(v.read(), ContentOracle.read(v.read()));
            }
        }
        return sums;
    }

    /**
     * Reads again and checks every view: the blocks changed since the last
     * reading must carry a number above the view's last checkpoint (0 for
     * the first phase: the trackers were attached before the run began).
     * With {@code checkpoint}, each view's change number is closed first,
     * before the reading, and the next check asks for the numbers after
     * it: whatever is written from now on is "after". Checkpointing after
     * the reading would not do: a write landing in between (md's
     * superblock, say) would change the content for the next check but
     * carry the closed number.
     *
     * @return what changed, per view
     */
    ContentOracle.Changes[] check(String phase, boolean checkpoint) throws Exception {
        int[] next = since.clone();
        if (checkpoint) {
            for (int i = 0; i < views.size(); i++) {
                next[i] = ctl.checkpoint(views.get(i).id()).closedNumber();
            }
        }
        Map<Path, Sums> now = readAll();
        Map<Path, BitSet> changed = new LinkedHashMap<>();
        for (Map.Entry<Path, Sums> e : now.entrySet()) {
            changed.put(e.getKey(), last.get(e.getKey()).changedIn(e.getValue()));
        }
        ContentOracle.Changes[] blocks = new ContentOracle.Changes[views.size()];
        for (int i = 0; i < views.size(); i++) {
            View v = views.get(i);
            blocks[i] = ContentOracle.assertChangesMarked(v.of(changed.get(v.read())), ctl.readMap(v.id()), since[i],
                    v.what() + ", " + phase);
        }
        System.arraycopy(next, 0, since, 0, since.length);
        last = now;
        return blocks;
    }

    List<View> views() {
        return views;
    }
}
