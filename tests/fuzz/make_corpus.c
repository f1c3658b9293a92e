/*
** make_corpus.c -- writes the seed corpora of the gmm fuzz targets:
**
**   tests/fuzz/corpus/fuzz_blob/   model BLOBs: every covariance type, a
**                                  selection with candidates, weighted and
**                                  warm-started models, format version 1,
**                                  k = 1 / d = 1, a zero weight, data far
**                                  from the origin, format version 3
**                                  (fitted on rows with missing values, or
**                                  with missing 'skip'), format version 4
**                                  (a fit's ICL, each of mclust's ten
**                                  other covariance types, init labels
**                                  and hc, hc_rows, criterion icl and aic,
**                                  40-byte candidates with a failed one);
**                                  and near misses (truncated, bad
**                                  checksum, magic only; version 4:
**                                  truncated, a bad log_map, hc_rows or
**                                  candidate ICL, nothing version 3
**                                  cannot hold, version 3 relabelled 4);
**                                  format version 5 (issue 13: a fit with
**                                  each prior, the variational ones on
**                                  scikit-learn's four types, with prune,
**                                  the conjugate one on those and EII,
**                                  EEI; the committed fixture
**                                  tests/fixtures/model_v5.bin) and its
**                                  near misses (prior none or unknown,
**                                  weights the concentrations do not
**                                  give, a non-canonical NaN, a
**                                  candidate count, a variational prior
**                                  with EII, truncated, header only)
**   tests/fuzz/corpus/fuzz_apply/  those models with feature rows (numbers,
**                                  NULL, TEXT, Inf; the wrong count), and
**                                  the other model argument types
**   tests/fuzz/corpus/fuzz_fit/    option JSONs with rows of numbers (each
**                                  value encoding, NULL/TEXT/Inf rows),
**                                  INTEGER and BLOB specs, warm starts,
**                                  GROUP BY, the order check, weights
**   tests/fuzz/corpus/fuzz_pass/   statistics BLOBs (gmm_estep_add over the
**                                  rows, every covariance type, weighted,
**                                  merged), initialisation states (every
**                                  init method, weighted, a full and a
**                                  partial sample), statistics of each of
**                                  fuzz_pass.c's fixed models for gmm_mstep;
**                                  the same over rows with missing values
**                                  (statistics version 2, states version
**                                  2, 'skip' states); statistics version 3
**                                  (mclust's types, of each storage shape,
**                                  with and without missing values,
**                                  merged) and states version 3 (init
**                                  'hc', mclust's types, a partial and a
**                                  weighted sample, missing values,
**                                  'skip'); and near misses (version 3:
**                                  truncated, relabelled 2, nothing
**                                  version 2 cannot hold, init labels)
**   tests/fuzz/corpus/fuzz_pass_sql/ statistics and states of the shapes of
**                                  fuzz_pass_sql.c's fixed models, merged,
**                                  stepped and started, with rows and specs
**
** The input formats are described at the top of each target. Models are
** fitted here with the core (no SQLite) on fixed rows, so the output is
** the same on every run; the files are committed, and regenerating them
** only matters when the BLOB format or an input format changes.
**
** Build and run from the repository root:
**   cc -std=c11 -O1 -Iext/core tests/fuzz/make_corpus.c ext/core/[a-z]*.c -lm \
**      -o /tmp/make_corpus && /tmp/make_corpus tests/fuzz/corpus
*/
#include "gmm.h"

#include "fuzz_common.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char *root;

static void die(const char *what) {
  fprintf(stderr, "make_corpus: %s\n", what);
  exit(1);
}

static void write_file(const char *target, const char *name, const uint8_t *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, target);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) die("cannot create a corpus directory");
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) die("cannot write a corpus file");
  printf("%s (%zu bytes)\n", path, n);
}

/* ---- a byte buffer ---- */

typedef struct buf {
  uint8_t p[1 << 16];
  size_t n;
} buf;

