// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.AlreadyTrackedException;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input to every ioctl gets the errno the header names and changes
 * nothing: the tracker list and the map of a tracked disk are the same
 * before and after each test. Structs are filled at the offsets of
 * include/uapi/linux/blksnap.h, written out here on purpose so the test
 * does not share a mistake with the library's layouts.
 */
@Order(5)
class BadInputTest extends ItBase {
    static final int EPERM = 1, ENOENT = 2, E2BIG = 7, EFAULT = 14, ENODEV = 19, EINVAL = 22, ENOTTY = 25,
            ERANGE = 34, EALREADY = 114;
    private static final Map<Integer, String> NAMES = Map.of(0, "OK", EPERM, "EPERM", ENOENT, "ENOENT",
            E2BIG, "E2BIG", EFAULT, "EFAULT", ENODEV, "ENODEV", EINVAL, "EINVAL", ENOTTY, "ENOTTY", ERANGE,
            "ERANGE", EALREADY, "EALREADY");

    /** Sizes of the header's structs. */
    static final int SZ_VERSION = 16, SZ_BDEV = 8, SZ_ATTACH = 16, SZ_LIST = 16, SZ_INFO = 48, SZ_READ = 40,
            SZ_RANGE = 16, SZ_MARK = 24, SZ_CHECKPOINT = 32;
    static final int IOC_NONE = 0, IOC_W = 1, IOC_R = 2, MAGIC = 0xBE;
    static final long KERNEL = 0xffff800000000000L;
    /** A device number no block device has. */
    static final DeviceId NO_DEVICE = new DeviceId(4094, 12345);

    static long ioc(int dir, int type, int nr, long size) {
        return ((long) dir << 30) | (size << 16) | ((long) type << 8) | nr;
    }

    static final long VERSION = ioc(IOC_R, MAGIC, 0, SZ_VERSION);
    static final long ATTACH = ioc(IOC_W, MAGIC, 1, SZ_ATTACH);
    static final long DETACH = ioc(IOC_W, MAGIC, 2, SZ_BDEV);
    static final long LIST = ioc(IOC_R | IOC_W, MAGIC, 3, SZ_LIST);
    static final long INFO = ioc(IOC_R | IOC_W, MAGIC, 4, SZ_INFO);
    static final long READ = ioc(IOC_R | IOC_W, MAGIC, 5, SZ_READ);
    static final long MARK = ioc(IOC_W, MAGIC, 6, SZ_MARK);
    static final long CHECKPOINT = ioc(IOC_R | IOC_W, MAGIC, 7, SZ_CHECKPOINT);
    static final List<Long> ALL = List.of(VERSION, ATTACH, DETACH, LIST, INFO, READ, MARK, CHECKPOINT);

    private final Path disk = Guest.disk(0);
    private final Path untracked = Guest.disk(1);
    private DeviceId tracked;
    private int fd = -1;
    private Arena arena;
    private CbtMap before;
    /** A read-write page followed by a no-access page, see {@link Posix#pageBeforeHole()}. */
    private long page;
    private long hole;

    @BeforeEach
    void setUp() throws Exception {
        tracked = attach(disk);
        // Some marks and a closed number, so "unchanged" means something.
        ctl.markDirty(tracked, List.of(new dev.blksnap.SectorRange(8, 8), new dev.blksnap.SectorRange(4096, 1)));
        ctl.checkpoint(tracked);
        before = ctl.readMap(tracked);
        fd = RawIoctl.openControl(Guest.CONTROL);
        assertTrue(fd >= 0, "open " + Guest.CONTROL + ": " + fd);
        arena = Arena.ofConfined();
        page = Posix.pageBeforeHole();
        hole = page + 4096;
    }

