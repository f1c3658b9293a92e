/*
** fuzz_common.h -- what the gmm fuzz targets (tests/fuzz/fuzz_*.c) and the
** seed corpus generator (tests/fuzz/make_corpus.c) share: a reader over the
** fuzzer's bytes, little-endian fields and the BLOB checksum, the encoding
** of SQL values in an input, and FUZZ_CHECK.
**
** No SQLite and no gmm header here: make_corpus.c writes the inputs with
** these same definitions, so a seed means what its generator says.
**
** Value encoding (fuzz_apply features, fuzz_fit rows): a selector byte then
** a payload. The low 3 bits of the selector are the kind:
**   0 REAL      the payload as an IEEE double (any bits: NaN binds as NULL,
**               +-Inf stays +-Inf)
**   1 INTEGER   the payload's low 32 bits as a signed integer
**   2 REAL      the payload's low 16 bits as a signed integer / 64
**   3 NULL
**   4 TEXT      the payload bytes as text (any bytes)
**   5 Inf       -Inf when selector bit 3 is set, else +Inf
**   6 NaN       bound as a REAL NaN (SQLite makes it NULL)
**   7 BLOB      the payload bytes
*/
#ifndef GMM_FUZZ_COMMON_H
#define GMM_FUZZ_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A failed invariant: say which, then crash so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);    \
      __builtin_trap();                                                                 \
    }                                                                                   \
  } while (0)

#define FUZZ_CHECK_MSG(cond, ...)                                                      \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d): ", #cond, __FILE__, __LINE__);   \
      fprintf(stderr, __VA_ARGS__);                                                     \
      fputc('\n', stderr);                                                              \
      __builtin_trap();                                                                 \
    }                                                                                   \
  } while (0)

/* Known bugs of the extension, each pinned by a file under
** tests/fuzz/regressions/ (see the README there). By default every check is
** on, so those files fail until the bug is fixed. A fuzzing session that
** wants to look past them builds with -DFUZZ_TOLERATE_KNOWN (run.sh passes
** FUZZ_CFLAGS through): the checks named FUZZ_KNOWN_* are then skipped. */
#ifdef FUZZ_TOLERATE_KNOWN
#define FUZZ_TOLERATE 1
#else
#define FUZZ_TOLERATE 0
#endif

/* ---- little-endian fields and the model BLOB's checksum ---- */

static inline uint32_t fuzz_get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t fuzz_get_le64(const uint8_t *p) {
  return (uint64_t)fuzz_get_le32(p) | (uint64_t)fuzz_get_le32(p + 4) << 32;
}

