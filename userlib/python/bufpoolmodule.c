// SPDX-License-Identifier: MIT
/*
 * bufpool: the Python module of libbufpool-user, a CPython extension
 * (Python 3.11, the C API; no ctypes, no cffi: a call costs what the
 * interpreter's method call costs, plus a few instructions).
 *
 * Objects:
 *   Pool     one handle (struct bufpool): Pool(path), Pool.create(...),
 *            Pool.open_fd(fd); or one class of a Classes set.
 *   Buffer   one buffer this handle holds: exports the buffer protocol
 *            (writable, exactly buf_size bytes, zero-copy), releases on
 *            release(), at the end of a with block, or when dropped.
 *   Classes  a set of size-class pools (bufpool_classes_*).
 *   Queue    an open queue of a Pool (bufpool_queue_*): enqueue a Buffer
 *            (or an index), dequeue a Buffer (or an index), bulk forms,
 *            stats; closed by close(), at the end of a with block, when
 *            dropped, or with its pool.
 *
 * Lifetimes.  A Buffer or a Queue holds a reference to its Pool, and a
 * class Pool to its Classes, so a pool is never unmapped under a live
 * Buffer or Queue by the garbage collector.  close() is explicit and is refused (with
 * BufferError) while any buffer of the pool is exported (a memoryview
 * of it lives): the mapping behind an exported buffer stays valid for as
 * long as the export.  Likewise a Buffer refuses release(), detach() and
 * handoff while it is exported.  After close() every operation of the
 * pool and of its remaining Buffers and Queues raises ValueError (the
 * library closed the queues with the pool): no C call is ever made with
 * a closed (NULL) handle.
 *
 * The GIL.  Acquire and release (single, index, bulk), handoff and
 * adopt, enqueue and dequeue never block and never make a system call
 * but to wake a sleeper: they run with the GIL held, which also
 * serialises them against close() (and dequeues against each other, as
 * the library wants: one at a time per queue).  Opening and closing a
 * queue (an ioctl on a device pool, quick) keep the GIL too.  acquire_timeout() may sleep: it releases the GIL around the
 * library call, counts itself on the pool (close() is refused with
 * EBUSY while a thread sleeps there) and keeps the pool alive.  Opening
 * and closing (open, mmap with MAP_POPULATE, munmap) release the GIL.
 *
 * Errors.  Failed library calls raise OSError with errno set, built as
 * OSError(errno, message) does, so that ETIMEDOUT is a TimeoutError,
 * ENOENT a FileNotFoundError, and so on; ENOBUFS (no free buffer) is
 * bufpool.Exhausted, an OSError subclass.  Using a released or detached
 * Buffer, or a closed pool, raises ValueError, as a closed file does.
 *
 * Fork.  A child shares its parent's handles (the library: same file,
 * same client).  Objects remember the fork generation they were made in;
 * in a child, dropping an inherited Buffer does not release it (it may
 * be the parent's), dropping an inherited Pool does not close it
 * (closing in debug mode would release the parent's quarantine) and
 * dropping an inherited Queue does not close it (that would drop the
 * parent's roles); an explicit release() or close() does what it says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <bufpool.h>

#ifndef BUFPOOL_VERSION
#define BUFPOOL_VERSION "unknown"
#endif

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/* Bulk calls of up to this many buffers keep their pointers on the stack. */
#define BULK_STACK	64

/* Incremented in every child after fork (pthread_atfork). */
static unsigned long fork_gen;

static PyObject *Exhausted;
static PyTypeObject *StatsType, *InfoType, *AuditType, *QueueStatsType;

typedef struct {
	PyObject_HEAD
	struct bufpool *pool;	/* NULL once closed */
	char *base;		/* buffer 0 */
	Py_ssize_t buf_size;
	uint64_t span;		/* from buffer 0 to the end of the last */
	uint32_t buf_count;
	uint32_t stride;	/* buf_size, or buf_size + 64 if spread */
	unsigned int shift;	/* log2(buf_size) if packed, 0 if spread */
	Py_ssize_t exports;	/* buffer-protocol exports of its Buffers */
	Py_ssize_t sleepers;	/* threads in acquire_timeout, GIL released */
	unsigned long fork_gen;
	PyObject *owner;	/* a class pool's Classes, else NULL */
} PoolObject;

enum { BUF_HELD, BUF_RELEASED, BUF_DETACHED };

typedef struct {
	PyObject_HEAD
	PoolObject *pool;
	char *addr;
	uint32_t idx;
	uint32_t state;
	Py_ssize_t exports;
	unsigned long fork_gen;
} BufferObject;

typedef struct {
	PyObject_HEAD
	struct bufpool_classes *set;	/* NULL once closed */
	PyObject *pools;		/* tuple of class Pools, ascending */
	unsigned long fork_gen;
} ClassesObject;

typedef struct {
	PyObject_HEAD
	PoolObject *pool;
	struct bufpool_queue *q;	/* NULL once closed */
	PyObject *name;			/* str */
	unsigned long fork_gen;
} QueueObject;

static PyTypeObject PoolType, BufferType, ClassesType, QueueType;

static void after_fork_child(void)
{
	fork_gen++;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */

/* Raise OSError(err, msg) (its errno subclass), or Exhausted for ENOBUFS. */
static PyObject *raise_errno_msg(int err, const char *msg)
{
	PyObject *type = err == ENOBUFS ? Exhausted : PyExc_OSError;
	PyObject *e = PyObject_CallFunction(type, "is", err, msg);

	if (e) {
		PyErr_SetObject((PyObject *)Py_TYPE(e), e);
		Py_DECREF(e);
	}
	return NULL;
}

static PyObject *raise_errno(int err)
{
	return raise_errno_msg(err, err == ENOBUFS ? "no free buffer in the pool"
						  : strerror(err));
}

static inline struct bufpool *pool_handle(PoolObject *p)
{
	if (likely(p->pool))
		return p->pool;
	PyErr_SetString(PyExc_ValueError, "operation on a closed pool");
	return NULL;
}

/* The buffer is held and its pool open: 0; else ValueError, -1. */
static inline int buffer_usable(BufferObject *b)
{
	if (likely(b->state == BUF_HELD && b->pool->pool))
		return 0;
	if (b->state == BUF_RELEASED)
		PyErr_SetString(PyExc_ValueError, "buffer already released");
	else if (b->state == BUF_DETACHED)
		PyErr_SetString(PyExc_ValueError,
				"buffer detached (or handed off, or enqueued)");
	else
		PyErr_SetString(PyExc_ValueError, "operation on a closed pool");
	return -1;
}

/* As buffer_usable, and no memoryview of it alive: it may be let go. */
static int buffer_may_let_go(BufferObject *b)
{
	if (buffer_usable(b))
		return -1;
	if (unlikely(b->exports)) {
		PyErr_Format(PyExc_BufferError,
			     "buffer %u is exported (%zd memoryview(s) alive): "
			     "release them first (memoryview.release() or a "
			     "with block)", b->idx, b->exports);
		return -1;
	}
	return 0;
}

/* An index of p: 0, or -1 with OSError(EINVAL) or a conversion error. */
static int index_arg(PoolObject *p, PyObject *o, uint32_t *idx)
{
	long long v = PyLong_AsLongLong(o);

	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || v >= (long long)p->buf_count) {
		PyErr_Format(PyExc_ValueError, "index %lld out of range "
			     "[0, %u)", v, p->buf_count);
		return -1;
	}
	*idx = (uint32_t)v;
	return 0;
}

/*
 * A Buffer of p that may be let go (held, no memoryview alive), or an
 * index of p: 0 with *idx, and *bp the Buffer (NULL for an index); -1
 * with an exception set.
 */
static int buf_or_index_arg(PoolObject *p, PyObject *o, uint32_t *idx,
			    BufferObject **bp);

/* Seconds (int, float) or None to nanoseconds for the library. */
static int timeout_arg(PyObject *o, int64_t *ns)
{
	double s;

	if (o == Py_None) {
		*ns = -1;
		return 0;
	}
	s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(s) || s < 0) {
		PyErr_SetString(PyExc_ValueError,
				"timeout must be a non-negative number or None");
		return -1;
	}
	if (s > 9e9) {
		PyErr_SetString(PyExc_OverflowError, "timeout too large");
		return -1;
	}
	*ns = (int64_t)ceil(s * 1e9);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Buffer                                                             */

/*
 * Buffer idx's address, and the index of the buffer that starts at buf
 * (one the library gave out), in either layout.  A packed pool (stride
 * == buf_size, a power of two) shifts, inline: the fast path as before.
 * A spread pool (ABI 1.8: buffer i at i * stride, stride buf_size + 64)
 * asks the library, bufpool_addr() and bufpool_index(), rather than redo
 * bufpool_buf_offset() here: its
 * struct bp_bufmap (uapi/bufpool/layout.h, not an installed header) is
 * the one copy of that arithmetic, which a copy here could drift from,
 * and a call costs nothing next to the interpreter's own.  Only for an
 * open pool, with idx < buf_count.
 */
static inline char *pool_addr(const PoolObject *p, uint32_t idx)
{
	if (likely(p->shift))
		return p->base + ((size_t)idx << p->shift);
	return bufpool_addr(p->pool, idx);
}

static inline uint32_t pool_index(const PoolObject *p, const void *buf)
{
	if (likely(p->shift))
		return (uint32_t)((uint64_t)((const char *)buf - p->base) >>
				  p->shift);
	return (uint32_t)bufpool_index(p->pool, buf);
}