    @AfterEach
    void nothingChanged() throws Exception {
        try {
            assertEquals(List.of(tracked), ctl.trackers(), "bad input changed the tracker list");
            CbtMap after = ctl.readMap(tracked);
            assertEquals(before.info(), after.info(), "bad input changed the tracker's info");
            assertArrayEquals(before.changes(), after.changes(), "bad input changed the map");
        } finally {
            if (fd >= 0) {
                RawIoctl.close(fd);
            }
            arena.close();
            Posix.unmapPages(page);
        }
    }

    private void expectErrno(int errno, int result, String what) {
        assertEquals(-errno, result, () -> what + ": want " + NAMES.get(errno) + ", got "
                + (result < 0 ? NAMES.getOrDefault(-result, "errno " + -result) : "result " + result)
                + (errno == EFAULT ? "; low mappings of this process: " + lowMappings() : ""));
    }

    /** Mappings below 1 MiB, to tell a module bug from memory the JVM happens to have there. */
    private static String lowMappings() {
        try {
            return java.nio.file.Files.readAllLines(Path.of("/proc/self/maps")).stream()
                    .filter(l -> Long.parseUnsignedLong(l.substring(0, l.indexOf('-')), 16) < (1L << 20))
                    .toList().toString();
        } catch (java.io.IOException e) {
            return "<" + e + ">";
        }
    }

    private MemorySegment struct(int size) {
        return arena.allocate(size, 8);
    }

    private MemorySegment bdev(MemorySegment s, long off, DeviceId d) {
        s.set(JAVA_INT, off, d.major());
        s.set(JAVA_INT, off + 4, d.minor());
        return s;
    }

    private MemorySegment attachArg(DeviceId d, int flags, int reserved) {
        MemorySegment s = bdev(struct(SZ_ATTACH), 0, d);
        s.set(JAVA_INT, 8, flags);
        s.set(JAVA_INT, 12, reserved);
        return s;
    }

    private MemorySegment readArg(DeviceId d, int offset, int length, long buffer) {
        MemorySegment s = bdev(struct(SZ_READ), 0, d);
        s.set(JAVA_INT, 8, offset);
        s.set(JAVA_INT, 12, length);
        s.set(JAVA_LONG, 16, buffer);
        return s;
    }

    private MemorySegment markArg(DeviceId d, int count, int reserved, long ranges) {
        MemorySegment s = bdev(struct(SZ_MARK), 0, d);
        s.set(JAVA_INT, 8, count);
        s.set(JAVA_INT, 12, reserved);
        s.set(JAVA_LONG, 16, ranges);
        return s;
    }

    private MemorySegment ranges(long... offsetCount) {
        MemorySegment r = arena.allocate((long) offsetCount.length * 8, 8);
        for (int i = 0; i < offsetCount.length; i++) {
            r.set(JAVA_LONG, i * 8L, offsetCount[i]);
        }
        return r;
    }

    private int ioctl(long request, MemorySegment arg) {
        return RawIoctl.ioctl(fd, request, arg);
    }

    @Test
    @Order(1)
    void requestNumbersAndLayoutsMatchTheHeader() {
        assertEquals(VERSION, RawIoctl.VERSION);
        assertEquals(ATTACH, RawIoctl.TRACKER_ATTACH);
        assertEquals(DETACH, RawIoctl.TRACKER_DETACH);
        assertEquals(LIST, RawIoctl.TRACKER_LIST);
        assertEquals(INFO, RawIoctl.CBT_INFO);
        assertEquals(READ, RawIoctl.CBT_READ);
        assertEquals(MARK, RawIoctl.CBT_MARK_DIRTY);
        assertEquals(CHECKPOINT, RawIoctl.CBT_CHECKPOINT);
        assertEquals(SZ_VERSION, Layouts.VERSION.byteSize());
        assertEquals(SZ_BDEV, Layouts.BDEV.byteSize());
        assertEquals(SZ_ATTACH, Layouts.TRACKER_ATTACH.byteSize());
        assertEquals(SZ_LIST, Layouts.TRACKER_LIST.byteSize());
        assertEquals(SZ_INFO, Layouts.CBT_INFO.byteSize());
        assertEquals(SZ_READ, Layouts.CBT_READ.byteSize());
        assertEquals(SZ_RANGE, Layouts.SECTOR_RANGE.byteSize());
        assertEquals(SZ_MARK, Layouts.CBT_MARK_DIRTY.byteSize());
        assertEquals(SZ_CHECKPOINT, Layouts.CBT_CHECKPOINT.byteSize());
        // A good VERSION call through the raw path, for contrast.
        MemorySegment v = struct(SZ_VERSION);
        assertEquals(0, ioctl(VERSION, v));
        assertEquals(1, v.get(java.lang.foreign.ValueLayout.JAVA_SHORT, 0));
        assertEquals(1L, v.get(JAVA_LONG, 8) & 1L, "the CBT feature bit");
    }