static inline void fuzz_put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fuzz_put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline double fuzz_bits_double(uint64_t bits) {
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline uint64_t fuzz_double_bits(double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits;
}

/* FNV-1a 64 over n bytes: the checksum in the last 8 bytes of a model BLOB
** (written here independently of ext/core/gmm_blob.c). */
static inline uint64_t fuzz_fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* Rewrites the last 8 bytes of a would-be model BLOB to the checksum of
** the bytes before them, so that mutations reach the checks behind it. */
static inline void fuzz_fix_checksum(uint8_t *p, size_t n) {
  if (n >= 8) fuzz_put_le64(p + n - 8, fuzz_fnv1a(p, n - 8));
}

/* Model BLOB header offsets (ext/core/gmm_blob.c's table). */
enum {
  FUZZ_BLOB_VERSION_AT = 4,
  FUZZ_BLOB_K_AT = 8,
  FUZZ_BLOB_D_AT = 12,
  FUZZ_BLOB_MAX_ITER_AT = 24,
  FUZZ_BLOB_N_INIT_AT = 28,
  FUZZ_BLOB_N_ITER_AT = 80,
  FUZZ_BLOB_HEADER_V1 = 96,
  FUZZ_BLOB_HEADER_V2 = 104,
  FUZZ_BLOB_HEADER_V3 = 120, /* u32 missing at 100, i64 n_incomplete at 104,
                                f64 missing_fraction at 112 */
  FUZZ_BLOB_HEADER_V4 = 136, /* u32 hc_rows at 120, u32 criterion at 124,
                                f64 log_map at 128; candidates of 40 bytes */
  FUZZ_BLOB_HEADER_V5 = 184, /* u32 prior at 136, u32 prune at 140, u32 n_pruned at
                                144, f64 weight_concentration_prior at 152,
                                mean_precision_prior at 160,
                                degrees_of_freedom_prior at 168, lower_bound
                                at 176; the prior arrays after the covariances */
  FUZZ_BLOB_NEWEST = 5       /* the newest model format version */
};

/* ---- a reader over the fuzzer's bytes: past the end, everything is 0 ---- */

typedef struct fuzz_reader {
  const uint8_t *p;
  size_t n;
} fuzz_reader;

static inline uint8_t fuzz_u8(fuzz_reader *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static inline uint16_t fuzz_u16(fuzz_reader *r) {
  uint16_t lo = fuzz_u8(r);
  return (uint16_t)(lo | (uint16_t)fuzz_u8(r) << 8);
}

/* Up to want bytes (fewer at the end), zero-padded into out. */
static inline void fuzz_bytes(fuzz_reader *r, uint8_t *out, size_t want) {
  size_t got = want < r->n ? want : r->n;
  if (got) memcpy(out, r->p, got);
  if (got < want) memset(out + got, 0, want - got);
  r->p += got;
  r->n -= got;
}

/* ---- encoded SQL values ---- */

enum {
  FUZZ_V_REAL = 0,
  FUZZ_V_INTEGER = 1,
  FUZZ_V_SMALL = 2,
  FUZZ_V_NULL = 3,
  FUZZ_V_TEXT = 4,
  FUZZ_V_INF = 5,
  FUZZ_V_NAN = 6,
  FUZZ_V_BLOB = 7
};

#define FUZZ_V_NEGATIVE 0x08 /* with FUZZ_V_INF: -Inf */

typedef struct fuzz_value {
  int kind;           /* FUZZ_V_* */
  int negative;       /* FUZZ_V_INF: -Inf */
  uint8_t payload[8]; /* the raw bytes */
} fuzz_value;

/* The number a REAL, INTEGER or small value stands for. */
static inline double fuzz_value_number(const fuzz_value *v) {
  uint64_t bits = fuzz_get_le64(v->payload);
  switch (v->kind) {
    case FUZZ_V_REAL: return fuzz_bits_double(bits);
    case FUZZ_V_INTEGER: return (double)(int32_t)(uint32_t)bits;
    case FUZZ_V_SMALL: return (double)(int16_t)(uint16_t)bits / 64.0;
    case FUZZ_V_INF: return v->negative ? -INFINITY : INFINITY;
    case FUZZ_V_NAN: return NAN;
    default: return 0.0;
  }
}

/* The class of a value as gmm sees a feature: a finite number, NULL, or
** something that must be an error (TEXT, BLOB, +-Inf). SQLite binds a NaN
** REAL as NULL. */
enum { FUZZ_FEATURE_OK, FUZZ_FEATURE_NULL, FUZZ_FEATURE_BAD };

static inline int fuzz_value_class(const fuzz_value *v) {
  switch (v->kind) {
    case FUZZ_V_NULL:
    case FUZZ_V_NAN: return FUZZ_FEATURE_NULL;
    case FUZZ_V_TEXT:
    case FUZZ_V_BLOB:
    case FUZZ_V_INF: return FUZZ_FEATURE_BAD;
    case FUZZ_V_INTEGER:
    case FUZZ_V_SMALL: return FUZZ_FEATURE_OK;
    default: {
      double x = fuzz_value_number(v);
      return isnan(x) ? FUZZ_FEATURE_NULL : isinf(x) ? FUZZ_FEATURE_BAD : FUZZ_FEATURE_OK;
    }
  }
}

/* Reads a selector and an 8-byte payload. */
static inline fuzz_value fuzz_read_value(fuzz_reader *r) {
  fuzz_value v;
  uint8_t sel = fuzz_u8(r);
  v.kind = sel & 7;
  v.negative = (sel & FUZZ_V_NEGATIVE) != 0;
  fuzz_bytes(r, v.payload, 8);
  return v;
}

/* Writes a selector and payload (make_corpus.c). */
static inline size_t fuzz_write_value(uint8_t *out, int kind, uint64_t payload) {
  out[0] = (uint8_t)kind;
  fuzz_put_le64(out + 1, payload);
  return 9;
}

#endif /* GMM_FUZZ_COMMON_H */
