// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import dev.blksnap.BlksnapControl;
import dev.blksnap.CbtInfo;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.ToDoubleFunction;

/**
 * What the filter and the tracker cost a 4k random-write load ({@code make
 * bench-cbt} on virtio disks, {@code make bench-cbt-nullb} on null_blk; run
 * inside the VM bench). fio writes to one device in three states:
 * <ol type="a">
 * <li>module not loaded;
 * <li>module loaded, this device untracked, the other device tracked (so
 * the submit hook is installed and every bio goes through it);
 * <li>this device tracked.
 * </ol>
 * <p>
 * Each round measures the three states once, in one of the six orders; the
 * rounds rotate through all six, so neither drift of the host nor what one
 * state leaves behind for the next favours a state. One fio runs through
 * all rounds and the states change under it (attach, detach, insmod and
 * rmmod under load are all supported): no fio start-up in any window, and
 * windows short enough for many rounds. Each window starts a settling time
 * after the change of state.
 * <p>
 * Three measures per window, each relative to (a) in the same round:
 * <ul>
 * <li><b>host CPU per write</b>: the CPU time the host gave QEMU ({@link
 * HostCpu}) divided by the writes the device completed. Host noise that
 * takes the CPU away from QEMU does not enter it; this is the measure the
 * targets are judged on;
 * <li><b>guest CPU per write</b>: fio's CPU time in the guest (its threads'
 * schedstat) per write; on TCG the guest's clock runs on while the host
 * has QEMU descheduled, so host noise inflates it;
 * <li><b>IOPS</b>: writes per second of the guest's clock, the plainest
 * and noisiest.
 * </ul>
 * A ratio is "how much of (a)'s speed is left": for IOPS (x)/(a), for a cost
 * (a)/(x). The bench prints the median of the per-round ratios with a 95 %
 * bootstrap interval, over all rounds and over the calmest third (the
 * rounds in which the host made QEMU wait least: a choice by host noise
 * alone), the accelerator, how much the host made QEMU wait, and the proof
 * that the states were what they claim: the submit hook installed in (b)
 * and live (a write to the other device is marked), marks left by fio in
 * (c), neither hook nor module in (a). Run it with one vCPU (the make
 * targets do): with two, a descheduled vCPU makes the other spin on its
 * locks, which the host counts as QEMU's CPU time.
 * <p>
 * A benchmark, not a test: it prints ratios and fails only when it cannot
 * measure or a state is not what it claims.
 */
public final class CbtBench {

	private enum State {
		NOT_LOADED("a", "not loaded"), UNTRACKED("b", "loaded, untracked"), TRACKED("c", "tracked");

		final String tag;
		final String label;

		State(String tag, String label) {
			this.tag = tag;
			this.label = label;
		}
	}

	/** The six orders of the three states; round i uses order i mod 6. */
	private static final State[][] ORDERS = {
		{State.NOT_LOADED, State.UNTRACKED, State.TRACKED},
		{State.TRACKED, State.NOT_LOADED, State.UNTRACKED},
		{State.UNTRACKED, State.TRACKED, State.NOT_LOADED},
		{State.TRACKED, State.UNTRACKED, State.NOT_LOADED},
		{State.NOT_LOADED, State.TRACKED, State.UNTRACKED},
		{State.UNTRACKED, State.NOT_LOADED, State.TRACKED},
	};

	private record Settings(Path module, Path other, Path disk, int rounds, int windowMillis, int settleMillis,
			Path hostProc) {
		static Settings fromEnvironment() {
			String[] disks = System.getenv().getOrDefault("BLKSNAP_DISKS", "").trim().split("\\s+");
			if (disks.length < 2)
				throw new IllegalStateException("bench-cbt needs two devices (BLKSNAP_DISKS)");
			String module = System.getenv("BLKSNAP_KO");
			if (module == null)
				throw new IllegalStateException("BLKSNAP_KO is not set: run me through tests/vm/run --module");
			int rounds = Integer.parseInt(System.getenv().getOrDefault("BENCH_ROUNDS", "60"));
			if (rounds < ORDERS.length || rounds % ORDERS.length != 0)
				throw new IllegalArgumentException("BENCH_ROUNDS must be a multiple of " + ORDERS.length
						+ " (every order of the states as often as the others), not " + rounds);
			String hostProc = System.getenv("BENCH_HOST_PROC");
			return new Settings(Path.of(module), Path.of(disks[0]), Path.of(disks[1]), rounds,
					Integer.parseInt(System.getenv().getOrDefault("BENCH_WINDOW_MS", "1000")),
					Integer.parseInt(System.getenv().getOrDefault("BENCH_SETTLE_MS", "300")),
					hostProc == null || hostProc.isBlank() ? null : Path.of(hostProc));
		}
	}