    @Test
    @Order(2)
    void badArgumentPointersAreEfault() {
        for (long req : ALL) {
            for (long address : new long[] {0L, 0x10L, hole, KERNEL, -1L}) {
                expectErrno(EFAULT, RawIoctl.ioctlAddress(fd, req, address),
                        String.format("request %#x with argument %#x", req, address));
            }
        }
    }

    @Test
    @Order(3)
    @SuppressWarnings("restricted") // a segment over a hand-made mapping
    void badBufferPointersAreEfault() {
        for (long buf : new long[] {hole, KERNEL}) {
            MemorySegment list = struct(SZ_LIST);
            list.set(JAVA_LONG, 0, buf);
            list.set(JAVA_INT, 8, 4);
            expectErrno(EFAULT, ioctl(LIST, list), String.format("TRACKER_LIST into %#x", buf));
            expectErrno(EFAULT, ioctl(READ, readArg(tracked, 0, 64, buf)),
                    String.format("CBT_READ into %#x", buf));
            expectErrno(EFAULT, ioctl(MARK, markArg(tracked, 1, 0, buf)),
                    String.format("CBT_MARK_DIRTY ranges at %#x", buf));
        }
        // The first range is readable, the second lies in the hole: EFAULT
        // and nothing marked (the map check after each test sees to that).
        MemorySegment first = MemorySegment.ofAddress(hole - SZ_RANGE).reinterpret(SZ_RANGE);
        first.set(JAVA_LONG, 0, 20000);
        first.set(JAVA_LONG, 8, 8);
        expectErrno(EFAULT, ioctl(MARK, markArg(tracked, 2, 0, first.address())),
                "CBT_MARK_DIRTY whose second range is in a no-access page");
        // A read buffer that runs into the hole (when the map is longer than a page).
        if (before.info().blockCount() > 4096) {
            expectErrno(EFAULT, ioctl(READ, readArg(tracked, 0, 8192, page)),
                    "CBT_READ into a buffer that runs into a no-access page");
        }
    }

    @Test
    @Order(4)
    void zeroLengthAndCountAreEinval() {
        expectErrno(EINVAL, ioctl(READ, readArg(tracked, 0, 0, arena.allocate(16).address())), "CBT_READ length 0");
        expectErrno(EINVAL, ioctl(MARK, markArg(tracked, 0, 0, ranges(0, 1).address())), "CBT_MARK_DIRTY count 0");
        // Capacity 0 is the documented way to ask for the count alone.
        MemorySegment list = struct(SZ_LIST);
        assertEquals(0, ioctl(LIST, list), "TRACKER_LIST with capacity 0 and no buffer");
        assertEquals(1, list.get(JAVA_INT, 12), "count of trackers");
    }

