// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The report of {@code make bench-icount} (tests/bench/guest-bench-icount):
 * from the icount plugin's counters before and after each round of writes,
 * the kernel instructions per write in each state of the module, the share
 * of them in blksnap.ko and in ftrace's trampolines, and the kernel
 * functions whose instructions per write differ most from the first state.
 *
 * <p>Exact counts, not times: the host's load does not change them. What
 * still varies between rounds is the kernel's own time-driven work (timer
 * ticks, RCU, workqueues) that happens to run during a round; the spread of
 * the rounds shows it, and the per-function view separates it from the
 * write path. A benchmark: it prints and asserts nothing, except that the
 * counters are there.
 *
 * <p>Arguments: the directory of the counters (counts.STATE.ROUND.0 and .1,
 * kallsyms), writes per round, rounds, then the states in order; the first
 * is the reference.
 */
public final class IcountReport {
	private IcountReport() {
	}

	/** Kernel text symbols, sorted by address, to name a block's function. */
	private record Symbols(long[] addresses, String[] names) {
		static Symbols read(Path kallsyms) throws IOException {
			TreeMap<Long, String> sorted = new TreeMap<>(Long::compareUnsigned);
			for (String line : Files.readAllLines(kallsyms)) {
				String[] f = line.trim().split("\\s+");
				if (f.length < 3 || !"tTwW".contains(f[1])) {
					continue;
				}
				long address = Long.parseUnsignedLong(f[0], 16);
				if (address != 0) {
					sorted.put(address, f.length > 3 ? f[2] + " " + f[3] : f[2]);
				}
			}
			long[] addresses = sorted.keySet().stream().mapToLong(Long::longValue).toArray();
			return new Symbols(addresses, sorted.values().toArray(String[]::new));
		}

		String name(long address) {
			int lo = 0, hi = addresses.length - 1, found = -1;
			while (lo <= hi) {
				int mid = (lo + hi) >>> 1;
				if (Long.compareUnsigned(addresses[mid], address) <= 0) {
					found = mid;
					lo = mid + 1;
				} else {
					hi = mid - 1;
				}
			}
			return found < 0 ? "?" : names[found];
		}
	}

	/** One dump of the plugin: user and kernel totals, and per block start address. */
	private record Counts(long user, long kernel, Map<Long, Long> blocks) {
		static Counts read(Path file) throws IOException {
			List<String> lines = Files.readAllLines(file);
			String[] head = lines.getFirst().split(" ");
			Map<Long, Long> blocks = new HashMap<>(lines.size() * 2);
			for (String line : lines.subList(1, lines.size())) {
				int space = line.indexOf(' ');
				blocks.put(Long.parseUnsignedLong(line, 0, space, 16), Long.parseLong(line.substring(space + 1)));
			}
			return new Counts(Long.parseLong(head[1]), Long.parseLong(head[2]), blocks);
		}
	}

	/** One round: instructions per write, in all and per function. */
	private record Round(double user, double kernel, Map<String, Double> functions) {
		static Round of(Counts before, Counts after, long writes, Symbols symbols) {
			Map<String, Double> functions = new HashMap<>();
			after.blocks().forEach((address, count) -> {
				long delta = count - before.blocks().getOrDefault(address, 0L);
				if (delta != 0) {
					functions.merge(symbols.name(address), (double) delta / writes, Double::sum);
				}
			});
			return new Round((double) (after.user() - before.user()) / writes,
					(double) (after.kernel() - before.kernel()) / writes, functions);
		}

		double in(String module) {
			return functions.entrySet().stream().filter(e -> e.getKey().endsWith(module))
					.mapToDouble(Map.Entry::getValue).sum();
		}
	}

	private static double median(double[] values) {
		double[] v = values.clone();
		Arrays.sort(v);
		return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
	}

	public static void main(String[] args) throws IOException {
		Path dir = Path.of(args[0]);
		long writes = Long.parseLong(args[1]);
		int rounds = Integer.parseInt(args[2]);
		List<String> states = List.of(args).subList(3, args.length);
		Symbols symbols = Symbols.read(dir.resolve("kallsyms"));
		Map<String, List<Round>> byState = new HashMap<>();
		for (String state : states) {
			List<Round> list = new ArrayList<>();
			for (int r = 1; r <= rounds; r++) {
				list.add(Round.of(Counts.read(dir.resolve("counts." + state + "." + r + ".0")),
						Counts.read(dir.resolve("counts." + state + "." + r + ".1")), writes, symbols));
			}
			byState.put(state, list);
		}
		System.out.printf(Locale.ROOT, "[icount] guest instructions per 4k random write (exact counts, TCG plugin),"
				+ " %d writes x %d rounds per state; medians, [range]%n", writes, rounds);
		System.out.printf(Locale.ROOT, "  %-8s %16s %17s %8s %11s %13s %11s%n", "state", "kernel", "[range]", "user",
				"blksnap.ko", "ftrace tramp.", "vs " + states.getFirst());
		double reference = 0;
		for (String state : states) {
			List<Round> list = byState.get(state);
			double[] kernel = list.stream().mapToDouble(Round::kernel).toArray();
			double total = median(kernel) + median(list.stream().mapToDouble(Round::user).toArray());
			if (reference == 0) {
				reference = total;
			}
			System.out.printf(Locale.ROOT, "  %-8s %16.0f [%7.0f..%7.0f] %8.0f %11.0f %13.0f %10.2f%%%n", state,
					median(kernel), Arrays.stream(kernel).min().orElse(0), Arrays.stream(kernel).max().orElse(0),
					median(list.stream().mapToDouble(Round::user).toArray()),
					median(list.stream().mapToDouble(r -> r.in("[blksnap]")).toArray()),
					median(list.stream().mapToDouble(r -> r.in("[__builtin__ftrace]")).toArray()),
					100 * total / reference);
		}
		System.out.println("  (vs: kernel + user instructions per write against the first state; a writer bound by"
				+ " the CPU would reach the inverse of it)");
		for (String state : states.subList(1, states.size())) {
			System.out.printf(Locale.ROOT, "[icount] %s - %s, instructions per write, the largest differences"
					+ " (median of rounds):%n", state, states.getFirst());
			Map<String, Double> diff = new HashMap<>();
			for (String function : functionsOf(byState.get(state), byState.get(states.getFirst()))) {
				diff.put(function, medianOf(byState.get(state), function) - medianOf(byState.get(states.getFirst()),
						function));
			}
			diff.entrySet().stream().sorted((a, b) -> Double.compare(Math.abs(b.getValue()), Math.abs(a.getValue())))
					.limit(25).forEach(e -> System.out.printf(Locale.ROOT, "  %+9.1f  %s%n", e.getValue(), e.getKey()));
		}
	}

	private static List<String> functionsOf(List<Round> a, List<Round> b) {
		return java.util.stream.Stream.concat(a.stream(), b.stream()).flatMap(r -> r.functions().keySet().stream())
				.distinct().toList();
	}

	private static double medianOf(List<Round> rounds, String function) {
		return median(rounds.stream().mapToDouble(r -> r.functions().getOrDefault(function, 0.0)).toArray());
	}
}