/* A Buffer of p for buffer idx, which starts at addr. */
static PyObject *buffer_make(PoolObject *p, uint32_t idx, char *addr)
{
	BufferObject *b = PyObject_New(BufferObject, &BufferType);

	if (unlikely(!b))
		return NULL;
	Py_INCREF(p);
	b->pool = p;
	b->addr = addr;
	b->idx = idx;
	b->state = BUF_HELD;
	b->exports = 0;
	b->fork_gen = fork_gen;
	return (PyObject *)b;
}

/* A Buffer of p for buffer idx. */
static inline PyObject *buffer_new(PoolObject *p, uint32_t idx)
{
	return buffer_make(p, idx, pool_addr(p, idx));
}

/* A Buffer of p for the buffer the library gave out at buf. */
static inline PyObject *buffer_of(PoolObject *p, void *buf)
{
	return buffer_make(p, pool_index(p, buf), buf);
}

static void Buffer_dealloc(PyObject *self)
{
	BufferObject *b = (BufferObject *)self;
	PoolObject *p = b->pool;

	/* Dropped while held: give it back, but never a parent's. */
	if (b->state == BUF_HELD && p->pool && b->fork_gen == fork_gen)
		bufpool_release_index(p->pool, b->idx);
	Py_DECREF(p);
	PyObject_Free(b);
}

static int Buffer_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
	BufferObject *b = (BufferObject *)self;

	if (buffer_usable(b)) {
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, self, b->addr, b->pool->buf_size, 0,
			      flags))
		return -1;
	b->exports++;
	b->pool->exports++;
	return 0;
}

static void Buffer_releasebuffer(PyObject *self, Py_buffer *view)
{
	BufferObject *b = (BufferObject *)self;

	(void)view;
	b->exports--;
	b->pool->exports--;
}

static PyBufferProcs Buffer_as_buffer = {
	.bf_getbuffer = Buffer_getbuffer,
	.bf_releasebuffer = Buffer_releasebuffer,
};

static PyObject *Buffer_release(PyObject *self, PyObject *unused)
{
	BufferObject *b = (BufferObject *)self;

	(void)unused;
	if (unlikely(buffer_may_let_go(b)))
		return NULL;
	if (unlikely(bufpool_release_index(b->pool->pool, b->idx))) {
		int err = errno;

		/* Not this handle's any more (released by index, say). */
		if (err == EINVAL)
			b->state = BUF_RELEASED;
		return raise_errno(err);
	}
	b->state = BUF_RELEASED;
	Py_RETURN_NONE;
}

static PyObject *Buffer_detach(PyObject *self, PyObject *unused)
{
	BufferObject *b = (BufferObject *)self;

	(void)unused;
	if (buffer_may_let_go(b))
		return NULL;
	b->state = BUF_DETACHED;
	return PyLong_FromUnsignedLong(b->idx);
}

static PyObject *Buffer_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	Py_INCREF(self);
	return self;
}

static PyObject *Buffer_exit(PyObject *self, PyObject *const *args,
			     Py_ssize_t nargs)
{
	(void)args;
	(void)nargs;
	/* Released, detached or handed off in the block: nothing to do. */
	if (((BufferObject *)self)->state != BUF_HELD)
		Py_RETURN_NONE;
	return Buffer_release(self, NULL);
}

static Py_ssize_t Buffer_len(PyObject *self)
{
	return ((BufferObject *)self)->pool->buf_size;
}

static PyObject *Buffer_get_index(PyObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(((BufferObject *)self)->idx);
}

static PyObject *Buffer_get_pool(PyObject *self, void *closure)
{
	PyObject *p = (PyObject *)((BufferObject *)self)->pool;

	(void)closure;
	Py_INCREF(p);
	return p;
}

static PyObject *Buffer_get_held(PyObject *self, void *closure)
{
	BufferObject *b = (BufferObject *)self;

	(void)closure;
	return PyBool_FromLong(b->state == BUF_HELD && b->pool->pool);
}

static PyObject *Buffer_repr(PyObject *self)
{
	BufferObject *b = (BufferObject *)self;
	static const char *const states[] = { "held", "released", "detached" };

	return PyUnicode_FromFormat("<bufpool.Buffer index=%u size=%zd %s%s>",
				    b->idx, b->pool->buf_size, states[b->state],
				    b->pool->pool ? "" : ", pool closed");
}

static PyMethodDef Buffer_methods[] = {
	{ "release", Buffer_release, METH_NOARGS,
	  "release()\n--\n\nGive the buffer back to the pool.  ValueError if "
	  "already released or detached, BufferError while a memoryview of it "
	  "lives, OSError(EINVAL) if this handle no longer holds it." },
	{ "detach", Buffer_detach, METH_NOARGS,
	  "detach()\n--\n\nForget the buffer without releasing it; return its "
	  "index, which this handle still holds (release_index, handoff, "
	  "buffer_at take it from there)." },
	{ "__enter__", Buffer_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)(void (*)(void))Buffer_exit, METH_FASTCALL,
	  NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Buffer_getset[] = {
	{ "index", Buffer_get_index, NULL,
	  "The buffer's index in the pool, the same in every process.", NULL },
	{ "pool", Buffer_get_pool, NULL, "The Pool the buffer belongs to.",
	  NULL },
	{ "held", Buffer_get_held, NULL,
	  "True while the buffer is held (not released, detached or handed "
	  "off) and its pool open.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PySequenceMethods Buffer_as_sequence = {
	.sq_length = Buffer_len,
};

static PyTypeObject BufferType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bufpool.Buffer",
	.tp_basicsize = sizeof(BufferObject),
	.tp_dealloc = Buffer_dealloc,
	.tp_repr = Buffer_repr,
	.tp_as_sequence = &Buffer_as_sequence,
	.tp_as_buffer = &Buffer_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A buffer held through a Pool: memoryview(buf) is its memory "
		  "(writable, buf_size bytes, no copy).  Made by Pool.acquire "
		  "and its kin, never directly.  Released by release(), at the "
		  "end of a with block, or when dropped.",
	.tp_methods = Buffer_methods,
	.tp_getset = Buffer_getset,
};

/* ------------------------------------------------------------------ */
/* Pool                                                               */

static void pool_bind(PoolObject *p, struct bufpool *h)
{
	struct bufpool_info in;

	p->pool = h;
	p->base = bufpool_addr(h, 0);
	p->buf_size = (Py_ssize_t)bufpool_buf_size(h);
	p->buf_count = bufpool_buf_count(h);
	p->stride = bufpool_get_info(h, &in) ? 0 : in.buf_stride;
	/*
	 * Spread (1.8) when the stride is not the size: no shift then, and
	 * none either should the info not be had (never, on an open
	 * handle): the library's path is right for both layouts.
	 */
	p->shift = p->stride == (uint32_t)p->buf_size ?
		   (unsigned int)__builtin_ctzl(bufpool_buf_size(h)) : 0;
	p->span = (uint64_t)((char *)bufpool_addr(h, p->buf_count - 1) -
			     p->base) +
		  (uint64_t)p->buf_size;
	p->exports = 0;
	p->sleepers = 0;
	p->fork_gen = fork_gen;
	p->owner = NULL;
}

/* A Pool object for handle h (closed if no object can be made). */
static PyObject *pool_wrap(PyTypeObject *type, struct bufpool *h,
			   PyObject *owner)
{
	PoolObject *p = (PoolObject *)type->tp_alloc(type, 0);

	if (!p) {
		if (!owner)
			bufpool_close(h);
		return NULL;
	}
	pool_bind(p, h);
	Py_XINCREF(owner);
	p->owner = owner;
	return (PyObject *)p;
}

static PyObject *Pool_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "path", NULL };
	PyObject *path = Py_None, *bytes = NULL;
	struct bufpool *h;
	const char *cpath;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Pool", kwlist, &path))
		return NULL;
	if (path != Py_None && !PyUnicode_FSConverter(path, &bytes))
		return NULL;
	cpath = bytes ? PyBytes_AS_STRING(bytes) : NULL;
	Py_BEGIN_ALLOW_THREADS
	h = bufpool_open(cpath);
	err = errno;
	Py_END_ALLOW_THREADS
	if (!h) {
		if (bytes) {
			errno = err;
			PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
		} else {
			raise_errno(err);
		}
		Py_XDECREF(bytes);
		return NULL;
	}
	Py_XDECREF(bytes);
	return pool_wrap(type, h, NULL);
}

/* An optional count argument: None is 0 (the library's default). */
static int count_arg(PyObject *o, const char *name, uint64_t max,
		     uint64_t *out)
{
	unsigned long long v;

	if (o == Py_None) {
		*out = 0;
		return 0;
	}
	if (!PyLong_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int or None", name);
		return -1;
	}
	v = PyLong_AsUnsignedLongLong(o);
	if (v == (unsigned long long)-1 && PyErr_Occurred())
		return -1;
	if (v > max) {
		PyErr_Format(PyExc_OverflowError, "%s too large", name);
		return -1;
	}
	*out = v;
	return 0;
}

