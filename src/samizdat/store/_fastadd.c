/* The SQLite store's fast path for plain events (samizdat/store/fastadd.py): one transaction of a batch of
 * regular, unexpired events that are not deletion requests, written without Python's GIL.
 *
 * Why: the writer thread shares its process's GIL with the event loop, and Python's sqlite3 module takes the GIL
 * back after every row it steps; a commit of 500 events then held SQLite's write lock half again as long as its
 * CPU (docs/benchmarks.md, "Workers"). Here the rows are read out of the Python objects first, with the GIL, and
 * the whole transaction (the lookups, the inserts, COMMIT) runs with the GIL released.
 *
 * The same statements and outcomes as samizdat.store.queries._add_plain_run (tests/store/test_fastadd.py holds
 * the two to the same results): an id already stored or evicted is a duplicate, an id deleted by its author is
 * deleted, anything else is stored with its tag rows and its full-text row. Every error rolls the transaction back
 * and is raised; the caller then writes the batch through the Python path, which reports it as it always did.
 *
 * Memory: the buffers of the bytes and str objects are bound with SQLITE_STATIC, so they must outlive the
 * transaction, which runs without the GIL: another thread could meanwhile empty the caller's lists and free their
 * items. So add() first copies each list into a tuple of its own, which holds every item (themselves tuples of
 * immutable bytes, str and int) until the call returns. Lengths are checked against what SQLite takes (an int)
 * before binding.
 *
 * One copy of SQLite: this module and Python's sqlite3 module (the writer's own connection, to the same file) must
 * use the same SQLite library, or each copy would drop the other's POSIX locks on the file when it closes it
 * (store/dbapi.py); samizdat/store/fastadd.py checks that before it uses this module. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <sqlite3.h>
#include <time.h>

#define CAPSULE "samizdat.store._fastadd"
#define ID_BYTES 32

typedef struct {
    const char *id, *pubkey, *raw;
    int rawlen, has_expiration, outcome;
    sqlite3_int64 created_at, kind, expiration, seq;
} Row;

typedef struct {
    Py_ssize_t row;
    const char *name, *value;
    int namelen, valuelen, blob;
} TagRow;

typedef struct {
    Py_ssize_t row;
    const char *text;
    int len;
} TextRow;

enum { S_HAS, S_EVICTED, S_DELETED, S_INSERT, S_TAG, S_TEXT, S_BEGIN, S_COMMIT, S_ROLLBACK, S_COUNT };

static const char *const SQL[S_COUNT] = {
    "SELECT 1 FROM events WHERE id = ?",
    "SELECT 1 FROM evicted WHERE id = ?",
    "SELECT 1 FROM deleted_ids WHERE id = ? AND pubkey = ?",
    "INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, raw) VALUES (?, ?, ?, ?, NULL, ?, ?)",
    "INSERT INTO tags (name, value, created_at, id, seq) VALUES (?, ?, ?, ?, ?)",
    "INSERT INTO events_fts (rowid, text) VALUES (?, ?)",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    double lock_wait;
    int busy; /* a call runs on the connection without the GIL: nothing else may use or close it meanwhile */
} Handle;

static void handle_close(Handle *h) {
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(h->stmt[i]);
        h->stmt[i] = NULL;
    }
    if (h->db) sqlite3_close_v2(h->db);
    h->db = NULL;
}

static void capsule_free(PyObject *capsule) {
    Handle *h = PyCapsule_GetPointer(capsule, CAPSULE);
    if (h) {
        handle_close(h);
        PyMem_Free(h);
    }
}

/* The handle, if it is open and not in use by another thread's call (both read and set with the GIL held). */
static Handle *handle_of(PyObject *capsule) {
    Handle *h = PyCapsule_GetPointer(capsule, CAPSULE);
    if (h && h->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fast path's connection is in use by another thread");
        return NULL;
    }
    if (h && !h->db) {
        PyErr_SetString(PyExc_ValueError, "the fast path's connection is closed");
        return NULL;
    }
    return h;
}

