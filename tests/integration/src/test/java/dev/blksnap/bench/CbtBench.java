// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the filter and the tracker cost a 4k random-write load ({@code make
 * bench-cbt}, run inside the VM bench). fio writes to one scratch disk in
 * three states:
 * <ol type="a">
 * <li>module not loaded;
 * <li>module loaded, this disk untracked (the other disk tracked);
 * <li>this disk tracked.
 * </ol>
 * Each round measures all three back to back, in the order a-b-c on odd
 * rounds and c-b-a on even ones, so that drift of the host within a round
 * cancels out. One JVM drives every round: attaching through the library
 * costs milliseconds, where a CLI call per state would cost a JVM start.
 * <p>
 * A benchmark, not a test: it prints medians and ratios and asserts nothing.
 */
public final class CbtBench {

	private enum State { NOT_LOADED, UNTRACKED, TRACKED }

	private record Settings(Path module, Path other, Path disk, int rounds, int runtime) {
		static Settings fromEnvironment() {
			String[] disks = System.getenv().getOrDefault("BLKSNAP_DISKS", "").trim().split("\\s+");
			if (disks.length < 2)
				throw new IllegalStateException("bench-cbt needs two scratch disks (BLKSNAP_DISKS)");
			String module = System.getenv("BLKSNAP_KO");
			if (module == null)
				throw new IllegalStateException("BLKSNAP_KO is not set: run me through tests/vm/run --module");
			return new Settings(Path.of(module), Path.of(disks[0]), Path.of(disks[1]),
					Integer.parseInt(System.getenv().getOrDefault("BENCH_ROUNDS", "31")),
					Integer.parseInt(System.getenv().getOrDefault("BENCH_RUNTIME", "4")));
		}
	}

	private final Settings settings;
	private final ObjectMapper json = new ObjectMapper();

	private CbtBench(Settings settings) {
		this.settings = settings;
	}

	public static void main(String[] args) throws Exception {
		new CbtBench(Settings.fromEnvironment()).run();
	}

	private void run() throws Exception {
		Settings s = settings;
		System.out.printf("bench-cbt: %d rounds x 3 states, fio %ds each on %s (%s)%n", s.rounds(),
				s.runtime(), s.disk(), System.getProperty("os.version"));
		double[][] iops = new double[State.values().length][s.rounds()];
		for (int round = 0; round < s.rounds(); round++) {
			List<State> order = Arrays.asList(State.values());
			if (round % 2 == 1)
				order = order.reversed();
			for (State state : order) {
				enter(state);
				iops[state.ordinal()][round] = fioIops();
			}
			enter(State.NOT_LOADED);
			System.out.printf("round %2d: (a) %8.0f  (b) %8.0f  (c) %8.0f IOPS%n", round + 1,
					iops[0][round], iops[1][round], iops[2][round]);
		}
		report(iops);
	}

	/** Moves the machine to {@code state} from whatever state it is in. */
	private void enter(State state) throws IOException, InterruptedException {
		boolean loaded = Path.of("/sys/module/blksnap").toFile().isDirectory();
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

	private double fioIops() throws IOException, InterruptedException {
		String out = exec("fio", "--name=bench", "--filename=" + settings.disk(), "--direct=1",
				"--ioengine=libaio", "--iodepth=16", "--rw=randwrite", "--bs=4k", "--size=256M",
				"--time_based", "--runtime=" + settings.runtime(), "--ramp_time=1", "--randrepeat=0",
				"--output-format=json");
		JsonNode write = json.readTree(out).path("jobs").path(0).path("write");
		if (!write.has("iops"))
			throw new IOException("fio printed no write IOPS: " + out);
		return write.get("iops").asDouble();
	}

	private static void report(double[][] iops) {
		double a = median(iops[0]), b = median(iops[1]), c = median(iops[2]);
		System.out.printf("median IOPS: (a) not loaded %.0f, (b) loaded, disk untracked %.0f, "
				+ "(c) disk tracked %.0f%n", a, b, c);
		System.out.printf("ratio of medians to (a): (b) %.1f %%, (c) %.1f %%%n", 100 * b / a, 100 * c / a);
		System.out.printf("median of per-round ratios to (a): (b) %.1f %%, (c) %.1f %%%n",
				median(ratios(iops[1], iops[0])), median(ratios(iops[2], iops[0])));
	}

	private static double[] ratios(double[] x, double[] base) {
		double[] r = new double[x.length];
		for (int i = 0; i < x.length; i++)
			r[i] = 100 * x[i] / base[i];
		return r;
	}

	private static double median(double[] values) {
		double[] v = values.clone();
		Arrays.sort(v);
		int n = v.length;
		return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