	/** What one window measured. Host numbers are 0 when the host's /proc is not visible. */
	private record Window(double seconds, long writes, long hostRunNanos, long hostWaitNanos, long guestRunNanos) {
		double iops() {
			return writes / seconds;
		}

		double hostMicrosPerWrite() {
			return hostRunNanos / 1e3 / writes;
		}

		double guestMicrosPerWrite() {
			return guestRunNanos / 1e3 / writes;
		}

		/** The share of QEMU's runnable time it spent waiting for a host CPU. */
		double hostWaitShare() {
			return hostRunNanos + hostWaitNanos == 0 ? 0 : (double) hostWaitNanos / (hostRunNanos + hostWaitNanos);
		}
	}

	/** One measure: how it is read from a window, and whether more is better. */
	private record Measure(String name, String unit, ToDoubleFunction<Window> value, boolean higherIsBetter) {
		double ratio(Window x, Window a) {
			double vx = value.applyAsDouble(x);
			double va = value.applyAsDouble(a);
			return 100 * (higherIsBetter ? vx / va : va / vx);
		}
	}

	private static final Measure HOST = new Measure("host CPU per write", "us", Window::hostMicrosPerWrite, false);
	private static final Measure GUEST = new Measure("guest CPU per write (fio)", "us",
			Window::guestMicrosPerWrite, false);
	private static final Measure IOPS = new Measure("IOPS (guest clock)", "", Window::iops, true);

	private static final OpenOption O_DIRECT = extendedOption("DIRECT");
	private static final Path FIO_LOG = Path.of("/tmp/bench-fio.log");

	private final Settings settings;
	private final Optional<HostCpu> host;
	private final SplittableRandom rnd = new SplittableRandom();
	private final Path writeCounter;
	private final Path enabledFunctions;
	private long marksInC;
	private int probesInB;

	private CbtBench(Settings settings) throws IOException {
		this.settings = settings;
		this.host = HostCpu.find(settings.hostProc());
		this.writeCounter = Path.of("/sys/block", settings.disk().toRealPath().getFileName().toString(), "stat");
		this.enabledFunctions = List.of(Path.of("/sys/kernel/tracing/enabled_functions"),
				Path.of("/sys/kernel/debug/tracing/enabled_functions")).stream().filter(Files::isReadable)
				.findFirst().orElseThrow(() -> new IllegalStateException(
						"no tracing/enabled_functions: cannot tell whether the submit hook is installed"));
	}

	public static void main(String[] args) throws Exception {
		new CbtBench(Settings.fromEnvironment()).run();
	}

	private void run() throws Exception {
		Settings s = settings;
		SlabDebugging.refuse("bench-cbt");
		System.out.printf("bench-cbt: %s (kernel %s), %d rounds x 3 states (each of the 6 orders %d times),"
				+ " one fio 4k randwrite iodepth 16 on %s throughout; per state %d ms to settle, then a %d ms"
				+ " window%n", accelerator(), System.getProperty("os.version"), s.rounds(),
				s.rounds() / ORDERS.length, s.disk(), s.settleMillis(), s.windowMillis());
		host.ifPresentOrElse(h -> System.out.println("bench-cbt: host CPU from " + h.threads()
				+ " QEMU threads; QEMU: " + h.commandLine().replaceAll(" -append .*", " ...")),
				() -> System.out.println("bench-cbt: the host's /proc is not visible (BENCH_HOST_PROC):"
						+ " no host CPU measure, only the guest's"));
		Window[][] w = new Window[State.values().length][s.rounds()];
		enter(State.NOT_LOADED);
		Process fio = startFio();
		try {
			for (int round = 0; round < s.rounds(); round++)
				measureRound(w, round, fio);
		} finally {
			fio.destroy();
			fio.waitFor();
		}
		enter(State.NOT_LOADED);
		report(w);
	}