/* open(path, pragmas, lock_wait) -> handle: a connection of its own to the store's file, prepared like the writer's. */
static PyObject *fast_open(PyObject *self, PyObject *args) {
    const char *path;
    PyObject *pragmas;
    double lock_wait;
    if (!PyArg_ParseTuple(args, "sO!d", &path, &PyTuple_Type, &pragmas, &lock_wait)) return NULL;
    if (!isfinite(lock_wait) || lock_wait < 0) {  /* NaN would make begin() wait for ever */
        PyErr_SetString(PyExc_ValueError, "the wait for the write lock is a number of seconds");
        return NULL;
    }
    Handle *h = PyMem_Calloc(1, sizeof *h);
    if (!h) return PyErr_NoMemory();
    h->lock_wait = lock_wait;
    if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) goto fail;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pragmas); i++) {
        const char *pragma = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pragmas, i));
        if (!pragma) goto fail_py;
        if (sqlite3_exec(h->db, pragma, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    }
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(h->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &h->stmt[i], NULL) != SQLITE_OK) goto fail;
    PyObject *capsule = PyCapsule_New(h, CAPSULE, capsule_free);
    if (!capsule) goto fail_py;
    return capsule;
fail:
    PyErr_Format(PyExc_OSError, "cannot open the store's fast path: %s",
                 h->db ? sqlite3_errmsg(h->db) : "out of memory");
fail_py:
    handle_close(h);
    PyMem_Free(h);
    return NULL;
}

static PyObject *fast_close(PyObject *self, PyObject *capsule) {
    Handle *h = PyCapsule_GetPointer(capsule, CAPSULE);
    if (!h) return NULL;
    if (h->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the fast path's connection is in use by another thread");
        return NULL;
    }
    handle_close(h);
    Py_RETURN_NONE;
}

/* Raise OSError(code, message) for SQLite's error ``rc``; returns NULL. */
static PyObject *sqlite_error(int rc, const char *message) {
    PyObject *value = Py_BuildValue("(is)", rc, message);
    if (value) {
        PyErr_SetObject(PyExc_OSError, value);  /* does not take the reference */
        Py_DECREF(value);
    }
    return NULL;
}

/* execute(handle, sql): run statements without results on the fast connection (settings, as on the writer's). */
static PyObject *fast_execute(PyObject *self, PyObject *args) {
    PyObject *capsule;
    const char *sql;
    if (!PyArg_ParseTuple(args, "Os", &capsule, &sql)) return NULL;
    Handle *h = handle_of(capsule);
    if (!h) return NULL;
    int rc;
    h->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    h->busy = 0;
    if (rc != SQLITE_OK) return sqlite_error(rc, sqlite3_errmsg(h->db));
    Py_RETURN_NONE;
}

