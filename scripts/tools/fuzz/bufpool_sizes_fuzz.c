// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for bufpool-sizes' parser: any bytes in, and the
 * parser must neither crash nor read out of bounds (ASan, UBSan), and
 * what it accepts must be a configuration the module takes: classes
 * powers of two from 128 B to 2 MiB, ascending, at most 16, each with
 * 1 to 16777215 buffers that are the sum of its messages' counts.
 *
 * Built and run by "make fuzz-tool" (part of make check, bounded).
 */
#define BPS_FUZZ 1
#include "../bufpool-sizes.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bps b;
	uint64_t sum;
	unsigned int i, j;
	FILE *null;

	if (bps_parse(&b, "fuzz", (const char *)data, size)) {
		if (!strchr(b.err, ':'))	/* every error names its line */
			abort();
		return 0;
	}
	if (!b.nmsg || b.ncls == 0 || b.ncls > BPS_MAX_CLASSES)
		abort();
	for (i = 0; i < b.ncls; i++) {
		if (b.cls[i].size < BPS_MIN_CLASS ||
		    b.cls[i].size > BPS_MAX_CLASS ||
		    (b.cls[i].size & (b.cls[i].size - 1)) ||
		    (i && b.cls[i - 1].size >= b.cls[i].size) ||
		    b.cls[i].count == 0 || b.cls[i].count > BPS_MAX_COUNT)
			abort();
		sum = 0;
		for (j = 0; j < b.nmsg; j++)
			if (b.msg[j].class == b.cls[i].size)
				sum += b.msg[j].count;
		if (sum != b.cls[i].count)
			abort();
	}
	null = fopen("/dev/null", "w");
	if (null) {
		bps_print_pools(null, &b);
		fclose(null);
	}
	return 0;
}