static PyObject *Pool_create(PyObject *cls, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "buf_size", "buf_count", "caches", "hugetlb",
				  "mag_size", "spread", "rotate", NULL };
	PyObject *size_o = Py_None, *count_o = Py_None, *caches_o = Py_None;
	PyObject *mag_o = Py_None;
	struct bufpool_params prm = { 0 };
	uint64_t size, count, caches, mag;
	int hugetlb = 1, spread = 0, rotate = 0, err;
	struct bufpool *h;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOpOpp:create",
					 kwlist, &size_o, &count_o, &caches_o,
					 &hugetlb, &mag_o, &spread, &rotate))
		return NULL;
	if (count_arg(size_o, "buf_size", SIZE_MAX, &size) ||
	    count_arg(count_o, "buf_count", UINT32_MAX, &count) ||
	    count_arg(caches_o, "caches", UINT32_MAX, &caches) ||
	    count_arg(mag_o, "mag_size", UINT32_MAX, &mag))
		return NULL;
	prm.buf_size = (size_t)size;
	prm.buf_count = (uint32_t)count;
	prm.caches = (uint32_t)caches;
	/* caches=0 is no caches; None is the library's default. */
	if (caches_o != Py_None && caches == 0)
		prm.flags |= BUFPOOL_F_NO_CACHE;
	/*
	 * mag_size (1.6): None or 0 is the library's default; the library
	 * checks the bounds (EINVAL).
	 */
	if (mag) {
		prm.flags |= BUFPOOL_F_MAG_SIZE;
		prm.mag_size = (uint32_t)mag;
	}
	if (!hugetlb)
		prm.flags |= BUFPOOL_F_NO_HUGETLB;
	/* 1.8; the library refuses 2 MiB buffers spread (EINVAL). */
	if (spread)
		prm.flags |= BUFPOOL_F_SPREAD;
	/* 1.9: the depot's two full stacks take turns. */
	if (rotate)
		prm.flags |= BUFPOOL_F_ROTATE;
	Py_BEGIN_ALLOW_THREADS
	h = bufpool_create(&prm);
	err = errno;
	Py_END_ALLOW_THREADS
	if (!h)
		return raise_errno(err);
	return pool_wrap((PyTypeObject *)cls, h, NULL);
}

static PyObject *Pool_open_fd(PyObject *cls, PyObject *arg)
{
	struct bufpool *h;
	int fd, err;

	fd = PyObject_AsFileDescriptor(arg);
	if (fd < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	h = bufpool_open_fd(fd);
	err = errno;
	Py_END_ALLOW_THREADS
	if (!h)
		return raise_errno(err);
	return pool_wrap((PyTypeObject *)cls, h, NULL);
}

/* Whether the pool may be unmapped now: nothing exported, nobody asleep. */
static int pool_may_close(PoolObject *p)
{
	if (p->exports) {
		PyErr_Format(PyExc_BufferError,
			     "%zd buffer export(s) of the pool alive (memoryviews "
			     "of its Buffers): release them before closing",
			     p->exports);
		return -1;
	}
	if (p->sleepers) {
		raise_errno_msg(EBUSY, "a thread sleeps in acquire_timeout on "
				"this pool");
		return -1;
	}
	return 0;
}

static PyObject *Pool_close(PyObject *self, PyObject *unused)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = p->pool;

	(void)unused;
	if (!h)
		Py_RETURN_NONE;
	if (p->owner) {
		PyErr_SetString(PyExc_ValueError, "a pool of a Classes set: "
				"close the Classes");
		return NULL;
	}
	if (pool_may_close(p))
		return NULL;
	p->pool = NULL;
	Py_BEGIN_ALLOW_THREADS
	bufpool_close(h);
	Py_END_ALLOW_THREADS
	Py_RETURN_NONE;
}

static PyObject *Pool_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (!pool_handle((PoolObject *)self))
		return NULL;
	Py_INCREF(self);
	return self;
}

static PyObject *Pool_exit(PyObject *self, PyObject *const *args,
			   Py_ssize_t nargs)
{
	(void)args;
	(void)nargs;
	return Pool_close(self, NULL);
}

static int Pool_traverse(PyObject *self, visitproc visit, void *arg)
{
	Py_VISIT(((PoolObject *)self)->owner);
	return 0;
}

static void Pool_dealloc(PyObject *self)
{
	PoolObject *p = (PoolObject *)self;

	PyObject_GC_UnTrack(self);
	/* A class pool is its Classes'; an inherited one stays mapped. */
	if (p->pool && !p->owner && p->fork_gen == fork_gen)
		bufpool_close(p->pool);
	p->pool = NULL;
	Py_CLEAR(p->owner);
	Py_TYPE(self)->tp_free(self);
}

static PyObject *Pool_acquire(PyObject *self, PyObject *unused)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	PyObject *b;
	char *buf;

	(void)unused;
	if (unlikely(!h))
		return NULL;
	buf = bufpool_acquire(h);
	if (unlikely(!buf))
		return raise_errno(errno);
	b = buffer_of(p, buf);
	if (unlikely(!b))
		bufpool_release(h, buf);
	return b;
}

static PyObject *Pool_acquire_index(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);
	uint32_t idx;

	(void)unused;
	if (unlikely(!h))
		return NULL;
	if (unlikely(bufpool_acquire_index(h, &idx)))
		return raise_errno(errno);
	return PyLong_FromUnsignedLong(idx);
}

static PyObject *Pool_release_index(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	uint32_t idx;

	if (unlikely(!h) || index_arg(p, arg, &idx))
		return NULL;
	if (unlikely(bufpool_release_index(h, idx)))
		return raise_errno(errno);
	Py_RETURN_NONE;
}

static PyObject *Pool_acquire_timeout(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	int64_t timeout, deadline, left;
	PyObject *b;
	char *buf;
	int err;

	if (!h || timeout_arg(arg, &timeout))
		return NULL;
	/* Without sleeping when a buffer is free. */
	buf = bufpool_acquire(h);
	err = buf ? 0 : errno;
	if (!buf && err == ENOBUFS && timeout != 0) {
		deadline = timeout > 0 ? now_ns() + timeout : 0;
		left = timeout;
		Py_INCREF(self);	/* close() refuses while we sleep */
		for (;;) {
			p->sleepers++;
			Py_BEGIN_ALLOW_THREADS
			buf = bufpool_acquire_timeout(h, left);
			err = buf ? 0 : errno;
			Py_END_ALLOW_THREADS
			p->sleepers--;
			if (buf || err != EINTR)
				break;
			/* A signal: run its handler (PEP 475), go on. */
			if (PyErr_CheckSignals())
				break;
			if (timeout > 0) {
				left = deadline - now_ns();
				if (left <= 0)
					left = 1;	/* one last try */
			}
		}
		Py_DECREF(self);
		if (!buf && err == EINTR)
			return NULL;	/* the handler raised */
	}
	if (!buf)
		return raise_errno(err);
	b = buffer_of(p, buf);
	if (!b)
		bufpool_release(h, buf);
	return b;
}

/*
 * What Pool.acquire_bulk and Queue.dequeue_bulk share: up to arg (a
 * count, at most the pool's buffers) taken by take(ctx, bufs, n), then
 * wrapped as Buffers of p.  On any failure what was taken and not
 * wrapped goes back to the pool (the wrapped ones when the list goes).
 */
static PyObject *bulk_take(PoolObject *p, struct bufpool *h, PyObject *arg,
			   unsigned int (*take)(void *ctx, void **bufs,
						unsigned int n),
			   void *ctx)
{
	void *stack[BULK_STACK], **bufs = stack;
	PyObject *list = NULL, *b;
	unsigned int got, i;
	Py_ssize_t n;

	n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (n < 0) {
		PyErr_SetString(PyExc_ValueError, "negative count");
		return NULL;
	}
	if (n == 0)
		return PyList_New(0);
	if (n > (Py_ssize_t)p->buf_count)
		n = p->buf_count;
	if (n > BULK_STACK) {
		bufs = PyMem_New(void *, (size_t)n);
		if (!bufs)
			return PyErr_NoMemory();
	}
	got = take(ctx, bufs, (unsigned int)n);
	if (!got) {
		raise_errno(errno);
		goto out;
	}
	list = PyList_New(got);
	for (i = 0; list && i < got; i++) {
		b = buffer_of(p, bufs[i]);
		if (!b) {
			/* Those wrapped go back when the list is dropped. */
			bufpool_release_bulk(h, bufs + i, got - i);
			Py_CLEAR(list);
			goto out;
		}
		PyList_SET_ITEM(list, i, b);
	}
	if (!list)
		bufpool_release_bulk(h, bufs, got);
out:
	if (bufs != stack)
		PyMem_Free(bufs);
	return list;
}

static unsigned int take_acquire(void *ctx, void **bufs, unsigned int n)
{
	return bufpool_acquire_bulk(ctx, bufs, n);
}

static PyObject *Pool_acquire_bulk(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);

	if (!h)
		return NULL;
	return bulk_take(p, h, arg, take_acquire, h);
}