	private void measureRound(Window[][] w, int round, Process fio) throws Exception {
		State[] order = ORDERS[round % ORDERS.length];
		for (State state : order)
			w[state.ordinal()][round] = measure(state, fio);
		System.out.printf("round %2d (%s%s%s): IOPS %6.0f %6.0f %6.0f | host us/write %6.2f %6.2f %6.2f"
				+ " | guest us/write %6.2f %6.2f %6.2f | host wait %4.1f %%%n", round + 1, order[0].tag,
				order[1].tag, order[2].tag, w[0][round].iops(), w[1][round].iops(), w[2][round].iops(),
				w[0][round].hostMicrosPerWrite(), w[1][round].hostMicrosPerWrite(),
				w[2][round].hostMicrosPerWrite(), w[0][round].guestMicrosPerWrite(),
				w[1][round].guestMicrosPerWrite(), w[2][round].guestMicrosPerWrite(),
				100 * maxWaitShare(w, round));
	}

	/**
	 * The third of the rounds in which the host made QEMU wait least (by the
	 * largest wait of the round's three windows), calmest first: chosen by
	 * the host's noise alone, which the guest's state does not set, so the
	 * choice favours no state.
	 */
	private static int[] calmestThird(Window[][] w) {
		int n = w[0].length;
		return java.util.stream.IntStream.range(0, n).boxed()
				.sorted(java.util.Comparator.comparingDouble(r -> maxWaitShare(w, r)))
				.limit(Math.max(ORDERS.length, n / 3)).mapToInt(Integer::intValue).toArray();
	}

	private static void printRatios(Measure m, Window[][] w, int[] rounds, String which) {
		for (State x : List.of(State.UNTRACKED, State.TRACKED)) {
			double[] ratios = new double[rounds.length];
			for (int i = 0; i < rounds.length; i++)
				ratios[i] = m.ratio(w[x.ordinal()][rounds[i]], w[0][rounds[i]]);
			System.out.printf("  (%s) %-18s vs (a): %s  (median of per-round ratios, 95 %% bootstrap interval;"
					+ " %s)%n", x.tag, x.label, Spread.medianWithInterval(ratios), which);
		}
	}

	private static double maxWaitShare(Window[][] w, int round) {
		double m = 0;
		for (Window[] state : w)
			m = Math.max(m, state[round].hostWaitShare());
		return m;
	}

	private String accelerator() throws IOException {
		if (host.isPresent())
			return "accelerator " + host.get().accelerator();
		String cpu = Files.readString(Path.of("/proc/cpuinfo"));
		if (cpu.contains("QEMU TCG"))
			return "accelerator tcg (CPU model)";
		return "accelerator unknown (no host /proc, CPU " + cpu.lines().filter(l -> l.startsWith("model name"))
				.findFirst().orElse("?").replaceAll(".*:\\s*", "") + ")";
	}

	/** Starts the load: fio runs through every round, the states change under it. */
	private Process startFio() throws Exception {
		Process fio = new ProcessBuilder("fio", "--name=bench", "--filename=" + settings.disk(), "--direct=1",
				"--ioengine=libaio", "--iodepth=16", "--rw=randwrite", "--bs=4k", "--size=256M",
				"--time_based", "--runtime=86400", "--randrepeat=0").redirectErrorStream(true)
				.redirectOutput(FIO_LOG.toFile()).start();
		long start = writes();
		long deadline = System.nanoTime() + 60_000_000_000L;
		while (writes() == start) {
			if (!fio.isAlive() || System.nanoTime() > deadline)
				throw new IOException("fio wrote nothing to " + settings.disk() + ": " + Files.readString(FIO_LOG));
			Thread.sleep(20);
		}
		return fio;
	}

