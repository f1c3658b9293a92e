/*
** sql_runner.c -- runs the SQL scripts (tests/sql, sql/recipes) the way the
** sqlite3 shell does, on whatever libsqlite3 the dynamic linker gives it.
**
** Debian's sqlite3 shell refuses a library whose source id is not its own,
** so it cannot run the scripts against a second SQLite put first on
** LD_LIBRARY_PATH; this program links libsqlite3 like any client and can.
** tests/run_sql_tests.sh drives it like the shell:
**
**   sql_runner [-bail] [-version] [DATABASE] < script
**
** It reads the script from stdin. SQL runs once sqlite3_complete() says a
** statement is whole; a line starting with '.' between statements is one of
** the shell's dot commands the scripts use:
**
**   .bail on|off         stop at the first error (also -bail)
**   .headers on|off      a header line before a result's rows
**   .load FILE [ENTRY]   sqlite3_load_extension
**   .mode MODE           list: values joined by the separator; box, table,
**                        column: a header and the rows, aligned, joined by
**                        " | " (readable, not the shell's box drawing)
**   .print ARGS...       the arguments, joined by spaces
**   .read FILE           another script (relative to the working directory)
**   .separator COL [ROW] list mode's separators ("|" and "\n")
**
** Values print as sqlite3_column_text gives them, NULL as the empty string.
** An unknown dot command, a failed statement or a failed .load prints
** "Error: near line N: message" on stderr; with bail on the runner exits
** with status 1. -version prints the library's version and source id.
*/
#define _POSIX_C_SOURCE 200809L /* getline */

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef enum { MODE_LIST, MODE_ALIGNED } out_mode;

typedef struct runner {
  sqlite3 *db;
  int bail;
  int headers;
  out_mode mode;
  char col_sep[32];
  char row_sep[32];
  int failed;
} runner;

/* A growable string. */
typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->n + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fputs("sql_runner: out of memory\n", stderr);
      exit(2);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void report(runner *r, int line, const char *fmt, const char *arg) {
  fprintf(stderr, "Error: near line %d: ", line);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  r->failed = 1;
}

/* Whether text holds nothing but white space and comments. */
static int all_whitespace(const char *z) {
  while (*z) {
    if (*z == ' ' || *z == '\t' || *z == '\n' || *z == '\r' || *z == '\f') {
      z++;
    } else if (z[0] == '-' && z[1] == '-') {
      while (*z && *z != '\n') z++;
    } else if (z[0] == '/' && z[1] == '*') {
      const char *end = strstr(z + 2, "*/");
      if (!end) return 0;
      z = end + 2;
    } else {
      return 0;
    }
  }
  return 1;
}

/* ---- results ---- */

/* Display width of UTF-8 text: its code points. */
static size_t text_width(const char *z) {
  size_t w = 0;
  for (; *z; z++)
    if (((unsigned char)*z & 0xC0) != 0x80) w++;
  return w;
}

static void print_padded(const char *z, size_t width) {
  fputs(z, stdout);
  for (size_t w = text_width(z); w < width; w++) putchar(' ');
}

static char *column_copy(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  int n = sqlite3_column_bytes(st, i);
  char *s = malloc((size_t)n + 1);
  if (!s) {
    fputs("sql_runner: out of memory\n", stderr);
    exit(2);
  }
  if (t) memcpy(s, t, (size_t)n);
  s[t ? n : 0] = '\0';
  return s;
}

