// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.BlksnapException;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every test starts with the module loaded, a fresh control handle and no
 * tracker, and ends by detaching what it attached: a test that leaks a
 * tracker fails itself rather than the next one.
 */
abstract class ItBase {
    protected BlksnapControl ctl;
    private final List<DeviceId> attached = new ArrayList<>();

    @BeforeEach
    void openControl() throws Exception {
        Guest.ensureModuleLoaded();
        ctl = BlksnapControl.open();
        for (DeviceId left : ctl.trackers()) {
            System.out.println("[cleanup] detaching " + left + ", left attached by an earlier test");
            ctl.detach(left);
        }
    }

    @AfterEach
    void detachAll() throws Exception {
        if (ctl == null) {
            return;
        }
        try {
            for (DeviceId id : attached) {
                try {
                    ctl.detach(id);
                } catch (NotTrackedException gone) {
                    // the test detached it or the device went away
                }
            }
            attached.clear();
            assertEquals(List.of(), ctl.trackers(), "trackers left after the test's own detach");
        } finally {
            ctl.close();
            ctl = null;
        }
    }

    /** Attaches a tracker to a device whose page cache holds nothing dirty. */
    protected DeviceId attach(Path dev) throws IOException {
        Guest.settle(dev);
        DeviceId id = DeviceId.of(dev);
        ctl.attach(id);
        attached.add(id);
        return id;
    }

    protected void detach(DeviceId id) throws BlksnapException {
        ctl.detach(id);
        attached.remove(id);
    }

    /**
     * Reloads the module with {@code args}. The control handle is closed
     * around it (an open one pins the module); the unload drops every
     * tracker.
     */
    protected void reloadModule(List<String> args) throws BlksnapException {
        ctl.close();
        ctl = null;
        attached.clear();
        Guest.reloadModule(args);
        ctl = BlksnapControl.open();
    }

    /** Checks what every fresh tracker must report and returns its info. */
    protected CbtInfo freshInfo(DeviceId id, Path dev) throws BlksnapException {
        CbtInfo info = checkInfo(id, dev);
        CbtMap map = ctl.readMap(id);
        assertEquals(info.generation(), map.info().generation());
        assertTrue(Blocks.changed(map, 0).isEmpty(), "a fresh map has marks: " + Blocks.changed(map, 0));
        return info;
    }

    /**
     * Checks what a tracker must report, marks aside (for a device that
     * something else writes to, an md member say), and returns its info.
     */
    protected CbtInfo checkInfo(DeviceId id, Path dev) throws BlksnapException {
        CbtInfo info = ctl.cbtInfo(id);
        assertEquals(id, info.device());
        assertEquals(Guest.sizeSectors(dev), info.capacitySectors(), "capacity of " + dev);
        assertEquals(Guest.expectedBlockSize(info.capacitySectors()), info.blockSize(),
                "block size of " + dev + " for the module parameters the suite asked for " + Guest.loadedWith());
        long bytes = info.capacitySectors() * 512;
        assertEquals((bytes + info.blockSize() - 1) / info.blockSize(), info.blockCount(),
                "block count must cover the capacity exactly");
        assertTrue(info.changesNumber() >= 1 && info.changesNumber() <= 255, "changes number " + info);
        assertFalse(info.corrupted(), "fresh map marked corrupted");
        System.out.println("[info] " + dev + ": " + info);
        return info;
    }

    protected static Blocks expect(CbtInfo info) {
        return new Blocks(info.blockSize(), info.blockCount());
    }
}
