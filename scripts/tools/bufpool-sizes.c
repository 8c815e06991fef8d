// SPDX-License-Identifier: MIT
/*
 * bufpool-sizes: derive pool sizes from message definitions, as the
 * seed transport's design did at code generation: each message goes to
 * the class of the next power of two at or above its size (128 B at
 * least), and each class gets as many buffers as its messages need.
 * Prints the module's pools parameter (one pool per class,
 * /dev/bufpool-cSIZE) and a modprobe.d line.
 *
 * Input, one message per line; '#' starts a comment:
 *
 *   message NAME size=BYTES count=BUFFERS
 *   message NAME size=BYTES rate=PER_SECOND [hold_us=MICROSECONDS]
 *
 * count is how many buffers of that message can be held at once; rate
 * and hold_us derive it: twice the number in flight (rate x hold time),
 * at least 64.  hold_us defaults to 1000.  Names are 1 to 64 of
 * [A-Za-z0-9_], each once.  Errors name the file and line and exit 1.
 *
 * usage: bufpool-sizes FILE   (- for standard input)
 *        bufpool-sizes --help | --version
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library's version (the Makefile's LIB_VERSION), given by make. */
#ifndef BPS_VERSION
#define BPS_VERSION	"unknown"
#endif

#define BPS_MIN_CLASS	128u
#define BPS_MAX_CLASS	(2u << 20)	/* BUFPOOL_MAX_BUF_SIZE */
#define BPS_MAX_COUNT	16777215ull	/* BUFPOOL_MAX_BUFS */
#define BPS_MAX_CLASSES	16		/* pools the module takes */
#define BPS_MAX_MSGS	1024
#define BPS_NAME_MAX	64

struct bps_msg {
	char name[BPS_NAME_MAX + 1];
	uint32_t class;
	uint64_t count;
};

struct bps_class {
	uint32_t size;
	uint64_t count;
	unsigned int msgs;
};

struct bps {
	struct bps_msg msg[BPS_MAX_MSGS];
	unsigned int nmsg;
	struct bps_class cls[BPS_MAX_CLASSES];
	unsigned int ncls;
	char err[256];
};

static int bps_fail(struct bps *b, const char *file, unsigned int line,
		    const char *fmt, const char *arg)
{
	int n = snprintf(b->err, sizeof(b->err), "%s:%u: ", file, line);

	if (n > 0 && (size_t)n < sizeof(b->err))
		snprintf(b->err + n, sizeof(b->err) - n, fmt, arg);
	return -1;
}