/* Steps one statement to its end, printing its rows. Returns the result of
** the last step (SQLITE_DONE when all went well). */
static int run_statement(runner *r, sqlite3_stmt *st) {
  int ncol = sqlite3_column_count(st);
  if (r->mode == MODE_LIST) {
    int rc, first = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (first && r->headers) {
        for (int i = 0; i < ncol; i++)
          printf("%s%s", i ? r->col_sep : "", sqlite3_column_name(st, i));
        fputs(r->row_sep, stdout);
      }
      first = 0;
      for (int i = 0; i < ncol; i++) {
        if (i) fputs(r->col_sep, stdout);
        const unsigned char *t = sqlite3_column_text(st, i);
        if (t) fwrite(t, 1, (size_t)sqlite3_column_bytes(st, i), stdout);
      }
      fputs(r->row_sep, stdout);
    }
    return rc;
  }
  /* Aligned: every row is kept until the widths are known. */
  char **cells = NULL;
  size_t nrow = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (nrow == cap) {
      cap = cap ? 2 * cap : 16;
      char **c = realloc(cells, cap * (size_t)ncol * sizeof *c);
      if (!c) {
        fputs("sql_runner: out of memory\n", stderr);
        exit(2);
      }
      cells = c;
    }
    for (int i = 0; i < ncol; i++) cells[nrow * (size_t)ncol + (size_t)i] = column_copy(st, i);
    nrow++;
  }
  if (nrow > 0) {
    size_t *width = calloc((size_t)ncol, sizeof *width);
    if (!width) exit(2);
    for (int i = 0; i < ncol; i++) {
      width[i] = text_width(sqlite3_column_name(st, i));
      for (size_t j = 0; j < nrow; j++) {
        size_t w = text_width(cells[j * (size_t)ncol + (size_t)i]);
        if (w > width[i]) width[i] = w;
      }
    }
    for (int i = 0; i < ncol; i++) {
      fputs(i ? " | " : "", stdout);
      print_padded(sqlite3_column_name(st, i), width[i]);
    }
    putchar('\n');
    for (int i = 0; i < ncol; i++) {
      fputs(i ? "-+-" : "", stdout);
      for (size_t w = 0; w < width[i]; w++) putchar('-');
    }
    putchar('\n');
    for (size_t j = 0; j < nrow; j++) {
      for (int i = 0; i < ncol; i++) {
        fputs(i ? " | " : "", stdout);
        print_padded(cells[j * (size_t)ncol + (size_t)i], width[i]);
      }
      putchar('\n');
    }
    free(width);
  }
  for (size_t j = 0; j < nrow * (size_t)ncol; j++) free(cells[j]);
  free(cells);
  return rc;
}

/* Runs every statement of sql; returns 0 after an error. */
static int run_sql(runner *r, const char *sql, int line) {
  const char *tail = sql;
  while (tail && *tail) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, tail, -1, &st, &tail) != SQLITE_OK) {
      report(r, line, "%s", sqlite3_errmsg(r->db));
      return 0;
    }
    if (!st) continue; /* white space or a comment */
    int rc = run_statement(r, st);
    if (rc != SQLITE_DONE) {
      report(r, line, "%s", sqlite3_errmsg(r->db));
      sqlite3_finalize(st);
      return 0;
    }
    sqlite3_finalize(st);
  }
  return 1;
}

/* ---- dot commands ---- */

/* Splits a dot command's line into at most 8 arguments, in place: white
** space separates them, '...' and "..." quote. */
static int split_args(char *z, char **argv) {
  int argc = 0;
  while (*z && argc < 8) {
    while (*z == ' ' || *z == '\t' || *z == '\r' || *z == '\n') z++;
    if (!*z) break;
    if (*z == '\'' || *z == '"') {
      char q = *z++;
      argv[argc++] = z;
      while (*z && *z != q) z++;
    } else {
      argv[argc++] = z;
      while (*z && *z != ' ' && *z != '\t' && *z != '\r' && *z != '\n') z++;
    }
    if (*z) *z++ = '\0';
  }
  return argc;
}

static int run_file(runner *r, FILE *in);

static int on_off(const char *z) { return strcmp(z, "on") == 0 || strcmp(z, "1") == 0; }

