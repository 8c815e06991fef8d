// SPDX-License-Identifier: MIT
/*
 * bufpool-sizes: derive pool sizes from message definitions, as the
 * seed transport's design did at code generation: each message goes to
 * the class of the next power of two at or above its size (128 B at
 * least), and each class gets as many buffers as its messages need.
 * Prints the module's pools parameter (one pool per class,
 * /dev/bufpool-cSIZE) and a modprobe.d line.
 *
 * Two input formats.  The line format, one message per line, '#'
 * starts a comment:
 *
 *   message NAME size=BYTES count=BUFFERS
 *   message NAME size=BYTES rate=PER_SECOND [hold_us=MICROSECONDS]
 *
 * Or YAML, messages with typed fields whose sizes add up (packed, no
 * padding) to the message's size:
 *
 *   messages:
 *     swap_event:
 *       fields:
 *         pool_address: Address   # 20 B
 *         amount_in: uint256      # 32 B
 *         amount_out: uint256     # 32 B: 84 B, class 128
 *       rate: 200000
 *       hold_us: 50
 *
 * Field types: intN, uintN, iN, uN (N = 8 to 256 by 8: N / 8 bytes),
 * bool (1), Address or address (20), bytesN (N = 1 to 32: N bytes), and
 * a fixed array of any of them, TYPE[N]; bytes[N] is N bytes.
 *
 * count is how many buffers of that message can be held at once; rate
 * and hold_us derive it: twice the number in flight (rate x hold time),
 * at least 64.  hold_us defaults to 1000.  Names (of messages and
 * fields) are 1 to 64 of [A-Za-z0-9_], each once.  A file is YAML when
 * its name ends in .yaml or .yml, or when its first line that is not
 * blank or a comment is "messages:" or a YAML marker ("---", "%").
 * Errors name the file and line and exit 1.
 *
 * --spread: the classes of BPS_SPREAD_MIN (1 KiB) and up are spread
 * pools (ABI 1.8, the pools parameter's spread=y): their buffers
 * buf_size + 64 apart, off the power-of-two stride whose buffers put
 * their first lines in a few cache sets (bench/stride_bench).  The
 * smaller classes stay packed: their buffers are a few lines long, and
 * 64 bytes more each would cost a quarter to a half of their memory.
 *
 * usage: bufpool-sizes FILE   (- for standard input)
 *        bufpool-sizes --spread FILE
 *        bufpool-sizes --help | --version
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <linux/bufpool.h>	/* BUFPOOL_SPREAD_PAD */

/* The library's version (the Makefile's LIB_VERSION), given by make. */
#ifndef BPS_VERSION
#define BPS_VERSION	"unknown"
#endif

#define BPS_MIN_CLASS	128u
#define BPS_MAX_CLASS	(2u << 20)	/* BUFPOOL_MAX_BUF_SIZE */
#define BPS_MAX_COUNT	16777215ull	/* BUFPOOL_MAX_BUFS */
#define BPS_MAX_CLASSES	16		/* pools the module takes */
#define BPS_MAX_MSGS	1024
#define BPS_MAX_FIELDS	1024		/* per message */
#define BPS_NAME_MAX	64
#define BPS_SPREAD_MIN	1024u		/* --spread: classes this large */

struct bps_msg {
	char name[BPS_NAME_MAX + 1];
	uint64_t size;
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
	/* The YAML parser's field names of the message it reads. */
	char field[BPS_MAX_FIELDS][BPS_NAME_MAX + 1];
	char err[256];
};

