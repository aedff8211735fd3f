/*
 * sqlite_raw: the raw SQLite write rate for the rows Strata's L3 batcher commits.
 *
 * Writes N rows (default 1,000,000) of 16-byte keys "key:NNNNNNNNNNNN" drawn at random
 * from N possible keys, like redis-benchmark -r N with __rand_int__ keys, and 64-byte
 * values, in transactions of B rows, and prints one JSON line per run:
 *
 *   append        INSERT into Strata's log schema, one row per statement
 *   append16      the same with 16 rows per INSERT statement (as WriteBatcher did from 374f390)
 *   append64      the same with 64 rows per INSERT statement (WriteBatcher.rowsPerInsert now)
 *   upsert        INSERT ... ON CONFLICT(key) DO UPDATE into kv(key PRIMARY KEY) WITHOUT ROWID
 *   upsert_rowid  the same upsert into a rowid table with a UNIQUE key
 *
 * The append modes let SQLite number the rows (INSERT INTO log (db, key, value, expire_at) ...),
 * as the batcher does for a run of rows that are exactly the ones SQLite picks next (the common
 * case). With -S they bind seq explicitly, ascending from 1, as the batcher does otherwise (after
 * a FLUSHDB within a batch, or compaction deleting the newest row). Binding seq costs SQLite a
 * uniqueness probe per row: -n 100000, batch 10000, NORMAL, 4 KiB pages, median of 3 runs on
 * the 2-core VM: append 760k vs 805k rows/s (-6%), append16 1.25M vs 1.54M (-19%); 1M rows,
 * append64, 8 KiB pages: ~1.0M vs ~1.34M (-25%).
 *
 * upsert_rowid is the faster plain upsert here (1M rows, 2-core VM, 4 KiB pages: 173k vs 106k
 * rows/s at batch 10000, 122k vs 94k at 1000, NORMAL): its index entries (key + rowid) are
 * small, so the random part of each write touches a denser, better-cached B-tree, and new rows
 * go to the end of the table. The default modes are append,upsert_rowid.
 *
 * Every run gets a fresh database with the pragmas Strata's L3Store sets on a new file:
 * page_size P (-p, default 8192 like L3Store.pageSize; set before journal_mode=WAL, the only
 * time it can take effect), journal_mode WAL, synchronous NORMAL or FULL, cache_size -65536
 * and wal_autocheckpoint 40960000 / P (a checkpoint per ~40 MB of WAL: 5000 pages at 8 KiB).
 * Timed: from the first BEGIN to the last COMMIT returning; the final close is not.
 *
 *   cc -O2 -o sqlite_raw sqlite_raw.c -lsqlite3
 *   ./sqlite_raw [-n rows] [-d dir] [-m append,append16,append64,upsert,upsert_rowid]
 *                [-b 1000,10000] [-s NORMAL,FULL] [-p page_size] [-S] [-r seed]
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_LEN 16   /* "key:" + 12 digits, as redis-benchmark expands __rand_int__ */
#define VALUE_LEN 64

/* Parameters per row: seq, db, key, value, expire_at; row j's column c is ?(COLUMNS * j + c). */
#define COLUMNS 5

struct mode {
    const char *name;
    const char *schema;
    const char *head;   /* the INSERT up to its VALUES tuples */
    const char *tail;   /* after the tuples */
    int log;            /* the log schema: binds seq and db as well as key, value, expire_at */
    int per_insert;     /* rows per INSERT statement (VALUES tuples) */
};

#define LOG_SCHEMA \
    "CREATE TABLE log (seq INTEGER PRIMARY KEY, db INTEGER NOT NULL, key BLOB NOT NULL, " \
    "value BLOB, expire_at INTEGER NOT NULL DEFAULT 0)"
#define LOG_INSERT "INSERT INTO log (seq, db, key, value, expire_at) VALUES "
#define LOG_INSERT_AUTO "INSERT INTO log (db, key, value, expire_at) VALUES "

/* -S: the append modes bind seq. */
static int bind_seq = 0;
#define KV_INSERT "INSERT INTO kv (key, value, expire_at) VALUES "
#define KV_UPSERT " ON CONFLICT(key) DO UPDATE SET value = excluded.value, expire_at = excluded.expire_at"

static const struct mode MODES[] = {
    {"append", LOG_SCHEMA, LOG_INSERT, "", 1, 1},
    {"append16", LOG_SCHEMA, LOG_INSERT, "", 1, 16},
    {"append64", LOG_SCHEMA, LOG_INSERT, "", 1, 64},
    {"upsert", "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB, expire_at INTEGER) WITHOUT ROWID",
     KV_INSERT, KV_UPSERT, 0, 1},
    {"upsert_rowid", "CREATE TABLE kv (key BLOB NOT NULL UNIQUE, value BLOB, expire_at INTEGER)",
     KV_INSERT, KV_UPSERT, 0, 1},
};