static PyObject *Pool_release_bulk(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	void *stack[BULK_STACK], **bufs = stack;
	PyObject *seq, **items, *ret = NULL;
	BufferObject *b;
	Py_ssize_t n, i;
	int err = 0;

	if (!h)
		return NULL;
	seq = PySequence_Fast(arg, "release_bulk() takes a sequence of Buffers");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	items = PySequence_Fast_ITEMS(seq);
	if (n > UINT32_MAX) {
		PyErr_SetString(PyExc_OverflowError, "too many buffers");
		goto out;
	}
	/* All or nothing: every item is checked before any is released. */
	for (i = 0; i < n; i++) {
		if (!PyObject_TypeCheck(items[i], &BufferType)) {
			PyErr_Format(PyExc_TypeError, "release_bulk(): item %zd "
				     "is not a Buffer", i);
			goto out;
		}
		b = (BufferObject *)items[i];
		if (b->pool != p) {
			PyErr_Format(PyExc_ValueError, "release_bulk(): item %zd "
				     "is a Buffer of another pool", i);
			goto out;
		}
		if (buffer_may_let_go(b))
			goto out;
	}
	if (n > BULK_STACK) {
		bufs = PyMem_New(void *, (size_t)n);
		if (!bufs) {
			PyErr_NoMemory();
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		bufs[i] = ((BufferObject *)items[i])->addr;
	if (bufpool_release_bulk(h, bufs, (unsigned int)n)) {
		/*
		 * It stopped at a buffer this handle does not hold (given back
		 * by index, or twice in the list), the ones before it given
		 * back.  Finish one by one: what was given back answers
		 * EINVAL, as does what was never ours.
		 */
		err = errno;
		for (i = 0; i < n; i++) {
			b = (BufferObject *)items[i];
			if (bufpool_release_index(h, b->idx) && errno != EINVAL)
				continue;	/* still held */
			b->state = BUF_RELEASED;
		}
		raise_errno_msg(err, err == EINVAL ? "release_bulk(): a Buffer "
				"this handle does not hold (the others were "
				"released)" : strerror(err));
		goto out;
	}
	for (i = 0; i < n; i++)
		((BufferObject *)items[i])->state = BUF_RELEASED;
	Py_INCREF(Py_None);
	ret = Py_None;
out:
	if (bufs != stack)
		PyMem_Free(bufs);
	Py_DECREF(seq);
	return ret;
}

static PyObject *Pool_buffer_at(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	uint32_t idx;

	if (!pool_handle(p) || index_arg(p, arg, &idx))
		return NULL;
	return buffer_new(p, idx);
}

static int buf_or_index_arg(PoolObject *p, PyObject *o, uint32_t *idx,
			    BufferObject **bp)
{
	BufferObject *b;

	*bp = NULL;
	if (!PyObject_TypeCheck(o, &BufferType))
		return index_arg(p, o, idx);
	b = (BufferObject *)o;
	if (b->pool != p) {
		PyErr_SetString(PyExc_ValueError, "a Buffer of another pool");
		return -1;
	}
	if (buffer_may_let_go(b))
		return -1;
	*idx = b->idx;
	*bp = b;
	return 0;
}

static PyObject *Pool_handoff(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	BufferObject *b;
	uint32_t idx;

	if (!h || buf_or_index_arg(p, arg, &idx, &b))
		return NULL;
	if (bufpool_handoff(h, idx))
		return raise_errno(errno);
	if (b)
		b->state = BUF_DETACHED;
	return PyLong_FromUnsignedLong(idx);
}

static PyObject *Pool_handoff_to(PyObject *self, PyObject *const *args,
				 Py_ssize_t nargs)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	unsigned long long receiver;
	BufferObject *b;
	uint32_t idx;

	if (!h)
		return NULL;
	if (nargs != 2) {
		PyErr_Format(PyExc_TypeError, "handoff_to() takes 2 arguments "
			     "(%zd given)", nargs);
		return NULL;
	}
	if (!PyLong_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "receiver must be an int");
		return NULL;
	}
	receiver = PyLong_AsUnsignedLongLong(args[1]);
	if (receiver == (unsigned long long)-1 && PyErr_Occurred()) {
		/* A negative id is no client's: as the library's EINVAL. */
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return NULL;
		PyErr_Clear();
		receiver = UINT32_MAX;
	}
	if (receiver > UINT32_MAX)
		receiver = UINT32_MAX;
	if (buf_or_index_arg(p, args[0], &idx, &b))
		return NULL;
	if (bufpool_handoff_to(h, idx, (uint32_t)receiver))
		return raise_errno(errno);	/* ESRCH: still held */
	if (b)
		b->state = BUF_DETACHED;
	return PyLong_FromUnsignedLong(idx);
}

static PyObject *Pool_adopt(PyObject *self, PyObject *arg)
{
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	PyObject *b;
	uint32_t idx;

	if (!h || index_arg(p, arg, &idx))
		return NULL;
	if (bufpool_adopt(h, idx))
		return raise_errno(errno);
	b = buffer_new(p, idx);
	if (!b)
		bufpool_handoff(h, idx);	/* back in transit */
	return b;
}

static PyObject *Pool_flush_cache(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);

	(void)unused;
	if (!h)
		return NULL;
	bufpool_flush_cache(h);
	Py_RETURN_NONE;
}

/* A struct sequence of n unsigned 64-bit values. */
static PyObject *structseq_u64(PyTypeObject *type, const uint64_t *v, int n)
{
	PyObject *r = PyStructSequence_New(type), *x;
	int i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		x = PyLong_FromUnsignedLongLong(v[i]);
		if (!x) {
			Py_DECREF(r);
			return NULL;
		}
		PyStructSequence_SET_ITEM(r, i, x);
	}
	return r;
}

static PyObject *Pool_stats(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);
	struct bufpool_stats st;

	(void)unused;
	if (!h)
		return NULL;
	if (bufpool_stats(h, &st))
		return raise_errno(errno);
	{
		const uint64_t v[] = { st.total, st.free, st.in_use,
			st.high_watermark, st.acquires, st.releases,
			st.exhausted, st.reclaimed, st.waiters, st.detected,
			st.repairs, st.shared_acquires, st.shared_releases };

		return structseq_u64(StatsType, v, (int)(sizeof(v) / sizeof(v[0])));
	}
}

static PyObject *Pool_info(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);
	struct bufpool_info in;
	PyObject *r;

	(void)unused;
	if (!h)
		return NULL;
	memset(&in, 0, sizeof(in));
	if (bufpool_get_info(h, &in))
		return raise_errno(errno);
	{
		const uint64_t v[] = { in.abi_version, in.flags, in.buf_shift,
			in.buf_size, in.buf_count, 0, in.pool_bytes,
			in.ctrl_offset, in.ctrl_size, in.next_offset,
			in.bufs_offset, in.bufs_size, in.generation,
			in.mag_fill, in.nr_mags, in.nr_caches,
			in.mag_next_offset, in.mags_offset, in.caches_offset,
			in.own_offset, in.client_id, in.nr_queues,
			in.queue_len, in.queues_offset, in.qslots_offset,
			in.live_offset, in.buf_stride, in.depot_flags };

		r = structseq_u64(InfoType, v, (int)(sizeof(v) / sizeof(v[0])));
	}
	if (r) {
		/* numa_node is signed: -1 for any node. */
		PyObject *node = PyLong_FromLong(in.numa_node);

		if (!node) {
			Py_DECREF(r);
			return NULL;
		}
		Py_DECREF(PyStructSequence_GET_ITEM(r, 5));
		PyStructSequence_SET_ITEM(r, 5, node);
	}
	return r;
}

static PyObject *Pool_audit(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);
	struct bufpool_audit a;
	int r, err;

	(void)unused;
	if (!h)
		return NULL;
	memset(&a, 0, sizeof(a));
	/* The kernel walks the whole pool: let other threads run. */
	Py_BEGIN_ALLOW_THREADS
	r = bufpool_audit(h, &a);
	err = errno;
	Py_END_ALLOW_THREADS
	if (r)
		return raise_errno(err);
	{
		const uint64_t v[] = { a.clients, a.buf_count, a.free, a.cached,
			a.held, a.transit, a.reclaimed, a.repaired, a.legacy,
			a.generation, a.queued, a.queues };

		return structseq_u64(AuditType, v, (int)(sizeof(v) / sizeof(v[0])));
	}
}

static PyObject *Pool_repair(PyObject *self, PyObject *unused)
{
	struct bufpool *h = pool_handle((PoolObject *)self);
	int r, err;

	(void)unused;
	if (!h)
		return NULL;
	/* It may wait for its turn (repair_interval_ms): let threads run. */
	Py_BEGIN_ALLOW_THREADS
	r = bufpool_repair(h);
	err = errno;
	Py_END_ALLOW_THREADS
	if (r)
		return raise_errno(err);
	Py_RETURN_NONE;
}

static PyObject *Pool_get_fd(PyObject *self, void *closure)
{
	struct bufpool *h = pool_handle((PoolObject *)self);

	(void)closure;
	return h ? PyLong_FromLong(bufpool_fd(h)) : NULL;
}

static PyObject *Pool_get_client_id(PyObject *self, void *closure)
{
	struct bufpool *h = pool_handle((PoolObject *)self);

	(void)closure;
	return h ? PyLong_FromUnsignedLong(bufpool_client_id(h)) : NULL;
}

static PyObject *Pool_get_buf_size(PyObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromSsize_t(((PoolObject *)self)->buf_size);
}

static PyObject *Pool_get_buf_stride(PyObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(((PoolObject *)self)->stride);
}

static PyObject *Pool_get_buf_count(PyObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(((PoolObject *)self)->buf_count);
}

static PyObject *Pool_get_closed(PyObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(((PoolObject *)self)->pool == NULL);
}

static PyObject *Pool_repr(PyObject *self)
{
	PoolObject *p = (PoolObject *)self;

	if (!p->pool)
		return PyUnicode_FromFormat("<bufpool.Pool closed>");
	return PyUnicode_FromFormat("<bufpool.Pool fd=%d buf_size=%zd "
				    "buf_count=%u>", bufpool_fd(p->pool),
				    p->buf_size, p->buf_count);
}

#define METH_CALLABLE(f) ((PyCFunction)(void (*)(void))(f))

