// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CPU time the host spends running this guest: the sum over the QEMU
 * process's threads of {@code /proc/PID/task/TID/schedstat} (nanoseconds on
 * a CPU, nanoseconds runnable but waiting for one), read from inside the
 * guest through the host's {@code /proc}.
 *
 * <p>Why: under TCG the guest's clock is the host's wall clock, so when
 * other work on the host takes the CPU away from QEMU, every guest measure
 * (IOPS, guest CPU time) counts the lost time as the guest's. The host's
 * run time of QEMU's threads does not: it grows only while QEMU runs. Its
 * wait time says how much the host was contended.
 *
 * <p>How: the VM bench exports the host's root over 9p and the guest
 * chroots into it; a non-recursive bind mount of that root (made by
 * tests/bench/guest-bench-cbt) shows the host's {@code /proc} under it,
 * where {@code self} is QEMU, the process serving the 9p reads. The mount
 * caches pages and procfs files have size 0, so reads are O_DIRECT.
 */
@SuppressWarnings("restricted") // plain libc calls: O_DIRECT reads of procfs over 9p
final class HostCpu {
	/** One reading. */
	record Reading(long runNanos, long waitNanos) {
		Reading minus(Reading before) {
			return new Reading(runNanos - before.runNanos, waitNanos - before.waitNanos);
		}
	}

	private static final int O_DIRECT = 040000;
	private static final Linker LINKER = Linker.nativeLinker();
	private static final MethodHandle OPEN = LINKER.downcallHandle(
			LINKER.defaultLookup().find("open").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
	private static final MethodHandle PREAD = LINKER.downcallHandle(
			LINKER.defaultLookup().find("pread").orElseThrow(),
			FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
	private static final MethodHandle CLOSE = LINKER.downcallHandle(
			LINKER.defaultLookup().find("close").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));

	private final List<Path> schedstats;
	private final String commandLine;

	private HostCpu(List<Path> schedstats, String commandLine) {
		this.schedstats = schedstats;
		this.commandLine = commandLine;
	}

	/**
	 * The QEMU process behind {@code hostProc} (the host's /proc as the
	 * guest sees it), or empty when there is none: no such directory, or
	 * the process serving it is not QEMU.
	 */
	static Optional<HostCpu> find(Path hostProc) throws IOException {
		if (hostProc == null || !Files.isDirectory(hostProc.resolve("self")))
			return Optional.empty();
		Path self = hostProc.resolve(Files.readSymbolicLink(hostProc.resolve("self")).toString());
		if (!read(self.resolve("comm")).startsWith("qemu-system"))
			return Optional.empty();
		List<Path> stats = new ArrayList<>();
		try (DirectoryStream<Path> tasks = Files.newDirectoryStream(self.resolve("task"))) {
			for (Path t : tasks)
				stats.add(t.resolve("schedstat"));
		}
		String cmd = read(self.resolve("cmdline")).replace('\0', ' ').strip();
		return Optional.of(new HostCpu(List.copyOf(stats), cmd));
	}

	/** QEMU's command line: which accelerator, CPU model and vCPU count the numbers come from. */
	String commandLine() {
		return commandLine;
	}

	/** The accelerator QEMU runs with, from its {@code -accel} or {@code -machine accel=} option. */
	String accelerator() {
		String[] words = commandLine.split(" ");
		for (int i = 0; i + 1 < words.length; i++) {
			if (words[i].equals("-accel"))
				return words[i + 1];
			if (words[i].equals("-enable-kvm"))
				return "kvm";
		}
		int at = commandLine.indexOf("accel=");
		return at < 0 ? "tcg (QEMU's default)" : commandLine.substring(at + 6).split("[ ,]")[0];
	}

	int threads() {
		return schedstats.size();
	}

	/** Sums every QEMU thread's counters. A thread that ended since {@link #find} counts as 0. */
	Reading read() throws IOException {
		long run = 0;
		long wait = 0;
		for (Path p : schedstats) {
			String s;
			try {
				s = read(p);
			} catch (IOException gone) {
				continue;
			}
			String[] f = s.strip().split(" ");
			run += Long.parseLong(f[0]);
			wait += Long.parseLong(f[1]);
		}
		return new Reading(run, wait);
	}

	private static String read(Path file) throws IOException {
		try (Arena arena = Arena.ofConfined()) {
			int fd = (int) OPEN.invokeExact(arena.allocateFrom(file.toString()), O_DIRECT);
			if (fd < 0)
				throw new IOException("cannot open " + file + " with O_DIRECT");
			try {
				MemorySegment buf = arena.allocate(1 << 16, 4096);
				long n = (long) PREAD.invokeExact(fd, buf, buf.byteSize(), 0L);
				if (n < 0)
					throw new IOException("cannot read " + file);
				return new String(buf.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.UTF_8);
			} finally {
				int closed = (int) CLOSE.invokeExact(fd); // a read-only proc file: nothing to lose
			}
		} catch (IOException | RuntimeException | Error e) {
			throw e;
		} catch (Throwable t) {
			throw new IOException(t);
		}
	}
}