    @Test
    @Order(5)
    void nonZeroReservedAndFlagsAreEinval() throws Exception {
        DeviceId other = DeviceId.of(untracked);
        expectErrno(EINVAL, ioctl(ATTACH, attachArg(other, 1, 0)), "TRACKER_ATTACH flags 1");
        expectErrno(EINVAL, ioctl(ATTACH, attachArg(other, 1 << 31, 0)), "TRACKER_ATTACH flags 1<<31");
        expectErrno(EINVAL, ioctl(ATTACH, attachArg(other, 0, 1)), "TRACKER_ATTACH reserved 1");
        for (int i = 0; i < 6; i++) {
            MemorySegment info = bdev(struct(SZ_INFO), 0, tracked);
            info.set(JAVA_BYTE, 42 + i, (byte) 1);
            expectErrno(EINVAL, ioctl(INFO, info), "CBT_INFO reserved[" + i + "] 1");
            MemorySegment cp = bdev(struct(SZ_CHECKPOINT), 0, tracked);
            cp.set(JAVA_BYTE, 26 + i, (byte) 0x80);
            expectErrno(EINVAL, ioctl(CHECKPOINT, cp), "CBT_CHECKPOINT reserved[" + i + "] 0x80");
        }
        expectErrno(EINVAL, ioctl(MARK, markArg(tracked, 1, 1, ranges(0, 1).address())),
                "CBT_MARK_DIRTY reserved 1");
    }

    @Test
    @Order(6)
    void tooManyRangesIsE2big() {
        int n = 65537;
        MemorySegment r = arena.allocate((long) n * SZ_RANGE, 8);
        for (int i = 0; i < n; i++) {
            r.set(JAVA_LONG, i * 16L, i);
            r.set(JAVA_LONG, i * 16L + 8, 1);
        }
        expectErrno(E2BIG, ioctl(MARK, markArg(tracked, n, 0, r.address())), "CBT_MARK_DIRTY count 65537");
        expectErrno(E2BIG, ioctl(MARK, markArg(tracked, -1, 0, r.address())), "CBT_MARK_DIRTY count 2^32-1");
        MemorySegment list = struct(SZ_LIST);
        MemorySegment buf = arena.allocate((long) n * SZ_BDEV, 8);
        list.set(JAVA_LONG, 0, buf.address());
        list.set(JAVA_INT, 8, n);
        expectErrno(E2BIG, ioctl(LIST, list), "TRACKER_LIST capacity 65537");
    }

    @Test
    @Order(7)
    void outOfRangeIsErange() throws Exception {
        CbtInfo info = before.info();
        MemorySegment buf = arena.allocate(4096);
        expectErrno(ERANGE, ioctl(READ, readArg(tracked, info.blockCount(), 1, buf.address())),
                "CBT_READ at offset blockCount");
        expectErrno(ERANGE, ioctl(READ, readArg(tracked, -1, 1, buf.address())), "CBT_READ at offset 2^32-1");
        // At the last block a long read is cut short, not refused.
        MemorySegment last = readArg(tracked, info.blockCount() - 1, 4096, buf.address());
        int res = ioctl(READ, last);
        assertTrue(res >= 0, "CBT_READ of the last block with length 4096: " + res);
        assertEquals(1, last.get(JAVA_INT, 12), "bytes copied from the last block");

        long cap = info.capacitySectors();
        long[][] bad = {
            {cap, 1}, {cap - 1, 2}, {0, cap + 1}, {1, -1L}, {-1L, 1}, {cap - 1, Long.MIN_VALUE}, {0, 0},
        };
        for (long[] r : bad) {
            // A good range first: the batch is all or nothing.
            expectErrno(ERANGE, ioctl(MARK, markArg(tracked, 2, 0, ranges(100, 8, r[0], r[1]).address())),
                    String.format("CBT_MARK_DIRTY range %#x+%#x (capacity %d sectors)", r[0], r[1], cap));
        }
    }