static void put_bytes(buf *b, const void *p, size_t n) {
  if (b->n + n > sizeof b->p) die("buffer full");
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void put_u8(buf *b, unsigned v) {
  uint8_t c = (uint8_t)v;
  put_bytes(b, &c, 1);
}

static void put_u16(buf *b, unsigned v) {
  put_u8(b, v & 0xff);
  put_u8(b, (v >> 8) & 0xff);
}

static void put_text(buf *b, const char *s) {
  put_bytes(b, s, strlen(s));
}

static void put_value(buf *b, int kind, uint64_t payload) {
  uint8_t v[9];
  put_bytes(b, v, fuzz_write_value(v, kind, payload));
}

static void put_real(buf *b, double x) {
  put_value(b, FUZZ_V_REAL, fuzz_double_bits(x));
}

/* ---- models ---- */

/* Two groups in d dimensions, the second correlated: 8 + 10 rows. */
static void make_rows(double *x, int d, double offset, double scale) {
  for (int i = 0; i < 18; i++) {
    double t = (double)((i * 7) % 11) / 11.0 - 0.5, u = (double)((i * 5) % 13) / 13.0 - 0.5;
    for (int p = 0; p < d; p++) {
      double v = i < 8 ? t + 0.3 * u * (double)(p + 1) : 5.0 + t + (p % 2 ? t : u);
      x[i * d + p] = offset + scale * (v + 0.01 * (double)p);
    }
  }
}

/* Rows 1, 5, 9, ... of x (n rows of d >= 2) miss feature i % d, row 2
** misses all but the last: every feature observed somewhere. */
static void add_missing(double *x, int n, int d) {
  if (d < 2) return;
  for (int i = 1; i < n; i += 4) x[i * d + i % d] = NAN;
  for (int p = 0; p + 1 < d; p++) x[2 * d + p] = NAN;
}

/* gmm_fit on the 18 rows (with missing values when `missing` is 1, or
** with missing 'skip' when it is 2). */
static gmm_model *fit_missing(int k, int d, gmm_cov_type type, int weighted, double offset,
                              double scale, gmm_init_method init, const gmm_model *warm,
                              int missing) {
  static double x[18 * 8], w[18];
  make_rows(x, d, offset, scale);
  if (missing == 1) add_missing(x, 18, d);
  for (int i = 0; i < 18; i++) w[i] = 1.0 + (double)(i % 3);
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = type;
  opt.max_iter = 20;
  opt.init = init;
  opt.seed = 3;
  opt.warm_start = warm;
  if (missing == 2) opt.missing = GMM_MISSING_SKIP;
  if (missing == 1) gmm_canonical_order(x, weighted ? w : NULL, 18, d, 1);
  gmm_data data = {x, 18, d, weighted ? w : NULL, 2, NULL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    die(err);
  return m;
}

static gmm_model *fit(int k, int d, gmm_cov_type type, int weighted, double offset, double scale,
                      gmm_init_method init, const gmm_model *warm) {
  return fit_missing(k, d, type, weighted, offset, scale, init, warm, 0);
}

/* Version 4's header fields (ext/core/gmm_blob.c's table). */
enum {
  V4_HC_ROWS_AT = 120,   /* u32 */
  V4_CRITERION_AT = 124, /* u32 */
  V4_LOG_MAP_AT = 128,   /* f64, the quiet NaN 0x7ff8000000000000 when unknown */
  V4_HEADER_BYTES = 136  /* the weights follow; candidates are 40 bytes, f64 icl at +32 */
};

/* Version 4: a fit (or, with n_types > 0, a selection over ks 1 .. n_k
** and the types) on the 18 rows of d features, the two groups close
** together, with the options of issue 12.
** init labels gives the rows their group (0 for the first 8, 1 for the
** others), so that the k = 1 candidates of a selection fail. */
typedef struct v4_spec {
  int k, d, weighted, missing; /* missing: as fit_missing's */
  gmm_cov_type type;
  gmm_init_method init;
  int hc_rows; /* 0: the default */
  gmm_criterion criterion;
  int n_k, n_types;
  gmm_cov_type types[3];
} v4_spec;

static gmm_model *fit_v4(const v4_spec *sp) {
  static double x[18 * 8], w[18];
  static int labels[18];
  make_rows(x, sp->d, 0.0, 1.0);
  /* The second group moved near the first, so that the posteriors are not
  ** all 0 or 1 and log_map is below 0. */
  for (int i = 8; i < 18; i++)
    for (int p = 0; p < sp->d; p++) x[i * sp->d + p] -= 4.25;
  if (sp->missing == 1) add_missing(x, 18, sp->d);
  for (int i = 0; i < 18; i++) {
    w[i] = 1.0 + (double)(i % 3);
    labels[i] = i < 8 ? 0 : 1;
  }
  gmm_options opt;
  gmm_options_default(&opt, sp->k);
  opt.covariance_type = sp->type;
  opt.max_iter = 30;
  opt.seed = 5;
  opt.init = sp->init;
  if (sp->hc_rows) opt.hc_rows = sp->hc_rows;
  opt.criterion = sp->criterion;
  if (sp->missing == 2) opt.missing = GMM_MISSING_SKIP;
  /* As fit_missing (the fit then works in place); not with labels, which
  ** must stay with their rows. */
  if (sp->missing == 1 && sp->init != GMM_INIT_LABELS)
    gmm_canonical_order(x, sp->weighted ? w : NULL, 18, sp->d, 1);
  gmm_data data = {x, 18, sp->d, sp->weighted ? w : NULL, 1,
                   sp->init == GMM_INIT_LABELS ? labels : NULL};
  const int ks[3] = {1, 2, 3};
  gmm_model *m = NULL;
  char err[256];
  gmm_status rc =
      sp->n_types ? gmm_fit_select(&data, &opt, ks, sp->n_k, sp->types, sp->n_types,
                                   &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err)
                  : gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) die(err);
  if (isnan(m->summary.log_map)) die("a version 4 seed without its ICL");
  return m;
}

static gmm_model *fit_select(void) {
  static double x[18 * 2];
  make_rows(x, 2, 0.0, 1.0);
  gmm_options opt;
  gmm_options_default(&opt, 1);
  opt.max_iter = 20;
  gmm_data data = {x, 18, 2, NULL, 0, NULL};
  const int ks[3] = {1, 2, 3};
  const gmm_cov_type types[2] = {GMM_COV_FULL, GMM_COV_SPHERICAL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit_select(&data, &opt, ks, 3, types, 2, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) !=
      GMM_OK)
    die(err);
  return m;
}

static size_t encode(const gmm_model *m, uint8_t *out, size_t cap) {
  size_t n = gmm_blob_size(m);
  if (n == 0 || n > cap) die("model too large");
  gmm_blob_write(m, out);
  return n;
}

/* The version-1 layout of a full-covariance model: the same first 96
** bytes (version 1, flags bit 0 only), no candidates. */
static size_t encode_v1(const gmm_model *m, uint8_t *out, size_t cap) {
  uint8_t v2[1 << 14];
  size_t n2 = encode(m, v2, sizeof v2);
  if (m->covariance_type != GMM_COV_FULL || m->n_candidates) die("v1 needs a plain full model");
  size_t body = n2 - FUZZ_BLOB_HEADER_V2 - 8, n = FUZZ_BLOB_HEADER_V1 + body + 8;
  if (n > cap) die("model too large");
  memcpy(out, v2, FUZZ_BLOB_HEADER_V1);
  fuzz_put_le32(out + FUZZ_BLOB_VERSION_AT, 1);
  fuzz_put_le32(out + 84, fuzz_get_le32(out + 84) & 1u);
  memcpy(out + FUZZ_BLOB_HEADER_V1, v2 + FUZZ_BLOB_HEADER_V2, body);
  fuzz_fix_checksum(out, n);
  return n;
}

typedef struct named_blob {
  const char *name;
  uint8_t p[1 << 14];
  size_t n;
  int k, d;
} named_blob;

static named_blob blobs[40];
static int n_blobs;

static void add_blob(const char *name, const gmm_model *m, int v1) {
  if (n_blobs == (int)(sizeof blobs / sizeof blobs[0])) die("too many blobs");
  named_blob *b = &blobs[n_blobs++];
  b->name = name;
  b->n = v1 ? encode_v1(m, b->p, sizeof b->p) : encode(m, b->p, sizeof b->p);
  b->k = m->k;
  b->d = m->d;
}

static void make_models(void) {
  gmm_model *full = fit(2, 2, GMM_COV_FULL, 0, 0.0, 1.0, GMM_INIT_KMEANS, NULL);
  gmm_model *warm = fit(2, 2, GMM_COV_FULL, 0, 0.0, 1.0, GMM_INIT_KMEANS, full);
  gmm_model *tied = fit(2, 3, GMM_COV_TIED, 0, 0.0, 1.0, GMM_INIT_KMEANS_PP, NULL);
  gmm_model *diag = fit(3, 2, GMM_COV_DIAG, 1, 0.0, 1.0, GMM_INIT_RANDOM, NULL);
  gmm_model *sph = fit(2, 4, GMM_COV_SPHERICAL, 0, 0.0, 1.0, GMM_INIT_RANDOM_FROM_DATA, NULL);
  gmm_model *one = fit(1, 1, GMM_COV_FULL, 0, 0.0, 1.0, GMM_INIT_KMEANS, NULL);
  gmm_model *far = fit(2, 2, GMM_COV_FULL, 0, 1.7e9, 1e-3, GMM_INIT_KMEANS, NULL);
  gmm_model *wide = fit(2, 8, GMM_COV_FULL, 0, 0.0, 1.0, GMM_INIT_KMEANS, NULL);
  gmm_model *sel = fit_select();
  gmm_model *miss_full = fit_missing(2, 3, GMM_COV_FULL, 0, 0.0, 1.0, GMM_INIT_KMEANS, NULL, 1);
  gmm_model *miss_diag = fit_missing(3, 2, GMM_COV_DIAG, 1, 0.0, 1.0, GMM_INIT_RANDOM, NULL, 1);
  gmm_model *miss_tied = fit_missing(2, 4, GMM_COV_TIED, 0, 0.0, 1.0, GMM_INIT_KMEANS_PP, NULL, 1);
  gmm_model *skip = fit_missing(2, 4, GMM_COV_SPHERICAL, 0, 0.0, 1.0, GMM_INIT_KMEANS, NULL, 2);
  gmm_model *all[] = {full, warm, tied, diag, sph, one, far, wide, sel, miss_full, miss_diag,
                      miss_tied, skip};
  /* These are the seeds of versions 1 to 3: models without ICL (log_map
  ** unknown, as a model from passes has it); a fit knows it, and its
  ** model is version 4 (the seeds below). */
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) all[i]->summary.log_map = NAN;
  add_blob("full_k2_d2.bin", full, 0);
  add_blob("full_warm_started.bin", warm, 0);
  add_blob("tied_k2_d3.bin", tied, 0);
  add_blob("diag_k3_d2_weighted.bin", diag, 0);
  add_blob("spherical_k2_d4.bin", sph, 0);
  add_blob("full_k1_d1.bin", one, 0);
  add_blob("full_far_from_origin.bin", far, 0);
  add_blob("full_k2_d8.bin", wide, 0);
  add_blob("selection_k123_full_spherical.bin", sel, 0);
  add_blob("v1_full_k2_d2.bin", full, 1);
  /* A component of weight 0 (still valid: its covariance is SPD). */
  full->weights[0] = 1.0;
  full->weights[1] = 0.0;
  add_blob("full_zero_weight.bin", full, 0);
  add_blob("v3_missing_full_k2_d3.bin", miss_full, 0);
  add_blob("v3_missing_diag_k3_d2_weighted.bin", miss_diag, 0);
  add_blob("v3_missing_tied_k2_d4.bin", miss_tied, 0);
  add_blob("v3_skip_spherical_k2_d4.bin", skip, 0);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gmm_model_free(all[i]);

  /* Format version 4 (issue 12). */
  static const struct {
    const char *name;
    v4_spec spec;
  } v4[] = {
      {"v4_full_k2_d2_icl.bin", {2, 2, 0, 0, GMM_COV_FULL, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_eii_k3_d2.bin", {3, 2, 0, 0, GMM_COV_EII, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_eei_k2_d3.bin", {2, 3, 0, 0, GMM_COV_EEI, GMM_INIT_KMEANS_PP, 0, 0, 0, 0, {0}}},
      {"v4_vei_k2_d2_weighted.bin", {2, 2, 1, 0, GMM_COV_VEI, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_evi_k3_d2.bin", {3, 2, 0, 0, GMM_COV_EVI, GMM_INIT_RANDOM_FROM_DATA, 0, 0, 0, 0, {0}}},
      {"v4_vee_k2_d3.bin", {2, 3, 0, 0, GMM_COV_VEE, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_eve_k2_d2.bin", {2, 2, 0, 0, GMM_COV_EVE, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_vve_k2_d3_weighted.bin", {2, 3, 1, 0, GMM_COV_VVE, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_eev_k2_d2.bin", {2, 2, 0, 0, GMM_COV_EEV, GMM_INIT_RANDOM, 0, 0, 0, 0, {0}}},
      {"v4_vev_k2_d4.bin", {2, 4, 0, 0, GMM_COV_VEV, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_evv_k2_d3.bin", {2, 3, 0, 0, GMM_COV_EVV, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_labels_eve_k2_d2.bin", {2, 2, 0, 0, GMM_COV_EVE, GMM_INIT_LABELS, 0, 0, 0, 0, {0}}},
      {"v4_hc_vvv_k2_d3_hc_rows_12.bin",
       {2, 3, 0, 0, GMM_COV_FULL, GMM_INIT_HC, 12, 0, 0, 0, {0}}},
      {"v4_missing_eev_k2_d3.bin", {2, 3, 0, 1, GMM_COV_EEV, GMM_INIT_KMEANS, 0, 0, 0, 0, {0}}},
      {"v4_skip_vei_k2_d4_aic.bin",
       {2, 4, 0, 2, GMM_COV_VEI, GMM_INIT_KMEANS, 0, GMM_CRITERION_AIC, 0, 0, {0}}},
      /* k in 1, 2 with labels: the k = 1 candidates fail (ICL 0). */
      {"v4_selection_labels_icl_failed.bin",
       {2, 2, 1, 0, GMM_COV_FULL, GMM_INIT_LABELS, 0, GMM_CRITERION_ICL, 2, 3,
        {GMM_COV_EII, GMM_COV_VEV, GMM_COV_FULL}}},
      {"v4_selection_hc_icl_k123.bin",
       {1, 2, 0, 0, GMM_COV_FULL, GMM_INIT_HC, 0, GMM_CRITERION_ICL, 3, 2,
        {GMM_COV_VVE, GMM_COV_SPHERICAL}}},
      {"v4_selection_aic_skip.bin",
       {1, 3, 0, 2, GMM_COV_FULL, GMM_INIT_KMEANS, 0, GMM_CRITERION_AIC, 2, 2,
        {GMM_COV_EEI, GMM_COV_TIED}}},
  };
  for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
    gmm_model *m = fit_v4(&v4[i].spec);
    add_blob(v4[i].name, m, 0);
    if (blobs[n_blobs - 1].p[FUZZ_BLOB_VERSION_AT] != 4) die("a version 4 seed is not version 4");
    gmm_model_free(m);
  }
}

/* ---- fuzz_pass: see the format at the top of fuzz_pass.c ---- */

/* The statistics of model m (fingerprint: its BLOB's checksum) over n rows
** of x (weights w when the model was weighted), encoded into out. */
static size_t stats_blob(const gmm_model *m, const double *x, const double *w, size_t n,
                         uint8_t *out, size_t cap) {
  uint8_t mb[1 << 14];
  size_t n_mb = encode(m, mb, sizeof mb);
  gmm_estats *st = NULL;
  gmm_estep_acc *acc = NULL;
  if (gmm_estats_new(m, gmm_blob_stored_checksum(mb, n_mb), m->summary.weighted,
                     &gmm_libc_allocator, &st) != GMM_OK ||
      gmm_estep_acc_new(m, 1, &gmm_libc_allocator, &acc) != GMM_OK)
    die("gmm_estats_new");
  gmm_estep_add(acc, x, m->summary.weighted ? w : NULL, n, st);
  size_t len = gmm_estats_size(st);
  if (len == 0 || len > cap) die("statistics too large");
  gmm_estats_write(st, out);
  gmm_estep_acc_free(acc);
  gmm_estats_free(st);
  return len;
}

/* Two sets of statistics of m, merged. */
static size_t merged_stats_blob(const gmm_model *m, const double *x, const double *w, size_t n,
                                size_t split, uint8_t *out, size_t cap) {
  uint8_t a[1 << 14], b[1 << 14];
  size_t na = stats_blob(m, x, w, split, a, sizeof a);
  size_t nb = stats_blob(m, x + split * (size_t)m->d, w ? w + split : NULL, n - split, b, sizeof b);
  gmm_estats *sa = NULL, *sb = NULL;
  char err[256];
  if (gmm_estats_read(a, na, &gmm_libc_allocator, &sa, err, sizeof err) != GMM_OK ||
      gmm_estats_read(b, nb, &gmm_libc_allocator, &sb, err, sizeof err) != GMM_OK ||
      gmm_estats_merge(sa, sb, err, sizeof err) != GMM_OK)
    die(err);
  size_t len = gmm_estats_size(sa);
  if (len > cap) die("statistics too large");
  gmm_estats_write(sa, out);
  gmm_estats_free(sa);
  gmm_estats_free(sb);
  return len;
}

/* An initialisation state of the n rows of x with these options. */
static size_t state_blob(const gmm_options *opt, const double *x, const double *w, size_t n,
                         int d, int sample_size, uint8_t *out, size_t cap) {
  gmm_istate *s = NULL;
  if (gmm_istate_new(opt, d, w != NULL, sample_size, &gmm_libc_allocator, &s) != GMM_OK)
    die("gmm_istate_new");
  for (size_t i = 0; i < n; i++)
    if (gmm_istate_add(s, x + i * (size_t)d, w ? w[i] : 1.0) != GMM_OK) die("gmm_istate_add");
  size_t len = gmm_istate_size(s);
  if (len > cap) die("state too large");
  gmm_istate_write(s, out);
  gmm_istate_free(s);
  return len;
}

static void pass_input(const char *name, unsigned b0, const uint8_t *p, size_t n) {
  buf b = {.n = 0};
  put_u8(&b, b0);
  put_bytes(&b, p, n);
  write_file("fuzz_pass", name, b.p, b.n);
}

/* fuzz_pass.c's fixed models of mode 2 (model_specs there: keep in step). */
typedef struct pass_model_spec {
  int k, d;
  gmm_cov_type type;
  int weighted, max_iter;
  double reg_covar, tol;
  gmm_missing missing;
} pass_model_spec;

static const pass_model_spec pass_models[8] = {
    {2, 2, GMM_COV_FULL, 0, 3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE},
    {2, 3, GMM_COV_TIED, 0, 3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE},
    {3, 2, GMM_COV_DIAG, 1, 3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE},
    {2, 4, GMM_COV_SPHERICAL, 0, 3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE},
    {1, 1, GMM_COV_FULL, 1, 3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE},
    {2, 2, GMM_COV_FULL, 0, 0, 1e-6, 1e-3, GMM_MISSING_SKIP},
    {2, 2, GMM_COV_DIAG, 0, 2, 0.0, 0.0, GMM_MISSING_MARGINALIZE},
    {3, 2, GMM_COV_SPHERICAL, 1, 2, 0.0, 1e300, GMM_MISSING_MARGINALIZE},
};

/* missing: -1 the spec's option, else this one (the same parameters: the
** rows are complete). */
static gmm_model *pass_model_as(const pass_model_spec *s, const double *x, const double *w,
                                int missing) {
  gmm_options opt;
  gmm_options_default(&opt, s->k);
  opt.covariance_type = s->type;
  opt.max_iter = s->max_iter;
  opt.reg_covar = s->reg_covar;
  opt.tol = s->tol;
  opt.threads = 1;
  opt.missing = missing < 0 ? s->missing : (gmm_missing)missing;
  gmm_data data = {x, 18, s->d, s->weighted ? w : NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    die(err);
  m->options.max_iter = 50;
  return m;
}

static gmm_model *pass_model(const pass_model_spec *s, const double *x, const double *w) {
  return pass_model_as(s, x, w, -1);
}

/* Statistics version 3 (stats (8)) and states version 3 (istate (7)):
** mclust's covariance types, init 'hc'. x holds 18 x 8 doubles, w 18
** weights; t is scratch of cap bytes. */
static void pass_corpus_v3(double *x, const double *w, uint8_t *t, size_t cap) {
  char name[128];
  size_t n;
  /* Statistics of a model of each storage shape (spherical, diag, full),
  ** over complete rows (counts 0) or rows with missing values. */
  static const struct {
    int k, d;
    gmm_cov_type type;
    int weighted, missing;
  } stats3[] = {
      {2, 2, GMM_COV_EVE, 0, 0}, {2, 3, GMM_COV_VEV, 1, 1}, {3, 2, GMM_COV_EEI, 0, 1},
      {2, 4, GMM_COV_EII, 1, 0}, {2, 3, GMM_COV_VVE, 0, 0}, {2, 2, GMM_COV_EVI, 1, 1},
  };
  for (size_t i = 0; i < sizeof stats3 / sizeof stats3[0]; i++) {
    pass_model_spec sp = {stats3[i].k, stats3[i].d, stats3[i].type, stats3[i].weighted,
                          3, 1e-6, 1e-3, GMM_MISSING_MARGINALIZE};
    make_rows(x, sp.d, 0.0, 1.0);
    gmm_model *m = pass_model(&sp, x, w);
    if (stats3[i].missing) add_missing(x, 18, sp.d);
    n = stats_blob(m, x, w, 18, t, cap);
    if (t[4] != 3) die("statistics of mclust's types are not version 3");
    snprintf(name, sizeof name, "stats_v3_%s_k%d_d%d%s%s", gmm_cov_type_name(sp.type), sp.k,
             sp.d, sp.weighted ? "_weighted" : "", stats3[i].missing ? "_missing" : "");
    pass_input(name, 0x00, t, n);
    if (i == 1) {
      pass_input("both_decoders_stats_v3", 0x03, t, n);
      pass_input("near_stats_v3_truncated", 0x04, t, n - 9);
      pass_input("near_stats_v3_length_fixed", 0x08, t, n - 24);
      /* Relabelled 2 (checksum fixed by the target): refused. */
      fuzz_put_le32(t + 4, 2);
      pass_input("near_stats_v3_relabelled_v2", 0x00, t, n);
      /* A scikit-learn type in version 3 (full: the same length). */
      fuzz_put_le32(t + 4, 3);
      fuzz_put_le32(t + 16, GMM_COV_FULL);
      pass_input("near_stats_v3_full_type", 0x00, t, n);
    }
    if (i == 4) {
      n = merged_stats_blob(m, x, w, 18, 7, t, cap);
      pass_input("stats_v3_merged_VVE", 0x00, t, n);
    }
    gmm_model_free(m);
  }

  /* States with init 'hc' or mclust's types. */
  static const struct {
    const char *name;
    int k, d;
    gmm_cov_type type;
    gmm_init_method init;
    int n_init, weighted, sample_size, missing; /* missing: 0 none, 1 values, 2 'skip' */
  } states3[] = {
      {"state_v3_hc_VVE_k2_d2", 2, 2, GMM_COV_VVE, GMM_INIT_HC, 1, 0, 100, 0},
      {"state_v3_hc_EVE_partial_weighted_d3", 2, 3, GMM_COV_EVE, GMM_INIT_HC, 2, 1, 9, 0},
      {"state_v3_hc_full_k3_d2", 3, 2, GMM_COV_FULL, GMM_INIT_HC, 1, 0, 18, 0},
      {"state_v3_EVV_kmeans_k2_d3", 2, 3, GMM_COV_EVV, GMM_INIT_KMEANS, 1, 0, 12, 0},
      {"state_v3_hc_EEI_missing_d3", 2, 3, GMM_COV_EEI, GMM_INIT_HC, 1, 0, 100, 1},
      {"state_v3_hc_VEI_skip_d2", 2, 2, GMM_COV_VEI, GMM_INIT_HC, 1, 1, 10, 2},
      {"state_v3_EII_random_from_data_d4", 3, 4, GMM_COV_EII, GMM_INIT_RANDOM_FROM_DATA, 2, 0,
       14, 0},
  };
  for (size_t i = 0; i < sizeof states3 / sizeof states3[0]; i++) {
    gmm_options opt;
    gmm_options_default(&opt, states3[i].k);
    opt.covariance_type = states3[i].type;
    opt.init = states3[i].init;
    opt.n_init = states3[i].n_init;
    opt.seed = 13;
    if (states3[i].missing == 2) opt.missing = GMM_MISSING_SKIP;
    make_rows(x, states3[i].d, 0.0, 1.0);
    if (states3[i].missing == 1) add_missing(x, 18, states3[i].d);
    /* add_missing leaves an observed value in every row of d >= 2. */
    n = state_blob(&opt, x, states3[i].weighted ? w : NULL, 18, states3[i].d,
                   states3[i].sample_size, t, cap);
    if (t[4] != 3) die("a state of init 'hc' or mclust's types is not version 3");
    pass_input(states3[i].name, 0x01, t, n);
    if (i == 1) {
      pass_input("state_v3_structure_fixed", 0x01 | 0x08, t, n);
      pass_input("both_decoders_state_v3", 0x03, t, n);
      pass_input("near_state_v3_truncated", 0x05, t, n - 9);
      /* scikit-learn's type and init in version 3 (checksum fixed by the
      ** target): nothing version 2 cannot hold. */
      fuzz_put_le32(t + 16, GMM_COV_FULL);
      fuzz_put_le32(t + 20, GMM_INIT_KMEANS);
      pass_input("near_state_v3_nothing_v2_cannot", 0x01, t, n);
      /* init labels (4): never in a state. */
      fuzz_put_le32(t + 20, GMM_INIT_LABELS);
      pass_input("near_state_v3_init_labels", 0x01, t, n);
    }
  }
}

static void pass_corpus(void) {
  static double x[18 * 8], w[18];
  uint8_t t[1 << 14];
  size_t n;
  char name[128];
  for (int i = 0; i < 18; i++) w[i] = 1.0 + (double)(i % 3);

  /* Statistics of the fitted models of make_models (mode 0), merged ones,
  ** and gmm_mstep's (mode 2: fingerprint and length fixed up, bit 3). */
  for (int i = 0; i < 8; i++) {
    const pass_model_spec *s = &pass_models[i];
    make_rows(x, s->d, 0.0, 1.0);
    gmm_model *m = pass_model(s, x, w);
    n = stats_blob(m, x, w, 18, t, sizeof t);
    snprintf(name, sizeof name, "stats_%s_k%d_d%d%s", gmm_cov_type_name(s->type), s->k, s->d,
             s->weighted ? "_weighted" : "");
    pass_input(name, 0x00, t, n);
    snprintf(name, sizeof name, "mstep_model%d_%s", i, gmm_cov_type_name(s->type));
    pass_input(name, 0x02 | 0x08 | (unsigned)i << 5, t, n);
    if (i == 0 || i == 2) {
      n = merged_stats_blob(m, x, w, 18, 7, t, sizeof t);
      snprintf(name, sizeof name, "stats_merged_%s", gmm_cov_type_name(s->type));
      pass_input(name, 0x00, t, n);
      pass_input(i == 0 ? "mstep_model0_merged" : "mstep_model2_merged",
                 0x02 | 0x08 | (unsigned)i << 5, t, n);
    }
    if (i == 1) {
      /* The model's header made by the target (bit 4). */
      pass_input("mstep_model1_shape_fixed", 0x02 | 0x10 | 0x08 | 1u << 5, t, n);
      pass_input("both_decoders_stats", 0x03, t, n);
      pass_input("near_stats_truncated", 0x04, t, n - 9);
      t[64] ^= 0x40;
      pass_input("near_stats_bad_checksum", 0x04, t, n);
    }
    gmm_model_free(m);
  }

  /* Statistics version 2: the same models over the rows with missing
  ** values (mode 0, and gmm_mstep's in mode 2); model 5 fitted with
  ** 'skip' gets statistics of its 'marginalize' twin, fingerprint fixed up
  ** (bit 3). */
  for (int i = 0; i < 8; i++) {
    const pass_model_spec *s = &pass_models[i];
    if (s->d < 2) continue;
    make_rows(x, s->d, 0.0, 1.0);
    gmm_model *m = pass_model_as(s, x, w, GMM_MISSING_MARGINALIZE);
    add_missing(x, 18, s->d);
    n = stats_blob(m, x, w, 18, t, sizeof t);
    if (t[4] != 2) die("statistics over rows with missing values are not version 2");
    snprintf(name, sizeof name, "stats_v2_%s_k%d_d%d%s", gmm_cov_type_name(s->type), s->k, s->d,
             s->weighted ? "_weighted" : "");
    if (i != 5) pass_input(name, 0x00, t, n);
    snprintf(name, sizeof name, "mstep_v2_model%d_%s%s", i, gmm_cov_type_name(s->type),
             s->missing == GMM_MISSING_SKIP ? "_skip" : "");
    pass_input(name, 0x02 | 0x08 | (unsigned)i << 5, t, n);
    if (i == 1) {
      n = merged_stats_blob(m, x, w, 18, 7, t, sizeof t);
      pass_input("stats_v2_merged_tied", 0x00, t, n);
      pass_input("mstep_v2_model1_merged", 0x02 | 0x08 | 1u << 5, t, n);
      pass_input("mstep_v2_model1_shape_fixed", 0x02 | 0x10 | 0x08 | 1u << 5, t, n);
      pass_input("both_decoders_stats_v2", 0x03, t, n);
      pass_input("near_stats_v2_truncated", 0x04, t, n - 9);
      pass_input("near_stats_v2_length_fixed", 0x08, t, n - 24);
    }
    gmm_model_free(m);
  }

  /* Initialisation states (mode 1). */
  static const struct {
    const char *name;
    int k, d;
    gmm_cov_type type;
    gmm_init_method init;
    int n_init, weighted, sample_size;
  } states[] = {
      {"state_full_kmeans_k2_d2", 2, 2, GMM_COV_FULL, GMM_INIT_KMEANS, 1, 0, 100},
      {"state_partial_sample_k2_d2", 2, 2, GMM_COV_FULL, GMM_INIT_KMEANS, 1, 0, 8},
      {"state_tied_kpp_d3", 2, 3, GMM_COV_TIED, GMM_INIT_KMEANS_PP, 2, 0, 16},
      {"state_diag_random_weighted", 3, 2, GMM_COV_DIAG, GMM_INIT_RANDOM, 1, 1, 18},
      {"state_spherical_from_data_d4", 2, 4, GMM_COV_SPHERICAL, GMM_INIT_RANDOM_FROM_DATA, 3, 0,
       12},
      {"state_k1_d1_weighted_partial", 1, 1, GMM_COV_FULL, GMM_INIT_KMEANS, 1, 1, 5},
  };
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
    gmm_options opt;
    gmm_options_default(&opt, states[i].k);
    opt.covariance_type = states[i].type;
    opt.init = states[i].init;
    opt.n_init = states[i].n_init;
    opt.seed = 11;
    make_rows(x, states[i].d, 0.0, 1.0);
    n = state_blob(&opt, x, states[i].weighted ? w : NULL, 18, states[i].d,
                   states[i].sample_size, t, sizeof t);
    pass_input(states[i].name, 0x01, t, n);
    if (i == 1) {
      pass_input("state_structure_fixed", 0x01 | 0x08, t, n);
      pass_input("both_decoders_state", 0x03, t, n);
      pass_input("near_state_truncated", 0x05, t, n - 9);
      pass_input("near_state_magic_only", 0x01, (const uint8_t *)GMM_ISTATE_MAGIC, 4);
    }
  }

  /* Initialisation states version 2: rows with missing values, and the
  ** option 'skip' (complete rows only). */
  static const struct {
    const char *name;
    int k, d;
    gmm_cov_type type;
    gmm_init_method init;
    int n_init, weighted, sample_size;
    gmm_missing missing;
  } states2[] = {
      {"state_v2_missing_full_k2_d3", 2, 3, GMM_COV_FULL, GMM_INIT_KMEANS, 1, 0, 100,
       GMM_MISSING_MARGINALIZE},
      {"state_v2_missing_partial_diag_d2_weighted", 2, 2, GMM_COV_DIAG, GMM_INIT_KMEANS_PP, 2, 1,
       9, GMM_MISSING_MARGINALIZE},
      {"state_v2_missing_spherical_from_data_d4", 3, 4, GMM_COV_SPHERICAL,
       GMM_INIT_RANDOM_FROM_DATA, 1, 0, 12, GMM_MISSING_MARGINALIZE},
      {"state_v2_skip_tied_random_d2", 2, 2, GMM_COV_TIED, GMM_INIT_RANDOM, 1, 0, 10,
       GMM_MISSING_SKIP},
  };
  for (size_t i = 0; i < sizeof states2 / sizeof states2[0]; i++) {
    gmm_options opt;
    gmm_options_default(&opt, states2[i].k);
    opt.covariance_type = states2[i].type;
    opt.init = states2[i].init;
    opt.n_init = states2[i].n_init;
    opt.seed = 11;
    opt.missing = states2[i].missing;
    make_rows(x, states2[i].d, 0.0, 1.0);
    if (opt.missing == GMM_MISSING_MARGINALIZE) add_missing(x, 18, states2[i].d);
    n = state_blob(&opt, x, states2[i].weighted ? w : NULL, 18, states2[i].d,
                   states2[i].sample_size, t, sizeof t);
    if (t[4] != 2) die("a state with missing values or 'skip' is not version 2");
    pass_input(states2[i].name, 0x01, t, n);
    if (i == 1) {
      pass_input("state_v2_structure_fixed", 0x01 | 0x08, t, n);
      pass_input("both_decoders_state_v2", 0x03, t, n);
      pass_input("near_state_v2_truncated", 0x05, t, n - 9);
    }
  }

  pass_corpus_v3(x, w, t, sizeof t);
}

/* ---- fuzz_pass_sql: see the format at the top of fuzz_pass_sql.c ---- */

/* fuzz_pass_sql.c's fixed rows (FIXED_ROWS there), in d of x, y, z. */
static void sql_rows(double *x, double *w, int d, double scale) {
  for (int i = 0; i < 18; i++) {
    double v[3] = {(i % 2) * 4 + (double)(i * 7 % 11) / 11.0,
                   (i % 2) * 4 + (double)(i * 5 % 13) / 13.0 + 0.01,
                   (i % 2) * 4 + (double)(i * 3 % 7) / 7.0 + 0.02};
    for (int p = 0; p < d; p++) x[i * d + p] = v[p] * scale;
    w[i] = 1.0 + (double)(i % 3);
  }
}

static gmm_model *sql_model(int k, int d, gmm_cov_type type, int weighted, int max_iter,
                            double scale) {
  static double x[18 * 3], w[18];
  sql_rows(x, w, d, scale);
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = type;
  opt.max_iter = max_iter;
  opt.tol = 0.1;
  gmm_data data = {x, 18, d, weighted ? w : NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    die(err);
  return m;
}

typedef struct sql_case {
  unsigned b0, b1;
  int n_blobs;
  const uint8_t *blob[6];
  size_t n_blob[6];
  const char *spec; /* NULL: the INTEGER of b0 */
  int n_rows, n_cols; /* n_cols features per row */
  int weight;         /* 1: a weight first (the model is weighted, or b0 bit 3) */
  double v[7][5];
} sql_case;

static void sql_input(const char *name, const sql_case *c) {
  static buf b;
  b.n = 0;
  put_u8(&b, c->b0);
  put_u8(&b, c->b1 | (unsigned)c->n_rows << 3 | (unsigned)(c->n_cols - 1) << 6);
  put_u8(&b, (unsigned)c->n_blobs);
  for (int i = 0; i < c->n_blobs; i++) {
    put_u16(&b, (unsigned)c->n_blob[i]);
    put_bytes(&b, c->blob[i], c->n_blob[i]);
  }
  if (c->spec) {
    put_u8(&b, (unsigned)strlen(c->spec));
    put_text(&b, c->spec);
  } else {
    put_u8(&b, 0);
  }
  for (int r = 0; r < c->n_rows; r++)
    for (int j = 0; j < c->n_cols + c->weight; j++)
      put_real(&b, c->v[r][j]);
  write_file("fuzz_pass_sql", name, b.p, b.n);
}

static void pass_sql_corpus(void) {
  static uint8_t s1[1 << 14], s2[1 << 14], st1[1 << 14], st2[1 << 14], mb[1 << 14];
  static double x[18 * 3], w[18];
  size_t n1, n2, nt1, nt2, nm;
  /* Model 0's shape: full k2 d2, two shards of statistics. */
  gmm_model *full = sql_model(2, 2, GMM_COV_FULL, 0, 50, 1.0);
  sql_rows(x, w, 2, 1.0);
  n1 = stats_blob(full, x, w, 9, s1, sizeof s1);
  n2 = stats_blob(full, x + 18, w + 9, 9, s2, sizeof s2);
  sql_case c = {.b0 = 0x02, .b1 = 0, .n_blobs = 2, .blob = {s1, s2}, .n_blob = {n1, n2},
                .spec = "{\"k\":2}", .n_rows = 3, .n_cols = 2,
                .v = {{0.5, 0.25}, {4.5, 4.25}, {1.0, 0.0}}};
  sql_input("merge_stats_mstep_model0", &c);
  c.b0 = 0x02 | 0x04;
  sql_input("merge_stats_with_null", &c);
  c.b0 = 0x02;
  c.n_blobs = 1;
  c.spec = "{\"k\":2,\"covariance_type\":\"diag\",\"init\":\"random\",\"n_init\":2,\"seed\":5}";
  sql_input("one_stats_diag_init_spec", &c);
  /* The model as the first BLOB (b1 = 6), its statistics second. */
  nm = encode(full, mb, sizeof mb);
  c.n_blobs = 2;
  c.blob[0] = mb;
  c.n_blob[0] = nm;
  c.blob[1] = s1;
  c.n_blob[1] = n1;
  c.b1 = 6;
  c.b0 = 0x00;
  sql_input("model_blob_and_its_stats", &c);

  /* States of one spec, merged and started (model 4: from gmm_start). */
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.max_iter = 10;
  nt1 = state_blob(&opt, x, NULL, 9, 2, 8, st1, sizeof st1);
  nt2 = state_blob(&opt, x + 18, NULL, 9, 2, 8, st2, sizeof st2);
  sql_case d = {.b0 = 0x02, .b1 = 4, .n_blobs = 2, .blob = {st1, st2}, .n_blob = {nt1, nt2},
                .spec = "{\"k\":2,\"sample_size\":8,\"max_iter\":10}", .n_rows = 4, .n_cols = 2,
                .v = {{0.5, 0.25}, {4.5, 4.25}, {1.0, 0.0}, {5.0, 5.5}}};
  sql_input("merge_states_start", &d);
  /* Statistics and a state in one merge: an error. */
  d.blob[1] = s1;
  d.n_blob[1] = n1;
  sql_input("merge_mixed_kinds", &d);

  /* Model 1: diag k3 d2 weighted; rows with a weight first. */
  gmm_model *diag = sql_model(3, 2, GMM_COV_DIAG, 1, 50, 1.0);
  n1 = stats_blob(diag, x, w, 18, s1, sizeof s1);
  sql_case e = {.b0 = 0x02 | 0x08, .b1 = 1, .n_blobs = 1, .blob = {s1}, .n_blob = {n1},
                .spec = "{\"k\":1,\"weighted\":true,\"covariance_type\":\"spherical\"}",
                .n_rows = 3, .n_cols = 2, .v = {{1.0, 0.5, 0.25}, {2.0, 4.5, 4.25}, {0.5, 1.0, 0.0}}};
  sql_input("weighted_diag_stats", &e);

  /* Model 2: spherical k3 d1. */
  static double x1[18];
  sql_rows(x1, w, 1, 1.0);
  gmm_model *sph = sql_model(3, 1, GMM_COV_SPHERICAL, 0, 50, 1.0);
  n1 = stats_blob(sph, x1, w, 18, s1, sizeof s1);
  sql_case f = {.b0 = 0x02 | 2u << 4, .b1 = 2, .n_blobs = 1, .blob = {s1}, .n_blob = {n1},
                .spec = NULL, .n_rows = 5, .n_cols = 1, .v = {{0.5}, {4.5}, {1.0}, {5.0}, {2.0}}};
  sql_input("spherical_d1_integer_spec", &f);

  /* Model 3: tied k2 d3. */
  static double x3[18 * 3];
  sql_rows(x3, w, 3, 1.0);
  gmm_model *tied = sql_model(2, 3, GMM_COV_TIED, 0, 50, 1.0);
  n1 = stats_blob(tied, x3, w, 18, s1, sizeof s1);
  sql_case g = {.b0 = 0x02, .b1 = 3, .n_blobs = 1, .blob = {s1}, .n_blob = {n1},
                .spec = "{\"k\":[1,2]}", .n_rows = 2, .n_cols = 3,
                .v = {{0.5, 0.25, 0.0}, {4.5, 4.25, 4.0}}};
  sql_input("tied_d3_list_spec", &g);

  /* Model 5: variances about 1e300, rows near 1e153 (at 1e160, where
  ** (x - mu)^2 overflows, see regressions/fuzz_pass_sql). */
  gmm_model *huge = sql_model(2, 2, GMM_COV_FULL, 0, 50, 1e150);
  sql_rows(x, w, 2, 1e150);
  n1 = stats_blob(huge, x, w, 18, s1, sizeof s1);
  sql_case h = {.b0 = 0x02, .b1 = 5, .n_blobs = 2, .blob = {s1, s1}, .n_blob = {n1, n1},
                .spec = "{\"k\":2,\"reg_covar\":0}", .n_rows = 3, .n_cols = 2,
                .v = {{1e153, 1e153}, {-1e153, 2e152}, {4e150, 4e150}}};
  sql_input("huge_variances_rows_1e153", &h);

  gmm_model_free(full);
  gmm_model_free(diag);
  gmm_model_free(sph);
  gmm_model_free(tied);
  gmm_model_free(huge);
}

/* ---- fuzz_blob: format version 5 (issue 13) ---- */

/* Version 5's header fields (ext/core/gmm_blob.c's table). */
enum {
  V5_PRIOR_AT = 136,         /* u32: 1 dirichlet_process, 2 dirichlet_distribution, 3 conjugate */
  V5_PRUNE_AT = 140,         /* u32 */
  V5_N_PRUNED_AT = 144,      /* u32 */
  V5_ALPHA_AT = 152,         /* f64 weight_concentration_prior (the quiet NaN: conjugate) */
  V5_LOWER_BOUND_AT = 176,   /* f64 (the quiet NaN: conjugate) */
  V5_HEADER_BYTES = 184      /* the weights follow */
};

/* A fit with a prior on the 18 rows of d features (the groups as fit_v4
** has them). */
static gmm_model *fit_v5(int k, int d, gmm_cov_type type, gmm_prior prior, int prune,
                         int weighted) {
  static double x[18 * 8], w[18];
  make_rows(x, d, 0.0, 1.0);
  for (int i = 8; i < 18; i++)
    for (int p = 0; p < d; p++) x[i * d + p] -= 4.25;
  for (int i = 0; i < 18; i++) w[i] = 1.0 + (double)(i % 3);
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = type;
  opt.prior = prior;
  opt.prune = prune;
  opt.max_iter = 60;
  opt.seed = 7;
  gmm_data data = {x, 18, d, weighted ? w : NULL, 1, NULL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    die(err);
  return m;
}

static void blob_corpus_v5(void) {
  static const struct {
    const char *name;
    int k, d;
    gmm_cov_type type;
    gmm_prior prior;
    int prune, weighted;
  } v5[] = {
      {"v5_dp_full_k4_d2_prune.bin", 4, 2, GMM_COV_FULL, GMM_PRIOR_DIRICHLET_PROCESS, 1, 0},
      {"v5_dp_tied_k3_d3.bin", 3, 3, GMM_COV_TIED, GMM_PRIOR_DIRICHLET_PROCESS, 0, 0},
      {"v5_dp_diag_k3_d2_weighted.bin", 3, 2, GMM_COV_DIAG, GMM_PRIOR_DIRICHLET_PROCESS, 0, 1},
      {"v5_dp_spherical_k5_d4_prune.bin", 5, 4, GMM_COV_SPHERICAL, GMM_PRIOR_DIRICHLET_PROCESS, 1,
       0},
      {"v5_dd_full_k3_d3.bin", 3, 3, GMM_COV_FULL, GMM_PRIOR_DIRICHLET_DISTRIBUTION, 0, 0},
      {"v5_dd_tied_k2_d2.bin", 2, 2, GMM_COV_TIED, GMM_PRIOR_DIRICHLET_DISTRIBUTION, 0, 0},
      {"v5_dd_diag_k4_d3_prune.bin", 4, 3, GMM_COV_DIAG, GMM_PRIOR_DIRICHLET_DISTRIBUTION, 1, 0},
      {"v5_dd_spherical_k2_d2.bin", 2, 2, GMM_COV_SPHERICAL, GMM_PRIOR_DIRICHLET_DISTRIBUTION, 0,
       0},
      {"v5_conjugate_full_k2_d3.bin", 2, 3, GMM_COV_FULL, GMM_PRIOR_CONJUGATE, 0, 0},
      {"v5_conjugate_tied_k2_d2.bin", 2, 2, GMM_COV_TIED, GMM_PRIOR_CONJUGATE, 0, 0},
      {"v5_conjugate_diag_k3_d2.bin", 3, 2, GMM_COV_DIAG, GMM_PRIOR_CONJUGATE, 0, 1},
      {"v5_conjugate_spherical_k2_d4.bin", 2, 4, GMM_COV_SPHERICAL, GMM_PRIOR_CONJUGATE, 0, 0},
      {"v5_conjugate_eii_k3_d2.bin", 3, 2, GMM_COV_EII, GMM_PRIOR_CONJUGATE, 0, 0},
      {"v5_conjugate_eei_k2_d3.bin", 2, 3, GMM_COV_EEI, GMM_PRIOR_CONJUGATE, 0, 0},
  };
  static uint8_t dp[1 << 14], dd[1 << 14], conj[1 << 14], t[1 << 14];
  size_t n_dp = 0, n_dd = 0, n_conj = 0;
  for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++) {
    gmm_model *m = fit_v5(v5[i].k, v5[i].d, v5[i].type, v5[i].prior, v5[i].prune, v5[i].weighted);
    size_t n = encode(m, t, sizeof t);
    if (t[FUZZ_BLOB_VERSION_AT] != 5) die("a version 5 seed is not version 5");
    write_file("fuzz_blob", v5[i].name, t, n);
    if (i == 0) memcpy(dp, t, n_dp = n);
    if (i == 7) memcpy(dd, t, n_dd = n);
    if (i == 8) memcpy(conj, t, n_conj = n);
    gmm_model_free(m);
  }
  /* The committed fixture, as it is. */
  FILE *f = fopen("tests/fixtures/model_v5.bin", "rb");
  if (!f) die("cannot open tests/fixtures/model_v5.bin (run from the repository root)");
  size_t n_fix = fread(t, 1, sizeof t, f);
  fclose(f);
  write_file("fuzz_blob", "v5_fixture_dp_full_k4_pruned.bin", t, n_fix);

  /* Near misses, checksums right. */
  memcpy(t, dp, n_dp);
  write_file("fuzz_blob", "near_v5_truncated.bin", t, n_dp - 9);
  write_file("fuzz_blob", "near_v5_header_only.bin", t, V5_HEADER_BYTES + 8);
  fuzz_put_le32(t + V5_PRIOR_AT, 0);
  fuzz_fix_checksum(t, n_dp);
  write_file("fuzz_blob", "near_v5_prior_none.bin", t, n_dp);
  fuzz_put_le32(t + V5_PRIOR_AT, 4);
  fuzz_fix_checksum(t, n_dp);
  write_file("fuzz_blob", "near_v5_prior_4.bin", t, n_dp);
  memcpy(t, dp, n_dp);
  fuzz_put_le32(t + V5_PRUNE_AT, 0); /* n_pruned without prune, when it pruned */
  fuzz_put_le32(t + V5_N_PRUNED_AT, 1);
  fuzz_fix_checksum(t, n_dp);
  write_file("fuzz_blob", "near_v5_n_pruned_without_prune.bin", t, n_dp);
  memcpy(t, dp, n_dp);
  fuzz_put_le32(t + 96, 1); /* a candidate count */
  fuzz_fix_checksum(t, n_dp);
  write_file("fuzz_blob", "near_v5_candidate_count.bin", t, n_dp);
  /* The first weight moved (and the second), so the concentrations
  ** disagree. */
  memcpy(t, dp, n_dp);
  double w0 = fuzz_bits_double(fuzz_get_le64(t + V5_HEADER_BYTES));
  double w1 = fuzz_bits_double(fuzz_get_le64(t + V5_HEADER_BYTES + 8));
  fuzz_put_le64(t + V5_HEADER_BYTES, fuzz_double_bits(w0 + 1e-6));
  fuzz_put_le64(t + V5_HEADER_BYTES + 8, fuzz_double_bits(w1 - 1e-6));
  fuzz_fix_checksum(t, n_dp);
  write_file("fuzz_blob", "near_v5_weights_not_concentrations.bin", t, n_dp);
  /* A variational prior with EII (its spherical storage). */
  memcpy(t, dd, n_dd);
  fuzz_put_le32(t + 16, 4);
  fuzz_fix_checksum(t, n_dd);
  write_file("fuzz_blob", "near_v5_dd_eii.bin", t, n_dd);
  /* The conjugate prior: a NaN that is not the canonical one, a lower
  ** bound. */
  memcpy(t, conj, n_conj);
  fuzz_put_le64(t + V5_ALPHA_AT, UINT64_C(0x7ff8000000000001));
  fuzz_fix_checksum(t, n_conj);
  write_file("fuzz_blob", "near_v5_conjugate_other_nan.bin", t, n_conj);
  memcpy(t, conj, n_conj);
  fuzz_put_le64(t + V5_LOWER_BOUND_AT, fuzz_double_bits(-10.0));
  fuzz_fix_checksum(t, n_conj);
  write_file("fuzz_blob", "near_v5_conjugate_lower_bound.bin", t, n_conj);
}

/* ---- fuzz_blob ---- */

static void blob_corpus(void) {
  for (int i = 0; i < n_blobs; i++) write_file("fuzz_blob", blobs[i].name, blobs[i].p, blobs[i].n);
  const named_blob *full = &blobs[0];
  uint8_t t[1 << 14];
  memcpy(t, full->p, full->n);
  write_file("fuzz_blob", "near_truncated.bin", t, full->n - 9);
  t[FUZZ_BLOB_HEADER_V2] ^= 1;
  write_file("fuzz_blob", "near_bad_checksum.bin", t, full->n);
  write_file("fuzz_blob", "near_magic_only.bin", (const uint8_t *)GMM_BLOB_MAGIC, 4);

  /* Version 4 near misses (checksums right, so the decoder reaches the
  ** field): see ext/core/gmm_blob.c's table. */
  const named_blob *v4 = NULL, *v4_sel = NULL, *v3 = NULL;
  for (int i = 0; i < n_blobs; i++) {
    if (strcmp(blobs[i].name, "v4_full_k2_d2_icl.bin") == 0) v4 = &blobs[i];
    if (strcmp(blobs[i].name, "v4_selection_labels_icl_failed.bin") == 0) v4_sel = &blobs[i];
    if (strcmp(blobs[i].name, "v3_missing_full_k2_d3.bin") == 0) v3 = &blobs[i];
  }
  if (!v4 || !v4_sel || !v3) die("a version 4 near miss has no model");
  blob_corpus_v5();
  memcpy(t, v4->p, v4->n);
  write_file("fuzz_blob", "near_v4_truncated.bin", t, v4->n - 9);
  write_file("fuzz_blob", "near_v4_header_only.bin", t, V4_HEADER_BYTES + 8);
  /* log_map unknown: nothing version 3 cannot hold. */
  fuzz_put_le64(t + V4_LOG_MAP_AT, UINT64_C(0x7ff8000000000000));
  fuzz_fix_checksum(t, v4->n);
  write_file("fuzz_blob", "near_v4_nothing_v3_cannot.bin", t, v4->n);
  fuzz_put_le64(t + V4_LOG_MAP_AT, fuzz_double_bits(0.5));
  fuzz_fix_checksum(t, v4->n);
  write_file("fuzz_blob", "near_v4_log_map_positive.bin", t, v4->n);
  fuzz_put_le64(t + V4_LOG_MAP_AT, UINT64_C(0x7ff8000000000001));
  fuzz_fix_checksum(t, v4->n);
  write_file("fuzz_blob", "near_v4_log_map_other_nan.bin", t, v4->n);
  memcpy(t, v4->p, v4->n);
  fuzz_put_le32(t + V4_HC_ROWS_AT, 1);
  fuzz_fix_checksum(t, v4->n);
  write_file("fuzz_blob", "near_v4_hc_rows_1.bin", t, v4->n);
  memcpy(t, v4->p, v4->n);
  fuzz_put_le32(t + V4_CRITERION_AT, 3);
  fuzz_fix_checksum(t, v4->n);
  write_file("fuzz_blob", "near_v4_criterion_3.bin", t, v4->n);
  /* The first candidate (k = 1, failed) with a non-zero ICL. */
  memcpy(t, v4_sel->p, v4_sel->n);
  size_t n_cand = fuzz_get_le32(t + 96);
  size_t c0 = v4_sel->n - 8 - 40 * n_cand;
  fuzz_put_le64(t + c0 + 32, fuzz_double_bits(1.0));
  fuzz_fix_checksum(t, v4_sel->n);
  write_file("fuzz_blob", "near_v4_failed_candidate_icl.bin", t, v4_sel->n);
  /* A version 3 BLOB relabelled 4 (16 bytes short). */
  memcpy(t, v3->p, v3->n);
  fuzz_put_le32(t + FUZZ_BLOB_VERSION_AT, 4);
  fuzz_fix_checksum(t, v3->n);
  write_file("fuzz_blob", "near_v4_relabelled_v3.bin", t, v3->n);
}

/* ---- fuzz_apply: see the format at the top of fuzz_apply.c ---- */

static void apply_input(const char *name, unsigned flags, unsigned b1, const uint8_t *blob,
                        size_t n_blob, buf *features) {
  buf b = {.n = 0};
  put_u8(&b, flags);
  put_u8(&b, b1);
  put_u16(&b, (unsigned)n_blob);
  put_bytes(&b, blob, n_blob);
  put_bytes(&b, features->p, features->n);
  write_file("fuzz_apply", name, b.p, b.n);
}

static void apply_corpus(void) {
  char name[128];
  for (int i = 0; i < n_blobs; i++) {
    const named_blob *m = &blobs[i];
    /* A row near the middle of the data, as REAL and as small values. */
    buf f = {.n = 0};
    for (int p = 0; p < m->d; p++) put_real(&f, i == 6 ? 1.7e9 + 0.003 : 2.5 + 0.25 * p);
    snprintf(name, sizeof name, "real_row_%s", m->name);
    /* n = 1 + i % 7 samples; every third with "sample < bound" (bound i % 4). */
    apply_input(name, (unsigned)(1 + i % 7) << 5 | (i % 3 == 0 ? 0x10u : 0u) | (unsigned)(i % 2) << 1,
                (unsigned)i << 4, m->p, m->n, &f);
    buf g = {.n = 0};
    for (int p = 0; p < m->d; p++) put_value(&g, p % 2 ? FUZZ_V_INTEGER : FUZZ_V_SMALL, 64u * 5);
    snprintf(name, sizeof name, "small_row_%s", m->name);
    apply_input(name, 0x60 | 0x06, 0x31, m->p, m->n, &g);
  }
  const named_blob *full = &blobs[0];
  buf f = {.n = 0};
  put_real(&f, 1.0);
  put_value(&f, FUZZ_V_NULL, 0);
  apply_input("null_feature", 0x40, 0, full->p, full->n, &f);
  f.n = 0;
  put_value(&f, FUZZ_V_TEXT, 0x2e31ULL); /* "1." */
  put_real(&f, 1.0);
  apply_input("text_feature", 0x40, 0, full->p, full->n, &f);
  f.n = 0;
  put_real(&f, 1.0);
  put_value(&f, FUZZ_V_INF | FUZZ_V_NEGATIVE, 0);
  apply_input("inf_feature", 0x40, 0, full->p, full->n, &f);
  f.n = 0;
  put_real(&f, 1.0);
  put_real(&f, 2.0);
  put_real(&f, 3.0);
  apply_input("wrong_feature_count", 0x08, 3, full->p, full->n, &f);
  f.n = 0;
  put_real(&f, 1.0);
  put_real(&f, 2.0);
  apply_input("model_text", 0x04, 0x40, full->p, full->n, &f);
  apply_input("model_null", 0x04, 0x00, full->p, full->n, &f);
  apply_input("model_integer", 0x04, 0x80, full->p, full->n, &f);
  apply_input("model_empty_blob", 0x00, 0x02, full->p, 0, &f);
  uint8_t t[1 << 14];
  memcpy(t, full->p, full->n);
  t[FUZZ_BLOB_HEADER_V2 + 3] ^= 0x40;
  apply_input("model_bad_checksum_raw", 0x01, 0, t, full->n, &f);
}

/* ---- fuzz_fit: see the format at the top of fuzz_fit.c ---- */

static void fit_input(const char *name, const char *json, unsigned h0, unsigned h1,
                      const buf *rows) {
  buf b = {.n = 0};
  put_text(&b, json);
  put_u8(&b, 0);
  put_u8(&b, h0);
  put_u8(&b, h1);
  put_bytes(&b, rows->p, rows->n);
  write_file("fuzz_fit", name, b.p, b.n);
}

/* h0 bits: d - 1 (0-2), value mode (3-4), flip the weight argument (5),
** warm start (6), GROUP BY (7). */
enum { MODE_F64 = 0, MODE_I16 = 1, MODE_I8 = 2, MODE_F32 = 3 };

static unsigned h0_of(int d, int mode, unsigned flags) {
  return (unsigned)(d - 1) | (unsigned)mode << 3 | flags;
}

/* n rows of d values (plus a weight first when weighted) in the given
** mode: two groups. */
static void two_groups(buf *b, int n, int d, int mode, int weighted) {
  for (int i = 0; i < n; i++) {
    put_u8(b, 0); /* row selector: plain */
    int nv = d + weighted;
    for (int p = 0; p < nv; p++) {
      double v = weighted && p == 0 ? 1.0 + (i % 3)
                                    : (i % 2 ? 4.0 : 0.0) + (double)((i * 7 + p * 3) % 10) / 10.0;
      switch (mode) {
        case MODE_F64: {
          uint8_t r[8];
          fuzz_put_le64(r, fuzz_double_bits(v));
          put_bytes(b, r, 8);
          break;
        }
        case MODE_I16: put_u16(b, (unsigned)(int)(v * 64.0) & 0xffff); break;
        case MODE_I8: put_u8(b, (unsigned)(int)(v * 10.0) & 0xff); break;
        default: {
          float f = (float)v;
          uint8_t r[4];
          memcpy(r, &f, 4);
          put_bytes(b, r, 4);
        }
      }
    }
  }
}

static void fit_corpus(void) {
  buf r = {.n = 0};
  two_groups(&r, 24, 2, MODE_I16, 0);
  fit_input("k2_i16", "{\"k\":2}", h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("k2_i16_warm_order", "{\"k\":2,\"covariance_type\":\"diag\"}",
            h0_of(2, MODE_I16, 0x40), 0x40, &r);
  fit_input("select_k123_full_diag", "{\"k\":[1,2,3],\"covariance_type\":[\"full\",\"diag\"]}",
            h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("tied_random_ninit2",
            "{\"k\":2,\"covariance_type\":\"tied\",\"init\":\"random\",\"n_init\":2,\"seed\":7,"
            "\"tol\":0,\"max_iter\":5}",
            h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("spherical_random_from_data_groupby",
            "{\"k\":2,\"covariance_type\":\"spherical\",\"init\":\"random_from_data\","
            "\"reg_covar\":0.01}",
            h0_of(2, MODE_I16, 0x80), 0, &r);
  fit_input("explicit_init_full",
            "{\"k\":2,\"weights_init\":[0.5,0.5],\"means_init\":[[0,0],[4,4]],"
            "\"precisions_init\":[[[1,0],[0,1]],[[2,0.5],[0.5,2]]]}",
            h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("explicit_init_spherical_kpp",
            "{\"k\":2,\"covariance_type\":\"spherical\",\"init\":\"k-means++\","
            "\"precisions_init\":[1,2]}",
            h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("integer_spec", "", h0_of(2, MODE_I16, 0x40), 0x01 | 3 << 2, &r);
  fit_input("bad_json", "{\"k\":2,", h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("unknown_option", "{\"k\":2,\"kk\":1}", h0_of(2, MODE_I16, 0), 0, &r);
  fit_input("spec_varies", "{\"k\":2}", h0_of(2, MODE_I16, 0), 0x80, &r);
  buf w = {.n = 0};
  two_groups(&w, 20, 3, MODE_I16, 1);
  fit_input("weighted_d3", "{\"k\":2,\"weighted\":true}", h0_of(3, MODE_I16, 0x40), 0x40, &w);
  buf f = {.n = 0};
  two_groups(&f, 16, 2, MODE_F64, 0);
  fit_input("k2_f64_diag", "{\"k\":2,\"covariance_type\":\"diag\",\"max_iter\":10}",
            h0_of(2, MODE_F64, 0), 0, &f);
  buf g = {.n = 0};
  two_groups(&g, 16, 3, MODE_F32, 0);
  fit_input("k3_f32", "{\"k\":3,\"init\":\"k-means++\"}", h0_of(3, MODE_F32, 0), 0, &g);
  buf h = {.n = 0};
  two_groups(&h, 30, 1, MODE_I8, 0);
  fit_input("k2_i8_d1", "{\"k\":[2,3],\"covariance_type\":\"spherical\"}", h0_of(1, MODE_I8, 0),
            0, &h);
  /* Rows with a NULL, a TEXT, an Inf (row selector: special, see fuzz_fit.c). */
  buf s = {.n = 0};
  two_groups(&s, 12, 2, MODE_I16, 0);
  s.p[0] = 0x80 | FUZZ_V_NULL << 4 | 1;
  fit_input("null_row", "{\"k\":2}", h0_of(2, MODE_I16, 0), 0, &s);
  s.p[0] = 0x80 | FUZZ_V_TEXT << 4;
  fit_input("text_row", "{\"k\":2}", h0_of(2, MODE_I16, 0), 0, &s);
  s.p[0] = 0x80 | FUZZ_V_INF << 4;
  fit_input("inf_row", "{\"k\":2}", h0_of(2, MODE_I16, 0), 0, &s);
  /* A model BLOB as the spec (warm start from bytes, see fuzz_fit.c). */
  const named_blob *full = &blobs[0];
  buf m = {.n = 0};
  put_u8(&m, 0);
  put_u8(&m, h0_of(2, MODE_I16, 0x40));
  put_u8(&m, 0x02);
  put_u16(&m, (unsigned)full->n);
  put_bytes(&m, full->p, full->n);
  two_groups(&m, 24, 2, MODE_I16, 0);
  write_file("fuzz_fit", "blob_spec", m.p, m.n);
  m.p[1] |= 0x20; /* one argument too many for the model's d */
  write_file("fuzz_fit", "blob_spec_wrong_d", m.p, m.n);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s tests/fuzz/corpus\n", argv[0]);
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0777) != 0 && errno != EEXIST) die("cannot create the corpus directory");
  make_models();
  blob_corpus();
  apply_corpus();
  fit_corpus();
  pass_corpus();
  pass_sql_corpus();
  return 0;
}