static void die(sqlite3 *db, const char *what) {
    fprintf(stderr, "sqlite_raw: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_raw: %s: %s\n", sql, err ? err : "?");
        exit(1);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: a small deterministic generator, so every run writes the same keys. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void remove_database(const char *path) {
    char name[4096 + 8];
    unlink(path);
    snprintf(name, sizeof name, "%s-wal", path);
    unlink(name);
    snprintf(name, sizeof name, "%s-shm", path);
    unlink(name);
}

/* The INSERT of `rows` rows for `mode`: row j's tuple holds parameters COLUMNS * j + 1..5
 * (seq, db, key, value, expire_at), or only its key, value and expire_at outside the log. */
static void insert_sql(char *sql, size_t size, const struct mode *mode, int rows) {
    int n = snprintf(sql, size, "%s", mode->log && !bind_seq ? LOG_INSERT_AUTO : mode->head);
    for (int j = 0; j < rows; j++) {
        int p = COLUMNS * j;
        if (mode->log && !bind_seq)
            n += snprintf(sql + n, size - n, "%s(?%d, ?%d, ?%d, ?%d)", j ? ", " : "",
                          p + 2, p + 3, p + 4, p + 5);
        else if (mode->log)
            n += snprintf(sql + n, size - n, "%s(?%d, ?%d, ?%d, ?%d, ?%d)", j ? ", " : "",
                          p + 1, p + 2, p + 3, p + 4, p + 5);
        else
            n += snprintf(sql + n, size - n, "%s(?%d, ?%d, ?%d)", j ? ", " : "", p + 3, p + 4, p + 5);
    }
    snprintf(sql + n, size - n, "%s", mode->tail);
}

/* Binds one row's parameters ?base+1 .. ?base+5 (seq, db, key, value, expire_at). */
static void bind_row(sqlite3_stmt *stmt, int base, int log, long seq, const char *key,
                     const char *value) {
    if (log) {
        if (bind_seq) sqlite3_bind_int64(stmt, base + 1, seq);
        sqlite3_bind_int64(stmt, base + 2, 0);
    }
    sqlite3_bind_blob(stmt, base + 3, key, KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, base + 4, value, VALUE_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, base + 5, 0);
}

/* One run: a fresh database, `rows` keys from `keys` in transactions of `batch`. */
static void run(const struct mode *mode, const char *dir, const char *sync, int page_size,
                int batch, const char *keys, long rows, const char *value) {
    char path[4096], pragma[64];
    snprintf(path, sizeof path, "%s/sqlite_raw_%d.db", dir, (int)getpid());
    remove_database(path);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) die(db, path);
    /* L3Store's order: page_size first (an empty file not yet in WAL mode), then WAL. */
    snprintf(pragma, sizeof pragma, "PRAGMA page_size=%d", page_size);
    exec(db, pragma);
    exec(db, "PRAGMA journal_mode=WAL");
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    exec(db, pragma);
    exec(db, "PRAGMA cache_size=-65536");
    snprintf(pragma, sizeof pragma, "PRAGMA wal_autocheckpoint=%d", 40960000 / page_size);
    exec(db, pragma);
    exec(db, mode->schema);
    sqlite3_stmt *check = NULL;
    int actual = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &check, NULL) == SQLITE_OK &&
        sqlite3_step(check) == SQLITE_ROW)
        actual = sqlite3_column_int(check, 0);
    sqlite3_finalize(check);
    if (actual != page_size) {
        fprintf(stderr, "sqlite_raw: asked for page_size %d, the database has %d\n", page_size, actual);
        exit(1);
    }

    /* One statement for single rows; for per_insert > 1 also one with that many VALUES tuples. */
    char sql[8192];
    sqlite3_stmt *insert = NULL, *multi = NULL;
    insert_sql(sql, sizeof sql, mode, 1);
    if (sqlite3_prepare_v2(db, sql, -1, &insert, NULL) != SQLITE_OK) die(db, sql);
    if (mode->per_insert > 1) {
        insert_sql(sql, sizeof sql, mode, mode->per_insert);
        if (sqlite3_prepare_v2(db, sql, -1, &multi, NULL) != SQLITE_OK) die(db, sql);
    }

    long commits = 0;
    double begin = now();
    for (long start = 0; start < rows; start += batch) {
        long end = start + batch < rows ? start + batch : rows, i = start;
        exec(db, "BEGIN");
        for (; multi && i + mode->per_insert <= end; i += mode->per_insert) {
            for (int j = 0; j < mode->per_insert; j++)
                bind_row(multi, COLUMNS * j, mode->log, i + j + 1, keys + (i + j) * KEY_LEN, value);
            if (sqlite3_step(multi) != SQLITE_DONE) die(db, "insert");
            sqlite3_reset(multi);
        }
        for (; i < end; i++) {
            bind_row(insert, 0, mode->log, i + 1, keys + i * KEY_LEN, value);
            if (sqlite3_step(insert) != SQLITE_DONE) die(db, "insert");
            sqlite3_reset(insert);
        }
        exec(db, "COMMIT");
        commits++;
    }
    double seconds = now() - begin;

    sqlite3_stmt *count = NULL;
    long table_rows = 0;
    const char *count_sql = mode->log ? "SELECT count(*) FROM log" : "SELECT count(*) FROM kv";
    if (sqlite3_prepare_v2(db, count_sql, -1, &count, NULL) == SQLITE_OK && sqlite3_step(count) == SQLITE_ROW)
        table_rows = (long)sqlite3_column_int64(count, 0);
    sqlite3_finalize(count);
    sqlite3_finalize(insert);
    sqlite3_finalize(multi);
    sqlite3_close(db);
    remove_database(path);

    printf("{\"mode\": \"%s\", \"synchronous\": \"%s\", \"page_size\": %d, \"seq_bound\": %d, "
           "\"batch\": %d, \"rows\": %ld, \"table_rows\": %ld, \"commits\": %ld, \"seconds\": %.3f, "
           "\"rows_per_s\": %.0f}\n",
           mode->name, sync, page_size, mode->log && bind_seq, batch, rows, table_rows, commits, seconds,
           rows / seconds);
    fflush(stdout);
}