    @Test
    @Order(8)
    void unknownDevicesAreEnodevOrEnoent() throws Exception {
        expectErrno(ENODEV, ioctl(ATTACH, attachArg(NO_DEVICE, 0, 0)), "TRACKER_ATTACH of " + NO_DEVICE);
        for (DeviceId d : List.of(NO_DEVICE, DeviceId.of(untracked))) {
            expectErrno(ENOENT, ioctl(DETACH, bdev(struct(SZ_BDEV), 0, d)), "TRACKER_DETACH of " + d);
            expectErrno(ENOENT, ioctl(INFO, bdev(struct(SZ_INFO), 0, d)), "CBT_INFO of " + d);
            expectErrno(ENOENT, ioctl(READ, readArg(d, 0, 16, arena.allocate(16).address())), "CBT_READ of " + d);
            expectErrno(ENOENT, ioctl(MARK, markArg(d, 1, 0, ranges(0, 1).address())), "CBT_MARK_DIRTY of " + d);
            expectErrno(ENOENT, ioctl(CHECKPOINT, bdev(struct(SZ_CHECKPOINT), 0, d)), "CBT_CHECKPOINT of " + d);
        }
    }

    @Test
    @Order(9)
    void doubleAttachAndDetachOfUntracked() throws Exception {
        expectErrno(EALREADY, ioctl(ATTACH, attachArg(tracked, 0, 0)), "second TRACKER_ATTACH of " + tracked);
        assertThrows(AlreadyTrackedException.class, () -> ctl.attach(tracked));
        DeviceId other = DeviceId.of(untracked);
        expectErrno(ENOENT, ioctl(DETACH, bdev(struct(SZ_BDEV), 0, other)), "TRACKER_DETACH of untracked");
        assertThrows(NotTrackedException.class, () -> ctl.detach(other));
    }

    @Test
    @Order(10)
    void unknownRequestsAndWrongEncodingsAreEnotty() {
        MemorySegment big = arena.allocate(4096, 8); // valid memory: only the number is wrong
        long[] requests = {
            ioc(IOC_R | IOC_W, MAGIC, 8, 16), ioc(IOC_R | IOC_W, MAGIC, 0xff, 16), ioc(IOC_NONE, MAGIC, 8, 0),
            ioc(IOC_R, MAGIC, 0, 8), ioc(IOC_R, MAGIC, 0, 24), ioc(IOC_W, MAGIC, 0, SZ_VERSION),
            ioc(IOC_R | IOC_W, MAGIC, 0, SZ_VERSION), ioc(IOC_NONE, MAGIC, 0, 0),
            ioc(IOC_W, MAGIC, 1, SZ_ATTACH - 8), ioc(IOC_W, MAGIC, 1, SZ_ATTACH + 8), ioc(IOC_R | IOC_W, MAGIC, 1, SZ_ATTACH),
            ioc(IOC_R | IOC_W, MAGIC, 4, SZ_INFO - 8), ioc(IOC_W, MAGIC, 4, SZ_INFO),
            ioc(IOC_R | IOC_W, MAGIC, 5, SZ_READ + 8), ioc(IOC_W, MAGIC, 6, SZ_MARK + 8),
            ioc(IOC_R | IOC_W, MAGIC, 7, SZ_CHECKPOINT - 8), ioc(IOC_R, 0xBF, 0, SZ_VERSION),
            ioc(IOC_R, 0, 0, SZ_VERSION),
        };
        for (long req : requests) {
            big.fill((byte) 0);
            expectErrno(ENOTTY, ioctl(req, big), String.format("request %#x", req));
        }
    }

    private static Path cliLauncher() {
        return top().resolve("utils/blksnap");
    }

    private static Path top() {
        return Path.of(System.getenv().getOrDefault("BLKSNAP_TOP", ".")).toAbsolutePath().normalize();
    }

    /** The jar the launcher would run: $BLKSNAP_JAR (the suite's snapshot), else the build's. */
    private static Path cliJar() {
        String staged = System.getenv("BLKSNAP_JAR");
        return staged != null && !staged.isBlank() ? Path.of(staged) : top().resolve("utils/target/blksnap.jar");
    }

