// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Snapshot events (BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT, module/README.md):
 * nothing to report waits out its timeout (ETIMEDOUT) and a wait ends at
 * destroy (ENOENT); a storage that fills raises LOW_FREE_SPACE, then
 * OVERFLOW with ENOSPC, each once and in that order; a removed device
 * raises CORRUPTED with ENODEV and that device (read through the library),
 * to one of two readers while the other waits out its timeout;
 * bad input gets its exact errno; an answer the module cannot write
 * (EFAULT) leaves its event to be read again (through the command line,
 * which exits 8 when no event comes).
 */
@Order(25)
class SnapshotEventTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    /** The module's default storage_low_free_mib, for a storage larger than twice it. */
    private static final long LOW_FREE_DEFAULT = 64 * MIB;

    /** A taken snapshot of a new 8 MiB loop device, on a directory storage of {@code limit} bytes. */
    private long takenSnapshot(String name, long limit) throws Exception {
        Path dev = loop(name, 8 * MIB);
        long id = snap.create(SCRATCH, limit, false);
        add(id, dev);
        snap.take(id, true);
        return id;
    }

    /** A taken snapshot of the null_blk device {@code name} (made before), which is then removed. */
    private long takenThenRemoved(String name, long limit) throws Exception {
        long id = snap.create(SCRATCH, limit, false);
        add(id, Path.of("/dev", name));
        snap.take(id, true);
        powerOff(nullbDir(name));
        return id;
    }

    @Test
    void timeoutsAndDestroyEndTheWait() throws Exception {
        long id = takenSnapshot("ev-wait", 8 * MIB);
        assertNull(snap.waitEvent(id, 0), "an event with nothing to report");
        // The command line: exit 8 and event none when nothing came.
        CliTest.Run none = CliTest.cli("snapshot", "wait-event", Long.toString(id), "--timeout", "100ms", "--json");
        assertEquals(8, none.exit(), none.err());
        assertEquals("none", none.json().get("event").asText(), none.out());
        long t0 = System.nanoTime();
        assertNull(snap.waitEvent(id, 300), "an event with nothing to report");
        long waited = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(waited >= 290, "a 300 ms wait returned after " + waited + " ms");
        AtomicReference<Object> out = new AtomicReference<>();
        Thread waiter = Thread.ofPlatform().name("event-waiter").start(() -> {
            try (Snapshots other = new Snapshots()) {
                out.set(other.waitEvent(id, 600_000));
            } catch (Throwable e) {
                out.set(e);
            }
        });
        blockedInIoctl("event-waiter");
        Thread.sleep(200);
        assertTrue(waiter.isAlive(), "the wait ended before destroy: " + out.get());
        long d0 = System.nanoTime();
        snap.destroy(id);
        waiter.join(Duration.ofSeconds(30));
        long ended = (System.nanoTime() - d0) / 1_000_000;
        assertFalse(waiter.isAlive(), "a wait of 10 minutes goes on after destroy");
        assertTrue(out.get() instanceof Snapshots.Failed f && f.errno == Errno.ENOENT,
                "a wait ended by destroy: " + out.get());
        System.out.printf("[events] a 300 ms wait took %d ms; a 10-minute wait ended %d ms after destroy began%n",
                waited, ended);
        Snapshots.Failed gone = assertThrows(Snapshots.Failed.class, () -> snap.waitEvent(id, 0));
        assertEquals(Errno.ENOENT, gone.errno);
    }

    /** Waits until the thread of that name sleeps in a system call, ioctl (16 on x86-64) being the only one it makes. */
    private static void blockedInIoctl(String name) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        String call;
        while (!"16".equals(call = syscallOf(name))) {
            assertTrue(System.nanoTime() < deadline, name + " never blocked in WAIT_EVENT: " + call);
            Thread.sleep(20);
        }
    }

    /**
     * The system call number the thread of that name is blocked in, from
     * /proc/self/task/N/syscall ("running" when it is not in one); the JVM
     * names its threads' tasks after the Java threads.
     */
    private static String syscallOf(String name) throws java.io.IOException {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                if (Files.readString(task.resolve("comm")).trim().equals(name)) {
                    return Files.readString(task.resolve("syscall")).trim().split(" ")[0];
                }
            }
        }
        return "no task named " + name;
    }

    @Test
    void lowFreeSpaceThenOverflowEachOnce(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        long limit = 2 * MIB;
        SmallStorage small = takenOnSmallStorage("ev-overflow", 16 * MIB, limit);
        Path dev = small.dev();
        long id = small.id();
        long chunkBytes = snap.info(id).devices().get(0).chunkSize();
        long chunk = chunkBytes / Stamp.SECTOR;
        // Half the storage is the margin: LOW when less than 1 MiB is left.
        long margin = Math.min(LOW_FREE_DEFAULT, limit / 2);
        long chunksBeforeLow = (limit - margin) / chunkBytes + 1;
        for (long c = 0; c < chunksBeforeLow - 1; c++) {
            stampRange(dev, c * chunk + rnd.nextLong(chunk), 1, 2);
        }
        assertNull(snap.waitEvent(id, 200), "an event with " + (chunksBeforeLow - 1) + " chunks stored");
        for (long c = chunksBeforeLow - 1; c < Guest.sizeSectors(dev) / chunk; c++) {
            stampRange(dev, c * chunk + rnd.nextLong(chunk), 1, 2);
        }
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, snap.info(id).state());
        Snapshots.Event low = snap.waitEvent(id, 5000);
        assertNotNull(low, "no event after the storage filled");
        assertEquals(Uapi.EVENT_LOW_FREE_SPACE, low.code(), "LOW_FREE_SPACE comes first: " + low);
        assertEquals(0, low.error(), low.toString());
        assertEquals(new DeviceId(0, 0), low.dev(), low.toString());
        assertEquals(limit, low.limit(), low.toString());
        assertEquals(chunksBeforeLow * chunkBytes, low.used(), "raised by the allocation that left less than "
                + margin + " bytes: " + low);
        Snapshots.Event over = snap.waitEvent(id, 5000);
        assertNotNull(over, "no OVERFLOW after LOW_FREE_SPACE");
        assertEquals(Uapi.EVENT_OVERFLOW, over.code(), over.toString());
        assertEquals(Errno.ENOSPC, over.error(), over.toString());
        assertEquals(new DeviceId(0, 0), over.dev(), over.toString());
        assertEquals(limit, over.limit(), over.toString());
        assertEquals(limit / chunkBytes * chunkBytes, over.used(), "the storage was full: " + over);
        assertTrue(low.timeNs() <= over.timeNs(), low + " then " + over);
        assertEquals(0, low.lost() + over.lost(), "nothing dropped");
        assertNull(snap.waitEvent(id, 200), "a third event after one low and one overflow");
        snap.destroy(id);
    }

    @Test
    void aRemovedDeviceIsNamed() throws Exception {
        DeviceId nbId = DeviceId.of(nullb("nbevent", 32));
        long id = takenThenRemoved("nbevent", 32 * MIB);
        // Through the library, as a backup agent reads them.
        Optional<SnapshotEvent> e = ctl.waitSnapshotEvent(id, Duration.ofSeconds(10));
        assertTrue(e.isPresent(), "no event after the device was removed");
        assertEquals(new SnapshotEvent.Corrupted(Errno.ENODEV, "ENODEV", Optional.of(nbId), e.get().timeNs(),
                e.get().used(), 32 * MIB, 0), e.get());
        assertEquals(Optional.empty(), ctl.waitSnapshotEvent(id, Duration.ofMillis(100)), "one break, one event");
        snap.destroy(id);
    }

    /** One event, two readers: one gets it, the other waits out its whole timeout. */
    @Test
    void aSecondReaderWaitsItsWholeTimeout() throws Exception {
        DeviceId nbId = DeviceId.of(nullb("nbreaders", 16));
        long id = snap.create(SCRATCH, 16 * MIB, false);
        add(id, Path.of("/dev/nbreaders"));
        snap.take(id, true);
        int timeoutMs = 4000;
        Object[] got = new Object[2];
        long[] tookMs = new long[2];
        Thread[] readers = new Thread[2];
        long t0 = System.nanoTime();
        for (int i = 0; i < 2; i++) {
            int r = i;
            readers[i] = Thread.ofPlatform().name("event-reader" + i).start(() -> {
                try (Snapshots own = new Snapshots()) {
                    got[r] = own.waitEvent(id, timeoutMs);
                } catch (Throwable e) {
                    got[r] = e;
                }
                tookMs[r] = (System.nanoTime() - t0) / 1_000_000;
            });
        }
        blockedInIoctl("event-reader0");
        blockedInIoctl("event-reader1");
        powerOff(nullbDir("nbreaders"));
        for (Thread t : readers) {
            t.join(Duration.ofSeconds(60));
            assertFalse(t.isAlive(), t.getName() + " still waits");
        }
        int winner = got[0] instanceof Snapshots.Event ? 0 : 1;
        assertTrue(got[winner] instanceof Snapshots.Event e && e.code() == Uapi.EVENT_CORRUPTED
                && e.dev().equals(nbId), "one reader gets the event: " + got[0] + ", " + got[1]);
        assertNull(got[1 - winner], "the other gets no event: " + got[1 - winner]);
        assertTrue(tookMs[1 - winner] >= timeoutMs - 50, "the other returned ETIMEDOUT after " + tookMs[1 - winner]
                + " ms of a " + timeoutMs + " ms wait");
        System.out.printf("[events] two readers, one event: %d ms and %d ms%n", tookMs[winner], tookMs[1 - winner]);
        snap.destroy(id);
    }

    @Test
    void badInputGetsItsErrno() throws Exception {
        long id = takenSnapshot("ev-bad", 8 * MIB);
        assertEquals(-Errno.EINVAL, snap.waitEventRaw(id, 0, 1, 0), "flags 1");
        assertEquals(-Errno.EINVAL, snap.waitEventRaw(id, 0, 1 << 31, 0), "flags 1<<31");
        assertEquals(-Errno.EINVAL, snap.waitEventRaw(id, 0, 0, 1), "reserved 1");
        assertEquals(-Errno.EINVAL, snap.waitEventRaw(id, Uapi.EVENT_TIMEOUT_MAX_MS + 1, 0, 0),
                "timeout one millisecond above an hour");
        assertEquals(-Errno.EINVAL, snap.waitEventRaw(id, -1, 0, 0), "timeout 2^32-1");
        // An hour is allowed: on no snapshot it returns at once.
        assertEquals(-Errno.ENOENT, snap.waitEventRaw(id + 1000, Uapi.EVENT_TIMEOUT_MAX_MS, 0, 0),
                "an hour's wait on no snapshot");
        assertEquals(-Errno.ENOENT, snap.waitEventRaw(0, 0, 0, 0), "snapshot 0");
        assertEquals(-Errno.ENOENT, snap.waitEventRaw(-1, 0, 0, 0), "snapshot 2^64-1");
        for (long address : new long[] {0L, 0x10L, 0xffff800000000000L, -1L}) {
            assertEquals(-Errno.EFAULT, snap.waitEventAt(address), String.format("argument at %#x", address));
        }
        // Answer members are not read: garbage there is no error.
        try (var a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_EVENT);
            s.fill((byte) 0xa5);
            s.set(JAVA_LONG, 0, id);
            s.set(JAVA_INT, 8, 0);
            s.set(JAVA_INT, 12, 0);
            s.set(JAVA_INT, 60, 0);
            assertEquals(-Errno.ETIMEDOUT, snap.waitEventAt(s.address()), "garbage in the answer members");
        }
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, snap.info(id).state(), "bad input left the snapshot as it was");
        snap.destroy(id);
    }

    @Test
    void anAnswerThatCannotBeWrittenKeepsItsEvent() throws Exception {
        DeviceId nbId = DeviceId.of(nullb("nbefault", 16));
        long id = takenThenRemoved("nbefault", 16 * MIB);
        long page = Posix.pageBeforeHole();
        try {
            @SuppressWarnings("restricted")
            MemorySegment s = MemorySegment.ofAddress(page).reinterpret(Layouts.SNAPSHOT_EVENT.byteSize());
            s.fill((byte) 0);
            s.set(JAVA_LONG, 0, id);
            s.set(JAVA_INT, 8, 10_000);
            Posix.readOnly(page);
            assertEquals(-Errno.EFAULT, snap.waitEventAt(page), "an answer into a read-only page");
        } finally {
            Posix.unmapPages(page);
        }
        // Read again, through the command line.
        CliTest.Run r = CliTest.cli("snapshot", "wait-event", Long.toString(id), "--timeout", "0", "--json");
        assertEquals(0, r.exit(), "the event was lost with the EFAULT: " + r.out() + r.err());
        var e = r.json();
        assertEquals("corrupted", e.get("event").asText(), r.out());
        assertEquals(Errno.ENODEV, e.get("error").asInt(), r.out());
        assertEquals(nbId.toString(), e.get("device").asText(), r.out());
        assertEquals(0, e.get("lost").asInt(), r.out());
        assertNull(snap.waitEvent(id, 0), "the event given back came twice");
        snap.destroy(id);
    }
}