/* A whole decimal number of at most max, or -1. */
static int bps_number(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static uint32_t bps_class_of(uint64_t size)
{
	uint32_t c = BPS_MIN_CLASS;

	while (c < size)
		c <<= 1;
	return c;
}

/* Parse one line (NUL-terminated, comments already cut). */
static int bps_line(struct bps *b, const char *file, unsigned int line,
		    char *text)
{
	char *save = NULL, *tok, *name, *eq;
	uint64_t size = 0, count = 0, rate = 0, hold = 1000;
	int have_size = 0, have_count = 0, have_rate = 0, have_hold = 0;
	struct bps_msg *m;
	unsigned int i;

	tok = strtok_r(text, " \t\r", &save);
	if (!tok)
		return 0;			/* blank */
	if (strcmp(tok, "message"))
		return bps_fail(b, file, line,
				"\"%s\": a line starts with \"message\"", tok);
	name = strtok_r(NULL, " \t\r", &save);
	if (!name)
		return bps_fail(b, file, line, "%s", "a message needs a name");
	if (strlen(name) > BPS_NAME_MAX || strchr(name, '='))
		return bps_fail(b, file, line,
				"\"%s\": a name is 1 to 64 of A-Z a-z 0-9 _", name);
	for (i = 0; name[i]; i++)
		if (!(name[i] == '_' || (name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z')))
			return bps_fail(b, file, line,
					"\"%s\": a name is 1 to 64 of A-Z a-z 0-9 _",
					name);
	for (i = 0; i < b->nmsg; i++)
		if (!strcmp(b->msg[i].name, name))
			return bps_fail(b, file, line,
					"message \"%s\" defined twice", name);
	while ((tok = strtok_r(NULL, " \t\r", &save))) {
		eq = strchr(tok, '=');
		if (!eq)
			return bps_fail(b, file, line,
					"\"%s\": fields are key=value", tok);
		*eq++ = '\0';
		if (*eq == '-')
			return bps_fail(b, file, line,
					"%s is negative", tok);
		if (!strcmp(tok, "size")) {
			if (have_size++ || bps_number(eq, UINT64_MAX, &size))
				goto bad_value;
		} else if (!strcmp(tok, "count")) {
			if (have_count++ || bps_number(eq, UINT64_MAX, &count))
				goto bad_value;
		} else if (!strcmp(tok, "rate")) {
			if (have_rate++ || bps_number(eq, UINT64_MAX, &rate))
				goto bad_value;
		} else if (!strcmp(tok, "hold_us")) {
			if (have_hold++ || bps_number(eq, UINT64_MAX, &hold))
				goto bad_value;
		} else {
			return bps_fail(b, file, line, "unknown field \"%s\"",
					tok);
		}
	}
	if (!have_size || size == 0)
		return bps_fail(b, file, line, "message \"%s\" needs size=BYTES (> 0)",
				name);
	if (size > BPS_MAX_CLASS)
		return bps_fail(b, file, line,
				"size is above the largest class (2097152 B) in \"%s\"",
				name);
	if (have_count == have_rate)
		return bps_fail(b, file, line,
				"message \"%s\" needs count= or rate= (one of them)",
				name);
	if (have_hold && !have_rate)
		return bps_fail(b, file, line, "hold_us without rate in \"%s\"",
				name);
	if (have_rate) {
		/* Twice what is in flight, rounded up, at least 64. */
		if (rate && hold > UINT64_MAX / rate)
			return bps_fail(b, file, line,
					"rate x hold_us too large in \"%s\"", name);
		count = (rate * hold + 999999) / 1000000 * 2;
		if (count < 64)
			count = 64;
	}
	if (count == 0)
		return bps_fail(b, file, line, "count is 0 in \"%s\"", name);
	if (count > BPS_MAX_COUNT)
		return bps_fail(b, file, line,
				"more than 16777215 buffers for \"%s\"", name);
	if (b->nmsg == BPS_MAX_MSGS)
		return bps_fail(b, file, line, "%s", "more than 1024 messages");
	m = &b->msg[b->nmsg++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->class = bps_class_of(size);
	m->count = count;
	return 0;

bad_value:
	return bps_fail(b, file, line,
			"%s: not a whole number, or given twice", tok);
}

/*
 * bps_parse - parse the definitions in text[0..len) into b.
 * Returns 0, or -1 with the reason in b->err.  Never reads past len;
 * NUL bytes in the text are an error.
 */
static int bps_parse(struct bps *b, const char *file, const char *text,
		     size_t len)
{
	char buf[1024];
	unsigned int line = 0, i, j;
	size_t pos = 0, n;
	const char *nl;
	char *hash;

	memset(b, 0, sizeof(*b));
	while (pos < len) {
		line++;
		nl = memchr(text + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (n >= sizeof(buf))
			return bps_fail(b, file, line, "%s", "line too long");
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		if (strlen(buf) != n)
			return bps_fail(b, file, line, "%s", "a NUL byte");
		pos += n + (nl ? 1 : 0);
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		if (bps_line(b, file, line, buf))
			return -1;
	}
	if (!b->nmsg)
		return bps_fail(b, file, line, "%s", "no message defined");

	/* Classes, ascending. */
	for (i = 0; i < b->nmsg; i++) {
		for (j = 0; j < b->ncls && b->cls[j].size != b->msg[i].class; j++)
			;
		if (j == b->ncls) {
			if (b->ncls == BPS_MAX_CLASSES)
				return bps_fail(b, file, line, "%s",
						"more than 16 size classes");
			b->cls[b->ncls++].size = b->msg[i].class;
		}
		b->cls[j].count += b->msg[i].count;
		b->cls[j].msgs++;
		if (b->cls[j].count > BPS_MAX_COUNT)
			return bps_fail(b, file, line, "%s",
					"more than 16777215 buffers in one class");
	}
	for (i = 1; i < b->ncls; i++)
		for (j = i; j > 0 && b->cls[j - 1].size > b->cls[j].size; j--) {
			struct bps_class t = b->cls[j];

			b->cls[j] = b->cls[j - 1];
			b->cls[j - 1] = t;
		}
	return 0;
}

/* The pools parameter for the module. */
static void bps_print_pools(FILE *out, const struct bps *b)
{
	unsigned int i;

	fputs("pools=", out);
	for (i = 0; i < b->ncls; i++)
		fprintf(out, "%sc%u:buf_size=%u,buf_count=%llu", i ? ";" : "",
			b->cls[i].size, b->cls[i].size,
			(unsigned long long)b->cls[i].count);
}

#ifndef BPS_FUZZ
static int bps_read(FILE *f, char **text, size_t *len)
{
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap), *grown;

	if (!buf)
		return -1;
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap > (64u << 20))
				break;		/* the parser refuses it anyway */
			grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				return -1;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return -1;
	}
	*text = buf;
	*len = n;
	return 0;
}

static void bps_usage(FILE *out, const char *prog, int full)
{
	fprintf(out, "usage: %s FILE   (- for standard input)\n"
		"       %s --help | --version\n", prog, prog);
	if (!full)
		return;
	fputs("Size bufpool's pools from message definitions: each message goes\n"
	      "to the class of the next power of two at or above its size (128 B\n"
	      "at least); prints the module's pools parameter and modprobe.d line.\n"
	      "FILE: one message a line,\n"
	      "  message NAME size=BYTES count=BUFFERS\n"
	      "  message NAME size=BYTES rate=PER_SECOND [hold_us=MICROSECONDS]\n"
	      "Exit status: 0 done, 1 bad definitions, 2 bad usage.\n", out);
}

int main(int argc, char **argv)
{
	static struct bps b;
	const char *file, *prog = "bufpool-sizes";
	unsigned int i, j;
	uint64_t bytes;
	size_t len;
	char *text;
	FILE *f;

	if (argc == 2 && (!strcmp(argv[1], "--help") ||
			  !strcmp(argv[1], "-h"))) {
		bps_usage(stdout, prog, 1);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("%s %s\n", prog, BPS_VERSION);
		return 0;
	}
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1])) {
		bps_usage(stderr, prog, 0);
		return 2;
	}
	file = strcmp(argv[1], "-") ? argv[1] : "<stdin>";
	f = strcmp(argv[1], "-") ? fopen(argv[1], "r") : stdin;
	if (!f || bps_read(f, &text, &len)) {
		fprintf(stderr, "%s: %s\n", file, strerror(errno));
		return 1;
	}
	if (f != stdin)
		fclose(f);
	if (bps_parse(&b, file, text, len)) {
		fprintf(stderr, "%s\n", b.err);
		free(text);
		return 1;
	}
	free(text);
	for (i = 0; i < b.ncls; i++) {
		bytes = b.cls[i].count * b.cls[i].size;
		printf("# class %u B: %llu buffers, %llu MiB, for", b.cls[i].size,
		       (unsigned long long)b.cls[i].count,
		       (unsigned long long)((bytes + (1 << 20) - 1) >> 20));
		for (j = 0; j < b.nmsg; j++)
			if (b.msg[j].class == b.cls[i].size)
				printf(" %s", b.msg[j].name);
		printf("; /dev/bufpool-c%u\n", b.cls[i].size);
	}
	bps_print_pools(stdout, &b);
	printf("\n# /etc/modprobe.d/bufpool.conf:\noptions bufpool ");
	bps_print_pools(stdout, &b);
	printf("\n");
	return 0;
}
#endif