    /**
     * A copy of the launcher and the jar that user nobody can read and run.
     * The checkout may lie where nobody cannot enter (/root is 0700): run
     * from there, the shell's "Permission denied" (exit 126) would stand in
     * for the module's refusal.
     */
    private static Path stageCliForEveryone(Path dir) throws IOException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path launcher = dir.resolve("blksnap");
        Files.copy(cliLauncher(), launcher);
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path jar = dir.resolve("blksnap.jar");
        Files.copy(cliJar(), jar);
        Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-r--r--"));
        return launcher;
    }

    private static void assertPermissionDenied(List<String> cmd) {
        assertPermissionDenied(cmd, Map.of());
    }

    private static void assertPermissionDenied(List<String> cmd, Map<String, String> env) {
        Guest.Result r = Guest.run(cmd, env);
        System.out.println("[nonroot] " + String.join(" ", cmd) + " -> " + r.exit() + ": " + r.stderr().strip());
        assertEquals(77, r.exit(), () -> "want exit 77 (permission denied): " + r.describe(cmd));
        CliTest.assertOneLine(r.stderr());
        assertEquals("", r.stdout(), "stdout of a refused command");
    }

    @Test
    @Order(11)
    void withoutCapSysAdminTheCliIsRefused(@TempDir Path stage) throws Exception {
        // The real launcher once, as nobody (open refused: EACCES). Exit 77
        // can only come from the CLI: the JVM ran, and what it was refused
        // was the control device. Each launcher run starts a JVM (about 30 s
        // under TCG), so the EPERM refusals run the command in this JVM.
        Path everyone = stageCliForEveryone(stage);
        assertPermissionDenied(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                everyone.toString(), "tracker", "list"),
                Map.of("BLKSNAP_JAR", stage.resolve("blksnap.jar").toString()));
        // uid 0 without CAP_SYS_ADMIN: the device opens, the ioctl says EPERM.
        assertPermissionDenied(withoutCapSysAdmin("tracker", "list"));
        assertPermissionDenied(withoutCapSysAdmin("tracker", "attach", untracked.toString()));
    }

    private static void assertPermissionDenied(CliTest.Run r) {
        assertEquals(77, r.exit(), () -> "want exit 77 (permission denied): exit " + r.exit() + ", stdout "
                + r.out() + ", stderr " + r.err());
        CliTest.assertOneLine(r.err());
        assertEquals("", r.out(), "stdout of a refused command");
    }

    /**
     * blksnap ARGS in this JVM, on a thread of its own whose effective
     * capabilities lack CAP_SYS_ADMIN (capabilities are per thread; the
     * module's capable() looks at the caller's): what
     * {@code setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin blksnap ARGS}
     * gets, without a JVM start.
     */
    private static CliTest.Run withoutCapSysAdmin(String... args) throws Exception {
        java.util.concurrent.atomic.AtomicReference<Object> out = new java.util.concurrent.atomic.AtomicReference<>();
        Thread t = Thread.ofPlatform().name("without CAP_SYS_ADMIN").start(() -> {
            try {
                Posix.dropEffectiveCapability(Posix.CAP_SYS_ADMIN);
                String capEff = Files.readAllLines(Path.of("/proc/thread-self/status")).stream()
                        .filter(l -> l.startsWith("CapEff:")).findFirst().orElseThrow();
                long eff = Long.parseUnsignedLong(capEff.substring("CapEff:".length()).strip(), 16);
                if ((eff & (1L << Posix.CAP_SYS_ADMIN)) != 0) {
                    throw new AssertionError("CAP_SYS_ADMIN is still effective: " + capEff);
                }
                out.set(CliTest.cli(args));
            } catch (Throwable e) {
                out.set(e);
            }
        });
        t.join();
        if (out.get() instanceof Throwable e) {
            throw new AssertionError("blksnap " + String.join(" ", args) + " without CAP_SYS_ADMIN", e);
        }
        return (CliTest.Run) out.get();
    }
}
