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
import java.util.Random;
import java.util.TreeMap;

/**
 * The report of {@code make bench-icount} (tests/bench/guest-bench-icount):
 * from the icount plugin's counters before and after each round of writes,
 * the kernel instructions per write in each state of the module, the share
 * of them in blksnap.ko and in ftrace's trampolines, what TCG pays besides
 * (blocks executed, translations, and the times every vCPU was idle, per
 * write), and the kernel
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
 * units.STATE.ROUND: the writes completed, or the MiB read, in between;
 * kallsyms), rounds, optionally {@code --unit NAME} (default "write"; "MiB
 * read" for the read states), then the states in order; the first is the
 * reference. The bench fails unless the states are real: blksnap.ko runs
 * in none of the writes of the states before the first of "tracked" and
 * "copied" ("untracked" excepted, where only its hook runs, which it must),
 * in every write from that state on, and in every MiB of "image-read"
 * (reads of a snapshot image; "origin-read" is the same read of its
 * device).
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

	/**
	 * One dump of the plugin: instructions (user, kernel), blocks executed
	 * (user, kernel), blocks translated, times all vCPUs were idle, and the instructions
	 * per kernel block start address.
	 */
	private record Counts(long user, long kernel, long blocksRun, long translations, long idles,
			Map<Long, Long> blocks) {
		static Counts read(Path file) throws IOException {
			List<String> lines = Files.readAllLines(file);
			String[] head = lines.getFirst().split(" ");
			if (head.length < 7) {
				throw new IOException(file + ": an icount plugin older than this report");
			}
			Map<Long, Long> blocks = new HashMap<>(lines.size() * 2);
			for (String line : lines.subList(1, lines.size())) {
				String[] f = line.split(" ");
				blocks.put(Long.parseUnsignedLong(f[0], 16), Long.parseLong(f[1]));
			}
			return new Counts(Long.parseLong(head[1]), Long.parseLong(head[2]),
					Long.parseLong(head[3]) + Long.parseLong(head[4]), Long.parseLong(head[5]),
					Long.parseLong(head[6]), blocks);
		}
	}

	/** One round, per unit (a write, a MiB read): instructions (in all and per function) and TCG's other work. */
	private record Round(long units, double user, double kernel, double blocksRun, double translations,
			double idles, Map<String, Double> functions) {
		static Round of(Counts before, Counts after, long units, Symbols symbols) {
			if (units <= 0) {
				throw new IllegalStateException("a round with " + units + " units (writes, MiB read) done");
			}
			Map<String, Double> functions = new HashMap<>();
			after.blocks().forEach((address, count) -> {
				long delta = count - before.blocks().getOrDefault(address, 0L);
				if (delta != 0) {
					functions.merge(symbols.name(address), (double) delta / units, Double::sum);
				}
			});
			double w = units;
			return new Round(units, (after.user() - before.user()) / w, (after.kernel() - before.kernel()) / w,
					(after.blocksRun() - before.blocksRun()) / w, (after.translations() - before.translations()) / w,
					(after.idles() - before.idles()) / w, functions);
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
		int rounds = Integer.parseInt(args[1]);
		int first = 2;
		String unit = "write";
		if (args[first].equals("--unit")) {
			unit = args[first + 1];
			first += 2;
		}
		List<String> states = List.of(args).subList(first, args.length);
		Symbols symbols = Symbols.read(dir.resolve("kallsyms"));
		Map<String, List<Round>> byState = new HashMap<>();
		for (String state : states) {
			List<Round> list = new ArrayList<>();
			for (int r = 1; r <= rounds; r++) {
				long units = Long.parseLong(Files.readString(dir.resolve("units." + state + "." + r)).trim());
				list.add(Round.of(Counts.read(dir.resolve("counts." + state + "." + r + ".0")),
						Counts.read(dir.resolve("counts." + state + "." + r + ".1")), units, symbols));
			}
			byState.put(state, list);
		}
		System.out.printf(Locale.ROOT, "[icount] guest instructions per %s (exact counts, TCG plugin),"
				+ " %d windows per state in the middle of one fio run, %s per window %s; medians, [range]%n",
				unit.equals("write") ? "4k random write" : unit, rounds, unit.equals("write") ? "writes" : unit,
				states.stream().map(s -> byState.get(s).stream().map(r -> Long.toString(r.units()))
						.collect(java.util.stream.Collectors.joining("/"))).collect(
								java.util.stream.Collectors.joining(" ")));
		System.out.printf(Locale.ROOT, "  %-10s %14s %17s %8s %11s %13s %11s%n", "state", "kernel", "[range]", "user",
				"blksnap.ko", "ftrace tramp.", "vs " + states.getFirst());
		double reference = 0;
		for (String state : states) {
			List<Round> list = byState.get(state);
			double[] kernel = list.stream().mapToDouble(Round::kernel).toArray();
			double total = median(kernel) + median(list.stream().mapToDouble(Round::user).toArray());
			if (reference == 0) {
				reference = total;
			}
			System.out.printf(Locale.ROOT, "  %-10s %14.0f [%7.0f..%7.0f] %8.0f %11.0f %13.0f %10.2f%%%n", state,
					median(kernel), Arrays.stream(kernel).min().orElse(0), Arrays.stream(kernel).max().orElse(0),
					median(list.stream().mapToDouble(Round::user).toArray()),
					median(list.stream().mapToDouble(r -> r.in("[blksnap]")).toArray()),
					median(list.stream().mapToDouble(r -> r.in("[__builtin__ftrace]")).toArray()),
					100 * total / reference);
		}
		System.out.println("  (vs: kernel + user instructions per " + unit + " against the first state; a task bound by"
				+ " the CPU would reach the inverse of it)");
		System.out.printf(Locale.ROOT, "[icount] what TCG does per %s besides the instructions (medians):%n"
				+ "  %-10s %14s %14s %14s%n", unit, "state", "blocks run", "translations", "all vCPUs idle");
		for (String state : states) {
			List<Round> list = byState.get(state);
			System.out.printf(Locale.ROOT, "  %-10s %14.1f %14.3f %14.4f%n", state,
					median(list.stream().mapToDouble(Round::blocksRun).toArray()),
					median(list.stream().mapToDouble(Round::translations).toArray()),
					median(list.stream().mapToDouble(Round::idles).toArray()));
		}
		printFit(states, byState, unit);
		checkStates(states, byState);
		for (String state : states.subList(1, states.size())) {
			System.out.printf(Locale.ROOT, "[icount] %s - %s, instructions per %s, the largest differences"
					+ " (median of rounds):%n", state, states.getFirst(), unit);
			Map<String, Double> diff = new HashMap<>();
			for (String function : functionsOf(byState.get(state), byState.get(states.getFirst()))) {
				diff.put(function, medianOf(byState.get(state), function) - medianOf(byState.get(states.getFirst()),
						function));
			}
			diff.entrySet().stream().sorted((a, b) -> Double.compare(Math.abs(b.getValue()), Math.abs(a.getValue())))
					.limit(25).forEach(e -> System.out.printf(Locale.ROOT, "  %+9.1f  %s%n", e.getValue(), e.getKey()));
		}
	}

	/*
	 * Each window's instructions are its writes' cost plus the kernel's
	 * time-driven work (ticks, RCU, the scheduler), about the same in every
	 * window (each lasts the same guest time) but spread over fewer writes
	 * when the host ran the guest slower: that bias, not the module, made
	 * states differ by a per cent or two. Fitting total = perWrite(state) *
	 * writes + background over all windows (least squares, the background
	 * common to all states) separates the two; the rounds' write counts
	 * differ enough for it.
	 */
	private record Fit(double background, Map<String, Double> perWrite) {
		static Fit of(List<String> states, Map<String, List<Round>> byState) {
			double n = 0, sumT = 0, num = 0, den = 0;
			for (String state : states) {
				double a = 0, b = 0, c = 0;
				for (Round r : byState.get(state)) {
					double t = (r.user() + r.kernel()) * r.units();
					a += r.units() * t;
					b += r.units();
					c += (double) r.units() * r.units();
					sumT += t;
					n++;
				}
				num += a * b / c;
				den += b * b / c;
			}
			double background = n - den > 1e-9 ? (sumT - num) / (n - den) : 0;
			Map<String, Double> perWrite = new HashMap<>();
			for (String state : states) {
				double a = 0, c = 0;
				for (Round r : byState.get(state)) {
					a += r.units() * ((r.user() + r.kernel()) * r.units() - background);
					c += (double) r.units() * r.units();
				}
				perWrite.put(state, a / c);
			}
			return new Fit(background, perWrite);
		}

		/* The share of the first state's rate a writer bound by instructions reaches in @state. */
		double rateBound(List<String> states, String state) {
			return perWrite.get(states.getFirst()) / perWrite.get(state);
		}
	}

	/* Resamples of the windows for the interval of the rate bound. */
	private static final int BOOTSTRAP_RESAMPLES = 2000;

	/*
	 * A 95 % interval of each state's rate bound: the fit over windows drawn
	 * with replacement within each state, a fixed seed so that a report
	 * reads the same twice.
	 */
	private static Map<String, double[]> bootstrap(List<String> states, Map<String, List<Round>> byState) {
		Random random = new Random(1);
		Map<String, double[]> samples = new HashMap<>();
		states.forEach(s -> samples.put(s, new double[BOOTSTRAP_RESAMPLES]));
		for (int i = 0; i < BOOTSTRAP_RESAMPLES; i++) {
			Map<String, List<Round>> drawn = new HashMap<>();
			for (String state : states) {
				List<Round> rounds = byState.get(state), pick = new ArrayList<>();
				for (int j = 0; j < rounds.size(); j++) {
					pick.add(rounds.get(random.nextInt(rounds.size())));
				}
				drawn.put(state, pick);
			}
			Fit fit = Fit.of(states, drawn);
			for (String state : states) {
				samples.get(state)[i] = fit.rateBound(states, state);
			}
		}
		Map<String, double[]> interval = new HashMap<>();
		samples.forEach((state, v) -> {
			Arrays.sort(v);
			interval.put(state, new double[] { v[(int) (0.025 * v.length)], v[(int) (0.975 * v.length) - 1] });
		});
		return interval;
	}

	private static void printFit(List<String> states, Map<String, List<Round>> byState, String unit) {
		Fit fit = Fit.of(states, byState);
		Map<String, double[]> interval = bootstrap(states, byState);
		System.out.printf(Locale.ROOT, "[icount] instructions per " + unit + " (kernel + user) fitted over all windows with a"
				+ " background common to all states: %.1f M instructions per window%n", fit.background() / 1e6);
		System.out.printf(Locale.ROOT, "  %-10s %12s %10s %14s %20s %24s%n", "state", "per " + unit,
				"vs " + states.getFirst(), "rate bound", "[95 % interval]", "residual per " + unit + " [max]");
		for (String state : states) {
			double perWrite = fit.perWrite().get(state);
			double residual = byState.get(state).stream().mapToDouble(r -> Math.abs(r.user() + r.kernel() - perWrite
					- fit.background() / r.units())).max().orElse(0);
			System.out.printf(Locale.ROOT, "  %-10s %12.0f %9.2f%% %13.2f%% %9s%6.2f..%6.2f%% %24.0f%n", state,
					perWrite, 100 * perWrite / fit.perWrite().get(states.getFirst()),
					100 * fit.rateBound(states, state), "", 100 * interval.get(state)[0],
					100 * interval.get(state)[1], residual);
		}
		System.out.println("  (rate bound: the share of the first state's rate a task bound by the guest's"
				+ " instructions would reach; interval: bootstrap over the windows of each state)");
	}

	/* The module ran in no write before the first tracked state, and in every write from it on. */
	private static void checkStates(List<String> states, Map<String, List<Round>> byState) {
		boolean tracking = false;
		for (String state : states) {
			tracking |= state.equals("tracked") || state.equals("copied");
			for (Round r : byState.get(state)) {
				double module = r.in("[blksnap]");
				/* An image is read through the module; its origin may be read with or without it. */
				if (state.equals("image-read") && module < 1) {
					throw new IllegalStateException("state image-read is not real: blksnap.ko did not run");
				}
				if (state.endsWith("-read")) {
					continue;
				}
				if (tracking ? module < 1 : module != 0 && !state.equals("untracked")) {
					throw new IllegalStateException(String.format(Locale.ROOT,
							"state %s is not real: blksnap.ko ran %.1f instructions per write", state, module));
				}
				if (state.equals("untracked") && r.in("[__builtin__ftrace]") < 1) {
					throw new IllegalStateException("state untracked is not real: the hook did not run");
				}
			}
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