/* ------------------------------------------------------------------ */
/* Queue                                                              */

/* The open queue: its handle, or NULL with ValueError. */
static inline struct bufpool_queue *queue_handle(QueueObject *q)
{
	if (likely(q->q && q->pool->pool))
		return q->q;
	PyErr_SetString(PyExc_ValueError, q->q ? "operation on a queue of "
			"a closed pool" : "operation on a closed queue");
	return NULL;
}

static PyObject *Pool_queue(PyObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "name", "create", "exclusive", "capacity",
				  "single_producer", "produce", "consume",
				  NULL };
	PoolObject *p = (PoolObject *)self;
	struct bufpool *h = pool_handle(p);
	int create = 0, excl = 0, sp = 0, produce = 0, consume = 0;
	PyObject *name, *cap_o = Py_None;
	struct bufpool_queue *raw;
	unsigned int flags = 0;
	const char *cname;
	QueueObject *q;
	Py_ssize_t len;
	uint64_t cap;

	if (!h)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|$ppOppp:queue", kwlist,
					 &name, &create, &excl, &cap_o, &sp,
					 &produce, &consume))
		return NULL;
	if (count_arg(cap_o, "capacity", UINT32_MAX, &cap))
		return NULL;
	cname = PyUnicode_AsUTF8AndSize(name, &len);
	if (!cname)
		return NULL;
	/* A NUL inside would cut the name short: a bad name. */
	if ((size_t)len != strlen(cname))
		return raise_errno_msg(EINVAL, "a queue name with a NUL byte");
	flags |= create ? BUFPOOL_QUEUE_CREATE : 0;
	flags |= excl ? BUFPOOL_QUEUE_EXCL : 0;
	flags |= sp ? BUFPOOL_QUEUE_SINGLE_PRODUCER : 0;
	flags |= produce ? BUFPOOL_QUEUE_PRODUCE : 0;
	flags |= consume ? BUFPOOL_QUEUE_CONSUME : 0;
	raw = bufpool_queue_open(h, cname, flags, (uint32_t)cap);
	if (!raw)
		return raise_errno(errno);
	q = PyObject_New(QueueObject, &QueueType);
	if (!q) {
		bufpool_queue_close(raw);
		return NULL;
	}
	Py_INCREF(p);
	q->pool = p;
	q->q = raw;
	Py_INCREF(name);
	q->name = name;
	q->fork_gen = fork_gen;
	return (PyObject *)q;
}

static void Queue_dealloc(PyObject *self)
{
	QueueObject *q = (QueueObject *)self;

	/* Its pool closed: so was the queue.  Never close a parent's. */
	if (q->q && q->pool && q->pool->pool && q->fork_gen == fork_gen)
		bufpool_queue_close(q->q);
	Py_XDECREF(q->pool);
	Py_XDECREF(q->name);
	PyObject_Free(q);
}

static PyObject *Queue_close(PyObject *self, PyObject *unused)
{
	QueueObject *q = (QueueObject *)self;
	struct bufpool_queue *raw = q->q;

	(void)unused;
	q->q = NULL;
	/* Closed already, or with its pool. */
	if (!raw || !q->pool->pool)
		Py_RETURN_NONE;
	if (bufpool_queue_close(raw))
		return raise_errno(errno);
	Py_RETURN_NONE;
}

static PyObject *Queue_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (!queue_handle((QueueObject *)self))
		return NULL;
	Py_INCREF(self);
	return self;
}

static PyObject *Queue_exit(PyObject *self, PyObject *const *args,
			    Py_ssize_t nargs)
{
	(void)args;
	(void)nargs;
	return Queue_close(self, NULL);
}

static PyObject *Queue_enqueue(PyObject *self, PyObject *arg)
{
	QueueObject *q = (QueueObject *)self;
	struct bufpool_queue *raw = queue_handle(q);
	BufferObject *b;
	uint32_t idx;

	if (unlikely(!raw) || buf_or_index_arg(q->pool, arg, &idx, &b))
		return NULL;
	if (unlikely(bufpool_enqueue_index(raw, idx))) {
		int err = errno;

		/* Still held: the Buffer answers for it as before. */
		return raise_errno_msg(err, err == ENOBUFS ? "the queue is full"
				       : strerror(err));
	}
	if (b)
		b->state = BUF_DETACHED;
	Py_RETURN_NONE;
}

static PyObject *Queue_dequeue(PyObject *self, PyObject *unused)
{
	QueueObject *q = (QueueObject *)self;
	struct bufpool_queue *raw = queue_handle(q);
	PyObject *b;
	uint32_t idx;

	(void)unused;
	if (unlikely(!raw))
		return NULL;
	if (unlikely(bufpool_dequeue_index(raw, &idx)))
		return raise_errno(errno);
	b = buffer_new(q->pool, idx);
	if (unlikely(!b))
		bufpool_release_index(q->pool->pool, idx);
	return b;
}

static PyObject *Queue_dequeue_index(PyObject *self, PyObject *unused)
{
	struct bufpool_queue *raw = queue_handle((QueueObject *)self);
	uint32_t idx;

	(void)unused;
	if (unlikely(!raw))
		return NULL;
	if (unlikely(bufpool_dequeue_index(raw, &idx)))
		return raise_errno(errno);
	return PyLong_FromUnsignedLong(idx);
}

static PyObject *Queue_enqueue_bulk(PyObject *self, PyObject *arg)
{
	QueueObject *q = (QueueObject *)self;
	struct bufpool_queue *raw = queue_handle(q);
	void *stack[BULK_STACK], **bufs = stack;
	BufferObject *bstack[BULK_STACK], **bobj = bstack;
	PyObject *seq, **items, *ret = NULL;
	PoolObject *p = q->pool;
	Py_ssize_t n, i;
	unsigned int moved;
	uint32_t idx;

	if (!raw)
		return NULL;
	seq = PySequence_Fast(arg, "enqueue_bulk() takes a sequence of "
			      "Buffers or indices");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	items = PySequence_Fast_ITEMS(seq);
	if (n > UINT32_MAX) {
		PyErr_SetString(PyExc_OverflowError, "too many buffers");
		goto out;
	}
	if (n == 0) {
		ret = PyLong_FromLong(0);
		goto out;
	}
	if (n > BULK_STACK) {
		bufs = PyMem_New(void *, (size_t)n);
		bobj = PyMem_New(BufferObject *, (size_t)n);
		if (!bufs || !bobj) {
			PyErr_NoMemory();
			goto out;
		}
	}
	/* Every item is checked before any moves. */
	for (i = 0; i < n; i++) {
		if (buf_or_index_arg(p, items[i], &idx, &bobj[i]))
			goto out;
		bufs[i] = pool_addr(p, idx);
	}
	moved = bufpool_enqueue_bulk(raw, bufs, (unsigned int)n);
	if (!moved) {
		int err = errno;

		raise_errno_msg(err, err == ENOBUFS ? "the queue is full"
				: strerror(err));
		goto out;
	}
	for (i = 0; i < (Py_ssize_t)moved; i++)
		if (bobj[i])
			bobj[i]->state = BUF_DETACHED;
	ret = PyLong_FromUnsignedLong(moved);
out:
	if (bufs != stack)
		PyMem_Free(bufs);
	if (bobj != bstack)
		PyMem_Free(bobj);
	Py_DECREF(seq);
	return ret;
}

static unsigned int take_dequeue(void *ctx, void **bufs, unsigned int n)
{
	return bufpool_dequeue_bulk(ctx, bufs, n);
}

static PyObject *Queue_dequeue_bulk(PyObject *self, PyObject *arg)
{
	QueueObject *q = (QueueObject *)self;
	struct bufpool_queue *raw = queue_handle(q);

	if (!raw)
		return NULL;
	return bulk_take(q->pool, q->pool->pool, arg, take_dequeue, raw);
}

static PyObject *Queue_stats(PyObject *self, PyObject *unused)
{
	struct bufpool_queue *raw = queue_handle((QueueObject *)self);
	struct bufpool_queue_stats st;

	(void)unused;
	if (!raw)
		return NULL;
	if (bufpool_queue_stats(raw, &st))
		return raise_errno(errno);
	{
		const uint64_t v[] = { st.capacity, st.depth, st.enqueued,
			st.dequeued, st.full, st.high_watermark, st.consumer };

		return structseq_u64(QueueStatsType, v,
				     (int)(sizeof(v) / sizeof(v[0])));
	}
}

static PyObject *Queue_get_name(PyObject *self, void *closure)
{
	PyObject *n = ((QueueObject *)self)->name;

	(void)closure;
	Py_INCREF(n);
	return n;
}

static PyObject *Queue_get_pool(PyObject *self, void *closure)
{
	PyObject *p = (PyObject *)((QueueObject *)self)->pool;

	(void)closure;
	Py_INCREF(p);
	return p;
}

static PyObject *Queue_get_closed(PyObject *self, void *closure)
{
	QueueObject *q = (QueueObject *)self;

	(void)closure;
	return PyBool_FromLong(!q->q || !q->pool->pool);
}

static PyObject *Queue_repr(PyObject *self)
{
	QueueObject *q = (QueueObject *)self;

	return PyUnicode_FromFormat("<bufpool.Queue %R%s>", q->name,
				    q->q && q->pool->pool ? "" : " closed");
}

