// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for bufpool-sizes' parsers: any bytes in, and
 * neither the line parser nor the YAML parser (libyaml's events read by
 * the tool) may crash, leak or read out of bounds (ASan, UBSan); every
 * error names the file and the line; and what a parser accepts must be
 * a configuration the module takes: classes powers of two from 128 B to
 * 2 MiB, ascending, at most 16, each with 1 to 16777215 buffers that
 * are the sum of its messages' counts, each message in the class of the
 * next power of two at or above its size.
 *
 * Each input goes through bps_parse (which picks the format as the
 * tool does), then through each parser directly, whatever the format
 * looks like, so that both parsers see every input.
 *
 * Built and run by "make fuzz-tool" (part of make check, bounded).
 */
#define BPS_FUZZ 1
#include "../bufpool-sizes.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "fuzz:LINE: reason". */
static void bps_check_error(const struct bps *b)
{
	const char *p = b->err;

	if (strncmp(p, "fuzz:", 5))
		abort();
	for (p += 5; *p >= '0' && *p <= '9'; p++)
		;
	if (p == b->err + 5 || p[0] != ':' || p[1] != ' ' || !p[2])
		abort();
}

static void bps_check(const struct bps *b, int r)
{
	uint64_t sum;
	unsigned int i, j;
	FILE *null;

	if (r) {
		bps_check_error(b);
		return;
	}
	if (!b->nmsg || b->ncls == 0 || b->ncls > BPS_MAX_CLASSES)
		abort();
	for (i = 0; i < b->nmsg; i++)
		if (!bps_name_ok(b->msg[i].name) || b->msg[i].size == 0 ||
		    b->msg[i].size > b->msg[i].class ||
		    b->msg[i].class != bps_class_of(b->msg[i].size))
			abort();
	for (i = 0; i < b->ncls; i++) {
		if (b->cls[i].size < BPS_MIN_CLASS ||
		    b->cls[i].size > BPS_MAX_CLASS ||
		    (b->cls[i].size & (b->cls[i].size - 1)) ||
		    (i && b->cls[i - 1].size >= b->cls[i].size) ||
		    b->cls[i].count == 0 || b->cls[i].count > BPS_MAX_COUNT)
			abort();
		sum = 0;
		for (j = 0; j < b->nmsg; j++)
			if (b->msg[j].class == b->cls[i].size)
				sum += b->msg[j].count;
		if (sum != b->cls[i].count)
			abort();
	}
	null = fopen("/dev/null", "w");
	if (null) {
		bps_print_pools(null, b, 0);
		bps_print_pools(null, b, 1);
		fclose(null);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bps b;
	const char *text = (const char *)data;
	unsigned int last = 0;
	int r;

	bps_check(&b, bps_parse(&b, "fuzz", text, size));

	memset(&b, 0, sizeof(b));
	r = bps_parse_yaml(&b, "fuzz", text, size, &last);
	bps_check(&b, r ? r : bps_classes(&b, "fuzz", last));

	memset(&b, 0, sizeof(b));
	r = bps_parse_lines(&b, "fuzz", text, size, &last);
	bps_check(&b, r ? r : bps_classes(&b, "fuzz", last));
	return 0;
}