static int bps_fail(struct bps *b, const char *file, unsigned int line,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bps_fail(struct bps *b, const char *file, unsigned int line,
		    const char *fmt, ...)
{
	int n = snprintf(b->err, sizeof(b->err), "%s:%u: ", file, line);
	va_list ap;

	if (n > 0 && (size_t)n < sizeof(b->err)) {
		va_start(ap, fmt);
		vsnprintf(b->err + n, sizeof(b->err) - n, fmt, ap);
		va_end(ap);
	}
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

/* 1 to 64 of [A-Za-z0-9_]. */
static int bps_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (!(name[i] == '_' || (name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z')))
			return 0;
	return i >= 1 && i <= BPS_NAME_MAX;
}

static int bps_defined(const struct bps *b, const char *name)
{
	unsigned int i;

	for (i = 0; i < b->nmsg; i++)
		if (!strcmp(b->msg[i].name, name))
			return 1;
	return 0;
}

/* Buffers for rate per second held hold_us each: twice, at least 64. */
static int bps_rate_count(uint64_t rate, uint64_t hold, uint64_t *count)
{
	if (rate && hold > UINT64_MAX / rate)
		return -1;
	*count = (rate * hold + 999999) / 1000000 * 2;
	if (*count < 64)
		*count = 64;
	return 0;
}

/* Record message name (checked, size 1 to 2 MiB) with count buffers. */
static int bps_add(struct bps *b, const char *file, unsigned int line,
		   const char *name, uint64_t size, uint64_t count)
{
	struct bps_msg *m;

	if (count == 0)
		return bps_fail(b, file, line, "count is 0 in \"%s\"", name);
	if (count > BPS_MAX_COUNT)
		return bps_fail(b, file, line,
				"more than 16777215 buffers for \"%s\"", name);
	if (b->nmsg == BPS_MAX_MSGS)
		return bps_fail(b, file, line, "%s", "more than 1024 messages");
	m = &b->msg[b->nmsg++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->size = size;
	m->class = bps_class_of(size);
	m->count = count;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The line format                                                    */

/* Parse one line (NUL-terminated, comments already cut). */
static int bps_line(struct bps *b, const char *file, unsigned int line,
		    char *text)
{
	char *save = NULL, *tok, *name, *eq;
	uint64_t size = 0, count = 0, rate = 0, hold = 1000;
	int have_size = 0, have_count = 0, have_rate = 0, have_hold = 0;

	tok = strtok_r(text, " \t\r", &save);
	if (!tok)
		return 0;			/* blank */
	if (strcmp(tok, "message"))
		return bps_fail(b, file, line,
				"\"%s\": a line starts with \"message\"", tok);
	name = strtok_r(NULL, " \t\r", &save);
	if (!name)
		return bps_fail(b, file, line, "%s", "a message needs a name");
	if (!bps_name_ok(name))
		return bps_fail(b, file, line,
				"\"%s\": a name is 1 to 64 of A-Z a-z 0-9 _", name);
	if (bps_defined(b, name))
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
	if (have_rate && bps_rate_count(rate, hold, &count))
		return bps_fail(b, file, line,
				"rate x hold_us too large in \"%s\"", name);
	return bps_add(b, file, line, name, size, count);

bad_value:
	return bps_fail(b, file, line,
			"%s: not a whole number, or given twice", tok);
}

static int bps_parse_lines(struct bps *b, const char *file, const char *text,
			   size_t len, unsigned int *last)
{
	char buf[1024];
	unsigned int line = 0;
	size_t pos = 0, n;
	const char *nl;
	char *hash;

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
	*last = line;
	return 0;
}

/* ------------------------------------------------------------------ */
/* YAML                                                               */

/*
 * The size of a field's type (see the top of the file), or 0 for a
 * type this tool does not know, UINT64_MAX for one of no fixed size.
 */
static uint64_t bps_scalar_size(const char *t, size_t n)
{
	uint64_t v;
	size_t p;
	char num[8];

	if (n == 4 && !memcmp(t, "bool", 4))
		return 1;
	if (n == 7 && (!memcmp(t, "Address", 7) || !memcmp(t, "address", 7)))
		return 20;
	if ((n == 6 && !memcmp(t, "string", 6)) ||
	    (n == 5 && !memcmp(t, "bytes", 5)))
		return UINT64_MAX;
	if (n > 5 && !memcmp(t, "bytes", 5))
		p = 5;
	else if (n > 4 && !memcmp(t, "uint", 4))
		p = 4;
	else if (n > 3 && !memcmp(t, "int", 3))
		p = 3;
	else if (n > 1 && (t[0] == 'u' || t[0] == 'i'))
		p = 1;
	else
		return 0;
	/* The number after the prefix: no sign, no leading zero. */
	if (n - p >= sizeof(num) || t[p] == '0')
		return 0;
	memcpy(num, t + p, n - p);
	num[n - p] = '\0';
	if (bps_number(num, 1000, &v))
		return 0;
	if (p == 5)				/* bytesN */
		return v >= 1 && v <= 32 ? v : 0;
	return v >= 8 && v <= 256 && v % 8 == 0 ? v / 8 : 0;
}

/* The size of type t: TYPE or TYPE[N]; 0 with *why otherwise. */
static uint64_t bps_type_size(const char *t, const char **why)
{
	const char *open = strchr(t, '['), *close;
	char num[16];
	uint64_t elem, n;
	size_t len;

	*why = "unknown type";
	if (!open) {
		elem = bps_scalar_size(t, strlen(t));
		if (elem == UINT64_MAX) {
			*why = "has no fixed size (give one: bytes[N])";
			return 0;
		}
		return elem;
	}
	close = strchr(open, ']');
	len = (size_t)(open - t);
	if (!close || close[1] || (size_t)(close - open - 1) >= sizeof(num))
		return 0;
	memcpy(num, open + 1, (size_t)(close - open - 1));
	num[close - open - 1] = '\0';
	elem = len == 5 && !memcmp(t, "bytes", 5) ? 1 : bps_scalar_size(t, len);
	if (elem == 0 || elem == UINT64_MAX)
		return 0;
	if (bps_number(num, BPS_MAX_CLASS, &n) || n == 0 || num[0] == '0') {
		*why = "an array has 1 to 2097152 elements";
		return 0;
	}
	return elem * n;	/* at most 32 x 2 MiB */
}

struct bps_yaml {
	struct bps *b;
	const char *file;
	yaml_parser_t parser;
	yaml_event_t ev;
	int have_ev;
};

static unsigned int bps_y_line(const struct bps_yaml *y)
{
	return (unsigned int)y->ev.start_mark.line + 1;
}

/* The next event into y->ev; -1 with the error set. */
static int bps_y_next(struct bps_yaml *y)
{
	const yaml_char_t *anchor = NULL;

	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = 0;
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return bps_fail(y->b, y->file,
				(unsigned int)y->parser.problem_mark.line + 1,
				"YAML: %s%s%s%s",
				y->parser.problem ? y->parser.problem : "bad syntax",
				y->parser.context ? " (" : "",
				y->parser.context ? y->parser.context : "",
				y->parser.context ? ")" : "");
	y->have_ev = 1;
	switch (y->ev.type) {
	case YAML_ALIAS_EVENT:
		return bps_fail(y->b, y->file, bps_y_line(y), "%s",
				"YAML aliases (*name) are not taken");
	case YAML_SCALAR_EVENT:
		anchor = y->ev.data.scalar.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = y->ev.data.mapping_start.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = y->ev.data.sequence_start.anchor;
		break;
	default:
		break;
	}
	if (anchor)
		return bps_fail(y->b, y->file, bps_y_line(y), "%s",
				"YAML anchors (&name) are not taken");
	return 0;
}

/* What y->ev is, for an error. */
static const char *bps_y_what(const struct bps_yaml *y)
{
	switch (y->ev.type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_SCALAR_EVENT:
		return "a value";
	default:
		return "nothing";
	}
}

/* The current event's scalar text, or NULL if it holds a NUL byte. */
static const char *bps_y_text(struct bps_yaml *y)
{
	if (strlen((const char *)y->ev.data.scalar.value) !=
	    y->ev.data.scalar.length) {
		bps_fail(y->b, y->file, bps_y_line(y), "%s", "a NUL byte");
		return NULL;
	}
	return (const char *)y->ev.data.scalar.value;
}

/* The next event, which must be a scalar: its text, NUL-terminated. */
static const char *bps_y_scalar(struct bps_yaml *y, const char *what)
{
	if (bps_y_next(y))
		return NULL;
	if (y->ev.type != YAML_SCALAR_EVENT) {
		bps_fail(y->b, y->file, bps_y_line(y),
			 "%s is a single value, not %s", what, bps_y_what(y));
		return NULL;
	}
	return bps_y_text(y);
}

/*
 * The next key of the mapping being read: its text, NULL at the end of
 * the mapping (*end set) or on an error.
 */
static const char *bps_y_key(struct bps_yaml *y, int *end)
{
	*end = 0;
	if (bps_y_next(y))
		return NULL;
	if (y->ev.type == YAML_MAPPING_END_EVENT) {
		*end = 1;
		return NULL;
	}
	if (y->ev.type != YAML_SCALAR_EVENT) {
		bps_fail(y->b, y->file, bps_y_line(y),
			 "a key is a name, not %s", bps_y_what(y));
		return NULL;
	}
	return bps_y_text(y);
}

/* The next event must start a mapping: 0, or -1 saying what it holds. */
static int bps_y_mapping(struct bps_yaml *y, const char *what)
{
	if (bps_y_next(y))
		return -1;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return bps_fail(y->b, y->file, bps_y_line(y),
				"%s, not %s", what, bps_y_what(y));
	return 0;
}

/* fields: NAME: TYPE, ...; their sizes added into *size. */
static int bps_y_fields(struct bps_yaml *y, const char *msg, uint64_t *size)
{
	struct bps *b = y->b;
	unsigned int n = 0, i, line;
	const char *key, *type, *why;
	char name[BPS_NAME_MAX + 1];
	uint64_t s;
	int end;

	if (bps_y_mapping(y, "fields is a mapping of field names to types"))
		return -1;
	for (;;) {
		key = bps_y_key(y, &end);
		if (!key)
			break;
		line = bps_y_line(y);
		if (!bps_name_ok(key))
			return bps_fail(b, y->file, line,
					"field \"%.64s\": a name is 1 to 64 of A-Z a-z 0-9 _",
					key);
		snprintf(name, sizeof(name), "%s", key);
		for (i = 0; i < n; i++)
			if (!strcmp(b->field[i], name))
				return bps_fail(b, y->file, line,
						"field \"%s\" twice in \"%s\"",
						name, msg);
		if (n == BPS_MAX_FIELDS)
			return bps_fail(b, y->file, line,
					"more than 1024 fields in \"%s\"", msg);
		snprintf(b->field[n++], sizeof(b->field[0]), "%s", name);
		type = bps_y_scalar(y, "a field's type");
		if (!type)
			return -1;
		s = bps_type_size(type, &why);
		if (!s)
			return bps_fail(b, y->file, bps_y_line(y),
					"field \"%s\": \"%.64s\": %s", name,
					type, why);
		*size += s;
		if (*size > BPS_MAX_CLASS)
			return bps_fail(b, y->file, bps_y_line(y),
					"message \"%s\" is above the largest class (2097152 B) at field \"%s\"",
					msg, name);
	}
	return end ? 0 : -1;
}

/* A message: fields, and count, or rate with hold_us. */
static int bps_y_message(struct bps_yaml *y, const char *name,
			 unsigned int line)
{
	uint64_t size = 0, count = 0, rate = 0, hold = 1000, *val;
	int have_fields = 0, have_count = 0, have_rate = 0, have_hold = 0;
	int *have, end;
	const char *key, *text;
	char kname[8];
	unsigned int kline;

	if (bps_y_mapping(y, "a message is a mapping: fields, and count or rate"))
		return -1;
	for (;;) {
		key = bps_y_key(y, &end);
		if (!key)
			break;
		kline = bps_y_line(y);
		if (!strcmp(key, "fields")) {
			if (have_fields++)
				return bps_fail(y->b, y->file, kline,
						"fields given twice in \"%s\"",
						name);
			if (bps_y_fields(y, name, &size))
				return -1;
			continue;
		}
		if (!strcmp(key, "count")) {
			have = &have_count;
			val = &count;
		} else if (!strcmp(key, "rate")) {
			have = &have_rate;
			val = &rate;
		} else if (!strcmp(key, "hold_us")) {
			have = &have_hold;
			val = &hold;
		} else {
			return bps_fail(y->b, y->file, kline,
					"unknown key \"%.64s\" in \"%s\" (fields, count, rate, hold_us)",
					key, name);
		}
		snprintf(kname, sizeof(kname), "%s", key);
		if ((*have)++)
			return bps_fail(y->b, y->file, kline,
					"%s given twice in \"%s\"", kname, name);
		text = bps_y_scalar(y, kname);
		if (!text)
			return -1;
		if (text[0] == '-')
			return bps_fail(y->b, y->file, bps_y_line(y),
					"%s is negative", kname);
		if (bps_number(text, UINT64_MAX, val))
			return bps_fail(y->b, y->file, bps_y_line(y),
					"%s: not a whole number", kname);
	}
	if (!end)
		return -1;
	if (!have_fields || size == 0)
		return bps_fail(y->b, y->file, line,
				"message \"%s\" needs fields (at least one)", name);
	if (have_count == have_rate)
		return bps_fail(y->b, y->file, line,
				"message \"%s\" needs count or rate (one of them)",
				name);
	if (have_hold && !have_rate)
		return bps_fail(y->b, y->file, line,
				"hold_us without rate in \"%s\"", name);
	if (have_rate && bps_rate_count(rate, hold, &count))
		return bps_fail(y->b, y->file, line,
				"rate x hold_us too large in \"%s\"", name);
	return bps_add(y->b, y->file, line, name, size, count);
}

/* messages: NAME: MESSAGE, ... */
static int bps_y_messages(struct bps_yaml *y)
{
	char name[BPS_NAME_MAX + 1];
	const char *key;
	unsigned int line;
	int end;

	if (bps_y_mapping(y, "messages is a mapping of names to messages"))
		return -1;
	for (;;) {
		key = bps_y_key(y, &end);
		if (!key)
			return end ? 0 : -1;
		line = bps_y_line(y);
		if (!bps_name_ok(key))
			return bps_fail(y->b, y->file, line,
					"\"%.64s\": a name is 1 to 64 of A-Z a-z 0-9 _",
					key);
		if (bps_defined(y->b, key))
			return bps_fail(y->b, y->file, line,
					"message \"%s\" defined twice", key);
		snprintf(name, sizeof(name), "%s", key);
		if (bps_y_message(y, name, line))
			return -1;
	}
}

/* One document: a mapping whose one key is messages. */
static int bps_y_stream(struct bps_yaml *y, unsigned int *last)
{
	const char *key;
	int have = 0, end;

	if (bps_y_next(y) || bps_y_next(y))	/* stream start, document */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT) {
		*last = bps_y_line(y);
		return 0;			/* empty: no message defined */
	}
	if (bps_y_mapping(y, "the top level is a mapping with the key messages"))
		return -1;
	for (;;) {
		key = bps_y_key(y, &end);
		if (!key)
			break;
		if (strcmp(key, "messages"))
			return bps_fail(y->b, y->file, bps_y_line(y),
					"unknown key \"%.64s\" (the top level has messages)",
					key);
		if (have++)
			return bps_fail(y->b, y->file, bps_y_line(y), "%s",
					"messages given twice");
		if (bps_y_messages(y))
			return -1;
	}
	if (!end || bps_y_next(y))		/* document end */
		return -1;
	if (bps_y_next(y))
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return bps_fail(y->b, y->file, bps_y_line(y), "%s",
				"one YAML document only");
	*last = bps_y_line(y);
	return 0;
}

static int bps_parse_yaml(struct bps *b, const char *file, const char *text,
			  size_t len, unsigned int *last)
{
	struct bps_yaml y = { .b = b, .file = file };
	int r;

	if (!yaml_parser_initialize(&y.parser))
		return bps_fail(b, file, 0, "%s", "out of memory");
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)text,
				     len);
	r = bps_y_stream(&y, last);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	return r;
}

/*
 * YAML when the file's name ends in .yaml or .yml, or when its first
 * line that is not blank or a comment starts with "messages:", "---"
 * or "%" (a directive); else the line format.
 */
static int bps_is_yaml(const char *file, const char *text, size_t len)
{
	const char *dot = strrchr(file, '.');
	size_t pos = 0, rest;

	if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml")))
		return 1;
	while (pos < len) {
		while (pos < len && (text[pos] == ' ' || text[pos] == '\t' ||
				     text[pos] == '\r' || text[pos] == '\n'))
			pos++;
		if (pos < len && text[pos] == '#') {
			while (pos < len && text[pos] != '\n')
				pos++;
			continue;
		}
		break;
	}
	rest = len - pos;
	return (rest >= 9 && !memcmp(text + pos, "messages:", 9)) ||
	       (rest >= 3 && !memcmp(text + pos, "---", 3)) ||
	       (rest >= 1 && text[pos] == '%');
}

/* ------------------------------------------------------------------ */

/* The classes of the messages read, ascending; line: the input's last. */
static int bps_classes(struct bps *b, const char *file, unsigned int line)
{
	unsigned int i, j;

	if (!b->nmsg)
		return bps_fail(b, file, line, "%s", "no message defined");
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

/*
 * bps_parse - parse the definitions in text[0..len) into b, in the
 * format bps_is_yaml() says.  Returns 0, or -1 with the reason in
 * b->err.  Never reads past len; NUL bytes in the text are an error.
 */
static int bps_parse(struct bps *b, const char *file, const char *text,
		     size_t len)
{
	unsigned int last = 0;
	int r;

	memset(b, 0, sizeof(*b));
	if (bps_is_yaml(file, text, len))
		r = bps_parse_yaml(b, file, text, len, &last);
	else
		r = bps_parse_lines(b, file, text, len, &last);
	return r ? r : bps_classes(b, file, last);
}

/* Whether class c is a spread pool (--spread). */
static int bps_spread(const struct bps_class *c, int spread)
{
	return spread && c->size >= BPS_SPREAD_MIN;
}

/* The pools parameter for the module. */
static void bps_print_pools(FILE *out, const struct bps *b, int spread)
{
	unsigned int i;

	fputs("pools=", out);
	for (i = 0; i < b->ncls; i++)
		fprintf(out, "%sc%u:buf_size=%u,buf_count=%llu%s",
			i ? ";" : "", b->cls[i].size, b->cls[i].size,
			(unsigned long long)b->cls[i].count,
			bps_spread(&b->cls[i], spread) ? ",spread=y" : "");
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
		"       %s --spread FILE\n"
		"       %s --help | --version\n", prog, prog, prog);
	if (!full)
		return;
	fputs("Size bufpool's pools from message definitions: each message goes\n"
	      "to the class of the next power of two at or above its size (128 B\n"
	      "at least); prints the module's pools parameter and modprobe.d line.\n"
	      "--spread: classes of 1024 B and up are spread pools (spread=y,\n"
	      "ABI 1.8), their buffers a cache line more than their size apart.\n"
	      "FILE: one message a line,\n"
	      "  message NAME size=BYTES count=BUFFERS\n"
	      "  message NAME size=BYTES rate=PER_SECOND [hold_us=MICROSECONDS]\n"
	      "or YAML (FILE.yaml, or starting with \"messages:\"):\n"
	      "  messages:\n"
	      "    NAME:\n"
	      "      fields: { FIELD: TYPE, ... }\n"
	      "      count: BUFFERS     # or rate: PER_SECOND [hold_us: US]\n"
	      "TYPE: intN, uintN, iN, uN (N = 8..256 by 8), bool, Address (20 B),\n"
	      "bytesN (N = 1..32), TYPE[N], bytes[N].  See bufpool-sizes(1).\n"
	      "Exit status: 0 done, 1 bad definitions, 2 bad usage.\n", out);
}

int main(int argc, char **argv)
{
	static struct bps b;
	const char *arg, *file, *prog = "bufpool-sizes";
	unsigned int i, j;
	uint64_t bytes;
	int spread = 0;
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
	if (argc == 3 && !strcmp(argv[1], "--spread"))
		spread = 1;
	arg = argv[argc - 1];
	if (argc != 2 + spread || (arg[0] == '-' && arg[1])) {
		bps_usage(stderr, prog, 0);
		return 2;
	}
	file = strcmp(arg, "-") ? arg : "<stdin>";
	f = strcmp(arg, "-") ? fopen(arg, "r") : stdin;
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
	for (i = 0; i < b.nmsg; i++)
		printf("# message %s: %llu B, class %u B, %llu buffers\n",
		       b.msg[i].name, (unsigned long long)b.msg[i].size,
		       b.msg[i].class, (unsigned long long)b.msg[i].count);
	for (i = 0; i < b.ncls; i++) {
		uint32_t stride = b.cls[i].size;

		if (bps_spread(&b.cls[i], spread))
			stride += BUFPOOL_SPREAD_PAD;
		bytes = b.cls[i].count * stride;
		printf("# class %u B: %llu buffers, %llu MiB, for", b.cls[i].size,
		       (unsigned long long)b.cls[i].count,
		       (unsigned long long)((bytes + (1 << 20) - 1) >> 20));
		for (j = 0; j < b.nmsg; j++)
			if (b.msg[j].class == b.cls[i].size)
				printf(" %s", b.msg[j].name);
		printf("; /dev/bufpool-c%u", b.cls[i].size);
		if (stride != b.cls[i].size)
			printf(", spread (buf_stride %u)", stride);
		printf("\n");
	}
	bps_print_pools(stdout, &b, spread);
	printf("\n# /etc/modprobe.d/bufpool.conf:\noptions bufpool ");
	bps_print_pools(stdout, &b, spread);
	printf("\n");
	return 0;
}
#endif