	/**
	 * Enters {@code state} under the running fio, lets the change settle
	 * (ftrace patches code, QEMU retranslates it), measures one window and
	 * checks that the state was real.
	 */
	private Window measure(State state, Process fio) throws Exception {
		enter(state);
		UUID before = state == State.TRACKED ? generation(settings.disk()) : null;
		Thread.sleep(settings.settleMillis());
		Sample s1 = sample(fio);
		Thread.sleep(settings.windowMillis());
		Sample s2 = sample(fio);
		if (!fio.isAlive())
			throw new IOException("fio ended: " + Files.readString(FIO_LOG));
		Window window = s2.minus(s1);
		if (window.writes() <= 0)
			throw new IOException("no write completed in the window of " + state.label);
		prove(state, before);
		return window;
	}

	private record Sample(long nanos, long writes, HostCpu.Reading host, long guestRunNanos) {
		Window minus(Sample a) {
			HostCpu.Reading h = host.minus(a.host);
			return new Window((nanos - a.nanos) / 1e9, writes - a.writes, h.runNanos(), h.waitNanos(),
					guestRunNanos - a.guestRunNanos);
		}
	}

	private Sample sample(Process fio) throws IOException {
		HostCpu.Reading h = host.isPresent() ? host.get().read() : new HostCpu.Reading(0, 0);
		long guest = guestRunNanos(fio.toHandle());
		return new Sample(System.nanoTime(), writes(), h, guest);
	}

	/** Writes the device completed (field 5 of /sys/block/X/stat). */
	private long writes() throws IOException {
		return Long.parseLong(Files.readString(writeCounter).trim().split("\\s+")[4]);
	}