/* Runs one dot command; returns 0 after an error. */
static int run_dot(runner *r, char *line, int line_no) {
  char *argv[8];
  int argc = split_args(line + 1, argv);
  if (argc == 0) return 1;
  const char *cmd = argv[0];
  if (strcmp(cmd, "bail") == 0 && argc == 2) {
    r->bail = on_off(argv[1]);
  } else if (strcmp(cmd, "headers") == 0 && argc == 2) {
    r->headers = on_off(argv[1]);
  } else if (strcmp(cmd, "mode") == 0 && argc == 2) {
    if (strcmp(argv[1], "list") == 0) {
      r->mode = MODE_LIST;
    } else if (strcmp(argv[1], "box") == 0 || strcmp(argv[1], "table") == 0 ||
               strcmp(argv[1], "column") == 0) {
      r->mode = MODE_ALIGNED;
    } else {
      report(r, line_no, "mode '%s' is not one this runner prints", argv[1]);
      return 0;
    }
  } else if (strcmp(cmd, "separator") == 0 && (argc == 2 || argc == 3)) {
    snprintf(r->col_sep, sizeof r->col_sep, "%s", argv[1]);
    if (argc == 3) snprintf(r->row_sep, sizeof r->row_sep, "%s", argv[2]);
  } else if (strcmp(cmd, "print") == 0) {
    for (int i = 1; i < argc; i++) printf("%s%s", i > 1 ? " " : "", argv[i]);
    putchar('\n');
  } else if (strcmp(cmd, "load") == 0 && (argc == 2 || argc == 3)) {
    char *err = NULL;
    if (sqlite3_load_extension(r->db, argv[1], argc == 3 ? argv[2] : NULL, &err) != SQLITE_OK) {
      report(r, line_no, "%s", err ? err : "cannot load the extension");
      sqlite3_free(err);
      return 0;
    }
  } else if (strcmp(cmd, "read") == 0 && argc == 2) {
    FILE *f = fopen(argv[1], "r");
    if (!f) {
      report(r, line_no, "cannot open \"%s\"", argv[1]);
      return 0;
    }
    int ok = run_file(r, f);
    fclose(f);
    return ok;
  } else {
    report(r, line_no, "unknown or malformed dot command '.%s'", cmd);
    return 0;
  }
  return 1;
}

/* ---- the input ---- */

/* Runs a script; returns 0 when it stopped at an error (bail on). */
static int run_file(runner *r, FILE *in) {
  buf sql = {NULL, 0, 0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int line_no = 0, start = 0, ok = 1;
  while (ok && (len = getline(&line, &cap, in)) >= 0) {
    line_no++;
    if ((sql.n == 0 || all_whitespace(sql.p)) && line[0] == '.') {
      sql.n = 0;
      if (!run_dot(r, line, line_no) && r->bail) ok = 0;
      continue;
    }
    if (sql.n == 0 || all_whitespace(sql.p)) start = line_no;
    buf_add(&sql, line, (size_t)len);
    if (sqlite3_complete(sql.p)) {
      if (!run_sql(r, sql.p, start) && r->bail) ok = 0;
      sql.n = 0;
      sql.p[0] = '\0';
    }
  }
  if (ok && sql.n > 0 && !all_whitespace(sql.p) && !run_sql(r, sql.p, start) && r->bail) ok = 0;
  free(line);
  free(sql.p);
  return ok;
}

int main(int argc, char **argv) {
  runner r = {NULL, 0, 0, MODE_LIST, "|", "\n", 0};
  const char *path = ":memory:";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-bail") == 0) {
      r.bail = 1;
    } else if (strcmp(argv[i], "-version") == 0) {
      printf("%s %s\n", sqlite3_libversion(), sqlite3_sourceid());
      return 0;
    } else if (argv[i][0] != '-') {
      path = argv[i];
    } else {
      fprintf(stderr, "usage: %s [-bail] [-version] [DATABASE] < script\n", argv[0]);
      return 2;
    }
  }
  if (sqlite3_open(path, &r.db) != SQLITE_OK) {
    fprintf(stderr, "Error: cannot open %s: %s\n", path, sqlite3_errmsg(r.db));
    sqlite3_close(r.db);
    return 1;
  }
  sqlite3_enable_load_extension(r.db, 1);
  run_file(&r, stdin);
  fflush(stdout);
  if (sqlite3_close(r.db) != SQLITE_OK) {
    fprintf(stderr, "Error: the connection did not close: %s\n", sqlite3_errmsg(r.db));
    return 1;
  }
  return r.failed ? 1 : 0;
}