static PyMethodDef Queue_methods[] = {
	{ "enqueue", Queue_enqueue, METH_O,
	  "enqueue(buf_or_idx)\n--\n\nMove a buffer this handle holds (a "
	  "Buffer, which is detached, or an index) to the queue's tail.  "
	  "Exhausted (errno ENOBUFS) when the queue is full, "
	  "PermissionError (EPERM) when not opened with produce=True, "
	  "BlockingIOError (EAGAIN) when it lost a race with other "
	  "producers many times over, OSError(EINVAL) when this handle does "
	  "not hold it; on every error the buffer is still held." },
	{ "dequeue", Queue_dequeue, METH_NOARGS,
	  "dequeue()\n--\n\nTake the buffer at the queue's head: a Buffer "
	  "this handle holds.  BlockingIOError (errno EAGAIN) when the queue "
	  "is empty, PermissionError (EPERM) when this handle is not its "
	  "consumer." },
	{ "dequeue_index", Queue_dequeue_index, METH_NOARGS,
	  "dequeue_index()\n--\n\nAs dequeue, and return the index (no "
	  "Buffer object: release_index or buffer_at take it from there)." },
	{ "enqueue_bulk", Queue_enqueue_bulk, METH_O,
	  "enqueue_bulk(items)\n--\n\nEnqueue a sequence of Buffers and "
	  "indices in order, stopping at the first that cannot go (the queue "
	  "is full): how many went (those Buffers are detached).  Every "
	  "item is checked first (ValueError: none moved); the errors of "
	  "enqueue when none went." },
	{ "dequeue_bulk", Queue_dequeue_bulk, METH_O,
	  "dequeue_bulk(n)\n--\n\nTake up to n buffers, oldest first: a list "
	  "of Buffers, shorter when fewer are queued; BlockingIOError when "
	  "none is." },
	{ "stats", Queue_stats, METH_NOARGS,
	  "stats()\n--\n\nThe queue's statistics, a bufpool.QueueStats named "
	  "tuple (no system call)." },
	{ "close", Queue_close, METH_NOARGS,
	  "close()\n--\n\nStop using the queue (drops this handle's roles); "
	  "when its last user closes it, what it holds goes back to the "
	  "pool.  Closing twice, or after the pool, is allowed." },
	{ "__enter__", Queue_enter, METH_NOARGS, NULL },
	{ "__exit__", METH_CALLABLE(Queue_exit), METH_FASTCALL, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Queue_getset[] = {
	{ "name", Queue_get_name, NULL, "The queue's name.", NULL },
	{ "pool", Queue_get_pool, NULL, "The Pool it was opened on.", NULL },
	{ "closed", Queue_get_closed, NULL,
	  "True once closed (or its pool closed).", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject QueueType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bufpool.Queue",
	.tp_basicsize = sizeof(QueueObject),
	.tp_dealloc = Queue_dealloc,
	.tp_repr = Queue_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A queue of a Pool: a named FIFO of buffers in the pool's "
		  "shared memory, made by Pool.queue, never directly.  Any "
		  "number of producers, one consumer.  Closed by close(), at "
		  "the end of a with block, when dropped, or with its pool.",
	.tp_methods = Queue_methods,
	.tp_getset = Queue_getset,
};

static PyMethodDef Pool_methods[] = {
	{ "create", METH_CALLABLE(Pool_create),
	  METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	  "create(*, buf_size=None, buf_count=None, caches=None, hugetlb=True, "
	  "mag_size=None, spread=False, rotate=False)"
	  "\n--\n\nA new pool without the module, over a memfd "
	  "(bufpool_create).  None: the library's default (2048 B, 4096 "
	  "buffers, 64 caches); caches=0: no per-thread caches; "
	  "hugetlb=False: never hugetlb pages.  mag_size (library 1.6): "
	  "buffers per magazine; a thread's cache holds two, so size them to "
	  "the bursts a thread moves (256 for bursts of 256): 1 to 1023 "
	  "(MAG_MAX) and 4 * caches * mag_size <= buf_count, else "
	  "OSError(EINVAL), as with caches=0; None or 0: the default, "
	  "buf_count / (4 * caches) up to 63 (MAG_CAP).  info().mag_fill "
	  "tells what the pool has.  spread=True (library 1.8): each buffer "
	  "64 bytes (a cache line) after the end of the one before, so that "
	  "their first lines fall in different CPU cache sets (buf_stride); "
	  "OSError(EINVAL) for 2 MiB buffers.  rotate=True (library 1.9): "
	  "the depot's full magazines come back about a round after they "
	  "were given, not last given first taken: for pools whose buffers "
	  "go from a producer's core to a consumer's (info().depot_flags "
	  "has DEPOT_ROTATE).  Share it with open_fd(fd)." },
	{ "open_fd", Pool_open_fd, METH_O | METH_CLASS,
	  "open_fd(fd)\n--\n\nA new handle of the pool behind fd (a device or "
	  "a pool's memfd, inherited or received); fd is duplicated." },
	{ "close", Pool_close, METH_NOARGS,
	  "close()\n--\n\nUnmap the pool.  Buffers still held stay taken; "
	  "their Buffers raise ValueError from now on.  BufferError while a "
	  "memoryview of a buffer lives; OSError(EBUSY) while a thread sleeps "
	  "in acquire_timeout.  Closing twice is allowed." },
	{ "__enter__", Pool_enter, METH_NOARGS, NULL },
	{ "__exit__", METH_CALLABLE(Pool_exit), METH_FASTCALL, NULL },
	{ "acquire", Pool_acquire, METH_NOARGS,
	  "acquire()\n--\n\nTake a free buffer: a Buffer.  Exhausted (errno "
	  "ENOBUFS) when none is free.  A thread that finds no free cache "
	  "works on the pool's shared path.  Never blocks; keeps the GIL." },
	{ "acquire_index", Pool_acquire_index, METH_NOARGS,
	  "acquire_index()\n--\n\nTake a free buffer and return its index "
	  "(no Buffer object: give it back with release_index)." },
	{ "acquire_timeout", Pool_acquire_timeout, METH_O,
	  "acquire_timeout(timeout)\n--\n\nTake a free buffer, sleeping up to "
	  "timeout seconds (None: no limit; 0: as acquire) until one is "
	  "released, with the GIL released.  TimeoutError (errno ETIMEDOUT) "
	  "when the time passed.  Buffers idle in other threads' caches are "
	  "not given to sleepers (see flush_cache)." },
	{ "acquire_bulk", Pool_acquire_bulk, METH_O,
	  "acquire_bulk(n)\n--\n\nTake up to n buffers at once: a list of "
	  "Buffers, shorter when fewer are free; Exhausted when none is." },
	{ "release_bulk", Pool_release_bulk, METH_O,
	  "release_bulk(buffers)\n--\n\nGive back a sequence of Buffers of "
	  "this pool in one call.  Every item is checked first (TypeError, "
	  "ValueError, BufferError: nothing released)." },
	{ "release_index", Pool_release_index, METH_O,
	  "release_index(idx)\n--\n\nGive back buffer idx, which this handle "
	  "holds (acquire_index, detach).  OSError(EINVAL) otherwise." },
	{ "buffer_at", Pool_buffer_at, METH_O,
	  "buffer_at(idx)\n--\n\nA Buffer for index idx, which this handle "
	  "holds (from acquire_index or detach): the Buffer now answers for "
	  "it and releases it when released or dropped." },
	{ "handoff", Pool_handoff, METH_O,
	  "handoff(buf_or_idx)\n--\n\nPut a buffer this handle holds in "
	  "transit to another process, before sending its index (a Buffer is "
	  "detached).  Returns the index.  OSError(EINVAL) if not held." },
	{ "handoff_to", METH_CALLABLE(Pool_handoff_to), METH_FASTCALL,
	  "handoff_to(buf_or_idx, receiver)\n--\n\nHand a buffer this handle "
	  "holds to one receiver, the client whose client_id is receiver: "
	  "only it can adopt it, and it goes back to the pool if the "
	  "receiver goes first (a Buffer is detached).  Returns the index.  "
	  "ProcessLookupError (errno ESRCH) when the receiver is not a live "
	  "client (the buffer is still held); OSError(EINVAL) for receiver "
	  "0, this handle's own id or a buffer not held." },
	{ "queue", METH_CALLABLE(Pool_queue), METH_VARARGS | METH_KEYWORDS,
	  "queue(name, *, create=False, exclusive=False, capacity=None, "
	  "single_producer=False, produce=False, consume=False)\n--\n\n"
	  "Open the queue called name (1 to 31 of [A-Za-z0-9_.-]): a Queue.  "
	  "create: make it if missing, of capacity buffers (rounded up to a "
	  "power of two; ignored when it exists); exclusive: with create, "
	  "FileExistsError when it exists; single_producer: when creating, "
	  "one producer at a time; produce: this handle enqueues; consume: "
	  "this handle is its one consumer.  Errors: OSError(EINVAL) bad "
	  "name or capacity, or exclusive without create; FileNotFoundError "
	  "(ENOENT), OSError(ENOSPC) no free queue, OSError(EBUSY) a role is "
	  "taken, OSError(EALREADY) open already on this handle, "
	  "OSError(EOPNOTSUPP) a pool without queues; BlockingIOError "
	  "(EAGAIN) on a module-free pool, lost races with other openers." },
	{ "adopt", Pool_adopt, METH_O,
	  "adopt(idx)\n--\n\nTake buffer idx, handed off by another handle: a "
	  "Buffer.  OSError(EINVAL) if it is not in transit." },
	{ "flush_cache", Pool_flush_cache, METH_NOARGS,
	  "flush_cache()\n--\n\nGive what this thread's cache holds back to "
	  "the pool (for a thread going idle)." },
	{ "stats", Pool_stats, METH_NOARGS,
	  "stats()\n--\n\nThe pool's statistics, a bufpool.Stats named tuple "
	  "(no system call)." },
	{ "info", Pool_info, METH_NOARGS,
	  "info()\n--\n\nWhat the kernel (or the memfd's header) said about "
	  "the pool at open: a bufpool.Info named tuple." },
	{ "audit", Pool_audit, METH_NOARGS,
	  "audit()\n--\n\nHave the kernel reconcile the pool now: a "
	  "bufpool.Audit named tuple.  OSError(ENOTTY) on a memfd pool." },
	{ "repair", Pool_repair, METH_NOARGS,
	  "repair()\n--\n\nHave the kernel repair the pool while its clients "
	  "stay open, and wait for it (after OSError(EUCLEAN): another "
	  "client wrote garbage).  OSError(ENOTTY) on a memfd pool." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Pool_getset[] = {
	{ "fd", Pool_get_fd, NULL,
	  "The pool's file descriptor, to hand to another process "
	  "(open_fd).  Owned by the pool: do not close it.", NULL },
	{ "client_id", Pool_get_client_id, NULL,
	  "This handle's id in the pool's ownership records.", NULL },
	{ "buf_size", Pool_get_buf_size, NULL, "Bytes per buffer.", NULL },
	{ "buf_stride", Pool_get_buf_stride, NULL,
	  "Bytes from a buffer's start to the next one's (1.8): buf_size in "
	  "a packed pool, buf_size + 64 in a spread one.", NULL },
	{ "buf_count", Pool_get_buf_count, NULL, "Buffers in the pool.", NULL },
	{ "closed", Pool_get_closed, NULL, "True once closed.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject PoolType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bufpool.Pool",
	.tp_basicsize = sizeof(PoolObject),
	.tp_dealloc = Pool_dealloc,
	.tp_repr = Pool_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Pool(path=None)\n--\n\nA handle of a buffer pool "
		  "(bufpool_open): path is its device node; None is "
		  "/dev/bufpool, else, without the module, a new memfd pool "
		  "of the default geometry.  See also Pool.create and "
		  "Pool.open_fd.",
	.tp_traverse = Pool_traverse,
	.tp_methods = Pool_methods,
	.tp_getset = Pool_getset,
	.tp_new = Pool_new,
};

/* ------------------------------------------------------------------ */
/* Classes                                                            */

static PyObject *Classes_new(PyTypeObject *type, PyObject *args,
			     PyObject *kwds)
{
	static char *kwlist[] = { "paths", NULL };
	PyObject *paths = Py_None, *seq = NULL, *conv = NULL, *tuple, *pool;
	const char *cpaths[16];
	struct bufpool_classes *set;
	ClassesObject *self = NULL;
	Py_ssize_t n = 0, i;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Classes", kwlist,
					 &paths))
		return NULL;
	if (paths != Py_None) {
		seq = PySequence_Fast(paths, "paths must be a sequence of paths");
		if (!seq)
			return NULL;
		n = PySequence_Fast_GET_SIZE(seq);
		if (n < 1 || n > 16) {
			PyErr_SetString(PyExc_ValueError,
					"between 1 and 16 class pools");
			goto out;
		}
		conv = PyList_New(n);
		if (!conv)
			goto out;
		for (i = 0; i < n; i++) {
			PyObject *b = NULL;

			if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i),
						   &b))
				goto out;
			PyList_SET_ITEM(conv, i, b);
			cpaths[i] = PyBytes_AS_STRING(b);
		}
	}
	Py_BEGIN_ALLOW_THREADS
	set = bufpool_classes_open(conv ? cpaths : NULL, (unsigned int)n);
	err = errno;
	Py_END_ALLOW_THREADS
	if (!set) {
		raise_errno(err);
		goto out;
	}
	self = (ClassesObject *)type->tp_alloc(type, 0);
	if (!self) {
		bufpool_classes_close(set);
		goto out;
	}
	self->set = set;
	self->fork_gen = fork_gen;
	for (n = 0; bufpool_classes_pool(set, (unsigned int)n); n++)
		;
	tuple = PyTuple_New(n);
	if (!tuple)
		goto fail;
	self->pools = tuple;
	for (i = 0; i < n; i++) {
		pool = pool_wrap(&PoolType,
				 bufpool_classes_pool(set, (unsigned int)i),
				 (PyObject *)self);
		if (!pool)
			goto fail;
		PyTuple_SET_ITEM(tuple, i, pool);
	}
	goto out;
fail:
	Py_CLEAR(self);
out:
	Py_XDECREF(conv);
	Py_XDECREF(seq);
	return (PyObject *)self;
}

static struct bufpool_classes *classes_set(ClassesObject *c)
{
	if (c->set)
		return c->set;
	PyErr_SetString(PyExc_ValueError, "operation on closed Classes");
	return NULL;
}

static PyObject *Classes_acquire(PyObject *self, PyObject *arg)
{
	ClassesObject *c = (ClassesObject *)self;
	struct bufpool_classes *set = classes_set(c);
	PoolObject *p;
	Py_ssize_t size, i;
	uint64_t off;
	char *buf;

	if (!set)
		return NULL;
	size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
	if (size == -1 && PyErr_Occurred())
		return NULL;
	if (size < 0) {
		PyErr_SetString(PyExc_ValueError, "negative size");
		return NULL;
	}
	buf = bufpool_classes_acquire(set, (size_t)size);
	if (!buf)
		return raise_errno(errno);
	for (i = 0; i < PyTuple_GET_SIZE(c->pools); i++) {
		p = (PoolObject *)PyTuple_GET_ITEM(c->pools, i);
		off = (uint64_t)(buf - p->base);
		if (off < p->span) {
			PyObject *b = buffer_of(p, buf);

			if (!b)
				bufpool_classes_release(set, buf);
			return b;
		}
	}
	bufpool_classes_release(set, buf);
	PyErr_SetString(PyExc_SystemError, "a class buffer outside its pools");
	return NULL;
}

static PyObject *Classes_release(PyObject *self, PyObject *arg)
{
	ClassesObject *c = (ClassesObject *)self;
	struct bufpool_classes *set = classes_set(c);
	BufferObject *b;

	if (!set)
		return NULL;
	if (!PyObject_TypeCheck(arg, &BufferType)) {
		PyErr_SetString(PyExc_TypeError, "release() takes a Buffer");
		return NULL;
	}
	b = (BufferObject *)arg;
	if (b->pool->owner != self) {
		PyErr_SetString(PyExc_ValueError,
				"a Buffer of a pool outside this set");
		return NULL;
	}
	if (buffer_may_let_go(b))
		return NULL;
	if (bufpool_classes_release(set, b->addr)) {
		int err = errno;

		if (err == EINVAL)
			b->state = BUF_RELEASED;
		return raise_errno(err);
	}
	b->state = BUF_RELEASED;
	Py_RETURN_NONE;
}

static PyObject *Classes_close(PyObject *self, PyObject *unused)
{
	ClassesObject *c = (ClassesObject *)self;
	struct bufpool_classes *set = c->set;
	Py_ssize_t i, n;

	(void)unused;
	if (!set)
		Py_RETURN_NONE;
	n = PyTuple_GET_SIZE(c->pools);
	for (i = 0; i < n; i++)
		if (pool_may_close((PoolObject *)PyTuple_GET_ITEM(c->pools, i)))
			return NULL;
	for (i = 0; i < n; i++)
		((PoolObject *)PyTuple_GET_ITEM(c->pools, i))->pool = NULL;
	c->set = NULL;
	Py_BEGIN_ALLOW_THREADS
	bufpool_classes_close(set);
	Py_END_ALLOW_THREADS
	Py_RETURN_NONE;
}

static PyObject *Classes_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (!classes_set((ClassesObject *)self))
		return NULL;
	Py_INCREF(self);
	return self;
}