int main(int argc, char **argv) {
    long rows = 1000000;
    const char *dir = ".";
    char modes[256] = "append,upsert_rowid", batches[256] = "1000,10000", syncs[256] = "NORMAL,FULL";
    uint64_t seed = 1;
    int page_size = 8192, opt;
    while ((opt = getopt(argc, argv, "n:d:m:b:s:p:Sr:")) != -1) {
        switch (opt) {
        case 'n': rows = atol(optarg); break;
        case 'd': dir = optarg; break;
        case 'm': snprintf(modes, sizeof modes, "%s", optarg); break;
        case 'b': snprintf(batches, sizeof batches, "%s", optarg); break;
        case 's': snprintf(syncs, sizeof syncs, "%s", optarg); break;
        case 'p': page_size = atoi(optarg); break;
        case 'S': bind_seq = 1; break;
        case 'r': seed = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [-n rows] [-d dir] [-m append,append16,append64,upsert,"
                            "upsert_rowid] [-b 1000,10000] [-s NORMAL,FULL] [-p page_size] [-S] "
                            "[-r seed]\n", argv[0]);
            return 2;
        }
    }
    if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1))) {
        fprintf(stderr, "sqlite_raw: -p must be a power of two from 512 to 65536\n");
        return 2;
    }
    if (rows < 1 || rows > 999999999999L) {   /* a key has 12 digits */
        fprintf(stderr, "sqlite_raw: -n must be between 1 and 999999999999\n");
        return 2;
    }

    /* The keys, drawn with replacement from rows possible keys, formatted once up front
     * so the timed loop only binds and steps. Values are 64 'x' like redis-benchmark -d 64. */
    char *keys = malloc((size_t)rows * KEY_LEN);
    if (!keys) die(NULL, "keys");
    for (long i = 0; i < rows; i++) {
        char key[32];
        snprintf(key, sizeof key, "key:%012llu", (unsigned long long)(next_random(&seed) % rows));
        memcpy(keys + i * KEY_LEN, key, KEY_LEN);
    }
    char value[VALUE_LEN];
    memset(value, 'x', sizeof value);

    /* Every combination of mode x synchronous x batch size, in that order. */
    char *mode_save = NULL;
    for (char *m = strtok_r(modes, ",", &mode_save); m; m = strtok_r(NULL, ",", &mode_save)) {
        const struct mode *mode = NULL;
        for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++)
            if (strcmp(MODES[i].name, m) == 0) mode = &MODES[i];
        if (!mode) { fprintf(stderr, "sqlite_raw: unknown mode %s\n", m); return 2; }
        char sync_list[256], *sync_save = NULL;
        snprintf(sync_list, sizeof sync_list, "%s", syncs);
        for (char *s = strtok_r(sync_list, ",", &sync_save); s; s = strtok_r(NULL, ",", &sync_save)) {
            if (strcmp(s, "OFF") && strcmp(s, "NORMAL") && strcmp(s, "FULL") && strcmp(s, "EXTRA")) {
                fprintf(stderr, "sqlite_raw: synchronous must be OFF, NORMAL, FULL or EXTRA: %s\n", s);
                return 2;
            }
            char batch_list[256], *batch_save = NULL;
            snprintf(batch_list, sizeof batch_list, "%s", batches);
            for (char *b = strtok_r(batch_list, ",", &batch_save); b; b = strtok_r(NULL, ",", &batch_save)) {
                int batch = atoi(b);
                if (batch < 1) { fprintf(stderr, "sqlite_raw: bad batch size %s\n", b); return 2; }
                run(mode, dir, s, page_size, batch, keys, rows, value);
            }
        }
    }
    free(keys);
    return 0;
}
