// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

/** What the backup benchmarks share: dd as the yardstick, rates, medians and their spread. */
final class CopyBench {
	private CopyBench() {
	}

	/**
	 * One timed copy.
	 *
	 * @param mibPerSecond bytes copied per second of wall time
	 * @param cpuPerGib    CPU seconds (user + system, all threads) per GiB copied
	 * @param sysPerGib    the system part of it
	 */
	record Rate(double mibPerSecond, double cpuPerGib, double sysPerGib) {
		static Rate of(long bytes, long nanos, double[] userSys) {
			double gib = bytes / 1073741824.0;
			return new Rate(bytes / 1048576.0 / (nanos / 1e9), (userSys[0] + userSys[1]) / gib, userSys[1] / gib);
		}
	}

	/**
	 * Rates of several copies measured in each round, the last one the
	 * yardstick (dd): medians with their spread, and per-round ratios to it.
	 */
	static final class Figures {
		private final List<String> names;
		private final List<Rate[]> rounds = new ArrayList<>();

		Figures(String... names) {
			this.names = List.of(names);
		}

		void add(Rate... rates) {
			if (rates.length != names.size())
				throw new IllegalArgumentException("one rate per copy");
			rounds.add(rates.clone());
			StringBuilder line = new StringBuilder(String.format("round %2d:", rounds.size()));
			for (int i = 0; i < rates.length; i++)
				line.append(String.format("  %s %.1f MiB/s %.2f CPU s/GiB (%.2f sys)", names.get(i),
						rates[i].mibPerSecond(), rates[i].cpuPerGib(), rates[i].sysPerGib()));
			System.out.println(line);
		}

		void print(String what) {
			int base = names.size() - 1;
			System.out.printf("%s, %d rounds, median [min..max]:%n", what, rounds.size());
			for (int i = 0; i < names.size(); i++) {
				int k = i;
				System.out.printf("  %-8s %s MiB/s, %s CPU s/GiB (system %s)%s%n", names.get(i),
						spread("%.1f", r -> r[k].mibPerSecond()), spread("%.2f", r -> r[k].cpuPerGib()),
						spread("%.2f", r -> r[k].sysPerGib()), i == base ? ""
								: ", per-round ratio to " + names.get(base) + " "
										+ spread("%.1f", r -> 100 * r[k].mibPerSecond() / r[base].mibPerSecond())
										+ " %");
			}
		}

		/** The median of per-round ratios of copy {@code i} to the yardstick, in percent. */
		double ratio(int i) {
			int base = names.size() - 1;
			return Spread.median(rounds.stream().mapToDouble(r -> 100 * r[i].mibPerSecond() / r[base].mibPerSecond())
					.toArray());
		}

		private String spread(String format, ToDoubleFunction<Rate[]> f) {
			return Spread.medianAndRange(format, rounds.stream().mapToDouble(f).toArray());
		}
	}

	/** CPU seconds (user, system) used so far by this process (all threads) and by its waited-for children. */
	record Cpu(double[] self, double[] children) {
		static Cpu now() throws IOException {
			String stat = Files.readString(Path.of("/proc/self/stat"));
			// Fields 14-17 of proc(5): utime, stime, cutime, cstime, in clock ticks (100 Hz).
			String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
			return new Cpu(new double[] {Long.parseLong(f[11]) / 100.0, Long.parseLong(f[12]) / 100.0},
					new double[] {Long.parseLong(f[13]) / 100.0, Long.parseLong(f[14]) / 100.0});
		}

		static double[] since(double[] before, double[] after) {
			return new double[] {after[0] - before[0], after[1] - before[1]};
		}
	}

	/**
	 * The rate of {@code dd} copying {@code from} to a new file {@code to}, flushed
	 * to stable storage like a backup point (conv=fsync), then removed.
	 */
	static Rate dd(Path from, Path to, long size) throws IOException, InterruptedException {
		Files.deleteIfExists(to);
		Cpu c0 = Cpu.now();
		long t0 = System.nanoTime();
		exec("dd", "if=" + from, "of=" + to, "bs=1M", "conv=fsync", "status=none");
		long ns = System.nanoTime() - t0;
		Cpu c1 = Cpu.now();
		Files.delete(to);
		return Rate.of(size, ns, Cpu.since(c0.children(), c1.children()));
	}

	/** Writes back and drops the page cache (root, in a VM). */
	static void dropCaches() throws IOException, InterruptedException {
		exec("sync");
		Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3\n");
	}

	static String exec(String... command) throws IOException, InterruptedException {
		Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
		String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		if (p.waitFor() != 0)
			throw new IOException(String.join(" ", command) + " failed: " + out.strip());
		return out;
	}

	static void deleteTree(Path dir) throws IOException {
		if (!Files.exists(dir))
			return;
		try (Stream<Path> s = Files.walk(dir)) {
			for (Path p : s.sorted(Comparator.reverseOrder()).toList())
				Files.delete(p);
		}
	}
}