	/** CPU time of fio and its job processes, every thread, from their schedstat. */
	private static long guestRunNanos(ProcessHandle fio) throws IOException {
		long sum = 0;
		List<ProcessHandle> all = new ArrayList<>(fio.descendants().toList());
		all.add(fio);
		for (ProcessHandle p : all) {
			try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(p.pid()),
					"task"))) {
				for (Path t : tasks)
					sum += Long.parseLong(Files.readString(t.resolve("schedstat")).split(" ")[0]);
			} catch (java.nio.file.NoSuchFileException gone) {
				// a process that ended between the listing and the read
			}
		}
		return sum;
	}

	/** Moves the machine to {@code state} from whatever state it is in. */
	private void enter(State state) throws IOException, InterruptedException {
		boolean loaded = moduleLoaded();
		if (state == State.NOT_LOADED) {
			if (loaded)
				exec("rmmod", "blksnap");
			return;
		}
		if (!loaded)
			exec("insmod", settings.module().toString());
		DeviceId other = DeviceId.of(settings.other());
		DeviceId disk = DeviceId.of(settings.disk());
		try (BlksnapControl control = BlksnapControl.open()) {
			List<DeviceId> tracked = control.trackers();
			if (!tracked.contains(other))
				control.attach(other);
			if (state == State.TRACKED && !tracked.contains(disk))
				control.attach(disk);
			if (state == State.UNTRACKED && tracked.contains(disk))
				control.detach(disk);
		}
	}

	private static boolean moduleLoaded() {
		return Files.isDirectory(Path.of("/sys/module/blksnap"));
	}

	private UUID generation(Path dev) throws Exception {
		try (BlksnapControl control = BlksnapControl.open()) {
			return control.cbtInfo(DeviceId.of(dev)).generation();
		}
	}

	/**
	 * Fails unless the machine was in {@code state} through the window: in
	 * (a) no module and no hook; in (b) the module, the hook installed on
	 * submit_bio_noacct, this device untracked and a write to the other
	 * device marked; in (c) the same tracker as before fio, with marks.
	 */
	private void prove(State state, UUID generationBefore) throws Exception {
		boolean hooked = Files.readAllLines(enabledFunctions).stream()
				.anyMatch(l -> l.startsWith("submit_bio_noacct") && l.contains("blksnap"));
		if (state == State.NOT_LOADED) {
			if (moduleLoaded() || hooked)
				throw new IllegalStateException("(a) with the module loaded (" + moduleLoaded() + ") or the hook"
						+ " installed (" + hooked + ")");
			return;
		}
		if (!hooked)
			throw new IllegalStateException("(" + state.tag + ") without the hook on submit_bio_noacct in "
					+ enabledFunctions);
		DeviceId disk = DeviceId.of(settings.disk());
		DeviceId other = DeviceId.of(settings.other());
		try (BlksnapControl control = BlksnapControl.open()) {
			List<DeviceId> tracked = control.trackers();
			if (state == State.UNTRACKED) {
				if (tracked.contains(disk) || !tracked.contains(other))
					throw new IllegalStateException("(b) with trackers " + tracked);
				Checkpoint cp = control.checkpoint(other);
				CbtInfo info = control.cbtInfo(other);
				long block = rnd.nextLong(info.blockCount());
				writePage(settings.other(), block * info.blockSize());
				int number = control.readMap(other).changeNumber((int) block);
				if (number != cp.changesNumber())
					throw new IllegalStateException("(b): a write to block " + block + " of " + settings.other()
							+ " got change number " + number + ", want " + cp.changesNumber()
							+ ": the hook is installed but not marking");
				probesInB++;
			} else {
				CbtInfo info = control.cbtInfo(disk);
				long marked = control.readMap(disk).changedBlockCount(0);
				if (!info.generation().equals(generationBefore) || marked == 0)
					throw new IllegalStateException("(c): generation " + generationBefore + " -> "
							+ info.generation() + ", " + marked + " blocks marked after fio");
				marksInC += marked;
			}
		}
	}

	private static void writePage(Path dev, long offset) throws IOException {
		try (FileChannel ch = FileChannel.open(dev, StandardOpenOption.WRITE, O_DIRECT)) {
			ByteBuffer buf = ByteBuffer.allocateDirect(8192).alignedSlice(4096);
			buf.put(0, "bench-cbt (b) probe".getBytes(StandardCharsets.US_ASCII));
			ch.write(buf, offset);
		}
	}

	private static OpenOption extendedOption(String name) {
		try {
			for (Object o : Class.forName("com.sun.nio.file.ExtendedOpenOption").getEnumConstants())
				if (((Enum<?>) o).name().equals(name))
					return (OpenOption) o;
		} catch (ClassNotFoundException e) {
			throw new IllegalStateException("this JDK has no com.sun.nio.file.ExtendedOpenOption", e);
		}
		throw new IllegalStateException("this JDK has no ExtendedOpenOption." + name);
	}

	private void report(Window[][] w) {
		int n = settings.rounds();
		System.out.printf("states proven: (a) no module, no hook in %d windows; (b) hook installed and a write to"
				+ " the other device marked in %d windows; (c) %d blocks marked on average after a window%n", n,
				probesInB, marksInC / n);
		double[] waits = new double[3 * n];
		for (int st = 0; st < 3; st++)
			for (int r = 0; r < n; r++)
				waits[st * n + r] = 100 * w[st][r].hostWaitShare();
		if (host.isPresent())
			System.out.printf("host contention: QEMU waited for a host CPU %.1f %% of its runnable time"
					+ " (median window), %.1f %% at worst%n", Spread.median(waits),
					Spread.max(waits));
		List<Measure> measures = host.isPresent() ? List.of(HOST, GUEST, IOPS) : List.of(GUEST, IOPS);
		int[] all = new int[n];
		for (int r = 0; r < n; r++)
			all[r] = r;
		int[] calm = calmestThird(w);
		for (Measure m : measures) {
			double[][] values = new double[3][n];
			for (int st = 0; st < 3; st++)
				for (int r = 0; r < n; r++)
					values[st][r] = m.value().applyAsDouble(w[st][r]);
			System.out.printf("%s, median: (a) %.2f %s, (b) %.2f %s, (c) %.2f %s%n", m.name(),
					Spread.median(values[0]), m.unit(), Spread.median(values[1]), m.unit(),
					Spread.median(values[2]), m.unit());
			printRatios(m, w, all, "all " + n + " rounds");
			if (host.isPresent())
				printRatios(m, w, calm, String.format("the calmest third, %d rounds with QEMU waiting < %.1f %%",
						calm.length, 100 * maxWaitShare(w, calm[calm.length - 1])));
		}
		System.out.println("targets (issue 8): (b) >= 99.5 %, (c) >= 99 % on "
				+ (host.isPresent() ? HOST.name() : GUEST.name()));
	}

	private static String exec(String... command) throws IOException, InterruptedException {
		Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
		String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		if (p.waitFor() != 0)
			throw new IOException(String.join(" ", command) + " failed: " + out.strip());
		return out;
	}
}