/* 1 if the statement finds a row, 0 if not, -1 on an error. */
static int found(sqlite3_stmt *s, const char *id, const char *pubkey) {
    sqlite3_bind_blob(s, 1, id, ID_BYTES, SQLITE_STATIC);
    if (pubkey) sqlite3_bind_blob(s, 2, pubkey, ID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int step_done(sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static double monotonic(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* BEGIN IMMEDIATE, polling for another process's write lock as writer._begin does (0.1 ms, doubling to 1 ms). */
static int begin(Handle *h) {
    struct timespec pause = {0, 100000};
    double deadline = monotonic() + h->lock_wait;
    for (;;) {
        int rc = step_done(h->stmt[S_BEGIN]);
        if (rc == SQLITE_OK || (rc & 0xFF) != SQLITE_BUSY || monotonic() >= deadline) return rc;
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 1000000) pause.tv_nsec *= 2;
    }
}

/* The transaction, without the GIL. Returns SQLITE_OK or the error's code (rolled back). */
static int write_rows(Handle *h, Row *rows, Py_ssize_t n, TagRow *tags, Py_ssize_t ntags, TextRow *texts,
                      Py_ssize_t ntexts) {
    int rc = begin(h);
    if (rc != SQLITE_OK) return rc;
    sqlite3_stmt **s = h->stmt;
    for (Py_ssize_t i = 0; i < n; i++) {
        Row *r = &rows[i];
        int present = found(s[S_HAS], r->id, NULL);
        if (present == 0) present = found(s[S_EVICTED], r->id, NULL);
        /* Two copies of one event in the batch: the second is a duplicate (the first one's row is found). */
        if (present < 0) goto fail;
        if (present) {
            r->outcome = 1;
            continue;
        }
        int deleted = found(s[S_DELETED], r->id, r->pubkey);
        if (deleted < 0) goto fail;
        if (deleted) {
            r->outcome = 2;
            continue;
        }
        sqlite3_stmt *ins = s[S_INSERT];
        sqlite3_bind_blob(ins, 1, r->id, ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, r->pubkey, ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, r->created_at);
        sqlite3_bind_int64(ins, 4, r->kind);
        if (r->has_expiration) sqlite3_bind_int64(ins, 5, r->expiration);
        else sqlite3_bind_null(ins, 5);
        sqlite3_bind_blob(ins, 6, r->raw, r->rawlen, SQLITE_STATIC);
        if ((rc = step_done(ins)) != SQLITE_OK) goto fail;
        r->seq = sqlite3_last_insert_rowid(h->db);
        r->outcome = 0;
    }
    for (Py_ssize_t j = 0; j < ntags; j++) {
        TagRow *t = &tags[j];
        Row *r = &rows[t->row];
        if (r->outcome) continue;
        sqlite3_stmt *tag = s[S_TAG];
        sqlite3_bind_text(tag, 1, t->name, t->namelen, SQLITE_STATIC);
        if (t->blob) sqlite3_bind_blob(tag, 2, t->value, t->valuelen, SQLITE_STATIC);
        else sqlite3_bind_text(tag, 2, t->value, t->valuelen, SQLITE_STATIC);
        sqlite3_bind_int64(tag, 3, r->created_at);
        sqlite3_bind_blob(tag, 4, r->id, ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(tag, 5, r->seq);
        if ((rc = step_done(tag)) != SQLITE_OK) goto fail;
    }
    for (Py_ssize_t j = 0; j < ntexts; j++) {
        TextRow *t = &texts[j];
        Row *r = &rows[t->row];
        if (r->outcome) continue;
        sqlite3_stmt *text = s[S_TEXT];
        sqlite3_bind_int64(text, 1, r->seq);
        sqlite3_bind_text(text, 2, t->text, t->len, SQLITE_STATIC);
        if ((rc = step_done(text)) != SQLITE_OK) goto fail;
    }
    if ((rc = step_done(s[S_COMMIT])) != SQLITE_OK) goto fail;
    for (int i = 0; i < S_COUNT; i++) sqlite3_clear_bindings(s[i]);  /* no pointer into the caller's objects kept */
    return SQLITE_OK;
fail:
    if (rc == SQLITE_OK) rc = sqlite3_extended_errcode(h->db);
    if (!sqlite3_get_autocommit(h->db)) step_done(s[S_ROLLBACK]);
    for (int i = 0; i < S_COUNT; i++) sqlite3_clear_bindings(s[i]);
    return rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

static int length_of(Py_ssize_t len, int *out) {
    if (len < 0 || len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a value too large for the store");
        return -1;
    }
    *out = (int)len;
    return 0;
}

static int read_rows(PyObject *events, Row *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id, *pubkey, *expiration, *raw;
        long long created_at, kind;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(events, i), "SSLLOS", &id, &pubkey, &created_at, &kind, &expiration,
                              &raw))
            return -1;
        if (PyBytes_GET_SIZE(id) != ID_BYTES || PyBytes_GET_SIZE(pubkey) != ID_BYTES) {
            PyErr_SetString(PyExc_ValueError, "an id and a public key have 32 bytes");
            return -1;
        }
        Row *r = &rows[i];
        r->id = PyBytes_AS_STRING(id);
        r->pubkey = PyBytes_AS_STRING(pubkey);
        r->raw = PyBytes_AS_STRING(raw);
        if (length_of(PyBytes_GET_SIZE(raw), &r->rawlen)) return -1;
        r->created_at = created_at;
        r->kind = kind;
        if (expiration != Py_None) {
            r->has_expiration = 1;
            r->expiration = PyLong_AsLongLong(expiration);
            if (r->expiration == -1 && PyErr_Occurred()) return -1;
        }
    }
    return 0;
}

static int utf8(PyObject *text, const char **out, int *len) {
    Py_ssize_t size;
    if (!(*out = PyUnicode_AsUTF8AndSize(text, &size))) return -1;
    return length_of(size, len);
}

static int read_tags(PyObject *tags, TagRow *out, Py_ssize_t n, Py_ssize_t nrows) {
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *name, *value;
        TagRow *t = &out[j];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(tags, j), "nUO", &t->row, &name, &value)) return -1;
        if (t->row < 0 || t->row >= nrows) {
            PyErr_SetString(PyExc_IndexError, "a tag row of no event");
            return -1;
        }
        if (utf8(name, &t->name, &t->namelen)) return -1;
        if (PyBytes_Check(value)) {
            t->blob = 1;
            t->value = PyBytes_AS_STRING(value);
            if (length_of(PyBytes_GET_SIZE(value), &t->valuelen)) return -1;
        } else if (!PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "a tag value is str or bytes");
            return -1;
        } else if (utf8(value, &t->value, &t->valuelen)) {
            return -1;
        }
    }
    return 0;
}