static PyObject *Classes_exit(PyObject *self, PyObject *const *args,
			      Py_ssize_t nargs)
{
	(void)args;
	(void)nargs;
	return Classes_close(self, NULL);
}

static Py_ssize_t Classes_len(PyObject *self)
{
	PyObject *t = ((ClassesObject *)self)->pools;

	return t ? PyTuple_GET_SIZE(t) : 0;
}

static PyObject *Classes_get_pools(PyObject *self, void *closure)
{
	PyObject *t = ((ClassesObject *)self)->pools;

	(void)closure;
	if (!t)
		return PyTuple_New(0);
	Py_INCREF(t);
	return t;
}

static PyObject *Classes_get_closed(PyObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(((ClassesObject *)self)->set == NULL);
}

static int Classes_traverse(PyObject *self, visitproc visit, void *arg)
{
	Py_VISIT(((ClassesObject *)self)->pools);
	return 0;
}

/* The cycle with its class Pools (each holds its Classes) is broken here. */
static int Classes_clear(PyObject *self)
{
	Py_CLEAR(((ClassesObject *)self)->pools);
	return 0;
}

static void Classes_dealloc(PyObject *self)
{
	ClassesObject *c = (ClassesObject *)self;

	PyObject_GC_UnTrack(self);
	/* No class Pool lives (each holds this object) unless inherited. */
	if (c->set && c->fork_gen == fork_gen)
		bufpool_classes_close(c->set);
	c->set = NULL;
	Py_CLEAR(c->pools);
	Py_TYPE(self)->tp_free(self);
}

