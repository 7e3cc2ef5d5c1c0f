// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The statistics every bench prints: median, minimum and maximum of its
 * rounds, and how far a median can be trusted: a 95 % percentile bootstrap
 * interval over the rounds. The rounds are resampled whole, so a round's
 * values for the states stay together, as they were measured.
 */
final class Spread {
	/** Resamples per interval: enough that the 2.5 % and 97.5 % points move by less than the last digit printed. */
	static final int RESAMPLES = 4000;

	record Interval(double estimate, double low, double high) {
		@Override
		public String toString() {
			return String.format("%.2f %% [%.2f, %.2f]", estimate, low, high);
		}
	}

	private Spread() {
	}

	static double median(double[] values) {
		double[] v = values.clone();
		Arrays.sort(v);
		int n = v.length;
		return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	}

	/** The smallest value, NaN for none. */
	static double min(double[] values) {
		return Arrays.stream(values).min().orElse(Double.NaN);
	}

	/** The largest value, NaN for none. */
	static double max(double[] values) {
		return Arrays.stream(values).max().orElse(Double.NaN);
	}

	/** "median [min..max]", each in {@code format}. */
	static String medianAndRange(String format, double[] values) {
		return String.format(format + " [" + format + ".." + format + "]", median(values), min(values), max(values));
	}

	/**
	 * The median of {@code perRound} and its 95 % bootstrap interval. The
	 * seed is fixed so that the same rounds always print the same interval.
	 */
	static Interval medianWithInterval(double[] perRound) {
		SplittableRandom rnd = new SplittableRandom(1);
		int n = perRound.length;
		double[] medians = new double[RESAMPLES];
		double[] sample = new double[n];
		for (int r = 0; r < RESAMPLES; r++) {
			for (int i = 0; i < n; i++)
				sample[i] = perRound[rnd.nextInt(n)];
			medians[r] = median(sample);
		}
		Arrays.sort(medians);
		return new Interval(median(perRound), medians[(int) (0.025 * (RESAMPLES - 1))],
				medians[(int) Math.ceil(0.975 * (RESAMPLES - 1))]);
	}
}
