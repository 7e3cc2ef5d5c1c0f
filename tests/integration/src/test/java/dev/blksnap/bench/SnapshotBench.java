// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import dev.blksnap.Snapshot;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.TakeResult;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * What a snapshot costs the writes to its device ({@code make
 * bench-snapshot}, run inside the VM bench), side by side in one run, with
 * fio (direct, libaio) on the same two disks: the origin, and a disk of the
 * same kind for the copies.
 * <ol type="a">
 * <li>no snapshot;
 * <li>a blksnap snapshot just taken: writes go to chunks not copied yet;
 * <li>a blksnap snapshot whose every chunk was copied (and stored) before;
 * <li>a transient dm-snapshot (Debian's kernel) with the same chunk size,
 * its COW store on the second disk, written through its origin device;
 * <li>no snapshot, the copy's I/O alone: what a first write costs either
 * snapshot, issued by fio with nothing between its parts (see
 * {@link #ceiling}), an upper bound on what (b) or (d) can reach.
 * </ol>
 * The jobs write the first three quarters of the origin, so that neither
 * store fills; in (b) and (d) each chunk at most once, so that they
 * measure first writes only (see {@link #fio}). Each state is checked: the
 * chunk size; (b) and (d) print the share of the chunks the writes covered
 * that they copied; (c) waits until every chunk is copied and stored, and
 * fails if a write copied one; (d) fails if dm-snapshot became invalid or
 * copied fewer chunks than the writes covered; (e) fails unless each of
 * its three fio jobs did all its I/Os.
 * Rounds run the states in turn, forward on odd rounds and backward on even
 * ones, so host drift within a round cancels. Also: a sequential read of a
 * fresh image against one of the device, and how long take holds writes to
 * four devices under load. A benchmark, not a test: it prints medians with
 * their spread and ratios, and asserts nothing. Last, storage that grows
 * against storage allocated beforehand (fresh-chunk writes, on ext4), and
 * image reads while the origin is written. BENCH_PARTS (a comma list of
 * {@code writes}, {@code read}, {@code take}, {@code growth} and
 * {@code loaded_read}; all by default) picks what it measures. It refuses to run with slab debugging on (see
 * {@link SlabDebugging}).
 */
public final class SnapshotBench {
	private enum State { NONE, FRESH, COPIED, DM, CEILING }

	private static final String[] NAMES = { "(a) no snapshot", "(b) blksnap, fresh chunks",
			"(c) blksnap, chunks copied", "(d) dm-snapshot, fresh chunks", "(e) the copy's I/O alone" };

	private record Job(String name, String unit) {
	}

	/** Bytes of a chunk, blksnap's default and the dm-snapshot table's 128 sectors. */
	private static final int CHUNK = 64 << 10;

	private static final Job RAND4K = new Job("4k random write", "IOPS");
	private static final Job SEQ1M = new Job("1M sequential write", "MB/s");
	/**
	 * The share of the origin the writes cover, so that neither snapshot's
	 * store (a disk of the origin's size) fills up.
	 */
	private static final double COVERED = 0.75;

	private enum Part { WRITES, READ, TAKE, GROWTH, LOADED_READ }

	private final Path origin;
	private final Path storage;
	private final int rounds;
	private final int runtime;
	private final Set<Part> parts;
	private final ObjectMapper json = new ObjectMapper();
	/**
	 * By job (4k, 1M), in state (b): chunks copied over the chunks the
	 * writes covered, per round.
	 */
	private final List<List<Double>> fresh = List.of(new ArrayList<>(), new ArrayList<>());
	/** The same for (d): chunks dm-snapshot allocated. */
	private final List<List<Double>> dmFresh = List.of(new ArrayList<>(), new ArrayList<>());
	/** Writes the last fio run completed. */
	private long lastWrites;
	/** QEMU's threads on the host, when the guest can see the host's /proc. */
	private final Optional<HostCpu> host;
	/**
	 * Host CPU time per I/O of the last {@link #fio} or {@link #readRate}
	 * run, in microseconds; NaN without {@link #host}.
	 */
	private double lastHostMicrosPerIo = Double.NaN;
	/** The 4k job's offsets: one in each chunk of the covered share, in random order. */
	private long[] randomChunks;

	private SnapshotBench(Path origin, Path storage, int rounds, int runtime, Set<Part> parts, Path hostProc)
			throws IOException {
		this.origin = origin;
		this.storage = storage;
		this.rounds = rounds;
		this.runtime = runtime;
		this.parts = parts;
		this.host = HostCpu.find(hostProc);
	}

	public static void main(String[] args) throws Exception {
		String[] disks = System.getenv().getOrDefault("BLKSNAP_DISKS", "").trim().split("\\s+");
		if (disks.length < 2)
			throw new IllegalStateException("bench-snapshot needs two scratch disks (BLKSNAP_DISKS)");
		new SnapshotBench(Path.of(disks[0]), Path.of(disks[1]),
				Integer.parseInt(System.getenv().getOrDefault("BENCH_ROUNDS", "5")),
				Integer.parseInt(System.getenv().getOrDefault("BENCH_RUNTIME", "4")),
				parts(System.getenv().getOrDefault("BENCH_PARTS", "writes,read,take,growth,loaded_read")),
				System.getenv("BENCH_HOST_PROC") == null ? null : Path.of(System.getenv("BENCH_HOST_PROC"))).run();
	}

	private static Set<Part> parts(String list) {
		Set<Part> parts = EnumSet.noneOf(Part.class);
		for (String p : list.split(","))
			parts.add(Part.valueOf(p.strip().toUpperCase(Locale.ROOT)));
		return parts;
	}

	private void run() throws Exception {
		SlabDebugging.refuse("bench-snapshot");
		exec("modprobe", "-d", System.getenv("BLKSNAP_LANE_ROOT"), "dm_snapshot");
		long sectors = Long.parseLong(exec("blockdev", "--getsz", origin.toString()).trim());
		System.out.printf("bench-snapshot: %s; %d rounds, fio %d s a state, origin %s (%d MiB), copies on %s, "
				+ "chunks of 64 KiB, kernel %s, clock source %s%n", parts, rounds, runtime, origin, sectors / 2048,
				storage, System.getProperty("os.version"), Files.readString(
						Path.of("/sys/devices/system/clocksource/clocksource0/current_clocksource")).strip());
		List<Job> jobs = parts.contains(Part.WRITES) ? List.of(RAND4K, SEQ1M) : List.of();
		if (!jobs.isEmpty())
			randomChunks = shuffledChunks(sectors);
		double[][][] rate = new double[jobs.size()][State.values().length][rounds];
		double[][][] cpu = new double[jobs.size()][State.values().length][rounds];
		double[][] read = new double[2][rounds];
		double[][] readCpu = new double[2][rounds];
		System.out.println(host.map(h -> "host CPU measured: QEMU with " + h.threads() + " threads, accel "
				+ h.accelerator()).orElse("host CPU not measured: the host's /proc is not visible"));
		// Not measured: the first read in the VM ran at half speed whatever it read.
		if (parts.contains(Part.READ) && jobs.isEmpty())
			readRate(origin);
		for (int round = 0; round < rounds; round++) {
			List<State> order = Arrays.asList(State.values());
			if (round % 2 == 1)
				order = order.reversed();
			for (State state : order) {
				for (int j = 0; j < jobs.size(); j++) {
					lastHostMicrosPerIo = Double.NaN;
					rate[j][state.ordinal()][round] = measure(state, jobs.get(j), sectors);
					cpu[j][state.ordinal()][round] = lastHostMicrosPerIo;
				}
			}
			StringBuilder line = new StringBuilder("round " + (round + 1) + ":");
			if (!jobs.isEmpty())
				line.append(String.format(" 4k IOPS %s; 1M MB/s %s;", row(rate[0], round), row(rate[1], round)));
			if (parts.contains(Part.READ)) {
				double[] r = readImageAndOrigin(round % 2 == 1);
				read[0][round] = r[0];
				read[1][round] = r[1];
				readCpu[0][round] = r[2];
				readCpu[1][round] = r[3];
				line.append(String.format(" seq read MB/s image %.0f origin %.0f", r[0], r[1]));
			}
			System.out.println(line);
		}
		System.out.println();
		for (int j = 0; j < jobs.size(); j++) {
			Job job = jobs.get(j);
			System.out.printf("%s (%s):%n", job.name(), job.unit());
			for (State s : State.values()) {
				double[] v = rate[j][s.ordinal()];
				System.out.printf("  %-32s median %8.1f  [%.1f .. %.1f]  ratio to (a) %5.1f %%  [%.1f .. %.1f]%n",
						NAMES[s.ordinal()], Spread.median(v), Spread.min(v), Spread.max(v),
						100 * Spread.median(ratios(v, rate[j][0])), 100 * Spread.min(ratios(v, rate[j][0])),
						100 * Spread.max(ratios(v, rate[j][0])));
			}
			double[] bd = ratios(rate[j][State.FRESH.ordinal()], rate[j][State.DM.ordinal()]);
			System.out.printf("  (b) / (d): median %.2f x  [%.2f .. %.2f]   target >= 1.5 x%n", Spread.median(bd),
					Spread.min(bd), Spread.max(bd));
			double[] de = ratios(rate[j][State.DM.ordinal()], rate[j][State.CEILING.ordinal()]);
			System.out.printf("  (d) / (e): median %.2f x  [%.2f .. %.2f]%n", Spread.median(de), Spread.min(de),
					Spread.max(de));
			double[] be = ratios(rate[j][State.FRESH.ordinal()], rate[j][State.CEILING.ordinal()]);
			System.out.printf("  (b) / (e): median %.2f x  [%.2f .. %.2f]%n", Spread.median(be), Spread.min(be),
					Spread.max(be));
			double[] ed = ratios(rate[j][State.CEILING.ordinal()], rate[j][State.DM.ordinal()]);
			System.out.printf("  (e) / (d), the ceiling on (b) / (d): median %.2f x  [%.2f .. %.2f]   target of (b)"
					+ " / (d) >= 1.5 x%n", Spread.median(ed), Spread.min(ed), Spread.max(ed));
			double[] ca = ratios(rate[j][State.COPIED.ordinal()], rate[j][0]);
			System.out.printf("  (c) / (a): median %.1f %%   target >= 95 %%%n", 100 * Spread.median(ca));
			if (host.isPresent())
				printHostCpu(cpu[j]);
		}
		if (!jobs.isEmpty()) {
			for (int j = 0; j < jobs.size(); j++) {
				for (List<Double> share : List.of(fresh.get(j), dmFresh.get(j))) {
					double[] fr = share.stream().mapToDouble(Double::doubleValue).toArray();
					System.out.printf("%s %s: chunks copied over chunks written: median %.1f %%  [%.1f .. %.1f]%n",
							share == fresh.get(j) ? "(b)" : "(d)", j == 0 ? "4k" : "1M", 100 * Spread.median(fr),
							100 * Spread.min(fr), 100 * Spread.max(fr));
				}
			}
		}
		if (parts.contains(Part.READ)) {
			double[] ir = ratios(read[0], read[1]);
			System.out.printf("sequential 1M read: image %.0f MB/s, origin %.0f MB/s (medians); image / origin %.1f %%"
					+ "  [%.1f .. %.1f]   target >= 95 %%%n", Spread.median(read[0]), Spread.median(read[1]),
					100 * Spread.median(ir), 100 * Spread.min(ir), 100 * Spread.max(ir));
			if (host.isPresent())
				System.out.printf("  by host CPU per MB read: image %.1f us, origin %.1f us (medians); origin's over the"
						+ " image's, median of rounds %s   target >= 95 %%%n", Spread.median(readCpu[0]),
						Spread.median(readCpu[1]), percent(ratios(readCpu[1], readCpu[0])));
		}
		if (parts.contains(Part.TAKE))
			holdAtTake();
		if (parts.contains(Part.LOADED_READ))
			loadedRead(sectors);
		if (parts.contains(Part.GROWTH))
			growth();
	}

	/**
	 * Host CPU time per write of each state and (c)'s cost against (a)'s:
	 * the host's run time of QEMU's threads grows only while QEMU runs, so
	 * other work on the host does not inflate it as it does rates (see
	 * {@link HostCpu}). (a) over (c) is what (c)'s rate would be, as a share
	 * of (a)'s, were the guest bound by that CPU alone.
	 */
	private static void printHostCpu(double[][] cpuByState) {
		StringBuilder sb = new StringBuilder("  host CPU per write (us, medians):");
		for (State s : State.values()) {
			double median = Spread.median(cpuByState[s.ordinal()]);
			if (!Double.isNaN(median)) // (e) runs its own fio jobs: not measured
				sb.append(String.format(" %s %.1f", NAMES[s.ordinal()].substring(0, 3), median));
		}
		System.out.println(sb);
		System.out.printf("  (c) / (a) by host CPU per write ((a)'s over (c)'s), median of rounds %s   target >= 95 %%%n",
				percent(ratios(cpuByState[0], cpuByState[State.COPIED.ordinal()])));
	}

	/** A per-round ratio as "median % [bootstrap 95 % interval]". */
	private static String percent(double[] perRound) {
		Spread.Interval i = Spread.medianWithInterval(perRound);
		return String.format("%.1f %% [%.1f, %.1f]", 100 * i.estimate(), 100 * i.low(), 100 * i.high());
	}

	private static String row(double[][] byState, int round) {
		StringBuilder sb = new StringBuilder();
		for (State s : State.values())
			sb.append(String.format("%s%.0f", sb.isEmpty() ? "" : " / ", byState[s.ordinal()][round]));
		return sb.toString();
	}

	/** One fio run of {@code job} on the origin in {@code state}. */
	private double measure(State state, Job job, long sectors) throws Exception {
		switch (state) {
		case NONE:
			return fio(origin, job, true);
		case CEILING:
			return ceiling(job, sectors);
		case DM:
			String size = Long.toString(sectors);
			exec("dmsetup", "create", "bench-origin", "--table",
					"0 " + size + " snapshot-origin " + origin);
			exec("dmsetup", "create", "bench-snap", "--table",
					"0 " + size + " snapshot " + origin + " " + storage + " N " + CHUNK / 512);
			try {
				/*
				 * The origin splits writes at the smallest chunk of the
				 * snapshots it had at its last resume: none here yet, so it
				 * would not split, and dm-snapshot would copy only the first
				 * chunk of a 1M write. Resumed with the snapshot, as LVM does.
				 */
				exec("dmsetup", "suspend", "bench-origin");
				exec("dmsetup", "resume", "bench-origin");
				// No udev makes /dev/mapper links: the node devtmpfs made, by minor.
				double v = fio(Path.of("/dev/dm-" + exec("dmsetup", "info", "-c", "--noheadings", "-o", "minor",
						"bench-origin").trim()), job, false);
				// "<allocated>/<total> <metadata>" sectors while valid; "Invalid" or "Overflow" once not.
				String status = exec("dmsetup", "status", "bench-snap").trim();
				String[] f = status.split("\\s+");
				if (f.length < 4 || !f[3].matches("\\d+/\\d+"))
					throw new IllegalStateException("dm-snapshot did not stay valid: " + status);
				long allocated = Long.parseLong(f[3].split("/")[0]) * 512 / CHUNK;
				if (allocated < lastWrites * chunksPerWrite(job))
					throw new IllegalStateException("dm-snapshot copied " + allocated + " chunks for " + lastWrites
							+ " writes of " + chunksPerWrite(job) + " chunks each");
				dmFresh.get(job == RAND4K ? 0 : 1).add((double) allocated / (lastWrites * chunksPerWrite(job)));
				return v;
			} finally {
				exec("dmsetup", "remove", "bench-snap");
				exec("dmsetup", "remove", "bench-origin");
			}
		default:
			try (BlksnapControl ctl = BlksnapControl.open();
					Snapshot snap = ctl.createSnapshot(storage, 0, false)) {
				snap.add(DeviceId.of(origin));
				snap.take(true);
				SnapshotDevice before = snap.info().devices().get(0);
				if (before.chunkSize() != CHUNK)
					throw new IllegalStateException("chunks of " + before.chunkSize() + " bytes, dm-snapshot's are "
							+ CHUNK + ": not comparable");
				if (state == State.COPIED)
					before = copyEveryChunk(snap);
				double v = fio(origin, job, state == State.COPIED);
				SnapshotInfo info = snap.info();
				if (info.error() != 0)
					throw new IllegalStateException("the snapshot broke during the bench: " + info);
				SnapshotDevice after = info.devices().get(0);
				if (state == State.COPIED && after.chunksCopied() != before.chunksCopied())
					throw new IllegalStateException("(c) copied " + (after.chunksCopied() - before.chunksCopied())
							+ " chunks: not every chunk was copied before");
				if (state == State.FRESH)
					fresh.get(job == RAND4K ? 0 : 1)
							.add((double) after.chunksCopied() / (lastWrites * chunksPerWrite(job)));
				return v;
			} finally {
				try (BlksnapControl ctl = BlksnapControl.open()) {
					ctl.detach(DeviceId.of(origin));
				}
				// The hook goes 2 s after the last tracker: not during (a).
				Thread.sleep(3000);
			}
		}
	}

	/** Chunks one write of {@code job} covers: a 4k write one, a 1M write sixteen. */
	private static long chunksPerWrite(Job job) {
		return job == RAND4K ? 1 : (1 << 20) / CHUNK;
	}

	/**
	 * State (c): writes the whole origin once, so every chunk is copied, and
	 * waits until every copy is in the storage too: a store still running
	 * would be measured as the cost of (c).
	 *
	 * @return the device as (c) starts
	 */
	private SnapshotDevice copyEveryChunk(Snapshot snap) throws Exception {
		exec("fio", "--name=fill", "--filename=" + origin, "--direct=1", "--ioengine=libaio", "--iodepth=8",
				"--rw=write", "--bs=1M", "--size=100%");
		for (int waited = 0;; waited++) {
			SnapshotDevice d = snap.info().devices().get(0);
			long chunks = (d.capacityBytes() + d.chunkSize() - 1) / d.chunkSize();
			if (d.chunksCopied() != chunks)
				throw new IllegalStateException("(c): " + d.chunksCopied() + " of " + chunks + " chunks copied");
			if (d.chunksStored() == chunks)
				return d;
			if (waited == 600)
				throw new IllegalStateException("(c): stores not done after a minute: " + d);
			Thread.sleep(100);
		}
	}

	/** Chunk numbers of the covered share of the origin, shuffled (the same each run). */
	private static long[] shuffledChunks(long sectors) {
		long[] chunks = new long[(int) (sectors * 512 * COVERED / CHUNK)];
		for (int i = 0; i < chunks.length; i++)
			chunks[i] = i;
		Random random = new Random(9);
		for (int i = chunks.length - 1; i > 0; i--) {
			int j = random.nextInt(i + 1);
			long t = chunks[i];
			chunks[i] = chunks[j];
			chunks[j] = t;
		}
		return chunks;
	}

	/**
	 * One fio run of {@code job} on {@code dev}, in the covered share. With
	 * {@code repeat} ((a) and (c), where a write finds its chunk as any
	 * other did), for the whole runtime: 4k writes at random 64 KiB-aligned
	 * offsets, 1M writes in sequence, from the start again at the end.
	 * Without ((b) and (d)), each chunk is written at most once, so that
	 * every write finds its chunk not copied: the 4k writes replay a log of
	 * one write at the start of each chunk in random order (fio's random
	 * writes repeat chunks), the 1M writes go through once; it ends at the
	 * end, or after the runtime.
	 */
	private double fio(Path dev, Job job, boolean repeat) throws IOException, InterruptedException {
		List<String> cmd = new ArrayList<>(List.of("fio", "--name=bench", "--filename=" + dev, "--direct=1",
				"--ioengine=libaio", "--iodepth=16", "--runtime=" + runtime, "--output-format=json"));
		if (repeat) {
			cmd.addAll(List.of("--time_based", "--randrepeat=0", "--size=" + Math.round(COVERED * 100) + "%",
					"--bs=" + (job == RAND4K ? "4k" : "1M"), "--rw=" + (job == RAND4K ? "randwrite" : "write")));
			if (job == RAND4K)
				cmd.add("--blockalign=" + CHUNK);
		} else if (job == RAND4K) {
			Path log = chunkLog(dev, "write", 4096);
			cmd.addAll(List.of("--read_iolog=" + log, "--replay_no_stall=1"));
		} else {
			cmd.addAll(List.of("--rw=write", "--bs=1M", "--size=" + Math.round(COVERED * 100) + "%"));
		}
		HostCpu.Reading before = hostReading();
		JsonNode write = json.readTree(exec(cmd.toArray(String[]::new))).path("jobs").path(0).path("write");
		if (!write.has("iops"))
			throw new IOException("fio printed no write rate");
		lastWrites = write.path("total_ios").asLong();
		lastHostMicrosPerIo = hostMicrosPerIo(before, lastWrites);
		return job == RAND4K ? write.get("iops").asDouble() : write.get("bw_bytes").asDouble() / 1e6;
	}

	/**
	 * A fio iolog of one {@code op} of {@code bytes} at the start of each
	 * chunk of {@link #randomChunks}, in their order.
	 */
	private Path chunkLog(Path dev, String op, int bytes) throws IOException {
		Path log = Path.of("/tmp/bench-snapshot-4k-" + op + ".iolog");
		StringBuilder sb = new StringBuilder("fio version 2 iolog\n" + dev + " add\n" + dev + " open\n");
		for (long chunk : randomChunks)
			sb.append(dev).append(' ').append(op).append(' ').append(chunk * CHUNK).append(' ').append(bytes)
					.append('\n');
		Files.writeString(log, sb.append(dev).append(" close\n"));
		return log;
	}

	/**
	 * State (e): the I/O that the first writes of (b) and (d) cost, with no
	 * snapshot and no dependency between its parts, so an upper bound on
	 * their rate. One fio run of three jobs started together, over the
	 * whole covered share (the most (b) and (d) write): the reads of the
	 * chunks' originals from the origin (4k: 64 KiB at each chunk of (b)'s
	 * log, in its order; 1M: 1M in sequence), their writes to the storage
	 * disk in sequence from its start, and the writes themselves as (b)
	 * does them (its iolog; 1M in sequence), N of each. The store is
	 * written 1M at a time in both jobs, the same bytes in N / 16 writes
	 * for 4k: blksnap's store bios are of up to 1 MiB, and a bound takes
	 * the cheaper of the two snapshots' ways. The reads and the store
	 * writes are what the snapshots do in the kernel: fio submits and reaps
	 * them in batches, its jobs are threads of one process, so that fio's
	 * own cost per I/O weighs as little as it can. No runtime cap, so that
	 * the three do all their work. The rate is N writes over the time
	 * until the last of the three ended.
	 */
	private double ceiling(Job job, long sectors) throws IOException, InterruptedException {
		long covered = job == RAND4K ? (long) randomChunks.length * CHUNK : (long) (sectors * 512 * COVERED);
		long n = job == RAND4K ? randomChunks.length : covered >> 20;
		String batch = "--iodepth_batch_submit=8";
		List<String> cmd = new ArrayList<>(List.of("fio", "--output-format=json", "--thread", "--direct=1",
				"--ioengine=libaio", "--iodepth=16", "--name=original", "--filename=" + origin, batch));
		if (job == RAND4K)
			cmd.addAll(List.of("--read_iolog=" + chunkLog(origin, "read", CHUNK), "--replay_no_stall=1"));
		else
			cmd.addAll(List.of("--rw=read", "--bs=1M", "--size=" + n * (1 << 20)));
		cmd.addAll(List.of("--name=store", "--filename=" + storage, batch, "--rw=write", "--bs=1M",
				"--size=" + (covered >> 20 << 20), "--name=write", "--filename=" + origin));
		if (job == RAND4K)
			cmd.addAll(List.of("--read_iolog=" + chunkLog(origin, "write", 4096), "--replay_no_stall=1"));
		else
			cmd.addAll(List.of("--rw=write", "--bs=1M", "--size=" + n * (1 << 20)));
		JsonNode jobs = json.readTree(exec(cmd.toArray(String[]::new))).path("jobs");
		long elapsedMs = 0;
		String[] dirs = { "read", "write", "write" };
		long[] ios = { n, covered >> 20, n };
		for (int i = 0; i < dirs.length; i++) {
			JsonNode d = jobs.path(i).path(dirs[i]);
			if (d.path("total_ios").asLong() != ios[i])
				throw new IOException("(e): fio job " + jobs.path(i).path("jobname").asText() + " did "
						+ d.path("total_ios").asLong() + " " + dirs[i] + "s of " + ios[i]);
			elapsedMs = Math.max(elapsedMs, d.path("runtime").asLong());
		}
		if (elapsedMs == 0)
			throw new IOException("(e): fio printed no runtime");
		return job == RAND4K ? n * 1000.0 / elapsedMs : n * (double) (1 << 20) / elapsedMs / 1000;
	}

	/**
	 * Sequential 1M reads of a fresh image (its chunks not copied) and of the
	 * origin, in MB/s, then the host CPU microseconds per 1M read of each
	 * (NaN when not measured); the origin first when {@code originFirst}.
	 */
	private double[] readImageAndOrigin(boolean originFirst) throws Exception {
		double image, device = originFirst ? readRate(origin) : 0;
		double imageCpu, deviceCpu = lastHostMicrosPerIo;
		try (BlksnapControl ctl = BlksnapControl.open(); Snapshot snap = ctl.createSnapshot(storage, 0, false)) {
			snap.add(DeviceId.of(origin));
			snap.take(true);
			DeviceId img = snap.info().devices().get(0).image().orElseThrow();
			image = readRate(devNode(img));
			imageCpu = lastHostMicrosPerIo;
		} finally {
			try (BlksnapControl ctl = BlksnapControl.open()) {
				ctl.detach(DeviceId.of(origin));
			}
		}
		if (!originFirst) {
			device = readRate(origin);
			deviceCpu = lastHostMicrosPerIo;
		}
		return new double[] { image, device, imageCpu, deviceCpu };
	}

	/**
	 * MB/s of sequential 1M direct reads of {@code dev}. The buffers are in huge pages (guest-bench-snapshot
	 * reserves them), so each read is one segment in every run, not as many as fio's 4k pages happened to be apart.
	 */
	private double readRate(Path dev) throws IOException, InterruptedException {
		HostCpu.Reading before = hostReading();
		JsonNode r = json.readTree(exec("fio", "--name=read", "--filename=" + dev, "--direct=1",
				"--ioengine=libaio", "--iodepth=16", "--rw=read", "--bs=1M", "--iomem=shmhuge", "--time_based",
				"--runtime=" + runtime, "--output-format=json")).path("jobs").path(0).path("read");
		lastHostMicrosPerIo = hostMicrosPerIo(before, r.path("total_ios").asLong());
		return r.get("bw_bytes").asDouble() / 1e6;
	}

	private HostCpu.Reading hostReading() throws IOException {
		return host.isPresent() ? host.get().read() : null;
	}

	/** Host CPU microseconds per I/O since {@code before}, for {@code ios} I/Os; NaN when not measured. */
	private double hostMicrosPerIo(HostCpu.Reading before, long ios) throws IOException {
		if (before == null || ios <= 0)
			return Double.NaN;
		return host.get().read().minus(before).runNanos() / 1e3 / ios;
	}

	private static Path devNode(DeviceId id) throws IOException {
		for (String line : Files.readAllLines(Path.of("/sys/dev/block", id.major() + ":" + id.minor(), "uevent")))
			if (line.startsWith("DEVNAME="))
				return Path.of("/dev", line.substring(8));
		throw new IOException("no node for " + id);
	}

	/** Take of four devices under fio load, ten times: how long writes were held. */
	private void holdAtTake() throws Exception {
		Path dir = Files.createDirectories(Path.of("/tmp/bench-snapshot"));
		exec("modprobe", "-d", System.getenv("BLKSNAP_LANE_ROOT"), "loop");
		List<Path> loops = new ArrayList<>();
		for (int i = 0; i < 4; i++) {
			Path f = dir.resolve("d" + i + ".img");
			try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
				raf.setLength(64L << 20);
			}
			loops.add(Path.of(exec("losetup", "-f", "--show", f.toString()).trim()));
		}
		List<String> cmd = new ArrayList<>(List.of("fio", "--ioengine=libaio", "--direct=1", "--iodepth=4",
				"--rw=randwrite", "--bs=4k", "--time_based", "--runtime=600"));
		for (Path l : loops)
			cmd.addAll(List.of("--name=" + l.getFileName(), "--filename=" + l));
		Process load = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
				.redirectError(ProcessBuilder.Redirect.INHERIT).start();
		double[] held = new double[10];
		try (BlksnapControl ctl = BlksnapControl.open()) {
			Thread.sleep(2000);
			for (int i = 0; i < held.length; i++) {
				try (Snapshot snap = ctl.createSnapshot(dir, 256L << 20, false)) {
					for (Path l : loops)
						snap.add(DeviceId.of(l));
					TakeResult t = snap.take(false);
					held[i] = t.holdNanos() / 1e6;
					Thread.sleep(500);
				}
			}
			for (Path l : loops)
				ctl.detach(DeviceId.of(l));
		} finally {
			load.destroy();
			load.waitFor();
			for (Path l : loops)
				exec("losetup", "-d", l.toString());
		}
		System.out.printf("writes held at take, 4 loop devices under 4k random writes, 10 takes: median %.1f ms"
				+ "  [%.1f .. %.1f]   target <= 50 ms%n", Spread.median(held), Spread.min(held), Spread.max(held));
	}

	/**
	 * Storage that grows against storage that is there from the start:
	 * fresh-chunk writes (as (b)) with the copies in a directory on ext4
	 * (the module's file, grown a step at a time from a worker) and in a
	 * file of the same size on the same ext4, allocated in full beforehand
	 * (fallocate: its steps find the blocks already there). The storage disk
	 * is formatted for this part, after the others.
	 */
	private void growth() throws Exception {
		Path mnt = Files.createDirectories(Path.of("/tmp/bench-snapshot-storage"));
		exec("modprobe", "-d", System.getenv("BLKSNAP_LANE_ROOT"), "ext4");
		exec("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", storage.toString());
		exec("mount", storage.toString(), mnt.toString());
		long sectors = Long.parseLong(exec("blockdev", "--getsz", origin.toString()).trim());
		long limit = (long) (sectors * 512 * COVERED) + (64L << 20);
		Path file = mnt.resolve("preallocated.img");
		double[][][] rate = new double[2][2][rounds]; // [job][grown, preallocated][round]
		long[] steps = new long[rounds];
		try {
			if (randomChunks == null)
				randomChunks = shuffledChunks(sectors);
			for (int round = 0; round < rounds; round++) {
				for (int k = 0; k < 2; k++) {
					boolean grown = (k == 0) == (round % 2 == 0);
					for (int j = 0; j < 2; j++) {
						Job job = j == 0 ? RAND4K : SEQ1M;
						// Made anew each time: the file system holds one storage at a time.
						if (!grown)
							exec("fallocate", "-l", Long.toString(limit), file.toString());
						try (BlksnapControl ctl = BlksnapControl.open();
								Snapshot snap = ctl.createSnapshot(grown ? mnt : file, grown ? limit : 0, false)) {
							snap.add(DeviceId.of(origin));
							snap.take(true);
							long sizeBefore = snap.info().storageSize();
							rate[j][grown ? 0 : 1][round] = fio(origin, job, false);
							SnapshotInfo info = snap.info();
							if (info.error() != 0)
								throw new IllegalStateException("the snapshot broke during the bench: " + info);
							if (grown)
								steps[round] += info.storageSize() > sizeBefore ? 1 : 0;
						} finally {
							try (BlksnapControl ctl = BlksnapControl.open()) {
								ctl.detach(DeviceId.of(origin));
							}
							Files.deleteIfExists(file);
						}
					}
				}
				System.out.printf("growth round %d: 4k IOPS grown %.0f / preallocated %.0f; 1M MB/s grown %.0f /"
						+ " preallocated %.0f%n", round + 1, rate[0][0][round], rate[0][1][round], rate[1][0][round],
						rate[1][1][round]);
			}
		} finally {
			exec("umount", mnt.toString());
		}
		for (int j = 0; j < 2; j++) {
			double[] r = ratios(rate[j][0], rate[j][1]);
			System.out.printf("storage that grows, fresh %s: %.1f against %.1f %s preallocated (medians);"
					+ " grown / preallocated %.1f %%  [%.1f .. %.1f]%n", j == 0 ? "4k writes" : "1M writes",
					Spread.median(rate[j][0]), Spread.median(rate[j][1]), j == 0 ? "IOPS" : "MB/s",
					100 * Spread.median(r), 100 * Spread.min(r), 100 * Spread.max(r));
		}
		if (Arrays.stream(steps).anyMatch(n -> n == 0))
			System.out.println("note: in some rounds the directory storage did not grow: the measure is not of growth");
	}

	/**
	 * Sequential reads of a fresh image while 4k random writes go to its
	 * origin at a fixed rate (each copying its chunk, some of them chunks
	 * the read is about to reach), against reads of the origin under the
	 * same writes with no snapshot.
	 */
	private void loadedRead(long sectors) throws Exception {
		double[][] read = new double[2][rounds]; // [image, origin][round]
		for (int round = 0; round < rounds; round++) {
			for (int k = 0; k < 2; k++) {
				boolean image = (k == 0) == (round % 2 == 0);
				Process load = new ProcessBuilder("fio", "--name=load", "--filename=" + origin, "--direct=1",
						"--ioengine=libaio", "--iodepth=4", "--rw=randwrite", "--bs=4k", "--rate_iops=500",
						"--size=" + Math.round(COVERED * 100) + "%", "--time_based", "--runtime=600")
						.redirectOutput(ProcessBuilder.Redirect.DISCARD)
						.redirectError(ProcessBuilder.Redirect.INHERIT).start();
				try {
					if (image) {
						try (BlksnapControl ctl = BlksnapControl.open();
								Snapshot snap = ctl.createSnapshot(storage, 0, false)) {
							snap.add(DeviceId.of(origin));
							snap.take(true);
							read[0][round] = readRate(devNode(snap.info().devices().get(0).image().orElseThrow()));
							if (snap.info().error() != 0)
								throw new IllegalStateException("the snapshot broke during the bench");
						} finally {
							try (BlksnapControl ctl = BlksnapControl.open()) {
								ctl.detach(DeviceId.of(origin));
							}
						}
					} else {
						read[1][round] = readRate(origin);
					}
				} finally {
					load.destroy();
					load.waitFor();
				}
			}
			System.out.printf("loaded read round %d: seq read MB/s image %.0f, origin %.0f, under 500 writes/s%n",
					round + 1, read[0][round], read[1][round]);
		}
		double[] r = ratios(read[0], read[1]);
		System.out.printf("sequential 1M read under 500 4k writes/s: image %.0f MB/s, origin (no snapshot) %.0f MB/s"
				+ " (medians); image / origin %.1f %%  [%.1f .. %.1f]%n", Spread.median(read[0]),
				Spread.median(read[1]), 100 * Spread.median(r), 100 * Spread.min(r), 100 * Spread.max(r));
	}

	private static double[] ratios(double[] x, double[] base) {
		double[] r = new double[x.length];
		for (int i = 0; i < x.length; i++)
			r[i] = x[i] / base[i];
		return r;
	}

	private static String exec(String... command) throws IOException, InterruptedException {
		Process p = new ProcessBuilder(new ArrayList<>(List.of(command)))
				.redirectError(ProcessBuilder.Redirect.INHERIT).start();
		String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		if (p.waitFor() != 0)
			throw new IOException(String.join(" ", command) + " failed: " + out.strip());
		return out;
	}
}