static int read_texts(PyObject *texts, TextRow *out, Py_ssize_t n, Py_ssize_t nrows) {
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *text;
        TextRow *t = &out[j];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(texts, j), "nU", &t->row, &text)) return -1;
        if (t->row < 0 || t->row >= nrows) {
            PyErr_SetString(PyExc_IndexError, "a text row of no event");
            return -1;
        }
        if (utf8(text, &t->text, &t->len)) return -1;
    }
    return 0;
}

/* add(handle, events, tags, texts) -> [0 stored | 1 duplicate | 2 deleted, ...]
 * events: [(id, pubkey, created_at, kind, expiration or None, raw JSON)]; tags: [(event index, name, value)];
 * texts: [(event index, text)]. Raises sqlite3's error as OSError(code, message) when the transaction failed. */
static PyObject *fast_add(PyObject *self, PyObject *args) {
    PyObject *capsule, *lists[3], *result = NULL;
    Row *rows = NULL;
    TagRow *tagrows = NULL;
    TextRow *textrows = NULL;
    if (!PyArg_ParseTuple(args, "OO!O!O!", &capsule, &PyList_Type, &lists[0], &PyList_Type, &lists[1], &PyList_Type,
                          &lists[2]))
        return NULL;
    Handle *h = handle_of(capsule);
    if (!h) return NULL;
    /* Busy from here: reading the rows may run Python code (an int's __index__), which could close the handle. */
    h->busy = 1;
    /* Tuples of our own: the lists' items stay alive whatever happens to the lists meanwhile (see above). */
    PyObject *events = PyList_AsTuple(lists[0]), *tags = PyList_AsTuple(lists[1]), *texts = PyList_AsTuple(lists[2]);
    if (!events || !tags || !texts) goto out;
    Py_ssize_t n = PyTuple_GET_SIZE(events), ntags = PyTuple_GET_SIZE(tags), ntexts = PyTuple_GET_SIZE(texts);
    rows = PyMem_Calloc(n ? n : 1, sizeof *rows);
    tagrows = PyMem_Calloc(ntags ? ntags : 1, sizeof *tagrows);
    textrows = PyMem_Calloc(ntexts ? ntexts : 1, sizeof *textrows);
    if (!rows || !tagrows || !textrows) {
        PyErr_NoMemory();
        goto out;
    }
    if (read_rows(events, rows, n) || read_tags(tags, tagrows, ntags, n) || read_texts(texts, textrows, ntexts, n))
        goto out;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = write_rows(h, rows, n, tagrows, ntags, textrows, ntexts);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        sqlite_error(rc, sqlite3_errstr(rc));
        goto out;
    }
    if (!(result = PyList_New(n))) goto out;
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(result, i, PyLong_FromLong(rows[i].outcome));
out:
    PyMem_Free(rows);
    PyMem_Free(tagrows);
    PyMem_Free(textrows);
    Py_XDECREF(events);
    Py_XDECREF(tags);
    Py_XDECREF(texts);
    h->busy = 0;
    return result;
}

static PyMethodDef METHODS[] = {
    {"open", fast_open, METH_VARARGS, "open(path, pragmas, lock_wait) -> handle"},
    {"add", fast_add, METH_VARARGS, "add(handle, events, tags, texts) -> outcomes"},
    {"execute", fast_execute, METH_VARARGS, "execute(handle, sql)"},
    {"close", fast_close, METH_O, "close(handle)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_fastadd", NULL, -1, METHODS};

PyMODINIT_FUNC PyInit__fastadd(void) { return PyModule_Create(&MODULE); }
