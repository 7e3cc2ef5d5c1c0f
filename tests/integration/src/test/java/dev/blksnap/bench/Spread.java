// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A median and how far it can be trusted: a 95 % percentile bootstrap
 * interval over the rounds. The rounds are resampled whole, so a round's
 * values for the three states stay together, as they were measured.
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