static PyMethodDef Classes_methods[] = {
	{ "acquire", Classes_acquire, METH_O,
	  "acquire(size)\n--\n\nA Buffer of the smallest class that holds size "
	  "bytes, or of a larger class when that one is empty; "
	  "OSError(EINVAL) when no class holds size, Exhausted when every "
	  "class that would do is empty." },
	{ "release", Classes_release, METH_O,
	  "release(buf)\n--\n\nGive back a Buffer of any class of the set "
	  "(the same as buf.release())." },
	{ "close", Classes_close, METH_NOARGS,
	  "close()\n--\n\nClose every class pool (refused as Pool.close is)." },
	{ "__enter__", Classes_enter, METH_NOARGS, NULL },
	{ "__exit__", METH_CALLABLE(Classes_exit), METH_FASTCALL, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Classes_getset[] = {
	{ "pools", Classes_get_pools, NULL,
	  "The class pools, ascending buffer sizes (Pool objects, for the "
	  "index forms, handoff and statistics; closed with the set).", NULL },
	{ "closed", Classes_get_closed, NULL, "True once closed.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PySequenceMethods Classes_as_sequence = {
	.sq_length = Classes_len,
};

static PyTypeObject ClassesType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bufpool.Classes",
	.tp_basicsize = sizeof(ClassesObject),
	.tp_dealloc = Classes_dealloc,
	.tp_as_sequence = &Classes_as_sequence,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Classes(paths=None)\n--\n\nSize classes: a set of pools of "
		  "different buffer sizes (bufpool_classes_open): the device "
		  "nodes in paths, or every /dev/bufpool-cSIZE.  "
		  "FileNotFoundError (ENOENT) when there is none.",
	.tp_traverse = Classes_traverse,
	.tp_clear = Classes_clear,
	.tp_methods = Classes_methods,
	.tp_getset = Classes_getset,
	.tp_new = Classes_new,
};

/* ------------------------------------------------------------------ */
/* The module                                                         */

static PyStructSequence_Field stats_fields[] = {
	{ "total", "buffers in the pool" },
	{ "free", "total - in_use" },
	{ "in_use", "taken and not given back (not counting thread caches)" },
	{ "high_watermark", "the most in use any reader has seen" },
	{ "acquires", "buffers taken" },
	{ "releases", "buffers given back" },
	{ "exhausted", "acquires that found the pool empty" },
	{ "reclaimed", "buffers of dead clients given back by the kernel" },
	{ "waiters", "threads sleeping in a timed acquire now" },
	{ "detected", "corruption clients found in the shared area (EUCLEAN)" },
	{ "repairs", "repairs the kernel ran while clients stayed open" },
	{ "shared_acquires", "of acquires, by threads without a cache" },
	{ "shared_releases", "of releases, by threads without a cache" },
	{ NULL, NULL }
};

static PyStructSequence_Desc stats_desc = {
	"bufpool.Stats", "A pool's statistics (bufpool_stats).", stats_fields,
	13
};

static PyStructSequence_Field info_fields[] = {
	{ "abi_version", "the ABI version of the kernel (major << 16 | minor)" },
	{ "flags", "INFO_F_MEMFD, INFO_F_HUGETLB" },
	{ "buf_shift", "log2(buf_size); 0 in a spread pool (1.8)" },
	{ "buf_size", "bytes per buffer" },
	{ "buf_count", "buffers in the pool" },
	{ "numa_node", "node the memory was taken from, -1 any" },
	{ "pool_bytes", "pinned memory backing the buffers" },
	{ "ctrl_offset", NULL },
	{ "ctrl_size", NULL },
	{ "next_offset", NULL },
	{ "bufs_offset", NULL },
	{ "bufs_size", NULL },
	{ "generation", "changes whenever the pool is rebuilt" },
	{ "mag_fill", "buffers a magazine holds; 0: no caching" },
	{ "nr_mags", NULL },
	{ "nr_caches", "per-thread caches" },
	{ "mag_next_offset", NULL },
	{ "mags_offset", NULL },
	{ "caches_offset", NULL },
	{ "own_offset", NULL },
	{ "client_id", "this handle's id" },
	{ "nr_queues", "queues the pool can have (0: none)" },
	{ "queue_len", "buffers a queue holds at most" },
	{ "queues_offset", NULL },
	{ "qslots_offset", NULL },
	{ "live_offset", NULL },
	{ "buf_stride", "bytes from a buffer to the next (1.8): buf_size, "
	  "or buf_size + 64 in a spread pool" },
	{ "depot_flags", "DEPOT_ROTATE if the depot rotates (1.9), else 0" },
	{ NULL, NULL }
};

static PyStructSequence_Desc info_desc = {
	"bufpool.Info", "What was said about a pool at open (struct "
	"bufpool_info).", info_fields, 28
};

static PyStructSequence_Field audit_fields[] = {
	{ "clients", "open files of the pool" },
	{ "buf_count", NULL },
	{ "free", "on the free list or in depot magazines" },
	{ "cached", "in magazines of live threads' caches" },
	{ "held", "held by live clients" },
	{ "transit", "handed off, not adopted yet" },
	{ "reclaimed", "nobody held them: given back by this audit" },
	{ "repaired", "corrupt links, entries or records fixed" },
	{ "legacy", "clients mapping without ATTACH" },
	{ "generation", NULL },
	{ "queued", "in queues" },
	{ "queues", "live queues" },
	{ NULL, NULL }
};

static PyStructSequence_Desc audit_desc = {
	"bufpool.Audit", "The kernel's reconciliation of a pool (struct "
	"bufpool_audit).", audit_fields, 12
};

static PyStructSequence_Field queue_stats_fields[] = {
	{ "capacity", "buffers it holds at most" },
	{ "depth", "buffers in it now" },
	{ "enqueued", "positions filled since it was made" },
	{ "dequeued", "positions consumed since it was made" },
	{ "full", "enqueues refused because it was full" },
	{ "high_watermark", "the most buffers in it a producer saw" },
	{ "consumer", "the client id holding the consumer role, 0: none" },
	{ NULL, NULL }
};

static PyStructSequence_Desc queue_stats_desc = {
	"bufpool.QueueStats", "A queue's statistics (bufpool_queue_stats).",
	queue_stats_fields, 7
};

static struct PyModuleDef bufpool_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "bufpool",
	.m_doc = "Pinned buffer pools of libbufpool-user: lock-free, "
		 "syscall-free acquire and release of zero-copy buffers, "
		 "shared between processes by index.\n\n"
		 "Pool, Buffer, Classes, Queue; errors are OSError with errno "
		 "(Exhausted for ENOBUFS).",
	.m_size = -1,
};

static int add_type(PyObject *m, PyTypeObject *type, const char *name)
{
	if (PyType_Ready(type))
		return -1;
	Py_INCREF(type);
	if (PyModule_AddObject(m, name, (PyObject *)type)) {
		Py_DECREF(type);
		return -1;
	}
	return 0;
}

PyMODINIT_FUNC PyInit_bufpool(void)
{
	PyObject *m = PyModule_Create(&bufpool_module);

	if (!m)
		return NULL;
	if (add_type(m, &PoolType, "Pool") ||
	    add_type(m, &BufferType, "Buffer") ||
	    add_type(m, &ClassesType, "Classes") ||
	    add_type(m, &QueueType, "Queue"))
		goto fail;
	StatsType = PyStructSequence_NewType(&stats_desc);
	InfoType = PyStructSequence_NewType(&info_desc);
	AuditType = PyStructSequence_NewType(&audit_desc);
	QueueStatsType = PyStructSequence_NewType(&queue_stats_desc);
	if (!StatsType || !InfoType || !AuditType || !QueueStatsType)
		goto fail;
	Py_INCREF(StatsType);
	Py_INCREF(InfoType);
	Py_INCREF(AuditType);
	Py_INCREF(QueueStatsType);
	if (PyModule_AddObject(m, "Stats", (PyObject *)StatsType) ||
	    PyModule_AddObject(m, "Info", (PyObject *)InfoType) ||
	    PyModule_AddObject(m, "Audit", (PyObject *)AuditType) ||
	    PyModule_AddObject(m, "QueueStats", (PyObject *)QueueStatsType))
		goto fail;
	Exhausted = PyErr_NewExceptionWithDoc("bufpool.Exhausted",
		"No free buffer (errno ENOBUFS): an OSError.", PyExc_OSError,
		NULL);
	if (!Exhausted)
		goto fail;
	Py_INCREF(Exhausted);
	if (PyModule_AddObject(m, "Exhausted", Exhausted) ||
	    PyModule_AddIntConstant(m, "INFO_F_MEMFD", BUFPOOL_INFO_F_MEMFD) ||
	    PyModule_AddIntConstant(m, "INFO_F_HUGETLB",
				    BUFPOOL_INFO_F_HUGETLB) ||
	    PyModule_AddIntConstant(m, "MAG_CAP", BUFPOOL_MAG_CAP) ||
	    PyModule_AddIntConstant(m, "DEPOT_ROTATE", BUFPOOL_DEPOT_ROTATE) ||
	    PyModule_AddIntConstant(m, "MAG_MAX", BUFPOOL_MAG_MAX) ||
	    PyModule_AddStringConstant(m, "__version__", BUFPOOL_VERSION))
		goto fail;
	if (pthread_atfork(NULL, NULL, after_fork_child)) {
		PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
		goto fail;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
