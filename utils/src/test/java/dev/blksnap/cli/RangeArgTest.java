// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.blksnap.SectorRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RangeArgTest {

	@Test
	void sectorsAreTakenAsGiven() {
		RangeArg r = RangeArg.parse("2048+8");
		assertEquals(2048, r.start());
		assertEquals(8, r.length());
		assertFalse(r.scaled());
		assertEquals(new SectorRange(2048, 8), r.toSectors(false));
	}

	@ParameterizedTest
	@CsvSource({
		// bytes, first sector, sector count
		"0+512, 0, 1",
		"0+1, 0, 1",
		"100+1, 0, 1",
		"511+2, 0, 2",
		"512+512, 1, 1",
		"1M+4K, 2048, 8",
		"1m+4k, 2048, 8",
		"1G+1, 2097152, 1",
		"4095+4097, 7, 9",
		"1T+1T, 2147483648, 2147483648",
	})
	void bytesAreRoundedOutToWholeSectors(String text, long first, long count) {
		assertEquals(new SectorRange(first, count), RangeArg.parse(text).toSectors(true));
	}

	@Test
	void suffixesNeedBytes() {
		RangeArg r = RangeArg.parse("1M+8");
		assertTrue(r.scaled());
		IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.toSectors(false));
		assertTrue(e.getMessage().contains("--bytes"), e.getMessage());
	}

	@ParameterizedTest
	@ValueSource(strings = {"", "8", "+8", "8+", "-1+8", "8+-1", "8+0", "0x10+8", "8 + 8", "8+8+8", "1.5+1",
		"1P+1", "8:8", "9223372036854775807+1", "99999999999999999999+1", "9007199254740992K+1"})
	void junkIsRefused(String text) {
		assertThrows(IllegalArgumentException.class, () -> RangeArg.parse(text));
	}

	@Test
	void largestRangeThatFits() {
		RangeArg r = RangeArg.parse("9223372036854775806+1");
		assertEquals(new SectorRange(9223372036854775806L, 1), r.toSectors(false));
		// in bytes, the end rounds up to a whole sector without overflowing
		assertEquals(new SectorRange(9223372036854775806L / 512, 1), r.toSectors(true));
	}
}
